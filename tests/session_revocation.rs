//! Revocation with the in-memory store (feature `session`): token, user and tenant scopes
//! and their interplay, the allowlist mode, the store's bounds, the `user_deleted` and
//! `uninstalled` handlers, and the user sweep (one directory call per tenant per interval,
//! a deactivated user refused within one interval).
#![cfg(all(feature = "session", feature = "axum"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/session.rs"]
mod common;
#[path = "common/connect_app.rs"]
mod connect_app;

use std::sync::Arc;
use std::time::{Duration, Instant};

use atlassian_connect_jwt::session::{
    MemoryRevocationStore, Mode, Revocation, Sessions, UserSweep, DEFAULT_SESSION_LEEWAY,
    MAX_SESSION_TTL,
};
use atlassian_connect_jwt::{
    ConfigError, Error, PayloadDefect, Unavailable, UninstalledTenant, UnixTime,
};
use common::*;

fn sessions(mode: Mode) -> Sessions {
    Sessions::new(Arc::new(MemoryRevocationStore::new(mode)))
}

fn user(client_key: &str, account_id: &str) -> Revocation {
    Revocation::User {
        client_key: client_key.to_owned(),
        account_id: account_id.to_owned(),
    }
}

fn tenant(client_key: &str) -> Revocation {
    Revocation::Tenant {
        client_key: client_key.to_owned(),
    }
}

#[tokio::test]
async fn each_scope_revokes_exactly_its_sessions() {
    for mode in [Mode::Denylist, Mode::Allowlist] {
        let sessions = sessions(mode);
        let u1_first = mint(&sessions, A, "u1").await;
        let u1_second = mint(&sessions, A, "u1").await;
        let u2 = mint(&sessions, A, "u2").await;
        let u1_in_b = mint(&sessions, B, "u1").await;
        let u3_in_b = mint(&sessions, B, "u3").await;

        // One token.
        let token = Revocation::Token {
            client_key: A.to_owned(),
            id: u1_first.claims().id().to_owned(),
        };
        sessions.revoke(token, UnixTime::now()).await.unwrap();
        assert_eq!(
            outcome(&sessions, &u1_first).await,
            Err(Error::SessionRevoked),
            "{mode:?}"
        );
        assert_eq!(outcome(&sessions, &u1_second).await, Ok(()), "{mode:?}");

        // One user in one tenant: the same account id elsewhere keeps working.
        sessions
            .revoke(user(A, "u1"), UnixTime::now())
            .await
            .unwrap();
        assert_eq!(
            outcome(&sessions, &u1_second).await,
            Err(Error::SessionRevoked)
        );
        assert_eq!(outcome(&sessions, &u2).await, Ok(()));
        assert_eq!(outcome(&sessions, &u1_in_b).await, Ok(()));

        // A whole tenant.
        sessions.revoke(tenant(B), UnixTime::now()).await.unwrap();
        assert_eq!(
            outcome(&sessions, &u1_in_b).await,
            Err(Error::SessionRevoked)
        );
        assert_eq!(
            outcome(&sessions, &u3_in_b).await,
            Err(Error::SessionRevoked)
        );
        assert_eq!(outcome(&sessions, &u2).await, Ok(()));
    }
}

/// Keycloak's lesson: tenant-, user- and token-wide revocations interact. Each covers what
/// was issued up to its time (plus the leeway), whatever order they arrive in, and none
/// covers a session issued after it.
#[tokio::test]
async fn scopes_interplay_by_issue_time() {
    let sessions = sessions(Mode::Denylist);
    let t0 = UnixTime::now().as_secs();
    let at = UnixTime::from_secs;
    let old = mint_at(&sessions, A, "u1", at(t0 - 100)).await.unwrap();
    sessions.revoke(user(A, "u1"), at(t0 - 50)).await.unwrap();
    assert_eq!(outcome(&sessions, &old).await, Err(Error::SessionRevoked));
    // Issued after the revocation (beyond the leeway): valid.
    let later = mint_at(&sessions, A, "u1", at(t0 - 50 + DEFAULT_SESSION_LEEWAY + 1))
        .await
        .unwrap();
    assert_eq!(outcome(&sessions, &later).await, Ok(()));
    // Issued within the leeway of the revocation: covered (an instance whose clock runs
    // ahead may have minted it before the revocation).
    let skewed = mint_at(&sessions, A, "u1", at(t0 - 50 + DEFAULT_SESSION_LEEWAY))
        .await
        .unwrap();
    assert_eq!(
        outcome(&sessions, &skewed).await,
        Err(Error::SessionRevoked)
    );
    // An older revocation arriving late does not shrink the newer one.
    sessions.revoke(user(A, "u1"), at(t0 - 90)).await.unwrap();
    assert_eq!(
        outcome(&sessions, &skewed).await,
        Err(Error::SessionRevoked)
    );
    assert_eq!(outcome(&sessions, &later).await, Ok(()));
    // A tenant revocation covers the user's later session too, and other users; a session
    // issued after it is valid again, the user's own older mark notwithstanding.
    let other = mint_at(&sessions, A, "u2", at(t0 - 10)).await.unwrap();
    sessions.revoke(tenant(A), at(t0 - 10)).await.unwrap();
    assert_eq!(outcome(&sessions, &later).await, Err(Error::SessionRevoked));
    assert_eq!(outcome(&sessions, &other).await, Err(Error::SessionRevoked));
    let fresh = mint_at(&sessions, A, "u1", at(t0 - 10 + DEFAULT_SESSION_LEEWAY + 1))
        .await
        .unwrap();
    assert_eq!(outcome(&sessions, &fresh).await, Ok(()));
    // A token revocation of the fresh one leaves the user's next session alone.
    let id = fresh.claims().id().to_owned();
    sessions
        .revoke(
            Revocation::Token {
                client_key: A.to_owned(),
                id,
            },
            at(t0 - 5),
        )
        .await
        .unwrap();
    assert_eq!(outcome(&sessions, &fresh).await, Err(Error::SessionRevoked));
    let next = mint(&sessions, A, "u1").await;
    assert_eq!(outcome(&sessions, &next).await, Ok(()));
}

#[tokio::test]
async fn allowlist_accepts_only_recorded_sessions() {
    let allow = sessions(Mode::Allowlist);
    let deny = sessions(Mode::Denylist);
    // Minted (validly signed) elsewhere, never recorded in this store.
    let unrecorded = mint(&deny, A, "u1").await;
    assert_eq!(outcome(&deny, &unrecorded).await, Ok(()));
    assert_eq!(
        outcome(&allow, &unrecorded).await,
        Err(Error::SessionRevoked)
    );
    let recorded = mint(&allow, A, "u1").await;
    assert_eq!(outcome(&allow, &recorded).await, Ok(()));
    // Each page load records its own token.
    let reload = mint(&allow, A, "u1").await;
    assert_eq!(outcome(&allow, &reload).await, Ok(()));
}

#[tokio::test]
async fn the_store_is_bounded_and_fails_closed() {
    let sessions = Sessions::new(Arc::new(
        MemoryRevocationStore::new(Mode::Allowlist).with_capacity(4),
    ));
    // Each session takes a record and (for a new user) a holder: two users fill it.
    let first = mint(&sessions, A, "u1").await;
    let _second = mint(&sessions, A, "u2").await;
    let full = mint_at(&sessions, A, "u3", UnixTime::now()).await;
    assert_eq!(
        full.unwrap_err(),
        Error::Unavailable(Unavailable::RevocationStore)
    );
    assert_eq!(outcome(&sessions, &first).await, Ok(()));

    // Entries expire with their sessions: sessions that ended long ago make room.
    let denylist = Sessions::new(Arc::new(
        MemoryRevocationStore::new(Mode::Denylist).with_capacity(2),
    ));
    let long_ago = UnixTime::from_secs(UnixTime::now().as_secs() - MAX_SESSION_TTL - 1000);
    mint_at(&denylist, A, "old-1", long_ago).await.unwrap();
    mint_at(&denylist, A, "old-2", long_ago).await.unwrap();
    // The same user again takes no new holder entry.
    mint_at(&denylist, A, "old-2", long_ago).await.unwrap();
    let fresh = mint(&denylist, A, "u1").await;
    assert_eq!(outcome(&denylist, &fresh).await, Ok(()));
    mint(&denylist, A, "u2").await;
    assert_eq!(
        mint_at(&denylist, A, "u3", UnixTime::now())
            .await
            .unwrap_err(),
        Error::Unavailable(Unavailable::RevocationStore)
    );
    // Revocations are never refused, full or not.
    denylist
        .revoke(user(A, "u1"), UnixTime::now())
        .await
        .unwrap();
    assert_eq!(outcome(&denylist, &fresh).await, Err(Error::SessionRevoked));
}

#[tokio::test]
async fn user_deleted_webhook_revokes_the_user_of_its_tenant() {
    let sessions = sessions(Mode::Denylist);
    let victim = mint(&sessions, A, "557058:gone").await;
    let bystander = mint(&sessions, A, "557058:stays").await;
    let same_id_other_tenant = mint(&sessions, B, "557058:gone").await;
    let body = br#"{"timestamp":1700000000000,"webhookEvent":"user_deleted","user":{"accountId":"557058:gone","active":false}}"#;
    let webhook = request_bound(A, None, "POST", "/webhooks/user-deleted");

    // A context token cannot deliver it; a bad body revokes nothing.
    let context = {
        let token = atlassian_connect_jwt::Signer::new(A)
            .sign_context(&key(A), UnixTime::now())
            .unwrap();
        atlassian_connect_jwt::Verifier::new()
            .verify(
                token.as_str(),
                atlassian_connect_jwt::QshPolicy::Context,
                &keys(),
                UnixTime::now(),
            )
            .unwrap()
    };
    assert_eq!(
        sessions
            .on_user_deleted(&context, body, UnixTime::now())
            .await
            .unwrap_err(),
        Error::ContextTokenNotAllowed
    );
    assert_eq!(
        sessions
            .on_user_deleted(
                &webhook,
                br#"{"webhookEvent":"user_deleted"}"#,
                UnixTime::now()
            )
            .await
            .unwrap_err(),
        Error::InvalidWebhookPayload(PayloadDefect::MissingField("user"))
    );
    assert_eq!(outcome(&sessions, &victim).await, Ok(()));

    let deleted = sessions
        .on_user_deleted(&webhook, body, UnixTime::now())
        .await
        .unwrap();
    assert_eq!(deleted.account_id(), "557058:gone");
    assert_eq!(
        outcome(&sessions, &victim).await,
        Err(Error::SessionRevoked)
    );
    assert_eq!(outcome(&sessions, &bystander).await, Ok(()));
    assert_eq!(outcome(&sessions, &same_id_other_tenant).await, Ok(()));
}

#[tokio::test]
async fn uninstalled_revokes_the_tenant() {
    let sessions = sessions(Mode::Denylist);
    let a = mint(&sessions, A, "u1").await;
    let b = mint(&sessions, B, "u1").await;
    let install = connect_app::verified_lifecycle("uninstalled", A, SECRET_A);
    let uninstalled = UninstalledTenant::from_verified(&install).unwrap();
    sessions
        .on_uninstalled(&uninstalled, UnixTime::now())
        .await
        .unwrap();
    assert_eq!(outcome(&sessions, &a).await, Err(Error::SessionRevoked));
    assert_eq!(outcome(&sessions, &b).await, Ok(()));
}

#[tokio::test]
async fn a_sweep_asks_once_per_tenant_and_revokes_the_inactive() {
    let sessions = sessions(Mode::Denylist);
    let directory = Arc::new(FakeDirectory::default());
    let sweep = UserSweep::new(sessions.clone(), directory.clone());
    let a1 = mint(&sessions, A, "a1").await;
    let a1_again = mint(&sessions, A, "a1").await;
    let a2 = mint(&sessions, A, "a2").await;
    let b1 = mint(&sessions, B, "b1").await;
    // A user whose sessions all expired is not asked about.
    let long_ago = UnixTime::from_secs(UnixTime::now().as_secs() - 1000);
    mint_at(&sessions, B, "expired", long_ago).await.unwrap();

    directory.deactivate(A, "a1");
    let report = sweep.sweep_once(UnixTime::now()).await.unwrap();
    assert_eq!(
        (
            report.tenants_asked,
            report.tenants_skipped,
            report.users_checked,
            report.failures
        ),
        (2, 0, 3, 0)
    );
    assert_eq!(report.revoked, vec![(A.to_owned(), "a1".to_owned())]);
    assert_eq!(
        directory.asked(),
        vec![
            (A.to_owned(), vec!["a1".to_owned(), "a2".to_owned()]),
            (B.to_owned(), vec!["b1".to_owned()]),
        ]
    );
    assert_eq!(outcome(&sessions, &a1).await, Err(Error::SessionRevoked));
    assert_eq!(
        outcome(&sessions, &a1_again).await,
        Err(Error::SessionRevoked)
    );
    assert_eq!(outcome(&sessions, &a2).await, Ok(()));
    assert_eq!(outcome(&sessions, &b1).await, Ok(()));

    // Revoked users are not asked about again.
    directory.clear_asked();
    sweep.sweep_once(UnixTime::now()).await.unwrap();
    assert_eq!(
        directory.asked(),
        vec![
            (A.to_owned(), vec!["a2".to_owned()]),
            (B.to_owned(), vec!["b1".to_owned()]),
        ]
    );

    // A directory that cannot answer revokes no one.
    directory.deactivate(A, "a2");
    directory.set_down(true);
    let report = sweep.sweep_once(UnixTime::now()).await.unwrap();
    assert_eq!((report.failures, report.revoked.len()), (2, 0));
    assert_eq!(outcome(&sessions, &a2).await, Ok(()));

    assert_eq!(
        UserSweep::new(sessions, directory)
            .with_interval(Duration::from_millis(99))
            .unwrap_err(),
        Error::Config(ConfigError::SweepIntervalTooShort)
    );
}

/// The background sweep on tokio's paused clock: exactly one directory call per tenant per
/// interval, however many calls the users make.
#[tokio::test(start_paused = true)]
async fn one_directory_call_per_tenant_per_interval() {
    let sessions = sessions(Mode::Denylist);
    let directory = Arc::new(FakeDirectory::default());
    let interval = Duration::from_secs(60);
    let a = mint(&sessions, A, "a1").await;
    let b = mint(&sessions, B, "b1").await;
    let sweep = UserSweep::new(sessions.clone(), directory.clone())
        .with_interval(interval)
        .unwrap();
    tokio::spawn(sweep.run());
    let mut user_calls = 0;
    for step in 1..=5usize {
        // The sweep's tick (the first at once) runs when this task yields.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert_eq!((directory.calls(A), directory.calls(B)), (step, step));
        // Many calls within the interval cost no directory call.
        for _ in 0..100 {
            assert_eq!(outcome(&sessions, &a).await, Ok(()));
            assert_eq!(outcome(&sessions, &b).await, Ok(()));
            user_calls += 2;
        }
        tokio::time::sleep(interval / 2).await;
        assert_eq!((directory.calls(A), directory.calls(B)), (step, step));
        tokio::time::sleep(interval / 2).await;
    }
    assert_eq!(user_calls, 1000);
}

/// On the real clock: a user deactivated in the product is refused within one interval
/// (plus a directory call) of the change, while their page keeps calling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivated_user_is_refused_within_one_interval() {
    let sessions = sessions(Mode::Denylist);
    let directory = Arc::new(FakeDirectory::default());
    let interval = Duration::from_millis(300);
    let session = mint(&sessions, A, "a1").await;
    let other = mint(&sessions, A, "a2").await;
    let sweep = UserSweep::new(sessions.clone(), directory.clone())
        .with_interval(interval)
        .unwrap();
    let task = tokio::spawn(sweep.run());
    let mut worst = Duration::ZERO;
    for trial in 0..3 {
        // Deactivate at an arbitrary point of the interval.
        tokio::time::sleep(interval / 3 * (trial + 1) / 2).await;
        let user = format!("t{trial}");
        let token = mint(&sessions, A, &user).await;
        let deactivated = Instant::now();
        directory.deactivate(A, &user);
        let mut calls = 0u32;
        loop {
            calls += 1;
            match outcome(&sessions, &token).await {
                Ok(()) => tokio::time::sleep(Duration::from_millis(2)).await,
                Err(error) => {
                    assert_eq!(error, Error::SessionRevoked);
                    break;
                }
            }
            assert!(deactivated.elapsed() < interval * 4, "never refused");
        }
        let latency = deactivated.elapsed();
        eprintln!("sweep trial {trial}: refused after {latency:?} and {calls} calls (interval {interval:?})");
        worst = worst.max(latency);
    }
    task.abort();
    eprintln!("sweep: worst refusal latency {worst:?} for an interval of {interval:?}");
    // One interval, plus the scheduling of a loaded 2-core machine.
    assert!(worst <= interval + Duration::from_millis(150), "{worst:?}");
    assert_eq!(outcome(&sessions, &other).await, Ok(()));
    assert_eq!(outcome(&sessions, &session).await, Ok(()));
}
