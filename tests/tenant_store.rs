//! One conformance suite for every tenant store (memory; SQLite on a temporary file, feature
//! `sqlite`; PostgreSQL on `TEST_POSTGRES_URL`, feature `postgres`), then what only one
//! backend can show: a restart keeps the SQLite file's tenants, two PostgreSQL instances see
//! each other's installs, a stopped PostgreSQL server is a `StoreError` and the store recovers.
//!
//! Every case starts from an empty store and counts the table's rows with a connection of
//! its own, not through the store under test.
#![cfg(feature = "signed-install")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/mod.rs"]
mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use atlassian_connect_jwt::{
    AsyncSecretStore, Error, MemoryTenantStore, QshPolicy, TenantStore, Unavailable, UnixTime,
    Verifier,
};
use serde_json::json;

use support::{hs256, install, uninstall, Body, NOW};

type Rows = Box<dyn Fn() -> Pin<Box<dyn Future<Output = usize> + Send>> + Send + Sync>;

/// A store under test, and a count of its rows read beside it.
struct Subject {
    store: Arc<dyn TenantStore>,
    rows: Rows,
    cleanup: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl Subject {
    async fn rows(&self) -> usize {
        (self.rows)().await
    }

    /// Drops the store and the row counter, then cleans up (a PostgreSQL schema dropped).
    async fn finish(self) {
        let Self {
            store,
            rows,
            cleanup,
        } = self;
        drop((store, rows));
        if let Some(cleanup) = cleanup {
            cleanup.await;
        }
    }
}

fn memory() -> Subject {
    let store = Arc::new(MemoryTenantStore::new());
    let counted = store.clone();
    Subject {
        store,
        rows: Box::new(move || {
            let n = counted.len();
            Box::pin(async move { n })
        }),
        cleanup: None,
    }
}

/// The conformance cases, each an `async fn(&Subject)`.
mod cases {
    use super::*;

    pub(crate) async fn unknown_tenant(s: &Subject) {
        assert!(s.store.get("nobody").await.unwrap().is_none());
        assert!(s
            .store
            .get_by_installation_id("ari:nothing")
            .await
            .unwrap()
            .is_none());
        assert!(!s
            .store
            .mark_uninstalled(&uninstall("nobody"))
            .await
            .unwrap());
        assert_eq!(s.rows().await, 0, "an unknown uninstall wrote a row");
    }

    pub(crate) async fn install_round_trips(s: &Subject) {
        let mut body = Body::installed("tenant-1", "secret-1").installation_id("ari:i-1");
        body.display_url = Some("https://jira.example.org".to_owned());
        body.oauth_client_id = Some("oauth-1".to_owned());
        assert!(
            s.store.save_install(&body.install()).await.unwrap(),
            "first install"
        );
        let t = s.store.get("tenant-1").await.unwrap().unwrap();
        assert_eq!(t.client_key(), "tenant-1");
        assert_eq!(t.shared_secret().expose(), "secret-1");
        assert_eq!(t.base_url(), "https://tenant-1.atlassian.net");
        assert_eq!(t.display_url(), Some("https://jira.example.org"));
        assert_eq!(t.product_type(), Some("jira"));
        assert_eq!(t.installation_id(), Some("ari:i-1"));
        assert_eq!(t.oauth_client_id(), Some("oauth-1"));
        assert!(t.is_installed());
        assert_eq!(t.key().unwrap().client_key(), "tenant-1");
        let by_id = s
            .store
            .get_by_installation_id("ari:i-1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(by_id.client_key(), "tenant-1");
        // Absent optional members read back as absent.
        let mut bare = Body::installed("tenant-2", "secret-2");
        bare.product_type = None;
        assert!(s.store.save_install(&bare.install()).await.unwrap());
        let t = s.store.get("tenant-2").await.unwrap().unwrap();
        assert_eq!(
            (
                t.display_url(),
                t.product_type(),
                t.installation_id(),
                t.oauth_client_id()
            ),
            (None, None, None, None)
        );
        assert_eq!(s.rows().await, 2);
    }

    pub(crate) async fn reinstall_replaces_the_row(s: &Subject) {
        assert!(s
            .store
            .save_install(&install("tenant-1", "old"))
            .await
            .unwrap());
        let mut again = Body::installed("tenant-1", "new");
        again.base_url = "https://renamed.atlassian.net".to_owned();
        assert!(
            !s.store.save_install(&again.install()).await.unwrap(),
            "a reinstall"
        );
        let t = s.store.get("tenant-1").await.unwrap().unwrap();
        assert_eq!(t.shared_secret().expose(), "new");
        assert_eq!(t.base_url(), "https://renamed.atlassian.net");
        assert_eq!(s.rows().await, 1);
    }

    pub(crate) async fn uninstall_keeps_the_row(s: &Subject) {
        s.store
            .save_install(&install("tenant-1", "secret"))
            .await
            .unwrap();
        assert!(s
            .store
            .mark_uninstalled(&uninstall("tenant-1"))
            .await
            .unwrap());
        let t = s.store.get("tenant-1").await.unwrap().unwrap();
        assert!(!t.is_installed());
        assert_eq!(t.shared_secret().expose(), "secret");
        // A second uninstall still knows the tenant.
        assert!(s
            .store
            .mark_uninstalled(&uninstall("tenant-1"))
            .await
            .unwrap());
        assert_eq!(s.rows().await, 1);
    }

    pub(crate) async fn reinstall_after_uninstall(s: &Subject) {
        s.store
            .save_install(&install("tenant-1", "first"))
            .await
            .unwrap();
        s.store
            .mark_uninstalled(&uninstall("tenant-1"))
            .await
            .unwrap();
        assert!(!s
            .store
            .save_install(&install("tenant-1", "second"))
            .await
            .unwrap());
        let t = s.store.get("tenant-1").await.unwrap().unwrap();
        assert!(t.is_installed());
        assert_eq!(t.shared_secret().expose(), "second");
        assert_eq!(s.rows().await, 1);
    }

    pub(crate) async fn installation_id_moves_between_client_keys(s: &Subject) {
        let a = Body::installed("tenant-a", "a").installation_id("ari:x");
        s.store.save_install(&a.install()).await.unwrap();
        let b = Body::installed("tenant-b", "b").installation_id("ari:x");
        s.store.save_install(&b.install()).await.unwrap();
        let holder = s
            .store
            .get_by_installation_id("ari:x")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(holder.client_key(), "tenant-b");
        let a_now = s.store.get("tenant-a").await.unwrap().unwrap();
        assert_eq!(a_now.installation_id(), None, "the old holder keeps the id");
        assert_eq!(a_now.shared_secret().expose(), "a");
        // tenant-a takes a new id; tenant-b reinstalls without one and releases its own.
        let a2 = Body::installed("tenant-a", "a").installation_id("ari:y");
        s.store.save_install(&a2.install()).await.unwrap();
        s.store
            .save_install(&install("tenant-b", "b"))
            .await
            .unwrap();
        assert!(s
            .store
            .get_by_installation_id("ari:x")
            .await
            .unwrap()
            .is_none());
        let y = s
            .store
            .get_by_installation_id("ari:y")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(y.client_key(), "tenant-a");
        // An uninstall keeps the id with its row.
        s.store
            .mark_uninstalled(&uninstall("tenant-a"))
            .await
            .unwrap();
        let y = s
            .store
            .get_by_installation_id("ari:y")
            .await
            .unwrap()
            .unwrap();
        assert!(!y.is_installed());
        assert_eq!(s.rows().await, 2);
    }

    pub(crate) async fn concurrent_installs_of_one_client_key(s: &Subject) {
        let secrets: Vec<String> = (0..32).map(|i| format!("secret-{i:02}")).collect();
        let installs: Vec<_> = secrets
            .iter()
            .map(|secret| {
                Body::installed("tenant-1", secret)
                    .installation_id("ari:one")
                    .install()
            })
            .collect();
        let tasks: Vec<_> = installs
            .into_iter()
            .map(|install| {
                let store = s.store.clone();
                tokio::spawn(async move { store.save_install(&install).await })
            })
            .collect();
        let mut firsts = 0;
        for task in tasks {
            firsts += usize::from(task.await.unwrap().unwrap());
        }
        assert_eq!(firsts, 1, "exactly one install is the first");
        assert_eq!(s.rows().await, 1);
        let t = s.store.get("tenant-1").await.unwrap().unwrap();
        assert!(secrets
            .iter()
            .any(|secret| secret == t.shared_secret().expose()));
        assert_eq!(
            s.store
                .get_by_installation_id("ari:one")
                .await
                .unwrap()
                .unwrap()
                .client_key(),
            "tenant-1"
        );
    }

    pub(crate) async fn concurrent_installs_racing_for_one_installation_id(s: &Subject) {
        let installs: Vec<_> = (0..16)
            .map(|i| {
                Body::installed(&format!("tenant-{i:02}"), "secret")
                    .installation_id("ari:contested")
                    .install()
            })
            .collect();
        let tasks: Vec<_> = installs
            .into_iter()
            .map(|install| {
                let store = s.store.clone();
                tokio::spawn(async move { store.save_install(&install).await })
            })
            .collect();
        for task in tasks {
            assert!(task.await.unwrap().unwrap(), "every tenant is new");
        }
        assert_eq!(s.rows().await, 16);
        let holder = s
            .store
            .get_by_installation_id("ari:contested")
            .await
            .unwrap()
            .unwrap();
        let mut holders = 0;
        for i in 0..16 {
            let t = s
                .store
                .get(&format!("tenant-{i:02}"))
                .await
                .unwrap()
                .unwrap();
            if t.installation_id() == Some("ari:contested") {
                holders += 1;
                assert_eq!(t.client_key(), holder.client_key());
            }
        }
        assert_eq!(holders, 1);
    }

    pub(crate) async fn unicode_and_long_values_round_trip(s: &Subject) {
        let client_key = format!("ключ-🔑-客户-{}", "k".repeat(500));
        let secret = format!("秘密-\u{1F510}-{}", "s\u{00e9}".repeat(4000));
        let mut body = Body::installed(&client_key, &secret).installation_id(&format!(
            "ari:cloud:ecosystem::installation/{}",
            "é".repeat(300)
        ));
        body.base_url = "https://ünïcödé.example/wiki".to_owned();
        body.display_url = Some(format!("https://{}.example", "d".repeat(2000)));
        body.oauth_client_id = Some("\"quoted\" 'and' \\back\\slashed\t".to_owned());
        s.store.save_install(&body.install()).await.unwrap();
        let t = s.store.get(&client_key).await.unwrap().unwrap();
        assert_eq!(t.client_key(), client_key);
        assert_eq!(t.shared_secret().expose(), secret);
        assert_eq!(t.base_url(), body.base_url);
        assert_eq!(t.display_url(), body.display_url.as_deref());
        assert_eq!(t.installation_id(), body.installation_id.as_deref());
        assert_eq!(t.oauth_client_id(), body.oauth_client_id.as_deref());
        let by_id = s
            .store
            .get_by_installation_id(body.installation_id.as_deref().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(by_id.client_key(), client_key);
        // Lookups are exact: no case folding, no prefix match.
        assert!(s
            .store
            .get(&client_key.to_uppercase())
            .await
            .unwrap()
            .is_none());
        assert!(s.store.get("ключ-🔑-客户").await.unwrap().is_none());
        assert_eq!(s.rows().await, 1);
    }

    pub(crate) async fn secret_store_view(s: &Subject) {
        let claims = json!({
            "iss": "tenant-1", "iat": NOW - 10, "exp": NOW + 170, "qsh": "context-qsh",
        });
        let token = hs256("the-secret", &claims);
        let verify = |token: String| {
            let store = s.store.clone();
            async move {
                let view: &dyn TenantStore = &*store;
                Verifier::new()
                    .verify_async(&token, QshPolicy::Context, view, UnixTime::from_secs(NOW))
                    .await
                    .map(|verified| verified.client_key().to_owned())
            }
        };
        assert_eq!(verify(token.clone()).await, Err(Error::UnknownIssuer));
        s.store
            .save_install(&install("tenant-1", "the-secret"))
            .await
            .unwrap();
        assert_eq!(verify(token.clone()).await.unwrap(), "tenant-1");
        // A token signed with another secret is refused by the stored one.
        assert_eq!(
            verify(hs256("another-secret", &claims)).await,
            Err(Error::InvalidSignature)
        );
        let view: &dyn TenantStore = &*s.store;
        assert!(view.tenant_key("tenant-1").await.unwrap().is_some());
        s.store
            .mark_uninstalled(&uninstall("tenant-1"))
            .await
            .unwrap();
        assert_eq!(verify(token).await, Err(Error::UnknownIssuer));
        assert!(view.tenant_key("tenant-1").await.unwrap().is_none());
    }

    /// Error conversion, checked once here for every backend's error type.
    pub(crate) async fn store_errors_are_unavailable(_: &Subject) {
        let error = atlassian_connect_jwt::StoreError::new("down");
        assert_eq!(
            Error::from(error),
            Error::Unavailable(Unavailable::SecretStore)
        );
    }
}

/// One test per case for a backend: `$make` is an async expression giving
/// `Option<Subject>` (`None`: skipped).
macro_rules! conformance {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;

            conformance!(@case $make, unknown_tenant);
            conformance!(@case $make, install_round_trips);
            conformance!(@case $make, reinstall_replaces_the_row);
            conformance!(@case $make, uninstall_keeps_the_row);
            conformance!(@case $make, reinstall_after_uninstall);
            conformance!(@case $make, installation_id_moves_between_client_keys);
            conformance!(@case $make, concurrent_installs_of_one_client_key);
            conformance!(@case $make, concurrent_installs_racing_for_one_installation_id);
            conformance!(@case $make, unicode_and_long_values_round_trip);
            conformance!(@case $make, secret_store_view);
            conformance!(@case $make, store_errors_are_unavailable);
        }
    };
    (@case $make:expr, $case:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $case() {
            if let Some(subject) = $make.await {
                cases::$case(&subject).await;
                subject.finish().await;
            }
        }
    };
}

conformance!(memory_store, async { Some(memory()) });

#[cfg(feature = "sqlite")]
conformance!(sqlite_store, sqlite::subject());

#[cfg(feature = "postgres")]
conformance!(postgres_store, postgres::subject());

#[cfg(feature = "sqlite")]
#[path = "tenant_store/sqlite.rs"]
mod sqlite;

#[cfg(feature = "postgres")]
#[path = "tenant_store/postgres.rs"]
mod postgres;
