//! Signing: tokens an app sends to the product, context-style tokens for its own front end,
//! and the user-impersonation assertion of the OAuth 2.0 JWT bearer grant.

use core::fmt;

use serde::Serialize;

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

#[derive(Serialize)]
struct Payload<'a> {
    iss: &'a str,
    iat: u64,
    exp: u64,
    qsh: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
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
        let qsh = request.qsh().hex();
        // Lowercase hex digits are ASCII.
        let qsh = core::str::from_utf8(&qsh).map_err(|_| Error::InvalidClaim(crate::Claim::Qsh))?;
        self.sign_with_qsh(qsh, key, now)
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
        self.sign_with_qsh(CONTEXT_QSH, key, now)
    }

    fn sign_with_qsh(
        &self,
        qsh: &str,
        key: &TenantKey,
        now: UnixTime,
    ) -> Result<SignedToken, Error> {
        let iat = now.as_secs();
        let exp = iat
            .checked_add(self.lifetime)
            .ok_or(Error::InvalidClaim(crate::Claim::Exp))?;
        sign_payload(
            &Payload {
                iss: &self.issuer,
                iat,
                exp,
                qsh,
                sub: self.subject.as_deref(),
                aud: self.audience.as_deref(),
            },
            key,
        )
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
        #[derive(Serialize)]
        struct Assertion<'a> {
            iss: String,
            sub: String,
            tnt: &'a str,
            aud: &'a str,
            iat: u64,
            exp: u64,
        }
        let iat = now.as_secs();
        let exp = iat
            .checked_add(ASSERTION_LIFETIME)
            .ok_or(Error::InvalidClaim(crate::Claim::Exp))?;
        sign_payload(
            &Assertion {
                iss: format!("urn:atlassian:connect:clientid:{}", self.oauth_client_id),
                sub: format!("urn:atlassian:connect:useraccountid:{}", self.account_id),
                tnt: self.tenant_base_url,
                aud: OAUTH_AUDIENCE,
                iat,
                exp,
            },
            key,
        )
    }
}

fn sign_payload(payload: &impl Serialize, key: &TenantKey) -> Result<SignedToken, Error> {
    // The JSON goes to a stack buffer when it fits (it does for every ordinary token), so the
    // returned token is the only allocation.
    const STACK: usize = 512;
    let mut stack = [0u8; STACK];
    let mut unused: &mut [u8] = &mut stack;
    let heap;
    let json = if serde_json::to_writer(&mut unused, payload).is_ok() {
        let len = STACK - unused.len();
        &stack[..len]
    } else {
        // Serializing plain structs of strings and integers cannot fail.
        heap = serde_json::to_vec(payload)
            .map_err(|_| Error::InvalidJson(crate::TokenPart::Payload))?;
        &heap[..]
    };
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
