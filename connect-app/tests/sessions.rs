//! `connect-app`'s session tokens end to end, one instance, revocations in memory: the panel
//! mints one into its page, `GET /api/session/whoami` takes it as `Bearer`, every refusal has
//! its status, challenge and code, the signed `user_deleted` webhook revokes the user, the
//! `uninstalled` callback the tenant; and the user sweep against two fake Jira sites that
//! verify each request: one bulk request per tenant per interval however many calls the
//! users make, a deactivated and a deleted user refused within one interval (measured).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

const ADA: &str = "557058:ada";
const GRACE: &str = "557058:grace";

fn whoami(base_url: &str) -> String {
    format!("{base_url}/api/session/whoami")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_panel_session_and_its_revocations() {
    let Some(atlassian) = Atlassian::start("connect-app sessions").await else {
        return;
    };
    let app = atlassian.app(&atlassian.sqlite("sessions.db"), &[]).await;
    let base = app.base_url.clone();
    let site = &atlassian.keys;
    let tenant = Tenant::new("jira:sessions", "sessions-shared-secret-0123456789abcdef0");
    atlassian.install(&base, &tenant, site).await;

    // The page: its session token in a meta tag, the script beside it, no inline script.
    let page = get(&atlassian.panel_url(&base, &tenant, Some(ADA)), None).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page
        .body
        .contains(r#"<script src="panel.js" defer></script>"#));
    assert!(page.body.contains(r#"<button id="session-whoami""#));
    assert!(!page.body.contains("<script>"), "{}", page.body);
    let ada = session_token(&page.body).unwrap();
    let script = get(&format!("{base}/panel.js"), None).await;
    assert_eq!(script.status, 200);
    assert!(script.body.contains("api/session/whoami"));
    assert!(script.body.contains("'Bearer ' + token"));
    assert!(script.body.contains("access revoked"));

    // The API answers the session's tenant and user.
    let answer = bearer("GET", &whoami(&base), &ada).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        serde_json::from_str::<Value>(&answer.body).unwrap(),
        json!({"clientKey": tenant.client_key, "accountId": ADA})
    );
    let grace = atlassian.session(&base, &tenant, GRACE).await;
    assert_eq!(bearer("GET", &whoami(&base), &grace).await.status, 200);

    // An anonymous page gets no session.
    let anonymous = get(&atlassian.panel_url(&base, &tenant, None), None).await;
    assert_eq!(anonymous.status, 200);
    assert_eq!(session_token(&anonymous.body), None);

    // Refusals: 401, a Bearer challenge, the code.
    let missing = get(&whoami(&base), None).await;
    assert_eq!(
        (
            missing.status,
            missing.challenge.as_deref(),
            missing.body.as_str()
        ),
        (401, Some("Bearer"), "missing-token")
    );
    assert_eq!(
        get(&whoami(&base), Some(&ada)).await,
        Answer::invalid_token("invalid-bearer-header"),
        "the session token with the JWT scheme"
    );
    let context = atlassian.npm.context(&tenant, 180);
    assert_eq!(
        bearer("GET", &whoami(&base), &context).await,
        Answer::invalid_token("not-a-session-token")
    );
    let mut forged = ada.clone();
    forged.replace_range(forged.len() - 4.., "AAAA");
    assert_eq!(
        bearer("GET", &whoami(&base), &forged).await,
        Answer::invalid_token("invalid-signature")
    );
    // The session token is not a product token.
    let panel_with_session = format!("{base}{PANEL}&jwt={ada}");
    assert_eq!(
        get(&panel_with_session, None).await,
        Answer::refused("session-token-not-accepted")
    );

    // The user_deleted webhook: unsigned, a context token, another body: refused, and
    // nothing revoked.
    let webhook = format!("{base}/webhooks/user-deleted");
    let body = json!({"webhookEvent": "user_deleted", "user": {"accountId": ADA}}).to_string();
    assert_eq!(
        send(
            "POST",
            &webhook,
            None,
            Some(("application/json", body.clone()))
        )
        .await,
        Answer::refused("missing-token")
    );
    assert_eq!(
        send(
            "POST",
            &webhook,
            Some(&context),
            Some(("application/json", body.clone()))
        )
        .await,
        Answer::refused("context-token-not-allowed")
    );
    let signed = atlassian
        .npm
        .request(&tenant, "POST", "/webhooks/user-deleted");
    let other_event = json!({"webhookEvent": "user_created", "user": {"accountId": ADA}});
    let answer = send(
        "POST",
        &webhook,
        Some(&signed),
        Some(("application/json", other_event.to_string())),
    )
    .await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (400, "invalid-webhook-payload")
    );
    // Another tenant's webhook about the same account id does not touch this tenant.
    let other = Tenant::new(
        "jira:sessions-other",
        "other-shared-secret-0123456789abcdef00",
    );
    let other_site = Product::start().await;
    atlassian.install(&base, &other, &other_site).await;
    assert_eq!(
        atlassian.user_deleted(&base, &other, ADA).await,
        Answer::no_content()
    );
    assert_eq!(bearer("GET", &whoami(&base), &ada).await.status, 200);

    // Ada is deleted: her session is refused at once, Grace's is not.
    assert_eq!(
        atlassian.user_deleted(&base, &tenant, ADA).await,
        Answer::no_content()
    );
    assert_eq!(
        bearer("GET", &whoami(&base), &ada).await,
        Answer::invalid_token("session-revoked")
    );
    assert_eq!(bearer("GET", &whoami(&base), &grace).await.status, 200);

    // Uninstalled: refused; reinstalled with the same secret: the sessions of before stay
    // revoked (the uninstall revoked the tenant's sessions).
    let answer = atlassian
        .lifecycle(&base, "uninstalled", &tenant, site, None)
        .await;
    assert_eq!(answer, Answer::no_content());
    assert_eq!(
        bearer("GET", &whoami(&base), &grace).await,
        Answer::invalid_token("unknown-issuer")
    );
    atlassian.install(&base, &tenant, site).await;
    assert_eq!(
        bearer("GET", &whoami(&base), &grace).await,
        Answer::invalid_token("session-revoked")
    );
    // The other tenant is untouched.
    let other_session = atlassian.session(&base, &other, GRACE).await;
    assert_eq!(
        bearer("GET", &whoami(&base), &other_session).await.status,
        200
    );

    let log = app.log();
    assert!(!log.contains("eyJ"), "a token in the log:\n{log}");
    app.stop();
}

/// Issue 13's sweep proof through the app: `CONNECT_APP_USER_SWEEP_INTERVAL=1`, two tenants
/// on two Jira sites, three users calling the API as fast as the test can for several
/// intervals.
#[tokio::test(flavor = "multi_thread")]
async fn the_sweep_asks_jira_once_per_tenant_per_interval() {
    let Some(atlassian) = Atlassian::start("connect-app user sweep").await else {
        return;
    };
    let interval = Duration::from_secs(1);
    let app = atlassian
        .app(
            &atlassian.sqlite("sweep.db"),
            &[("CONNECT_APP_USER_SWEEP_INTERVAL", "1")],
        )
        .await;
    let base = app.base_url.clone();
    let site_a = &atlassian.keys;
    let site_b = Product::start().await;
    let a = Tenant::new("jira:sweep-a", "sweep-a-shared-secret-0123456789abcdef0");
    let b = Tenant::new("jira:sweep-b", "sweep-b-shared-secret-0123456789abcdef0");
    atlassian.install(&base, &a, site_a).await;
    atlassian.install(&base, &b, &site_b).await;
    for user in [ADA, GRACE] {
        site_a.set_user(user, true);
    }
    site_b.set_user(ADA, true);
    let a_ada = atlassian.session(&base, &a, ADA).await;
    let a_grace = atlassian.session(&base, &a, GRACE).await;
    let b_ada = atlassian.session(&base, &b, ADA).await;

    // Align on a sweep: the first request that asks about all of tenant A's holders.
    let deadline = Instant::now() + interval * 3;
    while !site_a.bulk_requests().iter().any(|(_, ids)| ids.len() == 2) {
        assert!(Instant::now() < deadline, "no sweep");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (before_a, before_b) = (site_a.bulk_requests().len(), site_b.bulk_requests().len());
    let started = Instant::now();
    let client = reqwest::Client::new();
    let mut calls = 0usize;
    while started.elapsed() < interval * 4 + interval / 2 {
        for token in [&a_ada, &a_grace, &b_ada] {
            let response = client
                .get(whoami(&base))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            calls += 1;
        }
    }
    let elapsed = started.elapsed();
    for (name, site, before) in [("A", site_a, before_a), ("B", &site_b, before_b)] {
        let requests = site.bulk_requests();
        let during = requests.len() - before;
        let gaps: Vec<Duration> = requests.windows(2).map(|w| w[1].0 - w[0].0).collect();
        eprintln!(
            "sweep, tenant {name}: {during} bulk requests in {elapsed:?} (interval {interval:?}) while the users made {calls} calls; gaps {gaps:?}"
        );
        // Four full intervals and a half: four or five sweeps, never more.
        assert!((4..=5).contains(&during), "{name}: {during}");
        for gap in &gaps {
            assert!(
                *gap >= interval - Duration::from_millis(100),
                "{name}: {gap:?}"
            );
        }
        assert_eq!(site.refused(), Vec::<String>::new(), "{name}");
    }
    assert!(calls > 300, "{calls}");

    // Grace is deactivated in site A, Ada deleted from site B: each refused within one
    // interval (plus the bulk request), the others untouched.
    for (site, tenant_token, user, change) in [
        (site_a, &a_grace, GRACE, "deactivated"),
        (&site_b, &b_ada, ADA, "deleted"),
    ] {
        let changed = Instant::now();
        if change == "deleted" {
            site.delete_user(user);
        } else {
            site.set_user(user, false);
        }
        let mut polls = 0;
        loop {
            let answer = bearer("GET", &whoami(&base), tenant_token).await;
            if answer.status == 200 {
                polls += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            } else {
                assert_eq!(answer, Answer::invalid_token("session-revoked"));
                break;
            }
            assert!(changed.elapsed() < interval * 3, "{user} never refused");
        }
        let latency = changed.elapsed();
        eprintln!("sweep: {user} {change} in Jira, refused after {latency:?} ({polls} calls still served)");
        assert!(
            latency <= interval + Duration::from_millis(300),
            "{latency:?}"
        );
    }
    assert_eq!(bearer("GET", &whoami(&base), &a_ada).await.status, 200);
    app.stop();
}
