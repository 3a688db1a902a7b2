//! Fetching signed-install public keys over HTTPS from Atlassian's key server (feature
//! `signed-install-http`).

use core::fmt;
use core::future::Future;
use std::time::Duration;

use reqwest::{Client, Url};

use super::key::InstallKey;
use super::key_id::KeyId;
use super::source::InstallKeySource;
use crate::error::Error;
use crate::fetch::{self, Fetched};

/// Where Atlassian publishes the public keys of signed-install tokens: the key of `kid` is
/// served at `<this>/<kid>` as a PEM `PUBLIC KEY`.
pub const ATLASSIAN_INSTALL_KEYS_URL: &str = "https://connect-install-keys.atlassian.com";

/// Longest key-server response read, in bytes: an 8192-bit key's PEM is about 1.5 KiB.
pub const MAX_KEY_RESPONSE_LEN: usize = 16 * 1024;

/// Fetches the public key of a `kid` from `<base>/<kid>`: by default Atlassian's key server,
/// [`ATLASSIAN_INSTALL_KEYS_URL`].
///
/// The key id is appended as one percent-encoded path segment of the parsed base URL (never
/// by joining strings), after [`KeyId`] has already refused anything but
/// `[A-Za-z0-9._-]{1,64}`. Every fetch has a time limit (10 seconds by default, 5 to connect);
/// only a `200` with a body of at most [`MAX_KEY_RESPONSE_LEN`] bytes that is one RSA PEM
/// `PUBLIC KEY` of 2048 bits or more is accepted; redirects are not followed; `404` means
/// [`Error::UnknownKeyId`]. HTTPS only, except plain HTTP to a loopback address for tests.
///
/// Put a [`KeyCache`](crate::KeyCache) in front of it: the key of a `kid` never changes, and
/// without a cache every lifecycle callback costs a fetch.
///
/// ```no_run
/// use atlassian_connect_jwt::{HttpKeySource, KeyCache};
///
/// let production = KeyCache::new(HttpKeySource::new()?);
/// let staging = KeyCache::new(HttpKeySource::with_base_url("https://keys.staging.example")?);
/// # Ok::<(), atlassian_connect_jwt::Error>(())
/// ```
#[derive(Clone)]
pub struct HttpKeySource {
    client: Client,
    base: Url,
    timeout: Duration,
}

impl HttpKeySource {
    /// A source for Atlassian's production key server.
    ///
    /// # Errors
    ///
    /// [`Unavailable::Key`](crate::Unavailable::Key) if the HTTP client cannot be built (no TLS roots, say).
    pub fn new() -> Result<Self, Error> {
        Self::with_base_url(ATLASSIAN_INSTALL_KEYS_URL)
    }

    /// A source for another key server (staging, a mirror, a test server): keys are fetched
    /// from `<base_url>/<kid>`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidBaseUrl`](crate::ConfigError::InvalidBaseUrl) unless `base_url` is an `https://` URL without query,
    /// fragment or credentials (or `http://` to `localhost`, `127.0.0.1` or `[::1]`);
    /// [`Unavailable::Key`](crate::Unavailable::Key) if the HTTP client cannot be built.
    pub fn with_base_url(base_url: &str) -> Result<Self, Error> {
        let base = fetch::key_server_url(base_url)?;
        Ok(Self {
            client: fetch::client_for(&base)?,
            base,
            timeout: fetch::DEFAULT_TIMEOUT,
        })
    }

    /// Limits each whole fetch to `timeout` (10 seconds by default).
    #[must_use]
    pub fn with_timeout(self, timeout: Duration) -> Self {
        Self { timeout, ..self }
    }

    /// The URL the key of `kid` is fetched from.
    ///
    /// ```
    /// # fn main() -> Result<(), atlassian_connect_jwt::Error> {
    /// use atlassian_connect_jwt::{HttpKeySource, KeyId};
    ///
    /// let source = HttpKeySource::new()?;
    /// let kid = KeyId::new("0e50fccb-239d-4991-a5db-dc850ba3f236")?;
    /// assert_eq!(
    ///     source.key_url(&kid),
    ///     "https://connect-install-keys.atlassian.com/0e50fccb-239d-4991-a5db-dc850ba3f236"
    /// );
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn key_url(&self, kid: &KeyId) -> String {
        self.url_of(kid).into()
    }

    fn url_of(&self, kid: &KeyId) -> Url {
        let mut url = self.base.clone();
        // `key_server_base` refused URLs that cannot have path segments.
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().push(kid.as_str());
        }
        url
    }

    async fn fetch(&self, kid: &KeyId) -> Result<InstallKey, Error> {
        let fetched = fetch::get(
            &self.client,
            self.url_of(kid),
            self.timeout,
            MAX_KEY_RESPONSE_LEN,
        )
        .await?;
        let Fetched::Body { bytes, .. } = fetched else {
            return Err(Error::UnknownKeyId);
        };
        let pem = core::str::from_utf8(&bytes).map_err(|_| Error::InvalidPublicKey {
            reason: "not a pem public key",
        })?;
        InstallKey::from_pem(pem)
    }
}

impl InstallKeySource for HttpKeySource {
    fn install_key(&self, kid: &KeyId) -> impl Future<Output = Result<InstallKey, Error>> + Send {
        self.fetch(kid)
    }
}

impl fmt::Debug for HttpKeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpKeySource")
            .field("base", &self.base.as_str())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}
