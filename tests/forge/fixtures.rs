//! Test fixtures for Forge Invocation Tokens, shared by `tests/forge.rs` and
//! `tests/axum_forge.rs`: RSA key pairs generated when the tests run, their JWKs, and RS256
//! signing with the `rsa` dev-dependency, so every header and payload byte is under the
//! test's control.
#![allow(dead_code)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};

/// An RSA key pair and the `kid` it is published under.
pub(crate) struct Pair {
    pub(crate) private: RsaPrivateKey,
    kid: &'static str,
}

impl Pair {
    pub(crate) fn generate(bits: usize, kid: &'static str) -> Self {
        let private = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, bits).unwrap();
        Self { private, kid }
    }

    /// The public key as Forge publishes it.
    pub(crate) fn jwk(&self) -> Value {
        let public = self.private.to_public_key();
        json!({
            "kty": "RSA",
            "kid": self.kid,
            "use": "sig",
            "alg": "RS256",
            "n": b64(&public.n().to_bytes_be()),
            "e": b64(&public.e().to_bytes_be()),
        })
    }

    pub(crate) fn pem(&self) -> String {
        self.private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap()
    }

    /// `header.payload.signature`, RS256.
    pub(crate) fn sign(&self, header: &Value, payload: &Value) -> String {
        self.sign_raw(&header.to_string(), &payload.to_string())
    }

    /// As [`sign`](Self::sign), with the JSON texts exactly as given.
    pub(crate) fn sign_raw(&self, header: &str, payload: &str) -> String {
        let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
        let key = rsa::pkcs1v15::SigningKey::<rsa::sha2::Sha256>::new(self.private.clone());
        format!("{input}.{}", b64(&key.sign(input.as_bytes()).to_vec()))
    }
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A key set with these keys (JWK objects).
pub(crate) fn jwks(keys: &[Value]) -> String {
    json!({ "keys": keys }).to_string()
}
