//! `GET /panel`: the iframe page. The product loads it with a token bound to this very URL in
//! the `jwt` parameter; the page shows the current user, fetched from the product's REST API
//! with a request signed as the app.

use atlassian_connect_jwt::axum::ConnectRequest;
use atlassian_connect_jwt::{ConnectClient, Tenant};
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, REFERRER_POLICY};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

/// The part of the product's `GET /rest/api/3/user` the page shows.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct User {
    display_name: String,
}

pub(crate) async fn panel(
    State(client): State<ConnectClient>,
    connect: ConnectRequest,
) -> Response {
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
    let page = page(&greeting, &escape(tenant.base_url()));
    (
        // The page shows the user's name; the URL that loaded it holds a token, which a
        // referrer would carry to every script host.
        [
            (CACHE_CONTROL, "no-store"),
            (REFERRER_POLICY, "no-referrer"),
        ],
        Html(page),
    )
        .into_response()
}

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

/// The page, `greeting` and `product` already escaped: complete without scripts; with
/// Atlassian's `all.js` (inside the product) it also calls the app's own API with a context
/// token.
fn page(greeting: &str, product: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Example Connect app</title>
<script src="https://connect-cdn.atl-paas.net/all.js" async></script>
</head>
<body>
<h1 id="greeting">{greeting}</h1>
<p>This page was loaded by {product} with a token signed for this very URL.</p>
<p id="api">Inside the product, this line shows what <code>/api/whoami</code> answers.</p>
<script>
window.addEventListener('load', function () {{
  if (!window.AP || !AP.context) return;
  AP.context.getToken(function (token) {{
    fetch('api/whoami', {{ headers: {{ Authorization: 'JWT ' + token }} }})
      .then(function (response) {{ return response.json(); }})
      .then(function (me) {{
        document.getElementById('api').textContent =
          'The app\'s API says: tenant ' + me.clientKey + ', account ' + me.accountId;
      }});
  }});
}});
</script>
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
