//! Property tests of verification (`security-checklist.md` §4: sign → verify round-trips, any
//! bit flip is refused, any change to the request is a qsh mismatch, context tokens only where
//! a route accepts them).
//!
//! Case counts are fixed per property so the file runs in a few seconds in debug.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use atlassian_connect_jwt::{
    BasePath, CanonicalRequest, Claim, Error, QshPolicy, SharedSecret, Signer, TenantKey,
    TokenKind, TokenPart, UnixTime, Verifier,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::test_runner::Config;

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

// ----- requests -----

const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "PATCH", "get", "Post"];

/// Decoded query characters: the ones the canonical encoding is about, and some non-ASCII.
const QUERY_CHARS: &[char] = &[
    'a', 'b', 'A', 'j', 'w', 't', '0', '9', '~', '-', '.', '_', ' ', '+', '%', '&', '=', ',', '?',
    '#', '/', ':', '*', 'é', '€', '😀', '\u{E000}',
];

fn query_text(min: usize, max: usize) -> impl Strategy<Value = String> {
    vec(select(QUERY_CHARS), min..=max).prop_map(|chars| chars.into_iter().collect())
}

/// A path segment as received: raw, never decoded by the canonicalizer.
fn segment() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._~!$&'()*+,;=:@%é-]{1,6}"
}

#[derive(Clone, Debug)]
struct Req {
    method: &'static str,
    base: Option<String>,
    segments: Vec<String>,
    params: Vec<(String, String)>,
    plus_for_space: bool,
}

fn req() -> impl Strategy<Value = Req> {
    (
        select(METHODS),
        proptest::option::of("[a-z]{1,5}"),
        vec(segment(), 0..4),
        vec(
            (
                query_text(1, 4).prop_filter("not the jwt parameter", |k| k != "jwt"),
                query_text(0, 5),
            ),
            0..6,
        ),
        any::<bool>(),
    )
        .prop_map(|(method, base, segments, params, plus_for_space)| Req {
            method,
            base,
            segments,
            params,
            plus_for_space,
        })
}

/// Percent-encodes every byte but the unreserved ones (a space as `+` or `%20`).
fn encode(text: &str, plus_for_space: bool) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else if b == b' ' && plus_for_space {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Req {
    /// The request target the app receives: `/base/segments?query`.
    fn target(&self) -> String {
        let mut target = String::new();
        if let Some(base) = &self.base {
            target.push('/');
            target.push_str(base);
        }
        for segment in &self.segments {
            target.push('/');
            target.push_str(segment);
        }
        if target.is_empty() {
            target.push('/');
        }
        if !self.params.is_empty() {
            target.push('?');
            let pairs: Vec<String> = self
                .params
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{}={}",
                        encode(k, self.plus_for_space),
                        encode(v, self.plus_for_space)
                    )
                })
                .collect();
            target.push_str(&pairs.join("&"));
        }
        target
    }

    fn base_path(&self) -> Option<BasePath> {
        self.base
            .as_ref()
            .map(|b| BasePath::parse(&format!("https://app.example.com/{b}")).unwrap())
    }
}

/// Builds the canonical request of `req` and hands it to `f` (it borrows the target).
fn with_request<T>(req: &Req, f: impl FnOnce(&CanonicalRequest<'_>) -> T) -> T {
    let target = req.target();
    let base = req.base_path();
    let request = CanonicalRequest::from_target(req.method, &target, base.as_ref())
        .unwrap_or_else(|e| panic!("{target}: {e}"));
    f(&request)
}

// ----- tokens -----

#[derive(Clone, Debug)]
struct Issue {
    iss: String,
    secret: String,
    sub: Option<String>,
    aud: Option<String>,
    iat: u64,
    lifetime: u64,
}

fn issue() -> impl Strategy<Value = Issue> {
    (
        "\\PC{1,24}",
        "\\PC{1,48}",
        proptest::option::of("\\PC{1,24}"),
        proptest::option::of("[a-z:/.]{1,24}"),
        1_000_000_000u64..=4_000_000_000,
        1u64..=3600,
    )
        .prop_map(|(iss, secret, sub, aud, iat, lifetime)| Issue {
            iss,
            secret,
            sub,
            aud,
            iat,
            lifetime,
        })
}

impl Issue {
    fn signer(&self) -> Signer {
        let mut signer = Signer::new(self.iss.clone()).with_lifetime(self.lifetime);
        if let Some(sub) = &self.sub {
            signer = signer.with_subject(sub.clone());
        }
        if let Some(aud) = &self.aud {
            signer = signer.with_audience(aud.clone());
        }
        signer
    }

    fn key(&self) -> TenantKey {
        TenantKey::new("test-client-key", &SharedSecret::new(self.secret.clone())).unwrap()
    }

    fn exp(&self) -> u64 {
        self.iat + self.lifetime
    }

    fn sign_request(&self, request: &CanonicalRequest<'_>) -> String {
        self.signer()
            .sign_request(request, &self.key(), UnixTime::from_secs(self.iat))
            .unwrap()
            .into_string()
    }

    fn sign_context(&self) -> String {
        self.signer()
            .sign_context(&self.key(), UnixTime::from_secs(self.iat))
            .unwrap()
            .into_string()
    }

    /// Verifies with a store that knows exactly this tenant.
    fn verify(
        &self,
        verifier: Verifier,
        token: &str,
        policy: QshPolicy<'_, '_>,
        now: u64,
    ) -> Result<atlassian_connect_jwt::Verified, Error> {
        let store = |k: &str| (k == self.iss).then(|| SharedSecret::new(self.secret.as_str()));
        verifier.verify(token, policy, &store, UnixTime::from_secs(now))
    }
}

fn strict() -> Verifier {
    Verifier::new().with_leeway(0).unwrap()
}

/// A qsh mismatch that names `received` and the token's qsh `presented`.
fn assert_mismatch(
    result: Result<atlassian_connect_jwt::Verified, Error>,
    received: &CanonicalRequest<'_>,
    presented: &str,
) -> Result<(), TestCaseError> {
    match result {
        Err(Error::QshMismatch(m)) => {
            prop_assert_eq!(m.expected(), received.qsh());
            prop_assert_eq!(m.presented(), presented);
            prop_assert_eq!(m.canonical_request(), received.to_string());
            Ok(())
        }
        other => Err(TestCaseError::fail(format!(
            "expected a qsh mismatch on {received}, got {other:?}"
        ))),
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn sign_then_verify_round_trips(issue in issue(), req in req(), offset in any::<Index>()) {
        with_request(&req, |request| {
            let token = issue.sign_request(request);
            let now = issue.iat + offset.index(usize::try_from(issue.lifetime).unwrap()) as u64;
            let v = issue.verify(strict(), &token, QshPolicy::Request(request), now)?;
            prop_assert_eq!(v.client_key(), issue.iss.as_str());
            prop_assert_eq!(v.account_id(), issue.sub.as_deref());
            prop_assert_eq!(v.kind(), TokenKind::RequestBound);
            prop_assert_eq!(v.claims().iat().as_secs(), issue.iat);
            prop_assert_eq!(v.claims().exp().as_secs(), issue.exp());
            let qsh = request.qsh().to_string();
            prop_assert_eq!(v.claims().qsh(), Some(qsh.as_str()));
            let aud: Vec<String> = issue.aud.iter().cloned().collect();
            prop_assert_eq!(v.claims().aud(), aud.as_slice());
            // A route accepting either kind takes it as request-bound; a context route refuses it.
            let either = issue.verify(strict(), &token, QshPolicy::RequestOrContext(request), now)?;
            prop_assert_eq!(either.kind(), TokenKind::RequestBound);
            prop_assert_eq!(
                issue.verify(strict(), &token, QshPolicy::Context, now).unwrap_err(),
                Error::ContextTokenRequired
            );
            // The same request rebuilt from the same text verifies too (nothing is cached).
            with_request(&req, |again| {
                prop_assert!(issue.verify(strict(), &token, QshPolicy::Request(again), now).is_ok());
                Ok(())
            })
        })?;
    }

    #[test]
    fn tokens_expire_and_are_not_valid_before_iat(issue in issue(), req in req()) {
        with_request(&req, |request| {
            let token = issue.sign_request(request);
            let policy = QshPolicy::Request(request);
            let exp = issue.exp();
            // Leeway 0: valid at exp - 1, expired at exp.
            prop_assert!(issue.verify(strict(), &token, policy, exp - 1).is_ok());
            prop_assert_eq!(
                issue.verify(strict(), &token, policy, exp).unwrap_err(),
                Error::Expired { exp, now: exp }
            );
            // Default leeway 30: valid at exp + 29, expired at exp + 30.
            prop_assert!(issue.verify(Verifier::new(), &token, policy, exp + 29).is_ok());
            prop_assert_eq!(
                issue.verify(Verifier::new(), &token, policy, exp + 30).unwrap_err(),
                Error::Expired { exp, now: exp + 30 }
            );
            // Issued in the future beyond the leeway.
            prop_assert_eq!(
                issue.verify(strict(), &token, policy, issue.iat - 1).unwrap_err(),
                Error::IssuedInFuture { iat: issue.iat, now: issue.iat - 1 }
            );
            prop_assert!(issue.verify(Verifier::new(), &token, policy, issue.iat - 30).is_ok());
            // A maximum lifetime shorter than the token's refuses it.
            prop_assert_eq!(
                issue
                    .verify(strict().with_max_lifetime(issue.lifetime - 1), &token, policy, issue.iat)
                    .unwrap_err(),
                Error::LifetimeTooLong { lifetime: issue.lifetime, max: issue.lifetime - 1 }
            );
            Ok(())
        })?;
    }

    #[test]
    fn wrong_secret_or_issuer_is_refused(issue in issue(), req in req(), other in "\\PC{1,48}") {
        prop_assume!(other != issue.secret);
        with_request(&req, |request| {
            let token = issue.sign_request(request);
            let wrong = |_: &str| Some(SharedSecret::new(other.as_str()));
            prop_assert_eq!(
                strict()
                    .verify(&token, QshPolicy::Request(request), &wrong, UnixTime::from_secs(issue.iat))
                    .unwrap_err(),
                Error::InvalidSignature
            );
            let nobody = |_: &str| None::<SharedSecret>;
            prop_assert_eq!(
                strict()
                    .verify(&token, QshPolicy::Request(request), &nobody, UnixTime::from_secs(issue.iat))
                    .unwrap_err(),
                Error::UnknownIssuer
            );
            Ok(())
        })?;
    }

    #[test]
    fn parameter_order_does_not_matter(issue in issue(), req in req(), seed in any::<u64>()) {
        let mut shuffled = req.clone();
        // A deterministic shuffle from the seed (Fisher–Yates with an LCG).
        let mut state = seed;
        for i in (1..shuffled.params.len()).rev() {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let j = usize::try_from(state >> 33).unwrap() % (i + 1);
            shuffled.params.swap(i, j);
        }
        with_request(&req, |request| {
            let token = issue.sign_request(request);
            with_request(&shuffled, |permuted| {
                prop_assert_eq!(permuted.qsh(), request.qsh());
                let v = issue.verify(strict(), &token, QshPolicy::Request(permuted), issue.iat)?;
                prop_assert_eq!(v.kind(), TokenKind::RequestBound);
                Ok(())
            })
        })?;
    }

    #[test]
    fn any_change_to_the_request_is_a_qsh_mismatch(
        issue in issue(),
        req in req(),
        which in any::<Index>(),
        extra_key in query_text(1, 3).prop_filter("not jwt", |k| k != "jwt"),
        extra_value in query_text(0, 3),
        other_method in select(METHODS),
        extra_segment in segment(),
    ) {
        with_request(&req, |request| {
            let token = issue.sign_request(request);
            let qsh = request.qsh().to_string();
            let original = request.to_string();
            let mut changed: Vec<Req> = Vec::new();
            // Another path: one more segment.
            let mut longer = req.clone();
            longer.segments.push(extra_segment.clone());
            changed.push(longer);
            // A parameter value changed.
            if !req.params.is_empty() {
                let mut value_changed = req.clone();
                let i = which.index(req.params.len());
                value_changed.params[i].1.push('x');
                changed.push(value_changed);
            }
            // A parameter added.
            let mut added = req.clone();
            added.params.push((extra_key.clone(), extra_value.clone()));
            changed.push(added);
            // A parameter dropped.
            if !req.params.is_empty() {
                let mut dropped = req.clone();
                dropped.params.remove(which.index(req.params.len()));
                // Dropping one of two identical pairs changes the canonical query too.
                changed.push(dropped);
            }
            // Another method.
            if !other_method.eq_ignore_ascii_case(req.method) {
                let mut method = req.clone();
                method.method = other_method;
                changed.push(method);
            }
            for change in &changed {
                with_request(change, |received| {
                    prop_assert_ne!(received.to_string(), original.clone());
                    assert_mismatch(
                        issue.verify(strict(), &token, QshPolicy::Request(received), issue.iat),
                        received,
                        &qsh,
                    )?;
                    assert_mismatch(
                        issue.verify(strict(), &token, QshPolicy::RequestOrContext(received), issue.iat),
                        received,
                        &qsh,
                    )
                })?;
            }
            Ok::<(), TestCaseError>(())
        })?;
    }

    #[test]
    fn context_tokens_only_where_the_route_accepts_them(issue in issue(), req in req()) {
        with_request(&req, |request| {
            let token = issue.sign_context();
            let now = issue.iat;
            let v = issue.verify(strict(), &token, QshPolicy::Context, now)?;
            prop_assert_eq!(v.kind(), TokenKind::Context);
            prop_assert_eq!(v.client_key(), issue.iss.as_str());
            prop_assert_eq!(v.account_id(), issue.sub.as_deref());
            prop_assert_eq!(v.claims().qsh(), Some("context-qsh"));
            let v = issue.verify(strict(), &token, QshPolicy::RequestOrContext(request), now)?;
            prop_assert_eq!(v.kind(), TokenKind::Context);
            prop_assert_eq!(
                issue.verify(strict(), &token, QshPolicy::Request(request), now).unwrap_err(),
                Error::ContextTokenNotAllowed
            );
            Ok(())
        })?;
    }
}

// ----- bit flips -----

const S: &str = "connect-test-secret-0123456789abcdef0123";
const T1: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ0ZXN0LWNsaWVudC1rZXkiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMDE4MCwicXNoIjoiNzAyODJjN2NmODI4MzRiZDVhM2Q2ZGFjZGExYjRjY2Q1Y2Y1ODYwYTYzYTFmYTJmYjg2YjY0ZDU3NmU2YTFkNSJ9.p_628YD5xOEjKOGLmVZ7TKOyymWyyfgWIwDuac8amkY";
const T2: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ0ZXN0LWNsaWVudC1rZXkiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMDE4MCwicXNoIjoiY29udGV4dC1xc2gifQ.Y_-fycsTC1VmKefYSFe0PL3HLJ3yBoGVJPW68NX1nfo";

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Whether `err` is an error that a change to the given segment can cause: form and claim
/// errors of that segment, the issuer lookup, or the signature; never a time or qsh verdict
/// (those come after the signature, which no longer matches).
fn plausible(err: &Error, part: TokenPart) -> bool {
    match part {
        TokenPart::Header => matches!(
            err,
            Error::InvalidBase64(TokenPart::Header)
                | Error::InvalidJson(TokenPart::Header)
                | Error::DuplicateMember(TokenPart::Header)
                | Error::MissingAlgorithm
                | Error::UnsupportedAlgorithm { .. }
                | Error::UnsupportedTokenType
                | Error::CriticalHeader
                | Error::InvalidSignature
        ),
        TokenPart::Payload => matches!(
            err,
            Error::InvalidBase64(TokenPart::Payload)
                | Error::InvalidJson(TokenPart::Payload)
                | Error::DuplicateMember(TokenPart::Payload)
                | Error::MissingClaim(_)
                | Error::InvalidClaim(_)
                | Error::UnknownIssuer
                | Error::InvalidSignature
        ),
        _ => matches!(
            err,
            Error::InvalidSignature | Error::InvalidBase64(TokenPart::Signature)
        ),
    }
}

/// Flips bit `bit` of byte `at` of `token` and checks the verdict under `verify`.
fn check_flip(
    token: &str,
    at: usize,
    bit: u32,
    verify: &dyn Fn(&str) -> Result<atlassian_connect_jwt::Verified, Error>,
) -> Result<(), String> {
    let mut bytes = token.as_bytes().to_vec();
    let before = bytes[at];
    bytes[at] ^= 1 << bit;
    let after = bytes[at];
    // A byte >= 0x80 alone is not UTF-8: the header value would arrive as U+FFFD.
    let flipped = String::from_utf8_lossy(&bytes).into_owned();
    let err = match verify(&flipped) {
        Ok(v) => return Err(format!("byte {at} bit {bit}: accepted {v:?}")),
        Err(err) => err,
    };
    let dots_before = token[..at].matches('.').count();
    let part = match dots_before {
        0 => TokenPart::Header,
        1 => TokenPart::Payload,
        _ => TokenPart::Signature,
    };
    let ok = if before == b'.' || !is_base64url(after) {
        err == Error::MalformedToken
    } else {
        plausible(&err, part)
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "byte {at} bit {bit} ({before:#04x} -> {after:#04x}, {part:?}): {err:?}"
        ))
    }
}

fn fixture_store(k: &str) -> Option<SharedSecret> {
    (k == "test-client-key").then(|| SharedSecret::new(S))
}

#[test]
fn every_single_bit_flip_of_the_golden_tokens_is_refused() {
    let request =
        CanonicalRequest::from_target("GET", "/path/to/service?a=1&A=2&b=3&B=4", None).unwrap();
    let now = UnixTime::from_secs(1_700_000_060);
    let verifier = Verifier::new();
    let on_request =
        |t: &str| verifier.verify(t, QshPolicy::Request(&request), &fixture_store, now);
    let on_context = |t: &str| verifier.verify(t, QshPolicy::Context, &fixture_store, now);
    let on_either = |t: &str| {
        verifier.verify(
            t,
            QshPolicy::RequestOrContext(&request),
            &fixture_store,
            now,
        )
    };
    assert!(on_request(T1).is_ok() && on_context(T2).is_ok());
    let mut failures = Vec::new();
    let mut flips = 0;
    for (token, checks) in [
        (T1, [&on_request as &dyn Fn(&str) -> _, &on_either]),
        (T2, [&on_context as &dyn Fn(&str) -> _, &on_either]),
    ] {
        for at in 0..token.len() {
            for bit in 0..8 {
                for check in checks {
                    flips += 1;
                    if let Err(e) = check_flip(token, at, bit, check) {
                        failures.push(e);
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(flips, (T1.len() + T2.len()) * 8 * 2);
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn any_single_bit_flip_of_a_signed_token_is_refused(
        issue in issue(),
        req in req(),
        context in any::<bool>(),
        at in any::<Index>(),
        bit in 0u32..8,
    ) {
        with_request(&req, |request| {
            let token = if context { issue.sign_context() } else { issue.sign_request(request) };
            let policy = if context { QshPolicy::Context } else { QshPolicy::Request(request) };
            prop_assert!(issue.verify(strict(), &token, policy, issue.iat).is_ok());
            let verify = |t: &str| issue.verify(strict(), t, policy, issue.iat);
            let at = at.index(token.len());
            check_flip(&token, at, bit, &verify).map_err(TestCaseError::fail)
        })?;
    }

    #[test]
    fn edited_claims_without_the_key_are_refused(
        issue in issue(),
        req in req(),
        new_exp in 0u64..=253_402_300_799,
    ) {
        // Re-encoding an edited payload under the original signature (no key) never verifies.
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine as _;
        with_request(&req, |request| {
            let token = issue.sign_request(request);
            let mut parts = token.split('.');
            let (h, p, s) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
            let json = String::from_utf8(URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap();
            let edited = json.replace(&format!("\"exp\":{}", issue.exp()), &format!("\"exp\":{new_exp}"));
            prop_assume!(edited != json);
            let forged = format!("{h}.{}.{s}", URL_SAFE_NO_PAD.encode(&edited));
            let result = issue.verify(strict(), &forged, QshPolicy::Request(request), issue.iat);
            prop_assert!(
                matches!(result, Err(Error::InvalidSignature)),
                "{:?}",
                result
            );
            // And a qsh swapped for context-qsh.
            let ctx = json.replace(&format!("\"qsh\":\"{}\"", request.qsh()), "\"qsh\":\"context-qsh\"");
            prop_assert_ne!(&ctx, &json);
            let forged = format!("{h}.{}.{s}", URL_SAFE_NO_PAD.encode(&ctx));
            prop_assert_eq!(
                issue.verify(strict(), &forged, QshPolicy::Context, issue.iat).unwrap_err(),
                Error::InvalidSignature
            );
            Ok(())
        })?;
    }
}

#[test]
fn missing_claims_are_reported_by_name() {
    // A sanity anchor for the claim errors the flips above may produce.
    let verifier = Verifier::new();
    let key = TenantKey::new("test-client-key", &SharedSecret::new(S)).unwrap();
    let token = Signer::new("test-client-key")
        .sign_context(&key, UnixTime::from_secs(1_700_000_000))
        .unwrap();
    let payload = token.as_str().split('.').nth(1).unwrap().to_owned();
    let renamed = {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine as _;
        let json = String::from_utf8(URL_SAFE_NO_PAD.decode(&payload).unwrap()).unwrap();
        URL_SAFE_NO_PAD.encode(json.replace("\"iss\"", "\"isr\""))
    };
    let forged = token.as_str().replace(&payload, &renamed);
    assert_eq!(
        verifier
            .verify(
                &forged,
                QshPolicy::Context,
                &fixture_store,
                UnixTime::from_secs(1_700_000_000)
            )
            .unwrap_err(),
        Error::MissingClaim(Claim::Iss)
    );
}
