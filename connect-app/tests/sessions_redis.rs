//! Two `connect-app` processes sharing one `redis-server` (the test's own, on 127.0.0.1, no
//! persistence): a user deleted through instance A (the signed `user_deleted` webhook) is
//! refused by instance B within milliseconds, p50 and p99 over 60 trials; other users keep
//! working; then Redis is killed and restarted empty mid-test, with watchers calling both
//! instances with every revoked token throughout: none is ever accepted, B fails closed (503)
//! while it cannot vouch for its copy, and a revocation made during the outage reaches B
//! once both instances are back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::*;

const TRIALS: usize = 60;
const BYSTANDER: &str = "557058:bystander";

fn whoami(base_url: &str) -> String {
    format!("{base_url}/api/session/whoami")
}

/// Calls `whoami` on every URL with every token until stopped, counting answers by status;
/// a 200 for any of these tokens is a revoked token accepted.
struct Watchers {
    stop: Arc<AtomicBool>,
    tokens: Arc<Mutex<Vec<String>>>,
    counts: Arc<Mutex<BTreeMap<u16, usize>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Watchers {
    fn start(urls: Vec<String>, tokens: Vec<String>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let tokens = Arc::new(Mutex::new(tokens));
        let counts: Arc<Mutex<BTreeMap<u16, usize>>> = Arc::default();
        let (s, t, c) = (stop.clone(), tokens.clone(), counts.clone());
        let task = tokio::spawn(async move {
            let client = reqwest::Client::new();
            while !s.load(Ordering::SeqCst) {
                let batch = t.lock().unwrap().clone();
                for token in &batch {
                    for url in &urls {
                        let status = match client.get(url).bearer_auth(token).send().await {
                            Ok(response) => response.status().as_u16(),
                            Err(_) => 0,
                        };
                        *c.lock().unwrap().entry(status).or_default() += 1;
                    }
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
        Self {
            stop,
            tokens,
            counts,
            task,
        }
    }

    fn watch(&self, token: &str) {
        self.tokens.lock().unwrap().push(token.to_owned());
    }

    async fn finish(self) -> BTreeMap<u16, usize> {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.unwrap();
        self.counts.lock().unwrap().clone()
    }
}

/// Polls `url` with `token` until it is refused; the instant of the first refusal.
async fn first_refusal(url: &str, token: &str, started: &AtomicBool) -> (Instant, Answer) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let response = client.get(url).bearer_auth(token).send().await.unwrap();
        let at = Instant::now();
        let status = response.status().as_u16();
        if status != 200 {
            let challenge = response
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_owned());
            let body = response.text().await.unwrap();
            return (
                at,
                Answer {
                    status,
                    challenge,
                    body,
                },
            );
        }
        started.store(true, Ordering::SeqCst);
        assert!(Instant::now() < deadline, "never refused");
    }
}

/// Waits until `token` on `url` gets `status`: how long it took, and the other statuses seen.
async fn until_status(
    url: &str,
    token: &str,
    status: u16,
    within: Duration,
) -> (Duration, BTreeMap<u16, usize>) {
    let started = Instant::now();
    let mut seen = BTreeMap::new();
    loop {
        let got = bearer("GET", url, token).await.status;
        if got == status {
            return (started.elapsed(), seen);
        }
        *seen.entry(got).or_default() += 1;
        assert!(started.elapsed() < within, "no {status} within {within:?}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revocation_on_one_instance_reaches_the_other_through_redis() {
    let Some(mut redis) = Redis::start_or_skip("two connect-app instances on Redis").await else {
        return;
    };
    let Some(atlassian) = Atlassian::start("two connect-app instances on Redis").await else {
        return;
    };
    let url = redis.url();
    let env = [("CONNECT_APP_REDIS_URL", url.as_str())];
    let a = atlassian.app(&atlassian.sqlite("a.db"), &env).await;
    let b = atlassian.app(&atlassian.sqlite("b.db"), &env).await;
    let site = &atlassian.keys;
    let tenant = Tenant::new("jira:redis", "redis-shared-secret-0123456789abcdef012");
    atlassian.install(&a.base_url, &tenant, site).await;
    atlassian.install(&b.base_url, &tenant, site).await;
    let bystander = atlassian.session(&b.base_url, &tenant, BYSTANDER).await;
    assert_eq!(
        bearer("GET", &whoami(&a.base_url), &bystander).await.status,
        200
    );

    // Propagation: the webhook to A, the first refusal by B.
    let mut from_sent = Vec::new();
    let mut from_answered = Vec::new();
    let mut revoked = Vec::new();
    // One client for the webhooks, its connection to A kept open, so that what is timed is
    // the request, not the client's set-up.
    let product = reqwest::Client::new();
    for trial in 0..TRIALS {
        let user = format!("557058:user-{trial}");
        let token = atlassian.session(&b.base_url, &tenant, &user).await;
        let webhook_token = atlassian
            .npm
            .request(&tenant, "POST", "/webhooks/user-deleted");
        let body = serde_json::json!({"webhookEvent": "user_deleted", "user": {"accountId": user}});
        let polling = Arc::new(AtomicBool::new(false));
        let poller = {
            let (url, token, polling) = (whoami(&b.base_url), token.clone(), polling.clone());
            tokio::spawn(async move { first_refusal(&url, &token, &polling).await })
        };
        while !polling.load(Ordering::SeqCst) {
            tokio::task::yield_now().await;
        }
        let request = product
            .post(format!("{}/webhooks/user-deleted", a.base_url))
            .header("authorization", format!("JWT {webhook_token}"))
            .header("content-type", "application/json")
            .body(body.to_string());
        let sent = Instant::now();
        let status = request.send().await.unwrap().status().as_u16();
        let answered = Instant::now();
        assert_eq!(status, 204);
        let (refused_at, refusal) = poller.await.unwrap();
        assert_eq!(refusal, Answer::invalid_token("session-revoked"));
        from_sent.push(refused_at.saturating_duration_since(sent));
        from_answered.push(refused_at.saturating_duration_since(answered));
        // Refused by both from then on; the bystander is not.
        for base in [&a.base_url, &b.base_url] {
            assert_eq!(
                bearer("GET", &whoami(base), &token).await,
                Answer::invalid_token("session-revoked")
            );
        }
        assert_eq!(
            bearer("GET", &whoami(&b.base_url), &bystander).await.status,
            200
        );
        revoked.push(token);
    }
    let (p50, p99) = percentiles(&from_sent);
    let (p50_answered, p99_answered) = percentiles(&from_answered);
    let max = from_sent.iter().max().unwrap();
    eprintln!(
        "propagation A -> B over {TRIALS} trials: from the webhook sent p50 {p50:?} p99 {p99:?} max {max:?}; from A's 204 p50 {p50_answered:?} p99 {p99_answered:?}"
    );
    assert!(p99 < Duration::from_millis(100), "p99 {p99:?}");

    // Redis restarts empty, with watchers on every revoked token, on both instances.
    let urls = vec![whoami(&a.base_url), whoami(&b.base_url)];
    let during = atlassian
        .session(&b.base_url, &tenant, "557058:outage")
        .await;
    let watchers = Watchers::start(urls, revoked.clone());
    tokio::time::sleep(Duration::from_millis(50)).await;
    let killed = Instant::now();
    redis.kill();
    // B notices and fails closed: the bystander gets 503, not 200.
    let (noticed, _) = until_status(
        &whoami(&b.base_url),
        &bystander,
        503,
        Duration::from_secs(5),
    )
    .await;
    let unavailable = bearer("GET", &whoami(&b.base_url), &bystander).await;
    assert_eq!(
        (unavailable.status, unavailable.body.as_str()),
        (503, "revocation-store-unavailable")
    );
    // A page load cannot record a new session: 503.
    let page = get(
        &atlassian.panel_url(&b.base_url, &tenant, Some("557058:new")),
        None,
    )
    .await;
    assert_eq!(page.status, 503, "{}", page.body);
    // A user deleted during the outage: A applies it, but cannot share it, and says so (503:
    // the product retries). Until A is back, B cannot know; B answers again only one
    // reconnection period after it is back, by when A has written it back.
    let answer = atlassian
        .user_deleted(&a.base_url, &tenant, "557058:outage")
        .await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (503, "revocation-store-unavailable")
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let restarted = Instant::now();
    redis.restart().await;
    // Both instances resynchronize; the marks come back from their write-back, and the
    // revocation made during the outage reaches B.
    let (resync, _) = until_status(
        &whoami(&b.base_url),
        &bystander,
        200,
        Duration::from_secs(10),
    )
    .await;
    let (reached, before) =
        until_status(&whoami(&b.base_url), &during, 401, Duration::from_secs(10)).await;
    // Before that, B answered it 503 (not synced yet), never 200.
    assert!(before.keys().all(|s| *s == 503), "{before:?}");
    until_status(
        &whoami(&a.base_url),
        &bystander,
        200,
        Duration::from_secs(10),
    )
    .await;
    // Once refused, refused for good (the watchers check it from here on).
    watchers.watch(&during);
    assert_eq!(
        bearer("GET", &whoami(&b.base_url), &during).await,
        Answer::invalid_token("session-revoked")
    );
    // The product's retry of the webhook succeeds.
    assert_eq!(
        atlassian
            .user_deleted(&a.base_url, &tenant, "557058:outage")
            .await,
        Answer::no_content()
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let counts = watchers.finish().await;
    eprintln!(
        "redis restart: B failed closed {noticed:?} after the kill (outage {:?}); resynchronized {resync:?} after the restart; the revocation made during the outage (answered 503) refused by B {reached:?} after B's resync, B's answers to it before that {before:?}; watchers' answers for the acknowledged revocations, by status {counts:?}",
        restarted - killed
    );
    assert_eq!(
        counts.get(&200),
        None,
        "a revoked token was accepted: {counts:?}"
    );
    assert!(counts.get(&503).copied().unwrap_or(0) > 0, "{counts:?}");
    assert!(counts.get(&401).copied().unwrap_or(0) > 0, "{counts:?}");
    for token in &revoked {
        for base in [&a.base_url, &b.base_url] {
            assert_eq!(
                bearer("GET", &whoami(base), token).await,
                Answer::invalid_token("session-revoked")
            );
        }
    }
    // New sessions work again.
    let fresh = atlassian
        .session(&b.base_url, &tenant, "557058:after")
        .await;
    assert_eq!(
        bearer("GET", &whoami(&a.base_url), &fresh).await.status,
        200
    );
    a.stop();
    b.stop();
}
