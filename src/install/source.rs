//! Where signed-install public keys come from: a trait the verifier asks by key id, with
//! implementations for fixed key sets.

use core::future::{ready, Future};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::key::InstallKey;
use super::key_id::KeyId;
use crate::error::Error;

/// Finds the public key that signed a lifecycle token, by its checked key id.
///
/// Atlassian publishes each key at `https://connect-install-keys.atlassian.com/<kid>`:
/// `HttpKeySource` (feature `signed-install-http`) fetches from there,
/// and [`KeyCache`](crate::KeyCache) keeps what any source found. A map from key id to
/// [`InstallKey`] is a source too (pinned keys, tests).
///
/// The trait is runtime-agnostic: implement it with whatever HTTP client or key store the app
/// already uses. Key ids arrive checked ([`KeyId`]); an implementation must still treat them
/// as untrusted text (one URL path segment, one cache key; never a file path).
///
/// ```
/// use std::collections::HashMap;
/// use atlassian_connect_jwt::{Error, InstallKey, InstallKeySource, KeyId};
///
/// # async fn example(pem: &str) -> Result<(), Error> {
/// let mut pinned: HashMap<String, InstallKey> = HashMap::new();
/// pinned.insert("kid-1".into(), InstallKey::from_pem(pem)?);
/// let key = pinned.install_key(&KeyId::new("kid-1")?).await?;
/// assert_eq!(pinned.install_key(&KeyId::new("kid-2")?).await, Err(Error::UnknownKeyId));
/// # Ok(()) }
/// ```
pub trait InstallKeySource {
    /// The public key named `kid`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownKeyId`] when the source has no such key; [`Unavailable::Key`](crate::Unavailable::Key)
    /// when it cannot be asked now; [`Error::InvalidPublicKey`] or [`Error::WeakPublicKey`]
    /// when what it holds is not a usable RS256 key.
    fn install_key(&self, kid: &KeyId) -> impl Future<Output = Result<InstallKey, Error>> + Send;
}

impl<S: InstallKeySource + Sync + ?Sized> InstallKeySource for &S {
    fn install_key(&self, kid: &KeyId) -> impl Future<Output = Result<InstallKey, Error>> + Send {
        (**self).install_key(kid)
    }
}

impl<S: InstallKeySource + Send + Sync + ?Sized> InstallKeySource for Arc<S> {
    fn install_key(&self, kid: &KeyId) -> impl Future<Output = Result<InstallKey, Error>> + Send {
        (**self).install_key(kid)
    }
}

impl<H: std::hash::BuildHasher> InstallKeySource for HashMap<String, InstallKey, H> {
    fn install_key(&self, kid: &KeyId) -> impl Future<Output = Result<InstallKey, Error>> + Send {
        ready(self.get(kid.as_str()).cloned().ok_or(Error::UnknownKeyId))
    }
}

impl InstallKeySource for BTreeMap<String, InstallKey> {
    fn install_key(&self, kid: &KeyId) -> impl Future<Output = Result<InstallKey, Error>> + Send {
        ready(self.get(kid.as_str()).cloned().ok_or(Error::UnknownKeyId))
    }
}
