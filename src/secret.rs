//! Shared secrets and the HMAC keys derived from them: never printed, zeroized on drop.

use core::fmt;

use zeroize::Zeroizing;

use crate::backend::MacKey;
use crate::error::Error;

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

/// A tenant's HMAC-SHA256 key, with the keyed state precomputed.
///
/// Building it hashes the secret once; cloning it is a copy of two SHA-256 states with no
/// allocation. Keep one per tenant in a cache to save two SHA-256 blocks on every
/// verification. `Debug` is redacted and the state is zeroized on drop.
///
/// ```
/// use atlassian_connect_jwt::{Error, SharedSecret, TenantKey};
///
/// let key = TenantKey::new(&SharedSecret::new("s3cr3t"))?;
/// assert_eq!(format!("{key:?}"), "TenantKey(<redacted>)");
/// assert_eq!(TenantKey::new(&SharedSecret::new("")).unwrap_err(), Error::EmptySecret);
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone)]
pub struct TenantKey {
    pub(crate) mac: MacKey,
}

impl TenantKey {
    /// The key for a shared secret (its UTF-8 bytes, as every Connect implementation uses).
    ///
    /// # Errors
    ///
    /// [`Error::EmptySecret`] for an empty secret.
    pub fn new(secret: &SharedSecret) -> Result<Self, Error> {
        Self::from_bytes(secret.expose().as_bytes())
    }

    /// The key for raw key bytes (an RFC 7515 test key, say).
    ///
    /// # Errors
    ///
    /// [`Error::EmptySecret`] for an empty key.
    pub fn from_bytes(key: &[u8]) -> Result<Self, Error> {
        if key.is_empty() {
            return Err(Error::EmptySecret);
        }
        let mac = MacKey::new(key).ok_or(Error::EmptySecret)?;
        Ok(Self { mac })
    }
}

impl fmt::Debug for TenantKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TenantKey(<redacted>)")
    }
}
