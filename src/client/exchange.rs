//! The OAuth 2.0 JWT bearer grant (RFC 7523) at Atlassian's authorization server: a user
//! assertion in, an access token out.
//!
//! What is relied on (Atlassian's "User impersonation for Connect apps"): `POST
//! <server>/oauth2/token`, form-encoded, with `grant_type` =
//! `urn:ietf:params:oauth:grant-type:jwt-bearer`, `assertion` = the [`UserAssertion`] signed
//! with the tenant's shared secret, `scope` = upper-case Connect scopes separated by spaces;
//! the answer is JSON `{"access_token", "expires_in" (seconds, 900 today), "token_type":
//! "Bearer"}`. An error answer is RFC 6749's JSON `{"error", "error_description"}`.

use std::time::Duration;

use reqwest::header::{self, HeaderValue};
use serde::Deserialize;

use super::error::{ClientError, TokenExchangeError};
use super::request::{read_prefix, transport_error};
use super::retry::Step;
use super::token::{AccessToken, Exchanged, TokenKey};
use super::{Shared, TenantInner};
use crate::sign::UserAssertion;
use crate::time::UnixTime;

/// The grant type of RFC 7523.
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Longest token response read, in bytes (an access token is a JWT of a kilobyte or two).
const MAX_TOKEN_RESPONSE_LEN: usize = 64 * 1024;

/// Longest error response read, in bytes: enough for RFC 6749's `error` member.
const MAX_ERROR_RESPONSE_LEN: usize = 4 * 1024;

/// Longest access token accepted, in bytes.
const MAX_ACCESS_TOKEN_LEN: usize = 16 * 1024;

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    token_type: String,
    expires_in: u64,
}

#[derive(Deserialize)]
struct ErrorResponse {
    error: Option<String>,
}

/// Exchanges an assertion for `key`'s user and scopes; retries 429 (and 503 with
/// `Retry-After`) like a product request: the exchange has no effect but the token.
pub(super) async fn exchange(
    shared: &Shared,
    tenant: &TenantInner,
    key: &TokenKey,
) -> Result<Exchanged, ClientError> {
    let failed = |e: TokenExchangeError| ClientError::TokenExchange(e);
    let oauth_client_id = tenant
        .oauth_client_id
        .as_deref()
        .ok_or(ClientError::NoOAuthClientId)?;
    let url = shared.authorization_server.resolve("/oauth2/token")?;
    let client = if shared.authorization_server.is_loopback() {
        &shared.direct
    } else {
        &shared.http
    };
    let mut attempt: u32 = 1;
    loop {
        let assertion = UserAssertion {
            oauth_client_id,
            account_id: &key.account_id,
            tenant_base_url: &tenant.base_url,
        }
        .sign(&tenant.key, UnixTime::now())
        .map_err(ClientError::Unsignable)?;
        let form = [
            ("grant_type", GRANT_TYPE),
            ("assertion", assertion.as_str()),
            ("scope", &key.scopes),
        ];
        let response = client
            .post(url.clone())
            .header(header::ACCEPT, HeaderValue::from_static("application/json"))
            .form(&form)
            .timeout(shared.timeout)
            .send()
            .await
            .map_err(|e| failed(exchange_transport_error(&e)))?;
        let status = response.status().as_u16();
        tracing::debug!(target: "atlassian_connect_jwt::client", status, attempt, "the authorization server answered");
        if status == 200 {
            let body = read_limited(response, MAX_TOKEN_RESPONSE_LEN)
                .await
                .map_err(failed)?;
            return token_from(&body).map_err(failed);
        }
        match shared.retry.step(status, response.headers(), attempt, true) {
            Step::Wait(wait) => {
                drop(response);
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            Step::GiveUp(retry_after) => {
                return Err(failed(TokenExchangeError::RateLimited {
                    attempts: attempt,
                    retry_after,
                }))
            }
            Step::Fail => {
                let body = read_prefix(response, MAX_ERROR_RESPONSE_LEN).await;
                return Err(failed(TokenExchangeError::Status {
                    status,
                    oauth_error: oauth_error(&body),
                }));
            }
        }
    }
}

/// The token of a `200` answer's body.
fn token_from(body: &[u8]) -> Result<Exchanged, TokenExchangeError> {
    let response: TokenResponse =
        serde_json::from_slice(body).map_err(|_| TokenExchangeError::InvalidResponse)?;
    let usable = !response.access_token.is_empty()
        && response.access_token.len() <= MAX_ACCESS_TOKEN_LEN
        // It goes into a header: visible ASCII only.
        && response.access_token.bytes().all(|b| b.is_ascii_graphic())
        && response.token_type.eq_ignore_ascii_case("bearer");
    if !usable {
        return Err(TokenExchangeError::InvalidResponse);
    }
    Ok(Exchanged {
        token: AccessToken::new(response.access_token),
        expires_in: Duration::from_secs(response.expires_in),
    })
}

/// The RFC 6749 `error` code of an error body, if it is one (`[a-z_]`, 1 to 64 bytes).
fn oauth_error(body: &[u8]) -> Option<String> {
    let error = serde_json::from_slice::<ErrorResponse>(body).ok()?.error?;
    let is_code = !error.is_empty()
        && error.len() <= 64
        && error.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    is_code.then_some(error)
}

/// The whole body, if it is at most `max` bytes.
async fn read_limited(
    mut response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, TokenExchangeError> {
    if response
        .content_length()
        .is_some_and(|len| len > max as u64)
    {
        return Err(TokenExchangeError::InvalidResponse);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| exchange_transport_error(&e))?
    {
        if body.len() + chunk.len() > max {
            return Err(TokenExchangeError::InvalidResponse);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn exchange_transport_error(error: &reqwest::Error) -> TokenExchangeError {
    match transport_error(error) {
        ClientError::Timeout => TokenExchangeError::Timeout,
        ClientError::Connect => TokenExchangeError::Connect,
        _ => TokenExchangeError::Transport,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn token_responses() {
        let ok = token_from(
            br#"{"access_token":"abc.def","expires_in":900,"token_type":"Bearer","scope":"READ"}"#,
        )
        .unwrap();
        assert_eq!(ok.token.expose(), "abc.def");
        assert_eq!(ok.expires_in, Duration::from_secs(900));
        assert!(
            token_from(br#"{"access_token":"a","expires_in":1,"token_type":"bearer"}"#).is_ok()
        );
        for bad in [
            &br#"{"access_token":"a","expires_in":900,"token_type":"MAC"}"#[..],
            br#"{"access_token":"","expires_in":900,"token_type":"Bearer"}"#,
            br#"{"access_token":"a b","expires_in":900,"token_type":"Bearer"}"#,
            br#"{"access_token":"a\r\nX: y","expires_in":900,"token_type":"Bearer"}"#,
            br#"{"access_token":"a","token_type":"Bearer"}"#,
            br#"{"access_token":"a","expires_in":-1,"token_type":"Bearer"}"#,
            br#"{"expires_in":900,"token_type":"Bearer"}"#,
            b"<html>",
            b"",
        ] {
            assert_eq!(
                token_from(bad).unwrap_err(),
                TokenExchangeError::InvalidResponse,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let long = format!(
            r#"{{"access_token":"{}","expires_in":900,"token_type":"Bearer"}}"#,
            "a".repeat(MAX_ACCESS_TOKEN_LEN + 1)
        );
        assert_eq!(
            token_from(long.as_bytes()).unwrap_err(),
            TokenExchangeError::InvalidResponse
        );
    }

    #[test]
    fn only_rfc_6749_error_codes_are_kept() {
        assert_eq!(
            oauth_error(br#"{"error":"invalid_grant","error_description":"the assertion eyJ..."}"#),
            Some("invalid_grant".to_owned())
        );
        assert_eq!(oauth_error(br#"{"error":"Bad assertion eyJhbGc"}"#), None);
        assert_eq!(oauth_error(br#"{"error":""}"#), None);
        assert_eq!(oauth_error(br#"{"message":"x"}"#), None);
        assert_eq!(oauth_error(b"not json"), None);
        let long = format!(r#"{{"error":"{}"}}"#, "a".repeat(65));
        assert_eq!(oauth_error(long.as_bytes()), None);
    }
}
