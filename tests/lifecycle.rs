//! `Lifecycle::handle`: signed `installed`/`uninstalled` callbacks verified, then written to
//! the tenant store; every forged or misdirected callback refused with its exact error and
//! without touching the store. Run over the memory store, SQLite (feature `sqlite`) and
//! PostgreSQL (feature `postgres` and `TEST_POSTGRES_URL`).
#![cfg(feature = "signed-install")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use atlassian_connect_jwt::{
    AsyncSecretStore, CanonicalRequest, ConfigError, Error, InstallKey, InstallVerifier,
    InstalledTenant, Lifecycle, LifecycleCallback, LifecycleOutcome, LifecyclePaths,
    MemoryTenantStore, PayloadDefect, StoreError, StoreFuture, Tenant, TenantStore, Unavailable,
    UninstalledTenant, UnixTime,
};
use serde_json::json;

use support::{atlassian, attacker, claims, hs256, keys, Body, APP_KEY, BASE, KID, NOW};

/// A store that counts every call before passing it on: a refused callback must make none.
struct Counting {
    inner: Arc<dyn TenantStore>,
    calls: AtomicUsize,
}

impl Counting {
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn count(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }
}

impl TenantStore for Counting {
    fn get<'a>(&'a self, client_key: &'a str) -> StoreFuture<'a, Option<Tenant>> {
        self.count();
        self.inner.get(client_key)
    }

    fn get_by_installation_id<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Tenant>> {
        self.count();
        self.inner.get_by_installation_id(id)
    }

    fn save_install<'a>(&'a self, install: &'a InstalledTenant) -> StoreFuture<'a, bool> {
        self.count();
        self.inner.save_install(install)
    }

    fn mark_uninstalled<'a>(&'a self, uninstall: &'a UninstalledTenant) -> StoreFuture<'a, bool> {
        self.count();
        self.inner.mark_uninstalled(uninstall)
    }
}

/// A store whose database is down.
struct Down;

impl TenantStore for Down {
    fn get<'a>(&'a self, _: &'a str) -> StoreFuture<'a, Option<Tenant>> {
        Box::pin(async { Err(StoreError::new("get: down")) })
    }

    fn get_by_installation_id<'a>(&'a self, _: &'a str) -> StoreFuture<'a, Option<Tenant>> {
        Box::pin(async { Err(StoreError::new("get: down")) })
    }

    fn save_install<'a>(&'a self, _: &'a InstalledTenant) -> StoreFuture<'a, bool> {
        Box::pin(async { Err(StoreError::new("save_install: down")) })
    }

    fn mark_uninstalled<'a>(&'a self, _: &'a UninstalledTenant) -> StoreFuture<'a, bool> {
        Box::pin(async { Err(StoreError::new("mark_uninstalled: down")) })
    }
}

/// An app: its lifecycle handler over a counted store of one backend.
struct App {
    lifecycle: Lifecycle<HashMap<String, InstallKey>>,
    store: Arc<Counting>,
    cleanup: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl App {
    fn new(
        store: Arc<dyn TenantStore>,
        cleanup: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    ) -> Self {
        let store = Arc::new(Counting {
            inner: store,
            calls: AtomicUsize::new(0),
        });
        let lifecycle = Lifecycle::new(InstallVerifier::new(BASE).unwrap(), keys(), store.clone())
            .with_app_key(APP_KEY);
        Self {
            lifecycle,
            store,
            cleanup,
        }
    }

    async fn call(
        &self,
        path: &str,
        authorization: Option<&str>,
        body: &str,
    ) -> Result<LifecycleOutcome, Error> {
        let request = CanonicalRequest::from_target("POST", path, None).unwrap();
        let callback = LifecycleCallback {
            request: &request,
            authorization,
            body,
        };
        self.lifecycle
            .handle(callback, UnixTime::from_secs(NOW))
            .await
    }

    /// The product's own callback for `body`.
    async fn deliver(&self, body: &Body) -> Result<LifecycleOutcome, Error> {
        let header = format!("JWT {}", body.token());
        self.call(body.path(), Some(&header), &body.json()).await
    }

    /// (shared secret, installed) of `client_key`, read past the counter.
    async fn state(&self, client_key: &str) -> Option<(String, bool)> {
        self.store
            .inner
            .get(client_key)
            .await
            .unwrap()
            .map(|t| (t.shared_secret().expose().to_owned(), t.is_installed()))
    }

    async fn finish(mut self) {
        if let Some(cleanup) = self.cleanup.take() {
            cleanup.await;
        }
    }
}

fn jwt(token: &str) -> String {
    format!("JWT {token}")
}

/// The lifecycle cases, each an `async fn(&App)`.
mod cases {
    use super::*;

    pub(crate) async fn install_reinstall_uninstall(app: &App) {
        let body = Body::installed("tenant-1", "secret-1").installation_id("ari:inst-1");
        assert_eq!(
            app.deliver(&body).await,
            Ok(LifecycleOutcome::Installed {
                client_key: "tenant-1".to_owned(),
                first_install: true
            })
        );
        assert_eq!(app.store.calls(), 1, "exactly one store write");
        assert_eq!(
            app.state("tenant-1").await,
            Some(("secret-1".to_owned(), true))
        );
        let by_id = app
            .store
            .inner
            .get_by_installation_id("ari:inst-1")
            .await
            .unwrap();
        assert_eq!(
            by_id.unwrap().client_key(),
            "tenant-1",
            "installationId kept"
        );

        // A verified reinstall rotates the secret.
        let again = Body::installed("tenant-1", "secret-2").installation_id("ari:inst-1");
        assert_eq!(
            app.deliver(&again).await,
            Ok(LifecycleOutcome::Installed {
                client_key: "tenant-1".to_owned(),
                first_install: false
            })
        );
        assert_eq!(
            app.state("tenant-1").await,
            Some(("secret-2".to_owned(), true))
        );

        // A verified uninstall keeps the row and stops the tenant's tokens.
        assert_eq!(
            app.deliver(&Body::uninstalled("tenant-1")).await,
            Ok(LifecycleOutcome::Uninstalled {
                client_key: "tenant-1".to_owned(),
                was_known: true
            })
        );
        assert_eq!(app.store.calls(), 3);
        assert_eq!(
            app.state("tenant-1").await,
            Some(("secret-2".to_owned(), false))
        );
        let view: &dyn TenantStore = &*app.store.inner;
        assert!(view.tenant_key("tenant-1").await.unwrap().is_none());

        // An uninstall of a tenant never seen: a success that changed nothing.
        assert_eq!(
            app.deliver(&Body::uninstalled("tenant-unknown")).await,
            Ok(LifecycleOutcome::Uninstalled {
                client_key: "tenant-unknown".to_owned(),
                was_known: false
            })
        );
        assert_eq!(app.state("tenant-unknown").await, None);

        // Reinstalled after the uninstall.
        assert_eq!(
            app.deliver(&Body::installed("tenant-1", "secret-3")).await,
            Ok(LifecycleOutcome::Installed {
                client_key: "tenant-1".to_owned(),
                first_install: false
            })
        );
        assert_eq!(
            app.state("tenant-1").await,
            Some(("secret-3".to_owned(), true))
        );
        assert!(view.tenant_key("tenant-1").await.unwrap().is_some());
    }

    /// Every attack, against an installed tenant and then against an uninstalled one.
    pub(crate) async fn attacks_change_nothing(app: &App) {
        app.deliver(&Body::installed("tenant-1", "the-real-secret"))
            .await
            .unwrap();
        refuse_all(app, true).await;
        app.deliver(&Body::uninstalled("tenant-1")).await.unwrap();
        refuse_all(app, false).await;
    }

    async fn refuse_all(app: &App, installed: bool) {
        let forged = Body::installed("tenant-1", "attacker-secret");
        let forged_json = forged.json();
        let install_claims = claims("tenant-1", "/installed");
        let uninstall_claims = claims("tenant-1", "/uninstalled");
        let uninstall_json = Body::uninstalled("tenant-1").json();
        let mut other_app = forged.clone();
        other_app.key = "another-app".to_owned();
        let mut wrong_aud = install_claims.clone();
        wrong_aud["aud"] = json!("https://evil.example");
        let mut expired = install_claims.clone();
        expired["iat"] = json!(NOW - 400);
        expired["exp"] = json!(NOW - 200);
        let mut uninstall_event_at_installed = forged.clone();
        uninstall_event_at_installed.event_type = "uninstalled";

        let attacks: Vec<(&str, &str, Option<String>, String, Error)> = vec![
            (
                "forged reinstall: HS256 signed with the secret its body announces",
                "/installed",
                Some(jwt(&hs256("attacker-secret", &install_claims))),
                forged_json.clone(),
                Error::SymmetricTokenOnLifecycleRoute,
            ),
            (
                "a kid Atlassian never published",
                "/installed",
                Some(jwt(&attacker().sign("attacker-kid", &install_claims))),
                forged_json.clone(),
                Error::UnknownKeyId,
            ),
            (
                "Atlassian's kid, another key",
                "/installed",
                Some(jwt(&attacker().sign(KID, &install_claims))),
                forged_json.clone(),
                Error::InvalidSignature,
            ),
            (
                "a genuine token for another app's base URL",
                "/installed",
                Some(jwt(&atlassian().sign(KID, &wrong_aud))),
                forged_json.clone(),
                Error::AudienceMismatch,
            ),
            (
                "a genuine uninstalled token on the install path",
                "/installed",
                Some(jwt(&atlassian().sign(KID, &uninstall_claims))),
                forged_json.clone(),
                Error::WrongLifecycleEvent,
            ),
            (
                "a genuine install token with an uninstalled body",
                "/installed",
                Some(jwt(&atlassian().sign(KID, &install_claims))),
                uninstall_event_at_installed.json(),
                Error::WrongLifecycleEvent,
            ),
            (
                "a genuine uninstall token with an installed body, at the uninstall path",
                "/uninstalled",
                Some(jwt(&atlassian().sign(KID, &uninstall_claims))),
                forged_json.clone(),
                Error::WrongLifecycleEvent,
            ),
            (
                "the attacker's own tenant's genuine token, the victim's clientKey in the body",
                "/installed",
                Some(jwt(
                    &atlassian().sign(KID, &claims("tenant-evil", "/installed"))
                )),
                forged_json.clone(),
                Error::IssuerMismatch,
            ),
            (
                "a genuine token, the body of another app",
                "/installed",
                Some(jwt(&atlassian().sign(KID, &install_claims))),
                other_app.json(),
                Error::AppKeyMismatch,
            ),
            (
                "an expired genuine token",
                "/installed",
                Some(jwt(&atlassian().sign(KID, &expired))),
                forged_json.clone(),
                Error::Expired {
                    exp: NOW - 200,
                    now: NOW,
                },
            ),
            (
                "forged uninstall: HS256",
                "/uninstalled",
                Some(jwt(&hs256("the-real-secret", &uninstall_claims))),
                uninstall_json.clone(),
                Error::SymmetricTokenOnLifecycleRoute,
            ),
            (
                "forged uninstall: another key",
                "/uninstalled",
                Some(jwt(&attacker().sign(KID, &uninstall_claims))),
                uninstall_json.clone(),
                Error::InvalidSignature,
            ),
            (
                "no token",
                "/installed",
                None,
                forged_json.clone(),
                Error::MissingToken,
            ),
            (
                "not a JWT authorization",
                "/installed",
                Some("Bearer abc".to_owned()),
                forged_json.clone(),
                Error::InvalidAuthorizationHeader,
            ),
            (
                "a body that is not JSON",
                "/installed",
                Some(jwt(&atlassian().sign(KID, &install_claims))),
                "sharedSecret=attacker".to_owned(),
                Error::InvalidLifecyclePayload(PayloadDefect::NotJson),
            ),
            (
                "a genuine token for a path the handler was not configured for",
                "/lifecycle/installed",
                Some(jwt(
                    &atlassian().sign(KID, &claims("tenant-1", "/lifecycle/installed"))
                )),
                forged_json.clone(),
                Error::Config(ConfigError::NotALifecyclePath),
            ),
        ];
        for (attack, path, authorization, body, expected) in attacks {
            let calls = app.store.calls();
            let refused = app.call(path, authorization.as_deref(), &body).await;
            assert_eq!(refused, Err(expected), "{attack}");
            assert_eq!(app.store.calls(), calls, "{attack}: the store was touched");
            assert_eq!(
                app.state("tenant-1").await,
                Some(("the-real-secret".to_owned(), installed)),
                "{attack}: the tenant changed"
            );
            assert_eq!(app.state("tenant-evil").await, None, "{attack}");
        }
    }
}

/// One test per case for a backend: `$make` is an async expression giving `Option<App>`.
macro_rules! lifecycle {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;

            #[tokio::test]
            async fn install_reinstall_uninstall() {
                if let Some(app) = $make.await {
                    cases::install_reinstall_uninstall(&app).await;
                    app.finish().await;
                }
            }

            #[tokio::test]
            async fn attacks_change_nothing() {
                if let Some(app) = $make.await {
                    cases::attacks_change_nothing(&app).await;
                    app.finish().await;
                }
            }
        }
    };
}

lifecycle!(memory_store, async {
    Some(App::new(Arc::new(MemoryTenantStore::new()), None))
});

#[cfg(feature = "sqlite")]
lifecycle!(sqlite_store, async {
    let dir = tempfile::tempdir().unwrap();
    let store = atlassian_connect_jwt::SqliteTenantStore::open(dir.path().join("t.db"))
        .await
        .unwrap();
    Some(App::new(
        Arc::new(store),
        Some(Box::pin(async move { drop(dir) })),
    ))
});

#[cfg(feature = "postgres")]
lifecycle!(postgres_store, async {
    let base = support::postgres::url_or_skip("the lifecycle over PostgreSQL")?;
    let schema = support::postgres::Schema::create(&base).await;
    let store = atlassian_connect_jwt::PostgresTenantStore::connect(&schema.url)
        .await
        .unwrap();
    Some(App::new(
        Arc::new(store),
        Some(Box::pin(schema.drop_schema())),
    ))
});

#[tokio::test]
async fn a_store_that_cannot_write_is_unavailable_after_verification() {
    let lifecycle = Lifecycle::new(InstallVerifier::new(BASE).unwrap(), keys(), Arc::new(Down));
    let body = Body::installed("tenant-1", "s");
    let request = CanonicalRequest::from_target("POST", "/installed", None).unwrap();
    let header = jwt(&body.token());
    let json = body.json();
    let callback = LifecycleCallback {
        request: &request,
        authorization: Some(&header),
        body: &json,
    };
    assert_eq!(
        lifecycle.handle(callback, UnixTime::from_secs(NOW)).await,
        Err(Error::Unavailable(Unavailable::SecretStore))
    );
    let body = Body::uninstalled("tenant-1");
    let request = CanonicalRequest::from_target("POST", "/uninstalled", None).unwrap();
    let header = jwt(&body.token());
    let json = body.json();
    let callback = LifecycleCallback {
        request: &request,
        authorization: Some(&header),
        body: &json,
    };
    assert_eq!(
        lifecycle.handle(callback, UnixTime::from_secs(NOW)).await,
        Err(Error::Unavailable(Unavailable::SecretStore))
    );
    // A verdict comes before the store: a forged call is still a verdict.
    let forged = jwt(&hs256("s", &claims("tenant-1", "/installed")));
    let json = Body::installed("tenant-1", "s").json();
    let request = CanonicalRequest::from_target("POST", "/installed", None).unwrap();
    let callback = LifecycleCallback {
        request: &request,
        authorization: Some(&forged),
        body: &json,
    };
    assert_eq!(
        lifecycle.handle(callback, UnixTime::from_secs(NOW)).await,
        Err(Error::SymmetricTokenOnLifecycleRoute)
    );
}

#[tokio::test]
async fn custom_lifecycle_paths_and_no_app_key() {
    let verifier = InstallVerifier::new(BASE)
        .unwrap()
        .with_lifecycle_paths(LifecyclePaths {
            installed: "/lifecycle/installed",
            uninstalled: "/lifecycle/uninstalled",
        })
        .unwrap();
    let store = Arc::new(MemoryTenantStore::new());
    // Without `with_app_key`, the body's key is not compared.
    let lifecycle = Lifecycle::new(verifier, keys(), store.clone());
    let mut body = Body::installed("tenant-1", "s");
    body.key = "any-app".to_owned();
    let token = atlassian().sign(KID, &claims("tenant-1", "/lifecycle/installed"));
    let header = jwt(&token);
    let json = body.json();
    let request = CanonicalRequest::from_target("POST", "/lifecycle/installed", None).unwrap();
    let callback = LifecycleCallback {
        request: &request,
        authorization: Some(&header),
        body: &json,
    };
    let outcome = lifecycle.handle(callback, UnixTime::from_secs(NOW)).await;
    assert_eq!(
        outcome,
        Ok(LifecycleOutcome::Installed {
            client_key: "tenant-1".to_owned(),
            first_install: true
        })
    );
    // The default path is not one of this handler's.
    let request = CanonicalRequest::from_target("POST", "/installed", None).unwrap();
    let callback = LifecycleCallback {
        request: &request,
        authorization: Some(&header),
        body: &json,
    };
    assert_eq!(
        lifecycle.handle(callback, UnixTime::from_secs(NOW)).await,
        Err(Error::Config(ConfigError::NotALifecyclePath))
    );
    assert_eq!(store.len(), 1);
    assert!(lifecycle.tenants().get("tenant-1").await.unwrap().is_some());
}

#[test]
fn the_handler_is_shareable_and_its_future_is_send() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let lifecycle = Lifecycle::new(
        InstallVerifier::new(BASE).unwrap(),
        keys(),
        Arc::new(MemoryTenantStore::new()),
    );
    send_sync(&lifecycle);
    let request = CanonicalRequest::from_target("POST", "/installed", None).unwrap();
    let callback = LifecycleCallback {
        request: &request,
        authorization: None,
        body: "{}",
    };
    send(&lifecycle.handle(callback, UnixTime::from_secs(NOW)));
    let debug = format!("{lifecycle:?}");
    assert!(debug.starts_with("Lifecycle {"), "{debug}");
}

#[test]
fn new_error_codes() {
    assert_eq!(Error::AppKeyMismatch.code(), "app-key-mismatch");
    assert!(Error::AppKeyMismatch.is_verdict());
    let config = Error::Config(ConfigError::NotALifecyclePath);
    assert_eq!(config.code(), "not-a-lifecycle-path");
    assert!(!config.is_verdict());
    assert_eq!(
        Error::AppKeyMismatch.to_string(),
        "the lifecycle body is for another app"
    );
    assert_eq!(
        config.to_string(),
        "the request is not for a configured lifecycle callback path"
    );
}
