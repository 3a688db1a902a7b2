//! The OAuth tokens Forge forwards to a remote (`x-forge-oauth-system`,
//! `x-forge-oauth-user`): bearer credentials for Atlassian's APIs, kept secret.

use core::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::value::RawValue;
use zeroize::Zeroizing;

use crate::error::Error;
use crate::time::UnixTime;

/// The header that carries the app's system token (when the manifest asks for it).
pub const FORGE_OAUTH_SYSTEM_HEADER: &str = "x-forge-oauth-system";

/// The header that carries the app's user token (when the manifest asks for it, and there is
/// a user: never on scheduled triggers).
pub const FORGE_OAUTH_USER_HEADER: &str = "x-forge-oauth-user";

/// Longest forwarded token accepted, in bytes.
const MAX_OAUTH_TOKEN_LEN: usize = 16 * 1024;

/// Which forwarded token it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ForgeOAuthKind {
    /// The app's own token (`x-forge-oauth-system`), valid at least 2 hours.
    System,
    /// The token acting for the invoking user (`x-forge-oauth-user`), valid at most 4 hours.
    User,
}

impl ForgeOAuthKind {
    /// The header this kind of token arrives in.
    #[must_use]
    pub fn header_name(self) -> &'static str {
        match self {
            Self::System => FORGE_OAUTH_SYSTEM_HEADER,
            Self::User => FORGE_OAUTH_USER_HEADER,
        }
    }
}

/// A bearer token Forge forwarded for calling Atlassian's APIs.
///
/// Atlassian says to treat these tokens as opaque, never to log them, and allows a remote
/// to keep one until it expires. So: `Debug` shows the kind and expiry only, there is no
/// `Display` or `Serialize`, the text is zeroized on drop, and [`exp`](Self::exp) reads the
/// expiry when the token is a JWT (its payload read without verification: it is only used
/// to know how long to keep the token, and Atlassian checks the token when it is used).
///
/// Only take the token from a request whose Forge Invocation Token verified: the headers
/// are as trustworthy as the request that carries them.
///
/// ```
/// use atlassian_connect_jwt::{Error, ForgeOAuthKind, ForgeOAuthToken, UnixTime};
///
/// // A JWT whose payload is {"exp":1700007200}.
/// let token = ForgeOAuthToken::from_header(ForgeOAuthKind::System, "e30.eyJleHAiOjE3MDAwMDcyMDB9.c2ln")?;
/// assert_eq!(token.exp(), Some(UnixTime::from_secs(1_700_007_200)));
/// assert!(token.is_fresh_at(UnixTime::from_secs(1_700_000_000), 60));
/// assert_eq!(format!("{token:?}"), "ForgeOAuthToken { kind: System, exp: Some(UnixTime(1700007200)), .. }");
/// assert_eq!(ForgeOAuthToken::from_header(ForgeOAuthKind::User, "a b").unwrap_err(), Error::InvalidOAuthToken);
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone)]
pub struct ForgeOAuthToken {
    token: Zeroizing<String>,
    kind: ForgeOAuthKind,
    exp: Option<UnixTime>,
}

impl zeroize::ZeroizeOnDrop for ForgeOAuthToken {}

impl ForgeOAuthToken {
    /// The token of a header value of the `kind` header.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOAuthToken`] for an empty value, one longer than 16 KiB, or one with
    /// a character outside visible ASCII (a space, a control character).
    pub fn from_header(kind: ForgeOAuthKind, value: &str) -> Result<Self, Error> {
        let well_formed = !value.is_empty()
            && value.len() <= MAX_OAUTH_TOKEN_LEN
            && value.bytes().all(|b| b.is_ascii_graphic());
        if !well_formed {
            return Err(Error::InvalidOAuthToken);
        }
        Ok(Self {
            exp: jwt_exp(value),
            token: Zeroizing::new(value.to_owned()),
            kind,
        })
    }

    /// Which token it is.
    #[must_use]
    pub fn kind(&self) -> ForgeOAuthKind {
        self.kind
    }

    /// The token, for an `Authorization: Bearer` header to Atlassian. Never log it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.token
    }

    /// When the token expires, if it is a JWT with a valid `exp`; `None` otherwise (then
    /// keep it no longer than the request).
    #[must_use]
    pub fn exp(&self) -> Option<UnixTime> {
        self.exp
    }

    /// Whether the token is known to stay valid for `margin_secs` more seconds after `now`:
    /// whether a cached copy may still be used.
    #[must_use]
    pub fn is_fresh_at(&self, now: UnixTime, margin_secs: u64) -> bool {
        self.exp
            .is_some_and(|exp| now.as_secs().saturating_add(margin_secs) < exp.as_secs())
    }
}

impl fmt::Debug for ForgeOAuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForgeOAuthToken")
            .field("kind", &self.kind)
            .field("exp", &self.exp)
            .finish_non_exhaustive()
    }
}

/// The `exp` of a JWT's payload, unverified; `None` for anything else.
fn jwt_exp(token: &str) -> Option<UnixTime> {
    #[derive(Deserialize)]
    struct Payload<'a> {
        #[serde(borrow)]
        exp: Option<&'a RawValue>,
    }
    let mut segments = token.split('.');
    let (_, payload, _, None) = (
        segments.next()?,
        segments.next()?,
        segments.next()?,
        segments.next(),
    ) else {
        return None;
    };
    let json = Zeroizing::new(URL_SAFE_NO_PAD.decode(payload).ok()?);
    let payload: Payload<'_> = serde_json::from_slice(&json).ok()?;
    UnixTime::from_numeric_date(payload.exp?.get())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn jwt(payload: &str) -> String {
        format!("e30.{}.c2ln", URL_SAFE_NO_PAD.encode(payload))
    }

    #[test]
    fn expiry_is_read_from_jwts_only() {
        let exp = |token: &str| {
            ForgeOAuthToken::from_header(ForgeOAuthKind::User, token)
                .unwrap()
                .exp()
        };
        assert_eq!(
            exp(&jwt(r#"{"exp":1700003600,"sub":"x"}"#)),
            Some(UnixTime::from_secs(1_700_003_600))
        );
        assert_eq!(
            exp(&jwt(r#"{"exp":1700003600.9}"#)),
            Some(UnixTime::from_secs(1_700_003_600))
        );
        assert_eq!(exp(&jwt(r#"{"exp":"1700003600"}"#)), None);
        assert_eq!(exp(&jwt(r#"{"exp":1,"exp":2}"#)), None);
        assert_eq!(exp(&jwt(r#"{"sub":"x"}"#)), None);
        assert_eq!(exp(&jwt("not json")), None);
        assert_eq!(exp("opaque-token"), None);
        assert_eq!(exp("a.b"), None);
        assert_eq!(exp("a.!!.c"), None);
        let four = format!("{}.d", jwt(r#"{"exp":1700003600}"#));
        assert_eq!(exp(&four), None);
    }

    #[test]
    fn malformed_headers_are_refused() {
        for bad in [
            String::new(),
            "a b".to_owned(),
            "Bearer x".to_owned(),
            "x\r\n".to_owned(),
            "é".to_owned(),
            "a".repeat(MAX_OAUTH_TOKEN_LEN + 1),
        ] {
            assert_eq!(
                ForgeOAuthToken::from_header(ForgeOAuthKind::System, &bad).map(|_| ()),
                Err(Error::InvalidOAuthToken),
                "{bad:?}"
            );
        }
        let longest = "a".repeat(MAX_OAUTH_TOKEN_LEN);
        assert!(ForgeOAuthToken::from_header(ForgeOAuthKind::System, &longest).is_ok());
    }

    #[test]
    fn freshness_and_redaction() {
        let token =
            ForgeOAuthToken::from_header(ForgeOAuthKind::User, &jwt(r#"{"exp":1000}"#)).unwrap();
        assert!(token.is_fresh_at(UnixTime::from_secs(939), 60));
        assert!(!token.is_fresh_at(UnixTime::from_secs(940), 60));
        assert!(!token.is_fresh_at(UnixTime::from_secs(u64::MAX), 60));
        let opaque = ForgeOAuthToken::from_header(ForgeOAuthKind::User, "opaque").unwrap();
        assert!(!opaque.is_fresh_at(UnixTime::from_secs(0), 0));
        assert_eq!(token.kind().header_name(), "x-forge-oauth-user");
        assert_eq!(ForgeOAuthKind::System.header_name(), "x-forge-oauth-system");
        assert_eq!(token.expose(), jwt(r#"{"exp":1000}"#));
        let shown = format!("{token:?} {opaque:?}");
        assert!(
            !shown.contains("e30") && !shown.contains("opaque"),
            "{shown}"
        );
    }
}
