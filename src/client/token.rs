//! Users' access tokens: cached per (tenant, user, scopes) until shortly before they expire,
//! one exchange at a time for each, however many callers wait for it.

use core::fmt;
use core::future::Future;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use super::error::ClientError;

/// Longest account id accepted, in bytes (Atlassian account ids are at most 128 characters).
const MAX_ACCOUNT_ID_LEN: usize = 128;

/// Longest scope name accepted.
const MAX_SCOPE_LEN: usize = 64;

/// An OAuth 2.0 access token: `Debug` shows its length only, the memory is wiped when the
/// last copy is dropped.
#[derive(Clone)]
pub(crate) struct AccessToken(Arc<Zeroizing<String>>);

impl AccessToken {
    pub(crate) fn new(token: String) -> Self {
        Self(Arc::new(Zeroizing::new(token)))
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    fn same(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccessToken(<{} bytes>)", self.0.len())
    }
}

/// Scopes as the authorization server receives them: upper-cased, sorted, without
/// duplicates, separated by spaces (`"ACT_AS_USER READ"`).
///
/// Connect scope names are `[A-Z_]`; lower case is accepted and upper-cased (as
/// `atlassian-connect-express` does), so `["write", "READ"]` and `["READ", "WRITE"]` share a
/// cached token.
pub(crate) fn normalize_scopes(scopes: &[&str]) -> Result<String, ClientError> {
    let valid = |scope: &&str| {
        !scope.is_empty()
            && scope.len() <= MAX_SCOPE_LEN
            && scope.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_')
    };
    if scopes.is_empty() || !scopes.iter().all(valid) {
        return Err(ClientError::InvalidScope);
    }
    let mut upper: Vec<String> = scopes.iter().map(|s| s.to_ascii_uppercase()).collect();
    upper.sort_unstable();
    upper.dedup();
    Ok(upper.join(" "))
}

/// Checks an account id: 1 to 128 bytes, no control characters.
pub(crate) fn check_account_id(account_id: &str) -> Result<(), ClientError> {
    let ok = !account_id.is_empty()
        && account_id.len() <= MAX_ACCOUNT_ID_LEN
        && !account_id.chars().any(char::is_control);
    if ok {
        Ok(())
    } else {
        Err(ClientError::InvalidAccountId)
    }
}

/// Whose token: a tenant's user, for a set of scopes.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub(crate) struct TokenKey {
    pub(crate) client_key: Arc<str>,
    pub(crate) account_id: Box<str>,
    /// Normalized by [`normalize_scopes`].
    pub(crate) scopes: Box<str>,
}

/// A fresh token from the authorization server, and how long it lives (`expires_in`).
#[derive(Debug)]
pub(crate) struct Exchanged {
    pub(crate) token: AccessToken,
    pub(crate) expires_in: Duration,
}

/// The cache.
///
/// A std mutex guards the map (held for map operations only); each entry has an async mutex
/// held across its exchange, so the callers who want that token wait for the one exchange
/// instead of starting their own. The map never holds more than `capacity` entries: when it
/// is full, entries nobody is using go, expired ones first, then the least recently used (an
/// eighth of the capacity at a time, so a full cache does not scan on every new user); when
/// every entry is in use, a caller exchanges without caching.
pub(crate) struct TokenCache {
    entries: Mutex<HashMap<TokenKey, Arc<Entry>>>,
    capacity: usize,
    refresh_margin: Duration,
    clock: AtomicU64,
}

struct Entry {
    state: tokio::sync::Mutex<State>,
    /// Exchanges finished (successful or not); read before waiting, to tell whether a failure
    /// found after the wait is the one waited for.
    finished: AtomicU64,
    /// Value of the cache's clock at the last use, for choosing what to evict.
    last_used: AtomicU64,
}

#[derive(Default)]
struct State {
    token: Option<Cached>,
    /// The last exchange's failure, numbered by `finished`.
    failure: Option<(u64, ClientError)>,
}

struct Cached {
    token: AccessToken,
    /// When the token stops being handed out: `expires_in` minus the margin after the
    /// exchange started.
    refresh_at: Instant,
}

impl Entry {
    fn new(now: u64) -> Self {
        Self {
            state: tokio::sync::Mutex::new(State::default()),
            finished: AtomicU64::new(0),
            last_used: AtomicU64::new(now),
        }
    }

    /// Whether nobody but the map holds the entry (no caller is using or waiting for it).
    fn is_idle(self: &Arc<Self>) -> bool {
        Arc::strong_count(self) == 1
    }

    fn is_expired(&self, now: Instant) -> bool {
        match self.state.try_lock() {
            Ok(state) => state.token.as_ref().is_none_or(|t| now >= t.refresh_at),
            Err(_) => false,
        }
    }
}

impl TokenCache {
    pub(crate) fn new(capacity: usize, refresh_margin: Duration) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity,
            refresh_margin,
            clock: AtomicU64::new(0),
        }
    }

    /// Entries held (with or without a token).
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// No code that can panic runs under the lock, so a poisoned lock is used as it is.
    fn lock(&self) -> MutexGuard<'_, HashMap<TokenKey, Arc<Entry>>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The token for `key`: the cached one while it is fresh, else the result of one
    /// `exchange`, shared with every caller that waited for it. A failure is handed to those
    /// waiting callers only; the next caller exchanges again.
    pub(crate) async fn get<F, Fut>(
        &self,
        key: &TokenKey,
        exchange: F,
    ) -> Result<AccessToken, ClientError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Exchanged, ClientError>>,
    {
        let entry = self.entry(key);
        let arrived = entry.finished.load(Ordering::Acquire);
        let mut state = entry.state.lock().await;
        if let Some(cached) = &state.token {
            if Instant::now() < cached.refresh_at {
                return Ok(cached.token.clone());
            }
        }
        if let Some((number, failure)) = &state.failure {
            if *number > arrived {
                return Err(failure.clone());
            }
        }
        let started = Instant::now();
        tracing::debug!(target: "atlassian_connect_jwt::client", scopes = %key.scopes, "exchanging a user assertion for an access token");
        let result = exchange().await;
        let number = entry.finished.load(Ordering::Relaxed) + 1;
        let answer = match result {
            Ok(exchanged) => {
                let lifetime = exchanged.expires_in.saturating_sub(self.refresh_margin);
                state.token = started.checked_add(lifetime).map(|refresh_at| Cached {
                    token: exchanged.token.clone(),
                    refresh_at,
                });
                state.failure = None;
                Ok(exchanged.token)
            }
            Err(error) => {
                state.token = None;
                state.failure = Some((number, error.clone()));
                Err(error)
            }
        };
        entry.finished.store(number, Ordering::Release);
        answer
    }

    /// Forgets `token` if it is still the one cached for `key` (the product refused it).
    pub(crate) async fn forget(&self, key: &TokenKey, token: &AccessToken) {
        let Some(entry) = self.lock().get(key).cloned() else {
            return;
        };
        let mut state = entry.state.lock().await;
        if state.token.as_ref().is_some_and(|c| c.token.same(token)) {
            state.token = None;
        }
    }

    /// The entry of `key`, created if missing (and kept if there is room).
    fn entry(&self, key: &TokenKey) -> Arc<Entry> {
        let tick = self.clock.fetch_add(1, Ordering::Relaxed);
        let mut entries = self.lock();
        if let Some(entry) = entries.get(key) {
            entry.last_used.store(tick, Ordering::Relaxed);
            return Arc::clone(entry);
        }
        let entry = Arc::new(Entry::new(tick));
        if make_room(&mut entries, self.capacity) {
            entries.insert(key.clone(), Arc::clone(&entry));
        }
        entry
    }
}

/// Makes room for one more entry; `false` when every entry is in use.
fn make_room(entries: &mut HashMap<TokenKey, Arc<Entry>>, capacity: usize) -> bool {
    if entries.len() < capacity {
        return true;
    }
    let now = Instant::now();
    entries.retain(|_, entry| !(entry.is_idle() && entry.is_expired(now)));
    if entries.len() < capacity {
        return true;
    }
    let mut idle: Vec<(u64, TokenKey)> = entries
        .iter()
        .filter(|(_, entry)| entry.is_idle())
        .map(|(key, entry)| (entry.last_used.load(Ordering::Relaxed), key.clone()))
        .collect();
    idle.sort_unstable_by_key(|(last_used, _)| *last_used);
    let evict = (capacity / 8).max(1).min(idle.len());
    for (_, key) in idle.into_iter().take(evict) {
        entries.remove(&key);
    }
    entries.len() < capacity
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("len", &self.len())
            .field("capacity", &self.capacity)
            .field("refresh_margin", &self.refresh_margin)
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn key(account: &str) -> TokenKey {
        TokenKey {
            client_key: "tenant".into(),
            account_id: account.into(),
            scopes: "READ".into(),
        }
    }

    fn fresh(token: &str, secs: u64) -> Result<Exchanged, ClientError> {
        Ok(Exchanged {
            token: AccessToken::new(token.to_owned()),
            expires_in: Duration::from_secs(secs),
        })
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    }

    #[test]
    fn scopes_are_normalized_and_checked() {
        assert_eq!(
            normalize_scopes(&["write", "READ", "read"]).unwrap(),
            "READ WRITE"
        );
        assert_eq!(
            normalize_scopes(&["ACT_AS_USER", "READ"]).unwrap(),
            "ACT_AS_USER READ"
        );
        for bad in [
            &[][..],
            &[""][..],
            &["READ WRITE"][..],
            &["READ", "x-y"][..],
            &["é"][..],
            &["READ\n"][..],
        ] {
            assert_eq!(
                normalize_scopes(bad).unwrap_err(),
                ClientError::InvalidScope,
                "{bad:?}"
            );
        }
        assert_eq!(
            normalize_scopes(&[&"A".repeat(65)]).unwrap_err(),
            ClientError::InvalidScope
        );
        assert!(normalize_scopes(&[&"A".repeat(64)]).is_ok());
    }

    #[test]
    fn account_ids_are_checked() {
        assert_eq!(check_account_id("557058:f0e1d2c3"), Ok(()));
        assert_eq!(check_account_id(&"a".repeat(128)), Ok(()));
        for bad in ["", "a\nb", "\u{7f}"] {
            assert_eq!(
                check_account_id(bad),
                Err(ClientError::InvalidAccountId),
                "{bad:?}"
            );
        }
        assert_eq!(
            check_account_id(&"a".repeat(129)),
            Err(ClientError::InvalidAccountId)
        );
    }

    #[test]
    fn a_fresh_token_is_reused_and_an_expired_one_replaced() {
        let cache = TokenCache::new(8, Duration::from_secs(60));
        let exchanges = AtomicUsize::new(0);
        let count = || {
            exchanges.fetch_add(1, Ordering::SeqCst);
        };
        runtime().block_on(async {
            let a = cache
                .get(&key("u"), || async {
                    count();
                    fresh("t1", 3600)
                })
                .await
                .unwrap();
            let b = cache
                .get(&key("u"), || async {
                    count();
                    fresh("t2", 3600)
                })
                .await
                .unwrap();
            assert_eq!((a.expose(), b.expose()), ("t1", "t1"));
            // A lifetime within the margin is used once and not handed out again.
            let c = cache
                .get(&key("v"), || async {
                    count();
                    fresh("t3", 60)
                })
                .await
                .unwrap();
            let d = cache
                .get(&key("v"), || async {
                    count();
                    fresh("t4", 60)
                })
                .await
                .unwrap();
            assert_eq!((c.expose(), d.expose()), ("t3", "t4"));
            // A forgotten token is exchanged again; forgetting another token changes nothing.
            cache.forget(&key("v"), &c).await;
            cache.forget(&key("v"), &d).await;
            let e = cache
                .get(&key("v"), || async {
                    count();
                    fresh("t5", 3600)
                })
                .await
                .unwrap();
            assert_eq!(e.expose(), "t5");
            cache.forget(&key("v"), &d).await;
            let f = cache
                .get(&key("v"), || async { fresh("never", 3600) })
                .await
                .unwrap();
            assert_eq!(f.expose(), "t5");
        });
        assert_eq!(exchanges.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn a_failure_is_not_cached_for_later_callers() {
        let cache = TokenCache::new(8, Duration::from_secs(60));
        runtime().block_on(async {
            let failed = cache
                .get(&key("u"), || async { Err(ClientError::Timeout) })
                .await;
            assert_eq!(failed.unwrap_err(), ClientError::Timeout);
            let next = cache
                .get(&key("u"), || async { fresh("t", 3600) })
                .await
                .unwrap();
            assert_eq!(next.expose(), "t");
        });
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let cache = TokenCache::new(16, Duration::from_secs(60));
        runtime().block_on(async {
            for n in 0..100 {
                let account = format!("user-{n}");
                cache
                    .get(&key(&account), || async { fresh("t", 3600) })
                    .await
                    .unwrap();
                assert!(cache.len() <= 16);
            }
            // The most recently used users are still cached.
            let kept = cache
                .get(&key("user-99"), || async { fresh("new", 3600) })
                .await
                .unwrap();
            assert_eq!(kept.expose(), "t");
            let evicted = cache
                .get(&key("user-0"), || async { fresh("new", 3600) })
                .await
                .unwrap();
            assert_eq!(evicted.expose(), "new");
        });
        // With no room at all, tokens are exchanged and not kept.
        let none = TokenCache::new(0, Duration::from_secs(60));
        runtime().block_on(async {
            none.get(&key("u"), || async { fresh("t", 3600) })
                .await
                .unwrap();
        });
        assert_eq!(none.len(), 0);
    }

    #[test]
    fn expired_entries_go_before_recent_ones() {
        let cache = TokenCache::new(2, Duration::from_secs(60));
        runtime().block_on(async {
            cache
                .get(&key("a"), || async { fresh("a", 3600) })
                .await
                .unwrap();
            cache
                .get(&key("b"), || async { fresh("b", 1) })
                .await
                .unwrap();
            cache
                .get(&key("c"), || async { fresh("c", 3600) })
                .await
                .unwrap();
            // "b" had expired: it went, although "a" was used less recently.
            let a = cache
                .get(&key("a"), || async { fresh("new", 3600) })
                .await
                .unwrap();
            assert_eq!(a.expose(), "a");
        });
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn debug_shows_no_token() {
        let token = AccessToken::new("eyJsecret".to_owned());
        assert_eq!(format!("{token:?}"), "AccessToken(<9 bytes>)");
    }
}
