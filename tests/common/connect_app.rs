//! Shared by the axum tests: tenants installed through the public API (a real RS256 install
//! token verified by `InstallVerifier`, then `InstalledTenant::from_verified`), test stores
//! that fail on purpose, tokens signed with `Signer`, an axum app served on 127.0.0.1, and a
//! client that returns status, `WWW-Authenticate` and body.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use atlassian_connect_jwt::axum::{
    ConnectAuth, ConnectContext, ConnectRequest, ConnectRequestOrContext,
};
use atlassian_connect_jwt::{
    BasePath, CanonicalRequest, InstallToken, InstallVerifier, InstalledTenant, MemoryTenantStore,
    SharedSecret, Signer, StoreError, StoreFuture, StoredTenant, Tenant, TenantKey, TenantStore,
    UninstalledTenant, UnixTime, VerifiedInstall,
};
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::sha2::Sha256;
use rsa::signature::{SignatureEncoding, Signer as _};
use rsa::RsaPrivateKey;

/// The installed tenant.
pub(crate) const TENANT: &str = "tenant-1";
/// Its shared secret (never to appear in a log).
pub(crate) const SECRET: &str = "tenant-1-shared-secret-0123456789abcdef";
/// Its product base URL.
pub(crate) const TENANT_BASE_URL: &str = "https://tenant-1.atlassian.net";
/// A tenant that installed, then uninstalled the app.
pub(crate) const GONE: &str = "tenant-gone";
pub(crate) const GONE_SECRET: &str = "tenant-gone-shared-secret-0123456789abc";
/// A tenant never installed.
pub(crate) const STRANGER: &str = "tenant-never-installed";
/// The user in the tokens.
pub(crate) const ACCOUNT: &str = "557058:account-1";

const APP_BASE_URL: &str = "https://app.example.com";
const KID: &str = "test-install-key";

/// Atlassian's signed-install key pair, generated once per test binary.
fn install_key_pair() -> &'static (RsaPrivateKey, String) {
    static PAIR: OnceLock<(RsaPrivateKey, String)> = OnceLock::new();
    PAIR.get_or_init(|| {
        let private = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
        let pem = private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        (private, pem)
    })
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A lifecycle callback as the product sends it, verified as an app must.
pub(crate) fn verified_lifecycle(event: &str, client_key: &str, secret: &str) -> VerifiedInstall {
    let (private, pem) = install_key_pair();
    let path = format!("/{event}");
    let request = CanonicalRequest::from_target("POST", &path, None).unwrap();
    let now = UnixTime::now();
    let header = format!(r#"{{"kid":"{KID}","typ":"JWT","alg":"RS256"}}"#);
    let claims = serde_json::json!({
        "iss": client_key,
        "aud": APP_BASE_URL,
        "iat": now.as_secs(),
        "exp": now.as_secs() + 180,
        "qsh": request.qsh().to_string(),
    });
    let input = format!(
        "{}.{}",
        b64(header.as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = SigningKey::<Sha256>::new(private.clone()).sign(input.as_bytes());
    let token = format!("{input}.{}", b64(&signature.to_vec()));
    let mut body = serde_json::json!({
        "key": "my-app",
        "clientKey": client_key,
        "sharedSecret": secret,
        "baseUrl": format!("https://{client_key}.atlassian.net"),
        "productType": "jira",
        "eventType": event,
    });
    if event == "uninstalled" {
        body.as_object_mut().unwrap().remove("sharedSecret");
    }
    let key = atlassian_connect_jwt::InstallKey::from_pem(pem).unwrap();
    InstallVerifier::new(APP_BASE_URL)
        .unwrap()
        .verify(
            InstallToken::parse(&token).unwrap(),
            &body.to_string(),
            &request,
            &key,
            now,
        )
        .unwrap()
}

/// A store with [`TENANT`] installed and [`GONE`] installed, then uninstalled.
pub(crate) async fn seeded_store() -> Arc<MemoryTenantStore> {
    let store = Arc::new(MemoryTenantStore::new());
    for (client_key, secret) in [(TENANT, SECRET), (GONE, GONE_SECRET)] {
        let install = verified_lifecycle("installed", client_key, secret);
        let installed = InstalledTenant::from_verified(&install).unwrap();
        store.save_install(&installed).await.unwrap();
    }
    let uninstall = verified_lifecycle("uninstalled", GONE, GONE_SECRET);
    let uninstalled = UninstalledTenant::from_verified(&uninstall).unwrap();
    assert!(store.mark_uninstalled(&uninstalled).await.unwrap());
    let gone = store.get(GONE).await.unwrap().unwrap();
    assert!(!gone.is_installed());
    store
}

/// A store whose database is down.
pub(crate) struct FailingStore;

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

/// A broken store: whatever it is asked, it answers with another tenant's row (the
/// [`SECRET`] of [`TENANT`] under the clientKey `someone-else`).
pub(crate) struct WrongTenantStore;

impl WrongTenantStore {
    fn row() -> Tenant {
        Tenant::from_stored(StoredTenant {
            client_key: "someone-else".to_owned(),
            shared_secret: SharedSecret::new(SECRET),
            base_url: "https://someone-else.atlassian.net".to_owned(),
            display_url: None,
            product_type: None,
            installation_id: None,
            oauth_client_id: None,
            installed: true,
        })
    }
}

impl TenantStore for WrongTenantStore {
    fn get<'a>(&'a self, _: &'a str) -> StoreFuture<'a, Option<Tenant>> {
        Box::pin(async { Ok(Some(Self::row())) })
    }
    fn get_by_installation_id<'a>(&'a self, _: &'a str) -> StoreFuture<'a, Option<Tenant>> {
        Box::pin(async { Ok(Some(Self::row())) })
    }
    fn save_install<'a>(&'a self, _: &'a InstalledTenant) -> StoreFuture<'a, bool> {
        Box::pin(async { Ok(false) })
    }
    fn mark_uninstalled<'a>(&'a self, _: &'a UninstalledTenant) -> StoreFuture<'a, bool> {
        Box::pin(async { Ok(false) })
    }
}

pub(crate) fn key(client_key: &str, secret: &str) -> TenantKey {
    TenantKey::new(client_key, &SharedSecret::new(secret)).unwrap()
}

pub(crate) fn tenant_key() -> TenantKey {
    key(TENANT, SECRET)
}

/// A request-bound token for `method target`, as the product signs it: `target` is relative
/// to the app's base URL.
pub(crate) fn request_token(key: &TenantKey, method: &str, target: &str) -> String {
    request_token_at(key, method, target, UnixTime::now())
}

pub(crate) fn request_token_at(
    key: &TenantKey,
    method: &str,
    target: &str,
    now: UnixTime,
) -> String {
    let request = CanonicalRequest::from_target(method, target, None).unwrap();
    Signer::new(key.client_key())
        .with_subject(ACCOUNT)
        .sign_request(&request, key, now)
        .unwrap()
        .into_string()
}

/// A context token (`AP.context.getToken()`).
pub(crate) fn context_token(key: &TenantKey) -> String {
    Signer::new(key.client_key())
        .with_subject(ACCOUNT)
        .sign_context(key, UnixTime::now())
        .unwrap()
        .into_string()
}

/// What every handler answers: who, with which kind of token, for which product.
fn describe(verified: &atlassian_connect_jwt::Verified, tenant: &Tenant) -> String {
    format!(
        "{} {} {} {}",
        verified.client_key(),
        verified.kind().as_str(),
        verified.account_id().unwrap_or("-"),
        tenant.base_url()
    )
}

/// The routes of a Connect app: an iframe, a webhook, the app's own API, and a route that
/// serves both kinds of token.
pub(crate) fn extractor_routes() -> Router<ConnectAuth> {
    Router::new()
        .route(
            "/panel",
            get(|c: ConnectRequest| async move { describe(c.verified(), c.tenant()) }),
        )
        .route(
            "/webhook",
            post(|c: ConnectRequest| async move { describe(c.verified(), c.tenant()) }),
        )
        .route(
            "/api/data",
            get(|c: ConnectContext| async move { describe(c.verified(), c.tenant()) }),
        )
        .route(
            "/both",
            get(|c: ConnectRequestOrContext| async move { describe(c.verified(), c.tenant()) }),
        )
}

/// The expected body of a handler for a verified [`TENANT`] token of `kind`.
pub(crate) fn ok_body(kind: &str) -> String {
    format!("{TENANT} {kind} {ACCOUNT} {TENANT_BASE_URL}")
}

/// A listener on 127.0.0.1 and the port it got.
pub(crate) async fn listener() -> (tokio::net::TcpListener, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// Serves `app` on `listener` until the test's runtime ends.
pub(crate) fn serve(listener: tokio::net::TcpListener, app: Router) {
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
}

/// The extractor routes at the root of an app with base URL `http://127.0.0.1:PORT`.
pub(crate) async fn start(store: Arc<dyn TenantStore>) -> String {
    let (listener, addr) = listener().await;
    let origin = format!("http://{addr}");
    let auth = ConnectAuth::new(BasePath::parse(&origin).unwrap(), store);
    serve(listener, extractor_routes().with_state(auth));
    origin
}

/// What a test looks at in an answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) challenge: Option<String>,
    pub(crate) body: String,
}

impl Answer {
    pub(crate) fn ok(body: String) -> Self {
        Self {
            status: 200,
            challenge: None,
            body,
        }
    }

    /// A 401 with `WWW-Authenticate: JWT` and the code as the body.
    pub(crate) fn refused(code: &str) -> Self {
        Self {
            status: 401,
            challenge: Some("JWT".to_owned()),
            body: code.to_owned(),
        }
    }

    /// A 503 or 500 with the code as the body and no challenge.
    pub(crate) fn failed(status: u16, code: &str) -> Self {
        Self {
            status,
            challenge: None,
            body: code.to_owned(),
        }
    }
}

/// Sends `method url` with these `Authorization` values.
pub(crate) async fn send(method: &str, url: &str, authorization: &[&str]) -> Answer {
    let client = reqwest::Client::new();
    let mut request = client.request(method.parse().unwrap(), url);
    for value in authorization {
        request = request.header("authorization", *value);
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
    let body = response.text().await.unwrap();
    Answer {
        status,
        challenge,
        body,
    }
}

pub(crate) async fn get_with(url: &str, authorization: &[&str]) -> Answer {
    send("GET", url, authorization).await
}

/// `GET url` with the token in `Authorization: JWT`.
pub(crate) async fn get_jwt(url: &str, token: &str) -> Answer {
    send("GET", url, &[&format!("JWT {token}")]).await
}
