//! App session tokens (feature `session`): minting only from a verified request-bound
//! request, the derived key (a known answer computed from the documented construction),
//! type confusion refused in both directions, tenant binding, time, resources, tampering,
//! claim types and the `user_deleted` body.
#![cfg(feature = "session")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::Arc;

use atlassian_connect_jwt::session::{
    MemoryRevocationStore, Mode, Resource, SessionKey, SessionVerifier, Sessions, UserDeleted,
    MAX_SESSION_TTL,
};
use atlassian_connect_jwt::{
    CanonicalRequest, Claim, ConfigError, Error, PayloadDefect, QshPolicy, SharedSecret, Signer,
    TenantKey, TokenPart, UnixTime, Verified, Verifier,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};

const A: &str = "jira:tenant-a";
const B: &str = "jira:tenant-b";
/// Both tenants get the same secret in some tests: the clientKey alone must keep their
/// session keys apart.
const SECRET_A: &str = "tenant-a-shared-secret-0123456789abcdef";
const SECRET_B: &str = "tenant-b-shared-secret-0123456789abcdef";
const USER: &str = "557058:user-1";
const NOW: u64 = 1_700_000_000;
const SESSION_HEADER: &str = r#"{"alg":"HS256","typ":"app-session+jwt"}"#;

/// The session key of tenant A with secret A, computed outside this crate (Python's `hmac`)
/// from the construction documented on `SessionKey`:
/// HMAC-SHA256(secret, 00000001 || "atlassian-connect-jwt/app-session/v1" || 00 || clientKey || 00000100).
const SESSION_KEY_A_HEX: &str = "8e89e823269edcc113735e33b0dabdaf18c6fd8eac4ce25aa7047d332905b75c";
/// The same for clientKey B under secret **A**.
const SESSION_KEY_B_UNDER_SECRET_A_HEX: &str =
    "7d3ce5273fdcd22aca71d67138e8fc35f54d9c4337787e30225cc973a7fce5b4";

fn now() -> UnixTime {
    UnixTime::from_secs(NOW)
}

fn key(client_key: &str, secret: &str) -> TenantKey {
    TenantKey::new(client_key, &SharedSecret::new(secret)).unwrap()
}

fn keys() -> HashMap<String, TenantKey> {
    HashMap::from([
        (A.to_owned(), key(A, SECRET_A)),
        (B.to_owned(), key(B, SECRET_B)),
    ])
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// A compact JWS of these exact header and payload bytes, HMAC-SHA256 under `key`.
fn sign(header: &str, payload: &str, key: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(input.as_bytes());
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

fn session_payload(iss: &str, extra: &str) -> String {
    format!(
        r#"{{"iss":"{iss}","sub":"{USER}","iat":{NOW},"exp":{},"jti":"AAAAAAAAAAAAAAAAAAAAAA","token_use":"app-session"{extra}}}"#,
        NOW + 300
    )
}

fn sessions() -> Sessions {
    Sessions::new(Arc::new(MemoryRevocationStore::new(Mode::Denylist)))
}

/// A verified iframe load of tenant A by [`USER`] (request-bound), as an app gets it.
fn iframe(client_key: &str, secret: &str, sub: Option<&str>) -> Verified {
    let request = CanonicalRequest::from_target("GET", "/panel?issueId=10001", None).unwrap();
    let mut signer = Signer::new(client_key);
    if let Some(sub) = sub {
        signer = signer.with_subject(sub);
    }
    let token = signer
        .sign_request(&request, &key(client_key, secret), now())
        .unwrap();
    Verifier::new()
        .verify(token.as_str(), QshPolicy::Request(&request), &keys(), now())
        .unwrap()
}

fn context(client_key: &str, secret: &str) -> Verified {
    let token = Signer::new(client_key)
        .with_subject(USER)
        .sign_context(&key(client_key, secret), now())
        .unwrap();
    Verifier::new()
        .verify(token.as_str(), QshPolicy::Context, &keys(), now())
        .unwrap()
}

async fn mint_a(resource: Option<Resource>) -> String {
    sessions()
        .mint(
            &iframe(A, SECRET_A, Some(USER)),
            &key(A, SECRET_A),
            resource,
            now(),
        )
        .await
        .unwrap()
        .into_string()
}

#[tokio::test]
async fn minted_token_verifies_with_its_claims() {
    let sessions = sessions();
    let token = sessions
        .mint(
            &iframe(A, SECRET_A, Some(USER)),
            &key(A, SECRET_A),
            Some(Resource::JiraIssue(10001)),
            now(),
        )
        .await
        .unwrap();
    let claims = token.claims();
    assert_eq!((claims.client_key(), claims.account_id()), (A, USER));
    assert_eq!(claims.issued_at(), now());
    assert_eq!(claims.expires_at(), UnixTime::from_secs(NOW + 300));
    assert_eq!(claims.resource(), Some(Resource::JiraIssue(10001)));
    assert_eq!(claims.id().len(), 22);
    assert_eq!(token.bearer_header(), format!("Bearer {}", token.as_str()));

    let verified = sessions
        .verify_with(token.as_str(), &keys(), now())
        .await
        .unwrap();
    assert_eq!(verified.claims(), claims);
    assert_eq!(
        verified.require_resource(Resource::JiraIssue(10001)),
        Ok(())
    );

    // The exact header and payload layout.
    let mut parts = token.as_str().split('.');
    let header = URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap();
    assert_eq!(header, SESSION_HEADER.as_bytes());
    let payload =
        String::from_utf8(URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap()).unwrap();
    assert_eq!(
        payload,
        format!(
            r#"{{"iss":"{A}","sub":"{USER}","iat":{NOW},"exp":{},"jti":"{}","token_use":"app-session","res":"jira-issue:10001"}}"#,
            NOW + 300,
            claims.id()
        )
    );
    // The token never shows in Debug.
    let signature = token.as_str().rsplit('.').next().unwrap();
    assert!(!format!("{token:?}").contains(signature));
    assert!(!format!("{verified:?}").contains(signature));
}

#[tokio::test]
async fn ids_are_unique() {
    let mut ids = std::collections::HashSet::new();
    for _ in 0..200 {
        let token = mint_a(None).await;
        let payload = token.split('.').nth(1).unwrap();
        assert!(ids.insert(payload.to_owned()));
    }
}

#[test]
fn the_session_key_is_the_documented_kdf() {
    // A token signed outside the crate with the known-answer key verifies ...
    let token = sign(
        SESSION_HEADER,
        &session_payload(A, ""),
        &hex(SESSION_KEY_A_HEX),
    );
    let verified = SessionVerifier::new()
        .verify(&token, &keys(), now())
        .unwrap();
    assert_eq!(verified.account_id(), USER);
    // ... and with the tenant's raw secret (ACE's `X-acpt`) it does not.
    let raw = sign(SESSION_HEADER, &session_payload(A, ""), SECRET_A.as_bytes());
    assert_eq!(
        SessionVerifier::new()
            .verify(&raw, &keys(), now())
            .unwrap_err(),
        Error::InvalidSignature
    );
}

#[test]
fn a_token_of_tenant_a_never_verifies_for_tenant_b() {
    // B's clientKey in a token signed with A's session key.
    let forged = sign(
        SESSION_HEADER,
        &session_payload(B, ""),
        &hex(SESSION_KEY_A_HEX),
    );
    assert_eq!(
        SessionVerifier::new()
            .verify(&forged, &keys(), now())
            .unwrap_err(),
        Error::InvalidSignature
    );
    // Even when both tenants have the same shared secret: the clientKey is the KDF context.
    let same_secret = HashMap::from([
        (A.to_owned(), key(A, SECRET_A)),
        (B.to_owned(), key(B, SECRET_A)),
    ]);
    assert_eq!(
        SessionVerifier::new()
            .verify(&forged, &same_secret, now())
            .unwrap_err(),
        Error::InvalidSignature
    );
    let genuine_b = sign(
        SESSION_HEADER,
        &session_payload(B, ""),
        &hex(SESSION_KEY_B_UNDER_SECRET_A_HEX),
    );
    assert_eq!(
        SessionVerifier::new()
            .verify(&genuine_b, &same_secret, now())
            .unwrap()
            .client_key(),
        B
    );
    // A store that answers with another tenant's key is a misconfiguration.
    let token = sign(
        SESSION_HEADER,
        &session_payload(A, ""),
        &hex(SESSION_KEY_A_HEX),
    );
    let wrong = |_: &str| Some(SharedSecret::new(SECRET_A));
    let wrong_key = SessionKey::derive(&key(B, SECRET_A)).unwrap();
    let unverified = atlassian_connect_jwt::session::UnverifiedSession::parse(&token).unwrap();
    assert_eq!(
        SessionVerifier::new()
            .finish(unverified, &wrong_key, now())
            .unwrap_err(),
        Error::Config(ConfigError::KeyTenantMismatch)
    );
    // (The closure store derives A's key for A: fine.)
    assert!(SessionVerifier::new().verify(&token, &wrong, now()).is_ok());
}

#[tokio::test]
async fn a_session_token_is_never_a_product_token() {
    let token = mint_a(None).await;
    let request = CanonicalRequest::from_target("GET", "/api/anything", None).unwrap();
    for policy in [
        QshPolicy::Request(&request),
        QshPolicy::Context,
        QshPolicy::RequestOrContext(&request),
    ] {
        assert_eq!(
            Verifier::new()
                .verify(&token, policy, &keys(), now())
                .unwrap_err(),
            Error::SessionTokenNotAccepted
        );
    }
    // Even one crafted to carry a valid product signature and a context qsh.
    let crafted = sign(
        SESSION_HEADER,
        &format!(
            r#"{{"iss":"{A}","iat":{NOW},"exp":{},"qsh":"context-qsh"}}"#,
            NOW + 60
        ),
        SECRET_A.as_bytes(),
    );
    assert_eq!(
        Verifier::new()
            .verify(&crafted, QshPolicy::Context, &keys(), now())
            .unwrap_err(),
        Error::SessionTokenNotAccepted
    );
    // The session typ in another spelling of the header is still named.
    let reordered = sign(
        r#"{"typ":"app-session+jwt","alg":"HS256"}"#,
        &session_payload(A, ""),
        &hex(SESSION_KEY_A_HEX),
    );
    assert_eq!(
        Verifier::new()
            .verify(&reordered, QshPolicy::Context, &keys(), now())
            .unwrap_err(),
        Error::SessionTokenNotAccepted
    );
}

#[test]
fn a_product_token_is_never_a_session_token() {
    let request = CanonicalRequest::from_target("GET", "/api/session/whoami", None).unwrap();
    let signer = Signer::new(A).with_subject(USER);
    let product = [
        signer
            .sign_request(&request, &key(A, SECRET_A), now())
            .unwrap(),
        signer.sign_context(&key(A, SECRET_A), now()).unwrap(),
    ];
    for token in &product {
        assert_eq!(
            SessionVerifier::new()
                .verify(token.as_str(), &keys(), now())
                .unwrap_err(),
            Error::NotASessionToken
        );
    }
    let session_key = hex(SESSION_KEY_A_HEX);
    // Each type marker is required on its own, even under the right session key.
    for (header, payload) in [
        // A product header over a session payload.
        (
            r#"{"typ":"JWT","alg":"HS256"}"#.to_owned(),
            session_payload(A, ""),
        ),
        // No typ at all.
        (r#"{"alg":"HS256"}"#.to_owned(), session_payload(A, "")),
        // The session header in another member order (this crate writes one spelling).
        (
            r#"{"typ":"app-session+jwt","alg":"HS256"}"#.to_owned(),
            session_payload(A, ""),
        ),
        // A session header over a payload with a qsh.
        (
            SESSION_HEADER.to_owned(),
            session_payload(A, r#","qsh":"context-qsh""#),
        ),
        // ... without token_use, or with another one.
        (
            SESSION_HEADER.to_owned(),
            format!(
                r#"{{"iss":"{A}","sub":"{USER}","iat":{NOW},"exp":{},"jti":"AAAAAAAAAAAAAAAAAAAAAA"}}"#,
                NOW + 300
            ),
        ),
        (
            SESSION_HEADER.to_owned(),
            session_payload(A, "")
                .replace(r#""token_use":"app-session""#, r#""token_use":"access""#),
        ),
        (
            SESSION_HEADER.to_owned(),
            session_payload(A, "").replace(r#""token_use":"app-session""#, r#""token_use":1"#),
        ),
    ] {
        let token = sign(&header, &payload, &session_key);
        assert_eq!(
            SessionVerifier::new()
                .verify(&token, &keys(), now())
                .unwrap_err(),
            Error::NotASessionToken,
            "{header} {payload}"
        );
    }
    // The generic header rules come first.
    for (header, expected) in [
        (
            r#"{"alg":"none","typ":"app-session+jwt"}"#,
            Error::UnsupportedAlgorithm { expected: "HS256" },
        ),
        (r#"{"typ":"app-session+jwt"}"#, Error::MissingAlgorithm),
        (
            r#"{"alg":"HS256","typ":"app-session+jwt","crit":["x"]}"#,
            Error::CriticalHeader,
        ),
        (
            r#"{"alg":"HS256","alg":"HS256"}"#,
            Error::DuplicateMember(TokenPart::Header),
        ),
    ] {
        let token = sign(header, &session_payload(A, ""), &session_key);
        assert_eq!(
            SessionVerifier::new()
                .verify(&token, &keys(), now())
                .unwrap_err(),
            expected,
            "{header}"
        );
    }
}

#[tokio::test]
async fn only_a_verified_request_bound_load_of_a_user_mints() {
    let sessions = sessions();
    assert_eq!(
        sessions
            .mint(&context(A, SECRET_A), &key(A, SECRET_A), None, now())
            .await
            .unwrap_err(),
        Error::ContextTokenNotAllowed
    );
    assert_eq!(
        sessions
            .mint(&iframe(A, SECRET_A, None), &key(A, SECRET_A), None, now())
            .await
            .unwrap_err(),
        Error::MissingClaim(Claim::Sub)
    );
    assert_eq!(
        sessions
            .mint(
                &iframe(A, SECRET_A, Some(USER)),
                &key(B, SECRET_B),
                None,
                now()
            )
            .await
            .unwrap_err(),
        Error::Config(ConfigError::KeyTenantMismatch)
    );
}

#[tokio::test]
async fn time_rules() {
    let sessions = sessions();
    let token = mint_a(None).await;
    let at = |secs| UnixTime::from_secs(secs);
    // Valid until `exp` plus the 5 s leeway, then expired with its own code.
    assert!(sessions
        .verify_with(&token, &keys(), at(NOW + 304))
        .await
        .is_ok());
    assert_eq!(
        sessions
            .verify_with(&token, &keys(), at(NOW + 305))
            .await
            .unwrap_err(),
        Error::SessionExpired {
            exp: NOW + 300,
            now: NOW + 305
        }
    );
    assert_eq!(
        sessions
            .verify_with(&token, &keys(), at(NOW - 6))
            .await
            .unwrap_err(),
        Error::IssuedInFuture {
            iat: NOW,
            now: NOW - 6
        }
    );
    // A token longer-lived than the configured lifetime is refused.
    let long = sessions
        .clone()
        .with_ttl(600)
        .unwrap()
        .mint(
            &iframe(A, SECRET_A, Some(USER)),
            &key(A, SECRET_A),
            None,
            now(),
        )
        .await
        .unwrap();
    assert_eq!(
        sessions
            .verify_with(long.as_str(), &keys(), now())
            .await
            .unwrap_err(),
        Error::LifetimeTooLong {
            lifetime: 600,
            max: 300
        }
    );
    let empty = sign(
        SESSION_HEADER,
        &session_payload(A, "").replace(
            &format!(r#""exp":{}"#, NOW + 300),
            &format!(r#""exp":{NOW}"#),
        ),
        &hex(SESSION_KEY_A_HEX),
    );
    assert_eq!(
        SessionVerifier::new()
            .verify(&empty, &keys(), UnixTime::from_secs(NOW - 1))
            .unwrap_err(),
        Error::EmptyValidity
    );
    // Lifetimes are bounded when configured.
    for ttl in [0, MAX_SESSION_TTL + 1] {
        assert_eq!(
            sessions.clone().with_ttl(ttl).unwrap_err(),
            Error::Config(ConfigError::SessionTtlOutOfRange {
                ttl,
                max: MAX_SESSION_TTL
            })
        );
    }
    assert!(sessions.clone().with_ttl(MAX_SESSION_TTL).is_ok());
    assert_eq!(
        sessions.with_leeway(301).unwrap_err(),
        Error::Config(ConfigError::LeewayTooLarge {
            leeway: 301,
            max: 300
        })
    );
}

#[tokio::test]
async fn resource_binding() {
    let sessions = sessions();
    let bound = mint_a(Some(Resource::ConfluenceContent(98305))).await;
    let verified = sessions.verify_with(&bound, &keys(), now()).await.unwrap();
    assert_eq!(
        verified.require_resource(Resource::ConfluenceContent(98305)),
        Ok(())
    );
    for other in [
        Resource::ConfluenceContent(98306),
        Resource::JiraIssue(98305),
    ] {
        assert_eq!(
            verified.require_resource(other),
            Err(Error::SessionResourceMismatch)
        );
    }
    let unbound = mint_a(None).await;
    let verified = sessions
        .verify_with(&unbound, &keys(), now())
        .await
        .unwrap();
    assert_eq!(
        verified.require_resource(Resource::JiraIssue(1)),
        Err(Error::SessionResourceMismatch)
    );
}

#[tokio::test]
async fn tampering_and_claim_types() {
    let token = mint_a(None).await;
    let (header, rest) = token.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    // Another user in the same token.
    let json = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let other = URL_SAFE_NO_PAD.encode(json.replace(USER, "557058:user-2"));
    assert_eq!(
        SessionVerifier::new()
            .verify(&format!("{header}.{other}.{signature}"), &keys(), now())
            .unwrap_err(),
        Error::InvalidSignature
    );
    assert_eq!(
        SessionVerifier::new()
            .verify(&format!("{header}.{payload}"), &keys(), now())
            .unwrap_err(),
        Error::MalformedToken
    );
    assert_eq!(
        SessionVerifier::new()
            .verify(&format!("{token}="), &keys(), now())
            .unwrap_err(),
        Error::MalformedToken
    );
    let unknown = sign(
        SESSION_HEADER,
        &session_payload("jira:unknown", ""),
        &hex(SESSION_KEY_A_HEX),
    );
    assert_eq!(
        SessionVerifier::new()
            .verify(&unknown, &keys(), now())
            .unwrap_err(),
        Error::UnknownIssuer
    );

    let key = hex(SESSION_KEY_A_HEX);
    let base = session_payload(A, "");
    for (payload, expected) in [
        (
            base.replace(r#""jti":"AAAAAAAAAAAAAAAAAAAAAA""#, r#""jti":"short""#),
            Error::InvalidClaim(Claim::Jti),
        ),
        (
            base.replace(
                r#""jti":"AAAAAAAAAAAAAAAAAAAAAA""#,
                r#""jti":"AAAAAAAAAAAAAAAAAAAAA=""#,
            ),
            Error::InvalidClaim(Claim::Jti),
        ),
        (
            base.replace(r#","jti":"AAAAAAAAAAAAAAAAAAAAAA""#, ""),
            Error::MissingClaim(Claim::Jti),
        ),
        (
            base.replace(&format!(r#""sub":"{USER}""#), r#""sub":7"#),
            Error::InvalidClaim(Claim::Sub),
        ),
        (
            base.replace(&format!(r#""sub":"{USER}""#), r#""sub":"""#),
            Error::InvalidClaim(Claim::Sub),
        ),
        (
            base.replace(&format!(r#""sub":"{USER}","#), ""),
            Error::MissingClaim(Claim::Sub),
        ),
        (
            base.replace(&format!(r#""iss":"{A}","#), ""),
            Error::MissingClaim(Claim::Iss),
        ),
        (
            base.replace(&format!(r#""iat":{NOW}"#), r#""iat":"1""#),
            Error::InvalidClaim(Claim::Iat),
        ),
        (
            base.replace(&format!(r#""exp":{}"#, NOW + 300), r#""exp":-1"#),
            Error::InvalidClaim(Claim::Exp),
        ),
        (
            session_payload(A, r#","res":"jira-issue:010""#),
            Error::InvalidClaim(Claim::Res),
        ),
        (
            session_payload(A, r#","res":"jira-project:1""#),
            Error::InvalidClaim(Claim::Res),
        ),
        (
            session_payload(A, r#","res":5"#),
            Error::InvalidClaim(Claim::Res),
        ),
        (
            session_payload(A, r#","sub":"x""#),
            Error::DuplicateMember(TokenPart::Payload),
        ),
    ] {
        let token = sign(SESSION_HEADER, &payload, &key);
        assert_eq!(
            SessionVerifier::new()
                .verify(&token, &keys(), now())
                .unwrap_err(),
            expected,
            "{payload}"
        );
    }
    // Unknown members are ignored, as the Connect verifier ignores them.
    let extra = sign(
        SESSION_HEADER,
        &session_payload(A, r#","x":[1,{"y":2}]"#),
        &key,
    );
    assert!(SessionVerifier::new()
        .verify(&extra, &keys(), now())
        .is_ok());
}

#[test]
fn user_deleted_bodies() {
    let ok = br#"{"timestamp":1700000000000,"webhookEvent":"user_deleted","user":{"self":"https://x/rest/api/2/user?accountId=557058:a","accountId":"557058:a","displayName":"A","active":false}}"#;
    assert_eq!(UserDeleted::parse(ok).unwrap().account_id(), "557058:a");
    let defect = |d| Error::InvalidWebhookPayload(d);
    let long_id = format!(
        r#"{{"webhookEvent":"user_deleted","user":{{"accountId":"{}"}}}}"#,
        "a".repeat(129)
    );
    let huge = format!(
        r#"{{"webhookEvent":"user_deleted","user":{{"accountId":"a"}},"pad":"{}"}}"#,
        "x".repeat(64 * 1024)
    );
    for (body, expected) in [
        (&b"not json"[..], defect(PayloadDefect::NotJson)),
        (b"[]", defect(PayloadDefect::NotJson)),
        (br#"{"webhookEvent":"user_deleted","user":{"accountId":"a"}} x"#, defect(PayloadDefect::NotJson)),
        (br#"{"user":{"accountId":"a"}}"#, defect(PayloadDefect::MissingField("webhookEvent"))),
        (br#"{"webhookEvent":"user_updated","user":{"accountId":"a"}}"#, defect(PayloadDefect::InvalidField("webhookEvent"))),
        (br#"{"webhookEvent":1,"user":{"accountId":"a"}}"#, defect(PayloadDefect::InvalidField("webhookEvent"))),
        (br#"{"webhookEvent":"user_deleted"}"#, defect(PayloadDefect::MissingField("user"))),
        (br#"{"webhookEvent":"user_deleted","user":"a"}"#, defect(PayloadDefect::InvalidField("user"))),
        (br#"{"webhookEvent":"user_deleted","user":{"name":"a"}}"#, defect(PayloadDefect::MissingField("user.accountId"))),
        (br#"{"webhookEvent":"user_deleted","user":{"accountId":""}}"#, defect(PayloadDefect::InvalidField("user.accountId"))),
        (br#"{"webhookEvent":"user_deleted","user":{"accountId":null}}"#, defect(PayloadDefect::InvalidField("user.accountId"))),
        (long_id.as_bytes(), defect(PayloadDefect::InvalidField("user.accountId"))),
        (br#"{"webhookEvent":"user_deleted","user":{"accountId":"a","accountId":"b"}}"#, defect(PayloadDefect::DuplicateMember)),
        (br#"{"webhookEvent":"user_deleted","webhookEvent":"user_deleted","user":{"accountId":"a"}}"#, defect(PayloadDefect::DuplicateMember)),
        (huge.as_bytes(), defect(PayloadDefect::TooLarge)),
    ] {
        assert_eq!(UserDeleted::parse(body).unwrap_err(), expected, "{}", String::from_utf8_lossy(&body[..body.len().min(80)]));
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn valid_token() -> String {
        sign(
            SESSION_HEADER,
            &session_payload(A, r#","res":"jira-issue:7""#),
            &hex(SESSION_KEY_A_HEX),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any change to a valid token is refused, with an error, never a panic.
        #[test]
        fn every_altered_token_is_refused(at in 0usize..400, byte in 0x20u8..0x7f) {
            let token = valid_token();
            let mut altered = token.clone().into_bytes();
            let at = at % altered.len();
            prop_assume!(altered[at] != byte);
            altered[at] = byte;
            let altered = String::from_utf8(altered).unwrap();
            prop_assert!(SessionVerifier::new().verify(&altered, &keys(), now()).is_err());
        }

        /// Arbitrary text never panics the session parser or the webhook parser.
        #[test]
        fn arbitrary_input_never_panics(text in ".{0,300}", bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = atlassian_connect_jwt::session::UnverifiedSession::parse(&text);
            let _ = SessionVerifier::new().verify(&text, &keys(), now());
            let _ = UserDeleted::parse(&bytes);
            let _ = UserDeleted::parse(text.as_bytes());
        }
    }

    #[test]
    fn the_unaltered_token_verifies() {
        assert!(SessionVerifier::new()
            .verify(&valid_token(), &keys(), now())
            .is_ok());
    }
}

#[test]
fn debug_shows_no_key_and_no_token() {
    let key = SessionKey::derive(&key(A, SECRET_A)).unwrap();
    assert_eq!(
        format!("{key:?}"),
        format!(r#"SessionKey {{ client_key: "{A}", .. }}"#)
    );
    let token = sign(
        SESSION_HEADER,
        &session_payload(A, ""),
        &hex(SESSION_KEY_A_HEX),
    );
    let unverified = atlassian_connect_jwt::session::UnverifiedSession::parse(&token).unwrap();
    assert_eq!(
        format!("{unverified:?}"),
        format!(r#"UnverifiedSession {{ issuer: "{A}", .. }}"#)
    );
}
