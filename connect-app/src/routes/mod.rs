//! The app's routes, relative to the base URL. Each module is one route and says which token
//! it accepts by the extractor it takes.

pub(crate) mod descriptor;
pub(crate) mod forge;
mod health;
mod panel;
mod session;
mod webhooks;
mod whoami;

use atlassian_connect_jwt::axum::user_deleted_webhook;
use axum::routing::{get, post};
use axum::Router;

use crate::app::AppState;

/// Every route but the lifecycle callbacks (`ConnectLifecycle` serves those) and the Forge
/// routes (`forge::routes`, when configured).
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/atlassian-connect.json", get(descriptor::descriptor))
        .route("/panel", get(panel::panel))
        .route("/panel.js", get(panel::script))
        .route("/api/whoami", get(whoami::whoami))
        .route("/api/session/whoami", get(session::whoami))
        .route("/webhooks/jira", post(webhooks::jira))
        .route("/webhooks/user-deleted", post(user_deleted_webhook))
        .route("/healthz", get(health::healthz))
}
