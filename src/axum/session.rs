//! App session tokens in axum (features `axum` and `session`): mint one in an iframe handler,
//! accept it on the app's own API with the [`AppSession`] extractor, revoke on Jira's
//! `user_deleted` webhook with [`user_deleted_webhook`].

use ::axum::body::Bytes;
use ::axum::extract::{FromRef, FromRequestParts, State};
use ::axum::http::request::Parts;
use ::axum::http::{HeaderMap, StatusCode};

use super::extract::ConnectRequest;
use super::rejection::ConnectRejection;
use super::state::ConnectAuth;
use crate::error::Error;
use crate::session::{
    Resource, SessionKey, SessionToken, Sessions, UnverifiedSession, VerifiedSession,
};
use crate::tenant::Tenant;
use crate::time::UnixTime;

/// A call to the app's own API with a valid session token in `Authorization: Bearer
/// <token>`: verified under the session key of its tenant, not expired, not revoked.
///
/// Finds [`ConnectAuth`] (for the tenant store) and [`Sessions`] in the app state through
/// [`FromRef`]. The tenant must be installed; an unknown or uninstalled one is
/// [`Error::UnknownIssuer`]. The token is read from the header only, never from the URL
/// (where logs and `Referer` would keep it).
///
/// # Rejection
///
/// [`ConnectRejection`]: 401 with `WWW-Authenticate: Bearer` (`Bearer
/// error="invalid_token"` for a token that was refused) for every verdict
/// (`session-expired`, `session-revoked`, `not-a-session-token`, `missing-token`, ...);
/// 503 when the tenant or revocation store cannot answer; 500 when the app is
/// misconfigured.
///
/// ```no_run
/// use std::sync::Arc;
///
/// use atlassian_connect_jwt::axum::{user_deleted_webhook, AppSession, ConnectAuth, ConnectRequest};
/// use atlassian_connect_jwt::session::{MemoryRevocationStore, Mode, Sessions};
/// use atlassian_connect_jwt::{BasePath, MemoryTenantStore};
/// use axum::extract::{FromRef, State};
/// use axum::routing::{get, post};
/// use axum::Router;
///
/// #[derive(Clone)]
/// struct AppState {
///     auth: ConnectAuth,
///     sessions: Sessions,
/// }
/// impl FromRef<AppState> for ConnectAuth {
///     fn from_ref(state: &AppState) -> Self { state.auth.clone() }
/// }
/// impl FromRef<AppState> for Sessions {
///     fn from_ref(state: &AppState) -> Self { state.sessions.clone() }
/// }
///
/// /// The iframe: mint the page's session token.
/// async fn panel(State(state): State<AppState>, iframe: ConnectRequest) -> Result<String, atlassian_connect_jwt::axum::ConnectRejection> {
///     let token = iframe.mint_session(&state.sessions, None).await?;
///     Ok(format!(r#"<meta name="app-session-token" content="{}">"#, token.as_str()))
/// }
///
/// /// The page's script calls this with `Authorization: Bearer <token>`.
/// async fn whoami(session: AppSession) -> String {
///     session.verified().account_id().to_owned()
/// }
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let state = AppState {
///     auth: ConnectAuth::new(BasePath::parse("https://app.example.com")?, Arc::new(MemoryTenantStore::new())),
///     sessions: Sessions::new(Arc::new(MemoryRevocationStore::new(Mode::Denylist))),
/// };
/// let app: Router = Router::new()
///     .route("/panel", get(panel))
///     .route("/api/session/whoami", get(whoami))
///     .route("/webhooks/user-deleted", post(user_deleted_webhook))
///     .with_state(state);
/// # let _ = app; Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct AppSession {
    verified: VerifiedSession,
    tenant: Tenant,
}

impl AppSession {
    /// The verified session: tenant, user, resource, id.
    #[must_use]
    pub fn verified(&self) -> &VerifiedSession {
        &self.verified
    }

    /// The installed tenant whose key the token was verified with.
    #[must_use]
    pub fn tenant(&self) -> &Tenant {
        &self.tenant
    }

    /// Both, owned.
    #[must_use]
    pub fn into_parts(self) -> (VerifiedSession, Tenant) {
        (self.verified, self.tenant)
    }
}

impl<S> FromRequestParts<S> for AppSession
where
    ConnectAuth: FromRef<S>,
    Sessions: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ConnectRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = ConnectAuth::from_ref(state);
        let sessions = Sessions::from_ref(state);
        match check(&auth, &sessions, &parts.headers).await {
            Ok((verified, tenant)) => Ok(Self { verified, tenant }),
            Err((error, issuer)) => {
                log(&error, issuer.as_deref());
                Err(ConnectRejection::bearer(error))
            }
        }
    }
}

/// The token of `Authorization: Bearer <token>` (scheme in any case, one space).
fn bearer(headers: &HeaderMap) -> Result<&str, Error> {
    let value = crate::http::authorization(headers)
        .map_err(|_| Error::InvalidBearerHeader)?
        .ok_or(Error::MissingToken)?;
    match value.split_at_checked(7) {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("Bearer ") && !token.is_empty() => {
            Ok(token)
        }
        _ => Err(Error::InvalidBearerHeader),
    }
}

/// Token, tenant (one lookup), session key, signature and time, revocation.
async fn check(
    auth: &ConnectAuth,
    sessions: &Sessions,
    headers: &HeaderMap,
) -> Result<(VerifiedSession, Tenant), (Error, Option<String>)> {
    let token = bearer(headers).map_err(|e| (e, None))?;
    let unverified = UnverifiedSession::parse(token).map_err(|e| (e, None))?;
    let issuer = unverified.issuer().to_owned();
    let refused = |error| (error, Some(issuer.clone()));
    let tenant = match auth.tenants().get(&issuer).await {
        Ok(Some(tenant)) if tenant.is_installed() => tenant,
        Ok(_) => return Err(refused(Error::UnknownIssuer)),
        Err(store_error) => return Err(refused(Error::from(store_error))),
    };
    let key = tenant
        .key()
        .and_then(|key| SessionKey::derive(&key))
        .map_err(refused)?;
    let verified = sessions
        .finish(unverified, &key, UnixTime::now())
        .await
        .map_err(refused)?;
    Ok((verified, tenant))
}

/// Longest issuer logged, as for Connect requests.
const MAX_LOGGED_ISSUER: usize = 128;

/// One event per refusal: verdicts at `debug`, a store that cannot answer at `warn`, a
/// misconfigured app at `error`; with the code and the (cut) issuer, never the token.
fn log(error: &Error, issuer: Option<&str>) {
    let issuer = issuer.map(|issuer| {
        let mut end = issuer.len().min(MAX_LOGGED_ISSUER);
        while !issuer.is_char_boundary(end) {
            end -= 1;
        }
        tracing::field::debug(&issuer[..end])
    });
    let code = error.code();
    match error {
        Error::Unavailable(_) => tracing::warn!(
            target: "atlassian_connect_jwt::axum",
            code,
            route = "session",
            issuer,
            "session request not verified: a store did not answer",
        ),
        Error::Config(_) => tracing::error!(
            target: "atlassian_connect_jwt::axum",
            code,
            route = "session",
            issuer,
            error = %error,
            "session request not verified: the app is misconfigured",
        ),
        _ => tracing::debug!(
            target: "atlassian_connect_jwt::axum",
            code,
            route = "session",
            issuer,
            error = %error,
            "session request refused",
        ),
    }
}

impl ConnectRequest {
    /// Mints a session token for the user of this iframe load (and optionally the
    /// `resource` the page shows), with its tenant's key, now.
    ///
    /// # Errors
    ///
    /// As [`Sessions::mint`], as a [`ConnectRejection`]: 401 for a load that names no user,
    /// 503 when the revocation store cannot record the session, 500 for a tenant whose
    /// stored secret is empty.
    pub async fn mint_session(
        &self,
        sessions: &Sessions,
        resource: Option<Resource>,
    ) -> Result<SessionToken, ConnectRejection> {
        let key = self.tenant().key()?;
        Ok(sessions
            .mint(self.verified(), &key, resource, UnixTime::now())
            .await?)
    }
}

/// A handler for Jira's `user_deleted` webhook (declare it in the descriptor's `webhooks`
/// with `"event": "user_deleted"`): verifies the request-bound product request, revokes
/// every session of the deleted user in its tenant, and answers 204.
///
/// # Errors
///
/// A [`ConnectRejection`]: 401 for a request that does not verify, 400 for a body that is
/// not a `user_deleted` event, 503 when the revocation could not be recorded for every
/// instance (the product retries).
pub async fn user_deleted_webhook(
    State(sessions): State<Sessions>,
    connect: ConnectRequest,
    body: Bytes,
) -> Result<StatusCode, ConnectRejection> {
    sessions
        .on_user_deleted(connect.verified(), &body, UnixTime::now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
