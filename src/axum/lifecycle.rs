//! The `installed` and `uninstalled` lifecycle callbacks as axum routes: [`ConnectLifecycle`].

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use std::sync::Arc;

use ::axum::body::Bytes;
use ::axum::extract::{DefaultBodyLimit, OriginalUri, State};
use ::axum::http::{HeaderMap, Method, StatusCode, Uri};
use ::axum::response::{IntoResponse, Response};
use ::axum::routing::post;
use ::axum::Router;

use super::rejection::ConnectRejection;
use crate::canonical::BasePath;
use crate::error::{Error, PayloadDefect};
use crate::http::{authorization, canonical_request};
use crate::install::{InstallKeySource, MAX_LIFECYCLE_BODY};
use crate::lifecycle::{Lifecycle, LifecycleCallback, LifecycleOutcome};
use crate::time::UnixTime;

const TARGET: &str = "atlassian_connect_jwt::axum";

/// The two lifecycle routes of a Connect app, `POST /installed` and `POST /uninstalled`,
/// answering each callback with what [`Lifecycle::handle`] decided.
///
/// Each route hashes the URI the server received ([`OriginalUri`], so the routes may be
/// nested under the path of the descriptor's `baseUrl`), reads at most
/// [`MAX_LIFECYCLE_BODY`] bytes of body, and answers:
///
/// | outcome | status |
/// | --- | --- |
/// | verified; the tenant store written | 204 No Content |
/// | refused ([`Error::is_verdict`]: forged, expired, another app's, a missing token, a body that is not UTF-8 JSON, ...) | 401 Unauthorized, `WWW-Authenticate: JWT`, the code as the body |
/// | the key server or the tenant store cannot answer ([`Error::Unavailable`]) | 503: the product retries |
/// | the app is misconfigured ([`Error::Config`]: a verifier given other lifecycle paths) | 500 |
/// | a body over [`MAX_LIFECYCLE_BODY`] | 413 Payload Too Large (axum's), before any check |
///
/// Nothing is written unless the callback verified. Each answer is one `tracing` event
/// (target `atlassian_connect_jwt::axum`): `info` for an install or uninstall (the clientKey),
/// `debug` for a refusal, `warn` for a key server or store that cannot answer, `error` for a
/// misconfigured app; never the token or the body (which holds the shared secret).
///
/// ```no_run
/// use std::collections::HashMap;
///
/// use atlassian_connect_jwt::axum::{ConnectAuth, ConnectLifecycle, ConnectRequest};
/// use atlassian_connect_jwt::{open_tenant_store, BasePath, InstallKey, InstallVerifier, Lifecycle};
/// use axum::{routing::get, Router};
///
/// async fn panel(connect: ConnectRequest) -> String {
///     format!("Hello, {}", connect.tenant().base_url())
/// }
///
/// #[tokio::main]
/// async fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let base_url = "https://app.example.com/connect"; // the descriptor's baseUrl
///     let base = BasePath::parse(base_url)?;
///     let tenants = open_tenant_store("memory:").await?; // or sqlite://, postgres://
///     // In production: `KeyCache::new(HttpKeySource::new()?)`, Atlassian's install keys
///     // (feature `signed-install-http`).
///     let keys: HashMap<String, InstallKey> = HashMap::new();
///     let lifecycle = Lifecycle::new(InstallVerifier::new(base_url)?, keys, tenants.clone())
///         .with_app_key("com.example.app");
///     let routes = Router::new()
///         .route("/panel", get(panel))
///         .with_state(ConnectAuth::new(base.clone(), tenants))
///         .merge(ConnectLifecycle::new(base, lifecycle).into_router());
///     let app = Router::new().nest("/connect", routes);
///     let listener = tokio::net::TcpListener::bind("0.0.0.0:3000").await?;
///     axum::serve(listener, app).await?;
///     Ok(())
/// }
/// ```
///
/// The paths are the [`InstallVerifier`](crate::InstallVerifier)'s defaults; an app whose
/// descriptor names other `lifecycle` paths calls [`Lifecycle::handle`] from routes of its
/// own.
#[derive(Clone)]
pub struct ConnectLifecycle {
    handler: Arc<Handler>,
    /// Whose sessions a verified uninstall revokes.
    #[cfg(feature = "session")]
    sessions: Option<crate::session::Sessions>,
}

/// The routes' paths, relative to the base URL: the descriptor's default `lifecycle` paths.
const INSTALLED: &str = "/installed";
const UNINSTALLED: &str = "/uninstalled";

/// What the routes share: the callbacks and the base path to strip.
struct Handler {
    lifecycle: Box<dyn Callbacks>,
    base: BasePath,
}

/// [`Lifecycle::handle`] with the key source's type erased, so the routes' state is one type.
trait Callbacks: Send + Sync {
    fn handle<'a>(
        &'a self,
        callback: LifecycleCallback<'a>,
        now: UnixTime,
    ) -> Pin<Box<dyn Future<Output = Result<LifecycleOutcome, Error>> + Send + 'a>>;
}

impl<K> Callbacks for Lifecycle<K>
where
    K: InstallKeySource + Send + Sync,
{
    fn handle<'a>(
        &'a self,
        callback: LifecycleCallback<'a>,
        now: UnixTime,
    ) -> Pin<Box<dyn Future<Output = Result<LifecycleOutcome, Error>> + Send + 'a>> {
        Box::pin(Lifecycle::handle(self, callback, now))
    }
}

impl ConnectLifecycle {
    /// The routes of `lifecycle` for an app whose descriptor `baseUrl` has the path `base`
    /// (the same [`BasePath`] as the app's [`ConnectAuth`](super::ConnectAuth)).
    #[must_use]
    pub fn new<K>(base: BasePath, lifecycle: Lifecycle<K>) -> Self
    where
        K: InstallKeySource + Send + Sync + 'static,
    {
        Self {
            handler: Arc::new(Handler {
                lifecycle: Box::new(lifecycle),
                base,
            }),
            #[cfg(feature = "session")]
            sessions: None,
        }
    }

    /// Revokes every session of a tenant once its verified `uninstalled` callback is
    /// recorded (as [`Sessions::on_uninstalled`](crate::session::Sessions::on_uninstalled)
    /// does), so that a reinstall does not bring back the sessions of before (feature
    /// `session`).
    ///
    /// When the revocation cannot be recorded for every instance (this instance refuses the
    /// sessions all the same), the callback is answered 503 and the product retries it; the
    /// retry records the same uninstall and revocation again.
    #[cfg(feature = "session")]
    #[must_use]
    pub fn with_sessions(self, sessions: crate::session::Sessions) -> Self {
        Self {
            sessions: Some(sessions),
            ..self
        }
    }

    /// A router with the two `POST` routes, its state already given: merge it into the app's
    /// router (or nest it), whatever that router's state.
    pub fn into_router<S>(self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        Router::new()
            .route(INSTALLED, post(callback))
            .route(UNINSTALLED, post(callback))
            .layer(DefaultBodyLimit::max(MAX_LIFECYCLE_BODY))
            .with_state(self)
    }
}

impl Handler {
    async fn answer(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<LifecycleOutcome, Error> {
        let request = canonical_request(method, uri, Some(&self.base))?;
        let authorization = authorization(headers)?;
        let body = core::str::from_utf8(body)
            .map_err(|_| Error::InvalidLifecyclePayload(PayloadDefect::NotJson))?;
        let callback = LifecycleCallback {
            request: &request,
            authorization,
            body,
        };
        self.lifecycle.handle(callback, UnixTime::now()).await
    }
}

/// The handler of both routes: the path tells the callbacks apart.
async fn callback(
    State(lifecycle): State<ConnectLifecycle>,
    OriginalUri(uri): OriginalUri,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let outcome = lifecycle
        .handler
        .answer(&method, &uri, &headers, &body)
        .await;
    #[cfg(feature = "session")]
    let outcome = match (outcome, &lifecycle.sessions) {
        (
            Ok(LifecycleOutcome::Uninstalled {
                client_key,
                was_known,
            }),
            Some(sessions),
        ) => {
            let revocation = crate::session::Revocation::Tenant {
                client_key: client_key.clone(),
            };
            sessions
                .revoke(revocation, UnixTime::now())
                .await
                .map(|()| LifecycleOutcome::Uninstalled {
                    client_key,
                    was_known,
                })
        }
        (outcome, _) => outcome,
    };
    match outcome {
        Ok(outcome) => {
            log_outcome(&outcome);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(error) => {
            log_refusal(&error);
            ConnectRejection::from(error).into_response()
        }
    }
}

fn log_outcome(outcome: &LifecycleOutcome) {
    match outcome {
        LifecycleOutcome::Installed {
            client_key,
            first_install,
        } => tracing::info!(
            target: TARGET,
            client_key = ?client_key,
            first_install,
            "connect app installed",
        ),
        LifecycleOutcome::Uninstalled {
            client_key,
            was_known,
        } => tracing::info!(
            target: TARGET,
            client_key = ?client_key,
            was_known,
            "connect app uninstalled",
        ),
    }
}

fn log_refusal(error: &Error) {
    let code = error.code();
    match error {
        Error::Unavailable(_) => tracing::warn!(
            target: TARGET,
            code,
            error = %error,
            "lifecycle callback not handled: a key server or the tenant store did not answer",
        ),
        Error::Config(_) => tracing::error!(
            target: TARGET,
            code,
            error = %error,
            "lifecycle callback not handled: the app is misconfigured",
        ),
        _ => tracing::debug!(
            target: TARGET,
            code,
            error = %error,
            "lifecycle callback refused",
        ),
    }
}

impl fmt::Debug for ConnectLifecycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("ConnectLifecycle");
        debug.field("base", &self.handler.base);
        #[cfg(feature = "session")]
        debug.field("revokes_sessions", &self.sessions.is_some());
        debug.finish_non_exhaustive()
    }
}
