//! The whole signed-install path against a real key server: `InstallVerifier::verify_async`
//! with a `KeyCache` over an `HttpKeySource` pointed at an HTTP server on 127.0.0.1 that
//! serves PEMs and counts every request it receives. Checklist items 48-56.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use atlassian_connect_jwt::{
    CanonicalRequest, Error, HttpKeySource, InstallKeySource, KeyCache, KeyId, UnixTime,
    VerifiedInstall, ATLASSIAN_INSTALL_KEYS_URL, MAX_KEY_RESPONSE_LEN,
};

use super::{
    atlassian, attacker, body, claims, qsh_of, verifier, with, without, Pair, BASE, EC_P256,
    HOSTILE_KIDS, KID, NOW,
};

/// What the server answers for one path.
#[derive(Clone)]
enum Answer {
    /// `200` with this body and its `Content-Length`.
    Ok(String),
    /// `200` with this body and no length (read until the connection closes).
    OkUnsized(String),
    /// This status, empty body; `Location: /<kid>` for 3xx.
    Status(u16),
    /// `200` with the body after a pause.
    Slow(Duration, String),
}

/// An HTTP/1.1 server on 127.0.0.1 that answers from a table and counts requests by path.
struct KeyServer {
    base: String,
    answers: Arc<Mutex<HashMap<String, Answer>>>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl KeyServer {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let answers = Arc::new(Mutex::new(HashMap::new()));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (a, r) = (Arc::clone(&answers), Arc::clone(&requests));
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (a, r) = (Arc::clone(&a), Arc::clone(&r));
                thread::spawn(move || serve(stream, &a, &r));
            }
        });
        Self {
            base,
            answers,
            requests,
        }
    }

    fn answer(&self, path: &str, answer: Answer) {
        self.answers.lock().unwrap().insert(path.to_owned(), answer);
    }

    /// Every request target received so far.
    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    fn count(&self, target: &str) -> usize {
        self.requests().iter().filter(|t| *t == target).count()
    }

    fn keys(&self) -> KeyCache<HttpKeySource> {
        KeyCache::new(
            HttpKeySource::with_base_url(&self.base)
                .unwrap()
                .with_timeout(Duration::from_millis(500)),
        )
    }
}

fn serve(
    mut stream: TcpStream,
    answers: &Mutex<HashMap<String, Answer>>,
    requests: &Mutex<Vec<String>>,
) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head);
    let target = head.split(' ').nth(1).unwrap_or("").to_owned();
    requests.lock().unwrap().push(target.clone());
    let answer = answers.lock().unwrap().get(&target).cloned();
    let response = match answer {
        None => "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into(),
        Some(Answer::Ok(body)) => format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-pem-file\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        ),
        Some(Answer::OkUnsized(body)) => {
            format!("HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n{body}")
        }
        Some(Answer::Status(status)) => format!(
            "HTTP/1.1 {status} Status\r\nlocation: /{KID}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        ),
        Some(Answer::Slow(pause, body)) => {
            thread::sleep(pause);
            format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
        }
    };
    let _ = stream.write_all(response.as_bytes());
}

fn header_with_kid(kid: &str) -> String {
    serde_json::json!({"kid": kid, "typ": "JWT", "alg": "RS256"}).to_string()
}

/// Verifies `token` for `POST path` carrying `body` through `keys`.
async fn verify(
    keys: &impl InstallKeySource,
    token: &str,
    body: &str,
    path: &str,
) -> Result<VerifiedInstall, Error> {
    let request = CanonicalRequest::from_target("POST", path, None)?;
    verifier()
        .verify_async(token, body, &request, keys, UnixTime::from_secs(NOW))
        .await
}

fn valid_token_for(kid: &str) -> String {
    atlassian().sign(&header_with_kid(kid), &claims().to_string())
}

// ----- 48: a valid install fetches the key once -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_install_fetches_the_key_once() {
    let server = KeyServer::start();
    server.answer(&format!("/{KID}"), Answer::Ok(atlassian().pem.clone()));
    let keys = Arc::new(server.keys());
    let token = valid_token_for(KID);
    let install = verify(&*keys, &token, &body("installed"), "/installed")
        .await
        .unwrap();
    assert_eq!(install.client_key(), super::CLIENT_KEY);
    assert_eq!(install.key_id(), KID);
    for _ in 0..5 {
        assert!(verify(&*keys, &token, &body("installed"), "/installed")
            .await
            .is_ok());
    }
    assert_eq!(server.requests(), [format!("/{KID}")]);

    // A burst for a new kid, served slowly: one request reaches the server.
    server.answer(
        "/kid-2",
        Answer::Slow(Duration::from_millis(150), atlassian().pem.clone()),
    );
    let token = valid_token_for("kid-2");
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (keys, token) = (Arc::clone(&keys), token.clone());
            tokio::spawn(async move {
                verify(&*keys, &token, &body("installed"), "/installed")
                    .await
                    .map(|install| install.client_key().to_owned())
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().as_deref(), Ok(super::CLIENT_KEY));
    }
    assert_eq!(server.count("/kid-2"), 1);
    assert_eq!(server.requests().len(), 2);
}

// ----- 52, 53: bad kids never reach the server -----

#[tokio::test]
async fn bad_kids_are_refused_with_zero_requests() {
    let server = KeyServer::start();
    let keys = server.keys();
    let payload = claims().to_string();
    let long = "a".repeat(4096);
    let mut cases = vec![
        (
            atlassian().sign(r#"{"alg":"RS256","typ":"JWT"}"#, &payload),
            Error::MissingKeyId,
        ),
        (valid_token_for(""), Error::MissingKeyId),
    ];
    for kid in HOSTILE_KIDS.iter().copied().chain([long.as_str()]) {
        cases.push((valid_token_for(kid), Error::InvalidKeyId));
    }
    for (token, error) in cases {
        assert_eq!(
            verify(&keys, &token, &body("installed"), "/installed")
                .await
                .unwrap_err(),
            error
        );
    }
    assert_eq!(server.requests(), Vec::<String>::new());
    assert!(keys.is_empty());
}

// ----- 54: every way the fetch can fail, fails closed -----

#[tokio::test]
async fn failed_fetches_fail_closed_with_their_kind() {
    let server = KeyServer::start();
    let weak = Pair::generate(1024);
    server.answer("/k-500", Answer::Status(500));
    server.answer("/k-302", Answer::Status(302));
    server.answer(
        "/k-slow",
        Answer::Slow(Duration::from_secs(2), atlassian().pem.clone()),
    );
    server.answer("/k-html", Answer::Ok("<html>hello</html>".into()));
    server.answer("/k-ec", Answer::Ok(EC_P256.into()));
    server.answer("/k-1024", Answer::Ok(weak.pem.clone()));
    let huge = format!("{}{}", atlassian().pem, " ".repeat(MAX_KEY_RESPONSE_LEN));
    server.answer("/k-huge", Answer::Ok(huge.clone()));
    server.answer("/k-huge-unsized", Answer::OkUnsized(huge));
    let keys = server.keys();
    for (kid, expected) in [
        ("k-404", "unknown-key-id"),
        ("k-500", "key-unavailable"),
        ("k-302", "key-unavailable"),
        ("k-slow", "key-unavailable"),
        ("k-html", "invalid-public-key"),
        ("k-ec", "invalid-public-key"),
        ("k-1024", "weak-public-key"),
        ("k-huge", "key-unavailable"),
        ("k-huge-unsized", "key-unavailable"),
    ] {
        let token = valid_token_for(kid);
        for _ in 0..2 {
            let error = verify(&keys, &token, &body("installed"), "/installed")
                .await
                .unwrap_err();
            assert_eq!(error.code(), expected, "{kid}: {error}");
        }
        // Failures are kept for a few seconds: the second attempt asked nobody.
        assert_eq!(server.count(&format!("/{kid}")), 1, "{kid}");
    }
    // The redirect was not followed.
    assert_eq!(server.count(&format!("/{KID}")), 0);

    // Once the failure has expired, the key server is asked again.
    let keys = server.keys().with_failure_ttl(Duration::ZERO);
    for _ in 0..2 {
        assert!(keys
            .install_key(&KeyId::new("k-500").unwrap())
            .await
            .is_err());
    }
    assert_eq!(server.count("/k-500"), 3);

    // Nobody listening.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let keys = KeyCache::new(HttpKeySource::with_base_url(&nowhere).unwrap());
    assert_eq!(
        verify(
            &keys,
            &valid_token_for(KID),
            &body("installed"),
            "/installed"
        )
        .await
        .unwrap_err()
        .code(),
        "key-unavailable"
    );
}

// ----- 49, 50, 55, 56 and 6 through the fetched key -----

#[tokio::test]
async fn every_other_check_runs_on_the_fetched_key() {
    let server = KeyServer::start();
    server.answer(&format!("/{KID}"), Answer::Ok(atlassian().pem.clone()));
    let keys = server.keys();
    let header = header_with_kid(KID);
    let sign = |payload: String| atlassian().sign(&header, &payload);
    let installed = body("installed");
    let mut other_tenant: serde_json::Value = serde_json::from_str(&installed).unwrap();
    other_tenant["clientKey"] = "victim-tenant".into();
    let other_tenant = other_tenant.to_string();
    let hs256 = super::hs256(
        super::SECRET.as_bytes(),
        &serde_json::json!({"alg": "HS256", "kid": KID}).to_string(),
        &claims().to_string(),
    );

    let cases = [
        // 49: audience.
        (
            sign(without("aud")),
            &installed,
            "/installed",
            Error::AudienceMismatch,
        ),
        (
            sign(with("aud", "https://evil.example".into())),
            &installed,
            "/installed",
            Error::AudienceMismatch,
        ),
        (
            sign(with("aud", "https://app.example.com.evil.example".into())),
            &installed,
            "/installed",
            Error::AudienceMismatch,
        ),
        // 50: issuer.
        (
            sign(claims().to_string()),
            &other_tenant,
            "/installed",
            Error::IssuerMismatch,
        ),
        // 55: a key the server does not serve for this kid.
        (
            attacker().sign(&header, &claims().to_string()),
            &installed,
            "/installed",
            Error::InvalidSignature,
        ),
        // 56: the uninstall token replayed to install.
        (
            sign(with("qsh", qsh_of("/uninstalled").into())),
            &installed,
            "/installed",
            Error::WrongLifecycleEvent,
        ),
        // A context token.
        (
            sign(with("qsh", "context-qsh".into())),
            &installed,
            "/installed",
            Error::ContextTokenNotAllowed,
        ),
        // 6: HS256 signed with the secret the body announces.
        (
            hs256,
            &installed,
            "/installed",
            Error::SymmetricTokenOnLifecycleRoute,
        ),
    ];
    for (token, body, path, error) in cases {
        assert_eq!(verify(&keys, &token, body, path).await.unwrap_err(), error);
    }
    // One fetch served every case above (and the HS256 one needed none).
    assert_eq!(server.requests(), [format!("/{KID}")]);
    let mut base = BASE.to_owned();
    base.push('/');
    assert!(verify(
        &keys,
        &sign(with("aud", base.into())),
        &installed,
        "/installed"
    )
    .await
    .is_ok());
    assert_eq!(server.requests().len(), 1);
}

// ----- the key URL -----

#[tokio::test]
async fn the_kid_is_one_path_segment_of_the_configured_base() {
    let server = KeyServer::start();
    server.answer(
        &format!("/keys/v1/{KID}"),
        Answer::Ok(atlassian().pem.clone()),
    );
    for base in [
        format!("{}/keys/v1", server.base),
        format!("{}/keys/v1/", server.base),
    ] {
        let source = HttpKeySource::with_base_url(&base).unwrap();
        let kid = KeyId::new(KID).unwrap();
        assert_eq!(
            source.key_url(&kid),
            format!("{}/keys/v1/{KID}", server.base)
        );
        assert_eq!(source.install_key(&kid).await, Ok(atlassian().key()));
    }
    assert_eq!(server.count(&format!("/keys/v1/{KID}")), 2);

    let production = HttpKeySource::new().unwrap();
    assert_eq!(
        production.key_url(&KeyId::new("a.b_c-1").unwrap()),
        format!("{ATLASSIAN_INSTALL_KEYS_URL}/a.b_c-1")
    );
    assert!(format!("{production:?}").contains(ATLASSIAN_INSTALL_KEYS_URL));
}

#[test]
fn key_server_urls_are_https_or_loopback() {
    for ok in [
        "https://connect-install-keys.atlassian.com",
        "https://keys.example/prefix/",
        "http://127.0.0.1:8080",
        "http://localhost:1/keys",
        "http://[::1]:9",
    ] {
        assert!(HttpKeySource::with_base_url(ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        "connect-install-keys.atlassian.com",
        "http://connect-install-keys.atlassian.com",
        "http://127.0.0.1.evil.example",
        "ftp://keys.example",
        "https://keys.example/?kid=",
        "https://keys.example/#x",
        "https://user:pass@keys.example",
        "data:text/plain,x",
        "file:///etc/keys",
    ] {
        assert_eq!(
            HttpKeySource::with_base_url(bad).unwrap_err(),
            Error::Config(atlassian_connect_jwt::ConfigError::InvalidBaseUrl),
            "{bad}"
        );
    }
}
