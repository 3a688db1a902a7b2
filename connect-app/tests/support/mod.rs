//! The product's side of the end-to-end tests: tokens from the npm `atlassian-jwt` (driven
//! through `tests/reference/product.js`), a key server and a fake product on 127.0.0.1,
//! `connect-app` started as a process, an HTTP client, and the tenant store read directly.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use atlassian_connect_jwt::{CanonicalRequest, QshPolicy, SharedSecret, UnixTime, Verifier};
use axum::extract::{OriginalUri, Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get as route_get;
use axum::{Json, Router};
use serde_json::{json, Value};

/// The app key every test app runs with.
pub const APP_KEY: &str = "com.example.connect-app.e2e";
/// The signed-install key id the key server publishes.
pub const KID: &str = "e2e-install-key";
/// The user of the tokens.
pub const ACCOUNT: &str = "557058:ada";
/// A user whose profile the fake product fails to return.
pub const BROKEN_ACCOUNT: &str = "557058:broken";
/// The display name the fake product returns: markup, to show the page escapes it.
pub const DISPLAY_NAME: &str = "Ada <Lovelace>";

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

// ----- tokens from npm atlassian-jwt -----

/// `tests/reference/product.js` running on node, or `None` after a loud SKIPPED banner (a
/// failure under `REQUIRE_NODE=1`).
pub struct Npm {
    inner: Mutex<NpmProcess>,
}

struct NpmProcess {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

fn reference_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/reference")
}

impl Npm {
    pub fn start(what: &str) -> Option<Self> {
        let dir = reference_dir();
        let package = dir.join("node_modules/atlassian-jwt/package.json");
        let problem = if !package.is_file() {
            Some(format!("{} is missing", package.display()))
        } else {
            match Command::new("node").arg("--version").output() {
                Ok(out) if out.status.success() => None,
                Ok(out) => Some(format!("`node --version` failed: {}", out.status)),
                Err(err) => Some(format!("`node` is not runnable: {err}")),
            }
        };
        if let Some(why) = problem {
            let message = format!("{what} needs node and 'npm ci --prefix tests/reference': {why}");
            assert!(
                std::env::var("REQUIRE_NODE").as_deref() != Ok("1"),
                "REQUIRE_NODE=1 but {message}"
            );
            eprintln!("\n{0}\nSKIPPED: {message}\n{0}\n", "!".repeat(78));
            return None;
        }
        let mut child = Command::new("node")
            .arg(dir.join("product.js"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Some(Self {
            inner: Mutex::new(NpmProcess {
                child,
                stdin,
                stdout,
            }),
        })
    }

    fn call(&self, input: Value) -> Value {
        let mut process = self.inner.lock().unwrap();
        writeln!(process.stdin, "{input}").unwrap();
        process.stdin.flush().unwrap();
        let mut line = String::new();
        process.stdout.read_line(&mut line).unwrap();
        let output: Value = serde_json::from_str(&line).unwrap();
        assert!(output.get("error").is_none(), "product.js: {output}");
        output
    }

    fn token(&self, input: Value) -> String {
        self.call(input)["token"].as_str().unwrap().to_owned()
    }

    /// A request-bound token for `method url` (`url` relative to the app's base URL, as the
    /// product signs it), valid from now for three minutes.
    pub fn request(&self, tenant: &Tenant, method: &str, url: &str) -> String {
        self.request_at(tenant, method, url, now(), Some(ACCOUNT))
    }

    pub fn request_at(
        &self,
        tenant: &Tenant,
        method: &str,
        url: &str,
        iat: u64,
        sub: Option<&str>,
    ) -> String {
        let mut input = json!({
            "op": "request", "method": method, "url": url, "secret": tenant.secret,
            "iss": tenant.client_key, "iat": iat, "exp": iat + 180,
        });
        if let Some(sub) = sub {
            input["sub"] = json!(sub);
        }
        self.token(input)
    }

    /// A context token (`AP.context.getToken()`) valid for `lifetime` seconds from now.
    pub fn context(&self, tenant: &Tenant, lifetime: u64) -> String {
        let iat = now();
        self.token(json!({
            "op": "context", "secret": tenant.secret, "iss": tenant.client_key,
            "sub": ACCOUNT, "iat": iat, "exp": iat + lifetime,
        }))
    }

    /// An RS256 signed-install token for `POST <path>`.
    pub fn install(
        &self,
        key: &KeyPair,
        kid: &str,
        client_key: &str,
        aud: &str,
        path: &str,
    ) -> String {
        let iat = now();
        self.token(json!({
            "op": "install", "url": path, "privateKey": key.private_pem, "kid": kid,
            "iss": client_key, "aud": aud, "iat": iat, "exp": iat + 180,
        }))
    }

    /// A fresh RSA 2048 key pair.
    pub fn keypair(&self) -> KeyPair {
        let out = self.call(json!({"op": "keypair"}));
        KeyPair {
            private_pem: out["privateKey"].as_str().unwrap().to_owned(),
            public_pem: out["publicKey"].as_str().unwrap().to_owned(),
        }
    }
}

impl Drop for Npm {
    fn drop(&mut self) {
        if let Ok(mut process) = self.inner.lock() {
            let _ = process.child.kill();
            let _ = process.child.wait();
        }
    }
}

pub struct KeyPair {
    pub private_pem: String,
    pub public_pem: String,
}

/// A tenant as the product knows it.
#[derive(Clone, Debug)]
pub struct Tenant {
    pub client_key: String,
    pub secret: String,
}

impl Tenant {
    pub fn new(client_key: &str, secret: &str) -> Self {
        Self {
            client_key: client_key.to_owned(),
            secret: secret.to_owned(),
        }
    }
}

// ----- the product: key server and REST API -----

/// Atlassian's key server and one Jira site, on one port: `/keys/<kid>` serves public keys,
/// `/rest/api/3/user` answers the app's calls signed with the tenant's current secret.
pub struct Product {
    pub origin: String,
    state: ProductState,
}

#[derive(Clone, Default)]
struct ProductState {
    keys: Arc<Mutex<HashMap<String, String>>>,
    /// The secret of the last install the product sent.
    secret: Arc<Mutex<Option<String>>>,
    /// The account ids of verified user lookups.
    lookups: Arc<Mutex<Vec<String>>>,
    /// The site's users for the bulk API: absent ones are deleted.
    users: Arc<Mutex<HashMap<String, bool>>>,
    /// When each verified bulk request arrived, and the ids it asked about.
    bulk: Arc<Mutex<Vec<BulkRequest>>>,
    /// Requests of the app the product refused (a JWT that did not verify).
    refused: Arc<Mutex<Vec<String>>>,
    /// The key set served at `/jwks.json` (Forge's, in the Forge tests).
    jwks: Arc<Mutex<String>>,
}

impl Product {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let state = ProductState::default();
        let app = Router::new()
            .route("/keys/{kid}", route_get(public_key))
            .route("/rest/api/3/user", route_get(user))
            .route("/rest/api/3/user/bulk", route_get(user_bulk))
            .route("/jwks.json", route_get(jwks))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { origin, state }
    }

    /// The key server's base URL (`CONNECT_APP_INSTALL_KEYS_URL`).
    pub fn keys_url(&self) -> String {
        format!("{}/keys", self.origin)
    }

    pub fn publish_key(&self, kid: &str, public_pem: &str) {
        self.state
            .keys
            .lock()
            .unwrap()
            .insert(kid.to_owned(), public_pem.to_owned());
    }

    /// From now on the product signs and checks with `secret` (it sent it in an install).
    pub fn use_secret(&self, secret: &str) {
        *self.state.secret.lock().unwrap() = Some(secret.to_owned());
    }

    /// The account ids the app looked up with a verified request, so far.
    pub fn lookups(&self) -> Vec<String> {
        self.state.lookups.lock().unwrap().clone()
    }

    /// The user is active (`true`) or deactivated (`false`) in the site.
    pub fn set_user(&self, account_id: &str, active: bool) {
        self.state
            .users
            .lock()
            .unwrap()
            .insert(account_id.to_owned(), active);
    }

    /// The user is deleted: the bulk API leaves them out.
    pub fn delete_user(&self, account_id: &str) {
        self.state.users.lock().unwrap().remove(account_id);
    }

    /// The verified bulk user requests so far: when each arrived, which ids it asked about.
    pub fn bulk_requests(&self) -> Vec<BulkRequest> {
        self.state.bulk.lock().unwrap().clone()
    }

    /// The codes of the app's requests the product refused, so far.
    pub fn refused(&self) -> Vec<String> {
        self.state.refused.lock().unwrap().clone()
    }

    /// Serves `key_set` at `/jwks.json`.
    pub fn serve_jwks(&self, key_set: &str) {
        *self.state.jwks.lock().unwrap() = key_set.to_owned();
    }
}

/// When a bulk request arrived, and the account ids it asked about.
type BulkRequest = (Instant, Vec<String>);

/// Verifies the app's request as Jira does: its JWT (`iss` the app key) with the tenant's
/// secret, bound to this very request.
fn verify_app_request(
    state: &ProductState,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
) -> Result<(), (StatusCode, &'static str)> {
    let Some(secret) = state.secret.lock().unwrap().clone() else {
        return Err((StatusCode::UNAUTHORIZED, "not installed"));
    };
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let request = CanonicalRequest::from_parts("GET", uri.path(), uri.query(), None).unwrap();
    let verified = request.token(authorization.as_deref()).and_then(|token| {
        let secrets = |iss: &str| (iss == APP_KEY).then(|| SharedSecret::new(secret.clone()));
        Verifier::new().verify(
            token,
            QshPolicy::Request(&request),
            &secrets,
            UnixTime::now(),
        )
    });
    verified.map(|_| ()).map_err(|error| {
        state.refused.lock().unwrap().push(error.code().to_owned());
        (StatusCode::UNAUTHORIZED, error.code())
    })
}

/// Jira's `GET /rest/api/3/user/bulk?accountId=..`: the asked users the site has, in one
/// page (`isLast`), each with `active`.
async fn user_bulk(
    State(state): State<ProductState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let arrived = Instant::now();
    if let Err(refused) = verify_app_request(&state, &uri, &headers) {
        return refused.into_response();
    }
    let ids: Vec<String> = url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .filter(|(name, _)| name == "accountId")
        .map(|(_, value)| value.into_owned())
        .collect();
    let users = state.users.lock().unwrap().clone();
    let values: Vec<Value> = ids
        .iter()
        .filter_map(|id| {
            users
                .get(id)
                .map(|active| json!({"accountId": id, "active": active}))
        })
        .collect();
    state.bulk.lock().unwrap().push((arrived, ids));
    Json(json!({"startAt": 0, "maxResults": 90, "total": values.len(), "isLast": true, "values": values}))
        .into_response()
}

async fn jwks(State(state): State<ProductState>) -> Response {
    (
        [("content-type", "application/json")],
        state.jwks.lock().unwrap().clone(),
    )
        .into_response()
}

async fn public_key(State(state): State<ProductState>, UrlPath(kid): UrlPath<String>) -> Response {
    match state.keys.lock().unwrap().get(&kid) {
        Some(pem) => pem.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Jira's `GET /rest/api/3/user?accountId=`, for the app only: its JWT (`iss` the app key)
/// must verify with the tenant's secret and be bound to this very request.
async fn user(
    State(state): State<ProductState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = verify_app_request(&state, &uri, &headers) {
        return refused.into_response();
    }
    let account_id = url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .find(|(name, _)| name == "accountId")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    if account_id == BROKEN_ACCOUNT {
        return (StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response();
    }
    state.lookups.lock().unwrap().push(account_id.clone());
    Json(json!({"accountId": account_id, "displayName": DISPLAY_NAME})).into_response()
}

// ----- the app as a process -----

/// `connect-app` started from its binary, killed on drop.
pub struct AppProcess {
    child: Option<Child>,
    /// The descriptor's baseUrl.
    pub base_url: String,
    log: PathBuf,
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl AppProcess {
    /// Starts the app on a free port with base URL `http://127.0.0.1:PORT<base_path>`, waits
    /// until `/healthz` answers.
    pub async fn start(base_path: &str, database_url: &str, product: &Product, dir: &Path) -> Self {
        let port = free_port();
        Self::start_on(port, base_path, database_url, product, dir).await
    }

    pub async fn start_on(
        port: u16,
        base_path: &str,
        database_url: &str,
        product: &Product,
        dir: &Path,
    ) -> Self {
        Self::start_with(port, base_path, database_url, product, dir, &[]).await
    }

    /// As [`start_on`](Self::start_on), with more `CONNECT_APP_*` settings in `env`.
    pub async fn start_with(
        port: u16,
        base_path: &str,
        database_url: &str,
        product: &Product,
        dir: &Path,
        env: &[(&str, &str)],
    ) -> Self {
        let base_url = format!("http://127.0.0.1:{port}{base_path}");
        let log = dir.join(format!("connect-app-{port}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_connect-app"))
            .envs(env.iter().copied())
            .env("CONNECT_APP_LISTEN", format!("127.0.0.1:{port}"))
            .env("CONNECT_APP_BASE_URL", &base_url)
            .env("CONNECT_APP_KEY", APP_KEY)
            .env("CONNECT_APP_DATABASE_URL", database_url)
            .env("CONNECT_APP_INSTALL_KEYS_URL", product.keys_url())
            .env("RUST_LOG", "info")
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut app = Self {
            child: Some(child),
            base_url,
            log,
        };
        app.wait_healthy().await;
        app
    }

    async fn wait_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let health = self.url("/healthz");
        loop {
            if let Ok(response) = reqwest::get(&health).await {
                if response.status() == 200 {
                    return;
                }
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("connect-app exited with {status}:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "connect-app did not start:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `path` under the base URL.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// What the app logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then waits: the app must shut down cleanly (exit status 0).
    pub fn stop(mut self) {
        let mut child = self.child.take().unwrap();
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "connect-app exited with {status}");
                return;
            }
            assert!(Instant::now() < deadline, "connect-app ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for AppProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// ----- HTTP -----

/// What a test looks at in an answer.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub challenge: Option<String>,
    pub body: String,
}

impl Answer {
    /// A 401 with `WWW-Authenticate: JWT` and the code as the body.
    pub fn refused(code: &str) -> Self {
        Self {
            status: 401,
            challenge: Some("JWT".to_owned()),
            body: code.to_owned(),
        }
    }

    /// A 401 of a Bearer route (session, Forge) for a token it refused.
    pub fn invalid_token(code: &str) -> Self {
        Self {
            status: 401,
            challenge: Some("Bearer error=\"invalid_token\"".to_owned()),
            body: code.to_owned(),
        }
    }

    pub fn no_content() -> Self {
        Self {
            status: 204,
            challenge: None,
            body: String::new(),
        }
    }
}

pub async fn send(
    method: &str,
    url: &str,
    authorization: Option<&str>,
    body: Option<(&str, String)>,
) -> Answer {
    let client = reqwest::Client::new();
    let mut request = client.request(method.parse().unwrap(), url);
    if let Some(token) = authorization {
        request = request.header("authorization", format!("JWT {token}"));
    }
    if let Some((content_type, body)) = body {
        request = request.header("content-type", content_type).body(body);
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

pub async fn get(url: &str, authorization: Option<&str>) -> Answer {
    send("GET", url, authorization, None).await
}

/// `GET url` with `Authorization: Bearer <token>` (a session token, a Forge token).
pub async fn bearer(method: &str, url: &str, token: &str) -> Answer {
    let client = reqwest::Client::new();
    let response = client
        .request(method.parse().unwrap(), url)
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
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

// ----- the tenant store, read directly -----

/// Where the app keeps its tenants, read with a connection of the test's own.
pub enum StoreView {
    Sqlite(PathBuf),
    Postgres { url: String, schema: String },
}

impl StoreView {
    /// The stored secret of `client_key` and whether it is installed.
    pub async fn tenant(&self, client_key: &str) -> Option<(String, bool)> {
        match self {
            Self::Sqlite(path) => {
                let connection = rusqlite::Connection::open_with_flags(
                    path,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                )
                .unwrap();
                let row = connection.query_row(
                    "SELECT shared_secret, installed FROM connect_tenants WHERE client_key = ?1",
                    [client_key],
                    |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)? == 1)),
                );
                match row {
                    Ok(row) => Some(row),
                    Err(rusqlite::Error::QueryReturnedNoRows) => None,
                    Err(error) => panic!("{error}"),
                }
            }
            Self::Postgres { url, schema } => {
                let client = postgres_client(url).await;
                let rows = client
                    .query(
                        &format!(
                            "SELECT shared_secret, installed FROM {schema}.connect_tenants WHERE client_key = $1"
                        ),
                        &[&client_key],
                    )
                    .await
                    .unwrap();
                rows.first().map(|row| (row.get(0), row.get(1)))
            }
        }
    }
}

pub async fn postgres_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// `TEST_POSTGRES_URL`, or `None` after a loud SKIPPED banner (a failure under
/// `REQUIRE_POSTGRES=1`).
pub fn postgres_url_or_skip(what: &str) -> Option<String> {
    if let Ok(url) = std::env::var("TEST_POSTGRES_URL") {
        if !url.is_empty() {
            return Some(url);
        }
    }
    let message = format!(
        "{what} needs a PostgreSQL server: TEST_POSTGRES_URL is not set (run `eval \"$(bash .ci/services)\"` first)"
    );
    assert!(
        std::env::var("REQUIRE_POSTGRES").as_deref() != Ok("1"),
        "REQUIRE_POSTGRES=1 but {message}"
    );
    eprintln!("\n{0}\nSKIPPED: {message}\n{0}\n", "!".repeat(78));
    None
}

// ----- sessions -----

/// The session token in a panel page's `<meta name="app-session-token">`, if any.
pub fn session_token(page: &str) -> Option<String> {
    let start = page.find(r#"<meta name="app-session-token" content=""#)?;
    let rest = &page[start + r#"<meta name="app-session-token" content=""#.len()..];
    Some(rest[..rest.find('"')?].to_owned())
}

/// p50 and p99 of `samples`, nearest rank.
pub fn percentiles(samples: &[Duration]) -> (Duration, Duration) {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = |p: usize| sorted[(sorted.len() * p).div_ceil(100).max(1) - 1];
    (rank(50), rank(99))
}

// ----- Redis -----

/// A `redis-server` of the test's own on 127.0.0.1 (no persistence), killed on drop; it can
/// be killed and restarted empty on the same port.
pub struct Redis {
    binary: String,
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Redis {
    /// Starts one, or `None` after a loud SKIPPED banner when the binary is missing (a
    /// failure under `REQUIRE_REDIS=1`). The binary is `REDIS_SERVER` (set by `.ci/redis`)
    /// or `redis-server`.
    pub async fn start_or_skip(what: &str) -> Option<Self> {
        let binary = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned());
        let runs = Command::new(&binary)
            .arg("--version")
            .output()
            .is_ok_and(|out| out.status.success());
        if !runs {
            let message = format!(
                "{what} needs redis-server ({binary}): run `eval \"$(bash .ci/redis)\"` (Debian's redis-server)"
            );
            assert!(
                std::env::var("REQUIRE_REDIS").as_deref() != Ok("1"),
                "REQUIRE_REDIS=1 but {message}"
            );
            eprintln!("\n{0}\nSKIPPED: {message}\n{0}\n", "!".repeat(78));
            return None;
        }
        let mut redis = Self {
            binary,
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        redis.restart().await;
        Some(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Starts the server (empty: no persistence) and waits until it answers.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new(&self.binary)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                use std::io::Read;
                stream.write_all(b"PING\r\n").unwrap();
                let mut reply = [0u8; 7];
                if stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n" {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kills the server (SIGKILL: every connection drops at once, nothing is saved).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

// ----- Atlassian's side, for the session, browser and Forge tests -----

/// The iframe's URL as the product builds it (relative to the base URL), without `jwt`.
pub const PANEL: &str = "/panel?xdm_e=https%3A%2F%2Fsite.atlassian.net&lic=none&cv=1001.0.0";

/// npm's tokens, Atlassian's install key and its key server (served by `keys`, which is also
/// a Jira site), a directory for the apps' files.
pub struct Atlassian {
    pub npm: Npm,
    pub key: KeyPair,
    pub keys: Product,
    pub dir: tempfile::TempDir,
}

impl Atlassian {
    pub async fn start(what: &str) -> Option<Self> {
        let npm = Npm::start(what)?;
        let keys = Product::start().await;
        let key = npm.keypair();
        keys.publish_key(KID, &key.public_pem);
        Some(Self {
            npm,
            key,
            keys,
            dir: tempfile::tempdir().unwrap(),
        })
    }

    /// A fresh SQLite database in the test's directory.
    pub fn sqlite(&self, name: &str) -> String {
        format!("sqlite://{}", self.dir.path().join(name).display())
    }

    /// `connect-app` with the key server, `env` added.
    pub async fn app(&self, database: &str, env: &[(&str, &str)]) -> AppProcess {
        AppProcess::start_with(free_port(), "", database, &self.keys, self.dir.path(), env).await
    }

    /// A lifecycle callback of `tenant` of the Jira `site` to the app at `base_url`, signed by
    /// Atlassian; `installation_id` as a Forge app's Connect install sends it.
    pub async fn lifecycle(
        &self,
        base_url: &str,
        event: &str,
        tenant: &Tenant,
        site: &Product,
        installation_id: Option<&str>,
    ) -> Answer {
        let path = format!("/{event}");
        let token = self
            .npm
            .install(&self.key, KID, &tenant.client_key, base_url, &path);
        let mut body = json!({
            "key": APP_KEY, "clientKey": tenant.client_key, "sharedSecret": tenant.secret,
            "baseUrl": site.origin, "productType": "jira", "eventType": event,
        });
        if event == "uninstalled" {
            body.as_object_mut().unwrap().remove("sharedSecret");
        }
        if let Some(id) = installation_id {
            body["installationId"] = json!(id);
        }
        send(
            "POST",
            &format!("{base_url}{path}"),
            Some(&token),
            Some(("application/json", body.to_string())),
        )
        .await
    }

    /// Installs `tenant` of `site` in the app at `base_url` (the site then signs with its
    /// secret).
    pub async fn install(&self, base_url: &str, tenant: &Tenant, site: &Product) {
        let answer = self
            .lifecycle(base_url, "installed", tenant, site, None)
            .await;
        assert_eq!(answer, Answer::no_content());
        site.use_secret(&tenant.secret);
    }

    /// The panel's URL with a token the product signed for `user` (none: anonymous).
    pub fn panel_url(&self, base_url: &str, tenant: &Tenant, user: Option<&str>) -> String {
        let token = self.npm.request_at(tenant, "GET", PANEL, now(), user);
        format!("{base_url}{PANEL}&jwt={token}")
    }

    /// Loads the panel as `user` and returns the page's session token.
    pub async fn session(&self, base_url: &str, tenant: &Tenant, user: &str) -> String {
        let answer = get(&self.panel_url(base_url, tenant, Some(user)), None).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        session_token(&answer.body).expect("a session token in the page")
    }

    /// Jira's `user_deleted` webhook for `account_id` of `tenant`, signed by the product.
    pub async fn user_deleted(&self, base_url: &str, tenant: &Tenant, account_id: &str) -> Answer {
        let token = self.npm.request(tenant, "POST", "/webhooks/user-deleted");
        let body = json!({
            "timestamp": now() * 1000, "webhookEvent": "user_deleted",
            "user": {"accountId": account_id, "accountType": "atlassian"},
        });
        send(
            "POST",
            &format!("{base_url}/webhooks/user-deleted"),
            Some(&token),
            Some(("application/json", body.to_string())),
        )
        .await
    }
}
