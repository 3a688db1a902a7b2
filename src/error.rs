//! The crate's one error type: a variant per failed check, each with a stable code.

use core::fmt;

/// Everything that can go wrong when canonicalizing a request or checking a token.
///
/// Each variant names exactly one failed check. [`Error::code`] gives a stable kebab-case
/// identifier for logs, metrics and the CLI's JSON Lines output; `Display` is a short lowercase
/// phrase. Neither ever contains a secret or a whole token.
///
/// ```
/// use atlassian_connect_jwt::{CanonicalRequest, Error};
///
/// let err = CanonicalRequest::from_target("GET", "/p?a=%zz", None).unwrap_err();
/// assert!(matches!(err, Error::InvalidPercentEncoding { .. }));
/// assert_eq!(err.code(), "invalid-percent-encoding");
/// assert_eq!(err.to_string(), "invalid percent-encoding in the query at byte 2");
/// ```
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ----- the request -----
    /// The HTTP method is empty, too long, or not an RFC 9110 token.
    #[error("invalid http method")]
    InvalidMethod,
    /// The path is longer than [`MAX_PATH_LEN`](crate::MAX_PATH_LEN).
    #[error("path too long: {len} bytes, at most {max}")]
    PathTooLong {
        /// Length of the path presented.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The query is longer than [`MAX_QUERY_LEN`](crate::MAX_QUERY_LEN).
    #[error("query too long: {len} bytes, at most {max}")]
    QueryTooLong {
        /// Length of the query presented.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The query has more than [`MAX_PARAMS`](crate::MAX_PARAMS) parameters.
    #[error("too many query parameters: at most {max}")]
    TooManyParameters {
        /// The limit.
        max: usize,
    },
    /// A `%` in the query is not followed by two hex digits (`%zz`, `%`, `%4`).
    #[error("invalid percent-encoding in the query at byte {offset}")]
    InvalidPercentEncoding {
        /// Byte offset of the `%` within the query.
        offset: usize,
    },
    /// A query parameter decodes to bytes that are not UTF-8 (`%E2%82`, `%FF`).
    #[error("query parameter at byte {offset} does not decode to utf-8")]
    InvalidUtf8 {
        /// Byte offset within the query of the key or value that does not decode.
        offset: usize,
    },
    /// The base URL given to strip from paths is not a URL or an absolute path.
    #[error("invalid base url")]
    InvalidBaseUrl,
}

impl Error {
    /// A stable kebab-case identifier of the failed check, for logs and machine output.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidMethod => "invalid-method",
            Self::PathTooLong { .. } => "path-too-long",
            Self::QueryTooLong { .. } => "query-too-long",
            Self::TooManyParameters { .. } => "too-many-parameters",
            Self::InvalidPercentEncoding { .. } => "invalid-percent-encoding",
            Self::InvalidUtf8 { .. } => "invalid-utf8",
            Self::InvalidBaseUrl => "invalid-base-url",
        }
    }
}

impl fmt::Debug for Error {
    // Debug shows the code next to the message: both are free of secrets by construction.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error({}: {})", self.code(), self)
    }
}
