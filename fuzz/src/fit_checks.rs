//! Checks of the `verify_fit` fuzz target, shared with `tests/forge_fuzz_corpus.rs` (which
//! replays `corpus/verify_fit/` under `cargo test --features forge`).
//!
//! The oracle: nothing verifies that Forge's key did not sign, a signed payload is accepted
//! only when an independent reading of it (serde_json's `Value`) agrees with every rule and
//! every field the verifier reports, and a key set verifies the token only when it holds
//! Forge's key under the token's `kid`. A 2048-bit key pair is generated once per process
//! and one valid token signed with it. The input is a selector byte, then:
//!
//! * `t`: a token, verified with the fixture's key set: refused unless it is the valid token;
//! * `m`: pairs (position, byte) written into the valid token: refused unless nothing changed;
//! * `c`: a payload (any bytes), signed with Forge's key under the fixture's header: accepted
//!   only if the oracle agrees;
//! * `k`: a key set (`$N` stands for the base64url modulus of Forge's key), used to verify
//!   the valid token: accepted only if the set has exactly one key with the token's `kid`,
//!   and it is Forge's.
//!
//! Each includer uses `#[path = "..."] mod fit_checks;`, so this file may use only std, the
//! library (feature `forge`) and crates both the fuzz crate and the library's tests depend
//! on: `rsa`, `base64`, `serde_json`.

use std::sync::OnceLock;

use atlassian_connect_jwt::{Error, ForgeVerifier, JwkSet, UnixTime, VerifiedInvocation};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use serde_json::Value;

const NOW: u64 = 1_700_000_000;
const LEEWAY: u64 = 30;
const MAX_LIFETIME: u64 = 300;
const APP_ID: &str = "ari:cloud:ecosystem::app/8db33809-1f32-48bb-8c52-5877dab48107";
const KID: &str = "forge/invocation-token/wf-1";
const HEADER: &str = r#"{"alg":"RS256","kid":"forge/invocation-token/wf-1","typ":"JWT"}"#;

/// What one input did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FitOutcome {
    /// The token verified (and the oracle agreed).
    Accepted,
    /// The token, payload or key set was refused with this error.
    Refused(Error),
    /// Not an input of any mode (no selector, unknown selector, not UTF-8).
    Skipped,
}

struct Fixture {
    signing_key: rsa::pkcs1v15::SigningKey<rsa::sha2::Sha256>,
    n: String,
    e: String,
    jwks: JwkSet,
    token: String,
    verifier: ForgeVerifier,
}

/// The claims of the fixture's valid token.
pub(crate) const CLAIMS: &str = r#"{"app":{"id":"ari:cloud:ecosystem::app/8db33809-1f32-48bb-8c52-5877dab48107","installationId":"ari:cloud:ecosystem::installation/1","apiBaseUrl":"https://api.atlassian.com/ex/jira/1","environment":{"type":"PRODUCTION","id":"e"},"module":{"type":"core:endpoint","key":"k"}},"principal":"p","aud":"ari:cloud:ecosystem::app/8db33809-1f32-48bb-8c52-5877dab48107","iss":"forge/invocation-token","iat":1699999995,"nbf":1699999995,"exp":1700000020}"#;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
        let public = private.to_public_key();
        let (n, e) = (
            b64(&public.n().to_bytes_be()),
            b64(&public.e().to_bytes_be()),
        );
        let jwks = format!(r#"{{"keys":[{{"kty":"RSA","kid":"{KID}","n":"{n}","e":"{e}"}}]}}"#);
        let signing_key = rsa::pkcs1v15::SigningKey::new(private);
        let mut fixture = Fixture {
            signing_key,
            n,
            e,
            jwks: JwkSet::from_json(&jwks).unwrap(),
            token: String::new(),
            verifier: ForgeVerifier::new(APP_ID).unwrap(),
        };
        fixture.token = sign(&fixture, CLAIMS.as_bytes());
        assert!(verify(&fixture, &fixture.token, &fixture.jwks).is_ok());
        fixture
    })
}

fn sign(fixture: &Fixture, payload: &[u8]) -> String {
    let input = format!("{}.{}", b64(HEADER.as_bytes()), b64(payload));
    let signature = fixture.signing_key.sign(input.as_bytes()).to_vec();
    format!("{input}.{}", b64(&signature))
}

fn verify(fixture: &Fixture, token: &str, keys: &JwkSet) -> Result<VerifiedInvocation, Error> {
    fixture
        .verifier
        .verify(token, keys, UnixTime::from_secs(NOW))
}

/// Runs one input through its mode and asserts the oracle; panics on a violation.
pub(crate) fn check_fit(data: &[u8]) -> FitOutcome {
    let fixture = fixture();
    let Some((&selector, rest)) = data.split_first() else {
        return FitOutcome::Skipped;
    };
    match selector {
        b't' => match std::str::from_utf8(rest) {
            Ok(token) => outcome(verify(fixture, token, &fixture.jwks), |_| {
                assert_eq!(token, fixture.token, "accepted a token Forge never signed");
            }),
            Err(_) => FitOutcome::Skipped,
        },
        b'm' => {
            let mut token = fixture.token.clone().into_bytes();
            for pair in rest.chunks_exact(2) {
                let at = usize::from(pair[0]) * token.len() / 256;
                token[at] = pair[1];
            }
            match String::from_utf8(token) {
                Ok(token) => outcome(verify(fixture, &token, &fixture.jwks), |_| {
                    assert_eq!(token, fixture.token, "accepted a changed token");
                }),
                Err(_) => FitOutcome::Skipped,
            }
        }
        b'c' => {
            let token = sign(fixture, rest);
            outcome(verify(fixture, &token, &fixture.jwks), |verified| {
                agrees(rest, verified);
            })
        }
        b'k' => match std::str::from_utf8(rest) {
            Ok(text) => {
                let text = text.replace("$N", &fixture.n);
                let keys = match JwkSet::from_json(&text) {
                    Ok(keys) => keys,
                    Err(error) => return FitOutcome::Refused(error),
                };
                outcome(verify(fixture, &fixture.token, &keys), |_| {
                    holds_forges_key(fixture, &text);
                })
            }
            Err(_) => FitOutcome::Skipped,
        },
        _ => FitOutcome::Skipped,
    }
}

fn outcome(
    result: Result<VerifiedInvocation, Error>,
    oracle: impl FnOnce(&VerifiedInvocation),
) -> FitOutcome {
    match result {
        Ok(verified) => {
            oracle(&verified);
            FitOutcome::Accepted
        }
        Err(error) => FitOutcome::Refused(error),
    }
}

/// An accepted payload, read again by serde_json: every rule holds, every field agrees.
fn agrees(payload: &[u8], verified: &VerifiedInvocation) {
    let claims: Value =
        serde_json::from_slice(payload).expect("accepted a payload that is not JSON");
    let claims = claims
        .as_object()
        .expect("accepted a payload that is not an object");
    assert_eq!(
        claims["iss"], "forge/invocation-token",
        "accepted another issuer"
    );
    let aud_ok = match &claims["aud"] {
        Value::String(aud) => aud == APP_ID,
        Value::Array(auds) => auds.iter().any(|aud| aud == APP_ID),
        _ => false,
    };
    assert!(aud_ok, "accepted another audience");
    let date = |name: &str| {
        claims
            .get(name)
            .map(|v| v.as_f64().expect("a date that is not a number").floor())
    };
    let (iat, exp) = (date("iat").expect("no iat"), date("exp").expect("no exp"));
    let now = NOW as f64;
    let leeway = LEEWAY as f64;
    assert!(now < exp + leeway, "accepted an expired token");
    assert!(iat <= now + leeway, "accepted a token issued in the future");
    assert!(iat < exp, "accepted a token valid at no time");
    assert!(
        exp - iat <= MAX_LIFETIME as f64,
        "accepted a token that lives too long"
    );
    if let Some(nbf) = date("nbf") {
        assert!(
            nbf <= now + leeway && nbf < exp,
            "accepted a token not yet valid"
        );
    }
    let app = &claims["app"];
    assert_eq!(app["installationId"], verified.installation_id());
    assert_eq!(app["module"]["key"], verified.module_key());
    assert_eq!(app["environment"]["type"], verified.environment_type());
    assert_eq!(
        claims
            .get("principal")
            .map(|p| p.as_str().expect("a principal that is not a string")),
        verified.principal()
    );
    assert_eq!(verified.app_id(), APP_ID);
}

/// A key set that verified the token has one key with the token's `kid`: Forge's.
fn holds_forges_key(fixture: &Fixture, text: &str) {
    let set: Value = serde_json::from_str(text).expect("accepted a key set that is not JSON");
    let named: Vec<&Value> = set["keys"]
        .as_array()
        .expect("accepted a key set without keys")
        .iter()
        .filter(|key| key["kid"] == KID)
        .collect();
    assert_eq!(
        named.len(),
        1,
        "accepted with {} keys of the kid",
        named.len()
    );
    assert_eq!(named[0]["kty"], "RSA");
    assert_eq!(
        named[0]["n"],
        fixture.n.as_str(),
        "accepted another modulus"
    );
    assert_eq!(
        named[0]["e"],
        fixture.e.as_str(),
        "accepted another exponent"
    );
}
