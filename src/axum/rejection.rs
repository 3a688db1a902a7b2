//! The one rejection of every extractor and of the layer: the [`Error`] and the HTTP answer it
//! maps to.

use core::fmt;

use ::axum::http::header::{HeaderValue, CONTENT_TYPE, WWW_AUTHENTICATE};
use ::axum::http::StatusCode;
use ::axum::response::{IntoResponse, Response};

use crate::error::Error;

/// Why a request was refused, and the answer it gets.
///
/// | [`Error`] | status | headers |
/// | --- | --- | --- |
/// | a verdict on the request or its token ([`Error::is_verdict`]), a missing token included | 401 Unauthorized | `WWW-Authenticate: JWT`; on session-token and Forge remote routes `WWW-Authenticate: Bearer` (RFC 6750: `Bearer` for a missing token, `Bearer error="invalid_token"` otherwise) |
/// | [`Error::InvalidWebhookPayload`]: a verified webhook whose body is not its event's | 400 Bad Request | |
/// | [`Error::Unavailable`]: the tenant store, the session revocation store or Forge's key set could not answer | 503 Service Unavailable | |
/// | [`Error::Config`]: the app is misconfigured (a store returned another tenant's key, an empty secret) | 500 Internal Server Error | |
///
/// The body is the error's stable [code](Error::code) alone (`context-token-not-allowed`,
/// `qsh-mismatch`, ...), as `text/plain`: it names the check that failed, which a caller
/// holding the token could find out by trying, and nothing of the token, the secret or the
/// tenant. It is what a developer looking at a failed iframe needs to find the matching
/// `tracing` event, which has the details. No `Retry-After` on a 503: the crate cannot know
/// when the store is back, and a guessed delay would mislead.
///
/// To answer differently (an HTML page in an iframe, say), take
/// `Result<ConnectRequest, ConnectRejection>` in the handler and map the error yourself.
///
/// ```
/// use atlassian_connect_jwt::axum::ConnectRejection;
/// use atlassian_connect_jwt::Error;
/// use axum::http::StatusCode;
/// use axum::response::IntoResponse;
///
/// let rejection = ConnectRejection::from(Error::ContextTokenNotAllowed);
/// assert_eq!(rejection.status(), StatusCode::UNAUTHORIZED);
/// let response = rejection.into_response();
/// assert_eq!(response.headers()["www-authenticate"], "JWT");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectRejection {
    error: Error,
    challenge: Challenge,
}

/// The `WWW-Authenticate` scheme of a 401: how the refused route takes its token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Challenge {
    /// Connect: `Authorization: JWT <token>`.
    Jwt,
    /// Session-token and Forge remote routes: `Authorization: Bearer <token>` (RFC 6750).
    #[cfg(any(feature = "session", feature = "forge"))]
    Bearer,
}

impl ConnectRejection {
    /// A refusal of a route whose tokens travel as `Authorization: Bearer` (app sessions,
    /// Forge remote): its 401 challenges with `WWW-Authenticate: Bearer`.
    #[cfg(any(feature = "session", feature = "forge"))]
    pub(crate) fn bearer(error: Error) -> Self {
        Self {
            error,
            challenge: Challenge::Bearer,
        }
    }

    /// The error.
    #[must_use]
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// The error, owned.
    #[must_use]
    pub fn into_error(self) -> Error {
        self.error
    }

    /// The status it answers with: 401, 400, 503 or 500 (see the table above).
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self.error {
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Config(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Error::InvalidWebhookPayload(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::UNAUTHORIZED,
        }
    }
}

impl From<Error> for ConnectRejection {
    fn from(error: Error) -> Self {
        Self {
            error,
            challenge: Challenge::Jwt,
        }
    }
}

impl IntoResponse for ConnectRejection {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (status, self.error.code()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if status == StatusCode::UNAUTHORIZED {
            let challenge = match (self.challenge, &self.error) {
                (Challenge::Jwt, _) => "JWT",
                #[cfg(any(feature = "session", feature = "forge"))]
                (Challenge::Bearer, Error::MissingToken) => "Bearer",
                #[cfg(any(feature = "session", feature = "forge"))]
                (Challenge::Bearer, _) => "Bearer error=\"invalid_token\"",
            };
            headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        response
    }
}

impl fmt::Debug for ConnectRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ConnectRejection")
            .field(&self.error)
            .finish()
    }
}

impl fmt::Display for ConnectRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for ConnectRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}
