//! What the axum extractor adds to a verification (feature `axum`): the same typical iframe
//! request verified by `Verifier::verify` with a cached key, and by `ConnectRequest` from
//! `http` request parts with a tenant store that returns a row (a clone of a stored
//! `Tenant`, as a database store builds one per lookup). No network: the extractor is called
//! directly on a current-thread runtime.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;

use atlassian_connect_jwt::axum::{ConnectAuth, ConnectRequest};
use atlassian_connect_jwt::{
    BasePath, CanonicalRequest, InstalledTenant, QshPolicy, SharedSecret, Signer, StoreFuture,
    StoredTenant, Tenant, TenantKey, TenantStore, UninstalledTenant, UnixTime, Verifier,
};
use axum::extract::FromRequestParts;
use criterion::{criterion_group, criterion_main, Criterion};

const SECRET: &str = "connect-test-secret-0123456789abcdef0123";
const CLIENT_KEY: &str = "jira:1234-5678-9000";
const TARGET: &str = "/connect/issue-panel?xdm_e=https%3A%2F%2Fexample.atlassian.net&xdm_c=channel-com.example.app__issue-panel&cp=&xdm_deprecated_addon_key_do_not_use=com.example.app&lic=active&cv=1001.0.0-SNAPSHOT&issueKey=PROJ-123&issueId=10001&projectKey=PROJ&projectId=10000&tz=Australia%2FSydney&loc=en-US&user_id=admin";

/// One tenant, returned as a fresh row on every lookup.
struct OneRow(Tenant);

impl TenantStore for OneRow {
    fn get<'a>(&'a self, client_key: &'a str) -> StoreFuture<'a, Option<Tenant>> {
        let row = (client_key == self.0.client_key()).then(|| self.0.clone());
        Box::pin(async move { Ok(row) })
    }
    fn get_by_installation_id<'a>(&'a self, _: &'a str) -> StoreFuture<'a, Option<Tenant>> {
        Box::pin(async { Ok(None) })
    }
    fn save_install<'a>(&'a self, _: &'a InstalledTenant) -> StoreFuture<'a, bool> {
        Box::pin(async { Ok(false) })
    }
    fn mark_uninstalled<'a>(&'a self, _: &'a UninstalledTenant) -> StoreFuture<'a, bool> {
        Box::pin(async { Ok(false) })
    }
}

fn extractor(c: &mut Criterion) {
    let secret = SharedSecret::new(SECRET);
    let key = TenantKey::new(CLIENT_KEY, &secret).unwrap();
    let base = BasePath::parse("https://app.example.com/connect").unwrap();
    let request = CanonicalRequest::from_target("GET", TARGET, Some(&base)).unwrap();
    // Valid for the whole run: the extractor reads the clock.
    let token = Signer::new(CLIENT_KEY)
        .with_subject("557058:f0e1d2c3-b4a5-6789-0abc-def012345678")
        .with_lifetime(3600)
        .sign_request(&request, &key, UnixTime::now())
        .unwrap();
    let url = format!("{TARGET}&jwt={}", token.as_str());

    let cached: HashMap<String, TenantKey> = HashMap::from([(CLIENT_KEY.to_owned(), key)]);
    let store = OneRow(Tenant::from_stored(StoredTenant {
        client_key: CLIENT_KEY.to_owned(),
        shared_secret: secret,
        base_url: "https://example.atlassian.net".to_owned(),
        display_url: None,
        product_type: Some("jira".to_owned()),
        installation_id: None,
        oauth_client_id: None,
        installed: true,
    }));
    let auth = ConnectAuth::new(base.clone(), Arc::new(store));
    let (mut parts, ()) = axum::http::Request::get(url.as_str())
        .body(())
        .unwrap()
        .into_parts();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();

    let mut group = c.benchmark_group("axum");
    group.bench_function("iframe/Verifier::verify, cached key", |b| {
        b.iter(|| {
            let request =
                CanonicalRequest::from_target("GET", black_box(url.as_str()), Some(&base)).unwrap();
            let token = request.token(None).unwrap();
            Verifier::new()
                .verify(
                    token,
                    QshPolicy::Request(&request),
                    &cached,
                    UnixTime::now(),
                )
                .unwrap()
        })
    });
    group.bench_function("iframe/ConnectRequest extractor, store row", |b| {
        b.iter(|| {
            runtime
                .block_on(ConnectRequest::from_request_parts(
                    black_box(&mut parts),
                    &auth,
                ))
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, extractor);
criterion_main!(benches);
