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
//!   ([`InstallToken`], [`InstallKey`], [`LifecyclePayload`]); RSA from `ring`. With it,
//!   [`Lifecycle`] handles the two callbacks in one call, writing a [`TenantStore`]
//!   ([`MemoryTenantStore`], or one chosen by URL with [`open_tenant_store`]).
//! - `sqlite`: `SqliteTenantStore`, tenants in an SQLite file (SQLite compiled in).
//! - `postgres`: `PostgresTenantStore`, tenants in PostgreSQL, shared by several instances.
//! - `http`: [`http::canonical_request`] and [`http::authorization`] (and the
//!   [`http::RequestExt`] methods) build the canonical request and find the token straight
//!   from an `http` 1.x `Request` or `Parts`, the URI hashed as received.
//! - `axum`: axum 0.8 extractors whose type is the route's policy
//!   ([`axum::ConnectRequest`], [`axum::ConnectContext`], [`axum::ConnectRequestOrContext`]),
//!   the tenant store and verifier from app state ([`axum::ConnectAuth`]), rejections that
//!   answer 401/503/500 ([`axum::ConnectRejection`]), and the same as a tower layer
//!   ([`axum::ConnectLayer`]). Implies `http` and `signed-install`.
//! - `client`: [`ConnectClient`], which calls the product with every request signed, as the
//!   app (Connect JWT, `qsh` of exactly the request sent) or as a user (OAuth 2.0 JWT bearer
//!   grant, access tokens cached), retrying rate-limited requests; on `reqwest` and `rustls`.
//! - `forge`: [`ForgeVerifier`] for the Forge Invocation Tokens Forge sends a remote
//!   backend, with Forge's key set ([`JwkSet`], [`JwksCache`]), typed claims
//!   ([`ForgeClaims`]), the forwarded OAuth tokens ([`ForgeOAuthToken`]) and the link to the
//!   Connect tenant of the same installation ([`VerifiedInvocation::linked_tenant`]).
//! - `forge-http`: `HttpJwksSource`, fetching Forge's key set over HTTPS.
//! - `session`: short-lived app session tokens for an app's own front end, revocable at once
//!   ([`session`]); `session-redis`: their revocations shared by every instance through Redis.
//!
//! # Security
//!
//! HS256 only for tenant tokens (RS256 only for signed-install lifecycle tokens), the algorithm
//! never taken from the token; the key chosen by `iss` alone; `exp`
//! and `iat` required; constant-time MAC and qsh comparisons; secrets redacted and zeroized;
//! no I/O, no clock reads inside checks, no `unsafe`, no panics on any input (fuzzed). See
//! `SECURITY.md` for the full list and the limits.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "axum")]
pub mod axum;
mod backend;
mod base64url;
mod canonical;
mod claims;
#[cfg(feature = "client")]
mod client;
pub mod dangerous;
mod diagnosis;
mod error;
mod extract;
#[cfg(feature = "signed-install-http")]
mod fetch;
mod find;
#[cfg(feature = "signed-install")]
mod flight;
#[cfg(feature = "forge")]
mod forge;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "signed-install")]
mod install;
mod jws;
#[cfg(feature = "signed-install")]
mod lifecycle;
mod qsh;
mod query;
mod secret;
#[cfg(feature = "session")]
pub mod session;
#[path = "session/marker.rs"]
mod session_marker;
mod sign;
#[cfg(feature = "signed-install")]
mod tenant;
mod time;
mod verify;

pub use canonical::{BasePath, CanonicalRequest, MAX_PATH_LEN};
pub use claims::Claims;
#[cfg(feature = "client")]
pub use client::{
    Caller, ClientError, ConnectClient, ConnectClientBuilder, ProductRequest, Response,
    StatusError, TenantClient, TenantParts, TokenExchangeError, ATLASSIAN_AUTHORIZATION_SERVER,
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_RESPONSE_LEN, DEFAULT_MAX_RETRIES, DEFAULT_MAX_RETRY_WAIT,
    DEFAULT_TIMEOUT, DEFAULT_TOKEN_CACHE_CAPACITY, DEFAULT_TOKEN_REFRESH_MARGIN, MAX_BODY_EXCERPT,
};
pub use diagnosis::{diagnose, Cause, Diagnosis, MAX_DIAGNOSIS_BYTES, MAX_DIAGNOSIS_CANDIDATES};
pub use error::{Claim, ConfigError, Error, PayloadDefect, QshMismatch, TokenPart, Unavailable};
pub use extract::{find_token, token_from_authorization, token_from_query};
#[cfg(feature = "forge")]
pub use forge::{
    invocation_token_from_authorization, validate_forge_kid, ForgeApp, ForgeClaims, ForgeContext,
    ForgeEnvironment, ForgeInstallation, ForgeInstallationContext, ForgeKeyId, ForgeKeySource,
    ForgeLicense, ForgeModule, ForgeOAuthKind, ForgeOAuthToken, ForgeVerifier, IcLabel,
    InvocationToken, JwkSet, JwksCache, JwksSource, VerifiedInvocation, FIT_MAX_LIFETIME,
    FORGE_ISSUER, FORGE_OAUTH_SYSTEM_HEADER, FORGE_OAUTH_USER_HEADER, MAX_JWKS_KEYS, MAX_JWKS_LEN,
};
#[cfg(feature = "forge-http")]
pub use forge::{HttpJwksSource, ATLASSIAN_FORGE_JWKS_URL, IC_LABEL_PLACEHOLDER};
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
#[cfg(feature = "signed-install")]
pub use lifecycle::{Lifecycle, LifecycleCallback, LifecycleOutcome};
pub use qsh::{ParseQshError, Qsh, CONTEXT_QSH};
pub use query::{MAX_PARAMS, MAX_QUERY_LEN};
pub use secret::{SharedSecret, TenantKey};
pub use sign::{SignedToken, Signer, UserAssertion, DEFAULT_LIFETIME, OAUTH_AUDIENCE};
#[cfg(feature = "postgres")]
pub use tenant::PostgresTenantStore;
#[cfg(feature = "sqlite")]
pub use tenant::SqliteTenantStore;
#[cfg(feature = "signed-install")]
pub use tenant::{
    open_tenant_store, InstalledTenant, MemoryTenantStore, StoreError, StoreErrorKind, StoreFuture,
    StoredTenant, Tenant, TenantStore, UninstalledTenant,
};
pub use time::UnixTime;
pub use verify::{
    AsyncSecretStore, QshPolicy, SecretStore, TokenKind, Unverified, Verified, Verifier,
    DEFAULT_LEEWAY, MAX_LEEWAY,
};

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
