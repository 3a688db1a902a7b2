//! Shared by tests/tenant_store.rs and tests/lifecycle.rs: RS256 test keys and signed
//! lifecycle callbacks (the `rsa` dev-dependency signs, as in tests/signed_install.rs),
//! verified installs for the stores, and the PostgreSQL test server.
#![allow(dead_code, unreachable_pub)]

pub mod postgres;

use std::collections::HashMap;
use std::sync::OnceLock;

use atlassian_connect_jwt::{
    CanonicalRequest, InstallKey, InstallToken, InstallVerifier, InstalledTenant,
    UninstalledTenant, UnixTime, VerifiedInstall,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::sha2::Sha256 as RsaSha256;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::RsaPrivateKey;
use serde_json::{json, Value};

pub const NOW: u64 = 1_700_000_000;
pub const BASE: &str = "https://app.example.com";
pub const APP_KEY: &str = "my-app";
pub const KID: &str = "0e50fccb-239d-4991-a5db-dc850ba3f236";

/// An RSA key pair.
pub struct Pair {
    private: RsaPrivateKey,
    pem: String,
}

impl Pair {
    fn generate() -> Self {
        let private = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
        let pem = private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        Self { private, pem }
    }

    pub fn key(&self) -> InstallKey {
        InstallKey::from_pem(&self.pem).unwrap()
    }

    /// An RS256 token of `claims`, with `kid` in the header.
    pub fn sign(&self, kid: &str, claims: &Value) -> String {
        let header = json!({ "kid": kid, "typ": "JWT", "alg": "RS256" });
        let input = format!("{}.{}", b64(&header.to_string()), b64(&claims.to_string()));
        let signature = SigningKey::<RsaSha256>::new(self.private.clone()).sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_vec()))
    }
}

/// Atlassian's key.
pub fn atlassian() -> &'static Pair {
    static PAIR: OnceLock<Pair> = OnceLock::new();
    PAIR.get_or_init(Pair::generate)
}

/// Someone else's key.
pub fn attacker() -> &'static Pair {
    static PAIR: OnceLock<Pair> = OnceLock::new();
    PAIR.get_or_init(Pair::generate)
}

/// The key source the app trusts: Atlassian's key under [`KID`].
pub fn keys() -> HashMap<String, InstallKey> {
    HashMap::from([(KID.to_owned(), atlassian().key())])
}

fn b64(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text.as_bytes())
}

/// An HS256 token of `claims` signed with `secret`.
pub fn hs256(secret: &str, claims: &Value) -> String {
    let header = json!({ "typ": "JWT", "alg": "HS256" });
    let input = format!("{}.{}", b64(&header.to_string()), b64(&claims.to_string()));
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

pub fn qsh_of(path: &str) -> String {
    CanonicalRequest::from_parts("POST", path, None, None)
        .unwrap()
        .qsh()
        .to_string()
}

/// The claims of a valid lifecycle token from `client_key` for `POST <path>`.
pub fn claims(client_key: &str, path: &str) -> Value {
    json!({
        "iss": client_key,
        "aud": BASE,
        "iat": NOW - 10,
        "exp": NOW + 170,
        "qsh": qsh_of(path),
    })
}

/// The body of a lifecycle callback.
#[derive(Clone, Debug)]
pub struct Body {
    pub client_key: String,
    pub shared_secret: Option<String>,
    pub base_url: String,
    pub display_url: Option<String>,
    pub product_type: Option<String>,
    pub installation_id: Option<String>,
    pub oauth_client_id: Option<String>,
    pub key: String,
    pub event_type: &'static str,
}

impl Body {
    /// An `installed` body.
    pub fn installed(client_key: &str, secret: &str) -> Self {
        Self {
            client_key: client_key.to_owned(),
            shared_secret: Some(secret.to_owned()),
            base_url: format!("https://{client_key}.atlassian.net"),
            display_url: None,
            product_type: Some("jira".to_owned()),
            installation_id: None,
            oauth_client_id: None,
            key: APP_KEY.to_owned(),
            event_type: "installed",
        }
    }

    /// An `uninstalled` body (no secret).
    pub fn uninstalled(client_key: &str) -> Self {
        Self {
            shared_secret: None,
            event_type: "uninstalled",
            ..Self::installed(client_key, "")
        }
    }

    pub fn installation_id(mut self, id: &str) -> Self {
        self.installation_id = Some(id.to_owned());
        self
    }

    pub fn json(&self) -> String {
        let mut body = json!({
            "key": self.key,
            "clientKey": self.client_key,
            "baseUrl": self.base_url,
            "productType": self.product_type,
            "displayUrl": self.display_url,
            "installationId": self.installation_id,
            "oauthClientId": self.oauth_client_id,
            "description": "a test instance",
            "serverVersion": "100",
            "pluginsVersion": "1001.0.0",
            "eventType": self.event_type,
        });
        if let Some(secret) = &self.shared_secret {
            body["sharedSecret"] = json!(secret);
        }
        body.to_string()
    }

    /// The callback path of its event.
    pub fn path(&self) -> &'static str {
        if self.event_type == "installed" {
            "/installed"
        } else {
            "/uninstalled"
        }
    }

    /// A valid Atlassian token for this body's callback.
    pub fn token(&self) -> String {
        atlassian().sign(KID, &claims(&self.client_key, self.path()))
    }

    /// The body, verified as the product's callback.
    pub fn verified(&self) -> VerifiedInstall {
        let request = CanonicalRequest::from_target("POST", self.path(), None).unwrap();
        let token = self.token();
        InstallVerifier::new(BASE)
            .unwrap()
            .verify(
                InstallToken::parse(&token).unwrap(),
                &self.json(),
                &request,
                &atlassian().key(),
                UnixTime::from_secs(NOW),
            )
            .unwrap()
    }

    /// What a store's `save_install` takes for this `installed` body.
    pub fn install(&self) -> InstalledTenant {
        InstalledTenant::from_verified(&self.verified()).unwrap()
    }

    /// What a store's `mark_uninstalled` takes for this `uninstalled` body.
    pub fn uninstall(&self) -> UninstalledTenant {
        UninstalledTenant::from_verified(&self.verified()).unwrap()
    }
}

/// A verified install of `client_key` with `secret`.
pub fn install(client_key: &str, secret: &str) -> InstalledTenant {
    Body::installed(client_key, secret).install()
}

/// A verified uninstall of `client_key`.
pub fn uninstall(client_key: &str) -> UninstalledTenant {
    Body::uninstalled(client_key).uninstall()
}
