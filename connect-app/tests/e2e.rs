//! `connect-app` end to end: the binary started on 127.0.0.1, spoken to over real HTTP by a
//! test playing the product. Installs are RS256 signed-install callbacks (key from a local
//! key server); iframe, webhook and context tokens come from the npm `atlassian-jwt`. Every
//! attack gets its status and code, and the tenant's stored secret is read back after each.
//!
//! The same suite runs at the root, under a base path (`/app`), and with the app's routes
//! nested in another program's router; then uninstall and reinstall, a restart on the same
//! SQLite file, and two instances on one PostgreSQL database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;

use atlassian_connect_jwt::session::{MemoryRevocationStore, Mode};
use atlassian_connect_jwt::{HttpKeySource, KeyCache};
use axum::Router;
use connect_app::{App, Settings};
use serde_json::{json, Value};
use support::*;

/// What every test needs: npm, the product, Atlassian's install key and an attacker's, a
/// directory for the app's files.
struct World {
    npm: Npm,
    product: Product,
    atlassian: KeyPair,
    attacker: KeyPair,
    dir: tempfile::TempDir,
}

impl World {
    async fn start(what: &str) -> Option<Self> {
        let npm = Npm::start(what)?;
        let product = Product::start().await;
        let atlassian = npm.keypair();
        let attacker = npm.keypair();
        product.publish_key(KID, &atlassian.public_pem);
        Some(Self {
            npm,
            product,
            atlassian,
            attacker,
            dir: tempfile::tempdir().unwrap(),
        })
    }

    fn sqlite(&self, name: &str) -> (String, StoreView) {
        let path = self.dir.path().join(name);
        (
            format!("sqlite://{}", path.display()),
            StoreView::Sqlite(path),
        )
    }

    /// The product's lifecycle body for `tenant`.
    fn lifecycle_body(&self, event: &str, tenant: &Tenant) -> String {
        let mut body = json!({
            "key": APP_KEY, "clientKey": tenant.client_key, "sharedSecret": tenant.secret,
            "baseUrl": self.product.origin, "productType": "jira", "eventType": event,
        });
        if event == "uninstalled" {
            body.as_object_mut().unwrap().remove("sharedSecret");
        }
        body.to_string()
    }

    /// Sends a lifecycle callback to the app at `base_url`, signed as `signing` says.
    async fn lifecycle(
        &self,
        base_url: &str,
        event: &str,
        tenant: &Tenant,
        signing: Signing<'_>,
    ) -> Answer {
        let path = format!("/{event}");
        let token = match signing {
            Signing::Atlassian => {
                self.npm
                    .install(&self.atlassian, KID, &tenant.client_key, base_url, &path)
            }
            Signing::Key { key, kid, aud } => {
                self.npm
                    .install(key, kid, &tenant.client_key, aud.unwrap_or(base_url), &path)
            }
            // HS256 with the secret its own body announces.
            Signing::Hs256 => self.npm.request(tenant, "POST", &path),
        };
        let url = format!("{base_url}{path}");
        let body = self.lifecycle_body(event, tenant);
        send("POST", &url, Some(&token), Some(("application/json", body))).await
    }

    /// A verified install of `tenant` (the product then uses its secret).
    async fn install(&self, base_url: &str, tenant: &Tenant) {
        let answer = self
            .lifecycle(base_url, "installed", tenant, Signing::Atlassian)
            .await;
        assert_eq!(answer, Answer::no_content());
        self.product.use_secret(&tenant.secret);
    }
}

#[derive(Clone, Copy)]
enum Signing<'a> {
    Atlassian,
    Key {
        key: &'a KeyPair,
        kid: &'a str,
        aud: Option<&'a str>,
    },
    Hs256,
}

/// The iframe's URL as the product builds it (relative to the base URL), without `jwt`.
const PANEL: &str = "/panel?xdm_e=https%3A%2F%2Fsite.atlassian.net&lic=none&cv=1001.0.0";

/// The suite, against the app at `base_url` storing in `store`.
async fn suite(world: &World, base_url: &str, store: &StoreView) {
    let npm = &world.npm;
    let tenant = Tenant::new("jira:e2e-tenant", "e2e-shared-secret-0123456789abcdef0123");

    // The descriptor.
    let answer = get(&format!("{base_url}/atlassian-connect.json"), None).await;
    assert_eq!(answer.status, 200);
    let descriptor: Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(descriptor["key"], APP_KEY);
    assert_eq!(descriptor["baseUrl"], base_url);
    assert_eq!(descriptor["authentication"], json!({"type": "jwt"}));
    assert_eq!(
        descriptor["apiMigrations"],
        json!({"context-qsh": true, "signed-install": true})
    );
    assert_eq!(
        descriptor["lifecycle"],
        json!({"installed": "/installed", "uninstalled": "/uninstalled"})
    );
    assert_eq!(descriptor["modules"]["generalPages"][0]["url"], "/panel");
    assert_eq!(
        descriptor["modules"]["webhooks"],
        json!([
            {"event": "jira:issue_updated", "url": "/webhooks/jira"},
            {"event": "user_deleted", "url": "/webhooks/user-deleted"},
        ])
    );
    assert_eq!(get(&format!("{base_url}/healthz"), None).await.body, "ok");

    // Before the install the tenant is unknown.
    let token = npm.request(&tenant, "GET", PANEL);
    let panel = |token: &str| format!("{base_url}{PANEL}&jwt={token}");
    assert_eq!(
        get(&panel(&token), None).await,
        Answer::refused("unknown-issuer")
    );

    world.install(base_url, &tenant).await;
    let stored = Some((tenant.secret.clone(), true));
    assert_eq!(store.tenant(&tenant.client_key).await, stored);

    // The iframe, with the user fetched from the product by a request signed as the app.
    let answer = get(&panel(&token), None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        answer
            .body
            .contains("<h1 id=\"greeting\">Hello, Ada &lt;Lovelace&gt;!</h1>"),
        "{}",
        answer.body
    );
    assert_eq!(world.product.lookups(), [ACCOUNT]);

    // The product cannot answer: a clear message, not a 500.
    let broken = npm.request_at(&tenant, "GET", PANEL, now(), Some(BROKEN_ACCOUNT));
    let answer = get(&panel(&broken), None).await;
    assert_eq!(answer.status, 200);
    assert!(
        answer.body.contains(&format!(
            "Could not load your profile from {} (status).",
            world.product.origin
        )),
        "{}",
        answer.body
    );
    // No user in the token: no lookup.
    let anonymous = npm.request_at(&tenant, "GET", PANEL, now(), None);
    let answer = get(&panel(&anonymous), None).await;
    assert_eq!(answer.status, 200);
    assert!(answer.body.contains("anonymous access"), "{}", answer.body);
    assert_eq!(world.product.lookups(), [ACCOUNT]);

    // The app's API with a context token.
    let context = npm.context(&tenant, 180);
    let whoami = format!("{base_url}/api/whoami");
    let answer = get(&whoami, Some(&context)).await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&answer.body).unwrap(),
        json!({"clientKey": tenant.client_key, "accountId": ACCOUNT})
    );

    // The webhook.
    let webhook = format!("{base_url}/webhooks/jira");
    let event = json!({"webhookEvent": "jira:issue_updated", "issue": {"key": "E2E-1"}});
    let signed = npm.request(&tenant, "POST", "/webhooks/jira");
    let answer = send(
        "POST",
        &webhook,
        Some(&signed),
        Some(("application/json", event.to_string())),
    )
    .await;
    assert_eq!(answer, Answer::no_content());

    // The attacks: each refused with its code, and the stored secret unchanged.
    let stranger = Tenant::new("jira:never-installed", &tenant.secret);
    let wrong_secret = Tenant::new(&tenant.client_key, "not-the-shared-secret-0123456789abcdef");
    let hour_ago = now() - 3600;
    let attacks: Vec<(&str, String, Option<String>, &str)> = vec![
        // CVE-2021-26073: a context token, which any user of the site can get, on an iframe.
        (
            "context token on the iframe",
            panel(&context),
            None,
            "context-token-not-allowed",
        ),
        (
            "request-bound token on the API",
            whoami.clone(),
            Some(token.clone()),
            "context-token-required",
        ),
        (
            "token for another path",
            panel(&npm.request(&tenant, "GET", "/other")),
            None,
            "qsh-mismatch",
        ),
        (
            "token for other parameters",
            panel(&npm.request(&tenant, "GET", "/panel?lic=active")),
            None,
            "qsh-mismatch",
        ),
        (
            "expired",
            panel(&npm.request_at(&tenant, "GET", PANEL, hour_ago, Some(ACCOUNT))),
            None,
            "expired",
        ),
        (
            "unknown tenant",
            panel(&npm.request(&stranger, "GET", PANEL)),
            None,
            "unknown-issuer",
        ),
        (
            "wrong secret",
            panel(&npm.request(&wrong_secret, "GET", PANEL)),
            None,
            "invalid-signature",
        ),
        (
            "no token",
            format!("{base_url}{PANEL}"),
            None,
            "missing-token",
        ),
        (
            "context token from another tenant's secret",
            whoami.clone(),
            Some(npm.context(&wrong_secret, 180)),
            "invalid-signature",
        ),
    ];
    for (name, url, authorization, code) in attacks {
        let answer = get(&url, authorization.as_deref()).await;
        assert_eq!(answer, Answer::refused(code), "{name}");
        assert_eq!(store.tenant(&tenant.client_key).await, stored, "{name}");
    }
    let unsigned = send(
        "POST",
        &webhook,
        None,
        Some(("application/json", event.to_string())),
    )
    .await;
    assert_eq!(unsigned, Answer::refused("missing-token"));
    let webhook_for_panel = npm.request(&tenant, "GET", PANEL);
    let answer = send(
        "POST",
        &webhook,
        Some(&webhook_for_panel),
        Some(("application/json", event.to_string())),
    )
    .await;
    assert_eq!(answer, Answer::refused("qsh-mismatch"));

    // Forged reinstalls and a forged uninstall: nothing changes.
    let thief = Tenant::new(
        &tenant.client_key,
        "stolen-tenant-secret-0123456789abcdef01",
    );
    let attacker = &world.attacker;
    let forgeries: [(&str, &str, Signing<'_>, &str); 6] = [
        (
            "HS256 reinstall",
            "installed",
            Signing::Hs256,
            "symmetric-token-on-lifecycle-route",
        ),
        (
            "unknown kid",
            "installed",
            Signing::Key {
                key: attacker,
                kid: "attacker-key",
                aud: None,
            },
            "unknown-key-id",
        ),
        (
            "wrong key",
            "installed",
            Signing::Key {
                key: attacker,
                kid: KID,
                aud: None,
            },
            "invalid-signature",
        ),
        (
            "wrong aud",
            "installed",
            Signing::Key {
                key: &world.atlassian,
                kid: KID,
                aud: Some("https://another-app.example.com"),
            },
            "audience-mismatch",
        ),
        (
            "HS256 uninstall",
            "uninstalled",
            Signing::Hs256,
            "symmetric-token-on-lifecycle-route",
        ),
        (
            "uninstall with the wrong key",
            "uninstalled",
            Signing::Key {
                key: attacker,
                kid: KID,
                aud: None,
            },
            "invalid-signature",
        ),
    ];
    for (name, event, signing, code) in forgeries {
        let answer = world.lifecycle(base_url, event, &thief, signing).await;
        assert_eq!(answer, Answer::refused(code), "{name}");
        assert_eq!(store.tenant(&tenant.client_key).await, stored, "{name}");
    }
    // Still installed: its tokens still work.
    assert_eq!(get(&whoami, Some(&context)).await.status, 200);

    // A verified uninstall: the tenant's tokens are refused ...
    let answer = world
        .lifecycle(base_url, "uninstalled", &tenant, Signing::Atlassian)
        .await;
    assert_eq!(answer, Answer::no_content());
    assert_eq!(
        store.tenant(&tenant.client_key).await,
        Some((tenant.secret.clone(), false))
    );
    let fresh = npm.request(&tenant, "GET", PANEL);
    assert_eq!(
        get(&panel(&fresh), None).await,
        Answer::refused("unknown-issuer")
    );
    assert_eq!(
        get(&whoami, Some(&context)).await,
        Answer::refused("unknown-issuer")
    );

    // ... until a verified install, with a new secret: the old one is refused.
    let reinstalled = Tenant::new(
        &tenant.client_key,
        "rotated-shared-secret-0123456789abcdef0",
    );
    world.install(base_url, &reinstalled).await;
    assert_eq!(
        store.tenant(&tenant.client_key).await,
        Some((reinstalled.secret.clone(), true))
    );
    assert_eq!(
        get(&whoami, Some(&context)).await,
        Answer::refused("invalid-signature")
    );
    let answer = get(&whoami, Some(&npm.context(&reinstalled, 180))).await;
    assert_eq!(answer.status, 200);
    let answer = get(&panel(&npm.request(&reinstalled, "GET", PANEL)), None).await;
    assert_eq!(answer.status, 200);
    assert!(answer.body.contains("Hello, Ada &lt;Lovelace&gt;!"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_app_at_the_root() {
    let Some(world) = World::start("connect-app at the root").await else {
        return;
    };
    let (database, store) = world.sqlite("root.db");
    let app = AppProcess::start("", &database, &world.product, world.dir.path()).await;
    suite(&world, &app.base_url, &store).await;
    // The log names installs but never a secret or a token.
    let log = app.log();
    assert!(log.contains("connect app installed"), "{log}");
    assert!(!log.contains("shared-secret"), "{log}");
    assert!(!log.contains("eyJ"), "{log}");
    app.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_app_under_a_base_path() {
    let Some(world) = World::start("connect-app under /app").await else {
        return;
    };
    let (database, store) = world.sqlite("base-path.db");
    let app = AppProcess::start("/app", &database, &world.product, world.dir.path()).await;
    suite(&world, &app.base_url, &store).await;
    // Nothing is served outside the base path.
    let origin = app.base_url.trim_end_matches("/app");
    for path in ["/atlassian-connect.json", "/healthz", "/panel"] {
        assert_eq!(get(&format!("{origin}{path}"), None).await.status, 404);
    }
    app.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_app_nested_in_another_router() {
    let Some(world) = World::start("connect-app nested in a router").await else {
        return;
    };
    let (database, store) = world.sqlite("nested.db");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}/tools/connect", listener.local_addr().unwrap());
    let settings = Settings::new(&base_url, &database).unwrap();
    let settings = Settings {
        key: APP_KEY.to_owned(),
        ..settings
    };
    let tenants = atlassian_connect_jwt::open_tenant_store(&database)
        .await
        .unwrap();
    let keys = KeyCache::new(HttpKeySource::with_base_url(&world.product.keys_url()).unwrap());
    let revocations = Arc::new(MemoryRevocationStore::new(Mode::Denylist));
    let app = App::with_parts(&settings, Arc::clone(&tenants), revocations, keys).unwrap();
    // Another program's router, the app's routes two levels down.
    let host = Router::new()
        .route("/", axum::routing::get(|| async { "the host program" }))
        .nest("/tools", Router::new().nest("/connect", app.routes()));
    tokio::spawn(async move { axum::serve(listener, host).await.unwrap() });
    suite(&world, &base_url, &store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_keeps_the_tenants() {
    let Some(world) = World::start("connect-app restart").await else {
        return;
    };
    let (database, store) = world.sqlite("restart.db");
    let tenant = Tenant::new("jira:restart", "restart-shared-secret-0123456789abcdef01");
    let port = free_port();
    let app = AppProcess::start_on(port, "", &database, &world.product, world.dir.path()).await;
    world.install(&app.base_url, &tenant).await;
    app.stop();
    assert_eq!(
        store.tenant(&tenant.client_key).await,
        Some((tenant.secret.clone(), true))
    );

    let app = AppProcess::start_on(port, "", &database, &world.product, world.dir.path()).await;
    let answer = get(
        &app.url("/api/whoami"),
        Some(&world.npm.context(&tenant, 180)),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    app.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_on_one_postgres_database_share_tenants() {
    let Some(url) = postgres_url_or_skip("two connect-app instances on PostgreSQL") else {
        return;
    };
    let Some(world) = World::start("two connect-app instances on PostgreSQL").await else {
        return;
    };
    // A schema of the test's own, so runs in parallel never meet.
    let schema = format!("e2e_{}_{}", std::process::id(), now());
    let admin = postgres_client(&url).await;
    admin
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .unwrap();
    let separator = if url.contains('?') { '&' } else { '?' };
    let database = format!("{url}{separator}options=-csearch_path%3D{schema}");
    let store = StoreView::Postgres {
        url: url.clone(),
        schema: schema.clone(),
    };

    let first = AppProcess::start("", &database, &world.product, world.dir.path()).await;
    let second = AppProcess::start("", &database, &world.product, world.dir.path()).await;
    let tenant = Tenant::new("jira:postgres", "postgres-shared-secret-0123456789abcdef0");
    world.install(&first.base_url, &tenant).await;
    assert_eq!(
        store.tenant(&tenant.client_key).await,
        Some((tenant.secret.clone(), true))
    );
    let context = world.npm.context(&tenant, 180);
    assert_eq!(
        get(&second.url("/api/whoami"), Some(&context)).await.status,
        200
    );

    // Uninstalled through the second: refused by the first.
    let answer = world
        .lifecycle(&second.base_url, "uninstalled", &tenant, Signing::Atlassian)
        .await;
    assert_eq!(answer, Answer::no_content());
    assert_eq!(
        get(&first.url("/api/whoami"), Some(&context)).await,
        Answer::refused("unknown-issuer")
    );
    // Reinstalled through the second: served by the first.
    world.install(&second.base_url, &tenant).await;
    assert_eq!(
        get(&first.url("/api/whoami"), Some(&context)).await.status,
        200
    );

    first.stop();
    second.stop();
    admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .unwrap();
}
