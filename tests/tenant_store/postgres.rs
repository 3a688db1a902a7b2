//! The PostgreSQL store against a real server: the conformance subject (a schema of its own
//! per test), two instances on one database, migrations racing, a server that stops.

use std::sync::Arc;
use std::time::{Duration, Instant};

use atlassian_connect_jwt::{
    open_tenant_store, AsyncSecretStore, Error, PostgresTenantStore, StoreErrorKind, TenantStore,
    Unavailable,
};

use super::support::postgres::{raw_client, url_or_skip, Schema, Throwaway};
use super::support::{install, uninstall, Body};
use super::Subject;

pub(crate) async fn subject() -> Option<Subject> {
    let base = url_or_skip("the PostgreSQL tenant store")?;
    let schema = Arc::new(Schema::create(&base).await);
    let store = PostgresTenantStore::connect(&schema.url).await.unwrap();
    let counted = schema.clone();
    Some(Subject {
        store: Arc::new(store),
        rows: Box::new(move || {
            let schema = counted.clone();
            Box::pin(async move { schema.rows().await })
        }),
        cleanup: Some(Box::pin(async move {
            let Ok(schema) = Arc::try_unwrap(schema) else {
                panic!("the schema is still in use: its counter was not dropped");
            };
            schema.drop_schema().await;
        })),
    })
}

async fn versions(schema: &Schema) -> Vec<i32> {
    schema
        .admin()
        .query(
            &format!(
                "SELECT version FROM {}.connect_jwt_migrations ORDER BY version",
                schema.name
            ),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_database_see_each_others_installs() {
    let Some(base) = url_or_skip("two PostgreSQL instances") else {
        return;
    };
    let schema = Schema::create(&base).await;
    // Two app instances start at once: each its own pool, one migration between them.
    let (a, b) = tokio::join!(
        PostgresTenantStore::connect(&schema.url),
        PostgresTenantStore::connect(&schema.url)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(versions(&schema).await, [1]);

    let body = Body::installed("tenant-1", "from-a").installation_id("ari:shared");
    assert!(a.save_install(&body.install()).await.unwrap());
    let seen = b.get("tenant-1").await.unwrap().unwrap();
    assert_eq!(seen.shared_secret().expose(), "from-a");
    let seen = b
        .get_by_installation_id("ari:shared")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen.client_key(), "tenant-1");
    // A reinstall on b is a reinstall for a too; an uninstall on a stops b's tenant.
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
    assert!(a.mark_uninstalled(&uninstall("tenant-1")).await.unwrap());
    let view: &dyn TenantStore = &b;
    assert!(view.tenant_key("tenant-1").await.unwrap().is_none());
    // Installs racing on both instances leave one row.
    let a = Arc::new(a);
    let b = Arc::new(b);
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            let install = install("tenant-2", &format!("secret-{i}"));
            tokio::spawn(async move { store.save_install(&install).await.unwrap() })
        })
        .collect();
    let mut firsts = 0;
    for task in tasks {
        firsts += usize::from(task.await.unwrap());
    }
    assert_eq!(firsts, 1);
    assert_eq!(schema.rows().await, 2);
    drop((a, b));
    schema.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_instances_starting_at_once_migrate_once() {
    let Some(base) = url_or_skip("PostgreSQL migrations") else {
        return;
    };
    let schema = Schema::create(&base).await;
    let starts: Vec<_> = (0..6)
        .map(|_| {
            let url = schema.url.clone();
            tokio::spawn(async move { PostgresTenantStore::connect(&url).await.map(drop) })
        })
        .collect();
    for start in starts {
        start.await.unwrap().unwrap();
    }
    assert_eq!(versions(&schema).await, [1]);
    // The unique keys are in the schema itself.
    let indexes: Vec<String> = schema
        .admin()
        .query(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = 'connect_tenants' ORDER BY indexname",
            &[&schema.name],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(indexes.len(), 2, "{indexes:?}");
    assert!(indexes[0].starts_with("CREATE UNIQUE INDEX connect_tenants_installation_id"));
    assert!(indexes[0].ends_with("WHERE (installation_id IS NOT NULL)"));
    assert!(indexes[1].starts_with("CREATE UNIQUE INDEX connect_tenants_pkey"));
    schema.drop_schema().await;
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let Some(base) = url_or_skip("PostgreSQL migrations") else {
        return;
    };
    let schema = Schema::create(&base).await;
    drop(PostgresTenantStore::connect(&schema.url).await.unwrap());
    schema
        .admin()
        .batch_execute(&format!(
            "INSERT INTO {}.connect_jwt_migrations (version) VALUES (2)",
            schema.name
        ))
        .await
        .unwrap();
    let error = PostgresTenantStore::connect(&schema.url).await.unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::SchemaTooNew);
    schema.drop_schema().await;
}

#[tokio::test]
async fn open_tenant_store_picks_postgres_from_the_url() {
    let Some(base) = url_or_skip("PostgreSQL by URL") else {
        return;
    };
    let schema = Schema::create(&base).await;
    let store = open_tenant_store(&schema.url).await.unwrap();
    store.save_install(&install("tenant-1", "s")).await.unwrap();
    assert_eq!(schema.rows().await, 1);
    let alias = schema.url.replacen("postgres://", "postgresql://", 1);
    let again = open_tenant_store(&alias).await.unwrap();
    assert!(again.get("tenant-1").await.unwrap().is_some());
    drop((store, again));
    schema.drop_schema().await;
}

#[tokio::test]
async fn a_wrong_password_or_a_closed_port_is_a_store_error_without_the_password() {
    let Some(base) = url_or_skip("PostgreSQL login errors") else {
        return;
    };
    // A role that does not exist, with a password: refused whether the server checks
    // passwords (28P01) or trusts loopback (28000), both SQLSTATE class 28.
    let (scheme, rest) = base.split_once("://").unwrap();
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let wrong = format!("{scheme}://connect_jwt_no_such_role:hunter2-wrong@{host}");
    let error = PostgresTenantStore::connect(&wrong).await.unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::Unavailable);
    assert!(
        error.message().starts_with("migrate: database error 28"),
        "{error:?}"
    );
    assert!(!format!("{error} {error:?}").contains("hunter2"));

    let closed = Throwaway::free_port_url();
    let started = Instant::now();
    let error = PostgresTenantStore::connect(&closed).await.unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::Unavailable);
    assert!(
        error
            .message()
            .starts_with("migrate: cannot reach the database"),
        "{error:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a refused connection fails at once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_is_unavailable_and_the_store_recovers() {
    if url_or_skip("a PostgreSQL server restart").is_none() {
        return;
    }
    let Some(server) = Throwaway::start("a PostgreSQL server restart") else {
        return;
    };
    let store = PostgresTenantStore::connect(&server.url()).await.unwrap();
    let body = Body::installed("tenant-1", "survives").installation_id("ari:r");
    store.save_install(&body.install()).await.unwrap();
    // Several pooled connections, all of which the stop will break.
    let store = Arc::new(store);
    let warm: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.get("tenant-1").await.unwrap() })
        })
        .collect();
    for task in warm {
        assert!(task.await.unwrap().is_some());
    }

    server.stop();
    let error = store.get("tenant-1").await.unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::Unavailable);
    let error = store
        .save_install(&install("tenant-2", "s"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::Unavailable);
    let error = store
        .mark_uninstalled(&uninstall("tenant-1"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::Unavailable);
    let view: &dyn TenantStore = &*store;
    assert_eq!(
        view.tenant_key("tenant-1").await.unwrap_err(),
        Error::Unavailable(Unavailable::SecretStore)
    );

    server.start_again();
    // The first call after the restart already works: broken connections were dropped.
    let t = store.get("tenant-1").await.unwrap().unwrap();
    assert_eq!(t.shared_secret().expose(), "survives");
    assert!(t.is_installed(), "the failed uninstall changed nothing");
    assert!(
        store.get("tenant-2").await.unwrap().is_none(),
        "nor the failed install"
    );
    assert!(store.save_install(&install("tenant-2", "s")).await.unwrap());
    assert_eq!(
        store
            .get_by_installation_id("ari:r")
            .await
            .unwrap()
            .unwrap()
            .client_key(),
        "tenant-1"
    );
    let raw = raw_client(&server.url()).await;
    let rows: i64 = raw
        .query_one("SELECT count(*) FROM connect_tenants", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 2);
}
