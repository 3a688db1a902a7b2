//! A bounded, time-limited cache of Forge key sets, fetched one at a time per location, with
//! a floor on how often an unknown `kid` may make it fetch again: key rotation works, and a
//! flood of tokens with made-up `kid`s costs Forge's CDN a bounded number of requests.

use core::fmt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::jwks::JwkSet;
use super::kid::{ForgeKeyId, IcLabel};
use super::source::{ForgeKeySource, JwksSource};
use crate::error::{Error, Unavailable};
use crate::flight::{self, Flight};
use crate::install::InstallKey;

/// How long a fetched key set is kept at most, by default.
const DEFAULT_TTL: Duration = Duration::from_secs(60 * 60);

/// The shortest time a key set is kept whatever its `Cache-Control` says (unless the TTL
/// itself is shorter): a CDN answering `no-cache` must not turn every token into a fetch.
const MIN_TTL: Duration = Duration::from_secs(60);

/// How long after a fetch of a location an unknown `kid` may make the cache fetch it again,
/// by default.
const DEFAULT_REFETCH_INTERVAL: Duration = Duration::from_secs(30);

/// How long a failed fetch is kept by default.
const DEFAULT_FAILURE_TTL: Duration = Duration::from_secs(5);

/// Key-set locations (the commercial cloud and Isolated Clouds) kept by default.
const DEFAULT_MAX_LOCATIONS: usize = 8;

/// Isolated Cloud locations not in the cache that may be fetched per refetch interval, by
/// default.
const DEFAULT_MAX_NEW_LOCATIONS: usize = 4;

/// Where a key set comes from: the commercial cloud (`None`) or an Isolated Cloud.
type Location = Option<IcLabel>;

/// Caches the key sets of a [`JwksSource`] and answers [`ForgeKeySource`] questions from
/// them.
///
/// - **Time-limited**: a key set is kept for its `Cache-Control: max-age`, no less than 1
///   minute and no more than the TTL (1 hour by default; the TTL alone when the server
///   says nothing). A failed fetch is kept for the failure TTL (5 seconds by default).
/// - **Single flight**: however many requests need a location's key set at once (16
///   concurrent first requests, say), the source is asked once; the others wait for its
///   answer. If the asking request is cancelled, one of the waiting requests asks instead.
/// - **Rotation, bounded**: a token whose `kid` is not in a fresh key set makes the cache
///   fetch that location again only if its last fetch started at least the refetch
///   interval ago (30 seconds by default); otherwise, and if the new set does not have the
///   `kid` either, it is [`Error::UnknownKeyId`]. So a new key Forge starts signing with is
///   found by the first token that names it, and **tokens with made-up `kid`s cause at most
///   one fetch per location per refetch interval**, whatever their number: a burst of 1,000
///   within one interval costs at most one fetch.
/// - **Bounded locations**: at most 8 locations are kept (the commercial cloud's and 7
///   Isolated Clouds'), and at most 4 Isolated Cloud locations the cache does not hold may
///   be fetched per refetch interval; a request beyond that fails at once with
///   [`Unavailable::Key`], uncached. With no Isolated Cloud in use
///   this never happens (labels reach the cache only from tokens whose form, claims, issuer,
///   audience and time have passed).
///
/// Over any span of `T` seconds, a location is fetched at most `T / refetch interval + 1`
/// times because of unknown `kid`s, plus once per TTL or failure TTL that ends.
///
/// It is runtime-agnostic (a `std` mutex held only for map operations, never across an
/// `.await`). Share one cache (in an `Arc` or a `static`) between all requests.
///
/// ```
/// use std::time::Duration;
/// use atlassian_connect_jwt::{JwkSet, JwksCache};
/// # use atlassian_connect_jwt::{Error, IcLabel, JwksSource};
/// # struct Pinned;
/// # impl JwksSource for Pinned {
/// #     async fn fetch_jwks(&self, _: Option<&IcLabel>) -> Result<JwkSet, Error> {
/// #         JwkSet::from_json(r#"{"keys":[]}"#)
/// #     }
/// # }
///
/// // In production: JwksCache::new(HttpJwksSource::new()?) (feature `forge-http`).
/// let keys = JwksCache::new(Pinned)
///     .with_ttl(Duration::from_secs(600))
///     .with_refetch_interval(Duration::from_secs(60));
/// assert!(keys.is_empty());
/// ```
pub struct JwksCache<S> {
    source: S,
    ttl: Duration,
    refetch_interval: Duration,
    failure_ttl: Duration,
    max_locations: usize,
    max_new_locations: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    slots: HashMap<Location, Slot>,
    /// Numbers fetches, so a waiter can tell the answer it waited for.
    next_fetch: u64,
    /// When the current window of new-location fetches began, and how many it has had.
    window: Option<(Instant, usize)>,
}

/// One location.
#[derive(Default)]
struct Slot {
    /// The latest key set fetched.
    set: Option<Held>,
    /// The latest failure, if a fetch failed after that set was fetched.
    failure: Option<Failed>,
    /// When the latest fetch started: the refetch interval counts from here.
    last_fetch: Option<Instant>,
    /// The fetch under way.
    flight: Option<Flight>,
}

struct Held {
    fetch: u64,
    set: Arc<JwkSet>,
    /// `None` for a TTL too long to represent.
    expires: Option<Instant>,
}

struct Failed {
    fetch: u64,
    error: Error,
    until: Option<Instant>,
}

/// Whether an answer that expires at `expires` is still good at `now`.
fn fresh(expires: Option<Instant>, now: Instant) -> bool {
    expires.is_none_or(|expires| now < expires)
}

/// What a request does after looking in the cache.
enum Lookup {
    /// Answer with this.
    Found(Result<InstallKey, Error>),
    /// Fetch the location, as fetch number `fetch`; `previous` is the slot's `last_fetch`
    /// before, restored if the fetch is abandoned.
    Fetch {
        fetch: u64,
        previous: Option<Instant>,
    },
    /// Wait for fetch number `fetch` to land, then look again.
    Wait(u64),
}

impl<S> JwksCache<S> {
    /// A cache in front of `source`: key sets kept 1 hour at most, a refetch for an unknown
    /// `kid` at most every 30 seconds, failures kept 5 seconds, 8 locations.
    pub fn new(source: S) -> Self {
        Self {
            source,
            ttl: DEFAULT_TTL,
            refetch_interval: DEFAULT_REFETCH_INTERVAL,
            failure_ttl: DEFAULT_FAILURE_TTL,
            max_locations: DEFAULT_MAX_LOCATIONS,
            max_new_locations: DEFAULT_MAX_NEW_LOCATIONS,
            state: Mutex::new(State::default()),
        }
    }

    /// Keeps a key set at most `ttl` (and at least the shorter of `ttl` and 1 minute).
    #[must_use]
    pub fn with_ttl(self, ttl: Duration) -> Self {
        Self { ttl, ..self }
    }

    /// Lets an unknown `kid` make the cache fetch a location again only `interval` after its
    /// last fetch started: the bound on fetches that made-up `kid`s can cause.
    #[must_use]
    pub fn with_refetch_interval(self, interval: Duration) -> Self {
        Self {
            refetch_interval: interval,
            ..self
        }
    }

    /// Keeps a failed fetch for `failure_ttl`. Requests that were already waiting for the
    /// failed fetch get its answer whatever this is.
    #[must_use]
    pub fn with_failure_ttl(self, failure_ttl: Duration) -> Self {
        Self {
            failure_ttl,
            ..self
        }
    }

    /// Keeps the key sets of at most `locations` locations (at least 1).
    #[must_use]
    pub fn with_max_locations(self, locations: usize) -> Self {
        Self {
            max_locations: locations.max(1),
            ..self
        }
    }

    /// Fetches at most `locations` Isolated Cloud locations that the cache does not hold per
    /// refetch interval.
    #[must_use]
    pub fn with_max_new_locations(self, locations: usize) -> Self {
        Self {
            max_new_locations: locations,
            ..self
        }
    }

    /// The source behind the cache.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// How many locations the cache holds (with a key set, a failure or a fetch under way).
    pub fn len(&self) -> usize {
        self.lock().slots.len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every key set and failure (a key withdrawn early, say); fetches under way
    /// finish normally. The refetch interval still counts from the latest fetch.
    pub fn clear(&self) {
        for slot in self.lock().slots.values_mut() {
            slot.set = None;
            slot.failure = None;
        }
    }

    /// The state is never left inconsistent while locked (no code that can panic runs under
    /// the lock), so a poisoned lock is used as it is.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn may_refetch(&self, last_fetch: Option<Instant>, now: Instant) -> bool {
        last_fetch.is_none_or(|last| now.saturating_duration_since(last) >= self.refetch_interval)
    }

    /// How long to keep a key set the server lets be kept `max_age`.
    fn ttl_for(&self, max_age: Option<Duration>) -> Duration {
        max_age.map_or(self.ttl, |age| age.clamp(MIN_TTL.min(self.ttl), self.ttl))
    }

    /// Looks `kid` up in `location`. `waited` is the fetch this request waited for: its
    /// answer is taken even if already stale (a zero TTL must not make waiters fetch again).
    fn look_up(&self, location: &Location, kid: &ForgeKeyId, waited: Option<u64>) -> Lookup {
        let now = Instant::now();
        let mut state = self.lock();
        if let Some(slot) = state.slots.get(location) {
            if let Some(flight) = &slot.flight {
                return Lookup::Wait(flight.id());
            }
            if let Some(waited) = waited {
                if let Some(failed) = slot.failure.as_ref().filter(|f| f.fetch == waited) {
                    return Lookup::Found(Err(failed.error.clone()));
                }
                if let Some(held) = slot.set.as_ref().filter(|h| h.fetch == waited) {
                    return Lookup::Found(held.set.key(kid).cloned());
                }
            }
            let failure = slot.failure.as_ref().filter(|f| fresh(f.until, now));
            match slot.set.as_ref().filter(|h| fresh(h.expires, now)) {
                Some(held) => match held.set.key(kid) {
                    Err(Error::UnknownKeyId) if !self.may_refetch(slot.last_fetch, now) => {
                        // A refresh that failed since says more than "unknown".
                        let error = failure.map_or(Error::UnknownKeyId, |f| f.error.clone());
                        return Lookup::Found(Err(error));
                    }
                    Err(Error::UnknownKeyId) => {}
                    answer => return Lookup::Found(answer.cloned()),
                },
                None => {
                    if let Some(failed) = failure {
                        return Lookup::Found(Err(failed.error.clone()));
                    }
                }
            }
        } else if let Err(error) = self.admit(&mut state, location, now) {
            return Lookup::Found(Err(error));
        }
        let fetch = state.next_fetch;
        state.next_fetch = fetch.wrapping_add(1);
        let slot = state.slots.entry(location.clone()).or_default();
        slot.flight = Some(Flight::new(fetch));
        Lookup::Fetch {
            fetch,
            previous: slot.last_fetch.replace(now),
        }
    }

    /// Makes room for a location the cache does not hold, within the budget of new
    /// Isolated Cloud locations.
    fn admit(&self, state: &mut State, location: &Location, now: Instant) -> Result<(), Error> {
        if location.is_some() {
            let (started, count) = match state.window {
                Some((started, count))
                    if now.saturating_duration_since(started) < self.refetch_interval =>
                {
                    (started, count)
                }
                _ => (now, 0),
            };
            if count >= self.max_new_locations {
                return Err(Unavailable::Key {
                    reason: "too many new isolated cloud key sets at once",
                }
                .into());
            }
            state.window = Some((started, count + 1));
        }
        if state.slots.len() < self.max_locations {
            return Ok(());
        }
        // Evict a location without a fetch under way: Isolated Clouds before the commercial
        // cloud, then those without a fresh key set, then the least recently fetched.
        let victim = state
            .slots
            .iter()
            .filter(|(_, slot)| slot.flight.is_none())
            .min_by_key(|(location, slot)| {
                let has_fresh_set = slot.set.as_ref().is_some_and(|h| fresh(h.expires, now));
                (location.is_none(), has_fresh_set, slot.last_fetch)
            })
            .map(|(location, _)| location.clone());
        match victim {
            Some(victim) => {
                state.slots.remove(&victim);
                Ok(())
            }
            None => Err(Unavailable::Key {
                reason: "too many key sets being fetched at once",
            }
            .into()),
        }
    }
}

impl<S: JwksSource + Sync> ForgeKeySource for JwksCache<S> {
    async fn forge_key(
        &self,
        kid: &ForgeKeyId,
        ic_label: Option<&IcLabel>,
    ) -> Result<InstallKey, Error> {
        let location: Location = ic_label.cloned();
        let mut waited = None;
        loop {
            match self.look_up(&location, kid, waited) {
                Lookup::Found(answer) => return answer,
                Lookup::Fetch { fetch, previous } => {
                    let pending = PendingFetch {
                        cache: self,
                        location: &location,
                        fetch,
                        previous,
                        released: false,
                    };
                    let answer = self.source.fetch_jwks(ic_label).await;
                    pending.finish(answer);
                    waited = Some(fetch);
                }
                Lookup::Wait(fetch) => {
                    flight::landed(|waker| {
                        let mut state = self.lock();
                        let flight = state
                            .slots
                            .get_mut(&location)
                            .and_then(|slot| slot.flight.as_mut())
                            .filter(|flight| flight.id() == fetch);
                        match flight {
                            Some(flight) => {
                                flight.wait(waker);
                                true
                            }
                            None => false,
                        }
                    })
                    .await;
                    waited = Some(fetch);
                }
            }
        }
    }
}

/// A fetch under way. Finishing stores its answer and wakes the waiters; dropping it
/// unfinished (the request was cancelled) ends the flight without an answer and restores
/// the refetch clock, so that one of the waiters fetches instead.
struct PendingFetch<'c, S> {
    cache: &'c JwksCache<S>,
    location: &'c Location,
    fetch: u64,
    previous: Option<Instant>,
    released: bool,
}

impl<S> PendingFetch<'_, S> {
    fn finish(mut self, answer: Result<JwkSet, Error>) {
        let now = Instant::now();
        let cache = self.cache;
        let fetch = self.fetch;
        self.release(|slot| match answer {
            Ok(set) => {
                let expires = now.checked_add(cache.ttl_for(set.max_age()));
                slot.set = Some(Held {
                    fetch,
                    set: Arc::new(set),
                    expires,
                });
                slot.failure = None;
            }
            Err(error) => {
                if slot.set.as_ref().is_some_and(|h| !fresh(h.expires, now)) {
                    slot.set = None;
                }
                slot.failure = Some(Failed {
                    fetch,
                    error,
                    until: now.checked_add(cache.failure_ttl),
                });
            }
        });
    }

    /// Ends the flight (if it is still this one): under one lock, updates the slot with
    /// `update`; then wakes the waiters.
    fn release(&mut self, update: impl FnOnce(&mut Slot)) {
        if core::mem::replace(&mut self.released, true) {
            return;
        }
        let landed = {
            let mut state = self.cache.lock();
            let slot = state
                .slots
                .get_mut(self.location)
                .filter(|slot| slot.flight.as_ref().is_some_and(|f| f.id() == self.fetch));
            slot.and_then(|slot| {
                update(slot);
                slot.flight.take()
            })
        };
        if let Some(flight) = landed {
            flight.land();
        }
    }
}

impl<S> Drop for PendingFetch<'_, S> {
    fn drop(&mut self) {
        let previous = self.previous;
        self.release(|slot| slot.last_fetch = previous);
    }
}

impl<S: fmt::Debug> fmt::Debug for JwksCache<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksCache")
            .field("source", &self.source)
            .field("ttl", &self.ttl)
            .field("refetch_interval", &self.refetch_interval)
            .field("failure_ttl", &self.failure_ttl)
            .field("max_locations", &self.max_locations)
            .field("max_new_locations", &self.max_new_locations)
            .field("len", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_honoured_within_bounds() {
        let cache = JwksCache::new(());
        let secs = Duration::from_secs;
        assert_eq!(cache.ttl_for(None), DEFAULT_TTL);
        assert_eq!(cache.ttl_for(Some(secs(600))), secs(600));
        assert_eq!(cache.ttl_for(Some(secs(0))), MIN_TTL);
        assert_eq!(cache.ttl_for(Some(secs(30))), MIN_TTL);
        assert_eq!(cache.ttl_for(Some(secs(86_400))), DEFAULT_TTL);
        let short = JwksCache::new(()).with_ttl(secs(10));
        assert_eq!(short.ttl_for(Some(secs(0))), secs(10));
        assert_eq!(short.ttl_for(Some(secs(600))), secs(10));
        assert_eq!(short.ttl_for(None), secs(10));
    }
}
