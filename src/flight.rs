//! Single flight: while one request fetches something, every other request that needs it
//! waits for that answer instead of fetching again. Shared by the key caches (signed-install
//! keys by key id, [`KeyCache`](crate::KeyCache); Forge key sets by location).
//!
//! The caches keep a [`Flight`] in their own map, under their own `std` mutex, and wait with
//! [`landed`]: runtime-agnostic, and the lock is never held across an `.await`.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

/// One fetch under way: its number (so a waiter can tell its answer from a later one) and
/// the tasks waiting for it.
pub(crate) struct Flight {
    id: u64,
    waiters: Vec<Waker>,
}

impl Flight {
    /// Fetch number `id`, nobody waiting yet.
    pub(crate) fn new(id: u64) -> Self {
        Self {
            id,
            waiters: Vec::new(),
        }
    }

    /// The fetch's number.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Wakes the task of `waker` when the fetch lands (each task once, however often its
    /// future is polled).
    pub(crate) fn wait(&mut self, waker: &Waker) {
        if !self.waiters.iter().any(|w| w.will_wake(waker)) {
            self.waiters.push(waker.clone());
        }
    }

    /// Ends the flight: wakes every waiting task. Called after the cache's lock is released,
    /// so that woken tasks do not contend for it with the waker.
    pub(crate) fn land(self) {
        self.waiters.into_iter().for_each(Waker::wake);
    }
}

/// Resolves once `waiting` returns `false`.
///
/// `waiting` is called on every poll with the task's waker. It looks the flight up under
/// the cache's lock; while the flight is still under way it registers the waker with
/// [`Flight::wait`] (under that same lock, so a landing cannot slip in between) and returns
/// `true`. A flight that landed, or was abandoned, returns `false`.
pub(crate) fn landed<F: FnMut(&Waker) -> bool + Unpin>(waiting: F) -> Landed<F> {
    Landed(waiting)
}

/// The future of [`landed`].
pub(crate) struct Landed<F>(F);

impl<F: FnMut(&Waker) -> bool + Unpin> Future for Landed<F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if (self.0)(cx.waker()) {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }
}
