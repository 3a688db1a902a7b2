//! The app: its state (what every route may ask for), its router, serving it.

use core::fmt;
use core::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use atlassian_connect_jwt::axum::{ConnectAuth, ConnectLifecycle};
use atlassian_connect_jwt::session::{
    JiraUserDirectory, MemoryRevocationStore, Mode, RedisConfig, RedisRevocationStore,
    RevocationStore, Sessions, UserDirectory, UserSweep,
};
use atlassian_connect_jwt::{
    open_tenant_store, ClientError, ConnectClient, Error, HttpKeySource, InstallKeySource,
    InstallVerifier, KeyCache, Lifecycle, StoreError, TenantStore,
};
use axum::extract::{FromRef, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;

use crate::config::Settings;
use crate::routes;

/// What the routes share. Cloning is a few reference-count increments.
///
/// A route takes what it needs with `State<T>` (each field has a [`FromRef`]) or through the
/// Connect extractors, which find [`ConnectAuth`] here. A new kind of route adds its field
/// and its `FromRef`.
#[derive(Clone)]
pub struct AppState {
    /// Token checks: the verifier, the base path, the tenant store.
    pub auth: ConnectAuth,
    /// Calls to the product, signed as the app.
    pub client: ConnectClient,
    /// Session tokens for the iframe page's script: minted, checked, revoked.
    pub sessions: Sessions,
    /// The descriptor, served at `/atlassian-connect.json`.
    pub descriptor: Descriptor,
}

/// The descriptor's JSON, rendered once at start-up.
#[derive(Clone, Debug)]
pub struct Descriptor(pub Arc<str>);

impl FromRef<AppState> for ConnectAuth {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

impl FromRef<AppState> for ConnectClient {
    fn from_ref(state: &AppState) -> Self {
        state.client.clone()
    }
}

impl FromRef<AppState> for Sessions {
    fn from_ref(state: &AppState) -> Self {
        state.sessions.clone()
    }
}

impl FromRef<AppState> for Descriptor {
    fn from_ref(state: &AppState) -> Self {
        state.descriptor.clone()
    }
}

impl fmt::Debug for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppState")
            .field("auth", &self.auth)
            .field("sessions", &self.sessions)
            .finish_non_exhaustive()
    }
}

/// The app, ready to serve.
#[derive(Clone, Debug)]
pub struct App {
    state: AppState,
    lifecycle: ConnectLifecycle,
    forge: Option<Router>,
    directory: Arc<JiraUserDirectory>,
    sweep_interval: Duration,
    base_path: String,
}

impl App {
    /// Opens the tenant store and the session revocation store (Redis when
    /// `CONNECT_APP_REDIS_URL` is set, else in memory) and sets up the key server, the
    /// product client and the Forge routes of `settings`.
    ///
    /// # Errors
    ///
    /// [`StartError`]: a store cannot be opened, the key server URL is not usable, the
    /// HTTP client cannot be built, the Forge settings are not usable.
    pub async fn new(settings: &Settings) -> Result<Self, StartError> {
        let tenants = open_tenant_store(&settings.database_url)
            .await
            .map_err(StartError::Store)?;
        let keys = KeyCache::new(
            HttpKeySource::with_base_url(&settings.install_keys_url).map_err(StartError::Keys)?,
        );
        let revocations: Arc<dyn RevocationStore> = match &settings.redis_url {
            Some(url) => {
                let store = RedisRevocationStore::connect(RedisConfig::new(url))
                    .await
                    .map_err(StartError::Sessions)?;
                if !store.is_synced() {
                    tracing::warn!(
                        "CONNECT_APP_REDIS_URL: Redis did not answer yet; session calls are \
                         refused (503) until it does",
                    );
                }
                Arc::new(store)
            }
            None => Arc::new(MemoryRevocationStore::new(Mode::Denylist)),
        };
        Self::with_parts(settings, tenants, revocations, keys)
    }

    /// The app with a tenant store, a session revocation store and a source of
    /// signed-install keys of the caller's (`settings.redis_url` is not read).
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_parts<K>(
        settings: &Settings,
        tenants: Arc<dyn TenantStore>,
        revocations: Arc<dyn RevocationStore>,
        keys: K,
    ) -> Result<Self, StartError>
    where
        K: InstallKeySource + Send + Sync + 'static,
    {
        let sessions = Sessions::new(revocations)
            .with_ttl(settings.session_ttl)
            .map_err(StartError::Sessions)?;
        let verifier = InstallVerifier::new(&settings.base_url).map_err(StartError::Keys)?;
        let lifecycle =
            Lifecycle::new(verifier, keys, Arc::clone(&tenants)).with_app_key(&settings.key);
        let lifecycle = ConnectLifecycle::new(settings.base_path.clone(), lifecycle)
            .with_sessions(sessions.clone());
        let forge = match &settings.forge {
            Some(forge) => Some(
                routes::forge::routes(forge, Arc::clone(&tenants)).map_err(StartError::Forge)?,
            ),
            None => None,
        };
        // The sweep's own client: a rate-limited tenant is skipped until the product's
        // `Retry-After` instead of holding up the sweep of the others.
        let sweep_client = ConnectClient::builder(&settings.key)
            .with_max_retries(0)
            .build()
            .map_err(StartError::Client)?;
        let directory = Arc::new(JiraUserDirectory::new(sweep_client, Arc::clone(&tenants)));
        let state = AppState {
            auth: ConnectAuth::new(settings.base_path.clone(), tenants),
            client: ConnectClient::new(&settings.key).map_err(StartError::Client)?,
            sessions,
            descriptor: Descriptor(
                routes::descriptor::render(&settings.key, &settings.base_url).into(),
            ),
        };
        Ok(Self {
            state,
            lifecycle,
            forge,
            directory,
            sweep_interval: settings.sweep_interval,
            base_path: settings.base_path.as_str().to_owned(),
        })
    }

    /// The user sweep: every `CONNECT_APP_USER_SWEEP_INTERVAL`, per tenant, one question to
    /// Jira about the users holding sessions, and a revocation of those no longer active.
    /// [`serve`](Self::serve) runs it; a program that nests [`routes`](Self::routes) spawns
    /// it itself (`tokio::spawn(app.user_sweep().run())`).
    ///
    /// # Errors
    ///
    /// None in practice: the interval was checked with the settings.
    pub fn user_sweep(&self) -> Result<UserSweep, Error> {
        let directory: Arc<dyn UserDirectory> = self.directory.clone();
        UserSweep::new(self.state.sessions.clone(), directory).with_interval(self.sweep_interval)
    }

    /// The state the routes share.
    #[must_use]
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Every route, relative to the base URL: to nest in another router at the base URL's
    /// path (the routes hash the URI as received, so nesting changes nothing).
    pub fn routes(&self) -> Router {
        let routes = routes::router()
            .with_state(self.state.clone())
            .merge(self.lifecycle.clone().into_router());
        match &self.forge {
            Some(forge) => routes.merge(forge.clone()),
            None => routes,
        }
    }

    /// The whole server's router: [`routes`](Self::routes) under the base URL's path, each
    /// request logged (method, path, status, time; never the query, where tokens travel).
    pub fn router(&self) -> Router {
        let routes = self.routes();
        let router = if self.base_path.is_empty() {
            routes
        } else {
            Router::new().nest(&self.base_path, routes)
        };
        router.layer(middleware::from_fn(log_request))
    }

    /// Serves on `listener` with the [user sweep](Self::user_sweep) in the background until
    /// `shutdown` resolves, then lets requests under way finish and stops the sweep.
    ///
    /// # Errors
    ///
    /// When the listener fails.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let sweep = self
            .user_sweep()
            .map_err(|error| std::io::Error::other(error.to_string()))?;
        let sweep = tokio::spawn(sweep.run());
        let served = axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await;
        sweep.abort();
        served
    }
}

async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    tracing::debug!(
        target: "connect_app::request",
        %method,
        path = ?path,
        status = response.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
    );
    response
}

/// Why the app could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// The tenant store could not be opened (its message never holds the URL).
    Store(StoreError),
    /// The base URL or the key server URL is not usable.
    Keys(Error),
    /// The product client could not be built.
    Client(ClientError),
    /// The session settings are not usable (`CONNECT_APP_REDIS_URL`, `CONNECT_APP_SESSION_TTL`,
    /// `CONNECT_APP_USER_SWEEP_INTERVAL`).
    Sessions(Error),
    /// The Forge settings are not usable (`CONNECT_APP_FORGE_APP_ID`,
    /// `CONNECT_APP_FORGE_JWKS_URL`).
    Forge(Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Store(error) => write!(f, "CONNECT_APP_DATABASE_URL: {error}"),
            Self::Keys(error) => write!(f, "CONNECT_APP_INSTALL_KEYS_URL or base URL: {error}"),
            Self::Client(error) => write!(f, "the product client: {error}"),
            Self::Sessions(error) => write!(f, "the session settings: {error}"),
            Self::Forge(error) => write!(
                f,
                "CONNECT_APP_FORGE_APP_ID or CONNECT_APP_FORGE_JWKS_URL: {error}"
            ),
        }
    }
}

impl std::error::Error for StartError {}
