//! Session tokens in axum (features `axum`, `session`) over real HTTP on 127.0.0.1: the
//! iframe mints, the page's API accepts `Authorization: Bearer`, every refusal is a 401 with
//! a `Bearer` challenge and its code, a store that cannot answer is a 503, the `user_deleted`
//! webhook revokes; and two instances sharing Redis (when `TEST_REDIS_URL` is set).
#![cfg(all(feature = "axum", feature = "session"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/connect_app.rs"]
mod app;

use std::sync::Arc;
use std::time::{Duration, Instant};

use app::*;
use atlassian_connect_jwt::axum::{
    user_deleted_webhook, AppSession, ConnectAuth, ConnectRejection, ConnectRequest,
};
use atlassian_connect_jwt::session::{
    MemoryRevocationStore, Mode, Resource, RevocationStore, Sessions,
};
use atlassian_connect_jwt::{
    BasePath, CanonicalRequest, QshPolicy, Signer, TenantStore, UnixTime, Verifier,
};
use axum::extract::{FromRef, Path, State};
use axum::http::Uri;
use axum::routing::{get, post};
use axum::Router;

#[derive(Clone)]
struct AppState {
    auth: ConnectAuth,
    sessions: Sessions,
}

impl FromRef<AppState> for ConnectAuth {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

impl FromRef<AppState> for Sessions {
    fn from_ref(state: &AppState) -> Self {
        state.sessions.clone()
    }
}

/// The iframe: the page's session token, for the issue in `issueId` when there is one.
async fn panel(
    State(state): State<AppState>,
    iframe: ConnectRequest,
    uri: Uri,
) -> Result<String, ConnectRejection> {
    let resource = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("issueId="))
        .and_then(|id| id.parse().ok())
        .map(Resource::JiraIssue);
    let token = iframe.mint_session(&state.sessions, resource).await?;
    Ok(token.into_string())
}

async fn whoami(session: AppSession) -> String {
    serde_json::json!({
        "clientKey": session.verified().client_key(),
        "accountId": session.verified().account_id(),
    })
    .to_string()
}

async fn issue(session: AppSession, Path(id): Path<u64>) -> Result<String, ConnectRejection> {
    session
        .verified()
        .require_resource(Resource::JiraIssue(id))
        .map_err(ConnectRejection::from)?;
    Ok(format!("issue {id}"))
}

fn routes() -> Router<AppState> {
    Router::new()
        .route("/panel", get(panel))
        .route("/api/session/whoami", get(whoami))
        .route("/api/issue/{id}", get(issue))
        .route("/webhooks/user-deleted", post(user_deleted_webhook))
}

async fn start_with(tenants: Arc<dyn TenantStore>, store: Arc<dyn RevocationStore>) -> String {
    let (listener, addr) = listener().await;
    let origin = format!("http://{addr}");
    let state = AppState {
        auth: ConnectAuth::new(BasePath::parse(&origin).unwrap(), tenants),
        sessions: Sessions::new(store),
    };
    serve(listener, routes().with_state(state));
    origin
}

async fn start_app() -> String {
    start_with(
        seeded_store().await,
        Arc::new(MemoryRevocationStore::new(Mode::Denylist)),
    )
    .await
}

/// Loads the panel as the product does (a signed `jwt` parameter) and returns the page's
/// session token.
async fn load_panel(origin: &str, query: &str, user: Option<&str>) -> String {
    let target = format!("/panel{query}");
    let request = CanonicalRequest::from_target("GET", &target, None).unwrap();
    let mut signer = Signer::new(TENANT);
    if let Some(user) = user {
        signer = signer.with_subject(user);
    }
    let token = signer
        .sign_request(&request, &tenant_key(), UnixTime::now())
        .unwrap();
    let separator = if query.is_empty() { '?' } else { '&' };
    let answer = get_with(
        &format!("{origin}{target}{separator}jwt={}", token.as_str()),
        &[],
    )
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.body
}

async fn bearer(url: &str, token: &str) -> Answer {
    get_with(url, &[&format!("Bearer {token}")]).await
}

fn refused(code: &str) -> Answer {
    Answer {
        status: 401,
        challenge: Some(r#"Bearer error="invalid_token""#.to_owned()),
        body: code.to_owned(),
    }
}

fn whoami_body(account: &str) -> String {
    serde_json::json!({ "clientKey": TENANT, "accountId": account }).to_string()
}

#[tokio::test]
async fn the_panel_mints_and_the_api_accepts_the_bearer_token() {
    let origin = start_app().await;
    let token = load_panel(&origin, "", Some(ACCOUNT)).await;
    let answer = bearer(&format!("{origin}/api/session/whoami"), &token).await;
    assert_eq!(answer, Answer::ok(whoami_body(ACCOUNT)));
    // The scheme in any case.
    let answer = get_with(
        &format!("{origin}/api/session/whoami"),
        &[&format!("bearer {token}")],
    )
    .await;
    assert_eq!(answer.status, 200);
}

#[tokio::test]
async fn every_refusal_is_a_401_with_a_bearer_challenge() {
    let origin = start_app().await;
    let url = format!("{origin}/api/session/whoami");
    let token = load_panel(&origin, "", Some(ACCOUNT)).await;

    assert_eq!(
        get_with(&url, &[]).await,
        Answer {
            status: 401,
            challenge: Some("Bearer".to_owned()),
            body: "missing-token".to_owned()
        }
    );
    for header in [
        format!("JWT {token}"),
        "Bearer ".to_owned(),
        format!("Bearer\t{token}"),
        token.clone(),
    ] {
        assert_eq!(
            get_with(&url, &[&header]).await,
            refused("invalid-bearer-header"),
            "{header}"
        );
    }
    // One space only: a second one is part of the token, as on Connect routes.
    assert_eq!(
        bearer(&url, &format!(" {token}")).await,
        refused("malformed-token")
    );
    let twice = format!("Bearer {token}");
    assert_eq!(
        get_with(&url, &[&twice, &twice]).await,
        refused("invalid-bearer-header")
    );
    // A product token, of either kind, is not a session token.
    assert_eq!(
        bearer(&url, &context_token(&tenant_key())).await,
        refused("not-a-session-token")
    );
    assert_eq!(
        bearer(
            &url,
            &request_token(&tenant_key(), "GET", "/api/session/whoami")
        )
        .await,
        refused("not-a-session-token")
    );
    // A session token is not a product token: the iframe route refuses it with its own code.
    assert_eq!(
        get_jwt(&format!("{origin}/panel"), &token).await,
        Answer::refused("session-token-not-accepted")
    );
    // Expired, and tenants that are gone or unknown.
    let sessions = Sessions::new(Arc::new(MemoryRevocationStore::new(Mode::Denylist)));
    let request = CanonicalRequest::from_target("GET", "/panel", None).unwrap();
    let verified_at = |client_key: &str, key: &atlassian_connect_jwt::TenantKey, now: UnixTime| {
        let product = Signer::new(client_key)
            .with_subject(ACCOUNT)
            .sign_request(&request, key, now)
            .unwrap();
        Verifier::new()
            .verify(
                product.as_str(),
                QshPolicy::Request(&request),
                &std::collections::HashMap::from([(client_key.to_owned(), key.clone())]),
                now,
            )
            .unwrap()
    };
    let past = UnixTime::from_secs(UnixTime::now().as_secs() - 400);
    let expired = sessions
        .mint(
            &verified_at(TENANT, &tenant_key(), past),
            &tenant_key(),
            None,
            past,
        )
        .await
        .unwrap();
    assert_eq!(
        bearer(&url, expired.as_str()).await,
        refused("session-expired")
    );
    for (client_key, secret) in [(GONE, GONE_SECRET), (STRANGER, "stranger-secret")] {
        let key = key(client_key, secret);
        let foreign = sessions
            .mint(
                &verified_at(client_key, &key, UnixTime::now()),
                &key,
                None,
                UnixTime::now(),
            )
            .await
            .unwrap();
        assert_eq!(
            bearer(&url, foreign.as_str()).await,
            refused("unknown-issuer"),
            "{client_key}"
        );
    }
    // An iframe load that names no user mints nothing.
    let request = CanonicalRequest::from_target("GET", "/panel", None).unwrap();
    let anonymous = Signer::new(TENANT)
        .sign_request(&request, &tenant_key(), UnixTime::now())
        .unwrap();
    assert_eq!(
        get_with(&format!("{origin}/panel?jwt={}", anonymous.as_str()), &[]).await,
        Answer::refused("missing-claim")
    );
}

#[tokio::test]
async fn a_resource_bound_token_serves_only_its_resource() {
    let origin = start_app().await;
    let token = load_panel(&origin, "?issueId=10001", Some(ACCOUNT)).await;
    assert_eq!(
        bearer(&format!("{origin}/api/issue/10001"), &token).await,
        Answer::ok("issue 10001".to_owned())
    );
    // The handler maps the mismatch through the shared rejection (a JWT route's challenge).
    let answer = bearer(&format!("{origin}/api/issue/10002"), &token).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (401, "session-resource-mismatch")
    );
}

/// POSTs a `user_deleted` webhook as the product does (request-bound, in the header).
async fn deliver_user_deleted(origin: &str, account: &str) -> Answer {
    let target = "/webhooks/user-deleted";
    let token = request_token(&tenant_key(), "POST", target);
    let body = serde_json::json!({
        "timestamp": 1_700_000_000_000u64,
        "webhookEvent": "user_deleted",
        "user": { "accountId": account, "active": false }
    });
    post_body(&format!("{origin}{target}"), &token, body.to_string()).await
}

async fn post_body(url: &str, token: &str, body: String) -> Answer {
    let response = reqwest::Client::new()
        .post(url)
        .header("authorization", format!("JWT {token}"))
        .body(body)
        .send()
        .await
        .unwrap();
    Answer {
        status: response.status().as_u16(),
        challenge: response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned()),
        body: response.text().await.unwrap(),
    }
}

#[tokio::test]
async fn the_user_deleted_webhook_revokes_at_once() {
    let origin = start_app().await;
    let url = format!("{origin}/api/session/whoami");
    let gone = load_panel(&origin, "", Some("557058:leaver")).await;
    let stays = load_panel(&origin, "", Some(ACCOUNT)).await;
    assert_eq!(bearer(&url, &gone).await.status, 200);

    // Not request-bound, or a body that is not the event: nothing revoked.
    let target = format!("{origin}/webhooks/user-deleted");
    let context = post_body(&target, &context_token(&tenant_key()), "{}".to_owned()).await;
    assert_eq!(context, Answer::refused("context-token-not-allowed"));
    let token = request_token(&tenant_key(), "POST", "/webhooks/user-deleted");
    let bad = post_body(
        &target,
        &token,
        r#"{"webhookEvent":"user_deleted","user":{}}"#.to_owned(),
    )
    .await;
    assert_eq!(bad, Answer::failed(400, "invalid-webhook-payload"));
    assert_eq!(bearer(&url, &gone).await.status, 200);

    let delivered = deliver_user_deleted(&origin, "557058:leaver").await;
    assert_eq!((delivered.status, delivered.body.as_str()), (204, ""));
    assert_eq!(bearer(&url, &gone).await, refused("session-revoked"));
    assert_eq!(bearer(&url, &stays).await, Answer::ok(whoami_body(ACCOUNT)));
}

#[tokio::test]
async fn a_revocation_store_that_cannot_answer_is_a_503() {
    #[cfg(feature = "session-redis")]
    {
        use atlassian_connect_jwt::session::{RedisConfig, RedisRevocationStore};
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let store = RedisRevocationStore::connect(
            RedisConfig::new(format!("redis://127.0.0.1:{port}/"))
                .with_timeout(Duration::from_millis(100)),
        )
        .await
        .unwrap();
        let origin = start_with(seeded_store().await, Arc::new(store)).await;
        // Minting cannot record the session: no token for the page.
        let target = "/panel";
        let token = request_token(&tenant_key(), "GET", target);
        let answer = get_with(&format!("{origin}{target}?jwt={token}"), &[]).await;
        assert_eq!(answer, Answer::failed(503, "revocation-store-unavailable"));
        // A token minted elsewhere cannot be checked: refused with 503, no challenge.
        let elsewhere = start_app().await;
        let session = load_panel(&elsewhere, "", Some(ACCOUNT)).await;
        let answer = bearer(&format!("{origin}/api/session/whoami"), &session).await;
        assert_eq!(answer, Answer::failed(503, "revocation-store-unavailable"));
    }
    // The tenant store down is a 503 too.
    let origin = start_with(
        Arc::new(FailingStore),
        Arc::new(MemoryRevocationStore::new(Mode::Denylist)),
    )
    .await;
    let elsewhere = start_app().await;
    let session = load_panel(&elsewhere, "", Some(ACCOUNT)).await;
    let answer = bearer(&format!("{origin}/api/session/whoami"), &session).await;
    assert_eq!(answer, Answer::failed(503, "secret-store-unavailable"));
}

/// Two app instances behind one Redis: the webhook lands on instance A, the page's next call
/// goes to instance B.
#[cfg(feature = "session-redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_on_one_instance_revokes_on_the_other() {
    use atlassian_connect_jwt::session::{RedisConfig, RedisRevocationStore};
    let Ok(url) = std::env::var("TEST_REDIS_URL") else {
        assert!(
            std::env::var("REQUIRE_REDIS").as_deref() != Ok("1"),
            "REQUIRE_REDIS=1 but TEST_REDIS_URL is unset"
        );
        eprintln!(
            "\n{0}\nSKIPPED: two instances over HTTP need TEST_REDIS_URL\n{0}\n",
            "!".repeat(78)
        );
        return;
    };
    let prefix = format!(
        "test:axum:{}:{}:",
        std::process::id(),
        UnixTime::now().as_secs()
    );
    let tenants = seeded_store().await;
    let mut origins = Vec::new();
    for _ in 0..2 {
        let store = RedisRevocationStore::connect(
            RedisConfig::new(url.as_str()).with_prefix(prefix.as_str()),
        )
        .await
        .unwrap();
        assert!(store.wait_synced(Duration::from_secs(5)).await);
        origins.push(start_with(tenants.clone(), Arc::new(store)).await);
    }
    let (a, b) = (&origins[0], &origins[1]);
    let token = load_panel(a, "", Some("557058:leaver")).await;
    let whoami_b = format!("{b}/api/session/whoami");
    assert_eq!(
        bearer(&whoami_b, &token).await,
        Answer::ok(whoami_body("557058:leaver"))
    );
    let delivered = deliver_user_deleted(a, "557058:leaver").await;
    assert_eq!(delivered.status, 204);
    let start = Instant::now();
    loop {
        let answer = bearer(&whoami_b, &token).await;
        if answer.status == 401 {
            assert_eq!(answer, refused("session-revoked"));
            break;
        }
        assert_eq!(answer.status, 200);
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "never revoked on B"
        );
    }
    eprintln!(
        "over HTTP: instance B refused {:?} after instance A's webhook answered",
        start.elapsed()
    );
}
