//! Every URL the Atlassian product canonicalized and signed in its interoperability tests
//! (`tests/data/product-signed-urls.json`) reproduces the product's canonical request and the
//! `qsh` inside the product's token.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use atlassian_connect_jwt::{BasePath, CanonicalRequest, Qsh};
use base64::Engine as _;
use serde::Deserialize;

#[derive(Deserialize)]
struct Vectors {
    sets: Vec<Set>,
}

#[derive(Deserialize)]
struct Set {
    name: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    method: String,
    url: String,
    base: Option<String>,
    canonical: String,
    token: String,
}

fn vectors() -> Vectors {
    let text = include_str!("data/product-signed-urls.json");
    serde_json::from_str(text).expect("tests/data/product-signed-urls.json parses")
}

/// The `qsh` claim of a token, read without verifying it (the verifier has its own tests).
fn qsh_claim(token: &str) -> String {
    let payload = token.split('.').nth(1).expect("three segments");
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url payload");
    let claims: serde_json::Value = serde_json::from_slice(&json).expect("json payload");
    claims["qsh"].as_str().expect("qsh claim").to_owned()
}

#[test]
fn every_product_vector_reproduces_canonical_request_and_qsh() {
    let vectors = vectors();
    let mut checked = 0;
    for set in &vectors.sets {
        for case in &set.cases {
            let base = case.base.as_deref().map(|b| BasePath::parse(b).unwrap());
            let request = CanonicalRequest::from_target(&case.method, &case.url, base.as_ref())
                .unwrap_or_else(|e| panic!("{} / {}: {e}", set.name, case.name));
            assert_eq!(
                request.to_string(),
                case.canonical,
                "{} / {}: canonical request",
                set.name,
                case.name
            );
            let expected: Qsh = qsh_claim(&case.token).parse().unwrap();
            assert_eq!(request.qsh(), expected, "{} / {}: qsh", set.name, case.name);
            assert_eq!(request.qsh(), Qsh::of_canonical(&case.canonical));
            checked += 1;
        }
    }
    assert_eq!(checked, 157, "78 vectors from 2016 and 79 from 2014");
}

#[test]
fn app_base_path_is_stripped_only_when_given() {
    let vectors = vectors();
    let case = vectors
        .sets
        .iter()
        .flat_map(|s| &s.cases)
        .find(|c| c.base.is_some())
        .expect("the 2014 set has a vector with an app base path");
    let without_base = CanonicalRequest::from_target(&case.method, &case.url, None).unwrap();
    assert_ne!(without_base.to_string(), case.canonical);
    assert_eq!(without_base.to_string(), "GET&/base/test&param=value");
}

/// The worked examples of the reference notes and the security checklist.
#[test]
fn documented_examples() {
    let cases = [
        (
            "/test?A=A&a=a&b=b&B=B",
            "GET&/test&A=A&B=B&a=a&b=b",
            "539adc2b0aef2ec8659825893b8b92e6a53c9483e2150b8185b08490d8b6de60",
        ),
        (
            "/path/to/service?a=1&A=2&b=3&B=4",
            "GET&/path/to/service&A=2&B=4&a=1&b=3",
            "70282c7cf82834bd5a3d6dacda1b4ccd5cf5860a63a1fa2fb86b64d576e6a1d5",
        ),
        (
            "/path/to/service?zee_last=param&repeated=parameter+2&first=param&repeated=parameter+1",
            "GET&/path/to/service&first=param&repeated=parameter%201,parameter%202&zee_last=param",
            "e52bb281606c3bd9ca16cfe96fe2df78f5d9ffa126f06befd750dfa10fa1a897",
        ),
    ];
    for (target, canonical, qsh) in cases {
        let request = CanonicalRequest::from_target("GET", target, None).unwrap();
        assert_eq!(request.to_string(), canonical);
        assert_eq!(request.qsh().to_string(), qsh);
    }
    let post = CanonicalRequest::from_target("POST", "/installed", None).unwrap();
    assert_eq!(post.to_string(), "POST&/installed&");
    assert!(post.qsh().to_string().starts_with("4a2e1de8"));
    // `/a&b` and `/a?b` must not collide (checklist 29).
    let a = CanonicalRequest::from_target("GET", "/a&b", None).unwrap();
    let b = CanonicalRequest::from_target("GET", "/a?b", None).unwrap();
    assert!(a.qsh().to_string().starts_with("06ded36e"));
    assert!(b.qsh().to_string().starts_with("fe7bdb4f"));
    // NFC and NFD stay distinct (checklist 33).
    let nfc = CanonicalRequest::from_target("GET", "/p?x=%C3%A9", None).unwrap();
    let nfd = CanonicalRequest::from_target("GET", "/p?x=e%CC%81", None).unwrap();
    assert_ne!(nfc.qsh(), nfd.qsh());
}
