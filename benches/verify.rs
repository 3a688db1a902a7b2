//! End-to-end verification of a typical iframe request, a context token, and signing.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::hint::black_box;

use atlassian_connect_jwt::dangerous::decode_unverified;
use atlassian_connect_jwt::{
    find_token, BasePath, CanonicalRequest, QshPolicy, SecretStore, SharedSecret, Signer,
    TenantKey, UnixTime, Unverified, UserAssertion, Verifier,
};
use criterion::{criterion_group, criterion_main, Criterion};

const SECRET: &str = "connect-test-secret-0123456789abcdef0123";
const CLIENT_KEY: &str = "jira:1234-5678-9000";
const NOW: u64 = 1_700_000_000;
const TARGET: &str = "/connect/issue-panel?xdm_e=https%3A%2F%2Fexample.atlassian.net&xdm_c=channel-com.example.app__issue-panel&cp=&xdm_deprecated_addon_key_do_not_use=com.example.app&lic=active&cv=1001.0.0-SNAPSHOT&issueKey=PROJ-123&issueId=10001&projectKey=PROJ&projectId=10000&tz=Australia%2FSydney&loc=en-US&user_id=admin";

fn verify(c: &mut Criterion) {
    let key = TenantKey::new(CLIENT_KEY, &SharedSecret::new(SECRET)).unwrap();
    let base = BasePath::parse("https://app.example.com/connect").unwrap();
    let request = CanonicalRequest::from_target("GET", TARGET, Some(&base)).unwrap();
    let signer =
        Signer::new(CLIENT_KEY).with_subject("557058:f0e1d2c3-b4a5-6789-0abc-def012345678");
    let token = signer
        .sign_request(&request, &key, UnixTime::from_secs(NOW))
        .unwrap();
    let url = format!("{TARGET}&jwt={}", token.as_str());
    let context = signer.sign_context(&key, UnixTime::from_secs(NOW)).unwrap();

    let cached: HashMap<String, TenantKey> = HashMap::from([(CLIENT_KEY.to_owned(), key.clone())]);
    let by_secret = |iss: &str| (iss == CLIENT_KEY).then(|| SharedSecret::new(SECRET));
    let verifier = Verifier::new();
    let now = UnixTime::from_secs(NOW + 10);

    let mut group = c.benchmark_group("verify");
    // From the raw URL to the verified identity, with the key from `store`.
    let end_to_end = |store: &dyn SecretStore| {
        let url = black_box(url.as_str());
        let request = CanonicalRequest::from_target("GET", url, Some(&base)).unwrap();
        let token = request.token(None).unwrap();
        verifier
            .verify(token, QshPolicy::Request(&request), store, now)
            .unwrap()
    };
    group.bench_function("iframe/end-to-end (cached key)", |b| {
        b.iter(|| end_to_end(&cached))
    });
    group.bench_function("iframe/end-to-end (secret per call)", |b| {
        b.iter(|| end_to_end(&by_secret))
    });
    group.bench_function("context token", |b| {
        b.iter(|| {
            verifier
                .verify(
                    black_box(context.as_str()),
                    QshPolicy::Context,
                    &cached,
                    now,
                )
                .unwrap()
        })
    });
    group.bench_function("sign request", |b| {
        b.iter(|| {
            signer
                .sign_request(black_box(&request), &key, UnixTime::from_secs(NOW))
                .unwrap()
        })
    });
    group.bench_function("sign context token", |b| {
        b.iter(|| {
            signer
                .sign_context(&key, black_box(UnixTime::from_secs(NOW)))
                .unwrap()
        })
    });
    group.bench_function("user assertion", |b| {
        b.iter(|| {
            UserAssertion {
                oauth_client_id: "oauth-client-1",
                account_id: black_box("557058:f0e1d2c3"),
                tenant_base_url: "https://example.atlassian.net",
            }
            .sign(&key, UnixTime::from_secs(NOW))
            .unwrap()
        })
    });
    group.bench_function("TenantKey::new", |b| {
        let secret = SharedSecret::new(SECRET);
        b.iter(|| TenantKey::new(CLIENT_KEY, black_box(&secret)).unwrap())
    });
    group.bench_function("find_token (query)", |b| {
        let (_, query) = url.split_once('?').unwrap();
        b.iter(|| find_token(None, Some(black_box(query))).unwrap().len())
    });
    group.bench_function("CanonicalRequest::token (query)", |b| {
        let request = CanonicalRequest::from_target("GET", &url, Some(&base)).unwrap();
        b.iter(|| black_box(&request).token(None).unwrap().len())
    });
    group.bench_function("Unverified::parse", |b| {
        b.iter(|| {
            Unverified::parse(black_box(token.as_str()))
                .unwrap()
                .issuer()
                .len()
        })
    });
    group.bench_function("dangerous::decode_unverified", |b| {
        b.iter(|| {
            decode_unverified(black_box(token.as_str()))
                .unwrap()
                .payload_json()
                .len()
        })
    });
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
