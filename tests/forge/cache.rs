//! `JwksCache` with an in-process source that counts how often it is asked: single flight,
//! the refetch floor for unknown `kid`s, failures, cancellation and Isolated Cloud bounds.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use atlassian_connect_jwt::{
    Error, ForgeKeyId, ForgeKeySource, IcLabel, JwkSet, JwksCache, JwksSource, Unavailable,
    UnixTime,
};
use serde_json::json;

use super::{attacker, claims, forge, header, jwks, rotated, token, verifier, with, NOW};

/// Answers with the key set it currently holds for each location (or an error) after
/// `delay`, and counts every question by location.
struct CountingSource {
    sets: Mutex<HashMap<Option<String>, Result<String, Error>>>,
    delay: Duration,
    asked: AtomicUsize,
    asked_for: Mutex<Vec<Option<String>>>,
}

impl CountingSource {
    fn new(delay: Duration) -> Self {
        let source = Self {
            sets: Mutex::new(HashMap::new()),
            delay,
            asked: AtomicUsize::new(0),
            asked_for: Mutex::new(Vec::new()),
        };
        source.serve(None, Ok(jwks(&[forge().jwk()])));
        source
    }

    fn serve(&self, label: Option<&str>, answer: Result<String, Error>) {
        self.sets
            .lock()
            .unwrap()
            .insert(label.map(str::to_owned), answer);
    }

    fn asked(&self) -> usize {
        self.asked.load(Ordering::SeqCst)
    }
}

impl JwksSource for CountingSource {
    fn fetch_jwks(
        &self,
        ic_label: Option<&IcLabel>,
    ) -> impl Future<Output = Result<JwkSet, Error>> + Send {
        self.asked.fetch_add(1, Ordering::SeqCst);
        let label = ic_label.map(|l| l.as_str().to_owned());
        self.asked_for.lock().unwrap().push(label.clone());
        let answer = match self.sets.lock().unwrap().get(&label) {
            Some(Ok(json)) => JwkSet::from_json(json),
            Some(Err(error)) => Err(error.clone()),
            None => Err(Error::UnknownKeyId),
        };
        let delay = self.delay;
        async move {
            tokio::time::sleep(delay).await;
            answer
        }
    }
}

fn kid(kid: &str) -> ForgeKeyId {
    ForgeKeyId::new(kid).unwrap()
}

fn label(label: &str) -> IcLabel {
    IcLabel::new(label).unwrap()
}

fn cache(delay: Duration) -> Arc<JwksCache<CountingSource>> {
    Arc::new(JwksCache::new(CountingSource::new(delay)))
}

async fn verify(keys: &JwksCache<CountingSource>, token: &str) -> Result<String, Error> {
    verifier()
        .verify_async(token, keys, UnixTime::from_secs(NOW))
        .await
        .map(|v| v.key_id().to_string())
}

#[tokio::test]
async fn a_key_set_is_fetched_once_and_kept() {
    let keys = cache(Duration::ZERO);
    for _ in 0..5 {
        assert_eq!(verify(&keys, &token()).await.unwrap(), super::KID);
    }
    assert_eq!(keys.source().asked(), 1);
    assert_eq!(keys.len(), 1);
    // Forgetting everything costs one more fetch.
    keys.clear();
    assert_eq!(verify(&keys, &token()).await.unwrap(), super::KID);
    assert_eq!(keys.source().asked(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_concurrent_first_requests_cause_one_fetch() {
    let keys = cache(Duration::from_millis(100));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let keys = Arc::clone(&keys);
            tokio::spawn(async move { verify(&keys, &token()).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), super::KID);
    }
    assert_eq!(keys.source().asked(), 1);
}

#[tokio::test]
async fn unknown_kids_refetch_at_most_once_per_interval() {
    let interval = Duration::from_secs(2);
    let keys = JwksCache::new(CountingSource::new(Duration::ZERO)).with_refetch_interval(interval);
    assert!(verify(&keys, &token()).await.is_ok());
    assert_eq!(keys.source().asked(), 1);
    // Forge starts signing with a new key: within the interval of the last fetch, not found
    // and not fetched.
    keys.source()
        .serve(None, Ok(jwks(&[forge().jwk(), rotated().jwk()])));
    let new_key = rotated().sign(&header(super::ROTATED_KID), &claims());
    assert_eq!(
        verify(&keys, &new_key).await.unwrap_err(),
        Error::UnknownKeyId
    );
    assert_eq!(keys.source().asked(), 1);
    // After it, one refetch finds it; later tokens use the new set.
    tokio::time::sleep(interval).await;
    assert_eq!(verify(&keys, &new_key).await.unwrap(), super::ROTATED_KID);
    assert_eq!(verify(&keys, &new_key).await.unwrap(), super::ROTATED_KID);
    assert_eq!(verify(&keys, &token()).await.unwrap(), super::KID);
    assert_eq!(keys.source().asked(), 2);
    // A kid the new set does not have either: unknown, no further fetch.
    let made_up = attacker().sign(&header("forge/invocation-token/wf-made-up"), &claims());
    assert_eq!(
        verify(&keys, &made_up).await.unwrap_err(),
        Error::UnknownKeyId
    );
    assert_eq!(keys.source().asked(), 2);
}

/// Planted bug this catches: a cache that refetches for every unknown `kid` (or ignores
/// the interval) makes this count 1,001.
#[tokio::test]
async fn a_burst_of_made_up_kids_is_bounded() {
    let interval = Duration::from_millis(300);
    let keys = JwksCache::new(CountingSource::new(Duration::ZERO)).with_refetch_interval(interval);
    assert!(verify(&keys, &token()).await.is_ok());
    tokio::time::sleep(interval).await;
    // The signature is never looked at: an unknown kid ends verification first.
    let payload = super::b64(claims().to_string().as_bytes());
    let started = Instant::now();
    for i in 0..1000 {
        let made_up = header(&format!("forge/invocation-token/wf-{i:08x}"));
        let token = format!(
            "{}.{payload}.c2ln",
            super::b64(made_up.to_string().as_bytes())
        );
        assert_eq!(
            verify(&keys, &token).await.unwrap_err(),
            Error::UnknownKeyId
        );
    }
    let elapsed = started.elapsed();
    // The documented bound: at most one fetch per interval (plus the first fetch).
    let refetches = keys.source().asked() - 1;
    let bound = 1 + (elapsed.as_millis() / interval.as_millis()) as usize;
    assert!(
        refetches >= 1 && refetches <= bound,
        "{refetches} refetches in {elapsed:?}"
    );
}

#[tokio::test]
async fn a_failed_fetch_is_kept_briefly_and_shared() {
    let unavailable = Error::Unavailable(Unavailable::Key { reason: "down" });
    let source = CountingSource::new(Duration::from_millis(50));
    source.serve(None, Err(unavailable.clone()));
    let keys = Arc::new(JwksCache::new(source).with_failure_ttl(Duration::from_secs(2)));
    // Concurrent requests share the one failed fetch.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let keys = Arc::clone(&keys);
            tokio::spawn(async move { verify(&keys, &token()).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap_err(), unavailable);
    }
    assert_eq!(keys.source().asked(), 1);
    // Kept for the failure TTL, then asked again.
    assert_eq!(verify(&keys, &token()).await.unwrap_err(), unavailable);
    assert_eq!(keys.source().asked(), 1);
    keys.source().serve(None, Ok(jwks(&[forge().jwk()])));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(verify(&keys, &token()).await.unwrap(), super::KID);
    assert_eq!(keys.source().asked(), 2);
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_known_keys() {
    let interval = Duration::from_secs(2);
    let keys = JwksCache::new(CountingSource::new(Duration::ZERO)).with_refetch_interval(interval);
    assert!(verify(&keys, &token()).await.is_ok());
    let unavailable = Error::Unavailable(Unavailable::Key { reason: "down" });
    keys.source().serve(None, Err(unavailable.clone()));
    tokio::time::sleep(interval).await;
    // The refresh an unknown kid asks for fails: that request learns why, ...
    let new_key = rotated().sign(&header(super::ROTATED_KID), &claims());
    assert_eq!(verify(&keys, &new_key).await.unwrap_err(), unavailable);
    assert_eq!(keys.source().asked(), 2);
    // ... the kid stays unavailable rather than unknown while the failure is fresh, ...
    assert_eq!(verify(&keys, &new_key).await.unwrap_err(), unavailable);
    // ... and the keys already known still verify, without a fetch.
    assert_eq!(verify(&keys, &token()).await.unwrap(), super::KID);
    assert_eq!(keys.source().asked(), 2);
}

/// Waits until the source has been asked `n` times.
async fn asked(keys: &JwksCache<CountingSource>, n: usize) {
    while keys.source().asked() < n {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A token naming the fixture's rotated kid whose signature is never looked at.
fn unsigned(payload: &serde_json::Value) -> String {
    format!(
        "{}.{}.c2ln",
        super::b64(header(super::ROTATED_KID).to_string().as_bytes()),
        super::b64(payload.to_string().as_bytes())
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_fetch_lets_a_waiter_fetch() {
    let keys = cache(Duration::from_secs(1));
    let spawn = || {
        let keys = Arc::clone(&keys);
        tokio::spawn(async move { verify(&keys, &token()).await })
    };
    let first = spawn();
    asked(&keys, 1).await;
    let second = spawn();
    tokio::time::sleep(Duration::from_millis(100)).await;
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    assert_eq!(second.await.unwrap().unwrap(), super::KID);
    assert_eq!(keys.source().asked(), 2);
    // The abandoned fetch did not use up the refetch interval's one refetch: the waiter's
    // fetch did. An unknown kid now (within the interval) is not fetched.
    let made_up = attacker().sign(&header("forge/made-up"), &claims());
    assert_eq!(
        verify(&keys, &made_up).await.unwrap_err(),
        Error::UnknownKeyId
    );
    assert_eq!(keys.source().asked(), 2);
}

/// Planted bug this catches: a cancelled refresh that keeps its start time as the last
/// fetch makes the waiter's rotated key "unknown" for a whole interval, with no fetch done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_refresh_does_not_use_up_the_interval() {
    let interval = Duration::from_secs(2);
    let keys = Arc::new(
        JwksCache::new(CountingSource::new(Duration::from_secs(1))).with_refetch_interval(interval),
    );
    assert!(verify(&keys, &token()).await.is_ok());
    keys.source()
        .serve(None, Ok(jwks(&[forge().jwk(), rotated().jwk()])));
    tokio::time::sleep(interval).await;
    let new_key = rotated().sign(&header(super::ROTATED_KID), &claims());
    let spawn = || {
        let (keys, token) = (Arc::clone(&keys), new_key.clone());
        tokio::spawn(async move { verify(&keys, &token).await })
    };
    let first = spawn();
    asked(&keys, 2).await;
    let second = spawn();
    tokio::time::sleep(Duration::from_millis(100)).await;
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    assert_eq!(second.await.unwrap().unwrap(), super::ROTATED_KID);
    assert_eq!(keys.source().asked(), 3);
}

#[tokio::test]
async fn expired_or_misaddressed_tokens_cost_no_fetch() {
    let keys = cache(Duration::ZERO);
    let expired = rotated().sign(
        &header("forge/unknown-1"),
        &with(&["exp"], json!(NOW - 100)),
    );
    let other_app = rotated().sign(
        &header("forge/unknown-2"),
        &with(&["aud"], json!(super::OTHER_APP_ID)),
    );
    let bad_kid = rotated().sign(&header("forge/../x"), &claims());
    assert!(matches!(
        verify(&keys, &expired).await,
        Err(Error::Expired { .. })
    ));
    assert_eq!(
        verify(&keys, &other_app).await.unwrap_err(),
        Error::AppIdMismatch
    );
    assert_eq!(
        verify(&keys, &bad_kid).await.unwrap_err(),
        Error::InvalidKeyId
    );
    assert_eq!(keys.source().asked(), 0);
    assert!(keys.is_empty());
}

#[tokio::test]
async fn isolated_clouds_have_their_own_sets_within_bounds() {
    let interval = Duration::from_secs(3);
    let source = CountingSource::new(Duration::ZERO);
    source.serve(Some("acme"), Ok(jwks(&[rotated().jwk()])));
    let keys = JwksCache::new(source).with_refetch_interval(interval);
    let isolated = rotated().sign(
        &header(super::ROTATED_KID),
        &with(&["icLabel"], json!("acme")),
    );
    assert_eq!(verify(&keys, &isolated).await.unwrap(), super::ROTATED_KID);
    assert_eq!(verify(&keys, &token()).await.unwrap(), super::KID);
    // The commercial key does not verify a token of the Isolated Cloud, nor the reverse.
    let cross = forge().sign(&header(super::KID), &with(&["icLabel"], json!("acme")));
    assert_eq!(
        verify(&keys, &cross).await.unwrap_err(),
        Error::UnknownKeyId
    );
    assert_eq!(keys.source().asked(), 2);
    // Made-up labels: 3 more new locations fit this interval's budget of 4, the rest are
    // refused without a fetch (and not cached).
    let mut refused = 0;
    for i in 0..20 {
        // The signature is never looked at: the label's key set is not known.
        let made_up = unsigned(&with(&["icLabel"], json!(format!("made-up-{i}"))));
        match verify(&keys, &made_up).await.unwrap_err() {
            Error::UnknownKeyId => {}
            Error::Unavailable(Unavailable::Key { reason }) => {
                assert_eq!(reason, "too many new isolated cloud key sets at once");
                refused += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(refused, 17);
    assert_eq!(keys.source().asked(), 2 + 3);
    // Known locations are unaffected.
    assert_eq!(verify(&keys, &isolated).await.unwrap(), super::ROTATED_KID);
    assert_eq!(keys.source().asked(), 5);
    // The budget renews with the interval.
    tokio::time::sleep(interval).await;
    let next = unsigned(&with(&["icLabel"], json!("made-up-next")));
    assert_eq!(verify(&keys, &next).await.unwrap_err(), Error::UnknownKeyId);
    assert_eq!(keys.source().asked(), 6);
    let asked_for = keys.source().asked_for.lock().unwrap().clone();
    assert_eq!(asked_for[..2], [Some("acme".to_owned()), None]);
}

#[tokio::test]
async fn locations_are_bounded() {
    let source = CountingSource::new(Duration::ZERO);
    for name in ["a", "b", "c"] {
        source.serve(Some(name), Ok(jwks(&[rotated().jwk()])));
    }
    let keys = JwksCache::new(source).with_max_locations(2);
    let kid = kid(super::ROTATED_KID);
    for name in ["a", "b", "c"] {
        assert!(keys.forge_key(&kid, Some(&label(name))).await.is_ok());
        assert!(keys.len() <= 2);
    }
    // "a" was evicted for "c": asking for it again fetches it again.
    assert!(keys.forge_key(&kid, Some(&label("a"))).await.is_ok());
    assert_eq!(keys.source().asked(), 4);
    assert_eq!(keys.len(), 2);
}

#[tokio::test]
async fn unusable_keys_keep_their_errors_through_the_cache() {
    let source = CountingSource::new(Duration::ZERO);
    let mut weak_use = forge().jwk();
    weak_use["use"] = json!("enc");
    source.serve(None, Ok(jwks(&[weak_use])));
    let keys = JwksCache::new(source);
    assert_eq!(
        verify(&keys, &token()).await.unwrap_err(),
        Error::InvalidPublicKey {
            reason: "not a signing key"
        }
    );
    // A known but unusable kid is not "unknown": no refetch.
    assert_eq!(
        verify(&keys, &token()).await.unwrap_err(),
        Error::InvalidPublicKey {
            reason: "not a signing key"
        }
    );
    assert_eq!(keys.source().asked(), 1);
}

#[tokio::test]
async fn a_zero_ttl_still_answers_every_waiter() {
    let keys = Arc::new(
        JwksCache::new(CountingSource::new(Duration::from_millis(50)))
            .with_ttl(Duration::ZERO)
            .with_failure_ttl(Duration::ZERO),
    );
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let keys = Arc::clone(&keys);
            tokio::spawn(async move { verify(&keys, &token()).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), super::KID);
    }
    assert_eq!(keys.source().asked(), 1);
    // Nothing is kept: the next request fetches.
    assert!(verify(&keys, &token()).await.is_ok());
    assert_eq!(keys.source().asked(), 2);
}
