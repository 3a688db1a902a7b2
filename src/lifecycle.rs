//! Lifecycle callbacks in one call: verify a signed `installed` or `uninstalled` request, then
//! write the tenant store, and only then.

use core::fmt;
use std::sync::Arc;

use crate::canonical::CanonicalRequest;
use crate::error::{ConfigError, Error};
use crate::install::{InstallKeySource, InstallVerifier};
use crate::tenant::{InstalledTenant, TenantStore, UninstalledTenant};
use crate::time::UnixTime;

/// The `installed` and `uninstalled` callbacks of a Connect app: the signed-install check,
/// then exactly one write to the tenant store.
///
/// A request is refused before the store is touched unless its RS256 token verifies (key by
/// `kid` from `keys`, `aud` the app's base URL, `qsh` this callback's URL, `iss` the body's
/// `clientKey`) and the request is one of the verifier's two [`LifecyclePaths`]. So a tenant's
/// shared secret changes only through a verified install of the same clientKey: a forged
/// reinstall (an HS256 token signed with the secret its own body announces, a token of another
/// key, another app's token) changes nothing. The `installationId` that Forge apps with
/// Connect modules send is stored with the tenant.
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Arc;
///
/// use atlassian_connect_jwt::{
///     CanonicalRequest, Error, InstallKey, InstallVerifier, Lifecycle, LifecycleCallback,
///     LifecycleOutcome, MemoryTenantStore, TenantStore, UnixTime,
/// };
///
/// /// `POST /installed` and `POST /uninstalled` (the app's base path stripped): the HTTP
/// /// status to answer.
/// async fn lifecycle_route(
///     lifecycle: &Lifecycle<HashMap<String, InstallKey>>,
///     path: &str,
///     authorization: Option<&str>,
///     body: &str,
/// ) -> u16 {
///     let Ok(request) = CanonicalRequest::from_target("POST", path, None) else {
///         return 400;
///     };
///     let callback = LifecycleCallback { request: &request, authorization, body };
///     match lifecycle.handle(callback, UnixTime::now()).await {
///         Ok(LifecycleOutcome::Installed { client_key, first_install }) => {
///             println!("installed for {client_key} (first: {first_install})");
///             204
///         }
///         Ok(_) => 204,
///         // The key server or the database is down: the product retries.
///         Err(Error::Unavailable(_)) => 503,
///         Err(Error::Config(_)) => 500,
///         // Log the stable code, never the token or the body (it holds the secret).
///         Err(refused) => {
///             eprintln!("lifecycle callback refused: {}", refused.code());
///             401
///         }
///     }
/// }
///
/// # fn main() -> Result<(), Error> {
/// // At start-up. In production the keys are `KeyCache::new(HttpKeySource::new()?)`
/// // (feature `signed-install-http`) and the store comes from `open_tenant_store(url)`.
/// let tenants = Arc::new(MemoryTenantStore::new());
/// let lifecycle = Lifecycle::new(
///     InstallVerifier::new("https://app.example.com")?,
///     HashMap::new(),
///     tenants.clone(),
/// )
/// .with_app_key("my-app");
///
/// // A forged install: an HS256 token signed with the secret its own body announces.
/// let forged = "JWT eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ0ZXN0LWNsaWVudC1rZXkiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMDE4MCwicXNoIjoiY29udGV4dC1xc2gifQ.Y_-fycsTC1VmKefYSFe0PL3HLJ3yBoGVJPW68NX1nfo";
/// let body = r#"{"key":"my-app","clientKey":"test-client-key","sharedSecret":"attacker","baseUrl":"https://evil.example","eventType":"installed"}"#;
/// let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let status = runtime.block_on(lifecycle_route(&lifecycle, "/installed", Some(forged), body));
/// assert_eq!(status, 401);
/// assert!(tenants.is_empty()); // nothing was written
///
/// let request = CanonicalRequest::from_target("POST", "/installed", None)?;
/// let callback = LifecycleCallback { request: &request, authorization: Some(forged), body };
/// let refused = runtime.block_on(lifecycle.handle(callback, UnixTime::from_secs(1_700_000_000)));
/// assert_eq!(refused.unwrap_err(), Error::SymmetricTokenOnLifecycleRoute);
/// # Ok(()) }
/// ```
///
/// [`LifecyclePaths`]: crate::LifecyclePaths
pub struct Lifecycle<K> {
    verifier: InstallVerifier,
    keys: K,
    tenants: Arc<dyn TenantStore>,
    app_key: Option<String>,
}

/// One lifecycle request, as received: its canonical request (the app's base path
/// stripped), its `Authorization` header, and its body.
#[derive(Clone, Copy, Debug)]
pub struct LifecycleCallback<'a> {
    /// `POST` and the callback's path (and query, if any) relative to the app's base URL.
    pub request: &'a CanonicalRequest<'a>,
    /// The `Authorization` header (`JWT <token>`), if the request had one.
    pub authorization: Option<&'a str>,
    /// The body: the lifecycle payload's JSON.
    pub body: &'a str,
}

/// What a verified lifecycle callback changed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LifecycleOutcome {
    /// The tenant's row was written (inserted, or replaced with the new secret) and marked
    /// installed.
    Installed {
        /// The tenant.
        client_key: String,
        /// No tenant with this clientKey was stored before.
        first_install: bool,
    },
    /// The tenant's row is kept but marked uninstalled: its tokens are refused from now on.
    Uninstalled {
        /// The tenant.
        client_key: String,
        /// A tenant with this clientKey was stored (an uninstall of an unknown tenant changes
        /// nothing, and is answered as a success all the same).
        was_known: bool,
    },
}

impl<K> Lifecycle<K>
where
    K: InstallKeySource + Send + Sync,
{
    /// A handler that checks callbacks with `verifier` and the public keys of `keys`, and
    /// keeps tenants in `tenants`.
    #[must_use]
    pub fn new(verifier: InstallVerifier, keys: K, tenants: Arc<dyn TenantStore>) -> Self {
        Self {
            verifier,
            keys,
            tenants,
            app_key: None,
        }
    }

    /// Refuses a callback whose body's `key` is not `app_key` (the descriptor's `key`) with
    /// [`Error::AppKeyMismatch`]: another app at the same base URL cannot install into this
    /// app's store.
    #[must_use]
    pub fn with_app_key(self, app_key: impl Into<String>) -> Self {
        Self {
            app_key: Some(app_key.into()),
            ..self
        }
    }

    /// The tenant store, for the app's other routes (their token checks read it).
    #[must_use]
    pub fn tenants(&self) -> &Arc<dyn TenantStore> {
        &self.tenants
    }

    /// Verifies `callback` at `now`; if it verifies, records it in the tenant store.
    ///
    /// # Errors
    ///
    /// In this order, each before the store is touched:
    /// [`ConfigError::NotALifecyclePath`] when the request is neither configured callback;
    /// the token-finding errors of [`CanonicalRequest::token`] ([`Error::MissingToken`],
    /// ...); every error of [`InstallVerifier::verify_async`] (the key source's, the token's,
    /// the body's); [`Error::AppKeyMismatch`] (see [`with_app_key`](Self::with_app_key)).
    /// Then [`Unavailable::SecretStore`](crate::Unavailable::SecretStore) when the store
    /// cannot record a verified callback.
    pub async fn handle(
        &self,
        callback: LifecycleCallback<'_>,
        now: UnixTime,
    ) -> Result<LifecycleOutcome, Error> {
        let event = self
            .verifier
            .callback_event(callback.request)
            .ok_or(ConfigError::NotALifecyclePath)?;
        let token = callback.request.token(callback.authorization)?;
        let install = self
            .verifier
            .verify_async(token, callback.body, callback.request, &self.keys, now)
            .await?;
        if let Some(app_key) = &self.app_key {
            if install.payload().key() != app_key {
                return Err(Error::AppKeyMismatch);
            }
        }
        let client_key = install.client_key().to_owned();
        // The verifier checked that the body's eventType is the one of the request's path.
        if event == "installed" {
            let tenant =
                InstalledTenant::from_verified(&install).ok_or(Error::WrongLifecycleEvent)?;
            let first_install = self.tenants.save_install(&tenant).await?;
            Ok(LifecycleOutcome::Installed {
                client_key,
                first_install,
            })
        } else {
            let tenant =
                UninstalledTenant::from_verified(&install).ok_or(Error::WrongLifecycleEvent)?;
            let was_known = self.tenants.mark_uninstalled(&tenant).await?;
            Ok(LifecycleOutcome::Uninstalled {
                client_key,
                was_known,
            })
        }
    }
}

impl<K> fmt::Debug for Lifecycle<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lifecycle")
            .field("verifier", &self.verifier)
            .field("app_key", &self.app_key)
            .finish_non_exhaustive()
    }
}
