//! The canonical request and the token straight from an [`http`](::http) 1.x request
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ::http::header::HeaderValue;

    fn get(target: &str) -> Request<()> {
        Request::get(target).body(()).unwrap()
    }

    fn canonical(request: &Request<()>, base: Option<&BasePath>) -> String {
        request.canonical_request(base).unwrap().to_string()
    }

    #[test]
    fn origin_and_absolute_form_hash_alike() {
        let origin = get("/p?q=1&a=2");
        let absolute = get("https://host.example:8443/p?q=1&a=2");
        assert_eq!(canonical(&origin, None), "GET&/p&a=2&q=1");
        assert_eq!(canonical(&absolute, None), "GET&/p&a=2&q=1");
        assert_eq!(
            origin.canonical_request(None).unwrap().qsh(),
            absolute.canonical_request(None).unwrap().qsh()
        );
        // An absolute URI without a path is the root.
        assert_eq!(canonical(&get("https://host.example"), None), "GET&/&");
        assert_eq!(
            canonical(&get("https://host.example?a=1"), None),
            "GET&/&a=1"
        );
    }

    #[test]
    fn escapes_are_kept_as_received() {
        // The path is never decoded: `%2F` stays `%2F` (a decoded `/` would be another path).
        assert_eq!(
            canonical(&get("/a%2Fb/c%20d?x=%7e&y=a+b&z=%41"), None),
            "GET&/a%2Fb/c%20d&x=~&y=a%20b&z=A"
        );
        // `http` accepts a few bytes RFC 3986 does not; they reach the canonicalization as
        // they came, which then encodes the query and leaves the path alone.
        assert_eq!(canonical(&get("/p{x}?k={v}"), None), "GET&/p{x}&k=%7Bv%7D");
        // A bad escape is the canonicalization's error, not a silent repair.
        assert_eq!(
            get("/p?a=%zz").canonical_request(None).unwrap_err(),
            Error::InvalidPercentEncoding { offset: 2 }
        );
    }

    #[test]
    fn base_path_is_stripped_on_a_segment_boundary() {
        let base = BasePath::parse("https://app.example.com/app").unwrap();
        assert_eq!(
            canonical(&get("/app/panel?a=1"), Some(&base)),
            "GET&/panel&a=1"
        );
        assert_eq!(canonical(&get("/app"), Some(&base)), "GET&/&");
        assert_eq!(
            canonical(&get("https://app.example.com/app/panel"), Some(&base)),
            "GET&/panel&"
        );
        assert_eq!(
            canonical(&get("/application/p"), Some(&base)),
            "GET&/application/p&"
        );
    }

    #[test]
    fn method_is_taken_from_the_request() {
        let post = Request::post("/p").body(()).unwrap();
        assert_eq!(canonical(&post, None), "POST&/p&");
        let custom = Request::builder()
            .method(Method::from_bytes(b"PURGE").unwrap())
            .uri("/p")
            .body(())
            .unwrap();
        assert_eq!(canonical(&custom, None), "PURGE&/p&");
    }

    #[test]
    fn parts_and_request_agree() {
        let request = Request::get("/p?a=1&jwt=h.p.s")
            .header(AUTHORIZATION, "JWT h.p.s")
            .body(())
            .unwrap();
        let from_request = request.canonical_request(None).unwrap().qsh();
        let auth_from_request = request.authorization().unwrap().map(str::to_owned);
        let (parts, ()) = request.into_parts();
        assert_eq!(parts.canonical_request(None).unwrap().qsh(), from_request);
        assert_eq!(
            parts.authorization().unwrap().map(str::to_owned),
            auth_from_request
        );
        let canonical = parts.canonical_request(None).unwrap();
        assert_eq!(canonical.token(parts.authorization().unwrap()), Ok("h.p.s"));
    }

    #[test]
    fn token_from_header_or_query_must_agree() {
        let request = Request::get("/p?jwt=h.p.s")
            .header(AUTHORIZATION, "JWT h.p.x")
            .body(())
            .unwrap();
        let canonical = request.canonical_request(None).unwrap();
        assert_eq!(
            canonical.token(request.authorization().unwrap()),
            Err(Error::ConflictingTokens)
        );
        let bare = get("/p");
        let canonical = bare.canonical_request(None).unwrap();
        assert_eq!(
            canonical.token(bare.authorization().unwrap()),
            Err(Error::MissingToken)
        );
    }

    #[test]
    fn authorization_must_be_one_visible_ascii_value() {
        let with = |values: &[&[u8]]| {
            let mut headers = HeaderMap::new();
            for value in values {
                headers.append(AUTHORIZATION, HeaderValue::from_bytes(value).unwrap());
            }
            authorization(&headers).map(|v| v.map(str::to_owned))
        };
        assert_eq!(with(&[]), Ok(None));
        assert_eq!(with(&[b"JWT a.b.c"]), Ok(Some("JWT a.b.c".to_owned())));
        assert_eq!(with(&[b"JWT ~!a b"]), Ok(Some("JWT ~!a b".to_owned())));
        // Controls other than tab cannot be in a `HeaderValue` at all; tab and bytes above
        // 0x7e can, and are refused here.
        for bad in [
            &b"JWT a.b.c\t"[..],
            b"JWT\ta.b.c",
            b"JWT a.b.\xc3\xa9",
            b"JWT a.b.\xff",
        ] {
            assert_eq!(
                with(&[bad]),
                Err(Error::InvalidAuthorizationHeader),
                "{bad:?}"
            );
        }
        // Two headers: refused, equal or not, and before their values are looked at.
        assert_eq!(
            with(&[b"JWT a.b.c", b"JWT a.b.c"]),
            Err(Error::InvalidAuthorizationHeader)
        );
        assert_eq!(
            with(&[b"JWT a.b.c", b"JWT a.b.d"]),
            Err(Error::InvalidAuthorizationHeader)
        );
        assert_eq!(
            with(&[b"JWT a.b.c", b"Basic eA=="]),
            Err(Error::InvalidAuthorizationHeader)
        );
    }

    #[test]
    fn the_uri_is_not_normalized() {
        // Dot segments and double slashes are hashed as sent: the product hashed what it sent.
        assert_eq!(canonical(&get("/a/../b//c/"), None), "GET&/a/../b//c&");
    }
}
