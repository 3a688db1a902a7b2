//! Shared by the session tests: two tenants, verified iframe loads and webhooks signed with
//! `Signer`, minting through `Sessions`, an in-process `UserDirectory` that counts its calls,
//! and the Redis skip-or-fail check.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{HashMap, HashSet};
use std::env;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use atlassian_connect_jwt::session::{
    Resource, SessionFuture, SessionToken, Sessions, UserDirectory,
};
use atlassian_connect_jwt::{
    CanonicalRequest, Error, QshPolicy, SharedSecret, Signer, TenantKey, Unavailable, UnixTime,
    Verified, Verifier,
};

pub(crate) const A: &str = "jira:tenant-a";
pub(crate) const B: &str = "jira:tenant-b";
pub(crate) const SECRET_A: &str = "tenant-a-shared-secret-0123456789abcdef";
pub(crate) const SECRET_B: &str = "tenant-b-shared-secret-0123456789abcdef";

pub(crate) fn key(client_key: &str) -> TenantKey {
    let secret = if client_key == B { SECRET_B } else { SECRET_A };
    TenantKey::new(client_key, &SharedSecret::new(secret)).unwrap()
}

pub(crate) fn keys() -> HashMap<String, TenantKey> {
    HashMap::from([(A.to_owned(), key(A)), (B.to_owned(), key(B))])
}

/// A verified request-bound request of `client_key` by `user` (an iframe load, a webhook).
pub(crate) fn request_bound(
    client_key: &str,
    user: Option<&str>,
    method: &str,
    target: &str,
) -> Verified {
    let request = CanonicalRequest::from_target(method, target, None).unwrap();
    let mut signer = Signer::new(client_key);
    if let Some(user) = user {
        signer = signer.with_subject(user);
    }
    let now = UnixTime::now();
    let token = signer
        .sign_request(&request, &key(client_key), now)
        .unwrap();
    Verifier::new()
        .verify(token.as_str(), QshPolicy::Request(&request), &keys(), now)
        .unwrap()
}

pub(crate) fn iframe(client_key: &str, user: &str) -> Verified {
    request_bound(client_key, Some(user), "GET", "/panel")
}

/// Mints a session of `user` in `client_key` through `sessions`, issued at `now`.
pub(crate) async fn mint_at(
    sessions: &Sessions,
    client_key: &str,
    user: &str,
    now: UnixTime,
) -> Result<SessionToken, Error> {
    sessions
        .mint(
            &iframe(client_key, user),
            &key(client_key),
            None::<Resource>,
            now,
        )
        .await
}

pub(crate) async fn mint(sessions: &Sessions, client_key: &str, user: &str) -> SessionToken {
    mint_at(sessions, client_key, user, UnixTime::now())
        .await
        .unwrap()
}

/// `Ok(())` or the error code of verifying `token` now.
pub(crate) async fn outcome(sessions: &Sessions, token: &SessionToken) -> Result<(), Error> {
    sessions
        .verify_with(token.as_str(), &keys(), UnixTime::now())
        .await
        .map(|_| ())
}

/// The fake product's user directory: users are active unless marked inactive; every call
/// is counted per tenant.
#[derive(Default)]
pub(crate) struct FakeDirectory {
    inactive: Mutex<HashSet<(String, String)>>,
    calls: Mutex<HashMap<String, usize>>,
    asked: Mutex<Vec<(String, Vec<String>)>>,
    down: AtomicBool,
}

impl FakeDirectory {
    pub(crate) fn deactivate(&self, client_key: &str, user: &str) {
        self.inactive
            .lock()
            .unwrap()
            .insert((client_key.to_owned(), user.to_owned()));
    }

    pub(crate) fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    pub(crate) fn calls(&self, client_key: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .get(client_key)
            .copied()
            .unwrap_or(0)
    }

    /// What each call asked about, sorted.
    pub(crate) fn asked(&self) -> Vec<(String, Vec<String>)> {
        let mut asked = self.asked.lock().unwrap().clone();
        for (_, users) in &mut asked {
            users.sort();
        }
        asked.sort();
        asked
    }

    pub(crate) fn clear_asked(&self) {
        self.asked.lock().unwrap().clear();
    }
}

impl UserDirectory for FakeDirectory {
    fn active_users<'a>(
        &'a self,
        client_key: &'a str,
        account_ids: &'a [String],
    ) -> SessionFuture<'a, HashSet<String>> {
        *self
            .calls
            .lock()
            .unwrap()
            .entry(client_key.to_owned())
            .or_default() += 1;
        self.asked
            .lock()
            .unwrap()
            .push((client_key.to_owned(), account_ids.to_vec()));
        let answer = if self.down.load(Ordering::SeqCst) {
            Err(Unavailable::UserDirectory.into())
        } else {
            let inactive = self.inactive.lock().unwrap();
            Ok(account_ids
                .iter()
                .filter(|id| !inactive.contains(&(client_key.to_owned(), (*id).clone())))
                .cloned()
                .collect())
        };
        Box::pin(async move { answer })
    }
}

/// The Redis server the tests use (`TEST_REDIS_URL`), or `None` after a loud `SKIPPED`
/// banner; with `REQUIRE_REDIS=1` a missing server fails the test instead.
pub(crate) fn redis_or_skip(what: &str) -> Option<String> {
    let required = env::var("REQUIRE_REDIS").as_deref() == Ok("1");
    match env::var("TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            let message = format!(
                "{what} needs a Redis server: set TEST_REDIS_URL (bash .ci/redis starts one)"
            );
            assert!(!required, "REQUIRE_REDIS=1 but {message}");
            eprintln!("\n{0}\nSKIPPED: {message}\n{0}\n", "!".repeat(78));
            None
        }
    }
}

/// The `redis-server` binary, for tests that restart a server of their own; `None` after a
/// loud banner (or a failure under `REQUIRE_REDIS=1`) when it is not installed.
pub(crate) fn redis_server_or_skip(what: &str) -> Option<String> {
    let required = env::var("REQUIRE_REDIS").as_deref() == Ok("1");
    let binary = env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned());
    let runs = std::process::Command::new(&binary)
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if runs {
        return Some(binary);
    }
    let message =
        format!("{what} needs the redis-server binary ({binary}): apt-get install redis-server");
    assert!(!required, "REQUIRE_REDIS=1 but {message}");
    eprintln!("\n{0}\nSKIPPED: {message}\n{0}\n", "!".repeat(78));
    None
}

/// p50 and p99 of `samples` (sorted copy), nearest rank.
pub(crate) fn percentiles(
    samples: &[std::time::Duration],
) -> (std::time::Duration, std::time::Duration) {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = |p: f64| {
        let i = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
        sorted[i]
    };
    (rank(0.50), rank(0.99))
}
