//! `ConnectClient` against a fake product and a fake authorization server on 127.0.0.1.
//!
//! Every request the fake product receives is checked as it arrived: its JWT verifies with the
//! tenant's secret and its `qsh` is the hash of that very request (base path stripped), which
//! is also written out by hand for each case. Acting as a user sends the bearer token the fake
//! authorization server issued for a valid assertion; tokens are cached, shared, refreshed;
//! rate limits are retried as documented; failures come back typed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod client_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use atlassian_connect_jwt::{
    BasePath, CanonicalRequest, ClientError, ConnectClient, Error, QshPolicy, SharedSecret,
    TenantClient, TenantKey, TenantParts, TokenExchangeError, UnixTime, Verifier,
    DEFAULT_MAX_RETRIES, MAX_BODY_EXCERPT,
};
use sha2::{Digest, Sha256};

use client_support::{
    authorization_server, claims, tenant, FakeServer, Recorded, Reply, APP_KEY, CLIENT_KEY,
    OAUTH_CLIENT_ID, SECRET,
};

fn client_for(auth: Option<&FakeServer>) -> ConnectClient {
    let mut builder = ConnectClient::builder(APP_KEY).with_timeout(Duration::from_secs(10));
    if let Some(auth) = auth {
        builder = builder.with_authorization_server(auth.url(""));
    }
    builder.build().unwrap()
}

async fn product() -> FakeServer {
    FakeServer::start(|_, _| Reply::ok("ok")).await
}

/// Verifies the request's JWT as the product would, and returns the canonical request the
/// product computes from the request as it arrived.
fn verify_as_product(request: &Recorded, base_url: &str) -> String {
    let base = BasePath::parse(base_url).unwrap();
    let canonical =
        CanonicalRequest::from_target(&request.method, &request.target, Some(&base)).unwrap();
    let store = BTreeMap::from([(APP_KEY.to_owned(), SharedSecret::new(SECRET))]);
    let verified = Verifier::new()
        .verify(
            request.jwt(),
            QshPolicy::Request(&canonical),
            &store,
            UnixTime::now(),
        )
        .unwrap();
    assert_eq!(verified.claims().iss(), APP_KEY);
    assert_eq!(
        verified.claims().exp().as_secs() - verified.claims().iat().as_secs(),
        180
    );
    canonical.to_string()
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One signed request: what the caller writes, what must arrive, what the product hashes.
struct Case {
    method: &'static str,
    target: String,
    query: &'static [(&'static str, &'static str)],
    /// The request target the product must receive.
    arrives: String,
    /// The canonical request, written out by hand.
    canonical: &'static str,
}

async fn check_cases(base_path: &str, cases: Vec<Case>) {
    let server = product().await;
    let base_url = server.url(base_path);
    let client = client_for(None);
    let jira = client.for_tenant(&tenant(&base_url, None)).unwrap();
    for case in &cases {
        let caller = jira.as_app();
        let mut request = match case.method {
            "GET" => caller.get(&case.target),
            "POST" => caller.post(&case.target),
            "PUT" => caller.put(&case.target),
            "DELETE" => caller.delete(&case.target),
            other => panic!("{other}"),
        };
        for (name, value) in case.query {
            request = request.query(name, value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), "ok");
    }
    let received = server.requests();
    assert_eq!(received.len(), cases.len());
    for (case, request) in cases.iter().zip(&received) {
        assert_eq!(request.target, case.arrives, "{}", case.target);
        assert_eq!(request.method, case.method);
        let canonical = verify_as_product(request, &base_url);
        assert_eq!(canonical, case.canonical, "{}", case.target);
        // The qsh claim against the hand-written canonical request, without the crate.
        assert_eq!(
            claims(request.jwt())["qsh"],
            sha256_hex(case.canonical),
            "{}",
            case.target
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_carries_a_jwt_whose_qsh_matches_it_jira() {
    let case = |method, target: &str, query, arrives: &str, canonical| Case {
        method,
        target: target.to_owned(),
        query,
        arrives: arrives.to_owned(),
        canonical,
    };
    check_cases(
        "",
        vec![
            case(
                "GET",
                "/rest/api/3/issue/PROJ-1",
                &[],
                "/rest/api/3/issue/PROJ-1",
                "GET&/rest/api/3/issue/PROJ-1&",
            ),
            // Spaces, quotes, `=` and `~` typed into the target; `+` in a query is a space.
            case(
                "GET",
                r#"/rest/api/3/search?jql=project = "AB" AND summary ~ "x+y"&maxResults=5"#,
                &[],
                "/rest/api/3/search?jql=project%20=%20%22AB%22%20AND%20summary%20~%20%22x+y%22&maxResults=5",
                "GET&/rest/api/3/search&jql=project%20%3D%20%22AB%22%20AND%20summary%20~%20%22x%20y%22&maxResults=5",
            ),
            // An encoded slash stays encoded; Unicode and spaces in the path are encoded once.
            case(
                "GET",
                "/rest/api/3/issue/A%2FB/comment/ü x",
                &[],
                "/rest/api/3/issue/A%2FB/comment/%C3%BC%20x",
                "GET&/rest/api/3/issue/A%2FB/comment/%C3%BC%20x&",
            ),
            // Repeated parameters, in the target and added by the caller; reserved characters
            // in an added value.
            case(
                "GET",
                "/rest/api/3/field?b=2&a=1&a=0",
                &[("a", "x y"), ("c", "é&=+"), ("q", "😀")],
                "/rest/api/3/field?b=2&a=1&a=0&a=x+y&c=%C3%A9%26%3D%2B&q=%F0%9F%98%80",
                "GET&/rest/api/3/field&a=0,1,x%20y&b=2&c=%C3%A9%26%3D%2B&q=%F0%9F%98%80",
            ),
            // `&` in the path; a trailing slash is not signed.
            case(
                "GET",
                "/rest/api/2/a&b/",
                &[],
                "/rest/api/2/a&b/",
                "GET&/rest/api/2/a%26b&",
            ),
            // Characters url leaves alone in a path and a query.
            case(
                "GET",
                "/rest/x|y^z?k=[1]|{2}",
                &[],
                "/rest/x|y^z?k=[1]|{2}",
                "GET&/rest/x|y^z&k=%5B1%5D%7C%7B2%7D",
            ),
            case(
                "POST",
                "/rest/api/3/issue?updateHistory=true",
                &[],
                "/rest/api/3/issue?updateHistory=true",
                "POST&/rest/api/3/issue&updateHistory=true",
            ),
            case(
                "PUT",
                "/rest/api/3/issue/PROJ-1",
                &[("notifyUsers", "false")],
                "/rest/api/3/issue/PROJ-1?notifyUsers=false",
                "PUT&/rest/api/3/issue/PROJ-1&notifyUsers=false",
            ),
            case(
                "DELETE",
                "/rest/api/3/issue/PROJ-1?",
                &[("deleteSubtasks", "true")],
                "/rest/api/3/issue/PROJ-1?deleteSubtasks=true",
                "DELETE&/rest/api/3/issue/PROJ-1&deleteSubtasks=true",
            ),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_carries_a_jwt_whose_qsh_matches_it_confluence_wiki() {
    let server = product().await;
    let base_url = server.url("/wiki");
    let client = client_for(None);
    let confluence = client.for_tenant(&tenant(&base_url, None)).unwrap();
    let targets = [
        "/rest/api/content/123/child/attachment?filename=a+b.txt".to_owned(),
        // An absolute link the product returned, under the base URL.
        format!("{base_url}/rest/api/space?limit=10&start=0"),
        "/rest/api/content/search?cql=space=\"DOC\" and title~\"ü\"".to_owned(),
    ];
    for target in &targets {
        confluence.as_app().get(target).send().await.unwrap();
    }
    let expected = [
        (
            "/wiki/rest/api/content/123/child/attachment?filename=a+b.txt",
            "GET&/rest/api/content/123/child/attachment&filename=a%20b.txt",
        ),
        (
            "/wiki/rest/api/space?limit=10&start=0",
            "GET&/rest/api/space&limit=10&start=0",
        ),
        (
            "/wiki/rest/api/content/search?cql=space=%22DOC%22%20and%20title~%22%C3%BC%22",
            "GET&/rest/api/content/search&cql=space%3D%22DOC%22%20and%20title~%22%C3%BC%22",
        ),
    ];
    let received = server.requests();
    assert_eq!(received.len(), expected.len());
    for (request, (arrives, canonical)) in received.iter().zip(expected) {
        assert_eq!(request.target, arrives);
        // `/wiki` is the product's base path: it is not signed.
        assert_eq!(verify_as_product(request, &base_url), canonical);
        assert_eq!(claims(request.jwt())["qsh"], sha256_hex(canonical));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_and_headers_are_sent() {
    let server = product().await;
    let client = client_for(None);
    let jira = client.for_tenant(&tenant(&server.url(""), None)).unwrap();
    jira.as_app()
        .post("/rest/api/3/issue")
        .json(&serde_json::json!({"fields": {"summary": "ü"}}))
        .header("X-Atlassian-Token", "no-check")
        .send()
        .await
        .unwrap();
    jira.as_app()
        .put("/rest/api/3/issue/PROJ-1/properties/p")
        .body(b"raw".to_vec(), "text/plain")
        .send()
        .await
        .unwrap();
    let received = server.requests();
    assert_eq!(received[0].body, r#"{"fields":{"summary":"ü"}}"#.as_bytes());
    assert_eq!(received[0].header("content-type"), Some("application/json"));
    assert_eq!(received[0].header("x-atlassian-token"), Some("no-check"));
    assert_eq!(received[0].header("accept"), Some("application/json"));
    assert_eq!(received[1].body, b"raw");
    assert_eq!(received[1].header("content-type"), Some("text/plain"));
    for request in &received {
        verify_as_product(request, &server.url(""));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_that_cannot_be_sent_to_the_tenant_are_refused_before_sending() {
    let server = product().await;
    let base_url = server.url("/wiki");
    let client = client_for(None);
    let confluence = client.for_tenant(&tenant(&base_url, None)).unwrap();
    let app = confluence.as_app();
    let other_host = format!(
        "http://localhost:{}/wiki/rest/api/space",
        server.addr.port()
    );
    let cases = [
        (
            app.get("https://evil.example/wiki/rest"),
            ClientError::OutsideBaseUrl,
        ),
        (app.get(&other_host), ClientError::OutsideBaseUrl),
        (
            app.get(&server.url("/rest/api/3/issue")),
            ClientError::OutsideBaseUrl,
        ),
        (app.get("/../rest/api/3/issue"), ClientError::OutsideBaseUrl),
        (app.get("rest/api/space"), ClientError::InvalidPath),
        (app.get("/rest/api/space#x"), ClientError::InvalidPath),
        (
            app.get("/rest/api/space\r\nHost: evil"),
            ClientError::InvalidPath,
        ),
        (
            app.get("/rest").header("Authorization", "Basic x"),
            ClientError::ReservedHeader("Authorization"),
        ),
        (
            app.get("/rest").header("x", "a\nb"),
            ClientError::InvalidHeader,
        ),
        (
            app.get("/rest?a=%zz"),
            ClientError::Unsignable(Error::InvalidPercentEncoding { offset: 2 }),
        ),
        (
            app.get("/rest?a=%FF"),
            ClientError::Unsignable(Error::InvalidUtf8 { offset: 2 }),
        ),
    ];
    for (request, expected) in cases {
        assert_eq!(request.send().await.unwrap_err(), expected);
    }
    assert_eq!(server.count(), 0);

    for bad in [
        "http://example.atlassian.net",
        "https://example.atlassian.net?x=1",
        "https://user:pass@example.atlassian.net",
        "example.atlassian.net",
    ] {
        assert_eq!(
            client.for_tenant(&tenant(bad, None)).unwrap_err(),
            ClientError::InvalidBaseUrl,
            "{bad}"
        );
    }
    assert_eq!(
        ConnectClient::builder(APP_KEY)
            .with_authorization_server("http://oauth.example")
            .build()
            .unwrap_err(),
        ClientError::InvalidBaseUrl
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_from_parts_signs_like_a_stored_one() {
    let server = product().await;
    let client = client_for(None);
    let key = TenantKey::new(CLIENT_KEY, &SharedSecret::new(SECRET)).unwrap();
    let jira = client
        .for_parts(TenantParts {
            base_url: &server.url("/"),
            key,
            oauth_client_id: None,
        })
        .unwrap();
    assert_eq!(jira.base_url(), server.url(""));
    assert_eq!(jira.client_key(), CLIENT_KEY);
    jira.as_app()
        .get("/rest/api/3/myself")
        .send()
        .await
        .unwrap();
    assert_eq!(
        verify_as_product(&server.requests()[0], &server.url("")),
        "GET&/rest/api/3/myself&"
    );
}

// ----- acting as a user -----

/// A product that answers 200 with the bearer token it received.
async fn bearer_echo() -> FakeServer {
    FakeServer::start(|request, _| match request.header("authorization") {
        Some(value) if value.starts_with("Bearer ") => Reply::ok(value),
        _ => Reply::status(401),
    })
    .await
}

fn user_tenant(client: &ConnectClient, product: &FakeServer) -> TenantClient {
    client
        .for_tenant(&tenant(&product.url(""), Some(OAUTH_CLIENT_ID)))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acting_as_a_user_sends_the_exchanged_bearer_token() {
    let auth = authorization_server(900, Duration::ZERO).await;
    let server = bearer_echo().await;
    let client = client_for(Some(&auth));
    let jira = user_tenant(&client, &server);
    let response = jira
        .as_user("557058:user-1", &["write", "READ"])
        .get("/rest/api/3/myself")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.text().await.unwrap(),
        "Bearer at-0-557058:user-1-READ_WRITE"
    );
    let exchange = &auth.requests()[0];
    assert_eq!(
        exchange.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(exchange.form_field("scope").as_deref(), Some("READ WRITE"));
    let assertion = claims(&exchange.form_field("assertion").unwrap());
    assert_eq!(assertion["tnt"], server.url(""));
    assert_eq!(
        assertion["sub"],
        "urn:atlassian:connect:useraccountid:557058:user-1"
    );
    // No JWT goes to the product on a user's request.
    assert_eq!(
        server.requests()[0].header("authorization"),
        Some("Bearer at-0-557058:user-1-READ_WRITE")
    );

    // The same user and scopes (in any order and case) reuse the token; other scopes or
    // another user get their own.
    for scopes in [&["READ", "WRITE"][..], &["Write", "read", "READ"][..]] {
        jira.as_user("557058:user-1", scopes)
            .get("/rest/api/3/myself")
            .send()
            .await
            .unwrap();
    }
    assert_eq!(auth.count(), 1);
    jira.as_user("557058:user-1", &["READ"])
        .get("/x")
        .send()
        .await
        .unwrap();
    jira.as_user("557058:user-2", &["READ"])
        .get("/x")
        .send()
        .await
        .unwrap();
    assert_eq!(auth.count(), 3);
    assert_eq!(client.cached_tokens(), 3);
    // A bearer token is bound to no URL: a query the product could not have signed is sent
    // as it is.
    jira.as_user("557058:user-2", &["READ"])
        .get("/x?a=%zz")
        .send()
        .await
        .unwrap();
    assert_eq!(server.requests().last().unwrap().target, "/x?a=%zz");
    assert_eq!(auth.count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_calls_for_one_user_cause_one_exchange() {
    let auth = authorization_server(900, Duration::from_millis(300)).await;
    let server = bearer_echo().await;
    let client = client_for(Some(&auth));
    let jira = user_tenant(&client, &server);
    let mut calls = Vec::new();
    for _ in 0..50 {
        let jira = jira.clone();
        calls.push(tokio::spawn(async move {
            jira.as_user("user-1", &["READ"])
                .get("/rest/api/3/myself")
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }));
    }
    for call in calls {
        assert_eq!(call.await.unwrap(), "Bearer at-0-user-1-READ");
    }
    assert_eq!(auth.count(), 1);
    assert_eq!(server.count(), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_share_a_failed_exchange_and_later_ones_try_again() {
    let auth = FakeServer::start(|_, _| {
        Reply::status(500)
            .body(r#"{"error":"server_error"}"#)
            .after(Duration::from_millis(300))
    })
    .await;
    let server = bearer_echo().await;
    let client = client_for(Some(&auth));
    let jira = user_tenant(&client, &server);
    let mut calls = Vec::new();
    for _ in 0..10 {
        let jira = jira.clone();
        calls.push(tokio::spawn(async move {
            jira.as_user("user-1", &["READ"]).get("/x").send().await
        }));
    }
    let expected = ClientError::TokenExchange(TokenExchangeError::Status {
        status: 500,
        oauth_error: Some("server_error".to_owned()),
    });
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap_err(), expected);
    }
    assert_eq!(auth.count(), 1);
    // A failure is not cached.
    let again = jira.as_user("user-1", &["READ"]).get("/x").send().await;
    assert_eq!(again.unwrap_err(), expected);
    assert_eq!(auth.count(), 2);
    assert_eq!(server.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiring_token_is_refreshed() {
    // 62 s of life, refreshed 60 s before: usable for 2 s.
    let auth = authorization_server(62, Duration::ZERO).await;
    let server = bearer_echo().await;
    let client = client_for(Some(&auth));
    let jira = user_tenant(&client, &server);
    let call = || async {
        jira.as_user("user-1", &["READ"])
            .get("/x")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    assert_eq!(call().await, "Bearer at-0-user-1-READ");
    assert_eq!(call().await, "Bearer at-0-user-1-READ");
    assert_eq!(auth.count(), 1);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(call().await, "Bearer at-1-user-1-READ");
    assert_eq!(call().await, "Bearer at-1-user-1-READ");
    assert_eq!(auth.count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_the_product_refuses_is_exchanged_again() {
    let auth = authorization_server(900, Duration::ZERO).await;
    // The product refuses the first token issued.
    let server = FakeServer::start(|request, _| match request.header("authorization") {
        Some("Bearer at-0-user-1-READ") => Reply::status(401),
        Some(value) => Reply::ok(value),
        None => Reply::status(401),
    })
    .await;
    let client = client_for(Some(&auth));
    let jira = user_tenant(&client, &server);
    let first = jira.as_user("user-1", &["READ"]).get("/x").send().await;
    assert_eq!(first.unwrap_err().status(), Some(401));
    let second = jira
        .as_user("user-1", &["READ"])
        .get("/x")
        .send()
        .await
        .unwrap();
    assert_eq!(second.text().await.unwrap(), "Bearer at-1-user-1-READ");
    assert_eq!(auth.count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acting_as_a_user_fails_typed() {
    let auth = authorization_server(900, Duration::ZERO).await;
    let server = bearer_echo().await;
    let client = client_for(Some(&auth));
    let without_id = client.for_tenant(&tenant(&server.url(""), None)).unwrap();
    assert_eq!(
        without_id
            .as_user("u", &["READ"])
            .get("/x")
            .send()
            .await
            .unwrap_err(),
        ClientError::NoOAuthClientId
    );
    let jira = user_tenant(&client, &server);
    assert_eq!(
        jira.as_user("u", &[]).get("/x").send().await.unwrap_err(),
        ClientError::InvalidScope
    );
    assert_eq!(
        jira.as_user("u", &["READ WRITE"])
            .get("/x")
            .send()
            .await
            .unwrap_err(),
        ClientError::InvalidScope
    );
    assert_eq!(
        jira.as_user("", &["READ"])
            .get("/x")
            .send()
            .await
            .unwrap_err(),
        ClientError::InvalidAccountId
    );
    assert_eq!(auth.count(), 0);
    assert_eq!(server.count(), 0);

    // The authorization server refuses, answers nonsense, is unreachable.
    let refusing = FakeServer::start(|_, _| {
        Reply::status(400).body(r#"{"error":"invalid_grant","error_description":"eyJ..."}"#)
    })
    .await;
    let nonsense = FakeServer::start(|_, _| Reply::ok(r#"{"token":"x"}"#)).await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let cases = [
        (
            refusing.url(""),
            TokenExchangeError::Status {
                status: 400,
                oauth_error: Some("invalid_grant".to_owned()),
            },
        ),
        (nonsense.url(""), TokenExchangeError::InvalidResponse),
        (closed, TokenExchangeError::Connect),
    ];
    for (url, expected) in cases {
        let client = ConnectClient::builder(APP_KEY)
            .with_authorization_server(url)
            .build()
            .unwrap();
        let jira = user_tenant(&client, &server);
        assert_eq!(
            jira.as_user("u", &["READ"])
                .get("/x")
                .send()
                .await
                .unwrap_err(),
            ClientError::TokenExchange(expected)
        );
    }
    assert_eq!(server.count(), 0);
}

// ----- rate limits and failures -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_retry_after_1_is_retried_after_a_second_and_signed_anew() {
    let server = FakeServer::start(|_, n| {
        if n == 0 {
            Reply::status(429).header("Retry-After", "1")
        } else {
            Reply::ok("ok")
        }
    })
    .await;
    let client = client_for(None);
    let jira = client.for_tenant(&tenant(&server.url(""), None)).unwrap();
    let response = jira
        .as_app()
        .get("/rest/api/3/myself?x=1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let received = server.requests();
    assert_eq!(received.len(), 2);
    let waited = received[1].at - received[0].at;
    assert!(waited >= Duration::from_secs(1), "{waited:?}");
    // The jitter adds at most half of Retry-After (the rest is this machine's load).
    assert!(waited < Duration::from_secs(4), "{waited:?}");
    let (first, second) = (claims(received[0].jwt()), claims(received[1].jwt()));
    assert_eq!(first["qsh"], second["qsh"]);
    assert!(second["iat"].as_u64() > first["iat"].as_u64());
    for request in &received {
        assert_eq!(
            verify_as_product(request, &server.url("")),
            "GET&/rest/api/3/myself&x=1"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persistent_429_ends_in_a_typed_error_after_the_documented_tries() {
    let server = FakeServer::start(|_, _| Reply::status(429).header("Retry-After", "1")).await;
    let client = client_for(None);
    let jira = client.for_tenant(&tenant(&server.url(""), None)).unwrap();
    let started = Instant::now();
    let error = jira.as_app().get("/x").send().await.unwrap_err();
    assert_eq!(
        error,
        ClientError::RateLimited {
            status: 429,
            attempts: DEFAULT_MAX_RETRIES + 1,
            retry_after: Some(Duration::from_secs(1)),
        }
    );
    assert_eq!(DEFAULT_MAX_RETRIES, 3);
    assert_eq!(server.count(), 4);
    assert!(started.elapsed() >= Duration::from_secs(3));
    let received = server.requests();
    for pair in received.windows(2) {
        assert!(pair[1].at - pair[0].at >= Duration::from_secs(1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_idempotent_requests_are_retried_unless_the_caller_says_so() {
    let limited_once = || async {
        FakeServer::start(|_, n| {
            if n == 0 {
                Reply::status(429).header("Retry-After", "0")
            } else {
                Reply::ok("ok")
            }
        })
        .await
    };
    let client = client_for(None);

    let server = limited_once().await;
    let jira = client.for_tenant(&tenant(&server.url(""), None)).unwrap();
    assert_eq!(
        jira.as_app()
            .post("/rest/api/3/issue")
            .send()
            .await
            .unwrap_err(),
        ClientError::RateLimited {
            status: 429,
            attempts: 1,
            retry_after: Some(Duration::ZERO),
        }
    );
    assert_eq!(server.count(), 1);

    let server = limited_once().await;
    let jira = client.for_tenant(&tenant(&server.url(""), None)).unwrap();
    let response = jira
        .as_app()
        .post("/rest/api/3/search")
        .json(&serde_json::json!({"jql": "x"}))
        .retry_non_idempotent()
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let received = server.requests();
    assert_eq!(received.len(), 2);
    assert_eq!(received[1].body, received[0].body);

    for method in ["PUT", "DELETE", "HEAD"] {
        let server = limited_once().await;
        let jira = client.for_tenant(&tenant(&server.url(""), None)).unwrap();
        let request = match method {
            "PUT" => jira.as_app().put("/x"),
            "DELETE" => jira.as_app().delete("/x"),
            _ => jira.as_app().head("/x"),
        };
        assert_eq!(request.send().await.unwrap().status(), 200, "{method}");
        assert_eq!(server.count(), 2, "{method}");
    }
    let server = limited_once().await;
    let jira = client.for_tenant(&tenant(&server.url(""), None)).unwrap();
    assert_eq!(
        jira.as_app().patch("/x").send().await.unwrap_err().code(),
        "rate-limited"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_variants() {
    let client = client_for(None);
    let once = |first: Reply| async move {
        FakeServer::start(move |_, n| {
            if n == 0 {
                first.clone()
            } else {
                Reply::ok("ok")
            }
        })
        .await
    };

    // 503 with Retry-After is retried; without, it is an error status.
    let server = once(Reply::status(503).header("Retry-After", "0")).await;
    let jira = client.for_tenant(&tenant(&server.url(""), None)).unwrap();
    assert_eq!(jira.as_app().get("/x").send().await.unwrap().status(), 200);
    assert_eq!(server.count(), 2);

    let server = once(Reply::status(503).body("down")).await;
    let jira = client.for_tenant(&tenant(&server.url(""), None)).unwrap();
    let error = jira.as_app().get("/x").send().await.unwrap_err();
    let ClientError::Status(status) = &error else {
        panic!("{error:?}");
    };
    assert_eq!((status.status(), status.body_excerpt()), (503, "down"));
    assert_eq!(server.count(), 1);

    // A 429 without Retry-After backs off (at most 1 s before the first retry).
    let server = once(Reply::status(429)).await;
    let jira = client.for_tenant(&tenant(&server.url(""), None)).unwrap();
    assert_eq!(jira.as_app().get("/x").send().await.unwrap().status(), 200);
    assert_eq!(server.count(), 2);

    // Longer than the client waits: not retried, the wait is in the error.
    let server = once(Reply::status(429).header("Retry-After", "3600")).await;
    let jira = client.for_tenant(&tenant(&server.url(""), None)).unwrap();
    assert_eq!(
        jira.as_app().get("/x").send().await.unwrap_err(),
        ClientError::RateLimited {
            status: 429,
            attempts: 1,
            retry_after: Some(Duration::from_secs(3600)),
        }
    );
    assert_eq!(server.count(), 1);

    // An HTTP-date.
    let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(2));
    let server = once(Reply::status(429).header("Retry-After", &date)).await;
    let jira = client.for_tenant(&tenant(&server.url(""), None)).unwrap();
    assert_eq!(jira.as_app().get("/x").send().await.unwrap().status(), 200);
    let received = server.requests();
    assert!(received[1].at - received[0].at >= Duration::from_secs(1));

    // No retries at all.
    let strict = ConnectClient::builder(APP_KEY)
        .with_max_retries(0)
        .build()
        .unwrap();
    let server = once(Reply::status(429).header("Retry-After", "0")).await;
    let jira = strict.for_tenant(&tenant(&server.url(""), None)).unwrap();
    assert_eq!(
        jira.as_app().get("/x").send().await.unwrap_err(),
        ClientError::RateLimited {
            status: 429,
            attempts: 1,
            retry_after: Some(Duration::ZERO),
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_statuses_redirects_and_large_bodies() {
    let long = "x".repeat(10_000);
    let body = long.clone();
    let server = FakeServer::start(move |request, _| match request.target.as_str() {
        "/missing" => Reply::status(404).body(r#"{"errorMessages":["Issue does not exist"]}"#),
        "/long" => Reply::status(400).body(body.clone()),
        "/moved" => Reply::status(302).header("Location", "https://evil.example/"),
        "/big" => Reply::ok(body.clone()),
        _ => Reply::ok("{\"a\":1}"),
    })
    .await;
    let client = ConnectClient::builder(APP_KEY)
        .with_max_response_len(1000)
        .build()
        .unwrap();
    let jira = client.for_tenant(&tenant(&server.url(""), None)).unwrap();

    let error = jira.as_app().get("/missing").send().await.unwrap_err();
    assert_eq!(error.status(), Some(404));
    assert_eq!(error.to_string(), "the product answered with status 404");
    let ClientError::Status(status) = error else {
        panic!()
    };
    assert_eq!(
        status.body_excerpt(),
        r#"{"errorMessages":["Issue does not exist"]}"#
    );

    let ClientError::Status(status) = jira.as_app().get("/long").send().await.unwrap_err() else {
        panic!()
    };
    assert_eq!(status.body_excerpt(), &long[..MAX_BODY_EXCERPT]);

    // A redirect is returned, not followed.
    let moved = jira.as_app().get("/moved").send().await.unwrap();
    assert_eq!(moved.status(), 302);
    assert_eq!(moved.header("location"), Some("https://evil.example/"));

    assert_eq!(
        jira.as_app()
            .get("/big")
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap_err(),
        ClientError::ResponseTooLarge { max: 1000 }
    );
    let value: serde_json::Value = jira
        .as_app()
        .get("/ok")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(value["a"], 1);
    assert_eq!(
        jira.as_app()
            .get("/ok")
            .send()
            .await
            .unwrap()
            .json::<Vec<u8>>()
            .await
            .unwrap_err(),
        ClientError::InvalidResponseBody
    );
    assert_eq!(server.count(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_hangs_hits_the_timeout() {
    let server = FakeServer::start(|_, _| Reply::Hang).await;
    let client = ConnectClient::builder(APP_KEY)
        .with_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let jira = client.for_tenant(&tenant(&server.url(""), None)).unwrap();
    let started = Instant::now();
    assert_eq!(
        jira.as_app().get("/x").send().await.unwrap_err(),
        ClientError::Timeout
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // A request's own limit replaces the client's.
    let patient = client_for(None);
    let jira = patient.for_tenant(&tenant(&server.url(""), None)).unwrap();
    let started = Instant::now();
    assert_eq!(
        jira.as_app()
            .get("/x")
            .timeout(Duration::from_millis(200))
            .send()
            .await
            .unwrap_err(),
        ClientError::Timeout
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // Not retried.
    assert_eq!(server.count(), 2);

    // The authorization server hanging times the exchange out.
    let product = bearer_echo().await;
    let client = ConnectClient::builder(APP_KEY)
        .with_timeout(Duration::from_millis(300))
        .with_authorization_server(server.url(""))
        .build()
        .unwrap();
    let jira = user_tenant(&client, &product);
    assert_eq!(
        jira.as_user("u", &["READ"])
            .get("/x")
            .send()
            .await
            .unwrap_err(),
        ClientError::TokenExchange(TokenExchangeError::Timeout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_product_is_a_connect_error() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let client = client_for(None);
    let jira = client.for_tenant(&tenant(&closed, None)).unwrap();
    assert_eq!(
        jira.as_app().get("/x").send().await.unwrap_err(),
        ClientError::Connect
    );
}

#[test]
fn debug_output_holds_no_secret() {
    let client = client_for(None);
    let jira = client
        .for_tenant(&tenant(
            "https://example.atlassian.net",
            Some(OAUTH_CLIENT_ID),
        ))
        .unwrap();
    let request = jira
        .as_user("557058:secret-user", &["READ"])
        .get("/rest/api/3/issue/SECRET-1?jql=secret");
    let shown = format!("{client:?} {jira:?} {:?} {request:?}", jira.as_app());
    for secret in [SECRET, "secret", OAUTH_CLIENT_ID] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(shown.contains(CLIENT_KEY), "{shown}");
}

/// The handles an app keeps in its state and moves into tasks.
#[test]
fn clients_are_shareable_between_tasks() {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<ConnectClient>();
    shareable::<TenantClient>();
    fn send<T: Send>(_: &T) {}
    let client = client_for(None);
    let jira = client
        .for_tenant(&tenant("https://example.atlassian.net", None))
        .unwrap();
    send(&jira.as_app().get("/x").send());
}
