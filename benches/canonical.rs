//! Canonical request and qsh: a small request, a typical Jira iframe URL, and large queries.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use atlassian_connect_jwt::{BasePath, CanonicalRequest, Qsh};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

/// The URL Jira loads an issue-panel iframe with (~12 parameters plus the token).
pub const IFRAME_URL: &str = "/connect/issue-panel?xdm_e=https%3A%2F%2Fexample.atlassian.net&xdm_c=channel-com.example.app__issue-panel&cp=&xdm_deprecated_addon_key_do_not_use=com.example.app&lic=active&cv=1001.0.0-SNAPSHOT&issueKey=PROJ-123&issueId=10001&projectKey=PROJ&projectId=10000&tz=Australia%2FSydney&loc=en-US&user_id=admin&jwt=x.y.z";

fn query_with(params: usize) -> String {
    let mut target = String::from("/search?");
    for i in (0..params).rev() {
        target.push_str(&format!("p{i}=value+{i}%2C{}&", i % 7));
    }
    target
}

fn canonicalize(c: &mut Criterion) {
    let base = BasePath::parse("https://app.example.com/connect").unwrap();
    let mut group = c.benchmark_group("canonical");
    group.bench_function("small/qsh", |b| {
        b.iter(|| {
            CanonicalRequest::from_target("GET", black_box("/test?param=value"), None)
                .unwrap()
                .qsh()
        })
    });
    group.bench_function("iframe/qsh", |b| {
        b.iter(|| {
            CanonicalRequest::from_target("GET", black_box(IFRAME_URL), Some(&base))
                .unwrap()
                .qsh()
        })
    });
    group.bench_function("iframe/canonical-string", |b| {
        b.iter(|| {
            CanonicalRequest::from_target("GET", black_box(IFRAME_URL), Some(&base))
                .unwrap()
                .canonical_string()
        })
    });
    let (path, query) = IFRAME_URL.split_once('?').unwrap();
    group.bench_function("iframe/from_parts+qsh", |b| {
        b.iter(|| {
            CanonicalRequest::from_parts(
                "GET",
                black_box(path),
                Some(black_box(query)),
                Some(&base),
            )
            .unwrap()
            .qsh()
        })
    });
    group.bench_function("BasePath::parse", |b| {
        b.iter(|| BasePath::parse(black_box("https://app.example.com/connect")).unwrap())
    });
    let canonical = CanonicalRequest::from_target("GET", IFRAME_URL, Some(&base))
        .unwrap()
        .canonical_string();
    group.bench_function("iframe/sha256-of-canonical-string", |b| {
        b.iter(|| Qsh::of_canonical(black_box(&canonical)))
    });
    for params in [10, 100, 1_000, 10_000] {
        let target = query_with(params);
        group.throughput(Throughput::Elements(params as u64));
        group.bench_with_input(BenchmarkId::new("params/qsh", params), &target, |b, t| {
            b.iter(|| {
                CanonicalRequest::from_target("GET", black_box(t), None)
                    .unwrap()
                    .qsh()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, canonicalize);
criterion_main!(benches);
