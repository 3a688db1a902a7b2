//! `POST /forge/remote/{*path}` end to end: the app started with `CONNECT_APP_FORGE_APP_ID`
//! and `CONNECT_APP_FORGE_JWKS_URL` (Forge's key set served on 127.0.0.1, its RSA key
//! generated here); a Connect tenant installed with its `installationId` by a signed
//! `installed` callback; then Forge Invocation Tokens for that installation get its
//! clientKey, and every bad token its 401. Without the settings the routes do not exist.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../tests/forge/fixtures.rs"]
mod fixtures;
mod support;

use serde_json::{json, Value};

use fixtures::{jwks, Pair};
use support::*;

const APP_ID: &str = "ari:cloud:ecosystem::app/8db33809-1f32-48bb-8c52-5877dab48107";
const OTHER_APP_ID: &str = "ari:cloud:ecosystem::app/11111111-2222-3333-4444-555555555555";
const INSTALLATION: &str = "ari:cloud:ecosystem::installation/0a3a7799-53ae-4a5b-9e7e-03338980abb5";
const OTHER_INSTALLATION: &str =
    "ari:cloud:ecosystem::installation/99999999-0000-0000-0000-000000000000";
const KID: &str = "forge/invocation-token/wf-5d1f9a0e-7c1b-4f7e-9a55-0c2b3f7d8e11";
const PRINCIPAL: &str = "655362:312d3308-8954-42b0-aa38-771a10c88656";

/// A UI invocation's claims, valid now.
fn claims(installation: &str) -> Value {
    let now = now();
    json!({
        "app": {
            "id": APP_ID, "version": "16", "appVersion": "16.0.1",
            "installationId": installation,
            "apiBaseUrl": "https://api.atlassian.com/ex/jira/d0d52620-3203-4cfa-8db5-f2587155f0dd",
            "environment": {"type": "PRODUCTION", "id": "ari:cloud:ecosystem::environment/8db33809/aa911f10"},
            "module": {"type": "jira:issuePanel", "key": "forge-remote-panel"},
            "license": {"active": true},
        },
        "context": {"cloudId": "d0d52620", "siteUrl": "https://tenant.atlassian.net"},
        "principal": PRINCIPAL,
        "aud": APP_ID,
        "iss": "forge/invocation-token",
        "iat": now - 5,
        "nbf": now - 5,
        "exp": now + 20,
        "jti": "d8a496253ec8c18a54631e4c82cbedd5d0ae8570",
    })
}

fn fit(key: &Pair, payload: &Value) -> String {
    key.sign(&json!({"alg": "RS256", "kid": KID, "typ": "JWT"}), payload)
}

#[tokio::test(flavor = "multi_thread")]
async fn forge_invocations_get_the_linked_connect_tenant() {
    let Some(atlassian) = Atlassian::start("connect-app Forge routes").await else {
        return;
    };
    let forge = Pair::generate(2048, KID);
    let attacker = Pair::generate(2048, KID);
    atlassian.keys.serve_jwks(&jwks(&[forge.jwk()]));
    let jwks_url = format!("{}/jwks.json", atlassian.keys.origin);
    let app = atlassian
        .app(
            &atlassian.sqlite("forge.db"),
            &[
                ("CONNECT_APP_FORGE_APP_ID", APP_ID),
                ("CONNECT_APP_FORGE_JWKS_URL", &jwks_url),
            ],
        )
        .await;
    let tenant = Tenant::new("jira:forge", "forge-shared-secret-0123456789abcdef0123");
    let answer = atlassian
        .lifecycle(
            &app.base_url,
            "installed",
            &tenant,
            &atlassian.keys,
            Some(INSTALLATION),
        )
        .await;
    assert_eq!(answer, Answer::no_content());
    let remote = app.url("/forge/remote/issue-panel/render");

    // The installation's invocation: the Connect tenant of the same installation.
    let answer = bearer("POST", &remote, &fit(&forge, &claims(INSTALLATION))).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        serde_json::from_str::<Value>(&answer.body).unwrap(),
        json!({
            "installationId": INSTALLATION, "appId": APP_ID, "moduleKey": "forge-remote-panel",
            "principal": PRINCIPAL, "environmentType": "PRODUCTION",
            "clientKey": tenant.client_key, "baseUrl": atlassian.keys.origin,
        })
    );
    // Another installation: verified, no Connect tenant.
    let answer = bearer("POST", &remote, &fit(&forge, &claims(OTHER_INSTALLATION))).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let body: Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(body["installationId"], OTHER_INSTALLATION);
    assert_eq!(body.get("clientKey"), None);

    // Refusals: 401, a Bearer challenge, the code.
    let mut other_app = claims(INSTALLATION);
    other_app["aud"] = json!(OTHER_APP_ID);
    let mut expired = claims(INSTALLATION);
    expired["iat"] = json!(now() - 120);
    expired["nbf"] = json!(now() - 120);
    expired["exp"] = json!(now() - 60);
    let connect = atlassian
        .npm
        .request(&tenant, "POST", "/forge/remote/issue-panel/render");
    for (name, token, code) in [
        ("another app's", fit(&forge, &other_app), "app-id-mismatch"),
        ("expired", fit(&forge, &expired), "expired"),
        (
            "not signed by Forge",
            fit(&attacker, &claims(INSTALLATION)),
            "invalid-signature",
        ),
        ("a Connect token", connect, "unsupported-algorithm"),
    ] {
        assert_eq!(
            bearer("POST", &remote, &token).await,
            Answer::invalid_token(code),
            "{name}"
        );
    }
    let missing = send("POST", &remote, None, None).await;
    assert_eq!(
        (
            missing.status,
            missing.challenge.as_deref(),
            missing.body.as_str()
        ),
        (401, Some("Bearer"), "missing-token")
    );
    // Uninstalled: the invocation still verifies, the tenant is gone.
    let answer = atlassian
        .lifecycle(
            &app.base_url,
            "uninstalled",
            &tenant,
            &atlassian.keys,
            Some(INSTALLATION),
        )
        .await;
    assert_eq!(answer, Answer::no_content());
    let answer = bearer("POST", &remote, &fit(&forge, &claims(INSTALLATION))).await;
    let body: Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!((answer.status, body.get("clientKey")), (200, None));
    app.stop();

    // Without the Forge settings, the routes do not exist.
    let plain = atlassian.app(&atlassian.sqlite("plain.db"), &[]).await;
    let answer = bearer(
        "POST",
        &plain.url("/forge/remote/issue-panel/render"),
        &fit(&forge, &claims(INSTALLATION)),
    )
    .await;
    assert_eq!(answer.status, 404);
    plain.stop();
}
