//! The user sweep's [`UserDirectory`] backed by the product (features `session` and
//! `client`): Jira Cloud's bulk user API, called as the app.

use core::fmt;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::store::SessionFuture;
use super::sweep::UserDirectory;
use crate::client::{ClientError, ConnectClient, TenantClient};
use crate::error::{Error, Unavailable};
use crate::tenant::TenantStore;

/// Account ids asked about in one request: 90.
///
/// Jira's `GET /rest/api/3/user/bulk` takes the ids as repeated `accountId` parameters, so a
/// batch is bounded by the length of the URL. **This number is an assumption, not a
/// documented limit**: Atlassian's API reference states no maximum for Jira's parameter
/// (Confluence's equivalent documents 200 ids, and requests near that are known to fail with
/// `400 Bad Request` because the URL is too long). 90 ids of Atlassian's longest form
/// (`557058:` and a UUID, 45 characters once `:` is escaped) make a URL of about 5 KiB, under
/// the 8 KiB that servers and proxies commonly accept. The same number is sent as
/// `maxResults`; the pages of a batch are followed when the product answers fewer.
pub const USER_BULK_BATCH: usize = 90;

/// Limit on each request to the product: 5 s. A sweep asks its tenants one after the other,
/// so a product that does not answer must not hold up the others for long.
pub const USER_BULK_TIMEOUT: Duration = Duration::from_secs(5);

/// The product's bulk user API: [`UserDirectory`] for the [`UserSweep`](super::UserSweep)
/// of a Jira app, on its [`ConnectClient`] and tenant store.
///
/// For each tenant asked about, it reads the tenant from the store and calls Jira Cloud's
/// `GET /rest/api/3/user/bulk?startAt=..&maxResults=90&accountId=..&accountId=..`, signed as
/// the app (Connect JWT; the descriptor's `READ` scope suffices), in batches of
/// [`USER_BULK_BATCH`] ids, following the pages of each batch until `isLast`. A user is
/// active when the product lists their `accountId` with `"active": true`.
///
/// - A user the product **does not list** is inactive: Jira leaves deleted (and unknown)
///   accounts out of the answer, and the sweep revokes their sessions.
/// - A tenant that is **not installed** (uninstalled, or never stored) has no active user:
///   every session of it is revoked.
/// - Anything short of the whole answer is an error, never a partial set
///   ([`Unavailable::UserDirectory`], and the sweep revokes no one in that tenant this
///   time): the store or the product cannot be reached, a request takes longer than
///   [`USER_BULK_TIMEOUT`], the product answers an error status, a body that is not a page
///   of users (`values` of `{"accountId", "active"}`), or pages that do not end. Each is
///   logged (`warn`, target `atlassian_connect_jwt::session`, with the client's error code).
/// - When the product **rate-limits** and says for how long (`Retry-After`), the tenant is
///   not asked again before then: each sweep in the meantime fails for that tenant without
///   a request. Give the directory a client that does not wait itself
///   (`ConnectClient::builder(key).with_max_retries(0)`), or one tenant's rate limit holds
///   up the sweep of all the others for as long as the client waits.
///
/// ```no_run
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// use atlassian_connect_jwt::session::{JiraUserDirectory, MemoryRevocationStore, Mode, Sessions, UserSweep};
/// use atlassian_connect_jwt::{open_tenant_store, ConnectClient};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let tenants = open_tenant_store("sqlite://app.db").await?;
/// let sessions = Sessions::new(Arc::new(MemoryRevocationStore::new(Mode::Denylist)));
/// let client = ConnectClient::builder("com.example.app").with_max_retries(0).build()?;
/// let directory = JiraUserDirectory::new(client, tenants);
/// let sweep = UserSweep::new(sessions.clone(), Arc::new(directory))
///     .with_interval(Duration::from_secs(60))?;
/// tokio::spawn(sweep.run());
/// # Ok(()) }
/// ```
pub struct JiraUserDirectory {
    client: ConnectClient,
    tenants: Arc<dyn TenantStore>,
    /// Tenants not to ask before the instant the product named.
    rate_limited: Mutex<HashMap<String, Instant>>,
}

/// The part of Jira's `PageBeanUser` the directory reads (`total`, `self`, ... are ignored).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    #[serde(default)]
    is_last: Option<bool>,
    #[serde(default)]
    next_page: Option<String>,
    values: Vec<User>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct User {
    account_id: String,
    active: bool,
}

impl JiraUserDirectory {
    /// The directory of the tenants in `tenants`, asked through `client` (the app's: its key
    /// is the descriptor's `key`).
    #[must_use]
    pub fn new(client: ConnectClient, tenants: Arc<dyn TenantStore>) -> Self {
        Self {
            client,
            tenants,
            rate_limited: Mutex::new(HashMap::new()),
        }
    }

    async fn ask(
        &self,
        client_key: &str,
        account_ids: &[String],
    ) -> Result<HashSet<String>, Error> {
        if let Some(until) = self.rate_limited_until(client_key) {
            tracing::debug!(
                target: TARGET,
                client_key = ?client_key,
                wait_ms = until.saturating_duration_since(Instant::now()).as_millis() as u64,
                "user directory: the product asked to wait; not asking yet",
            );
            return Err(Unavailable::UserDirectory.into());
        }
        let tenant = match self.tenants.get(client_key).await {
            Ok(Some(tenant)) if tenant.is_installed() => tenant,
            Ok(_) => return Ok(HashSet::new()),
            Err(error) => {
                tracing::warn!(
                    target: TARGET,
                    client_key = ?client_key,
                    store_error = %error.message(),
                    "user directory: the tenant store did not answer",
                );
                return Err(Unavailable::UserDirectory.into());
            }
        };
        let wanted: BTreeSet<&str> = account_ids.iter().map(String::as_str).collect();
        let wanted: Vec<&str> = wanted.into_iter().collect();
        let product = self
            .client
            .for_tenant(&tenant)
            .map_err(|e| self.failed(client_key, &e))?;
        let mut active = HashSet::new();
        for batch in wanted.chunks(USER_BULK_BATCH) {
            self.ask_batch(client_key, &product, batch, &mut active)
                .await?;
        }
        Ok(active)
    }

    /// The pages of one batch; the active users among `batch` go into `active`.
    async fn ask_batch(
        &self,
        client_key: &str,
        product: &TenantClient,
        batch: &[&str],
        active: &mut HashSet<String>,
    ) -> Result<(), Error> {
        let mut start_at = 0usize;
        // Each page but the last lists at least one user, so a batch has at most as many
        // pages as ids: a product that pages on is not believed.
        for _ in 0..batch.len() {
            let mut request = product
                .as_app()
                .get("/rest/api/3/user/bulk")
                .query("startAt", &start_at.to_string())
                .query("maxResults", &USER_BULK_BATCH.to_string())
                .timeout(USER_BULK_TIMEOUT);
            for id in batch {
                request = request.query("accountId", id);
            }
            let page: Page = match request.send().await {
                Ok(response) => response.json().await,
                Err(error) => Err(error),
            }
            .map_err(|e| self.failed(client_key, &e))?;
            for user in &page.values {
                if user.active && batch.contains(&user.account_id.as_str()) {
                    active.insert(user.account_id.clone());
                }
            }
            // `isLast` when the product says it; otherwise the last page has no `nextPage`.
            if page.is_last.unwrap_or(page.next_page.is_none()) {
                return Ok(());
            }
            if page.values.is_empty() {
                break;
            }
            start_at += page.values.len();
        }
        tracing::warn!(
            target: TARGET,
            client_key = ?client_key,
            "user directory: the product's pages do not end",
        );
        Err(Unavailable::UserDirectory.into())
    }

    fn rate_limited_until(&self, client_key: &str) -> Option<Instant> {
        let mut limited = self.rate_limited.lock().unwrap_or_else(|e| e.into_inner());
        let until = *limited.get(client_key)?;
        if until > Instant::now() {
            Some(until)
        } else {
            limited.remove(client_key);
            None
        }
    }

    /// Logs a failed call, remembers a rate limit, and gives the sweep's error.
    fn failed(&self, client_key: &str, error: &ClientError) -> Error {
        if let ClientError::RateLimited {
            retry_after: Some(wait),
            ..
        } = error
        {
            if let Some(until) = Instant::now().checked_add(*wait) {
                self.rate_limited
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(client_key.to_owned(), until);
            }
        }
        tracing::warn!(
            target: TARGET,
            client_key = ?client_key,
            code = error.code(),
            error = %error,
            "user directory: the product's bulk user API did not answer",
        );
        Unavailable::UserDirectory.into()
    }
}

const TARGET: &str = "atlassian_connect_jwt::session";

impl UserDirectory for JiraUserDirectory {
    fn active_users<'a>(
        &'a self,
        client_key: &'a str,
        account_ids: &'a [String],
    ) -> SessionFuture<'a, HashSet<String>> {
        Box::pin(self.ask(client_key, account_ids))
    }
}

impl fmt::Debug for JiraUserDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JiraUserDirectory")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}
