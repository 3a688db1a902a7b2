//! The in-memory tenant store: for tests, and for apps whose tenants may be forgotten on
//! restart (they reinstall).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::{InstalledTenant, StoreFuture, Tenant, TenantStore, UninstalledTenant};

/// Tenants in a map, behind a mutex held only for the map operation.
///
/// One entry per clientKey; a new install of the same clientKey replaces the entry, and an
/// `installationId` moves with it (the entry that held it before loses it).
///
/// ```
/// use atlassian_connect_jwt::{MemoryTenantStore, TenantStore};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryTenantStore::new();
/// assert!(store.get("tenant-1").await?.is_none());
/// # Ok::<(), atlassian_connect_jwt::StoreError>(()) }).unwrap();
/// ```
#[derive(Debug, Default)]
pub struct MemoryTenantStore {
    tenants: Mutex<Tenants>,
}

#[derive(Default)]
struct Tenants {
    by_client_key: HashMap<String, Tenant>,
    /// installationId → clientKey.
    by_installation_id: HashMap<String, String>,
}

impl core::fmt::Debug for Tenants {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Tenants")
            .field("count", &self.by_client_key.len())
            .finish_non_exhaustive()
    }
}

impl MemoryTenantStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// How many tenants are stored, installed or not.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().by_client_key.len()
    }

    /// Whether no tenant is stored.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Tenants> {
        // A panic elsewhere while holding the lock leaves the map consistent: every write
        // below is a single map operation.
        self.tenants.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl TenantStore for MemoryTenantStore {
    fn get<'a>(&'a self, client_key: &'a str) -> StoreFuture<'a, Option<Tenant>> {
        let found = self.lock().by_client_key.get(client_key).cloned();
        Box::pin(async move { Ok(found) })
    }

    fn get_by_installation_id<'a>(
        &'a self,
        installation_id: &'a str,
    ) -> StoreFuture<'a, Option<Tenant>> {
        let found = {
            let tenants = self.lock();
            tenants
                .by_installation_id
                .get(installation_id)
                .and_then(|client_key| tenants.by_client_key.get(client_key))
                .cloned()
        };
        Box::pin(async move { Ok(found) })
    }

    fn save_install<'a>(&'a self, install: &'a InstalledTenant) -> StoreFuture<'a, bool> {
        let tenant = install.tenant().clone();
        let first = {
            let mut tenants = self.lock();
            let client_key = tenant.client_key().to_owned();
            // The installationId this tenant had before, if it changed, is released.
            if let Some(old) = tenants.by_client_key.get(&client_key) {
                if let Some(old_id) = old.installation_id().map(str::to_owned) {
                    if Some(old_id.as_str()) != tenant.installation_id() {
                        tenants.by_installation_id.remove(&old_id);
                    }
                }
            }
            if let Some(id) = tenant.installation_id() {
                let previous = tenants
                    .by_installation_id
                    .insert(id.to_owned(), client_key.clone());
                // Another tenant held this installationId: it no longer does.
                if let Some(other) = previous.filter(|other| *other != client_key) {
                    if let Some(other) = tenants.by_client_key.get_mut(&other) {
                        other.installation_id = None;
                    }
                }
            }
            tenants.by_client_key.insert(client_key, tenant).is_none()
        };
        Box::pin(async move { Ok(first) })
    }

    fn mark_uninstalled<'a>(&'a self, uninstall: &'a UninstalledTenant) -> StoreFuture<'a, bool> {
        let found = match self.lock().by_client_key.get_mut(uninstall.client_key()) {
            Some(tenant) => {
                tenant.installed = false;
                true
            }
            None => false,
        };
        Box::pin(async move { Ok(found) })
    }
}
