//! The revocation store: what a session check asks, what a revocation writes, and what the
//! user sweep reads; one trait, an in-memory and a Redis backend.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::time::Duration;

use super::token::SessionClaims;
use crate::error::Error;
use crate::time::UnixTime;

/// What the methods of a [`RevocationStore`] or a
/// [`UserDirectory`](super::UserDirectory) return: a boxed future, so that either can be
/// chosen at run time and held as `Arc<dyn ...>`. Its error is [`Error::Unavailable`]
/// ([`Unavailable::RevocationStore`](crate::Unavailable::RevocationStore),
/// [`Unavailable::UserDirectory`](crate::Unavailable::UserDirectory)) when it cannot answer.
pub type SessionFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, Error>> + Send + 'a>>;

/// Whether sessions must also be on record to be valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mode {
    /// A session is valid unless revoked (itself, its user or its tenant): minting writes
    /// only what the user sweep needs.
    Denylist,
    /// A session is valid only while the record written when it was minted exists (and it
    /// is not revoked): each page load adds the record of its new token, revoking a token
    /// removes its record, and a store that loses its records (a Redis restart without
    /// persistence) ends every session until the next page load.
    Allowlist,
}

/// What to revoke. A revocation covers every session of its scope minted up to the moment
/// it is made (see [`RevocationMark`]); sessions minted later are not affected.
#[derive(Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Revocation {
    /// One session token, by its id ([`SessionClaims::id`]).
    Token {
        /// The tenant's clientKey.
        client_key: String,
        /// The token's `jti`.
        id: String,
    },
    /// Every session of one user in one tenant (the user was deleted, deactivated, lost
    /// access).
    User {
        /// The tenant's clientKey.
        client_key: String,
        /// The user's account id.
        account_id: String,
    },
    /// Every session of a tenant (the app was uninstalled).
    Tenant {
        /// The tenant's clientKey.
        client_key: String,
    },
}

impl Revocation {
    /// The tenant it applies to.
    #[must_use]
    pub fn client_key(&self) -> &str {
        match self {
            Self::Token { client_key, .. }
            | Self::User { client_key, .. }
            | Self::Tenant { client_key } => client_key,
        }
    }

    /// `token`, `user` or `tenant`, for logs.
    #[must_use]
    pub fn scope(&self) -> &'static str {
        match self {
            Self::Token { .. } => "token",
            Self::User { .. } => "user",
            Self::Tenant { .. } => "tenant",
        }
    }
}

impl fmt::Debug for Revocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Token { client_key, id } => f
                .debug_struct("Token")
                .field("client_key", client_key)
                .field("id", id)
                .finish(),
            Self::User {
                client_key,
                account_id,
            } => f
                .debug_struct("User")
                .field("client_key", client_key)
                .field("account_id", account_id)
                .finish(),
            Self::Tenant { client_key } => f
                .debug_struct("Tenant")
                .field("client_key", client_key)
                .finish(),
        }
    }
}

/// A revocation as a store records it: its scope, the latest `iat` it covers, and how long
/// it must be kept.
///
/// A session is revoked by a mark of its token, user or tenant whose
/// [`covers_issued_through`](Self::covers_issued_through) is at or after the session's
/// `iat` (Keycloak's "not before", per scope). [`Sessions`](super::Sessions) sets it to the
/// revocation time plus the leeway, so a token minted just before the revocation by an
/// instance whose clock runs ahead is covered too; and it keeps the mark until every token it
/// covers has expired: `covers_issued_through + MAX_SESSION_TTL + leeway`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RevocationMark {
    pub(crate) revocation: Revocation,
    pub(crate) covers_issued_through: u64,
    pub(crate) keep_until: u64,
}

impl RevocationMark {
    /// A mark of `revocation` covering sessions issued up to `covers_issued_through`, to be
    /// kept until `keep_until`. Stores reading marks back build them with this.
    #[must_use]
    pub fn new(
        revocation: Revocation,
        covers_issued_through: UnixTime,
        keep_until: UnixTime,
    ) -> Self {
        Self {
            revocation,
            covers_issued_through: covers_issued_through.as_secs(),
            keep_until: keep_until.as_secs(),
        }
    }

    /// What is revoked.
    #[must_use]
    pub fn revocation(&self) -> &Revocation {
        &self.revocation
    }

    /// The latest `iat` covered.
    #[must_use]
    pub fn covers_issued_through(&self) -> UnixTime {
        UnixTime::from_secs(self.covers_issued_through)
    }

    /// When every session it covers has expired, so it may be forgotten.
    #[must_use]
    pub fn keep_until(&self) -> UnixTime {
        UnixTime::from_secs(self.keep_until)
    }
}

/// The users of one tenant who hold sessions that may still be live and are not revoked:
/// what the user sweep asks the product about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantHolders {
    /// The tenant's clientKey.
    pub client_key: String,
    /// Their account ids, each once, in no particular order.
    pub account_ids: Vec<String>,
}

/// Where revocations (and, in [`Mode::Allowlist`], session records) live.
///
/// Implementations: [`MemoryRevocationStore`](super::MemoryRevocationStore) (one instance)
/// and, with the `session-redis` feature, `RedisRevocationStore` (several instances). Their
/// contract:
///
/// - [`check`](Self::check) answers without I/O whenever it can ([`Check::ready`]): it is on
///   the path of every call made with a session token.
/// - A revocation that [`revoke`](Self::revoke) reported as done is seen by every later
///   `check`, on every instance sharing the store, from the moment it is propagated (the
///   Redis store: through pub/sub, measured in `notes/session.md`).
/// - A store that cannot vouch for its answer (a replica that may have missed a revocation)
///   answers [`Unavailable::RevocationStore`](crate::Unavailable::RevocationStore), never
///   "valid".
pub trait RevocationStore: Send + Sync {
    /// Records a session just minted: its record in [`Mode::Allowlist`], and its user as a
    /// holder of a live session for the sweep.
    fn issue<'a>(&'a self, session: &'a SessionClaims) -> SessionFuture<'a, ()>;

    /// Whether a verified session may be used: `Ok(())`, [`Error::SessionRevoked`], or
    /// [`Unavailable::RevocationStore`](crate::Unavailable::RevocationStore).
    fn check<'a>(&'a self, session: &'a SessionClaims) -> Check<'a>;

    /// Records a revocation, effective on every instance sharing the store.
    fn revoke<'a>(&'a self, mark: &'a RevocationMark) -> SessionFuture<'a, ()>;

    /// The users, by tenant, who hold sessions not yet expired at `now` and not revoked.
    fn holders(&self, now: UnixTime) -> SessionFuture<'_, Vec<TenantHolders>>;

    /// Claims the sweep of `client_key` for the next `interval`: `true` for one caller
    /// among all instances sharing the store, which keeps it as long as it claims again
    /// every `interval`.
    fn claim_sweep<'a>(
        &'a self,
        client_key: &'a str,
        interval: Duration,
    ) -> SessionFuture<'a, bool>;
}

/// The answer of [`RevocationStore::check`]: ready at once (no allocation, the usual case),
/// or a future (a store that must ask its server).
#[must_use = "a check does nothing unless awaited"]
pub struct Check<'a>(CheckState<'a>);

enum CheckState<'a> {
    Ready(Option<Result<(), Error>>),
    Pending(SessionFuture<'a, ()>),
}

impl<'a> Check<'a> {
    /// An answer known now.
    pub fn ready(answer: Result<(), Error>) -> Self {
        Self(CheckState::Ready(Some(answer)))
    }

    /// An answer that needs I/O.
    pub fn pending(answer: SessionFuture<'a, ()>) -> Self {
        Self(CheckState::Pending(answer))
    }
}

impl Future for Check<'_> {
    type Output = Result<(), Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // `Check` is `Unpin`: both states are.
        match &mut self.get_mut().0 {
            // Polled again after completion: answer as a store that cannot answer would.
            CheckState::Ready(answer) => Poll::Ready(
                answer
                    .take()
                    .unwrap_or(Err(crate::Unavailable::RevocationStore.into())),
            ),
            CheckState::Pending(future) => future.as_mut().poll(cx),
        }
    }
}

impl fmt::Debug for Check<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            CheckState::Ready(answer) => f.debug_tuple("Check::Ready").field(answer).finish(),
            CheckState::Pending(_) => f.write_str("Check::Pending"),
        }
    }
}
