//! The 401 debugger: the cases of a new user's trial (issue 15), each with the output
//! `connect-jwt` must print. Tokens are made by `connect-jwt sign`, as the product would sign
//! them, and presented for a slightly different request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::{Command, Output};

use atlassian_connect_jwt::{BasePath, CanonicalRequest};
use serde_json::{json, Value};

mod common;

use common::{stderr, stdout, BIN};

const SECRET: &str = "connect-test-secret-0123456789abcdef0123";
const ISS: &str = "test-client-key";
const NOW: &str = "1700000060";
const APP: &str = "https://app.example.com/connect";

/// Runs the binary with the secret in `CONNECT_JWT_SECRET` (never on the command line), and
/// checks that it shows nowhere.
fn run(args: &[&str]) -> Output {
    let output = Command::new(BIN)
        .args(args)
        .env("CONNECT_JWT_SECRET", SECRET)
        .output()
        .unwrap();
    assert_no_secret(&output);
    output
}

/// Runs the binary without any secret.
fn run_without_secret(args: &[&str]) -> Output {
    let output = Command::new(BIN)
        .args(args)
        .env_remove("CONNECT_JWT_SECRET")
        .output()
        .unwrap();
    assert_no_secret(&output);
    output
}

fn assert_no_secret(output: &Output) {
    for text in [stdout(output), stderr(output)] {
        for needle in [SECRET, "test-secret", "0123456789abcdef0123", "file-secret"] {
            assert!(
                !text.contains(needle),
                "the secret is in the output:\n{text}"
            );
        }
    }
}

/// A token signed at 1700000000 for `METHOD URL` with the signer's base path.
fn sign(method: &str, url: &str, base: Option<&str>) -> String {
    let mut args = vec!["sign", "--iss", ISS, "--now", "1700000000"];
    if let Some(base) = base {
        args.extend_from_slice(&["--base", base]);
    }
    args.extend_from_slice(&[method, url]);
    let output = run(&args);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    stdout(&output).trim_end().to_owned()
}

/// `verify --now NOW <args>`: the exit status must be 1 and stderr empty; returns stdout.
fn verify_invalid(args: &[&str]) -> String {
    let mut all = vec!["verify", "--now", NOW];
    all.extend_from_slice(args);
    let output = run(&all);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(output.stderr.is_empty(), "{}", stderr(&output));
    stdout(&output).to_owned()
}

fn qsh(method: &str, target: &str, base: Option<&str>) -> String {
    let base = base.map(|b| BasePath::parse(b).unwrap());
    CanonicalRequest::from_target(method, target, base.as_ref())
        .unwrap()
        .qsh()
        .to_string()
}

/// The lines after the first two (the qsh values) of a mismatch.
fn diagnosis_lines(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].ends_with("(qsh-mismatch)"), "{text}");
    assert!(lines[1].starts_with("  expected qsh:"), "{text}");
    assert!(lines[2].starts_with("  presented qsh:"), "{text}");
    lines[3..].iter().map(|l| format!("{l}\n")).collect()
}

// ----- causes the trial ended in `unknown` for -----

#[test]
fn a_parameter_added_by_a_proxy_cdn_or_framework() {
    let signed = "https://app.example.com/connect/issue-panel?issueKey=PROJ-1&cv=1001";
    let token = sign("GET", signed, Some(APP));
    let received = format!("{signed}&utm_source=newsletter");
    let text = verify_invalid(&["--base", APP, "GET", &received, &token]);
    // The whole screen.
    let expected = qsh("GET", &received, Some(APP));
    let presented = qsh("GET", signed, Some(APP));
    assert_eq!(
        text,
        format!(
            "invalid: qsh mismatch: the request hashes to {expected}, the token says \
             \"{presented}\" (qsh-mismatch)\n\
             \x20 expected qsh:             {expected}  (the request given)\n\
             \x20 presented qsh:            {presented}  (the token's claim)\n\
             \x20 canonical request given:  GET&/issue-panel&cv=1001&issueKey=PROJ-1&utm_source=newsletter\n\
             \x20 the token was signed for: GET&/issue-panel&cv=1001&issueKey=PROJ-1\n\
             \x20                                                                   ^ first difference\n\
             \x20 cause:                    parameter-added: the parameter utm_source was added \
             after signing (by a proxy, CDN or framework): verify the query the product sent, \
             without it\n"
        )
    );
    // A cache buster in the middle.
    let busted =
        "https://app.example.com/connect/issue-panel?_=1700000000123&issueKey=PROJ-1&cv=1001";
    let text = verify_invalid(&["--base", APP, "GET", busted, &token]);
    assert!(
        diagnosis_lines(&text).contains(
            "  cause:                    parameter-added: the parameter _ was added after signing"
        ),
        "{text}"
    );
    // Several appended.
    let tracked = format!("{signed}&utm_source=x&utm_medium=y");
    let text = verify_invalid(&["--base", APP, "GET", &tracked, &token]);
    assert!(
        text.contains("parameter-added: the parameters utm_medium, utm_source were added"),
        "{text}"
    );
}

#[test]
fn a_path_prefix_removed_by_a_reverse_proxy() {
    let token = sign(
        "GET",
        "https://jira.example.com/jira/rest/api/2/issue/PROJ-1",
        None,
    );
    let text = verify_invalid(&["GET", "/rest/api/2/issue/PROJ-1", &token]);
    assert_eq!(
        diagnosis_lines(&text),
        "  canonical request given:  GET&/rest/api/2/issue/PROJ-1&\n\
         \x20 the token was signed for: GET&/jira/rest/api/2/issue/PROJ-1&\n\
         \x20                                ^ first difference\n\
         \x20 cause:                    path-prefix-removed: a reverse proxy removed /jira from \
         the front of the path: verify the path the product sent, with /jira (from \
         X-Forwarded-Prefix or the proxy's configuration)\n"
    );
}

#[test]
fn a_path_decoded_or_re_encoded_on_the_way() {
    let decoded = "path-decoded: the path was percent-decoded on the way (%20, %2F, %7E, ...): \
                   verify the raw path exactly as sent, not one a proxy or framework decoded\n";
    for (signed, received) in [
        ("/wiki/spaces/a%2Fb/pages", "/wiki/spaces/a/b/pages"),
        ("/files/my%20report.pdf", "/files/my report.pdf"),
        ("/users/%7Eadmin/panel", "/users/~admin/panel"),
    ] {
        let token = sign("GET", signed, None);
        let text = verify_invalid(&["GET", received, &token]);
        assert!(
            text.contains(&format!("  cause:                    {decoded}")),
            "{signed}: {text}"
        );
    }
    let token = sign("GET", "/users/~admin/panel", None);
    let text = verify_invalid(&["GET", "/users/%7Eadmin/panel", &token]);
    assert!(
        text.contains(
            "  cause:                    path-reencoded: the path was re-encoded on the way \
             (escapes added or changed): verify the raw path exactly as sent, not one a proxy \
             or framework re-encoded\n"
        ),
        "{text}"
    );
}

#[test]
fn a_plus_sign_decoded_to_a_space() {
    let token = sign("GET", "/search?q=1%2B1%3D2", None);
    let text = verify_invalid(&["GET", "/search?q=1+1%3D2", &token]);
    assert_eq!(
        diagnosis_lines(&text),
        "  canonical request given:  GET&/search&q=1%201%3D2\n\
         \x20 the token was signed for: GET&/search&q=1%2B1%3D2\n\
         \x20                                            ^ first difference\n\
         \x20 cause:                    plus-decoded: a %2B in the query reached the app as +, \
         which reads as a space: verify the raw query exactly as sent, not one rebuilt after \
         decoding\n"
    );
}

// ----- the other findings -----

#[test]
fn a_second_token_in_the_url_conflicts() {
    let token = sign("GET", "/panel?a=1", None);
    let other = sign("GET", "/panel?a=2", None);
    let url = format!("/panel?a=1&jwt={other}");
    let text = verify_invalid(&["GET", &url, &token]);
    assert_eq!(
        text,
        "invalid: the request carries conflicting tokens (conflicting-tokens)\n\
         \x20 hint: the URL's jwt parameter holds another token than the one given (or two \
         different ones): an app refuses such a request; drop one of them\n"
    );
    // The same token twice is one token.
    let same = format!("/panel?a=1&jwt={token}");
    let output = run(&["verify", "--now", NOW, "GET", &same, &token]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    // decode METHOD URL TOKEN refuses it too.
    let output = run(&["decode", "GET", &url, &token]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "error: the request carries conflicting tokens (conflicting-tokens)\n"
    );
}

#[test]
fn a_base_path_stripped_twice_is_the_apps_to_fix() {
    // The descriptor's baseUrl is https://app.example.com/connect and a module's URL is
    // /connect/panel: the product requests /connect/connect/panel and signs /connect/panel.
    // A router mounted at /connect hands the app /connect/panel, and the app strips again.
    let token = sign(
        "GET",
        "https://app.example.com/connect/connect/panel",
        Some(APP),
    );
    let text = verify_invalid(&["--base", APP, "GET", "/connect/panel", &token]);
    assert_eq!(
        diagnosis_lines(&text),
        "  canonical request given:  GET&/panel&\n\
         \x20 the token was signed for: GET&/connect/panel&\n\
         \x20                                ^ first difference\n\
         \x20 cause:                    base-path-wrong: the token covers the path with \
         /connect, which the app stripped: strip the base path once (not again after a router \
         removed it), and only if it is in the descriptor's baseUrl\n\
         \x20 hint:                     check again without --base\n"
    );
    assert!(!text.contains("signer"), "{text}");
}

#[test]
fn decode_checks_a_urls_qsh_without_a_secret() {
    let token = sign("GET", "/connect/panel?a=1&b=2", Some(APP));
    let tail = |output: &Output| {
        assert_eq!(output.status.code(), Some(0), "{}", stderr(output));
        let text = stdout(output);
        let start = text.find("\nqsh:").unwrap() + 1;
        let end = text.rfind("\n\n***").unwrap() + 1;
        text[start..end].to_owned()
    };
    // Matches.
    let url = format!("https://app.example.com/connect/panel?b=2&a=1&jwt={token}");
    let output = run_without_secret(&["decode", "--now", NOW, "--base", APP, &url]);
    assert_eq!(
        tail(&output),
        "qsh:    matches this request: GET&/panel&a=1&b=2 (method GET assumed; the signature \
         was not checked)\n"
    );
    // Does not match: a parameter added, then the base path not given.
    let url = format!("https://app.example.com/connect/panel?b=2&a=1&xdm_c=c&jwt={token}");
    let output = run_without_secret(&["decode", "--now", NOW, "--base", APP, &url]);
    assert_eq!(
        tail(&output),
        "qsh:    does NOT match this request (method GET assumed; the signature was not \
         checked)\n\
         \x20 canonical request given:  GET&/panel&a=1&b=2&xdm_c=c\n\
         \x20 the token was signed for: GET&/panel&a=1&b=2\n\
         \x20                                             ^ first difference\n\
         \x20 cause:                    parameter-added: the parameter xdm_c was added after \
         signing (by a proxy, CDN or framework): verify the query the product sent, without \
         it\n"
    );
    let url = format!("https://app.example.com/connect/panel?b=2&a=1&jwt={token}");
    let output = run_without_secret(&["decode", "--now", NOW, &url]);
    let text = tail(&output);
    assert!(
        text.contains("base-path-not-stripped: ")
            && text.contains("  hint:                     check again with --base /connect\n"),
        "{text}"
    );
    // A method given, and a token given apart from the URL.
    let output = run_without_secret(&[
        "decode",
        "--base",
        APP,
        "post",
        "/connect/panel?a=1&b=2",
        &format!("JWT {token}"),
    ]);
    let text = tail(&output);
    assert!(
        text.starts_with("qsh:    does NOT match this request (the signature was not checked)\n"),
        "{text}"
    );
    assert!(
        text.contains("method-differs: the token was signed for GET, the app received POST"),
        "{text}"
    );
    // Context tokens are bound to no request.
    let context = {
        let output = run(&["sign", "--iss", ISS, "--context", "--now", "1700000000"]);
        stdout(&output).trim_end().to_owned()
    };
    let output = run_without_secret(&["decode", &format!("/p?jwt={context}")]);
    assert_eq!(
        tail(&output),
        "qsh:    context-qsh: bound to no request, so there is nothing to check here\n"
    );
    // Usage: --base without a URL; two arguments whose first is no method.
    for args in [
        &["decode", "--base", APP, token.as_str()][..],
        &["decode", "/p?jwt=x", token.as_str()],
        &["decode", "GET", "/p", token.as_str(), "extra"],
    ] {
        let output = run_without_secret(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn token_location_mistakes_are_named() {
    let token = sign("GET", "/p", None);
    let malformed = "malformed token: expected three base64url segments (malformed-token)";
    for (pasted, hint) in [
        (
            format!("Bearer {token}"),
            "the Bearer scheme: a Connect token travels as `Authorization: JWT <token>` (or in \
             the jwt query parameter)",
        ),
        (
            format!("{token}\n"),
            "whitespace at an end of the token (a copied space or line break): paste the token \
             alone",
        ),
        (
            format!("jwt={token}"),
            "a `jwt=` prefix: paste the parameter's value alone, or the whole URL",
        ),
        (
            token.replacen('.', "%2E", 1),
            "a percent-escaped token (%2E, %3D, ...): paste it decoded, or paste the whole URL \
             with its jwt parameter",
        ),
        (
            format!("\"{token}\""),
            "quotes around the token: paste it without them",
        ),
    ] {
        let output = run(&["decode", &pasted]);
        assert_eq!(output.status.code(), Some(1), "{pasted}");
        assert!(output.stdout.is_empty());
        assert_eq!(
            stderr(&output),
            format!("error: {malformed}\n  hint: {hint}\n"),
            "{pasted}"
        );
        let text = verify_invalid(&["GET", "/p", &pasted]);
        assert_eq!(
            text,
            format!("invalid: {malformed}\n  hint: {hint}\n"),
            "{pasted}"
        );
    }
    // In a header, the code is the header's.
    let text = verify_invalid(&["GET", "/p", &format!("Authorization: Bearer {token}")]);
    assert!(
        text.starts_with(
            "invalid: the authorization header is not of the form `JWT <token>` \
             (invalid-authorization-header)\n  hint: the Bearer scheme"
        ),
        "{text}"
    );
    // An escaped token inside a URL.
    let url = format!("/p?jwt={}", token.replacen('.', "%2E", 1));
    let text = verify_invalid(&["GET", &url]);
    assert!(text.contains("  hint: a percent-escaped token"), "{text}");
    // Nothing recognizable: no hint.
    let text = verify_invalid(&["GET", "/p", "not-a-token"]);
    assert_eq!(text, format!("invalid: {malformed}\n"));
}

// ----- verify --jsonl -----

#[test]
fn jsonl_mismatch_lines_gain_a_diagnosis_and_nothing_else() {
    let token = sign("GET", "/connect/panel?a=1", Some(APP));
    let line = |url: &str, base: Option<&str>| {
        let mut line = json!({
            "token": token, "secrets": {ISS: SECRET}, "method": "GET", "url": url,
            "now": 1_700_000_060, "accept": "request",
        });
        if let Some(base) = base {
            line["base"] = json!(base);
        }
        line.to_string()
    };
    let input = [
        line("/connect/panel?a=1", Some(APP)),
        line("/connect/panel?a=1&utm_source=x", Some(APP)),
        line("/connect/panel?a=1", None),
        line("/connect/panel?a=1", Some("/other")),
        line("/connect/panel?a=2", Some(APP)),
    ]
    .join("\n");
    let output = common::output_with_stdin(
        Command::new(BIN)
            .args(["verify", "--jsonl"])
            .env_remove("CONNECT_JWT_SECRET"),
        input.as_bytes(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let lines: Vec<Value> = stdout(&output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(
        lines[0],
        json!({"ok": true, "iss": ISS, "sub": null, "kind": "request-bound"})
    );
    let raw: Vec<&str> = stdout(&output).lines().collect();
    let mismatch = |i: usize| {
        // The failure line's fields, in order, then the diagnosis.
        assert!(
            raw[i].starts_with(r#"{"ok":false,"error":"qsh-mismatch","message":"qsh mismatch: "#)
                && raw[i].contains(r#"","diagnosis":{"cause":""#),
            "{}",
            raw[i]
        );
        assert_eq!(lines[i].as_object().unwrap().len(), 4, "{}", raw[i]);
        lines[i]["diagnosis"].clone()
    };
    assert_eq!(
        mismatch(1),
        json!({"cause": "parameter-added", "detail": "the parameter utm_source was added after \
            signing (by a proxy, CDN or framework): verify the query the product sent, without it"})
    );
    assert_eq!(mismatch(2)["cause"], "base-path-not-stripped");
    assert_eq!(mismatch(3)["cause"], "base-path-wrong");
    assert_eq!(mismatch(4)["cause"], "unknown");
    // The exact bytes of a line: the fields in order, compact.
    let second = stdout(&output).lines().nth(1).unwrap();
    assert!(
        second.starts_with(r#"{"ok":false,"error":"qsh-mismatch","message":"qsh mismatch: "#)
            && second.ends_with(
                r#"","diagnosis":{"cause":"parameter-added","detail":"the parameter utm_source was added after signing (by a proxy, CDN or framework): verify the query the product sent, without it"}}"#
            ),
        "{second}"
    );
    // A documented pair: `also` names the second cause.
    let input = line("/connect/panel?a=1&utm_source=x", None);
    let output = common::output_with_stdin(
        Command::new(BIN).args(["verify", "--jsonl"]),
        input.as_bytes(),
    );
    let line: Value = serde_json::from_str(stdout(&output).trim_end()).unwrap();
    assert_eq!(line["diagnosis"]["cause"], "base-path-not-stripped");
    assert_eq!(line["diagnosis"]["also"], "parameter-added");
    assert!(
        line["diagnosis"]["detail"]
            .as_str()
            .unwrap()
            .contains("(path /connect); and the parameter utm_source was added"),
        "{line}"
    );
}

// ----- the secret from a file -----

#[test]
fn the_secret_from_a_file() {
    let dir = std::env::temp_dir().join(format!("connect-jwt-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = |name: &str, bytes: &[u8]| {
        let path: PathBuf = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let token = sign("GET", "/p", None);
    let verify_with = |path: &str| {
        run_without_secret(&[
            "verify",
            "--secret-file",
            path,
            "--now",
            NOW,
            "GET",
            "/p",
            &token,
        ])
    };
    // One trailing newline (LF or CRLF) is not part of the secret; a second one is.
    for (name, bytes) in [
        ("plain", SECRET.to_owned()),
        ("lf", format!("{SECRET}\n")),
        ("crlf", format!("{SECRET}\r\n")),
    ] {
        let output = verify_with(&file(name, bytes.as_bytes()));
        assert_eq!(output.status.code(), Some(0), "{name}: {}", stdout(&output));
    }
    let output = verify_with(&file("two", format!("{SECRET}\n\n").as_bytes()));
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("(invalid-signature)"));
    // An empty file, a missing file, a file that is not UTF-8.
    let output = verify_with(&file("empty", b"\n"));
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "error: the tenant's shared secret is empty (empty-secret)\n"
    );
    let missing = dir.join("missing").to_str().unwrap().to_owned();
    let output = verify_with(&missing);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).starts_with(&format!("error: reading --secret-file {missing}: ")),
        "{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).ends_with(" (io-error)\n"),
        "{}",
        stderr(&output)
    );
    let output = verify_with(&file("latin1", b"file-secret-\xe9\n"));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).ends_with("latin1 is not valid UTF-8\n"),
        "{}",
        stderr(&output)
    );
    // Signing too; the file wins over the environment, --secret and --secret-file conflict.
    let other = file("other", b"file-secret-other\n");
    let output = run(&[
        "sign",
        "--secret-file",
        &other,
        "--iss",
        ISS,
        "--now",
        "1700000000",
        "GET",
        "/p",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let signed_with_file = stdout(&output).trim_end().to_owned();
    assert_ne!(signed_with_file, token);
    let output = run(&[
        "verify",
        "--secret-file",
        &other,
        "--now",
        NOW,
        "GET",
        "/p",
        &signed_with_file,
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    for args in [
        &[
            "verify",
            "--secret",
            "x",
            "--secret-file",
            &other,
            "GET",
            "/p",
            &token,
        ][..],
        &["verify", "--jsonl", "--secret-file", &other],
    ] {
        let output = run_without_secret(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn help_offers_the_file_and_the_variable() {
    for command in ["verify", "sign", "sign-assertion"] {
        let output = run(&[command, "--help"]);
        let help = stdout(&output);
        assert!(
            help.contains("--secret-file <PATH>") && help.contains("CONNECT_JWT_SECRET"),
            "{command}: {help}"
        );
        assert!(help.contains("shell history"), "{command}: {help}");
    }
}

// ----- the README -----

/// The `verify` qsh-mismatch example in the README is what `verify` prints.
#[test]
fn the_readme_mismatch_example_is_current() {
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let command = "$ connect-jwt verify --now 1700000060 --base https://app.example.com/connect GET 'https://app.example.com/connect/issue-panel?b=2&a=hello+world' \"$TOKEN\"\n";
    let start = readme.find(command).expect("the example in the README") + command.len();
    let shown = &readme[start..start + readme[start..].find("```").unwrap()];
    let url = "https://app.example.com/connect/issue-panel?b=2&a=hello+world";
    let token = sign("GET", url, None);
    let output = run(&["verify", "--now", NOW, "--base", APP, "GET", url, &token]);
    assert_eq!(stdout(&output), shown);
}
