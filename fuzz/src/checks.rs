//! Checks shared by the `canonicalize` fuzz target, `tests/fuzz_corpus.rs` (which replays the
//! seed corpus under plain `cargo test`) and `tests/properties.rs`.
//!
//! Each of them includes this file with `#[path = "..."] mod checks;`, so it may use only std,
//! the library and `sha2` (a dependency of the library and of the fuzz crate alike).
//!
//! [`check_input`] canonicalizes a method, a target and an optional base URL every way the API
//! allows and asserts that:
//!
//! * nothing panics, and every result, errors and their offsets included, equals the one of
//!   [`model`]: a deliberately naive transcription of the rules in `connect-jwt.md` §1 that
//!   decodes into `String`s, sorts and re-encodes (the library streams over raw slices);
//! * a canonical string has the documented shape ([`check_shape`]);
//! * `from_target` and `from_parts` agree when the target is split at its first `?` (for targets
//!   without a fragment or a scheme, where that split is the whole story);
//! * stripping a base path only ever removes that base from the front of the canonical path;
//! * re-canonicalizing a canonical `path?query` gives back the same string up to the two
//!   documented non-idempotent rules ([`check_recanonicalize`]);
//! * the qsh is SHA-256 of the canonical string and its text form round-trips ([`check_qsh`]).

// Each includer uses a different subset; the library's clippy settings deny panics elsewhere.
#![allow(dead_code, clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::cmp::Ordering;
use std::fmt::Write as _;

use atlassian_connect_jwt::{
    find_token, BasePath, CanonicalRequest, Error, Qsh, MAX_PARAMS, MAX_PATH_LEN, MAX_QUERY_LEN,
};
use sha2::{Digest, Sha256};

/// One fuzz input: `METHOD \n BASE \n TARGET` (UTF-8; an empty BASE line means no base path;
/// the target, last, may contain anything, newlines included).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Input<'a> {
    pub(crate) method: &'a str,
    pub(crate) base: Option<&'a str>,
    pub(crate) target: &'a str,
}

/// Splits fuzz bytes into an [`Input`]; `None` for bytes that are not UTF-8.
pub(crate) fn split_input(data: &[u8]) -> Option<Input<'_>> {
    let text = std::str::from_utf8(data).ok()?;
    let mut parts = text.splitn(3, '\n');
    let method = parts.next().unwrap_or("");
    let base = parts.next().filter(|base| !base.is_empty());
    let target = parts.next().unwrap_or("");
    Some(Input {
        method,
        base,
        target,
    })
}

/// The fuzz target's body: every check of [`check_input`] on the split bytes.
pub(crate) fn check(data: &[u8]) {
    if let Some(input) = split_input(data) {
        check_input(input.method, input.target, input.base);
    }
}

/// Canonicalizes `target` every way the API allows and asserts every invariant (module docs).
pub(crate) fn check_input(method: &str, target: &str, base: Option<&str>) {
    let base = base.and_then(check_base);
    let base_str = base.as_ref().map_or("", BasePath::as_str);

    let got = outcome(
        method,
        CanonicalRequest::from_target(method, target, base.as_ref()),
    );
    assert_eq!(
        got,
        model::from_target(method, target, base_str),
        "from_target({method:?}, {target:?}, base {base_str:?}) disagrees with the model"
    );
    if let Ok(canonical) = &got {
        check_recanonicalize(method, canonical, true);
    }

    // `from_parts` on the target split at its first `?`.
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    let parts = outcome(
        method,
        CanonicalRequest::from_parts(method, path, query, base.as_ref()),
    );
    assert_eq!(
        parts,
        model::from_parts(method, path, query, base_str),
        "from_parts({method:?}, {path:?}, {query:?}, base {base_str:?}) disagrees with the model"
    );
    match &parts {
        Ok(canonical) => check_recanonicalize(method, canonical, false),
        Err(error) => check_error_offset(error, query),
    }
    // The token found while canonicalizing is the one `find_token` finds in the query.
    if let Ok(request) = CanonicalRequest::from_parts(method, path, query, base.as_ref()) {
        assert_eq!(
            request.token(None),
            find_token(None, query),
            "the token found in {query:?} while canonicalizing is not find_token's"
        );
    }
    if !target.contains('#') && model::after_authority(target).is_none() {
        assert_eq!(
            parts, got,
            "from_parts and from_target disagree on the plain target {target:?}"
        );
    }

    // With and without the base path: same errors, same method and query, and the path loses
    // at most the base, on a segment boundary.
    if !base_str.is_empty() {
        let unbased = outcome(method, CanonicalRequest::from_target(method, target, None));
        match (&got, &unbased) {
            (Ok(with), Ok(without)) => check_base_relation(method, with, without, base_str),
            (Err(a), Err(b)) => assert_eq!(a, b, "the base path changed the error"),
            _ => panic!("the base path {base_str:?} changed the outcome: {got:?} vs {unbased:?}"),
        }
    }
}

/// `BasePath::parse` against the model, plus the invariants of a parsed base path.
fn check_base(text: &str) -> Option<BasePath> {
    let parsed = BasePath::parse(text);
    assert_eq!(
        parsed
            .as_ref()
            .map(|b| b.as_str().to_owned())
            .map_err(Clone::clone),
        model::base_path(text),
        "BasePath::parse({text:?}) disagrees with the model"
    );
    let base = parsed.ok()?;
    let path = base.as_str();
    assert!(path.is_empty() || path.starts_with('/'), "base {path:?}");
    assert!(!path.ends_with('/'), "base {path:?} keeps a trailing slash");
    assert!(!path.contains(['?', '#']), "base {path:?}");
    assert_eq!(
        BasePath::parse(path).as_ref(),
        Ok(&base),
        "base path does not round-trip"
    );
    Some(base)
}

/// The canonical string of a successful result after checking it; errors pass through.
fn outcome(method: &str, result: Result<CanonicalRequest<'_>, Error>) -> Result<String, Error> {
    let request = result?;
    let canonical = request.to_string();
    assert_eq!(canonical, request.canonical_string());
    check_shape(&canonical, method);
    check_qsh(&request, &canonical);
    Ok(canonical)
}

/// Splits a canonical string of `method` into its path and query parts.
pub(crate) fn split_canonical<'c>(canonical: &'c str, method: &str) -> (&'c str, &'c str) {
    let upper = method.to_ascii_uppercase();
    let rest = canonical
        .strip_prefix(upper.as_str())
        .and_then(|rest| rest.strip_prefix('&'))
        .unwrap_or_else(|| panic!("{canonical:?} does not start with {upper:?}&"));
    rest.split_once('&')
        .unwrap_or_else(|| panic!("{canonical:?} has no `&` after its path"))
}

/// The documented shape of `METHOD&path&query`:
///
/// * it starts with the upper-cased method, then `&/`;
/// * the path part runs to the next `&`: it contains no raw `&`;
/// * the query part is empty or `key=v1,v2,...` joined by `&`, where every key and value holds
///   only unreserved characters and `%XX` escapes (upper-case hex) of bytes that are *not*
///   unreserved, and decodes to UTF-8;
/// * keys are strictly ascending by their encoded form (so each key appears once), no key is
///   `jwt`, and each key's values are ascending in UTF-16 order of their decoded text.
pub(crate) fn check_shape(canonical: &str, method: &str) {
    let (path, query) = split_canonical(canonical, method);
    assert!(path.starts_with('/'), "{canonical:?}: path {path:?}");
    if query.is_empty() {
        return;
    }
    let mut previous_key: Option<&str> = None;
    for param in query.split('&') {
        let (key, values) = param
            .split_once('=')
            .unwrap_or_else(|| panic!("{canonical:?}: parameter {param:?} has no `=`"));
        let decoded_key = decode_canonical(key, canonical);
        assert_ne!(decoded_key, "jwt", "{canonical:?} keeps the jwt parameter");
        if let Some(previous) = previous_key {
            assert!(
                previous < key,
                "{canonical:?}: keys {previous:?} and {key:?} are not strictly ascending"
            );
        }
        previous_key = Some(key);
        let mut previous_value: Option<String> = None;
        for value in values.split(',') {
            let decoded = decode_canonical(value, canonical);
            if let Some(previous) = &previous_value {
                assert_ne!(
                    previous.encode_utf16().cmp(decoded.encode_utf16()),
                    Ordering::Greater,
                    "{canonical:?}: values of {key:?} are not in UTF-16 order"
                );
            }
            previous_value = Some(decoded);
        }
    }
}

/// Decodes one canonical key or value, asserting that it is in canonical form.
fn decode_canonical(component: &str, canonical: &str) -> String {
    let bytes = component.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if model::is_unreserved(bytes[i]) {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let upper_hex = |b: &u8| b.is_ascii_digit() || (b'A'..=b'F').contains(b);
        let pair = bytes.get(i + 1..i + 3);
        assert!(
            bytes[i] == b'%' && pair.is_some_and(|p| p.iter().all(upper_hex)),
            "{canonical:?}: {component:?} is not unreserved characters and upper-case %XX"
        );
        let byte = model::hex_byte(pair.unwrap_or_default());
        assert!(
            !model::is_unreserved(byte),
            "{canonical:?}: {component:?} escapes the unreserved {:?}",
            char::from(byte)
        );
        out.push(byte);
        i += 3;
    }
    String::from_utf8(out)
        .unwrap_or_else(|_| panic!("{canonical:?}: {component:?} does not decode to UTF-8"))
}

/// The qsh is SHA-256 of the canonical string, and its text form is exact and round-trips.
pub(crate) fn check_qsh(request: &CanonicalRequest<'_>, canonical: &str) {
    let qsh = request.qsh();
    let digest: [u8; 32] = Sha256::digest(canonical.as_bytes()).into();
    assert_eq!(qsh.to_bytes(), digest, "qsh of {canonical:?}");
    assert_eq!(qsh, Qsh::of_canonical(canonical));
    assert_eq!(qsh, Qsh::from_bytes(digest));
    let mut hex = String::new();
    for byte in digest {
        write!(hex, "{byte:02x}").unwrap();
    }
    assert_eq!(qsh.to_string(), hex);
    assert_eq!(qsh.hex(), hex.as_bytes());
    assert_eq!(hex.parse::<Qsh>(), Ok(qsh));
    assert!(qsh.matches_hex(&hex));
    let upper = hex.to_ascii_uppercase();
    if upper != hex {
        assert!(!qsh.matches_hex(&upper));
        assert!(upper.parse::<Qsh>().is_err());
    }
}

/// Error offsets point where their documentation says, for an error from `from_parts`.
fn check_error_offset(error: &Error, query: Option<&str>) {
    match *error {
        Error::InvalidPercentEncoding { offset } => {
            let query = query
                .expect("a percent-encoding error needs a query")
                .as_bytes();
            assert_eq!(query.get(offset), Some(&b'%'), "{error:?}");
        }
        Error::InvalidUtf8 { offset } => {
            let query = query.expect("a UTF-8 error needs a query").as_bytes();
            assert!(offset < query.len(), "{error:?}");
            assert!(
                offset == 0 || matches!(query[offset - 1], b'&' | b'='),
                "{error:?} does not point at the start of a key or value"
            );
        }
        _ => {}
    }
}

/// The canonical path with a base path stripped is the path without it, minus the base at
/// the front (all else equal).
fn check_base_relation(method: &str, with: &str, without: &str, base: &str) {
    let (with_path, with_query) = split_canonical(with, method);
    let (without_path, without_query) = split_canonical(without, method);
    assert_eq!(with_query, without_query);
    let base = base.replace('&', "%26");
    let stripped = with_path == without_path
        || (with_path == "/" && without_path == base)
        || format!("{base}{with_path}") == without_path;
    assert!(
        stripped,
        "base {base:?} turned {without_path:?} into {with_path:?}"
    );
}

/// Re-canonicalizing a canonical request `M&P&Q` as the target `P?Q` is *not* exactly
/// idempotent, for two documented reasons:
///
/// * the path rule drops one trailing `/`, so `/a//` → `/a/` → `/a`;
/// * a key with several values is written `k=v1,v2`, and read back that is one value `v1,v2`,
///   written `k=v1%2Cv2` (a `,` inside a value is always `%2C`, so every literal `,` in `Q`
///   is such a separator).
///
/// Everything else is a fixed point (`%26` in the path stays `%26`, the query is already
/// decoded-sorted-encoded, `jwt` is gone), so the strongest true statement is:
/// `canonical(P?Q) == M & strip_one_trailing_slash(P) & Q.replace(",", "%2C")`, unless the
/// canonical path or query outgrew the input limits (`&` → `%26`, `é` → `%C3%A9`).
///
/// `from_target` paths never contain `?` or `#`; `from_parts` ones may (the path is taken as
/// it is), and then `P?Q` is not a target for the same path, so those are skipped.
fn check_recanonicalize(method: &str, canonical: &str, from_target: bool) {
    let upper = method.to_ascii_uppercase();
    let (path, query) = split_canonical(canonical, method);
    if path.contains(['?', '#']) {
        assert!(!from_target, "from_target left {path:?} in the path");
        return;
    }
    let target = format!("{path}?{query}");
    let again = CanonicalRequest::from_target(&upper, &target, None).map(|r| r.to_string());
    let expected = if path.len() > MAX_PATH_LEN {
        Err(Error::PathTooLong {
            len: path.len(),
            max: MAX_PATH_LEN,
        })
    } else if query.len() > MAX_QUERY_LEN {
        Err(Error::QueryTooLong {
            len: query.len(),
            max: MAX_QUERY_LEN,
        })
    } else {
        let path = if path.len() > 1 {
            path.strip_suffix('/').unwrap_or(path)
        } else {
            path
        };
        Ok(format!("{upper}&{path}&{}", query.replace(',', "%2C")))
    };
    assert_eq!(again, expected, "re-canonicalizing {canonical:?}");
}

/// A naive transcription of `connect-jwt.md` §1 (plus this crate's documented limits, error
/// order and base-path rule), written for obviousness rather than speed.
pub(crate) mod model {
    use super::{Error, MAX_PARAMS, MAX_PATH_LEN, MAX_QUERY_LEN};

    /// RFC 3986 unreserved: `A-Z a-z 0-9 - . _ ~`.
    pub(crate) fn is_unreserved(b: u8) -> bool {
        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
    }

    /// The value of two hex digits.
    pub(crate) fn hex_byte(pair: &[u8]) -> u8 {
        let text = std::str::from_utf8(pair).unwrap_or("");
        u8::from_str_radix(text, 16).unwrap_or(0)
    }

    /// What follows `scheme://authority` in an absolute URL (path, query, fragment), or `None`
    /// if `url` does not start with an RFC 3986 scheme and `://`.
    pub(crate) fn after_authority(url: &str) -> Option<&str> {
        let (scheme, rest) = url.split_once("://")?;
        let mut chars = scheme.chars();
        let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !valid {
            return None;
        }
        let path = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        Some(&rest[path..])
    }

    /// `BasePath::parse`: the path of an absolute URL, or a path starting with `/` and without
    /// query or fragment; trailing slashes dropped.
    pub(crate) fn base_path(text: &str) -> Result<String, Error> {
        let path = match after_authority(text) {
            Some(rest) => rest.split(['?', '#']).next().unwrap_or(""),
            None if (text.is_empty() || text.starts_with('/')) && !text.contains(['?', '#']) => {
                text
            }
            None => {
                return Err(Error::Config(
                    atlassian_connect_jwt::ConfigError::InvalidBaseUrl,
                ))
            }
        };
        if path.len() > MAX_PATH_LEN {
            return Err(Error::Config(
                atlassian_connect_jwt::ConfigError::InvalidBaseUrl,
            ));
        }
        Ok(path.trim_end_matches('/').to_owned())
    }

    /// An RFC 9110 token of 1 to 32 bytes, upper-cased.
    pub(crate) fn method(method: &str) -> Result<String, Error> {
        let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if method.is_empty() || method.len() > 32 || !method.chars().all(tchar) {
            return Err(Error::InvalidMethod);
        }
        Ok(method.to_ascii_uppercase())
    }

    /// The canonical path: leading `/` ensured, `base` stripped on a segment boundary, empty →
    /// `/`, one trailing `/` dropped, every `&` → `%26`.
    pub(crate) fn path(raw: &str, base: &str) -> String {
        let mut path = if raw.starts_with('/') {
            raw.to_owned()
        } else {
            format!("/{raw}")
        };
        if !base.is_empty() {
            if let Some(rest) = path.strip_prefix(base) {
                if rest.is_empty() || rest.starts_with('/') {
                    path = rest.to_owned();
                }
            }
        }
        if path.is_empty() {
            path.push('/');
        }
        if path.len() > 1 && path.ends_with('/') {
            path.pop();
        }
        path.replace('&', "%26")
    }

    /// Decodes a raw key or value starting at `offset` in the query: `+` is a space, `%XX` a
    /// byte, the result must be UTF-8.
    ///
    /// The first problem in reading order is reported: bytes decoded before a malformed `%`
    /// that are already invalid UTF-8 (not merely an unfinished sequence) win over the `%`.
    pub(crate) fn decode(raw: &str, offset: usize) -> Result<String, Error> {
        let bytes = raw.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => {
                    out.push(b' ');
                    i += 1;
                }
                b'%' => {
                    let pair = bytes
                        .get(i + 1..i + 3)
                        .filter(|pair| pair.iter().all(u8::is_ascii_hexdigit));
                    let Some(pair) = pair else {
                        let broken = std::str::from_utf8(&out)
                            .is_err_and(|error| error.error_len().is_some());
                        return Err(if broken {
                            Error::InvalidUtf8 { offset }
                        } else {
                            Error::InvalidPercentEncoding { offset: offset + i }
                        });
                    };
                    out.push(hex_byte(pair));
                    i += 3;
                }
                other => {
                    out.push(other);
                    i += 1;
                }
            }
        }
        String::from_utf8(out).map_err(|_| Error::InvalidUtf8 { offset })
    }

    /// Keeps unreserved bytes, writes every other byte of the UTF-8 as `%XX` (upper-case).
    pub(crate) fn encode(text: &str) -> String {
        let mut out = String::new();
        for &b in text.as_bytes() {
            if is_unreserved(b) {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }

    /// The canonical query of decoded `(key, value)` pairs (`jwt` already removed): sorted by
    /// encoded key, then by value in UTF-16 order; values of one key joined by `,`.
    pub(crate) fn canonical_query(pairs: &[(String, String)]) -> String {
        let mut pairs: Vec<(String, &str)> =
            pairs.iter().map(|(k, v)| (encode(k), v.as_str())).collect();
        pairs.sort_by(|(k1, v1), (k2, v2)| {
            k1.cmp(k2)
                .then_with(|| v1.encode_utf16().cmp(v2.encode_utf16()))
        });
        let mut out = String::new();
        let mut previous: Option<&str> = None;
        for (key, value) in &pairs {
            if previous == Some(key.as_str()) {
                out.push(',');
            } else {
                if previous.is_some() {
                    out.push('&');
                }
                out.push_str(key);
                out.push('=');
            }
            out.push_str(&encode(value));
            previous = Some(key);
        }
        out
    }

    /// The canonical query of a raw query (without `?`).
    pub(crate) fn query(query: &str) -> Result<String, Error> {
        if query.len() > MAX_QUERY_LEN {
            return Err(Error::QueryTooLong {
                len: query.len(),
                max: MAX_QUERY_LEN,
            });
        }
        let mut pairs = Vec::new();
        let mut seen = 0;
        let mut next_start = 0;
        for piece in query.split('&') {
            let start = next_start;
            next_start += piece.len() + 1;
            if piece.is_empty() {
                continue;
            }
            seen += 1;
            if seen > MAX_PARAMS {
                return Err(Error::TooManyParameters { max: MAX_PARAMS });
            }
            let (key, value, value_start) = match piece.split_once('=') {
                Some((key, value)) => (key, value, start + key.len() + 1),
                None => (piece, "", start + piece.len()),
            };
            let key = decode(key, start)?;
            let value = decode(value, value_start)?;
            if key != "jwt" {
                pairs.push((key, value));
            }
        }
        Ok(canonical_query(&pairs))
    }

    /// `CanonicalRequest::from_parts(..).to_string()`: errors in the order method, path
    /// length, query.
    pub(crate) fn from_parts(
        method: &str,
        path: &str,
        query: Option<&str>,
        base: &str,
    ) -> Result<String, Error> {
        let method = self::method(method)?;
        if path.len() > MAX_PATH_LEN {
            return Err(Error::PathTooLong {
                len: path.len(),
                max: MAX_PATH_LEN,
            });
        }
        let query = match query {
            Some(query) => self::query(query)?,
            None => String::new(),
        };
        Ok(format!("{method}&{}&{query}", self::path(path, base)))
    }

    /// `CanonicalRequest::from_target(..).to_string()`: fragment dropped, then scheme and
    /// authority, then split at the first `?`.
    pub(crate) fn from_target(method: &str, target: &str, base: &str) -> Result<String, Error> {
        let target = target.split('#').next().unwrap_or("");
        let target = after_authority(target).unwrap_or(target);
        match target.split_once('?') {
            Some((path, query)) => from_parts(method, path, Some(query), base),
            None => from_parts(method, target, None, base),
        }
    }
}
