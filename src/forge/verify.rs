//! Verifying Forge Invocation Tokens: RS256 only, the key by `kid` from Forge's key set,
//! `iss`, `aud` and the shared time rules; and the link from a verified token to the Connect
//! tenant of the same installation.

use core::fmt;

use super::claims::ForgeClaims;
use super::jwks::JwkSet;
use super::kid::{ForgeKeyId, IcLabel};
use super::source::ForgeKeySource;
use crate::error::{ConfigError, Error, TokenPart};
use crate::install::{verify_rs256, InstallKey, RS256};
use crate::jws::{self, Header, Segments};
use crate::tenant::{StoreError, Tenant, TenantStore};
use crate::time::UnixTime;
use crate::verify::Verifier;

/// The `iss` of every Forge Invocation Token.
pub const FORGE_ISSUER: &str = "forge/invocation-token";

/// Longest lifetime (`exp - iat`) a Forge Invocation Token may have by default, in seconds.
///
/// Forge mints tokens that live 25 seconds (the time a remote has to answer a UI
/// invocation). Five minutes leaves room for Atlassian to lengthen that without breaking
/// apps, and refuses anything that would stay replayable for long; change it with
/// [`ForgeVerifier::with_max_lifetime`].
pub const FIT_MAX_LIFETIME: u64 = 300;

/// What a configured app id starts with.
const APP_ID_PREFIX: &str = "ari:cloud:ecosystem::app/";

/// The `Authorization` header value of a Forge remote call, `Bearer <token>`: the token.
///
/// The scheme is matched case-insensitively, followed by exactly one space.
///
/// ```
/// use atlassian_connect_jwt::{invocation_token_from_authorization, Error};
///
/// assert_eq!(invocation_token_from_authorization("Bearer a.b.c"), Ok("a.b.c"));
/// assert_eq!(invocation_token_from_authorization("JWT a.b.c"), Err(Error::InvalidBearerHeader));
/// ```
///
/// # Errors
///
/// [`Error::InvalidBearerHeader`] for another scheme or an empty token.
pub fn invocation_token_from_authorization(value: &str) -> Result<&str, Error> {
    match value.split_at_checked(7) {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("Bearer ") && !token.is_empty() => {
            Ok(token)
        }
        _ => Err(Error::InvalidBearerHeader),
    }
}

/// A Forge Invocation Token whose form, RS256 header, `kid` and claim types have been
/// checked, but not yet its issuer, audience, time or signature: only what chooses the key
/// may be read (its `kid` and `icLabel`).
///
/// ```
/// use atlassian_connect_jwt::{Error, InvocationToken};
///
/// // A Connect (HS256) token is not a Forge Invocation Token.
/// let hs256 = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ0ZXN0LWNsaWVudC1rZXkiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMDE4MCwicXNoIjoiY29udGV4dC1xc2gifQ.Y_-fycsTC1VmKefYSFe0PL3HLJ3yBoGVJPW68NX1nfo";
/// assert_eq!(
///     InvocationToken::parse(hs256).unwrap_err(),
///     Error::UnsupportedAlgorithm { expected: "RS256" }
/// );
/// ```
pub struct InvocationToken<'t> {
    segments: Segments<'t>,
    kid: ForgeKeyId,
    claims: ForgeClaims,
}

impl<'t> InvocationToken<'t> {
    /// Checks the token's form and size, its header (no `crit`; `alg` exactly `RS256`, so
    /// `none`, `HS256`, `RS512` and `PS256` are all refused before any key is looked at;
    /// `typ` absent or `JWT`; `kid` present and allowed by
    /// [`validate_forge_kid`](crate::validate_forge_kid)) and its claims (see
    /// [`ForgeClaims`]).
    ///
    /// # Errors
    ///
    /// Form errors as for every token; [`Error::CriticalHeader`],
    /// [`Error::MissingAlgorithm`], [`Error::UnsupportedAlgorithm`],
    /// [`Error::UnsupportedTokenType`]; [`Error::MissingKeyId`] or [`Error::InvalidKeyId`];
    /// claim errors ([`Error::MissingClaim`], [`Error::InvalidClaim`],
    /// [`Error::DuplicateMember`]).
    pub fn parse(token: &'t str) -> Result<Self, Error> {
        let segments = jws::split(token)?;
        let header_json = jws::decode(segments.header, TokenPart::Header)?;
        let header = Header::read(&header_json)?;
        header.check(RS256)?;
        let kid = header.kid()?.ok_or(Error::MissingKeyId)?;
        let kid = ForgeKeyId::new(&kid)?;
        let payload = jws::decode(segments.payload, TokenPart::Payload)?;
        let claims = ForgeClaims::parse(&payload)?;
        Ok(Self {
            segments,
            kid,
            claims,
        })
    }

    /// The `kid` of the key that must have signed the token.
    #[must_use]
    pub fn key_id(&self) -> &ForgeKeyId {
        &self.kid
    }

    /// The token's `icLabel`: which Isolated Cloud's key set holds that key (`None`: the
    /// commercial cloud's).
    #[must_use]
    pub fn ic_label(&self) -> Option<&IcLabel> {
        self.claims.ic_label()
    }
}

impl fmt::Debug for InvocationToken<'_> {
    // The key id and the (unverified) claims, never the token text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InvocationToken")
            .field("kid", &self.kid)
            .field("claims", &self.claims)
            .finish_non_exhaustive()
    }
}

/// Checks Forge Invocation Tokens for one Forge app. Holds no secrets; cheap to clone.
///
/// The policy: RS256 only; `iss` exactly [`FORGE_ISSUER`]; `aud` the configured app id
/// (exactly; a string, or an array naming it); the time rules of a [`Verifier`] (`iat` and
/// `exp` required, `nbf` honoured, a leeway of [`DEFAULT_LEEWAY`](crate::DEFAULT_LEEWAY)
/// seconds, a token valid at no time refused) and a maximum lifetime of
/// [`FIT_MAX_LIFETIME`] seconds. The key comes from the key set the app configured, chosen by
/// the token's `kid` (and `icLabel`), never from a URL or key inside the token.
///
/// ```
/// use atlassian_connect_jwt::{ConfigError, Error, ForgeVerifier};
///
/// let verifier = ForgeVerifier::new("ari:cloud:ecosystem::app/8db33809-1f32-48bb-8c52-5877dab48107")?
///     .with_leeway(10)?;
/// assert_eq!(verifier.leeway(), 10);
/// // The bare uuid is a common misconfiguration: no token could ever match it.
/// assert_eq!(
///     ForgeVerifier::new("8db33809-1f32-48bb-8c52-5877dab48107").unwrap_err(),
///     Error::Config(ConfigError::InvalidAppId)
/// );
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ForgeVerifier {
    app_id: String,
    time: Verifier,
    max_lifetime: u64,
}

impl ForgeVerifier {
    /// A verifier for the Forge app `app_id` (`ari:cloud:ecosystem::app/<uuid>`, the `id` of
    /// the app's `manifest.yml`), with the default time rules.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidAppId`] unless `app_id` is `ari:cloud:ecosystem::app/` followed
    /// by 1 to 64 ASCII letters, digits and `-`.
    pub fn new(app_id: &str) -> Result<Self, Error> {
        let id = app_id.strip_prefix(APP_ID_PREFIX).unwrap_or_default();
        let valid = (1..=64).contains(&id.len())
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !valid {
            return Err(ConfigError::InvalidAppId.into());
        }
        Ok(Self {
            app_id: app_id.to_owned(),
            time: Verifier::new().with_max_lifetime(FIT_MAX_LIFETIME),
            max_lifetime: FIT_MAX_LIFETIME,
        })
    }

    /// Sets the clock-skew allowance applied to `exp`, `nbf` and `iat`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::LeewayTooLarge`] above [`MAX_LEEWAY`](crate::MAX_LEEWAY) seconds.
    pub fn with_leeway(self, seconds: u64) -> Result<Self, Error> {
        Ok(Self {
            time: self.time.with_leeway(seconds)?,
            ..self
        })
    }

    /// Refuses tokens whose `exp - iat` exceeds `seconds` ([`FIT_MAX_LIFETIME`] by default).
    #[must_use]
    pub fn with_max_lifetime(self, seconds: u64) -> Self {
        Self {
            time: self.time.with_max_lifetime(seconds),
            max_lifetime: seconds,
            ..self
        }
    }

    /// The app id tokens must name as their audience.
    #[must_use]
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// The leeway in seconds.
    #[must_use]
    pub fn leeway(&self) -> u64 {
        self.time.leeway()
    }

    /// The maximum lifetime in seconds.
    #[must_use]
    pub fn max_lifetime(&self) -> u64 {
        self.max_lifetime
    }

    /// Verifies `token` with the keys of a fixed key set (pinned keys, tests, the CLI), at
    /// `now`.
    ///
    /// # Errors
    ///
    /// As [`verify_async`](Self::verify_async).
    pub fn verify(
        &self,
        token: &str,
        keys: &JwkSet,
        now: UnixTime,
    ) -> Result<VerifiedInvocation, Error> {
        let token = InvocationToken::parse(token)?;
        let audience = self.check_claims(&token.claims, now)?;
        if token.ic_label().is_some() {
            return Err(Error::UnknownKeyId);
        }
        let key = keys.key(&token.kid)?;
        Self::sign_off(token, key, audience)
    }

    /// Verifies `token` with the key its `kid` names, asked of `keys` (in production a
    /// [`JwksCache`](crate::JwksCache) over an [`HttpJwksSource`](crate::HttpJwksSource)),
    /// at `now`.
    ///
    /// Everything the token says is checked before `keys` is asked, so a malformed,
    /// expired or misaddressed token never causes a key-set fetch.
    ///
    /// # Errors
    ///
    /// The [`Error`] of the first check that fails, in this order: those of
    /// [`InvocationToken::parse`]; issuer ([`Error::ForgeIssuerMismatch`]); audience
    /// ([`Error::AppIdMismatch`]); time ([`Error::Expired`], [`Error::NotYetValid`],
    /// [`Error::IssuedInFuture`], [`Error::EmptyValidity`], [`Error::LifetimeTooLong`]); the
    /// key source's ([`Error::UnknownKeyId`], [`Error::WeakPublicKey`],
    /// [`Error::InvalidPublicKey`], [`Unavailable::Key`](crate::Unavailable::Key));
    /// signature ([`Error::InvalidSignature`]).
    pub async fn verify_async(
        &self,
        token: &str,
        keys: &(impl ForgeKeySource + ?Sized),
        now: UnixTime,
    ) -> Result<VerifiedInvocation, Error> {
        let token = InvocationToken::parse(token)?;
        let audience = self.check_claims(&token.claims, now)?;
        let key = keys.forge_key(&token.kid, token.ic_label()).await?;
        Self::sign_off(token, &key, audience)
    }

    /// The second half of verification, for callers that look the key up themselves
    /// (see [`InvocationToken`]): `key` must be the key of the token's `kid`.
    ///
    /// # Errors
    ///
    /// As [`verify_async`](Self::verify_async), from the issuer on (without the key
    /// source's).
    pub fn finish(
        &self,
        token: InvocationToken<'_>,
        key: &InstallKey,
        now: UnixTime,
    ) -> Result<VerifiedInvocation, Error> {
        let audience = self.check_claims(&token.claims, now)?;
        Self::sign_off(token, key, audience)
    }

    /// Issuer, audience and time; the position of the app id in `aud`.
    fn check_claims(&self, claims: &ForgeClaims, now: UnixTime) -> Result<usize, Error> {
        if claims.iss() != FORGE_ISSUER {
            return Err(Error::ForgeIssuerMismatch);
        }
        let audience = claims
            .aud()
            .iter()
            .position(|aud| *aud == self.app_id)
            .ok_or(Error::AppIdMismatch)?;
        self.time
            .check_validity(claims.iat(), claims.exp(), claims.nbf(), now)?;
        Ok(audience)
    }

    /// The signature, last: only then does the proof exist.
    fn sign_off(
        token: InvocationToken<'_>,
        key: &InstallKey,
        audience: usize,
    ) -> Result<VerifiedInvocation, Error> {
        verify_rs256(key, &token.segments)?;
        Ok(VerifiedInvocation {
            claims: token.claims,
            key_id: token.kid,
            audience,
        })
    }
}

impl fmt::Debug for ForgeVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForgeVerifier")
            .field("app_id", &self.app_id)
            .field("leeway", &self.time.leeway())
            .field("max_lifetime", &self.max_lifetime)
            .finish()
    }
}

/// Proof that a Forge Invocation Token verified: only [`ForgeVerifier`] creates it, once
/// every check has passed.
///
/// The identity is the installation ([`installation_id`](Self::installation_id)), for the app
/// the verifier was configured with. Owned and cheap to move into a request's extensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedInvocation {
    claims: ForgeClaims,
    key_id: ForgeKeyId,
    /// Where the verifier's app id is in `aud`.
    audience: usize,
}

impl VerifiedInvocation {
    /// `app.installationId`: the installation the invocation is for.
    #[must_use]
    pub fn installation_id(&self) -> &str {
        self.claims.app().installation_id()
    }

    /// The Forge app the token is for: the verifier's app id, which the token's `aud`
    /// names. (The token's `app.id` is in [`claims`](Self::claims).)
    #[must_use]
    pub fn app_id(&self) -> &str {
        // `audience` is the position `check_claims` found the app id at.
        &self.claims.aud()[self.audience]
    }

    /// `principal`: the user's Atlassian account id, for invocations from UI modules.
    #[must_use]
    pub fn principal(&self) -> Option<&str> {
        self.claims.principal()
    }

    /// `app.module.key`: the manifest module that invoked the remote.
    #[must_use]
    pub fn module_key(&self) -> &str {
        self.claims.app().module().key()
    }

    /// `app.environment.type`: `DEVELOPMENT`, `STAGING` or `PRODUCTION`.
    #[must_use]
    pub fn environment_type(&self) -> &str {
        self.claims.app().environment().kind()
    }

    /// The `kid` of the key that verified the token.
    #[must_use]
    pub fn key_id(&self) -> &ForgeKeyId {
        &self.key_id
    }

    /// All claims.
    #[must_use]
    pub fn claims(&self) -> &ForgeClaims {
        &self.claims
    }

    /// The Connect tenant of the same installation, found in `store` by the token's
    /// `app.installationId` (the `installed` callback of a Forge app with Connect modules
    /// carries that `installationId`), so that one backend serves both kinds of call during
    /// a migration.
    ///
    /// `None` when no tenant carries that installation id, or when that tenant has
    /// uninstalled the app. The tenant is read again on every call: cache it in the app if
    /// needed.
    ///
    /// # Errors
    ///
    /// [`Unavailable::SecretStore`](crate::Unavailable::SecretStore) when the store cannot
    /// answer, or answers with a tenant of another installation (a broken store).
    pub async fn linked_tenant(&self, store: &dyn TenantStore) -> Result<Option<Tenant>, Error> {
        let installation_id = self.installation_id();
        match store.get_by_installation_id(installation_id).await? {
            Some(tenant) if tenant.installation_id() != Some(installation_id) => {
                Err(StoreError::new("the store returned a tenant of another installation").into())
            }
            Some(tenant) if tenant.is_installed() => Ok(Some(tenant)),
            Some(_) | None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_headers() {
        assert_eq!(
            invocation_token_from_authorization("Bearer x.y.z"),
            Ok("x.y.z")
        );
        assert_eq!(
            invocation_token_from_authorization("bearer x.y.z"),
            Ok("x.y.z")
        );
        for bad in [
            "Bearer ",
            "Bearer",
            "JWT x.y.z",
            "Bearerx.y.z",
            "",
            "Basic abc",
        ] {
            assert_eq!(
                invocation_token_from_authorization(bad),
                Err(Error::InvalidBearerHeader),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn app_ids() {
        assert!(ForgeVerifier::new(
            "ari:cloud:ecosystem::app/8db33809-1f32-48bb-8c52-5877dab48107"
        )
        .is_ok());
        for bad in [
            "",
            "8db33809-1f32-48bb-8c52-5877dab48107",
            "ari:cloud:ecosystem::app/",
            "ari:cloud:ecosystem::app/a b",
            "ari:cloud:ecosystem::app/a/b",
            "ari:cloud:ecosystem::installation/8db33809",
            " ari:cloud:ecosystem::app/8db33809",
        ] {
            assert_eq!(
                ForgeVerifier::new(bad),
                Err(Error::Config(ConfigError::InvalidAppId)),
                "{bad:?}"
            );
        }
        let long = format!("{APP_ID_PREFIX}{}", "a".repeat(65));
        assert_eq!(
            ForgeVerifier::new(&long),
            Err(Error::Config(ConfigError::InvalidAppId))
        );
    }
}
