//! Session-token verification, and what the revocation check adds to it: the cryptographic
//! check alone (`SessionVerifier::finish` with a cached `SessionKey`), then the same followed
//! by the check against the in-memory store and against the Redis store's local copy (when
//! `TEST_REDIS_URL` names a server; skipped with a banner otherwise), each with no
//! revocation in the tenant and with 1,000 revoked users in it; the check alone; and the
//! per-call key derivation of the axum path.
//!
//! The futures are polled once with a no-op waker: a check answered from local state is
//! ready at once (no allocation, no runtime), which is the point.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use atlassian_connect_jwt::session::{
    MemoryRevocationStore, Mode, RedisConfig, RedisRevocationStore, Revocation, RevocationStore,
    SessionKey, SessionToken, SessionVerifier, Sessions, UnverifiedSession,
};
use atlassian_connect_jwt::{
    CanonicalRequest, QshPolicy, SharedSecret, Signer, TenantKey, UnixTime, Verifier,
};
use criterion::{criterion_group, criterion_main, Criterion};

const SECRET: &str = "connect-test-secret-0123456789abcdef0123";
const CLIENT_KEY: &str = "jira:1234-5678-9000";
const ACCOUNT: &str = "557058:f0e1d2c3-b4a5-6789-0abc-def012345678";

/// Polls a future that must be ready at once.
fn ready<F: Future>(future: F) -> F::Output {
    let mut context = Context::from_waker(Waker::noop());
    match std::pin::pin!(future).poll(&mut context) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("a local check must not wait"),
    }
}

fn mint(sessions: &Sessions, runtime: &tokio::runtime::Runtime, key: &TenantKey) -> SessionToken {
    let request = CanonicalRequest::from_target("GET", "/panel?issueId=10001", None).unwrap();
    let now = UnixTime::now();
    let product = Signer::new(CLIENT_KEY)
        .with_subject(ACCOUNT)
        .sign_request(&request, key, now)
        .unwrap();
    let keys = HashMap::from([(CLIENT_KEY.to_owned(), key.clone())]);
    let iframe = Verifier::new()
        .verify(product.as_str(), QshPolicy::Request(&request), &keys, now)
        .unwrap();
    runtime
        .block_on(sessions.mint(&iframe, key, None, now))
        .unwrap()
}

/// 1,000 other users of the tenant revoked.
fn revoke_many(sessions: &Sessions, runtime: &tokio::runtime::Runtime) {
    for i in 0..1000 {
        let revocation = Revocation::User {
            client_key: CLIENT_KEY.to_owned(),
            account_id: format!("557058:revoked-{i}"),
        };
        runtime
            .block_on(sessions.revoke(revocation, UnixTime::now()))
            .unwrap();
    }
}

fn session(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let tenant = TenantKey::new(CLIENT_KEY, &SharedSecret::new(SECRET)).unwrap();
    let key = SessionKey::derive(&tenant).unwrap();
    let memory = Sessions::new(Arc::new(MemoryRevocationStore::new(Mode::Denylist)));
    let token = mint(&memory, &runtime, &tenant);
    let token = token.as_str().to_owned();
    // Valid for the whole run.
    let now = UnixTime::now();
    let verifier = SessionVerifier::new();

    let mut group = c.benchmark_group("session");
    group.bench_function(
        "verify: signature and time (SessionVerifier::finish)",
        |b| {
            b.iter(|| {
                let unverified = UnverifiedSession::parse(black_box(&token)).unwrap();
                verifier.finish(unverified, &key, now).unwrap()
            })
        },
    );
    group.bench_function("verify: SessionKey::derive per call + finish", |b| {
        b.iter(|| {
            let unverified = UnverifiedSession::parse(black_box(&token)).unwrap();
            let key = SessionKey::derive(black_box(&tenant)).unwrap();
            verifier.finish(unverified, &key, now).unwrap()
        })
    });

    let mut stores: Vec<(&str, Sessions, Option<Arc<RedisRevocationStore>>)> =
        vec![("memory", memory.clone(), None)];
    match std::env::var("TEST_REDIS_URL") {
        Ok(url) => {
            let prefix = format!("bench:{}:{}:", std::process::id(), now.as_secs());
            let store = runtime.block_on(async {
                let store = RedisRevocationStore::connect(RedisConfig::new(url).with_prefix(prefix))
                    .await
                    .unwrap();
                assert!(store.wait_synced(Duration::from_secs(5)).await);
                Arc::new(store)
            });
            stores.push(("redis local copy", Sessions::new(store.clone()), Some(store)));
        }
        Err(_) => eprintln!(
            "\n{0}\nSKIPPED: the Redis store's benchmarks need TEST_REDIS_URL (source .ci/redis)\n{0}\n",
            "!".repeat(78)
        ),
    }
    for (name, sessions, _keep) in &stores {
        for revoked in [false, true] {
            if revoked {
                revoke_many(sessions, &runtime);
            }
            let label = if revoked {
                "1000 users revoked"
            } else {
                "none revoked"
            };
            group.bench_function(format!("verify + check: {name}, {label}"), |b| {
                b.iter(|| {
                    let unverified = UnverifiedSession::parse(black_box(&token)).unwrap();
                    ready(sessions.finish(unverified, &key, now)).unwrap()
                })
            });
            let verified =
                ready(sessions.finish(UnverifiedSession::parse(&token).unwrap(), &key, now))
                    .unwrap();
            let store: &Arc<dyn RevocationStore> = sessions.store();
            group.bench_function(format!("check only: {name}, {label}"), |b| {
                b.iter(|| ready(store.check(black_box(verified.claims()))).unwrap())
            });
        }
    }
    group.finish();
}

criterion_group!(benches, session);
criterion_main!(benches);
