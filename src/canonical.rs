//! The canonical request `METHOD&path&query` and its hash, exactly as the Atlassian product
//! computes them.

use core::fmt;
use path_text::PathText;

use crate::error::{ConfigError, Error};
use crate::extract::QueryToken;
use crate::qsh::{HashSink, Qsh, Sink};
use crate::query::{self, ParamList};

/// Longest path accepted, in bytes (16 KiB).
pub const MAX_PATH_LEN: usize = 16 * 1024;

/// Longest HTTP method accepted, in bytes.
const MAX_METHOD_LEN: usize = 32;

/// The path prefix of an app's (or product's) base URL, stripped from request paths before
/// canonicalizing.
///
/// A Connect app whose descriptor `baseUrl` is `https://app.example.com/base` receives
/// `/base/page`, and the product signed `/page`. An app calling Confluence at
/// `https://x.atlassian.net/wiki` sends `/wiki/rest/...` and signs `/rest/...`.
///
/// Stripping happens on a segment boundary only: base `/app` turns `/app/p` into `/p` and
/// `/app` into `/`, but leaves `/application/p` alone (npm `atlassian-jwt` strips the raw
/// prefix and hashes `/lication/p`).
///
/// ```
/// use atlassian_connect_jwt::{BasePath, CanonicalRequest};
///
/// let base = BasePath::parse("https://app.example.com/app/")?;
/// assert_eq!(base.as_str(), "/app");
/// let strip = |target| CanonicalRequest::from_target("GET", target, Some(&base)).map(|r| r.to_string());
/// assert_eq!(strip("/app/p?x=1")?, "GET&/p&x=1");
/// assert_eq!(strip("/application/p")?, "GET&/application/p&");
/// # Ok::<(), atlassian_connect_jwt::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct BasePath(String);

impl BasePath {
    /// Takes the path of a base URL (`https://host/base`) or a path (`/base`).
    ///
    /// Trailing slashes are ignored; `""`, `/` and a URL without a path strip nothing.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidBaseUrl`] if the text is neither an absolute URL nor a path starting
    /// with `/`, or a path carries a query or fragment.
    pub fn parse(base: &str) -> Result<Self, Error> {
        let path = match split_absolute(base) {
            Some(rest) => {
                let end = rest.find(['?', '#']).unwrap_or(rest.len());
                &rest[..end]
            }
            None if base.is_empty() || base.starts_with('/') => {
                if base.contains(['?', '#']) {
                    return Err(Error::Config(ConfigError::InvalidBaseUrl));
                }
                base
            }
            None => return Err(Error::Config(ConfigError::InvalidBaseUrl)),
        };
        if path.len() > MAX_PATH_LEN {
            return Err(Error::Config(ConfigError::InvalidBaseUrl));
        }
        Ok(Self(path.trim_end_matches('/').to_owned()))
    }

    /// A base path that strips nothing.
    #[must_use]
    pub const fn root() -> Self {
        Self(String::new())
    }

    /// The path prefix, without a trailing slash (`""` for the root).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A request reduced to what its query string hash covers: method, path and parameters.
///
/// Build it from what the web server received ([`from_target`](Self::from_target) for a raw
/// request target or pasted URL, [`from_parts`](Self::from_parts) when the framework has
/// already split path and query); it is hashed as it is built ([`qsh`](Self::qsh)), finds
/// the request's token in the same pass ([`token`](Self::token)), and prints with `Display`
/// for diagnostics. It borrows the input and never decodes the path.
///
/// The rules are the Atlassian product's (where implementations differ, see the README):
///
/// * method upper-cased;
/// * path: base path stripped on a segment boundary, empty → `/`, a leading `/` ensured,
///   one trailing `/` dropped, every `&` written `%26`, nothing else changed;
/// * query: split on `&` and the first `=`, `+` is a space, strictly percent-decoded as
///   UTF-8, the parameter named exactly `jwt` dropped, each key's values sorted (UTF-16 order
///   of the decoded values) and joined by `,`, keys sorted by their encoded form, everything
///   re-encoded keeping only `A-Z a-z 0-9 - . _ ~`.
///
/// ```
/// use atlassian_connect_jwt::CanonicalRequest;
///
/// let req = CanonicalRequest::from_target(
///     "get",
///     "https://app.example.com/test?b=2&a=x+y&a=%7E&jwt=ignored#fragment",
///     None,
/// )?;
/// assert_eq!(req.to_string(), "GET&/test&a=x%20y,~&b=2");
///
/// // `&` in the path is escaped, so a path cannot pose as a query.
/// let tricky = CanonicalRequest::from_target("GET", "/p&a=b?x=y", None)?;
/// assert_eq!(tricky.to_string(), "GET&/p%26a=b&x=y");
/// # Ok::<(), atlassian_connect_jwt::Error>(())
/// ```
#[derive(Clone)]
pub struct CanonicalRequest<'a> {
    method: &'a str,
    path: PathText<'a>,
    query: &'a str,
    /// Hashed while the sorted parameters are at hand, so the request stays a few words
    /// (it is built and moved on every request; the parameter list is a kilobyte and a half).
    qsh: Qsh,
    /// The `jwt` parameter, found in the same pass.
    token: QueryToken<'a>,
}

impl<'a> CanonicalRequest<'a> {
    /// From a method and a raw request target: `/path?query`, or an absolute URL
    /// (`https://host/path?query`), as a server receives it or a person pastes it.
    ///
    /// A `#fragment` is ignored, scheme and authority never count, a target without a leading
    /// `/` gets one. `base` is stripped from the path on a segment boundary.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidMethod`], [`Error::PathTooLong`], [`Error::QueryTooLong`],
    /// [`Error::TooManyParameters`], [`Error::InvalidPercentEncoding`] or
    /// [`Error::InvalidUtf8`]: a request the product could never have signed.
    pub fn from_target(
        method: &'a str,
        target: &'a str,
        base: Option<&BasePath>,
    ) -> Result<Self, Error> {
        // Scheme and authority end at the first `/`, `?` or `#` after them, so a fragment
        // changes nothing before it; the query's own `#` is found in its scan for `&`.
        let target = match split_absolute(target) {
            Some(rest) => rest,
            None => target,
        };
        match crate::find::find_either(target.as_bytes(), b'?', b'#') {
            Some(q) if target.as_bytes()[q] == b'?' => {
                Self::build(method, &target[..q], Some(&target[q + 1..]), base, true)
            }
            Some(hash) => Self::build(method, &target[..hash], None, base, true),
            None => Self::build(method, target, None, base, true),
        }
    }

    /// From a method, a raw path and a raw query (without `?`), for frameworks that have
    /// already split them (`http::Uri::path` and `query`).
    ///
    /// The path is taken as it is (it is not searched for `?` or `#`).
    ///
    /// # Errors
    ///
    /// As [`from_target`](Self::from_target).
    pub fn from_parts(
        method: &'a str,
        path: &'a str,
        query: Option<&'a str>,
        base: Option<&BasePath>,
    ) -> Result<Self, Error> {
        Self::build(method, path, query, base, false)
    }

    /// [`from_parts`](Self::from_parts); with `fragment`, the query ends at its first `#`.
    fn build(
        method: &'a str,
        path: &'a str,
        query: Option<&'a str>,
        base: Option<&BasePath>,
        fragment: bool,
    ) -> Result<Self, Error> {
        validate_method(method)?;
        if path.len() > MAX_PATH_LEN {
            return Err(Error::PathTooLong {
                len: path.len(),
                max: MAX_PATH_LEN,
            });
        }
        let path = canonical_path(path, base);
        let query = query.unwrap_or_default();
        let mut params = ParamList::new();
        let (token, query) = if fragment {
            let (token, end) = query::parse_target_query(query, &mut params)?;
            (token, &query[..end])
        } else {
            (query::parse_into(query, &mut params)?, query)
        };
        let mut sink = HashSink::new();
        write(method, path, query, &params, &mut sink);
        Ok(Self {
            method,
            path,
            query,
            qsh: sink.finish(),
            token,
        })
    }

    /// The request's token: the `Authorization` header value's (`JWT <token>`) and/or the
    /// `jwt` query parameter's, by the rules of [`find_token`](crate::find_token), but
    /// without a second pass over the query (the parameter was found while canonicalizing).
    ///
    /// ```
    /// use atlassian_connect_jwt::{find_token, CanonicalRequest, Error};
    ///
    /// let request = CanonicalRequest::from_target("GET", "/panel?a=1&jwt=x.y.z", None)?;
    /// assert_eq!(request.token(None), Ok("x.y.z"));
    /// assert_eq!(request.token(None), find_token(None, Some("a=1&jwt=x.y.z")));
    /// assert_eq!(request.token(Some("JWT x.y.q")), Err(Error::ConflictingTokens));
    ///
    /// let bare = CanonicalRequest::from_target("GET", "/panel?a=1", None)?;
    /// assert_eq!(bare.token(None), Err(Error::MissingToken));
    /// assert_eq!(bare.token(Some("JWT x.y.z")), Ok("x.y.z"));
    /// # Ok::<(), atlassian_connect_jwt::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`find_token`](crate::find_token): [`Error::MissingToken`],
    /// [`Error::ConflictingTokens`], [`Error::InvalidAuthorizationHeader`].
    pub fn token(&self, authorization: Option<&'a str>) -> Result<&'a str, Error> {
        crate::extract::choose_token(authorization, self.token.get())
    }

    /// The query string hash of this request: SHA-256 of the canonical string, computed when
    /// the request was built by streaming the string into the hash, never building it.
    #[must_use]
    pub fn qsh(&self) -> Qsh {
        self.qsh
    }

    /// The canonical string, `METHOD&path&query` (also available through `Display`).
    #[must_use]
    pub fn canonical_string(&self) -> String {
        let mut params = ParamList::new();
        // The query parsed when the request was built, so it parses again; if it somehow did
        // not, the string would show no parameters rather than panic.
        if query::parse_into(self.query, &mut params).is_err() {
            params = ParamList::new();
        }
        let mut out = Vec::new();
        write(self.method, self.path, self.query, &params, &mut out);
        // Every byte written is ASCII or comes from `&str` input split at ASCII bytes.
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

/// Writes `METHOD&path&query` for a query whose `params` [`query::parse_into`] sorted.
fn write(method: &str, path: PathText<'_>, query: &str, params: &ParamList, out: &mut impl Sink) {
    for b in method.bytes() {
        out.put_byte(b.to_ascii_uppercase());
    }
    out.put(b"&");
    path.write(out);
    out.put(b"&");
    query::write(query, params.as_slice(), out);
}

/// The canonical string and qsh, never the raw query: it carries the token.
impl fmt::Debug for CanonicalRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let token = match self.token {
            QueryToken::Absent => "absent",
            QueryToken::Found(_) => "<redacted>",
            QueryToken::Conflicting => "<conflicting>",
        };
        f.debug_struct("CanonicalRequest")
            .field("canonical", &self.canonical_string())
            .field("qsh", &self.qsh)
            .field("query_token", &token)
            .finish()
    }
}

impl fmt::Display for CanonicalRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical_string())
    }
}

/// An RFC 9110 token of at most 32 bytes.
fn validate_method(method: &str) -> Result<(), Error> {
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if method.is_empty() || method.len() > MAX_METHOD_LEN || !method.bytes().all(tchar) {
        return Err(Error::InvalidMethod);
    }
    Ok(())
}

/// The part after `scheme://authority` of an absolute URL, or `None` for anything else.
fn split_absolute(target: &str) -> Option<&str> {
    let bytes = target.as_bytes();
    if !bytes.first()?.is_ascii_alphabetic() {
        return None;
    }
    let scheme_len = bytes
        .iter()
        .take_while(|&&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        .count();
    let rest = target[scheme_len..].strip_prefix("://")?;
    let path_start = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(&rest[path_start..])
}

/// Applies the path rules except the `&` escape, which is done while writing.
fn canonical_path<'a>(raw: &'a str, base: Option<&BasePath>) -> PathText<'a> {
    let base = base.map_or("", BasePath::as_str);
    let path = match raw.strip_prefix('/') {
        // The path after its leading `/`, whether or not the input had one: base paths
        // always start with `/`, so strip the base without its own leading `/`.
        Some(rest) => strip_segments(rest, base.get(1..).unwrap_or(""), PathText::Borrowed(raw)),
        None => strip_segments(raw, base.get(1..).unwrap_or(""), PathText::Slashed(raw)),
    };
    path.finish()
}

/// `/` + `rest` with `base` (`/` + `base_rest`) removed on a segment boundary, or `unchanged`.
fn strip_segments<'a>(rest: &'a str, base_rest: &str, unchanged: PathText<'a>) -> PathText<'a> {
    if base_rest.is_empty() {
        return unchanged;
    }
    match rest.strip_prefix(base_rest) {
        Some(after) if after.is_empty() || after.starts_with('/') => PathText::Borrowed(after),
        _ => unchanged,
    }
}

/// The canonical path without allocating: either a slice of the input, or a slice that needs
/// a `/` in front of it (a target pasted as `test?x=1`).
mod path_text {
    use crate::qsh::Sink;

    #[derive(Clone, Copy, Debug)]
    pub(super) enum PathText<'a> {
        /// The path, already starting with `/` (or empty, meaning `/`).
        Borrowed(&'a str),
        /// A path that lacked its leading `/`: `/` + this.
        Slashed(&'a str),
    }

    impl PathText<'_> {
        /// Empty → `/`; one trailing `/` dropped unless the path is just `/`.
        pub(super) fn finish(self) -> Self {
            match self {
                Self::Borrowed(p) if p.len() > 1 => {
                    Self::Borrowed(p.strip_suffix('/').unwrap_or(p))
                }
                Self::Borrowed(_) => Self::Borrowed("/"),
                Self::Slashed(p) => match p.strip_suffix('/') {
                    // `/` + `x/` → `/x`; `/` + `/` would be `//` → `/`.
                    Some(rest) => Self::Slashed(rest),
                    None => Self::Slashed(p),
                },
            }
        }

        pub(super) fn write(self, out: &mut impl Sink) {
            let p = match self {
                Self::Borrowed(p) => p,
                Self::Slashed(p) => {
                    out.put_byte(b'/');
                    p
                }
            };
            let mut rest = p.as_bytes();
            while let Some(amp) = crate::find::find_byte(rest, b'&') {
                out.put(&rest[..amp]);
                out.put(b"%26");
                rest = &rest[amp + 1..];
            }
            out.put(rest);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn canon(method: &str, target: &str, base: Option<&str>) -> String {
        let base = base.map(|b| BasePath::parse(b).unwrap_or_default());
        CanonicalRequest::from_target(method, target, base.as_ref())
            .map(|r| r.to_string())
            .unwrap_or_else(|e| format!("error: {e}"))
    }

    /// A target is read exactly as the same target cut at its first `#`, though the query's
    /// `#` is found while parsing: errors, parameter counts, the length limit and the token
    /// after the `#` do not count.
    #[test]
    fn a_fragment_ends_the_target() {
        let many = "a&".repeat(crate::query::MAX_PARAMS);
        let long = format!("/p?a=1#{}", "b".repeat(crate::MAX_QUERY_LEN));
        let targets = [
            "/p?a=1#frag".to_owned(),
            "/p?a=1&b#x=2&c=3".to_owned(),
            "/p?a=1&#".to_owned(),
            "/p?#a=1".to_owned(),
            "/p#?a=1".to_owned(),
            "/p#x/y?a=1".to_owned(),
            "/p?a=%zz#".to_owned(),
            "/p?a=1#%zz".to_owned(),
            "/p?a=1&k#%zz=v".to_owned(),
            "/p?a%E9=1#".to_owned(),
            "/p?a=1#%E9".to_owned(),
            "/p?jwt=x.y.z#q".to_owned(),
            "/p?jwt=x.y.z&a=1#&jwt=other".to_owned(),
            "/p?jwt=x#%zz".to_owned(),
            "/p?jw#t=x".to_owned(),
            "/p?a=1+2#+".to_owned(),
            "https://h/p?a=1#f".to_owned(),
            "https://h#f?a=1".to_owned(),
            "https://h?a=1#f&b=2".to_owned(),
            format!("/p?{many}#b"),
            format!("/p?{many}b#c"),
            long,
        ];
        for target in &targets {
            let cut = &target[..target.find('#').unwrap_or(target.len())];
            let read = |t| {
                CanonicalRequest::from_target("GET", t, None)
                    .map(|r| (r.to_string(), r.qsh(), r.token(None)))
            };
            assert_eq!(
                read(target),
                read(cut),
                "{}",
                &target[..target.len().min(60)]
            );
        }
        assert!(CanonicalRequest::from_target("GET", &targets[21], None).is_ok());
        assert_eq!(
            CanonicalRequest::from_target("GET", &targets[20], None).map(|_| ()),
            Err(Error::TooManyParameters {
                max: crate::query::MAX_PARAMS
            })
        );
    }

    #[test]
    fn path_rules() {
        assert_eq!(canon("GET", "", None), "GET&/&");
        assert_eq!(canon("GET", "?a=1", None), "GET&/&a=1");
        assert_eq!(canon("GET", "test?x=1", None), "GET&/test&x=1");
        assert_eq!(canon("GET", "test/", None), "GET&/test&");
        assert_eq!(canon("GET", "/", None), "GET&/&");
        assert_eq!(canon("GET", "//", None), "GET&/&");
        assert_eq!(canon("GET", "/foo//", None), "GET&/foo/&");
        assert_eq!(canon("GET", "/a&b", None), "GET&/a%26b&");
        assert_eq!(canon("GET", "/path-._~", None), "GET&/path-._~&");
        assert_eq!(canon("GET", "/P%2fq", None), "GET&/P%2fq&");
        assert_eq!(canon("GET", "http://h:80/a/b?x=1#f", None), "GET&/a/b&x=1");
        assert_eq!(canon("GET", "https://host", None), "GET&/&");
        assert_eq!(canon("GET", "https://host?x", None), "GET&/&x=");
    }

    #[test]
    fn base_path_rules() {
        assert_eq!(
            canon("GET", "/base/test?x=1", Some("/base")),
            "GET&/test&x=1"
        );
        assert_eq!(canon("GET", "/base", Some("/base/")), "GET&/&");
        assert_eq!(
            canon("GET", "/base/", Some("https://a.example/base")),
            "GET&/&"
        );
        assert_eq!(canon("GET", "/basement", Some("/base")), "GET&/basement&");
        assert_eq!(canon("GET", "base/x", Some("/base")), "GET&/x&");
        assert_eq!(canon("GET", "basement", Some("/base")), "GET&/basement&");
        assert_eq!(canon("GET", "/x", Some("https://a.example")), "GET&/x&");
        assert_eq!(
            BasePath::parse("base"),
            Err(Error::Config(ConfigError::InvalidBaseUrl))
        );
        assert_eq!(
            BasePath::parse("/b?x"),
            Err(Error::Config(ConfigError::InvalidBaseUrl))
        );
    }

    #[test]
    fn debug_shows_no_token() {
        let token = "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ4In0.c2lnbmF0dXJl";
        let target = format!("/p?a=1&jwt={token}");
        let request = CanonicalRequest::from_target("GET", &target, None).unwrap();
        let debug = format!("{request:?}");
        assert!(!debug.contains("eyJ"), "{debug}");
        assert!(
            debug.contains("GET&/p&a=1") && debug.contains("<redacted>"),
            "{debug}"
        );
    }

    #[test]
    fn method_rules() {
        assert_eq!(canon("get", "/", None), "GET&/&");
        assert_eq!(canon("", "/", None), "error: invalid http method");
        assert_eq!(canon("G T", "/", None), "error: invalid http method");
        assert_eq!(canon("GÉT", "/", None), "error: invalid http method");
    }
}
