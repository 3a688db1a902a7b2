//! The tower layer (feature `axum`) over real HTTP on 127.0.0.1: the policy chosen when the
//! layer is built, the proof in the request's extensions, the same answers as the extractors.
#![cfg(feature = "axum")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/connect_app.rs"]
mod app;

use std::sync::Arc;

use app::*;
use atlassian_connect_jwt::axum::{
    ConnectAuth, ConnectContext, ConnectLayer, ConnectRequest, ConnectRequestOrContext,
};
use atlassian_connect_jwt::{BasePath, TenantStore, UnixTime};
use axum::routing::{get, post};
use axum::{Extension, Router};

/// The same app as the extractor tests, verified by layers: one router per policy, merged.
fn layered_routes(auth: &ConnectAuth) -> Router {
    let request_bound = Router::new()
        .route(
            "/panel",
            get(|Extension(c): Extension<ConnectRequest>| async move { summary(c.into_parts()) }),
        )
        .route(
            "/webhook",
            post(|Extension(c): Extension<ConnectRequest>| async move { summary(c.into_parts()) }),
        )
        .route_layer(ConnectLayer::request(auth.clone()));
    let context = Router::new()
        .route(
            "/api/data",
            get(|Extension(c): Extension<ConnectContext>| async move { summary(c.into_parts()) }),
        )
        .route_layer(ConnectLayer::context(auth.clone()));
    let both = Router::new()
        .route(
            "/both",
            get(
                |Extension(c): Extension<ConnectRequestOrContext>| async move {
                    summary(c.into_parts())
                },
            ),
        )
        .route_layer(ConnectLayer::request_or_context(auth.clone()));
    request_bound.merge(context).merge(both)
}

fn summary(
    (verified, tenant): (
        atlassian_connect_jwt::Verified,
        atlassian_connect_jwt::Tenant,
    ),
) -> String {
    format!(
        "{} {} {} {}",
        verified.client_key(),
        verified.kind().as_str(),
        verified.account_id().unwrap_or("-"),
        tenant.base_url()
    )
}

async fn start_layered(store: Arc<dyn TenantStore>) -> String {
    let (listener, addr) = listener().await;
    let origin = format!("http://{addr}");
    let auth = ConnectAuth::new(BasePath::parse(&origin).unwrap(), store);
    serve(listener, layered_routes(&auth));
    origin
}

#[tokio::test]
async fn each_layer_accepts_its_kind_of_token() {
    let origin = start_layered(seeded_store().await).await;
    let bound = request_token(&tenant_key(), "GET", "/panel?a=1");
    assert_eq!(
        get_with(&format!("{origin}/panel?a=1&jwt={bound}"), &[]).await,
        Answer::ok(ok_body("request-bound"))
    );
    let post_token = request_token(&tenant_key(), "POST", "/webhook");
    assert_eq!(
        send(
            "POST",
            &format!("{origin}/webhook"),
            &[&format!("JWT {post_token}")]
        )
        .await,
        Answer::ok(ok_body("request-bound"))
    );
    let context = context_token(&tenant_key());
    assert_eq!(
        get_jwt(&format!("{origin}/api/data"), &context).await,
        Answer::ok(ok_body("context"))
    );
    let both = request_token(&tenant_key(), "GET", "/both");
    assert_eq!(
        get_jwt(&format!("{origin}/both"), &both).await,
        Answer::ok(ok_body("request-bound"))
    );
    assert_eq!(
        get_jwt(&format!("{origin}/both"), &context).await,
        Answer::ok(ok_body("context"))
    );
}

#[tokio::test]
async fn each_layer_refuses_the_other_kind() {
    let origin = start_layered(seeded_store().await).await;
    let context = context_token(&tenant_key());
    assert_eq!(
        get_jwt(&format!("{origin}/panel"), &context).await,
        Answer::refused("context-token-not-allowed")
    );
    let bound = request_token(&tenant_key(), "GET", "/api/data");
    assert_eq!(
        get_jwt(&format!("{origin}/api/data"), &bound).await,
        Answer::refused("context-token-required")
    );
}

#[tokio::test]
async fn layer_refusals_match_the_extractors() {
    let origin = start_layered(seeded_store().await).await;
    let url = format!("{origin}/panel");
    assert_eq!(get_with(&url, &[]).await, Answer::refused("missing-token"));
    let other = request_token(&tenant_key(), "GET", "/other");
    assert_eq!(get_jwt(&url, &other).await, Answer::refused("qsh-mismatch"));
    let long_ago = UnixTime::from_secs(UnixTime::now().as_secs() - 3600);
    let expired = request_token_at(&tenant_key(), "GET", "/panel", long_ago);
    assert_eq!(get_jwt(&url, &expired).await, Answer::refused("expired"));
    let stranger = request_token(&key(STRANGER, SECRET), "GET", "/panel");
    assert_eq!(
        get_jwt(&url, &stranger).await,
        Answer::refused("unknown-issuer")
    );
    let gone = request_token(&key(GONE, GONE_SECRET), "GET", "/panel");
    assert_eq!(
        get_jwt(&url, &gone).await,
        Answer::refused("unknown-issuer")
    );
    let forged = request_token(
        &key(TENANT, "not-the-tenant-secret-0123456789"),
        "GET",
        "/panel",
    );
    assert_eq!(
        get_jwt(&url, &forged).await,
        Answer::refused("invalid-signature")
    );
    let token = request_token(&tenant_key(), "GET", "/panel");
    assert_eq!(
        get_jwt(&format!("{url}?jwt={other}"), &token).await,
        Answer::refused("conflicting-tokens")
    );
}

#[tokio::test]
async fn layer_store_failures_are_503_and_500() {
    let origin = start_layered(Arc::new(FailingStore)).await;
    let token = request_token(&tenant_key(), "GET", "/panel");
    assert_eq!(
        get_jwt(&format!("{origin}/panel"), &token).await,
        Answer::failed(503, "secret-store-unavailable")
    );
    let origin = start_layered(Arc::new(WrongTenantStore)).await;
    assert_eq!(
        get_jwt(&format!("{origin}/panel"), &token).await,
        Answer::failed(500, "key-tenant-mismatch")
    );
}

/// `route_layer` leaves unmatched paths alone: a 404, not a 401.
#[tokio::test]
async fn unmatched_paths_are_not_found() {
    let origin = start_layered(seeded_store().await).await;
    let answer = reqwest::get(format!("{origin}/nowhere")).await.unwrap();
    assert_eq!(answer.status().as_u16(), 404);
}

/// Nested under a prefix that is part of the signed path: the layer, like the extractors,
/// hashes the original URI.
#[tokio::test]
async fn nested_layer_hashes_the_original_uri() {
    let (listener, addr) = listener().await;
    let origin = format!("http://{addr}");
    let auth = ConnectAuth::new(BasePath::parse(&origin).unwrap(), seeded_store().await);
    serve(
        listener,
        Router::new().nest("/connect", layered_routes(&auth)),
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

/// A layer around the whole router (outside routing, so before axum records `OriginalUri`)
/// sees the URI as received, and the base path of the app's base URL is stripped.
#[tokio::test]
async fn layer_around_the_whole_app_with_a_base_path() {
    use tower_layer::Layer as _;

    let (listener, addr) = listener().await;
    let base_url = format!("http://{addr}/app");
    let auth = ConnectAuth::new(BasePath::parse(&base_url).unwrap(), seeded_store().await);
    let routes = Router::new().nest(
        "/app",
        Router::new().route(
            "/panel",
            get(|Extension(c): Extension<ConnectRequest>| async move { summary(c.into_parts()) }),
        ),
    );
    let service = ConnectLayer::request(auth).layer(routes);
    tokio::spawn(async move {
        axum::serve(
            listener,
            axum::ServiceExt::<axum::extract::Request>::into_make_service(service),
        )
        .await
        .unwrap()
    });
    let token = request_token(&tenant_key(), "GET", "/panel?a=1");
    assert_eq!(
        get_jwt(&format!("{base_url}/panel?a=1"), &token).await,
        Answer::ok(ok_body("request-bound"))
    );
    assert_eq!(
        get_jwt(&format!("{base_url}/panel?a=2"), &token).await,
        Answer::refused("qsh-mismatch")
    );
}

/// A handler that reads the proof without its layer answers 500: it never runs unverified.
#[tokio::test]
async fn a_forgotten_layer_fails_closed() {
    let (listener, addr) = listener().await;
    let app = Router::new().route(
        "/panel",
        get(|Extension(c): Extension<ConnectRequest>| async move { summary(c.into_parts()) }),
    );
    serve(listener, app);
    let token = request_token(&tenant_key(), "GET", "/panel");
    let answer = get_jwt(&format!("http://{addr}/panel"), &token).await;
    assert_eq!(answer.status, 500);
    assert!(!answer.body.contains(TENANT), "{}", answer.body);
}
