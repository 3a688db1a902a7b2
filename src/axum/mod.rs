//! axum 0.8 extractors and a tower layer (feature `axum`): each verifies a Connect request
//! under the policy its type names, with the tenant store from app state.
//!
//! | route | extractor | accepts |
//! | --- | --- | --- |
//! | iframe loads, webhooks, server-to-server calls | [`ConnectRequest`] | request-bound tokens |
//! | the app's API called with `AP.context.getToken()` | [`ConnectContext`] | context tokens |
//! | a route that deliberately serves both | [`ConnectRequestOrContext`] | either |
//!
//! Each finds [`ConnectAuth`] in the app state through [`FromRef`](::axum::extract::FromRef),
//! hashes the URI the server received ([`OriginalUri`](::axum::extract::OriginalUri), so a
//! router nested with `Router::nest` and a base path in the descriptor's `baseUrl` both
//! work), reads the token from `Authorization: JWT ...` or the `jwt` parameter, looks the
//! tenant up once, and refuses an unknown or uninstalled tenant. Refusals are
//! [`ConnectRejection`]s: 401 with `WWW-Authenticate: JWT`, 503 when the store cannot
//! answer, 500 when the app is misconfigured, the error code as the body. Each refusal is one
//! `tracing` event (target `atlassian_connect_jwt::axum`): `debug` for a verdict (any caller
//! can cause one), `warn` for a store that cannot answer (with the store's message), `error`
//! for a misconfigured app; with the code, the route's policy, the clientKey when known, and
//! for a qsh mismatch both hashes and the canonical request, anything token-shaped in it
//! redacted. Never a token, a secret or the raw query. [`ConnectLayer`] does the same as
//! middleware.
//!
//! With the `session` feature, `AppSession` accepts the app's own session tokens
//! (`Authorization: Bearer`), `ConnectRequest::mint_session` mints one in an iframe handler,
//! and `user_deleted_webhook` revokes a deleted user's sessions.
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use atlassian_connect_jwt::axum::{ConnectAuth, ConnectContext, ConnectRequest};
//! use atlassian_connect_jwt::{BasePath, MemoryTenantStore};
//! use axum::{routing::get, Router};
//!
//! /// The iframe: the product signed this very URL.
//! async fn issue_panel(connect: ConnectRequest) -> String {
//!     format!("Hello from {}", connect.tenant().base_url())
//! }
//!
//! /// The app's own API, called by the iframe's script with `AP.context.getToken()`.
//! async fn issue_data(connect: ConnectContext) -> String {
//!     format!("{:?}", connect.verified().account_id())
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // The descriptor's baseUrl; the lifecycle handlers fill the same store.
//!     let base = BasePath::parse("https://app.example.com")?;
//!     let auth = ConnectAuth::new(base, Arc::new(MemoryTenantStore::new()));
//!     let app = Router::new()
//!         .route("/issue-panel", get(issue_panel))
//!         .route("/api/issue-data", get(issue_data))
//!         .with_state(auth);
//!     let listener = tokio::net::TcpListener::bind("0.0.0.0:3000").await?;
//!     axum::serve(listener, app).await?;
//!     Ok(())
//! }
//! ```

mod extract;
#[cfg(feature = "forge")]
mod forge;
mod layer;
mod lifecycle;
mod rejection;
#[cfg(feature = "session")]
mod session;
mod state;
mod verify;

pub use extract::{ConnectContext, ConnectPolicy, ConnectRequest, ConnectRequestOrContext};
#[cfg(feature = "forge")]
pub use forge::{ForgeAuth, ForgeInvocation};
pub use layer::{ConnectLayer, ConnectService};
pub use lifecycle::ConnectLifecycle;
pub use rejection::ConnectRejection;
#[cfg(feature = "session")]
pub use session::{user_deleted_webhook, AppSession};
pub use state::ConnectAuth;
