//! The SQLite store on a real file: the conformance subject, the restart, the migrations.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use atlassian_connect_jwt::{
    open_tenant_store, AsyncSecretStore, Error, SqliteTenantStore, StoreErrorKind, TenantStore,
    Unavailable,
};

use super::support::{install, uninstall, Body};
use super::Subject;

/// Rows in the file's tenant table, read with a connection of the test's own.
fn rows_in(path: &Path) -> usize {
    let connection = rusqlite::Connection::open(path).unwrap();
    connection
        .query_row("SELECT count(*) FROM connect_tenants", [], |row| {
            row.get::<_, i64>(0)
        })
        .map(|n| usize::try_from(n).unwrap())
        .unwrap()
}

fn schema_versions(path: &Path) -> Vec<i64> {
    let connection = rusqlite::Connection::open(path).unwrap();
    let mut statement = connection
        .prepare("SELECT version FROM connect_jwt_migrations ORDER BY version")
        .unwrap();
    let versions = statement
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<Vec<i64>, _>>()
        .unwrap();
    versions
}

fn temp_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tenants.db");
    (dir, path)
}

pub(crate) async fn subject() -> Option<Subject> {
    let (dir, path) = temp_db();
    let store = SqliteTenantStore::open(&path).await.unwrap();
    let counted = path.clone();
    Some(Subject {
        store: Arc::new(store),
        rows: Box::new(move || {
            let n = rows_in(&counted);
            Box::pin(async move { n })
        }),
        // The directory lives as long as the subject.
        cleanup: Some(Box::pin(async move { drop(dir) })),
    })
}

#[tokio::test]
async fn a_restart_keeps_the_tenants() {
    let (_dir, path) = temp_db();
    {
        let store = SqliteTenantStore::open(&path).await.unwrap();
        let body = Body::installed("tenant-1", "kept-secret").installation_id("ari:kept");
        assert!(store.save_install(&body.install()).await.unwrap());
        store
            .save_install(&install("tenant-2", "second"))
            .await
            .unwrap();
        store
            .mark_uninstalled(&uninstall("tenant-2"))
            .await
            .unwrap();
    } // dropped: the connection's thread ends and closes the file
    let store = SqliteTenantStore::open(&path).await.unwrap();
    let t = store.get("tenant-1").await.unwrap().unwrap();
    assert_eq!(t.shared_secret().expose(), "kept-secret");
    assert!(t.is_installed());
    let by_id = store
        .get_by_installation_id("ari:kept")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_id.client_key(), "tenant-1");
    assert!(!store.get("tenant-2").await.unwrap().unwrap().is_installed());
    // A reinstall after the restart is not a first install.
    assert!(!store
        .save_install(&install("tenant-1", "rotated"))
        .await
        .unwrap());
    assert_eq!(rows_in(&path), 2);
    assert_eq!(
        schema_versions(&path),
        [1],
        "the reopen migrated nothing twice"
    );
}

#[tokio::test]
async fn the_schema_is_created_in_an_empty_file_and_beside_the_apps_tables() {
    let (_dir, path) = temp_db();
    // An empty file, as `touch` leaves it.
    std::fs::write(&path, b"").unwrap();
    drop(SqliteTenantStore::open(&path).await.unwrap());
    assert_eq!(schema_versions(&path), [1]);
    assert_eq!(rows_in(&path), 0);

    // A database the app already uses for its own tables.
    let (_dir2, shared) = temp_db();
    let app = rusqlite::Connection::open(&shared).unwrap();
    app.execute_batch(
        "CREATE TABLE app_things (id INTEGER PRIMARY KEY, name TEXT);
         INSERT INTO app_things (name) VALUES ('kept');
         PRAGMA user_version = 7;",
    )
    .unwrap();
    let store = SqliteTenantStore::open(&shared).await.unwrap();
    store.save_install(&install("tenant-1", "s")).await.unwrap();
    let name: String = app
        .query_row("SELECT name FROM app_things", [], |row| row.get(0))
        .unwrap();
    assert_eq!(name, "kept");
    let user_version: i64 = app
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(user_version, 7, "the app's user_version is its own");
    assert_eq!(rows_in(&shared), 1);
}

#[tokio::test]
async fn the_schema_has_the_unique_keys() {
    let (_dir, path) = temp_db();
    drop(SqliteTenantStore::open(&path).await.unwrap());
    let raw = rusqlite::Connection::open(&path).unwrap();
    let insert =
        "INSERT INTO connect_tenants VALUES (?1, 's', 'b', NULL, NULL, ?2, NULL, 1, 1, 0, 0)";
    raw.execute(insert, ["a", "ari:1"]).unwrap();
    // A second row for one clientKey, or for one installationId, is refused by the schema.
    let refused = |client_key: &str, id: &str| {
        let error = raw.execute(insert, [client_key, id]).unwrap_err();
        assert_eq!(
            error.sqlite_error_code(),
            Some(rusqlite::ErrorCode::ConstraintViolation)
        );
    };
    refused("a", "ari:2");
    refused("b", "ari:1");
    // Rows without an installationId are many.
    raw.execute(
        "INSERT INTO connect_tenants VALUES ('c', 's', 'b', NULL, NULL, NULL, NULL, 1, 1, 0, 0)",
        [],
    )
    .unwrap();
    raw.execute(
        "INSERT INTO connect_tenants VALUES ('d', 's', 'b', NULL, NULL, NULL, NULL, 1, 1, 0, 0)",
        [],
    )
    .unwrap();
    // An empty secret is refused too.
    assert!(raw
        .execute(
            "INSERT INTO connect_tenants VALUES ('e', '', 'b', NULL, NULL, NULL, NULL, 1, 1, 0, 0)",
            [],
        )
        .is_err());
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let (_dir, path) = temp_db();
    drop(SqliteTenantStore::open(&path).await.unwrap());
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute(
        "INSERT INTO connect_jwt_migrations (version, applied_at) VALUES (2, 0)",
        [],
    )
    .unwrap();
    let error = SqliteTenantStore::open(&path).await.unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::SchemaTooNew);
    assert_eq!(
        error.message(),
        "migrate: the database is at schema version 2, this code knows 1"
    );
}

#[tokio::test]
async fn a_corrupt_row_is_an_error_not_a_tenant() {
    let (_dir, path) = temp_db();
    let store = SqliteTenantStore::open(&path).await.unwrap();
    store.save_install(&install("tenant-1", "s")).await.unwrap();
    // Written around the schema's checks by something else.
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute_batch(
        "PRAGMA ignore_check_constraints = ON;
         UPDATE connect_tenants SET installed = 2 WHERE client_key = 'tenant-1';",
    )
    .unwrap();
    let error = store.get("tenant-1").await.unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::CorruptRow);
    let view: &dyn TenantStore = &store;
    assert_eq!(
        view.tenant_key("tenant-1").await.unwrap_err(),
        Error::Unavailable(Unavailable::SecretStore)
    );
    raw.execute_batch(
        "UPDATE connect_tenants SET installed = 1, shared_secret = '' WHERE client_key = 'tenant-1';",
    )
    .unwrap();
    assert_eq!(
        store.get("tenant-1").await.unwrap_err().kind(),
        StoreErrorKind::CorruptRow
    );
}

#[tokio::test]
async fn an_unopenable_file_is_a_store_error() {
    let (dir, _) = temp_db();
    // A directory is not a database file.
    let error = SqliteTenantStore::open(dir.path()).await.unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::Unavailable);
    let error = SqliteTenantStore::open(dir.path().join("missing/dir/t.db"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::Unavailable);
    assert!(!error.message().contains("missing"), "{error:?}");
}

#[tokio::test]
async fn two_stores_on_one_file_see_each_other() {
    let (_dir, path) = temp_db();
    let (a, b) = tokio::join!(
        SqliteTenantStore::open(&path),
        SqliteTenantStore::open(&path)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        schema_versions(&path),
        [1],
        "opened together, migrated once"
    );
    a.save_install(&install("tenant-1", "from-a"))
        .await
        .unwrap();
    assert_eq!(
        b.get("tenant-1")
            .await
            .unwrap()
            .unwrap()
            .shared_secret()
            .expose(),
        "from-a"
    );
    assert!(!b
        .save_install(&install("tenant-1", "from-b"))
        .await
        .unwrap());
    assert_eq!(
        a.get("tenant-1")
            .await
            .unwrap()
            .unwrap()
            .shared_secret()
            .expose(),
        "from-b"
    );
    assert_eq!(rows_in(&path), 1);
}

#[tokio::test]
async fn open_tenant_store_picks_sqlite_from_the_url() {
    let (_dir, path) = temp_db();
    let url = format!("sqlite://{}", path.display());
    let store = open_tenant_store(&url).await.unwrap();
    store.save_install(&install("tenant-1", "s")).await.unwrap();
    drop(store);
    let reopened = open_tenant_store(&format!("sqlite:{}", path.display()))
        .await
        .unwrap();
    assert!(reopened.get("tenant-1").await.unwrap().is_some());
    assert_eq!(rows_in(&path), 1);
    // In memory: nothing on disk, gone with the store.
    let memory = open_tenant_store("sqlite::memory:").await.unwrap();
    memory
        .save_install(&install("tenant-1", "s"))
        .await
        .unwrap();
    assert!(memory.get("tenant-1").await.unwrap().is_some());
}

#[test]
fn the_store_needs_no_tokio_runtime() {
    // The connection's thread does the work; any executor can wait for the answer.
    let (_dir, path) = temp_db();
    let store = futures_lite_block_on(SqliteTenantStore::open(&path)).unwrap();
    futures_lite_block_on(store.save_install(&install("tenant-1", "s"))).unwrap();
    let t = futures_lite_block_on(store.get("tenant-1"))
        .unwrap()
        .unwrap();
    assert_eq!(t.shared_secret().expose(), "s");
}

/// A minimal executor: polls on this thread, parks until woken.
fn futures_lite_block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    use std::thread::{self, Thread};

    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        thread::park();
    }
}
