//! The qsh-mismatch diagnosis on a typical Jira iframe URL (a dozen parameters): a cause found
//! early (another method), one found among the query changes (a parameter added), one found
//! among the pairs, and the full search that finds nothing.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use atlassian_connect_jwt::{diagnose, BasePath, CanonicalRequest, Cause};
use criterion::{criterion_group, criterion_main, Criterion};

/// The URL Jira loads an issue-panel iframe with (~12 parameters plus the token).
const IFRAME_URL: &str = "/connect/issue-panel?xdm_e=https%3A%2F%2Fexample.atlassian.net&xdm_c=channel-com.example.app__issue-panel&cp=&xdm_deprecated_addon_key_do_not_use=com.example.app&lic=active&cv=1001.0.0-SNAPSHOT&issueKey=PROJ-123&issueId=10001&projectKey=PROJ&projectId=10000&tz=Australia%2FSydney&loc=en-US&user_id=admin&jwt=x.y.z";

fn qsh(method: &str, target: &str, base: &BasePath) -> String {
    CanonicalRequest::from_target(method, target, Some(base))
        .unwrap()
        .qsh()
        .to_string()
}

fn diagnosis(c: &mut Criterion) {
    let base = BasePath::parse("https://app.example.com/connect").unwrap();
    let root = BasePath::root();
    let added = format!("{IFRAME_URL}&utm_source=newsletter");
    let cases: [(&str, &str, &BasePath, String, &str); 4] = [
        (
            "method",
            IFRAME_URL,
            &base,
            qsh("POST", IFRAME_URL, &base),
            "method-differs",
        ),
        (
            "parameter-added",
            &added,
            &base,
            qsh("GET", IFRAME_URL, &base),
            "parameter-added",
        ),
        (
            "pair",
            &added,
            &root,
            qsh("GET", IFRAME_URL, &base),
            "base-path-not-stripped",
        ),
        (
            "unknown",
            IFRAME_URL,
            &base,
            qsh("GET", "/connect/other-panel", &base),
            "unknown",
        ),
    ];
    let mut group = c.benchmark_group("diagnosis");
    for (name, target, base, token_qsh, code) in &cases {
        let found = diagnose("GET", target, Some(base), token_qsh).unwrap();
        assert_eq!(found.causes()[0].code(), *code, "{name}");
        if *code == "unknown" {
            assert_eq!(found.causes(), [Cause::Unknown]);
            assert!(found.is_complete());
        }
        println!("diagnosis/{name}: {} candidates", found.candidates());
        group.bench_function(*name, |b| {
            b.iter(|| diagnose("GET", black_box(target), Some(base), black_box(token_qsh)))
        });
    }
    group.finish();
}

criterion_group!(benches, diagnosis);
criterion_main!(benches);
