//! `GET /api/whoami`: the app's own API, called by the iframe's script with a context token
//! (`AP.context.getToken()`) in `Authorization: JWT ...`.

use atlassian_connect_jwt::axum::ConnectContext;
use axum::Json;
use serde::Serialize;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WhoAmI {
    client_key: String,
    account_id: Option<String>,
}

pub(crate) async fn whoami(connect: ConnectContext) -> Json<WhoAmI> {
    let verified = connect.verified();
    Json(WhoAmI {
        client_key: verified.client_key().to_owned(),
        account_id: verified.account_id().map(str::to_owned),
    })
}
