//! `JiraUserDirectory` (features `session` and `client`) against a fake Jira on 127.0.0.1
//! that verifies every request's JWT (the app's key, the tenant's secret, the `qsh` of the
//! request as it arrived), refuses more than 90 `accountId`s as the real API would refuse a
//! URL too long, and pages its answers at 25 users whatever `maxResults` asks: batches,
//! pages, inactive and missing users, every product failure, rate limits, and the sweep's
//! one request per tenant per interval, measured on the real clock.
#![cfg(all(feature = "session", feature = "client"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod client_support;
#[path = "common/session.rs"]
mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use atlassian_connect_jwt::session::{
    JiraUserDirectory, MemoryRevocationStore, Mode, Sessions, UserDirectory, UserSweep,
    USER_BULK_BATCH,
};
use atlassian_connect_jwt::{
    CanonicalRequest, ConnectClient, Error, InstalledTenant, QshPolicy, SharedSecret, StoreError,
    StoreFuture, StoredTenant, Tenant, TenantStore, Unavailable, UninstalledTenant, UnixTime,
    Verifier,
};
use serde_json::{json, Value};

use client_support::{FakeServer, Recorded, Reply, APP_KEY};
use common::{mint, outcome, A, B, SECRET_A, SECRET_B};

/// Users per page, whatever `maxResults` asks (Jira caps pages too).
const PAGE_CAP: usize = 25;

/// What the fake Jira answers instead of a page, when set.
type Override = Arc<Mutex<Option<Reply>>>;

/// One Jira site: its users (absent: deleted), the requests it refused, an override.
struct Jira {
    server: FakeServer,
    users: Arc<Mutex<HashMap<String, bool>>>,
    refused: Arc<AtomicUsize>,
    answer: Override,
}

impl Jira {
    async fn start(secret: &'static str) -> Self {
        let users: Arc<Mutex<HashMap<String, bool>>> = Arc::default();
        let refused = Arc::new(AtomicUsize::new(0));
        let answer: Override = Arc::default();
        let (u, r, a) = (users.clone(), refused.clone(), answer.clone());
        let server = FakeServer::start(move |request, _| {
            if let Some(reply) = a.lock().unwrap().clone() {
                return reply;
            }
            bulk(request, secret, &u.lock().unwrap(), &r)
        })
        .await;
        Self {
            server,
            users,
            refused,
            answer,
        }
    }

    fn set(&self, account_id: &str, active: bool) {
        self.users
            .lock()
            .unwrap()
            .insert(account_id.to_owned(), active);
    }

    fn delete(&self, account_id: &str) {
        self.users.lock().unwrap().remove(account_id);
    }

    fn answer(&self, reply: Option<Reply>) {
        *self.answer.lock().unwrap() = reply;
    }

    /// The bulk requests received, as `(startAt, maxResults, accountIds)`.
    fn asked(&self) -> Vec<(usize, usize, Vec<String>)> {
        self.server.requests().iter().map(parse).collect()
    }

    fn tenant(&self, client_key: &str, secret: &str, installed: bool) -> Tenant {
        Tenant::from_stored(StoredTenant {
            client_key: client_key.to_owned(),
            shared_secret: SharedSecret::new(secret),
            base_url: self.server.url(""),
            display_url: None,
            product_type: Some("jira".to_owned()),
            installation_id: None,
            oauth_client_id: None,
            installed,
        })
    }
}

fn parse(request: &Recorded) -> (usize, usize, Vec<String>) {
    let query = request.target.split_once('?').map_or("", |(_, q)| q);
    let mut start_at = None;
    let mut max_results = None;
    let mut ids = Vec::new();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match &*name {
            "startAt" => start_at = Some(value.parse().unwrap()),
            "maxResults" => max_results = Some(value.parse().unwrap()),
            "accountId" => ids.push(value.into_owned()),
            other => panic!("unexpected parameter {other}"),
        }
    }
    (start_at.unwrap(), max_results.unwrap(), ids)
}

/// Jira's `GET /rest/api/3/user/bulk`, for the app only, as `PageBeanUser`.
fn bulk(
    request: &Recorded,
    secret: &str,
    users: &HashMap<String, bool>,
    refused: &AtomicUsize,
) -> Reply {
    let path = request.target.split('?').next().unwrap();
    if request.method != "GET" || path != "/rest/api/3/user/bulk" {
        return Reply::status(404);
    }
    let canonical = CanonicalRequest::from_target("GET", &request.target, None).unwrap();
    let token = request
        .header("authorization")
        .and_then(|v| v.strip_prefix("JWT "))
        .unwrap_or_default();
    let store = BTreeMap::from([(APP_KEY.to_owned(), SharedSecret::new(secret))]);
    if let Err(error) = Verifier::new().verify(
        token,
        QshPolicy::Request(&canonical),
        &store,
        UnixTime::now(),
    ) {
        refused.fetch_add(1, Ordering::SeqCst);
        return Reply::status(401).body(error.code());
    }
    let (start_at, max_results, ids) = parse(request);
    if ids.is_empty() || ids.len() > 90 {
        return Reply::status(400).body(r#"{"errorMessages":["accountId"]}"#);
    }
    let present: Vec<(&String, bool)> = ids
        .iter()
        .filter_map(|id| users.get(id).map(|active| (id, *active)))
        .collect();
    let end = present.len().min(start_at + max_results.min(PAGE_CAP));
    let page = present.get(start_at..end).unwrap_or_default();
    let is_last = end >= present.len();
    let values: Vec<Value> = page
        .iter()
        .map(|(id, active)| {
            json!({
                "self": format!("/rest/api/3/user?accountId={id}"), "accountId": id,
                "accountType": "atlassian", "displayName": format!("User {id}"),
                "active": active, "timeZone": "Europe/Paris",
            })
        })
        .collect();
    let mut body = json!({
        "self": request.target, "maxResults": max_results, "startAt": start_at,
        "total": present.len(), "isLast": is_last, "values": values,
    });
    if !is_last {
        body["nextPage"] = json!(format!("/rest/api/3/user/bulk?startAt={end}"));
    }
    Reply::ok(body.to_string()).header("content-type", "application/json")
}

/// A tenant store over a fixed set of tenants, or down.
#[derive(Default)]
struct Tenants {
    map: HashMap<String, Tenant>,
    down: AtomicBool,
}

impl TenantStore for Tenants {
    fn get<'a>(&'a self, client_key: &'a str) -> StoreFuture<'a, Option<Tenant>> {
        let answer = if self.down.load(Ordering::SeqCst) {
            Err(StoreError::new("connection refused"))
        } else {
            Ok(self.map.get(client_key).cloned())
        };
        Box::pin(async move { answer })
    }
    fn get_by_installation_id<'a>(&'a self, _: &'a str) -> StoreFuture<'a, Option<Tenant>> {
        Box::pin(async { Ok(None) })
    }
    fn save_install<'a>(&'a self, _: &'a InstalledTenant) -> StoreFuture<'a, bool> {
        Box::pin(async { Err(StoreError::new("read-only")) })
    }
    fn mark_uninstalled<'a>(&'a self, _: &'a UninstalledTenant) -> StoreFuture<'a, bool> {
        Box::pin(async { Err(StoreError::new("read-only")) })
    }
}

fn client(max_retries: u32) -> ConnectClient {
    ConnectClient::builder(APP_KEY)
        .with_max_retries(max_retries)
        .build()
        .unwrap()
}

fn directory(tenants: Vec<Tenant>) -> (JiraUserDirectory, Arc<Tenants>) {
    let store = Arc::new(Tenants {
        map: tenants
            .into_iter()
            .map(|t| (t.client_key().to_owned(), t))
            .collect(),
        down: AtomicBool::new(false),
    });
    (JiraUserDirectory::new(client(0), store.clone()), store)
}

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("557058:{prefix}-{i:04}-0000-4000-8000-000000000000"))
        .collect()
}

fn set(ids: &[&String]) -> HashSet<String> {
    ids.iter().map(|s| (*s).clone()).collect()
}

const UNAVAILABLE: Error = Error::Unavailable(Unavailable::UserDirectory);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_of_90_and_their_pages_give_exactly_the_active_users() {
    let jira = Jira::start(SECRET_A).await;
    let all = ids("u", 200);
    // Every third user inactive, every seventh deleted (absent from the product).
    let mut expected = HashSet::new();
    for (i, id) in all.iter().enumerate() {
        match (i % 7 == 0, i % 3 == 0) {
            (true, _) => {}
            (false, true) => jira.set(id, false),
            (false, false) => {
                jira.set(id, true);
                expected.insert(id.clone());
            }
        }
    }
    let (directory, _) = directory(vec![jira.tenant(A, SECRET_A, true)]);
    // Asked in any order, with repeats: each id is asked about once.
    let mut asked: Vec<String> = all.iter().rev().cloned().collect();
    asked.extend_from_slice(&all[..30]);
    let active = directory.active_users(A, &asked).await.unwrap();
    assert_eq!(active, expected);
    assert_eq!(jira.refused.load(Ordering::SeqCst), 0);

    let requests = jira.asked();
    // 200 ids: batches of 90, 90, 20. Present users per batch (of 90): 90 - 13 deleted,
    // paged by 25.
    let mut batches: Vec<Vec<String>> = Vec::new();
    for (start_at, max_results, ids) in &requests {
        assert_eq!(*max_results, USER_BULK_BATCH);
        assert!(ids.len() <= USER_BULK_BATCH);
        if *start_at == 0 {
            batches.push(ids.clone());
        } else {
            // A later page of the same batch: the same ids, the next offset.
            assert_eq!(ids, batches.last().unwrap());
        }
    }
    assert_eq!(
        batches.iter().map(Vec::len).collect::<Vec<_>>(),
        [90, 90, 20]
    );
    let covered: HashSet<&String> = batches.iter().flatten().collect();
    assert_eq!(covered.len(), 200);
    assert_eq!(batches.iter().flatten().count(), 200);
    let offsets: Vec<usize> = requests.iter().map(|r| r.0).collect();
    let present = |batch: &[String]| {
        batch
            .iter()
            .filter(|id| jira.users.lock().unwrap().contains_key(*id))
            .count()
    };
    let mut expected_offsets = Vec::new();
    for batch in &batches {
        let mut start = 0;
        loop {
            expected_offsets.push(start);
            start += PAGE_CAP;
            if start >= present(batch) {
                break;
            }
        }
    }
    assert_eq!(offsets, expected_offsets);
    eprintln!(
        "200 users: {} requests ({} batches, pages of {PAGE_CAP})",
        requests.len(),
        batches.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_and_inactive_users_are_not_active() {
    let jira = Jira::start(SECRET_A).await;
    let users = ids("m", 4);
    jira.set(&users[0], true);
    jira.set(&users[1], false);
    // users[2] was deleted: Jira leaves it out. users[3] is active.
    jira.set(&users[3], true);
    let (directory, _) = directory(vec![jira.tenant(A, SECRET_A, true)]);
    let active = directory.active_users(A, &users).await.unwrap();
    assert_eq!(active, set(&[&users[0], &users[3]]));
    // An answer that lists a user not asked about does not make it active.
    jira.set("557058:intruder", true);
    let active = directory.active_users(A, &users[..2]).await.unwrap();
    assert_eq!(active, set(&[&users[0]]));
    assert_eq!(jira.server.count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_that_is_not_installed_has_no_active_user() {
    let jira = Jira::start(SECRET_A).await;
    let users = ids("n", 3);
    for id in &users {
        jira.set(id, true);
    }
    let (directory, _) = directory(vec![jira.tenant(A, SECRET_A, false)]);
    assert_eq!(
        directory.active_users(A, &users).await.unwrap(),
        HashSet::new()
    );
    assert_eq!(
        directory.active_users(B, &users).await.unwrap(),
        HashSet::new()
    );
    // The product is never asked about a tenant the app does not have.
    assert_eq!(jira.server.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_product_failure_is_user_directory_unavailable() {
    let jira = Jira::start(SECRET_A).await;
    let users = ids("f", 30);
    for id in &users {
        jira.set(id, true);
    }
    let json =
        |body: &str| Some(Reply::ok(body.to_owned()).header("content-type", "application/json"));
    let cases: Vec<(&str, Option<Reply>)> = vec![
        ("500", Some(Reply::status(500).body("oops"))),
        ("401", Some(Reply::status(401).body("unauthorized"))),
        ("403", Some(Reply::status(403))),
        ("404", Some(Reply::status(404))),
        ("429 without Retry-After", Some(Reply::status(429))),
        ("not JSON", json("<html>maintenance</html>")),
        ("no values", json(r#"{"isLast":true}"#)),
        (
            "a user without active",
            json(r#"{"isLast":true,"values":[{"accountId":"x"}]}"#),
        ),
        (
            "active not a boolean",
            json(r#"{"isLast":true,"values":[{"accountId":"x","active":"true"}]}"#),
        ),
        (
            "a user without accountId",
            json(r#"{"isLast":true,"values":[{"active":true}]}"#),
        ),
        (
            "an empty page that is not the last",
            json(r#"{"isLast":false,"values":[]}"#),
        ),
        (
            "pages that never end",
            json(&format!(
                r#"{{"isLast":false,"values":[{{"accountId":"{}","active":true}}]}}"#,
                users[0]
            )),
        ),
        (
            "a redirect",
            Some(Reply::status(302).header("location", "/elsewhere")),
        ),
    ];
    let (directory, store) = directory(vec![jira.tenant(A, SECRET_A, true)]);
    for (name, reply) in cases {
        jira.answer(reply);
        let before = jira.server.count();
        assert_eq!(
            directory.active_users(A, &users).await.unwrap_err(),
            UNAVAILABLE,
            "{name}"
        );
        let sent = jira.server.count() - before;
        // One request, or one per page for the product whose pages never end (bounded by
        // the ids asked about).
        let bound = if name == "pages that never end" {
            users.len()
        } else {
            1
        };
        assert_eq!(sent, bound, "{name}");
    }
    jira.answer(None);
    assert_eq!(directory.active_users(A, &users).await.unwrap().len(), 30);

    // The tenant store is down: no request.
    store.down.store(true, Ordering::SeqCst);
    let before = jira.server.count();
    assert_eq!(
        directory.active_users(A, &users).await.unwrap_err(),
        UNAVAILABLE
    );
    assert_eq!(jira.server.count(), before);
    store.down.store(false, Ordering::SeqCst);

    // A product that does not answer: the request's limit (5 s), not the client's (30 s).
    jira.answer(Some(Reply::Hang));
    let started = Instant::now();
    assert_eq!(
        directory.active_users(A, &users).await.unwrap_err(),
        UNAVAILABLE
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(5) && waited < Duration::from_secs(8),
        "{waited:?}"
    );
    // A product that cannot be reached.
    let gone = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let unreachable = Tenant::from_stored(StoredTenant {
        base_url: gone,
        ..stored(A, SECRET_A)
    });
    let (directory, _) = self::directory(vec![unreachable]);
    assert_eq!(
        directory.active_users(A, &users).await.unwrap_err(),
        UNAVAILABLE
    );
}

fn stored(client_key: &str, secret: &str) -> StoredTenant {
    StoredTenant {
        client_key: client_key.to_owned(),
        shared_secret: SharedSecret::new(secret),
        base_url: String::new(),
        display_url: None,
        product_type: None,
        installation_id: None,
        oauth_client_id: None,
        installed: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_tenant_is_not_asked_again_before_retry_after() {
    let jira_a = Jira::start(SECRET_A).await;
    let jira_b = Jira::start(SECRET_B).await;
    let users = ids("r", 2);
    for id in &users {
        jira_a.set(id, true);
        jira_b.set(id, true);
    }
    let (directory, _) = directory(vec![
        jira_a.tenant(A, SECRET_A, true),
        jira_b.tenant(B, SECRET_B, true),
    ]);
    jira_a.answer(Some(Reply::status(429).header("retry-after", "1")));
    assert_eq!(
        directory.active_users(A, &users).await.unwrap_err(),
        UNAVAILABLE
    );
    assert_eq!(jira_a.server.count(), 1);
    jira_a.answer(None);
    // Within the second: no request to A; B is asked as usual.
    for _ in 0..5 {
        assert_eq!(
            directory.active_users(A, &users).await.unwrap_err(),
            UNAVAILABLE
        );
        assert_eq!(directory.active_users(B, &users).await.unwrap().len(), 2);
    }
    assert_eq!((jira_a.server.count(), jira_b.server.count()), (1, 5));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(directory.active_users(A, &users).await.unwrap().len(), 2);
    assert_eq!(jira_a.server.count(), 2);
}

/// Issue 13's proof with the product behind HTTP: while three users call the app as fast as
/// they can, each tenant's Jira gets exactly one bulk request per sweep interval; a user
/// deactivated in Jira, and one deleted from it, are refused within one interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_asks_each_jira_once_per_interval_and_catches_deactivation() {
    let jira_a = Jira::start(SECRET_A).await;
    let jira_b = Jira::start(SECRET_B).await;
    for (jira, user) in [(&jira_a, "a1"), (&jira_a, "a2"), (&jira_b, "b1")] {
        jira.set(user, true);
    }
    let (directory, _) = directory(vec![
        jira_a.tenant(A, SECRET_A, true),
        jira_b.tenant(B, SECRET_B, true),
    ]);
    let sessions = Sessions::new(Arc::new(MemoryRevocationStore::new(Mode::Denylist)));
    let a1 = mint(&sessions, A, "a1").await;
    let a2 = mint(&sessions, A, "a2").await;
    let b1 = mint(&sessions, B, "b1").await;
    let interval = Duration::from_millis(300);
    let sweep = UserSweep::new(sessions.clone(), Arc::new(directory))
        .with_interval(interval)
        .unwrap();
    let started = Instant::now();
    let task = tokio::spawn(sweep.run());

    let mut user_calls = 0usize;
    while started.elapsed() < interval * 6 {
        for token in [&a1, &a2, &b1] {
            assert_eq!(outcome(&sessions, token).await, Ok(()));
            user_calls += 1;
        }
        tokio::task::yield_now().await;
    }
    let elapsed = started.elapsed();
    let ticks = (elapsed.as_millis() / interval.as_millis()) as usize + 1;
    for (name, jira) in [("A", &jira_a), ("B", &jira_b)] {
        let arrivals: Vec<Instant> = jira.server.requests().iter().map(|r| r.at).collect();
        let gaps: Vec<Duration> = arrivals.windows(2).map(|w| w[1] - w[0]).collect();
        eprintln!(
            "tenant {name}: {} bulk requests in {elapsed:?} ({ticks} ticks of {interval:?}), {user_calls} user calls; gaps {gaps:?}",
            arrivals.len()
        );
        // One per tick: the ticks so far, give or take the one under way.
        assert!(
            arrivals.len() + 1 >= ticks && arrivals.len() <= ticks,
            "{name}: {} requests for {ticks} ticks",
            arrivals.len()
        );
        // Never two in one interval.
        for gap in gaps {
            assert!(
                gap >= interval - Duration::from_millis(50),
                "{name}: {gap:?}"
            );
        }
        assert_eq!(jira.refused.load(Ordering::SeqCst), 0);
    }
    assert!(user_calls > 1000, "{user_calls}");

    // Deactivated in Jira A, deleted from Jira B: both refused within one interval.
    for (jira, token, user, change) in [
        (&jira_a, &a2, "a2", "deactivated"),
        (&jira_b, &b1, "b1", "deleted"),
    ] {
        let changed = Instant::now();
        if change == "deleted" {
            jira.delete(user);
        } else {
            jira.set(user, false);
        }
        loop {
            match outcome(&sessions, token).await {
                Ok(()) => tokio::time::sleep(Duration::from_millis(2)).await,
                Err(error) => {
                    assert_eq!(error, Error::SessionRevoked);
                    break;
                }
            }
            assert!(changed.elapsed() < interval * 4, "{user} never refused");
        }
        let latency = changed.elapsed();
        eprintln!("{user} {change} in Jira: refused after {latency:?} (interval {interval:?})");
        assert!(
            latency <= interval + Duration::from_millis(200),
            "{latency:?}"
        );
    }
    assert_eq!(outcome(&sessions, &a1).await, Ok(()));
    task.abort();
}
