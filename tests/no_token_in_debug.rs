//! No public type that can hold a token, a secret or a claim set shows a replayable part of
//! a token (its payload or signature segment) or the secret in `{:?}` or `{:#?}`, and no
//! error shows them in its `Display` (the item 3). The signed-install and tenant
//! types are checked in `tests/signed_install/redaction.rs`.
#![allow(clippy::unwrap_used)]

use atlassian_connect_jwt::dangerous::decode_unverified;
use atlassian_connect_jwt::{
    CanonicalRequest, Error, QshPolicy, SharedSecret, Signer, TenantKey, UnixTime, Unverified,
    UserAssertion, Verifier,
};

const SECRET: &str = "connect-test-secret-0123456789abcdef0123";
const ISS: &str = "test-client-key";
const TARGET: &str = "/path/to/service?a=1&A=2&b=3&B=4";
/// The golden request-bound token for `GET TARGET` (README, security checklist fixture T1).
const TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ0ZXN0LWNsaWVudC1rZXkiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMDE4MCwicXNoIjoiNzAyODJjN2NmODI4MzRiZDVhM2Q2ZGFjZGExYjRjY2Q1Y2Y1ODYwYTYzYTFmYTJmYjg2YjY0ZDU3NmU2YTFkNSJ9.p_628YD5xOEjKOGLmVZ7TKOyymWyyfgWIwDuac8amkY";

/// The parts of `token` that must never be shown: its payload and signature segments (the
/// header is the same for every token), and `secret`.
fn forbidden(token: &str) -> Vec<String> {
    let mut parts = token
        .split('.')
        .skip(1)
        .map(str::to_owned)
        .collect::<Vec<_>>();
    assert_eq!(parts.len(), 2);
    parts.push(SECRET.to_owned());
    parts
}

/// Both `Debug` forms of `value` hold none of `forbidden`.
fn assert_redacted(what: &str, value: &dyn core::fmt::Debug, forbidden: &[String]) {
    for shown in [format!("{value:?}"), format!("{value:#?}")] {
        for part in forbidden {
            assert!(
                !shown.contains(part.as_str()),
                "{what} shows {part:?}: {shown}"
            );
        }
    }
}

fn key() -> TenantKey {
    TenantKey::new(ISS, &SharedSecret::new(SECRET)).unwrap()
}

#[test]
fn core_types_never_show_a_token_or_the_secret() {
    let never = forbidden(TOKEN);
    let now = UnixTime::from_secs(1_700_000_060);
    let url = format!("{TARGET}&jwt={TOKEN}");
    let request = CanonicalRequest::from_target("GET", &url, None).unwrap();
    assert_eq!(request.token(None), Ok(TOKEN));
    let unverified = Unverified::parse(TOKEN).unwrap();
    assert_redacted("Unverified", &unverified, &never);
    let verified = Verifier::new()
        .finish(unverified, &key(), QshPolicy::Request(&request), now)
        .unwrap();
    assert_redacted("Verified", &verified, &never);
    assert_redacted("Claims", verified.claims(), &never);
    assert_redacted("CanonicalRequest", &request, &never);
    assert_redacted("QshPolicy", &QshPolicy::Request(&request), &never);
    assert_redacted("SharedSecret", &SharedSecret::new(SECRET), &never);
    assert_redacted("TenantKey", &key(), &never);
    assert_redacted(
        "UnverifiedParts",
        &decode_unverified(TOKEN).unwrap(),
        &never,
    );

    let signed = Signer::new(ISS)
        .sign_request(&request, &key(), now)
        .unwrap();
    let never_signed = forbidden(signed.as_str());
    assert_redacted("SignedToken", &signed, &never_signed);
    let assertion = UserAssertion {
        oauth_client_id: "client",
        account_id: "account",
        tenant_base_url: "https://tenant.atlassian.net",
    };
    let signed_assertion = assertion.sign(&key(), now).unwrap();
    assert_redacted(
        "SignedToken (assertion)",
        &signed_assertion,
        &forbidden(signed_assertion.as_str()),
    );
    assert_redacted("UserAssertion", &assertion, &never_signed);
}

/// Every error a verification of the golden token can end in, on every policy and request,
/// with and without the secret: none shows the token or the secret.
#[test]
fn errors_from_verifying_never_show_a_token_or_the_secret() {
    let never = forbidden(TOKEN);
    let tampered = {
        let (rest, _) = TOKEN.rsplit_once('.').unwrap();
        format!("{rest}.AAAA")
    };
    // Another request (so a qsh mismatch) carrying the token under another name too.
    let other = format!("/other?JWT={TOKEN}");
    let requests = [TARGET, other.as_str(), "/path/to/service"];
    let keys = [
        key(),
        TenantKey::new(ISS, &SharedSecret::new("another-secret")).unwrap(),
        TenantKey::new("another-tenant", &SharedSecret::new(SECRET)).unwrap(),
    ];
    let mut seen = Vec::new();
    for token in [
        TOKEN,
        tampered.as_str(),
        &TOKEN[..TOKEN.len() - 1],
        "JWT x.y.z",
    ] {
        for target in requests {
            let request = CanonicalRequest::from_target("GET", target, None).unwrap();
            for policy in [QshPolicy::Request(&request), QshPolicy::Context] {
                for key in &keys {
                    for now in [1_700_000_060, 1_800_000_000, 1_600_000_000] {
                        let result = Unverified::parse(token).and_then(|t| {
                            Verifier::new().finish(t, key, policy, UnixTime::from_secs(now))
                        });
                        if let Err(error) = result {
                            let shown = error.to_string();
                            for part in &never {
                                assert!(!shown.contains(part.as_str()), "{shown}");
                            }
                            assert_redacted("Error", &error, &never);
                            seen.push(error.code());
                        }
                    }
                }
            }
        }
    }
    seen.sort_unstable();
    seen.dedup();
    // The loop reached the errors that carry the most text.
    for code in [
        "qsh-mismatch",
        "invalid-signature",
        "expired",
        "issued-in-future",
        "key-tenant-mismatch",
        "context-token-required",
        "malformed-token",
    ] {
        assert!(seen.contains(&code), "{code} not reached: {seen:?}");
    }
    assert!(matches!(
        Verifier::new().verify(
            TOKEN,
            QshPolicy::Context,
            &|_: &str| Some(SharedSecret::new(SECRET)),
            UnixTime::from_secs(1_700_000_060)
        ),
        Err(Error::ContextTokenRequired)
    ));
}
