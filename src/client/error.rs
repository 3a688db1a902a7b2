//! What can go wrong calling the product: typed, and never carrying a token, a secret, an
//! assertion, a URL or a request body.

use core::fmt;
use std::time::Duration;

use crate::error::Error;

/// Longest excerpt of an error response's body kept in a [`StatusError`], in bytes.
pub const MAX_BODY_EXCERPT: usize = 512;

/// A call to the product failed.
///
/// Each variant names one cause; [`code`](Self::code) gives a stable kebab-case identifier for
/// logs and metrics. Neither `Display` nor `Debug` ever shows a token, the shared secret, an
/// assertion, the request's URL or its body.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    // ----- the configuration -----
    /// The tenant's base URL (or the authorization server's) is not an `https://` URL without
    /// query, fragment or credentials (`http://` is allowed to loopback addresses only, for
    /// tests).
    #[error("invalid base url")]
    InvalidBaseUrl,
    /// The tenant has no `oauthClientId` (it came with the `installed` callback of apps that
    /// declare `ACT_AS_USER`), so the app cannot act as its users.
    #[error("the tenant has no oauth client id: cannot act as a user")]
    NoOAuthClientId,
    /// The HTTP client could not be built (no TLS roots, say).
    #[error("the http client could not be built")]
    HttpClient,

    // ----- the request -----
    /// The target is neither a path starting with `/` nor an absolute URL, or it holds a
    /// fragment (`#`), a control character or a backslash in its path.
    #[error("invalid request path")]
    InvalidPath,
    /// The target leaves the tenant's base URL: an absolute URL to another origin or with
    /// credentials, or a path that `..` takes out of the base path (Confluence's `/wiki`).
    /// Requests carry the tenant's credentials, so they only go to the tenant.
    #[error("the request target is outside the tenant's base url")]
    OutsideBaseUrl,
    /// The request cannot be signed: the product could not verify it either (a `%` not
    /// followed by two hex digits in the query, a query decoding to non-UTF-8, too long, ...).
    #[error("the request cannot be signed: {0}")]
    Unsignable(Error),
    /// A header name or value is not valid HTTP.
    #[error("invalid header")]
    InvalidHeader,
    /// The header is set by the client itself: `Authorization`, `Host`, `Content-Length`,
    /// `Transfer-Encoding`.
    #[error("the {0} header is set by the client")]
    ReservedHeader(&'static str),
    /// A scope is not a Connect scope name (`[A-Za-z_]`, 1 to 64 characters), or no scope was
    /// given.
    #[error("invalid scope")]
    InvalidScope,
    /// The account id is empty, longer than 128 bytes, or holds a control character.
    #[error("invalid account id")]
    InvalidAccountId,
    /// The JSON body could not be serialized.
    #[error("the request body could not be serialized as json")]
    InvalidJsonBody,

    // ----- the exchange with the product -----
    /// No response within the time limit (the request's, or connecting's).
    #[error("the product did not answer in time")]
    Timeout,
    /// The product could not be reached (DNS, TCP, TLS).
    #[error("the product could not be reached")]
    Connect,
    /// The connection failed during the exchange.
    #[error("the connection to the product failed")]
    Transport,
    /// The product answered with an error status (400 to 599) that is not retried.
    #[error("{0}")]
    Status(StatusError),
    /// The product answered 429, or 503 with `Retry-After`, and kept doing so: retries were
    /// not allowed (a non-idempotent request), ran out, or the wait it asked for is longer
    /// than the client waits.
    #[error("the product is rate limiting: status {status} after {attempts} attempt(s)")]
    RateLimited {
        /// The last status: 429 or 503.
        status: u16,
        /// Requests sent, the first one included.
        attempts: u32,
        /// The last `Retry-After`, when the product sent one that could be read.
        retry_after: Option<Duration>,
    },
    /// Exchanging the user assertion for an access token failed.
    #[error("token exchange failed: {0}")]
    TokenExchange(TokenExchangeError),

    // ----- the response -----
    /// The response body is longer than the client reads.
    #[error("the response body is larger than {max} bytes")]
    ResponseTooLarge {
        /// The limit.
        max: usize,
    },
    /// The response body is not what was asked for (not UTF-8, not JSON of that shape).
    #[error("the response body could not be decoded")]
    InvalidResponseBody,
}

impl ClientError {
    /// A stable kebab-case identifier of the variant.
    ///
    /// ```
    /// use atlassian_connect_jwt::ClientError;
    ///
    /// assert_eq!(ClientError::OutsideBaseUrl.code(), "outside-base-url");
    /// ```
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidBaseUrl => "invalid-base-url",
            Self::NoOAuthClientId => "no-oauth-client-id",
            Self::HttpClient => "http-client",
            Self::InvalidPath => "invalid-path",
            Self::OutsideBaseUrl => "outside-base-url",
            Self::Unsignable(_) => "unsignable",
            Self::InvalidHeader => "invalid-header",
            Self::ReservedHeader(_) => "reserved-header",
            Self::InvalidScope => "invalid-scope",
            Self::InvalidAccountId => "invalid-account-id",
            Self::InvalidJsonBody => "invalid-json-body",
            Self::Timeout => "timeout",
            Self::Connect => "connect",
            Self::Transport => "transport",
            Self::Status(_) => "status",
            Self::RateLimited { .. } => "rate-limited",
            Self::TokenExchange(_) => "token-exchange",
            Self::ResponseTooLarge { .. } => "response-too-large",
            Self::InvalidResponseBody => "invalid-response-body",
        }
    }

    /// The HTTP status the product answered with, for [`Status`](Self::Status) and
    /// [`RateLimited`](Self::RateLimited).
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status(error) => Some(error.status()),
            Self::RateLimited { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// The product answered with an error status.
///
/// It keeps the status and at most [`MAX_BODY_EXCERPT`] bytes of the body (cut on a character
/// boundary; empty when the body is not UTF-8): Jira's and Confluence's error bodies say what
/// was wrong (`{"errorMessages":["Issue does not exist ..."]}`). The excerpt may quote the
/// request's data, so `Display` leaves it out and `Debug` shows only its length: log it only
/// where user data may be logged.
#[derive(Clone, PartialEq, Eq)]
pub struct StatusError {
    status: u16,
    excerpt: Box<str>,
}

impl StatusError {
    pub(crate) fn new(status: u16, body: &[u8]) -> Self {
        Self {
            status,
            excerpt: excerpt(body).into(),
        }
    }

    /// The HTTP status, 400 to 599.
    #[must_use]
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The start of the response body.
    #[must_use]
    pub fn body_excerpt(&self) -> &str {
        &self.excerpt
    }
}

/// At most [`MAX_BODY_EXCERPT`] bytes of `body` as text, cut on a character boundary; `""`
/// when that prefix is not UTF-8.
fn excerpt(body: &[u8]) -> &str {
    let prefix = &body[..body.len().min(MAX_BODY_EXCERPT)];
    match core::str::from_utf8(prefix) {
        Ok(text) => text,
        // A character cut by the limit: keep what precedes it.
        Err(e) if e.error_len().is_none() => {
            core::str::from_utf8(&prefix[..e.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => "",
    }
}

impl fmt::Display for StatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the product answered with status {}", self.status)
    }
}

impl fmt::Debug for StatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatusError")
            .field("status", &self.status)
            .field("body_excerpt_len", &self.excerpt.len())
            .finish()
    }
}

/// Why the OAuth 2.0 JWT bearer exchange at the authorization server failed.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenExchangeError {
    /// The server refused the assertion or the scopes with this status, and the RFC 6749
    /// error code of its body when it sent one (`invalid_grant`, `invalid_scope`, ...).
    #[error("the authorization server answered with status {status}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The `error` member of the body, when it is an RFC 6749 error code (`[a-z_]`, at
        /// most 64 characters); the free-text `error_description` is never kept.
        oauth_error: Option<String>,
    },
    /// The server kept answering 429 (or 503 with `Retry-After`).
    #[error("the authorization server is rate limiting after {attempts} attempt(s)")]
    RateLimited {
        /// Requests sent.
        attempts: u32,
        /// The last `Retry-After`, when readable.
        retry_after: Option<Duration>,
    },
    /// No answer within the time limit.
    #[error("the authorization server did not answer in time")]
    Timeout,
    /// The server could not be reached.
    #[error("the authorization server could not be reached")]
    Connect,
    /// The connection failed during the exchange.
    #[error("the connection to the authorization server failed")]
    Transport,
    /// A `200` whose body is not a bearer token response (`access_token`, `token_type`
    /// `Bearer`, `expires_in`), or is too large.
    #[error("the authorization server's answer is not a bearer token")]
    InvalidResponse,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_is_bounded_and_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_BODY_EXCERPT);
        let cut = excerpt(long.as_bytes());
        assert_eq!(cut.len(), MAX_BODY_EXCERPT);
        let odd = format!("x{long}");
        assert_eq!(excerpt(odd.as_bytes()).len(), MAX_BODY_EXCERPT - 1);
        assert_eq!(excerpt(b"{\"errorMessages\":[]}"), "{\"errorMessages\":[]}");
        assert_eq!(excerpt(b"\xff\xfe"), "");
    }

    #[test]
    fn debug_and_display_of_a_status_error_leave_the_body_out() {
        let error = ClientError::Status(StatusError::new(404, b"secret-looking body"));
        assert_eq!(error.to_string(), "the product answered with status 404");
        assert_eq!(
            format!("{error:?}"),
            "Status(StatusError { status: 404, body_excerpt_len: 19 })"
        );
        assert_eq!(error.status(), Some(404));
        assert_eq!(ClientError::Timeout.status(), None);
        assert_eq!(format!("{:?}", ClientError::Timeout), "Timeout");
    }
}
