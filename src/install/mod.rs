//! Signed install: the RS256 tokens Atlassian signs for the `installed` and `uninstalled`
//! lifecycle callbacks, verified with a public key the caller found by the token's `kid`.

mod cache;
#[cfg(feature = "signed-install-http")]
mod http;
mod key;
mod key_id;
mod payload;
mod source;

use crate::canonical::CanonicalRequest;
use crate::claims::Claims;
use crate::error::{ConfigError, Error, TokenPart};
use crate::jws::{self, Header, Segments, HS256};
use crate::qsh::{Qsh, CONTEXT_QSH};
use crate::time::UnixTime;
use crate::verify::{check_qsh, QshPolicy, Verifier};

pub use cache::KeyCache;
#[cfg(feature = "signed-install-http")]
pub use http::{HttpKeySource, ATLASSIAN_INSTALL_KEYS_URL, MAX_KEY_RESPONSE_LEN};
pub use key::{InstallKey, MAX_RSA_BITS, MIN_RSA_BITS};
pub use key_id::{validate_kid, KeyId};
pub use payload::{LifecyclePayload, MAX_LIFECYCLE_BODY};
pub use source::InstallKeySource;

/// The one algorithm of signed-install tokens.
pub(crate) const RS256: &str = "RS256";

/// A lifecycle token whose form, RS256 header, `kid` and claim types have been checked, but
/// not yet its signature: only its key id may be read, to find the public key.
///
/// ```
/// use atlassian_connect_jwt::{Error, InstallToken};
///
/// // An HS256 token is refused on a lifecycle route before any key is looked up.
/// let hs256 = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ0ZXN0LWNsaWVudC1rZXkiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMDE4MCwicXNoIjoiY29udGV4dC1xc2gifQ.Y_-fycsTC1VmKefYSFe0PL3HLJ3yBoGVJPW68NX1nfo";
/// assert_eq!(InstallToken::parse(hs256).unwrap_err(), Error::SymmetricTokenOnLifecycleRoute);
/// ```
pub struct InstallToken<'t> {
    segments: Segments<'t>,
    kid: KeyId,
    claims: Claims,
}

impl<'t> InstallToken<'t> {
    /// Checks the token's form and size, its header (no `crit`; `alg` exactly `RS256`;
    /// `typ` absent or `JWT`; `kid` present and allowed by [`validate_kid`]) and its claim
    /// types (`iss`, `iat`, `exp` required).
    ///
    /// # Errors
    ///
    /// Form errors as for HS256 tokens; [`Error::SymmetricTokenOnLifecycleRoute`] when `alg`
    /// is `HS256`, [`Error::UnsupportedAlgorithm`] for any other algorithm;
    /// [`Error::MissingKeyId`] or [`Error::InvalidKeyId`]; claim-type errors.
    pub fn parse(token: &'t str) -> Result<Self, Error> {
        let segments = jws::split(token)?;
        let header_json = jws::decode(segments.header, TokenPart::Header)?;
        let header = Header::read(&header_json)?;
        header.check(RS256).map_err(|error| match error {
            Error::UnsupportedAlgorithm { .. } if header.alg() == Some(HS256) => {
                Error::SymmetricTokenOnLifecycleRoute
            }
            other => other,
        })?;
        let kid = header.kid()?.ok_or(Error::MissingKeyId)?;
        let kid = KeyId::new(&kid)?;
        let claims = Claims::decode(segments.payload)?;
        Ok(Self {
            segments,
            kid,
            claims,
        })
    }

    /// The `kid` of the key that must have signed the token, already checked by
    /// [`validate_kid`]: safe to append to the key server's base URL as one path segment.
    #[must_use]
    pub fn key_id(&self) -> &KeyId {
        &self.kid
    }
}

impl core::fmt::Debug for InstallToken<'_> {
    // The claims and the key id, never the token text.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("InstallToken")
            .field("kid", &self.kid)
            .field("claims", &self.claims)
            .finish_non_exhaustive()
    }
}

/// Checks the RS256 tokens of signed-install lifecycle callbacks (`installed`,
/// `uninstalled`). Holds no secrets.
///
/// The policy: the app's base URLs (the token's `aud` must name one), the time rules of a
/// [`Verifier`] (leeway, optional maximum lifetime; the same checks), and the paths of the
/// two lifecycle callbacks relative to the app's base URL (`/installed` and `/uninstalled` by
/// default), which tell a token for the other callback from one for an unrelated request.
///
/// `aud` may be a string or an array; it matches when any element equals a configured base
/// URL exactly, apart from one trailing `/` on either side (RFC 7519 §4.1.3). ACE (atlassian-
/// connect-express) compares only `aud[0]`; a token it accepts, this accepts too.
///
/// # A complete install handler
///
/// The app's duty: store the `sharedSecret` of a verified `installed` callback for its
/// `clientKey`, and change an existing tenant's secret **only** through a verified install
/// (an unverified body that names an existing tenant is how forged reinstalls took over
/// tenants). Nothing in the body is usable before [`VerifiedInstall`] exists.
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::{Mutex, PoisonError};
///
/// use atlassian_connect_jwt::{
///     token_from_authorization, CanonicalRequest, Error, InstallKeySource, InstallVerifier,
///     SharedSecret, UnixTime,
/// };
///
/// /// What the app keeps per tenant (a database row in a real app).
/// struct Tenant {
///     shared_secret: SharedSecret,
///     base_url: String,
///     installed: bool,
/// }
///
/// /// `POST /installed` and `POST /uninstalled`: the request path (the app's base path
/// /// stripped), its `Authorization` header and body in; the HTTP status to answer out.
/// async fn lifecycle(
///     verifier: &InstallVerifier,
///     keys: &impl InstallKeySource,
///     tenants: &Mutex<HashMap<String, Tenant>>,
///     path: &str,
///     authorization: Option<&str>,
///     body: &str,
/// ) -> u16 {
///     let Some(Ok(token)) = authorization.map(token_from_authorization) else {
///         return 401;
///     };
///     let Ok(request) = CanonicalRequest::from_target("POST", path, None) else {
///         return 400;
///     };
///     let install = match verifier
///         .verify_async(token, body, &request, keys, UnixTime::now())
///         .await
///     {
///         Ok(install) => install,
///         // The key server is down: ask the product to retry.
///         Err(Error::Unavailable(_)) => return 503,
///         // The app is misconfigured: not the caller's fault.
///         Err(Error::Config(_)) => return 500,
///         Err(error) => {
///             // Log the stable code, never the token or the body.
///             eprintln!("lifecycle callback refused: {}", error.code());
///             return 401;
///         }
///     };
///     let client_key = install.client_key().to_owned();
///     let payload = install.into_payload();
///     let mut tenants = tenants.lock().unwrap_or_else(PoisonError::into_inner);
///     match (payload.event_type(), payload.shared_secret()) {
///         ("installed", Some(secret)) => {
///             // A verified install: the only place a tenant's secret is set or replaced.
///             let tenant = Tenant {
///                 shared_secret: secret.clone(),
///                 base_url: payload.base_url().to_owned(),
///                 installed: true,
///             };
///             tenants.insert(client_key, tenant);
///         }
///         ("uninstalled", _) => {
///             // Keep the row (a reinstall may follow); stop serving the tenant.
///             if let Some(tenant) = tenants.get_mut(&client_key) {
///                 tenant.installed = false;
///             }
///         }
///         _ => return 400,
///     }
///     204
/// }
///
/// # fn main() -> Result<(), Error> {
/// // At start-up: one verifier and one key cache for the whole app. In production the
/// // source is `KeyCache::new(HttpKeySource::new()?)` (feature `signed-install-http`);
/// // here, a fixed (empty) key set.
/// let verifier = InstallVerifier::new("https://app.example.com")?;
/// let keys: HashMap<String, atlassian_connect_jwt::InstallKey> = HashMap::new();
/// let tenants = Mutex::new(HashMap::new());
/// tenants.lock().unwrap().insert("tenant-1".to_owned(), Tenant {
///     shared_secret: SharedSecret::new("the-real-secret"),
///     base_url: "https://tenant-1.atlassian.net".to_owned(),
///     installed: true,
/// });
///
/// // A forged reinstall: an HS256 token signed with the secret its own body announces.
/// let forged = "JWT eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ0ZXN0LWNsaWVudC1rZXkiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMDE4MCwicXNoIjoiY29udGV4dC1xc2gifQ.Y_-fycsTC1VmKefYSFe0PL3HLJ3yBoGVJPW68NX1nfo";
/// let body = r#"{"key":"my-app","clientKey":"tenant-1","sharedSecret":"attacker","baseUrl":"https://evil.example","eventType":"installed"}"#;
/// let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let status = runtime.block_on(lifecycle(
///     &verifier, &keys, &tenants, "/installed", Some(forged), body,
/// ));
/// assert_eq!(status, 401);
/// assert_eq!(tenants.lock().unwrap()["tenant-1"].shared_secret.expose(), "the-real-secret");
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstallVerifier {
    base_urls: Vec<String>,
    time: Verifier,
    /// The qsh of `POST <installed path>`.
    installed: Qsh,
    /// The qsh of `POST <uninstalled path>`.
    uninstalled: Qsh,
}

impl InstallVerifier {
    /// A verifier for an app whose descriptor `baseUrl` is `app_base_url`, with the default
    /// time rules of [`Verifier::new`] and the callback paths `/installed` and `/uninstalled`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidBaseUrl`] unless `app_base_url` is an absolute URL (`scheme://...`).
    pub fn new(app_base_url: &str) -> Result<Self, Error> {
        Ok(Self {
            base_urls: vec![base_url(app_base_url)?],
            time: Verifier::new(),
            installed: lifecycle_qsh("/installed")?,
            uninstalled: lifecycle_qsh("/uninstalled")?,
        })
    }

    /// Accepts tokens for one more base URL too (a staging or renamed host, say).
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_base_url(mut self, app_base_url: &str) -> Result<Self, Error> {
        self.base_urls.push(base_url(app_base_url)?);
        Ok(self)
    }

    /// The time rules: leeway and maximum lifetime are those of `verifier` (see
    /// [`Verifier::with_leeway`] and [`Verifier::with_max_lifetime`]).
    #[must_use]
    pub fn with_time_rules(self, verifier: Verifier) -> Self {
        Self {
            time: verifier,
            ..self
        }
    }

    /// The lifecycle callback paths of the app's descriptor, relative to its base URL
    /// (`lifecycle.installed` and `lifecycle.uninstalled`), when they are not `/installed`
    /// and `/uninstalled`. Named fields, so the two cannot be swapped unnoticed.
    ///
    /// ```
    /// use atlassian_connect_jwt::{ConfigError, Error, InstallVerifier, LifecyclePaths};
    ///
    /// let verifier = InstallVerifier::new("https://app.example.com")?.with_lifecycle_paths(
    ///     LifecyclePaths { installed: "/lifecycle/installed", uninstalled: "/lifecycle/uninstalled" },
    /// )?;
    /// // One path for both would make every uninstall look like an install.
    /// let same = LifecyclePaths { installed: "/lifecycle", uninstalled: "/lifecycle" };
    /// assert_eq!(
    ///     verifier.with_lifecycle_paths(same).unwrap_err(),
    ///     Error::Config(ConfigError::IdenticalLifecyclePaths),
    /// );
    /// # Ok::<(), Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::PathTooLong`] for a path over [`MAX_PATH_LEN`](crate::MAX_PATH_LEN);
    /// [`ConfigError::IdenticalLifecyclePaths`] when both paths canonicalize alike (`/a` and
    /// `/a/`, say).
    pub fn with_lifecycle_paths(self, paths: LifecyclePaths<'_>) -> Result<Self, Error> {
        let installed = lifecycle_qsh(paths.installed)?;
        let uninstalled = lifecycle_qsh(paths.uninstalled)?;
        if installed == uninstalled {
            return Err(ConfigError::IdenticalLifecyclePaths.into());
        }
        Ok(Self {
            installed,
            uninstalled,
            ..self
        })
    }

    /// Verifies a parsed lifecycle token with `key` (the public key of its
    /// [`key_id`](InstallToken::key_id)), for the callback `request` (as received, its base
    /// path stripped) carrying `body`, at `now`.
    ///
    /// # Errors
    ///
    /// The [`Error`] of the first check that fails, in this order (after those of
    /// [`InstallToken::parse`]): signature ([`Error::InvalidSignature`]), time (as
    /// [`Verifier`]), audience ([`Error::AudienceMismatch`]), qsh
    /// ([`Error::ContextTokenNotAllowed`], [`Error::WrongLifecycleEvent`] for a token of the
    /// other callback, [`Error::QshMismatch`]), body ([`Error::InvalidLifecyclePayload`]),
    /// issuer ([`Error::IssuerMismatch`] when `iss` is not the body's `clientKey`), and
    /// [`Error::WrongLifecycleEvent`] when the body's `eventType` names the other callback.
    pub fn verify(
        &self,
        token: InstallToken<'_>,
        body: &str,
        request: &CanonicalRequest<'_>,
        key: &InstallKey,
        now: UnixTime,
    ) -> Result<VerifiedInstall, Error> {
        verify_rs256(key, &token.segments)?;
        let claims = token.claims;
        self.time.check_time(&claims, now)?;
        self.check_audience(&claims)?;
        let expected = request.qsh();
        self.check_qsh(&claims, request, expected)?;
        let payload = LifecyclePayload::parse(body)?;
        if payload.client_key() != claims.iss() {
            return Err(Error::IssuerMismatch);
        }
        let event_for_request = self.callback_event(request);
        if event_for_request.is_some_and(|event| event != payload.event_type()) {
            return Err(Error::WrongLifecycleEvent);
        }
        Ok(VerifiedInstall {
            claims,
            key_id: token.kid,
            payload,
        })
    }

    /// Parses `token`, asks `keys` for the public key of its `kid`, and verifies it as
    /// [`verify`](Self::verify) does: the whole lifecycle check in one call.
    ///
    /// The `kid` is checked before `keys` is asked, so a malformed or hostile `kid` never
    /// reaches a key server; every error of [`InstallToken::parse`] comes first.
    ///
    /// # Errors
    ///
    /// Those of [`InstallToken::parse`], then those of the key source
    /// ([`Error::UnknownKeyId`], [`Unavailable::Key`](crate::Unavailable::Key), ...), then those of
    /// [`verify`](Self::verify).
    pub async fn verify_async(
        &self,
        token: &str,
        body: &str,
        request: &CanonicalRequest<'_>,
        keys: &impl InstallKeySource,
        now: UnixTime,
    ) -> Result<VerifiedInstall, Error> {
        let token = InstallToken::parse(token)?;
        let key = keys.install_key(token.key_id()).await?;
        self.verify(token, body, request, &key, now)
    }

    /// The lifecycle event whose configured callback path `request` is (`installed` or
    /// `uninstalled`), by its qsh; `None` for any other request.
    pub(crate) fn callback_event(&self, request: &CanonicalRequest<'_>) -> Option<&'static str> {
        let qsh = request.qsh();
        if qsh == self.installed {
            Some("installed")
        } else if qsh == self.uninstalled {
            Some("uninstalled")
        } else {
            None
        }
    }

    fn check_audience(&self, claims: &Claims) -> Result<(), Error> {
        let matches = claims.aud().into_iter().any(|aud| {
            let aud = aud.strip_suffix('/').unwrap_or(aud);
            self.base_urls.iter().any(|base| base == aud)
        });
        if matches {
            Ok(())
        } else {
            Err(Error::AudienceMismatch)
        }
    }

    fn check_qsh(
        &self,
        claims: &Claims,
        request: &CanonicalRequest<'_>,
        expected: Qsh,
    ) -> Result<(), Error> {
        match check_qsh(claims.qsh(), QshPolicy::Request(request)) {
            Err(Error::QshMismatch(mismatch)) => {
                // The request is one lifecycle callback and the token is for the other.
                let presented = claims.qsh().unwrap_or(CONTEXT_QSH);
                let other_callback = if expected == self.installed {
                    self.uninstalled.matches_hex(presented)
                } else if expected == self.uninstalled {
                    self.installed.matches_hex(presented)
                } else {
                    false
                };
                Err(if other_callback {
                    Error::WrongLifecycleEvent
                } else {
                    Error::QshMismatch(mismatch)
                })
            }
            other => other.map(|_| ()),
        }
    }
}

/// The paths of the two lifecycle callbacks, relative to the app's base URL (see
/// [`InstallVerifier::with_lifecycle_paths`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LifecyclePaths<'a> {
    /// `lifecycle.installed` of the descriptor (`/installed` by default).
    pub installed: &'a str,
    /// `lifecycle.uninstalled` of the descriptor (`/uninstalled` by default).
    pub uninstalled: &'a str,
}

/// The qsh of `POST <path>` with no query: what a lifecycle callback's token carries.
fn lifecycle_qsh(path: &str) -> Result<Qsh, Error> {
    Ok(CanonicalRequest::from_parts("POST", path, None, None)?.qsh())
}

/// A base URL as compared with `aud`: absolute, one trailing `/` dropped.
fn base_url(url: &str) -> Result<String, Error> {
    let trimmed = url.strip_suffix('/').unwrap_or(url);
    match trimmed.split_once("://") {
        Some((scheme, rest)) if !scheme.is_empty() && !rest.is_empty() => Ok(trimmed.to_owned()),
        _ => Err(Error::Config(ConfigError::InvalidBaseUrl)),
    }
}

/// Checks an RS256 signature segment: the modulus length, canonical base64url, then `ring`.
/// Shared with the Forge Invocation Token verifier.
pub(crate) fn verify_rs256(key: &InstallKey, segments: &Segments<'_>) -> Result<(), Error> {
    // n bytes are ceil(4n/3) unpadded base64url characters; any other length cannot be a
    // signature by this key (a byte prepended or stripped, say).
    if segments.signature.len() != (key.signature_len() * 4).div_ceil(3) {
        return Err(Error::InvalidSignature);
    }
    let signature = jws::decode(segments.signature, TokenPart::Signature)?;
    key.verify_rs256(segments.signing_input.as_bytes(), &signature)
}

/// Proof that a lifecycle callback's token verified, with the callback's body: only
/// [`InstallVerifier`] creates it.
#[derive(Clone, Debug)]
pub struct VerifiedInstall {
    claims: Claims,
    key_id: KeyId,
    payload: LifecyclePayload,
}

impl VerifiedInstall {
    /// The tenant's clientKey: the token's `iss`, equal to the body's `clientKey`.
    #[must_use]
    pub fn client_key(&self) -> &str {
        self.claims.iss()
    }

    /// The `kid` of the key that verified the token.
    #[must_use]
    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// The token's claims.
    #[must_use]
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// The callback's body.
    #[must_use]
    pub fn payload(&self) -> &LifecyclePayload {
        &self.payload
    }

    /// The callback's body, by value (to move the shared secret into storage).
    #[must_use]
    pub fn into_payload(self) -> LifecyclePayload {
        self.payload
    }
}
