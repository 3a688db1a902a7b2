//! Fetching Forge's key set over HTTPS (feature `forge-http`), with the fetch policy of the
//! signed-install key fetcher.

use core::fmt;
use core::future::Future;
use std::time::Duration;

use reqwest::{Client, Url};

use super::jwks::{JwkSet, MAX_JWKS_LEN};
use super::kid::IcLabel;
use super::source::JwksSource;
use crate::error::{Claim, ConfigError, Error, Unavailable};
use crate::fetch::{self, Fetched};

/// Where Forge publishes the keys that sign invocation tokens in the commercial cloud.
pub const ATLASSIAN_FORGE_JWKS_URL: &str =
    "https://forge.cdn.prod.atlassian-dev.net/.well-known/jwks.json";

/// What an Isolated Cloud key-set URL template has where the label goes.
pub const IC_LABEL_PLACEHOLDER: &str = "{IC_LABEL}";

/// A label that stands in for real ones when a template is checked.
const PROBE_LABEL: &str = "probe0";

/// Fetches Forge's key set: by default the commercial cloud's,
/// [`ATLASSIAN_FORGE_JWKS_URL`].
///
/// Every fetch has a time limit (10 seconds by default, 5 to connect); only a `200` with a
/// body of at most [`MAX_JWKS_LEN`] bytes that is a JSON Web Key Set is accepted (the
/// `Cache-Control: max-age` of the answer goes with it, for the cache); redirects are not
/// followed. HTTPS only, except plain HTTP to a loopback address for tests. A failure is
/// [`Unavailable::Key`] (the app answers 503): an error status, a timeout, an oversized
/// body, or a body that is not a key set.
///
/// Other environments are configuration, never chosen by a token: pass their URL to
/// [`with_url`](Self::with_url). Isolated Cloud is the one case where the token's
/// (`icLabel`, checked by [`IcLabel::new`]) fills a template the app configured
/// ([`with_isolated_cloud`](Self::with_isolated_cloud)); without a template, a token with an
/// `icLabel` is [`Error::UnknownKeyId`].
///
/// Put a [`JwksCache`](crate::JwksCache) in front of it: without one, every invocation
/// costs a fetch.
///
/// ```no_run
/// use atlassian_connect_jwt::{HttpJwksSource, JwksCache};
///
/// let keys = JwksCache::new(HttpJwksSource::new()?);
/// # Ok::<(), atlassian_connect_jwt::Error>(())
/// ```
#[derive(Clone)]
pub struct HttpJwksSource {
    client: Client,
    url: Url,
    isolated_cloud: Option<String>,
    timeout: Duration,
}

impl HttpJwksSource {
    /// A source for the commercial cloud's key set.
    ///
    /// # Errors
    ///
    /// [`Unavailable::Key`] if the HTTP client cannot be built (no TLS roots, say).
    pub fn new() -> Result<Self, Error> {
        Self::with_url(ATLASSIAN_FORGE_JWKS_URL)
    }

    /// A source for the key set at `url` (another environment, a mirror, a test server).
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidBaseUrl`] unless `url` is an `https://` URL without query,
    /// fragment or credentials (or `http://` to `localhost`, `127.0.0.1` or `[::1]`);
    /// [`Unavailable::Key`] if the HTTP client cannot be built.
    pub fn with_url(url: &str) -> Result<Self, Error> {
        let url = fetch::key_server_url(url)?;
        Ok(Self {
            client: fetch::client_for(&url)?,
            url,
            isolated_cloud: None,
            timeout: fetch::DEFAULT_TIMEOUT,
        })
    }

    /// Serves Isolated Cloud tokens too: the key set of the label `L` is fetched from
    /// `template` with [`IC_LABEL_PLACEHOLDER`] replaced by `L`.
    ///
    /// The template must pass the checks of [`with_url`](Self::with_url) with any label in
    /// it, with the same scheme as the source's URL, and contain the placeholder exactly
    /// once, in the path or as the first label of a host that has at least two more (so a
    /// token can choose a subdomain of the template's domain, never a host of its own).
    ///
    /// ```
    /// use atlassian_connect_jwt::{ConfigError, Error, HttpJwksSource, IcLabel};
    ///
    /// let source = HttpJwksSource::new()?
    ///     .with_isolated_cloud("https://forge.cdn.{IC_LABEL}.example.net/.well-known/jwks.json")?;
    /// let label = IcLabel::new("acme")?;
    /// assert_eq!(
    ///     source.jwks_url(Some(&label)).as_deref(),
    ///     Some("https://forge.cdn.acme.example.net/.well-known/jwks.json")
    /// );
    /// for bad in ["https://{IC_LABEL}/jwks.json", "https://{IC_LABEL}.net/jwks.json", "https://x.example/jwks.json"] {
    ///     let refused = HttpJwksSource::new()?.with_isolated_cloud(bad).unwrap_err();
    ///     assert_eq!(refused, Error::Config(ConfigError::InvalidBaseUrl));
    /// }
    /// # Ok::<(), Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidBaseUrl`] for a template that breaks these rules.
    pub fn with_isolated_cloud(self, template: &str) -> Result<Self, Error> {
        let invalid = Error::Config(ConfigError::InvalidBaseUrl);
        if template.matches(IC_LABEL_PLACEHOLDER).count() != 1 {
            return Err(invalid);
        }
        let probe = fetch::key_server_url(&template.replace(IC_LABEL_PLACEHOLDER, PROBE_LABEL))?;
        if probe.scheme() != self.url.scheme() {
            return Err(invalid);
        }
        let host = probe.host_str().unwrap_or_default();
        if let Some(at) = host.find(PROBE_LABEL) {
            // The label may only be a whole host label followed by two or more fixed ones.
            let (before, after) = (&host[..at], &host[at + PROBE_LABEL.len()..]);
            let whole_label = before.is_empty() || before.ends_with('.');
            if !whole_label || !after.starts_with('.') || after.matches('.').count() < 2 {
                return Err(invalid);
            }
        } else if !probe.path().contains(PROBE_LABEL) {
            // The placeholder went somewhere else (the port, say).
            return Err(invalid);
        }
        Ok(Self {
            isolated_cloud: Some(template.to_owned()),
            ..self
        })
    }

    /// Limits each whole fetch to `timeout` (10 seconds by default).
    #[must_use]
    pub fn with_timeout(self, timeout: Duration) -> Self {
        Self { timeout, ..self }
    }

    /// The URL the key set of `ic_label` is fetched from (`None`: the commercial cloud's);
    /// `None` for a label when no Isolated Cloud template is configured.
    #[must_use]
    pub fn jwks_url(&self, ic_label: Option<&IcLabel>) -> Option<String> {
        self.url_of(ic_label).ok().map(String::from)
    }

    fn url_of(&self, ic_label: Option<&IcLabel>) -> Result<Url, Error> {
        let Some(label) = ic_label else {
            return Ok(self.url.clone());
        };
        let template = self.isolated_cloud.as_ref().ok_or(Error::UnknownKeyId)?;
        // The label's characters cannot end a host label or a path segment, and the template
        // passed the same checks with a probe label: this cannot fail for a checked label.
        fetch::key_server_url(&template.replace(IC_LABEL_PLACEHOLDER, label.as_str()))
            .map_err(|_| Error::InvalidClaim(Claim::IcLabel))
    }

    async fn fetch(&self, ic_label: Option<&IcLabel>) -> Result<JwkSet, Error> {
        let url = self.url_of(ic_label)?;
        let fetched = fetch::get(&self.client, url, self.timeout, MAX_JWKS_LEN).await?;
        let (bytes, max_age) = match fetched {
            Fetched::Body { bytes, max_age } => (bytes, max_age),
            // An Isolated Cloud Atlassian does not know: no key of it can be known either.
            Fetched::NotFound if ic_label.is_some() => return Err(Error::UnknownKeyId),
            Fetched::NotFound => {
                return Err(Error::Unavailable(Unavailable::Key {
                    reason: "the key server answered with an error status",
                }))
            }
        };
        let set = core::str::from_utf8(&bytes)
            .ok()
            .and_then(|json| JwkSet::from_json(json).ok())
            .ok_or(Error::Unavailable(Unavailable::Key {
                reason: "the key server's answer is not a json web key set",
            }))?;
        Ok(match max_age {
            Some(max_age) => set.with_max_age(max_age),
            None => set,
        })
    }
}

impl JwksSource for HttpJwksSource {
    fn fetch_jwks(
        &self,
        ic_label: Option<&IcLabel>,
    ) -> impl Future<Output = Result<JwkSet, Error>> + Send {
        self.fetch(ic_label)
    }
}

impl fmt::Debug for HttpJwksSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpJwksSource")
            .field("url", &self.url.as_str())
            .field("isolated_cloud", &self.isolated_cloud)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}
