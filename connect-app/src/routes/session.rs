//! `GET /api/session/whoami`: the app's own API, called by the panel's script with the
//! session token the page was given (`Authorization: Bearer ...`).

use atlassian_connect_jwt::axum::AppSession;
use axum::Json;
use serde::Serialize;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WhoAmI {
    client_key: String,
    account_id: String,
}

/// Answers only a valid, unexpired, unrevoked session of an installed tenant: everything
/// else is refused by [`AppSession`] (401 with `WWW-Authenticate: Bearer` and the code, 503
/// when the revocation store cannot vouch for its answer).
pub(crate) async fn whoami(session: AppSession) -> Json<WhoAmI> {
    let verified = session.verified();
    Json(WhoAmI {
        client_key: verified.client_key().to_owned(),
        account_id: verified.account_id().to_owned(),
    })
}
