//! Forge remote routes (features `axum` and `forge`): the [`ForgeInvocation`] extractor
//! verifies the Forge Invocation Token of `Authorization: Bearer <FIT>` with the key source
//! and verifier of [`ForgeAuth`], reads the OAuth tokens Forge forwards, and finds the linked
//! Connect tenant when the app keeps a tenant store.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use std::sync::Arc;

use ::axum::extract::{FromRef, FromRequestParts};
use ::axum::http::request::Parts;
use ::axum::http::HeaderMap;

use super::rejection::ConnectRejection;
use crate::error::Error;
use crate::forge::{
    invocation_token_from_authorization, ForgeKeyId, ForgeKeySource, ForgeOAuthKind,
    ForgeOAuthToken, ForgeVerifier, IcLabel, InvocationToken, VerifiedInvocation,
};
use crate::http::authorization;
use crate::install::InstallKey;
use crate::tenant::{Tenant, TenantStore};
use crate::time::UnixTime;

/// What the Forge extractor needs from the app: the [`ForgeVerifier`] of its Forge app, the
/// source of Forge's public keys, and optionally the tenant store of its Connect side.
///
/// Cloning is one reference-count increment. [`ForgeInvocation`] reaches it with
/// [`FromRef`]: give it to a router as its state, or keep it in a field of the app's own
/// state next to a [`ConnectAuth`](super::ConnectAuth) and implement
/// `FromRef<AppState> for ForgeAuth`.
///
/// The key source is any [`ForgeKeySource`]: in production a
/// [`JwksCache`](crate::JwksCache) over an [`HttpJwksSource`](crate::HttpJwksSource)
/// (feature `forge-http`), given by value or as an `Arc` shared with other code; a pinned
/// [`JwkSet`](crate::JwkSet) in tests.
///
/// ```
/// use std::sync::Arc;
///
/// use atlassian_connect_jwt::axum::ForgeAuth;
/// use atlassian_connect_jwt::{ForgeVerifier, JwkSet, MemoryTenantStore};
///
/// let verifier = ForgeVerifier::new("ari:cloud:ecosystem::app/8db33809-1f32-48bb-8c52-5877dab48107")?;
/// let keys = JwkSet::from_json(r#"{"keys":[]}"#)?; // a pinned set; JwksCache in production
/// let forge = ForgeAuth::new(verifier, keys).with_tenants(Arc::new(MemoryTenantStore::new()));
/// assert!(forge.tenants().is_some());
/// # Ok::<(), atlassian_connect_jwt::Error>(())
/// ```
#[derive(Clone)]
pub struct ForgeAuth {
    inner: Arc<Inner>,
}

struct Inner {
    verifier: ForgeVerifier,
    keys: Arc<dyn DynKeySource>,
    tenants: Option<Arc<dyn TenantStore>>,
}

impl ForgeAuth {
    /// Verification for the Forge app of `verifier`, with the public keys of `keys`, and no
    /// tenant store: [`ForgeInvocation::tenant`] is always `None`.
    #[must_use]
    pub fn new(verifier: ForgeVerifier, keys: impl ForgeKeySource + Send + Sync + 'static) -> Self {
        Self {
            inner: Arc::new(Inner {
                verifier,
                keys: Arc::new(keys),
                tenants: None,
            }),
        }
    }

    /// The same, finding the Connect tenant of each invocation's installation in `tenants`
    /// (the store the Connect lifecycle handlers write to): one store read per request.
    #[must_use]
    pub fn with_tenants(self, tenants: Arc<dyn TenantStore>) -> Self {
        Self {
            inner: Arc::new(Inner {
                verifier: self.inner.verifier.clone(),
                keys: Arc::clone(&self.inner.keys),
                tenants: Some(tenants),
            }),
        }
    }

    /// The verifier.
    #[must_use]
    pub fn verifier(&self) -> &ForgeVerifier {
        &self.inner.verifier
    }

    /// The tenant store, when one was given.
    #[must_use]
    pub fn tenants(&self) -> Option<&Arc<dyn TenantStore>> {
        self.inner.tenants.as_ref()
    }
}

impl fmt::Debug for ForgeAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForgeAuth")
            .field("verifier", &self.inner.verifier)
            .field("tenants", &self.inner.tenants.is_some())
            .finish_non_exhaustive()
    }
}

/// A boxed key lookup: [`ForgeKeySource`] returns `impl Future`, so it cannot be a trait
/// object itself; this is its object-safe form, for the one key source of a [`ForgeAuth`].
type KeyFuture<'a> = Pin<Box<dyn Future<Output = Result<InstallKey, Error>> + Send + 'a>>;

trait DynKeySource: Send + Sync {
    /// [`ForgeKeySource::forge_key`], with the `kid` and label owned by the future.
    fn forge_key_boxed(&self, kid: ForgeKeyId, ic_label: Option<IcLabel>) -> KeyFuture<'_>;
}

impl<K: ForgeKeySource + Send + Sync> DynKeySource for K {
    fn forge_key_boxed(&self, kid: ForgeKeyId, ic_label: Option<IcLabel>) -> KeyFuture<'_> {
        Box::pin(async move { self.forge_key(&kid, ic_label.as_ref()).await })
    }
}

/// The key source of a [`ForgeAuth`] as a [`ForgeKeySource`] again, for
/// [`ForgeVerifier::verify_async`].
struct Keys<'a>(&'a dyn DynKeySource);

impl ForgeKeySource for Keys<'_> {
    fn forge_key(
        &self,
        kid: &ForgeKeyId,
        ic_label: Option<&IcLabel>,
    ) -> impl Future<Output = Result<InstallKey, Error>> + Send {
        self.0.forge_key_boxed(kid.clone(), ic_label.cloned())
    }
}

/// A verified call of a Forge remote: the Forge Invocation Token of `Authorization: Bearer`
/// verified by the [`ForgeAuth`] of the app state, the OAuth tokens Forge forwarded with it,
/// and the Connect tenant of the same installation when the app keeps a tenant store.
///
/// Only a successful verification makes one. The OAuth headers are read after the token
/// verified, and only into [`ForgeOAuthToken`]s (never logged, redacted in `Debug`).
///
/// One backend can serve a Connect app and a Forge app's remote side by side (during a move
/// from Connect to Forge): one state with a [`ConnectAuth`](super::ConnectAuth) and a
/// [`ForgeAuth`] sharing one tenant store, each reached by its extractor through
/// [`FromRef`].
///
/// ```no_run
/// # #[cfg(feature = "forge-http")]
/// # mod example {
/// use std::sync::Arc;
///
/// use atlassian_connect_jwt::axum::{ConnectAuth, ConnectRequest, ForgeAuth, ForgeInvocation};
/// use atlassian_connect_jwt::{
///     BasePath, ForgeVerifier, HttpJwksSource, JwksCache, MemoryTenantStore, TenantStore,
/// };
/// use axum::extract::FromRef;
/// use axum::routing::{get, post};
/// use axum::Router;
///
/// #[derive(Clone)]
/// struct AppState {
///     connect: ConnectAuth,
///     forge: ForgeAuth,
/// }
///
/// impl FromRef<AppState> for ConnectAuth {
///     fn from_ref(state: &AppState) -> Self {
///         state.connect.clone()
///     }
/// }
///
/// impl FromRef<AppState> for ForgeAuth {
///     fn from_ref(state: &AppState) -> Self {
///         state.forge.clone()
///     }
/// }
///
/// /// A Connect iframe: a Connect JWT signed with the tenant's shared secret.
/// async fn issue_panel(connect: ConnectRequest) -> String {
///     format!("Connect, for {}", connect.tenant().base_url())
/// }
///
/// /// A Forge remote endpoint (`remotes` and `endpoints` in manifest.yml): a Forge
/// /// Invocation Token signed by Forge.
/// async fn forge_remote(forge: ForgeInvocation) -> String {
///     let installation = forge.verified().installation_id(); // the key for the app's data
///     match forge.tenant() {
///         // The same installation's Connect tenant: its data, its client key.
///         Some(tenant) => format!("Forge, for {installation}, Connect tenant {}", tenant.client_key()),
///         None => format!("Forge, for {installation}"),
///     }
/// }
///
/// pub fn app() -> Result<Router, atlassian_connect_jwt::Error> {
///     // The store the Connect lifecycle handlers fill (installationId included).
///     let tenants: Arc<dyn TenantStore> = Arc::new(MemoryTenantStore::new());
///     let connect = ConnectAuth::new(BasePath::parse("https://app.example.com")?, Arc::clone(&tenants));
///     let verifier =
///         ForgeVerifier::new("ari:cloud:ecosystem::app/8db33809-1f32-48bb-8c52-5877dab48107")?;
///     let forge = ForgeAuth::new(verifier, JwksCache::new(HttpJwksSource::new()?))
///         .with_tenants(tenants);
///     Ok(Router::new()
///         .route("/issue-panel", get(issue_panel))
///         .route("/forge/remote/{*path}", post(forge_remote))
///         .with_state(AppState { connect, forge }))
/// }
/// # }
/// ```
///
/// # Rejection
///
/// [`ConnectRejection`]: 401 with `WWW-Authenticate: Bearer` for a missing, malformed or
/// refused token (`missing-token`, `invalid-bearer-header`, `app-id-mismatch`, `expired`,
/// `unknown-key-id`, `invalid-signature`, ...) or a malformed forwarded OAuth header
/// (`invalid-oauth-token`); 503 when the key set cannot be fetched (`key-unavailable`) or the
/// tenant store cannot answer (`secret-store-unavailable`); 500 when the key source reports
/// a misconfiguration. The body is the code alone. Each refusal is one `tracing` event
/// (target `atlassian_connect_jwt::axum`, `route = "forge"`): `debug` for a verdict, `warn`
/// for a key set or store that cannot answer, `error` for a misconfiguration; with the code,
/// the message and the token's `kid` when it has a valid one. Never a token or an OAuth
/// token.
#[derive(Clone, Debug)]
pub struct ForgeInvocation {
    verified: VerifiedInvocation,
    system: Option<ForgeOAuthToken>,
    user: Option<ForgeOAuthToken>,
    tenant: Option<Tenant>,
}

impl ForgeInvocation {
    /// The verified token: installation, app, principal, module, claims.
    #[must_use]
    pub fn verified(&self) -> &VerifiedInvocation {
        &self.verified
    }

    /// The app's token for Atlassian's APIs (`x-forge-oauth-system`), when the manifest asks
    /// for it. Never log it.
    #[must_use]
    pub fn system_token(&self) -> Option<&ForgeOAuthToken> {
        self.system.as_ref()
    }

    /// The token acting for the invoking user (`x-forge-oauth-user`), when the manifest asks
    /// for it and there is a user. Never log it.
    #[must_use]
    pub fn user_token(&self) -> Option<&ForgeOAuthToken> {
        self.user.as_ref()
    }

    /// The installed Connect tenant of the invocation's installation
    /// ([`VerifiedInvocation::linked_tenant`]): `None` when no installed tenant carries its
    /// `installationId`, or when the [`ForgeAuth`] has no tenant store.
    #[must_use]
    pub fn tenant(&self) -> Option<&Tenant> {
        self.tenant.as_ref()
    }
}

impl<S> FromRequestParts<S> for ForgeInvocation
where
    ForgeAuth: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ConnectRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = ForgeAuth::from_ref(state);
        match check(&auth, &parts.headers).await {
            Ok(invocation) => Ok(invocation),
            Err(error) => {
                log(&error, &parts.headers);
                Err(ConnectRejection::bearer(error))
            }
        }
    }
}

/// The token, the verifier's checks (the key fetched only for a token that passed all the
/// others), the forwarded OAuth tokens, the linked tenant.
async fn check(auth: &ForgeAuth, headers: &HeaderMap) -> Result<ForgeInvocation, Error> {
    let token = bearer_token(headers)?;
    let keys = Keys(auth.inner.keys.as_ref());
    let verified = auth
        .verifier()
        .verify_async(token, &keys, UnixTime::now())
        .await?;
    let system = oauth_token(headers, ForgeOAuthKind::System)?;
    let user = oauth_token(headers, ForgeOAuthKind::User)?;
    let tenant = match auth.tenants() {
        Some(store) => verified.linked_tenant(store.as_ref()).await?,
        None => None,
    };
    Ok(ForgeInvocation {
        verified,
        system,
        user,
        tenant,
    })
}

/// The token of the one `Authorization: Bearer <token>` header.
fn bearer_token(headers: &HeaderMap) -> Result<&str, Error> {
    let value = authorization(headers)
        .map_err(|_| Error::InvalidBearerHeader)?
        .ok_or(Error::MissingToken)?;
    invocation_token_from_authorization(value)
}

/// The forwarded token of `kind`: none without its header; refused when the header is
/// repeated (which one would be the app's?) or malformed.
fn oauth_token(
    headers: &HeaderMap,
    kind: ForgeOAuthKind,
) -> Result<Option<ForgeOAuthToken>, Error> {
    let mut values = headers.get_all(kind.header_name()).into_iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Error::InvalidOAuthToken);
    }
    let value = value.to_str().map_err(|_| Error::InvalidOAuthToken)?;
    ForgeOAuthToken::from_header(kind, value).map(Some)
}

/// One event per refusal: verdicts at `debug` (any caller can cause one), a key set or
/// store that cannot answer at `warn`, a misconfiguration at `error`. The token's `kid` is
/// logged (with `Debug`, quoted and escaped) only when it passed the Forge `kid` rule; never
/// the token, a segment of it or an OAuth header.
fn log(error: &Error, headers: &HeaderMap) {
    let code = error.code();
    let token = bearer_token(headers).ok();
    let parsed = token.and_then(|token| InvocationToken::parse(token).ok());
    let kid = parsed
        .as_ref()
        .map(|token| tracing::field::debug(token.key_id().as_str()));
    match error {
        Error::Unavailable(_) => tracing::warn!(
            target: "atlassian_connect_jwt::axum",
            code,
            route = "forge",
            kid,
            error = %error,
            "forge invocation not verified: the key set or the tenant store did not answer",
        ),
        Error::Config(_) => tracing::error!(
            target: "atlassian_connect_jwt::axum",
            code,
            route = "forge",
            kid,
            error = %error,
            "forge invocation not verified: the app is misconfigured",
        ),
        _ => tracing::debug!(
            target: "atlassian_connect_jwt::axum",
            code,
            route = "forge",
            kid,
            error = %error,
            "forge invocation refused",
        ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use ::axum::http::header::{HeaderValue, AUTHORIZATION};

    use super::*;

    #[test]
    fn the_bearer_token_of_the_one_authorization_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer_token(&headers), Err(Error::MissingToken));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer a.b.c"));
        assert_eq!(bearer_token(&headers), Ok("a.b.c"));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("JWT a.b.c"));
        assert_eq!(bearer_token(&headers), Err(Error::InvalidBearerHeader));
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_bytes(b"Bearer a.b\xff").unwrap(),
        );
        assert_eq!(bearer_token(&headers), Err(Error::InvalidBearerHeader));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer a.b.c"));
        headers.append(AUTHORIZATION, HeaderValue::from_static("Bearer a.b.c"));
        assert_eq!(bearer_token(&headers), Err(Error::InvalidBearerHeader));
    }

    #[test]
    fn forwarded_oauth_headers() {
        let system = ForgeOAuthKind::System;
        let mut headers = HeaderMap::new();
        assert_eq!(
            oauth_token(&headers, system).unwrap().map(|t| t.kind()),
            None
        );
        headers.insert(
            "x-forge-oauth-system",
            HeaderValue::from_static("opaque-token"),
        );
        let token = oauth_token(&headers, system).unwrap().unwrap();
        assert_eq!((token.kind(), token.expose()), (system, "opaque-token"));
        // The user header is another one.
        assert!(oauth_token(&headers, ForgeOAuthKind::User)
            .unwrap()
            .is_none());
        for bad in [&b"two words"[..], b"", b"caf\xc3\xa9"] {
            headers.insert(
                "x-forge-oauth-system",
                HeaderValue::from_bytes(bad).unwrap(),
            );
            assert_eq!(
                oauth_token(&headers, system).unwrap_err(),
                Error::InvalidOAuthToken,
                "{bad:?}"
            );
        }
        headers.insert("x-forge-oauth-system", HeaderValue::from_static("a"));
        headers.append("x-forge-oauth-system", HeaderValue::from_static("a"));
        assert_eq!(
            oauth_token(&headers, system).unwrap_err(),
            Error::InvalidOAuthToken
        );
    }
}
