//! The canonical request and the token straight from an `http` 1.x request
//! (feature `http`): hyper, axum, tower and reqwest all speak these types.
//!
//! The request is hashed **as received**: the method, and the path and query of the URI as
//! they came off the wire (`uri.path()` and `uri.query()`, never decoded or re-encoded), with
//! the app's base path stripped. The token comes from the `Authorization` header and/or the
//! `jwt` query parameter, which must agree.
//!
//! ```
//! use atlassian_connect_jwt::http::RequestExt as _;
//! use atlassian_connect_jwt::BasePath;
//!
//! // The app's descriptor baseUrl is https://app.example.com/connect.
//! let base = BasePath::parse("https://app.example.com/connect")?;
//! let request = http::Request::get("/connect/panel?b=2&a=x%20y&jwt=h.p.s").body(())?;
//!
//! let canonical = request.canonical_request(Some(&base))?;
//! assert_eq!(canonical.to_string(), "GET&/panel&a=x%20y&b=2");
//! assert_eq!(canonical.token(request.authorization()?)?, "h.p.s");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A router that strips a prefix before the handler sees the request (axum's `nest`,
//! tower-http's path rewriting) changes `uri`: hash the URI the server received (axum keeps it
//! as `OriginalUri`, and [`crate::axum`]'s extractors use it), through [`canonical_request`].
//! Stacks on other versions of `http` use the string API
//! ([`CanonicalRequest::from_parts`], [`CanonicalRequest::token`]).

use ::http::header::{HeaderMap, AUTHORIZATION};
use ::http::request::{Parts, Request};
use ::http::{Method, Uri};

use crate::canonical::{BasePath, CanonicalRequest};
use crate::error::Error;

/// The canonical request of `method` and `uri`, with `base` stripped from the path.
///
/// `uri` is used as received: origin form (`/p?q`) and absolute form (`https://host/p?q`,
/// scheme and authority ignored) alike, `%`-escapes and `+` kept for the canonicalization
/// to decode. Pass the URI the server received, not one a router has stripped.
///
/// ```
/// use atlassian_connect_jwt::http::canonical_request;
///
/// let uri: http::Uri = "https://app.example.com/p%2Fq?a=%7E".parse()?;
/// let canonical = canonical_request(&http::Method::GET, &uri, None)?;
/// assert_eq!(canonical.to_string(), "GET&/p%2Fq&a=~");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// As [`CanonicalRequest::from_parts`]: a request the product could never have signed
/// ([`Error::InvalidMethod`], [`Error::PathTooLong`], [`Error::InvalidPercentEncoding`], ...).
pub fn canonical_request<'a>(
    method: &'a Method,
    uri: &'a Uri,
    base: Option<&BasePath>,
) -> Result<CanonicalRequest<'a>, Error> {
    CanonicalRequest::from_parts(method.as_str(), uri.path(), uri.query(), base)
}

/// The `Authorization` header's value, `None` when there is none, to pass to
/// [`CanonicalRequest::token`].
///
/// `Authorization` holds one credential (RFC 9110 §11.6.2), so a request with two such
/// headers is refused whatever they hold, even two equal ones: choosing one would let
/// whichever proxy or client added the other decide which token is checked.
///
/// ```
/// use atlassian_connect_jwt::http::authorization;
/// use atlassian_connect_jwt::Error;
/// use http::header::{HeaderMap, HeaderValue, AUTHORIZATION};
///
/// let mut headers = HeaderMap::new();
/// assert_eq!(authorization(&headers), Ok(None));
/// headers.insert(AUTHORIZATION, HeaderValue::from_static("JWT h.p.s"));
/// assert_eq!(authorization(&headers), Ok(Some("JWT h.p.s")));
/// headers.append(AUTHORIZATION, HeaderValue::from_static("JWT h.p.s"));
/// assert_eq!(authorization(&headers), Err(Error::InvalidAuthorizationHeader));
/// ```
///
/// # Errors
///
/// [`Error::InvalidAuthorizationHeader`] for two or more `Authorization` headers, or a value
/// with a byte that is not visible ASCII or a space (a tab, a control, any non-ASCII byte).
pub fn authorization(headers: &HeaderMap) -> Result<Option<&str>, Error> {
    let mut values = headers.get_all(AUTHORIZATION).into_iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Error::InvalidAuthorizationHeader);
    }
    let bytes = value.as_bytes();
    if !bytes.iter().all(|b| (b' '..=b'~').contains(b)) {
        return Err(Error::InvalidAuthorizationHeader);
    }
    core::str::from_utf8(bytes)
        .map(Some)
        .map_err(|_| Error::InvalidAuthorizationHeader)
}

/// [`canonical_request`] and [`authorization`] as methods of [`Request`] and [`Parts`].
///
/// They read `self.uri`: in a nested router that is the stripped URI (see the
/// [module docs](self)).
pub trait RequestExt: sealed::Sealed {
    /// The canonical request of this request's method and URI, `base` stripped.
    ///
    /// # Errors
    ///
    /// As [`canonical_request`].
    fn canonical_request(&self, base: Option<&BasePath>) -> Result<CanonicalRequest<'_>, Error>;

    /// This request's `Authorization` value.
    ///
    /// # Errors
    ///
    /// As [`authorization`].
    fn authorization(&self) -> Result<Option<&str>, Error>;
}

impl RequestExt for Parts {
    fn canonical_request(&self, base: Option<&BasePath>) -> Result<CanonicalRequest<'_>, Error> {
        canonical_request(&self.method, &self.uri, base)
    }

    fn authorization(&self) -> Result<Option<&str>, Error> {
        authorization(&self.headers)
    }
}

impl<B> RequestExt for Request<B> {
    fn canonical_request(&self, base: Option<&BasePath>) -> Result<CanonicalRequest<'_>, Error> {
        canonical_request(self.method(), self.uri(), base)
    }

    fn authorization(&self) -> Result<Option<&str>, Error> {
        authorization(self.headers())
    }
}

mod sealed {
    /// Only `http`'s request types: the trait may grow methods.
    pub trait Sealed {}
    impl Sealed for ::http::request::Parts {}
    impl<B> Sealed for ::http::Request<B> {}
}
