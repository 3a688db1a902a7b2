//! What the client logs: `tracing` events at debug level only, and never a token, the shared
//! secret, an assertion, a query, a body or an account id, whatever happens (success, retries,
//! error statuses, token exchanges that succeed or fail). The errors returned hold none of
//! them either.
//!
//! A recording subscriber is installed for the whole process (this file is its own test
//! binary) and sees every event at every level, from every crate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod client_support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use atlassian_connect_jwt::ConnectClient;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

use client_support::{
    authorization_server, tenant, FakeServer, Reply, APP_KEY, OAUTH_CLIENT_ID, SECRET,
};

/// Everything every event and span said: level, target, `name=value` of each field.
#[derive(Clone, Default)]
struct Recorder {
    lines: Arc<Mutex<Vec<(Level, String, String)>>>,
    next_span: Arc<AtomicU64>,
}

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={value:?}", field.name()));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push_str(&format!(" {}={value}", field.name()));
    }
}

impl Recorder {
    fn push(&self, metadata: &Metadata<'_>, text: String) {
        self.lines
            .lock()
            .unwrap()
            .push((*metadata.level(), metadata.target().to_owned(), text));
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = Fields(span.metadata().name().to_owned());
        span.record(&mut fields);
        self.push(span.metadata(), fields.0);
        Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn record(&self, _: &Id, values: &Record<'_>) {
        let mut fields = Fields(String::new());
        values.record(&mut fields);
        self.lines
            .lock()
            .unwrap()
            .push((Level::TRACE, "span-record".to_owned(), fields.0));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        self.push(event.metadata(), fields.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

const ACCOUNT: &str = "557058:private-account-id";
const QUERY_VALUE: &str = "private-query-value";
const BODY_VALUE: &str = "private-body-value";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_secret_is_logged_and_nothing_above_debug() {
    let recorder = Recorder::default();
    tracing::subscriber::set_global_default(recorder.clone()).unwrap();

    // The product: a 429 first, then 200; 404 for /missing; the user's token refused once.
    let product = FakeServer::start(|request, n| match request.target.as_str() {
        _ if n == 0 => Reply::status(429).header("Retry-After", "0"),
        "/missing" => Reply::status(404).body(format!("no {BODY_VALUE}")),
        _ if request.header("authorization")
            == Some("Bearer at-0-557058:private-account-id-READ") =>
        {
            Reply::status(401)
        }
        _ => Reply::ok("ok"),
    })
    .await;
    let auth = authorization_server(900, Duration::ZERO).await;
    // An authorization server that echoes the assertion back in its error description.
    let echoing = FakeServer::start(|request, _| {
        let assertion = request.form_field("assertion").unwrap_or_default();
        Reply::status(400).body(format!(
            r#"{{"error":"invalid_grant","error_description":"{assertion}"}}"#
        ))
    })
    .await;

    let client = ConnectClient::builder(APP_KEY)
        .with_authorization_server(auth.url(""))
        .build()
        .unwrap();
    let jira = client
        .for_tenant(&tenant(&product.url(""), Some(OAUTH_CLIENT_ID)))
        .unwrap();
    let mut errors = Vec::new();
    jira.as_app()
        .post("/rest/api/3/search")
        .query("jql", QUERY_VALUE)
        .json(&serde_json::json!({ "value": BODY_VALUE }))
        .retry_non_idempotent()
        .send()
        .await
        .unwrap();
    errors.push(jira.as_app().get("/missing").send().await.unwrap_err());
    errors.push(
        jira.as_user(ACCOUNT, &["READ"])
            .get(&format!("/rest/api/3/myself?q={QUERY_VALUE}"))
            .send()
            .await
            .unwrap_err(),
    );
    jira.as_user(ACCOUNT, &["READ"])
        .get("/rest/api/3/myself")
        .send()
        .await
        .unwrap();
    let refused = ConnectClient::builder(APP_KEY)
        .with_authorization_server(echoing.url(""))
        .build()
        .unwrap();
    let jira = refused
        .for_tenant(&tenant(&product.url(""), Some(OAUTH_CLIENT_ID)))
        .unwrap();
    errors.push(
        jira.as_user(ACCOUNT, &["READ"])
            .get("/x")
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(auth.count(), 2);
    assert_eq!(echoing.count(), 1);

    // What went over the wire, to be looked for in the logs.
    let mut forbidden = vec![
        SECRET.to_owned(),
        OAUTH_CLIENT_ID.to_owned(),
        ACCOUNT.to_owned(),
        QUERY_VALUE.to_owned(),
        BODY_VALUE.to_owned(),
        "eyJ".to_owned(), // any JWT: the app's tokens, the assertions
        "at-0-".to_owned(),
        "at-1-".to_owned(),
        "Bearer".to_owned(),
    ];
    for request in product
        .requests()
        .iter()
        .chain(&auth.requests())
        .chain(&echoing.requests())
    {
        if let Some(value) = request.header("authorization") {
            forbidden.push(value.to_owned());
        }
        if let Some(assertion) = request.form_field("assertion") {
            forbidden.push(assertion);
        }
        // Paths are logged at debug level; queries never.
        if request.target.contains('?') {
            forbidden.push(request.target.clone());
        }
    }

    let lines = recorder.lines.lock().unwrap().clone();
    let ours: Vec<_> = lines
        .iter()
        .filter(|(_, target, _)| target.starts_with("atlassian_connect_jwt"))
        .collect();
    // The check can fail: the client does log (calls, answers, the retry, the exchanges).
    assert!(ours.len() >= 12, "{ours:#?}");
    assert!(
        ours.iter().any(|(_, _, text)| text.contains("retrying")),
        "{ours:#?}"
    );
    assert!(
        ours.iter().any(|(_, _, text)| text.contains("exchanging")),
        "{ours:#?}"
    );
    for (level, _, text) in &ours {
        assert!(*level >= Level::DEBUG, "{level} {text}");
    }
    let shown_errors: Vec<String> = errors.iter().map(|e| format!("{e:?} {e}")).collect();
    assert_eq!(errors[0].status(), Some(404));
    for text in lines.iter().map(|(_, _, text)| text).chain(&shown_errors) {
        for secret in &forbidden {
            assert!(!text.contains(secret.as_str()), "{secret:?} in {text:?}");
        }
    }
}
