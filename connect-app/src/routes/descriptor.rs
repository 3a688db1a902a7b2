//! `GET /atlassian-connect.json`: what the product installs.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use serde_json::json;

use crate::app::Descriptor;

/// The descriptor of the app `key` served at `base_url`: JWT authentication, signed install
/// and context-qsh opted in, the lifecycle callbacks, an iframe page, a Jira webhook and
/// `user_deleted` (which revokes the deleted user's sessions).
pub(crate) fn render(key: &str, base_url: &str) -> String {
    json!({
        "key": key,
        "name": "Example Connect app",
        "description": "An example Atlassian Connect app built on atlassian-connect-jwt.",
        "vendor": { "name": "Example", "url": "https://example.com" },
        "baseUrl": base_url,
        "authentication": { "type": "jwt" },
        "lifecycle": { "installed": "/installed", "uninstalled": "/uninstalled" },
        "apiMigrations": { "context-qsh": true, "signed-install": true },
        "scopes": ["READ"],
        "modules": {
            "generalPages": [{
                "key": "hello-page",
                "name": { "value": "Connect app" },
                "url": "/panel",
                "location": "system.top.navigation.bar"
            }],
            "webhooks": [
                { "event": "jira:issue_updated", "url": "/webhooks/jira" },
                { "event": "user_deleted", "url": "/webhooks/user-deleted" }
            ]
        }
    })
    .to_string()
}

pub(crate) async fn descriptor(State(descriptor): State<Descriptor>) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "application/json")],
        descriptor.0.to_string(),
    )
}
