//! Signed install (feature `signed-install`): RS256 lifecycle tokens verified with a public key,
//! against security-checklist items 48-56 and 5, 6, 7, 18, 22.
//!
//! RSA key pairs are generated when the tests run; tokens are signed here with the `rsa`
//! dev-dependency, so every header and payload byte is under the test's control. The
//! submodules in `tests/signed_install/` cover key sources, the key cache, the HTTP key
//! fetcher (against a real server on 127.0.0.1) and Wycheproof's RSA vectors.
#![cfg(feature = "signed-install")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;

use atlassian_connect_jwt::{
    validate_kid, BasePath, CanonicalRequest, Claim, Error, InstallKey, InstallToken,
    InstallVerifier, PayloadDefect, Qsh, QshPolicy, SharedSecret, UnixTime, VerifiedInstall,
    Verifier,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use proptest::prelude::*;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::sha2::Sha256 as RsaSha256;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::RsaPrivateKey;

const NOW: u64 = 1_700_000_000;
const BASE: &str = "https://app.example.com";
const CLIENT_KEY: &str = "ck-tenant-1";
const SECRET: &str = "shared-secret-from-the-body-0123456789";
const KID: &str = "0e50fccb-239d-4991-a5db-dc850ba3f236";

/// A P-256 public key: a well-formed SPKI PEM that is not RSA.
const EC_P256: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE/RDn7Uwjn9HHlAtTaTezj7qOm8tk
Ou7gWAZMJJKtD6OJpxrAPNmTy+o15Jjp9BpVt5MRGBG5af/J2FLoAQv+nA==
-----END PUBLIC KEY-----
";

/// The whole path against a real key server on 127.0.0.1 (feature `signed-install-http`).
#[cfg(feature = "signed-install-http")]
#[path = "signed_install/key_server.rs"]
mod key_server;
/// Key sources and the key cache, with an in-process source.
#[path = "signed_install/key_sources.rs"]
mod key_sources;
/// Install and tenant types never show a token or the secret.
#[path = "signed_install/redaction.rs"]
mod redaction;
/// Wycheproof's RSA PKCS#1 v1.5 vectors through `InstallKey`.
#[path = "signed_install/wycheproof_vectors.rs"]
mod wycheproof_vectors;

/// Checklist 53's `kid`s that would reach another host, path, query or header if used in a
/// URL (the 4 KiB one is added where used).
const HOSTILE_KIDS: &[&str] = &[
    "../../x",
    "//evil.example/k",
    "https://evil.example/k",
    r"\\evil.example\k",
    "a?x=1",
    "a#f",
    "%2e%2e/x",
    "a\r\nHost: x",
    "..",
    ".",
];

struct Pair {
    private: RsaPrivateKey,
    pem: String,
}

impl Pair {
    fn generate(bits: usize) -> Self {
        let private = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, bits).unwrap();
        let pem = private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        Self { private, pem }
    }

    fn key(&self) -> InstallKey {
        InstallKey::from_pem(&self.pem).unwrap()
    }

    fn sign(&self, header: &str, payload: &str) -> String {
        let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
        let signature = SigningKey::<RsaSha256>::new(self.private.clone()).sign(input.as_bytes());
        format!("{input}.{}", b64(&signature.to_vec()))
    }
}

/// Atlassian's key.
fn atlassian() -> &'static Pair {
    static PAIR: OnceLock<Pair> = OnceLock::new();
    PAIR.get_or_init(|| Pair::generate(2048))
}

/// Someone else's 2048-bit key.
fn attacker() -> &'static Pair {
    static PAIR: OnceLock<Pair> = OnceLock::new();
    PAIR.get_or_init(|| Pair::generate(2048))
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn hs256(key: &[u8], header: &str, payload: &str) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(&mac.finalize().into_bytes()))
}

fn qsh_of(path: &str) -> String {
    CanonicalRequest::from_parts("POST", path, None, None)
        .unwrap()
        .qsh()
        .to_string()
}

fn header() -> String {
    format!(r#"{{"kid":"{KID}","typ":"JWT","alg":"RS256"}}"#)
}

/// The claims of a valid `installed` token, as a JSON object.
fn claims() -> serde_json::Value {
    serde_json::json!({
        "iss": CLIENT_KEY,
        "aud": BASE,
        "iat": NOW - 10,
        "exp": NOW + 170,
        "qsh": qsh_of("/installed"),
    })
}

fn with(claim: &str, value: serde_json::Value) -> String {
    let mut c = claims();
    c[claim] = value;
    c.to_string()
}

fn without(claim: &str) -> String {
    let mut c = claims();
    c.as_object_mut().unwrap().remove(claim);
    c.to_string()
}

fn body(event: &str) -> String {
    let mut b = serde_json::json!({
        "key": "my-app",
        "clientKey": CLIENT_KEY,
        "sharedSecret": SECRET,
        "serverVersion": "100",
        "pluginsVersion": "1001.0.0",
        "baseUrl": "https://tenant.atlassian.net",
        "displayUrl": "https://jira.tenant.example",
        "productType": "jira",
        "description": "Atlassian JIRA at https://tenant.atlassian.net",
        "serviceEntitlementNumber": "SEN-1",
        "eventType": event,
    });
    if event == "uninstalled" {
        b.as_object_mut().unwrap().remove("sharedSecret");
    }
    b.to_string()
}

fn verify_at(
    verifier: &InstallVerifier,
    token: &str,
    body: &str,
    path: &str,
    key: &InstallKey,
) -> Result<VerifiedInstall, Error> {
    let request = CanonicalRequest::from_target("POST", path, None)?;
    let parsed = InstallToken::parse(token)?;
    verifier.verify(parsed, body, &request, key, UnixTime::from_secs(NOW))
}

fn verify(token: &str) -> Result<VerifiedInstall, Error> {
    verify_body(token, &body("installed"))
}

fn verify_body(token: &str, body: &str) -> Result<VerifiedInstall, Error> {
    verify_at(&verifier(), token, body, "/installed", &atlassian().key())
}

fn verifier() -> InstallVerifier {
    InstallVerifier::new(BASE).unwrap()
}

fn signed(payload: &str) -> String {
    atlassian().sign(&header(), payload)
}

fn valid_token() -> String {
    signed(&claims().to_string())
}

// ----- 48: the valid install -----

#[test]
fn valid_install_verifies_and_returns_the_payload() {
    // The checklist's qsh of `POST&/installed&`.
    let installed = qsh_of("/installed");
    assert!(installed.starts_with("4a2e1de8") && installed.ends_with("8bf4"));

    let token = valid_token();
    assert_eq!(InstallToken::parse(&token).unwrap().key_id(), KID);
    let install = verify(&token).unwrap();
    assert_eq!(install.client_key(), CLIENT_KEY);
    assert_eq!(install.key_id(), KID);
    assert_eq!(install.claims().aud(), [BASE]);
    let p = install.payload();
    assert_eq!(p.client_key(), CLIENT_KEY);
    assert_eq!(p.shared_secret().unwrap().expose(), SECRET);
    assert_eq!(p.base_url(), "https://tenant.atlassian.net");
    assert_eq!(p.key(), "my-app");
    assert_eq!(p.product_type(), Some("jira"));
    assert_eq!(
        p.description(),
        Some("Atlassian JIRA at https://tenant.atlassian.net")
    );
    assert_eq!(p.display_url(), Some("https://jira.tenant.example"));
    assert_eq!(p.server_version(), Some("100"));
    assert_eq!(p.plugins_version(), Some("1001.0.0"));
    assert_eq!(p.event_type(), "installed");
    assert_eq!(p.raw("serviceEntitlementNumber"), Some("\"SEN-1\""));
    assert_eq!(p.body_json(), body("installed"));
    assert!(!format!("{install:?}").contains(SECRET));
    assert!(!format!("{p:?}").contains(SECRET));
    let secret: SharedSecret = install.into_payload().shared_secret().unwrap().clone();
    assert_eq!(secret.expose(), SECRET);
}

#[test]
fn valid_uninstall_verifies_without_a_secret() {
    let token = signed(&with("qsh", qsh_of("/uninstalled").into()));
    let install = verify_at(
        &verifier(),
        &token,
        &body("uninstalled"),
        "/uninstalled",
        &atlassian().key(),
    )
    .unwrap();
    assert_eq!(install.payload().event_type(), "uninstalled");
    assert!(install.payload().shared_secret().is_none());
}

#[test]
fn base_path_and_custom_lifecycle_paths() {
    let verifier = InstallVerifier::new("https://app.example.com/connect/")
        .unwrap()
        .with_lifecycle_paths(atlassian_connect_jwt::LifecyclePaths {
            installed: "/lifecycle/installed",
            uninstalled: "/lifecycle/uninstalled",
        })
        .unwrap();
    let payload = with("aud", "https://app.example.com/connect".into());
    let mut c: serde_json::Value = serde_json::from_str(&payload).unwrap();
    c["qsh"] = qsh_of("/lifecycle/installed").into();
    let token = signed(&c.to_string());
    let base = BasePath::parse("https://app.example.com/connect").unwrap();
    let request =
        CanonicalRequest::from_target("POST", "/connect/lifecycle/installed", Some(&base)).unwrap();
    let parsed = InstallToken::parse(&token).unwrap();
    let key = atlassian().key();
    let now = UnixTime::from_secs(NOW);
    assert!(verifier
        .verify(parsed, &body("installed"), &request, &key, now)
        .is_ok());

    // The uninstall token of those paths, at the install path.
    c["qsh"] = qsh_of("/lifecycle/uninstalled").into();
    let token = signed(&c.to_string());
    let parsed = InstallToken::parse(&token).unwrap();
    assert_eq!(
        verifier
            .verify(parsed, &body("installed"), &request, &key, now)
            .unwrap_err(),
        Error::WrongLifecycleEvent
    );
}

// ----- 49: aud -----

#[test]
fn audience_must_name_the_app() {
    for aud in [
        serde_json::json!("https://evil.example"),
        serde_json::json!("https://app.example.com.evil.example"),
        serde_json::json!("HTTPS://APP.EXAMPLE.COM"),
        serde_json::json!("https://app.example.com//"),
        serde_json::json!("https://app.example.com/connect"),
        serde_json::json!(""),
        serde_json::json!([]),
        serde_json::json!(["https://evil.example"]),
    ] {
        let token = signed(&with("aud", aud.clone()));
        assert_eq!(
            verify(&token).unwrap_err(),
            Error::AudienceMismatch,
            "aud {aud}"
        );
    }
    assert_eq!(
        verify(&signed(&without("aud"))).unwrap_err(),
        Error::AudienceMismatch
    );
    assert_eq!(
        verify(&signed(&with("aud", 5.into()))).unwrap_err(),
        Error::InvalidClaim(Claim::Aud)
    );
    for aud in [
        serde_json::json!("https://app.example.com/"),
        serde_json::json!(["https://other.example", BASE]),
        serde_json::json!([BASE]),
    ] {
        assert!(
            verify(&signed(&with("aud", aud.clone()))).is_ok(),
            "aud {aud}"
        );
    }
    // A verifier configured with a trailing slash, and a second base URL.
    let verifier = InstallVerifier::new("https://app.example.com/")
        .unwrap()
        .with_base_url("https://staging.example.com")
        .unwrap();
    for aud in [BASE, "https://staging.example.com/"] {
        let token = signed(&with("aud", aud.into()));
        assert!(verify_at(
            &verifier,
            &token,
            &body("installed"),
            "/installed",
            &atlassian().key()
        )
        .is_ok());
    }
    for bad in ["", "app.example.com", "://x", "https://"] {
        assert_eq!(
            InstallVerifier::new(bad).unwrap_err(),
            Error::Config(atlassian_connect_jwt::ConfigError::InvalidBaseUrl)
        );
    }
}

// ----- 50: iss = body.clientKey -----

#[test]
fn issuer_must_be_the_body_client_key() {
    // A valid token for tenant T, with a body naming tenant V.
    let victim = body("installed").replace(CLIENT_KEY, "ck-victim");
    assert_eq!(
        verify_body(&valid_token(), &victim).unwrap_err(),
        Error::IssuerMismatch
    );
    let upper = body("installed").replace(CLIENT_KEY, &CLIENT_KEY.to_uppercase());
    assert_eq!(
        verify_body(&valid_token(), &upper).unwrap_err(),
        Error::IssuerMismatch
    );
    assert_eq!(
        verify(&signed(&without("iss"))).unwrap_err(),
        Error::MissingClaim(Claim::Iss)
    );
}

// ----- 51: no secret without a verified install -----

#[test]
fn a_reinstall_without_a_valid_token_yields_no_payload() {
    // The only way to a LifecyclePayload is a VerifiedInstall; every failure returns none.
    let body = body("installed").replace(SECRET, "attacker-chosen-secret");
    let forged = attacker().sign(&header(), &claims().to_string());
    assert_eq!(
        verify_body(&forged, &body).unwrap_err(),
        Error::InvalidSignature
    );
}

// ----- 52, 53: kid -----

#[test]
fn kid_is_required_and_allow_listed_before_use() {
    let payload = claims().to_string();
    let with_kid = |kid: serde_json::Value| {
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": kid}).to_string();
        atlassian().sign(&header, &payload)
    };
    let no_kid = atlassian().sign(r#"{"alg":"RS256","typ":"JWT"}"#, &payload);
    assert_eq!(
        InstallToken::parse(&no_kid).unwrap_err(),
        Error::MissingKeyId
    );
    assert_eq!(
        InstallToken::parse(&with_kid("".into())).unwrap_err(),
        Error::MissingKeyId
    );
    let long = "a".repeat(4096);
    for kid in HOSTILE_KIDS.iter().copied().chain([
        long.as_str(),
        "a..b",
        "a/b",
        "a b",
        "k\u{0}",
        "ké",
        &"a".repeat(65),
    ]) {
        assert_eq!(
            InstallToken::parse(&with_kid(kid.into())).unwrap_err(),
            Error::InvalidKeyId,
            "kid {kid:?}"
        );
        assert_eq!(validate_kid(kid).unwrap_err(), Error::InvalidKeyId);
    }
    for kid in [
        serde_json::json!(5),
        serde_json::json!(null),
        serde_json::json!(["k"]),
        serde_json::json!({"k": 1}),
    ] {
        assert_eq!(
            InstallToken::parse(&with_kid(kid)).unwrap_err(),
            Error::InvalidKeyId
        );
    }
    // Escapes are undone before the check.
    let escaped = atlassian().sign(r#"{"alg":"RS256","kid":"..\/x"}"#, &payload);
    assert_eq!(
        InstallToken::parse(&escaped).unwrap_err(),
        Error::InvalidKeyId
    );
    let escaped_ok = atlassian().sign(r#"{"alg":"RS256","kid":"\u006b-1"}"#, &payload);
    assert_eq!(InstallToken::parse(&escaped_ok).unwrap().key_id(), "k-1");
    // A repeated kid is a duplicate member, whatever the values.
    let twice = atlassian().sign(r#"{"alg":"RS256","kid":"a","kid":"b"}"#, &payload);
    assert_eq!(
        InstallToken::parse(&twice).unwrap_err(),
        Error::DuplicateMember(atlassian_connect_jwt::TokenPart::Header)
    );
    for ok in ["a", "A.b_c-9", &"k".repeat(64), KID] {
        assert_eq!(validate_kid(ok), Ok(ok));
        assert_eq!(
            InstallToken::parse(&with_kid(ok.into())).unwrap().key_id(),
            ok
        );
    }
}

// ----- 54 (given a key): non-RSA, short, garbage keys -----

#[test]
fn only_rsa_spki_keys_of_2048_bits_or_more() {
    let invalid = |pem: &str| match InstallKey::from_pem(pem) {
        Err(Error::InvalidPublicKey { .. }) => {}
        other => panic!("{pem:?}: {other:?}"),
    };
    invalid(EC_P256);
    invalid("");
    invalid("garbage");
    invalid("<html>404 Not Found</html>");
    invalid("-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n");
    invalid("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n");
    let pem = &atlassian().pem;
    invalid(&pem.replace("PUBLIC KEY", "RSA PUBLIC KEY"));
    invalid(&pem.replace("-----END PUBLIC KEY-----\n", ""));
    invalid(&format!("{pem}trailing"));
    invalid(&format!("{pem}{pem}"));
    invalid(&format!("x{pem}"));
    invalid(&pem.replacen('\n', "\n\n", 2));

    // The DER with a byte appended (re-armored): trailing data.
    let der_b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let mut der = base64::engine::general_purpose::STANDARD
        .decode(der_b64)
        .unwrap();
    assert!(InstallKey::from_spki_der(&der).is_ok());
    der.push(0);
    assert!(matches!(
        InstallKey::from_spki_der(&der),
        Err(Error::InvalidPublicKey { .. })
    ));

    let weak = Pair::generate(1024);
    assert_eq!(
        InstallKey::from_pem(&weak.pem).unwrap_err(),
        Error::WeakPublicKey {
            bits: 1024,
            min: 2048
        }
    );
    // Surrounding whitespace and CRLF are fine.
    let crlf = format!("\n  {}  \n", pem.replace('\n', "\r\n"));
    let key = InstallKey::from_pem(&crlf).unwrap();
    assert_eq!(key.bits(), 2048);
    assert!(verify_at(
        &verifier(),
        &valid_token(),
        &body("installed"),
        "/installed",
        &key
    )
    .is_ok());
    assert_eq!(format!("{key:?}"), "InstallKey { bits: 2048, .. }");
}

// ----- 55: signatures -----

#[test]
fn wrong_key_and_wrong_length_signatures_are_refused() {
    let wrong = verify_at(
        &verifier(),
        &valid_token(),
        &body("installed"),
        "/installed",
        &attacker().key(),
    );
    assert_eq!(wrong.unwrap_err(), Error::InvalidSignature);

    let token = valid_token();
    let (input, sig) = token.rsplit_once('.').unwrap();
    let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
    let mut longer = vec![0u8];
    longer.extend_from_slice(&sig);
    let shorter = &sig[1..];
    let mut flipped = sig.clone();
    flipped[100] ^= 1;
    for bad in [&longer[..], shorter, &flipped, &[], &sig[..255]] {
        let forged = format!("{input}.{}", b64(bad));
        let err = verify(&forged).unwrap_err();
        assert!(
            matches!(err, Error::InvalidSignature | Error::MalformedToken),
            "{} bytes: {err:?}",
            bad.len()
        );
    }
    // Any changed byte of the signing input.
    let altered = signed(&with("iss", "ck-tenant-2".into()));
    let (_, good_sig) = altered.rsplit_once('.').unwrap();
    let spliced = format!("{input}.{good_sig}");
    assert_eq!(verify(&spliced).unwrap_err(), Error::InvalidSignature);
    // Non-canonical base64 of the right length.
    let mut chars: Vec<char> = token.chars().collect();
    let last = chars.len() - 1;
    chars[last] = if chars[last] == 'A' { 'B' } else { 'A' };
    let err = verify(&chars.into_iter().collect::<String>()).unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidSignature | Error::InvalidBase64(_)
    ));
}

// ----- 56 and 7, 22: which request the token is for -----

#[test]
fn tokens_for_other_requests_are_refused_with_their_kind() {
    let uninstall = signed(&with("qsh", qsh_of("/uninstalled").into()));
    assert_eq!(verify(&uninstall).unwrap_err(), Error::WrongLifecycleEvent);
    // ...and the install token at /uninstalled.
    assert_eq!(
        verify_at(
            &verifier(),
            &valid_token(),
            &body("uninstalled"),
            "/uninstalled",
            &atlassian().key()
        )
        .unwrap_err(),
        Error::WrongLifecycleEvent
    );
    // A body whose eventType is the other callback's.
    assert_eq!(
        verify_body(
            &valid_token(),
            &body("installed").replace("\"installed\"", "\"uninstalled\"")
        )
        .unwrap_err(),
        Error::WrongLifecycleEvent
    );
    assert_eq!(
        verify(&signed(&with("qsh", "context-qsh".into()))).unwrap_err(),
        Error::ContextTokenNotAllowed
    );
    let other = signed(&with("qsh", qsh_of("/rest/other").into()));
    assert!(matches!(verify(&other).unwrap_err(), Error::QshMismatch(_)));
    let get = signed(&with(
        "qsh",
        Qsh::of_canonical("GET&/installed&").to_string().into(),
    ));
    assert!(matches!(verify(&get).unwrap_err(), Error::QshMismatch(_)));
    assert_eq!(
        verify(&signed(&without("qsh"))).unwrap_err(),
        Error::MissingClaim(Claim::Qsh)
    );

    // Item 7: a valid RS256 install token on an HS256 route.
    let token = valid_token();
    let request = CanonicalRequest::from_target("POST", "/installed", None).unwrap();
    let store = |_: &str| Some(SharedSecret::new(SECRET));
    let now = UnixTime::from_secs(NOW);
    for policy in [QshPolicy::Request(&request), QshPolicy::Context] {
        assert_eq!(
            Verifier::new()
                .verify(&token, policy, &store, now)
                .unwrap_err(),
            Error::UnsupportedAlgorithm { expected: "HS256" }
        );
    }
}

// ----- 5, 6: HS256 on a lifecycle route -----

#[test]
fn hs256_tokens_are_refused_with_their_own_kind() {
    let payload = claims().to_string();
    let pem = atlassian().pem.as_bytes();
    let der_b64: String = atlassian()
        .pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(der_b64)
        .unwrap();
    let header = format!(r#"{{"alg":"HS256","typ":"JWT","kid":"{KID}"}}"#);
    for key in [SECRET.as_bytes(), pem, &pem[..pem.len() - 1], &der] {
        let token = hs256(key, &header, &payload);
        assert_eq!(
            InstallToken::parse(&token).unwrap_err(),
            Error::SymmetricTokenOnLifecycleRoute
        );
        assert_eq!(
            Error::SymmetricTokenOnLifecycleRoute.code(),
            "symmetric-token-on-lifecycle-route"
        );
    }
    // Without a kid, too: the algorithm is checked first.
    let token = hs256(SECRET.as_bytes(), r#"{"alg":"HS256"}"#, &payload);
    assert_eq!(
        InstallToken::parse(&token).unwrap_err(),
        Error::SymmetricTokenOnLifecycleRoute
    );
    for alg in ["none", "rs256", "RS512", "PS256", "ES256", "RS256 "] {
        let header = format!(r#"{{"alg":"{alg}","kid":"{KID}"}}"#);
        assert_eq!(
            InstallToken::parse(&atlassian().sign(&header, &payload)).unwrap_err(),
            Error::UnsupportedAlgorithm { expected: "RS256" },
            "alg {alg}"
        );
    }
    let none = format!("{}.{}.", b64(br#"{"alg":"none"}"#), b64(payload.as_bytes()));
    assert_eq!(
        InstallToken::parse(&none).unwrap_err(),
        Error::MalformedToken
    );
    let crit = format!(r#"{{"alg":"RS256","kid":"{KID}","crit":["exp"]}}"#);
    assert_eq!(
        InstallToken::parse(&atlassian().sign(&crit, &payload)).unwrap_err(),
        Error::CriticalHeader
    );
    let typ = format!(r#"{{"alg":"RS256","kid":"{KID}","typ":"JWE"}}"#);
    assert_eq!(
        InstallToken::parse(&atlassian().sign(&typ, &payload)).unwrap_err(),
        Error::UnsupportedTokenType
    );
}

// ----- 18: keys offered by the token are never used -----

#[test]
fn embedded_keys_and_key_urls_are_ignored() {
    let payload = claims().to_string();
    for extra in [
        r#""jwk":{"kty":"RSA","n":"AQAB","e":"AQAB"}"#,
        r#""jku":"http://127.0.0.1:1/""#,
        r#""x5u":"http://127.0.0.1:1/""#,
        r#""x5c":["MIIB"]"#,
    ] {
        let header = format!(r#"{{"alg":"RS256","kid":"{KID}",{extra}}}"#);
        let forged = attacker().sign(&header, &payload);
        assert_eq!(
            verify(&forged).unwrap_err(),
            Error::InvalidSignature,
            "{extra}"
        );
    }
}

// ----- time -----

#[test]
fn time_rules_are_the_verifiers() {
    let expired = signed(&with("exp", (NOW - 31).into()));
    assert_eq!(
        verify(&expired).unwrap_err(),
        Error::Expired {
            exp: NOW - 31,
            now: NOW
        }
    );
    let mut c = claims();
    c["iat"] = (NOW - 200).into();
    c["exp"] = (NOW - 29).into();
    let leeway = signed(&c.to_string());
    assert!(verify(&leeway).is_ok());
    let future = signed(&with("iat", (NOW + 31).into()));
    assert_eq!(
        verify(&future).unwrap_err(),
        Error::IssuedInFuture {
            iat: NOW + 31,
            now: NOW
        }
    );
    assert_eq!(
        verify(&signed(&without("exp"))).unwrap_err(),
        Error::MissingClaim(Claim::Exp)
    );
    assert_eq!(
        verify(&signed(&with("exp", "1700000170".into()))).unwrap_err(),
        Error::InvalidClaim(Claim::Exp)
    );
    let strict = verifier().with_time_rules(
        Verifier::new()
            .with_leeway(0)
            .unwrap()
            .with_max_lifetime(60),
    );
    let err = verify_at(
        &strict,
        &valid_token(),
        &body("installed"),
        "/installed",
        &atlassian().key(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        Error::LifetimeTooLong {
            lifetime: 180,
            max: 60
        }
    );
}

// ----- the body -----

#[test]
fn the_body_is_read_strictly() {
    let token = valid_token();
    let defect = |body: &str| match verify_body(&token, body) {
        Err(Error::InvalidLifecyclePayload(d)) => d,
        other => panic!("{body}: {other:?}"),
    };
    let good = body("installed");
    assert_eq!(defect(""), PayloadDefect::NotJson);
    assert_eq!(defect("[]"), PayloadDefect::NotJson);
    assert_eq!(defect(&format!("{good} x")), PayloadDefect::NotJson);
    assert_eq!(
        defect(&good.replacen('{', &format!(r#"{{"clientKey":"{CLIENT_KEY}","#), 1)),
        PayloadDefect::DuplicateMember
    );
    assert_eq!(
        defect(&good.replace(r#""productType":"jira""#, r#""productType":["jira"]"#)),
        PayloadDefect::InvalidField("productType")
    );
    assert_eq!(
        defect(&good.replace(&format!(r#""{SECRET}""#), "42")),
        PayloadDefect::InvalidField("sharedSecret")
    );
    let mut no_secret: serde_json::Value = serde_json::from_str(&good).unwrap();
    no_secret.as_object_mut().unwrap().remove("sharedSecret");
    assert_eq!(
        defect(&no_secret.to_string()),
        PayloadDefect::MissingField("sharedSecret")
    );
    assert_eq!(
        defect(&good.replace(r#""key":"my-app","#, "")),
        PayloadDefect::MissingField("key")
    );
    assert_eq!(defect(&" ".repeat(64 * 1024 + 1)), PayloadDefect::TooLarge);
    assert_eq!(
        Error::InvalidLifecyclePayload(PayloadDefect::MissingField("key")).to_string(),
        "invalid lifecycle payload: missing key"
    );
}

#[test]
fn error_codes_and_messages() {
    for (error, code) in [
        (Error::MissingKeyId, "missing-key-id"),
        (Error::InvalidKeyId, "invalid-key-id"),
        (
            Error::InvalidPublicKey { reason: "x" },
            "invalid-public-key",
        ),
        (
            Error::WeakPublicKey {
                bits: 1024,
                min: 2048,
            },
            "weak-public-key",
        ),
        (Error::IssuerMismatch, "issuer-mismatch"),
        (Error::AudienceMismatch, "audience-mismatch"),
        (Error::WrongLifecycleEvent, "wrong-lifecycle-event"),
        (
            Error::InvalidLifecyclePayload(PayloadDefect::NotJson),
            "invalid-lifecycle-payload",
        ),
    ] {
        assert_eq!(error.code(), code);
        let message = error.to_string();
        assert!(
            message.starts_with(|c: char| c.is_ascii_lowercase()),
            "{message}"
        );
    }
}

// ----- 5: no panics, never accepted -----

fn token_bytes() -> &'static str {
    static TOKEN: OnceLock<String> = OnceLock::new();
    TOKEN.get_or_init(valid_token)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_tokens_and_bodies_never_verify(token in ".{0,600}", body in ".{0,300}") {
        let key = atlassian().key();
        let result = verify_at(&verifier(), &token, &body, "/installed", &key);
        prop_assert!(result.is_err());
        let result = verify_at(&verifier(), token_bytes(), &body, "/installed", &key);
        prop_assert!(result.is_err());
    }

    #[test]
    fn any_changed_byte_of_a_valid_token_is_refused(at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut token = token_bytes().as_bytes().to_vec();
        let i = at.index(token.len());
        prop_assume!(token[i] != byte);
        token[i] = byte;
        let Ok(token) = String::from_utf8(token) else { return Ok(()) };
        let key = atlassian().key();
        let result = verify_at(&verifier(), &token, &body("installed"), "/installed", &key);
        prop_assert!(result.is_err(), "accepted with byte {} changed", i);
    }

    #[test]
    fn json_shaped_bodies_never_panic(
        members in prop::collection::vec(
            (
                prop::sample::select(vec!["clientKey", "sharedSecret", "baseUrl", "key", "eventType", "productType", "x"]),
                prop::sample::select(vec!["\"ck-tenant-1\"", "\"installed\"", "null", "1", "[]", "{}", "\"\"", "\"\\ud800\""]),
            ),
            0..10,
        )
    ) {
        let body = format!(
            "{{{}}}",
            members.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect::<Vec<_>>().join(",")
        );
        let key = atlassian().key();
        let result = verify_at(&verifier(), token_bytes(), &body, "/installed", &key);
        if let Ok(install) = result {
            prop_assert_eq!(install.payload().client_key(), CLIENT_KEY);
            prop_assert!(install.payload().shared_secret().is_some_and(|s| !s.is_empty()));
        }
    }
}
