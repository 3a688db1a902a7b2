//! The app's routes, relative to the base URL. Each module is one route and says which token
//! it accepts by the extractor it takes.

pub(crate) mod descriptor;
mod health;
mod panel;
mod webhooks;
mod whoami;

use axum::routing::{get, post};
use axum::Router;

use crate::app::AppState;

/// Every route but the lifecycle callbacks (`ConnectLifecycle` serves those).
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/atlassian-connect.json", get(descriptor::descriptor))
        .route("/panel", get(panel::panel))
        .route("/api/whoami", get(whoami::whoami))
        .route("/webhooks/jira", post(webhooks::jira))
        .route("/healthz", get(health::healthz))
}
