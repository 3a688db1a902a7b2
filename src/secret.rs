//! Shared secrets and the HMAC keys derived from them: never printed, zeroized on drop.

use core::fmt;

use std::sync::Arc;

use zeroize::Zeroizing;

use crate::backend::MacKey;
use crate::error::{ConfigError, Error};

/// A tenant's `sharedSecret`, as received in the `installed` callback.
///
/// `Debug` prints `SharedSecret(<redacted>)`; there is no `Display` or `Serialize`. The memory
/// is zeroized on drop. Use [`expose`](Self::expose) only to persist it.
///
/// ```
/// use atlassian_connect_jwt::SharedSecret;
///
/// let secret = SharedSecret::new("s3cr3t-from-installed");
/// assert_eq!(format!("{secret:?}"), "SharedSecret(<redacted>)");
/// assert_eq!(secret.expose(), "s3cr3t-from-installed");
/// ```
#[derive(Clone)]
pub struct SharedSecret(Zeroizing<String>);

impl zeroize::ZeroizeOnDrop for SharedSecret {}

impl SharedSecret {
    /// Wraps a secret.
    #[must_use]
    pub fn new(secret: impl Into<String>) -> Self {
        Self(Zeroizing::new(secret.into()))
    }

    /// The secret itself, for storing it. Never log it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is empty (and so unusable).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedSecret(<redacted>)")
    }
}

impl From<String> for SharedSecret {
    fn from(secret: String) -> Self {
        Self::new(secret)
    }
}

impl From<&str> for SharedSecret {
    fn from(secret: &str) -> Self {
        Self::new(secret)
    }
}

/// A tenant's HMAC-SHA256 key, bound to the clientKey it belongs to, with the keyed state
/// precomputed.
///
/// The binding is what lets a verifier refuse to check tenant A's token with tenant B's key
/// ([`ConfigError::KeyTenantMismatch`](crate::ConfigError::KeyTenantMismatch)): the identity
/// a verification returns is always the tenant whose key verified it.
///
/// Building it hashes the secret once; cloning it copies two SHA-256 states and bumps a
/// reference count (no allocation). Keep one per tenant in a cache to save two SHA-256
/// blocks on every verification. `Debug` shows the clientKey only.
///
/// **Zeroization.** With the default (RustCrypto) backend the HMAC state, and every copy of
/// it made to sign or verify, is overwritten when dropped (`hmac` and `sha2` with their
/// `zeroize` features; checked at compile time by a `ZeroizeOnDrop` bound). With the `ring`
/// feature the state is `ring::hmac::Key`, which ring does **not** zeroize: choose the default
/// backend where that matters. Neither backend can wipe copies that the compiler leaves on
/// the stack when it moves a value.
///
/// ```
/// use atlassian_connect_jwt::{ConfigError, Error, SharedSecret, TenantKey};
///
/// let key = TenantKey::new("tenant-1", &SharedSecret::new("s3cr3t"))?;
/// assert_eq!(key.client_key(), "tenant-1");
/// assert_eq!(format!("{key:?}"), r#"TenantKey { client_key: "tenant-1", .. }"#);
/// assert_eq!(
///     TenantKey::new("tenant-1", &SharedSecret::new("")).unwrap_err(),
///     Error::Config(ConfigError::EmptySecret),
/// );
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone)]
pub struct TenantKey {
    client_key: Arc<str>,
    pub(crate) mac: MacKey,
}

impl TenantKey {
    /// The key of tenant `client_key`, from its shared secret (the secret's UTF-8 bytes, as
    /// every Connect implementation uses).
    ///
    /// # Errors
    ///
    /// [`ConfigError::EmptySecret`](crate::ConfigError::EmptySecret) for an empty secret.
    pub fn new(client_key: &str, secret: &SharedSecret) -> Result<Self, Error> {
        Self::from_bytes(client_key, secret.expose().as_bytes())
    }

    /// The key of tenant `client_key`, from raw key bytes (an RFC 7515 test key, say).
    ///
    /// # Errors
    ///
    /// [`ConfigError::EmptySecret`](crate::ConfigError::EmptySecret) for an empty key.
    pub fn from_bytes(client_key: &str, key: &[u8]) -> Result<Self, Error> {
        if key.is_empty() {
            return Err(ConfigError::EmptySecret.into());
        }
        let mac = MacKey::new(key).ok_or(ConfigError::EmptySecret)?;
        Ok(Self {
            client_key: Arc::from(client_key),
            mac,
        })
    }

    /// The clientKey of the tenant this key belongs to.
    #[must_use]
    pub fn client_key(&self) -> &str {
        &self.client_key
    }
}

impl fmt::Debug for TenantKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantKey")
            .field("client_key", &self.client_key())
            .finish_non_exhaustive()
    }
}

/// The promise of the docs, checked by the compiler: the secret-holding types wipe their
/// memory when dropped (the `ring` backend's HMAC state excepted, as documented).
#[cfg(not(feature = "ring"))]
impl zeroize::ZeroizeOnDrop for TenantKey {}

const _: () = {
    const fn wiped_on_drop<T: zeroize::ZeroizeOnDrop>() {}
    wiped_on_drop::<SharedSecret>();
    #[cfg(not(feature = "ring"))]
    wiped_on_drop::<MacKey>();
    #[cfg(not(feature = "ring"))]
    wiped_on_drop::<TenantKey>();
};
