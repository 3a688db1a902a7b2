//! Verify and sign Atlassian Connect JWTs, starting from the exact canonical request and
//! query string hash (`qsh`) that the Atlassian product computes.
//!
//! Jira and Confluence call a Connect app with an HS256 JWT whose `qsh` claim is the SHA-256
//! of a *canonical request*: `METHOD&path&query`, built by an exact algorithm. This crate
//! reproduces that algorithm byte for byte (checked against every URL the product signed in
//! Atlassian's interoperability vectors) and refuses, with a typed [`Error`], any request the
//! product could never have signed.
//!
//! ```
//! use atlassian_connect_jwt::{BasePath, CanonicalRequest};
//!
//! // The app's descriptor baseUrl is https://app.example.com/connect.
//! let base = BasePath::parse("https://app.example.com/connect")?;
//! let req = CanonicalRequest::from_target("GET", "/connect/issue-panel?b=2&a=hello+world&jwt=x", Some(&base))?;
//! assert_eq!(req.to_string(), "GET&/issue-panel&a=hello%20world&b=2");
//! let qsh = req.qsh(); // compare with the token's `qsh` claim
//! assert!(qsh.matches_hex(&qsh.to_string()));
//! # Ok::<(), atlassian_connect_jwt::Error>(())
//! ```
//!
//! # Verifying a request
//!
//! A [`Verifier`] checks a token against the tenant secret found by its `iss`
//! ([`SecretStore`]), under the [`QshPolicy`] the route chose, at a time the caller passes in,
//! and returns a [`Verified`] proof or the [`Error`] of the first failed check:
//!
//! ```
//! use atlassian_connect_jwt::{CanonicalRequest, Error, QshPolicy, SharedSecret, UnixTime, Verifier};
//!
//! let target = "/path/to/service?a=1&A=2&b=3&B=4";
//! let header = "JWT eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ0ZXN0LWNsaWVudC1rZXkiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMDE4MCwicXNoIjoiY29udGV4dC1xc2gifQ.Y_-fycsTC1VmKefYSFe0PL3HLJ3yBoGVJPW68NX1nfo";
//! let tenants = |iss: &str| (iss == "test-client-key").then(|| SharedSecret::new("connect-test-secret-0123456789abcdef0123"));
//!
//! let request = CanonicalRequest::from_target("GET", target, None)?;
//! let token = request.token(Some(header))?; // or the `jwt` query parameter's
//! let now = UnixTime::from_secs(1_700_000_060); // UnixTime::now() in production
//! // This is a context token (`AP.context.getToken()`): a request-bound route refuses it.
//! let refused = Verifier::new().verify(token, QshPolicy::Request(&request), &tenants, now);
//! assert_eq!(refused.unwrap_err(), Error::ContextTokenNotAllowed);
//! // A route that opted in to context tokens accepts it.
//! let verified = Verifier::new().verify(token, QshPolicy::Context, &tenants, now)?;
//! assert_eq!(verified.client_key(), "test-client-key");
//! # Ok::<(), Error>(())
//! ```
//!
//! [`Signer`] signs the tokens an app sends (outbound calls, context tokens) and
//! [`UserAssertion`] the OAuth 2.0 bearer assertion for acting as a user.
//!
//! # Crate features
//!
//! - `ring`: SHA-256 and HMAC from `ring` instead of RustCrypto's `sha2`/`hmac` (same results).
//! - `signed-install`: [`InstallVerifier`] for the RS256 tokens of the `installed` and
//!   `uninstalled` lifecycle callbacks, given the public key of the token's `kid`
//!   ([`InstallToken`], [`InstallKey`], [`LifecyclePayload`]); RSA from `ring`.
//!
//! # Security
//!
//! HS256 only for tenant tokens (RS256 only for signed-install lifecycle tokens), the algorithm
//! never taken from the token; the key chosen by `iss` alone; `exp`
//! and `iat` required; constant-time MAC and qsh comparisons; secrets redacted and zeroized;
//! no I/O, no clock reads inside checks, no `unsafe`, no panics on any input (fuzzed). See
//! `SECURITY.md` for the full list and the limits.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod backend;
mod canonical;
mod claims;
pub mod dangerous;
mod error;
mod extract;
mod find;
#[cfg(feature = "signed-install")]
mod install;
mod jws;
mod qsh;
mod query;
mod secret;
mod sign;
mod time;
mod verify;

pub use canonical::{BasePath, CanonicalRequest, MAX_PATH_LEN};
pub use claims::Claims;
pub use error::{Claim, ConfigError, Error, PayloadDefect, QshMismatch, TokenPart, Unavailable};
pub use extract::{find_token, token_from_authorization, token_from_query};
#[cfg(feature = "signed-install")]
pub use install::{
    validate_kid, InstallKey, InstallKeySource, InstallToken, InstallVerifier, KeyCache, KeyId,
    LifecyclePaths, LifecyclePayload, VerifiedInstall, MAX_LIFECYCLE_BODY, MAX_RSA_BITS,
    MIN_RSA_BITS,
};
#[cfg(feature = "signed-install-http")]
pub use install::{HttpKeySource, ATLASSIAN_INSTALL_KEYS_URL, MAX_KEY_RESPONSE_LEN};
pub use jws::{
    MAX_JSON_ARRAY_LEN, MAX_JSON_DEPTH, MAX_JSON_ESCAPES, MAX_JSON_MEMBERS, MAX_TOKEN_LEN,
};
pub use qsh::{ParseQshError, Qsh, CONTEXT_QSH};
pub use query::{MAX_PARAMS, MAX_QUERY_LEN};
pub use secret::{SharedSecret, TenantKey};
pub use sign::{SignedToken, Signer, UserAssertion, DEFAULT_LIFETIME, OAUTH_AUDIENCE};
pub use time::UnixTime;
pub use verify::{
    AsyncSecretStore, QshPolicy, SecretStore, TokenKind, Unverified, Verified, Verifier,
    DEFAULT_LEEWAY, MAX_LEEWAY,
};

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
