//! Outbound signing and the async store: the parts of the API a web service calls that the
//! checklist tests do not reach.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use atlassian_connect_jwt::dangerous::decode_unverified;
use atlassian_connect_jwt::{
    AsyncSecretStore, BasePath, CanonicalRequest, Error, QshPolicy, SharedSecret, Signer,
    TenantKey, TokenKind, UnixTime, UserAssertion, Verifier, OAUTH_AUDIENCE,
};

const SECRET: &str = "connect-test-secret-0123456789abcdef0123";
const NOW: u64 = 1_700_000_000;

fn key() -> TenantKey {
    key_of("test-client-key")
}

fn key_of(client_key: &str) -> TenantKey {
    TenantKey::new(client_key, &SharedSecret::new(SECRET)).unwrap()
}

/// Polls a future that never waits (the stores below answer at once) to completion.
fn complete<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the test store never waits"),
    }
}

/// A store that answers through `async fn`, as a database-backed one would.
struct Tenants;

impl AsyncSecretStore for Tenants {
    fn tenant_key(
        &self,
        client_key: &str,
    ) -> impl Future<Output = Result<Option<TenantKey>, Error>> + Send {
        let found = match client_key {
            "tenant-a" => Ok(Some(key_of("tenant-a"))),
            // A store bug: tenant B's row holds tenant A's key (same secret, even).
            "tenant-misfiled" => Ok(Some(key_of("tenant-a"))),
            "tenant-down" => Err(Error::Unavailable(
                atlassian_connect_jwt::Unavailable::SecretStore,
            )),
            _ => Ok(None),
        };
        async move { found }
    }
}

#[test]
fn verify_async_consults_the_async_store() {
    let request = CanonicalRequest::from_target("GET", "/panel?x=1", None).unwrap();
    let now = UnixTime::from_secs(NOW + 1);
    let sign = |iss: &str| {
        Signer::new(iss)
            .sign_request(&request, &key(), UnixTime::from_secs(NOW))
            .unwrap()
    };
    let verifier = Verifier::new();

    let ok = complete(verifier.verify_async(
        sign("tenant-a").as_str(),
        QshPolicy::Request(&request),
        &Tenants,
        now,
    ))
    .unwrap();
    assert_eq!(ok.client_key(), "tenant-a");
    assert_eq!(ok.kind(), TokenKind::RequestBound);

    let unknown = complete(verifier.verify_async(
        sign("tenant-b").as_str(),
        QshPolicy::Request(&request),
        &Tenants,
        now,
    ));
    assert_eq!(unknown.unwrap_err(), Error::UnknownIssuer);
    // The key it returns belongs to tenant A: refused, though its secret would verify.
    let misfiled = complete(verifier.verify_async(
        sign("tenant-misfiled").as_str(),
        QshPolicy::Request(&request),
        &Tenants,
        now,
    ));
    assert_eq!(
        misfiled.unwrap_err(),
        Error::Config(atlassian_connect_jwt::ConfigError::KeyTenantMismatch)
    );
    let down = complete(verifier.verify_async(
        sign("tenant-down").as_str(),
        QshPolicy::Request(&request),
        &Tenants,
        now,
    ));
    assert_eq!(
        down.unwrap_err(),
        Error::Unavailable(atlassian_connect_jwt::Unavailable::SecretStore)
    );
}

#[test]
fn outbound_tokens_sign_the_request_relative_to_the_product_base() {
    let token = Signer::new("com.example.app")
        .sign_outbound(
            "get",
            "https://example.atlassian.net/wiki/rest/api/space?limit=10&start=0",
            &BasePath::parse("https://example.atlassian.net/wiki").unwrap(),
            &key(),
            UnixTime::from_secs(NOW),
        )
        .unwrap();
    let claims = decode_unverified(token.as_str()).unwrap().claims().unwrap();
    assert_eq!(claims.iss(), "com.example.app");
    assert_eq!(claims.iat(), UnixTime::from_secs(NOW));
    assert_eq!(claims.exp(), UnixTime::from_secs(NOW + 180));
    // The product verifies `/rest/api/space`, without Confluence's `/wiki`.
    let expected =
        CanonicalRequest::from_target("GET", "/rest/api/space?start=0&limit=10", None).unwrap();
    assert_eq!(claims.qsh(), Some(expected.qsh().to_string().as_str()));
    assert_eq!(
        token.authorization_header(),
        format!("JWT {}", token.as_str())
    );
    assert!(!format!("{token:?}").contains(token.as_str()));

    // The same call verifies on the product side's rules.
    let base = BasePath::parse("https://example.atlassian.net/wiki").unwrap();
    let received =
        CanonicalRequest::from_target("GET", "/wiki/rest/api/space?limit=10&start=0", Some(&base))
            .unwrap();
    let store = |iss: &str| (iss == "com.example.app").then(|| SharedSecret::new(SECRET));
    Verifier::new()
        .verify(
            token.as_str(),
            QshPolicy::Request(&received),
            &store,
            UnixTime::from_secs(NOW + 5),
        )
        .unwrap();
}

#[test]
fn signer_options_reach_the_claims() {
    let token = Signer::new("tenant-a")
        .with_subject("557058:account")
        .with_audience("com.example.app")
        .with_lifetime(60)
        .sign_context(&key(), UnixTime::from_secs(NOW))
        .unwrap();
    let claims = decode_unverified(token.as_str()).unwrap().claims().unwrap();
    assert_eq!(claims.sub(), Some("557058:account"));
    assert_eq!(claims.aud(), ["com.example.app"]);
    assert_eq!(claims.exp(), UnixTime::from_secs(NOW + 60));
    assert_eq!(claims.qsh(), Some("context-qsh"));
    // A lifetime past the end of time is an error, not a wrapped-around `exp`.
    let overflow = Signer::new("tenant-a")
        .with_lifetime(u64::MAX)
        .sign_context(&key(), UnixTime::from_secs(NOW));
    assert!(matches!(overflow, Err(Error::InvalidClaim(_))));
}

#[test]
fn user_assertion_has_the_oauth_bearer_grant_claims() {
    let token = UserAssertion {
        oauth_client_id: "oauth-client-1",
        account_id: "557058:f0e1d2c3",
        tenant_base_url: "https://example.atlassian.net",
    }
    .sign(&key(), UnixTime::from_secs(NOW))
    .unwrap();
    let parts = decode_unverified(token.as_str()).unwrap();
    assert_eq!(parts.algorithm().as_deref(), Some("HS256"));
    let claims: serde_json::Value = serde_json::from_str(parts.payload_json()).unwrap();
    assert_eq!(
        claims["iss"],
        "urn:atlassian:connect:clientid:oauth-client-1"
    );
    assert_eq!(
        claims["sub"],
        "urn:atlassian:connect:useraccountid:557058:f0e1d2c3"
    );
    assert_eq!(claims["tnt"], "https://example.atlassian.net");
    assert_eq!(claims["aud"], OAUTH_AUDIENCE);
    assert_eq!(claims["iat"], NOW);
    assert_eq!(claims["exp"], NOW + 60);
    // Signed with the tenant's shared secret: HMAC over the first two segments.
    use hmac::{Hmac, KeyInit, Mac};
    let (input, signature) = token.as_str().rsplit_once('.').unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    use base64::Engine as _;
    let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(signature)
        .unwrap();
    mac.verify_slice(&tag).unwrap();
}
