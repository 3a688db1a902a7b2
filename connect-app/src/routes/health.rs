//! `GET /healthz`: 200 while the tenant store answers, 503 when it does not.

use atlassian_connect_jwt::axum::ConnectAuth;
use axum::extract::State;
use axum::http::StatusCode;

/// A clientKey no tenant has: the lookup only proves the store answers.
const PROBE: &str = "connect-app-health-probe";

pub(crate) async fn healthz(State(auth): State<ConnectAuth>) -> (StatusCode, &'static str) {
    match auth.tenants().get(PROBE).await {
        Ok(_) => (StatusCode::OK, "ok"),
        Err(error) => {
            tracing::warn!(store_error = %error.message(), "health check: the tenant store did not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "tenant store unavailable")
        }
    }
}
