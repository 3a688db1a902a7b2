//! Key sources and `KeyCache`, with an in-process source that counts how often it is asked.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use atlassian_connect_jwt::{
    CanonicalRequest, Error, InstallKey, InstallKeySource, KeyCache, KeyId, UnixTime,
};

use super::{atlassian, body, claims, verifier, KID, NOW};

/// Knows the keys it was given, answers after `delay`, counts every question.
struct CountingSource {
    keys: HashMap<String, InstallKey>,
    delay: Duration,
    asked: AtomicUsize,
}

impl CountingSource {
    fn new(kids: &[&str], delay: Duration) -> Self {
        let keys = kids
            .iter()
            .map(|kid| ((*kid).to_owned(), atlassian().key()))
            .collect();
        Self {
            keys,
            delay,
            asked: AtomicUsize::new(0),
        }
    }

    fn asked(&self) -> usize {
        self.asked.load(Ordering::SeqCst)
    }
}

impl InstallKeySource for CountingSource {
    fn install_key(&self, kid: &KeyId) -> impl Future<Output = Result<InstallKey, Error>> + Send {
        self.asked.fetch_add(1, Ordering::SeqCst);
        let answer = self
            .keys
            .get(kid.as_str())
            .cloned()
            .ok_or(Error::UnknownKeyId);
        let delay = self.delay;
        async move {
            tokio::time::sleep(delay).await;
            answer
        }
    }
}

fn kid(kid: &str) -> KeyId {
    KeyId::new(kid).unwrap()
}

fn cache(kids: &[&str], delay: Duration) -> Arc<KeyCache<CountingSource>> {
    Arc::new(KeyCache::new(CountingSource::new(kids, delay)))
}

/// Asks `cache` for `kid` from `n` tasks at once; returns their answers.
async fn burst<S: InstallKeySource + Send + Sync + 'static>(
    cache: &Arc<KeyCache<S>>,
    kid_text: &str,
    n: usize,
) -> Vec<Result<InstallKey, Error>> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let cache = Arc::clone(cache);
            let kid = kid(kid_text);
            tokio::spawn(async move { cache.install_key(&kid).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_for_one_kid_asks_the_source_once() {
    let keys = cache(&[KID], Duration::from_millis(100));
    let answers = burst(&keys, KID, 32).await;
    assert!(answers.iter().all(|a| a.as_ref() == Ok(&atlassian().key())));
    assert_eq!(keys.source().asked(), 1);
    // Later requests are answered from the cache.
    for _ in 0..5 {
        assert!(keys.install_key(&kid(KID)).await.is_ok());
    }
    assert_eq!(keys.source().asked(), 1);
    assert_eq!(keys.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiters_get_the_answer_even_with_zero_ttls() {
    let keys = Arc::new(
        KeyCache::new(CountingSource::new(&[KID], Duration::from_millis(100)))
            .with_ttl(Duration::ZERO)
            .with_failure_ttl(Duration::ZERO),
    );
    assert!(burst(&keys, KID, 16).await.iter().all(Result::is_ok));
    assert_eq!(keys.source().asked(), 1);
    let unknown = burst(&keys, "unknown", 16).await;
    assert!(unknown.iter().all(|a| a == &Err(Error::UnknownKeyId)));
    assert_eq!(keys.source().asked(), 2);
    // Nothing is kept for the next request.
    assert!(keys.install_key(&kid(KID)).await.is_ok());
    assert_eq!(keys.source().asked(), 3);
}

#[tokio::test]
async fn keys_and_failures_expire_after_their_ttls() {
    let keys = KeyCache::new(CountingSource::new(&[KID], Duration::ZERO))
        .with_ttl(Duration::from_millis(300))
        .with_failure_ttl(Duration::from_millis(300));
    for _ in 0..3 {
        assert!(keys.install_key(&kid(KID)).await.is_ok());
        assert_eq!(
            keys.install_key(&kid("unknown")).await,
            Err(Error::UnknownKeyId)
        );
    }
    assert_eq!(keys.source().asked(), 2);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(keys.install_key(&kid(KID)).await.is_ok());
    assert_eq!(
        keys.install_key(&kid("unknown")).await,
        Err(Error::UnknownKeyId)
    );
    assert_eq!(keys.source().asked(), 4);
}

#[tokio::test]
async fn failures_are_kept_for_seconds_by_default() {
    let keys = KeyCache::new(CountingSource::new(&[], Duration::ZERO));
    for _ in 0..10 {
        assert_eq!(
            keys.install_key(&kid("unknown")).await,
            Err(Error::UnknownKeyId)
        );
    }
    assert_eq!(keys.source().asked(), 1);
}

#[tokio::test]
async fn capacity_bounds_the_cache_and_failures_go_first() {
    let keys =
        KeyCache::new(CountingSource::new(&["a", "b", "c"], Duration::ZERO)).with_capacity(2);
    let ask = |k: &'static str| {
        let keys = &keys;
        async move { keys.install_key(&kid(k)).await }
    };
    assert!(ask("a").await.is_ok());
    assert!(ask("b").await.is_ok());
    assert!(ask("c").await.is_ok());
    assert_eq!(keys.len(), 2);
    assert_eq!(keys.source().asked(), 3);
    // `a` was closest to expiry, so it made room for `c`.
    assert!(ask("c").await.is_ok());
    assert!(ask("b").await.is_ok());
    assert_eq!(keys.source().asked(), 3);
    assert!(ask("a").await.is_ok());
    assert_eq!(keys.source().asked(), 4);

    // A failure is evicted before any key.
    keys.clear();
    assert!(keys.is_empty());
    assert!(ask("a").await.is_ok());
    assert_eq!(ask("x").await, Err(Error::UnknownKeyId));
    assert!(ask("b").await.is_ok());
    assert_eq!(keys.source().asked(), 7);
    assert!(ask("a").await.is_ok());
    assert!(ask("b").await.is_ok());
    assert_eq!(keys.source().asked(), 7);
    assert_eq!(ask("x").await, Err(Error::UnknownKeyId));
    assert_eq!(keys.source().asked(), 8);

    // Capacity 0 keeps nothing.
    let uncached = KeyCache::new(CountingSource::new(&["a"], Duration::ZERO)).with_capacity(0);
    for _ in 0..3 {
        assert!(uncached.install_key(&kid("a")).await.is_ok());
    }
    assert_eq!(uncached.source().asked(), 3);
    assert!(uncached.is_empty());
}

/// A flood of made-up key ids: at most `max_fetches` reach the source at once; the others
/// fail at once, uncached, and succeed once the fetches under way have finished.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_fetches_are_bounded() {
    let kids: Vec<String> = (0..12).map(|i| format!("kid-{i}")).collect();
    let known: Vec<&str> = kids.iter().map(String::as_str).collect();
    let keys = Arc::new(
        KeyCache::new(CountingSource::new(&known, Duration::from_millis(400))).with_max_fetches(3),
    );
    let tasks: Vec<_> = kids
        .iter()
        .map(|kid_text| {
            let keys = Arc::clone(&keys);
            let kid = kid(kid_text);
            tokio::spawn(async move { keys.install_key(&kid).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    let fetched = answers.iter().filter(|a| a.is_ok()).count();
    let refused = answers
        .iter()
        .filter(|a| {
            **a == Err(Error::Unavailable(
                atlassian_connect_jwt::Unavailable::Key {
                    reason: "too many key fetches at once",
                },
            ))
        })
        .count();
    assert_eq!((fetched, refused), (3, 9), "{answers:?}");
    assert_eq!(keys.source().asked(), 3);
    // Refusals are not cached: with the fetches done, a refused kid is fetched now.
    let refused_kid = kids
        .iter()
        .zip(&answers)
        .find(|(_, a)| a.is_err())
        .map(|(k, _)| kid(k))
        .unwrap();
    assert_eq!(keys.install_key(&refused_kid).await, Ok(atlassian().key()));
    assert_eq!(keys.source().asked(), 4);
    // A cancelled fetch frees its place.
    let cancelled = tokio::time::timeout(
        Duration::from_millis(50),
        keys.install_key(&kid("kid-never-finished")),
    )
    .await;
    assert!(cancelled.is_err(), "the fetch was cancelled by the timeout");
    let bounded = KeyCache::new(CountingSource::new(&["a"], Duration::ZERO)).with_max_fetches(1);
    assert!(bounded.install_key(&kid("a")).await.is_ok());
    assert_eq!(
        KeyCache::new(CountingSource::new(&["a"], Duration::ZERO))
            .with_max_fetches(0)
            .install_key(&kid("a"))
            .await,
        Err(Error::Unavailable(
            atlassian_connect_jwt::Unavailable::Key {
                reason: "too many key fetches at once",
            }
        ))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_fetch_hands_over_to_a_waiter() {
    let keys = cache(&[KID], Duration::from_millis(300));
    let leader = {
        let keys = Arc::clone(&keys);
        tokio::spawn(async move {
            tokio::time::timeout(Duration::from_millis(100), keys.install_key(&kid(KID))).await
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let waiter = {
        let keys = Arc::clone(&keys);
        tokio::spawn(async move { keys.install_key(&kid(KID)).await })
    };
    assert!(leader.await.unwrap().is_err(), "the leader timed out");
    assert_eq!(waiter.await.unwrap(), Ok(atlassian().key()));
    assert_eq!(keys.source().asked(), 2);
    assert!(keys.install_key(&kid(KID)).await.is_ok());
    assert_eq!(keys.source().asked(), 2);
}

/// Many tasks, a few kids, a small cache and cancellations at random points: every task that
/// is not cancelled gets its answer (no lost wake-up), and the source is asked at most once
/// per kid plus once per cancelled fetch and eviction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stress_no_request_is_lost() {
    stress(usize::MAX).await;
}

/// The same with at most two fetches at once: every answer is the right one or the
/// refusal, and no request is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stress_with_bounded_fetches_loses_no_request() {
    stress(2).await;
}

async fn stress(max_fetches: usize) {
    let kids = ["k0", "k1", "k2", "k3", "k4", "k5"];
    let keys = Arc::new(
        KeyCache::new(CountingSource::new(&kids[..5], Duration::from_millis(3)))
            .with_capacity(4)
            .with_max_fetches(max_fetches),
    );
    let refusal = Err(Error::Unavailable(
        atlassian_connect_jwt::Unavailable::Key {
            reason: "too many key fetches at once",
        },
    ));
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let tasks: Vec<_> = (0..400)
        .map(|_| {
            let keys = Arc::clone(&keys);
            let kid_text = kids[(next() % 6) as usize];
            let patience = Duration::from_millis(next() % 8);
            let cancel = next() % 4 == 0;
            tokio::spawn(async move {
                let kid = kid(kid_text);
                let ask = keys.install_key(&kid);
                let answer = if cancel {
                    tokio::time::timeout(patience, ask).await.ok()
                } else {
                    Some(ask.await)
                };
                (kid_text, answer)
            })
        })
        .collect();
    let all = async {
        let mut answered = 0;
        for task in tasks {
            let (kid_text, answer) = task.await.unwrap();
            if let Some(answer) = answer {
                answered += 1;
                if max_fetches != usize::MAX && answer == refusal {
                    continue;
                }
                if kid_text == "k5" {
                    assert_eq!(answer, Err(Error::UnknownKeyId));
                } else {
                    assert_eq!(answer, Ok(atlassian().key()), "{kid_text}");
                }
            }
        }
        answered
    };
    let answered = tokio::time::timeout(Duration::from_secs(20), all)
        .await
        .expect("a request was never answered");
    assert!(answered >= 300, "{answered}");
    assert!(keys.len() <= 4);
    // 400 requests over 6 kids: most were answered from the cache or a shared fetch.
    assert!(keys.source().asked() < 200, "{}", keys.source().asked());
}

#[tokio::test]
async fn maps_references_and_arcs_are_sources() {
    let hash: HashMap<String, InstallKey> = [(KID.to_owned(), atlassian().key())].into();
    let btree: BTreeMap<String, InstallKey> = [(KID.to_owned(), atlassian().key())].into();
    async fn ask(source: impl InstallKeySource) -> Result<InstallKey, Error> {
        source.install_key(&kid(KID)).await
    }
    for answer in [
        ask(&hash).await,
        ask(&btree).await,
        ask(Arc::new(hash.clone())).await,
        ask(KeyCache::new(&btree)).await,
    ] {
        assert_eq!(answer, Ok(atlassian().key()));
    }
    assert_eq!(
        hash.install_key(&kid("other")).await,
        Err(Error::UnknownKeyId)
    );
    assert_eq!(
        btree.install_key(&kid("other")).await,
        Err(Error::UnknownKeyId)
    );
}

#[tokio::test]
async fn verify_async_checks_the_kid_before_asking_the_source() {
    let keys = cache(&[KID], Duration::ZERO);
    let request = CanonicalRequest::from_target("POST", "/installed", None).unwrap();
    let now = UnixTime::from_secs(NOW);
    let verify = |token: String| {
        let keys = Arc::clone(&keys);
        let request = request.clone();
        async move {
            verifier()
                .verify_async(&token, &body("installed"), &request, &*keys, now)
                .await
        }
    };
    let payload = claims().to_string();
    let install = verify(atlassian().sign(&super::header(), &payload))
        .await
        .unwrap();
    assert_eq!(install.key_id(), KID);
    assert_eq!(keys.source().asked(), 1);

    for (header, error) in [
        (r#"{"alg":"RS256"}"#.to_owned(), Error::MissingKeyId),
        (
            r#"{"alg":"RS256","kid":""}"#.to_owned(),
            Error::MissingKeyId,
        ),
        (
            r#"{"alg":"RS256","kid":"../../x"}"#.to_owned(),
            Error::InvalidKeyId,
        ),
        (
            r#"{"alg":"HS256","kid":"k"}"#.to_owned(),
            Error::SymmetricTokenOnLifecycleRoute,
        ),
    ] {
        let token = atlassian().sign(&header, &payload);
        assert_eq!(verify(token).await.unwrap_err(), error, "{header}");
    }
    assert_eq!(keys.source().asked(), 1);

    // An unknown kid is asked for once, then answered from the cache.
    let other = atlassian().sign(r#"{"alg":"RS256","kid":"other"}"#, &payload);
    for _ in 0..3 {
        assert_eq!(
            verify(other.clone()).await.unwrap_err(),
            Error::UnknownKeyId
        );
    }
    assert_eq!(keys.source().asked(), 2);
}

/// Web frameworks need `Send` handler futures.
#[test]
fn futures_are_send() {
    fn send<T: Send>(_: &T) {}
    let keys = KeyCache::new(HashMap::<String, InstallKey>::new());
    let request = CanonicalRequest::from_target("POST", "/installed", None).unwrap();
    let verifier = verifier();
    send(&keys.install_key(&kid(KID)));
    send(&verifier.verify_async("t", "{}", &request, &keys, UnixTime::from_secs(NOW)));
}
