//! A bounded, time-limited cache in front of any key source. However many requests want one
//! key id at the same moment, the source is asked once; failures are kept only briefly.

use core::fmt;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::key::InstallKey;
use super::key_id::KeyId;
use super::source::InstallKeySource;
use crate::error::{Error, Unavailable};
use crate::flight::{self, Flight};

/// Key ids kept by default.
const DEFAULT_CAPACITY: usize = 64;

/// Fetches under way at once, by default: Atlassian has one or two live key ids at a time,
/// so more than a few concurrent fetches means tokens with made-up key ids.
const DEFAULT_MAX_FETCHES: usize = 4;

/// How long a found key is kept by default: Atlassian never changes the key behind a `kid`
/// (it rotates by publishing a new `kid`), so the limit only bounds how long a withdrawn key
/// stays usable.
const DEFAULT_TTL: Duration = Duration::from_secs(60 * 60);

/// How long a failure is kept by default: long enough that a burst of tokens naming one
/// unknown or unreachable key causes one fetch, short enough that a key server outage ends
/// for the app soon after it ends for Atlassian.
const DEFAULT_FAILURE_TTL: Duration = Duration::from_secs(5);

/// Caches the answers of an [`InstallKeySource`] by key id.
///
/// - **Bounded**: at most `capacity` key ids (64 by default) are kept; when full, an expired
///   entry goes first, then a failure, then the key closest to expiry.
/// - **Time-limited**: a key is kept for the TTL (1 hour by default), a failure
///   ([`Error::UnknownKeyId`], [`Unavailable::Key`](crate::Unavailable::Key), an unusable key) for the failure TTL
///   (5 seconds by default).
/// - **Coalescing**: while the source is being asked for a key id, every other request for
///   it waits for that answer instead of asking again. If the asking request is cancelled
///   (its future dropped), one of the waiting requests asks instead.
/// - **Bounded fetching**: at most `max_fetches` key ids (4 by default) are fetched at once.
///   A request that would start one more fails at once with
///   [`Unavailable::Key`](crate::Unavailable::Key) (`too many key fetches at once`), which is
///   not cached: a flood of tokens with made-up key ids costs the key server at most that
///   many requests in flight, and a retry succeeds once they finish.
///
/// It is runtime-agnostic (a `std` mutex held only for map operations, never across an
/// `.await`), and is itself an [`InstallKeySource`]. Share one cache (in an `Arc` or a
/// `static`) between all requests.
///
/// ```
/// use std::collections::HashMap;
/// use std::time::Duration;
/// use atlassian_connect_jwt::{InstallKey, KeyCache};
///
/// let pinned: HashMap<String, InstallKey> = HashMap::new();
/// let keys = KeyCache::new(pinned)
///     .with_capacity(16)
///     .with_ttl(Duration::from_secs(600))
///     .with_failure_ttl(Duration::from_secs(2));
/// assert!(keys.is_empty());
/// ```
pub struct KeyCache<S> {
    source: S,
    capacity: usize,
    max_fetches: usize,
    ttl: Duration,
    failure_ttl: Duration,
    slots: Mutex<Slots>,
}

/// What the cache holds, behind its mutex.
#[derive(Default)]
struct Slots {
    by_kid: HashMap<KeyId, Slot>,
    /// Numbers fetches, so a waiter knows whether the answer it sees is the one it waited for.
    next_fetch: u64,
    /// Fetches under way, cached or not.
    in_flight: usize,
}

enum Slot {
    /// The source is being asked; other tasks wait for the answer.
    Fetching(Flight),
    /// The source's answer; `expires` is `None` for a TTL too long to represent.
    Done {
        fetch: u64,
        answer: Result<InstallKey, Error>,
        expires: Option<Instant>,
    },
}

impl Slot {
    fn is_stale(&self, now: Instant) -> bool {
        matches!(self, Self::Done { expires: Some(expires), .. } if now >= *expires)
    }
}

/// What a request does after looking in the cache.
enum Lookup {
    /// Answer with this.
    Found(Result<InstallKey, Error>),
    /// Ask the source; `Some(fetch)` when the answer is to be stored under that number.
    Fetch(Option<u64>),
    /// Wait for fetch number `fetch` to finish, then look again.
    Wait(u64),
}

impl<S> KeyCache<S> {
    /// A cache in front of `source`: 64 key ids, at most 4 fetched at once, keys kept 1 hour,
    /// failures 5 seconds.
    pub fn new(source: S) -> Self {
        Self {
            source,
            capacity: DEFAULT_CAPACITY,
            max_fetches: DEFAULT_MAX_FETCHES,
            ttl: DEFAULT_TTL,
            failure_ttl: DEFAULT_FAILURE_TTL,
            slots: Mutex::new(Slots::default()),
        }
    }

    /// Keeps at most `capacity` key ids. With `0` nothing is kept and every request asks the
    /// source.
    #[must_use]
    pub fn with_capacity(self, capacity: usize) -> Self {
        Self { capacity, ..self }
    }

    /// Fetches at most `max_fetches` key ids at once (4 by default); with `0` the source is
    /// never asked.
    #[must_use]
    pub fn with_max_fetches(self, max_fetches: usize) -> Self {
        Self {
            max_fetches,
            ..self
        }
    }

    /// Keeps a found key for `ttl`.
    #[must_use]
    pub fn with_ttl(self, ttl: Duration) -> Self {
        Self { ttl, ..self }
    }

    /// Keeps a failure for `failure_ttl`. Requests that were already waiting for the failed
    /// fetch get its answer whatever this is.
    #[must_use]
    pub fn with_failure_ttl(self, failure_ttl: Duration) -> Self {
        Self {
            failure_ttl,
            ..self
        }
    }

    /// The source behind the cache.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// How many key ids the cache holds now (answers, expired or not, and fetches under way).
    pub fn len(&self) -> usize {
        self.lock().by_kid.len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every answer (a key withdrawn early, say); fetches under way finish normally.
    pub fn clear(&self) {
        self.lock()
            .by_kid
            .retain(|_, slot| matches!(slot, Slot::Fetching(_)));
    }

    /// The cache is never left inconsistent while locked (no code that can panic runs under
    /// the lock), so a poisoned lock is used as it is.
    fn lock(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Looks `kid` up. `waited_for` is the fetch this request waited for, whose answer it
    /// takes even if already stale (a zero TTL must not make waiters fetch again).
    fn look_up(&self, kid: &KeyId, waited_for: Option<u64>) -> Lookup {
        let now = Instant::now();
        let mut slots = self.lock();
        match slots.by_kid.get(kid) {
            Some(Slot::Fetching(flight)) => return Lookup::Wait(flight.id()),
            Some(Slot::Done {
                fetch,
                answer,
                expires,
            }) if waited_for == Some(*fetch) || expires.is_none_or(|e| now < e) => {
                return Lookup::Found(answer.clone());
            }
            Some(Slot::Done { .. }) | None => {}
        }
        slots.by_kid.remove(kid);
        if slots.in_flight >= self.max_fetches {
            return Lookup::Found(Err(Unavailable::Key {
                reason: "too many key fetches at once",
            }
            .into()));
        }
        slots.in_flight += 1;
        if !slots.make_room(self.capacity, now) {
            return Lookup::Fetch(None);
        }
        let fetch = slots.next_fetch;
        slots.next_fetch = fetch.wrapping_add(1);
        slots
            .by_kid
            .insert(kid.clone(), Slot::Fetching(Flight::new(fetch)));
        Lookup::Fetch(Some(fetch))
    }
}

impl Slots {
    /// Makes room for one more key id, evicting stale answers, then a failure, then the key
    /// closest to expiry. Fetches under way are never evicted (their waiters need them), so
    /// with every slot fetching there is no room: `false`.
    fn make_room(&mut self, capacity: usize, now: Instant) -> bool {
        if self.by_kid.len() < capacity {
            return true;
        }
        self.by_kid.retain(|_, slot| !slot.is_stale(now));
        if self.by_kid.len() < capacity {
            return true;
        }
        let victim = self
            .by_kid
            .iter()
            .filter_map(|(kid, slot)| match slot {
                Slot::Done {
                    answer, expires, ..
                } => Some(((answer.is_ok(), expires.is_none(), *expires), kid)),
                Slot::Fetching(_) => None,
            })
            .min_by_key(|(rank, _)| *rank)
            .map(|(_, kid)| kid.clone());
        match victim {
            Some(kid) => {
                self.by_kid.remove(&kid);
                self.by_kid.len() < capacity
            }
            None => false,
        }
    }
}

impl<S: InstallKeySource + Sync> InstallKeySource for KeyCache<S> {
    async fn install_key(&self, kid: &KeyId) -> Result<InstallKey, Error> {
        let mut waited_for = None;
        loop {
            match self.look_up(kid, waited_for) {
                Lookup::Found(answer) => return answer,
                Lookup::Fetch(fetch) => {
                    let pending = PendingFetch {
                        cache: self,
                        kid,
                        fetch,
                        released: false,
                    };
                    let answer = self.source.install_key(kid).await;
                    pending.finish(&answer);
                    return answer;
                }
                Lookup::Wait(fetch) => {
                    flight::landed(|waker| match self.lock().by_kid.get_mut(kid) {
                        Some(Slot::Fetching(flight)) if flight.id() == fetch => {
                            flight.wait(waker);
                            true
                        }
                        _ => false,
                    })
                    .await;
                    waited_for = Some(fetch);
                }
            }
        }
    }
}

/// A fetch under way (counted in `in_flight`). Finishing stores the answer and wakes the
/// waiters; dropping it unfinished (the request was cancelled) removes the slot and wakes
/// them, so that one of them fetches instead.
struct PendingFetch<'c, S> {
    cache: &'c KeyCache<S>,
    kid: &'c KeyId,
    /// The slot to fill, `None` for a fetch the cache has no room to keep.
    fetch: Option<u64>,
    released: bool,
}

impl<S> PendingFetch<'_, S> {
    fn finish(mut self, answer: &Result<InstallKey, Error>) {
        let ttl = match answer {
            Ok(_) => self.cache.ttl,
            Err(_) => self.cache.failure_ttl,
        };
        let done = self.fetch.map(|fetch| Slot::Done {
            fetch,
            answer: answer.clone(),
            expires: Instant::now().checked_add(ttl),
        });
        self.release(done);
    }

    /// Ends the fetch: under one lock, stops counting it and replaces its slot (if it is
    /// still there) with `with`; then wakes the slot's waiters.
    fn release(&mut self, with: Option<Slot>) {
        if core::mem::replace(&mut self.released, true) {
            return;
        }
        let landed = {
            let mut slots = self.cache.lock();
            slots.in_flight = slots.in_flight.saturating_sub(1);
            let ours = self.fetch.is_some_and(|fetch| {
                matches!(
                    slots.by_kid.get(self.kid),
                    Some(Slot::Fetching(flight)) if flight.id() == fetch
                )
            });
            let previous = match (ours, with) {
                (false, _) => None,
                (true, Some(slot)) => slots.by_kid.insert(self.kid.clone(), slot),
                (true, None) => slots.by_kid.remove(self.kid),
            };
            match previous {
                Some(Slot::Fetching(flight)) => Some(flight),
                _ => None,
            }
        };
        if let Some(flight) = landed {
            flight.land();
        }
    }
}

impl<S> Drop for PendingFetch<'_, S> {
    fn drop(&mut self) {
        self.release(None);
    }
}

impl<S: fmt::Debug> fmt::Debug for KeyCache<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyCache")
            .field("source", &self.source)
            .field("capacity", &self.capacity)
            .field("max_fetches", &self.max_fetches)
            .field("ttl", &self.ttl)
            .field("failure_ttl", &self.failure_ttl)
            .field("len", &self.len())
            .finish()
    }
}
