//! What the axum extractors log (feature `axum`): every refusal emits one event with its
//! code, a qsh mismatch shows the canonical request and both hashes, and no event holds a
//! token, a token segment, a secret or the raw query.
#![cfg(feature = "axum")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/connect_app.rs"]
mod app;

use std::io::Write;
use std::sync::{Arc, Mutex};

use app::*;
use atlassian_connect_jwt::{CanonicalRequest, UnixTime};

/// Everything every subscriber event wrote, as text.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }

    /// This crate's events since the last call (the HTTP client logs too).
    fn take(&self) -> String {
        let text = self.text();
        self.0.lock().unwrap().clear();
        text.lines()
            .filter(|line| line.contains(" atlassian_connect_jwt::"))
            .map(|line| format!("{line}\n"))
            .collect()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A refusal to provoke: the request, the answer it must get, and the credentials in it.
struct Case {
    method: &'static str,
    path: String,
    authorization: Vec<String>,
    status: u16,
    code: &'static str,
    tokens: Vec<String>,
}

fn case(path: String, header: Option<&str>, code: &'static str, tokens: &[&str]) -> Case {
    Case {
        method: "GET",
        path,
        authorization: header.map(|h| vec![h.to_owned()]).unwrap_or_default(),
        status: 401,
        code,
        tokens: tokens.iter().map(|t| (*t).to_owned()).collect(),
    }
}

/// The runtime is the test's one thread, so the server's tasks log to the subscriber set
/// here.
#[tokio::test]
async fn refusals_log_their_code_and_never_a_credential() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        // Plain text whatever features another workspace member turns on (`ansi`).
        .with_ansi(false)
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let origin = start(seeded_store().await).await;
    let failing = start(Arc::new(FailingStore)).await;
    let broken = start(Arc::new(WrongTenantStore)).await;

    let wrong_secret = "not-the-tenant-secret-0123456789";
    let bound = request_token(&tenant_key(), "GET", "/panel?a=1");
    let other = request_token(&tenant_key(), "GET", "/other?a=1");
    let context = context_token(&tenant_key());
    let long_ago = UnixTime::from_secs(UnixTime::now().as_secs() - 3600);
    let expired = request_token_at(&tenant_key(), "GET", "/panel", long_ago);
    let stranger = request_token(&key(STRANGER, SECRET), "GET", "/panel");
    let gone = request_token(&key(GONE, GONE_SECRET), "GET", "/panel");
    let forged = request_token(&key(TENANT, wrong_secret), "GET", "/panel");
    let api = request_token(&tenant_key(), "GET", "/api/data");
    let jwt = |t: &str| format!("JWT {t}");

    let mut cases = vec![
        case(format!("{origin}/panel?a=1"), None, "missing-token", &[]),
        case(
            format!("{origin}/panel"),
            Some(&format!("Bearer {bound}")),
            "invalid-authorization-header",
            &[&bound],
        ),
        case(
            format!("{origin}/panel"),
            Some(&format!("JWT {bound}x.y")),
            "malformed-token",
            &[&bound],
        ),
        case(
            format!("{origin}/panel?a=1&jwt={other}"),
            Some(&jwt(&bound)),
            "conflicting-tokens",
            &[&bound, &other],
        ),
        case(
            format!("{origin}/panel?jwt={context}"),
            None,
            "context-token-not-allowed",
            &[&context],
        ),
        case(
            format!("{origin}/api/data"),
            Some(&jwt(&api)),
            "context-token-required",
            &[&api],
        ),
        // The token in the `jwt` parameter, and copies under other names that the canonical
        // request keeps: they must not reach the log through it.
        case(
            format!("{origin}/panel?a=1&jwt={other}&JWT={other}&token={bound}"),
            None,
            "qsh-mismatch",
            &[&other, &bound],
        ),
        case(
            format!("{origin}/panel"),
            Some(&jwt(&expired)),
            "expired",
            &[&expired],
        ),
        case(
            format!("{origin}/panel"),
            Some(&jwt(&stranger)),
            "unknown-issuer",
            &[&stranger],
        ),
        case(
            format!("{origin}/panel"),
            Some(&jwt(&gone)),
            "unknown-issuer",
            &[&gone],
        ),
        case(
            format!("{origin}/panel"),
            Some(&jwt(&forged)),
            "invalid-signature",
            &[&forged],
        ),
        Case {
            status: 503,
            ..case(
                format!("{failing}/panel?a=1&jwt={bound}"),
                None,
                "secret-store-unavailable",
                &[&bound],
            )
        },
        Case {
            status: 500,
            ..case(
                format!("{broken}/panel?a=1"),
                Some(&jwt(&bound)),
                "key-tenant-mismatch",
                &[&bound],
            )
        },
    ];
    cases.push(Case {
        authorization: vec![jwt(&bound), jwt(&bound)],
        ..case(
            format!("{origin}/panel?a=1"),
            None,
            "invalid-authorization-header",
            &[&bound],
        )
    });

    let secrets = [SECRET, GONE_SECRET, wrong_secret];
    for case in &cases {
        let headers: Vec<&str> = case.authorization.iter().map(String::as_str).collect();
        let answer = send(case.method, &case.path, &headers).await;
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (case.status, case.code),
            "{}",
            case.path
        );
        let log = captured.take();
        // One event, with the code: a refusal is never silent.
        assert_eq!(log.lines().count(), 1, "{}: {log}", case.code);
        assert!(log.contains(&format!("code=\"{}\"", case.code)), "{log}");
        for token in &case.tokens {
            assert!(
                !log.contains(token.as_str()),
                "{}: token in {log}",
                case.code
            );
            for segment in token.split('.') {
                assert!(
                    !log.contains(segment),
                    "{}: token segment in {log}",
                    case.code
                );
            }
        }
        for secret in secrets {
            assert!(!log.contains(secret), "{}: secret in {log}", case.code);
        }
        let query = case.path.split_once('?').map_or("", |(_, q)| q);
        assert!(
            query.is_empty() || !log.contains(query),
            "{}: raw query in {log}",
            case.code
        );
        assert!(!log.contains("jwt="), "{}: {log}", case.code);
    }
}

/// The qsh-mismatch event has what a developer needs: the canonical request that was hashed
/// and both hashes. The tenant store's own message is in the 503's event.
#[tokio::test]
async fn diagnostics_are_in_the_events() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        // Plain text whatever features another workspace member turns on (`ansi`).
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let origin = start(seeded_store().await).await;
    let signed_for = CanonicalRequest::from_target("GET", "/panel?a=2", None).unwrap();
    let token = request_token(&tenant_key(), "GET", "/panel?a=2");
    let received = CanonicalRequest::from_target("GET", "/panel?b=x+y&a=1", None).unwrap();
    let answer = get_jwt(&format!("{origin}/panel?b=x+y&a=1"), &token).await;
    assert_eq!(answer, Answer::refused("qsh-mismatch"));
    let log = captured.take();
    assert!(
        log.contains(" DEBUG atlassian_connect_jwt::axum: "),
        "{log}"
    );
    assert!(log.contains("route=\"request-bound\""), "{log}");
    assert!(log.contains(&format!("issuer=\"{TENANT}\"")), "{log}");
    assert!(
        log.contains("canonical_request=\"GET&/panel&a=1&b=x%20y\""),
        "{log}"
    );
    assert!(
        log.contains(&format!("expected_qsh={}", received.qsh())),
        "{log}"
    );
    assert!(
        log.contains(&format!("presented_qsh=\"{}\"", signed_for.qsh())),
        "{log}"
    );

    let failing = start(Arc::new(FailingStore)).await;
    let answer = get_jwt(&format!("{failing}/panel?a=2"), &token).await;
    assert_eq!(answer, Answer::failed(503, "secret-store-unavailable"));
    let log = captured.take();
    assert!(log.contains(" WARN "), "{log}");
    assert!(log.contains("store_error=\"connection refused\""), "{log}");

    let broken = start(Arc::new(WrongTenantStore)).await;
    let answer = get_jwt(&format!("{broken}/panel?a=2"), &token).await;
    assert_eq!(answer, Answer::failed(500, "key-tenant-mismatch"));
    let log = captured.take();
    assert!(log.contains(" ERROR "), "{log}");
    assert!(log.contains("issuer=\"someone-else\""), "{log}");
}
