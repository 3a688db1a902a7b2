//! The qsh-mismatch diagnosis (`diagnose`): each cause on its own, the documented pairs, the
//! limits on hostile input, and a generated test against tokens signed by npm
//! `atlassian-jwt` 2.0.3 (pinned in `tests/reference/package.json`, run live through
//! `tests/reference/diagnosis.js`).
//!
//! The generated test draws realistic requests, has npm sign each, presents it to the
//! diagnosis after one documented change (or a documented pair, or a change outside the
//! list, or none), and checks that the diagnosis names exactly that change. It prints the
//! accuracy per cause.
//!
//! Run: `npm ci --prefix tests/reference && REQUIRE_NODE=1 cargo test --test diagnosis --
//! --nocapture`.
//!
//! Environment: `DIAG_SEED` (decimal or `0x` hex; time-based if unset, always printed),
//! `DIAG_CASES` (default 3000), `REQUIRE_NODE=1` (fail instead of skipping when node or
//! `npm ci --prefix tests/reference` is missing).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)]
mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;

use atlassian_connect_jwt::dangerous::decode_unverified;
use atlassian_connect_jwt::{
    diagnose, BasePath, CanonicalRequest, Cause, Diagnosis, Error, Qsh, QshPolicy, SharedSecret,
    UnixTime, Verifier, MAX_DIAGNOSIS_CANDIDATES,
};
use serde_json::{json, Value};

use common::Rng;

fn base(text: Option<&str>) -> Option<BasePath> {
    text.map(|b| BasePath::parse(b).unwrap())
}

/// The qsh the product signs for a request.
fn qsh(method: &str, target: &str, signer_base: Option<&str>) -> String {
    CanonicalRequest::from_target(method, target, base(signer_base).as_ref())
        .unwrap()
        .qsh()
        .to_string()
}

fn diag(method: &str, target: &str, app_base: Option<&str>, token_qsh: &str) -> Diagnosis {
    diagnose(method, target, base(app_base).as_ref(), token_qsh).unwrap()
}

/// The causes found when a token signed for `signed` is presented with `received`.
fn causes(signed: (&str, &str, Option<&str>), received: (&str, &str, Option<&str>)) -> Vec<Cause> {
    let d = diag(
        received.0,
        received.1,
        received.2,
        &qsh(signed.0, signed.1, signed.2),
    );
    let expected = CanonicalRequest::from_target(signed.0, signed.1, base(signed.2).as_ref())
        .unwrap()
        .to_string();
    if d.causes() != [Cause::Unknown] {
        assert_eq!(d.signed_request(), Some(expected.as_str()), "{d:?}");
    }
    d.causes().to_vec()
}

fn s(text: &str) -> String {
    text.to_owned()
}

// ----- each cause -----

#[test]
fn a_matching_request_has_nothing_to_diagnose() {
    let d = diag("get", "/p?b=2&a=1", None, &qsh("GET", "/p?a=1&b=2", None));
    assert!(d.matches());
    assert_eq!(d.causes(), []);
    assert_eq!(d.signed_request(), Some("GET&/p&a=1&b=2"));
    assert_eq!(d.received_request(), "GET&/p&a=1&b=2");
    assert_eq!(d.candidates(), 0);
    assert_eq!(d.detail(), "the token's qsh is the hash of this request");
}

#[test]
fn base_path_not_stripped() {
    let d = diag(
        "GET",
        "/connect/panel?a=1",
        None,
        &qsh(
            "GET",
            "/connect/panel?a=1",
            Some("https://app.example.com/connect"),
        ),
    );
    assert_eq!(
        d.causes(),
        [Cause::BasePathNotStripped {
            prefix: s("/connect")
        }]
    );
    assert_eq!(d.received_request(), "GET&/connect/panel&a=1");
    assert_eq!(d.signed_request(), Some("GET&/panel&a=1"));
    assert_eq!(d.causes()[0].code(), "base-path-not-stripped");
    assert_eq!(
        d.detail(),
        "the product signed the path without /connect, and the app stripped nothing: set the \
         app's base URL to its descriptor's baseUrl (path /connect)"
    );
    // Two segments; the whole path; a root base strips nothing either.
    assert_eq!(
        causes(
            ("GET", "/a/b/c", Some("/a/b")),
            ("GET", "/a/b/c", Some("https://x.example"))
        ),
        [Cause::BasePathNotStripped { prefix: s("/a/b") }]
    );
    assert_eq!(
        causes(("GET", "/a/b", Some("/a/b")), ("GET", "/a/b", None)),
        [Cause::BasePathNotStripped { prefix: s("/a/b") }]
    );
}

#[test]
fn base_path_wrong() {
    // The product signed the full path; the app strips /connect (twice, after a router did).
    let d = diag(
        "GET",
        "/connect/panel",
        Some("/connect"),
        &qsh("GET", "/connect/panel", None),
    );
    assert_eq!(
        d.causes(),
        [Cause::BasePathWrong {
            app: s("/connect"),
            signed: s("")
        }]
    );
    assert_eq!(
        d.detail(),
        "the token covers the path with /connect, which the app stripped: strip the base path \
         once (not again after a router removed it), and only if it is in the descriptor's \
         baseUrl"
    );
    // Another prefix than the app's, longer or shorter, or the app's not a prefix at all.
    for app in ["/a", "/a/b/c", "/x"] {
        assert_eq!(
            causes(
                ("GET", "/a/b/c/d", Some("/a/b")),
                ("GET", "/a/b/c/d", Some(app))
            ),
            [Cause::BasePathWrong {
                app: s(app),
                signed: s("/a/b")
            }],
            "{app}"
        );
    }
    assert_eq!(
        Cause::BasePathWrong {
            app: s("/a"),
            signed: s("/a/b")
        }
        .detail(),
        "the product signed the path without /a/b, but the app's base path is /a: set the \
         app's base URL to its descriptor's baseUrl (path /a/b)"
    );
}

#[test]
fn method_differs() {
    let d = diag("post", "/p?a=1", None, &qsh("GET", "/p?a=1", None));
    assert_eq!(
        d.causes(),
        [Cause::MethodDiffers {
            signed: s("GET"),
            received: s("POST")
        }]
    );
    assert_eq!(d.causes()[0].code(), "method-differs");
    assert_eq!(
        causes(("OPTIONS", "/p", None), ("PROPFIND", "/p", None)),
        [Cause::MethodDiffers {
            signed: s("OPTIONS"),
            received: s("PROPFIND")
        }]
    );
}

#[test]
fn parameter_added() {
    let added = |names: &[&str]| {
        vec![Cause::ParameterAdded {
            names: names.iter().map(|n| s(n)).collect(),
        }]
    };
    let signed = ("GET", "/p?b=2&a=1&c=3", None);
    for (received, name) in [
        ("/p?utm_source=news&b=2&a=1&c=3", "utm_source"),
        ("/p?b=2&a=1&c=3&_=1700000000123", "_"),
        ("/p?b=2&a=0&a=1&c=3", "a"),
        ("/p?b=2&a=1&a=2&c=3", "a"),
        ("/p?b=2&a=1&c=3&c=3", "c"),
        ("/p?b=2&a=1&c=3&zz", "zz"),
        ("/p?b=2&a=1&c=3&%C3%A9t%C3%A9=1", "%C3%A9t%C3%A9"),
    ] {
        assert_eq!(
            causes(signed, ("GET", received, None)),
            added(&[name]),
            "{received}"
        );
    }
    // A value between two that stay (the comma between them stays too).
    assert_eq!(
        causes(
            ("GET", "/p?a=1&a=3&a=5", None),
            ("GET", "/p?a=1&a=2&a=3&a=5", None)
        ),
        added(&["a"])
    );
    // Several at the end of the query.
    assert_eq!(
        causes(
            signed,
            (
                "GET",
                "/p?b=2&a=1&c=3&utm_source=x&utm_medium=y&utm_campaign=z",
                None
            )
        ),
        added(&["utm_campaign", "utm_medium", "utm_source"])
    );
    assert_eq!(
        causes(("GET", "/p", None), ("GET", "/p?cb=1", None)),
        added(&["cb"])
    );
    assert_eq!(
        Cause::ParameterAdded {
            names: vec![s("utm_source"), s("utm_medium")]
        }
        .detail(),
        "the parameters utm_source, utm_medium were added after signing (by a proxy, CDN or \
         framework): verify the query the product sent, without them"
    );
    // A long name is cut in the detail.
    let long = "k".repeat(100);
    let detail = Cause::ParameterAdded {
        names: vec![long.clone()],
    }
    .detail();
    assert!(
        detail.contains(&format!("parameter {}... was added", &long[..40])),
        "{detail}"
    );
}

#[test]
fn query_added() {
    assert_eq!(
        causes(
            ("GET", "/p", None),
            ("GET", "/p?utm_source=x&utm_medium=y", None)
        ),
        [Cause::QueryAdded]
    );
    assert_eq!(Cause::QueryAdded.code(), "query-added");
}

#[test]
fn path_prefix_removed() {
    for prefix in ["/wiki", "/jira", "/confluence"] {
        assert_eq!(
            causes(
                ("GET", &format!("{prefix}/rest/api/2/issue?x=1"), None),
                ("GET", "/rest/api/2/issue?x=1", None)
            ),
            [Cause::PathPrefixRemoved { prefix: s(prefix) }]
        );
    }
    assert_eq!(
        causes(("GET", "/jira", None), ("GET", "/", None)),
        [Cause::PathPrefixRemoved { prefix: s("/jira") }]
    );
    // The app's own base path, removed by its proxy, where the product signed it.
    assert_eq!(
        causes(
            ("GET", "/connect/panel", None),
            ("GET", "/panel", Some("/connect"))
        ),
        [Cause::PathPrefixRemoved {
            prefix: s("/connect")
        }]
    );
}

#[test]
fn path_decoded() {
    for (signed, received) in [
        ("/files/my%20report.pdf", "/files/my report.pdf"),
        ("/space/a%2Fb/page", "/space/a/b/page"),
        ("/users/%7Eadmin", "/users/~admin"),
        ("/caf%C3%A9/%E4%B8%AD", "/café/中"),
        ("/a%20b/c%2Fd%7Ce", "/a b/c/d|e"),
        ("/it%27s/%28x%29", "/it's/(x)"),
        ("/p/100%25", "/p/100%"),
        ("/a%2Bb", "/a+b"),
    ] {
        assert_eq!(
            causes(("GET", signed, None), ("GET", received, None)),
            [Cause::PathDecoded],
            "{signed} -> {received}"
        );
    }
}

#[test]
fn path_reencoded() {
    for (signed, received) in [
        ("/users/%7eadmin", "/users/%7Eadmin"),
        ("/caf%c3%a9", "/caf%C3%A9"),
        ("/café", "/caf%C3%A9"),
        ("/it's", "/it%27s"),
        ("/~admin", "/%7Eadmin"),
        ("/a%20b", "/a+b"),
        ("/a+b", "/a%20b"),
        ("/a:b@c", "/a%3Ab%40c"),
    ] {
        assert_eq!(
            causes(("GET", signed, None), ("GET", received, None)),
            [Cause::PathReencoded],
            "{signed} -> {received}"
        );
    }
}

#[test]
fn plus_decoded_and_encoded() {
    assert_eq!(
        causes(
            ("GET", "/p?q=1%2B1&a=x", None),
            ("GET", "/p?q=1+1&a=x", None)
        ),
        [Cause::PlusDecoded]
    );
    // Only one parameter's `+` were a `%2B`; another's are spaces.
    assert_eq!(
        causes(
            ("GET", "/p?a=hello+world&q=1%2B1%2B1", None),
            ("GET", "/p?a=hello+world&q=1+1+1", None)
        ),
        [Cause::PlusDecoded]
    );
    assert_eq!(
        causes(
            ("GET", "/p?q=hello+world", None),
            ("GET", "/p?q=hello%2Bworld", None)
        ),
        [Cause::PlusEncoded]
    );
    assert_eq!(
        causes(("GET", "/p?q=a+b", None), ("GET", "/p?q=a%2bb", None)),
        [Cause::PlusEncoded]
    );
}

#[test]
fn trailing_slash() {
    // The canonical path drops one trailing `/`, so only a second one matters.
    assert_eq!(
        causes(("GET", "/p/", None), ("GET", "/p//", None)),
        [Cause::TrailingSlash {
            signed_with_slash: false
        }]
    );
    assert_eq!(
        causes(("GET", "/p//", None), ("GET", "/p/", None)),
        [Cause::TrailingSlash {
            signed_with_slash: true
        }]
    );
    // A signer that kept the slash.
    let d = diag(
        "GET",
        "/p/",
        None,
        &Qsh::of_canonical("GET&/p/&").to_string(),
    );
    assert_eq!(
        d.causes(),
        [Cause::TrailingSlash {
            signed_with_slash: true
        }]
    );
}

#[test]
fn jwt_parameter_hashed() {
    let signed = Qsh::of_canonical("GET&/p&a=1&jwt=x.y.z&z=2").to_string();
    let d = diag("GET", "/p?z=2&jwt=x.y.z&a=1", None, &signed);
    assert_eq!(d.causes(), [Cause::JwtParameterHashed]);
    let signed = Qsh::of_canonical("GET&/p&jwt=x.y.z").to_string();
    let d = diag("GET", "/p?%6Awt=x.y.z", None, &signed);
    assert_eq!(d.causes(), [Cause::JwtParameterHashed]);
}

#[test]
fn documented_pairs() {
    // The base path not stripped, and another method or an added parameter.
    let signed = ("GET", "/connect/panel?a=1", Some("/connect"));
    assert_eq!(
        causes(signed, ("POST", "/connect/panel?a=1", None)),
        [
            Cause::BasePathNotStripped {
                prefix: s("/connect")
            },
            Cause::MethodDiffers {
                signed: s("GET"),
                received: s("POST")
            }
        ]
    );
    let d = diag(
        "GET",
        "/connect/panel?a=1&utm_source=x",
        None,
        &qsh(signed.0, signed.1, signed.2),
    );
    assert_eq!(
        d.causes(),
        [
            Cause::BasePathNotStripped {
                prefix: s("/connect")
            },
            Cause::ParameterAdded {
                names: vec![s("utm_source")]
            }
        ]
    );
    assert!(d
        .detail()
        .contains("(path /connect); and the parameter utm_source"));
    // A pair outside the list: another method and an added parameter.
    assert_eq!(
        causes(("GET", "/p?a=1", None), ("POST", "/p?a=1&b=2", None)),
        [Cause::Unknown]
    );
}

#[test]
fn unknown_changes() {
    let d = diag("GET", "/p?a=2", None, &qsh("GET", "/p?a=1", None));
    assert_eq!(d.causes(), [Cause::Unknown]);
    assert_eq!(d.signed_request(), None);
    assert!(d.is_complete());
    assert!(d.candidates() > 20, "{}", d.candidates());
    assert_eq!(
        d.detail(),
        format!(
            "none of {} variants of this request hashes to the token's qsh; no change tried \
             makes the request match: look for parameters removed or changed, a path \
             rewritten (letter case, // merged, dot segments), or a token meant for another \
             request",
            d.candidates()
        )
    );
    for (signed, received) in [
        ("/p?a=1&b=2", "/p?a=1"),
        ("/Panel", "/panel"),
        ("/a//b", "/a/b"),
        ("/a/x/../b", "/a/b"),
    ] {
        assert_eq!(
            causes(("GET", signed, None), ("GET", received, None)),
            [Cause::Unknown],
            "{signed} -> {received}"
        );
    }
}

#[test]
fn a_qsh_that_is_no_hash_is_unknown_without_a_search() {
    for claim in [
        "context-qsh",
        "",
        &qsh("GET", "/p", None).to_uppercase(),
        &format!("{} ", qsh("GET", "/p", None)),
    ] {
        let d = diag("GET", "/q", None, claim);
        assert_eq!(d.causes(), [Cause::Unknown], "{claim}");
        assert_eq!(d.candidates(), 0, "{claim}");
    }
}

#[test]
fn a_request_the_product_could_never_sign_is_an_error() {
    let qsh = qsh("GET", "/p", None);
    assert_eq!(
        diagnose("GET", "/p?a=%zz", None, &qsh).unwrap_err(),
        Error::InvalidPercentEncoding { offset: 2 }
    );
    assert_eq!(
        diagnose("G T", "/p", None, &qsh).unwrap_err(),
        Error::InvalidMethod
    );
}

#[test]
fn debug_shows_no_request() {
    let target = "/p?JWT=eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln&a=1";
    let d = diag("GET", target, None, &qsh("GET", "/p?a=1", None));
    let debug = format!("{d:?}");
    assert!(!debug.contains("eyJ") && !debug.contains("GET&"), "{debug}");
    assert!(debug.contains("ParameterAdded"), "{debug}");
}

// ----- bounds -----

/// The URL Jira loads an issue-panel iframe with (a dozen parameters and the token).
const IFRAME_URL: &str = "/connect/issue-panel?xdm_e=https%3A%2F%2Fexample.atlassian.net&xdm_c=channel-com.example.app__issue-panel&cp=&xdm_deprecated_addon_key_do_not_use=com.example.app&lic=active&cv=1001.0.0-SNAPSHOT&issueKey=PROJ-123&issueId=10001&projectKey=PROJ&projectId=10000&tz=Australia%2FSydney&loc=en-US&user_id=admin&jwt=x.y.z";

#[test]
fn an_ordinary_request_is_searched_in_full() {
    let d = diag(
        "GET",
        IFRAME_URL,
        Some("https://app.example.com/connect"),
        &qsh("GET", "/other", None),
    );
    assert_eq!(d.causes(), [Cause::Unknown]);
    assert!(d.is_complete());
    assert!(
        d.candidates() > 100 && d.candidates() < MAX_DIAGNOSIS_CANDIDATES / 2,
        "{}",
        d.candidates()
    );
}

#[test]
fn hostile_requests_stop_at_the_limits() {
    // 10,000 parameters of 50 bytes: every candidate hashes half a megabyte.
    let mut target = String::from("/p?");
    for i in 0..10_000 {
        target.push_str(&format!("k{i:05}={}&", "v".repeat(42)));
    }
    let d = diag("GET", &target, None, &qsh("GET", "/other", None));
    assert_eq!(d.causes(), [Cause::Unknown]);
    assert!(!d.is_complete());
    assert!(d.candidates() < 40, "{}", d.candidates());
    assert!(d.detail().contains("(the search stopped at its limit)"));
    // Still found when the added parameter is among the first tried (it sorts first).
    let mut target = String::from("/p?");
    for i in 0..9_000 {
        target.push_str(&format!("k{i:05}={}&", "v".repeat(42)));
    }
    let d = diag(
        "GET",
        &format!("{target}a=1"),
        None,
        &qsh("GET", &target, None),
    );
    assert_eq!(
        d.causes(),
        [Cause::ParameterAdded {
            names: vec![s("a")]
        }]
    );

    // Many short segments and parameters: the candidate count is the limit.
    let mut target = String::new();
    for i in 0..64 {
        target.push_str(&format!("/s{i}"));
    }
    target.push('?');
    for i in 0..200 {
        target.push_str(&format!("p{i}=1&"));
    }
    let d = diag("GET", &target, Some("/s0"), &qsh("GET", "/other", None));
    assert_eq!(d.causes(), [Cause::Unknown]);
    assert_eq!(d.candidates(), MAX_DIAGNOSIS_CANDIDATES);
    assert!(!d.is_complete());
}

// ----- generated: tokens signed by npm atlassian-jwt, presented after one change -----

/// Cases in a default run; every change must be exercised in runs at least this large.
const DEFAULT_CASES: usize = 3000;

const SECRET: &str = "diagnosis-test-secret-0123456789abcdef";
const ISS: &str = "diagnosis-client-key";
const IAT: u64 = 1_700_000_000;
const ORIGIN: &str = "https://app.example.com";

/// What was done to the request between signing and the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Change {
    /// Nothing the qsh covers (host, fragment, method case, parameter order, a `jwt` added).
    Unchanged,
    BasePathNotStripped,
    BasePathWrong,
    MethodDiffers,
    ParameterAdded,
    QueryAdded,
    PathPrefixRemoved,
    PathDecoded,
    PathReencoded,
    PlusDecoded,
    PlusEncoded,
    TrailingSlash,
    /// The documented pairs.
    BaseAndMethod,
    BaseAndParameter,
    /// Outside the list: the diagnosis must say `unknown`.
    ValueChanged,
    ParameterRemoved,
    PathCaseChanged,
    SlashesMerged,
    DotSegmentsRemoved,
}

impl Change {
    const ALL: [Self; 19] = [
        Self::Unchanged,
        Self::BasePathNotStripped,
        Self::BasePathWrong,
        Self::MethodDiffers,
        Self::ParameterAdded,
        Self::QueryAdded,
        Self::PathPrefixRemoved,
        Self::PathDecoded,
        Self::PathReencoded,
        Self::PlusDecoded,
        Self::PlusEncoded,
        Self::TrailingSlash,
        Self::BaseAndMethod,
        Self::BaseAndParameter,
        Self::ValueChanged,
        Self::ParameterRemoved,
        Self::PathCaseChanged,
        Self::SlashesMerged,
        Self::DotSegmentsRemoved,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Unchanged => "(no change)",
            Self::BasePathNotStripped => "base-path-not-stripped",
            Self::BasePathWrong => "base-path-wrong",
            Self::MethodDiffers => "method-differs",
            Self::ParameterAdded => "parameter-added",
            Self::QueryAdded => "query-added",
            Self::PathPrefixRemoved => "path-prefix-removed",
            Self::PathDecoded => "path-decoded",
            Self::PathReencoded => "path-reencoded",
            Self::PlusDecoded => "plus-decoded",
            Self::PlusEncoded => "plus-encoded",
            Self::TrailingSlash => "trailing-slash",
            Self::BaseAndMethod => "base-path + method",
            Self::BaseAndParameter => "base-path + parameter",
            Self::ValueChanged => "value changed (unknown)",
            Self::ParameterRemoved => "parameter removed (unknown)",
            Self::PathCaseChanged => "path case changed (unknown)",
            Self::SlashesMerged => "// merged (unknown)",
            Self::DotSegmentsRemoved => "dot segments (unknown)",
        }
    }
}

/// One generated case: the request npm signs, the request the app receives, what the
/// diagnosis must say.
#[derive(Debug, Clone)]
struct Case {
    change: Change,
    signed_method: String,
    signed_target: String,
    /// The base URL the signer stripped (npm's `baseUrl`).
    signer_base: Option<String>,
    method: String,
    target: String,
    /// The app's base URL.
    app_base: Option<String>,
    /// The cause codes expected, in order; empty when the request still matches.
    expected: Vec<&'static str>,
}

impl Case {
    fn new(change: Change, method: &str, target: String, expected: &[&'static str]) -> Self {
        Self {
            change,
            signed_method: method.to_owned(),
            signed_target: target.clone(),
            signer_base: None,
            method: method.to_owned(),
            target,
            app_base: None,
            expected: expected.to_vec(),
        }
    }

    fn npm_line(&self) -> String {
        let mut line = json!({
            "method": self.signed_method,
            "url": self.signed_target,
            "iss": ISS,
            "iat": IAT,
            "secret": SECRET,
        });
        if let Some(base) = &self.signer_base {
            line["base"] = json!(base);
        }
        line.to_string()
    }
}

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];

const WORDS: &[&str] = &[
    "rest",
    "api",
    "2",
    "issue",
    "PROJ-123",
    "panel",
    "issue-panel",
    "admin",
    "config",
    "v1",
    "content",
    "page",
    "spaces",
    "dashboard-item",
    "macro",
    "user",
    "search",
    "attachments",
    "42",
    "x_y",
    "Connect",
    "app.js",
];

const KEYS: &[&str] = &[
    "a",
    "b",
    "issueKey",
    "projectKey",
    "xdm_e",
    "xdm_c",
    "cp",
    "lic",
    "cv",
    "tz",
    "loc",
    "user_id",
    "q",
    "limit",
    "start",
    "expand",
    "issueId",
    "projectId",
];

/// What proxies, CDNs and frameworks add to a query.
const ADDED: &[(&str, &str)] = &[
    ("utm_source", "newsletter"),
    ("utm_medium", "email"),
    ("utm_campaign", "spring-2024"),
    ("_", "1700000000123"),
    ("cb", "8f3a2c"),
    ("fbclid", "IwAR3xQ"),
    ("gclid", "Cj0KCQjw"),
    ("ts", "1700000000"),
    ("ref", "homepage"),
    ("lang", "en"),
];

/// Characters of path segments for the encoding changes: none that Node's `url.parse`
/// rewrites unescaped is left unescaped in a signed path (checked per case).
const SEGMENT_SPECIALS: &[&str] = &[
    " ", "é", "中", "😀", "~", "'", "(", ")", "!", "*", ":", "@", ",", ";", "=", "$", "+", "-",
    ".", "_", "\"", "<", ">", "{", "}", "|", "^", "`",
];

/// Characters Node's `url.parse` rewrites in a path (it escapes or replaces them).
const NODE_REWRITES: &[char] = &[
    '\\', ' ', '\t', '\r', '\n', '<', '>', '"', '`', '{', '}', '|', '^', '\'',
];

const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// How a path's segments are percent-encoded: the families the README lists for
/// `path-decoded` and `path-reencoded`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    /// Controls, space, `"#<>?`{}|\^` and non-ASCII (browsers, URI builders).
    Browser,
    /// As `Browser`, and `~`.
    BrowserAndTilde,
    /// `encodeURIComponent`: all but `A-Z a-z 0-9 - _ . ! ~ * ' ( )`.
    Component,
    /// All but `A-Z a-z 0-9 - . _ ~`.
    Unreserved,
    /// Nothing.
    Raw,
}

const ENCODINGS: [Encoding; 5] = [
    Encoding::Browser,
    Encoding::BrowserAndTilde,
    Encoding::Component,
    Encoding::Unreserved,
    Encoding::Raw,
];

impl Encoding {
    /// Whether this encoding escapes `c` (a `/` inside a segment is always escaped).
    fn escapes(self, c: char) -> bool {
        if c == '/' {
            return true;
        }
        if !c.is_ascii() {
            return self != Self::Raw;
        }
        let b = c as u8;
        match self {
            Self::Browser => b.is_ascii_control() || b" \"#<>?`{}|\\^".contains(&b),
            Self::BrowserAndTilde => c == '~' || Self::Browser.escapes(c),
            Self::Component => !(b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b)),
            Self::Unreserved => !(b.is_ascii_alphanumeric() || b"-._~".contains(&b)),
            Self::Raw => false,
        }
    }

    fn path(self, segments: &[String], lower_hex: bool) -> String {
        let mut out = String::new();
        for segment in segments {
            out.push('/');
            for c in segment.chars() {
                if self.escapes(c) {
                    let mut buf = [0u8; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        if lower_hex {
                            out.push_str(&format!("%{b:02x}"));
                        } else {
                            out.push_str(&format!("%{b:02X}"));
                        }
                    }
                } else {
                    out.push(c);
                }
            }
        }
        out
    }
}

fn word(rng: &mut Rng) -> String {
    rng.pick_str(WORDS).to_owned()
}

fn plain_segments(rng: &mut Rng, min: usize, max: usize) -> Vec<String> {
    (0..rng.between(min, max)).map(|_| word(rng)).collect()
}

fn join(segments: &[String]) -> String {
    format!("/{}", segments.join("/"))
}

/// A value: words, spaces as `+` (when `plus`), escapes, `%2B` (when `plus_escape`).
fn gen_value(rng: &mut Rng, plus: bool, plus_escape: bool) -> String {
    let mut value = String::new();
    for _ in 0..rng.between(0, 3) {
        match rng.below(10) {
            0 if plus => value.push('+'),
            1 => value.push_str("%20"),
            2 => value.push_str(rng.pick_str(&["%2F", "%3A", "%C3%A9", "%2C", "-", ".", "~"])),
            3 if plus_escape => value.push_str("%2B"),
            _ => {
                let len = rng.between(1, 8);
                rng.push_from(ALNUM, len, &mut value);
            }
        }
    }
    value
}

/// `min..=max` raw `key=value` pieces.
fn gen_pieces(rng: &mut Rng, min: usize, max: usize, plus: bool) -> Vec<String> {
    (0..rng.between(min, max))
        .map(|_| {
            let key = rng.pick_str(KEYS);
            match rng.below(12) {
                0 => key.to_owned(),
                _ => format!("{key}={}", gen_value(rng, plus, false)),
            }
        })
        .collect()
}

fn target(path: &str, pieces: &[String]) -> String {
    if pieces.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", pieces.join("&"))
    }
}

fn other_method(rng: &mut Rng, than: &str) -> String {
    loop {
        let m = *rng.pick(&METHODS);
        if m != than {
            // Methods are case-insensitive; the diagnosis upper-cases them.
            return if rng.chance(20) {
                m.to_ascii_lowercase()
            } else {
                m.to_owned()
            };
        }
    }
}

fn added_piece(rng: &mut Rng) -> String {
    let (key, value) = *rng.pick(ADDED);
    format!("{key}={value}")
}

fn gen_case(rng: &mut Rng) -> Case {
    let change = *rng.pick(&Change::ALL);
    let method = *rng.pick(&METHODS);
    let segments = plain_segments(rng, 1, 5);
    let path = join(&segments);
    let pieces = gen_pieces(rng, 0, 8, true);
    let plain = target(&path, &pieces);
    match change {
        Change::Unchanged => {
            let mut case = Case::new(change, method, plain, &[]);
            match rng.below(4) {
                0 => case.target = format!("https://other.example{}#frag", case.target),
                1 => case.method = method.to_ascii_lowercase(),
                2 => {
                    let mut shuffled = pieces.clone();
                    shuffled.reverse();
                    case.target = target(&path, &shuffled);
                }
                _ => {
                    let mut more = pieces.clone();
                    more.push("jwt=x.y.z".to_owned());
                    case.target = target(&path, &more);
                }
            }
            case
        }
        Change::BasePathNotStripped | Change::BaseAndMethod | Change::BaseAndParameter => {
            let prefix_len = rng.between(1, segments.len().min(2));
            let prefix = join(&segments[..prefix_len]);
            let mut case = match change {
                Change::BasePathNotStripped => {
                    Case::new(change, method, plain, &["base-path-not-stripped"])
                }
                Change::BaseAndMethod => Case::new(
                    change,
                    method,
                    plain,
                    &["base-path-not-stripped", "method-differs"],
                ),
                _ => Case::new(
                    change,
                    method,
                    plain,
                    &["base-path-not-stripped", "parameter-added"],
                ),
            };
            case.signer_base = Some(format!("{ORIGIN}{prefix}"));
            // The app strips nothing: no base, or the root.
            case.app_base = rng.chance(30).then(|| ORIGIN.to_owned());
            match change {
                Change::BaseAndMethod => case.method = other_method(rng, method),
                Change::BaseAndParameter => {
                    let mut more = pieces.clone();
                    let at = rng.between(0, more.len());
                    more.insert(at, added_piece(rng));
                    case.target = target(&path, &more);
                }
                _ => {}
            }
            case
        }
        Change::BasePathWrong => {
            let mut case = Case::new(change, method, plain, &["base-path-wrong"]);
            let prefix = |rng: &mut Rng| join(&segments[..rng.between(1, segments.len())]);
            let app = prefix(rng);
            if rng.chance(40) {
                // The product stripped nothing; the app strips a prefix.
                case.app_base = Some(format!("{ORIGIN}{app}"));
            } else {
                // The product stripped one prefix; the app another, or one not in the path.
                let signed = prefix(rng);
                let app = if signed == app || rng.chance(25) {
                    format!("/elsewhere{}", rng.below(10))
                } else {
                    app
                };
                case.signer_base = Some(format!("{ORIGIN}{signed}"));
                case.app_base = Some(app);
            }
            case
        }
        Change::MethodDiffers => {
            let mut case = Case::new(change, method, plain, &["method-differs"]);
            case.method = other_method(rng, method);
            case
        }
        Change::ParameterAdded | Change::QueryAdded => {
            let original = if change == Change::QueryAdded {
                Vec::new()
            } else {
                pieces.clone()
            };
            let mut case = Case::new(change, method, target(&path, &original), &[]);
            let mut more = original.clone();
            let several = original.is_empty() && change == Change::QueryAdded || rng.chance(30);
            if several && !(original.is_empty() && change == Change::ParameterAdded) {
                // Two or three appended at the end.
                for _ in 0..rng.between(2, 3) {
                    more.push(added_piece(rng));
                }
            } else if rng.chance(20) && !original.is_empty() {
                // Another value of a parameter already there.
                let key = original[rng.below(original.len())]
                    .split('=')
                    .next()
                    .unwrap()
                    .to_owned();
                more.push(format!("{key}=added{}", rng.below(100)));
            } else {
                let at = rng.between(0, more.len());
                more.insert(at, added_piece(rng));
            }
            case.expected = if original.is_empty() && more.len() > 1 {
                vec!["query-added"]
            } else {
                vec!["parameter-added"]
            };
            case.target = target(&path, &more);
            case
        }
        Change::PathPrefixRemoved => {
            let mut case = Case::new(change, method, plain, &["path-prefix-removed"]);
            let prefix = if rng.chance(30) {
                // The app's own base path, put in front by the product, removed by a proxy.
                let app = format!("/{}", rng.pick_str(&["connect", "addon", "my-app"]));
                case.app_base = Some(format!("{ORIGIN}{app}"));
                app
            } else {
                rng.pick_str(&["/wiki", "/jira", "/confluence"]).to_owned()
            };
            case.signed_target = format!("{prefix}{}", case.signed_target);
            case
        }
        Change::PathDecoded | Change::PathReencoded => gen_encoding_case(rng, change, method),
        Change::PlusDecoded => {
            // `%2B` in the values of one parameter (others may hold `+` for spaces), or
            // anywhere when no value has a `+`.
            let spaces = rng.chance(50);
            let mut original = gen_pieces(rng, 0, 6, spaces);
            let at = rng.between(0, original.len());
            let key = rng.pick_str(KEYS);
            let mut value = gen_value(rng, false, false);
            for _ in 0..rng.between(1, 2) {
                value.push_str("%2B");
                value.push_str(&gen_value(rng, false, false));
            }
            original.insert(at, format!("{key}={value}"));
            if !spaces && rng.chance(50) {
                let i = rng.below(original.len());
                original[i].push_str("%2B1");
            }
            let mut case = Case::new(change, method, target(&path, &original), &["plus-decoded"]);
            case.target = case.signed_target.replace("%2B", "+");
            case
        }
        Change::PlusEncoded => {
            let mut original = gen_pieces(rng, 0, 6, true);
            let key = rng.pick_str(KEYS);
            original.push(format!("{key}=a+b{}", rng.below(10)));
            let at = rng.below(original.len());
            let last = original.pop().unwrap();
            original.insert(at, last);
            let mut case = Case::new(change, method, target(&path, &original), &["plus-encoded"]);
            case.target = case.signed_target.replace('+', "%2B");
            case
        }
        Change::TrailingSlash => {
            let mut case = Case::new(change, method, plain, &["trailing-slash"]);
            let (signed_path, received_path) = if rng.chance(50) {
                (format!("{path}/"), format!("{path}//"))
            } else {
                (format!("{path}//"), format!("{path}/"))
            };
            case.signed_target = target(&signed_path, &pieces);
            case.target = target(&received_path, &pieces);
            case
        }
        Change::ValueChanged => {
            let mut original = pieces.clone();
            if original.is_empty() {
                original.push("a=1".to_owned());
            }
            let mut case = Case::new(change, method, target(&path, &original), &["unknown"]);
            let i = rng.below(original.len());
            let mut changed = original.clone();
            if !changed[i].contains('=') {
                changed[i].push('=');
            }
            changed[i].push('x');
            case.target = target(&path, &changed);
            case
        }
        Change::ParameterRemoved => {
            let mut original = pieces.clone();
            original.push(format!("{}=kept", rng.pick_str(KEYS)));
            let mut case = Case::new(change, method, target(&path, &original), &["unknown"]);
            let mut fewer = original.clone();
            fewer.remove(rng.below(original.len()));
            case.target = target(&path, &fewer);
            case
        }
        Change::PathCaseChanged => {
            let path = format!("{path}/panel");
            let mut case = Case::new(change, method, target(&path, &pieces), &["unknown"]);
            let letters: Vec<usize> = path
                .char_indices()
                .filter(|(_, c)| c.is_ascii_alphabetic())
                .map(|(i, _)| i)
                .collect();
            let i = letters[rng.below(letters.len())];
            let mut changed = path.clone().into_bytes();
            changed[i] ^= 0x20;
            case.target = target(&String::from_utf8(changed).unwrap(), &pieces);
            case
        }
        Change::SlashesMerged => {
            let mut case = Case::new(change, method, plain, &["unknown"]);
            let mut doubled = segments.clone();
            let at = rng.between(1, doubled.len());
            doubled.insert(at, String::new());
            doubled.push(word(rng));
            let mut merged = doubled.clone();
            merged.retain(|s| !s.is_empty());
            case.signed_target = target(&join(&doubled), &pieces);
            case.target = target(&join(&merged), &pieces);
            case
        }
        Change::DotSegmentsRemoved => {
            let mut case = Case::new(change, method, plain, &["unknown"]);
            let mut dotted = segments.clone();
            let at = rng.between(0, dotted.len());
            dotted.insert(at, "..".to_owned());
            dotted.insert(at, word(rng));
            case.signed_target = target(&join(&dotted), &pieces);
            case
        }
    }
}

/// A path encoded one way when signed and another (or decoded) when received.
fn gen_encoding_case(rng: &mut Rng, change: Change, method: &str) -> Case {
    for _ in 0..1000 {
        // Segments with special characters; one may hold a `/` (sent as `%2F`).
        let mut segments = plain_segments(rng, 1, 4);
        for _ in 0..rng.between(1, 3) {
            let i = rng.below(segments.len());
            let special = rng.pick_str(SEGMENT_SPECIALS);
            let at = if rng.chance(50) { 0 } else { segments[i].len() };
            segments[i].insert_str(at, special);
            if rng.chance(50) {
                segments[i].push_str(&word(rng));
            }
        }
        let (signed_encoding, received, slash) = if change == Change::PathDecoded {
            let encoding = *rng.pick(&ENCODINGS[..4]);
            let slash =
                matches!(encoding, Encoding::Browser | Encoding::BrowserAndTilde) && rng.chance(30);
            (encoding, None, slash)
        } else {
            let encoding = *rng.pick(&ENCODINGS);
            (encoding, Some(*rng.pick(&ENCODINGS)), false)
        };
        if slash {
            let i = rng.below(segments.len());
            segments[i].push('/');
            segments[i].push_str(&word(rng));
        }
        let pieces = gen_pieces(rng, 0, 4, true);
        let lower = received == Some(signed_encoding);
        let signed_path = signed_encoding.path(&segments, lower);
        let (received_path, expected) = match received {
            // Fully decoded.
            None => (format!("/{}", segments.join("/")), "path-decoded"),
            Some(encoding) => {
                let received_path = encoding.path(&segments, false);
                // Only escapes taken away, none added or changed: reported as decoded.
                let decoding = !lower
                    && segments
                        .iter()
                        .flat_map(|s| s.chars())
                        .all(|c| !encoding.escapes(c) || signed_encoding.escapes(c));
                (
                    received_path,
                    if decoding {
                        "path-decoded"
                    } else {
                        "path-reencoded"
                    },
                )
            }
        };
        let (received_path, expected) = match rng.below(6) {
            // `%20` written `+` in a path that had no `+`.
            0 if change == Change::PathReencoded
                && signed_path.contains("%20")
                && !signed_path.contains('+') =>
            {
                (signed_path.replace("%20", "+"), "path-reencoded")
            }
            _ => (received_path, expected),
        };
        if signed_path == received_path || signed_path.contains(NODE_REWRITES) {
            continue;
        }
        let mut case = Case::new(change, method, target(&signed_path, &pieces), &[expected]);
        case.target = target(&received_path, &pieces);
        return case;
    }
    panic!("no encoding case in 1000 draws");
}

/// What npm said for one case.
struct Signed {
    token: String,
    canonical: String,
}

/// Signs every case's request with `tests/reference/diagnosis.js` in one node process.
fn sign_with_npm(root: &Path, cases: &[Case]) -> Vec<Signed> {
    let mut child = Command::new("node")
        .arg(root.join("tests/reference/diagnosis.js"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn node");
    let input: Vec<String> = cases.iter().map(Case::npm_line).collect();
    let stdin = child.stdin.take().expect("node stdin");
    // Feed from another thread: node answers while we are still writing.
    let writer = thread::spawn(move || {
        let mut stdin = BufWriter::new(stdin);
        for line in input {
            writeln!(stdin, "{line}").expect("write to node");
        }
        stdin.flush().expect("flush node stdin");
    });
    let stdout = child.stdout.take().expect("node stdout");
    let signed: Vec<Signed> = BufReader::new(stdout)
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(&line.expect("read node")).expect("json");
            let text = |field: &str| {
                v[field]
                    .as_str()
                    .unwrap_or_else(|| panic!("diagnosis.js: {v}"))
                    .to_owned()
            };
            Signed {
                token: text("token"),
                canonical: text("canonical"),
            }
        })
        .collect();
    writer.join().expect("writer thread");
    assert!(child.wait().expect("wait for node").success());
    assert_eq!(
        signed.len(),
        cases.len(),
        "diagnosis.js answered every line"
    );
    signed
}

/// The diagnosis's cause codes for one case, after checking npm's token: its canonical
/// request is ours (the generator stayed where npm and the product agree) and it verifies.
fn diagnose_case(case: &Case, signed: &Signed) -> Result<(Vec<&'static str>, Diagnosis), String> {
    let signer_base = base(case.signer_base.as_deref());
    let request = CanonicalRequest::from_target(
        &case.signed_method,
        &case.signed_target,
        signer_base.as_ref(),
    )
    .map_err(|e| format!("the signed request does not canonicalize: {e}"))?;
    if request.to_string() != signed.canonical {
        return Err(format!(
            "generator bug: npm signed {:?}, the crate canonicalizes {:?}",
            signed.canonical,
            request.to_string()
        ));
    }
    let store = |iss: &str| (iss == ISS).then(|| SharedSecret::new(SECRET));
    Verifier::new()
        .verify(
            &signed.token,
            QshPolicy::Request(&request),
            &store,
            UnixTime::from_secs(IAT + 10),
        )
        .map_err(|e| format!("npm's token does not verify for its own request: {e}"))?;
    let claims = decode_unverified(&signed.token).unwrap().claims().unwrap();
    let token_qsh = claims.qsh().unwrap();
    let app_base = base(case.app_base.as_deref());
    let d = diagnose(&case.method, &case.target, app_base.as_ref(), token_qsh)
        .map_err(|e| format!("the received request does not canonicalize: {e}"))?;
    let found = !d.matches() && d.causes() != [Cause::Unknown];
    if found && d.signed_request() != Some(signed.canonical.as_str()) {
        return Err(format!("found another request: {:?}", d.signed_request()));
    }
    let codes = d.causes().iter().map(Cause::code).collect();
    Ok((codes, d))
}

#[test]
fn names_the_change_made_to_requests_signed_by_npm() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if !common::reference_or_skip(&root, "diagnosis test") {
        return;
    }
    let seed = common::seed_from_env("DIAG_SEED");
    let count = common::count_from_env("DIAG_CASES", DEFAULT_CASES);
    let rerun = format!(
        "DIAG_SEED={seed} DIAG_CASES={count} REQUIRE_NODE=1 cargo test --test diagnosis -- \
         --nocapture"
    );
    println!("diagnosis vs npm atlassian-jwt tokens: DIAG_SEED={seed} DIAG_CASES={count}");

    let mut rng = Rng::new(seed);
    let cases: Vec<Case> = (0..count).map(|_| gen_case(&mut rng)).collect();
    let signed = sign_with_npm(&root, &cases);

    let mut tally: BTreeMap<Change, (usize, usize)> = BTreeMap::new();
    let mut candidates: BTreeMap<Change, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for (index, (case, signed)) in cases.iter().zip(&signed).enumerate() {
        let entry = tally.entry(case.change).or_default();
        entry.0 += 1;
        match diagnose_case(case, signed) {
            Ok((codes, d)) if codes == case.expected => {
                entry.1 += 1;
                let most = candidates.entry(case.change).or_default();
                *most = (*most).max(d.candidates());
            }
            Ok((codes, d)) => failures.push(format!(
                "case {index} ({}): expected {:?}, diagnosed {codes:?} ({})\n  {case:?}",
                case.change.name(),
                case.expected,
                d.detail()
            )),
            Err(why) => failures.push(format!("case {index}: {why}\n  {case:?}")),
        }
    }

    println!(
        "  {:<28} {:>6} {:>8} {:>9} {:>11}",
        "change", "cases", "named", "accuracy", "candidates"
    );
    for change in Change::ALL {
        let (n, ok) = tally.get(&change).copied().unwrap_or_default();
        let percent = if n == 0 {
            0.0
        } else {
            100.0 * ok as f64 / n as f64
        };
        println!(
            "  {:<28} {n:>6} {ok:>8} {percent:>8.1}% {:>11}",
            change.name(),
            candidates.get(&change).copied().unwrap_or_default()
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {count} cases misdiagnosed (first {} below). Rerun: {rerun}\n{}",
        failures.len(),
        failures.len().min(20),
        failures[..failures.len().min(20)].join("\n")
    );
    if count >= DEFAULT_CASES {
        let missing: Vec<&str> = Change::ALL
            .iter()
            .filter(|c| !tally.contains_key(c))
            .map(|c| c.name())
            .collect();
        assert!(
            missing.is_empty(),
            "changes never drawn: {missing:?}. Rerun: {rerun}"
        );
    }
}
