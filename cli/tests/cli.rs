//! The `connect-jwt` binary, run as a user or a driving program runs it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use atlassian_connect_jwt::{BasePath, CanonicalRequest, Qsh};
use serde_json::{json, Value};

mod common;

use common::{stderr, stdout, BIN};

const SIMPLE_QSH: &str = "be16910858a41fd19ea5c1b4e9decca9a784d1024cb00b2158defe2f29dc86dd";
const CASES_QSH: &str = "539adc2b0aef2ec8659825893b8b92e6a53c9483e2150b8185b08490d8b6de60";

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn run_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    common::output_with_stdin(Command::new(BIN).args(args), stdin)
}

fn jsonl(input: &[u8]) -> Vec<Value> {
    let output = run_with_stdin(&["canonical", "--jsonl"], input);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    assert!(output.stderr.is_empty(), "stderr: {}", stderr(&output));
    let text = stdout(&output);
    assert!(text.is_empty() || text.ends_with('\n'));
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
        .collect()
}

fn malformed(value: &Value) -> bool {
    value["error"] == "malformed-input"
        && value["message"].as_str().is_some_and(|m| !m.is_empty())
        && value.as_object().unwrap().len() == 2
}

// ----- qsh -----

#[test]
fn qsh_product_vector_simple() {
    let output = run(&["qsh", "GET", "/test?param=value"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        stdout(&output),
        format!("canonical request: GET&/test&param=value\nqsh:               {SIMPLE_QSH}\n")
    );
    assert!(output.stderr.is_empty());
}

#[test]
fn qsh_product_vector_case_sorting() {
    let output = run(&["qsh", "GET", "/test?A=A&a=a&b=b&B=B"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        stdout(&output),
        format!("canonical request: GET&/test&A=A&B=B&a=a&b=b\nqsh:               {CASES_QSH}\n")
    );
}

#[test]
fn qsh_full_url_lowercase_method_and_jwt_ignored() {
    let output = run(&[
        "qsh",
        "get",
        "https://example.com/test?param=value&jwt=eyJ.x.y#frag",
    ]);
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).ends_with(&format!("qsh:               {SIMPLE_QSH}\n")));
}

#[test]
fn qsh_with_base_shows_the_base_path() {
    let output = run(&[
        "qsh",
        "--base",
        "https://example.com/base/",
        "GET",
        "https://example.com/base/test?param=value",
    ]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        stdout(&output),
        format!(
            "base path:         /base (stripped)\n\
             canonical request: GET&/test&param=value\n\
             qsh:               {SIMPLE_QSH}\n"
        )
    );

    // A base that is not a segment prefix of the path strips nothing, and says so.
    let output = run(&["qsh", "--base", "/base", "GET", "/basement/test"]);
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).starts_with(
        "base path:         /base (not a prefix of the path: nothing stripped)\n\
         canonical request: GET&/basement/test&\n"
    ));
}

#[test]
fn qsh_errors_exit_1_with_message_and_code() {
    let output = run(&["qsh", "GET", "/p?a=%zz"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    assert_eq!(
        stderr(&output),
        "error: invalid percent-encoding in the query at byte 2 (invalid-percent-encoding)\n"
    );

    let output = run(&["qsh", "G T", "/"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "error: invalid http method (invalid-method)\n"
    );

    let output = run(&["qsh", "--base", "not-a-url", "GET", "/"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "error: invalid base url (invalid-base-url)\n"
    );
}

// ----- usage, help, version -----

#[test]
fn bad_usage_exits_2() {
    for args in [
        &["qsh"][..],
        &["qsh", "GET"],
        &["qsh", "GET", "/", "extra"],
        &["qsh", "--bogus", "GET", "/"],
        &["frobnicate"],
        &["--bogus"],
        &["canonical"],
        &["canonical", "GET"],
        &["canonical", "--jsonl", "GET", "/"],
    ] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
        assert!(stderr(&output).starts_with("error: "), "{args:?}");
    }
}

#[test]
fn no_arguments_shows_help_with_the_example_run_live() {
    let output = run(&[]);
    assert_eq!(output.status.code(), Some(0));
    assert!(output.stderr.is_empty());
    let help = stdout(&output);

    let base = BasePath::parse("https://app.example.com/connect").unwrap();
    let request = CanonicalRequest::from_target(
        "GET",
        "https://app.example.com/connect/issue-panel?b=2&a=hello+world&jwt=...",
        Some(&base),
    )
    .unwrap();
    assert_eq!(request.to_string(), "GET&/issue-panel&a=hello%20world&b=2");
    let qsh = request.qsh().to_string();

    assert!(help.contains("Usage: connect-jwt"), "{help}");
    assert!(help.contains("qsh"), "{help}");
    assert!(help.contains("canonical"), "{help}");
    assert!(help.contains(
        "connect-jwt qsh --base https://app.example.com/connect GET \
         'https://app.example.com/connect/issue-panel?b=2&a=hello+world&jwt=...'"
    ));
    assert!(help.contains("canonical request: GET&/issue-panel&a=hello%20world&b=2"));
    assert!(
        help.contains(&format!("qsh:               {qsh}")),
        "{help}"
    );
    assert!(help.contains(&format!(
        r#"{{"canonical":"GET&/issue-panel&a=hello%20world&b=2","qsh":"{qsh}"}}"#
    )));

    // `help` and `--help` show the same.
    for args in [&["help"][..], &["--help"], &["-h"]] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        assert_eq!(stdout(&output), help, "{args:?}");
    }
}

#[test]
fn subcommand_help_exits_0() {
    for args in [
        &["qsh", "--help"][..],
        &["help", "canonical"],
        &["canonical", "-h"],
    ] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        assert!(stdout(&output).contains("Usage: connect-jwt"), "{args:?}");
    }
}

#[test]
fn version() {
    let output = run(&["--version"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        stdout(&output),
        format!("connect-jwt {}\n", env!("CARGO_PKG_VERSION"))
    );
}

// ----- canonical, one request -----

#[test]
fn canonical_prints_the_bare_canonical_request() {
    let output = run(&["canonical", "GET", "/test?A=A&a=a&b=b&B=B"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stdout(&output), "GET&/test&A=A&B=B&a=a&b=b\n");

    let output = run(&["canonical", "--base", "/base", "post", "/base/x/?z"]);
    assert_eq!(stdout(&output), "POST&/x&z=\n");

    let output = run(&["canonical", "GET", "/p?a=%E2%82"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    assert_eq!(
        stderr(&output),
        "error: query parameter at byte 2 does not decode to utf-8 (invalid-utf8)\n"
    );
}

// ----- canonical --jsonl -----

#[test]
fn jsonl_one_line_out_per_line_in_in_order() {
    let mut input = Vec::new();
    let lines: &[&[u8]] = &[
        br#"{"method":"GET","url":"/test?param=value"}"#,
        b"not json",
        br#"[{"method":"GET","url":"/test?param=value"}]"#,
        br#"{"method":"GET"}"#,
        br#"{"method":"GET","url":42}"#,
        b"",
        b"{\"method\":\"GET\",\"url\":\"/\xff\xfe\"}",
        br#"{"method":"GET","url":"/p?a=%zz"}"#,
        br#"{"method":"G T","url":"/"}"#,
        br#"{"method":"get","url":"https://example.com/test?A=A&a=a&b=b&B=B&jwt=x"}"#,
        br#"{"method":"GET","url":"/test","bsae":"/x"}"#,
        br#"{"method":"GET","url":"/base/test?param=value","base":"https://example.com/base"}"#,
        br#"{"method":"GET","url":"/","base":"no-slash"}"#,
        br#"   "#,
        br#"{"method":"GET","url":"/test?param=value","base":null}"#,
        br#"{"method":"GET","url":"/test?param=value"} {}"#,
        br#"{"method":"GET","url":"/test?param=value","method":"POST"}"#,
        b"{\"method\":\"GET\",\"url\":\"/test?param=value\"}\r",
        br#"null"#,
        br#"{"method":"GET","url":"/p?%FF=1"}"#,
    ];
    for line in lines {
        input.extend_from_slice(line);
        input.push(b'\n');
    }
    let out = jsonl(&input);
    assert_eq!(out.len(), lines.len(), "{out:#?}");

    let simple = json!({"canonical": "GET&/test&param=value", "qsh": SIMPLE_QSH});
    assert_eq!(out[0], simple);
    assert!(malformed(&out[1]), "{}", out[1]);
    assert!(malformed(&out[2]), "{}", out[2]);
    assert_eq!(out[2]["message"], "expected a json object, found an array");
    assert!(malformed(&out[3]), "{}", out[3]);
    assert!(out[3]["message"]
        .as_str()
        .unwrap()
        .contains("missing field `url`"));
    assert!(malformed(&out[4]), "{}", out[4]);
    assert!(out[4]["message"].as_str().unwrap().contains("invalid type"));
    assert!(malformed(&out[5]), "{}", out[5]);
    assert_eq!(
        out[6],
        json!({"error": "malformed-input", "message": "input line is not valid utf-8"})
    );
    assert_eq!(
        out[7],
        json!({"error": "invalid-percent-encoding", "message": "invalid percent-encoding in the query at byte 2"})
    );
    assert_eq!(
        out[8],
        json!({"error": "invalid-method", "message": "invalid http method"})
    );
    assert_eq!(
        out[9],
        json!({"canonical": "GET&/test&A=A&B=B&a=a&b=b", "qsh": CASES_QSH})
    );
    assert!(malformed(&out[10]), "{}", out[10]);
    assert!(out[10]["message"]
        .as_str()
        .unwrap()
        .contains("unknown field `bsae`"));
    assert_eq!(out[11], simple);
    assert_eq!(
        out[12],
        json!({"error": "invalid-base-url", "message": "invalid base url"})
    );
    assert!(malformed(&out[13]), "{}", out[13]);
    assert_eq!(out[14], simple);
    assert!(malformed(&out[15]), "{}", out[15]);
    assert!(malformed(&out[16]), "{}", out[16]);
    assert!(out[16]["message"]
        .as_str()
        .unwrap()
        .contains("duplicate field"));
    assert_eq!(out[17], simple);
    assert!(malformed(&out[18]), "{}", out[18]);
    assert_eq!(
        out[19],
        json!({"error": "invalid-utf8", "message": "query parameter at byte 0 does not decode to utf-8"})
    );
}

#[test]
fn jsonl_exact_output_bytes() {
    let output = run_with_stdin(
        &["canonical", "--jsonl"],
        b"{\"method\":\"GET\",\"url\":\"/test?param=value\"}\n\n",
    );
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        stdout(&output),
        format!(
            "{{\"canonical\":\"GET&/test&param=value\",\"qsh\":\"{SIMPLE_QSH}\"}}\n\
             {{\"error\":\"malformed-input\",\"message\":\"blank input line: expected a json object\"}}\n"
        )
    );
}

#[test]
fn jsonl_line_endings() {
    // Empty input: no output. A last line without `\n` still counts; a final `\n` adds none.
    assert!(jsonl(b"").is_empty());
    let line = br#"{"method":"GET","url":"/test?param=value"}"#;
    assert_eq!(jsonl(line).len(), 1);
    let mut two = line.to_vec();
    two.extend_from_slice(b"\r\n");
    two.extend_from_slice(line);
    two.push(b'\n');
    assert_eq!(jsonl(&two).len(), 2);
    assert_eq!(jsonl(b"\n").len(), 1);
    assert_eq!(jsonl(b"\n\n\n").len(), 3);
}

#[test]
fn jsonl_default_base_and_per_line_override() {
    let input = concat!(
        r#"{"method":"GET","url":"/base/test?param=value"}"#,
        "\n",
        r#"{"method":"GET","url":"/base/test?param=value","base":""}"#,
        "\n",
        r#"{"method":"GET","url":"/other/test?param=value","base":"/other"}"#,
        "\n",
    );
    let output = run_with_stdin(
        &["canonical", "--jsonl", "--base", "/base"],
        input.as_bytes(),
    );
    assert_eq!(output.status.code(), Some(0));
    let out: Vec<Value> = stdout(&output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(out[0]["canonical"], "GET&/test&param=value");
    assert_eq!(out[1]["canonical"], "GET&/base/test&param=value");
    assert_eq!(out[2]["canonical"], "GET&/test&param=value");
    assert_eq!(out.len(), 3);

    // An invalid --base is a usage-time failure: exit 1 before reading anything.
    let output = run_with_stdin(&["canonical", "--jsonl", "--base", "x"], input.as_bytes());
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    assert_eq!(
        stderr(&output),
        "error: invalid base url (invalid-base-url)\n"
    );
}

#[test]
fn jsonl_every_product_vector() {
    #[derive(serde::Deserialize)]
    struct Vectors {
        sets: Vec<Set>,
    }
    #[derive(serde::Deserialize)]
    struct Set {
        cases: Vec<Case>,
    }
    #[derive(serde::Deserialize)]
    struct Case {
        method: String,
        url: String,
        base: Option<String>,
        canonical: String,
    }
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/data/product-signed-urls.json"
    );
    let vectors: Vectors = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases: Vec<&Case> = vectors.sets.iter().flat_map(|s| &s.cases).collect();
    assert!(cases.len() > 100);

    let mut input = String::new();
    for case in &cases {
        let line = json!({"method": case.method, "url": case.url, "base": case.base});
        input.push_str(&line.to_string());
        input.push('\n');
    }
    let out = jsonl(input.as_bytes());
    assert_eq!(out.len(), cases.len());
    for (case, got) in cases.iter().zip(&out) {
        let qsh = Qsh::of_canonical(&case.canonical).to_string();
        assert_eq!(
            *got,
            json!({"canonical": case.canonical, "qsh": qsh}),
            "{}",
            case.url
        );
    }
}

#[test]
fn jsonl_large_batch_keeps_order() {
    let n = 50_000;
    let mut input = String::new();
    for i in 0..n {
        if i % 7 == 3 {
            input.push_str("oops\n");
        } else {
            input.push_str(&format!("{{\"method\":\"GET\",\"url\":\"/p?i={i}\"}}\n"));
        }
    }
    let out = jsonl(input.as_bytes());
    assert_eq!(out.len(), n);
    for (i, got) in out.iter().enumerate() {
        if i % 7 == 3 {
            assert!(malformed(got), "{i}: {got}");
        } else {
            assert_eq!(got["canonical"], format!("GET&/p&i={i}"), "{i}");
        }
    }
}

#[test]
fn jsonl_overlong_line_is_one_malformed_line() {
    let mut input = b"{\"method\":\"GET\",\"url\":\"/".to_vec();
    input.extend(std::iter::repeat_n(b'a', 9 * 1024 * 1024));
    input.extend_from_slice(b"\"}\n{\"method\":\"GET\",\"url\":\"/test?param=value\"}\n");
    let out = jsonl(&input);
    assert_eq!(out.len(), 2);
    assert!(malformed(&out[0]), "{}", out[0]);
    assert!(out[0]["message"].as_str().unwrap().contains("longer than"));
    assert_eq!(out[1]["qsh"], SIMPLE_QSH);
}

/// A program driving the tool line by line gets each answer before it sends the next line.
#[test]
fn jsonl_answers_interactively_without_waiting_for_eof() {
    let mut child = Command::new(BIN)
        .args(["canonical", "--jsonl"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in stdout.lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });

    // On a timeout the test panics, dropping stdin, so the child sees EOF and exits.
    let ask = |stdin: &mut std::process::ChildStdin, input: &str| -> Value {
        stdin.write_all(input.as_bytes()).unwrap();
        stdin.flush().unwrap();
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no answer to {input:?} while stdin is still open"));
        serde_json::from_str(&line).unwrap()
    };
    let simple = "{\"method\":\"GET\",\"url\":\"/test?param=value\"}\n";
    assert_eq!(ask(&mut stdin, simple)["qsh"], SIMPLE_QSH);
    assert!(malformed(&ask(&mut stdin, "\n")));
    // A line split over two writes is answered once it is complete.
    stdin.write_all(b"{\"method\":\"GET\",").unwrap();
    stdin.flush().unwrap();
    let rest = "\"url\":\"/test?A=A&a=a&b=b&B=B\"}\n";
    assert_eq!(ask(&mut stdin, rest)["qsh"], CASES_QSH);

    drop(stdin);
    assert_eq!(child.wait().unwrap().code(), Some(0));
    reader.join().unwrap();
}
