//! The Redis revocation store (feature `session-redis`) against a real `redis-server` on
//! 127.0.0.1: two instances sharing one server, revocation propagation measured (p50/p99 over
//! 200 trials), other users unaffected, the allowlist mode across instances, the sweep claimed
//! by one instance, and a server restart mid-test with no revoked token accepted at any point.
//!
//! Reads `TEST_REDIS_URL` (`source .ci/redis` starts a server); the restart test starts its
//! own `redis-server`. Without them the tests print a loud `SKIPPED` banner, and fail under
//! `REQUIRE_REDIS=1`.
#![cfg(all(feature = "session-redis", feature = "axum"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/session.rs"]
mod common;

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use atlassian_connect_jwt::session::{
    MemoryRevocationStore, Mode, RedisConfig, RedisRevocationStore, Revocation, SessionToken,
    Sessions, UserSweep,
};
use atlassian_connect_jwt::{ConfigError, Error, Unavailable, UnixTime};
use common::*;

/// A prefix no other test run shares.
fn prefix(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("test:{test}:{}:{nanos}:", std::process::id())
}

/// One app instance: its own store (connections, local copy, background task).
async fn instance(url: &str, prefix: &str, mode: Mode) -> (Sessions, Arc<RedisRevocationStore>) {
    let config = RedisConfig::new(url)
        .with_prefix(prefix)
        .with_mode(mode)
        .with_timeout(Duration::from_millis(300))
        .with_ping_interval(Duration::from_millis(200));
    let store = Arc::new(RedisRevocationStore::connect(config).await.unwrap());
    assert!(
        store.wait_synced(Duration::from_secs(5)).await,
        "not synchronized"
    );
    (Sessions::new(store.clone()), store)
}

fn user(client_key: &str, account_id: &str) -> Revocation {
    Revocation::User {
        client_key: client_key.to_owned(),
        account_id: account_id.to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_one_instance_is_seen_by_the_other_within_100_ms() {
    let Some(url) = redis_or_skip("revocation propagation between instances") else {
        return;
    };
    let prefix = prefix("propagation");
    let (a, _store_a) = instance(&url, &prefix, Mode::Denylist).await;
    let (b, _store_b) = instance(&url, &prefix, Mode::Denylist).await;
    let bystander = mint(&a, A, "bystander").await;
    let same_id_in_b = mint(&a, B, "user-0").await;
    const TRIALS: usize = 200;
    let mut latencies = Vec::with_capacity(TRIALS);
    for trial in 0..TRIALS {
        let account = format!("user-{trial}");
        // Minted on either instance, checked on B.
        let minter = if trial % 2 == 0 { &a } else { &b };
        let token = mint(minter, A, &account).await;
        assert_eq!(outcome(&b, &token).await, Ok(()));
        let start = Instant::now();
        a.revoke(user(A, &account), UnixTime::now()).await.unwrap();
        let mut polls = 0u64;
        loop {
            polls += 1;
            match outcome(&b, &token).await {
                Ok(()) => tokio::task::yield_now().await,
                Err(error) => {
                    assert_eq!(error, Error::SessionRevoked);
                    break;
                }
            }
            assert!(start.elapsed() < Duration::from_secs(2), "never propagated");
        }
        latencies.push(start.elapsed());
        // Instance A refused it from the moment its revoke returned.
        assert_eq!(outcome(&a, &token).await, Err(Error::SessionRevoked));
        assert!(polls >= 1);
    }
    let (p50, p99) = percentiles(&latencies);
    let max = latencies.iter().max().unwrap();
    eprintln!(
        "redis propagation over {TRIALS} trials (revoke on A -> first refusal on B): p50 {p50:?}, p99 {p99:?}, max {max:?}"
    );
    assert!(p99 < Duration::from_millis(100), "p99 {p99:?}");
    // Everyone else keeps working, on both instances.
    for sessions in [&a, &b] {
        assert_eq!(outcome(sessions, &bystander).await, Ok(()));
        assert_eq!(outcome(sessions, &same_id_in_b).await, Ok(()));
    }
    // A third instance started later reads every mark at once.
    let (c, _store_c) = instance(&url, &prefix, Mode::Denylist).await;
    let late = mint_at(
        &c,
        A,
        "user-7",
        UnixTime::from_secs(UnixTime::now().as_secs() - 20),
    )
    .await
    .unwrap();
    assert_eq!(outcome(&c, &late).await, Err(Error::SessionRevoked));
    assert_eq!(outcome(&c, &bystander).await, Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_and_tenant_revocations_propagate_too() {
    let Some(url) = redis_or_skip("token and tenant revocations") else {
        return;
    };
    let prefix = prefix("scopes");
    let (a, _sa) = instance(&url, &prefix, Mode::Denylist).await;
    let (b, _sb) = instance(&url, &prefix, Mode::Denylist).await;
    let t1 = mint(&a, A, "u1").await;
    let t2 = mint(&a, A, "u1").await;
    let other_tenant = mint(&a, B, "u1").await;
    a.revoke(
        Revocation::Token {
            client_key: A.to_owned(),
            id: t1.claims().id().to_owned(),
        },
        UnixTime::now(),
    )
    .await
    .unwrap();
    wait_refused(&b, &t1).await;
    assert_eq!(outcome(&b, &t2).await, Ok(()));
    b.revoke(
        Revocation::Tenant {
            client_key: A.to_owned(),
        },
        UnixTime::now(),
    )
    .await
    .unwrap();
    wait_refused(&a, &t2).await;
    assert_eq!(outcome(&a, &other_tenant).await, Ok(()));
    assert_eq!(outcome(&b, &other_tenant).await, Ok(()));
}

async fn wait_refused(sessions: &Sessions, token: &SessionToken) {
    let start = Instant::now();
    while outcome(sessions, token).await == Ok(()) {
        assert!(start.elapsed() < Duration::from_secs(2), "never refused");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(outcome(sessions, token).await, Err(Error::SessionRevoked));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowlist_mode_across_instances() {
    let Some(url) = redis_or_skip("the allowlist mode") else {
        return;
    };
    let prefix = prefix("allowlist");
    let (a, _sa) = instance(&url, &prefix, Mode::Allowlist).await;
    let (b, _sb) = instance(&url, &prefix, Mode::Allowlist).await;
    // Recorded on A, found on B (one lookup, then cached).
    let token = mint(&a, A, "u1").await;
    assert_eq!(outcome(&b, &token).await, Ok(()));
    assert_eq!(outcome(&b, &token).await, Ok(()));
    // A validly signed token that no instance recorded is refused.
    let unrecorded = mint(
        &Sessions::new(Arc::new(MemoryRevocationStore::new(Mode::Denylist))),
        A,
        "u1",
    )
    .await;
    assert_eq!(outcome(&b, &unrecorded).await, Err(Error::SessionRevoked));
    // Revoking the token removes its record for every instance.
    let other = mint(&b, A, "u1").await;
    a.revoke(
        Revocation::Token {
            client_key: A.to_owned(),
            id: token.claims().id().to_owned(),
        },
        UnixTime::now(),
    )
    .await
    .unwrap();
    wait_refused(&b, &token).await;
    assert_eq!(outcome(&a, &other).await, Ok(()));
    assert_eq!(outcome(&b, &other).await, Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_instance_holds_each_tenants_sweep() {
    let Some(url) = redis_or_skip("the sweep across instances") else {
        return;
    };
    let prefix = prefix("sweep");
    let (a, _sa) = instance(&url, &prefix, Mode::Denylist).await;
    let (b, _sb) = instance(&url, &prefix, Mode::Denylist).await;
    let victim = mint(&a, A, "leaver").await;
    let stays = mint(&b, A, "stays").await;
    mint(&b, B, "b-user").await;
    let directory = Arc::new(FakeDirectory::default());
    let interval = Duration::from_millis(300);
    let start = Instant::now();
    let sweeps = [
        tokio::spawn(
            UserSweep::new(a.clone(), directory.clone())
                .with_interval(interval)
                .unwrap()
                .run(),
        ),
        tokio::spawn(
            UserSweep::new(b.clone(), directory.clone())
                .with_interval(interval)
                .unwrap()
                .run(),
        ),
    ];
    tokio::time::sleep(interval * 5 + interval / 2).await;
    directory.deactivate(A, "leaver");
    let deactivated = Instant::now();
    wait_refused(&b, &victim).await;
    let latency = deactivated.elapsed();
    let elapsed = start.elapsed();
    for sweep in sweeps {
        sweep.abort();
    }
    let ticks = (elapsed.as_millis() / interval.as_millis()) as usize + 1;
    let (calls_a, calls_b) = (directory.calls(A), directory.calls(B));
    eprintln!(
        "two instances sweeping for {elapsed:?} every {interval:?}: {calls_a} calls for tenant A, {calls_b} for B ({ticks} ticks per instance); deactivation refused after {latency:?}"
    );
    // One call per tenant per interval in all, not one per instance.
    for calls in [calls_a, calls_b] {
        assert!(
            calls <= ticks + 1 && calls + 2 >= ticks,
            "{calls} calls for {ticks} ticks"
        );
    }
    assert!(
        latency <= interval + Duration::from_millis(150),
        "{latency:?}"
    );
    assert_eq!(outcome(&a, &stays).await, Ok(()));
}

/// A `redis-server` of this test's own, on a free port, without persistence.
struct Server {
    binary: String,
    port: u16,
    child: Option<Child>,
}

impl Server {
    fn start(binary: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = Self {
            binary: binary.to_owned(),
            port,
            child: None,
        };
        server.restart();
        server
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn restart(&mut self) {
        let child = Command::new(&self.binary)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                &std::env::temp_dir().to_string_lossy(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Every check result seen by the watchers, by token.
#[derive(Default)]
struct Seen {
    ok: AtomicUsize,
    revoked: AtomicUsize,
    unavailable: AtomicUsize,
    last_ok: Mutex<Option<Instant>>,
}

/// Checks `token` on `sessions` every millisecond until `stop`, counting each answer; any
/// `Ok` for a revoked token is what the test forbids.
fn watch(
    sessions: Sessions,
    token: SessionToken,
    stop: Arc<AtomicBool>,
    seen: Arc<Seen>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(Ordering::SeqCst) {
            match outcome(&sessions, &token).await {
                Ok(()) => {
                    *seen.last_ok.lock().unwrap() = Some(Instant::now());
                    seen.ok.fetch_add(1, Ordering::SeqCst)
                }
                Err(Error::SessionRevoked) => seen.revoked.fetch_add(1, Ordering::SeqCst),
                Err(Error::Unavailable(Unavailable::RevocationStore)) => {
                    seen.unavailable.fetch_add(1, Ordering::SeqCst)
                }
                Err(other) => panic!("unexpected {other:?}"),
            };
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
}

async fn wait_until(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    start.elapsed()
}

/// Redis is killed and restarted empty mid-test, with watchers checking tokens every
/// millisecond on both instances the whole time: no revoked token is ever accepted; while
/// Redis is down every session check fails closed (503); a revocation made during the outage
/// is refused locally at once and reaches the other instance when Redis is back; the marks
/// the restarted server lost are written back by the instances; allowlist records are lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_never_lets_a_revoked_token_through() {
    let Some(binary) = redis_server_or_skip("the redis restart test") else {
        return;
    };
    let mut server = Server::start(&binary);
    let url = server.url();
    let prefix = prefix("restart");
    let (a, store_a) = instance(&url, &prefix, Mode::Denylist).await;
    let (b, store_b) = instance(&url, &prefix, Mode::Denylist).await;
    let allow_prefix = format!("{prefix}allow:");
    let (allow_a, _allow_store) = instance(&url, &allow_prefix, Mode::Allowlist).await;
    let recorded = mint(&allow_a, A, "u1").await;
    assert_eq!(outcome(&allow_a, &recorded).await, Ok(()));

    let revoked_before = mint(&a, A, "before").await;
    let revoked_during = mint(&a, A, "during").await;
    let never_revoked = mint(&a, A, "bystander").await;
    a.revoke(user(A, "before"), UnixTime::now()).await.unwrap();
    wait_refused(&b, &revoked_before).await;

    let stop = Arc::new(AtomicBool::new(false));
    let watched = [
        ("before@A", a.clone(), revoked_before.clone()),
        ("before@B", b.clone(), revoked_before.clone()),
        ("during@A", a.clone(), revoked_during.clone()),
        ("during@B", b.clone(), revoked_during.clone()),
        ("bystander@B", b.clone(), never_revoked.clone()),
    ];
    let mut seen = Vec::new();
    let mut watchers = Vec::new();
    for (name, sessions, token) in watched {
        let counts = Arc::new(Seen::default());
        watchers.push(watch(sessions, token, stop.clone(), counts.clone()));
        seen.push((name, counts));
    }
    let counts = |name: &str| seen.iter().find(|(n, _)| *n == name).unwrap().1.clone();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(counts("bystander@B").ok.load(Ordering::SeqCst) > 0);

    // Down.
    server.kill();
    let killed = Instant::now();
    let detect = wait_until("both instances notice", Duration::from_secs(3), || {
        !store_a.is_synced() && !store_b.is_synced()
    })
    .await;
    assert_eq!(
        outcome(&b, &never_revoked).await,
        Err(Error::Unavailable(Unavailable::RevocationStore))
    );
    let unavailable_before = counts("bystander@B").unavailable.load(Ordering::SeqCst);
    // A revocation during the outage: reported failed, refused on A at once.
    let revoked_at = Instant::now();
    assert_eq!(
        a.revoke(user(A, "during"), UnixTime::now())
            .await
            .unwrap_err(),
        Error::Unavailable(Unavailable::RevocationStore)
    );
    assert_eq!(
        mint_at(&a, A, "new", UnixTime::now()).await.unwrap_err(),
        Error::Unavailable(Unavailable::RevocationStore)
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(counts("bystander@B").unavailable.load(Ordering::SeqCst) > unavailable_before);

    // Back, empty.
    server.restart();
    let restarted = Instant::now();
    let recover = wait_until(
        "both instances synchronize again",
        Duration::from_secs(5),
        || store_a.is_synced() && store_b.is_synced(),
    )
    .await;
    // The revocation made during the outage reaches B; the one made before survives the
    // server's loss of its data.
    wait_refused(&b, &revoked_during).await;
    assert_eq!(
        outcome(&b, &revoked_before).await,
        Err(Error::SessionRevoked)
    );
    assert_eq!(
        outcome(&a, &revoked_during).await,
        Err(Error::SessionRevoked)
    );
    assert_eq!(outcome(&b, &never_revoked).await, Ok(()));
    // A fresh instance reads the marks the survivors wrote back.
    let (c, _sc) = instance(&url, &prefix, Mode::Denylist).await;
    assert_eq!(
        outcome(&c, &revoked_before).await,
        Err(Error::SessionRevoked)
    );
    assert_eq!(
        outcome(&c, &revoked_during).await,
        Err(Error::SessionRevoked)
    );
    // Allowlist records did not survive: the page must be reloaded.
    assert!(_allow_store.wait_synced(Duration::from_secs(5)).await);
    assert_eq!(
        outcome(&allow_a, &recorded).await,
        Err(Error::SessionRevoked)
    );

    tokio::time::sleep(Duration::from_millis(50)).await;
    stop.store(true, Ordering::SeqCst);
    for watcher in watchers {
        watcher.await.unwrap();
    }
    let report: Vec<String> = seen
        .iter()
        .map(|(name, s)| {
            format!(
                "{name}: ok {} revoked {} unavailable {}",
                s.ok.load(Ordering::SeqCst),
                s.revoked.load(Ordering::SeqCst),
                s.unavailable.load(Ordering::SeqCst)
            )
        })
        .collect();
    eprintln!(
        "redis restart: outage noticed after {detect:?} (killed {:?} ago), resynchronized {recover:?} after the restart ({:?} ago); {}",
        killed.elapsed(),
        restarted.elapsed(),
        report.join("; ")
    );
    // Never accepted, at any point, on either instance.
    for name in ["before@A", "before@B"] {
        assert_eq!(counts(name).ok.load(Ordering::SeqCst), 0, "{name}");
        assert!(
            counts(name).unavailable.load(Ordering::SeqCst) > 0,
            "{name}"
        );
    }
    // `during` was valid before the outage, and never accepted from its revocation on, on
    // either instance (B had no answer at all until it learned of it).
    for name in ["during@A", "during@B"] {
        let last_ok = counts(name).last_ok.lock().unwrap().unwrap();
        assert!(last_ok < revoked_at, "{name} accepted after the revocation");
    }
    // The bystander: refused by no one, unavailable during the outage, accepted after it.
    let bystander = counts("bystander@B");
    assert_eq!(bystander.revoked.load(Ordering::SeqCst), 0);
    assert!(bystander.last_ok.lock().unwrap().unwrap() > restarted);
    drop(c);
}

/// A TCP gate in front of the Redis server: while closed, connections through it are dropped
/// as they arrive; a connection whose server side ends is ended too.
struct Gate {
    port: u16,
    open: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Gate {
    async fn start(upstream: u16) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(AtomicBool::new(true));
        let gate = open.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                if !gate.load(Ordering::SeqCst) {
                    continue;
                }
                tokio::spawn(async move {
                    if let Ok(mut server) =
                        tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Self { port, open, task }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The race the reconnection wait closes: Redis restarts, instance B reconnects at once, and
/// instance A, which revoked a session during the outage, comes back only later. B must not
/// accept the session in between: it answers nothing until A had the time to write the
/// revocation back, and then refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_reconnects_first_waits_for_the_revocations_made_during_the_outage() {
    let Some(binary) = redis_server_or_skip("the reconnection race test") else {
        return;
    };
    let mut server = Server::start(&binary);
    let gate = Gate::start(server.port).await;
    let prefix = prefix("race");
    let (a, store_a) = instance(&gate.url(), &prefix, Mode::Denylist).await;
    let (b, store_b) = instance(&server.url(), &prefix, Mode::Denylist).await;
    let token = mint(&a, A, "fired").await;
    assert_eq!(outcome(&b, &token).await, Ok(()));

    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Seen::default());
    let watcher = watch(b.clone(), token.clone(), stop.clone(), seen.clone());
    tokio::time::sleep(Duration::from_millis(20)).await;

    server.kill();
    wait_until("both instances notice", Duration::from_secs(3), || {
        !store_a.is_synced() && !store_b.is_synced()
    })
    .await;
    // A cannot reach Redis until well after B is back.
    gate.open.store(false, Ordering::SeqCst);
    let revoked_at = Instant::now();
    assert_eq!(
        a.revoke(user(A, "fired"), UnixTime::now())
            .await
            .unwrap_err(),
        Error::Unavailable(Unavailable::RevocationStore)
    );
    assert_eq!(
        outcome(&a, &token).await,
        Err(Error::Unavailable(Unavailable::RevocationStore))
    );

    server.restart();
    let restarted = Instant::now();
    // B connects at once; A stays shut out for 200 ms more.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!store_b.is_synced(), "B answers before A could come back");
    gate.open.store(true, Ordering::SeqCst);
    wait_until(
        "both instances synchronize again",
        Duration::from_secs(5),
        || store_a.is_synced() && store_b.is_synced(),
    )
    .await;
    let back = restarted.elapsed();
    assert_eq!(outcome(&b, &token).await, Err(Error::SessionRevoked));
    tokio::time::sleep(Duration::from_millis(20)).await;
    stop.store(true, Ordering::SeqCst);
    watcher.await.unwrap();

    let last_ok = seen.last_ok.lock().unwrap().unwrap();
    assert!(
        last_ok < revoked_at,
        "B accepted the session after its revocation"
    );
    assert!(seen.unavailable.load(Ordering::SeqCst) > 0);
    assert!(seen.revoked.load(Ordering::SeqCst) > 0);
    eprintln!(
        "reconnection race: both instances answer again {back:?} after the restart; at B: ok {} (all before the revocation), unavailable {}, revoked {}",
        seen.ok.load(Ordering::SeqCst),
        seen.unavailable.load(Ordering::SeqCst),
        seen.revoked.load(Ordering::SeqCst)
    );
}

#[tokio::test]
async fn an_unreachable_server_fails_closed_from_the_start() {
    // A port where nothing listens.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = RedisConfig::new(format!("redis://127.0.0.1:{port}/"))
        .with_timeout(Duration::from_millis(200));
    let store = Arc::new(RedisRevocationStore::connect(config).await.unwrap());
    assert!(!store.is_synced());
    let sessions = Sessions::new(store.clone());
    let memory = Sessions::new(Arc::new(MemoryRevocationStore::new(Mode::Denylist)));
    let token = mint(&memory, A, "u1").await;
    let unavailable = Error::Unavailable(Unavailable::RevocationStore);
    assert_eq!(outcome(&sessions, &token).await, Err(unavailable.clone()));
    assert_eq!(
        mint_at(&sessions, A, "u1", UnixTime::now())
            .await
            .unwrap_err(),
        unavailable
    );
    assert_eq!(
        sessions
            .revoke(user(A, "u1"), UnixTime::now())
            .await
            .unwrap_err(),
        unavailable
    );
    // The revocation still holds here, once the server answers or not.
    assert_eq!(outcome(&sessions, &token).await, Err(unavailable));
    assert!(format!("{store:?}").contains("synced: false"));
}

#[tokio::test]
async fn configuration_errors() {
    assert_eq!(
        RedisRevocationStore::connect(RedisConfig::new("http://127.0.0.1/"))
            .await
            .unwrap_err(),
        Error::Config(ConfigError::InvalidStoreUrl)
    );
    // Outside a tokio runtime.
    let outside = block_on(RedisRevocationStore::connect(RedisConfig::new(
        "redis://127.0.0.1:1/",
    )));
    assert_eq!(
        outside.unwrap_err(),
        Error::Config(ConfigError::NoTokioRuntime)
    );
    // The URL (which may hold a password) is not shown.
    let shown = format!("{:?}", RedisConfig::new("redis://user:hunter2@127.0.0.1/"));
    assert!(
        !shown.contains("hunter2") && shown.contains("redis://<redacted>"),
        "{shown}"
    );
}

/// A minimal executor, to run a future outside tokio (on another thread).
fn block_on<F: std::future::Future + Send + 'static>(future: F) -> F::Output
where
    F::Output: Send + 'static,
{
    std::thread::spawn(move || {
        struct Wake(std::thread::Thread);
        impl std::task::Wake for Wake {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = std::task::Waker::from(Arc::new(Wake(std::thread::current())));
        let mut context = std::task::Context::from_waker(&waker);
        let mut future = std::pin::pin!(future);
        loop {
            if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut context) {
                return out;
            }
            std::thread::park();
        }
    })
    .join()
    .unwrap()
}
