//! What the extractors and the layer need from the app: the verifier, the base path and the
//! tenant store, as one cheap piece of app state.

use core::fmt;
use std::sync::Arc;

use crate::canonical::BasePath;
use crate::tenant::TenantStore;
use crate::verify::Verifier;

/// The verification settings of an app: its [`Verifier`], the [`BasePath`] of its descriptor
/// `baseUrl`, and its [`TenantStore`].
///
/// Cloning is one reference-count increment. The extractors reach it with
/// [`FromRef`](::axum::extract::FromRef): give it to the router as its state, or keep it in a
/// field of the app's own state and implement `FromRef<AppState> for ConnectAuth`.
///
/// ```
/// use std::sync::Arc;
///
/// use atlassian_connect_jwt::axum::ConnectAuth;
/// use atlassian_connect_jwt::{BasePath, MemoryTenantStore, Verifier};
/// use axum::extract::FromRef;
///
/// #[derive(Clone)]
/// struct AppState {
///     auth: ConnectAuth,
///     // ... the app's own state ...
/// }
///
/// impl FromRef<AppState> for ConnectAuth {
///     fn from_ref(state: &AppState) -> Self {
///         state.auth.clone()
///     }
/// }
///
/// let base = BasePath::parse("https://app.example.com/connect")?;
/// let auth = ConnectAuth::new(base, Arc::new(MemoryTenantStore::new()))
///     .with_verifier(Verifier::new().with_max_lifetime(600));
/// let state = AppState { auth };
/// # let _ = state;
/// # Ok::<(), atlassian_connect_jwt::Error>(())
/// ```
#[derive(Clone)]
pub struct ConnectAuth {
    inner: Arc<Inner>,
}

struct Inner {
    verifier: Verifier,
    base: BasePath,
    tenants: Arc<dyn TenantStore>,
}

impl ConnectAuth {
    /// Verification for an app whose descriptor `baseUrl` has the path `base`, with the
    /// tenants of `tenants` and the strict default [`Verifier`].
    #[must_use]
    pub fn new(base: BasePath, tenants: Arc<dyn TenantStore>) -> Self {
        Self {
            inner: Arc::new(Inner {
                verifier: Verifier::new(),
                base,
                tenants,
            }),
        }
    }

    /// The same, checking tokens with `verifier` (leeway, maximum lifetime).
    #[must_use]
    pub fn with_verifier(self, verifier: Verifier) -> Self {
        Self {
            inner: Arc::new(Inner {
                verifier,
                base: self.inner.base.clone(),
                tenants: Arc::clone(&self.inner.tenants),
            }),
        }
    }

    /// The verifier.
    #[must_use]
    pub fn verifier(&self) -> &Verifier {
        &self.inner.verifier
    }

    /// The base path stripped from request paths before hashing.
    #[must_use]
    pub fn base(&self) -> &BasePath {
        &self.inner.base
    }

    /// The tenant store (the lifecycle handlers write to the same one).
    #[must_use]
    pub fn tenants(&self) -> &Arc<dyn TenantStore> {
        &self.inner.tenants
    }
}

impl fmt::Debug for ConnectAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectAuth")
            .field("verifier", &self.inner.verifier)
            .field("base", &self.inner.base)
            .finish_non_exhaustive()
    }
}
