//! The verification behind every extractor and the layer: one store lookup, the route's
//! policy, and a `tracing` event for each refusal that never holds a token or a secret.

use ::axum::extract::OriginalUri;
use ::axum::http::request::Parts;
use ::axum::http::{HeaderMap, Method, Uri};

use super::extract::sealed::{Policy, Proof};
use super::extract::ConnectPolicy;
use super::rejection::ConnectRejection;
use super::state::ConnectAuth;
use crate::error::Error;
use crate::http::{authorization, canonical_request};
use crate::tenant::{StoreError, Tenant};
use crate::time::UnixTime;
use crate::verify::{Unverified, Verified};

/// Verifies the request of `parts` under `P`'s policy, hashing the URI the server received.
///
/// axum's router keeps that URI as [`OriginalUri`] before a nested router strips its prefix
/// from `parts.uri`; outside a router (a layer around the whole app) `parts.uri` is still the
/// one received.
pub(super) async fn authenticate<P: ConnectPolicy>(
    auth: &ConnectAuth,
    parts: &Parts,
) -> Result<P, ConnectRejection> {
    let uri = parts
        .extensions
        .get::<OriginalUri>()
        .map_or(&parts.uri, |original| &original.0);
    match check(auth, &parts.method, uri, &parts.headers, P::POLICY).await {
        Ok((verified, tenant)) => Ok(P::from_proof(Proof { verified, tenant })),
        Err(refusal) => {
            refusal.log(P::POLICY);
            Err(refusal.error.into())
        }
    }
}

/// Canonical request, token, tenant (one lookup), key, then the verifier's checks.
async fn check(
    auth: &ConnectAuth,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    policy: Policy,
) -> Result<(Verified, Tenant), Refusal> {
    let request = canonical_request(method, uri, Some(auth.base()))?;
    let token = request.token(authorization(headers)?)?;
    let unverified = Unverified::parse(token)?;
    let issuer = unverified.issuer();
    let tenant = match auth.tenants().get(issuer).await {
        Ok(Some(tenant)) if tenant.is_installed() => tenant,
        // Unknown and uninstalled alike: the store has no key to accept, and the answer does
        // not tell which (as `AsyncSecretStore for dyn TenantStore`).
        Ok(_) => return Err(Refusal::new(Error::UnknownIssuer).issuer(issuer)),
        Err(store_error) => {
            let mut refusal = Refusal::new(Error::from(store_error.clone())).issuer(issuer);
            refusal.store_error = Some(store_error);
            return Err(refusal);
        }
    };
    let refused = |error| Refusal::new(error).issuer(tenant.client_key());
    let key = tenant.key().map_err(refused)?;
    let verified = auth
        .verifier()
        .finish(unverified, &key, policy.qsh(&request), UnixTime::now())
        .map_err(refused)?;
    Ok((verified, tenant))
}

/// A refusal and what may be logged about it.
struct Refusal {
    error: Error,
    /// The token's `iss` (unverified) or the stored tenant's clientKey, once known.
    issuer: Option<String>,
    /// The store's own description, for a 503.
    store_error: Option<StoreError>,
}

/// Longest issuer logged: client keys are a few dozen characters; the claim may be longer.
const MAX_LOGGED_ISSUER: usize = 128;

impl Refusal {
    fn new(error: Error) -> Self {
        Self {
            error,
            issuer: None,
            store_error: None,
        }
    }

    fn issuer(mut self, issuer: &str) -> Self {
        let mut end = issuer.len().min(MAX_LOGGED_ISSUER);
        while !issuer.is_char_boundary(end) {
            end -= 1;
        }
        self.issuer = Some(issuer[..end].to_owned());
        self
    }

    /// One event: verdicts at `debug` (every caller can cause them), a store that cannot
    /// answer at `warn`, a misconfigured app at `error`. Strings that come from the request
    /// are recorded with `Debug`, so they are quoted and escaped.
    fn log(&self, policy: Policy) {
        let code = self.error.code();
        let route = policy.name();
        let issuer = self.issuer.as_deref().map(tracing::field::debug);
        match &self.error {
            Error::QshMismatch(mismatch) => tracing::debug!(
                target: "atlassian_connect_jwt::axum",
                code,
                route,
                issuer,
                expected_qsh = %mismatch.expected(),
                presented_qsh = ?mismatch.presented(),
                canonical_request = ?redact_tokens(mismatch.canonical_request()),
                "connect request refused: the token was signed for another request",
            ),
            Error::Unavailable(_) => tracing::warn!(
                target: "atlassian_connect_jwt::axum",
                code,
                route,
                issuer,
                store_error = self
                    .store_error
                    .as_ref()
                    .map(|e| tracing::field::debug(e.message())),
                "connect request not verified: the tenant store did not answer",
            ),
            Error::Config(_) => tracing::error!(
                target: "atlassian_connect_jwt::axum",
                code,
                route,
                issuer,
                error = %self.error,
                "connect request not verified: the app is misconfigured",
            ),
            _ => tracing::debug!(
                target: "atlassian_connect_jwt::axum",
                code,
                route,
                issuer,
                error = %self.error,
                "connect request refused",
            ),
        }
    }
}

impl From<Error> for Refusal {
    fn from(error: Error) -> Self {
        Self::new(error)
    }
}

const REDACTED: &str = "<redacted>";

/// The canonical request for a log: the `jwt` parameter is never in it, but a token could
/// travel under another name (`JWT=`, `token=`) or in the path. Every path segment and query
/// value shaped like a compact JWS or JWE, and the value of any parameter named `jwt` in any
/// case, is replaced by `<redacted>`.
pub(super) fn redact_tokens(canonical: &str) -> String {
    let mut parts = canonical.splitn(3, '&');
    let method = parts.next().unwrap_or_default();
    let path = parts.next().unwrap_or_default();
    let query = parts.next().unwrap_or_default();
    let mut out = String::with_capacity(canonical.len());
    out.push_str(method);
    out.push('&');
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(if looks_like_token(segment) {
            REDACTED
        } else {
            segment
        });
    }
    out.push('&');
    for (i, param) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        let Some((key, values)) = param.split_once('=') else {
            out.push_str(param);
            continue;
        };
        out.push_str(key);
        out.push('=');
        if key.eq_ignore_ascii_case("jwt") {
            out.push_str(REDACTED);
            continue;
        }
        // Values of one key are joined by `,`; a `,` inside a value is written `%2C`.
        for (j, value) in values.split(',').enumerate() {
            if j > 0 {
                out.push(',');
            }
            out.push_str(if looks_like_token(value) {
                REDACTED
            } else {
                value
            });
        }
    }
    out
}

/// Base64url segments joined by at least two dots, 16 characters or more: a JWS has three
/// segments, a JWE five. A version number (`1.2.3`) is too short to be taken for one.
fn looks_like_token(text: &str) -> bool {
    text.len() >= 16
        && text.bytes().filter(|&b| b == b'.').count() >= 2
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::redact_tokens;

    #[test]
    fn tokens_are_redacted_wherever_they_hide() {
        let token = "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ4In0.c2lnbmF0dXJlLXNlZ21lbnQ";
        assert_eq!(
            redact_tokens(&format!(
                "GET&/p/{token}/q&JWT={token}&a=1,{token}&b=1.2.3&t={token}"
            )),
            "GET&/p/<redacted>/q&JWT=<redacted>&a=1,<redacted>&b=1.2.3&t=<redacted>"
        );
        // Any value under a `jwt` name, token-shaped or not.
        assert_eq!(
            redact_tokens("GET&/p&Jwt=x&a=b"),
            "GET&/p&Jwt=<redacted>&a=b"
        );
        // Nothing else changes.
        for plain in [
            "GET&/&",
            "GET&/issue-panel&a=hello%20world&b=2",
            "POST&/a/b.c.d&x&y=",
            "GET&/p%26q&v=a.b.c",
        ] {
            assert_eq!(redact_tokens(plain), plain);
        }
    }
}
