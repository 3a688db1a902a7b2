//! Property tests of the canonical request and its qsh (`connect-jwt.md` §1).
//!
//! Most properties build *structured* requests (method, decoded path segments, decoded
//! `(key, value)` pairs), spell them out as a target in one of the many equivalent ways, and
//! compare. The fuzz target's checks (`fuzz/src/checks.rs`, a naive model of the rules plus
//! shape, idempotence and qsh invariants) run on arbitrary strings here too.
//!
//! Case counts are fixed per property and keep the whole file to a few seconds in debug.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../fuzz/src/checks.rs"]
mod checks;

use std::cell::Cell;

use atlassian_connect_jwt::{find_token, BasePath, CanonicalRequest, Error, Qsh};
use checks::model;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use sha2::{Digest, Sha256};

fn config(cases: u32) -> Config {
    Config {
        cases,
        // Keep the tree clean: a failure prints its minimal input, nothing is written.
        failure_persistence: None,
        ..Config::default()
    }
}

/// The canonical string of `target`, with the qsh checked against it.
fn canon(method: &str, target: &str) -> Result<String, Error> {
    canon_based(method, target, None)
}

fn canon_based(method: &str, target: &str, base: Option<&BasePath>) -> Result<String, Error> {
    let request = CanonicalRequest::from_target(method, target, base)?;
    let canonical = request.to_string();
    assert_eq!(request.qsh(), Qsh::of_canonical(&canonical));
    Ok(canonical)
}

// ----- structured requests and their many spellings -----

/// Decoded characters: small, so independent requests collide now and then, and full of the
/// characters every rule is about.
const ALPHABET: &[char] = &[
    'a', 'b', 'A', 'j', 'w', 't', 'W', 'T', '0', '~', '-', '.', '_', ' ', '+', '%', '&', '=', ',',
    '?', '#', '/', ':', '*', '\u{1}', '\u{7f}', 'é', '€', '\u{E000}', '\u{FFFD}', '😀',
];

fn text(max: usize) -> impl Strategy<Value = String> {
    vec(select(ALPHABET), 0..=max).prop_map(|chars| chars.into_iter().collect())
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => text(3),
        1 => select(&["jwt", "JWT", "Jwt", "jwt ", "a", "A"][..]).prop_map(str::to_owned),
    ]
}

#[derive(Clone, Debug, PartialEq)]
struct Request {
    method: &'static str,
    segments: Vec<String>,
    params: Vec<(String, String)>,
}

fn request() -> impl Strategy<Value = Request> {
    (
        select(&["GET", "get", "POST", "Put"][..]),
        vec(text(3), 0..4),
        vec((key(), text(3)), 0..5),
    )
        .prop_map(|(method, segments, params)| Request {
            method,
            segments,
            params,
        })
}

/// Requests with long runs (hundreds of bytes of path, key or value), which reach the hash
/// in pieces larger than any internal buffer.
fn long_request() -> impl Strategy<Value = Request> {
    (
        vec("[a-zA-Z0-9._~-]{0,300}", 0..3),
        vec(("[a-z]{0,200}", "[a-zA-Z0-9 é&~]{0,300}"), 0..4),
    )
        .prop_map(|(segments, params)| Request {
            method: "GET",
            segments,
            params,
        })
}

/// Characters on both sides of every UTF-8 length and UTF-16 surrogate boundary.
const PLANES: &[char] = &[
    'a',
    '\u{7F}',
    '\u{80}',
    'é',
    '\u{7FF}',
    '\u{800}',
    '\u{D7FF}',
    '\u{E000}',
    '\u{FFFD}',
    '\u{FFFF}',
    '\u{10000}',
    '😀',
    '\u{10FFFF}',
];

/// What the canonical string of a request depends on: upper-cased method, path segments up to
/// the trailing-slash rule, and the multiset of parameters other than `jwt`.
type Normalized = (String, Vec<String>, Vec<(String, String)>);

fn normalized(request: &Request) -> Normalized {
    let mut segments = request.segments.clone();
    // `/a/` is `/a`; `/` (segments `[""]`) and `//` (`["", ""]`) are both `/`, like `[]`.
    if segments.last().is_some_and(String::is_empty) {
        segments.pop();
    }
    if segments == [""] {
        segments.clear();
    }
    let mut params: Vec<_> = request
        .params
        .iter()
        .filter(|(key, _)| key != "jwt")
        .cloned()
        .collect();
    params.sort();
    (request.method.to_ascii_uppercase(), segments, params)
}

/// The canonical string of a structured request, straight from the rules.
fn expected(request: &Request) -> String {
    let pairs: Vec<_> = request
        .params
        .iter()
        .filter(|(key, _)| key != "jwt")
        .cloned()
        .collect();
    format!(
        "{}&{}&{}",
        request.method.to_ascii_uppercase(),
        model::path(&path_text(&request.segments, &mut Spelling::plain()), ""),
        model::canonical_query(&pairs)
    )
}

/// One choice among equivalent spellings: always the first, always the second, or random.
#[derive(Clone, Copy, Debug)]
enum Pick {
    No,
    Yes,
    Random,
}

/// How to spell a structured request as a target. Every spelling of one request must give
/// the same canonical string.
#[derive(Clone, Debug)]
struct Spelling {
    state: u64,
    /// Space as `+` (else `%20`).
    plus: Pick,
    /// Escapes in lower-case hex (`%2a`, else `%2A`).
    lower_hex: Pick,
    /// Unreserved characters escaped (`%41`, `%7E`, else `A`, `~`).
    escape_unreserved: Pick,
    /// Other characters that may stand raw in a query (`*`, `/`, `?`, `é`) escaped.
    escape_safe: Pick,
    /// `&` in a path segment as `%26` (else raw: the canonical path escapes it anyway).
    path_amp_escaped: Pick,
    /// `k` instead of `k=` for an empty value.
    bare_key: Pick,
    /// Empty pieces (`&&`) between parameters, `?` with no query.
    empty_pieces: Pick,
}

impl Spelling {
    /// Shortest unambiguous spelling: upper-case hex, nothing needlessly escaped.
    fn plain() -> Self {
        Self {
            state: 0,
            plus: Pick::No,
            lower_hex: Pick::No,
            escape_unreserved: Pick::No,
            escape_safe: Pick::No,
            path_amp_escaped: Pick::No,
            bare_key: Pick::No,
            empty_pieces: Pick::No,
        }
    }

    /// Every choice random, driven by `seed`.
    fn random(seed: u64) -> Self {
        Self {
            state: seed,
            plus: Pick::Random,
            lower_hex: Pick::Random,
            escape_unreserved: Pick::Random,
            escape_safe: Pick::Random,
            path_amp_escaped: Pick::Random,
            bare_key: Pick::Random,
            empty_pieces: Pick::Random,
        }
    }

    fn pick(&mut self, pick: Pick) -> bool {
        match pick {
            Pick::No => false,
            Pick::Yes => true,
            Pick::Random => {
                // SplitMix64.
                self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = self.state;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                (z ^ (z >> 31)) & 1 == 1
            }
        }
    }

    fn escape(&mut self, out: &mut String, c: char) {
        let lower = self.pick(self.lower_hex);
        let mut buf = [0; 4];
        for b in c.encode_utf8(&mut buf).bytes() {
            out.push_str(&if lower {
                format!("%{b:02x}")
            } else {
                format!("%{b:02X}")
            });
        }
    }

    /// A decoded path segment as raw path text. The path is never decoded, so this spelling
    /// is fixed (and injective) except for `&`, which the canonical path escapes anyway.
    fn segment(&mut self, out: &mut String, segment: &str) {
        for c in segment.chars() {
            if c == '&' {
                if self.pick(self.path_amp_escaped) {
                    out.push_str("%26");
                } else {
                    out.push('&');
                }
            } else if !c.is_ascii()
                || (c.is_ascii_graphic() && !"%/?#".contains(c) && !c.is_ascii_control())
            {
                out.push(c);
            } else {
                let mut buf = [0; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
        }
    }

    /// A decoded key or value as raw query text, in any equivalent spelling.
    fn component(&mut self, out: &mut String, text: &str, is_key: bool) {
        for c in text.chars() {
            let ascii = u8::try_from(c).ok().filter(u8::is_ascii);
            let unreserved = ascii.is_some_and(model::is_unreserved);
            // Characters that mean something in a query, or would end the target.
            let special = "&%+#".contains(c) || (is_key && c == '=');
            if c == ' ' {
                if self.pick(self.plus) {
                    out.push('+');
                } else {
                    self.escape(out, c);
                }
            } else if unreserved {
                if self.pick(self.escape_unreserved) {
                    self.escape(out, c);
                } else {
                    out.push(c);
                }
            } else if special || self.pick(self.escape_safe) {
                self.escape(out, c);
            } else {
                out.push(c);
            }
        }
    }

    fn param(&mut self, key: &str, value: &str) -> String {
        let mut out = String::new();
        self.component(&mut out, key, true);
        // `=` alone is the parameter `("", "")`; without it the piece would be skipped.
        if !(value.is_empty() && !key.is_empty() && self.pick(self.bare_key)) {
            out.push('=');
        }
        self.component(&mut out, value, false);
        out
    }

    fn pieces(&mut self, params: &[(String, String)]) -> Vec<String> {
        params.iter().map(|(k, v)| self.param(k, v)).collect()
    }

    fn join(&mut self, pieces: &[String]) -> String {
        let mut out = String::new();
        for (i, piece) in pieces.iter().enumerate() {
            if i > 0 || self.pick(self.empty_pieces) {
                out.push('&');
            }
            if self.pick(self.empty_pieces) {
                out.push('&');
            }
            out.push_str(piece);
        }
        out
    }

    fn target(&mut self, request: &Request) -> String {
        let mut target = path_text(&request.segments, self);
        let pieces = self.pieces(&request.params);
        if !pieces.is_empty() || self.pick(self.empty_pieces) {
            target.push('?');
            target.push_str(&self.join(&pieces));
        }
        target
    }
}

fn path_text(segments: &[String], spelling: &mut Spelling) -> String {
    let mut path = String::from("/");
    for (i, segment) in segments.iter().enumerate() {
        if i > 0 {
            path.push('/');
        }
        spelling.segment(&mut path, segment);
    }
    path
}

// ----- the properties -----

proptest! {
    #![proptest_config(config(2048))]

    /// The order of the query's pieces never matters, valid or not (only which error is
    /// reported first may change).
    #[test]
    fn permuting_query_parameters_changes_nothing(
        (pieces, shuffled) in vec(
            prop_oneof![
                3 => (key(), text(3), any::<u64>())
                    .prop_map(|(k, v, seed)| Spelling::random(seed).param(&k, &v)),
                1 => "[a-cj-w=+%~*2AEFz]{0,5}",
            ],
            0..7,
        )
        .prop_flat_map(|pieces| (Just(pieces.clone()), Just(pieces).prop_shuffle())),
    ) {
        let a = canon("GET", &format!("/p?{}", pieces.join("&")));
        let b = canon("GET", &format!("/p?{}", shuffled.join("&")));
        prop_assert_eq!(a.is_ok(), b.is_ok(), "{:?} vs {:?}", a, b);
        if a.is_ok() {
            prop_assert_eq!(a, b);
        }
    }

    /// `jwt=<anything validly encoded>` (the name spelled any way that decodes to `jwt`)
    /// inserted anywhere is dropped.
    #[test]
    fn jwt_parameter_is_dropped_wherever_it_is(
        request in request(),
        seed in any::<u64>(),
        name in select(&["jwt", "%6Awt", "j%77t", "jw%74", "%6a%77%74"][..]),
        value in prop_oneof![text(6), "[A-Za-z0-9_.-]{0,40}"],
        bare in any::<bool>(),
        at in any::<prop::sample::Index>(),
    ) {
        let mut spelling = Spelling::random(seed);
        let mut pieces = spelling.pieces(&request.params);
        let jwt = if bare && value.is_empty() {
            name.to_owned()
        } else {
            let mut piece = format!("{name}=");
            spelling.component(&mut piece, &value, false);
            piece
        };
        pieces.insert(at.index(pieces.len() + 1), jwt);
        let path = path_text(&request.segments, &mut spelling);
        let with = canon(request.method, &format!("{path}?{}", spelling.join(&pieces)));
        let without = canon(request.method, &spelling.target(&request));
        prop_assert_eq!(&with, &without);
        prop_assert_eq!(with, Ok(expected(&request)));
    }

    /// The token a request finds while canonicalizing is `find_token`'s, with or without an
    /// `Authorization` header: one, several (equal or not), empty, bare or escaped `jwt`
    /// parameters anywhere among others.
    #[test]
    fn token_found_while_canonicalizing_is_find_tokens(
        pieces in vec(
            prop_oneof![
                2 => (key(), text(3), any::<u64>())
                    .prop_map(|(k, v, seed)| Spelling::random(seed).param(&k, &v)),
                2 => (
                    select(&["jwt", "%6Awt", "jw%74", "JWT", "jwt%20"][..]),
                    select(&["=a.b.c", "=a.b.d", "=", "", "=a%2Eb.c", "=a+b"][..]),
                )
                    .prop_map(|(k, v)| format!("{k}{v}")),
                1 => "[a-cj-w=+%~*2AEFz.]{0,6}",
            ],
            0..6,
        ),
        authorization in prop::option::of(select(&["JWT a.b.c", "JWT a.b.d", "Bearer a.b.c", "JWT "][..])),
    ) {
        let query = pieces.join("&");
        let target = format!("/p?{query}");
        if let Ok(request) = CanonicalRequest::from_target("GET", &target, None) {
            prop_assert_eq!(
                request.token(authorization),
                find_token(authorization, Some(&query)),
                "query {:?}",
                query
            );
        }
    }

    /// Only the exact lower-case name is dropped: `JWT=x`, `Jwt=x`, `jwt%20=x` are kept.
    #[test]
    fn other_jwt_spellings_are_kept(
        request in request(),
        seed in any::<u64>(),
        name in select(&["JWT", "Jwt", "jwT", "jwt ", " jwt", "jwt_", "jw", "jwtjwt", "jwt=x"][..]),
        at in any::<prop::sample::Index>(),
    ) {
        let mut spelling = Spelling::random(seed);
        let mut with_param = request.clone();
        with_param.params.insert(at.index(request.params.len() + 1), (name.to_owned(), "x".to_owned()));
        let with = canon(request.method, &spelling.target(&with_param)).unwrap();
        let without = canon(request.method, &spelling.target(&request)).unwrap();
        prop_assert_ne!(&with, &without);
        prop_assert_eq!(&with, &expected(&with_param));
        if name == "JWT" {
            prop_assert!(with.contains("JWT="), "{}", with);
        }
    }

    /// `+` and `%20` are the same space, in keys and in values.
    #[test]
    fn plus_and_percent_20_are_the_same_space(
        request in request(),
        seed in any::<u64>(),
    ) {
        let plus = Spelling { plus: Pick::Yes, ..Spelling::plain() };
        let pct20 = Spelling { plus: Pick::No, ..Spelling::plain() };
        let mixed = Spelling { state: seed, plus: Pick::Random, ..Spelling::plain() };
        let a = canon(request.method, &plus.clone().target(&request));
        prop_assert_eq!(&a, &canon(request.method, &pct20.clone().target(&request)));
        prop_assert_eq!(&a, &canon(request.method, &mixed.clone().target(&request)));
        prop_assert_eq!(a, Ok(expected(&request)));
    }

    /// `%2a` ≡ `%2A`, `%7e` ≡ `%7E` ≡ `~`, `%41` ≡ `A`: the case of hex digits and escaping
    /// an unreserved (or any other) character never matter in the query.
    #[test]
    fn percent_escape_spelling_changes_nothing(
        request in request(),
        seed in any::<u64>(),
    ) {
        let plain = canon(request.method, &Spelling::plain().target(&request));
        let variants = [
            Spelling { lower_hex: Pick::Yes, ..Spelling::plain() },
            Spelling { escape_unreserved: Pick::Yes, ..Spelling::plain() },
            Spelling { escape_unreserved: Pick::Yes, lower_hex: Pick::Yes, ..Spelling::plain() },
            Spelling { escape_safe: Pick::Yes, ..Spelling::plain() },
            Spelling::random(seed),
        ];
        for mut spelling in variants {
            let target = spelling.target(&request);
            prop_assert_eq!(&canon(request.method, &target), &plain, "{}", target);
        }
        prop_assert_eq!(plain, Ok(expected(&request)));
    }

    /// Arbitrary method, target and base (any Unicode, or a biased alphabet): never a panic,
    /// always the model's answer, and every fuzz-target invariant holds.
    #[test]
    fn arbitrary_strings_never_panic(
        method in prop_oneof![any::<String>(), "[a-zA-Z&!| ]{0,6}", Just("GET".to_owned())],
        target in prop_oneof![
            any::<String>(),
            "(https?://[a-z:@.]{0,6})?[/a-z&=?#%+,;~.é😀 ]{0,20}",
            "[/?&=%0-9a-fA-FzZ+]{0,24}",
        ],
        base in prop::option::of(prop_oneof![any::<String>(), "(https?://h)?[/a-z?#]{0,6}"]),
    ) {
        checks::check_input(&method, &target, base.as_deref());
    }

    /// The fuzz target's entry point on arbitrary bytes (non-UTF-8 is skipped).
    #[test]
    fn arbitrary_bytes_never_panic(data in vec(any::<u8>(), 0..64)) {
        checks::check(&data);
    }

    /// `METHOD&/path&query` with a path free of raw `&` and a query of unreserved characters,
    /// upper-case `%XX`, `=`, `,` and `&`, sorted as documented.
    #[test]
    fn canonical_string_has_the_documented_shape(
        request in request(),
        seed in any::<u64>(),
    ) {
        let canonical = canon(request.method, &Spelling::random(seed).target(&request)).unwrap();
        checks::check_shape(&canonical, request.method);
        let (path, query) = checks::split_canonical(&canonical, request.method);
        let head = format!("{}&/", request.method.to_ascii_uppercase());
        prop_assert!(canonical.starts_with(&head), "{}", canonical);
        prop_assert!(!path.contains('&'));
        prop_assert!(
            query.bytes().all(|b| model::is_unreserved(b) || b"%=,&".contains(&b)),
            "{}", query
        );
        prop_assert_eq!(canonical, expected(&request));
    }

    /// A path holding `&k=v` never poses as the query `k=v`: `/p&a=b?x=y` ≠ `/p?a=b&x=y`.
    #[test]
    fn path_and_query_split_is_unambiguous(
        request in request(),
        moved in 1usize..3,
        seed in any::<u64>(),
    ) {
        let mut spelling = Spelling::random(seed);
        let path = path_text(&request.segments, &mut spelling);
        let pieces = spelling.pieces(&request.params);
        // Spelled-out pieces may hold a raw `?`, which is fine: the target then splits there.
        let moved = moved.min(pieces.len());
        let (into_path, rest) = pieces.split_at(moved);
        let as_query = canon(request.method, &format!("{path}?{}", pieces.join("&"))).unwrap();
        let as_path = canon(
            request.method,
            &format!("{path}&{}?{}", into_path.join("&"), rest.join("&")),
        );
        prop_assert_ne!(Ok(as_query), as_path);
    }

    /// `from_parts` on a target split at its first `?` is `from_target`, for targets without
    /// fragment or scheme.
    #[test]
    fn from_target_agrees_with_from_parts(
        target in prop_oneof![
            "[/a-zé&=?%+,:;~. 0-9A-F]{0,24}",
            (request(), any::<u64>()).prop_map(|(r, seed)| Spelling::random(seed).target(&r)),
        ],
        method in select(&["GET", "get", "", "G T"][..]),
        base in select(&[None, Some("/a"), Some("https://h/a/")][..]),
    ) {
        prop_assume!(!target.contains('#') && model::after_authority(&target).is_none());
        let base = base.map(|b| BasePath::parse(b).unwrap());
        let (path, query) = match target.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (target.as_str(), None),
        };
        let parts = CanonicalRequest::from_parts(method, path, query, base.as_ref())
            .map(|r| r.to_string());
        prop_assert_eq!(parts, canon_based(method, &target, base.as_ref()));
    }

    /// Scheme, authority and fragment never count.
    #[test]
    fn scheme_authority_and_fragment_never_count(
        request in request(),
        seed in any::<u64>(),
        origin in prop::option::of((
            select(&["http", "https", "HTTPS", "git+ssh", "a.b-c"][..]),
            "[a-z0-9.:@\\[\\]%-]{0,12}",
        )),
        fragment in prop::option::of(any::<String>()),
    ) {
        let target = Spelling::random(seed).target(&request);
        let mut full = origin.map_or(String::new(), |(scheme, host)| format!("{scheme}://{host}"));
        full.push_str(&target);
        if let Some(fragment) = &fragment {
            full.push('#');
            full.push_str(fragment);
        }
        prop_assert_eq!(canon(request.method, &full), canon(request.method, &target));
    }

    /// A base path is stripped on a segment boundary, however it is given.
    #[test]
    fn base_path_is_stripped_on_segment_boundaries(
        base in vec("[a-z&%é~]{1,3}", 1..3),
        request in request(),
        seed in any::<u64>(),
        form in select(&["{}", "{}/", "https://app.example{}", "http://h:8080{}//"][..]),
    ) {
        let base_path = format!("/{}", base.join("/"));
        let parsed = BasePath::parse(&form.replace("{}", &base_path)).unwrap();
        prop_assert_eq!(parsed.as_str(), base_path.as_str());
        let target = Spelling::random(seed).target(&request);
        // Under the base: as if the base were not there.
        prop_assert_eq!(
            canon_based(request.method, &format!("{base_path}{target}"), Some(&parsed)),
            canon(request.method, &target)
        );
        // Not on a boundary (`/app` vs `/appx/...`): left alone.
        let glued = format!("{base_path}x{target}");
        prop_assert_eq!(
            canon_based(request.method, &glued, Some(&parsed)),
            canon(request.method, &glued)
        );
    }

    /// A key's values are sorted by their decoded text in UTF-16 code unit order (Java's
    /// `String.compareTo`): U+E000..U+FFFF after the supplementary planes.
    #[test]
    fn values_sort_in_utf16_order(
        values in vec(vec(select(PLANES), 0..3).prop_map(|c| c.into_iter().collect::<String>()), 2..6),
        seed in any::<u64>(),
    ) {
        let request = Request {
            method: "GET",
            segments: vec!["p".to_owned()],
            params: values.into_iter().map(|v| ("k".to_owned(), v)).collect(),
        };
        let canonical = canon("GET", &Spelling::random(seed).target(&request)).unwrap();
        let (_, query) = checks::split_canonical(&canonical, "GET");
        let decoded: Vec<Vec<u16>> = query
            .strip_prefix("k=")
            .unwrap()
            .split(',')
            .map(|v| model::decode(v, 0).unwrap().encode_utf16().collect())
            .collect();
        prop_assert!(decoded.windows(2).all(|w| w[0] <= w[1]), "{}", canonical);
        prop_assert_eq!(canonical, expected(&request));
    }

    /// Any bytes percent-encoded as a key or a value are accepted exactly when they are UTF-8
    /// (no overlongs, no surrogates, nothing above U+10FFFF, nothing cut short).
    #[test]
    fn escaped_bytes_are_accepted_exactly_when_utf8(
        bytes in prop_oneof![
            vec(any::<u8>(), 0..8),
            vec(select(&[b'a', 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF,
                         0xE0, 0xED, 0xEE, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF][..]), 0..6),
            any::<String>().prop_map(String::into_bytes),
        ],
        as_key in any::<bool>(),
    ) {
        let escaped: String = bytes.iter().map(|b| format!("%{b:02X}")).collect();
        let query = if as_key { format!("{escaped}=v") } else { format!("k={escaped}") };
        let result = canon("GET", &format!("/p?{query}"));
        match std::str::from_utf8(&bytes) {
            Ok(text) => {
                let pair = if as_key { (text.to_owned(), "v".to_owned()) } else { ("k".to_owned(), text.to_owned()) };
                let pairs: Vec<_> = [pair].into_iter().filter(|(k, _)| k != "jwt").collect();
                prop_assert_eq!(result, Ok(format!("GET&/p&{}", model::canonical_query(&pairs))));
            }
            Err(_) => prop_assert_eq!(
                result,
                Err(Error::InvalidUtf8 { offset: if as_key { 0 } else { 2 } })
            ),
        }
    }

    /// `Display` and `FromStr` round-trip, and only 64 lower-case hex digits parse.
    #[test]
    fn qsh_text_round_trips(
        bytes in any::<[u8; 32]>(),
        text in prop_oneof![
            any::<String>(),
            "[0-9a-fA-F]{63,65}",
            "[0-9a-f]{64}",
            "[0-9a-f ]{64}",
        ],
    ) {
        let qsh = Qsh::from_bytes(bytes);
        let hex = qsh.to_string();
        prop_assert_eq!(hex.len(), 64);
        prop_assert_eq!(hex.parse::<Qsh>(), Ok(qsh));
        prop_assert_eq!(hex.parse::<Qsh>().unwrap().to_bytes(), bytes);
        prop_assert!(qsh.matches_hex(&hex));

        let valid = text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        match text.parse::<Qsh>() {
            Ok(parsed) => {
                prop_assert!(valid, "{:?} parsed", text);
                prop_assert_eq!(parsed.to_string(), text.clone());
                prop_assert!(parsed.matches_hex(&text));
            }
            Err(_) => prop_assert!(!valid, "{:?} rejected", text),
        }
        prop_assert_eq!(qsh.matches_hex(&text), text == hex);
    }
}

proptest! {
    // Long requests hash slowly in debug: fewer cases.
    #![proptest_config(config(512))]

    /// The qsh is SHA-256 of the canonical string, however the request is built.
    #[test]
    fn qsh_is_sha256_of_the_canonical_string(
        request in prop_oneof![request(), long_request()],
        seed in any::<u64>(),
    ) {
        let target = Spelling::random(seed).target(&request);
        let built = CanonicalRequest::from_target(request.method, &target, None).unwrap();
        let canonical = built.to_string();
        let digest: [u8; 32] = Sha256::digest(canonical.as_bytes()).into();
        prop_assert_eq!(built.qsh().to_bytes(), digest);
        prop_assert_eq!(built.qsh(), Qsh::of_canonical(&canonical));
        checks::check_qsh(&built, &canonical);
    }
}

/// Two structured requests share a canonical string exactly when they are equal up to the
/// rules (method case, trailing slash, parameter order, `jwt`), however each is spelled.
///
/// Half the pairs are a request and a small mutation of it (reordered, a trailing slash, a
/// parameter moved into the path, a value split at a `,`, `jwt` added, ...), so both outcomes
/// occur often; the test fails if either is rare.
#[test]
fn structured_requests_collide_exactly_when_equal() {
    let pair = (request(), any::<u64>(), any::<u64>()).prop_flat_map(|(a, seed_a, seed_b)| {
        let mutated = (0u8..14, any::<prop::sample::Index>(), text(2))
            .prop_map({
                let a = a.clone();
                move |(kind, at, s)| mutate(&a, kind, at, s)
            })
            .boxed();
        let b = prop_oneof![1 => request(), 3 => mutated];
        (Just(a), b, Just(seed_a), Just(seed_b))
    });
    let same = Cell::new(0u32);
    let different = Cell::new(0u32);
    let cases = 10_000;
    TestRunner::new(config(cases))
        .run(&pair, |(a, b, seed_a, seed_b)| {
            let ca = canon(a.method, &Spelling::random(seed_a).target(&a));
            let cb = canon(b.method, &Spelling::random(seed_b).target(&b));
            let (ca, cb) = (ca.unwrap(), cb.unwrap());
            prop_assert_eq!(&ca, &expected(&a));
            prop_assert_eq!(&cb, &expected(&b));
            let equal = normalized(&a) == normalized(&b);
            prop_assert_eq!(ca == cb, equal, "{:?}\n{:?}\n{}\n{}", a, b, ca, cb);
            let counter = if equal { &same } else { &different };
            counter.set(counter.get() + 1);
            Ok::<(), TestCaseError>(())
        })
        .unwrap();
    assert!(
        same.get() > cases / 10 && different.get() > cases / 10,
        "too one-sided to mean anything: {} equal, {} different",
        same.get(),
        different.get()
    );
}

fn mutate(a: &Request, kind: u8, at: prop::sample::Index, s: String) -> Request {
    let mut b = a.clone();
    let n = b.params.len();
    match kind {
        // The same request (spelled differently by the caller).
        0 => {}
        1 => b.params.rotate_left(if n == 0 { 0 } else { at.index(n) }),
        2 => {
            if b.segments.last().is_some_and(String::is_empty) {
                b.segments.pop();
            } else {
                b.segments.push(String::new());
            }
        }
        3 if !b.segments.is_empty() => {
            let i = at.index(b.segments.len());
            b.segments[i] = s;
        }
        4 if n > 0 => b.params[at.index(n)].0 = s,
        5 if n > 0 => b.params[at.index(n)].1 = s,
        // `/p?k=v` → `/p&k=v`: the first parameter moved into the last segment.
        6 if n > 0 => {
            let (k, v) = b.params.remove(0);
            let moved = format!("&{k}={v}");
            match b.segments.last_mut() {
                Some(last) => last.push_str(&moved),
                None => b.segments.push(moved),
            }
        }
        // `/p/x` → `/p?x`.
        7 if !b.segments.is_empty() => {
            let last = b.segments.pop().unwrap_or_default();
            b.params.insert(0, (last, String::new()));
        }
        8 => b.params.push(("jwt".to_owned(), s)),
        9 => b.params.push(("JWT".to_owned(), s)),
        10 if n > 0 => {
            let i = at.index(n);
            let copy = b.params[i].clone();
            b.params.push(copy);
        }
        // `k=x,y` → `k=x&k=y`, or two values of a key joined into one.
        11 if n > 0 => {
            let i = at.index(n);
            let (k, v) = b.params[i].clone();
            match v.split_once(',') {
                Some((x, y)) => {
                    b.params[i].1 = x.to_owned();
                    b.params.push((k, y.to_owned()));
                }
                None => b.params[i].1 = format!("{v},{s}"),
            }
        }
        12 if n > 0 => {
            let i = at.index(n);
            let (k, v) = b.params[i].clone();
            b.params[i] = (v, k);
        }
        13 => b.method = if b.method == "GET" { "get" } else { "GET" },
        _ => b.segments.push(s),
    }
    b
}

/// Every 1- and 2-byte sequence, and every 3- and 4-byte one whose tail bytes sit at the
/// edges of the continuation range, percent-encoded as a value: accepted exactly when std
/// calls it UTF-8.
#[test]
fn escaped_utf8_boundaries_exhaustively() {
    const EDGES: [u8; 4] = [0x7F, 0x80, 0xBF, 0xC0];
    let check = |bytes: &[u8]| {
        let escaped: String = bytes.iter().map(|b| format!("%{b:02X}")).collect();
        let result = canon("GET", &format!("/p?k={escaped}"));
        match std::str::from_utf8(bytes) {
            Ok(_) => assert!(result.is_ok(), "{escaped}: {result:?}"),
            Err(_) => assert_eq!(result, Err(Error::InvalidUtf8 { offset: 2 }), "{escaped}"),
        }
    };
    for b0 in 0..=u8::MAX {
        check(&[b0]);
        for b1 in 0..=u8::MAX {
            check(&[b0, b1]);
            if b0 < 0xE0 {
                continue;
            }
            for b2 in EDGES {
                check(&[b0, b1, b2]);
                if b0 >= 0xF0 {
                    for b3 in EDGES {
                        check(&[b0, b1, b2, b3]);
                    }
                }
            }
        }
    }
}

/// The examples the properties generalize, spelled out.
#[test]
fn examples() {
    let c = |target| canon("GET", target).unwrap();
    assert_ne!(c("/a&b"), c("/a?b"));
    assert_eq!(c("/a&b"), "GET&/a%26b&");
    assert_eq!(c("/a?b"), "GET&/a&b=");
    assert_ne!(c("/p&a=b?x=y"), c("/p?a=b&x=y"));
    assert_eq!(c("/p&a=b?x=y"), "GET&/p%26a=b&x=y");
    assert_eq!(c("/p?a=b&x=y"), "GET&/p&a=b&x=y");
    assert_eq!(c("/p?x=%2a"), c("/p?x=%2A"));
    assert_eq!(c("/p?x=%7E"), c("/p?x=~"));
    assert_eq!(c("/p?x=%7e"), "GET&/p&x=~");
    assert_eq!(c("/p?x=%41"), c("/p?x=A"));
    assert_eq!(c("/p?a+b=c+d"), c("/p?a%20b=c%20d"));
    assert_eq!(c("/p?a=1&jwt=x"), c("/p?jwt=y&a=1"));
    assert_ne!(c("/p?a=1&JWT=x"), c("/p?a=1"));
    assert_ne!(c("/p?k=1,2"), c("/p?k=1&k=2"));
    assert_eq!(c("/p?k=1,2"), "GET&/p&k=1%2C2");
    assert_eq!(c("/p?k=2&k=1"), "GET&/p&k=1,2");
}
