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
//! No I/O, no clock reads inside checks, no `unsafe`, no panics on any input.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod backend;
mod canonical;
mod claims;
pub mod dangerous;
mod error;
mod extract;
mod jws;
mod qsh;
mod query;
mod secret;
mod sign;
mod time;
mod verify;

pub use canonical::{BasePath, CanonicalRequest, MAX_PATH_LEN};
pub use claims::Claims;
pub use error::{Claim, Error, QshMismatch, TokenPart};
pub use extract::{find_token, token_from_authorization, token_from_query};
pub use jws::MAX_TOKEN_LEN;
pub use qsh::{ParseQshError, Qsh, CONTEXT_QSH};
pub use query::{MAX_PARAMS, MAX_QUERY_LEN};
pub use secret::{SharedSecret, TenantKey};
pub use sign::{user_assertion, SignedToken, Signer, DEFAULT_LIFETIME, OAUTH_AUDIENCE};
pub use time::UnixTime;
pub use verify::{
    AsyncSecretStore, QshPolicy, SecretStore, TokenKind, Unverified, Verified, Verifier,
    DEFAULT_LEEWAY, MAX_LEEWAY,
};

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
