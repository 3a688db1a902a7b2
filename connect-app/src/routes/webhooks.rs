//! `POST /webhooks/jira`: the product's webhook, signed for this very request.

use atlassian_connect_jwt::axum::ConnectRequest;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

/// What the app reads of a Jira webhook (the rest is ignored).
#[derive(Deserialize)]
pub(crate) struct JiraEvent {
    #[serde(rename = "webhookEvent")]
    event: String,
    issue: Option<Issue>,
}

#[derive(Deserialize)]
struct Issue {
    key: String,
}

/// The token is checked before the body is read: an unsigned request is a 401 whatever it
/// carries; a signed one with a body that is not a Jira event is a 4xx from `Json`.
pub(crate) async fn jira(connect: ConnectRequest, Json(event): Json<JiraEvent>) -> StatusCode {
    tracing::info!(
        client_key = ?connect.verified().client_key(),
        event = ?event.event,
        issue = ?event.issue.as_ref().map(|issue| issue.key.as_str()),
        "jira webhook",
    );
    StatusCode::NO_CONTENT
}
