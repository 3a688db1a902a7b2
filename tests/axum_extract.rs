//! The axum extractors (feature `axum`) over real HTTP on 127.0.0.1: each route policy, each
//! kind of refusal with its exact status, challenge and body, a store that fails, a broken
//! store, and routers nested under a prefix.
#![cfg(feature = "axum")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/connect_app.rs"]
mod app;

use std::sync::Arc;

use app::*;
use atlassian_connect_jwt::axum::{ConnectAuth, ConnectRequest};
use atlassian_connect_jwt::{BasePath, UnixTime};
use axum::routing::get;
use axum::Router;

#[tokio::test]
async fn iframe_route_accepts_its_request_bound_token() {
    let origin = start(seeded_store().await).await;
    let token = request_token(&tenant_key(), "GET", "/panel?b=2&a=x+y");
    // In the `jwt` parameter, as the product loads an iframe ...
    let url = format!("{origin}/panel?b=2&a=x+y&jwt={token}");
    assert_eq!(
        get_with(&url, &[]).await,
        Answer::ok(ok_body("request-bound"))
    );
    // ... or in the header, as the product calls a webhook.
    let url = format!("{origin}/panel?b=2&a=x+y");
    assert_eq!(
        get_jwt(&url, &token).await,
        Answer::ok(ok_body("request-bound"))
    );
    // Both, when they agree.
    let url = format!("{origin}/panel?b=2&a=x+y&jwt={token}");
    assert_eq!(
        get_jwt(&url, &token).await,
        Answer::ok(ok_body("request-bound"))
    );
}

#[tokio::test]
async fn escapes_are_hashed_as_received() {
    let origin = start(seeded_store().await).await;
    // The product signed the decoded-and-re-encoded form; the app receives escapes.
    let target = "/panel?q=%7e%20a&r=%E2%82%AC&s=a%2Cb";
    let token = request_token(&tenant_key(), "GET", target);
    let answer = get_jwt(&format!("{origin}{target}"), &token).await;
    assert_eq!(answer, Answer::ok(ok_body("request-bound")));
}

#[tokio::test]
async fn webhook_route_hashes_the_method() {
    let origin = start(seeded_store().await).await;
    let url = format!("{origin}/webhook?event=issue_updated");
    let post = request_token(&tenant_key(), "POST", "/webhook?event=issue_updated");
    assert_eq!(
        send("POST", &url, &[&format!("JWT {post}")]).await,
        Answer::ok(ok_body("request-bound"))
    );
    let get = request_token(&tenant_key(), "GET", "/webhook?event=issue_updated");
    assert_eq!(
        send("POST", &url, &[&format!("JWT {get}")]).await,
        Answer::refused("qsh-mismatch")
    );
}

#[tokio::test]
async fn context_route_accepts_a_context_token() {
    let origin = start(seeded_store().await).await;
    let answer = get_jwt(
        &format!("{origin}/api/data?page=2"),
        &context_token(&tenant_key()),
    )
    .await;
    assert_eq!(answer, Answer::ok(ok_body("context")));
}

/// CVE-2021-26073: a context token is bound to no request, so a request-bound route that
/// took one would accept it for any URL.
#[tokio::test]
async fn context_token_on_the_request_bound_route_is_refused() {
    let origin = start(seeded_store().await).await;
    let token = context_token(&tenant_key());
    let answer = get_jwt(&format!("{origin}/panel"), &token).await;
    assert_eq!(answer, Answer::refused("context-token-not-allowed"));
    let answer = get_with(&format!("{origin}/panel?jwt={token}"), &[]).await;
    assert_eq!(answer, Answer::refused("context-token-not-allowed"));
}

#[tokio::test]
async fn request_bound_token_on_the_context_route_is_refused() {
    let origin = start(seeded_store().await).await;
    let token = request_token(&tenant_key(), "GET", "/api/data");
    let answer = get_jwt(&format!("{origin}/api/data"), &token).await;
    assert_eq!(answer, Answer::refused("context-token-required"));
}

#[tokio::test]
async fn combined_route_accepts_both_and_tells_which() {
    let origin = start(seeded_store().await).await;
    let url = format!("{origin}/both?x=1");
    let bound = request_token(&tenant_key(), "GET", "/both?x=1");
    assert_eq!(
        get_jwt(&url, &bound).await,
        Answer::ok(ok_body("request-bound"))
    );
    let context = context_token(&tenant_key());
    assert_eq!(
        get_jwt(&url, &context).await,
        Answer::ok(ok_body("context"))
    );
    // A request-bound token is still bound to its request there.
    let other = request_token(&tenant_key(), "GET", "/both?x=2");
    assert_eq!(get_jwt(&url, &other).await, Answer::refused("qsh-mismatch"));
}

#[tokio::test]
async fn token_for_another_request_is_a_qsh_mismatch() {
    let origin = start(seeded_store().await).await;
    for signed in ["/other", "/panel?a=2", "/panel", "/panel?a=1&b=1"] {
        let token = request_token(&tenant_key(), "GET", signed);
        let answer = get_jwt(&format!("{origin}/panel?a=1"), &token).await;
        assert_eq!(
            answer,
            Answer::refused("qsh-mismatch"),
            "signed for {signed}"
        );
    }
}

#[tokio::test]
async fn expired_token_is_refused() {
    let origin = start(seeded_store().await).await;
    let long_ago = UnixTime::from_secs(UnixTime::now().as_secs() - 3600);
    let token = request_token_at(&tenant_key(), "GET", "/panel", long_ago);
    assert_eq!(
        get_jwt(&format!("{origin}/panel"), &token).await,
        Answer::refused("expired")
    );
}

#[tokio::test]
async fn unknown_and_uninstalled_tenants_are_refused_alike() {
    let origin = start(seeded_store().await).await;
    let url = format!("{origin}/panel");
    let stranger = request_token(&key(STRANGER, SECRET), "GET", "/panel");
    assert_eq!(
        get_jwt(&url, &stranger).await,
        Answer::refused("unknown-issuer")
    );
    // Signed with the secret it had when installed: the row is still there, not installed.
    let gone = request_token(&key(GONE, GONE_SECRET), "GET", "/panel");
    assert_eq!(
        get_jwt(&url, &gone).await,
        Answer::refused("unknown-issuer")
    );
    let gone = context_token(&key(GONE, GONE_SECRET));
    assert_eq!(
        get_jwt(&format!("{origin}/api/data"), &gone).await,
        Answer::refused("unknown-issuer")
    );
}

#[tokio::test]
async fn wrong_secret_is_refused() {
    let origin = start(seeded_store().await).await;
    let forged = request_token(
        &key(TENANT, "not-the-tenant-secret-0123456789"),
        "GET",
        "/panel",
    );
    assert_eq!(
        get_jwt(&format!("{origin}/panel"), &forged).await,
        Answer::refused("invalid-signature")
    );
}

#[tokio::test]
async fn missing_malformed_and_conflicting_tokens_are_refused() {
    let origin = start(seeded_store().await).await;
    let url = format!("{origin}/panel");
    assert_eq!(get_with(&url, &[]).await, Answer::refused("missing-token"));
    assert_eq!(
        get_with(&format!("{url}?jwt="), &[]).await,
        Answer::refused("missing-token")
    );
    assert_eq!(
        get_with(&url, &["Bearer abc.def.ghi"]).await,
        Answer::refused("invalid-authorization-header")
    );
    assert_eq!(
        get_with(&url, &["JWT not-a-token"]).await,
        Answer::refused("malformed-token")
    );
    let token = request_token(&tenant_key(), "GET", "/panel");
    let other = request_token(&tenant_key(), "GET", "/other");
    // Header and `jwt` parameter disagree.
    assert_eq!(
        get_jwt(&format!("{url}?jwt={other}"), &token).await,
        Answer::refused("conflicting-tokens")
    );
    // Two `jwt` parameters disagree.
    assert_eq!(
        get_with(&format!("{url}?jwt={token}&jwt={other}"), &[]).await,
        Answer::refused("conflicting-tokens")
    );
    // Two `Authorization` headers, even equal ones.
    let header = format!("JWT {token}");
    assert_eq!(
        get_with(&url, &[&header, &header]).await,
        Answer::refused("invalid-authorization-header")
    );
    // A request the product could never have signed.
    assert_eq!(
        get_with(&format!("{url}?a=%zz&jwt={token}"), &[]).await,
        Answer::refused("invalid-percent-encoding")
    );
}

#[tokio::test]
async fn a_store_that_cannot_answer_is_a_503() {
    let origin = start(Arc::new(FailingStore)).await;
    let token = request_token(&tenant_key(), "GET", "/panel");
    assert_eq!(
        get_jwt(&format!("{origin}/panel"), &token).await,
        Answer::failed(503, "secret-store-unavailable")
    );
    let token = context_token(&tenant_key());
    assert_eq!(
        get_jwt(&format!("{origin}/api/data"), &token).await,
        Answer::failed(503, "secret-store-unavailable")
    );
    // A token that fails before the lookup never reaches the store: still a verdict.
    assert_eq!(
        get_with(&format!("{origin}/panel"), &[]).await,
        Answer::refused("missing-token")
    );
}

#[tokio::test]
async fn a_store_returning_another_tenant_is_a_500() {
    let origin = start(Arc::new(WrongTenantStore)).await;
    // Signed with the secret the broken store returns, so only the tenant check can catch it.
    let token = request_token(&tenant_key(), "GET", "/panel");
    assert_eq!(
        get_jwt(&format!("{origin}/panel"), &token).await,
        Answer::failed(500, "key-tenant-mismatch")
    );
}

/// The app's base URL has a path and the routes are nested under it: the product signs the
/// path after the base, the router strips the prefix from `Uri`, the extractor hashes the
/// original URI with the base stripped.
#[tokio::test]
async fn nested_under_the_base_path() {
    let (listener, addr) = listener().await;
    let base_url = format!("http://{addr}/app");
    let auth = ConnectAuth::new(BasePath::parse(&base_url).unwrap(), seeded_store().await);
    serve(
        listener,
        Router::new()
            .nest("/app", extractor_routes())
            .with_state(auth),
    );
    let token = request_token(&tenant_key(), "GET", "/panel?a=1");
    assert_eq!(
        get_jwt(&format!("{base_url}/panel?a=1"), &token).await,
        Answer::ok(ok_body("request-bound"))
    );
    assert_eq!(
        get_with(&format!("{base_url}/panel?a=1&jwt={token}"), &[]).await,
        Answer::ok(ok_body("request-bound"))
    );
    let url = format!("{base_url}/webhook");
    let post = request_token(&tenant_key(), "POST", "/webhook");
    assert_eq!(
        send("POST", &url, &[&format!("JWT {post}")]).await,
        Answer::ok(ok_body("request-bound"))
    );
    assert_eq!(
        get_jwt(
            &format!("{base_url}/api/data"),
            &context_token(&tenant_key())
        )
        .await,
        Answer::ok(ok_body("context"))
    );
    // A token signed with the base path in it was not signed by the product.
    let with_base = request_token(&tenant_key(), "GET", "/app/panel?a=1");
    assert_eq!(
        get_jwt(&format!("{base_url}/panel?a=1"), &with_base).await,
        Answer::refused("qsh-mismatch")
    );
}

/// Routes nested under a prefix that is part of the signed path (base URL at the root): the
/// `Uri` a nested handler sees lacks `/connect`, the product signed it. A token for the
/// stripped path is refused, so the extractor demonstrably hashes `OriginalUri`.
#[tokio::test]
async fn nested_router_hashes_the_original_uri() {
    let (listener, addr) = listener().await;
    let origin = format!("http://{addr}");
    let auth = ConnectAuth::new(BasePath::parse(&origin).unwrap(), seeded_store().await);
    // A route that shows what `Uri` a nested handler sees.
    let routes = extractor_routes().route(
        "/uri",
        get(|uri: axum::http::Uri| async move { uri.to_string() }),
    );
    serve(
        listener,
        Router::new().nest("/connect", routes).with_state(auth),
    );
    assert_eq!(
        get_with(&format!("{origin}/connect/uri?a=1"), &[]).await,
        Answer::ok("/uri?a=1".to_owned())
    );
    let signed = request_token(&tenant_key(), "GET", "/connect/panel?a=1");
    assert_eq!(
        get_jwt(&format!("{origin}/connect/panel?a=1"), &signed).await,
        Answer::ok(ok_body("request-bound"))
    );
    let stripped = request_token(&tenant_key(), "GET", "/panel?a=1");
    assert_eq!(
        get_jwt(&format!("{origin}/connect/panel?a=1"), &stripped).await,
        Answer::refused("qsh-mismatch")
    );
}

/// A request in absolute form (`GET http://host/path?query HTTP/1.1`, as a proxy sends it)
/// hashes like the origin form.
#[tokio::test]
async fn absolute_form_request_target() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let origin = start(seeded_store().await).await;
    let token = request_token(&tenant_key(), "GET", "/panel?b=%7e&a=x+y");
    let addr = origin.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {origin}/panel?b=%7e&a=x+y&jwt={token} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.ends_with(&ok_body("request-bound")), "{response}");
}

/// The extractor needs only `ConnectAuth: FromRef<S>`: an app keeps it in its own state.
#[tokio::test]
async fn auth_from_a_field_of_the_app_state() {
    #[derive(Clone)]
    struct AppState {
        auth: ConnectAuth,
        greeting: &'static str,
    }
    impl axum::extract::FromRef<AppState> for ConnectAuth {
        fn from_ref(state: &AppState) -> Self {
            state.auth.clone()
        }
    }
    let (listener, addr) = listener().await;
    let origin = format!("http://{addr}");
    let state = AppState {
        auth: ConnectAuth::new(BasePath::parse(&origin).unwrap(), seeded_store().await),
        greeting: "hello",
    };
    let app = Router::new()
        .route(
            "/panel",
            get(
                |axum::extract::State(state): axum::extract::State<AppState>,
                 connect: ConnectRequest| async move {
                    format!("{} {}", state.greeting, connect.verified().client_key())
                },
            ),
        )
        .with_state(state);
    serve(listener, app);
    let token = request_token(&tenant_key(), "GET", "/panel");
    assert_eq!(
        get_jwt(&format!("{origin}/panel"), &token).await,
        Answer::ok(format!("hello {TENANT}"))
    );
}

/// An app that wants its own answer takes the `Result` and maps the rejection.
#[tokio::test]
async fn handlers_may_answer_a_rejection_themselves() {
    use atlassian_connect_jwt::axum::ConnectRejection;
    use axum::http::StatusCode;

    let (listener, addr) = listener().await;
    let origin = format!("http://{addr}");
    let auth = ConnectAuth::new(BasePath::parse(&origin).unwrap(), seeded_store().await);
    let app = Router::new()
        .route(
            "/panel",
            get(
                |connect: Result<ConnectRequest, ConnectRejection>| async move {
                    match connect {
                        Ok(connect) => (StatusCode::OK, connect.verified().client_key().to_owned()),
                        Err(rejection) => (
                            StatusCode::FORBIDDEN,
                            format!(
                                "custom {} {}",
                                rejection.status().as_u16(),
                                rejection.error().code()
                            ),
                        ),
                    }
                },
            ),
        )
        .with_state(auth);
    serve(listener, app);
    let answer = reqwest::get(format!("{origin}/panel")).await.unwrap();
    assert_eq!(answer.status().as_u16(), 403);
    assert_eq!(answer.text().await.unwrap(), "custom 401 missing-token");
}
