//! `connect-jwt verify-install`: lifecycle tokens signed here with an RSA key generated when the
//! tests run, the key given as a PEM file or served by an HTTP server on 127.0.0.1 that counts
//! the requests it receives.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use atlassian_connect_jwt::CanonicalRequest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::sha2::Sha256;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::RsaPrivateKey;

use common::{output_with_stdin, stdout, BIN};

const NOW: u64 = 1_700_000_000;
const BASE: &str = "https://app.example.com";
const SECRET: &str = "the-tenant-secret-never-printed";
const KID: &str = "kid-1";

fn private_key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap())
}

fn public_pem() -> String {
    private_key()
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap()
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn sign(header: &serde_json::Value, claims: &serde_json::Value) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = SigningKey::<Sha256>::new(private_key().clone()).sign(input.as_bytes());
    format!("{input}.{}", b64(&signature.to_vec()))
}

fn qsh(path: &str) -> String {
    CanonicalRequest::from_parts("POST", path, None, None)
        .unwrap()
        .qsh()
        .to_string()
}

/// A token for `event`'s callback, with `kid`, valid at `NOW`.
fn token(kid: &str, event: &str) -> String {
    token_expiring(kid, event, NOW + 175)
}

fn token_expiring(kid: &str, event: &str, exp: u64) -> String {
    sign(
        &serde_json::json!({"kid": kid, "typ": "JWT", "alg": "RS256"}),
        &serde_json::json!({
            "iss": "tenant-1",
            "aud": BASE,
            "iat": exp - 180,
            "exp": exp,
            "qsh": qsh(&format!("/{event}")),
        }),
    )
}

/// `token` with one character in the middle of its signature changed.
fn changed_signature(token: &str) -> String {
    let at = token.len() - 20;
    let replacement = if &token[at..=at] == "A" { "B" } else { "A" };
    format!("{}{replacement}{}", &token[..at], &token[at + 1..])
}

fn body(event: &str) -> String {
    serde_json::json!({
        "key": "my-app",
        "clientKey": "tenant-1",
        "sharedSecret": SECRET,
        "baseUrl": "https://tenant.atlassian.net",
        "productType": "jira",
        "eventType": event,
    })
    .to_string()
}

/// A new file in the test process's own temporary directory.
fn file(name: &str, contents: &str) -> PathBuf {
    static FILES: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!("connect-jwt-install-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}-{name}", FILES.fetch_add(1, Ordering::SeqCst)));
    std::fs::write(&path, contents).unwrap();
    path
}

fn verify_install(key_args: &[&str], extra: &[&str], body: &str, token: &str) -> Output {
    let now = NOW.to_string();
    let mut command = Command::new(BIN);
    command
        .arg("verify-install")
        .args(key_args)
        .args(["--base-url", BASE, "--now", &now])
        .args(extra)
        .args(["-", token]);
    let output = output_with_stdin(&mut command, body.as_bytes());
    assert!(!stdout(&output).contains(SECRET));
    assert!(!common::stderr(&output).contains(SECRET));
    output
}

fn with_key_file(extra: &[&str], body: &str, token: &str) -> Output {
    let pem = file("key.pem", &public_pem());
    verify_install(&["--key", pem.to_str().unwrap()], extra, body, token)
}

/// Runs `connect-jwt` with `args` and no input.
fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

/// The first line of a failure: `invalid: <message> (<code>)`; returns the code.
fn invalid_code(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(1), "{}", stdout(output));
    let first = stdout(output).lines().next().unwrap();
    assert!(first.starts_with("invalid: "), "{first}");
    first
        .rsplit_once('(')
        .unwrap()
        .1
        .trim_end_matches(')')
        .to_owned()
}

#[test]
fn a_valid_install_with_a_key_file() {
    let output = with_key_file(&[], &body("installed"), &token(KID, "installed"));
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let text = stdout(&output);
    assert!(
        text.starts_with("valid\nevent:         installed\n"),
        "{text}"
    );
    assert!(text.contains("client key:    tenant-1\n"));
    assert!(text.contains("shared secret: present (not shown)\n"));
    assert!(text.contains("key id:        kid-1 from "));
    assert!(text.contains("(2048-bit RSA)"));

    // An uninstall: the path follows the body's eventType.
    let jwt = format!("JWT {}", token(KID, "uninstalled"));
    let output = with_key_file(&[], &body("uninstalled"), &jwt);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).contains("event:         uninstalled\n"));
}

#[test]
fn each_failure_names_its_check() {
    let installed = body("installed");
    let valid = token(KID, "installed");
    let cases: Vec<(Output, &str, &str)> = vec![
        (
            with_key_file(&[], &installed, &token(KID, "uninstalled")),
            "wrong-lifecycle-event",
            "hint: the token or the body is for the other lifecycle callback, not POST /installed",
        ),
        (
            with_key_file(&["--path", "/lifecycle/installed"], &installed, &valid),
            "qsh-mismatch",
            "check --path",
        ),
        (
            with_key_file(&[], &installed, &token_expiring(KID, "installed", NOW - 60)),
            "expired",
            "exp: 2023-11-14T22:12:20Z (expired 1 min ago), beyond the 30 s leeway",
        ),
        (
            with_key_file(&[], &installed.replace("tenant-1", "tenant-2"), &valid),
            "issuer-mismatch",
            "the token's iss is \"tenant-1\"",
        ),
        (
            with_key_file(&[], &installed, &token("../x", "installed")),
            "invalid-key-id",
            "",
        ),
        (
            with_key_file(&[], &installed, &changed_signature(&valid)),
            "invalid-signature",
            "hint: the token was not signed by this key",
        ),
        (
            with_key_file(&[], "{}", &valid),
            "invalid-lifecycle-payload",
            "",
        ),
    ];
    for (i, (output, code, detail)) in cases.into_iter().enumerate() {
        assert_eq!(invalid_code(&output), code, "case {i}");
        assert!(
            stdout(&output).contains(detail),
            "case {i}: {}",
            stdout(&output)
        );
    }

    // A second --base-url adds an accepted base URL.
    let two_bases = with_key_file(&["--base-url", "https://other.example"], &installed, &valid);
    assert_eq!(two_bases.status.code(), Some(0), "{}", stdout(&two_bases));

    let wrong_base = {
        let pem = file("key.pem", &public_pem());
        let now = NOW.to_string();
        let mut command = Command::new(BIN);
        command.args([
            "verify-install",
            "--key",
            pem.to_str().unwrap(),
            "--base-url",
            "https://other.example",
            "--now",
            &now,
            "-",
            &valid,
        ]);
        output_with_stdin(&mut command, installed.as_bytes())
    };
    assert_eq!(invalid_code(&wrong_base), "audience-mismatch");
    assert!(stdout(&wrong_base).contains(
        "hint: the token's aud is [\"https://app.example.com\"]; the app's base urls are \
         [\"https://other.example\"]"
    ));

    // HS256 on a lifecycle route.
    let hs = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ0ZXN0LWNsaWVudC1rZXkiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMDE4MCwicXNoIjoiY29udGV4dC1xc2gifQ.Y_-fycsTC1VmKefYSFe0PL3HLJ3yBoGVJPW68NX1nfo";
    assert_eq!(
        invalid_code(&with_key_file(&[], &installed, hs)),
        "symmetric-token-on-lifecycle-route"
    );
}

/// Serves `pem` at `/<KID>` (404 elsewhere) on 127.0.0.1; counts requests.
fn key_server(pem: String) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&requests);
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            counter.fetch_add(1, Ordering::SeqCst);
            let mut head = [0u8; 4096];
            let n = stream.read(&mut head).unwrap_or(0);
            let head = String::from_utf8_lossy(&head[..n]);
            let response = if head.starts_with(&format!("GET /{KID} ")) {
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{pem}",
                    pem.len()
                )
            } else {
                "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into()
            };
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (base, requests)
}

#[test]
fn keys_fetched_from_a_key_server() {
    let (base, requests) = key_server(public_pem());
    let key_url = ["--key-url", base.as_str()];
    let output = verify_install(&key_url, &[], &body("installed"), &token(KID, "installed"));
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).contains(&format!(
        "key id:        kid-1 from {base}/kid-1 (2048-bit RSA)"
    )));
    assert_eq!(requests.load(Ordering::SeqCst), 1);

    let unknown = verify_install(
        &key_url,
        &[],
        &body("installed"),
        &token("kid-2", "installed"),
    );
    assert_eq!(invalid_code(&unknown), "unknown-key-id");
    assert!(stdout(&unknown).contains(&format!("key: from {base}/kid-2")));
    assert_eq!(requests.load(Ordering::SeqCst), 2);

    // A bad kid never reaches the server.
    for kid in ["", "../../x", "//evil.example/k", "a?x=1"] {
        let output = verify_install(&key_url, &[], &body("installed"), &token(kid, "installed"));
        let code = invalid_code(&output);
        assert!(
            code == "missing-key-id" || code == "invalid-key-id",
            "{kid}: {code}"
        );
    }
    assert_eq!(requests.load(Ordering::SeqCst), 2);

    // Plain http to anything but loopback is refused before any request.
    let output = verify_install(
        &["--key-url", "http://keys.example"],
        &[],
        &body("installed"),
        &token(KID, "installed"),
    );
    assert_eq!(invalid_code(&output), "invalid-base-url");
}

#[test]
fn usage_errors() {
    let output = run(&["verify-install", "--base-url", BASE, "-", "t"]);
    assert_eq!(output.status.code(), Some(2));
    let output = run(&[
        "verify-install",
        "--key",
        "k.pem",
        "--key-url",
        "--base-url",
        BASE,
        "-",
        "t",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let output = run(&[
        "verify-install",
        "--key",
        "/nonexistent/k.pem",
        "--base-url",
        BASE,
        "/nonexistent/body.json",
        "t",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(common::stderr(&output).contains("(io-error)"));
}
