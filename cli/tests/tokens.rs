//! The token commands of the `connect-jwt` binary: decode, verify (one and --jsonl), sign,
//! sign-assertion, and that the shared secret never shows in any output.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output};

use atlassian_connect_jwt::Qsh;
use serde_json::{json, Value};

mod common;

use common::{stderr, stdout, BIN};

// The golden fixture.
const SECRET: &str = "connect-test-secret-0123456789abcdef0123";
const ISS: &str = "test-client-key";
const NOW: &str = "1700000060";
const URL: &str = "/path/to/service?a=1&A=2&b=3&B=4";
const T1: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ0ZXN0LWNsaWVudC1rZXkiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMDE4MCwicXNoIjoiNzAyODJjN2NmODI4MzRiZDVhM2Q2ZGFjZGExYjRjY2Q1Y2Y1ODYwYTYzYTFmYTJmYjg2YjY0ZDU3NmU2YTFkNSJ9.p_628YD5xOEjKOGLmVZ7TKOyymWyyfgWIwDuac8amkY";
const T2: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ0ZXN0LWNsaWVudC1rZXkiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMDE4MCwicXNoIjoiY29udGV4dC1xc2gifQ.Y_-fycsTC1VmKefYSFe0PL3HLJ3yBoGVJPW68NX1nfo";
const T1_QSH: &str = "70282c7cf82834bd5a3d6dacda1b4ccd5cf5860a63a1fa2fb86b64d576e6a1d5";

const BANNER: &str =
    "*** NOT VERIFIED: decoded without a secret; anyone can write these claims ***";

/// Runs the binary without `CONNECT_JWT_SECRET`, and checks that the secret shows nowhere.
fn run(args: &[&str]) -> Output {
    run_env(args, None)
}

fn run_env(args: &[&str], env_secret: Option<&str>) -> Output {
    let mut command = Command::new(BIN);
    command.args(args).env_remove("CONNECT_JWT_SECRET");
    if let Some(secret) = env_secret {
        command.env("CONNECT_JWT_SECRET", secret);
    }
    let output = command.output().unwrap();
    assert_no_secret(args, &output);
    output
}

fn run_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    let output = common::output_with_stdin(
        Command::new(BIN)
            .args(args)
            .env_remove("CONNECT_JWT_SECRET"),
        stdin,
    );
    assert_no_secret(args, &output);
    output
}

/// The secret (or a good part of it) in neither stdout nor stderr.
fn assert_no_secret(args: &[&str], output: &Output) {
    for (name, bytes) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
        let text = String::from_utf8_lossy(bytes);
        for needle in [SECRET, "test-secret", "0123456789abcdef0123", "sekrit"] {
            assert!(
                !text.contains(needle),
                "{args:?}: the secret ({needle}) is in {name}:\n{text}"
            );
        }
    }
}

/// `verify --secret SECRET --now NOW <args>`
fn verify(args: &[&str]) -> Output {
    let mut all = vec!["verify", "--secret", SECRET, "--now", NOW];
    all.extend_from_slice(args);
    run(&all)
}

/// The `invalid: ... (<code>)` line of a failed verify, checking the exit status.
fn invalid_code(output: &Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}{}",
        stdout(output),
        stderr(output)
    );
    assert!(output.stderr.is_empty(), "{}", stderr(output));
    let first = stdout(output).lines().next().unwrap();
    assert!(first.starts_with("invalid: "), "{first}");
    let code = first.rsplit_once(" (").unwrap().1;
    code.strip_suffix(')').unwrap().to_owned()
}

/// base64url without padding, for hand-made tokens.
fn b64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn unsigned_token(header: &str, payload: &str) -> String {
    format!(
        "{}.{}.{}",
        b64(header.as_bytes()),
        b64(payload.as_bytes()),
        b64(b"sig")
    )
}

// ----- decode -----

#[test]
fn decode_golden_request_bound_token() {
    let output = run(&["decode", "--now", NOW, T1]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(output.stderr.is_empty());
    let expected = format!(
        "{BANNER}\n\
         \n\
         header:\n\
         {{\n  \"typ\": \"JWT\",\n  \"alg\": \"HS256\"\n}}\n\
         \n\
         claims:\n\
         {{\n  \"iss\": \"test-client-key\",\n  \"iat\": 1700000000,\n  \"exp\": 1700000180,\n  \
         \"qsh\": \"{T1_QSH}\"\n}}\n\
         \n\
         kind:   request-bound qsh {T1_QSH}: bound to one request\n\
         iat:    2023-11-14T22:13:20Z (1 min ago)\n\
         exp:    2023-11-14T22:16:20Z (expires in 2 min)\n\
         now:    2023-11-14T22:14:20Z (1700000060)\n\
         form:   a verifier reads it: HS256 header, claims well typed (signature, times and qsh not checked)\n\
         \n\
         {BANNER}\n\
         (check it with: connect-jwt verify --secret ... METHOD URL TOKEN)\n"
    );
    assert_eq!(stdout(&output), expected);
}

#[test]
fn decode_golden_context_token() {
    let output = run(&["decode", "--now", "1700000360", T2]);
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    assert!(text.starts_with(BANNER), "{text}");
    assert!(text.contains("\"qsh\": \"context-qsh\""), "{text}");
    assert!(
        text.contains("kind:   context-qsh: a context token, bound to no request"),
        "{text}"
    );
    assert!(
        text.contains("iat:    2023-11-14T22:13:20Z (6 min ago)\n"),
        "{text}"
    );
    assert!(
        text.contains("exp:    2023-11-14T22:16:20Z (expired 3 min ago)\n"),
        "{text}"
    );
}

#[test]
fn decode_takes_a_header_or_a_url() {
    let plain = stdout(&run(&["decode", "--now", NOW, T1])).to_owned();
    for pasted in [format!("JWT {T1}"), format!("Authorization: JWT {T1}")] {
        let output = run(&["decode", "--now", NOW, &pasted]);
        assert_eq!(output.status.code(), Some(0), "{pasted}");
        assert_eq!(stdout(&output), plain, "{pasted}");
    }
    // A URL: the same, and its qsh checked.
    let url = format!("https://app.example.com{URL}&jwt={T1}#frag");
    let output = run(&["decode", "--now", NOW, &url]);
    assert_eq!(output.status.code(), Some(0));
    let checked = plain.replace(
        "(signature, times and qsh not checked)\n",
        "(signature, times and qsh not checked)\n\
         qsh:    matches this request: GET&/path/to/service&A=2&B=4&a=1&b=3 (method GET \
         assumed; the signature was not checked)\n",
    );
    assert_ne!(checked, plain);
    assert_eq!(stdout(&output), checked);
}

#[test]
fn decode_shows_what_a_verifier_would_reject() {
    // No qsh, `iat` a string, `nbf` a fraction, a terminal escape in `iss`, a bad `alg`.
    let token = unsigned_token(
        r#"{"alg":"none"}"#,
        r#"{"iss":"evil\u001b[2J","iat":"soon","exp":1700000180,"nbf":1700000000.5}"#,
    );
    let output = run(&["decode", "--now", NOW, &token]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("kind:   no qsh (a Connect verifier rejects it: missing-claim)"),
        "{text}"
    );
    assert!(
        text.contains(r#"iat:    "soon" is not a NumericDate"#),
        "{text}"
    );
    assert!(
        text.contains("nbf:    2023-11-14T22:13:20Z (1 min ago, 1700000000.5)"),
        "{text}"
    );
    assert!(
        text.contains("form:   a verifier rejects it: unsupported algorithm"),
        "{text}"
    );
    assert!(text.contains(r#""iss": "evil\u001b[2J""#), "{text}");
    assert!(!text.contains('\u{1b}'));
    assert!(text.matches(BANNER).count() == 2);
}

#[test]
fn decode_errors() {
    let output = run(&["decode", "not-a-token"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    assert_eq!(
        stderr(&output),
        "error: malformed token: expected three base64url segments (malformed-token)\n"
    );
    let output = run(&["decode", "/p?a=1"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "error: no token in the request (missing-token)\n"
    );
    assert_eq!(run(&["decode"]).status.code(), Some(2));
}

// ----- verify -----

#[test]
fn verify_golden_tokens_valid() {
    let output = verify(&["GET", URL, T1]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(output.stderr.is_empty());
    assert_eq!(
        stdout(&output),
        "valid\n\
         client key: test-client-key\n\
         account id: (none)\n\
         kind:       request-bound\n\
         exp:        2023-11-14T22:16:20Z (expires in 2 min)\n"
    );

    // The same request as a full URL, lower-case method; the token in the URL.
    let url = format!("https://app.example.com{URL}&jwt={T1}");
    let output = verify(&["get", &url]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));

    // A pasted header.
    let output = verify(&["GET", URL, &format!("JWT {T1}")]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));

    for accept in ["context", "request-or-context"] {
        let output = verify(&["--accept", accept, "GET", "/anything", T2]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{accept}: {}",
            stdout(&output)
        );
        assert!(
            stdout(&output).contains("\nkind:       context\n"),
            "{}",
            stdout(&output)
        );
    }
    let output = verify(&["--accept", "request-or-context", "GET", URL, T1]);
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).contains("\nkind:       request-bound\n"));

    // Within the leeway after exp: still valid, and it says so.
    let output = run(&[
        "verify",
        "--secret",
        SECRET,
        "--now",
        "1700000200",
        "GET",
        URL,
        T1,
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(
        stdout(&output).contains("(expired 20 s ago, within the 30 s leeway)"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn verify_invalid_with_exact_codes() {
    let at = |now: &str, extra: &[&str], token: &str| {
        let mut args = vec!["verify", "--secret", SECRET, "--now", now];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["GET", URL, token]);
        invalid_code(&run(&args))
    };
    // Times: exp 1700000180 + leeway 30.
    assert_eq!(at("1700000210", &[], T1), "expired");
    assert_eq!(
        run(&[
            "verify",
            "--secret",
            SECRET,
            "--now",
            "1700000209",
            "GET",
            URL,
            T1
        ])
        .status
        .code(),
        Some(0)
    );
    assert_eq!(at("1700000180", &["--leeway", "0"], T1), "expired");
    assert_eq!(at("1699999969", &[], T1), "issued-in-future");
    assert_eq!(
        at(NOW, &["--accept", "context"], T1),
        "context-token-required"
    );
    assert_eq!(at(NOW, &[], T2), "context-token-not-allowed");
    assert_eq!(at(NOW, &[], "abc"), "malformed-token");
    assert_eq!(at(NOW, &[], &T1.replace(".p_", ".q_")), "invalid-signature");

    let output = run(&[
        "verify",
        "--secret",
        "another-secret",
        "--now",
        NOW,
        "GET",
        URL,
        T1,
    ]);
    assert_eq!(invalid_code(&output), "invalid-signature");
    assert!(stdout(&output).contains("(iss \"test-client-key\") was not signed with this secret"));

    let output = verify(&["GET", "/path/to/service?a=1"]);
    assert_eq!(invalid_code(&output), "missing-token");
    let output = verify(&["GET", &format!("/p?jwt={T1}&jwt={T2}")]);
    assert_eq!(invalid_code(&output), "conflicting-tokens");
    let output = verify(&["GET", "/p?a=%zz", T1]);
    assert_eq!(invalid_code(&output), "invalid-percent-encoding");
    let output = verify(&["GET", "/p", "Bearer x"]);
    assert_eq!(invalid_code(&output), "malformed-token");
    let output = verify(&["GET", "/p", "Authorization: Bearer x"]);
    assert_eq!(invalid_code(&output), "invalid-authorization-header");

    let output = verify(&["GET", URL, T2]);
    assert_eq!(
        stdout(&output).lines().next().unwrap(),
        "invalid: context token not accepted on a request-bound route (context-token-not-allowed)"
    );
    let output = run(&[
        "verify",
        "--secret",
        SECRET,
        "--now",
        "1700000300",
        "GET",
        URL,
        T1,
    ]);
    assert_eq!(
        stdout(&output),
        "invalid: token expired at 1700000180, now is 1700000300 (expired)\n  \
         exp: 2023-11-14T22:16:20Z (expired 2 min ago), beyond the 30 s leeway\n"
    );
}

#[test]
fn verify_configuration_errors_go_to_stderr() {
    for (args, message) in [
        (
            &["--leeway", "301", "GET", URL, T1][..],
            "error: leeway of 301 s exceeds the maximum of 300 s (leeway-too-large)\n",
        ),
        (
            &["--base", "no-slash", "GET", URL, T1],
            "error: invalid base url (invalid-base-url)\n",
        ),
    ] {
        let output = verify(args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
        assert_eq!(stderr(&output), message, "{args:?}");
    }
    let output = run(&["verify", "--secret", "", "--now", NOW, "GET", URL, T1]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "error: the tenant's shared secret is empty (empty-secret)\n"
    );
    // No secret at all: usage.
    let output = run(&["verify", "GET", URL, T1]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        "error: the shared secret is required: pass --secret-file PATH, set CONNECT_JWT_SECRET, \
         or pass --secret SECRET\n"
    );
    // ... or from the environment.
    let output = run_env(&["verify", "--now", NOW, "GET", URL, T1], Some(SECRET));
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
}

#[test]
fn verify_qsh_mismatch_shows_both_sides_and_the_cause() {
    // T1 was signed for the full path; the app says its base URL ends in /path.
    let output = verify(&["--base", "https://app.example.com/path", "GET", URL, T1]);
    assert_eq!(invalid_code(&output), "qsh-mismatch");
    let given = "GET&/to/service&A=2&B=4&a=1&b=3";
    let signed = "GET&/path/to/service&A=2&B=4&a=1&b=3";
    let expected_qsh = Qsh::of_canonical(given).to_string();
    assert_eq!(Qsh::of_canonical(signed).to_string(), T1_QSH);
    // One screen: both qsh, both canonical requests, a caret under the first difference
    // (after `GET&/`), the cause and what to try.
    assert_eq!(
        stdout(&output),
        format!(
            "invalid: qsh mismatch: the request hashes to {expected_qsh}, the token says \
             \"{T1_QSH}\" (qsh-mismatch)\n\
             \x20 expected qsh:             {expected_qsh}  (the request given)\n\
             \x20 presented qsh:            {T1_QSH}  (the token's claim)\n\
             \x20 canonical request given:  {given}\n\
             \x20 the token was signed for: {signed}\n\
             \x20                                ^ first difference\n\
             \x20 cause:                    base-path-wrong: the token covers the path with \
             /path, which the app stripped: strip the base path once (not again after a router \
             removed it), and only if it is in the descriptor's baseUrl\n\
             \x20 hint:                     check again without --base\n"
        )
    );

    // The other way round: the app's path in front, and no --base: pass --base.
    let output = verify(&["GET", &format!("/connect{URL}"), T1]);
    assert_eq!(invalid_code(&output), "qsh-mismatch");
    let text = stdout(&output);
    assert!(
        text.contains(&format!("  the token was signed for: {signed}\n")),
        "{text}"
    );
    assert!(
        text.contains(
            "  cause:                    base-path-not-stripped: the product signed the path \
             without /connect, and the app stripped nothing: set the app's base URL to its \
             descriptor's baseUrl (path /connect)\n  hint:                     check again \
             with --base /connect\n"
        ),
        "{text}"
    );

    // Another method.
    let output = verify(&["POST", URL, T1]);
    assert!(
        stdout(&output).contains(
            "  cause:                    method-differs: the token was signed for GET, the app \
             received POST: "
        ),
        "{}",
        stdout(&output)
    );

    // Nothing found: says so, and what else to check.
    let output = verify(&["GET", "/path/to/service?a=1", T1]);
    assert_eq!(invalid_code(&output), "qsh-mismatch");
    let text = stdout(&output);
    assert!(
        text.contains("  the token was signed for: unknown: none of "),
        "{text}"
    );
    assert!(
        text.contains(
            "  cause:                    unknown: no change tried makes the request match: \
             look for parameters removed or changed"
        ),
        "{text}"
    );
}

// ----- sign -----

fn sign(args: &[&str]) -> String {
    let mut all = vec!["sign", "--secret", SECRET, "--iss", ISS];
    all.extend_from_slice(args);
    let output = run(&all);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{args:?}: {}",
        stderr(&output)
    );
    let text = stdout(&output);
    assert!(text.ends_with('\n') && text.lines().count() == 1, "{text}");
    text.trim_end().to_owned()
}

#[test]
fn sign_then_verify_round_trip() {
    // Request-bound, at the golden time: the same claims as T1.
    let token = sign(&["--now", "1700000000", "GET", URL]);
    let output = verify(&["GET", URL, &token]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let decoded = stdout(&run(&["decode", "--now", NOW, &token])).to_owned();
    assert!(
        decoded.contains(&format!("\"qsh\": \"{T1_QSH}\"")),
        "{decoded}"
    );
    assert!(decoded.contains("\"exp\": 1700000180"), "{decoded}");

    // With a subject and a lifetime, shown by verify.
    let token = sign(&[
        "--now",
        "1700000000",
        "--sub",
        "acc-42",
        "--lifetime",
        "600",
        "PUT",
        URL,
    ]);
    let output = verify(&["put", URL, &token]);
    assert_eq!(
        stdout(&output),
        "valid\nclient key: test-client-key\naccount id: acc-42\nkind:       request-bound\n\
         exp:        2023-11-14T22:23:20Z (expires in 9 min)\n"
    );

    // A call to Confluence: /wiki is the product's base path and is not signed.
    let base = "https://example.atlassian.net/wiki";
    let url = "https://example.atlassian.net/wiki/rest/api/space?limit=10";
    let token = sign(&["--now", "1700000000", "--base", base, "GET", url]);
    assert_eq!(
        verify(&["--base", base, "GET", url, &token]).status.code(),
        Some(0)
    );
    let output = verify(&["GET", url, &token]);
    assert_eq!(invalid_code(&output), "qsh-mismatch");
    assert!(
        stdout(&output).contains(
            "cause:                    base-path-not-stripped: the product signed the path \
             without /wiki"
        ),
        "{}",
        stdout(&output)
    );
    assert!(
        stdout(&output).contains("hint:                     check again with --base /wiki\n"),
        "{}",
        stdout(&output)
    );

    // A token for the full path, checked by an app with a base URL: the base-path hint.
    let app = "https://app.example.com/connect";
    let url = "https://app.example.com/connect/issue-panel?b=2&a=hello+world";
    let token = sign(&["--now", "1700000000", "GET", url]);
    let output = verify(&["--base", app, "GET", url, &token]);
    assert_eq!(invalid_code(&output), "qsh-mismatch");
    assert!(
        stdout(&output)
            .contains("the token was signed for: GET&/connect/issue-panel&a=hello%20world&b=2\n"),
        "{}",
        stdout(&output)
    );
    assert!(
        stdout(&output).contains("cause:                    base-path-wrong: "),
        "{}",
        stdout(&output)
    );

    // Context tokens.
    let token = sign(&["--now", "1700000000", "--context"]);
    let output = verify(&["--accept", "context", "GET", "/any", &token]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert_eq!(
        invalid_code(&verify(&["GET", "/any", &token])),
        "context-token-not-allowed"
    );
}

#[test]
fn sign_header_and_environment() {
    let token = sign(&["--now", "1700000000", "GET", URL]);
    let header = sign(&["--now", "1700000000", "--header", "GET", URL]);
    assert_eq!(header, format!("Authorization: JWT {token}"));
    // The header as printed verifies too.
    assert_eq!(
        verify(&["GET", URL, &header["Authorization: ".len()..]])
            .status
            .code(),
        Some(0)
    );

    let output = run_env(
        &["sign", "--iss", ISS, "--now", "1700000000", "GET", URL],
        Some(SECRET),
    );
    assert_eq!(stdout(&output).trim_end(), token);

    // --context with a request: a note on stderr, the token alone on stdout.
    let output = run(&[
        "sign",
        "--secret",
        SECRET,
        "--iss",
        ISS,
        "--now",
        "1700000000",
        "--context",
        "GET",
        URL,
    ]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stdout(&output).lines().count(), 1);
    assert!(stderr(&output).starts_with("note: a context token is bound to no request"));
}

#[test]
fn sign_errors() {
    let output = run(&["sign", "--secret", SECRET, "--iss", ISS, "GET", "/p?a=%zz"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    assert!(stderr(&output).ends_with("(invalid-percent-encoding)\n"));
    let output = run(&[
        "sign",
        "--secret",
        SECRET,
        "--iss",
        ISS,
        "--now",
        "18446744073709551615",
        "GET",
        "/",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "error: invalid claim: exp (invalid-claim)\n"
    );
    for args in [
        &["sign", "--secret", SECRET, "GET", "/"][..],
        &["sign", "--secret", SECRET, "--iss", ISS],
        &["sign", "--secret", SECRET, "--iss", ISS, "GET"],
        &["sign", "--iss", ISS, "GET", "/"],
    ] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn sign_assertion_claims() {
    let output = run(&[
        "sign-assertion",
        "--secret",
        SECRET,
        "--client-id",
        "oauth-client",
        "--account-id",
        "557058:abc",
        "--tenant",
        "https://example.atlassian.net",
        "--now",
        "1700000000",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let token = stdout(&output).trim_end().to_owned();
    let decoded = stdout(&run(&["decode", "--now", "1700000010", &token])).to_owned();
    for needle in [
        r#""iss": "urn:atlassian:connect:clientid:oauth-client""#,
        r#""sub": "urn:atlassian:connect:useraccountid:557058:abc""#,
        r#""tnt": "https://example.atlassian.net""#,
        r#""aud": "https://oauth-2-authorization-server.services.atlassian.com""#,
        r#""iat": 1700000000"#,
        r#""exp": 1700000060"#,
        "exp:    2023-11-14T22:14:20Z (expires in 50 s)",
    ] {
        assert!(decoded.contains(needle), "{needle}: {decoded}");
    }
}

// ----- verify --jsonl -----

fn line(token: &str, url: &str, accept: &str) -> Value {
    json!({
        "token": token,
        "secrets": {ISS: SECRET, "other-tenant": "another-secret"},
        "method": "GET",
        "url": url,
        "now": 1_700_000_060,
        "accept": accept,
    })
}

#[test]
fn verify_jsonl_one_line_out_per_line_in() {
    let mut values: Vec<Value> = Vec::new();
    let mut push = |value: Value| values.push(value);
    push(line(T1, URL, "request"));
    push(line(T2, "/x", "context"));
    push(line(T2, "/x", "request-or-context"));
    push(line(T2, "/x", "request"));
    push(line(T1, "/other", "request"));
    let mut late = line(T1, URL, "request");
    late["now"] = json!(1_700_000_300);
    push(late);
    let mut leeway = line(T1, URL, "request");
    leeway["now"] = json!(1_700_000_300);
    leeway["leeway"] = json!(300);
    push(leeway);
    let mut based = line(T1, &format!("/base{URL}"), "request");
    based["base"] = json!("https://app.example.com/base");
    push(based);
    let mut unknown = line(T1, URL, "request");
    unknown["secrets"] = json!({"someone-else": SECRET});
    push(unknown);
    let mut wrong = line(T1, URL, "request");
    wrong["secrets"] = json!({ISS: "not-the-secret"});
    push(wrong);
    let mut empty = line(T1, URL, "request");
    empty["secrets"] = json!({ISS: ""});
    push(empty);
    let mut too_much = line(T1, URL, "request");
    too_much["leeway"] = json!(301);
    push(too_much);
    // Malformed lines.
    let mut extra = line(T1, URL, "request");
    extra["sceret"] = json!("x");
    push(extra);
    let mut no_now = line(T1, URL, "request");
    no_now.as_object_mut().unwrap().remove("now");
    push(no_now);
    let mut bad_accept = line(T1, URL, "request");
    bad_accept["accept"] = json!("any");
    push(bad_accept);
    let mut string_secrets = line(T1, URL, "request");
    string_secrets["secrets"] = json!(SECRET);
    push(string_secrets);
    let mut float_now = line(T1, URL, "request");
    float_now["now"] = json!(1.5);
    push(float_now);
    let mut secret_in_now = line(T1, URL, "request");
    secret_in_now["now"] = json!(SECRET);
    push(secret_in_now);
    let mut lines: Vec<String> = values.iter().map(Value::to_string).collect();
    lines.push(String::new());
    lines.push("not json".to_owned());
    lines.push(format!(
        r#"{{"token":"{T1}","secrets":{{"{ISS}":"{SECRET}","{ISS}":"x"}},"method":"GET","url":"{URL}","now":1700000060,"accept":"request"}}"#
    ));
    lines.push(line(T1, URL, "request").to_string());

    let input = lines.join("\n") + "\n";
    let output = run_with_stdin(&["verify", "--jsonl"], input.as_bytes());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(output.stderr.is_empty());
    let out: Vec<Value> = stdout(&output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(out.len(), lines.len(), "{out:#?}");

    let ok = |kind: &str| json!({"ok": true, "iss": ISS, "sub": null, "kind": kind});
    let code = |v: &Value| {
        assert_eq!(v["ok"], false, "{v}");
        assert_eq!(v.as_object().unwrap().len(), 3, "{v}");
        assert!(!v["message"].as_str().unwrap().is_empty(), "{v}");
        v["error"].as_str().unwrap().to_owned()
    };
    assert_eq!(out[0], ok("request-bound"));
    assert_eq!(out[1], ok("context"));
    assert_eq!(out[2], ok("context"));
    assert_eq!(code(&out[3]), "context-token-not-allowed");
    // A qsh mismatch gains its diagnosis, and nothing else.
    let mut mismatch = out[4].clone();
    let diagnosis = mismatch
        .as_object_mut()
        .unwrap()
        .remove("diagnosis")
        .unwrap();
    assert_eq!(code(&mismatch), "qsh-mismatch");
    assert!(mismatch["message"].as_str().unwrap().contains(T1_QSH));
    assert_eq!(diagnosis["cause"], "unknown");
    assert!(
        diagnosis["detail"]
            .as_str()
            .unwrap()
            .starts_with("none of "),
        "{diagnosis}"
    );
    assert_eq!(diagnosis.as_object().unwrap().len(), 2, "{diagnosis}");
    assert_eq!(code(&out[5]), "expired");
    assert_eq!(out[6], ok("request-bound"));
    assert_eq!(out[7], ok("request-bound"));
    assert_eq!(code(&out[8]), "unknown-issuer");
    assert_eq!(code(&out[9]), "invalid-signature");
    assert_eq!(code(&out[10]), "empty-secret");
    assert_eq!(code(&out[11]), "leeway-too-large");
    for (i, what) in [
        (12, "unknown field `sceret`"),
        (13, "missing field `now`"),
        (14, "unknown variant `any`"),
        (15, "invalid type: a string, expected an object"),
        (16, "invalid type: floating point"),
        (17, "invalid type: a string, expected u64"),
        (18, "blank input line"),
        (19, "not json"),
        (20, "a clientKey appears twice"),
    ] {
        assert_eq!(code(&out[i]), "malformed-input", "{i}");
        assert!(
            out[i]["message"].as_str().unwrap().contains(what),
            "{i}: {}",
            out[i]
        );
    }
    assert_eq!(out[21], ok("request-bound"));
}

#[test]
fn verify_jsonl_exact_bytes_sub_and_default_base() {
    let token = sign(&[
        "--now",
        "1700000000",
        "--sub",
        "acc-7",
        "GET",
        "/base/p?x=1",
        "--base",
        "/base",
    ]);
    let good = json!({
        "token": token, "secrets": {ISS: SECRET}, "method": "GET", "url": "/base/p?x=1",
        "now": 1_700_000_060, "accept": "request", "base": null, "leeway": null
    });
    let input = format!("{good}\n\n");
    let output = run_with_stdin(&["verify", "--jsonl", "--base", "/base"], input.as_bytes());
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        stdout(&output),
        "{\"ok\":true,\"iss\":\"test-client-key\",\"sub\":\"acc-7\",\"kind\":\"request-bound\"}\n\
         {\"ok\":false,\"error\":\"malformed-input\",\"message\":\"blank input line: expected a json object\"}\n"
    );
    // Without the default base the path is not stripped.
    let output = run_with_stdin(&["verify", "--jsonl"], input.as_bytes());
    let first: Value = serde_json::from_str(stdout(&output).lines().next().unwrap()).unwrap();
    assert_eq!(first["error"], "qsh-mismatch");
}

#[test]
fn verify_jsonl_usage() {
    for args in [
        &["verify", "--jsonl", "--secret", SECRET][..],
        &["verify", "--jsonl", "--now", "1"],
        &["verify", "--jsonl", "--accept", "context"],
        &["verify", "--jsonl", "--leeway", "1"],
        &["verify", "--jsonl", "GET", "/"],
        &["verify", "--secret", SECRET, "GET"],
        &["verify", "--secret", SECRET, "GET", "/", T1, "extra"],
        &[
            "verify",
            "--secret",
            SECRET,
            "--accept",
            "sometimes",
            "GET",
            "/",
            T1,
        ],
        &[
            "verify", "--secret", SECRET, "--secret", SECRET, "GET", "/", T1,
        ],
    ] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
        assert!(stderr(&output).starts_with("error: "), "{args:?}");
    }
}

// ----- the secret -----

#[test]
fn the_secret_never_shows_in_help() {
    // `run_env` checks every output for the secret; help must not show the variable's value.
    for args in [
        &["verify", "--help"][..],
        &["sign", "--help"],
        &["sign-assertion", "--help"],
        &["help", "verify"],
        &["--help"],
        &[],
    ] {
        let output = run_env(args, Some(SECRET));
        assert_eq!(output.status.code(), Some(0), "{args:?}");
    }
    let help = stdout(&run(&["verify", "--help"])).to_owned();
    assert!(help.contains("CONNECT_JWT_SECRET"), "{help}");
}

#[test]
fn the_secret_never_shows_even_with_hyphens() {
    // A secret that looks like an option is still taken as the value of --secret.
    let odd = "-sekrit-starting-with-a-hyphen";
    let token = {
        let output = run(&[
            "sign",
            "--secret",
            odd,
            "--iss",
            ISS,
            "--now",
            "1700000000",
            "GET",
            URL,
        ]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        stdout(&output).trim_end().to_owned()
    };
    let output = run(&["verify", "--secret", odd, "--now", NOW, "GET", URL, &token]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let output = run(&[
        "verify", "--secret", "sekrit", "--now", NOW, "GET", URL, &token,
    ]);
    assert_eq!(invalid_code(&output), "invalid-signature");
}
