//! App session tokens (feature `session`): short-lived tokens for an app's own front end that
//! a removed user cannot keep using.
//!
//! An app's iframe page talks to the app's own server. When the product renders the page
//! (a verified request-bound iframe load), the app mints a **session token** for the page
//! ([`Sessions::mint`]); the page sends it back as `Authorization: Bearer <token>`
//! ([`Sessions::verify`], or the axum extractor `AppSession`). Unlike the product's tokens
//! (and ACE's `X-acpt`), a session token
//!
//! - is **typed**: header `typ` `app-session+jwt` and claim `token_use` `app-session`, no
//!   `qsh`; the Connect [`Verifier`](crate::Verifier) refuses it
//!   ([`Error::SessionTokenNotAccepted`](crate::Error::SessionTokenNotAccepted)) and the
//!   session verifier refuses a product token
//!   ([`Error::NotASessionToken`](crate::Error::NotASessionToken));
//! - is signed (HS256) with a **key derived from the tenant's shared secret** with domain
//!   separation ([`SessionKey`]: NIST SP 800-108 counter-mode KDF with HMAC-SHA256, label
//!   `atlassian-connect-jwt/app-session/v1`, context the clientKey), so it is not a product
//!   token under any key and tenant A's token never verifies for tenant B;
//! - binds the tenant (`iss`), the user (`sub`), optionally the page's [`Resource`] (`res`,
//!   checked with [`VerifiedSession::require_resource`]), its issue time and a 128-bit
//!   random id (`jti`), and lives [`DEFAULT_SESSION_TTL`] (5 minutes; at most
//!   [`MAX_SESSION_TTL`]);
//! - is **revocable at once** ([`Sessions::revoke`]): one token, all of a user's in a tenant
//!   (Jira's `user_deleted` webhook: [`Sessions::on_user_deleted`]), all of a tenant's
//!   (`uninstalled`: `Sessions::on_uninstalled`), from the vendor's own tools too;
//! - is checked **without asking the product**: revocations live in a [`RevocationStore`]
//!   whose check is local ([`MemoryRevocationStore`] for one instance; with
//!   `session-redis`, `RedisRevocationStore` for several, a local copy kept current through
//!   Redis pub/sub);
//! - and a deactivated user, of whom the product sends no webhook, is caught by the
//!   [`UserSweep`]: per tenant and interval, one bulk question to the product about the users
//!   holding live sessions ([`UserDirectory`]; with the `client` feature,
//!   `JiraUserDirectory` asks Jira's bulk user API).
//!
//! # How long a removed user keeps access (worst case)
//!
//! | removal | signal | exposure |
//! | --- | --- | --- |
//! | deleted | `user_deleted` webhook | the webhook's delivery delay, plus the propagation to the other instances (Redis pub/sub, measured p99 under 100 ms) |
//! | deactivated, or lost access | none: the [`UserSweep`] | the sweep interval (default 60 s) plus one directory call, or the session lifetime (default 300 s) if shorter |
//! | app uninstalled | `uninstalled` callback | as for the webhook |
//! | any, with no revocation at all | none | the session lifetime plus the leeway |
//!
//! # Revocation semantics
//!
//! A revocation at time `t` covers every session of its scope issued at or before `t` plus
//! the leeway ([`RevocationMark`]), and is kept until all of them have expired. Tenant,
//! user and token revocations are independent marks and any one of them refuses a session.
//! In [`Mode::Allowlist`], a session is also refused once its record is gone.
//!
//! A store that cannot vouch for its answer refuses with
//! [`Unavailable::RevocationStore`](crate::Unavailable::RevocationStore) (HTTP 503): a
//! revoked session is never accepted because the store could not be asked.

#[cfg(feature = "client")]
mod directory;
mod memory;
#[cfg(feature = "session-redis")]
mod redis;
mod sessions;
mod state;
mod store;
mod sweep;
mod token;
mod webhook;

#[cfg(feature = "client")]
pub use directory::{JiraUserDirectory, USER_BULK_BATCH, USER_BULK_TIMEOUT};
pub use memory::{MemoryRevocationStore, DEFAULT_STORE_CAPACITY};
#[cfg(feature = "session-redis")]
pub use redis::{RedisConfig, RedisRevocationStore};
pub use sessions::Sessions;
pub use store::{
    Check, Mode, Revocation, RevocationMark, RevocationStore, SessionFuture, TenantHolders,
};
pub use sweep::{
    SweepReport, UserDirectory, UserSweep, DEFAULT_SWEEP_INTERVAL, MIN_SWEEP_INTERVAL,
};
pub use token::{
    Resource, SessionClaims, SessionKey, SessionToken, SessionVerifier, UnverifiedSession,
    VerifiedSession, DEFAULT_SESSION_LEEWAY, DEFAULT_SESSION_TTL, MAX_SESSION_TTL,
};
pub use webhook::{UserDeleted, MAX_WEBHOOK_BODY};
