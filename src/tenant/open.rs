//! Choosing a tenant store from a URL, as an app's configuration names it.

use std::sync::Arc;

use super::{MemoryTenantStore, StoreError, StoreErrorKind, TenantStore};

/// Opens the tenant store a URL names, creating or migrating its schema:
///
/// | URL | store | feature |
/// | --- | --- | --- |
/// | `memory:` | [`MemoryTenantStore`] (forgotten on restart) | `signed-install` |
/// | `sqlite://connect-app.db`, `sqlite:connect-app.db` (relative), `sqlite:///var/lib/app/tenants.db` (absolute), `sqlite::memory:` | `SqliteTenantStore` | `sqlite` |
/// | `postgres://user:password@host:5432/db` (also `postgresql://`, and libpq's options such as `?sslmode=disable`) | `PostgresTenantStore` | `postgres` |
///
/// The SQLite path is taken as written (no percent-decoding); a `?` or `#` in it is refused,
/// as SQLite URL options are not read. PostgreSQL connections are not encrypted (no TLS):
/// keep the database on a private network, or use `sslmode=require`, which then refuses to
/// connect rather than fall back to plain text.
///
/// ```
/// use atlassian_connect_jwt::{open_tenant_store, StoreErrorKind};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let tenants = open_tenant_store("memory:").await?;
/// assert!(tenants.get("tenant-1").await?.is_none());
///
/// let refused = open_tenant_store("mysql://db.example/app").await.err().unwrap();
/// assert_eq!(refused.kind(), StoreErrorKind::UnsupportedScheme);
/// # Ok::<(), atlassian_connect_jwt::StoreError>(()) }).unwrap();
/// ```
///
/// # Errors
///
/// [`StoreErrorKind::UnsupportedScheme`] for any other scheme (or none);
/// [`StoreErrorKind::BackendNotEnabled`] for `sqlite:` or `postgres:` in a build without that
/// feature; [`StoreErrorKind::InvalidUrl`] for a malformed URL of a known scheme; then the
/// store's own errors (unreachable, [`StoreErrorKind::SchemaTooNew`]). No message contains
/// the URL, which may hold a password.
pub async fn open_tenant_store(url: &str) -> Result<Arc<dyn TenantStore>, StoreError> {
    let (scheme, rest) = split_scheme(url)?;
    match scheme.as_str() {
        "memory" => {
            if !rest.is_empty() && rest != "//" {
                return Err(invalid("memory: takes no path or options"));
            }
            Ok(Arc::new(MemoryTenantStore::new()))
        }
        "sqlite" => open_sqlite(sqlite_path(rest)?).await,
        "postgres" | "postgresql" => open_postgres(url).await,
        _ => Err(StoreError::of_kind(
            StoreErrorKind::UnsupportedScheme,
            format!(
                "open: no tenant store for the scheme {scheme:?} (memory:, sqlite:, postgres:)"
            ),
        )),
    }
}

/// The scheme (lowercased) and what follows its `:`.
fn split_scheme(url: &str) -> Result<(String, &str), StoreError> {
    let no_scheme = || {
        StoreError::of_kind(
            StoreErrorKind::UnsupportedScheme,
            "open: the store URL has no scheme (memory:, sqlite:, postgres:)",
        )
    };
    let (scheme, rest) = url.split_once(':').ok_or_else(no_scheme)?;
    // RFC 3986 scheme characters, so the message may quote it (it holds no password).
    let valid = scheme.len() <= 32
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !valid {
        return Err(no_scheme());
    }
    Ok((scheme.to_ascii_lowercase(), rest))
}

/// The file path of a `sqlite:` URL (after the scheme's `:`), or `:memory:`.
fn sqlite_path(rest: &str) -> Result<&str, StoreError> {
    let path = rest.strip_prefix("//").unwrap_or(rest);
    if path.is_empty() {
        return Err(invalid(
            "sqlite: needs a file path (sqlite://connect-app.db)",
        ));
    }
    if path.contains(['?', '#']) {
        return Err(invalid("sqlite: URL options are not supported"));
    }
    Ok(path)
}

fn invalid(message: &str) -> StoreError {
    StoreError::of_kind(StoreErrorKind::InvalidUrl, format!("open: {message}"))
}

#[cfg(feature = "sqlite")]
async fn open_sqlite(path: &str) -> Result<Arc<dyn TenantStore>, StoreError> {
    let store = if path == ":memory:" {
        super::SqliteTenantStore::open_in_memory().await?
    } else {
        super::SqliteTenantStore::open(path).await?
    };
    Ok(Arc::new(store))
}

#[cfg(not(feature = "sqlite"))]
async fn open_sqlite(_: &str) -> Result<Arc<dyn TenantStore>, StoreError> {
    Err(not_enabled("sqlite"))
}

#[cfg(feature = "postgres")]
async fn open_postgres(url: &str) -> Result<Arc<dyn TenantStore>, StoreError> {
    Ok(Arc::new(super::PostgresTenantStore::connect(url).await?))
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres(_: &str) -> Result<Arc<dyn TenantStore>, StoreError> {
    Err(not_enabled("postgres"))
}

#[cfg(not(all(feature = "sqlite", feature = "postgres")))]
fn not_enabled(feature: &str) -> StoreError {
    StoreError::of_kind(
        StoreErrorKind::BackendNotEnabled,
        format!("open: this build has no {feature} store (crate feature `{feature}`)"),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn kind(url: &str) -> StoreErrorKind {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime
            .block_on(open_tenant_store(url))
            .err()
            .unwrap()
            .kind()
    }

    #[test]
    fn urls() {
        assert_eq!(kind("mysql://x"), StoreErrorKind::UnsupportedScheme);
        assert_eq!(kind("connect-app.db"), StoreErrorKind::UnsupportedScheme);
        assert_eq!(kind("user@host:5432"), StoreErrorKind::UnsupportedScheme);
        assert_eq!(kind(""), StoreErrorKind::UnsupportedScheme);
        assert_eq!(kind("memory:x"), StoreErrorKind::InvalidUrl);
        assert_eq!(kind("sqlite://"), StoreErrorKind::InvalidUrl);
        assert_eq!(kind("sqlite:"), StoreErrorKind::InvalidUrl);
        assert_eq!(kind("sqlite://a.db?mode=ro"), StoreErrorKind::InvalidUrl);
        assert_eq!(sqlite_path("//connect-app.db").unwrap(), "connect-app.db");
        assert_eq!(sqlite_path("///var/x.db").unwrap(), "/var/x.db");
        assert_eq!(sqlite_path("rel/x.db").unwrap(), "rel/x.db");
        assert_eq!(sqlite_path(":memory:").unwrap(), ":memory:");
        assert_eq!(split_scheme("SQLite:x").unwrap().0, "sqlite");
        #[cfg(not(feature = "sqlite"))]
        assert_eq!(kind("sqlite://x.db"), StoreErrorKind::BackendNotEnabled);
        #[cfg(not(feature = "postgres"))]
        assert_eq!(kind("postgres://h/db"), StoreErrorKind::BackendNotEnabled);
        #[cfg(feature = "postgres")]
        assert_eq!(kind("postgres://h:notaport/db"), StoreErrorKind::InvalidUrl);
    }

    #[test]
    fn messages_never_hold_the_url() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for url in [
            "mysql://user:hunter2@db/app",
            "hunter2",
            "postgres://user:hunter2@h:notaport/db",
            "sqlite://hunter2.db?key=1",
        ] {
            let error = runtime.block_on(open_tenant_store(url)).err().unwrap();
            assert!(!format!("{error} {error:?}").contains("hunter2"), "{url}");
        }
    }
}
