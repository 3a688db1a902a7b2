//! The whole Forge remote path against a real key-set server: `ForgeVerifier::verify_async`
//! with a `JwksCache` over an `HttpJwksSource` pointed at an HTTP server on 127.0.0.1 that
//! serves key sets and counts every request it receives.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use atlassian_connect_jwt::{
    ConfigError, Error, HttpJwksSource, IcLabel, JwksCache, JwksSource, Unavailable, UnixTime,
    ATLASSIAN_FORGE_JWKS_URL, MAX_JWKS_LEN,
};
use serde_json::json;

use super::server::{Answer, JwksServer};
use super::{b64, claims, forge, header, jwks, rotated, token, verifier, with, NOW, ROTATED_KID};

/// The server of `server.rs`, serving Forge's key set at `/jwks.json`.
fn start() -> JwksServer {
    let server = JwksServer::start();
    server.answer("/jwks.json", Answer::Ok(jwks(&[forge().jwk()]), None));
    server
}

async fn verify(keys: &JwksCache<HttpJwksSource>, token: &str) -> Result<String, Error> {
    verifier()
        .verify_async(token, keys, UnixTime::from_secs(NOW))
        .await
        .map(|v| v.installation_id().to_owned())
}

/// A token naming `kid`, with a signature that is never looked at: its `kid` is unknown.
fn made_up(kid: &str) -> String {
    format!(
        "{}.{}.c2ln",
        b64(header(kid).to_string().as_bytes()),
        b64(claims().to_string().as_bytes())
    )
}

fn unavailable(reason: &'static str) -> Error {
    Error::Unavailable(Unavailable::Key { reason })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_token_is_accepted_with_one_fetch_and_cached_after() {
    let server = start();
    let keys = server.keys();
    assert_eq!(verify(&keys, &token()).await.unwrap(), super::INSTALLATION);
    assert_eq!(server.count(), 1);
    for _ in 0..20 {
        assert!(verify(&keys, &token()).await.is_ok());
    }
    assert_eq!(server.count(), 1);
    // Only the configured URL is ever requested: no kid, label or token part in it.
    assert_eq!(server.requests(), ["/jwks.json"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_concurrent_first_requests_cause_one_fetch() {
    let server = start();
    server.answer(
        "/jwks.json",
        Answer::Slow(Duration::from_millis(150), jwks(&[forge().jwk()])),
    );
    let keys = server.keys();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let keys = Arc::clone(&keys);
            tokio::spawn(async move { verify(&keys, &token()).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), super::INSTALLATION);
    }
    assert_eq!(server.count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_is_handled_with_one_refetch() {
    let server = start();
    let interval = Duration::from_secs(2);
    let keys = JwksCache::new(server.source()).with_refetch_interval(interval);
    assert!(verify(&keys, &token()).await.is_ok());
    assert_eq!(server.count(), 1);
    // Forge publishes a new key and signs with it.
    server.answer(
        "/jwks.json",
        Answer::Ok(jwks(&[forge().jwk(), rotated().jwk()]), None),
    );
    let new_key = rotated().sign(&header(ROTATED_KID), &claims());
    // Within the refetch interval of the last fetch: not fetched again.
    assert_eq!(
        verify(&keys, &new_key).await.unwrap_err(),
        Error::UnknownKeyId
    );
    assert_eq!(server.count(), 1);
    tokio::time::sleep(interval).await;
    assert!(verify(&keys, &new_key).await.is_ok());
    assert_eq!(server.count(), 2);
    for token in [new_key, token()] {
        assert!(verify(&keys, &token).await.is_ok());
    }
    assert_eq!(server.count(), 2);
    // A kid the refreshed set does not have: unknown after one refetch, then no more.
    tokio::time::sleep(interval).await;
    let unknown = made_up("forge/invocation-token/wf-never-published");
    assert_eq!(
        verify(&keys, &unknown).await.unwrap_err(),
        Error::UnknownKeyId
    );
    assert_eq!(server.count(), 3);
    assert_eq!(
        verify(&keys, &unknown).await.unwrap_err(),
        Error::UnknownKeyId
    );
    assert_eq!(server.count(), 3);
}

/// Planted bug this catches: refetching on every unknown `kid` costs the CDN 1,000 requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_1000_random_kids_is_bounded() {
    let server = start();
    // The defaults: within 30 seconds of the last fetch, unknown kids cause no fetch at all.
    let keys = server.keys();
    assert!(verify(&keys, &token()).await.is_ok());
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let keys = Arc::clone(&keys);
            tokio::spawn(async move {
                verify(
                    &keys,
                    &made_up(&format!("forge/invocation-token/wf-{i:032x}")),
                )
                .await
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap_err(), Error::UnknownKeyId);
    }
    assert_eq!(server.count(), 1);
    // With the interval elapsed: one refetch for the whole burst (the documented bound is
    // one per interval the burst spans).
    let interval = Duration::from_millis(500);
    let keys = Arc::new(JwksCache::new(server.source()).with_refetch_interval(interval));
    assert!(verify(&keys, &token()).await.is_ok());
    assert_eq!(server.count(), 2);
    tokio::time::sleep(interval).await;
    let started = Instant::now();
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let keys = Arc::clone(&keys);
            tokio::spawn(async move { verify(&keys, &made_up(&format!("forge/wf-{i}"))).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap_err(), Error::UnknownKeyId);
    }
    let refetches = server.count() - 2;
    let bound = 1 + (started.elapsed().as_millis() / interval.as_millis()) as usize;
    assert!(
        refetches >= 1 && refetches <= bound,
        "{refetches} > {bound}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_unavailable_and_name_no_url() {
    let server = start();
    let cases = [
        (
            Answer::Status(500),
            unavailable("the key server answered with an error status"),
        ),
        (
            Answer::Status(404),
            unavailable("the key server answered with an error status"),
        ),
        (
            Answer::Status(302),
            unavailable("the key server answered with a redirect"),
        ),
        (
            Answer::Status(307),
            unavailable("the key server answered with a redirect"),
        ),
        (
            Answer::Ok("a".repeat(MAX_JWKS_LEN + 1), None),
            unavailable("the key server's answer is too large"),
        ),
        (
            Answer::OkUnsized("a".repeat(MAX_JWKS_LEN + 1)),
            unavailable("the key server's answer is too large"),
        ),
        (
            Answer::Ok("<html>maintenance</html>".into(), None),
            unavailable("the key server's answer is not a json web key set"),
        ),
        (
            Answer::Ok(
                r#"{"keys":[{"kid":"forge/a","kid":"forge/b"}]}"#.into(),
                None,
            ),
            unavailable("the key server's answer is not a json web key set"),
        ),
        (
            Answer::Slow(Duration::from_secs(4), jwks(&[forge().jwk()])),
            unavailable("the key server did not answer in time"),
        ),
    ];
    for (answer, expected) in cases {
        server.answer("/jwks.json", answer);
        let source = server.source().with_timeout(Duration::from_secs(2));
        let error = source.fetch_jwks(None).await.unwrap_err();
        assert_eq!(error, expected);
        assert!(!error.to_string().contains("127.0.0.1"), "{error}");
    }
    // Redirects were not followed.
    assert!(!server.requests().iter().any(|t| t == "/elsewhere"));
    // Nothing listening.
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/jwks.json", listener.local_addr().unwrap())
    };
    let error = HttpJwksSource::with_url(&closed)
        .unwrap()
        .fetch_jwks(None)
        .await
        .unwrap_err();
    assert_eq!(error, unavailable("the key server could not be reached"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_is_kept_briefly_then_retried() {
    let server = start();
    server.answer("/jwks.json", Answer::Status(503));
    let keys = JwksCache::new(server.source()).with_failure_ttl(Duration::from_secs(2));
    let down = unavailable("the key server answered with an error status");
    assert_eq!(verify(&keys, &token()).await.unwrap_err(), down);
    assert_eq!(verify(&keys, &token()).await.unwrap_err(), down);
    assert_eq!(server.count(), 1);
    server.answer("/jwks.json", Answer::Ok(jwks(&[forge().jwk()]), None));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(verify(&keys, &token()).await.is_ok());
    assert_eq!(server.count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_control_bounds_how_long_a_set_is_kept() {
    let server = start();
    server.answer(
        "/jwks.json",
        Answer::Ok(jwks(&[forge().jwk()]), Some("public, max-age=600")),
    );
    let set = server.source().fetch_jwks(None).await.unwrap();
    assert_eq!(set.max_age(), Some(Duration::from_secs(600)));
    // The cache's TTL caps a longer max-age.
    let keys = JwksCache::new(server.source()).with_ttl(Duration::from_secs(2));
    assert!(verify(&keys, &token()).await.is_ok());
    assert!(verify(&keys, &token()).await.is_ok());
    assert_eq!(server.count(), 2);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(verify(&keys, &token()).await.is_ok());
    assert_eq!(server.count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolated_cloud_labels_fill_the_configured_template_only() {
    let server = start();
    server.answer(
        "/ic/acme/jwks.json",
        Answer::Ok(jwks(&[rotated().jwk()]), None),
    );
    let template = server.url("/ic/{IC_LABEL}/jwks.json");
    let source = server.source().with_isolated_cloud(&template).unwrap();
    assert_eq!(
        source.jwks_url(Some(&IcLabel::new("acme").unwrap())),
        Some(server.url("/ic/acme/jwks.json"))
    );
    let keys = JwksCache::new(source);
    let isolated = rotated().sign(&header(ROTATED_KID), &with(&["icLabel"], json!("acme")));
    assert!(verify(&keys, &isolated).await.is_ok());
    assert!(verify(&keys, &token()).await.is_ok());
    // A label Atlassian does not serve: 404 there is an unknown key, not an outage.
    let elsewhere = rotated().sign(&header(ROTATED_KID), &with(&["icLabel"], json!("nowhere")));
    assert_eq!(
        verify(&keys, &elsewhere).await.unwrap_err(),
        Error::UnknownKeyId
    );
    // A label that could leave the template never reaches a URL.
    let hostile = rotated().sign(&header(ROTATED_KID), &with(&["icLabel"], json!("../../x")));
    assert_eq!(
        verify(&keys, &hostile).await.unwrap_err(),
        Error::InvalidClaim(atlassian_connect_jwt::Claim::IcLabel)
    );
    let mut requests = server.requests();
    requests.sort();
    assert_eq!(
        requests,
        ["/ic/acme/jwks.json", "/ic/nowhere/jwks.json", "/jwks.json"]
    );
    // Without a template, an Isolated Cloud token fetches nothing.
    let plain = server.keys();
    assert_eq!(
        verify(&plain, &isolated).await.unwrap_err(),
        Error::UnknownKeyId
    );
    assert_eq!(server.count(), 3);
}

#[test]
fn key_set_urls_are_https_and_fixed() {
    assert!(HttpJwksSource::new().is_ok());
    assert_eq!(
        HttpJwksSource::new().unwrap().jwks_url(None).as_deref(),
        Some(ATLASSIAN_FORGE_JWKS_URL)
    );
    let invalid = Error::Config(ConfigError::InvalidBaseUrl);
    for bad in [
        "http://forge.cdn.example/jwks.json",
        "https://user:pass@forge.cdn.example/jwks.json",
        "https://forge.cdn.example/jwks.json?kid=x",
        "https://forge.cdn.example/jwks.json#x",
        "forge.cdn.example/jwks.json",
    ] {
        assert_eq!(HttpJwksSource::with_url(bad).unwrap_err(), invalid, "{bad}");
    }
    let https = HttpJwksSource::new().unwrap();
    for template in [
        "https://forge.cdn.example.net/jwks.json",
        "https://{IC_LABEL}/jwks.json",
        "https://{IC_LABEL}.net/jwks.json",
        "https://x{IC_LABEL}.example.net/jwks.json",
        "https://example.net:{IC_LABEL}/jwks.json",
        "https://{IC_LABEL}.example.net/{IC_LABEL}/jwks.json",
        "http://{IC_LABEL}.example.net/jwks.json",
        "http://127.0.0.1/{IC_LABEL}/jwks.json",
        "https://example.net/jwks.json?ic={IC_LABEL}",
    ] {
        assert_eq!(
            https.clone().with_isolated_cloud(template).unwrap_err(),
            invalid,
            "{template}"
        );
    }
    for template in [
        "https://forge.cdn.{IC_LABEL}.example.net/.well-known/jwks.json",
        "https://{IC_LABEL}.example.net/jwks.json",
        "https://example.net/ic/{IC_LABEL}/jwks.json",
    ] {
        assert!(
            https.clone().with_isolated_cloud(template).is_ok(),
            "{template}"
        );
    }
}

/// What a web framework needs: the whole verification is a `Send` future, and the cache can
/// be shared between threads.
#[test]
fn verification_is_send_and_the_cache_is_shared() {
    fn send<T: Send>(_: &T) {}
    fn shared<T: Send + Sync>() {}
    shared::<JwksCache<HttpJwksSource>>();
    shared::<atlassian_connect_jwt::ForgeVerifier>();
    shared::<atlassian_connect_jwt::VerifiedInvocation>();
    let keys = JwksCache::new(HttpJwksSource::new().unwrap());
    let token = token();
    let verifier = verifier();
    let future = verifier.verify_async(&token, &keys, UnixTime::from_secs(NOW));
    send(&future);
    drop(future);
}
