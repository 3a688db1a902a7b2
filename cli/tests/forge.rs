//! `connect-jwt verify-fit`: Forge Invocation Tokens signed here with RSA keys generated when
//! the tests run, checked against a JWKS file or a key set served by an HTTP server on
//! 127.0.0.1 that counts its requests; and `verify-fit --jsonl`, whose lines must be exactly
//! those of the library's contract (`tests/forge.rs::json_lines_contract_from_the_library`).
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rsa::pkcs1v15::SigningKey;
use rsa::sha2::Sha256;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};

use common::{output_with_stdin, stderr, stdout, BIN};

const NOW: u64 = 1_700_000_000;
const APP_ID: &str = "ari:cloud:ecosystem::app/8db33809-1f32-48bb-8c52-5877dab48107";
const OTHER_APP_ID: &str = "ari:cloud:ecosystem::app/11111111-2222-3333-4444-555555555555";
const INSTALLATION: &str = "ari:cloud:ecosystem::installation/0a3a7799-53ae-4a5b-9e7e-03338980abb5";
const KID: &str = "forge/invocation-token/wf-5d1f9a0e-7c1b-4f7e-9a55-0c2b3f7d8e11";
const OTHER_KID: &str = "forge/invocation-token/wf-9e8d7c6b-5a49-4837-a261-504f3e2d1c0b";
const PRINCIPAL: &str = "655362:312d3308-8954-42b0-aa38-771a10c88656";
/// The golden Connect context token (HS256).
const CONNECT_TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ0ZXN0LWNsaWVudC1rZXkiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMDE4MCwicXNoIjoiY29udGV4dC1xc2gifQ.Y_-fycsTC1VmKefYSFe0PL3HLJ3yBoGVJPW68NX1nfo";

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn key(bits: usize, cell: &'static OnceLock<RsaPrivateKey>) -> &'static RsaPrivateKey {
    cell.get_or_init(|| RsaPrivateKey::new(&mut rsa::rand_core::OsRng, bits).unwrap())
}

/// Forge's signing key.
fn forge() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    key(2048, &KEY)
}

/// Someone else's key, claiming Forge's kid.
fn attacker() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    key(2048, &KEY)
}

/// A key too short to be trusted.
fn weak() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    key(1024, &KEY)
}

fn jwk(private: &RsaPrivateKey, kid: &str) -> Value {
    let public = private.to_public_key();
    json!({
        "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
        "n": b64(&public.n().to_bytes_be()), "e": b64(&public.e().to_bytes_be()),
    })
}

fn jwks(keys: &[Value]) -> Value {
    json!({ "keys": keys })
}

/// Forge's key set: its key, and another.
fn forge_set() -> Value {
    jwks(&[jwk(forge(), KID), jwk(attacker(), OTHER_KID)])
}

fn header(kid: &str) -> Value {
    json!({"alg": "RS256", "kid": kid, "typ": "JWT"})
}

/// The claims of a UI invocation at `NOW`, as Forge sends them.
fn claims() -> Value {
    json!({
        "app": {
            "id": APP_ID, "version": "16", "appVersion": "16.0.1",
            "installationId": INSTALLATION,
            "apiBaseUrl": "https://api.atlassian.com/ex/confluence/d0d52620-3203-4cfa-8db5-f2587155f0dd",
            "environment": {"type": "PRODUCTION", "id": "ari:cloud:ecosystem::environment/8db33809/aa911f10"},
            "module": {"type": "xen:macro", "key": "forge-remote-app-boot"},
            "license": {"active": true, "isActive": true},
        },
        "context": {"cloudId": "d0d52620", "moduleKey": "forge-remote-app-boot", "siteUrl": "https://tenant.atlassian.net"},
        "principal": PRINCIPAL,
        "aud": APP_ID,
        "iss": "forge/invocation-token",
        "iat": NOW - 5,
        "nbf": NOW - 5,
        "exp": NOW + 20,
        "jti": "d8a496253ec8c18a54631e4c82cbedd5d0ae8570",
    })
}

/// `claims()` with `name` set to `value` (`None`: removed).
fn claims_with(name: &str, value: Option<Value>) -> Value {
    let mut claims = claims();
    let object = claims.as_object_mut().unwrap();
    match value {
        Some(value) => object.insert(name.to_owned(), value),
        None => object.remove(name),
    };
    claims
}

fn sign_with(private: &RsaPrivateKey, header: &Value, payload: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(payload.to_string().as_bytes())
    );
    let signature = SigningKey::<Sha256>::new(private.clone()).sign(input.as_bytes());
    format!("{input}.{}", b64(&signature.to_vec()))
}

/// Signed by Forge's key under its kid.
fn signed(payload: &Value) -> String {
    sign_with(forge(), &header(KID), payload)
}

fn token() -> String {
    signed(&claims())
}

/// A new file in the test process's own temporary directory.
fn file(name: &str, contents: &str) -> PathBuf {
    static FILES: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!("connect-jwt-forge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}-{name}", FILES.fetch_add(1, Ordering::SeqCst)));
    std::fs::write(&path, contents).unwrap();
    path
}

fn forge_file() -> String {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    let path = PATH.get_or_init(|| file("jwks.json", &forge_set().to_string()));
    path.to_str().unwrap().to_owned()
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

/// `verify-fit --jwks <jwks> --app-id APP_ID --now NOW <extra> <token>`.
fn verify_fit_with(jwks: &str, extra: &[&str], token: &str) -> Output {
    let now = NOW.to_string();
    let mut args = vec![
        "verify-fit",
        "--jwks",
        jwks,
        "--app-id",
        APP_ID,
        "--now",
        &now,
    ];
    args.extend_from_slice(extra);
    args.push(token);
    run(&args)
}

fn verify_fit(token: &str) -> Output {
    verify_fit_with(&forge_file(), &[], token)
}

/// The first line of a failure, `invalid: <message> (<code>)`: returns the code.
fn invalid_code(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(1), "{}", stdout(output));
    assert!(output.stderr.is_empty(), "{}", stderr(output));
    let first = stdout(output).lines().next().unwrap();
    assert!(first.starts_with("invalid: "), "{first}");
    first
        .rsplit_once('(')
        .unwrap()
        .1
        .trim_end_matches(')')
        .to_owned()
}

// ----- one token -----

#[test]
fn a_valid_token_shows_what_it_says() {
    let jwks = forge_file();
    let expected = format!(
        "valid
installation:  {INSTALLATION}
app:           {APP_ID} (16.0.1, PRODUCTION)
module:        forge-remote-app-boot (xen:macro)
principal:     {PRINCIPAL}
site:          https://tenant.atlassian.net
license:       active
key id:        {KID} (2048-bit RSA) from {jwks}
exp:           2023-11-14T22:13:40Z (expires in 20 s)
"
    );
    // The token alone, as Forge's header value, as the whole header line, and from stdin.
    let token = token();
    for pasted in [
        token.clone(),
        format!("Bearer {token}"),
        format!("Authorization: Bearer {token}"),
    ] {
        let output = verify_fit(&pasted);
        assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
        assert_eq!(stdout(&output), expected);
        assert!(output.stderr.is_empty());
    }
    let now = NOW.to_string();
    let mut command = Command::new(BIN);
    command.args([
        "verify-fit",
        "--jwks",
        &jwks,
        "--app-id",
        APP_ID,
        "--now",
        &now,
        "-",
    ]);
    let output = output_with_stdin(&mut command, format!("Bearer {token}\n").as_bytes());
    assert_eq!(stdout(&output), expected);

    // A back-end invocation has no principal; an inactive license; no site; within leeway.
    let mut payload = claims_with("principal", None);
    payload["app"]["license"] = json!({"active": false});
    payload.as_object_mut().unwrap().remove("context");
    let later = (NOW + 30).to_string();
    let output = run(&[
        "verify-fit",
        "--jwks",
        &jwks,
        "--app-id",
        APP_ID,
        "--now",
        &later,
        &signed(&payload),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let text = stdout(&output);
    assert!(
        text.contains("principal:     none (a back-end invocation)\nlicense:       inactive\n"),
        "{text}"
    );
    assert!(!text.contains("site:"), "{text}");
    assert!(
        text.contains("(expired 10 s ago, within the 30 s leeway)"),
        "{text}"
    );
}

/// The detail lines a failure must print.
macro_rules! details {
    ($($line:expr),* $(,)?) => { vec![$(String::from($line)),*] };
}

#[test]
fn each_failure_names_its_check() {
    let connect_like = {
        let mut payload = claims_with("iss", Some(json!("tenant-1")));
        payload["qsh"] = json!("context-qsh");
        payload
    };
    let long_lived = {
        let mut payload = claims_with("exp", Some(json!(NOW + 400)));
        payload["iat"] = json!(NOW - 5);
        payload
    };
    let not_yet_valid = {
        let mut payload = claims_with("nbf", Some(json!(NOW + 60)));
        payload["exp"] = json!(NOW + 100);
        payload
    };
    let cases: Vec<(String, &str, Vec<String>)> = vec![
        (
            signed(&claims_with("aud", Some(json!(OTHER_APP_ID)))),
            "app-id-mismatch",
            details![&format!(
                "  hint: the token's aud is \"{OTHER_APP_ID}\" (its app.id \"{APP_ID}\"); --app-id is \"{APP_ID}\""
            )],
        ),
        (
            signed(&connect_like),
            "forge-issuer-mismatch",
            details!["  hint: the token's iss is \"tenant-1\", a Forge Invocation Token's is \"forge/invocation-token\" (this token has a qsh: a Connect token? check it with `connect-jwt verify`)"],
        ),
        (
            CONNECT_TOKEN.to_owned(),
            "unsupported-algorithm",
            details!["  hint: the token's alg is \"HS256\": Forge signs invocation tokens with RS256 (an HS256 token is a Connect token: check it with `connect-jwt verify`)"],
        ),
        (
            sign_with(forge(), &header("forge/invocation-token/unknown"), &claims()),
            "unknown-key-id",
            details![
                &format!("  key set: {}", forge_file()),
                &format!("  hint: the key set has the kids [\"{KID}\", \"{OTHER_KID}\"]; the token's kid is \"forge/invocation-token/unknown\""),
            ],
        ),
        (
            signed(&claims_with("icLabel", Some(json!("acme")))),
            "unknown-key-id",
            details!["  hint: the token is for the Isolated Cloud \"acme\" (icLabel): verify-fit checks tokens of the commercial cloud"],
        ),
        (
            sign_with(forge(), &header("../x"), &claims()),
            "invalid-key-id",
            details!["  hint: the token's kid is \"../x\": a Forge kid is 1 to 128 characters"],
        ),
        (
            sign_with(forge(), &json!({"alg": "RS256", "typ": "JWT"}), &claims()),
            "missing-key-id",
            details!["  hint: the token's kid is (none)"],
        ),
        (
            signed(&claims_with("exp", Some(json!(NOW - 60)))),
            "expired",
            details![
                "  exp: 2023-11-14T22:12:20Z (expired 1 min ago), beyond the 30 s leeway",
                &format!("  hint: Forge Invocation Tokens live about 25 s: to check an old one, pass --now {} (its iat)", NOW - 5),
            ],
        ),
        (
            signed(&not_yet_valid),
            "not-yet-valid",
            details!["  nbf: 2023-11-14T22:14:20Z (in 1 min), beyond the 30 s leeway"],
        ),
        (
            signed(&long_lived),
            "lifetime-too-long",
            details!["  hint: Forge's tokens live about 25 s; more than 300 s is refused"],
        ),
        (
            sign_with(attacker(), &header(KID), &claims()),
            "invalid-signature",
            details![&format!("  hint: the key of kid \"{KID}\" did not sign this token")],
        ),
        (
            signed(&claims_with("app", None)),
            "missing-claim",
            details![],
        ),
        (
            signed(&claims_with("principal", Some(json!(5)))),
            "invalid-claim",
            details![],
        ),
        (
            "x.y".to_owned(),
            "malformed-token",
            details![],
        ),
        (
            format!("JWT {}", token()),
            "malformed-token",
            details!["  hint: the JWT scheme: Forge sends its token as `Authorization: Bearer <token>`"],
        ),
        (
            "Bearer".to_owned(),
            "invalid-bearer-header",
            details!["  hint: `Bearer` without a token: paste the whole header value"],
        ),
        (
            "Authorization: JWT x.y.z".to_owned(),
            "invalid-bearer-header",
            details!["  hint: the JWT scheme"],
        ),
    ];
    for (i, (token, code, details)) in cases.into_iter().enumerate() {
        let output = verify_fit(&token);
        assert_eq!(invalid_code(&output), code, "case {i}: {}", stdout(&output));
        for detail in &details {
            assert!(
                stdout(&output).contains(detail.as_str()),
                "case {i}: {detail}\n{}",
                stdout(&output)
            );
        }
        assert!(
            !stdout(&output).contains("hint:") || !details.is_empty(),
            "case {i}: an unexpected hint\n{}",
            stdout(&output)
        );
    }
}

#[test]
fn unusable_keys_give_their_own_errors() {
    let cases = [
        (
            jwks(&[jwk(weak(), KID)]),
            "weak-public-key",
            "rsa public key of 1024 bits is too short",
        ),
        (
            jwks(&[json!({"kty": "EC", "kid": KID, "crv": "P-256", "x": "AA", "y": "AA"})]),
            "invalid-public-key",
            "not an rsa key",
        ),
        (
            jwks(&[jwk(forge(), KID), jwk(attacker(), KID)]),
            "invalid-public-key",
            "two keys have this key id",
        ),
    ];
    for (set, code, message) in cases {
        let path = file("jwks.json", &set.to_string());
        let output = verify_fit_with(path.to_str().unwrap(), &[], &token());
        assert_eq!(invalid_code(&output), code);
        let text = stdout(&output);
        assert!(text.contains(message), "{text}");
        assert!(
            text.contains(&format!("  key set: {}\n", path.display())),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "  hint: the key set's key with kid \"{KID}\" cannot check RS256 tokens"
            )),
            "{text}"
        );
    }
    // A file that is not a key set at all: refused before the token is looked at.
    for not_a_set in ["[]", "{\"keys\":1}", "not json"] {
        let path = file("jwks.json", not_a_set);
        let output = verify_fit_with(path.to_str().unwrap(), &[], "x.y");
        assert_eq!(invalid_code(&output), "invalid-public-key", "{not_a_set}");
        assert_eq!(
            stdout(&output),
            format!(
                "invalid: invalid public key: not a json web key set (invalid-public-key)\n  key set: {}\n",
                path.display()
            )
        );
    }
}

/// Serves `body` with `status` at `/jwks.json` (404 elsewhere) on 127.0.0.1; counts requests.
fn jwks_server(status: u16, body: String) -> (String, Arc<AtomicUsize>) {
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
            let response = if head.starts_with("GET /jwks.json ") {
                format!(
                    "HTTP/1.1 {status} Status\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
            } else {
                "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into()
            };
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (format!("{base}/jwks.json"), requests)
}

#[test]
fn key_sets_fetched_from_a_url() {
    let (url, requests) = jwks_server(200, forge_set().to_string());
    let output = verify_fit_with(&url, &[], &token());
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).contains(&format!("key id:        {KID} (2048-bit RSA) from {url}\n")));
    assert_eq!(requests.load(Ordering::SeqCst), 1);

    // A token that fails a check of its own costs no fetch.
    let expired = signed(&claims_with("exp", Some(json!(NOW - 60))));
    for refused in [
        expired,
        signed(&claims_with("aud", Some(json!(OTHER_APP_ID)))),
        "x.y".to_owned(),
    ] {
        let output = verify_fit_with(&url, &[], &refused);
        assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    }
    assert_eq!(requests.load(Ordering::SeqCst), 1);

    // The fetched set explains an unknown kid.
    let unknown = sign_with(
        forge(),
        &header("forge/invocation-token/unknown"),
        &claims(),
    );
    let output = verify_fit_with(&url, &[], &unknown);
    assert_eq!(invalid_code(&output), "unknown-key-id");
    assert!(stdout(&output).contains(&format!(
        "  key set: {url}\n  hint: the key set has the kids [\"{KID}\", \"{OTHER_KID}\"]"
    )));
    assert_eq!(requests.load(Ordering::SeqCst), 2);

    // A key server that fails: key-unavailable, with the URL the library keeps out of its message.
    let (down, down_requests) = jwks_server(500, String::new());
    let output = verify_fit_with(&down, &[], &token());
    assert_eq!(invalid_code(&output), "key-unavailable");
    assert_eq!(
        stdout(&output),
        format!(
            "invalid: the public key could not be fetched: the key server answered with an error status (key-unavailable)\n  key set: {down}\n"
        )
    );
    assert_eq!(down_requests.load(Ordering::SeqCst), 1);

    // Plain http to anything but loopback is refused before any request.
    let output = verify_fit_with("http://forge.example/jwks.json", &[], &token());
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    assert_eq!(
        stderr(&output),
        "error: invalid base url (invalid-base-url)\n  hint: --jwks takes an https:// URL without query, fragment or credentials (plain http only to localhost, 127.0.0.1 or [::1]), or a file\n"
    );
}

#[test]
fn configuration_and_usage_errors() {
    let jwks = forge_file();
    let token = token();
    let now = NOW.to_string();
    // The bare uuid is the usual mistake.
    let output = run(&[
        "verify-fit",
        "--jwks",
        &jwks,
        "--app-id",
        "8db33809-1f32-48bb-8c52-5877dab48107",
        &token,
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "error: the forge app id is not ari:cloud:ecosystem::app/<id> (invalid-app-id)\n  hint: --app-id is the app id of the Forge app's manifest.yml, ari:cloud:ecosystem::app/<uuid> (not the bare uuid)\n"
    );
    let output = run(&[
        "verify-fit",
        "--jwks",
        &jwks,
        "--app-id",
        APP_ID,
        "--leeway",
        "301",
        &token,
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("(leeway-too-large)"),
        "{}",
        stderr(&output)
    );
    let output = run(&[
        "verify-fit",
        "--jwks",
        "/nonexistent/jwks.json",
        "--app-id",
        APP_ID,
        &token,
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).starts_with("error: reading --jwks /nonexistent/jwks.json: "));
    assert!(
        stderr(&output).ends_with("(io-error)\n"),
        "{}",
        stderr(&output)
    );
    // An oversized file is refused without being read whole.
    let big = file(
        "big.json",
        &format!("{{\"keys\":[],\"pad\":\"{}\"}}", "x".repeat(70_000)),
    );
    let output = verify_fit_with(big.to_str().unwrap(), &[], &token);
    assert_eq!(invalid_code(&output), "invalid-public-key");
    assert!(
        stdout(&output).contains("key set too large"),
        "{}",
        stdout(&output)
    );

    for args in [
        &["verify-fit", "--app-id", APP_ID, &token][..],
        &["verify-fit", "--jwks", &jwks, &token],
        &["verify-fit", "--jwks", &jwks, "--app-id", APP_ID],
        &["verify-fit", "--jsonl", "--jwks", &jwks],
        &["verify-fit", "--jsonl", "--app-id", APP_ID],
        &["verify-fit", "--jsonl", "--now", &now],
        &["verify-fit", "--jsonl", "--leeway", "1"],
        &["verify-fit", "--jsonl", &token],
    ] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}

// ----- JSON Lines -----

fn jsonl_run(input: &[u8]) -> Vec<String> {
    let output = output_with_stdin(Command::new(BIN).args(["verify-fit", "--jsonl"]), input);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(output.stderr.is_empty(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.is_empty() || text.ends_with('\n'));
    text.lines().map(str::to_owned).collect()
}

fn line(token: String, now: u64, extra: Value) -> Value {
    let mut line =
        json!({"token": token, "jwks": jwks(&[jwk(forge(), KID)]), "app_id": APP_ID, "now": now});
    line.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    line
}

/// The cases of the library's contract test, with the exact output bytes.
#[test]
fn jsonl_is_the_library_contract() {
    let valid = format!(
        r#"{{"ok":true,"app_id":"{APP_ID}","installation_id":"{INSTALLATION}","principal":"{PRINCIPAL}","module_key":"forge-remote-app-boot","environment_type":"PRODUCTION"}}"#
    );
    let no_principal = format!(
        r#"{{"ok":true,"app_id":"{APP_ID}","installation_id":"{INSTALLATION}","module_key":"forge-remote-app-boot","environment_type":"PRODUCTION"}}"#
    );
    let error = |code: &str| format!(r#"{{"ok":false,"error":"{code}"}}"#);
    let cases = [
        (line(token(), NOW, json!({})), valid.clone()),
        (
            line(signed(&claims_with("principal", None)), NOW, json!({})),
            no_principal,
        ),
        (line(token(), NOW + 50, json!({})), error("expired")),
        (
            line(token(), NOW + 50, json!({"leeway": 31})),
            valid.clone(),
        ),
        (
            line(token(), NOW + 21, json!({"leeway": 0})),
            error("expired"),
        ),
        (
            line(token(), NOW, json!({"leeway": 301})),
            error("leeway-too-large"),
        ),
        (line(token(), NOW, json!({"leeway": null})), valid.clone()),
        (
            line(token(), NOW, json!({"app_id": OTHER_APP_ID})),
            error("app-id-mismatch"),
        ),
        (
            line(token(), NOW, json!({"app_id": "not-an-ari"})),
            error("invalid-app-id"),
        ),
        (
            line(token(), NOW, json!({"jwks": {"keys": 1}})),
            error("invalid-public-key"),
        ),
        (
            line(token(), NOW, json!({"jwks": {"keys": []}})),
            error("unknown-key-id"),
        ),
        (
            line(
                sign_with(attacker(), &header(KID), &claims()),
                NOW,
                json!({}),
            ),
            error("invalid-signature"),
        ),
        (
            line(
                signed(&claims_with("iss", Some(json!("x")))),
                NOW,
                json!({}),
            ),
            error("forge-issuer-mismatch"),
        ),
        (line("x.y".into(), NOW, json!({})), error("malformed-token")),
        // Beyond the library's cases: no `Bearer ` in a line, Isolated Cloud, a weak key.
        (
            line(format!("Bearer {}", token()), NOW, json!({})),
            error("malformed-token"),
        ),
        (
            line(
                signed(&claims_with("icLabel", Some(json!("acme")))),
                NOW,
                json!({}),
            ),
            error("unknown-key-id"),
        ),
        (
            line(token(), NOW, json!({"jwks": jwks(&[jwk(weak(), KID)])})),
            error("weak-public-key"),
        ),
        (
            line(CONNECT_TOKEN.to_owned(), NOW, json!({})),
            error("unsupported-algorithm"),
        ),
    ];
    let input: String = cases.iter().map(|(line, _)| format!("{line}\n")).collect();
    let out = jsonl_run(input.as_bytes());
    assert_eq!(out.len(), cases.len());
    for (i, ((input, expected), got)) in cases.iter().zip(&out).enumerate() {
        assert_eq!(got, expected, "case {i}: {input}");
    }
}

#[test]
fn jsonl_malformed_lines() {
    let token = token();
    let good = line(token.clone(), NOW, json!({}));
    let edit = |name: &str, value: Option<Value>| {
        let mut line = good.clone();
        let object = line.as_object_mut().unwrap();
        match value {
            Some(value) => object.insert(name.to_owned(), value),
            None => object.remove(name),
        };
        line.to_string()
    };
    let good_text = good.to_string();
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "blank input line: expected a json object"),
        (
            "not json".to_owned(),
            "not json: expected ident at column 2",
        ),
        (
            format!("[{good_text}]"),
            "expected a json object, found an array",
        ),
        (edit("jwks", None), "missing field `jwks`"),
        (edit("now", None), "missing field `now`"),
        (
            edit("jkws", Some(json!({"keys": []}))),
            "unknown field `jkws`",
        ),
        (
            edit("jwks", Some(json!("{\"keys\":[]}"))),
            "invalid type for `jwks`: expected a json web key set object",
        ),
        (
            edit("jwks", Some(json!([]))),
            "invalid type for `jwks`: expected a json web key set object",
        ),
        (
            edit("now", Some(json!(-1))),
            "invalid value: integer `-1`, expected u64",
        ),
        (
            edit("now", Some(json!(1.5))),
            "invalid type: floating point `1.5`, expected u64",
        ),
        (
            edit("leeway", Some(json!("30"))),
            "invalid type: a string, expected u64",
        ),
        (
            edit("app_id", Some(json!(1))),
            "invalid type: integer `1`, expected a string",
        ),
        // A token put in the wrong field is not echoed.
        (
            edit("now", Some(json!(token))),
            "invalid type: a string, expected u64",
        ),
        (
            good_text.replacen("{", &format!("{{\"token\":\"{token}\","), 1),
            "duplicate field `token`",
        ),
        (
            format!("{good_text} {good_text}"),
            "trailing characters at column",
        ),
    ];
    let mut input: Vec<u8> = Vec::new();
    for (line, _) in &cases {
        input.extend_from_slice(line.as_bytes());
        input.push(b'\n');
    }
    input.extend_from_slice(b"\xff\xfe\n");
    input.extend_from_slice(good_text.as_bytes());
    // The last line has no line break: it is still answered.
    let out = jsonl_run(&input);
    assert_eq!(out.len(), cases.len() + 2, "{out:#?}");
    for (i, ((_, message), got)) in cases.iter().zip(&out).enumerate() {
        let value: Value = serde_json::from_str(got).unwrap();
        assert_eq!(value["ok"], false, "case {i}: {got}");
        assert_eq!(value["error"], "malformed-input", "case {i}: {got}");
        assert_eq!(value.as_object().unwrap().len(), 3, "case {i}: {got}");
        assert!(
            value["message"].as_str().unwrap().contains(message),
            "case {i}: {got}"
        );
        assert!(!got.contains(&token[..40]), "case {i}: {got}");
    }
    assert_eq!(
        out[cases.len()],
        r#"{"ok":false,"error":"malformed-input","message":"input line is not valid utf-8"}"#
    );
    assert!(out[cases.len() + 1].starts_with(r#"{"ok":true,"#));
}
