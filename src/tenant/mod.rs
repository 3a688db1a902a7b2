//! Tenants: what an app keeps of each installation, and the store it keeps them in.
//!
//! A tenant's row is written only from a verified lifecycle callback: the store's write
//! methods take [`InstalledTenant`] and [`UninstalledTenant`], which only a
//! [`VerifiedInstall`] of the matching event can produce. So a shared secret changes only
//! through a verified install of the same clientKey, whatever the backend.

mod memory;
mod open;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use std::sync::Arc;

use crate::error::{Error, Unavailable};
use crate::install::VerifiedInstall;
use crate::secret::{SharedSecret, TenantKey};
use crate::verify::AsyncSecretStore;

pub use memory::MemoryTenantStore;
pub use open::open_tenant_store;
#[cfg(feature = "postgres")]
pub use postgres::PostgresTenantStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteTenantStore;

/// What a store's methods return: a boxed future, so that a store can be chosen at run time
/// and held as `Arc<dyn TenantStore>`.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Where an app keeps its tenants: by clientKey, with the `installationId` Forge apps send.
///
/// Backends: [`MemoryTenantStore`]; `SqliteTenantStore` (feature `sqlite`) and
/// `PostgresTenantStore` (feature `postgres`); [`open_tenant_store`] picks one from a URL.
/// Implementations must keep **one row per clientKey** (a unique key, written with an
/// atomic upsert, never find-then-insert) and at most one per `installationId`.
///
/// Shared secrets are kept as the product sent them (an HS256 key must stay usable): the
/// store's database and its backups are the trust boundary. A store never logs a secret, and
/// its errors never contain one, nor any row's content.
pub trait TenantStore: Send + Sync {
    /// The tenant with `client_key`, installed or not; `None` if it never installed.
    fn get<'a>(&'a self, client_key: &'a str) -> StoreFuture<'a, Option<Tenant>>;

    /// The tenant whose install carried `installation_id` (Forge apps with Connect modules
    /// send it; a Forge Invocation Token names it).
    fn get_by_installation_id<'a>(
        &'a self,
        installation_id: &'a str,
    ) -> StoreFuture<'a, Option<Tenant>>;

    /// Records a verified `installed` callback: inserts the tenant, or replaces the row of the
    /// same clientKey (secret, base URL, installationId, ...) and marks it installed, in one
    /// atomic write. An `installationId` held by another clientKey moves to this one.
    /// `true` when no tenant with this clientKey was stored before (a first install), `false`
    /// for a reinstall (after an uninstall, or a secret rotation).
    fn save_install<'a>(&'a self, install: &'a InstalledTenant) -> StoreFuture<'a, bool>;

    /// Records a verified `uninstalled` callback: the row stays (a reinstall may follow) but
    /// the tenant is no longer installed, so its tokens are refused. `false` when no such
    /// tenant was stored.
    fn mark_uninstalled<'a>(&'a self, uninstall: &'a UninstalledTenant) -> StoreFuture<'a, bool>;
}

/// A store could not answer (the database is down, a query failed, a row is corrupt), or
/// could not be opened.
///
/// It carries a [`StoreErrorKind`] and a short description for the app's logs (never a
/// secret, never a row's content, never a database password); verification turns it into
/// [`Unavailable::SecretStore`] (HTTP 503).
#[derive(Clone, PartialEq, Eq)]
pub struct StoreError {
    kind: StoreErrorKind,
    message: Arc<str>,
}

/// What kind of failure a [`StoreError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The database could not be reached or a query failed: retrying later may succeed.
    Unavailable,
    /// A stored row breaks the rules every write keeps (written by something else).
    CorruptRow,
    /// The database's schema is newer than this code knows: a newer version of the app
    /// migrated it. Refused rather than misread.
    SchemaTooNew,
    /// [`open_tenant_store`] was given a URL whose scheme names no store.
    UnsupportedScheme,
    /// [`open_tenant_store`] was given the URL of a store whose crate feature is off.
    BackendNotEnabled,
    /// [`open_tenant_store`] was given a malformed URL for a known store.
    InvalidUrl,
}

impl StoreError {
    /// A store error of kind [`StoreErrorKind::Unavailable`], described by `message` (no
    /// secrets, no row content in it).
    #[must_use]
    pub fn new(message: impl fmt::Display) -> Self {
        Self::of_kind(StoreErrorKind::Unavailable, message)
    }

    /// A store error of `kind`, described by `message` (no secrets, no row content in it).
    #[must_use]
    pub fn of_kind(kind: StoreErrorKind, message: impl fmt::Display) -> Self {
        Self {
            kind,
            message: message.to_string().into(),
        }
    }

    /// What kind of failure this is.
    #[must_use]
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }

    /// The description.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tenant store: {}", self.message)
    }
}

impl fmt::Debug for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreError({:?}: {:?})", self.kind, self.message)
    }
}

impl std::error::Error for StoreError {}

impl From<StoreError> for Error {
    fn from(_: StoreError) -> Self {
        Unavailable::SecretStore.into()
    }
}

/// One installation of the app, as stored.
#[derive(Clone)]
pub struct Tenant {
    client_key: String,
    shared_secret: SharedSecret,
    base_url: String,
    display_url: Option<String>,
    product_type: Option<String>,
    installation_id: Option<String>,
    oauth_client_id: Option<String>,
    installed: bool,
}

impl Tenant {
    /// A tenant read back from storage. Only store backends call this, with what a
    /// [`TenantStore::save_install`] wrote.
    #[must_use]
    pub fn from_stored(record: StoredTenant) -> Self {
        Self {
            client_key: record.client_key,
            shared_secret: record.shared_secret,
            base_url: record.base_url,
            display_url: record.display_url,
            product_type: record.product_type,
            installation_id: record.installation_id,
            oauth_client_id: record.oauth_client_id,
            installed: record.installed,
        }
    }

    /// The tenant's clientKey: its identity.
    #[must_use]
    pub fn client_key(&self) -> &str {
        &self.client_key
    }

    /// The shared secret of its latest verified install.
    #[must_use]
    pub fn shared_secret(&self) -> &SharedSecret {
        &self.shared_secret
    }

    /// The tenant's key, bound to its clientKey.
    ///
    /// # Errors
    ///
    /// [`ConfigError::EmptySecret`](crate::ConfigError::EmptySecret) if the stored secret is
    /// empty (no verified install writes one).
    pub fn key(&self) -> Result<TenantKey, Error> {
        TenantKey::new(&self.client_key, &self.shared_secret)
    }

    /// The product's base URL (`https://example.atlassian.net`, `.../wiki` for Confluence).
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `displayUrl`, when the install sent one (a custom domain).
    #[must_use]
    pub fn display_url(&self) -> Option<&str> {
        self.display_url.as_deref()
    }

    /// `productType` (`jira`, `confluence`), when sent.
    #[must_use]
    pub fn product_type(&self) -> Option<&str> {
        self.product_type.as_deref()
    }

    /// `installationId`, when sent (Forge apps with Connect modules).
    #[must_use]
    pub fn installation_id(&self) -> Option<&str> {
        self.installation_id.as_deref()
    }

    /// `oauthClientId`, when sent: needed to act as a user.
    #[must_use]
    pub fn oauth_client_id(&self) -> Option<&str> {
        self.oauth_client_id.as_deref()
    }

    /// Whether the latest verified lifecycle callback was `installed`.
    #[must_use]
    pub fn is_installed(&self) -> bool {
        self.installed
    }
}

impl fmt::Debug for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tenant")
            .field("client_key", &self.client_key)
            .field("base_url", &self.base_url)
            .field("installation_id", &self.installation_id)
            .field("installed", &self.installed)
            .finish_non_exhaustive()
    }
}

/// The columns of a stored tenant, for store backends reading a row back
/// ([`Tenant::from_stored`]).
#[derive(Clone)]
#[allow(missing_debug_implementations)] // holds a secret; Tenant's Debug is the one to use
pub struct StoredTenant {
    /// clientKey.
    pub client_key: String,
    /// sharedSecret of the latest verified install.
    pub shared_secret: SharedSecret,
    /// baseUrl.
    pub base_url: String,
    /// displayUrl.
    pub display_url: Option<String>,
    /// productType.
    pub product_type: Option<String>,
    /// installationId.
    pub installation_id: Option<String>,
    /// oauthClientId.
    pub oauth_client_id: Option<String>,
    /// Installed (not uninstalled since).
    pub installed: bool,
}

/// What a verified `installed` callback writes: only [`InstalledTenant::from_verified`] makes
/// one, from a [`VerifiedInstall`] whose event is `installed`.
#[derive(Clone)]
pub struct InstalledTenant {
    tenant: Tenant,
}

impl InstalledTenant {
    /// The tenant a verified `installed` callback describes; `None` for any other event.
    #[must_use]
    pub fn from_verified(install: &VerifiedInstall) -> Option<Self> {
        let payload = install.payload();
        if payload.event_type() != "installed" {
            return None;
        }
        // A verified `installed` body always has a non-empty secret (checked when parsed).
        let shared_secret = payload.shared_secret()?.clone();
        Some(Self {
            tenant: Tenant {
                client_key: install.client_key().to_owned(),
                shared_secret,
                base_url: payload.base_url().to_owned(),
                display_url: payload.display_url().map(str::to_owned),
                product_type: payload.product_type().map(str::to_owned),
                installation_id: payload.installation_id().map(str::to_owned),
                oauth_client_id: payload.oauth_client_id().map(str::to_owned),
                installed: true,
            },
        })
    }

    /// The tenant to store.
    #[must_use]
    pub fn tenant(&self) -> &Tenant {
        &self.tenant
    }
}

impl fmt::Debug for InstalledTenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("InstalledTenant")
            .field(&self.tenant)
            .finish()
    }
}

/// What a verified `uninstalled` callback writes: only [`UninstalledTenant::from_verified`]
/// makes one, from a [`VerifiedInstall`] whose event is `uninstalled`.
#[derive(Clone, Debug)]
pub struct UninstalledTenant {
    client_key: String,
}

impl UninstalledTenant {
    /// The tenant a verified `uninstalled` callback removes; `None` for any other event.
    #[must_use]
    pub fn from_verified(install: &VerifiedInstall) -> Option<Self> {
        (install.payload().event_type() == "uninstalled").then(|| Self {
            client_key: install.client_key().to_owned(),
        })
    }

    /// The clientKey of the tenant that uninstalled the app.
    #[must_use]
    pub fn client_key(&self) -> &str {
        &self.client_key
    }
}

/// Tenant keys for the verifier, from a [`TenantStore`]: an installed tenant's key, `None`
/// for an unknown or uninstalled tenant (so its tokens are
/// [`Error::UnknownIssuer`]), [`Unavailable::SecretStore`] when the store cannot answer.
impl AsyncSecretStore for dyn TenantStore {
    fn tenant_key<'a>(
        &'a self,
        client_key: &'a str,
    ) -> impl Future<Output = Result<Option<TenantKey>, Error>> + Send + 'a {
        let lookup = self.get(client_key);
        async move {
            match lookup.await? {
                Some(tenant) if tenant.is_installed() => tenant.key().map(Some),
                Some(_) | None => Ok(None),
            }
        }
    }
}
