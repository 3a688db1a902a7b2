//! The npm `atlassian-jwt` reference (the library under atlassian-connect-express) verifies a
//! sample of `ConnectClient`'s tokens against the requests exactly as the fake product
//! received them, through `tests/reference/client.js`: the signature verifies with the
//! tenant's secret, and the token's `qsh` is npm's hash of the received method and target,
//! the base URL's path (`/wiki`) stripped.
//!
//! The sample: fixed cases (encoded slashes, spaces, `+`, Unicode, repeated parameters,
//! Confluence's `/wiki`) and seeded random requests, their parameters written into the target
//! and added with `.query(..)`, within the region where npm and the product agree on the
//! canonical request (see `tests/differential.rs`: npm's `url.parse` rewrites paths holding
//! `|`, `^`, `{`, ...; those are left out here, and checked against the crate's own
//! verifier in `tests/client.rs`).
//!
//! Run: `npm ci --prefix tests/reference && REQUIRE_NODE=1 cargo test --features client --test
//! client_reference -- --nocapture`. Environment: `CLIENT_REF_SEED` (decimal or `0x` hex;
//! time-based if unset, always printed), `CLIENT_REF_CASES` (random cases, default 200),
//! `REQUIRE_NODE=1` (fail instead of skipping when node or the package is missing).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod client_support;
#[allow(dead_code)]
mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use atlassian_connect_jwt::ConnectClient;
use serde_json::{json, Value};

use client_support::{claims, tenant, FakeServer, Reply, APP_KEY, SECRET};
use common::Rng;

const DEFAULT_CASES: usize = 200;

/// One request: method, target as the caller writes it, pairs added with `.query`.
#[derive(Debug)]
struct Case {
    method: &'static str,
    target: String,
    query: Vec<(String, String)>,
}

fn fixed_cases() -> Vec<Case> {
    let case = |method, target: &str, query: &[(&str, &str)]| Case {
        method,
        target: target.to_owned(),
        query: query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    };
    vec![
        case("GET", "/rest/api/3/issue/PROJ-1", &[]),
        case("GET", "/rest/api/3/issue/A%2FB/comment/ü x", &[]),
        case(
            "GET",
            r#"/rest/api/3/search?jql=project = "AB" AND summary ~ "x+y"&maxResults=5"#,
            &[],
        ),
        case(
            "GET",
            "/rest/api/3/field?b=2&a=1&a=0",
            &[("a", "x y"), ("c", "é&=+"), ("q", "😀")],
        ),
        case("POST", "/rest/api/3/issue?updateHistory=true", &[]),
        case(
            "PUT",
            "/rest/api/3/issue/PROJ-1",
            &[("notifyUsers", "false")],
        ),
        case(
            "DELETE",
            "/rest/api/3/issue/PROJ-1",
            &[("deleteSubtasks", "true")],
        ),
        case(
            "GET",
            "/rest/api/content/1/child/attachment?filename=a+b.txt",
            &[],
        ),
    ]
}

const PATH_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~";
const KEY_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789_";
const VALUE_CHARS: &[u8] = b"abcXYZ019-._~ +*!'()";
const PATH_EXTRAS: &[&str] = &[
    "%2F", "%20", " ", "+", "ü", "😀", "%C3%A9", "@", ":", ",", ";",
];
const VALUE_EXTRAS: &[&str] = &["%2B", "%26", "%3D", "é", "😀", "中", "%E2%82%AC", ","];

fn random_case(rng: &mut Rng) -> Case {
    let method = rng.pick_str(&["GET", "GET", "POST", "PUT", "DELETE"]);
    let mut target = String::new();
    for _ in 0..rng.between(1, 4) {
        target.push('/');
        let len = rng.between(1, 6);
        rng.push_from(PATH_CHARS, len, &mut target);
        if rng.chance(30) {
            target.push_str(rng.pick_str(PATH_EXTRAS));
            rng.push_from(PATH_CHARS, 1, &mut target);
        }
    }
    let keys: Vec<String> = (0..3).map(|_| rng.string_from(KEY_CHARS, 1, 5)).collect();
    let value = |rng: &mut Rng| {
        let mut value = rng.string_from(VALUE_CHARS, 0, 6);
        if rng.chance(40) {
            value.push_str(rng.pick_str(VALUE_EXTRAS));
        }
        value
    };
    let in_target = rng.between(0, 3);
    for n in 0..in_target {
        target.push(if n == 0 { '?' } else { '&' });
        let key = rng.pick(&keys).clone();
        let value = value(rng);
        target.push_str(&format!("{key}={value}"));
    }
    let query = (0..rng.between(0, 3))
        .map(|_| {
            let key = rng.pick(&keys).clone();
            // Added values go through form encoding: anything goes.
            let mut value = value(rng);
            if rng.chance(30) {
                value.push_str(rng.pick_str(&["&", "=", "#", "%", "?", "/"]));
            }
            (key, value)
        })
        .collect();
    Case {
        method,
        target,
        query,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_atlassian_jwt_verifies_the_client_tokens_against_the_requests_as_sent() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if !common::reference_or_skip(&root, "client reference test") {
        return;
    }
    let seed = common::seed_from_env("CLIENT_REF_SEED");
    let count = common::count_from_env("CLIENT_REF_CASES", DEFAULT_CASES);
    println!("client vs npm atlassian-jwt: CLIENT_REF_SEED={seed} CLIENT_REF_CASES={count}");
    let mut rng = Rng::new(seed);

    let server = FakeServer::start(|_, _| Reply::ok("ok")).await;
    let client = ConnectClient::new(APP_KEY).unwrap();
    let mut sent = Vec::new();
    for (n, case) in fixed_cases()
        .into_iter()
        .chain((0..count).map(|_| random_case(&mut rng)))
        .enumerate()
    {
        let base_url = server.url(if n % 2 == 0 { "" } else { "/wiki" });
        let tenant_client = client.for_tenant(&tenant(&base_url, None)).unwrap();
        let caller = tenant_client.as_app();
        let mut request = match case.method {
            "GET" => caller.get(&case.target),
            "POST" => caller.post(&case.target),
            "PUT" => caller.put(&case.target),
            _ => caller.delete(&case.target),
        };
        for (key, value) in &case.query {
            request = request.query(key, value);
        }
        request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{case:?}: {e}"));
        sent.push((case, base_url));
    }
    let received = server.requests();
    assert_eq!(received.len(), sent.len());

    // Each received request twice: with the tenant's secret, and with another (npm must
    // refuse that one: the oracle can fail).
    let mut input = String::new();
    for (request, (_, base_url)) in received.iter().zip(&sent) {
        for secret in [SECRET, "another-secret"] {
            let line = json!({
                "token": request.jwt(),
                "secret": secret,
                "method": request.method,
                "target": request.target,
                "base": base_url,
            });
            input.push_str(&line.to_string());
            input.push('\n');
        }
    }
    let answers = run_node(&root, &input);
    assert_eq!(answers.len(), received.len() * 2);

    let mut failures = Vec::new();
    for ((request, (case, _)), pair) in received.iter().zip(&sent).zip(answers.chunks(2)) {
        let (good, bad) = (&pair[0], &pair[1]);
        let ours = claims(request.jwt());
        let why = if let Some(error) = good.get("error") {
            Some(format!("npm refused the token: {error}"))
        } else if good["claims"] != ours {
            Some(format!("npm decoded {} instead of {ours}", good["claims"]))
        } else if good["qsh"] != ours["qsh"] {
            Some(format!(
                "qsh {} but npm hashes {} ({})",
                ours["qsh"], good["qsh"], good["canonical"]
            ))
        } else if ours["iss"] != APP_KEY {
            Some(format!("iss {}", ours["iss"]))
        } else if !bad["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("Signature verification failed"))
        {
            Some(format!("npm accepted the token with another secret: {bad}"))
        } else {
            None
        };
        if let Some(why) = why {
            failures.push(format!(
                "{case:?} arrived as {} {}: {why}",
                request.method, request.target
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} requests failed (CLIENT_REF_SEED={seed}):\n{}",
        failures.len(),
        received.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    println!("{} requests checked by npm atlassian-jwt", received.len());
}

fn run_node(root: &std::path::Path, input: &str) -> Vec<Value> {
    let mut child = Command::new("node")
        .arg(root.join("tests/reference/client.js"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn node");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "node failed: {}", output.status);
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}
