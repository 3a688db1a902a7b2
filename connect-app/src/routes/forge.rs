//! `POST /forge/remote/{*path}`: Forge remote invocations (a Forge app's `remotes` and
//! `endpoints` in manifest.yml), verified with Forge's key set, answered with the Connect
//! tenant of the same installation. Served only when `CONNECT_APP_FORGE_APP_ID` is set.

use std::sync::Arc;

use atlassian_connect_jwt::axum::{ForgeAuth, ForgeInvocation};
use atlassian_connect_jwt::{Error, ForgeVerifier, HttpJwksSource, JwksCache, TenantStore};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::config::ForgeSettings;

/// What the app answers a verified Forge invocation: the installation, and the linked
/// Connect tenant when the installation's Connect `installed` callback named it.
async fn remote(forge: ForgeInvocation) -> Json<Value> {
    let verified = forge.verified();
    let mut body = json!({
        "installationId": verified.installation_id(),
        "appId": verified.app_id(),
        "moduleKey": verified.module_key(),
        "principal": verified.principal(),
        "environmentType": verified.environment_type(),
    });
    if let Some(tenant) = forge.tenant() {
        body["clientKey"] = json!(tenant.client_key());
        body["baseUrl"] = json!(tenant.base_url());
    }
    Json(body)
}

/// The Forge routes, their state applied, on the app's tenant store.
///
/// # Errors
///
/// `invalid-app-id` for an app id that is not `ari:cloud:ecosystem::app/<uuid>`,
/// `invalid-base-url` for a key set URL that is not HTTPS (or HTTP to a loopback address).
pub(crate) fn routes<S>(
    settings: &ForgeSettings,
    tenants: Arc<dyn TenantStore>,
) -> Result<Router<S>, Error>
where
    S: Clone + Send + Sync + 'static,
{
    let verifier = ForgeVerifier::new(&settings.app_id)?;
    let keys = JwksCache::new(HttpJwksSource::with_url(&settings.jwks_url)?);
    let forge = ForgeAuth::new(verifier, keys).with_tenants(tenants);
    Ok(Router::new()
        .route("/forge/remote/{*path}", post(remote))
        .with_state(forge))
}
