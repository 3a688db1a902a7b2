//! Closing the deactivation gap: a background sweep that asks the product, per tenant and in
//! bulk, whether the users holding live sessions are still active, and revokes those who are
//! not.

use core::fmt;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::sessions::Sessions;
use super::store::{Revocation, SessionFuture};
use crate::error::{ConfigError, Error};
use crate::time::UnixTime;

/// How often the sweep runs unless configured otherwise: 60 s.
pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// Shortest sweep interval accepted: 100 ms (for tests; production intervals are tens of
/// seconds, the cost being one product request per tenant per interval).
pub const MIN_SWEEP_INTERVAL: Duration = Duration::from_millis(100);

/// The product's users, as the sweep asks about them: "which of these account ids are
/// active?"
///
/// [`JiraUserDirectory`](super::JiraUserDirectory) (feature `client`) calls Jira Cloud's
/// `GET /rest/api/3/user/bulk?accountId=...&accountId=...` signed with the app's outbound
/// JWT, following its pages, and returns the `accountId`s whose `active` is `true`.
pub trait UserDirectory: Send + Sync {
    /// Of `account_ids`, users of tenant `client_key`, the ones that are active. An account
    /// the product does not return (deleted, unknown) is not active, and its sessions are
    /// revoked: an implementation that could not read the product's whole answer must
    /// return an error, never a partial or empty set.
    ///
    /// # Errors
    ///
    /// [`Unavailable::UserDirectory`](crate::Unavailable::UserDirectory) when the product
    /// cannot be asked; the sweep then revokes no one in that tenant this time.
    fn active_users<'a>(
        &'a self,
        client_key: &'a str,
        account_ids: &'a [String],
    ) -> SessionFuture<'a, HashSet<String>>;
}

/// What one pass of the sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SweepReport {
    /// Tenants whose users were asked about (one directory call each).
    pub tenants_asked: usize,
    /// Tenants left to another instance, which holds their sweep.
    pub tenants_skipped: usize,
    /// Users asked about.
    pub users_checked: usize,
    /// Users found inactive and revoked, as `(clientKey, accountId)`.
    pub revoked: Vec<(String, String)>,
    /// Directory calls or revocations that failed (logged as `warn`).
    pub failures: usize,
}

/// The user sweep: every interval, per tenant, one directory call about the users who hold
/// live sessions, and a revocation of each user it does not report active.
///
/// Its cost is one product request per tenant per interval (per page of the bulk API), and
/// none per call a user makes. With several instances sharing a Redis store, one instance
/// holds each tenant's sweep at a time and keeps it while it runs. The worst-case exposure
/// of a deactivated user is the interval (plus one directory call), or the session lifetime
/// if shorter; see the module documentation.
pub struct UserSweep {
    sessions: Sessions,
    directory: Arc<dyn UserDirectory>,
    interval: Duration,
}

impl UserSweep {
    /// A sweep of `sessions`' holders through `directory`, every [`DEFAULT_SWEEP_INTERVAL`].
    #[must_use]
    pub fn new(sessions: Sessions, directory: Arc<dyn UserDirectory>) -> Self {
        Self {
            sessions,
            directory,
            interval: DEFAULT_SWEEP_INTERVAL,
        }
    }

    /// Sweeps every `interval`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::SweepIntervalTooShort`] below [`MIN_SWEEP_INTERVAL`].
    pub fn with_interval(self, interval: Duration) -> Result<Self, Error> {
        if interval < MIN_SWEEP_INTERVAL {
            return Err(ConfigError::SweepIntervalTooShort.into());
        }
        Ok(Self { interval, ..self })
    }

    /// The interval.
    #[must_use]
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// One pass: the store's holders at `now`, per tenant whose sweep this instance holds
    /// one directory call, and a revocation of every user not reported active.
    ///
    /// # Errors
    ///
    /// The store's error when it cannot list holders; a tenant whose directory call or
    /// revocation fails is counted in [`SweepReport::failures`] and the pass goes on.
    pub async fn sweep_once(&self, now: UnixTime) -> Result<SweepReport, Error> {
        let store = self.sessions.store();
        let mut report = SweepReport::default();
        for holders in store.holders(now).await? {
            let client_key = holders.client_key.as_str();
            match store.claim_sweep(client_key, self.interval).await {
                Ok(true) => {}
                Ok(false) => {
                    report.tenants_skipped += 1;
                    continue;
                }
                Err(error) => {
                    warn(client_key, &error, "could not claim the tenant's sweep");
                    report.failures += 1;
                    continue;
                }
            }
            report.tenants_asked += 1;
            report.users_checked += holders.account_ids.len();
            let active = match self
                .directory
                .active_users(client_key, &holders.account_ids)
                .await
            {
                Ok(active) => active,
                Err(error) => {
                    warn(client_key, &error, "the user directory did not answer");
                    report.failures += 1;
                    continue;
                }
            };
            for account_id in holders.account_ids.iter().filter(|a| !active.contains(*a)) {
                let revocation = Revocation::User {
                    client_key: client_key.to_owned(),
                    account_id: account_id.clone(),
                };
                match self.sessions.revoke(revocation, UnixTime::now()).await {
                    Ok(()) => report
                        .revoked
                        .push((client_key.to_owned(), account_id.clone())),
                    Err(error) => {
                        warn(client_key, &error, "could not revoke an inactive user");
                        report.failures += 1;
                    }
                }
            }
        }
        Ok(report)
    }

    /// Sweeps every interval, forever (spawn it: `tokio::spawn(sweep.run())`). A pass that
    /// fails is logged and the next one runs on time; a pass that overruns delays the next.
    pub async fn run(self) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match self.sweep_once(UnixTime::now()).await {
                Ok(report) => tracing::debug!(
                    target: "atlassian_connect_jwt::session",
                    tenants_asked = report.tenants_asked,
                    users_checked = report.users_checked,
                    revoked = report.revoked.len(),
                    failures = report.failures,
                    "user sweep done",
                ),
                Err(error) => tracing::warn!(
                    target: "atlassian_connect_jwt::session",
                    code = error.code(),
                    "user sweep could not list session holders",
                ),
            }
        }
    }
}

fn warn(client_key: &str, error: &Error, message: &'static str) {
    tracing::warn!(
        target: "atlassian_connect_jwt::session",
        client_key = ?client_key,
        code = error.code(),
        "user sweep: {message}",
    );
}

impl fmt::Debug for UserSweep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserSweep")
            .field("sessions", &self.sessions)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}
