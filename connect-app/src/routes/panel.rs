//! `GET /panel`: the iframe page. The product loads it with a token bound to this very URL in
//! the `jwt` parameter; the page shows the current user, fetched from the product's REST API
//! with a request signed as the app, and carries a session token for its script
//! (`panel.js`), which calls the app's own API with it (`GET /api/session/whoami`).

use atlassian_connect_jwt::axum::{ConnectRejection, ConnectRequest};
use atlassian_connect_jwt::session::Sessions;
use atlassian_connect_jwt::{ConnectClient, Tenant, UnixTime};
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

/// Scripts from the app itself and Atlassian's `all.js` only; no plugins, no `<base>`.
const CSP: &str =
    "script-src 'self' https://connect-cdn.atl-paas.net; object-src 'none'; base-uri 'none'";

/// The part of the product's `GET /rest/api/3/user` the page shows.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct User {
    display_name: String,
}

pub(crate) async fn panel(
    State(client): State<ConnectClient>,
    State(sessions): State<Sessions>,
    connect: ConnectRequest,
) -> Response {
    // A user's page gets a session token; an anonymous one (no `sub`) gets none.
    let session = match connect.verified().account_id() {
        Some(_) => {
            let minted = match connect.tenant().key() {
                Ok(key) => {
                    sessions
                        .mint(connect.verified(), &key, None, UnixTime::now())
                        .await
                }
                Err(error) => Err(error),
            };
            match minted {
                Ok(token) => Some(token),
                Err(error) => {
                    tracing::warn!(
                        client_key = ?connect.tenant().client_key(),
                        code = error.code(),
                        "panel: no session token could be minted",
                    );
                    return ConnectRejection::from(error).into_response();
                }
            }
        }
        None => None,
    };
    let (verified, tenant) = connect.into_parts();
    let greeting = match verified.account_id() {
        Some(account_id) => match current_user(&client, &tenant, account_id).await {
            Ok(user) => format!("Hello, {}!", escape(&user.display_name)),
            Err(error) => {
                tracing::warn!(
                    client_key = ?tenant.client_key(),
                    code = error.code(),
                    %error,
                    "panel: the product did not return the current user",
                );
                format!(
                    "Could not load your profile from {} ({}).",
                    escape(tenant.base_url()),
                    error.code()
                )
            }
        },
        None => "Hello! The product did not say who you are (anonymous access).".to_owned(),
    };
    let token = session.as_ref().map(|token| escape(token.as_str()));
    let page = page(&greeting, &escape(tenant.base_url()), token.as_deref());
    (
        // The page shows the user's name and holds a session token; the URL that loaded it
        // holds the product's token, which a referrer would carry to every script host.
        [
            (CACHE_CONTROL, "no-store"),
            (REFERRER_POLICY, "no-referrer"),
            (CONTENT_SECURITY_POLICY, CSP),
        ],
        Html(page),
    )
        .into_response()
}

/// `GET /panel.js`: the page's script (a file of its own, so the page needs no inline
/// script).
pub(crate) async fn script() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "no-cache"),
        ],
        SCRIPT,
    )
}

/// Asks `api/session/whoami` with the page's session token on each click, and shows who the
/// app says the user is, "access revoked" once the session is revoked, or the error. Inside
/// the product, with Atlassian's `all.js`, it also asks `api/whoami` with a context token;
/// nothing depends on `all.js` loading.
const SCRIPT: &str = include_str!("panel.js");

async fn current_user(
    client: &ConnectClient,
    tenant: &Tenant,
    account_id: &str,
) -> Result<User, atlassian_connect_jwt::ClientError> {
    client
        .for_tenant(tenant)?
        .as_app()
        .get("/rest/api/3/user")
        .query("accountId", account_id)
        .send()
        .await?
        .json()
        .await
}

/// Text for HTML element content and quoted attribute values. (Five replacements; a template
/// engine would be a large dependency for one page.)
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The page, `greeting`, `product` and `token` already escaped: complete without scripts;
/// with them, a button that calls the app's API with the session token (`token`, absent for
/// an anonymous user).
fn page(greeting: &str, product: &str, token: Option<&str>) -> String {
    let session = match token {
        Some(token) => format!(r#"<meta name="app-session-token" content="{token}">"#),
        None => String::new(),
    };
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
{session}
<title>Example Connect app</title>
<script src="https://connect-cdn.atl-paas.net/all.js" async></script>
<script src="panel.js" defer></script>
</head>
<body>
<h1 id="greeting">{greeting}</h1>
<p>This page was loaded by {product} with a token signed for this very URL.</p>
<p><button id="session-whoami" type="button">Who am I to the app?</button></p>
<p id="session-result" data-state="idle" aria-live="polite">Press the button to ask the app's API with this page's session token.</p>
<p id="api">Inside the product, this line shows what <code>/api/whoami</code> answers.</p>
</body>
</html>
"#
    )
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            escape(r#"<b a="1" b='2'>&</b>"#),
            "&lt;b a=&quot;1&quot; b=&#39;2&#39;&gt;&amp;&lt;/b&gt;"
        );
        assert_eq!(escape("Ada Lovelace"), "Ada Lovelace");
    }
}
