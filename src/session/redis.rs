//! The Redis revocation store (feature `session-redis`): several instances share their
//! revocations, each checks against a local copy kept current through pub/sub.

use core::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::AsyncConnectionConfig;
use tokio::sync::watch;

use super::memory::DEFAULT_STORE_CAPACITY;
use super::state::{LocalState, Lookup};
use super::store::{
    Check, Mode, Revocation, RevocationMark, RevocationStore, SessionFuture, TenantHolders,
};
use super::token::SessionClaims;
use crate::error::{ConfigError, Error, Unavailable};
use crate::time::UnixTime;

/// How a [`RedisRevocationStore`] is set up.
///
/// ```
/// use std::time::Duration;
///
/// use atlassian_connect_jwt::session::{Mode, RedisConfig};
///
/// let config = RedisConfig::new("redis://127.0.0.1:6379/")
///     .with_prefix("my-app:sessions:")
///     .with_mode(Mode::Allowlist)
///     .with_timeout(Duration::from_millis(500));
/// # let _ = config;
/// ```
#[derive(Clone)]
pub struct RedisConfig {
    url: String,
    prefix: String,
    mode: Mode,
    capacity: usize,
    timeout: Duration,
    ping_interval: Duration,
}

impl RedisConfig {
    /// The server at `url` (`redis://host:port/db`, `rediss://` needs a TLS feature of the
    /// `redis` crate), key prefix `acj:session:`, [`Mode::Denylist`], a local cache of
    /// [`DEFAULT_STORE_CAPACITY`] records, a 1 s timeout and a liveness ping every second.
    #[must_use]
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: "acj:session:".to_owned(),
            mode: Mode::Denylist,
            capacity: DEFAULT_STORE_CAPACITY,
            timeout: Duration::from_secs(1),
            ping_interval: Duration::from_secs(1),
        }
    }

    /// Prefixes every key and the channel with `prefix` (apps or tests sharing a server).
    #[must_use]
    pub fn with_prefix(self, prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            ..self
        }
    }

    /// Sets the mode (every instance sharing the prefix must use the same).
    #[must_use]
    pub fn with_mode(self, mode: Mode) -> Self {
        Self { mode, ..self }
    }

    /// Caches at most `records` session records locally (allowlist mode).
    #[must_use]
    pub fn with_capacity(self, records: usize) -> Self {
        Self {
            capacity: records,
            ..self
        }
    }

    /// Gives up on connecting, and on any command, after `timeout`; also the longest a dead
    /// connection goes unnoticed after a missed ping.
    #[must_use]
    pub fn with_timeout(self, timeout: Duration) -> Self {
        Self { timeout, ..self }
    }

    /// Pings the subscription every `interval` to notice a silent disconnection.
    #[must_use]
    pub fn with_ping_interval(self, interval: Duration) -> Self {
        Self {
            ping_interval: interval,
            ..self
        }
    }
}

impl fmt::Debug for RedisConfig {
    // The URL may hold a password: only its scheme is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = self.url.split_once("://").map_or("?", |(s, _)| s);
        f.debug_struct("RedisConfig")
            .field("url", &format_args!("{scheme}://<redacted>"))
            .field("prefix", &self.prefix)
            .field("mode", &self.mode)
            .field("capacity", &self.capacity)
            .field("timeout", &self.timeout)
            .field("ping_interval", &self.ping_interval)
            .finish()
    }
}

/// Revocations shared by every instance through one Redis server.
///
/// **Data in Redis** (prefix `P`, default `acj:session:`):
///
/// | key | type | member | score |
/// | --- | --- | --- | --- |
/// | `P marks` | sorted set | one revocation mark, `["u",through,"clientKey","accountId"]` (`"t"` tenant, `"k"` token with its id) | `keep_until` (Unix s) |
/// | `P live` | sorted set (allowlist mode) | `["clientKey","jti"]` | the session's `exp` |
/// | `P holders` | sorted set | `["clientKey","accountId"]` | latest `exp` (`ZADD GT`) |
/// | `P sweep:<clientKey>` | string, `PX` 1.5 × interval | the instance holding the tenant's sweep | |
///
/// Expired members are removed (`ZREMRANGEBYSCORE`) as the sets are written. A revocation is
/// one `MULTI`: `ZADD marks`, (allowlist, a token) `ZREM live`, and `PUBLISH P revocations
/// "<keep_until> <member>"`.
///
/// **Checks cost no round trip.** Each instance holds every mark locally and checks
/// against that copy under a read lock. The copy is kept current by a subscription to
/// `P revocations`; pub/sub is at-most-once, so whenever the subscription drops (or a ping
/// on it goes unanswered for the timeout) the copy is declared stale and the instance:
/// reconnects, subscribes, **writes its own marks back and publishes them** (so a Redis that
/// restarted empty regains them from any instance that survived, and a revocation made
/// while Redis was unreachable reaches every instance), reads all marks again, waits one
/// reconnection period (1 s, the longest backoff, plus the timeout) while applying what the
/// other instances publish as they come back, and only then answers checks again. The wait
/// is what keeps an instance that reconnected first from accepting a session another
/// instance revoked during the outage (the first synchronization after start has none). In allowlist mode, a session record not yet cached is looked up
/// once (`ZSCORE`) and cached; the cache is dropped with the subscription.
///
/// **While Redis is unreachable, or the copy is being re-read, every check fails closed**
/// with [`Unavailable::RevocationStore`](crate::Unavailable::RevocationStore) (HTTP 503): no
/// session revoked before or during the outage is accepted, at the price that no session
/// token is accepted on any instance until Redis is back and the copy re-read (product
/// tokens are not affected). A revocation made meanwhile is applied to the local copy,
/// reported as failed (retry it; the product retries webhooks), and spreads to the other
/// instances when this one synchronizes again; minting records nothing and fails with the
/// same error. A Redis restart without persistence loses the
/// records of allowlist mode (users reload the page), never the marks while one instance
/// holds them.
pub struct RedisRevocationStore {
    shared: Arc<Shared>,
    task: tokio::task::AbortHandle,
}

struct Shared {
    client: redis::Client,
    keys: Keys,
    mode: Mode,
    capacity: usize,
    timeout: Duration,
    ping_interval: Duration,
    /// This instance's name in sweep claims.
    instance: String,
    state: RwLock<LocalState>,
    /// The local copy is complete: subscribed, and every mark read after subscribing.
    synced: AtomicBool,
    synced_tx: watch::Sender<bool>,
    /// The command connection, while the subscription is up.
    commands: Mutex<Option<MultiplexedConnection>>,
}

struct Keys {
    marks: String,
    live: String,
    holders: String,
    sweep: String,
    channel: String,
}

/// The sweep claim: taken when free or already ours, then (re)set with its lease.
const CLAIM_SCRIPT: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0";

impl RedisRevocationStore {
    /// Starts the store: a background task connects, subscribes and reads every mark, and
    /// keeps doing so after any disconnection. Waits for the first synchronization up to the
    /// configured timeout; if Redis is not reachable by then, the store is returned all the
    /// same and fails closed until it is ([`is_synced`](Self::is_synced)).
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidStoreUrl`] for a URL the `redis` crate cannot use;
    /// [`ConfigError::NoTokioRuntime`] when not called within a tokio runtime.
    pub async fn connect(config: RedisConfig) -> Result<Self, Error> {
        let client =
            redis::Client::open(config.url.as_str()).map_err(|_| ConfigError::InvalidStoreUrl)?;
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| ConfigError::NoTokioRuntime)?;
        let mut id = [0u8; 12];
        getrandom::fill(&mut id).map_err(|_| Unavailable::Randomness)?;
        let mut instance = Vec::new();
        crate::jws::encode_into(&id, &mut instance);
        let p = &config.prefix;
        let (synced_tx, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            client,
            keys: Keys {
                marks: format!("{p}marks"),
                live: format!("{p}live"),
                holders: format!("{p}holders"),
                sweep: format!("{p}sweep:"),
                channel: format!("{p}revocations"),
            },
            mode: config.mode,
            capacity: config.capacity,
            timeout: config.timeout,
            ping_interval: config.ping_interval,
            instance: String::from_utf8(instance).unwrap_or_default(),
            state: RwLock::new(LocalState::default()),
            synced: AtomicBool::new(false),
            synced_tx,
            commands: Mutex::new(None),
        });
        let task = runtime.spawn(maintain(Arc::clone(&shared))).abort_handle();
        let store = Self { shared, task };
        store.wait_synced(config.timeout).await;
        Ok(store)
    }

    /// Whether the local copy is complete, so checks are answered.
    #[must_use]
    pub fn is_synced(&self) -> bool {
        self.shared.synced.load(Ordering::Acquire)
    }

    /// Waits up to `timeout` for the local copy to be complete; whether it is.
    pub async fn wait_synced(&self, timeout: Duration) -> bool {
        let mut rx = self.shared.synced_tx.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|synced| *synced))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// The mode.
    #[must_use]
    pub fn mode(&self) -> Mode {
        self.shared.mode
    }
}

impl Drop for RedisRevocationStore {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl fmt::Debug for RedisRevocationStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRevocationStore")
            .field("channel", &self.shared.keys.channel)
            .field("mode", &self.shared.mode)
            .field("synced", &self.is_synced())
            .finish_non_exhaustive()
    }
}

fn unavailable() -> Error {
    Unavailable::RevocationStore.into()
}

impl Shared {
    fn read(&self) -> RwLockReadGuard<'_, LocalState> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, LocalState> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn set_synced(&self, synced: bool) {
        self.synced.store(synced, Ordering::Release);
        self.synced_tx.send_replace(synced);
    }

    /// The command connection, or the store is unavailable (being re-synchronized).
    fn connection(&self) -> Result<MultiplexedConnection, Error> {
        if !self.synced.load(Ordering::Acquire) {
            return Err(unavailable());
        }
        self.commands
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(unavailable)
    }

    /// A failed command: logged; the connection is left to the maintenance task, which
    /// notices a dead server through its subscription.
    fn failed(&self, what: &'static str, error: &redis::RedisError) -> Error {
        tracing::warn!(
            target: "atlassian_connect_jwt::session",
            channel = %self.keys.channel,
            error = %error,
            "redis revocation store: {what} failed",
        );
        unavailable()
    }
}

impl RevocationStore for RedisRevocationStore {
    fn issue<'a>(&'a self, session: &'a SessionClaims) -> SessionFuture<'a, ()> {
        let shared = &self.shared;
        Box::pin(async move {
            let mut conn = shared.connection()?;
            let now = UnixTime::now().as_secs();
            let exp = session.expires_at().as_secs();
            let mut pipe = redis::pipe();
            pipe.atomic();
            pipe.cmd("ZADD")
                .arg(&shared.keys.holders)
                .arg("GT")
                .arg(exp)
                .arg(pair(session.client_key(), session.account_id()))
                .ignore();
            pipe.cmd("ZREMRANGEBYSCORE")
                .arg(&shared.keys.holders)
                .arg("-inf")
                .arg(format!("({now}"))
                .ignore();
            if shared.mode == Mode::Allowlist {
                pipe.cmd("ZADD")
                    .arg(&shared.keys.live)
                    .arg(exp)
                    .arg(pair(session.client_key(), session.id()))
                    .ignore();
                pipe.cmd("ZREMRANGEBYSCORE")
                    .arg(&shared.keys.live)
                    .arg("-inf")
                    .arg(format!("({}", now.saturating_sub(crate::MAX_LEEWAY)))
                    .ignore();
            }
            pipe.query_async::<()>(&mut conn)
                .await
                .map_err(|e| shared.failed("recording a session", &e))?;
            if shared.mode == Mode::Allowlist {
                shared.write().cache_record(session, shared.capacity, now);
            }
            Ok(())
        })
    }

    fn check<'a>(&'a self, session: &'a SessionClaims) -> Check<'a> {
        let shared = &self.shared;
        if !shared.synced.load(Ordering::Acquire) {
            return Check::ready(Err(unavailable()));
        }
        match shared.read().check(session, shared.mode) {
            Lookup::Valid => return Check::ready(Ok(())),
            Lookup::Revoked => return Check::ready(Err(Error::SessionRevoked)),
            Lookup::NotRecorded => {}
        }
        Check::pending(Box::pin(async move {
            let mut conn = shared.connection()?;
            let score: Option<f64> = redis::cmd("ZSCORE")
                .arg(&shared.keys.live)
                .arg(pair(session.client_key(), session.id()))
                .query_async(&mut conn)
                .await
                .map_err(|e| shared.failed("looking a session up", &e))?;
            if score.is_none() {
                return Err(Error::SessionRevoked);
            }
            // Re-checked: a mark may have arrived while the record was looked up.
            let mut state = shared.write();
            state.cache_record(session, shared.capacity, UnixTime::now().as_secs());
            match state.check(session, shared.mode) {
                Lookup::Valid => Ok(()),
                Lookup::Revoked | Lookup::NotRecorded => Err(Error::SessionRevoked),
            }
        }))
    }

    fn revoke<'a>(&'a self, mark: &'a RevocationMark) -> SessionFuture<'a, ()> {
        let shared = &self.shared;
        Box::pin(async move {
            // This instance refuses the sessions at once, whatever Redis says.
            shared.write().apply(mark, UnixTime::now().as_secs());
            let mut conn = shared.connection()?;
            let member = mark_member(mark);
            let mut pipe = redis::pipe();
            pipe.atomic();
            pipe.cmd("ZADD")
                .arg(&shared.keys.marks)
                .arg(mark.keep_until)
                .arg(&member)
                .ignore();
            pipe.cmd("ZREMRANGEBYSCORE")
                .arg(&shared.keys.marks)
                .arg("-inf")
                .arg(format!("({}", UnixTime::now().as_secs()))
                .ignore();
            if let (Mode::Allowlist, Revocation::Token { client_key, id }) =
                (shared.mode, &mark.revocation)
            {
                pipe.cmd("ZREM")
                    .arg(&shared.keys.live)
                    .arg(pair(client_key, id))
                    .ignore();
            }
            pipe.cmd("PUBLISH")
                .arg(&shared.keys.channel)
                .arg(format!("{} {member}", mark.keep_until))
                .ignore();
            pipe.query_async::<()>(&mut conn)
                .await
                .map_err(|e| shared.failed("recording a revocation", &e))
        })
    }

    fn holders(&self, now: UnixTime) -> SessionFuture<'_, Vec<TenantHolders>> {
        let shared = &self.shared;
        Box::pin(async move {
            let mut conn = shared.connection()?;
            let now = now.as_secs();
            let members: Vec<(String, u64)> = redis::cmd("ZRANGEBYSCORE")
                .arg(&shared.keys.holders)
                .arg(format!("({now}"))
                .arg("+inf")
                .arg("WITHSCORES")
                .query_async(&mut conn)
                .await
                .map_err(|e| shared.failed("listing session holders", &e))?;
            let state = shared.read();
            let mut out: Vec<TenantHolders> = Vec::new();
            for (member, exp) in members {
                let Some((client_key, account_id)) = parse_pair(&member) else {
                    continue;
                };
                // The latest session's `iat` is before its `exp`: a mark covering `exp`
                // covers it (a mark between the two is asked about again, harmlessly).
                if state.user_covered(&client_key, &account_id, exp) {
                    continue;
                }
                match out.iter_mut().find(|t| t.client_key == client_key) {
                    Some(tenant) => tenant.account_ids.push(account_id),
                    None => out.push(TenantHolders {
                        client_key,
                        account_ids: vec![account_id],
                    }),
                }
            }
            Ok(out)
        })
    }

    fn claim_sweep<'a>(
        &'a self,
        client_key: &'a str,
        interval: Duration,
    ) -> SessionFuture<'a, bool> {
        let shared = &self.shared;
        Box::pin(async move {
            let mut conn = shared.connection()?;
            let lease =
                u64::try_from(interval.as_millis().saturating_mul(3) / 2).unwrap_or(u64::MAX);
            let claimed: i64 = redis::Script::new(CLAIM_SCRIPT)
                .key(format!("{}{client_key}", shared.keys.sweep))
                .arg(&shared.instance)
                .arg(lease)
                .invoke_async(&mut conn)
                .await
                .map_err(|e| shared.failed("claiming a sweep", &e))?;
            Ok(claimed == 1)
        })
    }
}

/// `["a","b"]`: two strings, unambiguously.
fn pair(a: &str, b: &str) -> String {
    serde_json::to_string(&(a, b)).unwrap_or_default()
}

fn parse_pair(member: &str) -> Option<(String, String)> {
    serde_json::from_str(member).ok()
}

/// A mark as a sorted-set member and message: `["u",through,"clientKey","accountId"]`.
fn mark_member(mark: &RevocationMark) -> String {
    let through = mark.covers_issued_through;
    let json = match &mark.revocation {
        Revocation::Tenant { client_key } => serde_json::to_string(&("t", through, client_key)),
        Revocation::User {
            client_key,
            account_id,
        } => serde_json::to_string(&("u", through, client_key, account_id)),
        Revocation::Token { client_key, id } => {
            serde_json::to_string(&("k", through, client_key, id))
        }
    };
    json.unwrap_or_default()
}

/// Reads a mark back from its member and `keep_until`.
fn parse_mark(member: &str, keep_until: u64) -> Option<RevocationMark> {
    let (kind, through, client_key, rest): (String, u64, String, Option<String>) =
        serde_json::from_str::<serde_json::Value>(member)
            .ok()
            .and_then(|v| match v.as_array()?.as_slice() {
                [kind, through, client_key] => Some((
                    kind.as_str()?.to_owned(),
                    through.as_u64()?,
                    client_key.as_str()?.to_owned(),
                    None,
                )),
                [kind, through, client_key, rest] => Some((
                    kind.as_str()?.to_owned(),
                    through.as_u64()?,
                    client_key.as_str()?.to_owned(),
                    Some(rest.as_str()?.to_owned()),
                )),
                _ => None,
            })?;
    let revocation = match (kind.as_str(), rest) {
        ("t", None) => Revocation::Tenant { client_key },
        ("u", Some(account_id)) => Revocation::User {
            client_key,
            account_id,
        },
        ("k", Some(id)) => Revocation::Token { client_key, id },
        _ => return None,
    };
    Some(RevocationMark {
        revocation,
        covers_issued_through: through,
        keep_until,
    })
}

/// Reads a message `"<keep_until> <member>"`.
fn parse_message(payload: &str) -> Option<RevocationMark> {
    let (keep_until, member) = payload.split_once(' ')?;
    parse_mark(member, keep_until.parse().ok()?)
}

/// The longest wait between two attempts to reach Redis.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// The maintenance task: (re)synchronize, then follow the channel until it drops; forever.
async fn maintain(shared: Arc<Shared>) {
    let mut backoff = Duration::from_millis(50);
    // The first synchronization has no outage to settle.
    let mut settle = Duration::ZERO;
    loop {
        let outcome = follow(&shared, settle).await;
        settle = MAX_BACKOFF + shared.timeout;
        shared.set_synced(false);
        *shared
            .commands
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
        shared.write().flush_records();
        match outcome {
            // It had been synchronized: retry at once, then back off.
            Ok(()) => backoff = Duration::from_millis(50),
            Err(error) => {
                tracing::warn!(
                    target: "atlassian_connect_jwt::session",
                    channel = %shared.keys.channel,
                    error = %error,
                    "redis revocation store: not synchronized; session checks fail closed",
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Why a synchronization ended.
#[derive(Debug)]
enum Dropped {
    Redis(redis::RedisError),
    Timeout,
    BadMessage,
    Closed,
}

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Redis(error) => write!(f, "{error}"),
            Self::Timeout => f.write_str("timed out"),
            Self::BadMessage => f.write_str("unreadable revocation message"),
            Self::Closed => f.write_str("subscription closed"),
        }
    }
}

impl From<redis::RedisError> for Dropped {
    fn from(error: redis::RedisError) -> Self {
        Self::Redis(error)
    }
}

async fn within<T>(
    timeout: Duration,
    future: impl core::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, Dropped> {
    match tokio::time::timeout(timeout, future).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(Dropped::Timeout),
    }
}

/// One synchronization: subscribe, write this instance's marks back, read all marks, wait
/// `settle` while applying messages, mark the copy complete, then apply each message until
/// the subscription drops. `Ok` once it had been complete, `Err` if it never got there.
async fn follow(shared: &Shared, settle: Duration) -> Result<(), Dropped> {
    use futures_util::StreamExt as _;

    let timeout = shared.timeout;
    let pubsub = within(timeout, shared.client.get_async_pubsub()).await?;
    let (mut sink, mut messages) = pubsub.split();
    within(timeout, sink.subscribe(&shared.keys.channel)).await?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    let mut conn = within(
        timeout,
        shared
            .client
            .get_multiplexed_async_connection_with_config(&config),
    )
    .await?;

    // Subscribed first, so no mark published from here on is missed; then this instance's
    // marks go back (a server that restarted empty regains them) and all marks are read.
    let now = UnixTime::now().as_secs();
    let ours = shared.read().marks(now);
    let mut pipe = redis::pipe();
    pipe.atomic();
    for mark in &ours {
        let member = mark_member(mark);
        pipe.cmd("ZADD")
            .arg(&shared.keys.marks)
            .arg(mark.keep_until)
            .arg(&member)
            .ignore();
        // Instances already synchronized learn it too (a revocation made here while Redis
        // was unreachable, or marks a restarted server lost).
        pipe.cmd("PUBLISH")
            .arg(&shared.keys.channel)
            .arg(format!("{} {member}", mark.keep_until))
            .ignore();
    }
    pipe.cmd("ZREMRANGEBYSCORE")
        .arg(&shared.keys.marks)
        .arg("-inf")
        .arg(format!("({now}"))
        .ignore();
    within(timeout, pipe.query_async::<()>(&mut conn)).await?;
    let all: Vec<(String, u64)> = within(
        timeout,
        redis::cmd("ZRANGEBYSCORE")
            .arg(&shared.keys.marks)
            .arg(now)
            .arg("+inf")
            .arg("WITHSCORES")
            .query_async(&mut conn),
    )
    .await?;
    {
        let mut state = shared.write();
        for (member, keep_until) in &all {
            match parse_mark(member, *keep_until) {
                Some(mark) => state.apply(&mark, now),
                None => return Err(Dropped::BadMessage),
            }
        }
    }
    *shared
        .commands
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = Some(conn);

    // After an outage, the other instances reconnect within one backoff (plus a connection
    // timeout) of this one and write back the revocations they made meanwhile: the copy is
    // complete only once they had the chance. Marks arriving meanwhile are applied first.
    let settle = tokio::time::sleep(settle);
    tokio::pin!(settle);
    let mut settled = false;
    let mut ping = tokio::time::interval(shared.ping_interval);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            message = messages.next() => {
                let Some(message) = message else {
                    tracing::warn!(
                        target: "atlassian_connect_jwt::session",
                        channel = %shared.keys.channel,
                        "redis revocation store: subscription closed; session checks fail closed",
                    );
                    return if settled { Ok(()) } else { Err(Dropped::Closed) };
                };
                let mark = message
                    .get_payload::<String>()
                    .ok()
                    .and_then(|payload| parse_message(&payload));
                match mark {
                    Some(mark) => shared.write().apply(&mark, UnixTime::now().as_secs()),
                    // A mark that cannot be read may be a revocation: start over.
                    None if settled => return Ok(()),
                    None => return Err(Dropped::BadMessage),
                }
            }
            () = &mut settle, if !settled => {
                settled = true;
                shared.set_synced(true);
            }
            _ = ping.tick() => {
                if let Err(error) = within(timeout, sink.ping::<redis::Value>()).await {
                    return if settled { Ok(()) } else { Err(error) };
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn marks_round_trip_through_their_member() {
        for revocation in [
            Revocation::Tenant {
                client_key: "jira:\"x\" y".into(),
            },
            Revocation::User {
                client_key: "c".into(),
                account_id: "557058:a b".into(),
            },
            Revocation::Token {
                client_key: "c".into(),
                id: "AAAAAAAAAAAAAAAAAAAAAA".into(),
            },
        ] {
            let mark = RevocationMark {
                revocation,
                covers_issued_through: 17,
                keep_until: 99,
            };
            let member = mark_member(&mark);
            assert_eq!(parse_mark(&member, 99), Some(mark.clone()));
            assert_eq!(parse_message(&format!("99 {member}")), Some(mark));
        }
        for bad in [
            r#"["t",1]"#,
            r#"["u",1,"c"]"#,
            r#"["t",1,"c","x"]"#,
            r#"["x",1,"c","d"]"#,
            r#"["k",-1,"c","d"]"#,
            r#"["k",1,2,"d"]"#,
            "not json",
        ] {
            assert_eq!(parse_mark(bad, 1), None, "{bad}");
        }
        assert_eq!(parse_message(r#"x ["t",1,"c"]"#), None);
    }
}
