//! Forge remote: the Forge Invocation Tokens (FIT) that Forge sends a remote backend as
//! `Authorization: Bearer <FIT>`, verified against Forge's key set (RS256, keys by `kid`,
//! cached), and linked to the Connect tenant of the same installation.
//!
//! ```
//! use atlassian_connect_jwt::{invocation_token_from_authorization, Error, ForgeVerifier, JwkSet, UnixTime};
//!
//! let verifier = ForgeVerifier::new("ari:cloud:ecosystem::app/8db33809-1f32-48bb-8c52-5877dab48107")?;
//! // In production: a JwksCache over HttpJwksSource::new()?, and verify_async.
//! let keys = JwkSet::from_json(r#"{"keys":[]}"#)?;
//! let header = "Bearer eyJhbGciOiJub25lIn0.e30.c2ln"; // {"alg":"none"}
//! let token = invocation_token_from_authorization(header)?;
//! let refused = verifier.verify(token, &keys, UnixTime::now()).unwrap_err();
//! assert_eq!(refused, Error::UnsupportedAlgorithm { expected: "RS256" });
//! # Ok::<(), Error>(())
//! ```

mod cache;
mod claims;
#[cfg(feature = "forge-http")]
mod http;
mod json;
mod jwks;
mod kid;
mod oauth;
mod source;
mod verify;

pub use cache::JwksCache;
pub use claims::{
    ForgeApp, ForgeClaims, ForgeContext, ForgeEnvironment, ForgeInstallation,
    ForgeInstallationContext, ForgeLicense, ForgeModule,
};
#[cfg(feature = "forge-http")]
pub use http::{HttpJwksSource, ATLASSIAN_FORGE_JWKS_URL, IC_LABEL_PLACEHOLDER};
pub use jwks::{JwkSet, MAX_JWKS_KEYS, MAX_JWKS_LEN};
pub use kid::{validate_forge_kid, ForgeKeyId, IcLabel};
pub use oauth::{
    ForgeOAuthKind, ForgeOAuthToken, FORGE_OAUTH_SYSTEM_HEADER, FORGE_OAUTH_USER_HEADER,
};
pub use source::{ForgeKeySource, JwksSource};
pub use verify::{
    invocation_token_from_authorization, ForgeVerifier, InvocationToken, VerifiedInvocation,
    FIT_MAX_LIFETIME, FORGE_ISSUER,
};
