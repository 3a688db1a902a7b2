//! The lifecycle routes of `ConnectLifecycle` (feature `axum`) over real HTTP on 127.0.0.1:
//! verified callbacks write the store (at the root and nested under a base path), each
//! refusal has its exact status, challenge and body and writes nothing, the body limit, and
//! a key server or store that cannot answer.
#![cfg(feature = "axum")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/connect_app.rs"]
mod app;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, OnceLock};

use app::{listener, serve, Answer, FailingStore};
use atlassian_connect_jwt::axum::ConnectLifecycle;
use atlassian_connect_jwt::{
    BasePath, CanonicalRequest, Error, InstallKey, InstallKeySource, InstallVerifier, KeyId,
    Lifecycle, LifecyclePaths, MemoryTenantStore, SharedSecret, Signer, TenantKey, TenantStore,
    Unavailable, UnixTime, MAX_LIFECYCLE_BODY,
};
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::sha2::Sha256;
use rsa::signature::{SignatureEncoding, Signer as _};
use rsa::RsaPrivateKey;
use serde_json::json;

const APP_KEY: &str = "com.example.app";
const KID: &str = "install-key-1";
const TENANT: &str = "tenant-1";
const SECRET: &str = "tenant-1-shared-secret-0123456789abcdef";

/// Atlassian's key pair and another one (an attacker's), generated once per test binary.
fn keys() -> &'static [(RsaPrivateKey, InstallKey); 2] {
    static KEYS: OnceLock<[(RsaPrivateKey, InstallKey); 2]> = OnceLock::new();
    KEYS.get_or_init(|| {
        [0, 1].map(|_| {
            let private = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
            let pem = private
                .to_public_key()
                .to_public_key_pem(LineEnding::LF)
                .unwrap();
            (private, InstallKey::from_pem(&pem).unwrap())
        })
    })
}

/// The key server: Atlassian's public key under [`KID`].
fn key_server() -> HashMap<String, InstallKey> {
    HashMap::from([(KID.to_owned(), keys()[0].1.clone())])
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// How a test's lifecycle token is made.
struct Install<'a> {
    event: &'a str,
    aud: &'a str,
    kid: &'a str,
    /// Index into [`keys`]: 0 is Atlassian's.
    signer: usize,
}

impl<'a> Install<'a> {
    fn genuine(event: &'a str, aud: &'a str) -> Self {
        Self {
            event,
            aud,
            kid: KID,
            signer: 0,
        }
    }

    /// `Authorization: JWT <RS256 token>` for `POST /<event>` (relative to the base URL).
    fn authorization(&self) -> String {
        let path = format!("/{}", self.event);
        let request = CanonicalRequest::from_target("POST", &path, None).unwrap();
        let now = UnixTime::now().as_secs();
        let header = json!({"kid": self.kid, "typ": "JWT", "alg": "RS256"});
        let claims = json!({
            "iss": TENANT, "aud": self.aud, "iat": now, "exp": now + 180,
            "qsh": request.qsh().to_string(),
        });
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let private = keys()[self.signer].0.clone();
        let signature = SigningKey::<Sha256>::new(private).sign(input.as_bytes());
        format!("JWT {input}.{}", b64(&signature.to_vec()))
    }
}

/// The product's body for `event`.
fn body(event: &str, secret: &str) -> String {
    let mut body = json!({
        "key": APP_KEY, "clientKey": TENANT, "sharedSecret": secret,
        "baseUrl": "https://tenant-1.atlassian.net", "productType": "jira", "eventType": event,
    });
    if event == "uninstalled" {
        body.as_object_mut().unwrap().remove("sharedSecret");
    }
    body.to_string()
}

/// Serves the lifecycle routes of an app with base URL `http://127.0.0.1:PORT<base_path>`
/// (nested under `base_path` when it is not empty), keys from `keys`, tenants in `store`;
/// returns that base URL.
async fn start<K>(store: Arc<dyn TenantStore>, keys: K, base_path: &str) -> String
where
    K: InstallKeySource + Send + Sync + 'static,
{
    start_with(store, keys, base_path, |verifier| verifier).await
}

async fn start_with<K>(
    store: Arc<dyn TenantStore>,
    keys: K,
    base_path: &str,
    configure: impl FnOnce(InstallVerifier) -> InstallVerifier,
) -> String
where
    K: InstallKeySource + Send + Sync + 'static,
{
    let (listener, addr) = listener().await;
    let base_url = format!("http://{addr}{base_path}");
    let verifier = configure(InstallVerifier::new(&base_url).unwrap());
    let lifecycle = Lifecycle::new(verifier, keys, store).with_app_key(APP_KEY);
    let routes =
        ConnectLifecycle::new(BasePath::parse(&base_url).unwrap(), lifecycle).into_router::<()>();
    let app = if base_path.is_empty() {
        routes
    } else {
        Router::new().nest(base_path, routes)
    };
    serve(listener, app);
    base_url
}

/// `POST url` with `authorization` and `body`: status, challenge, body.
async fn post(url: &str, authorization: Option<&str>, body: impl Into<reqwest::Body>) -> Answer {
    let mut request = reqwest::Client::new().post(url).body(body);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    Answer {
        status,
        challenge,
        body: response.text().await.unwrap(),
    }
}

fn no_content() -> Answer {
    Answer {
        status: 204,
        challenge: None,
        body: String::new(),
    }
}

/// The stored secret of [`TENANT`] and whether it is installed.
async fn stored(store: &MemoryTenantStore) -> Option<(String, bool)> {
    let tenant = store.get(TENANT).await.unwrap()?;
    Some((
        tenant.shared_secret().expose().to_owned(),
        tenant.is_installed(),
    ))
}

#[tokio::test]
async fn verified_callbacks_write_the_store() {
    let store = Arc::new(MemoryTenantStore::new());
    let base = start(store.clone(), key_server(), "").await;
    let install = Install::genuine("installed", &base).authorization();
    let answer = post(
        &format!("{base}/installed"),
        Some(&install),
        body("installed", SECRET),
    )
    .await;
    assert_eq!(answer, no_content());
    assert_eq!(stored(&store).await, Some((SECRET.to_owned(), true)));

    let uninstall = Install::genuine("uninstalled", &base).authorization();
    let answer = post(
        &format!("{base}/uninstalled"),
        Some(&uninstall),
        body("uninstalled", ""),
    )
    .await;
    assert_eq!(answer, no_content());
    assert_eq!(stored(&store).await, Some((SECRET.to_owned(), false)));
}

#[tokio::test]
async fn nested_under_the_base_path_the_received_uri_is_hashed() {
    let store = Arc::new(MemoryTenantStore::new());
    let base = start(store.clone(), key_server(), "/connect/app").await;
    let install = Install::genuine("installed", &base).authorization();
    let answer = post(
        &format!("{base}/installed"),
        Some(&install),
        body("installed", SECRET),
    )
    .await;
    assert_eq!(answer, no_content());
    assert_eq!(stored(&store).await, Some((SECRET.to_owned(), true)));

    // The same callback outside the base path finds no route.
    let origin = base.trim_end_matches("/connect/app");
    let answer = post(
        &format!("{origin}/installed"),
        Some(&install),
        body("installed", "another-secret-0123456789abcdef0123"),
    )
    .await;
    assert_eq!(answer.status, 404);
    assert_eq!(stored(&store).await, Some((SECRET.to_owned(), true)));
}

#[tokio::test]
async fn refused_callbacks_change_nothing() {
    let store = Arc::new(MemoryTenantStore::new());
    let base = start(store.clone(), key_server(), "").await;
    let installed = format!("{base}/installed");
    let genuine = Install::genuine("installed", &base).authorization();
    assert_eq!(
        post(&installed, Some(&genuine), body("installed", SECRET)).await,
        no_content()
    );

    let forged = "forged-secret-0123456789abcdef01234567";
    // An HS256 token signed with the secret its own body announces.
    let hs256 = Signer::new(TENANT)
        .sign_request(
            &CanonicalRequest::from_target("POST", "/installed", None).unwrap(),
            &TenantKey::new(TENANT, &SharedSecret::new(forged)).unwrap(),
            UnixTime::now(),
        )
        .unwrap()
        .authorization_header();
    let unknown_kid = Install {
        kid: "not-a-published-key",
        ..Install::genuine("installed", &base)
    };
    let wrong_key = Install {
        signer: 1,
        ..Install::genuine("installed", &base)
    };
    let wrong_aud = Install::genuine("installed", "https://another-app.example.com");
    let uninstall_token = Install::genuine("uninstalled", &base).authorization();
    let other_app = body("installed", forged).replace(APP_KEY, "com.example.other");
    let cases: [(&str, Option<String>, String, &str); 8] = [
        (
            "hs256",
            Some(hs256),
            body("installed", forged),
            "symmetric-token-on-lifecycle-route",
        ),
        (
            "unknown kid",
            Some(unknown_kid.authorization()),
            body("installed", forged),
            "unknown-key-id",
        ),
        (
            "wrong key",
            Some(wrong_key.authorization()),
            body("installed", forged),
            "invalid-signature",
        ),
        (
            "wrong aud",
            Some(wrong_aud.authorization()),
            body("installed", forged),
            "audience-mismatch",
        ),
        (
            "uninstall token",
            Some(uninstall_token),
            body("installed", forged),
            "wrong-lifecycle-event",
        ),
        (
            "other app",
            Some(genuine.clone()),
            other_app,
            "app-key-mismatch",
        ),
        ("no token", None, body("installed", forged), "missing-token"),
        (
            "not utf-8",
            Some(genuine.clone()),
            String::new(),
            "invalid-lifecycle-payload",
        ),
    ];
    for (name, authorization, body, code) in cases {
        let body: Vec<u8> = if name == "not utf-8" {
            vec![b'{', 0xff, b'}']
        } else {
            body.into_bytes()
        };
        let answer = post(&installed, authorization.as_deref(), body).await;
        assert_eq!(answer, Answer::refused(code), "{name}");
        assert_eq!(
            stored(&store).await,
            Some((SECRET.to_owned(), true)),
            "{name}"
        );
    }
}

#[tokio::test]
async fn bodies_up_to_the_limit_are_read_and_longer_ones_refused() {
    let store = Arc::new(MemoryTenantStore::new());
    let base = start(store.clone(), key_server(), "").await;
    let installed = format!("{base}/installed");
    let install = Install::genuine("installed", &base).authorization();
    let mut padded = body("installed", SECRET);
    padded.push_str(&" ".repeat(MAX_LIFECYCLE_BODY - padded.len()));
    assert_eq!(padded.len(), MAX_LIFECYCLE_BODY);
    let mut longer = padded.clone();
    longer.push(' ');

    let answer = post(&installed, Some(&install), longer).await;
    assert_eq!(answer.status, 413);
    assert_eq!(stored(&store).await, None);

    assert_eq!(post(&installed, Some(&install), padded).await, no_content());
    assert_eq!(stored(&store).await, Some((SECRET.to_owned(), true)));
}

/// A key server that cannot be reached.
struct DownKeyServer;

impl InstallKeySource for DownKeyServer {
    fn install_key(&self, _: &KeyId) -> impl Future<Output = Result<InstallKey, Error>> + Send {
        std::future::ready(Err(Error::Unavailable(Unavailable::Key {
            reason: "connection refused",
        })))
    }
}

#[tokio::test]
async fn a_key_server_or_store_that_cannot_answer_is_a_503() {
    let store = Arc::new(MemoryTenantStore::new());
    let base = start(store.clone(), DownKeyServer, "").await;
    let install = Install::genuine("installed", &base).authorization();
    let answer = post(
        &format!("{base}/installed"),
        Some(&install),
        body("installed", SECRET),
    )
    .await;
    assert_eq!(answer, Answer::failed(503, "key-unavailable"));
    assert_eq!(stored(&store).await, None);

    let base = start(Arc::new(FailingStore), key_server(), "").await;
    let install = Install::genuine("installed", &base).authorization();
    let answer = post(
        &format!("{base}/installed"),
        Some(&install),
        body("installed", SECRET),
    )
    .await;
    assert_eq!(answer, Answer::failed(503, "secret-store-unavailable"));
}

#[tokio::test]
async fn a_verifier_with_other_lifecycle_paths_is_a_500() {
    let store = Arc::new(MemoryTenantStore::new());
    let paths = LifecyclePaths {
        installed: "/lifecycle/installed",
        uninstalled: "/lifecycle/uninstalled",
    };
    let base = start_with(store.clone(), key_server(), "", |verifier| {
        verifier.with_lifecycle_paths(paths).unwrap()
    })
    .await;
    let install = Install::genuine("installed", &base).authorization();
    let answer = post(
        &format!("{base}/installed"),
        Some(&install),
        body("installed", SECRET),
    )
    .await;
    assert_eq!(answer, Answer::failed(500, "not-a-lifecycle-path"));
    assert_eq!(stored(&store).await, None);
}
