//! Signing: tokens an app sends to the product, context-style tokens for its own front end,
//! and the user-impersonation assertion of the OAuth 2.0 JWT bearer grant.

use core::fmt;

use crate::canonical::{BasePath, CanonicalRequest};
use crate::error::Error;
use crate::jws;
use crate::qsh::CONTEXT_QSH;
use crate::secret::TenantKey;
use crate::time::UnixTime;

/// Lifetime of outbound tokens, in seconds: what the product itself uses.
pub const DEFAULT_LIFETIME: u64 = 180;

/// Audience of the user-impersonation assertion (Atlassian's OAuth 2.0 authorization server).
pub const OAUTH_AUDIENCE: &str = "https://oauth-2-authorization-server.services.atlassian.com";

/// Lifetime of a user-impersonation assertion, in seconds.
const ASSERTION_LIFETIME: u64 = 60;

/// A signed compact JWS.
///
/// `Debug` shows only its length: a token is a bearer credential for its lifetime.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedToken(String);

impl SignedToken {
    /// The token text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value of an `Authorization` header carrying it: `JWT <token>`.
    #[must_use]
    pub fn authorization_header(&self) -> String {
        format!("JWT {}", self.0)
    }

    /// The token text, owned.
    #[must_use]
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for SignedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignedToken(<{} bytes>)", self.0.len())
    }
}

/// Builds and signs HS256 tokens.
///
/// ```
/// use atlassian_connect_jwt::{BasePath, SharedSecret, Signer, TenantKey, UnixTime};
///
/// let key = TenantKey::new("tenant-client-key", &SharedSecret::new("tenant-shared-secret"))?;
/// // A call from the app (key "com.example.app") to Confluence: `/wiki` is the product's base path.
/// let confluence = BasePath::parse("https://example.atlassian.net/wiki")?;
/// let token = Signer::new("com.example.app").sign_outbound(
///     "GET",
///     "https://example.atlassian.net/wiki/rest/api/space?limit=10",
///     &confluence,
///     &key,
///     UnixTime::from_secs(1_700_000_000),
/// )?;
/// assert!(token.authorization_header().starts_with("JWT eyJ"));
/// # Ok::<(), atlassian_connect_jwt::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Signer {
    issuer: String,
    subject: Option<String>,
    audience: Option<String>,
    lifetime: u64,
}

impl Signer {
    /// Tokens issued by `issuer`: the app key for calls to the product, the clientKey for
    /// tokens that must look like the product's.
    #[must_use]
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            subject: None,
            audience: None,
            lifetime: DEFAULT_LIFETIME,
        }
    }

    /// Sets `sub` (a user's account id).
    #[must_use]
    pub fn with_subject(self, subject: impl Into<String>) -> Self {
        Self {
            subject: Some(subject.into()),
            ..self
        }
    }

    /// Sets `aud`.
    #[must_use]
    pub fn with_audience(self, audience: impl Into<String>) -> Self {
        Self {
            audience: Some(audience.into()),
            ..self
        }
    }

    /// Sets the lifetime, `exp - iat`, in seconds (default [`DEFAULT_LIFETIME`]).
    #[must_use]
    pub fn with_lifetime(self, seconds: u64) -> Self {
        Self {
            lifetime: seconds,
            ..self
        }
    }

    /// A token bound to `request` by its qsh.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidClaim`] if `now` plus the lifetime overflows.
    pub fn sign_request(
        &self,
        request: &CanonicalRequest<'_>,
        key: &TenantKey,
        now: UnixTime,
    ) -> Result<SignedToken, Error> {
        self.sign_with_qsh(&request.qsh().hex(), key, now)
    }

    /// A token for a call to the product at `url`, canonicalized relative to the product's
    /// base URL, given as a [`BasePath`] (`https://x.atlassian.net/wiki` for Confluence:
    /// `/wiki` is not signed). The base is a type of its own so that it cannot be swapped with
    /// the URL.
    ///
    /// # Errors
    ///
    /// Canonicalization errors for `method`/`url`.
    pub fn sign_outbound(
        &self,
        method: &str,
        url: &str,
        product_base: &BasePath,
        key: &TenantKey,
        now: UnixTime,
    ) -> Result<SignedToken, Error> {
        let request = CanonicalRequest::from_target(method, url, Some(product_base))?;
        self.sign_request(&request, key, now)
    }

    /// A context-style token (`qsh` = `context-qsh`), bound to no request: for an app's own
    /// front-end session. Only routes with [`QshPolicy::Context`](crate::QshPolicy) accept it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidClaim`] if `now` plus the lifetime overflows.
    pub fn sign_context(&self, key: &TenantKey, now: UnixTime) -> Result<SignedToken, Error> {
        self.sign_with_qsh(CONTEXT_QSH.as_bytes(), key, now)
    }

    /// `qsh` is 64 hex digits or `context-qsh`.
    fn sign_with_qsh(
        &self,
        qsh: &[u8],
        key: &TenantKey,
        now: UnixTime,
    ) -> Result<SignedToken, Error> {
        let iat = now.as_secs();
        let exp = iat
            .checked_add(self.lifetime)
            .ok_or(Error::InvalidClaim(crate::Claim::Exp))?;
        let mut json = json::Object::new();
        json.string("iss", self.issuer.as_bytes())?;
        json.integer("iat", iat);
        json.integer("exp", exp);
        json.string("qsh", qsh)?;
        if let Some(sub) = &self.subject {
            json.string("sub", sub.as_bytes())?;
        }
        if let Some(aud) = &self.audience {
            json.string("aud", aud.as_bytes())?;
        }
        sign_payload(json.finish(), key)
    }
}

/// The assertion an app exchanges for a user's access token (OAuth 2.0 JWT bearer grant,
/// RFC 7523), signed with the tenant's shared secret.
///
/// Its three strings are named fields, so that they cannot be passed in the wrong order.
/// Claims: `iss` = `urn:atlassian:connect:clientid:<oauth_client_id>`,
/// `sub` = `urn:atlassian:connect:useraccountid:<account_id>`, `tnt` = the tenant's base URL,
/// `aud` = [`OAUTH_AUDIENCE`], `iat` = now, `exp` = now + 60 s.
///
/// ```
/// use atlassian_connect_jwt::{SharedSecret, TenantKey, UnixTime, UserAssertion};
///
/// let key = TenantKey::new("tenant-client-key", &SharedSecret::new("tenant-shared-secret"))?;
/// let assertion = UserAssertion {
///     oauth_client_id: "the-app-oauth-client-id",
///     account_id: "557058:f0e1d2c3-b4a5-6789-0abc-def012345678",
///     tenant_base_url: "https://example.atlassian.net",
/// }
/// .sign(&key, UnixTime::from_secs(1_700_000_000))?;
/// assert_eq!(assertion.as_str().split('.').count(), 3);
/// # Ok::<(), atlassian_connect_jwt::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserAssertion<'a> {
    /// The app's OAuth client id (`oauthClientId` of the `installed` callback).
    pub oauth_client_id: &'a str,
    /// The Atlassian account id of the user to act as.
    pub account_id: &'a str,
    /// The tenant's base URL (`baseUrl` of the `installed` callback).
    pub tenant_base_url: &'a str,
}

impl UserAssertion<'_> {
    /// Signs the assertion with the tenant's key, issued at `now`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidClaim`] if `now` is so late that `exp` overflows.
    pub fn sign(&self, key: &TenantKey, now: UnixTime) -> Result<SignedToken, Error> {
        let iat = now.as_secs();
        let exp = iat
            .checked_add(ASSERTION_LIFETIME)
            .ok_or(Error::InvalidClaim(crate::Claim::Exp))?;
        let iss = format!("urn:atlassian:connect:clientid:{}", self.oauth_client_id);
        let sub = format!("urn:atlassian:connect:useraccountid:{}", self.account_id);
        let mut json = json::Object::new();
        json.string("iss", iss.as_bytes())?;
        json.string("sub", sub.as_bytes())?;
        json.string("tnt", self.tenant_base_url.as_bytes())?;
        json.string("aud", OAUTH_AUDIENCE.as_bytes())?;
        json.integer("iat", iat);
        json.integer("exp", exp);
        sign_payload(json.finish(), key)
    }
}

fn sign_payload(json: &[u8], key: &TenantKey) -> Result<SignedToken, Error> {
    let mut token = Vec::with_capacity(jws::HS256_HEADER_B64.len() + json.len() * 4 / 3 + 48);
    token.extend_from_slice(jws::HS256_HEADER_B64.as_bytes());
    token.push(b'.');
    jws::encode_into(json, &mut token);
    let mac = jws::mac(key, &token);
    token.push(b'.');
    jws::encode_into(&mac, &mut token);
    // Base64url and dots: ASCII, so this cannot fail.
    let token =
        String::from_utf8(token).map_err(|_| Error::InvalidJson(crate::TokenPart::Payload))?;
    Ok(SignedToken(token))
}

/// The claims JSON of the tokens this crate signs: one object of string and integer members,
/// written straight into a buffer (serde_json's serializer, for these few members, costs
/// more than hashing the token). Strings that need escapes are written by serde_json, so the
/// bytes are exactly what it writes for the same members.
mod json {
    use crate::error::{Error, TokenPart};
    use crate::qsh::copy_short;

    /// On the stack up to this many bytes (every ordinary token), on the heap beyond.
    const STACK: usize = 512;

    pub(super) struct Object {
        stack: [u8; STACK],
        len: usize,
        heap: Option<Vec<u8>>,
    }

    impl Object {
        pub(super) fn new() -> Self {
            Self {
                stack: [0; STACK],
                len: 0,
                heap: None,
            }
        }

        /// `"name":"value"`, escaped as serde_json escapes it. The value is UTF-8 text.
        pub(super) fn string(&mut self, name: &str, value: &[u8]) -> Result<(), Error> {
            self.name(name);
            // Branch-free, so it vectorizes: anything JSON must escape.
            let plain = value.iter().fold(true, |plain, &b| {
                plain & (b >= 0x20) & (b != b'"') & (b != b'\\')
            });
            if plain {
                self.put(b"\"");
                self.put(value);
                self.put(b"\"");
                return Ok(());
            }
            let invalid = || Error::InvalidJson(TokenPart::Payload);
            let text = core::str::from_utf8(value).map_err(|_| invalid())?;
            let escaped = serde_json::to_vec(text).map_err(|_| invalid())?;
            self.put(&escaped);
            Ok(())
        }

        /// `"name":123`.
        pub(super) fn integer(&mut self, name: &str, value: u64) {
            self.name(name);
            // Two digits a step, from a table of the hundred pairs.
            const PAIRS: [u8; 200] = {
                let mut pairs = [0u8; 200];
                let mut i = 0;
                while i < 100 {
                    pairs[2 * i] = b'0' + (i / 10) as u8;
                    pairs[2 * i + 1] = b'0' + (i % 10) as u8;
                    i += 1;
                }
                pairs
            };
            let mut digits = [0u8; 20];
            let mut start = digits.len();
            let mut rest = value;
            while rest >= 100 {
                let pair = (rest % 100) as usize;
                rest /= 100;
                start -= 2;
                digits[start..start + 2].copy_from_slice(&PAIRS[2 * pair..2 * pair + 2]);
            }
            if rest >= 10 {
                let pair = rest as usize;
                start -= 2;
                digits[start..start + 2].copy_from_slice(&PAIRS[2 * pair..2 * pair + 2]);
            } else {
                start -= 1;
                digits[start] = b'0' + rest as u8;
            }
            self.put(&digits[start..]);
        }

        /// The object's text, closed.
        pub(super) fn finish(&mut self) -> &[u8] {
            self.put(b"}");
            match &self.heap {
                Some(heap) => heap,
                None => &self.stack[..self.len],
            }
        }

        #[inline(always)]
        fn name(&mut self, name: &str) {
            let empty = self.len == 0 && self.heap.is_none();
            self.put(if empty { b"{\"" } else { b",\"" });
            self.put(name.as_bytes());
            self.put(b"\":");
        }

        /// Inlined, so that the short constant pieces are a move or two each rather than a
        /// `memcpy` call.
        #[inline(always)]
        fn put(&mut self, bytes: &[u8]) {
            match &mut self.heap {
                Some(heap) => heap.extend_from_slice(bytes),
                None if self.len + bytes.len() <= STACK => {
                    copy_short(&mut self.stack[self.len..self.len + bytes.len()], bytes);
                    self.len += bytes.len();
                }
                None => {
                    let mut heap = Vec::with_capacity(2 * (self.len + bytes.len()));
                    heap.extend_from_slice(&self.stack[..self.len]);
                    heap.extend_from_slice(bytes);
                    self.heap = Some(heap);
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;
    use serde::Serialize;

    use super::json;

    /// The members this crate signs, as serde_json writes them (the writer must match it
    /// byte for byte).
    #[derive(Serialize)]
    struct Reference<'a> {
        iss: &'a str,
        iat: u64,
        exp: u64,
        qsh: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        sub: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        aud: Option<&'a str>,
    }

    fn written(reference: &Reference<'_>) -> Vec<u8> {
        let mut object = json::Object::new();
        object.string("iss", reference.iss.as_bytes()).unwrap();
        object.integer("iat", reference.iat);
        object.integer("exp", reference.exp);
        object.string("qsh", reference.qsh.as_bytes()).unwrap();
        if let Some(sub) = reference.sub {
            object.string("sub", sub.as_bytes()).unwrap();
        }
        if let Some(aud) = reference.aud {
            object.string("aud", aud.as_bytes()).unwrap();
        }
        object.finish().to_vec()
    }

    proptest! {
        /// Any strings (quotes, backslashes, control characters, non-ASCII, long enough to
        /// leave the stack buffer) and integers: the same bytes as serde_json.
        #[test]
        fn claims_json_is_serde_json(
            iss in prop_oneof![any::<String>(), "[ -~]{0,40}", "[\"\\\\\u{0}-\u{1f}a-z\u{7f}é]{0,20}", ".{300,400}"],
            iat in any::<u64>(),
            exp in prop_oneof![Just(0u64), Just(u64::MAX), any::<u64>()],
            qsh in "[0-9a-f]{64}|context-qsh",
            sub in proptest::option::of(any::<String>()),
            aud in proptest::option::of("[\"\\\\a-z\u{1}]{0,10}"),
        ) {
            let reference = Reference {
                iss: &iss,
                iat,
                exp,
                qsh: &qsh,
                sub: sub.as_deref(),
                aud: aud.as_deref(),
            };
            prop_assert_eq!(written(&reference), serde_json::to_vec(&reference).unwrap());
        }
    }
}
