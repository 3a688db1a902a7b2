//! The PostgreSQL tenant store: for apps that run several instances on one database.
//!
//! tokio-postgres through a deadpool pool. A connection that broke (the server restarted,
//! the network dropped) is closed, and the pool replaces it when it is next taken, so the
//! store recovers on its own; the call that met the broken connection fails with a
//! [`StoreError`] (503: the product retries a lifecycle callback, a user reloads).

use std::time::Duration;

use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime, Transaction,
};
use tokio_postgres::error::SqlState;
use tokio_postgres::{NoTls, Row};

use super::{
    InstalledTenant, StoreError, StoreErrorKind, StoreFuture, StoredTenant, Tenant, TenantStore,
    UninstalledTenant,
};
use crate::secret::SharedSecret;

/// Connections per store (per app instance).
const MAX_CONNECTIONS: usize = 16;
/// The longest any call waits: for a connection, or for the database to answer.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts of an install that deadlocked with a concurrent one (two tenants swapping
/// installationIds), or met a unique key taken meanwhile.
const INSTALL_ATTEMPTS: usize = 3;
/// The advisory lock that serializes migrations between instances starting at once
/// (`connect-jwt` in ASCII).
const MIGRATION_LOCK: i64 = 0x636f_6e6e_6563_742d;

/// The first key of the advisory locks taken per installationId (`conn` in ASCII); the
/// second is the id's hash. Two-key advisory locks never overlap one-key ones.
const INSTALLATION_ID_LOCKS: i32 = 0x636f_6e6e;

/// The schema, one migration per version (version `n` is `MIGRATIONS[n - 1]`), applied in
/// order on connect under an advisory lock. Never edit an applied migration: append one.
const MIGRATIONS: &[&str] = &[
    // Version 1: one row per clientKey; installationId unique where present.
    "CREATE TABLE connect_tenants (
        client_key      text        NOT NULL PRIMARY KEY,
        shared_secret   text        NOT NULL CHECK (shared_secret <> ''),
        base_url        text        NOT NULL,
        display_url     text,
        product_type    text,
        installation_id text,
        oauth_client_id text,
        installed       boolean     NOT NULL,
        install_count   bigint      NOT NULL CHECK (install_count >= 1),
        installed_at    timestamptz NOT NULL,
        updated_at      timestamptz NOT NULL
    );
    CREATE UNIQUE INDEX connect_tenants_installation_id
        ON connect_tenants (installation_id) WHERE installation_id IS NOT NULL;",
];

macro_rules! select_by {
    ($column:literal) => {
        concat!(
            "SELECT client_key, shared_secret, base_url, display_url, product_type, \
             installation_id, oauth_client_id, installed FROM connect_tenants WHERE ",
            $column,
            " = $1"
        )
    };
}

/// Tenants in a PostgreSQL database, shared by every app instance that connects to it.
///
/// The schema (table `connect_tenants`, versions in `connect_jwt_migrations`, in the
/// connection's `search_path`) is created or migrated on connect, under an advisory lock so
/// that instances starting together migrate once. `client_key` is the primary key and
/// `installation_id` is unique where present; an install is one
/// `INSERT ... ON CONFLICT (client_key) DO UPDATE` in the same transaction that releases its
/// `installationId` from any other row, so concurrent installs on several instances leave
/// one row. Every instance reads the database on every lookup: an install on one is seen by
/// all at once.
///
/// Shared secrets are stored as the product sent them: the database is the trust boundary
/// (restrict who can read the table and its backups). Connections are not encrypted.
///
/// Needs a tokio runtime (the pool's connection tasks run on it).
///
/// ```no_run
/// use atlassian_connect_jwt::{PostgresTenantStore, TenantStore};
///
/// # async fn example() -> Result<(), atlassian_connect_jwt::StoreError> {
/// let store = PostgresTenantStore::connect("postgres://app:password@db.internal:5432/app").await?;
/// let tenant = store.get("tenant-1").await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct PostgresTenantStore {
    pool: Pool,
}

impl PostgresTenantStore {
    /// Connects with `url` (`postgres://user:password@host:5432/database`, libpq's URL and
    /// its options), checks the server answers, and migrates the schema.
    ///
    /// # Errors
    ///
    /// [`StoreErrorKind::InvalidUrl`] when `url` is not a connection URL;
    /// [`StoreErrorKind::Unavailable`] when the server cannot be reached or refuses the login;
    /// [`StoreErrorKind::SchemaTooNew`] when a newer version of this crate migrated it.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let config: tokio_postgres::Config = url.parse().map_err(|_| {
            StoreError::of_kind(
                StoreErrorKind::InvalidUrl,
                "open: not a PostgreSQL connection URL",
            )
        })?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                // A closed connection is dropped when taken; a broken one closes itself.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(MAX_CONNECTIONS)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(TIMEOUT))
            .create_timeout(Some(TIMEOUT))
            .recycle_timeout(Some(TIMEOUT))
            .build()
            .map_err(|_| StoreError::new("open: cannot build the connection pool"))?;
        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    async fn client(&self, operation: &str) -> Result<Object, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|error| pool_error(operation, &error))
    }

    /// Applies the migrations this database has not seen, in one transaction holding the
    /// migration lock.
    async fn migrate(&self) -> Result<(), StoreError> {
        let operation = "migrate";
        let mut client = self.client(operation).await?;
        within(async {
            let tx = client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .await?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS connect_jwt_migrations (
                    version    integer     NOT NULL PRIMARY KEY,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )",
            )
            .await?;
            let current: i32 = tx
                .query_one(
                    "SELECT coalesce(max(version), 0) FROM connect_jwt_migrations",
                    &[],
                )
                .await?
                .get(0);
            let known = i32::try_from(MIGRATIONS.len()).unwrap_or(i32::MAX);
            if current > known {
                return Ok(Err(StoreError::of_kind(
                    StoreErrorKind::SchemaTooNew,
                    format!(
                        "migrate: the database is at schema version {current}, this code knows {known}"
                    ),
                )));
            }
            for (version, sql) in (1..).zip(MIGRATIONS).skip(usize::try_from(current).unwrap_or(0)) {
                tx.batch_execute(sql).await?;
                tx.execute(
                    "INSERT INTO connect_jwt_migrations (version) VALUES ($1)",
                    &[&version],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(Ok(()))
        })
        .await
        .map_err(|failure| failure.describe(operation))?
    }

    async fn select_one(&self, sql: &str, key: &str) -> Result<Option<Tenant>, StoreError> {
        let operation = "get";
        let client = self.client(operation).await?;
        let row = within(async {
            let statement = client.prepare_cached(sql).await?;
            client.query_opt(&statement, &[&key]).await
        })
        .await
        .map_err(|failure| failure.describe(operation))?;
        row.map(|row| read_row(&row).map(Tenant::from_stored))
            .transpose()
    }

    async fn upsert(&self, tenant: &Tenant) -> Result<bool, StoreError> {
        let operation = "save_install";
        let mut client = self.client(operation).await?;
        let mut attempt = 1;
        loop {
            let result = within(async {
                let tx = client.transaction().await?;
                let first = upsert_in(&tx, tenant).await?;
                tx.commit().await?;
                Ok(first)
            })
            .await;
            match result {
                Ok(first) => return Ok(first),
                // Two installs raced for one installationId, or deadlocked releasing each
                // other's: the loser's next attempt sees the winner's row.
                Err(failure) if failure.is_race() && attempt < INSTALL_ATTEMPTS => attempt += 1,
                Err(failure) => return Err(failure.describe(operation)),
            }
        }
    }
}

impl TenantStore for PostgresTenantStore {
    fn get<'a>(&'a self, client_key: &'a str) -> StoreFuture<'a, Option<Tenant>> {
        Box::pin(self.select_one(select_by!("client_key"), client_key))
    }

    fn get_by_installation_id<'a>(
        &'a self,
        installation_id: &'a str,
    ) -> StoreFuture<'a, Option<Tenant>> {
        Box::pin(self.select_one(select_by!("installation_id"), installation_id))
    }

    fn save_install<'a>(&'a self, install: &'a InstalledTenant) -> StoreFuture<'a, bool> {
        Box::pin(self.upsert(install.tenant()))
    }

    fn mark_uninstalled<'a>(&'a self, uninstall: &'a UninstalledTenant) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let operation = "mark_uninstalled";
            let client = self.client(operation).await?;
            let changed = within(async {
                let statement = client
                    .prepare_cached(
                        "UPDATE connect_tenants SET installed = false, updated_at = now() \
                         WHERE client_key = $1",
                    )
                    .await?;
                client.execute(&statement, &[&uninstall.client_key()]).await
            })
            .await
            .map_err(|failure| failure.describe(operation))?;
            Ok(changed > 0)
        })
    }
}

/// Release the installationId from any other row, then insert or replace this clientKey's
/// row. `true` for a first install.
async fn upsert_in(tx: &Transaction<'_>, tenant: &Tenant) -> Result<bool, tokio_postgres::Error> {
    if let Some(installation_id) = tenant.installation_id() {
        // Installs carrying one installationId take turns, so each sees the row that holds
        // it (committed) and releases it, instead of racing for the unique key.
        let turn = tx
            .prepare_cached("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .await?;
        tx.execute(&turn, &[&INSTALLATION_ID_LOCKS, &installation_id])
            .await?;
        let release = tx
            .prepare_cached(
                "UPDATE connect_tenants SET installation_id = NULL, updated_at = now() \
                 WHERE installation_id = $1 AND client_key <> $2",
            )
            .await?;
        tx.execute(&release, &[&installation_id, &tenant.client_key()])
            .await?;
    }
    let upsert = tx
        .prepare_cached(
            "INSERT INTO connect_tenants (client_key, shared_secret, base_url, display_url, \
                 product_type, installation_id, oauth_client_id, installed, install_count, \
                 installed_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, true, 1, now(), now()) \
             ON CONFLICT (client_key) DO UPDATE SET \
                 shared_secret = EXCLUDED.shared_secret, base_url = EXCLUDED.base_url, \
                 display_url = EXCLUDED.display_url, product_type = EXCLUDED.product_type, \
                 installation_id = EXCLUDED.installation_id, \
                 oauth_client_id = EXCLUDED.oauth_client_id, installed = true, \
                 install_count = connect_tenants.install_count + 1, \
                 installed_at = EXCLUDED.installed_at, updated_at = EXCLUDED.updated_at \
             RETURNING install_count",
        )
        .await?;
    let row = tx
        .query_one(
            &upsert,
            &[
                &tenant.client_key(),
                &tenant.shared_secret().expose(),
                &tenant.base_url(),
                &tenant.display_url(),
                &tenant.product_type(),
                &tenant.installation_id(),
                &tenant.oauth_client_id(),
            ],
        )
        .await?;
    let install_count: i64 = row.try_get(0)?;
    Ok(install_count == 1)
}

/// A row as read; a value the schema's checks should have refused is
/// [`StoreErrorKind::CorruptRow`].
fn read_row(row: &Row) -> Result<StoredTenant, StoreError> {
    let read = || -> Result<StoredTenant, tokio_postgres::Error> {
        Ok(StoredTenant {
            client_key: row.try_get(0)?,
            shared_secret: SharedSecret::from(row.try_get::<_, String>(1)?),
            base_url: row.try_get(2)?,
            display_url: row.try_get(3)?,
            product_type: row.try_get(4)?,
            installation_id: row.try_get(5)?,
            oauth_client_id: row.try_get(6)?,
            installed: row.try_get(7)?,
        })
    };
    match read() {
        Ok(stored) if !stored.shared_secret.is_empty() => Ok(stored),
        _ => Err(StoreError::of_kind(
            StoreErrorKind::CorruptRow,
            "get: a stored tenant breaks the schema's rules",
        )),
    }
}

/// A database call that failed or did not answer in time.
enum Failure {
    Database(tokio_postgres::Error),
    TimedOut,
}

impl Failure {
    /// Whether a concurrent install caused it (a unique key taken meanwhile, a deadlock):
    /// the transaction can simply run again.
    fn is_race(&self) -> bool {
        let Self::Database(error) = self else {
            return false;
        };
        error.code().is_some_and(|code| {
            *code == SqlState::UNIQUE_VIOLATION
                || *code == SqlState::T_R_DEADLOCK_DETECTED
                || *code == SqlState::T_R_SERIALIZATION_FAILURE
        })
    }

    fn describe(&self, operation: &str) -> StoreError {
        match self {
            Self::Database(error) => postgres_error(operation, error),
            Self::TimedOut => StoreError::new(format!(
                "{operation}: the database did not answer within {} s",
                TIMEOUT.as_secs()
            )),
        }
    }
}

/// Runs `work` within [`TIMEOUT`] (dropping a transaction rolls it back).
async fn within<T>(
    work: impl core::future::Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, Failure> {
    match tokio::time::timeout(TIMEOUT, work).await {
        Ok(result) => result.map_err(Failure::Database),
        Err(_) => Err(Failure::TimedOut),
    }
}

/// A description of `error` that names the operation and the SQLSTATE, never a value (a
/// server's message and detail may quote row content).
fn postgres_error(operation: &str, error: &tokio_postgres::Error) -> StoreError {
    if let Some(code) = error.code() {
        return StoreError::new(format!("{operation}: database error {}", code.code()));
    }
    if error.is_closed() {
        return StoreError::new(format!("{operation}: the connection is closed"));
    }
    let io = std::error::Error::source(error)
        .and_then(|source| source.downcast_ref::<std::io::Error>())
        .map(std::io::Error::kind);
    match io {
        Some(kind) => StoreError::new(format!("{operation}: cannot reach the database ({kind})")),
        None => StoreError::new(format!("{operation}: connection or protocol error")),
    }
}

fn pool_error(operation: &str, error: &PoolError) -> StoreError {
    match error {
        PoolError::Backend(error) => postgres_error(operation, error),
        PoolError::Timeout(_) => StoreError::new(format!(
            "{operation}: no database connection within {} s",
            TIMEOUT.as_secs()
        )),
        _ => StoreError::new(format!("{operation}: the connection pool failed")),
    }
}
