//! Verifying tenant tokens: the key from `iss`, HS256 only, time with a small leeway, and a
//! per-route qsh policy that keeps context tokens off request-bound routes.

use core::fmt;
use core::future::Future;
use std::collections::{BTreeMap, HashMap};

use crate::canonical::CanonicalRequest;
use crate::claims::Claims;
use crate::error::{Claim, ConfigError, Error, QshMismatch};
use crate::jws::{self, Segments};
use crate::qsh::CONTEXT_QSH;
use crate::secret::{SharedSecret, TenantKey};
use crate::time::UnixTime;

/// Default clock-skew allowance, in seconds (atlassian-connect-spring-boot uses the same).
pub const DEFAULT_LEEWAY: u64 = 30;

/// Largest leeway a verifier accepts, in seconds: more would stretch a 3-minute token a lot.
pub const MAX_LEEWAY: u64 = 300;

/// Which tokens a route accepts, chosen per route. There is deliberately no default.
///
/// * iframe loads, webhooks, lifecycle callbacks and server-to-server calls:
///   [`QshPolicy::Request`], with the request actually received;
/// * the app's own front-end API called with `AP.context.getToken()`: [`QshPolicy::Context`];
/// * a route that serves both (Atlassian's example app does this): only by the explicit
///   [`QshPolicy::RequestOrContext`].
///
/// A context token on a [`Request`](QshPolicy::Request) route fails with
/// [`Error::ContextTokenNotAllowed`]: accepting it there was CVE-2021-26073.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum QshPolicy<'r, 'a> {
    /// The token's `qsh` must be the hash of this request.
    Request(&'r CanonicalRequest<'a>),
    /// The token's `qsh` must be exactly `context-qsh`.
    Context,
    /// Either of the above.
    RequestOrContext(&'r CanonicalRequest<'a>),
}

/// What kind of token was accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenKind {
    /// Bound to the request by its `qsh`.
    RequestBound,
    /// A context token (`qsh` = `context-qsh`), bound to no request.
    Context,
}

impl TokenKind {
    /// `request-bound` or `context`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RequestBound => "request-bound",
            Self::Context => "context",
        }
    }
}

/// Finds a tenant's key by its clientKey (the token's `iss`).
///
/// Closures `Fn(&str) -> Option<SharedSecret>` and maps from clientKey to [`TenantKey`] or
/// [`SharedSecret`] implement it. Compare client keys exactly (no case folding, trimming or
/// Unicode normalization): the key found is the identity the verifier returns. A map of
/// [`TenantKey`]s avoids both an allocation and two SHA-256 blocks per verification. A database-backed store implements it directly and returns
/// [`Unavailable::SecretStore`](crate::Unavailable::SecretStore) when it cannot answer (after logging why).
pub trait SecretStore {
    /// The key of `client_key`, `Ok(None)` if the tenant is unknown.
    ///
    /// # Errors
    ///
    /// [`ConfigError::EmptySecret`] for a tenant with an empty secret,
    /// [`Unavailable::SecretStore`](crate::Unavailable::SecretStore) when the store cannot answer.
    fn tenant_key(&self, client_key: &str) -> Result<Option<TenantKey>, Error>;
}

impl<F> SecretStore for F
where
    F: Fn(&str) -> Option<SharedSecret>,
{
    fn tenant_key(&self, client_key: &str) -> Result<Option<TenantKey>, Error> {
        self(client_key)
            .map(|secret| TenantKey::new(client_key, &secret))
            .transpose()
    }
}

impl<S: std::hash::BuildHasher> SecretStore for HashMap<String, TenantKey, S> {
    fn tenant_key(&self, client_key: &str) -> Result<Option<TenantKey>, Error> {
        Ok(self.get(client_key).cloned())
    }
}

impl<S: std::hash::BuildHasher> SecretStore for HashMap<String, SharedSecret, S> {
    fn tenant_key(&self, client_key: &str) -> Result<Option<TenantKey>, Error> {
        self.get(client_key)
            .map(|secret| TenantKey::new(client_key, secret))
            .transpose()
    }
}

impl SecretStore for BTreeMap<String, SharedSecret> {
    fn tenant_key(&self, client_key: &str) -> Result<Option<TenantKey>, Error> {
        self.get(client_key)
            .map(|secret| TenantKey::new(client_key, secret))
            .transpose()
    }
}

/// The async form of [`SecretStore`], for a store that awaits its database.
pub trait AsyncSecretStore {
    /// As [`SecretStore::tenant_key`]; the future may borrow the store and the clientKey.
    fn tenant_key<'a>(
        &'a self,
        client_key: &'a str,
    ) -> impl Future<Output = Result<Option<TenantKey>, Error>> + Send + 'a;
}

/// Checks tenant tokens. Cheap to build and to share between threads; holds no secrets.
///
/// Strict by default: HS256 only, `iss`, `iat`, `exp` and `qsh` required, a leeway of
/// [`DEFAULT_LEEWAY`] seconds for clock skew, no maximum lifetime.
///
/// ```
/// use atlassian_connect_jwt::{CanonicalRequest, QshPolicy, SharedSecret, TokenKind, UnixTime, Verifier};
///
/// let token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ0ZXN0LWNsaWVudC1rZXkiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMDE4MCwicXNoIjoiNzAyODJjN2NmODI4MzRiZDVhM2Q2ZGFjZGExYjRjY2Q1Y2Y1ODYwYTYzYTFmYTJmYjg2YjY0ZDU3NmU2YTFkNSJ9.p_628YD5xOEjKOGLmVZ7TKOyymWyyfgWIwDuac8amkY";
/// let store = |client_key: &str| {
///     (client_key == "test-client-key").then(|| SharedSecret::new("connect-test-secret-0123456789abcdef0123"))
/// };
/// let request = CanonicalRequest::from_target("GET", "/path/to/service?a=1&A=2&b=3&B=4", None)?;
///
/// let verified = Verifier::new().verify(token, QshPolicy::Request(&request), &store, UnixTime::from_secs(1_700_000_060))?;
/// assert_eq!(verified.client_key(), "test-client-key");
/// assert_eq!(verified.kind(), TokenKind::RequestBound);
///
/// // The same token on a context-only route is refused, and says why.
/// let err = Verifier::new().verify(token, QshPolicy::Context, &store, UnixTime::from_secs(1_700_000_060)).unwrap_err();
/// assert_eq!(err.code(), "context-token-required");
/// # Ok::<(), atlassian_connect_jwt::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verifier {
    leeway: u64,
    max_lifetime: Option<u64>,
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new()
    }
}

impl Verifier {
    /// The strict default policy.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            leeway: DEFAULT_LEEWAY,
            max_lifetime: None,
        }
    }

    /// Sets the clock-skew allowance applied to `exp`, `nbf` and `iat`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::LeewayTooLarge`] above [`MAX_LEEWAY`] seconds.
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

    /// Refuses tokens whose `exp - iat` exceeds `seconds` (product tokens live 180 s).
    #[must_use]
    pub const fn with_max_lifetime(self, seconds: u64) -> Self {
        Self {
            max_lifetime: Some(seconds),
            ..self
        }
    }

    /// The leeway in seconds.
    #[must_use]
    pub const fn leeway(&self) -> u64 {
        self.leeway
    }

    /// Verifies `token` with the key of its `iss` from `store`, under `policy`, at `now`.
    ///
    /// # Errors
    ///
    /// The [`Error`] variant of the first check that fails, in this order: form and size,
    /// header, then payload: each first its limits ([`Error::TooManyMembers`],
    /// [`Error::NestingTooDeep`], [`Error::ArrayTooLong`], [`Error::TooManyEscapes`]) and lone
    /// surrogates, then UTF-8, then one pass in text order, so JSON syntax, repeated names,
    /// the header's `alg`/`typ`/`crit` and claim types are reported as they occur; required
    /// claims, issuer lookup ([`Error::UnknownIssuer`], or the store's own error), the key's
    /// tenant ([`ConfigError::KeyTenantMismatch`]), signature, time, qsh.
    pub fn verify(
        &self,
        token: &str,
        policy: QshPolicy<'_, '_>,
        store: &(impl SecretStore + ?Sized),
        now: UnixTime,
    ) -> Result<Verified, Error> {
        let token = Unverified::parse(token)?;
        let key = store
            .tenant_key(token.issuer())?
            .ok_or(Error::UnknownIssuer)?;
        self.finish(token, &key, policy, now)
    }

    /// As [`verify`](Self::verify), consulting an async store.
    ///
    /// # Errors
    ///
    /// As [`verify`](Self::verify).
    pub async fn verify_async(
        &self,
        token: &str,
        policy: QshPolicy<'_, '_>,
        store: &(impl AsyncSecretStore + ?Sized),
        now: UnixTime,
    ) -> Result<Verified, Error> {
        let token = Unverified::parse(token)?;
        let key = store
            .tenant_key(token.issuer())
            .await?
            .ok_or(Error::UnknownIssuer)?;
        self.finish(token, &key, policy, now)
    }

    /// The second half of verification, for callers that look the key up themselves
    /// (see [`Unverified`]). The key must be the key of the token's issuer.
    ///
    /// # Errors
    ///
    /// [`ConfigError::KeyTenantMismatch`] when `key` belongs to another tenant than the
    /// token's `iss`; then as [`verify`](Self::verify), from the signature on.
    pub fn finish(
        &self,
        token: Unverified<'_>,
        key: &TenantKey,
        policy: QshPolicy<'_, '_>,
        now: UnixTime,
    ) -> Result<Verified, Error> {
        if key.client_key() != token.claims.iss() {
            return Err(ConfigError::KeyTenantMismatch.into());
        }
        let kind = self.check(&token.segments, &token.claims, key, policy, now)?;
        // Every check passed: only now does the proof exist.
        Ok(Verified {
            claims: token.claims,
            kind,
        })
    }

    /// Signature, time and qsh, in that order.
    fn check(
        &self,
        segments: &Segments<'_>,
        claims: &Claims,
        key: &TenantKey,
        policy: QshPolicy<'_, '_>,
        now: UnixTime,
    ) -> Result<TokenKind, Error> {
        jws::verify_hs256(key, segments)?;
        self.check_time(claims, now)?;
        check_qsh(claims.qsh(), policy)
    }

    /// The time rules (`exp`, `iat`, `nbf`, leeway, maximum lifetime), shared with the
    /// signed-install verifier.
    pub(crate) fn check_time(&self, claims: &Claims, now: UnixTime) -> Result<(), Error> {
        self.check_validity(claims.iat(), claims.exp(), claims.nbf(), now)
    }

    /// [`check_time`](Self::check_time) on the dates alone, for tokens whose claims are not
    /// Connect [`Claims`] (Forge Invocation Tokens).
    pub(crate) fn check_validity(
        &self,
        iat: UnixTime,
        exp: UnixTime,
        nbf: Option<UnixTime>,
        now: UnixTime,
    ) -> Result<(), Error> {
        let now = now.as_secs();
        let (iat, exp) = (iat.as_secs(), exp.as_secs());
        // Dates are capped at year 9999 and leeway at 300 s, so these additions cannot
        // overflow; saturating keeps them total all the same.
        if now >= exp.saturating_add(self.leeway) {
            return Err(Error::Expired { exp, now });
        }
        if iat > now.saturating_add(self.leeway) {
            return Err(Error::IssuedInFuture { iat, now });
        }
        if let Some(nbf) = nbf {
            let nbf = nbf.as_secs();
            if nbf >= exp {
                return Err(Error::EmptyValidity);
            }
            if nbf > now.saturating_add(self.leeway) {
                return Err(Error::NotYetValid { nbf, now });
            }
        }
        if iat >= exp {
            return Err(Error::EmptyValidity);
        }
        if let Some(max) = self.max_lifetime {
            let lifetime = exp - iat;
            if lifetime > max {
                return Err(Error::LifetimeTooLong { lifetime, max });
            }
        }
        Ok(())
    }
}

/// The qsh rules of a [`QshPolicy`], shared with the signed-install verifier.
pub(crate) fn check_qsh(qsh: Option<&str>, policy: QshPolicy<'_, '_>) -> Result<TokenKind, Error> {
    let qsh = qsh.ok_or(Error::MissingClaim(Claim::Qsh))?;
    let is_context = qsh == CONTEXT_QSH;
    match policy {
        QshPolicy::Context if is_context => Ok(TokenKind::Context),
        QshPolicy::Context => Err(Error::ContextTokenRequired),
        QshPolicy::RequestOrContext(_) if is_context => Ok(TokenKind::Context),
        QshPolicy::Request(_) if is_context => Err(Error::ContextTokenNotAllowed),
        QshPolicy::Request(request) | QshPolicy::RequestOrContext(request) => {
            let expected = request.qsh();
            if expected.matches_hex(qsh) {
                Ok(TokenKind::RequestBound)
            } else {
                Err(Error::QshMismatch(Box::new(QshMismatch::new(
                    expected,
                    qsh,
                    request.canonical_string(),
                ))))
            }
        }
    }
}

/// A token whose form, header and claim types have been checked, but not yet its signature,
/// time or qsh: only its issuer may be read, to find the key. `Debug` shows only the issuer.
///
/// ```
/// use atlassian_connect_jwt::{QshPolicy, SharedSecret, TenantKey, UnixTime, Unverified, Verifier};
///
/// # let token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ0ZXN0LWNsaWVudC1rZXkiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMDE4MCwicXNoIjoiY29udGV4dC1xc2gifQ.Y_-fycsTC1VmKefYSFe0PL3HLJ3yBoGVJPW68NX1nfo";
/// let unverified = Unverified::parse(token)?;
/// assert_eq!(unverified.issuer(), "test-client-key");
/// // ... look the tenant up in your own way ...
/// let key = TenantKey::new(unverified.issuer(), &SharedSecret::new("connect-test-secret-0123456789abcdef0123"))?;
/// let verified = Verifier::new().finish(unverified, &key, QshPolicy::Context, UnixTime::from_secs(1_700_000_060))?;
/// assert_eq!(verified.client_key(), "test-client-key");
/// # Ok::<(), atlassian_connect_jwt::Error>(())
/// ```
pub struct Unverified<'t> {
    segments: Segments<'t>,
    claims: Claims,
}

impl<'t> Unverified<'t> {
    /// Checks the token's form, its HS256 header and its claim types.
    ///
    /// # Errors
    ///
    /// Form, header and claim-type errors (see [`Verifier::verify`]).
    pub fn parse(token: &'t str) -> Result<Self, Error> {
        // Form is checked only where decoding does not check it: a header that passes and a
        // payload that decodes are base64url text without dots, so on success only the
        // signature's alphabet is left. On any failure `jws::split` has the first word, so
        // a token it refuses gets its error (`MalformedToken`) whatever else is wrong.
        let segments = jws::split_deferred(token)?;
        let read = jws::check_hs256_header(segments.header)
            .map_err(|error| {
                crate::session_marker::refine_connect_header_error(segments.header, error)
            })
            .and_then(|()| Claims::decode(segments.payload));
        match read {
            Ok(claims) if jws::token_chars(segments.signature.as_bytes()) => {
                Ok(Self { segments, claims })
            }
            Ok(_) => Err(Error::MalformedToken),
            Err(error) => Err(jws::split(token).err().unwrap_or(error)),
        }
    }

    /// The token's `iss`: the clientKey whose secret must have signed it. Unverified.
    #[must_use]
    pub fn issuer(&self) -> &str {
        self.claims.iss()
    }
}

impl fmt::Debug for Unverified<'_> {
    // The issuer only: the token text (through its segments) is a replayable credential,
    // and nothing else of it has been checked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unverified")
            .field("issuer", &self.issuer())
            .finish_non_exhaustive()
    }
}

/// Proof that a token verified: only [`Verifier`] creates it, once every check has passed.
///
/// The identity is the token's `iss`, the same clientKey whose key verified it. Small (the
/// claims are spans of one heap block), owned, and cheap to move into a request's extensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    claims: Claims,
    kind: TokenKind,
}

impl Verified {
    /// The tenant's clientKey (`iss`).
    #[must_use]
    pub fn client_key(&self) -> &str {
        self.claims.iss()
    }

    /// The user's Atlassian account id: `sub`, or `context.user.accountId` when there is no
    /// `sub`. `None` for tokens that act for no user (lifecycle callbacks, say).
    #[must_use]
    pub fn account_id(&self) -> Option<&str> {
        self.claims.sub().or(self.claims.context_account_id())
    }

    /// Request-bound or context.
    #[must_use]
    pub fn kind(&self) -> TokenKind {
        self.kind
    }

    /// All claims.
    #[must_use]
    pub fn claims(&self) -> &Claims {
        &self.claims
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::canonical::CanonicalRequest;
    use crate::sign::Signer;

    /// `parse` looks for dots only at the ends of the token and checks the alphabet only of
    /// the signature, yet refuses every token `jws::split` refuses, with its error: a dot or a
    /// foreign byte put anywhere, a dot taken away, segments emptied.
    #[test]
    fn parse_refuses_what_split_refuses() {
        let key = TenantKey::new("tenant", &SharedSecret::new("secret")).unwrap();
        let request = CanonicalRequest::from_target("GET", "/p?a=1", None).unwrap();
        let token = Signer::new("tenant")
            .sign_request(&request, &key, UnixTime::from_secs(1_700_000_000))
            .unwrap();
        let token = token.as_str();
        assert!(Unverified::parse(token).is_ok());
        let mut variants = Vec::new();
        for at in 0..=token.len() {
            for inserted in [".", "..", "!", "="] {
                variants.push(format!("{}{inserted}{}", &token[..at], &token[at..]));
            }
            if at < token.len() {
                for replaced in [".", "%"] {
                    variants.push(format!("{}{replaced}{}", &token[..at], &token[at + 1..]));
                }
            }
        }
        let dots: Vec<usize> = token.match_indices('.').map(|(i, _)| i).collect();
        for &dot in &dots {
            variants.push(format!("{}{}", &token[..dot], &token[dot + 1..]));
        }
        variants.push(format!(".{}", &token[dots[0] + 1..]));
        variants.push(format!("{}.", &token[..dots[1]]));
        variants.push(format!("{}{}", &token[..=dots[0]], &token[dots[1]..]));
        for variant in &variants {
            if let Err(expected) = jws::split(variant) {
                assert_eq!(
                    Unverified::parse(variant).err(),
                    Some(expected),
                    "{variant}"
                );
            }
        }
    }
}
