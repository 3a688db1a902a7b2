//! One request to the product: built, signed for each attempt, sent, retried when the product
//! asks for it.

use core::fmt;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};

use super::error::{ClientError, StatusError, MAX_BODY_EXCERPT};
use super::exchange;
use super::response::Response;
use super::retry::Step;
use super::token::{check_account_id, normalize_scopes, TokenKey};
use super::TenantClient;
use crate::canonical::CanonicalRequest;
use crate::time::UnixTime;

const TARGET: &str = "atlassian_connect_jwt::client";

/// Who a request is made as: the start of every request, from
/// [`TenantClient::as_app`] or [`TenantClient::as_user`].
#[derive(Clone)]
pub struct Caller<'t> {
    tenant: &'t TenantClient,
    who: Result<Who, ClientError>,
}

#[derive(Clone)]
enum Who {
    App,
    User(TokenKey),
}

/// How each attempt is authorized: a JWT for this canonical request, or the user's token.
enum Auth<'r> {
    App(CanonicalRequest<'r>),
    User(&'r TokenKey),
}

impl<'t> Caller<'t> {
    pub(super) fn app(tenant: &'t TenantClient) -> Self {
        Self {
            tenant,
            who: Ok(Who::App),
        }
    }

    pub(super) fn user(tenant: &'t TenantClient, account_id: &str, scopes: &[&str]) -> Self {
        let who = check_account_id(account_id).and_then(|()| {
            Ok(Who::User(TokenKey {
                client_key: tenant.client_key().into(),
                account_id: account_id.into(),
                scopes: normalize_scopes(scopes)?.into(),
            }))
        });
        Self { tenant, who }
    }

    /// A `GET` of `target`: a path relative to the tenant's base URL
    /// (`/rest/api/3/issue/PROJ-1?fields=summary`; for Confluence, whose base URL ends in
    /// `/wiki`, `/rest/api/space`), or an absolute URL under that base URL (a link the
    /// product returned). Retried on rate limits.
    pub fn get(&self, target: &str) -> ProductRequest<'t> {
        self.request(Method::GET, target)
    }

    /// A `HEAD` of `target` (see [`get`](Self::get)). Retried on rate limits.
    pub fn head(&self, target: &str) -> ProductRequest<'t> {
        self.request(Method::HEAD, target)
    }

    /// A `PUT` to `target` (see [`get`](Self::get)). Retried on rate limits: `PUT` is
    /// idempotent.
    pub fn put(&self, target: &str) -> ProductRequest<'t> {
        self.request(Method::PUT, target)
    }

    /// A `DELETE` of `target` (see [`get`](Self::get)). Retried on rate limits: `DELETE` is
    /// idempotent.
    pub fn delete(&self, target: &str) -> ProductRequest<'t> {
        self.request(Method::DELETE, target)
    }

    /// A `POST` to `target` (see [`get`](Self::get)). Not retried unless
    /// [`retry_non_idempotent`](ProductRequest::retry_non_idempotent) says it may be.
    pub fn post(&self, target: &str) -> ProductRequest<'t> {
        self.request(Method::POST, target)
    }

    /// A `PATCH` to `target` (see [`get`](Self::get)). Not retried unless
    /// [`retry_non_idempotent`](ProductRequest::retry_non_idempotent) says it may be.
    pub fn patch(&self, target: &str) -> ProductRequest<'t> {
        self.request(Method::PATCH, target)
    }

    fn request(&self, method: Method, target: &str) -> ProductRequest<'t> {
        let url = self
            .who
            .clone()
            .and_then(|who| Ok((who, self.tenant.tenant.base.resolve(target)?)));
        let retryable = matches!(
            method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE
        );
        ProductRequest {
            tenant: self.tenant,
            method,
            target: url,
            query: Vec::new(),
            headers: HeaderMap::new(),
            body: None,
            retryable,
            timeout: None,
        }
    }
}

impl fmt::Debug for Caller<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = match &self.who {
            Ok(Who::App) => "app",
            Ok(Who::User(_)) => "user",
            Err(_) => "invalid",
        };
        f.debug_struct("Caller")
            .field("tenant", &self.tenant.client_key())
            .field("as", &who)
            .finish()
    }
}

/// A request being built; [`send`](Self::send) signs and sends it.
///
/// Errors in building it (an invalid path or header, a body that does not serialize) are
/// kept and returned by `send`, so that a request reads as one chain.
#[must_use = "a request does nothing until it is sent"]
pub struct ProductRequest<'t> {
    tenant: &'t TenantClient,
    method: Method,
    target: Result<(Who, Url), ClientError>,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    body: Option<Bytes>,
    retryable: bool,
    timeout: Option<Duration>,
}

impl ProductRequest<'_> {
    /// Appends the query parameter `name=value` (form-encoded: a space is `+`, reserved
    /// characters are percent-encoded). Call it again for a repeated parameter; parameters
    /// already in the target stay before it.
    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.query.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets a header. `Authorization`, `Host`, `Content-Length` and `Transfer-Encoding` are the
    /// client's own ([`ClientError::ReservedHeader`]).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        match header_pair(name, value) {
            Ok((name, value)) => {
                self.headers.insert(name, value);
            }
            Err(error) => self.fail(error),
        }
        self
    }

    /// Sets the body to `value` as JSON, with `Content-Type: application/json`.
    pub fn json<T: serde::Serialize + ?Sized>(mut self, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(json) => {
                self.headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                self.body = Some(Bytes::from(json));
            }
            Err(_) => self.fail(ClientError::InvalidJsonBody),
        }
        self
    }

    /// Sets the body, sent as it is with `Content-Type: content_type`.
    pub fn body(self, body: impl Into<Vec<u8>>, content_type: &str) -> Self {
        let mut request = self.header("content-type", content_type);
        request.body = Some(Bytes::from(body.into()));
        request
    }

    /// Allows retrying a `POST` or `PATCH` after a rate-limit answer: say so only for a
    /// request that is safe to apply twice (a search, or one the product deduplicates).
    pub fn retry_non_idempotent(mut self) -> Self {
        self.retryable = true;
        self
    }

    /// Limits this request to `timeout` instead of the client's limit.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    fn fail(&mut self, error: ClientError) {
        if self.target.is_ok() {
            self.target = Err(error);
        }
    }

    /// Signs and sends the request; retries it after 429 (and 503 with `Retry-After`) when
    /// it is idempotent or allowed to be retried, at most the client's maximum number of
    /// retries, each time signed anew.
    ///
    /// A response with a status below 400 is returned as it is (redirects are not followed).
    ///
    /// # Errors
    ///
    /// The request's own error (see [`ClientError`]) before anything is sent;
    /// [`ClientError::TokenExchange`] when acting as a user and no access token could be
    /// obtained; [`ClientError::Timeout`], [`ClientError::Connect`],
    /// [`ClientError::Transport`]; [`ClientError::RateLimited`] when the product kept
    /// limiting; [`ClientError::Status`] for any other status from 400 up.
    pub async fn send(self) -> Result<Response, ClientError> {
        let (who, mut url) = self.target?;
        if !self.query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(self.query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        }
        let tenant = &*self.tenant.tenant;
        let shared = &*self.tenant.shared;
        if matches!(who, Who::User(_)) && tenant.oauth_client_id.is_none() {
            return Err(ClientError::NoOAuthClientId);
        }
        // What the product will hash: the path and query of exactly this URL, which reqwest
        // sends as it is. (A user's request carries a bearer token, bound to no URL.)
        let auth = match &who {
            Who::App => Auth::App(
                CanonicalRequest::from_parts(
                    self.method.as_str(),
                    url.path(),
                    url.query(),
                    Some(tenant.base.path()),
                )
                .map_err(ClientError::Unsignable)?,
            ),
            Who::User(key) => Auth::User(key),
        };
        let client = if tenant.base.is_loopback() {
            &shared.direct
        } else {
            &shared.http
        };
        let timeout = self.timeout.unwrap_or(shared.timeout);
        let mut headers = self.headers;
        if !headers.contains_key(header::ACCEPT) {
            headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        }
        let mut attempt: u32 = 1;
        loop {
            let (authorization, token) = match &auth {
                Auth::App(canonical) => {
                    let token = shared
                        .signer
                        .sign_request(canonical, &tenant.key, UnixTime::now())
                        .map_err(ClientError::Unsignable)?;
                    (token.authorization_header(), None)
                }
                Auth::User(key) => {
                    let token = shared
                        .tokens
                        .get(key, || exchange::exchange(shared, tenant, key))
                        .await?;
                    (format!("Bearer {}", token.expose()), Some(token))
                }
            };
            let mut authorization =
                HeaderValue::try_from(authorization).map_err(|_| ClientError::InvalidHeader)?;
            authorization.set_sensitive(true);
            let mut request = reqwest::Request::new(self.method.clone(), url.clone());
            *request.headers_mut() = headers.clone();
            request
                .headers_mut()
                .insert(header::AUTHORIZATION, authorization);
            *request.body_mut() = self.body.clone().map(reqwest::Body::from);
            *request.timeout_mut() = Some(timeout);
            tracing::debug!(
                target: TARGET,
                tenant = tenant.key.client_key(),
                method = %self.method,
                path = url.path(),
                attempt,
                as_user = token.is_some(),
                "calling the product"
            );
            let response = client
                .execute(request)
                .await
                .map_err(|e| transport_error(&e))?;
            let status = response.status().as_u16();
            tracing::debug!(target: TARGET, status, attempt, "the product answered");
            if status < 400 {
                return Ok(Response::new(response, shared.max_response_len));
            }
            if let (401, Auth::User(key), Some(token)) = (status, &auth, &token) {
                // Revoked or expired early: the next call exchanges a new one.
                shared.tokens.forget(key, token).await;
            }
            match shared
                .retry
                .step(status, response.headers(), attempt, self.retryable)
            {
                Step::Wait(wait) => {
                    tracing::debug!(target: TARGET, status, attempt, wait_ms = wait.as_millis(), "rate limited: retrying");
                    drop(response);
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Step::GiveUp(retry_after) => {
                    return Err(ClientError::RateLimited {
                        status,
                        attempts: attempt,
                        retry_after,
                    })
                }
                Step::Fail => {
                    let body = read_prefix(response, MAX_BODY_EXCERPT).await;
                    return Err(ClientError::Status(StatusError::new(status, &body)));
                }
            }
        }
    }
}

impl fmt::Debug for ProductRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProductRequest")
            .field("tenant", &self.tenant.client_key())
            .field("method", &self.method.as_str())
            .field("retryable", &self.retryable)
            .finish_non_exhaustive()
    }
}

fn header_pair(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), ClientError> {
    let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| ClientError::InvalidHeader)?;
    let reserved = [
        (header::AUTHORIZATION, "Authorization"),
        (header::HOST, "Host"),
        (header::CONTENT_LENGTH, "Content-Length"),
        (header::TRANSFER_ENCODING, "Transfer-Encoding"),
    ];
    if let Some((_, shown)) = reserved.iter().find(|(n, _)| *n == name) {
        return Err(ClientError::ReservedHeader(shown));
    }
    let value = HeaderValue::from_str(value).map_err(|_| ClientError::InvalidHeader)?;
    Ok((name, value))
}

/// The client error of a failed exchange with the product.
pub(super) fn transport_error(error: &reqwest::Error) -> ClientError {
    if error.is_timeout() {
        ClientError::Timeout
    } else if error.is_connect() {
        ClientError::Connect
    } else {
        ClientError::Transport
    }
}

/// Up to `max` bytes of the body (fewer if reading fails: it only explains an error).
pub(super) async fn read_prefix(mut response: reqwest::Response, max: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < max {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk[..chunk.len().min(max - body.len())]),
            Ok(None) | Err(_) => break,
        }
    }
    body
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn reserved_and_invalid_headers_are_refused() {
        assert_eq!(
            header_pair("authorization", "JWT x").unwrap_err(),
            ClientError::ReservedHeader("Authorization")
        );
        assert_eq!(
            header_pair("Host", "evil.example").unwrap_err(),
            ClientError::ReservedHeader("Host")
        );
        assert_eq!(
            header_pair("content-length", "1").unwrap_err(),
            ClientError::ReservedHeader("Content-Length")
        );
        assert_eq!(
            header_pair("Transfer-Encoding", "chunked").unwrap_err(),
            ClientError::ReservedHeader("Transfer-Encoding")
        );
        assert_eq!(
            header_pair("bad name", "x").unwrap_err(),
            ClientError::InvalidHeader
        );
        assert_eq!(
            header_pair("x-ok", "a\r\nb: c").unwrap_err(),
            ClientError::InvalidHeader
        );
        assert!(header_pair("X-Atlassian-Token", "no-check").is_ok());
    }
}
