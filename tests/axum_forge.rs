//! The Forge remote extractor (features `axum`, `forge-http`) over real HTTP: an axum app on
//! 127.0.0.1 whose `ForgeAuth` fetches Forge's key set from a JWKS server on 127.0.0.1 (the
//! one of `tests/forge/server.rs`, RSA keys generated when the tests run). Valid calls reach
//! the handler with their installation, OAuth tokens and linked Connect tenant; every
//! refusal has its status, challenge and code; the log never holds a token.
#![cfg(all(feature = "axum", feature = "forge-http"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "forge/fixtures.rs"]
mod fixtures;
#[path = "forge/server.rs"]
mod server;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use atlassian_connect_jwt::axum::{ConnectAuth, ConnectRequest, ForgeAuth, ForgeInvocation};
use atlassian_connect_jwt::{
    BasePath, CanonicalRequest, ConfigError, Error, ForgeKeyId, ForgeKeySource, ForgeVerifier,
    IcLabel, InstallKey, InstallToken, InstallVerifier, InstalledTenant, MemoryTenantStore,
    SharedSecret, Signer, StoreError, StoreFuture, Tenant, TenantKey, TenantStore,
    UninstalledTenant, UnixTime, VerifiedInstall,
};
use axum::extract::FromRef;
use axum::routing::{get, post};
use axum::Router;
use fixtures::{jwks, Pair};
use serde_json::{json, Value};
use server::{Answer, JwksServer};

const APP_ID: &str = "ari:cloud:ecosystem::app/8db33809-1f32-48bb-8c52-5877dab48107";
const OTHER_APP_ID: &str = "ari:cloud:ecosystem::app/11111111-2222-3333-4444-555555555555";
const INSTALLATION: &str = "ari:cloud:ecosystem::installation/0a3a7799-53ae-4a5b-9e7e-03338980abb5";
const OTHER_INSTALLATION: &str =
    "ari:cloud:ecosystem::installation/99999999-0000-0000-0000-000000000000";
const KID: &str = "forge/invocation-token/wf-5d1f9a0e-7c1b-4f7e-9a55-0c2b3f7d8e11";
const PRINCIPAL: &str = "655362:312d3308-8954-42b0-aa38-771a10c88656";
/// What Forge forwards in `x-forge-oauth-system` / `-user` (opaque to the app).
const SYSTEM_TOKEN: &str = "system-oauth-token-5f0c1a9e7d3b4c2a8e6f";
const USER_TOKEN: &str = "user-oauth-token-0a9b8c7d6e5f4a3b2c1d";

const BASE: &str = "https://app.example.com";
const CLIENT_KEY: &str = "jira:7f4e6a52-3f0e-4a6b-9d57-2c5e1b0a8f31";
const SHARED_SECRET: &str = "connect-shared-secret-0123456789abcdef";
const INSTALL_KID: &str = "install-key-1";

/// Forge's signing key.
fn forge() -> &'static Pair {
    static PAIR: OnceLock<Pair> = OnceLock::new();
    PAIR.get_or_init(|| Pair::generate(2048, KID))
}

/// Someone else's key, claiming Forge's kid.
fn attacker() -> &'static Pair {
    static PAIR: OnceLock<Pair> = OnceLock::new();
    PAIR.get_or_init(|| Pair::generate(2048, KID))
}

/// Atlassian's signed-install key, for the Connect `installed` callback.
fn install_key() -> &'static Pair {
    static PAIR: OnceLock<Pair> = OnceLock::new();
    PAIR.get_or_init(|| Pair::generate(2048, "install-key-1"))
}

fn now() -> u64 {
    UnixTime::now().as_secs()
}

fn header(kid: &str) -> Value {
    json!({"alg": "RS256", "kid": kid, "typ": "JWT"})
}

/// The claims of a UI invocation, valid now.
fn claims() -> Value {
    let now = now();
    json!({
        "app": {
            "id": APP_ID, "version": "16", "appVersion": "16.0.1",
            "installationId": INSTALLATION,
            "apiBaseUrl": "https://api.atlassian.com/ex/jira/d0d52620-3203-4cfa-8db5-f2587155f0dd",
            "environment": {"type": "PRODUCTION", "id": "ari:cloud:ecosystem::environment/8db33809/aa911f10"},
            "module": {"type": "jira:issuePanel", "key": "forge-remote-panel"},
            "license": {"active": true},
        },
        "context": {"cloudId": "d0d52620", "siteUrl": "https://tenant.atlassian.net"},
        "principal": PRINCIPAL,
        "aud": APP_ID,
        "iss": "forge/invocation-token",
        "iat": now - 5,
        "nbf": now - 5,
        "exp": now + 20,
        "jti": "d8a496253ec8c18a54631e4c82cbedd5d0ae8570",
    })
}

fn with(name: &str, value: Value) -> Value {
    let mut claims = claims();
    claims[name] = value;
    claims
}

fn fit(payload: &Value) -> String {
    forge().sign(&header(KID), payload)
}

fn token() -> String {
    fit(&claims())
}

// ----- the app -----

/// A Forge remote endpoint: what the extractor gives the handler.
async fn remote(forge: ForgeInvocation) -> String {
    let verified = forge.verified();
    json!({
        "installation_id": verified.installation_id(),
        "principal": verified.principal(),
        "module_key": verified.module_key(),
        "system": forge.system_token().map(|t| t.expose().to_owned()),
        "user": forge.user_token().map(|t| t.expose().to_owned()),
        "tenant": forge.tenant().map(Tenant::client_key),
    })
    .to_string()
}

/// A Connect route of the same app.
async fn panel(connect: ConnectRequest) -> String {
    format!("connect {}", connect.tenant().client_key())
}

/// One state for both kinds of route.
#[derive(Clone)]
struct AppState {
    connect: ConnectAuth,
    forge: ForgeAuth,
}

impl FromRef<AppState> for ConnectAuth {
    fn from_ref(state: &AppState) -> Self {
        state.connect.clone()
    }
}

impl FromRef<AppState> for ForgeAuth {
    fn from_ref(state: &AppState) -> Self {
        state.forge.clone()
    }
}

/// Serves Connect and Forge routes side by side on 127.0.0.1; the base URL.
async fn serve(forge: ForgeAuth, tenants: Arc<dyn TenantStore>) -> String {
    let state = AppState {
        connect: ConnectAuth::new(BasePath::parse(BASE).unwrap(), tenants),
        forge,
    };
    let app = Router::new()
        .route("/panel", get(panel))
        .route("/forge/remote/{*path}", post(remote))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    origin
}

fn verifier() -> ForgeVerifier {
    ForgeVerifier::new(APP_ID).unwrap()
}

/// A key-set server with Forge's key, and the `ForgeAuth` that fetches from it.
fn jwks_server() -> (JwksServer, ForgeAuth) {
    let server = JwksServer::start();
    server.answer("/jwks.json", Answer::Ok(jwks(&[forge().jwk()]), None));
    let auth = ForgeAuth::new(verifier(), server.keys());
    (server, auth)
}

/// What came back.
#[derive(Debug, PartialEq, Eq)]
struct Reply {
    status: u16,
    challenge: Option<String>,
    body: String,
}

impl Reply {
    /// A 401 as RFC 6750 words it: `Bearer` alone when no token came, with
    /// `error="invalid_token"` when one did and was refused.
    fn refused(code: &str) -> Self {
        let challenge = if code == "missing-token" {
            "Bearer"
        } else {
            "Bearer error=\"invalid_token\""
        };
        Self {
            status: 401,
            challenge: Some(challenge.to_owned()),
            body: code.to_owned(),
        }
    }

    fn failed(status: u16, code: &str) -> Self {
        Self {
            status,
            challenge: None,
            body: code.to_owned(),
        }
    }

    fn json(&self) -> Value {
        assert_eq!(self.status, 200, "{self:?}");
        serde_json::from_str(&self.body).unwrap()
    }
}

/// `POST url` with these headers.
async fn post_with(url: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = reqwest::Client::new().post(url).body("{}");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    if status != 200 {
        assert_eq!(
            response.headers()["content-type"],
            "text/plain; charset=utf-8"
        );
    }
    Reply {
        status,
        challenge,
        body: response.text().await.unwrap(),
    }
}

async fn call(origin: &str, token: &str) -> Reply {
    let bearer = format!("Bearer {token}");
    post_with(
        &format!("{origin}/forge/remote/hello"),
        &[("authorization", &bearer)],
    )
    .await
}

// ----- Connect tenants -----

/// A verified signed-install lifecycle callback for `event`, its body carrying
/// `installation_id`.
fn lifecycle(event: &str, installation_id: Option<&str>) -> VerifiedInstall {
    let path = format!("/{event}");
    let request = CanonicalRequest::from_target("POST", &path, None).unwrap();
    let now = now();
    let claims = json!({
        "iss": CLIENT_KEY, "aud": BASE, "iat": now - 10, "exp": now + 170,
        "qsh": request.qsh().to_string(),
    });
    let token = install_key().sign(
        &json!({"alg": "RS256", "typ": "JWT", "kid": INSTALL_KID}),
        &claims,
    );
    let mut body = json!({
        "key": "my-app", "clientKey": CLIENT_KEY, "sharedSecret": SHARED_SECRET,
        "baseUrl": "https://tenant.atlassian.net", "productType": "jira", "eventType": event,
    });
    if let Some(id) = installation_id {
        body["installationId"] = json!(id);
    }
    let key = InstallKey::from_pem(&install_key().pem()).unwrap();
    InstallVerifier::new(BASE)
        .unwrap()
        .verify(
            InstallToken::parse(&token).unwrap(),
            &body.to_string(),
            &request,
            &key,
            UnixTime::now(),
        )
        .unwrap()
}

/// A store holding the tenant of one verified `installed` callback.
async fn installed_store(installation_id: Option<&str>) -> Arc<MemoryTenantStore> {
    let store = MemoryTenantStore::new();
    let install = InstalledTenant::from_verified(&lifecycle("installed", installation_id)).unwrap();
    store.save_install(&install).await.unwrap();
    Arc::new(store)
}

/// A store that cannot answer.
struct FailingStore;

impl TenantStore for FailingStore {
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

/// A key source the app misconfigured.
struct Misconfigured;

impl ForgeKeySource for Misconfigured {
    async fn forge_key(&self, _: &ForgeKeyId, _: Option<&IcLabel>) -> Result<InstallKey, Error> {
        Err(Error::Config(ConfigError::InvalidBaseUrl))
    }
}

// ----- the tests -----

/// Held by every test for its whole run: the tracing test reads what was logged since its
/// start, so no other test may log meanwhile.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn a_valid_invocation_reaches_the_handler() {
    let _serial = SERIAL.lock().await;
    captured();
    let (keys, auth) = jwks_server();
    let origin = serve(auth, Arc::new(MemoryTenantStore::new())).await;
    let token = token();
    let bearer = format!("Bearer {token}");
    let reply = post_with(
        &format!("{origin}/forge/remote/hello"),
        &[
            ("authorization", &bearer),
            ("x-forge-oauth-system", SYSTEM_TOKEN),
            ("x-forge-oauth-user", USER_TOKEN),
        ],
    )
    .await;
    assert_eq!(
        reply.json(),
        json!({
            "installation_id": INSTALLATION, "principal": PRINCIPAL,
            "module_key": "forge-remote-panel", "system": SYSTEM_TOKEN, "user": USER_TOKEN,
            // No tenant store in the ForgeAuth: no lookup, no tenant.
            "tenant": null,
        })
    );
    // Without forwarded tokens (a back-end invocation, a manifest that asks for none).
    let mut payload = claims();
    payload.as_object_mut().unwrap().remove("principal");
    let reply = call(&origin, &fit(&payload)).await.json();
    assert_eq!(
        (&reply["principal"], &reply["system"], &reply["user"]),
        (&Value::Null, &Value::Null, &Value::Null)
    );
    // The key set was fetched once for all of them; only the key set was ever asked for.
    for _ in 0..5 {
        assert_eq!(call(&origin, &token).await.status, 200);
    }
    assert_eq!(keys.requests(), ["/jwks.json"]);
}

#[tokio::test]
async fn every_refusal_has_its_status_challenge_and_code() {
    let _serial = SERIAL.lock().await;
    captured();
    let (keys, auth) = jwks_server();
    let origin = serve(auth, Arc::new(MemoryTenantStore::new())).await;
    let url = format!("{origin}/forge/remote/hello");
    let token = token();
    let bearer = format!("Bearer {token}");
    let now = now();
    let expired = {
        let mut payload = with("exp", json!(now - 60));
        payload["iat"] = json!(now - 85);
        payload["nbf"] = json!(now - 85);
        fit(&payload)
    };
    let connect_token = Signer::new(CLIENT_KEY)
        .sign_request(
            &CanonicalRequest::from_target("POST", "/forge/remote/hello", None).unwrap(),
            &TenantKey::new(CLIENT_KEY, &SharedSecret::new(SHARED_SECRET)).unwrap(),
            UnixTime::now(),
        )
        .unwrap()
        .into_string();
    let jwt_header = format!("JWT {connect_token}");
    let cases: Vec<(Vec<(&str, String)>, &str)> = vec![
        (vec![], "missing-token"),
        (
            vec![("authorization", format!("JWT {token}"))],
            "invalid-bearer-header",
        ),
        (vec![("authorization", jwt_header)], "invalid-bearer-header"),
        (
            vec![("authorization", "Bearer".to_owned())],
            "invalid-bearer-header",
        ),
        (
            vec![
                ("authorization", bearer.clone()),
                ("authorization", bearer.clone()),
            ],
            "invalid-bearer-header",
        ),
        (
            vec![("authorization", format!("Bearer {connect_token}"))],
            "unsupported-algorithm",
        ),
        (
            vec![("authorization", "Bearer x.y".to_owned())],
            "malformed-token",
        ),
        (
            vec![(
                "authorization",
                format!("Bearer {}", fit(&with("aud", json!(OTHER_APP_ID)))),
            )],
            "app-id-mismatch",
        ),
        (
            vec![(
                "authorization",
                format!("Bearer {}", fit(&with("iss", json!("x")))),
            )],
            "forge-issuer-mismatch",
        ),
        (
            vec![("authorization", format!("Bearer {expired}"))],
            "expired",
        ),
        (
            vec![(
                "authorization",
                format!("Bearer {}", attacker().sign(&header(KID), &claims())),
            )],
            "invalid-signature",
        ),
        (
            vec![(
                "authorization",
                format!(
                    "Bearer {}",
                    forge().sign(&header("forge/invocation-token/unknown"), &claims())
                ),
            )],
            "unknown-key-id",
        ),
        // An Isolated Cloud token: its label reaches the key source, which has no key set
        // for it (never the commercial cloud's, which holds a key of the same kid).
        (
            vec![(
                "authorization",
                format!("Bearer {}", fit(&with("icLabel", json!("acme")))),
            )],
            "unknown-key-id",
        ),
        (
            vec![
                ("authorization", bearer.clone()),
                ("x-forge-oauth-system", "two words".to_owned()),
            ],
            "invalid-oauth-token",
        ),
        (
            vec![
                ("authorization", bearer.clone()),
                ("x-forge-oauth-user", USER_TOKEN.to_owned()),
                ("x-forge-oauth-user", USER_TOKEN.to_owned()),
            ],
            "invalid-oauth-token",
        ),
    ];
    for (headers, code) in &cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        assert_eq!(
            post_with(&url, &headers).await,
            Reply::refused(code),
            "{code}"
        );
    }
    // One fetch, for the first token that got as far as its key; the unknown kid soon after
    // is within the refetch interval, and no token refused on its own claims fetched.
    assert_eq!(keys.requests(), ["/jwks.json"]);

    // The key set cannot be fetched: 503, no challenge.
    let down = JwksServer::start();
    down.answer("/jwks.json", Answer::Status(500));
    let origin = serve(
        ForgeAuth::new(verifier(), down.keys()),
        Arc::new(MemoryTenantStore::new()),
    )
    .await;
    assert_eq!(
        call(&origin, &token).await,
        Reply::failed(503, "key-unavailable")
    );
    // A token refused on its own claims costs no fetch.
    let fetches = down.count();
    assert_eq!(call(&origin, &expired).await, Reply::refused("expired"));
    assert_eq!(down.count(), fetches);

    // The tenant store cannot answer: 503.
    let (_keys, auth) = jwks_server();
    let origin = serve(
        auth.with_tenants(Arc::new(FailingStore)),
        Arc::new(FailingStore),
    )
    .await;
    assert_eq!(
        call(&origin, &token).await,
        Reply::failed(503, "secret-store-unavailable")
    );

    // A misconfigured key source: 500.
    let origin = serve(
        ForgeAuth::new(verifier(), Misconfigured),
        Arc::new(MemoryTenantStore::new()),
    )
    .await;
    assert_eq!(
        call(&origin, &token).await,
        Reply::failed(500, "invalid-base-url")
    );
}

#[tokio::test]
async fn the_linked_connect_tenant() {
    let _serial = SERIAL.lock().await;
    captured();
    let (_keys, auth) = jwks_server();
    // A Forge app with Connect modules: its `installed` callback carried the installationId.
    let store = installed_store(Some(INSTALLATION)).await;
    let origin = serve(auth.clone().with_tenants(store.clone()), store.clone()).await;
    assert_eq!(call(&origin, &token()).await.json()["tenant"], CLIENT_KEY);
    // The Connect route of the same backend serves the same tenant.
    let connect = Signer::new(CLIENT_KEY)
        .sign_request(
            &CanonicalRequest::from_target("GET", "/panel", None).unwrap(),
            &TenantKey::new(CLIENT_KEY, &SharedSecret::new(SHARED_SECRET)).unwrap(),
            UnixTime::now(),
        )
        .unwrap();
    let reply = reqwest::Client::new()
        .get(format!("{origin}/panel"))
        .header("authorization", connect.authorization_header())
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.text().await.unwrap(), format!("connect {CLIENT_KEY}"));
    // Another installation of the Forge app has no Connect tenant.
    let other = fit(&{
        let mut payload = claims();
        payload["app"]["installationId"] = json!(OTHER_INSTALLATION);
        payload
    });
    assert_eq!(call(&origin, &other).await.json()["tenant"], Value::Null);

    // A plain Connect install (no installationId): not linked.
    let store = installed_store(None).await;
    let origin = serve(auth.clone().with_tenants(store.clone()), store).await;
    assert_eq!(call(&origin, &token()).await.json()["tenant"], Value::Null);

    // After the uninstall: not linked.
    let store = installed_store(Some(INSTALLATION)).await;
    let uninstall = UninstalledTenant::from_verified(&lifecycle("uninstalled", None)).unwrap();
    assert!(store.mark_uninstalled(&uninstall).await.unwrap());
    let origin = serve(auth.with_tenants(store.clone()), store).await;
    assert_eq!(call(&origin, &token()).await.json()["tenant"], Value::Null);
}

// ----- the example app's route (notes/forge2.md gives this code for connect-app) -----

/// `POST /forge/remote/{*path}`: what the example app answers a verified Forge invocation.
async fn example_forge_remote(
    forge: ForgeInvocation,
) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    let verified = forge.verified();
    let tenant = forge
        .tenant()
        .map(|tenant| json!({"client_key": tenant.client_key(), "base_url": tenant.base_url()}));
    let body = json!({
        "installation_id": verified.installation_id(),
        "module_key": verified.module_key(),
        "principal": verified.principal(),
        "tenant": tenant,
    });
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
}

/// The example app's Forge routes, when `CONNECT_APP_FORGE_APP_ID` is set: a router of their
/// own, merged into the Connect app's.
fn example_forge_routes(
    app_id: &str,
    jwks_url: &str,
    tenants: Arc<dyn TenantStore>,
) -> Result<Router, Error> {
    let verifier = ForgeVerifier::new(app_id)?;
    let keys = atlassian_connect_jwt::JwksCache::new(
        atlassian_connect_jwt::HttpJwksSource::with_url(jwks_url)?,
    );
    let forge = ForgeAuth::new(verifier, keys).with_tenants(tenants);
    Ok(Router::new()
        .route(
            "/forge/remote/{*path}",
            axum::routing::post(example_forge_remote),
        )
        .with_state(forge))
}

#[tokio::test]
async fn the_example_app_route() {
    let _serial = SERIAL.lock().await;
    captured();
    let keys = JwksServer::start();
    keys.answer("/jwks.json", Answer::Ok(jwks(&[forge().jwk()]), None));
    let store = installed_store(Some(INSTALLATION)).await;
    // Startup refuses a bare uuid and a plain-http key set URL.
    assert_eq!(
        example_forge_routes("8db33809", &keys.url("/jwks.json"), store.clone()).unwrap_err(),
        Error::Config(ConfigError::InvalidAppId)
    );
    assert_eq!(
        example_forge_routes(APP_ID, "http://forge.example/jwks.json", store.clone()).unwrap_err(),
        Error::Config(ConfigError::InvalidBaseUrl)
    );
    let connect = ConnectAuth::new(BasePath::parse(BASE).unwrap(), store.clone());
    let app = Router::new()
        .route("/panel", get(panel))
        .with_state(connect)
        .merge(example_forge_routes(APP_ID, &keys.url("/jwks.json"), store).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let reply = call(&origin, &token()).await;
    assert_eq!(
        reply.json(),
        json!({
            "installation_id": INSTALLATION, "module_key": "forge-remote-panel",
            "principal": PRINCIPAL,
            "tenant": {"client_key": CLIENT_KEY, "base_url": "https://tenant.atlassian.net"},
        })
    );
    assert_eq!(
        call(&origin, &fit(&with("aud", json!(OTHER_APP_ID)))).await,
        Reply::refused("app-id-mismatch")
    );
    // A Connect token on the Forge route.
    let connect_token = Signer::new(CLIENT_KEY)
        .sign_request(
            &CanonicalRequest::from_target("POST", "/forge/remote/hello", None).unwrap(),
            &TenantKey::new(CLIENT_KEY, &SharedSecret::new(SHARED_SECRET)).unwrap(),
            UnixTime::now(),
        )
        .unwrap();
    let reply = post_with(
        &format!("{origin}/forge/remote/hello"),
        &[("authorization", &connect_token.authorization_header())],
    )
    .await;
    assert_eq!(reply, Reply::refused("invalid-bearer-header"));
    // The Connect route is unaffected, and refuses a FIT.
    let reply = reqwest::Client::new()
        .get(format!("{origin}/panel"))
        .header("authorization", format!("Bearer {}", token()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (reply.status().as_u16(), reply.text().await.unwrap()),
        (401, "invalid-authorization-header".to_owned())
    );
}

/// Everything every subscriber event wrote, as text, kept whole.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<(Vec<u8>, usize)>>);

/// The process's one subscriber, a global default installed by every test before anything
/// logs: tracing caches per callsite whether anyone listens, and a thread-scoped subscriber
/// set after another test registered those callsites could miss events under load.
fn captured() -> Captured {
    static GLOBAL: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    GLOBAL
        .get_or_init(|| {
            let captured = Captured::default();
            let writer = captured.clone();
            let subscriber = tracing_subscriber::fmt()
                // Plain text whatever features another workspace member turns on (`ansi`).
                .with_ansi(false)
                .with_max_level(tracing::Level::TRACE)
                .with_writer(move || writer.clone())
                .finish();
            tracing::subscriber::set_global_default(subscriber).unwrap();
            captured
        })
        .clone()
}

impl Captured {
    /// This crate's events since the last call (the HTTP client and server log too).
    fn take(&self) -> String {
        let mut captured = self.0.lock().unwrap();
        let (text, taken) = &mut *captured;
        let new = String::from_utf8(text[*taken..].to_vec()).unwrap();
        *taken = text.len();
        new.lines()
            .filter(|line| line.contains(" atlassian_connect_jwt::"))
            .map(|line| format!("{line}\n"))
            .collect()
    }

    /// Every event of the whole test, from every crate.
    fn all(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().0.clone()).unwrap()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The runtime is the test's one thread, so the server's tasks log to the subscriber set
/// here.
#[tokio::test]
async fn refusals_log_their_code_and_never_a_token() {
    let _serial = SERIAL.lock().await;
    let captured = captured();
    // What earlier tests logged is not this test's.
    captured.take();

    let (_keys, auth) = jwks_server();
    let origin = serve(auth, Arc::new(MemoryTenantStore::new())).await;
    let url = format!("{origin}/forge/remote/hello");
    let token = token();
    let bearer = format!("Bearer {token}");
    let wrong_app = fit(&with("aud", json!(OTHER_APP_ID)));
    let forged = attacker().sign(&header(KID), &claims());
    let oauth_system = ("x-forge-oauth-system", SYSTEM_TOKEN);
    let oauth_user = ("x-forge-oauth-user", USER_TOKEN);

    // A valid call with forwarded tokens logs nothing of them.
    let reply = post_with(
        &url,
        &[("authorization", &bearer), oauth_system, oauth_user],
    )
    .await;
    assert_eq!(reply.status, 200);
    let log = captured.take();
    assert!(log.is_empty(), "{log}");

    let wrong_app_bearer = format!("Bearer {wrong_app}");
    let forged_bearer = format!("Bearer {forged}");
    // The headers, the code and the level of each refusal.
    type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            vec![
                ("authorization", &wrong_app_bearer),
                oauth_system,
                oauth_user,
            ],
            "app-id-mismatch",
            "DEBUG",
        ),
        (
            vec![("authorization", &forged_bearer), oauth_system],
            "invalid-signature",
            "DEBUG",
        ),
        (
            vec![("authorization", &bearer), ("x-forge-oauth-user", "a b")],
            "invalid-oauth-token",
            "DEBUG",
        ),
        (vec![oauth_system, oauth_user], "missing-token", "DEBUG"),
    ];
    for (headers, code, level) in cases {
        let reply = post_with(&url, &headers).await;
        assert_eq!(reply, Reply::refused(code));
        let log = captured.take();
        // One event, with its code and level: a refusal is never silent.
        assert_eq!(log.lines().count(), 1, "{code}: {log}");
        assert!(
            log.contains(&format!(" {level} atlassian_connect_jwt::axum: ")),
            "{log}"
        );
        assert!(log.contains(&format!("code=\"{code}\"")), "{log}");
        assert!(log.contains("route=\"forge\""), "{log}");
        if code != "missing-token" {
            assert!(log.contains(&format!("kid=\"{KID}\"")), "{log}");
        }
    }

    // The key set down: a warning.
    let down = JwksServer::start();
    down.answer("/jwks.json", Answer::Status(500));
    let origin = serve(
        ForgeAuth::new(verifier(), down.keys()),
        Arc::new(MemoryTenantStore::new()),
    )
    .await;
    assert_eq!(
        call(&origin, &token).await,
        Reply::failed(503, "key-unavailable")
    );
    let log = captured.take();
    assert!(log.contains(" WARN atlassian_connect_jwt::axum: "), "{log}");
    assert!(log.contains("code=\"key-unavailable\""), "{log}");

    // Nothing anyone logged (the HTTP client and server included) holds a token segment or a
    // forwarded OAuth token.
    let all = captured.all();
    for token in [&token, &wrong_app, &forged] {
        for segment in token.split('.') {
            assert!(!all.contains(segment), "a token segment in {all}");
        }
    }
    for secret in [SYSTEM_TOKEN, USER_TOKEN, SHARED_SECRET] {
        assert!(!all.contains(secret), "{secret} in {all}");
    }
    // Not even the start of one: every JSON segment encodes `{"` as `eyJ`.
    assert!(!all.contains("eyJ"), "{all}");
}
