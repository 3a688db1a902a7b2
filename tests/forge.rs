//! Forge remote (feature `forge`): Forge Invocation Tokens verified against a JSON Web Key
//! Set, every attack and bad input with its exact error.
//!
//! RSA key pairs are generated when the tests run and tokens are signed here with the `rsa`
//! dev-dependency, so every header and payload byte is under the test's control. The
//! submodules in `tests/forge/` cover the key cache (with an in-process source), the HTTP key
//! set fetcher against a real server on 127.0.0.1 that counts its requests (feature
//! `forge-http`), and the link to Connect tenants.
#![cfg(feature = "forge")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;

use atlassian_connect_jwt::{
    invocation_token_from_authorization, Claim, ConfigError, Error, ForgeVerifier, JwkSet,
    TokenPart, UnixTime, VerifiedInvocation, FIT_MAX_LIFETIME,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};

/// RSA key pairs, JWKs and RS256 signing, shared with `tests/axum_forge.rs`.
#[path = "forge/fixtures.rs"]
mod fixtures;
/// The key-set server on 127.0.0.1, shared with `tests/axum_forge.rs`.
#[cfg(feature = "forge-http")]
#[path = "forge/server.rs"]
mod server;

pub(crate) use fixtures::{b64, jwks, Pair};

/// The key cache, with an in-process source that counts how often it is asked.
#[path = "forge/cache.rs"]
mod cache;
/// The whole path against a real JWKS server on 127.0.0.1.
#[cfg(feature = "forge-http")]
#[path = "forge/jwks_server.rs"]
mod jwks_server;
/// The link from a verified invocation to the Connect tenant of its installation.
#[path = "forge/tenant_link.rs"]
mod tenant_link;

const NOW: u64 = 1_700_000_000;
const APP_ID: &str = "ari:cloud:ecosystem::app/8db33809-1f32-48bb-8c52-5877dab48107";
const OTHER_APP_ID: &str = "ari:cloud:ecosystem::app/11111111-2222-3333-4444-555555555555";
const INSTALLATION: &str = "ari:cloud:ecosystem::installation/0a3a7799-53ae-4a5b-9e7e-03338980abb5";
const KID: &str = "forge/invocation-token/wf-5d1f9a0e-7c1b-4f7e-9a55-0c2b3f7d8e11";
const ROTATED_KID: &str = "forge/invocation-token/wf-9e8d7c6b-5a49-4837-a261-504f3e2d1c0b";
const PRINCIPAL: &str = "655362:312d3308-8954-42b0-aa38-771a10c88656";

/// A P-256 public key as a JWK: well-formed, not RSA.
fn ec_jwk(kid: &str) -> Value {
    json!({
        "kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
        "x": "_RDn7Uwjn9HHlAtTaTezj7qOm8tkOu7gWAZMJJKtD6M",
        "y": "iacawDzZk8vqNeSY6fQaVbeTERgRuWn_ydhS6AEL_pw",
    })
}

/// Forge's signing key.
pub(crate) fn forge() -> &'static Pair {
    static PAIR: OnceLock<Pair> = OnceLock::new();
    PAIR.get_or_init(|| Pair::generate(2048, KID))
}

/// The key Forge rotates to.
pub(crate) fn rotated() -> &'static Pair {
    static PAIR: OnceLock<Pair> = OnceLock::new();
    PAIR.get_or_init(|| Pair::generate(2048, ROTATED_KID))
}

/// Someone else's key, claiming Forge's `kid`.
pub(crate) fn attacker() -> &'static Pair {
    static PAIR: OnceLock<Pair> = OnceLock::new();
    PAIR.get_or_init(|| Pair::generate(2048, KID))
}

fn signing_input(header: &Value, payload: &Value) -> String {
    format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(payload.to_string().as_bytes())
    )
}

pub(crate) fn header(kid: &str) -> Value {
    json!({"alg": "RS256", "kid": kid, "typ": "JWT"})
}

/// The claims of a UI invocation, as Forge sends them (the documentation's example, at
/// `NOW`), with members the crate does not type.
pub(crate) fn claims() -> Value {
    json!({
        "app": {
            "id": APP_ID,
            "version": "16",
            "appVersion": "16.0.1",
            "installationId": INSTALLATION,
            "apiBaseUrl": "https://api.atlassian.com/ex/confluence/d0d52620-3203-4cfa-8db5-f2587155f0dd",
            "environment": {"type": "PRODUCTION", "id": "ari:cloud:ecosystem::environment/8db33809/aa911f10"},
            "module": {"type": "xen:macro", "key": "forge-remote-app-boot"},
            "installation": {
                "id": INSTALLATION,
                "contexts": [{"name": "confluence", "apiBaseUrl": "https://api.atlassian.com/ex/confluence/d0d5", "cloudId": "d0d52620"}]
            },
            "license": {"active": true, "isActive": true, "billingPeriod": "MONTHLY", "supportEntitlementNumber": null},
        },
        "context": {
            "localId": "4654fa12", "cloudId": "d0d52620", "moduleKey": "forge-remote-app-boot",
            "siteUrl": "https://tenant.atlassian.net",
            "extension": {"type": "macro", "content": {"id": "5341185"}, "isEditing": false, "references": []}
        },
        "principal": PRINCIPAL,
        "aud": APP_ID,
        "iss": "forge/invocation-token",
        "iat": NOW - 5,
        "nbf": NOW - 5,
        "exp": NOW + 20,
        "jti": "d8a496253ec8c18a54631e4c82cbedd5d0ae8570",
        "newMember": {"nested": [1, {"deep": true}]},
    })
}

pub(crate) fn with(path: &[&str], value: Value) -> Value {
    edit(claims(), path, Some(value))
}

pub(crate) fn without(path: &[&str]) -> Value {
    edit(claims(), path, None)
}

fn edit(mut doc: Value, path: &[&str], value: Option<Value>) -> Value {
    let (last, parents) = path.split_last().unwrap();
    let mut node = &mut doc;
    for step in parents {
        node = &mut node[*step];
    }
    let object = node.as_object_mut().unwrap();
    match value {
        Some(value) => object.insert((*last).to_owned(), value),
        None => object.remove(*last),
    };
    doc
}

/// A valid token signed by Forge's key.
pub(crate) fn token() -> String {
    forge().sign(&header(KID), &claims())
}

pub(crate) fn signed(payload: &Value) -> String {
    forge().sign(&header(KID), payload)
}

pub(crate) fn verifier() -> ForgeVerifier {
    ForgeVerifier::new(APP_ID).unwrap()
}

pub(crate) fn forge_set() -> JwkSet {
    JwkSet::from_json(&jwks(&[forge().jwk()])).unwrap()
}

fn verify(token: &str) -> Result<VerifiedInvocation, Error> {
    verifier().verify(token, &forge_set(), UnixTime::from_secs(NOW))
}

fn verify_at(token: &str, now: u64) -> Result<VerifiedInvocation, Error> {
    verifier().verify(token, &forge_set(), UnixTime::from_secs(now))
}

// ----- a valid token -----

#[test]
fn a_valid_token_verifies_and_reads() {
    let verified = verify(&token()).unwrap();
    assert_eq!(verified.app_id(), APP_ID);
    assert_eq!(verified.installation_id(), INSTALLATION);
    assert_eq!(verified.principal(), Some(PRINCIPAL));
    assert_eq!(verified.module_key(), "forge-remote-app-boot");
    assert_eq!(verified.environment_type(), "PRODUCTION");
    assert_eq!(verified.key_id().as_str(), KID);
    let claims = verified.claims();
    assert_eq!(
        claims.jti(),
        Some("d8a496253ec8c18a54631e4c82cbedd5d0ae8570")
    );
    assert_eq!(claims.app().license().unwrap().is_active(), Some(true));
    assert_eq!(
        claims.context().unwrap().site_url(),
        Some("https://tenant.atlassian.net")
    );
    assert_eq!(
        claims.raw("newMember"),
        Some(r#"{"nested":[1,{"deep":true}]}"#)
    );
    // Scheduled triggers and back-end invocations carry no principal and no context.
    let backend = without(&["principal"]);
    let backend = edit(backend, &["context"], None);
    let verified = verify(&signed(&backend)).unwrap();
    assert_eq!(verified.principal(), None);
    assert_eq!(verified.claims().context(), None);
}

#[test]
fn the_bearer_header_gives_the_token() {
    let token = token();
    let header = format!("Bearer {token}");
    assert_eq!(
        invocation_token_from_authorization(&header),
        Ok(token.as_str())
    );
    let connect = format!("JWT {token}");
    assert_eq!(
        invocation_token_from_authorization(&connect),
        Err(Error::InvalidBearerHeader)
    );
}

// ----- audience and issuer -----

#[test]
fn another_apps_token_is_refused() {
    for aud in [
        json!(OTHER_APP_ID),
        json!([OTHER_APP_ID]),
        json!([]),
        json!(APP_ID.to_uppercase()),
    ] {
        assert_eq!(
            verify(&signed(&with(&["aud"], aud.clone()))).unwrap_err(),
            Error::AppIdMismatch,
            "{aud}"
        );
    }
    // An array naming the app is accepted, wherever the app is in it.
    let verified = verify(&signed(&with(&["aud"], json!([OTHER_APP_ID, APP_ID])))).unwrap();
    assert_eq!(verified.app_id(), APP_ID);
    // The same token for a verifier of the other app.
    let other = ForgeVerifier::new(OTHER_APP_ID).unwrap();
    assert_eq!(
        other
            .verify(&token(), &forge_set(), UnixTime::from_secs(NOW))
            .unwrap_err(),
        Error::AppIdMismatch
    );
    assert_eq!(
        verify(&signed(&without(&["aud"]))).unwrap_err(),
        Error::MissingClaim(Claim::Aud)
    );
}

#[test]
fn another_issuer_is_refused() {
    for iss in [
        "forge/invocation-token ",
        "Forge/invocation-token",
        "jira:tenant-1",
        "",
    ] {
        assert_eq!(
            verify(&signed(&with(&["iss"], json!(iss)))).unwrap_err(),
            Error::ForgeIssuerMismatch,
            "{iss:?}"
        );
    }
    assert_eq!(
        verify(&signed(&without(&["iss"]))).unwrap_err(),
        Error::MissingClaim(Claim::Iss)
    );
}

// ----- algorithms -----

fn hs256(key: &[u8], header: &Value, payload: &Value) -> String {
    let input = signing_input(header, payload);
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(&mac.finalize().into_bytes()))
}

#[test]
fn only_rs256_is_accepted() {
    let rs256_only = Error::UnsupportedAlgorithm { expected: "RS256" };
    let with_alg = |alg: &str| json!({"alg": alg, "kid": KID, "typ": "JWT"});
    let input = |alg: &str| signing_input(&with_alg(alg), &claims());
    // `none`, with an empty and with a made-up signature.
    for signature in ["", "c2ln"] {
        let unsigned = format!("{}.{signature}", input("none"));
        let expected = if signature.is_empty() {
            Error::MalformedToken
        } else {
            rs256_only.clone()
        };
        assert_eq!(verify(&unsigned).unwrap_err(), expected);
    }
    // HS256 keyed with what an attacker can read: the public key as PEM, as DER modulus, and
    // the key set itself (the classic RS256/HS256 confusion).
    let public = forge().private.to_public_key();
    for key in [
        forge().pem().into_bytes(),
        public.n().to_bytes_be(),
        jwks(&[forge().jwk()]).into_bytes(),
    ] {
        assert_eq!(
            verify(&hs256(&key, &with_alg("HS256"), &claims())).unwrap_err(),
            rs256_only
        );
    }
    // RS512 and PS256, each a valid signature by Forge's own key.
    let rs512 = {
        let key = rsa::pkcs1v15::SigningKey::<rsa::sha2::Sha512>::new(forge().private.clone());
        let input = input("RS512");
        format!("{input}.{}", b64(&key.sign(input.as_bytes()).to_vec()))
    };
    let ps256 = {
        let key = rsa::pss::SigningKey::<rsa::sha2::Sha256>::new(forge().private.clone());
        let input = input("PS256");
        let signature = key.sign_with_rng(&mut rsa::rand_core::OsRng, input.as_bytes());
        format!("{input}.{}", b64(&signature.to_vec()))
    };
    for token in [rs512, ps256] {
        assert_eq!(verify(&token).unwrap_err(), rs256_only);
    }
    // An RS256 signature under another spelling of the algorithm.
    for alg in ["rs256", "RS256 ", "ES256", "EdDSA"] {
        assert_eq!(
            verify(&forge().sign(&with_alg(alg), &claims())).unwrap_err(),
            rs256_only,
            "{alg}"
        );
    }
    // An `alg` that is not a string, or none at all.
    for header in [
        json!({"kid": KID}),
        json!({"alg": null, "kid": KID}),
        json!({"alg": ["RS256"], "kid": KID}),
    ] {
        assert_eq!(
            verify(&forge().sign(&header, &claims())).unwrap_err(),
            Error::MissingAlgorithm
        );
    }
    // The unescaped name is what counts.
    let escaped = forge().sign_raw(
        &format!(r#"{{"alg":"\u0052S256","kid":"{KID}"}}"#),
        &claims().to_string(),
    );
    assert!(verify(&escaped).is_ok());
    let escaped_none = forge().sign_raw(
        &format!(r#"{{"alg":"\u006eone","kid":"{KID}"}}"#),
        &claims().to_string(),
    );
    assert_eq!(verify(&escaped_none).unwrap_err(), rs256_only);
}

#[test]
fn header_rules() {
    let sign = |header: Value| forge().sign(&header, &claims());
    assert_eq!(
        verify(&sign(json!({"alg": "RS256", "kid": KID, "typ": "JWE"}))).unwrap_err(),
        Error::UnsupportedTokenType
    );
    assert_eq!(
        verify(&sign(json!({"alg": "RS256", "kid": KID, "crit": ["exp"]}))).unwrap_err(),
        Error::CriticalHeader
    );
    // `jku`, `jwk`, `x5u` are never followed: the key comes from the configured set only.
    let jku = json!({"alg": "RS256", "kid": KID, "jku": "https://evil.example/jwks.json", "jwk": attacker().jwk()});
    assert!(verify(&forge().sign(&jku, &claims())).is_ok());
    assert_eq!(
        verify(&attacker().sign(&jku, &claims())).unwrap_err(),
        Error::InvalidSignature
    );
    let twice = format!(
        "{}.{}",
        b64(format!(r#"{{"alg":"RS256","kid":"{KID}","alg":"none"}}"#).as_bytes()),
        b64(claims().to_string().as_bytes())
    );
    assert_eq!(
        verify(&format!("{twice}.c2ln")).unwrap_err(),
        Error::DuplicateMember(TokenPart::Header)
    );
}

// ----- key ids -----

#[test]
fn key_ids_are_checked_before_any_key_is_looked_up() {
    let sign = |kid: Value| forge().sign(&json!({"alg": "RS256", "kid": kid}), &claims());
    for kid in [
        "forge/../x",
        "../../etc/passwd",
        "forge/invocation-token/..",
        "/forge/invocation-token/wf-1",
        "forge//x",
        "forge/./x",
        "https://evil.example/jwks.json",
        "forge\\invocation-token",
        "forge/x?y",
        "forge/x%2f..",
        "a\r\nHost: evil.example",
    ] {
        assert_eq!(
            verify(&sign(json!(kid))).unwrap_err(),
            Error::InvalidKeyId,
            "{kid:?}"
        );
    }
    let long = "a".repeat(4096);
    assert_eq!(verify(&sign(json!(long))).unwrap_err(), Error::InvalidKeyId);
    assert_eq!(verify(&sign(json!(5))).unwrap_err(), Error::InvalidKeyId);
    assert_eq!(verify(&sign(json!(""))).unwrap_err(), Error::MissingKeyId);
    let no_kid = forge().sign(&json!({"alg": "RS256"}), &claims());
    assert_eq!(verify(&no_kid).unwrap_err(), Error::MissingKeyId);
    // A well-formed kid the set does not have.
    assert_eq!(
        verify(&forge().sign(&header(ROTATED_KID), &claims())).unwrap_err(),
        Error::UnknownKeyId
    );
}

// ----- signatures -----

#[test]
fn tampered_tokens_are_refused() {
    let token = token();
    let (input, signature) = token.rsplit_once('.').unwrap();
    let (header_b64, _) = input.split_once('.').unwrap();
    // The payload changed (a later exp, another installation) under the original signature.
    for payload in [
        with(&["exp"], json!(NOW + 200)),
        with(
            &["app", "installationId"],
            json!("ari:cloud:ecosystem::installation/other"),
        ),
    ] {
        let forged = format!(
            "{header_b64}.{}.{signature}",
            b64(payload.to_string().as_bytes())
        );
        assert_eq!(verify(&forged).unwrap_err(), Error::InvalidSignature);
    }
    // Every bit of the signature matters.
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    for position in [0, 100, bytes.len() - 1] {
        bytes[position] ^= 1;
        let flipped = format!("{input}.{}", b64(&bytes));
        assert_eq!(
            verify(&flipped).unwrap_err(),
            Error::InvalidSignature,
            "{position}"
        );
        bytes[position] ^= 1;
    }
    // A byte short, a byte long, empty-ish.
    let short = format!("{input}.{}", b64(&bytes[1..]));
    let long = format!("{input}.{}", b64(&[&bytes[..], &[0]].concat()));
    let tiny = format!("{input}.AA");
    for bad in [short, long, tiny] {
        assert_eq!(verify(&bad).unwrap_err(), Error::InvalidSignature);
    }
    // The right length, but not canonical base64url: a 256-byte signature ends in a
    // character whose low 4 bits must be zero; setting one keeps the decoded bytes.
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let (head, last) = signature.split_at(signature.len() - 1);
    let index = ALPHABET
        .iter()
        .position(|&c| c == last.as_bytes()[0])
        .unwrap();
    assert_eq!(index & 0b1111, 0);
    let trailing = format!("{head}{}", ALPHABET[index | 1] as char);
    assert_eq!(
        verify(&format!("{input}.{trailing}")).unwrap_err(),
        Error::InvalidBase64(TokenPart::Signature)
    );
    // Signed by another key under Forge's kid.
    assert_eq!(
        verify(&attacker().sign(&header(KID), &claims())).unwrap_err(),
        Error::InvalidSignature
    );
}

// ----- time -----

#[test]
fn time_rules_are_the_shared_ones() {
    // exp in the past beyond the 30-second leeway; within it.
    assert_eq!(
        verify_at(&token(), NOW + 20 + 30).unwrap_err(),
        Error::Expired {
            exp: NOW + 20,
            now: NOW + 50
        }
    );
    assert!(verify_at(&token(), NOW + 20 + 29).is_ok());
    // nbf ahead beyond the leeway; within it.
    let nbf = |nbf: u64| edit(with(&["nbf"], json!(nbf)), &["exp"], Some(json!(NOW + 100)));
    assert_eq!(
        verify(&signed(&nbf(NOW + 31))).unwrap_err(),
        Error::NotYetValid {
            nbf: NOW + 31,
            now: NOW
        }
    );
    assert!(verify(&signed(&nbf(NOW + 30))).is_ok());
    // nbf at or after exp: valid at no time.
    assert_eq!(
        verify(&signed(&with(&["nbf"], json!(NOW + 20)))).unwrap_err(),
        Error::EmptyValidity
    );
    // iat ahead beyond the leeway.
    let future = json!(NOW + 31);
    let payload = edit(with(&["iat"], future), &["exp"], Some(json!(NOW + 56)));
    assert_eq!(
        verify(&signed(&payload)).unwrap_err(),
        Error::IssuedInFuture {
            iat: NOW + 31,
            now: NOW
        }
    );
    // A token valid at no time.
    let empty = edit(with(&["exp"], json!(NOW - 5)), &["nbf"], None);
    assert_eq!(verify(&signed(&empty)).unwrap_err(), Error::EmptyValidity);
    // The maximum lifetime, by default and configured.
    let long = with(&["exp"], json!(NOW - 5 + FIT_MAX_LIFETIME + 1));
    assert_eq!(
        verify(&signed(&long)).unwrap_err(),
        Error::LifetimeTooLong {
            lifetime: FIT_MAX_LIFETIME + 1,
            max: FIT_MAX_LIFETIME
        }
    );
    assert!(verify(&signed(&with(&["exp"], json!(NOW - 5 + FIT_MAX_LIFETIME)))).is_ok());
    let strict = verifier().with_max_lifetime(20);
    assert_eq!(
        strict
            .verify(&token(), &forge_set(), UnixTime::from_secs(NOW))
            .unwrap_err(),
        Error::LifetimeTooLong {
            lifetime: 25,
            max: 20
        }
    );
    // A leeway given by the caller replaces the default.
    let no_leeway = verifier().with_leeway(0).unwrap();
    assert_eq!(
        no_leeway
            .verify(&token(), &forge_set(), UnixTime::from_secs(NOW + 20))
            .unwrap_err(),
        Error::Expired {
            exp: NOW + 20,
            now: NOW + 20
        }
    );
    assert_eq!(
        verifier().with_leeway(301).unwrap_err(),
        Error::Config(ConfigError::LeewayTooLarge {
            leeway: 301,
            max: 300
        })
    );
    // Dates are numbers.
    assert_eq!(
        verify(&signed(&with(&["exp"], json!("1700000020")))).unwrap_err(),
        Error::InvalidClaim(Claim::Exp)
    );
    assert_eq!(
        verify(&signed(&without(&["exp"]))).unwrap_err(),
        Error::MissingClaim(Claim::Exp)
    );
    assert_eq!(
        verify(&signed(&without(&["iat"]))).unwrap_err(),
        Error::MissingClaim(Claim::Iat)
    );
}

/// Everything the token says is checked before its key is looked up or its signature
/// checked, so an expired or misaddressed token costs no key-set fetch.
#[test]
fn claims_are_checked_before_the_key() {
    let expired_unknown_kid =
        rotated().sign(&header("forge/unknown"), &with(&["exp"], json!(NOW - 100)));
    assert_eq!(
        verify(&expired_unknown_kid).unwrap_err(),
        Error::Expired {
            exp: NOW - 100,
            now: NOW
        }
    );
    let other_app_bad_signature =
        attacker().sign(&header(KID), &with(&["aud"], json!(OTHER_APP_ID)));
    assert_eq!(
        verify(&other_app_bad_signature).unwrap_err(),
        Error::AppIdMismatch
    );
}

// ----- the key set -----

#[test]
fn unusable_keys_in_the_set_give_their_own_errors() {
    let weak = Pair::generate(1024, "forge/weak");
    let set = JwkSet::from_json(&jwks(&[weak.jwk(), ec_jwk("forge/ec"), forge().jwk()])).unwrap();
    let check = |token: &str| verifier().verify(token, &set, UnixTime::from_secs(NOW));
    assert_eq!(
        check(&weak.sign(&header("forge/weak"), &claims())).unwrap_err(),
        Error::WeakPublicKey {
            bits: 1024,
            min: 2048
        }
    );
    assert_eq!(
        check(&forge().sign(&header("forge/ec"), &claims())).unwrap_err(),
        Error::InvalidPublicKey {
            reason: "not an rsa key"
        }
    );
    // The set's good key still works.
    assert!(check(&token()).is_ok());
    // A key set that is not one.
    for bad in [
        "[]",
        r#"{"keys":"x"}"#,
        "",
        r#"{"keys":[{"kid":"forge/a","kid":"forge/b"}]}"#,
    ] {
        assert_eq!(
            JwkSet::from_json(bad).unwrap_err(),
            Error::InvalidPublicKey {
                reason: "not a json web key set"
            },
            "{bad:?}"
        );
    }
    // A key whose JWK says it is for encryption, or for another algorithm.
    let mut encryption = forge().jwk();
    encryption["use"] = json!("enc");
    let set = JwkSet::from_json(&jwks(&[encryption])).unwrap();
    assert_eq!(
        verifier()
            .verify(&token(), &set, UnixTime::from_secs(NOW))
            .unwrap_err(),
        Error::InvalidPublicKey {
            reason: "not a signing key"
        }
    );
    let mut rs512 = forge().jwk();
    rs512["alg"] = json!("RS512");
    let set = JwkSet::from_json(&jwks(&[rs512])).unwrap();
    assert_eq!(
        verifier()
            .verify(&token(), &set, UnixTime::from_secs(NOW))
            .unwrap_err(),
        Error::InvalidPublicKey {
            reason: "not an rs256 key"
        }
    );
    // A token for an Isolated Cloud is not verified with the commercial cloud's set.
    let isolated = signed(&with(&["icLabel"], json!("acme")));
    assert_eq!(verify(&isolated).unwrap_err(), Error::UnknownKeyId);
}

// ----- claims -----

#[test]
fn claims_are_typed_and_strict() {
    let check = |payload: Value| verify(&signed(&payload)).unwrap_err();
    assert_eq!(check(without(&["app"])), Error::MissingClaim(Claim::App));
    assert_eq!(
        check(without(&["app", "installationId"])),
        Error::InvalidClaim(Claim::App)
    );
    assert_eq!(
        check(with(&["app", "module"], json!("key"))),
        Error::InvalidClaim(Claim::App)
    );
    assert_eq!(
        check(with(&["app", "license"], json!(null))),
        Error::InvalidClaim(Claim::App)
    );
    assert_eq!(
        check(with(&["principal"], json!(42))),
        Error::InvalidClaim(Claim::Principal)
    );
    assert_eq!(
        check(with(&["context"], json!([]))),
        Error::InvalidClaim(Claim::Context)
    );
    assert_eq!(
        check(with(&["jti"], json!(null))),
        Error::InvalidClaim(Claim::Jti)
    );
    assert_eq!(
        check(with(&["icLabel"], json!("../x"))),
        Error::InvalidClaim(Claim::IcLabel)
    );
    // A repeated name, at the top and deep inside.
    let body = claims().to_string();
    let top = body.replacen(r#""iss":"#, r#""iss":"forge/invocation-token","iss":"#, 1);
    let deep = body.replacen(r#""deep":true"#, r#""deep":true,"deep":false"#, 1);
    for payload in [top, deep] {
        assert_ne!(payload, body);
        let input = format!(
            "{}.{}",
            b64(header(KID).to_string().as_bytes()),
            b64(payload.as_bytes())
        );
        let key = rsa::pkcs1v15::SigningKey::<rsa::sha2::Sha256>::new(forge().private.clone());
        let token = format!("{input}.{}", b64(&key.sign(input.as_bytes()).to_vec()));
        assert_eq!(
            verify(&token).unwrap_err(),
            Error::DuplicateMember(TokenPart::Payload)
        );
    }
}

// ----- nothing secret is shown -----

#[test]
fn no_token_in_debug_or_errors() {
    let token = token();
    let segments: Vec<&str> = token.split('.').skip(1).collect();
    let verified = verify(&token).unwrap();
    let parsed = atlassian_connect_jwt::InvocationToken::parse(&token).unwrap();
    let errors: Vec<Error> = [
        verify(&format!("{token}x")),
        verify(&token.replacen('.', ".x", 1)),
        verify_at(&token, NOW + 1000),
    ]
    .into_iter()
    .map(Result::unwrap_err)
    .collect();
    let mut shown = vec![
        format!("{verified:?}"),
        format!("{verified:#?}"),
        format!("{parsed:?}"),
        format!("{:?}", verifier()),
        format!("{:?}", forge_set()),
    ];
    shown.extend(
        errors
            .iter()
            .flat_map(|e| [e.to_string(), format!("{e:?}")]),
    );
    for text in &shown {
        for segment in &segments {
            assert!(!text.contains(segment), "{text}");
        }
    }
    assert!(format!("{:?}", forge_set()).contains("rsa 2048 bits"));
}

// ----- the library half of `verify-fit --jsonl` -----

/// One line of the `verify-fit --jsonl` contract, computed with the library alone: input
/// `{"token", "jwks": <JWKS object>, "app_id", "now", "leeway"?}`, output
/// `{"ok": true, "app_id", "installation_id", "principal"?, "module_key", "environment_type"}`
/// or `{"ok": false, "error": <code>}`.
fn jsonl(line: &Value) -> Value {
    let run = || -> Result<VerifiedInvocation, Error> {
        let mut verifier = ForgeVerifier::new(line["app_id"].as_str().unwrap_or_default())?;
        if let Some(leeway) = line.get("leeway") {
            verifier = verifier.with_leeway(leeway.as_u64().unwrap())?;
        }
        let keys = JwkSet::from_json(&line["jwks"].to_string())?;
        let now = UnixTime::from_secs(line["now"].as_u64().unwrap());
        verifier.verify(line["token"].as_str().unwrap(), &keys, now)
    };
    match run() {
        Ok(verified) => {
            let mut out = json!({
                "ok": true,
                "app_id": verified.app_id(),
                "installation_id": verified.installation_id(),
                "module_key": verified.module_key(),
                "environment_type": verified.environment_type(),
            });
            if let Some(principal) = verified.principal() {
                out["principal"] = json!(principal);
            }
            out
        }
        Err(error) => json!({"ok": false, "error": error.code()}),
    }
}

#[test]
fn json_lines_contract_from_the_library() {
    let set: Value = serde_json::from_str(&jwks(&[forge().jwk()])).unwrap();
    let line = |token: String, now: u64, extra: Value| {
        let mut line = json!({"token": token, "jwks": set, "app_id": APP_ID, "now": now});
        line.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        line
    };
    let cases = [
        (
            line(token(), NOW, json!({})),
            json!({"ok": true, "app_id": APP_ID, "installation_id": INSTALLATION,
                   "principal": PRINCIPAL, "module_key": "forge-remote-app-boot",
                   "environment_type": "PRODUCTION"}),
        ),
        (
            line(signed(&without(&["principal"])), NOW, json!({})),
            json!({"ok": true, "app_id": APP_ID, "installation_id": INSTALLATION,
                   "module_key": "forge-remote-app-boot", "environment_type": "PRODUCTION"}),
        ),
        (
            line(token(), NOW + 50, json!({})),
            json!({"ok": false, "error": "expired"}),
        ),
        (
            line(token(), NOW + 50, json!({"leeway": 31})),
            json!({"ok": true, "app_id": APP_ID, "installation_id": INSTALLATION, "principal": PRINCIPAL, "module_key": "forge-remote-app-boot", "environment_type": "PRODUCTION"}),
        ),
        (
            line(token(), NOW + 21, json!({"leeway": 0})),
            json!({"ok": false, "error": "expired"}),
        ),
        (
            line(token(), NOW, json!({"leeway": 301})),
            json!({"ok": false, "error": "leeway-too-large"}),
        ),
        (
            line(token(), NOW, json!({"app_id": OTHER_APP_ID})),
            json!({"ok": false, "error": "app-id-mismatch"}),
        ),
        (
            line(token(), NOW, json!({"app_id": "not-an-ari"})),
            json!({"ok": false, "error": "invalid-app-id"}),
        ),
        (
            line(token(), NOW, json!({"jwks": {"keys": 1}})),
            json!({"ok": false, "error": "invalid-public-key"}),
        ),
        (
            line(token(), NOW, json!({"jwks": {"keys": []}})),
            json!({"ok": false, "error": "unknown-key-id"}),
        ),
        (
            line(attacker().sign(&header(KID), &claims()), NOW, json!({})),
            json!({"ok": false, "error": "invalid-signature"}),
        ),
        (
            line(signed(&with(&["iss"], json!("x"))), NOW, json!({})),
            json!({"ok": false, "error": "forge-issuer-mismatch"}),
        ),
        (
            line("x.y".into(), NOW, json!({})),
            json!({"ok": false, "error": "malformed-token"}),
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(jsonl(&input), expected, "{input}");
    }
}
