//! Why a qsh did not match: rebuilds the canonical request with the mistakes signers and
//! verifiers commonly make, and looks for the one whose hash the token carries.
//!
//! The variants are one or more of: the base path stripped or not (or another segment prefix
//! of the path stripped), another HTTP method, the trailing slash toggled, the `jwt`
//! parameter hashed, the query left out. Each is hashed and compared with the token's `qsh`;
//! the match with the fewest differences wins.

use atlassian_connect_jwt::{BasePath, CanonicalRequest, Qsh};

use crate::input;

/// Methods tried besides the request's own.
const METHODS: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];

/// At most this many segment prefixes of the path are tried as base paths.
const MAX_PREFIXES: usize = 16;

/// One way a variant differs from the request as canonicalized.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mistake {
    /// The base path given was not stripped.
    BaseNotStripped(String),
    /// This segment prefix of the path was stripped (and not the base path given, if any).
    BaseStripped(String),
    /// The method.
    Method(&'static str),
    /// A trailing `/` that the canonical path drops was kept.
    SlashKept,
    /// The trailing `/` that the canonical path keeps was dropped.
    SlashDropped,
    /// The `jwt` parameter was hashed with the others.
    JwtHashed,
    /// The query was left out.
    QueryDropped,
}

/// What the search found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Diagnosis {
    /// The canonical request that hashes to the token's qsh, with a hint saying what differs.
    pub(crate) signed_for: Option<(String, String)>,
    /// How many distinct variants were hashed.
    pub(crate) tried: usize,
}

/// Looks for the canonical request the token was signed for, among variants of `method` `url`
/// (canonicalized with `base`, which gave the mismatching qsh).
pub(crate) fn diagnose(
    method: &str,
    url: &str,
    base: Option<&BasePath>,
    presented_qsh: &str,
) -> Diagnosis {
    let mut diagnosis = Diagnosis {
        signed_for: None,
        tried: 0,
    };
    let (Ok(given), Ok(unstripped)) = (
        CanonicalRequest::from_target(method, url, base),
        CanonicalRequest::from_target(method, url, None),
    ) else {
        return diagnosis;
    };
    let (given, unstripped) = (given.to_string(), unstripped.to_string());
    let upper = method.to_ascii_uppercase();
    // The method may itself hold `&` (it is an HTTP token), so split after it; the path has
    // its `&` escaped, so the next `&` ends it.
    let split = |canonical: &str| -> Option<(String, String)> {
        let rest = canonical.strip_prefix(upper.as_str())?.strip_prefix('&')?;
        let (path, query) = rest.split_once('&')?;
        Some((path.to_owned(), query.to_owned()))
    };
    let (Some((given_path, query)), Some((full_path, _))) = (split(&given), split(&unstripped))
    else {
        return diagnosis;
    };

    let base_text = base.map(BasePath::as_str).filter(|b| !b.is_empty());
    let paths = paths(&given_path, &full_path, base_text);
    let queries = queries(&query, url);
    let methods = std::iter::once(None).chain(
        METHODS
            .iter()
            .filter(|m| **m != upper)
            .map(|m| Some(Mistake::Method(m))),
    );
    let method_of = |m: &Option<Mistake>| match m {
        Some(Mistake::Method(m)) => (*m).to_owned(),
        _ => upper.clone(),
    };

    // Every combination, fewest differences first, so the first match is the likeliest.
    let mut candidates: Vec<(String, Vec<Mistake>)> = Vec::new();
    for m in methods {
        for (path, path_mistakes) in &paths {
            for (query, query_mistakes) in &queries {
                let mistakes = m
                    .iter()
                    .chain(path_mistakes)
                    .chain(query_mistakes)
                    .cloned()
                    .collect();
                candidates.push((format!("{}&{path}&{query}", method_of(&m)), mistakes));
            }
        }
    }
    candidates.sort_by_key(|(_, mistakes)| mistakes.len());

    let mut seen = std::collections::HashSet::new();
    seen.insert(given);
    let mut best: Option<(String, Vec<Mistake>)> = None;
    for (candidate, mistakes) in candidates {
        if !seen.insert(candidate.clone()) {
            continue;
        }
        diagnosis.tried += 1;
        if best.is_none() && Qsh::of_canonical(&candidate).matches_hex(presented_qsh) {
            best = Some((candidate, mistakes));
        }
    }
    diagnosis.signed_for = best.map(|(canonical, mistakes)| {
        let hint = mistakes
            .iter()
            .map(|m| hint(m, &upper, base_text))
            .collect::<Vec<_>>()
            .join("; ");
        (canonical, hint)
    });
    diagnosis
}

/// The canonical paths to try, each with how it differs from `given`.
fn paths(given: &str, full: &str, base: Option<&str>) -> Vec<(String, Vec<Mistake>)> {
    let mut bases: Vec<(String, Vec<Mistake>)> = vec![(given.to_owned(), Vec::new())];
    if let Some(base) = base {
        bases.push((
            full.to_owned(),
            vec![Mistake::BaseNotStripped(base.to_owned())],
        ));
    }
    // Every segment prefix of the full path stripped, the whole path included (leaving `/`).
    let ends = full
        .char_indices()
        .filter(|&(i, c)| c == '/' && i > 0)
        .map(|(i, _)| i)
        .chain((full.len() > 1).then_some(full.len()))
        .take(MAX_PREFIXES);
    for end in ends {
        let prefix = &full[..end];
        if Some(prefix) == base {
            continue;
        }
        let rest = if end == full.len() { "/" } else { &full[end..] };
        bases.push((
            rest.to_owned(),
            vec![Mistake::BaseStripped(prefix.to_owned())],
        ));
    }

    let mut paths: Vec<(String, Vec<Mistake>)> = Vec::new();
    for (path, mistakes) in bases {
        let toggled = if path.len() > 1 && path.ends_with('/') {
            Some((path[..path.len() - 1].to_owned(), Mistake::SlashDropped))
        } else if path != "/" {
            Some((format!("{path}/"), Mistake::SlashKept))
        } else {
            None
        };
        if let Some((toggled, mistake)) = toggled {
            let mut more = mistakes.clone();
            more.push(mistake);
            paths.push((path, mistakes));
            paths.push((toggled, more));
        } else {
            paths.push((path, mistakes));
        }
    }
    paths
}

/// The canonical queries to try: as given, with the `jwt` parameter hashed (when the URL has
/// one), and none at all.
fn queries(query: &str, url: &str) -> Vec<(String, Vec<Mistake>)> {
    let mut queries = vec![(query.to_owned(), Vec::new())];
    if let Some(with_jwt) = with_jwt(query, url) {
        queries.push((with_jwt, vec![Mistake::JwtHashed]));
    }
    if !query.is_empty() {
        queries.push((String::new(), vec![Mistake::QueryDropped]));
    }
    queries
}

/// The canonical query with the URL's `jwt` parameter(s) hashed like any other.
fn with_jwt(query: &str, url: &str) -> Option<String> {
    let raw = input::query(url)?;
    // A piece is a `jwt` parameter exactly when the library drops it (it decodes names).
    let is_jwt = |piece: &str| {
        let target = format!("/?{piece}");
        CanonicalRequest::from_target("GET", &target, None).is_ok_and(|r| r.to_string() == "GET&/&")
    };
    let values: Vec<&str> = raw
        .split('&')
        .filter(|piece| !piece.is_empty() && is_jwt(piece))
        .map(|piece| piece.split_once('=').map_or("", |(_, v)| v))
        .collect();
    if values.is_empty() {
        return None;
    }
    // Encode (and sort) the values as the library would, under a stand-in name.
    let target = format!(
        "/?{}",
        values
            .iter()
            .map(|v| format!("x={v}"))
            .collect::<Vec<_>>()
            .join("&")
    );
    let encoded = CanonicalRequest::from_target("GET", &target, None).ok()?;
    let encoded = encoded.to_string();
    let value = encoded.strip_prefix("GET&/&x=")?;
    // Keys are sorted by their encoded form, in byte order.
    let mut params: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    let at = params
        .iter()
        .position(|p| p.split('=').next().unwrap_or("") > "jwt")
        .unwrap_or(params.len());
    params.insert(at, format!("jwt={value}"));
    Some(params.join("&"))
}

fn hint(mistake: &Mistake, method: &str, base: Option<&str>) -> String {
    match mistake {
        Mistake::BaseNotStripped(base) => format!(
            "the signer hashed the full path: it did not strip the base path {base} \
             (is --base the app's descriptor baseUrl?)"
        ),
        Mistake::BaseStripped(prefix) => match base {
            Some(base) => {
                format!("the signer stripped the base path {prefix}, not {base}: check --base")
            }
            None => format!(
                "the signer stripped the base path {prefix}: verify with --base {prefix} \
                 (the app's descriptor baseUrl)"
            ),
        },
        Mistake::Method(signed) => format!("signed for method {signed}, not {method}"),
        Mistake::SlashKept => {
            "the signer kept the trailing slash, which the canonical path drops".to_owned()
        }
        Mistake::SlashDropped => {
            "the signer dropped a trailing slash that the canonical path keeps".to_owned()
        }
        Mistake::JwtHashed => {
            "the signer hashed the jwt parameter, which the canonical query leaves out".to_owned()
        }
        Mistake::QueryDropped => {
            "the signer hashed no query (were the parameters added after signing?)".to_owned()
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn qsh(canonical: &str) -> String {
        Qsh::of_canonical(canonical).to_string()
    }

    fn found(method: &str, url: &str, base: Option<&str>, signed: &str) -> (String, String) {
        let base = base.map(|b| BasePath::parse(b).unwrap());
        diagnose(method, url, base.as_ref(), &qsh(signed))
            .signed_for
            .unwrap()
    }

    #[test]
    fn base_path_not_stripped() {
        let (canonical, hint) = found(
            "GET",
            "/connect/panel?a=1",
            Some("https://app.example.com/connect"),
            "GET&/connect/panel&a=1",
        );
        assert_eq!(canonical, "GET&/connect/panel&a=1");
        assert!(
            hint.contains("did not strip the base path /connect"),
            "{hint}"
        );
    }

    #[test]
    fn base_path_stripped_by_the_signer_only() {
        let (canonical, hint) = found("GET", "/connect/x/panel", None, "GET&/x/panel&");
        assert_eq!(canonical, "GET&/x/panel&");
        assert!(hint.contains("--base /connect "), "{hint}");
        let (_, hint) = found("GET", "/a/b/c", Some("/a"), "GET&/c&");
        assert!(
            hint.contains("stripped the base path /a/b, not /a"),
            "{hint}"
        );
    }

    #[test]
    fn method_slash_jwt_query() {
        let (_, hint) = found("get", "/p?a=1", None, "POST&/p&a=1");
        assert_eq!(hint, "signed for method POST, not GET");
        let (_, hint) = found("GET", "/p/?a=1", None, "GET&/p/&a=1");
        assert!(hint.contains("kept the trailing slash"), "{hint}");
        let (canonical, hint) = found(
            "GET",
            "/p?b=2&jwt=x.y.z&a=1",
            None,
            "GET&/p&a=1&b=2&jwt=x.y.z",
        );
        assert_eq!(canonical, "GET&/p&a=1&b=2&jwt=x.y.z");
        assert!(hint.contains("jwt parameter"), "{hint}");
        let (_, hint) = found("GET", "/p?z=1&jwt=t", None, "GET&/p&jwt=t&z=1");
        assert!(hint.contains("jwt parameter"), "{hint}");
        let (_, hint) = found("GET", "/p?a=1", None, "GET&/p&");
        assert!(hint.contains("no query"), "{hint}");
        // Two mistakes at once.
        let (_, hint) = found(
            "PUT",
            "/connect/p/?a=1",
            Some("/connect"),
            "POST&/connect/p&a=1",
        );
        assert!(
            hint.contains("POST") && hint.contains("did not strip"),
            "{hint}"
        );
    }

    #[test]
    fn nothing_found() {
        let d = diagnose("GET", "/p?a=1", None, &qsh("GET&/q&a=1"));
        assert_eq!(d.signed_for, None);
        assert!(d.tried > 10, "{}", d.tried);
        // The request as given is never a candidate.
        let d = diagnose("GET", "/p?a=1", None, &qsh("GET&/p&a=1"));
        assert_eq!(d.signed_for, None);
    }
}
