//! From a verified Forge invocation to the Connect tenant of the same installation: a Forge
//! app with Connect modules is installed through a signed `installed` callback whose body
//! carries `installationId`; a Forge Invocation Token names the same `app.installationId`.

use std::sync::OnceLock;

use atlassian_connect_jwt::{
    CanonicalRequest, Error, InstallKey, InstallToken, InstallVerifier, InstalledTenant,
    MemoryTenantStore, SharedSecret, StoreError, StoreFuture, StoredTenant, Tenant, TenantStore,
    Unavailable, UninstalledTenant, UnixTime, VerifiedInstall, VerifiedInvocation,
};
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer};
use serde_json::{json, Value};

use super::{b64, claims, forge_set, signed, token, verifier, with, INSTALLATION, NOW};

const BASE: &str = "https://app.example.com";
const CLIENT_KEY: &str = "jira:7f4e6a52-3f0e-4a6b-9d57-2c5e1b0a8f31";
const INSTALL_KID: &str = "install-key-1";

/// Atlassian's signed-install key.
fn install_key() -> &'static (rsa::RsaPrivateKey, InstallKey) {
    static PAIR: OnceLock<(rsa::RsaPrivateKey, InstallKey)> = OnceLock::new();
    PAIR.get_or_init(|| {
        let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
        let pem = private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        (private, InstallKey::from_pem(&pem).unwrap())
    })
}

/// A verified lifecycle callback for `event`, its body carrying `installation_id`.
fn lifecycle(event: &str, installation_id: Option<&str>) -> VerifiedInstall {
    let path = format!("/{event}");
    let request = CanonicalRequest::from_target("POST", &path, None).unwrap();
    let claims = json!({
        "iss": CLIENT_KEY, "aud": BASE, "iat": NOW - 10, "exp": NOW + 170,
        "qsh": request.qsh().to_string(),
    });
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": INSTALL_KID});
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let key = rsa::pkcs1v15::SigningKey::<rsa::sha2::Sha256>::new(install_key().0.clone());
    let token = format!("{input}.{}", b64(&key.sign(input.as_bytes()).to_vec()));
    let mut body = json!({
        "key": "my-app", "clientKey": CLIENT_KEY, "sharedSecret": "secret-0123456789",
        "baseUrl": "https://tenant.atlassian.net", "productType": "jira", "eventType": event,
    });
    if let Some(id) = installation_id {
        body["installationId"] = json!(id);
    }
    InstallVerifier::new(BASE)
        .unwrap()
        .verify(
            InstallToken::parse(&token).unwrap(),
            &body.to_string(),
            &request,
            &install_key().1,
            UnixTime::from_secs(NOW),
        )
        .unwrap()
}

async fn installed_store(installation_id: Option<&str>) -> MemoryTenantStore {
    let store = MemoryTenantStore::new();
    let install = InstalledTenant::from_verified(&lifecycle("installed", installation_id)).unwrap();
    store.save_install(&install).await.unwrap();
    store
}

fn invocation(payload: &Value) -> VerifiedInvocation {
    verifier()
        .verify(&signed(payload), &forge_set(), UnixTime::from_secs(NOW))
        .unwrap()
}

#[tokio::test]
async fn a_forge_invocation_finds_its_connect_tenant() {
    let store = installed_store(Some(INSTALLATION)).await;
    let verified = verifier()
        .verify(&token(), &forge_set(), UnixTime::from_secs(NOW))
        .unwrap();
    let tenant = verified.linked_tenant(&store).await.unwrap().unwrap();
    assert_eq!(tenant.client_key(), CLIENT_KEY);
    assert_eq!(tenant.installation_id(), Some(INSTALLATION));
    assert_eq!(tenant.base_url(), "https://tenant.atlassian.net");
    // The tenant's key verifies its Connect tokens as before: one backend, both kinds.
    assert_eq!(tenant.key().unwrap().client_key(), CLIENT_KEY);
}

#[tokio::test]
async fn no_link_without_the_same_installation() {
    // Another installation of the app.
    let store = installed_store(Some(INSTALLATION)).await;
    let other = invocation(&with(
        &["app", "installationId"],
        json!("ari:cloud:ecosystem::installation/99999999-0000-0000-0000-000000000000"),
    ));
    assert!(other.linked_tenant(&store).await.unwrap().is_none());
    // A Connect install that carried no installationId (a plain Connect app).
    let store = installed_store(None).await;
    let verified = invocation(&claims());
    assert!(verified.linked_tenant(&store).await.unwrap().is_none());
}

#[tokio::test]
async fn an_uninstalled_tenant_is_not_linked() {
    let store = installed_store(Some(INSTALLATION)).await;
    let uninstall = UninstalledTenant::from_verified(&lifecycle("uninstalled", None)).unwrap();
    assert!(store.mark_uninstalled(&uninstall).await.unwrap());
    let verified = invocation(&claims());
    assert!(verified.linked_tenant(&store).await.unwrap().is_none());
}

/// A store that fails, or answers with the wrong tenant.
struct BrokenStore {
    wrong_tenant: bool,
}

impl TenantStore for BrokenStore {
    fn get<'a>(&'a self, _: &'a str) -> StoreFuture<'a, Option<Tenant>> {
        Box::pin(async { Err(StoreError::new("connection refused")) })
    }

    fn get_by_installation_id<'a>(&'a self, _: &'a str) -> StoreFuture<'a, Option<Tenant>> {
        let wrong = self.wrong_tenant;
        Box::pin(async move {
            if !wrong {
                return Err(StoreError::new("connection refused"));
            }
            Ok(Some(Tenant::from_stored(StoredTenant {
                client_key: "someone-else".into(),
                shared_secret: SharedSecret::new("s"),
                base_url: "https://other.atlassian.net".into(),
                display_url: None,
                product_type: None,
                installation_id: Some("ari:cloud:ecosystem::installation/other".into()),
                oauth_client_id: None,
                installed: true,
            })))
        })
    }

    fn save_install<'a>(&'a self, _: &'a InstalledTenant) -> StoreFuture<'a, bool> {
        Box::pin(async { Err(StoreError::new("read-only")) })
    }

    fn mark_uninstalled<'a>(&'a self, _: &'a UninstalledTenant) -> StoreFuture<'a, bool> {
        Box::pin(async { Err(StoreError::new("read-only")) })
    }
}

#[tokio::test]
async fn store_failures_are_unavailable() {
    let verified = invocation(&claims());
    for wrong_tenant in [false, true] {
        assert_eq!(
            verified
                .linked_tenant(&BrokenStore { wrong_tenant })
                .await
                .unwrap_err(),
            Error::Unavailable(Unavailable::SecretStore),
            "{wrong_tenant}"
        );
    }
}
