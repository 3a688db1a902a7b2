//! Where Forge's public keys come from: whole key sets fetched from somewhere
//! ([`JwksSource`]), and keys by `kid` for the verifier ([`ForgeKeySource`]).

use core::future::{ready, Future};
use std::sync::Arc;

use super::jwks::JwkSet;
use super::kid::{ForgeKeyId, IcLabel};
use crate::error::Error;
use crate::install::InstallKey;

/// Fetches Forge's key set: the commercial cloud's (`ic_label` `None`), or an Isolated
/// Cloud's.
///
/// [`HttpJwksSource`](crate::HttpJwksSource) (feature `forge-http`) fetches over HTTPS;
/// put a [`JwksCache`](crate::JwksCache) in front of any source. The trait is
/// runtime-agnostic: implement it with the HTTP client the app already uses. Labels arrive
/// checked ([`IcLabel`]); a source that serves no Isolated Cloud answers
/// [`Error::UnknownKeyId`] for them.
pub trait JwksSource {
    /// The key set of the commercial cloud (`None`) or of the Isolated Cloud `ic_label`.
    ///
    /// # Errors
    ///
    /// [`Unavailable::Key`](crate::Unavailable::Key) when the set cannot be fetched now
    /// (the cache keeps that answer briefly); [`Error::UnknownKeyId`] when the source has no
    /// key set for `ic_label`; [`Error::InvalidPublicKey`] when what it holds is not a key
    /// set.
    fn fetch_jwks(
        &self,
        ic_label: Option<&IcLabel>,
    ) -> impl Future<Output = Result<JwkSet, Error>> + Send;
}

impl<S: JwksSource + Sync + ?Sized> JwksSource for &S {
    fn fetch_jwks(
        &self,
        ic_label: Option<&IcLabel>,
    ) -> impl Future<Output = Result<JwkSet, Error>> + Send {
        (**self).fetch_jwks(ic_label)
    }
}

impl<S: JwksSource + Send + Sync + ?Sized> JwksSource for Arc<S> {
    fn fetch_jwks(
        &self,
        ic_label: Option<&IcLabel>,
    ) -> impl Future<Output = Result<JwkSet, Error>> + Send {
        (**self).fetch_jwks(ic_label)
    }
}

/// Finds the public key that signed a Forge Invocation Token, by its checked `kid` and
/// `icLabel`: what [`ForgeVerifier::verify_async`](crate::ForgeVerifier::verify_async) asks.
///
/// A [`JwkSet`] is one (a pinned key set, tests, the CLI), and so is a
/// [`JwksCache`](crate::JwksCache) over any [`JwksSource`].
///
/// ```
/// use atlassian_connect_jwt::{Error, ForgeKeyId, ForgeKeySource, IcLabel, JwkSet};
///
/// # async fn example() -> Result<(), Error> {
/// let pinned = JwkSet::from_json(r#"{"keys":[]}"#)?;
/// let kid = ForgeKeyId::new("forge/invocation-token/wf-1")?;
/// assert_eq!(pinned.forge_key(&kid, None).await, Err(Error::UnknownKeyId));
/// # Ok(()) }
/// ```
pub trait ForgeKeySource {
    /// The public key named `kid`, in the key set of `ic_label` (`None`: the commercial
    /// cloud).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownKeyId`] when no key has that `kid`; the key's own error when it is
    /// unusable ([`Error::WeakPublicKey`], [`Error::InvalidPublicKey`]);
    /// [`Unavailable::Key`](crate::Unavailable::Key) when the key set cannot be had now.
    fn forge_key(
        &self,
        kid: &ForgeKeyId,
        ic_label: Option<&IcLabel>,
    ) -> impl Future<Output = Result<InstallKey, Error>> + Send;
}

/// A fixed key set: the commercial cloud's keys only (any `ic_label` is
/// [`Error::UnknownKeyId`]).
impl ForgeKeySource for JwkSet {
    fn forge_key(
        &self,
        kid: &ForgeKeyId,
        ic_label: Option<&IcLabel>,
    ) -> impl Future<Output = Result<InstallKey, Error>> + Send {
        ready(match ic_label {
            None => self.key(kid).cloned(),
            Some(_) => Err(Error::UnknownKeyId),
        })
    }
}

impl<S: ForgeKeySource + Sync + ?Sized> ForgeKeySource for &S {
    fn forge_key(
        &self,
        kid: &ForgeKeyId,
        ic_label: Option<&IcLabel>,
    ) -> impl Future<Output = Result<InstallKey, Error>> + Send {
        (**self).forge_key(kid, ic_label)
    }
}

impl<S: ForgeKeySource + Send + Sync + ?Sized> ForgeKeySource for Arc<S> {
    fn forge_key(
        &self,
        kid: &ForgeKeyId,
        ic_label: Option<&IcLabel>,
    ) -> impl Future<Output = Result<InstallKey, Error>> + Send {
        (**self).forge_key(kid, ic_label)
    }
}
