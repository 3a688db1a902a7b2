//! The in-memory revocation store: the embedded default, for one instance.

use core::fmt;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use super::state::{LocalState, Lookup};
use super::store::{Check, Mode, RevocationMark, RevocationStore, SessionFuture, TenantHolders};
use super::token::SessionClaims;
use crate::error::{Error, Unavailable};
use crate::time::UnixTime;

/// Records held unless configured otherwise: session records and holders of live sessions
/// together.
pub const DEFAULT_STORE_CAPACITY: usize = 1_000_000;

/// Revocations, and session records in [`Mode::Allowlist`], in this process's memory.
///
/// Bounded: every entry expires with the tokens it covers (a mark when every session it
/// covers has expired, a record or holder when its session has), expired entries are purged
/// as the store grows, and at most `capacity` records and holders are held. When that many
/// live sessions exist, minting another fails with
/// [`Unavailable::RevocationStore`](crate::Unavailable::RevocationStore) (fail closed)
/// rather than forgetting one. Revocation marks are not counted against the capacity and are
/// never refused: only the app's own verified sources (webhooks, the sweep, its admin tools)
/// create them, and refusing one would leave a revoked session valid.
///
/// The check is a read lock and at most three hash lookups, with no allocation.
///
/// ```
/// use atlassian_connect_jwt::session::{MemoryRevocationStore, Mode};
///
/// let store = MemoryRevocationStore::new(Mode::Denylist).with_capacity(100_000);
/// # let _ = store;
/// ```
pub struct MemoryRevocationStore {
    state: RwLock<LocalState>,
    mode: Mode,
    capacity: usize,
}

impl MemoryRevocationStore {
    /// An empty store in `mode`, holding at most [`DEFAULT_STORE_CAPACITY`] records.
    #[must_use]
    pub fn new(mode: Mode) -> Self {
        Self {
            state: RwLock::new(LocalState::default()),
            mode,
            capacity: DEFAULT_STORE_CAPACITY,
        }
    }

    /// The same, holding at most `records` session records and holders.
    #[must_use]
    pub fn with_capacity(self, records: usize) -> Self {
        Self {
            capacity: records,
            ..self
        }
    }

    /// The mode.
    #[must_use]
    pub fn mode(&self) -> Mode {
        self.mode
    }

    // A panic while a lock is held leaves the state consistent: each write is a few map
    // operations on one tenant, and counters are recomputed by every purge.
    fn read(&self) -> RwLockReadGuard<'_, LocalState> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, LocalState> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for MemoryRevocationStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryRevocationStore")
            .field("mode", &self.mode)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl RevocationStore for MemoryRevocationStore {
    fn issue<'a>(&'a self, session: &'a SessionClaims) -> SessionFuture<'a, ()> {
        let now = UnixTime::now().as_secs();
        let recorded = self
            .write()
            .record(session, self.mode, true, self.capacity, now);
        Box::pin(async move {
            if recorded {
                Ok(())
            } else {
                Err(Unavailable::RevocationStore.into())
            }
        })
    }

    fn check<'a>(&'a self, session: &'a SessionClaims) -> Check<'a> {
        Check::ready(match self.read().check(session, self.mode) {
            Lookup::Valid => Ok(()),
            Lookup::Revoked | Lookup::NotRecorded => Err(Error::SessionRevoked),
        })
    }

    fn revoke<'a>(&'a self, mark: &'a RevocationMark) -> SessionFuture<'a, ()> {
        self.write().apply(mark, UnixTime::now().as_secs());
        Box::pin(async { Ok(()) })
    }

    fn holders(&self, now: UnixTime) -> SessionFuture<'_, Vec<TenantHolders>> {
        let holders = self.read().holders(now.as_secs());
        Box::pin(async move { Ok(holders) })
    }

    /// One process: the caller always has the sweep.
    fn claim_sweep<'a>(&'a self, _: &'a str, _: Duration) -> SessionFuture<'a, bool> {
        Box::pin(async { Ok(true) })
    }
}
