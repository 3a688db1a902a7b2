//! The HTTP policy of every key fetcher (signed-install keys, Forge key sets): HTTPS only
//! (plain HTTP to a loopback address for tests), no redirects followed, no proxy for
//! loopback, a time limit per fetch and a size limit per body, and errors that never carry a
//! URL or a response body.

use std::time::Duration;

use reqwest::header::CACHE_CONTROL;
use reqwest::{redirect, Client, StatusCode, Url};

use crate::error::{ConfigError, Error, Unavailable};

/// Default limit on one whole fetch (connecting, TLS, request, response).
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Limit on connecting (TCP and TLS) to a key server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What a `GET` brought back.
pub(crate) enum Fetched {
    /// `200`, with its body (within the size limit) and its `Cache-Control: max-age`.
    Body {
        bytes: Vec<u8>,
        #[cfg_attr(not(feature = "forge-http"), allow(dead_code))]
        max_age: Option<Duration>,
    },
    /// `404`: the server does not know the resource.
    NotFound,
}

/// Parses and checks a key server URL: `https://`, or `http://` to `localhost`,
/// `127.0.0.1` or `[::1]`; no query, fragment or credentials; a URL that can have a path.
pub(crate) fn key_server_url(url: &str) -> Result<Url, Error> {
    let url = Url::parse(url).map_err(|_| Error::Config(ConfigError::InvalidBaseUrl))?;
    let scheme_allowed = url.scheme() == "https" || (url.scheme() == "http" && is_loopback(&url));
    let plain = url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none()
        && !url.cannot_be_a_base();
    if scheme_allowed && plain {
        Ok(url)
    } else {
        Err(Error::Config(ConfigError::InvalidBaseUrl))
    }
}

/// Whether `url` names this machine's loopback interface.
pub(crate) fn is_loopback(url: &Url) -> bool {
    matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
}

/// The HTTP client for a server at `url` (checked by [`key_server_url`]): no redirects,
/// a connect timeout, HTTPS only unless `url` is plain HTTP to loopback, and no proxy for
/// loopback (a proxy from the environment cannot reach this machine's loopback).
pub(crate) fn client_for(url: &Url) -> Result<Client, Error> {
    let mut builder = Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(redirect::Policy::none())
        .https_only(url.scheme() == "https");
    if is_loopback(url) {
        builder = builder.no_proxy();
    }
    builder.build().map_err(|_| {
        Error::Unavailable(Unavailable::Key {
            reason: "the http client could not be built",
        })
    })
}

/// `GET url` within `timeout`, reading at most `max_len` bytes of body.
///
/// `200` gives the body, `404` [`Fetched::NotFound`]; a redirect, any other status, a
/// timeout, a connection failure and a body over `max_len` are each an
/// [`Unavailable::Key`] with its own reason.
pub(crate) async fn get(
    client: &Client,
    url: Url,
    timeout: Duration,
    max_len: usize,
) -> Result<Fetched, Error> {
    let mut response = client
        .get(url)
        .timeout(timeout)
        .send()
        .await
        .map_err(|error| unavailable(&error))?;
    match response.status() {
        StatusCode::OK => {}
        StatusCode::NOT_FOUND => return Ok(Fetched::NotFound),
        status if status.is_redirection() => {
            return Err(Error::Unavailable(Unavailable::Key {
                reason: "the key server answered with a redirect",
            }))
        }
        _ => {
            return Err(Error::Unavailable(Unavailable::Key {
                reason: "the key server answered with an error status",
            }))
        }
    }
    if response
        .content_length()
        .is_some_and(|len| len > max_len as u64)
    {
        return Err(too_large());
    }
    let max_age = response
        .headers()
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(max_age);
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| unavailable(&e))? {
        if bytes.len() + chunk.len() > max_len {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Fetched::Body { bytes, max_age })
}

/// How long a `Cache-Control` value lets a response be kept: its `max-age`, or zero for
/// `no-cache` and `no-store`; `None` when it says neither (or says it unreadably).
fn max_age(cache_control: &str) -> Option<Duration> {
    cache_control.split(',').find_map(|directive| {
        let directive = directive.trim();
        if directive.eq_ignore_ascii_case("no-cache") || directive.eq_ignore_ascii_case("no-store")
        {
            return Some(Duration::ZERO);
        }
        let (name, value) = directive.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("max-age") {
            return None;
        }
        let value = value.trim().trim_matches('"');
        // At most 10 digits: longer values are absurd, and all of these fit in a u64.
        (!value.is_empty() && value.len() <= 10 && value.bytes().all(|b| b.is_ascii_digit()))
            .then(|| value.parse().ok().map(Duration::from_secs))
            .flatten()
    })
}

fn unavailable(error: &reqwest::Error) -> Error {
    let reason = if error.is_timeout() {
        "the key server did not answer in time"
    } else if error.is_connect() {
        "the key server could not be reached"
    } else {
        "the key server's answer could not be read"
    };
    Error::Unavailable(Unavailable::Key { reason })
}

fn too_large() -> Error {
    Error::Unavailable(Unavailable::Key {
        reason: "the key server's answer is too large",
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_max_age() {
        let secs = |s| Some(Duration::from_secs(s));
        assert_eq!(max_age("max-age=3600"), secs(3600));
        assert_eq!(max_age("public, MAX-AGE = 60 , immutable"), secs(60));
        assert_eq!(max_age("max-age=\"120\""), secs(120));
        assert_eq!(max_age("no-cache"), secs(0));
        assert_eq!(max_age("private, no-store"), secs(0));
        assert_eq!(max_age("public"), None);
        assert_eq!(max_age("max-age=-1"), None);
        assert_eq!(max_age("max-age=1e3"), None);
        assert_eq!(max_age("max-age="), None);
        assert_eq!(max_age("max-age=99999999999"), None);
        assert_eq!(max_age("s-maxage=5"), None);
    }

    #[test]
    fn key_server_urls() {
        for ok in [
            "https://keys.example",
            "https://keys.example/a/b",
            "http://127.0.0.1:8080",
            "http://localhost/x",
            "http://[::1]:1/",
        ] {
            assert!(key_server_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://keys.example",
            "ftp://keys.example",
            "https://keys.example/?a=1",
            "https://keys.example/#f",
            "https://user@keys.example/",
            "https://u:p@keys.example/",
            "mailto:x@example.com",
            "not a url",
            "",
        ] {
            assert_eq!(
                key_server_url(bad).unwrap_err(),
                Error::Config(ConfigError::InvalidBaseUrl),
                "{bad}"
            );
        }
    }
}
