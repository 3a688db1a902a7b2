//! Calling the product (feature `client`): every request signed, as the app (Connect JWT) or
//! as a user (OAuth 2.0 JWT bearer grant, tokens cached), the product's rate limits honoured.
//!
//! One [`ConnectClient`] serves the whole app; [`TenantClient`]s from it call one tenant.

mod error;
mod exchange;
mod request;
mod response;
mod retry;
mod target;
mod token;

use core::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::redirect;

pub use error::{ClientError, StatusError, TokenExchangeError, MAX_BODY_EXCERPT};
pub use request::{Caller, ProductRequest};
pub use response::Response;
pub use retry::{DEFAULT_MAX_RETRIES, DEFAULT_MAX_RETRY_WAIT};

use crate::secret::TenantKey;
use crate::sign::{Signer, OAUTH_AUDIENCE};
use crate::tenant::Tenant;
use retry::RetryPolicy;
use target::ProductBase;
use token::TokenCache;

/// Default limit on one request, from sending it to the end of the response's body.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Default limit on connecting (TCP and TLS).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Default margin before an access token's expiry at which it is exchanged again: a token is
/// never sent with less than this left of its life.
pub const DEFAULT_TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// Default number of (tenant, user, scopes) access tokens kept.
pub const DEFAULT_TOKEN_CACHE_CAPACITY: usize = 4096;

/// Default limit on a response body read by [`Response::bytes`], `text` or `json`.
pub const DEFAULT_MAX_RESPONSE_LEN: usize = 32 * 1024 * 1024;

/// Atlassian's OAuth 2.0 authorization server, where user assertions are exchanged (at
/// `<this>/oauth2/token`).
pub const ATLASSIAN_AUTHORIZATION_SERVER: &str = OAUTH_AUDIENCE;

/// The client of the product for the whole app: a connection pool, the users' access token
/// cache, the limits. Cloning it is cheap and shares all of them.
///
/// [`for_tenant`](Self::for_tenant) gives a [`TenantClient`] for one installation; its
/// [`as_app`](TenantClient::as_app) and [`as_user`](TenantClient::as_user) start requests:
///
/// ```no_run
/// # async fn run(tenant: &atlassian_connect_jwt::Tenant) -> Result<(), atlassian_connect_jwt::ClientError> {
/// use atlassian_connect_jwt::ConnectClient;
///
/// // Once, at start-up: the app key is the descriptor's `key`.
/// let client = ConnectClient::new("com.example.app")?;
///
/// // Per call: `tenant` comes from the tenant store.
/// let jira = client.for_tenant(tenant)?;
/// let myself = jira.as_app().get("/rest/api/3/myself").send().await?.text().await?;
/// let issue: serde_json::Value = jira
///     .as_user("557058:f0e1d2c3-b4a5-6789-0abc-def012345678", &["READ"])
///     .get("/rest/api/3/issue/PROJ-1")
///     .query("fields", "summary,status")
///     .send()
///     .await?
///     .json()
///     .await?;
/// # Ok(()) }
/// ```
///
/// Requests go only to a tenant's base URL, over HTTPS (plain HTTP to a loopback address is
/// allowed, for tests). Redirects are not followed (a 3xx is returned as it is): a redirect
/// would carry a request signed for one URL to another.
///
/// ```
/// use std::time::Duration;
/// use atlassian_connect_jwt::ConnectClient;
///
/// let client = ConnectClient::builder("com.example.app")
///     .with_timeout(Duration::from_secs(10))
///     .with_max_retries(2)
///     .build()?;
/// # Ok::<(), atlassian_connect_jwt::ClientError>(())
/// ```
#[derive(Clone)]
pub struct ConnectClient {
    shared: Arc<Shared>,
}

/// What every tenant's requests share.
struct Shared {
    signer: Signer,
    /// For tenants on the internet: proxies from the environment apply.
    http: reqwest::Client,
    /// For loopback addresses (tests): a proxy could not reach them.
    direct: reqwest::Client,
    timeout: Duration,
    retry: RetryPolicy,
    max_response_len: usize,
    authorization_server: ProductBase,
    tokens: TokenCache,
}

impl ConnectClient {
    /// A client with the defaults, for the app whose descriptor `key` is `app_key` (the `iss`
    /// of its JWTs).
    ///
    /// # Errors
    ///
    /// [`ClientError::HttpClient`] if the HTTP client cannot be built.
    pub fn new(app_key: impl Into<String>) -> Result<Self, ClientError> {
        Self::builder(app_key).build()
    }

    /// A builder, to change the defaults.
    pub fn builder(app_key: impl Into<String>) -> ConnectClientBuilder {
        ConnectClientBuilder {
            app_key: app_key.into(),
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            retry: RetryPolicy::default(),
            max_response_len: DEFAULT_MAX_RESPONSE_LEN,
            authorization_server: ATLASSIAN_AUTHORIZATION_SERVER.to_owned(),
            token_refresh_margin: DEFAULT_TOKEN_REFRESH_MARGIN,
            token_cache_capacity: DEFAULT_TOKEN_CACHE_CAPACITY,
        }
    }

    /// The client for a stored tenant: its base URL, clientKey, shared secret and
    /// `oauthClientId`.
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidBaseUrl`] for a base URL that is not `https://` (or `http://` to
    /// a loopback address) or carries a query, fragment or credentials;
    /// [`ClientError::Unsignable`] with
    /// [`ConfigError::EmptySecret`](crate::ConfigError::EmptySecret) for an empty secret.
    pub fn for_tenant(&self, tenant: &Tenant) -> Result<TenantClient, ClientError> {
        let key = tenant.key().map_err(ClientError::Unsignable)?;
        self.for_parts(TenantParts {
            base_url: tenant.base_url(),
            key,
            oauth_client_id: tenant.oauth_client_id(),
        })
    }

    /// The client for a tenant an app keeps in its own storage.
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidBaseUrl`], as [`for_tenant`](Self::for_tenant).
    pub fn for_parts(&self, parts: TenantParts<'_>) -> Result<TenantClient, ClientError> {
        let base = ProductBase::parse(parts.base_url)?;
        Ok(TenantClient {
            shared: Arc::clone(&self.shared),
            tenant: Arc::new(TenantInner {
                base,
                base_url: parts.base_url.into(),
                key: parts.key,
                oauth_client_id: parts.oauth_client_id.map(Into::into),
            }),
        })
    }

    /// Access tokens held in the cache now.
    #[must_use]
    pub fn cached_tokens(&self) -> usize {
        self.shared.tokens.len()
    }
}

impl fmt::Debug for ConnectClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &self.shared;
        f.debug_struct("ConnectClient")
            .field("signer", &shared.signer)
            .field("timeout", &shared.timeout)
            .field("max_retries", &shared.retry.max_retries)
            .field("max_retry_wait", &shared.retry.max_wait)
            .field(
                "authorization_server",
                &shared.authorization_server.as_str(),
            )
            .field("tokens", &shared.tokens)
            .finish_non_exhaustive()
    }
}

/// A tenant, for [`ConnectClient::for_parts`]: named fields, so that the two URLs-or-ids
/// cannot be swapped.
#[derive(Clone, Debug)]
pub struct TenantParts<'a> {
    /// The product's base URL (`baseUrl` of the `installed` callback):
    /// `https://example.atlassian.net`, or `.../wiki` for Confluence.
    pub base_url: &'a str,
    /// The tenant's key: its clientKey and shared secret.
    pub key: TenantKey,
    /// `oauthClientId` of the `installed` callback; needed only to act as a user.
    pub oauth_client_id: Option<&'a str>,
}

/// Builds a [`ConnectClient`]; see each setter for its default.
#[derive(Debug)]
#[must_use]
pub struct ConnectClientBuilder {
    app_key: String,
    timeout: Duration,
    connect_timeout: Duration,
    retry: RetryPolicy,
    max_response_len: usize,
    authorization_server: String,
    token_refresh_margin: Duration,
    token_cache_capacity: usize,
}

impl ConnectClientBuilder {
    /// Limits each request, from sending it to the end of the response's body (default
    /// [`DEFAULT_TIMEOUT`], 30 s). Each retry has the limit anew.
    pub fn with_timeout(self, timeout: Duration) -> Self {
        Self { timeout, ..self }
    }

    /// Limits connecting, TCP and TLS (default [`DEFAULT_CONNECT_TIMEOUT`], 10 s).
    pub fn with_connect_timeout(self, connect_timeout: Duration) -> Self {
        Self {
            connect_timeout,
            ..self
        }
    }

    /// Retries after a rate-limit answer, at most (default [`DEFAULT_MAX_RETRIES`], 3); `0`
    /// never retries.
    pub fn with_max_retries(self, max_retries: u32) -> Self {
        Self {
            retry: RetryPolicy {
                max_retries,
                ..self.retry
            },
            ..self
        }
    }

    /// Longest wait before a retry (default [`DEFAULT_MAX_RETRY_WAIT`], 30 s). A
    /// `Retry-After` longer than this fails the call at once with
    /// [`ClientError::RateLimited`], which carries it.
    pub fn with_max_retry_wait(self, max_wait: Duration) -> Self {
        Self {
            retry: RetryPolicy {
                max_wait,
                ..self.retry
            },
            ..self
        }
    }

    /// Longest response body read by [`Response::bytes`], `text` and `json` (default
    /// [`DEFAULT_MAX_RESPONSE_LEN`], 32 MiB).
    pub fn with_max_response_len(self, max_response_len: usize) -> Self {
        Self {
            max_response_len,
            ..self
        }
    }

    /// Another OAuth 2.0 authorization server (default [`ATLASSIAN_AUTHORIZATION_SERVER`]):
    /// assertions are exchanged at `<url>/oauth2/token`. For tests and staging; the
    /// assertion's `aud` stays [`OAUTH_AUDIENCE`].
    pub fn with_authorization_server(self, url: impl Into<String>) -> Self {
        Self {
            authorization_server: url.into(),
            ..self
        }
    }

    /// Exchanges a user's token again this long before it expires (default
    /// [`DEFAULT_TOKEN_REFRESH_MARGIN`], 60 s).
    pub fn with_token_refresh_margin(self, margin: Duration) -> Self {
        Self {
            token_refresh_margin: margin,
            ..self
        }
    }

    /// Keeps at most this many access tokens (default [`DEFAULT_TOKEN_CACHE_CAPACITY`]);
    /// with `0` every call as a user exchanges an assertion.
    pub fn with_token_cache_capacity(self, capacity: usize) -> Self {
        Self {
            token_cache_capacity: capacity,
            ..self
        }
    }

    /// The client.
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidBaseUrl`] for an authorization server URL that is not
    /// `https://` (or `http://` to a loopback address); [`ClientError::HttpClient`] if the
    /// HTTP client cannot be built.
    pub fn build(self) -> Result<ConnectClient, ClientError> {
        let authorization_server = ProductBase::parse(&self.authorization_server)?;
        let builder = || {
            reqwest::Client::builder()
                .connect_timeout(self.connect_timeout)
                .redirect(redirect::Policy::none())
                .user_agent(concat!("atlassian-connect-jwt/", env!("CARGO_PKG_VERSION")))
        };
        let http = builder().build().map_err(|_| ClientError::HttpClient)?;
        let direct = builder()
            .no_proxy()
            .build()
            .map_err(|_| ClientError::HttpClient)?;
        Ok(ConnectClient {
            shared: Arc::new(Shared {
                signer: Signer::new(self.app_key),
                http,
                direct,
                timeout: self.timeout,
                retry: self.retry,
                max_response_len: self.max_response_len,
                authorization_server,
                tokens: TokenCache::new(self.token_cache_capacity, self.token_refresh_margin),
            }),
        })
    }
}

/// The client for one tenant: requests go to its base URL, signed with its key. Cheap to
/// clone; clones share the [`ConnectClient`]'s pool and token cache.
#[derive(Clone)]
pub struct TenantClient {
    shared: Arc<Shared>,
    tenant: Arc<TenantInner>,
}

struct TenantInner {
    base: ProductBase,
    /// As stored: the assertion's `tnt` claim.
    base_url: Box<str>,
    key: TenantKey,
    oauth_client_id: Option<Box<str>>,
}

impl TenantClient {
    /// Requests signed as the app: `Authorization: JWT <token>`, issued by the app key,
    /// signed with the tenant's shared secret, its `qsh` the hash of exactly the request
    /// sent.
    #[must_use]
    pub fn as_app(&self) -> Caller<'_> {
        Caller::app(self)
    }

    /// Requests made as the user `account_id`: `Authorization: Bearer <access token>`, the
    /// token obtained with the OAuth 2.0 JWT bearer grant for `scopes` (Connect scope names:
    /// `READ`, `WRITE`, `DELETE`, `PROJECT_ADMIN`, `SPACE_ADMIN`, `ADMIN`, `ACT_AS_USER`;
    /// upper-cased, order and duplicates ignored) and cached until
    /// [`DEFAULT_TOKEN_REFRESH_MARGIN`] before it expires. The app's descriptor must declare
    /// `ACT_AS_USER`, and the tenant must have an `oauthClientId`.
    ///
    /// An invalid account id or scope fails the request at [`send`](ProductRequest::send).
    #[must_use]
    pub fn as_user<'a>(&'a self, account_id: &str, scopes: &[&str]) -> Caller<'a> {
        Caller::user(self, account_id, scopes)
    }

    /// The tenant's clientKey.
    #[must_use]
    pub fn client_key(&self) -> &str {
        self.tenant.key.client_key()
    }

    /// The tenant's base URL, without a trailing slash.
    #[must_use]
    pub fn base_url(&self) -> &str {
        self.tenant.base.as_str()
    }
}

impl fmt::Debug for TenantClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantClient")
            .field("client_key", &self.client_key())
            .field("base_url", &self.base_url())
            .field("acts_as_users", &self.tenant.oauth_client_id.is_some())
            .finish_non_exhaustive()
    }
}
