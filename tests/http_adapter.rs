//! The `http` adapter (feature `http`): the canonical request and the `Authorization` value
//! straight from `http` 1.x requests, hashed as received.
#![cfg(feature = "http")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use atlassian_connect_jwt::http::{authorization, canonical_request, RequestExt as _};
use atlassian_connect_jwt::{
    BasePath, Error, QshPolicy, SharedSecret, Signer, TenantKey, TokenKind, UnixTime, Verifier,
};
use http::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use http::{Method, Request, Uri};

fn get(target: &str) -> Request<()> {
    Request::get(target).body(()).unwrap()
}

fn canonical(request: &Request<()>, base: Option<&BasePath>) -> String {
    request.canonical_request(base).unwrap().to_string()
}

#[test]
fn origin_and_absolute_form_hash_alike() {
    let origin = get("/p?q=1&a=2");
    let absolute = get("https://host.example:8443/p?q=1&a=2");
    assert_eq!(canonical(&origin, None), "GET&/p&a=2&q=1");
    assert_eq!(canonical(&absolute, None), "GET&/p&a=2&q=1");
    assert_eq!(
        origin.canonical_request(None).unwrap().qsh(),
        absolute.canonical_request(None).unwrap().qsh()
    );
    // An absolute URI without a path is the root.
    assert_eq!(canonical(&get("https://host.example"), None), "GET&/&");
    assert_eq!(
        canonical(&get("https://host.example?a=1"), None),
        "GET&/&a=1"
    );
}

#[test]
fn escapes_are_kept_as_received() {
    // The path is never decoded: `%2F` stays `%2F` (a decoded `/` would be another path).
    assert_eq!(
        canonical(&get("/a%2Fb/c%20d?x=%7e&y=a+b&z=%41"), None),
        "GET&/a%2Fb/c%20d&x=~&y=a%20b&z=A"
    );
    // `http` accepts a few bytes RFC 3986 does not; they reach the canonicalization as
    // they came, which then encodes the query and leaves the path alone.
    assert_eq!(canonical(&get("/p{x}?k={v}"), None), "GET&/p{x}&k=%7Bv%7D");
    // A bad escape is the canonicalization's error, not a silent repair.
    assert_eq!(
        get("/p?a=%zz").canonical_request(None).unwrap_err(),
        Error::InvalidPercentEncoding { offset: 2 }
    );
}

#[test]
fn base_path_is_stripped_on_a_segment_boundary() {
    let base = BasePath::parse("https://app.example.com/app").unwrap();
    assert_eq!(
        canonical(&get("/app/panel?a=1"), Some(&base)),
        "GET&/panel&a=1"
    );
    assert_eq!(canonical(&get("/app"), Some(&base)), "GET&/&");
    assert_eq!(
        canonical(&get("https://app.example.com/app/panel"), Some(&base)),
        "GET&/panel&"
    );
    assert_eq!(
        canonical(&get("/application/p"), Some(&base)),
        "GET&/application/p&"
    );
}

#[test]
fn method_is_taken_from_the_request() {
    let post = Request::post("/p").body(()).unwrap();
    assert_eq!(canonical(&post, None), "POST&/p&");
    let custom = Request::builder()
        .method(Method::from_bytes(b"PURGE").unwrap())
        .uri("/p")
        .body(())
        .unwrap();
    assert_eq!(canonical(&custom, None), "PURGE&/p&");
}

#[test]
fn parts_and_request_agree() {
    let request = Request::get("/p?a=1&jwt=h.p.s")
        .header(AUTHORIZATION, "JWT h.p.s")
        .body(())
        .unwrap();
    let from_request = request.canonical_request(None).unwrap().qsh();
    let auth_from_request = request.authorization().unwrap().map(str::to_owned);
    let (parts, ()) = request.into_parts();
    assert_eq!(parts.canonical_request(None).unwrap().qsh(), from_request);
    assert_eq!(
        parts.authorization().unwrap().map(str::to_owned),
        auth_from_request
    );
    let canonical = parts.canonical_request(None).unwrap();
    assert_eq!(canonical.token(parts.authorization().unwrap()), Ok("h.p.s"));
}

#[test]
fn token_from_header_or_query_must_agree() {
    let request = Request::get("/p?jwt=h.p.s")
        .header(AUTHORIZATION, "JWT h.p.x")
        .body(())
        .unwrap();
    let canonical = request.canonical_request(None).unwrap();
    assert_eq!(
        canonical.token(request.authorization().unwrap()),
        Err(Error::ConflictingTokens)
    );
    let bare = get("/p");
    let canonical = bare.canonical_request(None).unwrap();
    assert_eq!(
        canonical.token(bare.authorization().unwrap()),
        Err(Error::MissingToken)
    );
}

#[test]
fn authorization_must_be_one_visible_ascii_value() {
    let with = |values: &[&[u8]]| {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(AUTHORIZATION, HeaderValue::from_bytes(value).unwrap());
        }
        authorization(&headers).map(|v| v.map(str::to_owned))
    };
    assert_eq!(with(&[]), Ok(None));
    assert_eq!(with(&[b"JWT a.b.c"]), Ok(Some("JWT a.b.c".to_owned())));
    assert_eq!(with(&[b"JWT ~!a b"]), Ok(Some("JWT ~!a b".to_owned())));
    // Controls other than tab cannot be in a `HeaderValue` at all; tab and bytes above
    // 0x7e can, and are refused here.
    for bad in [
        &b"JWT a.b.c\t"[..],
        b"JWT\ta.b.c",
        b"JWT a.b.\xc3\xa9",
        b"JWT a.b.\xff",
    ] {
        assert_eq!(
            with(&[bad]),
            Err(Error::InvalidAuthorizationHeader),
            "{bad:?}"
        );
    }
    // Two headers: refused, equal or not, and before their values are looked at.
    assert_eq!(
        with(&[b"JWT a.b.c", b"JWT a.b.c"]),
        Err(Error::InvalidAuthorizationHeader)
    );
    assert_eq!(
        with(&[b"JWT a.b.c", b"JWT a.b.d"]),
        Err(Error::InvalidAuthorizationHeader)
    );
    assert_eq!(
        with(&[b"JWT a.b.c", b"Basic eA=="]),
        Err(Error::InvalidAuthorizationHeader)
    );
}

#[test]
fn the_uri_is_not_normalized() {
    // Dot segments and double slashes are hashed as sent: the product hashed what it sent.
    assert_eq!(canonical(&get("/a/../b//c/"), None), "GET&/a/../b//c&");
}

#[test]
fn a_fragment_never_counts() {
    // `http` drops a fragment when it parses a URI; the canonical request never sees it.
    let uri: Uri = "/p?a=1#frag".parse().unwrap();
    let canonical = canonical_request(&Method::GET, &uri, None).unwrap();
    assert_eq!(canonical.to_string(), "GET&/p&a=1");
}

#[test]
fn a_signed_request_verifies_from_its_parts() {
    let secret = SharedSecret::new("tenant-secret-0123456789abcdef0123");
    let key = TenantKey::new("tenant-1", &secret).unwrap();
    let now = UnixTime::from_secs(1_700_000_000);
    let base = BasePath::parse("https://app.example.com/app").unwrap();
    // The product signs the path relative to the app's base URL.
    let token = Signer::new("tenant-1")
        .sign_outbound(
            "POST",
            "https://app.example.com/app/hook?b=%7e&a=1",
            &base,
            &key,
            now,
        )
        .unwrap();
    let request = Request::post("https://app.example.com/app/hook?a=1&b=%7e")
        .header(AUTHORIZATION, token.authorization_header())
        .body(())
        .unwrap();
    let (parts, ()) = request.into_parts();
    let canonical = parts.canonical_request(Some(&base)).unwrap();
    let found = canonical.token(parts.authorization().unwrap()).unwrap();
    let store = |iss: &str| (iss == "tenant-1").then(|| secret.clone());
    let verified = Verifier::new()
        .verify(found, QshPolicy::Request(&canonical), &store, now)
        .unwrap();
    assert_eq!(verified.kind(), TokenKind::RequestBound);

    // The same token for the same path without the base stripped is another request.
    let unstripped = parts.canonical_request(None).unwrap();
    let err = Verifier::new()
        .verify(found, QshPolicy::Request(&unstripped), &store, now)
        .unwrap_err();
    assert_eq!(err.code(), "qsh-mismatch");
}
