//! The session API an app uses: mint from a verified iframe load, verify with the revocation
//! check, revoke, and the handlers of `user_deleted` and `uninstalled`.

use core::fmt;
use std::sync::Arc;

use super::store::{Revocation, RevocationMark, RevocationStore};
use super::token::{
    self, Resource, SessionKey, SessionToken, SessionVerifier, UnverifiedSession, VerifiedSession,
    DEFAULT_SESSION_TTL, MAX_SESSION_TTL,
};
use super::webhook::UserDeleted;
use crate::error::{Claim, ConfigError, Error};
use crate::secret::TenantKey;
use crate::time::UnixTime;
use crate::verify::{AsyncSecretStore, TokenKind, Verified};

/// Session tokens for one app: their lifetime, leeway and revocation store.
///
/// Cloning is one reference-count increment; keep one in the app state.
///
/// ```
/// use std::sync::Arc;
///
/// use atlassian_connect_jwt::session::{MemoryRevocationStore, Mode, Revocation, Sessions};
/// use atlassian_connect_jwt::{CanonicalRequest, QshPolicy, SharedSecret, Signer, TenantKey, UnixTime, Verifier};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let sessions = Sessions::new(Arc::new(MemoryRevocationStore::new(Mode::Denylist))).with_ttl(300)?;
/// let key = TenantKey::new("tenant-1", &SharedSecret::new("tenant-1-secret"))?;
/// let now = UnixTime::now();
///
/// // The iframe load, verified as usual (here signed on the spot).
/// let request = CanonicalRequest::from_target("GET", "/panel?issueId=10001", None)?;
/// let product_token = Signer::new("tenant-1").with_subject("557058:user-1").sign_request(&request, &key, now)?;
/// let iframe = Verifier::new().verify(product_token.as_str(), QshPolicy::Request(&request), &|_: &str| Some(SharedSecret::new("tenant-1-secret")), now)?;
///
/// // Mint a session token for the page, then check it on the app's own API.
/// let session = sessions.mint(&iframe, &key, None, now).await?;
/// let keys = std::collections::HashMap::from([("tenant-1".to_owned(), key.clone())]);
/// let verified = sessions.verify_with(session.as_str(), &keys, now).await?;
/// assert_eq!(verified.account_id(), "557058:user-1");
///
/// // The user is removed: the token is refused at once.
/// sessions.revoke(Revocation::User { client_key: "tenant-1".into(), account_id: "557058:user-1".into() }, now).await?;
/// let refused = sessions.verify_with(session.as_str(), &keys, now).await.unwrap_err();
/// assert_eq!(refused.code(), "session-revoked");
/// # Ok::<(), atlassian_connect_jwt::Error>(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct Sessions {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn RevocationStore>,
    ttl: u64,
    verifier: SessionVerifier,
}

impl Sessions {
    /// Sessions of [`DEFAULT_SESSION_TTL`] seconds, revoked through `store`.
    #[must_use]
    pub fn new(store: Arc<dyn RevocationStore>) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                ttl: DEFAULT_SESSION_TTL,
                verifier: SessionVerifier::new()
                    .with_max_lifetime(DEFAULT_SESSION_TTL)
                    .unwrap_or_default(),
            }),
        }
    }

    /// Mints tokens valid `seconds`, and refuses tokens that live longer.
    ///
    /// # Errors
    ///
    /// [`ConfigError::SessionTtlOutOfRange`] for 0 or more than [`MAX_SESSION_TTL`].
    pub fn with_ttl(self, seconds: u64) -> Result<Self, Error> {
        let verifier = self.inner.verifier.with_max_lifetime(seconds)?;
        Ok(self.rebuild(seconds, verifier))
    }

    /// Sets the clock-skew allowance between the app's instances (default
    /// [`DEFAULT_SESSION_LEEWAY`](super::DEFAULT_SESSION_LEEWAY)).
    ///
    /// # Errors
    ///
    /// [`ConfigError::LeewayTooLarge`] above [`MAX_LEEWAY`](crate::MAX_LEEWAY).
    pub fn with_leeway(self, seconds: u64) -> Result<Self, Error> {
        let verifier = self.inner.verifier.with_leeway(seconds)?;
        Ok(self.rebuild(self.inner.ttl, verifier))
    }

    fn rebuild(&self, ttl: u64, verifier: SessionVerifier) -> Self {
        Self {
            inner: Arc::new(Inner {
                store: Arc::clone(&self.inner.store),
                ttl,
                verifier,
            }),
        }
    }

    /// The lifetime of minted tokens, in seconds.
    #[must_use]
    pub fn ttl(&self) -> u64 {
        self.inner.ttl
    }

    /// The revocation store.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn RevocationStore> {
        &self.inner.store
    }

    /// Mints a session token for the user of a verified **request-bound** Connect request
    /// (an iframe load), bound to its tenant, its user and optionally the `resource` the page
    /// was rendered for, and records it in the store.
    ///
    /// # Errors
    ///
    /// [`Error::ContextTokenNotAllowed`] when `connect` is a context token (it is bound to no
    /// request, so anyone holding one could mint);
    /// [`Error::MissingClaim`] (`sub`) when it names no user;
    /// [`ConfigError::KeyTenantMismatch`] when `key` is another tenant's;
    /// [`Unavailable::RevocationStore`](crate::Unavailable::RevocationStore) when the store
    /// cannot record it (nothing is returned then);
    /// [`Unavailable::Randomness`](crate::Unavailable::Randomness) when no id can be drawn.
    pub async fn mint(
        &self,
        connect: &Verified,
        key: &TenantKey,
        resource: Option<Resource>,
        now: UnixTime,
    ) -> Result<SessionToken, Error> {
        if connect.kind() != TokenKind::RequestBound {
            return Err(Error::ContextTokenNotAllowed);
        }
        let account_id = connect
            .account_id()
            .filter(|a| !a.is_empty())
            .ok_or(Error::MissingClaim(Claim::Sub))?;
        if key.client_key() != connect.client_key() {
            return Err(ConfigError::KeyTenantMismatch.into());
        }
        let key = SessionKey::derive(key)?;
        let token = token::mint(&key, account_id, resource, self.inner.ttl, now)?;
        self.inner.store.issue(token.claims()).await?;
        Ok(token)
    }

    /// Verifies a session token: signature under the session key of its tenant (whose key
    /// comes from `keys`), time, then the revocation check.
    ///
    /// # Errors
    ///
    /// As [`SessionVerifier::verify`], then [`Error::SessionRevoked`], or
    /// [`Unavailable::RevocationStore`](crate::Unavailable::RevocationStore) when the store
    /// cannot vouch for its answer.
    pub async fn verify(
        &self,
        token: &str,
        keys: &(impl AsyncSecretStore + ?Sized),
        now: UnixTime,
    ) -> Result<VerifiedSession, Error> {
        let token = UnverifiedSession::parse(token)?;
        let key = keys
            .tenant_key(token.issuer())
            .await?
            .ok_or(Error::UnknownIssuer)?;
        self.finish(token, &SessionKey::derive(&key)?, now).await
    }

    /// As [`verify`](Self::verify), with a synchronous key store (a map of [`TenantKey`]s,
    /// a closure).
    ///
    /// # Errors
    ///
    /// As [`verify`](Self::verify).
    pub async fn verify_with(
        &self,
        token: &str,
        keys: &(impl crate::verify::SecretStore + ?Sized),
        now: UnixTime,
    ) -> Result<VerifiedSession, Error> {
        let token = UnverifiedSession::parse(token)?;
        let key = keys
            .tenant_key(token.issuer())?
            .ok_or(Error::UnknownIssuer)?;
        self.finish(token, &SessionKey::derive(&key)?, now).await
    }

    /// The second half of verification, for callers that found the tenant themselves (and
    /// may cache its [`SessionKey`]).
    ///
    /// # Errors
    ///
    /// As [`SessionVerifier::finish`], then as [`verify`](Self::verify).
    pub async fn finish(
        &self,
        token: UnverifiedSession<'_>,
        key: &SessionKey,
        now: UnixTime,
    ) -> Result<VerifiedSession, Error> {
        let verified = self.inner.verifier.finish(token, key, now)?;
        self.inner.store.check(verified.claims()).await?;
        Ok(verified)
    }

    /// Revokes `revocation` at `now`, on every instance sharing the store: every session of
    /// its scope issued up to `now` plus the leeway is refused from then on.
    ///
    /// # Errors
    ///
    /// [`Unavailable::RevocationStore`](crate::Unavailable::RevocationStore) when the store
    /// could not record it for the other instances (this instance refuses the sessions all
    /// the same); retry.
    pub async fn revoke(&self, revocation: Revocation, now: UnixTime) -> Result<(), Error> {
        let leeway = self.inner.verifier.leeway();
        let through = now.as_secs().saturating_add(leeway);
        let keep_until = through
            .saturating_add(MAX_SESSION_TTL)
            .saturating_add(leeway);
        let mark = RevocationMark {
            revocation,
            covers_issued_through: through,
            keep_until,
        };
        tracing::info!(
            target: "atlassian_connect_jwt::session",
            scope = mark.revocation.scope(),
            client_key = ?mark.revocation.client_key(),
            "sessions revoked",
        );
        self.inner.store.revoke(&mark).await
    }

    /// Handles Jira's `user_deleted` webhook: `webhook` is the verified request-bound
    /// request that carried `body`; every session of the deleted user in its tenant is
    /// revoked. Answer the product with 204 on `Ok`, and with an error status otherwise so
    /// that it retries.
    ///
    /// # Errors
    ///
    /// [`Error::ContextTokenNotAllowed`] when `webhook` is a context token;
    /// [`Error::InvalidWebhookPayload`] for a body that is not a `user_deleted` event; then
    /// as [`revoke`](Self::revoke).
    pub async fn on_user_deleted(
        &self,
        webhook: &Verified,
        body: &[u8],
        now: UnixTime,
    ) -> Result<UserDeleted, Error> {
        if webhook.kind() != TokenKind::RequestBound {
            return Err(Error::ContextTokenNotAllowed);
        }
        let deleted = UserDeleted::parse(body)?;
        self.revoke(
            Revocation::User {
                client_key: webhook.client_key().to_owned(),
                account_id: deleted.account_id().to_owned(),
            },
            now,
        )
        .await?;
        Ok(deleted)
    }

    /// Handles a verified `uninstalled` callback: every session of the tenant is revoked.
    ///
    /// # Errors
    ///
    /// As [`revoke`](Self::revoke).
    #[cfg(feature = "signed-install")]
    pub async fn on_uninstalled(
        &self,
        uninstall: &crate::tenant::UninstalledTenant,
        now: UnixTime,
    ) -> Result<(), Error> {
        self.revoke(
            Revocation::Tenant {
                client_key: uninstall.client_key().to_owned(),
            },
            now,
        )
        .await
    }
}

impl fmt::Debug for Sessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sessions")
            .field("ttl", &self.inner.ttl)
            .field("verifier", &self.inner.verifier)
            .finish_non_exhaustive()
    }
}
