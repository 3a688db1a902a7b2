//! What `ConnectClient` adds to a request: a GET to a local fake product over a kept-alive
//! connection, sent with plain reqwest (no signing), as the app (URL checked, canonical
//! request hashed, JWT signed) and as a user whose token is cached.
//!
//! Run: `cargo bench --features client --bench client`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../tests/client_support/mod.rs"]
mod client_support;

use std::hint::black_box;
use std::time::Duration;

use atlassian_connect_jwt::ConnectClient;
use criterion::{criterion_group, criterion_main, Criterion};

use client_support::{authorization_server, tenant, FakeServer, Reply, APP_KEY, OAUTH_CLIENT_ID};

const TARGET: &str = "/rest/api/3/search?jql=project%20%3D%20PROJ&maxResults=50&fields=summary";

fn round_trips(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (product, auth) = runtime.block_on(async {
        (
            FakeServer::start(|_, _| Reply::ok("ok")).await,
            authorization_server(900, Duration::ZERO).await,
        )
    });
    let client = ConnectClient::builder(APP_KEY)
        .with_authorization_server(auth.url(""))
        .build()
        .unwrap();
    let jira = client
        .for_tenant(&tenant(&product.url(""), Some(OAUTH_CLIENT_ID)))
        .unwrap();
    let raw = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = product.url(TARGET);

    let mut group = c.benchmark_group("get_local_product");
    group.bench_function("reqwest_unsigned", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let response = raw.get(&url).send().await.unwrap();
                black_box(response.bytes().await.unwrap())
            })
        });
    });
    group.bench_function("as_app", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let response = jira.as_app().get(TARGET).send().await.unwrap();
                black_box(response.bytes().await.unwrap())
            })
        });
    });
    group.bench_function("as_user_cached_token", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let response = jira
                    .as_user("557058:bench-user", &["READ"])
                    .get(TARGET)
                    .send()
                    .await
                    .unwrap();
                black_box(response.bytes().await.unwrap())
            })
        });
    });
    group.finish();
    assert_eq!(auth.count(), 1);
}

criterion_group!(benches, round_trips);
criterion_main!(benches);
