//! Session tokens: the key they are signed with, minting, and verification as strict as the
//! Connect verifier's.

use core::fmt;

use serde::Serialize;
use zeroize::Zeroizing;

use crate::error::{Claim, ConfigError, Error, TokenPart, Unavailable};
use crate::jws::{self, Segments};
use crate::secret::TenantKey;
use crate::session_marker::SESSION_HEADER_B64;
use crate::time::UnixTime;
use crate::verify::{SecretStore, MAX_LEEWAY};

/// Lifetime of a session token unless configured otherwise, in seconds (5 minutes).
pub const DEFAULT_SESSION_TTL: u64 = 300;

/// Longest session lifetime accepted, in seconds (1 hour). Revocation marks are kept this
/// long (plus the leeway), so that every token a mark covers has expired before the mark is
/// forgotten; a longer lifetime would also stretch the exposure when no revocation arrives.
pub const MAX_SESSION_TTL: u64 = 3600;

/// Default clock-skew allowance between the app's own instances, in seconds: session tokens
/// are minted and checked by the same app, whose clocks agree far better than an app's and a
/// product's.
pub const DEFAULT_SESSION_LEEWAY: u64 = 5;

/// The `token_use` claim of every session token: the type marker inside the signed payload.
pub(crate) const TOKEN_USE: &str = "app-session";

/// The label of the key derivation: names the purpose and its version, so that a future
/// change of format derives other keys.
pub(crate) const KDF_LABEL: &[u8] = b"atlassian-connect-jwt/app-session/v1";

/// Bytes of randomness in a session id: 128 bits, 22 base64url characters.
const ID_BYTES: usize = 16;
const ID_LEN: usize = 22;

/// The HS256 key of a tenant's session tokens, derived from its shared secret.
///
/// Construction: NIST SP 800-108r1 KDF in counter mode with HMAC-SHA256 as the PRF, one
/// block:
///
/// ```text
/// K_session = HMAC-SHA256(K = sharedSecret,
///                         0x00000001 || "atlassian-connect-jwt/app-session/v1" || 0x00
///                                    || clientKey || 0x00000100)
/// ```
///
/// The counter (`i` = 1), the label with its purpose and version, a zero byte, the tenant's
/// clientKey as the context and the output length in bits (256), each length fixed or
/// delimited. There is no salt: the KDF is keyed by the tenant's secret itself, exactly the
/// HMAC key the product signs with, so it runs on the tenant's precomputed HMAC state
/// ([`TenantKey`]) and any [`SecretStore`] serves it. Domain separation follows from the
/// input: a product token's signing input is base64url text (`eyJ...`), which never starts
/// with the zero bytes above, so no MAC the product or the app computes for a product token
/// is a session key, and the label keeps these keys apart from any other use of the secret.
/// The clientKey in the context gives two tenants that share a secret different keys.
///
/// `Debug` shows the clientKey only; the key bytes are wiped after the HMAC state is built.
#[derive(Clone)]
pub struct SessionKey {
    key: TenantKey,
}

impl SessionKey {
    /// The session key of the tenant whose key is `tenant`.
    ///
    /// # Errors
    ///
    /// None in practice (the derived key is 32 bytes, never empty); the `Result` is that of
    /// building an HMAC key.
    pub fn derive(tenant: &TenantKey) -> Result<Self, Error> {
        let client_key = tenant.client_key();
        let mut input = Zeroizing::new(Vec::with_capacity(
            4 + KDF_LABEL.len() + 1 + client_key.len() + 4,
        ));
        input.extend_from_slice(&1u32.to_be_bytes());
        input.extend_from_slice(KDF_LABEL);
        input.push(0);
        input.extend_from_slice(client_key.as_bytes());
        input.extend_from_slice(&256u32.to_be_bytes());
        let derived = Zeroizing::new(jws::mac(tenant, &input));
        Ok(Self {
            key: TenantKey::from_bytes(client_key, derived.as_slice())?,
        })
    }

    /// The clientKey of the tenant this key belongs to.
    #[must_use]
    pub fn client_key(&self) -> &str {
        self.key.client_key()
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionKey")
            .field("client_key", &self.client_key())
            .finish_non_exhaustive()
    }
}

/// What a session token was minted for: the page's issue or Confluence content, by id.
///
/// Ids are numbers, as the product sends them (`issueId=10001`, `content.id=98305`), so a
/// key or a title can never be taken for one. In the token it is the `res` claim,
/// `jira-issue:10001` or `confluence-content:98305`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Resource {
    /// A Jira issue, by its numeric id.
    JiraIssue(u64),
    /// A Confluence page, blog post or other content, by its numeric id.
    ConfluenceContent(u64),
}

impl Resource {
    fn parts(self) -> (&'static str, u64) {
        match self {
            Self::JiraIssue(id) => ("jira-issue", id),
            Self::ConfluenceContent(id) => ("confluence-content", id),
        }
    }

    /// Reads a `res` claim: a known kind, `:`, and a decimal id without sign or leading zero.
    fn parse(claim: &str) -> Option<Self> {
        let (kind, id) = claim.split_once(':')?;
        let canonical = !id.is_empty()
            && id.len() <= 20
            && id.bytes().all(|b| b.is_ascii_digit())
            && (id == "0" || !id.starts_with('0'));
        if !canonical {
            return None;
        }
        let id: u64 = id.parse().ok()?;
        match kind {
            "jira-issue" => Some(Self::JiraIssue(id)),
            "confluence-content" => Some(Self::ConfluenceContent(id)),
            _ => None,
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, id) = self.parts();
        write!(f, "{kind}:{id}")
    }
}

/// The claims of a session token: who (tenant and user), for what, from when to when, and
/// its unique id. Every field is present on every session token.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionClaims {
    client_key: Box<str>,
    account_id: Box<str>,
    id: Box<str>,
    iat: UnixTime,
    exp: UnixTime,
    resource: Option<Resource>,
}

impl SessionClaims {
    /// Claims as a verified token would carry them, for the stores' unit tests.
    #[cfg(test)]
    pub(crate) fn for_test(
        client_key: &str,
        account_id: &str,
        id: &str,
        iat: u64,
        exp: u64,
    ) -> Self {
        Self {
            client_key: client_key.into(),
            account_id: account_id.into(),
            id: id.into(),
            iat: UnixTime::from_secs(iat),
            exp: UnixTime::from_secs(exp),
            resource: None,
        }
    }

    /// The tenant's clientKey (`iss`).
    #[must_use]
    pub fn client_key(&self) -> &str {
        &self.client_key
    }

    /// The user's Atlassian account id (`sub`).
    #[must_use]
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// The token's unique id (`jti`): 128 random bits, base64url. Not a secret (it names
    /// the token in logs and in a revocation), but not a credential either.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// When it was minted (`iat`).
    #[must_use]
    pub fn issued_at(&self) -> UnixTime {
        self.iat
    }

    /// When it expires (`exp`).
    #[must_use]
    pub fn expires_at(&self) -> UnixTime {
        self.exp
    }

    /// The resource it was minted for (`res`), if any.
    #[must_use]
    pub fn resource(&self) -> Option<Resource> {
        self.resource
    }
}

impl fmt::Debug for SessionClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionClaims")
            .field("client_key", &self.client_key)
            .field("account_id", &self.account_id)
            .field("id", &self.id)
            .field("iat", &self.iat)
            .field("exp", &self.exp)
            .field("resource", &self.resource)
            .finish()
    }
}

/// A minted session token and its claims.
///
/// `Debug` shows the claims and the token's length, never the token: it is a bearer
/// credential for its lifetime.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken {
    token: String,
    claims: SessionClaims,
}

impl SessionToken {
    /// The token text, for the page (`<meta name="app-session-token" content="...">`).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.token
    }

    /// The value of an `Authorization` header carrying it: `Bearer <token>`.
    #[must_use]
    pub fn bearer_header(&self) -> String {
        format!("Bearer {}", self.token)
    }

    /// Its claims.
    #[must_use]
    pub fn claims(&self) -> &SessionClaims {
        &self.claims
    }

    /// The token text, owned.
    #[must_use]
    pub fn into_string(self) -> String {
        self.token
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionToken")
            .field("claims", &self.claims)
            .field("len", &self.token.len())
            .finish()
    }
}

#[derive(Serialize)]
struct Payload<'a> {
    iss: &'a str,
    sub: &'a str,
    iat: u64,
    exp: u64,
    jti: &'a str,
    token_use: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    res: Option<String>,
}

/// Signs a session token for `account_id` of the key's tenant, valid `ttl` seconds from
/// `now`, with a fresh random id.
pub(crate) fn mint(
    key: &SessionKey,
    account_id: &str,
    resource: Option<Resource>,
    ttl: u64,
    now: UnixTime,
) -> Result<SessionToken, Error> {
    let mut random = [0u8; ID_BYTES];
    getrandom::fill(&mut random).map_err(|_| Unavailable::Randomness)?;
    let mut id = Vec::with_capacity(ID_LEN);
    jws::encode_into(&random, &mut id);
    let id = String::from_utf8(id).map_err(|_| Error::InvalidClaim(Claim::Jti))?;
    let iat = now.as_secs();
    let exp = iat
        .checked_add(ttl)
        .filter(|exp| *exp <= UnixTime::MAX_NUMERIC_DATE.as_secs())
        .ok_or(Error::InvalidClaim(Claim::Exp))?;
    let payload = Payload {
        iss: key.client_key(),
        sub: account_id,
        iat,
        exp,
        jti: &id,
        token_use: TOKEN_USE,
        res: resource.map(|r| r.to_string()),
    };
    // Plain strings and integers: serializing cannot fail.
    let json = serde_json::to_vec(&payload).map_err(|_| Error::InvalidJson(TokenPart::Payload))?;
    let mut token = Vec::with_capacity(SESSION_HEADER_B64.len() + json.len() * 4 / 3 + 48);
    token.extend_from_slice(SESSION_HEADER_B64.as_bytes());
    token.push(b'.');
    jws::encode_into(&json, &mut token);
    let mac = jws::mac(&key.key, &token);
    token.push(b'.');
    jws::encode_into(&mac, &mut token);
    let token = String::from_utf8(token).map_err(|_| Error::InvalidJson(TokenPart::Payload))?;
    Ok(SessionToken {
        token,
        claims: SessionClaims {
            client_key: key.client_key().into(),
            account_id: account_id.into(),
            id: id.into(),
            iat: UnixTime::from_secs(iat),
            exp: UnixTime::from_secs(exp),
            resource,
        },
    })
}

/// A session token whose form, header and claim types have been checked, but not yet its
/// signature or time: only its issuer may be read, to find the tenant's key. `Debug` shows
/// only the issuer.
pub struct UnverifiedSession<'t> {
    segments: Segments<'t>,
    claims: SessionClaims,
}

impl<'t> UnverifiedSession<'t> {
    /// Checks the token's form, its session header and its claims' types.
    ///
    /// # Errors
    ///
    /// Form errors as for product tokens ([`Error::MalformedToken`], ...); header errors
    /// (`crit`, `alg`) and then [`Error::NotASessionToken`] for any header but a session
    /// token's; claim errors ([`Error::MissingClaim`], [`Error::InvalidClaim`]) and
    /// [`Error::NotASessionToken`] for a payload with a `qsh` or without `token_use`
    /// `app-session`.
    pub fn parse(token: &'t str) -> Result<Self, Error> {
        let segments = jws::split(token)?;
        if segments.header != SESSION_HEADER_B64 {
            return Err(header_error(segments.header));
        }
        let claims = read_claims(segments.payload)?;
        Ok(Self { segments, claims })
    }

    /// The token's `iss`: the clientKey whose secret's session key must have signed it.
    /// Unverified.
    #[must_use]
    pub fn issuer(&self) -> &str {
        self.claims.client_key()
    }
}

impl fmt::Debug for UnverifiedSession<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnverifiedSession")
            .field("issuer", &self.issuer())
            .finish_non_exhaustive()
    }
}

/// Why a header other than the one session header is refused: the generic header rules
/// first (`crit`, `alg`), then the type.
fn header_error(segment: &str) -> Error {
    let mut stack = [0u8; 256];
    let checked = jws::with_decoded(segment, TokenPart::Header, &mut stack, |json| {
        match jws::check_header(json, jws::HS256) {
            // A `typ` other than `JWT`: a session header only if it names the session type,
            // and then spelled otherwise than this crate writes it (refused all the same).
            Ok(()) | Err(Error::UnsupportedTokenType) => Ok(()),
            Err(other) => Err(other),
        }
    });
    match checked {
        Ok(()) => Error::NotASessionToken,
        Err(error) => error,
    }
}

/// Reads the payload: `iss`, `sub`, `iat`, `exp`, `jti` required and typed, `token_use`
/// exactly `app-session`, `res` a known resource when present, no `qsh`. Other members are
/// ignored, as the Connect verifier ignores them.
fn read_claims(segment: &str) -> Result<SessionClaims, Error> {
    #[derive(Default)]
    struct Found {
        iss: Option<Box<str>>,
        sub: Option<Box<str>>,
        jti: Option<Box<str>>,
        iat: Option<UnixTime>,
        exp: Option<UnixTime>,
        token_use: bool,
        res: Option<Resource>,
        qsh: bool,
    }
    let mut found = Found::default();
    let mut stack = [0u8; 512];
    jws::with_decoded(segment, TokenPart::Payload, &mut stack, |json| {
        jws::for_each_member(
            json,
            TokenPart::Payload,
            |_| true,
            |name, value| {
                let text = |claim| {
                    jws::json_str(value)
                        .filter(|v| !v.is_empty())
                        .map(|v| Box::<str>::from(v.as_ref()))
                        .ok_or(Error::InvalidClaim(claim))
                };
                let date = |claim| {
                    UnixTime::from_numeric_date(value.get()).ok_or(Error::InvalidClaim(claim))
                };
                match name.as_ref() {
                    "iss" => found.iss = Some(text(Claim::Iss)?),
                    "sub" => found.sub = Some(text(Claim::Sub)?),
                    "jti" => {
                        let jti = text(Claim::Jti)?;
                        let canonical = jti.len() == ID_LEN
                            && jti
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                        if !canonical {
                            return Err(Error::InvalidClaim(Claim::Jti));
                        }
                        found.jti = Some(jti);
                    }
                    "iat" => found.iat = Some(date(Claim::Iat)?),
                    "exp" => found.exp = Some(date(Claim::Exp)?),
                    "token_use" => {
                        found.token_use = jws::json_str(value).as_deref() == Some(TOKEN_USE);
                    }
                    "res" => {
                        let res = jws::json_str(value)
                            .and_then(|r| Resource::parse(&r))
                            .ok_or(Error::InvalidClaim(Claim::Res))?;
                        found.res = Some(res);
                    }
                    "qsh" => found.qsh = true,
                    _ => {}
                }
                Ok(())
            },
        )
    })?;
    if found.qsh || !found.token_use {
        return Err(Error::NotASessionToken);
    }
    Ok(SessionClaims {
        client_key: found.iss.ok_or(Error::MissingClaim(Claim::Iss))?,
        account_id: found.sub.ok_or(Error::MissingClaim(Claim::Sub))?,
        iat: found.iat.ok_or(Error::MissingClaim(Claim::Iat))?,
        exp: found.exp.ok_or(Error::MissingClaim(Claim::Exp))?,
        id: found.jti.ok_or(Error::MissingClaim(Claim::Jti))?,
        resource: found.res,
    })
}

/// Checks session tokens: their own header and type claim, the tenant's session key, time
/// with a small leeway, and a maximum lifetime. Holds no secrets; cheap to copy.
///
/// This is the cryptographic half of a session check; [`Sessions::verify`](super::Sessions::verify)
/// adds the revocation check and is what routes use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionVerifier {
    leeway: u64,
    max_lifetime: u64,
}

impl Default for SessionVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl SessionVerifier {
    /// Leeway [`DEFAULT_SESSION_LEEWAY`], lifetimes up to [`MAX_SESSION_TTL`].
    #[must_use]
    pub const fn new() -> Self {
        Self {
            leeway: DEFAULT_SESSION_LEEWAY,
            max_lifetime: MAX_SESSION_TTL,
        }
    }

    /// Sets the clock-skew allowance between instances.
    ///
    /// # Errors
    ///
    /// [`ConfigError::LeewayTooLarge`] above [`MAX_LEEWAY`].
    pub const fn with_leeway(self, seconds: u64) -> Result<Self, Error> {
        if seconds > MAX_LEEWAY {
            return Err(Error::Config(ConfigError::LeewayTooLarge {
                leeway: seconds,
                max: MAX_LEEWAY,
            }));
        }
        Ok(Self {
            leeway: seconds,
            ..self
        })
    }

    /// Refuses tokens whose `exp - iat` exceeds `seconds`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::SessionTtlOutOfRange`] for 0 or more than [`MAX_SESSION_TTL`].
    pub const fn with_max_lifetime(self, seconds: u64) -> Result<Self, Error> {
        if seconds == 0 || seconds > MAX_SESSION_TTL {
            return Err(Error::Config(ConfigError::SessionTtlOutOfRange {
                ttl: seconds,
                max: MAX_SESSION_TTL,
            }));
        }
        Ok(Self {
            max_lifetime: seconds,
            ..self
        })
    }

    /// The leeway in seconds.
    #[must_use]
    pub const fn leeway(&self) -> u64 {
        self.leeway
    }

    /// Verifies a session token with the session key of its `iss`, derived from the key
    /// `store` has for that tenant. No revocation check: see
    /// [`Sessions::verify`](super::Sessions::verify).
    ///
    /// # Errors
    ///
    /// The first failed check, in this order: form, header, claims (see
    /// [`UnverifiedSession::parse`]), the tenant ([`Error::UnknownIssuer`] or the store's
    /// error), [`ConfigError::KeyTenantMismatch`], signature, time
    /// ([`Error::SessionExpired`], [`Error::IssuedInFuture`], [`Error::EmptyValidity`],
    /// [`Error::LifetimeTooLong`]).
    pub fn verify(
        &self,
        token: &str,
        store: &(impl SecretStore + ?Sized),
        now: UnixTime,
    ) -> Result<VerifiedSession, Error> {
        let token = UnverifiedSession::parse(token)?;
        let key = store
            .tenant_key(token.issuer())?
            .ok_or(Error::UnknownIssuer)?;
        self.finish(token, &SessionKey::derive(&key)?, now)
    }

    /// The second half of [`verify`](Self::verify), with the session key of the token's
    /// issuer.
    ///
    /// # Errors
    ///
    /// [`ConfigError::KeyTenantMismatch`] when `key` is another tenant's; then signature
    /// and time, as [`verify`](Self::verify).
    pub fn finish(
        &self,
        token: UnverifiedSession<'_>,
        key: &SessionKey,
        now: UnixTime,
    ) -> Result<VerifiedSession, Error> {
        if key.client_key() != token.issuer() {
            return Err(ConfigError::KeyTenantMismatch.into());
        }
        jws::verify_hs256(&key.key, &token.segments)?;
        self.check_time(&token.claims, now)?;
        Ok(VerifiedSession {
            claims: token.claims,
        })
    }

    fn check_time(&self, claims: &SessionClaims, now: UnixTime) -> Result<(), Error> {
        let now = now.as_secs();
        let (iat, exp) = (claims.iat.as_secs(), claims.exp.as_secs());
        if now >= exp.saturating_add(self.leeway) {
            return Err(Error::SessionExpired { exp, now });
        }
        if iat > now.saturating_add(self.leeway) {
            return Err(Error::IssuedInFuture { iat, now });
        }
        if iat >= exp {
            return Err(Error::EmptyValidity);
        }
        let lifetime = exp - iat;
        if lifetime > self.max_lifetime {
            return Err(Error::LifetimeTooLong {
                lifetime,
                max: self.max_lifetime,
            });
        }
        Ok(())
    }
}

/// Proof that a session token verified (signature and time; with
/// [`Sessions::verify`](super::Sessions::verify), also that it is not revoked). Only the
/// verifier creates it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedSession {
    claims: SessionClaims,
}

impl VerifiedSession {
    /// The tenant's clientKey.
    #[must_use]
    pub fn client_key(&self) -> &str {
        self.claims.client_key()
    }

    /// The user's account id.
    #[must_use]
    pub fn account_id(&self) -> &str {
        self.claims.account_id()
    }

    /// All claims.
    #[must_use]
    pub fn claims(&self) -> &SessionClaims {
        &self.claims
    }

    /// Checks that a call touching `resource` is allowed with this token: it must have been
    /// minted for exactly that resource.
    ///
    /// # Errors
    ///
    /// [`Error::SessionResourceMismatch`] when the token names another resource or none.
    pub fn require_resource(&self, resource: Resource) -> Result<(), Error> {
        if self.claims.resource == Some(resource) {
            Ok(())
        } else {
            Err(Error::SessionResourceMismatch)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::secret::SharedSecret;

    #[test]
    fn resource_claims_are_canonical() {
        for (text, resource) in [
            ("jira-issue:10001", Resource::JiraIssue(10001)),
            ("jira-issue:0", Resource::JiraIssue(0)),
            (
                "confluence-content:18446744073709551615",
                Resource::ConfluenceContent(u64::MAX),
            ),
        ] {
            assert_eq!(Resource::parse(text), Some(resource));
            assert_eq!(resource.to_string(), text);
        }
        for bad in [
            "jira-issue:",
            "jira-issue:010",
            "jira-issue:+1",
            "jira-issue:-1",
            "jira-issue: 1",
            "jira-issue:18446744073709551616",
            "jira-project:1",
            "JIRA-ISSUE:1",
            "jira-issue",
            "",
        ] {
            assert_eq!(Resource::parse(bad), None, "{bad:?}");
        }
    }

    /// The derivation is the documented one: HMAC-SHA256 under the secret of the counter,
    /// label, separator, clientKey and length, computed here from the spec with `hmac`.
    #[test]
    fn session_key_is_the_documented_kdf() {
        use hmac::{Hmac, KeyInit, Mac};
        let secret = "tenant-secret-0123456789";
        let tenant = TenantKey::new("jira:tenant-1", &SharedSecret::new(secret)).unwrap();
        let derived = SessionKey::derive(&tenant).unwrap();
        let mut prf = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
        prf.update(b"\x00\x00\x00\x01atlassian-connect-jwt/app-session/v1\x00jira:tenant-1\x00\x00\x01\x00");
        let expected: [u8; 32] = prf.finalize().into_bytes().into();
        let reference = TenantKey::from_bytes("jira:tenant-1", &expected).unwrap();
        assert_eq!(
            jws::mac(&derived.key, b"probe"),
            jws::mac(&reference, b"probe")
        );
        // And it is not the tenant's own key.
        assert_ne!(
            jws::mac(&derived.key, b"probe"),
            jws::mac(&tenant, b"probe")
        );
    }
}
