//! The SQLite tenant store: the embedded default, one file next to the app.
//!
//! One connection, owned by a thread of its own: every call is a job sent to that thread and
//! answered through a oneshot channel, so no async worker ever blocks on the file, calls are
//! applied in order, and the store works under any async runtime (nothing here needs tokio's
//! scheduler; its oneshot channel is runtime-agnostic). SQLite has one writer at a time
//! anyway; a read is an indexed lookup of a few microseconds.

use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};
use tokio::sync::oneshot;

use super::{
    InstalledTenant, StoreError, StoreErrorKind, StoreFuture, StoredTenant, Tenant, TenantStore,
    UninstalledTenant,
};
use crate::secret::SharedSecret;

/// How long a write waits for another process holding the file's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema, one migration per version (version `n` is `MIGRATIONS[n - 1]`), applied in
/// order on open. Never edit an applied migration: append a new one.
const MIGRATIONS: &[&str] = &[
    // Version 1: one row per clientKey; installationId unique where present.
    "CREATE TABLE connect_tenants (
        client_key      TEXT    NOT NULL PRIMARY KEY,
        shared_secret   TEXT    NOT NULL CHECK (shared_secret <> ''),
        base_url        TEXT    NOT NULL,
        display_url     TEXT,
        product_type    TEXT,
        installation_id TEXT,
        oauth_client_id TEXT,
        installed       INTEGER NOT NULL CHECK (installed IN (0, 1)),
        install_count   INTEGER NOT NULL CHECK (install_count >= 1),
        installed_at    INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL
    ) STRICT;
    CREATE UNIQUE INDEX connect_tenants_installation_id
        ON connect_tenants (installation_id) WHERE installation_id IS NOT NULL;",
];

macro_rules! select_by {
    ($column:literal) => {
        concat!(
            "SELECT client_key, shared_secret, base_url, display_url, product_type, \
             installation_id, oauth_client_id, installed FROM connect_tenants WHERE ",
            $column,
            " = ?1"
        )
    };
}

/// A job for the connection's thread.
type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// Tenants in an SQLite database file, kept across restarts.
///
/// The schema (table `connect_tenants`, versions in `connect_jwt_migrations`) is created or
/// migrated when the store opens. `client_key` is the primary key and `installation_id` is
/// unique where present; an install is one `INSERT ... ON CONFLICT (client_key) DO UPDATE`
/// in the same transaction that releases its `installationId` from any other row.
///
/// Shared secrets are stored as the product sent them: the database file is the trust
/// boundary (restrict its permissions and its backups). Another process may open the same
/// file (writes wait up to 5 s for its lock); for several app instances on several hosts use
/// PostgreSQL.
///
/// ```
/// use atlassian_connect_jwt::{SqliteTenantStore, TenantStore};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let store = SqliteTenantStore::open(dir.path().join("tenants.db")).await?;
/// assert!(store.get("tenant-1").await?.is_none());
/// # Ok::<(), atlassian_connect_jwt::StoreError>(()) }).unwrap();
/// ```
#[derive(Debug)]
pub struct SqliteTenantStore {
    jobs: mpsc::Sender<Job>,
}

impl SqliteTenantStore {
    /// Opens (creating it if needed) the database file at `path` and migrates its schema.
    ///
    /// # Errors
    ///
    /// [`StoreErrorKind::Unavailable`] when the file cannot be opened or written;
    /// [`StoreErrorKind::SchemaTooNew`] when a newer version of this crate migrated it.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_owned();
        Self::start(move || Connection::open(path)).await
    }

    /// A database in memory, gone when the store is dropped (tests, demos).
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    pub async fn open_in_memory() -> Result<Self, StoreError> {
        Self::start(Connection::open_in_memory).await
    }

    /// Starts the connection's thread, which opens the database, migrates it, reports, then
    /// runs jobs until the store is dropped.
    async fn start<F>(open: F) -> Result<Self, StoreError>
    where
        F: FnOnce() -> rusqlite::Result<Connection> + Send + 'static,
    {
        let (jobs, queue) = mpsc::channel::<Job>();
        let (opened, ready) = oneshot::channel();
        thread::Builder::new()
            .name("connect-jwt-sqlite".to_owned())
            .spawn(move || {
                let connection = open()
                    .map_err(|error| sqlite_error("open", &error))
                    .and_then(|mut connection| {
                        prepare(&mut connection)?;
                        Ok(connection)
                    });
                let mut connection = match connection {
                    Ok(connection) => {
                        let _ = opened.send(Ok(()));
                        connection
                    }
                    Err(error) => {
                        let _ = opened.send(Err(error));
                        return;
                    }
                };
                // Ends when every sender is gone: the store was dropped.
                while let Ok(job) = queue.recv() {
                    job(&mut connection);
                }
            })
            .map_err(|_| StoreError::new("open: cannot start the SQLite thread"))?;
        ready.await.map_err(|_| stopped())??;
        Ok(Self { jobs })
    }

    /// Runs `work` on the connection's thread. The job is queued when this is called: a
    /// caller that drops the future does not cancel a write already queued.
    fn run<T, F>(&self, work: F) -> StoreFuture<'static, T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let queued = self.jobs.send(Box::new(move |connection| {
            let _ = reply.send(work(connection));
        }));
        Box::pin(async move {
            queued.map_err(|_| stopped())?;
            answer.await.map_err(|_| stopped())?
        })
    }
}

impl TenantStore for SqliteTenantStore {
    fn get<'a>(&'a self, client_key: &'a str) -> StoreFuture<'a, Option<Tenant>> {
        let client_key = client_key.to_owned();
        self.run(move |connection| select_one(connection, select_by!("client_key"), &client_key))
    }

    fn get_by_installation_id<'a>(
        &'a self,
        installation_id: &'a str,
    ) -> StoreFuture<'a, Option<Tenant>> {
        let installation_id = installation_id.to_owned();
        self.run(move |connection| {
            select_one(connection, select_by!("installation_id"), &installation_id)
        })
    }

    fn save_install<'a>(&'a self, install: &'a InstalledTenant) -> StoreFuture<'a, bool> {
        let tenant = install.tenant().clone();
        self.run(move |connection| {
            upsert(connection, &tenant).map_err(|error| sqlite_error("save_install", &error))
        })
    }

    fn mark_uninstalled<'a>(&'a self, uninstall: &'a UninstalledTenant) -> StoreFuture<'a, bool> {
        let client_key = uninstall.client_key().to_owned();
        self.run(move |connection| {
            connection
                .prepare_cached(
                    "UPDATE connect_tenants SET installed = 0, updated_at = unixepoch() \
                     WHERE client_key = ?1",
                )
                .and_then(|mut statement| statement.execute([&client_key]))
                .map(|changed| changed > 0)
                .map_err(|error| sqlite_error("mark_uninstalled", &error))
        })
    }
}

/// Connection settings, then the schema.
fn prepare(connection: &mut Connection) -> Result<(), StoreError> {
    connection
        .busy_timeout(BUSY_TIMEOUT)
        .and_then(|()| {
            // WAL lets another process read while this one writes; an in-memory database
            // answers `memory` and stays as it is.
            connection.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
        })
        .map_err(|error| sqlite_error("open", &error))?;
    migrate(connection)
}

/// Applies the migrations this database has not seen, in one write transaction (so two
/// processes opening a new file at once apply them once).
fn migrate(connection: &mut Connection) -> Result<(), StoreError> {
    let error = |error| sqlite_error("migrate", &error);
    let tx = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(error)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS connect_jwt_migrations (
            version    INTEGER NOT NULL PRIMARY KEY,
            applied_at INTEGER NOT NULL
        ) STRICT",
    )
    .map_err(error)?;
    let current: i64 = tx
        .query_row(
            "SELECT coalesce(max(version), 0) FROM connect_jwt_migrations",
            [],
            |row| row.get(0),
        )
        .map_err(error)?;
    let known = MIGRATIONS.len() as i64;
    if current > known {
        return Err(StoreError::of_kind(
            StoreErrorKind::SchemaTooNew,
            format!(
                "migrate: the database is at schema version {current}, this code knows {known}"
            ),
        ));
    }
    for (version, sql) in (1..)
        .zip(MIGRATIONS)
        .skip(usize::try_from(current).unwrap_or(0))
    {
        tx.execute_batch(sql).map_err(error)?;
        tx.execute(
            "INSERT INTO connect_jwt_migrations (version, applied_at) VALUES (?1, unixepoch())",
            [version],
        )
        .map_err(error)?;
    }
    tx.commit().map_err(error)
}

/// The install as one transaction: release the installationId from any other row, then
/// insert or replace this clientKey's row. `true` for a first install.
fn upsert(connection: &mut Connection, tenant: &Tenant) -> rusqlite::Result<bool> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if let Some(installation_id) = tenant.installation_id() {
        tx.prepare_cached(
            "UPDATE connect_tenants SET installation_id = NULL, updated_at = unixepoch() \
             WHERE installation_id = ?1 AND client_key <> ?2",
        )?
        .execute(params![installation_id, tenant.client_key()])?;
    }
    let install_count: i64 = tx
        .prepare_cached(
            "INSERT INTO connect_tenants (client_key, shared_secret, base_url, display_url, \
                 product_type, installation_id, oauth_client_id, installed, install_count, \
                 installed_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, 1, unixepoch(), unixepoch()) \
             ON CONFLICT (client_key) DO UPDATE SET \
                 shared_secret = excluded.shared_secret, base_url = excluded.base_url, \
                 display_url = excluded.display_url, product_type = excluded.product_type, \
                 installation_id = excluded.installation_id, \
                 oauth_client_id = excluded.oauth_client_id, installed = 1, \
                 install_count = connect_tenants.install_count + 1, \
                 installed_at = excluded.installed_at, updated_at = excluded.updated_at \
             RETURNING install_count",
        )?
        .query_row(
            params![
                tenant.client_key(),
                tenant.shared_secret().expose(),
                tenant.base_url(),
                tenant.display_url(),
                tenant.product_type(),
                tenant.installation_id(),
                tenant.oauth_client_id(),
            ],
            |row| row.get(0),
        )?;
    tx.commit()?;
    Ok(install_count == 1)
}

fn select_one(
    connection: &mut Connection,
    sql: &str,
    key: &str,
) -> Result<Option<Tenant>, StoreError> {
    let row = connection
        .prepare_cached(sql)
        .and_then(|mut statement| statement.query_row([key], read_row).optional())
        .map_err(|error| sqlite_error("get", &error))?;
    row.map(|row| row.map(Tenant::from_stored)).transpose()
}

/// A row as read; a value the schema's checks should have refused is [`CorruptRow`].
///
/// [`CorruptRow`]: StoreErrorKind::CorruptRow
fn read_row(row: &Row<'_>) -> rusqlite::Result<Result<StoredTenant, StoreError>> {
    let installed = match row.get::<_, i64>(7)? {
        0 => false,
        1 => true,
        _ => return Ok(Err(corrupt())),
    };
    let shared_secret = SharedSecret::from(row.get::<_, String>(1)?);
    if shared_secret.is_empty() {
        return Ok(Err(corrupt()));
    }
    Ok(Ok(StoredTenant {
        client_key: row.get(0)?,
        shared_secret,
        base_url: row.get(2)?,
        display_url: row.get(3)?,
        product_type: row.get(4)?,
        installation_id: row.get(5)?,
        oauth_client_id: row.get(6)?,
        installed,
    }))
}

fn corrupt() -> StoreError {
    StoreError::of_kind(
        StoreErrorKind::CorruptRow,
        "get: a stored tenant breaks the schema's rules",
    )
}

fn stopped() -> StoreError {
    StoreError::new("the SQLite connection's thread has stopped")
}

/// A description of `error` that names the operation and SQLite's error code, never a value
/// (rusqlite's own messages may quote parameters or SQL).
fn sqlite_error(operation: &str, error: &rusqlite::Error) -> StoreError {
    match error {
        rusqlite::Error::SqliteFailure(failure, _) => StoreError::new(format!(
            "{operation}: sqlite error {:?} ({})",
            failure.code, failure.extended_code
        )),
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::IntegralValueOutOfRange(..) => StoreError::of_kind(
            StoreErrorKind::CorruptRow,
            format!("{operation}: a stored value has the wrong type"),
        ),
        _ => StoreError::new(format!("{operation}: sqlite client error")),
    }
}
