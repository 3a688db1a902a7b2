//! Why a token's `qsh` does not match the request an app received: the change to the request
//! (one, or one of the documented pairs) that makes them agree, and what the app should do.
//!
//! The search rebuilds the canonical request with each change that proxies, frameworks and
//! configurations commonly make, hashes it, and compares the hash with the token's `qsh`. It
//! needs no secret: a `qsh` is a plain SHA-256 of the canonical request.
//!
//! Work is bounded whatever the input: at most [`MAX_DIAGNOSIS_CANDIDATES`] candidates are
//! hashed and at most [`MAX_DIAGNOSIS_BYTES`] bytes are canonicalized and hashed in all.

use core::fmt;
use core::ops::Range;
use std::collections::HashMap;

use crate::backend::sha256;
use crate::canonical::{BasePath, CanonicalRequest};
use crate::error::Error;
use crate::qsh::Qsh;

/// Most candidate requests one diagnosis hashes (1,024). A typical iframe URL with a dozen
/// parameters needs a few hundred for a full search.
pub const MAX_DIAGNOSIS_CANDIDATES: usize = 1024;

/// Most bytes one diagnosis canonicalizes and hashes in all (8 MiB): with requests near the
/// size limits, the search stops here rather than hashing long queries a thousand times.
pub const MAX_DIAGNOSIS_BYTES: usize = 8 * 1024 * 1024;

/// The methods tried besides the request's own.
const METHODS: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];

/// Base paths of Atlassian products that a reverse proxy may remove from the front of a path
/// (Confluence Cloud, and the usual context paths of Jira and Confluence Data Center).
const PRODUCT_PREFIXES: [&str; 3] = ["/wiki", "/jira", "/confluence"];

/// At most this many segment prefixes of the path are tried as the base path the product
/// stripped.
const MAX_PREFIXES: usize = 16;

/// At most this many parameter values are tried as the one added.
const MAX_DROPPED: usize = 64;

/// At most this many trailing runs of parameters (two or more) are tried as the ones added.
const MAX_SUFFIXES: usize = 16;

/// At most this many parameters with a `+` are tried one by one as the one whose `%2B` was
/// decoded.
const MAX_PLUS_PIECES: usize = 16;

/// At most this many `/` of a decoded path are tried one by one as a decoded `%2F`.
const MAX_SLASHES: usize = 16;

/// What changed between the request a token was signed for and the request an app received,
/// with a stable [`code`](Self::code) and a one-line [`detail`](Self::detail) saying what the
/// app should change.
///
/// ```
/// use atlassian_connect_jwt::{diagnose, CanonicalRequest, Cause};
///
/// // Signed for `/panel?a=1`; a CDN added a cache buster on the way.
/// let signed = CanonicalRequest::from_target("GET", "/panel?a=1", None)?.qsh().to_string();
/// let diagnosis = diagnose("GET", "/panel?a=1&_=1700000000123", None, &signed)?;
/// assert_eq!(diagnosis.causes(), [Cause::ParameterAdded { names: vec!["_".to_owned()] }]);
/// assert_eq!(diagnosis.causes()[0].code(), "parameter-added");
/// assert_eq!(diagnosis.signed_request(), Some("GET&/panel&a=1"));
/// # Ok::<(), atlassian_connect_jwt::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cause {
    /// The product stripped `prefix` (the app's base path) from the path; the app stripped
    /// nothing, having no base path.
    BasePathNotStripped {
        /// The path prefix the product stripped, in canonical form.
        prefix: String,
    },
    /// The app's base path is not the one the product stripped.
    BasePathWrong {
        /// The app's base path.
        app: String,
        /// What the product stripped (canonical form); empty when it stripped nothing.
        signed: String,
    },
    /// The token was signed for another method.
    MethodDiffers {
        /// The method the token was signed for.
        signed: String,
        /// The method received (upper-cased).
        received: String,
    },
    /// These parameters were added after signing (by a proxy, a CDN, a framework).
    ParameterAdded {
        /// The added parameters' names, in canonical (percent-encoded) form.
        names: Vec<String>,
    },
    /// The token covers no query at all: two or more parameters were added after signing.
    QueryAdded,
    /// A reverse proxy removed `prefix` from the front of the path.
    PathPrefixRemoved {
        /// The prefix the token's path starts with.
        prefix: String,
    },
    /// The path was percent-decoded on the way (`%20`, `%2F`, `%7E`, ...).
    PathDecoded,
    /// The path was re-encoded on the way: escapes added, or changed in form (hex case,
    /// `%20` and `+`).
    PathReencoded,
    /// A `%2B` in the query reached the app as `+`, which reads as a space.
    PlusDecoded,
    /// A `+` in the query (a space) reached the app as `%2B`, a plus sign.
    PlusEncoded,
    /// The path gained or lost a trailing `/` beyond the one the canonical path drops.
    TrailingSlash {
        /// Whether the token's path ends with `/` where the received one does not.
        signed_with_slash: bool,
    },
    /// The token's `qsh` covers its own `jwt` parameter, which the canonical query leaves out.
    JwtParameterHashed,
    /// None of the changes tried makes the request match.
    Unknown,
}

impl Cause {
    /// The stable kebab-case code: `base-path-not-stripped`, `base-path-wrong`,
    /// `method-differs`, `parameter-added`, `query-added`, `path-prefix-removed`,
    /// `path-decoded`, `path-reencoded`, `plus-decoded`, `plus-encoded`, `trailing-slash`,
    /// `jwt-parameter-hashed`, `unknown`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::BasePathNotStripped { .. } => "base-path-not-stripped",
            Self::BasePathWrong { .. } => "base-path-wrong",
            Self::MethodDiffers { .. } => "method-differs",
            Self::ParameterAdded { .. } => "parameter-added",
            Self::QueryAdded => "query-added",
            Self::PathPrefixRemoved { .. } => "path-prefix-removed",
            Self::PathDecoded => "path-decoded",
            Self::PathReencoded => "path-reencoded",
            Self::PlusDecoded => "plus-decoded",
            Self::PlusEncoded => "plus-encoded",
            Self::TrailingSlash { .. } => "trailing-slash",
            Self::JwtParameterHashed => "jwt-parameter-hashed",
            Self::Unknown => "unknown",
        }
    }

    /// One line: what happened, and what the app should change. (Also the `Display` form.)
    #[must_use]
    pub fn detail(&self) -> String {
        self.to_string()
    }
}

/// Longest parameter name shown in a detail, in characters.
const MAX_NAME_SHOWN: usize = 40;

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BasePathNotStripped { prefix } => write!(
                f,
                "the product signed the path without {prefix}, and the app stripped nothing: \
                 set the app's base URL to its descriptor's baseUrl (path {prefix})"
            ),
            Self::BasePathWrong { app, signed } if signed.is_empty() => write!(
                f,
                "the token covers the path with {app}, which the app stripped: strip the base \
                 path once (not again after a router removed it), and only if it is in the \
                 descriptor's baseUrl"
            ),
            Self::BasePathWrong { app, signed } => write!(
                f,
                "the product signed the path without {signed}, but the app's base path is \
                 {app}: set the app's base URL to its descriptor's baseUrl (path {signed})"
            ),
            Self::MethodDiffers { signed, received } => write!(
                f,
                "the token was signed for {signed}, the app received {received}: find what \
                 changed the method (a redirect, a proxy, a method override) or route the \
                 {signed} request here unchanged"
            ),
            Self::ParameterAdded { names } => {
                let shown: Vec<String> = names.iter().map(|n| shorten(n)).collect();
                let (noun, verb) = if names.len() == 1 {
                    ("parameter", "was")
                } else {
                    ("parameters", "were")
                };
                write!(
                    f,
                    "the {noun} {} {verb} added after signing (by a proxy, CDN or framework): \
                     verify the query the product sent, without {}",
                    shown.join(", "),
                    if names.len() == 1 { "it" } else { "them" }
                )
            }
            Self::QueryAdded => f.write_str(
                "the token covers no query: its parameters were all added after signing (by a \
                 proxy, CDN or framework): verify the query the product sent",
            ),
            Self::PathPrefixRemoved { prefix } => write!(
                f,
                "a reverse proxy removed {prefix} from the front of the path: verify the path \
                 the product sent, with {prefix} (from X-Forwarded-Prefix or the proxy's \
                 configuration)"
            ),
            Self::PathDecoded => f.write_str(
                "the path was percent-decoded on the way (%20, %2F, %7E, ...): verify the raw \
                 path exactly as sent, not one a proxy or framework decoded",
            ),
            Self::PathReencoded => f.write_str(
                "the path was re-encoded on the way (escapes added or changed): verify the raw \
                 path exactly as sent, not one a proxy or framework re-encoded",
            ),
            Self::PlusDecoded => f.write_str(
                "a %2B in the query reached the app as +, which reads as a space: verify the \
                 raw query exactly as sent, not one rebuilt after decoding",
            ),
            Self::PlusEncoded => f.write_str(
                "a + in the query (a space) reached the app as %2B, a plus sign: verify the raw \
                 query exactly as sent, not one re-encoded",
            ),
            Self::TrailingSlash {
                signed_with_slash: true,
            } => f.write_str(
                "the token's path ends with a / that the received path lacks: a redirect or \
                 proxy removed a slash (or the signer kept one the canonical path drops)",
            ),
            Self::TrailingSlash {
                signed_with_slash: false,
            } => f.write_str(
                "the received path ends with a / that the token's path lacks: a redirect or \
                 proxy added a slash (or the signer dropped one too many)",
            ),
            Self::JwtParameterHashed => f.write_str(
                "the token's qsh covers its own jwt parameter, which the canonical query leaves \
                 out: the signer must not hash jwt",
            ),
            Self::Unknown => f.write_str(
                "no change tried makes the request match: look for parameters removed or \
                 changed, a path rewritten (letter case, // merged, dot segments), or a token \
                 meant for another request",
            ),
        }
    }
}

/// `name` cut to [`MAX_NAME_SHOWN`] characters.
fn shorten(name: &str) -> String {
    match name.char_indices().nth(MAX_NAME_SHOWN) {
        Some((end, _)) => format!("{}...", &name[..end]),
        None => name.to_owned(),
    }
}

/// What [`diagnose`] found: the received request's canonical form and, when the search found
/// it, the canonical request the token was signed for and the changes between the two.
///
/// `Debug` shows the causes and counts, never a canonical request (a query may carry a token
/// under another name).
#[derive(Clone, PartialEq, Eq)]
pub struct Diagnosis {
    received: String,
    signed: Option<String>,
    causes: Vec<Cause>,
    candidates: usize,
    complete: bool,
}

impl Diagnosis {
    /// The canonical request of the request received, with the app's base path stripped.
    #[must_use]
    pub fn received_request(&self) -> &str {
        &self.received
    }

    /// Whether the token's `qsh` is the received request's own: nothing to diagnose.
    #[must_use]
    pub fn matches(&self) -> bool {
        self.causes.is_empty()
    }

    /// The canonical request the token's `qsh` is the hash of, when the search found it (the
    /// received request itself when it [`matches`](Self::matches)).
    #[must_use]
    pub fn signed_request(&self) -> Option<&str> {
        self.signed.as_deref()
    }

    /// What changed: empty when the request [`matches`](Self::matches); one cause, or two for
    /// a documented pair (a base-path cause first); `[Cause::Unknown]` when the search found
    /// nothing.
    #[must_use]
    pub fn causes(&self) -> &[Cause] {
        &self.causes
    }

    /// How many candidate requests were hashed.
    #[must_use]
    pub fn candidates(&self) -> usize {
        self.candidates
    }

    /// `false` when a limit ([`MAX_DIAGNOSIS_CANDIDATES`], [`MAX_DIAGNOSIS_BYTES`]) stopped
    /// the search before every candidate was tried.
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// One line for people: the causes' details joined by `; and `, or how many candidates an
    /// unknown cause was searched among.
    #[must_use]
    pub fn detail(&self) -> String {
        match self.causes.as_slice() {
            [] => "the token's qsh is the hash of this request".to_owned(),
            [Cause::Unknown] => {
                let limit = if self.complete {
                    ""
                } else {
                    " (the search stopped at its limit)"
                };
                format!(
                    "none of {} variants of this request hashes to the token's qsh{limit}; {}",
                    self.candidates,
                    Cause::Unknown
                )
            }
            causes => causes
                .iter()
                .map(Cause::detail)
                .collect::<Vec<_>>()
                .join("; and "),
        }
    }
}

impl fmt::Debug for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Diagnosis")
            .field("causes", &self.causes)
            .field("found", &self.signed.is_some())
            .field("candidates", &self.candidates)
            .field("complete", &self.complete)
            .finish()
    }
}

/// Looks for the change to the received request (`method`, `target` as for
/// [`CanonicalRequest::from_target`], the app's `base`) that makes its canonical request hash
/// to `token_qsh`, the token's `qsh` claim. No secret is needed.
///
/// Tried, each alone and in this order (the first match wins):
///
/// 1. another method (GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS);
/// 2. the base path: the full path when the app stripped its base; each segment prefix of
///    the path stripped (at most 16); the app's base path or a product's (`/wiki`, `/jira`,
///    `/confluence`) put back in front;
/// 3. the path's encoding: decoded and re-encoded as a browser does (with `~` too, and with
///    one `/` at a time as `%2F`), as `encodeURIComponent` does, keeping only unreserved
///    characters, or not at all; escapes' hex digits in the other case; `+` and `%20`
///    swapped;
/// 4. a trailing `/` added or removed;
/// 5. the query: each parameter value left out (at most 64), each run of two or more
///    trailing parameters left out (at most 16), all of it left out, `+` as `%2B` (all, or
///    one parameter's), `%2B` as `+`, the `jwt` parameter hashed;
///
/// then the documented pairs: each base-path change of 2 with each change of 1 and 5.
///
/// ```
/// use atlassian_connect_jwt::{diagnose, BasePath, CanonicalRequest, Cause};
///
/// // The product signed `/panel` for an app whose baseUrl ends in /connect ...
/// let base = BasePath::parse("https://app.example.com/connect")?;
/// let signed = CanonicalRequest::from_target("GET", "/connect/panel?a=1", Some(&base))?;
/// // ... and the app verified without its base path.
/// let diagnosis = diagnose("GET", "/connect/panel?a=1", None, &signed.qsh().to_string())?;
/// assert_eq!(diagnosis.received_request(), "GET&/connect/panel&a=1");
/// assert_eq!(diagnosis.signed_request(), Some("GET&/panel&a=1"));
/// assert_eq!(diagnosis.causes(), [Cause::BasePathNotStripped { prefix: "/connect".to_owned() }]);
/// # Ok::<(), atlassian_connect_jwt::Error>(())
/// ```
///
/// # Errors
///
/// Those of [`CanonicalRequest::from_target`]: a request the product could never have signed
/// has nothing to diagnose.
pub fn diagnose(
    method: &str,
    target: &str,
    base: Option<&BasePath>,
    token_qsh: &str,
) -> Result<Diagnosis, Error> {
    let (raw_path, raw_query) = split_target(target);
    let received = CanonicalRequest::from_parts(method, raw_path, raw_query, base)?;
    let received_text = received.canonical_string();
    if received.qsh().matches_hex(token_qsh) {
        return Ok(Diagnosis {
            signed: Some(received_text.clone()),
            received: received_text,
            causes: Vec::new(),
            candidates: 0,
            complete: true,
        });
    }
    let mut diagnosis = Diagnosis {
        received: received_text,
        signed: None,
        causes: vec![Cause::Unknown],
        candidates: 0,
        complete: true,
    };
    // Anything but 64 lowercase hex digits is the hash of no request.
    let Ok(wanted) = token_qsh.parse::<Qsh>() else {
        return Ok(diagnosis);
    };
    let method = method.to_ascii_uppercase();
    // `METHOD&path&query`: the method is known, and the path has its `&` escaped.
    let Some((given_path, given_query)) = diagnosis
        .received
        .get(method.len() + 1..)
        .and_then(|rest| rest.split_once('&'))
    else {
        return Ok(diagnosis);
    };
    let mut search = Search {
        wanted,
        work: 0,
        candidates: 0,
        complete: true,
    };
    let request = Received {
        method: &method,
        path: given_path,
        query: given_query,
        raw_path,
        raw_query: raw_query.unwrap_or_default(),
        base,
    };
    let found = search.run(&request);
    diagnosis.candidates = search.candidates;
    diagnosis.complete = search.complete;
    if let Some((canonical, causes)) = found {
        diagnosis.signed = Some(canonical);
        diagnosis.causes = causes;
    }
    Ok(diagnosis)
}

/// Path and query of a request target, split as [`CanonicalRequest::from_target`] does.
fn split_target(target: &str) -> (&str, Option<&str>) {
    let target = target.split_once('#').map_or(target, |(before, _)| before);
    let target = after_authority(target).unwrap_or(target);
    match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    }
}

/// The part after `scheme://authority` of an absolute URL, or `None` for anything else.
fn after_authority(target: &str) -> Option<&str> {
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

/// The received request, canonical and raw.
struct Received<'a> {
    /// Upper-cased.
    method: &'a str,
    /// Canonical path, base stripped.
    path: &'a str,
    /// Canonical query.
    query: &'a str,
    raw_path: &'a str,
    raw_query: &'a str,
    base: Option<&'a BasePath>,
}

/// A candidate canonical query.
enum QueryText {
    /// These byte ranges of the received request's canonical query, in order.
    Parts(Vec<Range<usize>>),
    /// Another.
    Owned(String),
}

impl QueryText {
    /// The pieces of the query, slices of `given` or owned.
    fn pieces<'q>(&'q self, given: &'q str) -> impl Iterator<Item = &'q str> {
        let (parts, owned): (&[Range<usize>], Option<&str>) = match self {
            Self::Parts(parts) => (parts, None),
            Self::Owned(text) => (&[], Some(text)),
        };
        parts
            .iter()
            .map(move |range| &given[range.clone()])
            .chain(owned)
    }

    fn len(&self) -> usize {
        match self {
            Self::Parts(parts) => parts.iter().map(|r| r.end - r.start).sum(),
            Self::Owned(text) => text.len(),
        }
    }
}

/// The bounded hash-and-compare loop.
struct Search {
    wanted: Qsh,
    /// Bytes canonicalized and hashed so far.
    work: usize,
    candidates: usize,
    /// Cleared when a limit stopped the search.
    complete: bool,
}

/// A candidate's changes: one or two causes.
type Found = (String, Vec<Cause>);

impl Search {
    /// Charges `bytes` of work; `false` (and the search marked incomplete) past the budget.
    fn charge(&mut self, bytes: usize) -> bool {
        if self.work.saturating_add(bytes) > MAX_DIAGNOSIS_BYTES {
            self.complete = false;
            return false;
        }
        self.work += bytes;
        true
    }

    /// Whether `METHOD&path&query` hashes to the token's qsh; `None` once a limit is reached.
    fn try_candidate(
        &mut self,
        method: &str,
        path: &str,
        query: &QueryText,
        given: &str,
    ) -> Option<bool> {
        if self.candidates >= MAX_DIAGNOSIS_CANDIDATES {
            self.complete = false;
            return None;
        }
        if !self.charge(method.len() + path.len() + query.len() + 2) {
            return None;
        }
        self.candidates += 1;
        // The candidate is written out once (its length was charged above) and hashed whole.
        let mut text = String::with_capacity(method.len() + path.len() + query.len() + 2);
        for part in [method, "&", path, "&"] {
            text.push_str(part);
        }
        for piece in query.pieces(given) {
            text.push_str(piece);
        }
        Some(Qsh::from_bytes(sha256(text.as_bytes())) == self.wanted)
    }

    /// The canonical path of a raw path, or `None` when it does not canonicalize or the
    /// budget is spent.
    fn canonical_path(&mut self, raw: &str, base: Option<&BasePath>) -> Option<String> {
        if !self.charge(raw.len()) {
            return None;
        }
        let request = CanonicalRequest::from_parts("GET", raw, None, base).ok()?;
        let text = request.canonical_string();
        Some(text.strip_prefix("GET&")?.strip_suffix('&')?.to_owned())
    }

    /// The canonical query of a raw query, or `None` as for [`Self::canonical_path`].
    fn canonical_query(&mut self, raw: &str) -> Option<String> {
        if !self.charge(raw.len()) {
            return None;
        }
        let request = CanonicalRequest::from_parts("GET", "/", Some(raw), None).ok()?;
        let text = request.canonical_string();
        Some(text.strip_prefix("GET&/&")?.to_owned())
    }

    fn run(&mut self, request: &Received<'_>) -> Option<Found> {
        let (method, path, given) = (request.method, request.path, request.query);
        let methods: Vec<&str> = METHODS.iter().copied().filter(|m| *m != method).collect();
        let base_paths = self.base_paths(request);
        let mut other_paths = self.encoded_paths(request);
        other_paths.extend(slash_paths(path));
        let base_paths = distinct(path, &[], base_paths);
        let other_paths = distinct(path, &base_paths, other_paths);
        let whole = QueryText::Parts(std::iter::once(0..given.len()).collect());

        let found = |m: &str, p: &str, q: &QueryText, causes: Vec<Cause>| {
            let query: String = q.pieces(given).collect();
            Some((format!("{m}&{p}&{query}"), causes))
        };
        let differs = |signed: &str| Cause::MethodDiffers {
            signed: signed.to_owned(),
            received: method.to_owned(),
        };
        // Single changes.
        for m in &methods {
            if self.try_candidate(m, path, &whole, given)? {
                return found(m, path, &whole, vec![differs(m)]);
            }
        }
        for (p, cause) in base_paths.iter().chain(&other_paths) {
            if self.try_candidate(method, p, &whole, given)? {
                return found(method, p, &whole, vec![cause.clone()]);
            }
        }
        let mut queries = self.dropped_queries(request);
        for (q, cause) in &queries {
            if self.try_candidate(method, path, q, given)? {
                return found(method, path, q, vec![cause.clone()]);
            }
        }
        // Re-canonicalizing the query costs more: only now, hashing each as it comes.
        let start = queries.len();
        self.recoded_queries(request, &mut queries);
        for (q, cause) in &queries[start..] {
            if self.try_candidate(method, path, q, given)? {
                return found(method, path, q, vec![cause.clone()]);
            }
        }
        // Pairs: a base-path change with another method, or with a query change.
        for (p, path_cause) in &base_paths {
            for m in &methods {
                if self.try_candidate(m, p, &whole, given)? {
                    return found(m, p, &whole, vec![path_cause.clone(), differs(m)]);
                }
            }
            for (q, cause) in &queries {
                if self.try_candidate(method, p, q, given)? {
                    return found(method, p, q, vec![path_cause.clone(), cause.clone()]);
                }
            }
        }
        None
    }

    /// Canonical paths with another base path stripped or restored.
    fn base_paths(&mut self, request: &Received<'_>) -> Vec<(String, Cause)> {
        let mut paths = Vec::new();
        let Some(full) = self.canonical_path(request.raw_path, None) else {
            return paths;
        };
        let app = request.base.map(BasePath::as_str).filter(|b| !b.is_empty());
        let stripped = full != request.path;
        if let (Some(app), true) = (app, stripped) {
            paths.push((
                full.clone(),
                Cause::BasePathWrong {
                    app: app.to_owned(),
                    signed: String::new(),
                },
            ));
        }
        // Each segment prefix of the full path stripped, the whole path included (leaving `/`).
        let ends = full
            .char_indices()
            .filter(|&(i, c)| c == '/' && i > 0)
            .map(|(i, _)| i)
            .chain((full.len() > 1).then_some(full.len()))
            .take(MAX_PREFIXES);
        for end in ends {
            let prefix = &full[..end];
            let rest = if end == full.len() { "/" } else { &full[end..] };
            let cause = match app {
                Some(app) => Cause::BasePathWrong {
                    app: app.to_owned(),
                    signed: prefix.to_owned(),
                },
                None => Cause::BasePathNotStripped {
                    prefix: prefix.to_owned(),
                },
            };
            paths.push((rest.to_owned(), cause));
        }
        // A prefix a reverse proxy removed, put back.
        for prefix in app.into_iter().chain(PRODUCT_PREFIXES) {
            let restored = if request.path == "/" {
                prefix.to_owned()
            } else {
                format!("{prefix}{}", request.path)
            };
            paths.push((
                restored,
                Cause::PathPrefixRemoved {
                    prefix: prefix.to_owned(),
                },
            ));
        }
        paths
    }

    /// Canonical paths of the raw path decoded or re-encoded.
    fn encoded_paths(&mut self, request: &Received<'_>) -> Vec<(String, Cause)> {
        let raw = request.raw_path;
        let units = decode(raw);
        let mut variants: Vec<String> = Vec::new();
        for family in [
            Family::Browser,
            Family::BrowserAndTilde,
            Family::Component,
            Family::Unreserved,
            Family::Raw,
        ] {
            variants.extend(encode(&units, family, None));
        }
        for family in [Family::Browser, Family::BrowserAndTilde] {
            let slashes = units
                .iter()
                .enumerate()
                .filter(|&(i, unit)| i > 0 && *unit == Unit::Byte(b'/'))
                .map(|(i, _)| i)
                .take(MAX_SLASHES);
            for at in slashes {
                variants.extend(encode(&units, family, Some(at)));
            }
        }
        variants.push(hex_case(raw, u8::to_ascii_uppercase));
        variants.push(hex_case(raw, u8::to_ascii_lowercase));
        variants.push(raw.replace('+', "%20"));
        variants.push(raw.replace("%20", "+"));

        let mut paths = Vec::new();
        for variant in variants {
            if variant == raw {
                continue;
            }
            let Some(path) = self.canonical_path(&variant, request.base) else {
                continue;
            };
            let cause = if is_decoding_of(raw.as_bytes(), variant.as_bytes()) {
                Cause::PathDecoded
            } else {
                Cause::PathReencoded
            };
            paths.push((path, cause));
        }
        paths
    }

    /// The canonical query with parameters left out: each value, each run of two or more
    /// trailing raw parameters, all of them.
    fn dropped_queries(&mut self, request: &Received<'_>) -> Vec<(QueryText, Cause)> {
        let given = request.query;
        let parsed = groups(given);
        let mut queries: Vec<(QueryText, Cause)> = Vec::new();
        let mut tried: Vec<Vec<(usize, usize)>> = Vec::new();
        let mut push = |queries: &mut Vec<(QueryText, Cause)>, removed: Vec<(usize, usize)>| {
            if removed.is_empty() || tried.contains(&removed) {
                return;
            }
            let mut names: Vec<String> = removed
                .iter()
                .map(|&(g, _)| given[parsed[g].key.clone()].to_owned())
                .collect();
            names.dedup();
            queries.push((
                QueryText::Parts(without(&parsed, &removed)),
                Cause::ParameterAdded { names },
            ));
            tried.push(removed);
        };

        // Each value.
        let values = parsed
            .iter()
            .enumerate()
            .flat_map(|(g, group)| (0..group.values.len()).map(move |v| (g, v)));
        for value in values.clone().take(MAX_DROPPED) {
            push(&mut queries, vec![value]);
        }

        // Runs of two or more trailing raw parameters, found among the canonical values.
        let pieces: Vec<&str> = request
            .raw_query
            .split('&')
            .filter(|p| !p.is_empty())
            .collect();
        let longest = pieces.len().saturating_sub(1).min(MAX_SUFFIXES + 1);
        let keys: HashMap<&str, usize> = if longest >= 2 {
            parsed
                .iter()
                .enumerate()
                .map(|(g, group)| (&given[group.key.clone()], g))
                .collect()
        } else {
            HashMap::new()
        };
        for k in 2..=longest {
            let dropped = pieces[pieces.len() - k..].join("&");
            let Some(dropped) = self.canonical_query(&dropped) else {
                continue;
            };
            let mut removed: Vec<(usize, usize)> = Vec::new();
            for group in groups(&dropped) {
                let key = &dropped[group.key.clone()];
                let Some(&g) = keys.get(key) else {
                    continue;
                };
                for value in &group.values {
                    let value = &dropped[value.clone()];
                    let free = parsed[g].values.iter().enumerate().find(|(v, range)| {
                        &given[(*range).clone()] == value && !removed.contains(&(g, *v))
                    });
                    if let Some((v, _)) = free {
                        removed.push((g, v));
                    }
                }
            }
            removed.sort_unstable();
            push(&mut queries, removed);
        }

        // All of them.
        if values.count() > 1 {
            queries.push((QueryText::Owned(String::new()), Cause::QueryAdded));
        }
        queries
    }

    /// The query re-canonicalized with `+` and `%2B` swapped (all, or one parameter's), or
    /// with the `jwt` parameter hashed, appended to `queries`.
    fn recoded_queries(&mut self, request: &Received<'_>, queries: &mut Vec<(QueryText, Cause)>) {
        let given = request.query;
        let raw = request.raw_query;
        let pieces: Vec<&str> = raw.split('&').filter(|p| !p.is_empty()).collect();
        let mut owned: Vec<String> = vec![given.to_owned()];
        let mut push = |queries: &mut Vec<(QueryText, Cause)>, text: Option<String>, cause| {
            if let Some(text) = text.filter(|t| !owned.contains(t)) {
                owned.push(text.clone());
                queries.push((QueryText::Owned(text), cause));
            }
        };
        // `%2B` decoded to `+`: all of them, or one parameter's.
        if raw.contains('+') {
            let text = self.canonical_query(&raw.replace('+', "%2B"));
            push(queries, text, Cause::PlusDecoded);
            let with_plus: Vec<usize> = pieces
                .iter()
                .enumerate()
                .filter(|(_, p)| p.contains('+'))
                .map(|(i, _)| i)
                .take(MAX_PLUS_PIECES)
                .collect();
            if with_plus.len() > 1 {
                for i in with_plus {
                    let mut changed: Vec<String> = pieces.iter().map(|p| (*p).to_owned()).collect();
                    changed[i] = changed[i].replace('+', "%2B");
                    let text = self.canonical_query(&changed.join("&"));
                    push(queries, text, Cause::PlusDecoded);
                }
            }
        }
        // `+` encoded as `%2B`.
        if raw.contains("%2B") || raw.contains("%2b") {
            let text = self.canonical_query(&raw.replace("%2B", "+").replace("%2b", "+"));
            push(queries, text, Cause::PlusEncoded);
        }
        // The `jwt` parameter hashed.
        let text = self.with_jwt(given, &pieces);
        push(queries, text, Cause::JwtParameterHashed);
    }

    /// The canonical query `given` with the `jwt` pieces of the raw query hashed too.
    fn with_jwt(&mut self, given: &str, pieces: &[&str]) -> Option<String> {
        let values: Vec<&str> = pieces
            .iter()
            .filter(|piece| is_jwt_key(piece.split('=').next().unwrap_or_default()))
            .map(|piece| piece.split_once('=').map_or("", |(_, value)| value))
            .collect();
        if values.is_empty() {
            return None;
        }
        // The values encoded and sorted as the library does, under a stand-in name.
        let stand_in = values
            .iter()
            .map(|value| format!("x={value}"))
            .collect::<Vec<_>>()
            .join("&");
        let encoded = self.canonical_query(&stand_in)?;
        let encoded = encoded.strip_prefix("x=")?;
        // Keys are sorted by their encoded form, byte by byte.
        let at = groups(given)
            .iter()
            .find(|g| &given[g.key.clone()] > "jwt")
            .map_or(given.len(), |g| g.span.start);
        let (before, after) = given.split_at(at);
        Some(match (before.is_empty(), after.is_empty()) {
            (true, true) => format!("jwt={encoded}"),
            (true, false) => format!("jwt={encoded}&{after}"),
            (false, _) => format!("{before}{}jwt={encoded}{}{after}", sep(before), sep(after)),
        })
    }
}

/// `&` between a non-empty query part and what follows, for [`Search::with_jwt`].
fn sep(part: &str) -> &'static str {
    if part.is_empty() || part.ends_with('&') {
        ""
    } else {
        "&"
    }
}

/// Whether a raw query key decodes to exactly `jwt`.
fn is_jwt_key(key: &str) -> bool {
    key == "jwt"
        || (key.len() <= 9
            && key.contains('%')
            && percent_encoding::percent_decode_str(key).eq(b"jwt".iter().copied()))
}

/// The candidates that are neither the received path nor an earlier candidate, in order.
fn distinct(
    received: &str,
    earlier: &[(String, Cause)],
    paths: Vec<(String, Cause)>,
) -> Vec<(String, Cause)> {
    let mut kept: Vec<(String, Cause)> = Vec::with_capacity(paths.len());
    for (path, cause) in paths {
        let repeated =
            path == received || earlier.iter().chain(&kept).any(|(seen, _)| *seen == path);
        if !repeated {
            kept.push((path, cause));
        }
    }
    kept
}

/// The canonical path with a trailing `/` added, or the one it ends with removed.
fn slash_paths(path: &str) -> Vec<(String, Cause)> {
    if path.len() > 1 {
        if let Some(without) = path.strip_suffix('/') {
            return vec![(
                without.to_owned(),
                Cause::TrailingSlash {
                    signed_with_slash: false,
                },
            )];
        }
    }
    vec![(
        format!("{path}/"),
        Cause::TrailingSlash {
            signed_with_slash: true,
        },
    )]
}

/// One `key=v1,v2` group of a canonical query, as byte ranges of it.
struct Group {
    span: Range<usize>,
    key: Range<usize>,
    values: Vec<Range<usize>>,
}

/// The groups of a canonical query: `&`, `=` and `,` are escaped everywhere else, so they
/// only separate.
fn groups(query: &str) -> Vec<Group> {
    let mut groups = Vec::new();
    let mut start = 0;
    while start < query.len() {
        let end = query[start..].find('&').map_or(query.len(), |i| start + i);
        let text = &query[start..end];
        let eq = text.find('=').map_or(end, |i| start + i);
        let mut values = Vec::new();
        let mut value_start = (eq + 1).min(end);
        loop {
            let value_end = query[value_start..end]
                .find(',')
                .map_or(end, |i| value_start + i);
            values.push(value_start..value_end);
            if value_end >= end {
                break;
            }
            value_start = value_end + 1;
        }
        groups.push(Group {
            span: start..end,
            key: start..eq,
            values,
        });
        start = end + 1;
    }
    groups
}

/// The byte ranges of a canonical query (split into `groups`) that remain when the
/// `(group, value)` pairs in `removed` are left out, with their separators.
fn without(groups: &[Group], removed: &[(usize, usize)]) -> Vec<Range<usize>> {
    let mut parts: Vec<Range<usize>> = Vec::new();
    let mut push = |range: Range<usize>| match parts.last_mut() {
        Some(last) if last.end == range.start => last.end = range.end,
        _ => parts.push(range),
    };
    let mut first_group = true;
    for (g, group) in groups.iter().enumerate() {
        let kept = group
            .values
            .iter()
            .enumerate()
            .filter(|(v, _)| !removed.contains(&(g, *v)));
        let mut first_value = true;
        for (_, value) in kept {
            if first_value {
                if !first_group {
                    // The `&` before the group.
                    push(group.span.start - 1..group.span.start);
                }
                // `key=` (up to where the first value starts, kept or not).
                push(group.span.start..group.values.first().map_or(group.key.end, |v| v.start));
            } else {
                // The `,` before the value.
                push(value.start - 1..value.start);
            }
            push(value.clone());
            first_value = false;
            first_group = false;
        }
    }
    parts
}

/// A byte of a decoded path: a byte (decoded or literal), or an escape of `/` or `%` kept,
/// so that re-encoding cannot turn `%2F` into a separator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    Byte(u8),
    Kept(u8),
}

/// The path with its valid escapes decoded, except those of `/` and `%`.
fn decode(raw: &str) -> Vec<Unit> {
    let bytes = raw.as_bytes();
    let mut units = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match escape_at(bytes, i) {
            Some(b @ (b'/' | b'%')) => {
                units.push(Unit::Kept(b));
                i += 3;
            }
            Some(b) => {
                units.push(Unit::Byte(b));
                i += 3;
            }
            None => {
                units.push(Unit::Byte(bytes[i]));
                i += 1;
            }
        }
    }
    units
}

/// The byte of a valid `%XX` escape at `i`.
fn escape_at(bytes: &[u8], i: usize) -> Option<u8> {
    if bytes.get(i) != Some(&b'%') {
        return None;
    }
    let digit = |j: usize| bytes.get(j).and_then(|b| (*b as char).to_digit(16));
    let (high, low) = (digit(i + 1)?, digit(i + 2)?);
    u8::try_from(high * 16 + low).ok()
}

/// The printable ASCII that browsers and URI builders escape in a path.
const BROWSER_ESCAPES: &[u8] = b"\"#<>?`{}|\\^";

/// How a path may have been encoded before it was decoded on the way.
#[derive(Clone, Copy)]
enum Family {
    /// As browsers and URI builders do: controls, space, DEL, non-ASCII and the ASCII in
    /// [`BROWSER_ESCAPES`].
    Browser,
    /// As [`Family::Browser`], and `~` too (`%7E`, as older encoders write it).
    BrowserAndTilde,
    /// As JavaScript's `encodeURIComponent`, segment by segment: all but
    /// `A-Z a-z 0-9 - _ . ! ~ * ' (` `)`.
    Component,
    /// All but the unreserved `A-Z a-z 0-9 - . _ ~`.
    Unreserved,
    /// Not encoded.
    Raw,
}

impl Family {
    fn keeps(self, b: u8) -> bool {
        match self {
            Self::Browser => b.is_ascii_graphic() && !BROWSER_ESCAPES.contains(&b),
            Self::BrowserAndTilde => b != b'~' && Self::Browser.keeps(b),
            Self::Component => b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b),
            Self::Unreserved => b.is_ascii_alphanumeric() || b"-._~".contains(&b),
            Self::Raw => true,
        }
    }
}

/// The decoded path encoded by `family` (upper-case hex), with the `/` at unit index `slash`
/// written `%2F`; `None` if it is not UTF-8.
fn encode(units: &[Unit], family: Family, slash: Option<usize>) -> Option<String> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(units.len() * 3);
    let escape = |out: &mut Vec<u8>, b: u8| {
        out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0x0f)]]);
    };
    for (i, unit) in units.iter().enumerate() {
        match *unit {
            Unit::Kept(b) => escape(&mut out, b),
            Unit::Byte(b'/') if slash == Some(i) => escape(&mut out, b'/'),
            Unit::Byte(b) if b == b'/' || family.keeps(b) => out.push(b),
            Unit::Byte(b) => escape(&mut out, b),
        }
    }
    String::from_utf8(out).ok()
}

/// `raw` with the hex digits of its escapes mapped by `case`.
fn hex_case(raw: &str, case: fn(&u8) -> u8) -> String {
    let mut out = raw.as_bytes().to_vec();
    let mut i = 0;
    while i < out.len() {
        if escape_at(&out, i).is_some() {
            out[i + 1] = case(&out[i + 1]);
            out[i + 2] = case(&out[i + 2]);
            i += 3;
        } else {
            i += 1;
        }
    }
    // Only ASCII hex digits changed.
    String::from_utf8(out).unwrap_or_else(|_| raw.to_owned())
}

/// Whether `decoded` is `encoded` with some of its escapes decoded and nothing else changed.
fn is_decoding_of(decoded: &[u8], encoded: &[u8]) -> bool {
    let (mut i, mut j) = (0, 0);
    while i < encoded.len() {
        match (escape_at(encoded, i), decoded.get(j)) {
            (Some(b), Some(&d)) if b == d => {
                i += 3;
                j += 1;
            }
            (_, Some(&d)) if encoded[i] == d => {
                i += 1;
                j += 1;
            }
            _ => return false,
        }
    }
    j == decoded.len()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn split_target_agrees_with_from_target() {
        for target in [
            "/p?a=1#f",
            "https://h.example:8/x/y?q=1",
            "p?x",
            "",
            "?a=1",
            "https://h.example",
            "https://h.example?x",
            "/a#b?c",
            "1http://h/x",
        ] {
            let (path, query) = split_target(target);
            assert_eq!(
                CanonicalRequest::from_parts("GET", path, query, None)
                    .unwrap()
                    .to_string(),
                CanonicalRequest::from_target("GET", target, None)
                    .unwrap()
                    .to_string(),
                "{target}"
            );
        }
    }

    #[test]
    fn groups_of_a_canonical_query() {
        let q = "a=1,2&b=&c=3";
        let g = groups(q);
        assert_eq!(g.len(), 3);
        assert_eq!(&q[g[0].key.clone()], "a");
        let values: Vec<&str> = g[0].values.iter().map(|r| &q[r.clone()]).collect();
        assert_eq!(values, ["1", "2"]);
        assert_eq!(&q[g[1].values[0].clone()], "");
        assert_eq!(&q[g[2].span.clone()], "c=3");
        assert!(groups("").is_empty());
    }

    #[test]
    fn path_families() {
        let units = decode("/a%20b/%7Ec/%2Fd/%C3%A9%25");
        let enc = |f, s| encode(&units, f, s).unwrap();
        assert_eq!(enc(Family::Browser, None), "/a%20b/~c/%2Fd/%C3%A9%25");
        assert_eq!(
            enc(Family::BrowserAndTilde, None),
            "/a%20b/%7Ec/%2Fd/%C3%A9%25"
        );
        assert_eq!(enc(Family::Raw, None), "/a b/~c/%2Fd/é%25");
        // Unit 4 is the second `/` (an escape is one unit).
        assert_eq!(enc(Family::Browser, Some(4)), "/a%20b%2F~c/%2Fd/%C3%A9%25");
        let units = decode("/it's(1)+x:y");
        assert_eq!(
            encode(&units, Family::Component, None).unwrap(),
            "/it's(1)%2Bx%3Ay"
        );
        assert_eq!(
            encode(&units, Family::Unreserved, None).unwrap(),
            "/it%27s%281%29%2Bx%3Ay"
        );
        assert_eq!(encode(&decode("/%FF"), Family::Raw, None), None);
        assert_eq!(hex_case("/%c3%A9%zz", u8::to_ascii_uppercase), "/%C3%A9%zz");
    }

    #[test]
    fn decoding_is_recognized() {
        assert!(is_decoding_of(b"/a b", b"/a%20b"));
        assert!(is_decoding_of("/é".as_bytes(), b"/%C3%A9"));
        assert!(is_decoding_of(b"/a+b", b"/a%2Bb"));
        assert!(is_decoding_of(b"/100%", b"/100%25"));
        assert!(!is_decoding_of(b"/a%20b", b"/a b"));
        assert!(!is_decoding_of(b"/%C3%A9", b"/%c3%a9"));
        assert!(!is_decoding_of(b"/a+b", b"/a%20b"));
        assert!(!is_decoding_of(b"/ab", b"/a%20b"));
        assert!(!is_decoding_of(b"/a b/", b"/a%20b"));
    }
}
