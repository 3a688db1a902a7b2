//! Forge Invocation Token verification with the key already cached, side by side with
//! jsonwebtoken's RS256 decode of the same token (with its `rust_crypto` backend, the one this
//! workspace builds), and the floor: `ring`'s RS256 check of the signature alone.
//!
//! Three ways of ours: a pinned `JwkSet` (synchronous), a warm `JwksCache` (`verify_async`,
//! polled once: a cached key answers without waiting), and the floor. jsonwebtoken decodes
//! into a struct with the fields the CLI's JSON Lines output reads and validates `iss`, `aud`,
//! `exp` and `nbf` with the same leeway. Prints a table of ratios. Only times with `--bench`;
//! under `cargo test` it checks that every contender accepts the token and refuses a forged one.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use atlassian_connect_jwt::{
    Error, ForgeKeySource, ForgeVerifier, IcLabel, JwkSet, JwksCache, JwksSource, UnixTime,
    FORGE_ISSUER,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use criterion::Criterion;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use serde::Deserialize;
use serde_json::json;

const APP_ID: &str = "ari:cloud:ecosystem::app/8db33809-1f32-48bb-8c52-5877dab48107";
const KID: &str = "forge/invocation-token/wf-5d1f9a0e-7c1b-4f7e-9a55-0c2b3f7d8e11";

struct Fixture {
    token: String,
    forged: String,
    jwks: JwkSet,
    cache: JwksCache<Pinned>,
    verifier: ForgeVerifier,
    now: UnixTime,
    jwt_key: jsonwebtoken::DecodingKey,
    validation: jsonwebtoken::Validation,
    /// The floor: the RSA key and the token's signing input and signature.
    install_key: atlassian_connect_jwt::InstallKey,
    signing_input: Vec<u8>,
    signature: Vec<u8>,
}

/// A key-set source that always has the fixture's set.
struct Pinned(String);

impl JwksSource for Pinned {
    async fn fetch_jwks(&self, _: Option<&IcLabel>) -> Result<JwkSet, Error> {
        JwkSet::from_json(&self.0)
    }
}

/// What jsonwebtoken decodes the claims into: the fields the JSON Lines output reads.
#[derive(Deserialize)]
#[allow(dead_code)]
struct JwtClaims {
    app: JwtApp,
    principal: Option<String>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase")]
struct JwtApp {
    id: String,
    installation_id: String,
    module: JwtModule,
    environment: JwtEnvironment,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct JwtModule {
    key: String,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct JwtEnvironment {
    #[serde(rename = "type")]
    kind: String,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn fixture() -> Fixture {
    let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
    let public = private.to_public_key();
    let (n, e) = (
        b64(&public.n().to_bytes_be()),
        b64(&public.e().to_bytes_be()),
    );
    let jwks =
        json!({"keys": [{"kty": "RSA", "kid": KID, "use": "sig", "alg": "RS256", "n": n, "e": e}]})
            .to_string();
    // jsonwebtoken reads the system clock: the token must be valid now.
    let now = UnixTime::now().as_secs();
    let claims = json!({
        "app": {
            "id": APP_ID, "version": "16", "appVersion": "16.0.1",
            "installationId": "ari:cloud:ecosystem::installation/0a3a7799-53ae-4a5b-9e7e-03338980abb5",
            "apiBaseUrl": "https://api.atlassian.com/ex/confluence/d0d52620-3203-4cfa-8db5-f2587155f0dd",
            "environment": {"type": "PRODUCTION", "id": "ari:cloud:ecosystem::environment/8db33809/aa911f10"},
            "module": {"type": "xen:macro", "key": "forge-remote-app-boot"},
            "installation": {"id": "ari:cloud:ecosystem::installation/0a3a7799", "contexts": [
                {"name": "confluence", "apiBaseUrl": "https://api.atlassian.com/ex/confluence/d0d5", "cloudId": "d0d52620"}
            ]},
            "license": {"isActive": true, "billingPeriod": "MONTHLY", "type": "commercial"}
        },
        "context": {
            "localId": "4654fa12-4c7c-4792-95a9-6019edb27953", "cloudId": "d0d52620-3203-4cfa-8db5-f2587155f0dd",
            "moduleKey": "forge-remote-app-boot", "siteUrl": "https://tenant.atlassian.net",
            "extension": {"type": "macro", "content": {"id": "5341185"}, "space": {"key": "SP", "id": "65538"}, "isEditing": false, "references": []}
        },
        "principal": "655362:312d3308-8954-42b0-aa38-771a10c88656",
        "aud": APP_ID, "iss": FORGE_ISSUER,
        "iat": now, "nbf": now, "exp": now + 250,
        "jti": "d8a496253ec8c18a54631e4c82cbedd5d0ae8570",
    });
    let header = json!({"alg": "RS256", "kid": KID, "typ": "JWT"});
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let key = rsa::pkcs1v15::SigningKey::<rsa::sha2::Sha256>::new(private);
    let signature = key.sign(input.as_bytes()).to_vec();
    let token = format!("{input}.{}", b64(&signature));
    let mut forged_claims = claims.clone();
    forged_claims["principal"] = json!("someone-else");
    let forged = format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(forged_claims.to_string().as_bytes()),
        b64(&signature)
    );
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[APP_ID]);
    validation.set_issuer(&[FORGE_ISSUER]);
    validation.validate_nbf = true;
    validation.leeway = 30;
    let der = {
        // The same key as SPKI DER for the floor.
        use rsa::pkcs8::EncodePublicKey;
        public.to_public_key_der().unwrap().into_vec()
    };
    Fixture {
        token,
        forged,
        jwks: JwkSet::from_json(&jwks).unwrap(),
        cache: JwksCache::new(Pinned(jwks.clone())),
        verifier: ForgeVerifier::new(APP_ID).unwrap(),
        now: UnixTime::from_secs(now),
        jwt_key: jsonwebtoken::DecodingKey::from_rsa_components(&n, &e).unwrap(),
        validation,
        install_key: atlassian_connect_jwt::InstallKey::from_spki_der(&der).unwrap(),
        signing_input: input.into_bytes(),
        signature,
    }
}

fn ours(f: &Fixture, token: &str) -> bool {
    f.verifier
        .verify(black_box(token), &f.jwks, f.now)
        .is_ok_and(|v| !v.installation_id().is_empty())
}

/// `verify_async` through the warm cache, polled once: a cached key never waits.
fn ours_cached(f: &Fixture, token: &str) -> bool {
    let future = pin!(f.verifier.verify_async(black_box(token), &f.cache, f.now));
    match future.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(result) => result.is_ok_and(|v| !v.installation_id().is_empty()),
        Poll::Pending => panic!("a warm cache answers at once"),
    }
}

fn peer(f: &Fixture, token: &str) -> bool {
    jsonwebtoken::decode::<JwtClaims>(black_box(token), &f.jwt_key, &f.validation)
        .is_ok_and(|data| !data.claims.app.installation_id.is_empty())
}

fn floor(f: &Fixture) -> bool {
    f.install_key
        .verify_rs256(black_box(&f.signing_input), &f.signature)
        .is_ok()
}

fn ns_per_call(mut f: impl FnMut() -> bool) -> f64 {
    let iterations = 2_000;
    (0..9)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iterations {
                assert!(black_box(f()));
            }
            start.elapsed().as_nanos() as f64 / f64::from(iterations)
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let f = fixture();
    // Warm the cache: the one fetch happens here.
    let kid = atlassian_connect_jwt::ForgeKeyId::new(KID).unwrap();
    let warm = pin!(f.cache.forge_key(&kid, None));
    assert!(matches!(
        warm.poll(&mut Context::from_waker(Waker::noop())),
        Poll::Ready(Ok(_))
    ));
    assert!(ours(&f, &f.token) && ours_cached(&f, &f.token) && peer(&f, &f.token) && floor(&f));
    assert!(!ours(&f, &f.forged) && !ours_cached(&f, &f.forged) && !peer(&f, &f.forged));

    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("forge");
    group.bench_function("verify/jwkset", |b| b.iter(|| ours(&f, &f.token)));
    group.bench_function("verify_async/warm-jwks-cache", |b| {
        b.iter(|| ours_cached(&f, &f.token))
    });
    group.bench_function("jsonwebtoken/decode-rs256", |b| {
        b.iter(|| peer(&f, &f.token))
    });
    group.bench_function("ring-rs256-floor", |b| b.iter(|| floor(&f)));
    group.finish();
    c.final_summary();

    let floor_ns = ns_per_call(|| floor(&f));
    let peer_ns = ns_per_call(|| peer(&f, &f.token));
    println!();
    println!(
        "| FIT verification, key cached ({} B token) | ns | vs ring's RS256 floor | jsonwebtoken is slower by |",
        f.token.len()
    );
    println!("|---|---:|---:|---:|");
    for (name, ns) in [
        (
            "atlassian-connect-jwt, JwkSet",
            ns_per_call(|| ours(&f, &f.token)),
        ),
        (
            "atlassian-connect-jwt, warm JwksCache",
            ns_per_call(|| ours_cached(&f, &f.token)),
        ),
    ] {
        println!(
            "| {name} | {ns:.0} | {:.2}x | {:.2}x |",
            ns / floor_ns,
            peer_ns / ns
        );
    }
    println!(
        "| jsonwebtoken 11 (rust_crypto) decode | {peer_ns:.0} | {:.2}x | |",
        peer_ns / floor_ns
    );
    println!("| ring RS256 signature check alone | {floor_ns:.0} | 1.00x | |");
}
