//! The same verification as tower middleware, for apps that prefer a layer to an extractor.

use core::fmt;
use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll};

use ::axum::http::Request;
use ::axum::response::{IntoResponse, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::extract::{ConnectContext, ConnectPolicy, ConnectRequest, ConnectRequestOrContext};
use super::state::ConnectAuth;
use super::verify::authenticate;

/// A tower layer that verifies every request under one policy, chosen when it is built, and
/// puts the proof in the request's extensions for the handler to read with
/// [`Extension`](::axum::Extension): `Extension<ConnectRequest>` after
/// [`ConnectLayer::request`], and so on. Refused requests get the
/// [`ConnectRejection`](super::ConnectRejection) answer and never reach the handler.
///
/// Apply it with `Router::route_layer`, so that unmatched paths still answer 404. A handler
/// whose layer was forgotten finds no extension and answers 500, never runs unverified.
///
/// ```
/// use std::sync::Arc;
///
/// use atlassian_connect_jwt::axum::{ConnectAuth, ConnectLayer, ConnectRequest};
/// use atlassian_connect_jwt::{BasePath, MemoryTenantStore};
/// use axum::{routing::post, Extension, Router};
///
/// async fn webhook(Extension(connect): Extension<ConnectRequest>) -> &'static str {
///     let _tenant = connect.tenant().base_url();
///     "ok"
/// }
///
/// let auth = ConnectAuth::new(BasePath::root(), Arc::new(MemoryTenantStore::new()));
/// let app: Router = Router::new()
///     .route("/webhooks/issue-updated", post(webhook))
///     .route_layer(ConnectLayer::request(auth));
/// ```
pub struct ConnectLayer<P> {
    auth: ConnectAuth,
    policy: PhantomData<fn() -> P>,
}

impl ConnectLayer<ConnectRequest> {
    /// Request-bound tokens only, as [`ConnectRequest`].
    #[must_use]
    pub fn request(auth: ConnectAuth) -> Self {
        Self::with_policy(auth)
    }
}

impl ConnectLayer<ConnectContext> {
    /// Context tokens only, as [`ConnectContext`].
    #[must_use]
    pub fn context(auth: ConnectAuth) -> Self {
        Self::with_policy(auth)
    }
}

impl ConnectLayer<ConnectRequestOrContext> {
    /// Either, as [`ConnectRequestOrContext`].
    #[must_use]
    pub fn request_or_context(auth: ConnectAuth) -> Self {
        Self::with_policy(auth)
    }
}

impl<P> ConnectLayer<P> {
    fn with_policy(auth: ConnectAuth) -> Self {
        Self {
            auth,
            policy: PhantomData,
        }
    }
}

impl<P> Clone for ConnectLayer<P> {
    fn clone(&self) -> Self {
        Self::with_policy(self.auth.clone())
    }
}

impl<P> fmt::Debug for ConnectLayer<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectLayer")
            .field("auth", &self.auth)
            .field("policy", &core::any::type_name::<P>())
            .finish()
    }
}

impl<S, P> Layer<S> for ConnectLayer<P> {
    type Service = ConnectService<S, P>;

    fn layer(&self, inner: S) -> Self::Service {
        ConnectService {
            inner,
            auth: self.auth.clone(),
            policy: PhantomData,
        }
    }
}

/// The service [`ConnectLayer`] wraps around a route.
pub struct ConnectService<S, P> {
    inner: S,
    auth: ConnectAuth,
    policy: PhantomData<fn() -> P>,
}

impl<S: Clone, P> Clone for ConnectService<S, P> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            auth: self.auth.clone(),
            policy: PhantomData,
        }
    }
}

impl<S, P> fmt::Debug for ConnectService<S, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectService")
            .field("auth", &self.auth)
            .field("policy", &core::any::type_name::<P>())
            .finish_non_exhaustive()
    }
}

impl<S, P, B> Service<Request<B>> for ConnectService<S, P>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send,
    P: ConnectPolicy,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The clone that was polled ready serves this request; a fresh clone stays behind.
        let ready = self.inner.clone();
        let mut inner = core::mem::replace(&mut self.inner, ready);
        let auth = self.auth.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            match authenticate::<P>(&auth, &parts).await {
                Ok(proof) => {
                    parts.extensions.insert(proof);
                    inner.call(Request::from_parts(parts, body)).await
                }
                Err(rejection) => Ok(rejection.into_response()),
            }
        })
    }
}
