//! What a tenant lookup costs per request, and an install per callback, for each store:
//! memory, SQLite on a file (the hop to its connection thread included) and PostgreSQL on
//! `TEST_POSTGRES_URL` (skipped without it), each called from a tokio runtime as an app does.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use atlassian_connect_jwt::{MemoryTenantStore, SqliteTenantStore, TenantStore};
use criterion::{criterion_group, criterion_main, Criterion};

use support::Body;

fn bench_store(
    c: &mut Criterion,
    name: &str,
    runtime: &tokio::runtime::Runtime,
    store: Arc<dyn TenantStore>,
) {
    let install = Body::installed("tenant-1", "secret")
        .installation_id("ari:bench")
        .install();
    runtime.block_on(store.save_install(&install)).unwrap();
    let mut group = c.benchmark_group(name);
    group.bench_function("get", |b| {
        b.iter(|| runtime.block_on(store.get(black_box("tenant-1"))).unwrap())
    });
    group.bench_function("get_by_installation_id", |b| {
        b.iter(|| {
            runtime
                .block_on(store.get_by_installation_id(black_box("ari:bench")))
                .unwrap()
        })
    });
    group.bench_function("save_install", |b| {
        b.iter(|| runtime.block_on(store.save_install(&install)).unwrap())
    });
    group.finish();
}

fn stores(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    bench_store(c, "memory", &runtime, Arc::new(MemoryTenantStore::new()));

    let dir = tempfile::tempdir().unwrap();
    let sqlite = runtime
        .block_on(SqliteTenantStore::open(dir.path().join("bench.db")))
        .unwrap();
    bench_store(c, "sqlite", &runtime, Arc::new(sqlite));

    #[cfg(feature = "postgres")]
    match std::env::var("TEST_POSTGRES_URL") {
        Ok(url) => {
            let schema = runtime.block_on(support::postgres::Schema::create(&url));
            let store = runtime
                .block_on(atlassian_connect_jwt::PostgresTenantStore::connect(
                    &schema.url,
                ))
                .unwrap();
            bench_store(c, "postgres", &runtime, Arc::new(store));
            runtime.block_on(schema.drop_schema());
        }
        Err(_) => eprintln!("SKIPPED: the postgres store bench needs TEST_POSTGRES_URL"),
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = stores
}
criterion_main!(benches);
