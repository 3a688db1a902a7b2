//! What needs no product: the health check over a store that answers and one that does not,
//! and a configuration the app refuses to start with.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;

use atlassian_connect_jwt::session::{MemoryRevocationStore, Mode};
use atlassian_connect_jwt::{
    InstallKey, InstalledTenant, MemoryTenantStore, StoreError, StoreFuture, Tenant, TenantStore,
    UninstalledTenant,
};
use connect_app::{App, Settings};

/// A store whose database is down.
struct DownStore;

impl TenantStore for DownStore {
    fn get<'a>(&'a self, _: &'a str) -> StoreFuture<'a, Option<Tenant>> {
        Box::pin(async { Err(StoreError::new("connection refused")) })
    }
    fn get_by_installation_id<'a>(&'a self, _: &'a str) -> StoreFuture<'a, Option<Tenant>> {
        Box::pin(async { Err(StoreError::new("connection refused")) })
    }
    fn save_install<'a>(&'a self, _: &'a InstalledTenant) -> StoreFuture<'a, bool> {
        Box::pin(async { Err(StoreError::new("connection refused")) })
    }
    fn mark_uninstalled<'a>(&'a self, _: &'a UninstalledTenant) -> StoreFuture<'a, bool> {
        Box::pin(async { Err(StoreError::new("connection refused")) })
    }
}

async fn health(tenants: Arc<dyn TenantStore>) -> (u16, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let settings = Settings::new(&base_url, "memory:").unwrap();
    let keys: HashMap<String, InstallKey> = HashMap::new();
    let revocations = Arc::new(MemoryRevocationStore::new(Mode::Denylist));
    let app = App::with_parts(&settings, tenants, revocations, keys).unwrap();
    tokio::spawn(async move { axum::serve(listener, app.router()).await.unwrap() });
    let response = reqwest::get(format!("{base_url}/healthz")).await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn healthz_says_whether_the_tenant_store_answers() {
    assert_eq!(
        health(Arc::new(MemoryTenantStore::new())).await,
        (200, "ok".to_owned())
    );
    assert_eq!(
        health(Arc::new(DownStore)).await,
        (503, "tenant store unavailable".to_owned())
    );
}

#[test]
fn a_base_url_the_product_cannot_call_stops_the_app() {
    let out = Command::new(env!("CARGO_BIN_EXE_connect-app"))
        .env("CONNECT_APP_BASE_URL", "ftp://apps.example.com")
        .env("CONNECT_APP_DATABASE_URL", "memory:")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        log.contains("CONNECT_APP_BASE_URL must be http(s)://host[:port][/path]"),
        "{log}"
    );
}

#[test]
fn a_database_url_of_no_store_stops_the_app_without_echoing_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_connect-app"))
        .env("CONNECT_APP_LISTEN", "127.0.0.1:0")
        .env("CONNECT_APP_DATABASE_URL", "mysql://app:hunter2@db/app")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(log.contains("CONNECT_APP_DATABASE_URL"), "{log}");
    assert!(!log.contains("hunter2"), "{log}");
}
