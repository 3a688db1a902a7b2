//! The crate's one error type: a variant per failed check, each with a stable code.

use core::fmt;

use crate::qsh::Qsh;

/// Everything that can go wrong when canonicalizing a request or checking a token.
///
/// Each variant names exactly one failed check. [`Error::code`] gives a stable kebab-case
/// identifier for logs, metrics and the CLI's JSON Lines output; `Display` is a short lowercase
/// phrase. Neither ever contains a secret or a whole token.
///
/// ```
/// use atlassian_connect_jwt::{CanonicalRequest, Error};
///
/// let err = CanonicalRequest::from_target("GET", "/p?a=%zz", None).unwrap_err();
/// assert!(matches!(err, Error::InvalidPercentEncoding { .. }));
/// assert_eq!(err.code(), "invalid-percent-encoding");
/// assert_eq!(err.to_string(), "invalid percent-encoding in the query at byte 2");
/// ```
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ----- the request -----
    /// The HTTP method is empty, too long, or not an RFC 9110 token.
    #[error("invalid http method")]
    InvalidMethod,
    /// The path is longer than [`MAX_PATH_LEN`](crate::MAX_PATH_LEN).
    #[error("path too long: {len} bytes, at most {max}")]
    PathTooLong {
        /// Length of the path presented.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The query is longer than [`MAX_QUERY_LEN`](crate::MAX_QUERY_LEN).
    #[error("query too long: {len} bytes, at most {max}")]
    QueryTooLong {
        /// Length of the query presented.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The query has more than [`MAX_PARAMS`](crate::MAX_PARAMS) parameters.
    #[error("too many query parameters: at most {max}")]
    TooManyParameters {
        /// The limit.
        max: usize,
    },
    /// A `%` in the query is not followed by two hex digits (`%zz`, `%`, `%4`).
    #[error("invalid percent-encoding in the query at byte {offset}")]
    InvalidPercentEncoding {
        /// Byte offset of the `%` within the query.
        offset: usize,
    },
    /// A query parameter decodes to bytes that are not UTF-8 (`%E2%82`, `%FF`).
    #[error("query parameter at byte {offset} does not decode to utf-8")]
    InvalidUtf8 {
        /// Byte offset within the query of the key or value that does not decode.
        offset: usize,
    },

    // ----- the token's form -----
    /// The token is longer than [`MAX_TOKEN_LEN`](crate::MAX_TOKEN_LEN); checked before decoding.
    #[error("token too large: {len} bytes, at most {max}")]
    TokenTooLarge {
        /// Length of the token presented.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not three non-empty base64url segments separated by dots, or a character outside
    /// `A-Z a-z 0-9 - _ .` (padding, whitespace, a leftover `JWT ` prefix).
    #[error("malformed token: expected three base64url segments")]
    MalformedToken,
    /// A segment is not canonical unpadded base64url.
    #[error("the token's {0} is not canonical base64url")]
    InvalidBase64(TokenPart),
    /// The header or payload is not one UTF-8 JSON object.
    #[error("the token's {0} is not a json object")]
    InvalidJson(TokenPart),
    /// A member name appears twice in the header or payload.
    #[error("the token's {0} repeats a member name")]
    DuplicateMember(TokenPart),
    /// The header or payload has more than [`MAX_JSON_MEMBERS`](crate::MAX_JSON_MEMBERS)
    /// members, counted over all its objects. Like the other three limits below, checked on
    /// the text before any of it is parsed, and reported before any other error of that
    /// header or payload but a lone surrogate or malformed `\u` escape earlier in the text.
    #[error("the token's {0} has too many members")]
    TooManyMembers(TokenPart),
    /// The header or payload nests arrays and objects deeper than
    /// [`MAX_JSON_DEPTH`](crate::MAX_JSON_DEPTH).
    #[error("the token's {0} nests too deeply")]
    NestingTooDeep(TokenPart),
    /// The arrays of the header or payload have more than
    /// [`MAX_JSON_ARRAY_LEN`](crate::MAX_JSON_ARRAY_LEN) elements in all.
    #[error("the token's {0} has too many array elements")]
    ArrayTooLong(TokenPart),
    /// The header or payload has more than [`MAX_JSON_ESCAPES`](crate::MAX_JSON_ESCAPES)
    /// backslash escapes in its strings.
    #[error("the token's {0} has too many escapes")]
    TooManyEscapes(TokenPart),
    /// The header has no `alg`, or its `alg` is not a string.
    #[error("the token's header has no algorithm")]
    MissingAlgorithm,
    /// The header's `alg` is a string other than the one algorithm this check allows.
    #[error("unsupported algorithm: only {expected} is accepted here")]
    UnsupportedAlgorithm {
        /// The algorithm the policy requires.
        expected: &'static str,
    },
    /// The header's `typ` is present and not `JWT`.
    #[error("unsupported token type")]
    UnsupportedTokenType,
    /// The header has a `crit` member: no extension is understood, so none may be critical.
    #[error("the token's header lists critical extensions")]
    CriticalHeader,
    /// The signature does not match (wrong key, altered token, wrong length).
    #[error("invalid signature")]
    InvalidSignature,

    // ----- the issuer -----
    /// No shared secret is known for the token's `iss` (clientKey).
    #[error("unknown issuer")]
    UnknownIssuer,

    // ----- claims -----
    /// A required claim is absent.
    #[error("missing claim: {0}")]
    MissingClaim(Claim),
    /// A claim has the wrong JSON type or is out of range (`"exp":"1"`, `-1`, `1e300`).
    #[error("invalid claim: {0}")]
    InvalidClaim(Claim),
    /// `exp` has passed (beyond the leeway).
    #[error("token expired at {exp}, now is {now}")]
    Expired {
        /// The token's `exp`.
        exp: u64,
        /// The time of the check.
        now: u64,
    },
    /// `nbf` is still ahead (beyond the leeway).
    #[error("token not valid before {nbf}, now is {now}")]
    NotYetValid {
        /// The token's `nbf`.
        nbf: u64,
        /// The time of the check.
        now: u64,
    },
    /// `iat` is in the future (beyond the leeway).
    #[error("token issued in the future at {iat}, now is {now}")]
    IssuedInFuture {
        /// The token's `iat`.
        iat: u64,
        /// The time of the check.
        now: u64,
    },
    /// `exp` is not after `iat` and `nbf`: the token is valid at no time.
    #[error("token has an empty validity window")]
    EmptyValidity,
    /// `exp - iat` exceeds the verifier's maximum token lifetime.
    #[error("token lifetime of {lifetime} s exceeds the maximum of {max} s")]
    LifetimeTooLong {
        /// `exp - iat`.
        lifetime: u64,
        /// The configured maximum.
        max: u64,
    },
    /// The token's `qsh` is not the hash of the request that was received.
    #[error("{0}")]
    QshMismatch(Box<QshMismatch>),
    /// A context token (`qsh` = `context-qsh`) was presented where only request-bound tokens
    /// are accepted: the CVE-2021-26073 case.
    #[error("context token not accepted on a request-bound route")]
    ContextTokenNotAllowed,
    /// A request-bound token was presented where only context tokens are accepted.
    #[error("a context token (qsh \"context-qsh\") is required on this route")]
    ContextTokenRequired,

    // ----- signed install (lifecycle callbacks) -----
    /// The token's header has no `kid`, or an empty one: a signed-install token names the key
    /// that signed it.
    #[error("the token's header has no key id")]
    MissingKeyId,
    /// The token's `kid` is not a string, or not allowed by the rule of its token kind
    /// (signed install: `[A-Za-z0-9._-]{1,64}` without `..`; Forge: see
    /// [`validate_forge_kid`](crate::validate_forge_kid)): it is refused before it is used to
    /// find a key.
    #[error("the token's key id is not an allowed key id")]
    InvalidKeyId,
    /// The key source has no public key with the token's `kid` (the key server answered 404,
    /// say): the token was not signed by a key the source knows.
    #[error("no public key is known for the token's key id")]
    UnknownKeyId,
    /// The public key is not an RSA public key in PEM (SPKI) form that can verify RS256.
    #[error("invalid public key: {reason}")]
    InvalidPublicKey {
        /// What is wrong with it, in a few words.
        reason: &'static str,
    },
    /// The RSA public key is shorter than the minimum.
    #[error("rsa public key of {bits} bits is too short: at least {min} are required")]
    WeakPublicKey {
        /// The modulus length in bits.
        bits: usize,
        /// The minimum.
        min: usize,
    },
    /// An HS256 token on a lifecycle route: signed-install callbacks are RS256 only, and a
    /// shared-secret token there may be signed with the secret the same body announces.
    #[error("an hs256 token on a lifecycle route: only rs256 is accepted here")]
    SymmetricTokenOnLifecycleRoute,
    /// The token's `iss` is not the `clientKey` of the lifecycle body it came with.
    #[error("the token's issuer is not the clientKey of the lifecycle body")]
    IssuerMismatch,
    /// The token's `aud` is absent or names none of the app's base URLs.
    #[error("the token's audience is not the app's base url")]
    AudienceMismatch,
    /// The token was signed for the other lifecycle callback (an `uninstalled` token presented
    /// at `installed`, say), or the body's `eventType` is not the callback's.
    #[error("the token or body is for another lifecycle event")]
    WrongLifecycleEvent,
    /// The lifecycle callback body is not the JSON object the product sends.
    #[error("invalid lifecycle payload: {0}")]
    InvalidLifecyclePayload(PayloadDefect),
    /// The lifecycle body's `key` is not this app's key (see `Lifecycle::with_app_key`): the
    /// callback is for another app that shares the base URL, or the body was altered.
    #[error("the lifecycle body is for another app")]
    AppKeyMismatch,

    // ----- Forge remote -----
    /// The token's `iss` is not `forge/invocation-token`: not a Forge Invocation Token.
    #[error("the token's issuer is not forge/invocation-token")]
    ForgeIssuerMismatch,
    /// The Forge Invocation Token's `aud` is not the app id the verifier was configured with:
    /// a token Forge minted for another app.
    #[error("the token's audience is not this forge app's id")]
    AppIdMismatch,
    /// A forwarded Forge OAuth token header (`x-forge-oauth-system`, `x-forge-oauth-user`)
    /// is empty, too long, or has characters no bearer token has.
    #[error("the forwarded forge oauth token is malformed")]
    InvalidOAuthToken,

    // ----- finding the token -----
    /// The request carries no token (no `Authorization: JWT` header, no `jwt` parameter).
    #[error("no token in the request")]
    MissingToken,
    /// The request carries two different tokens (header and query, or two `jwt` parameters).
    #[error("the request carries conflicting tokens")]
    ConflictingTokens,
    /// The `Authorization` header is not `JWT <token>`.
    #[error("the authorization header is not of the form `JWT <token>`")]
    InvalidAuthorizationHeader,
    /// The `Authorization` header of a route that takes a bearer token (an app session
    /// route, a Forge remote route) is not `Bearer <token>`, or there are two of them.
    #[error("the authorization header is not of the form `Bearer <token>`")]
    InvalidBearerHeader,

    // ----- app session tokens -----
    /// A token that is not an app session token (a product token, say) was presented where
    /// only session tokens are accepted: its header `typ` is not `app-session+jwt`, its
    /// `token_use` is not `app-session`, or it carries a `qsh`.
    #[error("not an app session token")]
    NotASessionToken,
    /// An app session token was presented where only product tokens are accepted: a session
    /// token never stands in for a Connect token.
    #[error("an app session token is not accepted here")]
    SessionTokenNotAccepted,
    /// The session token's `exp` has passed (beyond the leeway): the page must mint a new
    /// one (reload).
    #[error("session expired at {exp}, now is {now}")]
    SessionExpired {
        /// The token's `exp`.
        exp: u64,
        /// The time of the check.
        now: u64,
    },
    /// The session token was revoked (itself, its user or its tenant), or, in allowlist
    /// mode, its server-side record no longer exists.
    #[error("session revoked")]
    SessionRevoked,
    /// The call touches a resource other than the one the session token was minted for (or
    /// the token was minted for none).
    #[error("the session token was minted for another resource")]
    SessionResourceMismatch,
    /// A webhook body is not the JSON object the product sends for its event.
    #[error("invalid webhook payload: {0}")]
    InvalidWebhookPayload(PayloadDefect),

    // ----- not a verdict on the request -----
    /// The app is misconfigured or misuses the API: no request can pass until it is fixed.
    /// A web server answers 500.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A store or key server that a check needs could not answer; retrying later may
    /// succeed. A web server answers 503.
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

impl Error {
    /// A stable kebab-case identifier of the failed check, for logs and machine output.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidMethod => "invalid-method",
            Self::PathTooLong { .. } => "path-too-long",
            Self::QueryTooLong { .. } => "query-too-long",
            Self::TooManyParameters { .. } => "too-many-parameters",
            Self::InvalidPercentEncoding { .. } => "invalid-percent-encoding",
            Self::InvalidUtf8 { .. } => "invalid-utf8",
            Self::TokenTooLarge { .. } => "token-too-large",
            Self::MalformedToken => "malformed-token",
            Self::InvalidBase64(_) => "invalid-base64",
            Self::InvalidJson(_) => "invalid-json",
            Self::DuplicateMember(_) => "duplicate-member",
            Self::TooManyMembers(_) => "too-many-members",
            Self::NestingTooDeep(_) => "nesting-too-deep",
            Self::ArrayTooLong(_) => "array-too-long",
            Self::TooManyEscapes(_) => "too-many-escapes",
            Self::MissingAlgorithm => "missing-algorithm",
            Self::UnsupportedAlgorithm { .. } => "unsupported-algorithm",
            Self::UnsupportedTokenType => "unsupported-token-type",
            Self::CriticalHeader => "critical-header",
            Self::InvalidSignature => "invalid-signature",
            Self::UnknownIssuer => "unknown-issuer",
            Self::MissingClaim(_) => "missing-claim",
            Self::InvalidClaim(_) => "invalid-claim",
            Self::Expired { .. } => "expired",
            Self::NotYetValid { .. } => "not-yet-valid",
            Self::IssuedInFuture { .. } => "issued-in-future",
            Self::EmptyValidity => "empty-validity",
            Self::LifetimeTooLong { .. } => "lifetime-too-long",
            Self::QshMismatch(_) => "qsh-mismatch",
            Self::ContextTokenNotAllowed => "context-token-not-allowed",
            Self::ContextTokenRequired => "context-token-required",
            Self::MissingKeyId => "missing-key-id",
            Self::InvalidKeyId => "invalid-key-id",
            Self::UnknownKeyId => "unknown-key-id",
            Self::InvalidPublicKey { .. } => "invalid-public-key",
            Self::WeakPublicKey { .. } => "weak-public-key",
            Self::SymmetricTokenOnLifecycleRoute => "symmetric-token-on-lifecycle-route",
            Self::IssuerMismatch => "issuer-mismatch",
            Self::AudienceMismatch => "audience-mismatch",
            Self::WrongLifecycleEvent => "wrong-lifecycle-event",
            Self::InvalidLifecyclePayload(_) => "invalid-lifecycle-payload",
            Self::AppKeyMismatch => "app-key-mismatch",
            Self::ForgeIssuerMismatch => "forge-issuer-mismatch",
            Self::AppIdMismatch => "app-id-mismatch",
            Self::InvalidOAuthToken => "invalid-oauth-token",
            Self::InvalidBearerHeader => "invalid-bearer-header",
            Self::MissingToken => "missing-token",
            Self::ConflictingTokens => "conflicting-tokens",
            Self::InvalidAuthorizationHeader => "invalid-authorization-header",
            Self::NotASessionToken => "not-a-session-token",
            Self::SessionTokenNotAccepted => "session-token-not-accepted",
            Self::SessionExpired { .. } => "session-expired",
            Self::SessionRevoked => "session-revoked",
            Self::SessionResourceMismatch => "session-resource-mismatch",
            Self::InvalidWebhookPayload(_) => "invalid-webhook-payload",
            Self::Config(error) => error.code(),
            Self::Unavailable(error) => error.code(),
        }
    }

    /// Whether this is a verdict on the request (its token or its form): what a web server
    /// answers with 401. `false` for [`Error::Config`] (500) and [`Error::Unavailable`] (503).
    #[must_use]
    pub fn is_verdict(&self) -> bool {
        !matches!(self, Self::Config(_) | Self::Unavailable(_))
    }
}

/// How the app is misconfigured or misuses the API (see [`Error::Config`]): a fault of the
/// app, never of the request, so a web server answers 500 and logs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A base URL is not an absolute URL or an absolute path (or has a query or fragment).
    #[error("invalid base url")]
    InvalidBaseUrl,
    /// A configured leeway exceeds [`MAX_LEEWAY`](crate::MAX_LEEWAY).
    #[error("leeway of {leeway} s exceeds the maximum of {max} s")]
    LeewayTooLarge {
        /// The leeway asked for.
        leeway: u64,
        /// The limit.
        max: u64,
    },
    /// A tenant's shared secret is empty: no token can be signed or verified with it.
    #[error("the tenant's shared secret is empty")]
    EmptySecret,
    /// The `installed` and `uninstalled` callbacks were given the same path: no token could
    /// tell one from the other, so every uninstall would be taken for an install.
    #[error("the installed and uninstalled callbacks have the same path")]
    IdenticalLifecyclePaths,
    /// A lifecycle handler was called for a request that is neither configured lifecycle
    /// callback (see [`LifecyclePaths`](crate::LifecyclePaths)): the handler is mounted at a
    /// path the verifier was not told about, or the app's base path was not stripped. Its
    /// body's `eventType` would then be the only word on which event it is, and the body is
    /// not signed.
    #[error("the request is not for a configured lifecycle callback path")]
    NotALifecyclePath,
    /// The key given to check a token belongs to another tenant than the token's `iss`: a
    /// store returned the wrong tenant's key, or a caller passed one.
    #[error("the key belongs to another tenant than the token's issuer")]
    KeyTenantMismatch,
    /// A configured Forge app id is not `ari:cloud:ecosystem::app/<id>`: no Forge Invocation
    /// Token could name it as its audience.
    #[error("the forge app id is not ari:cloud:ecosystem::app/<id>")]
    InvalidAppId,
    /// A session lifetime is zero or exceeds `session::MAX_SESSION_TTL` (feature `session`).
    #[error("session lifetime of {ttl} s is outside 1..={max} s")]
    SessionTtlOutOfRange {
        /// The lifetime asked for.
        ttl: u64,
        /// The limit.
        max: u64,
    },
    /// A user sweep interval is shorter than `session::MIN_SWEEP_INTERVAL` (feature
    /// `session`).
    #[error("the user sweep interval is too short")]
    SweepIntervalTooShort,
    /// A store's URL (the Redis revocation store's) cannot be used.
    #[error("invalid store url")]
    InvalidStoreUrl,
    /// A component that runs background tasks (the Redis revocation store) was started
    /// outside a tokio runtime.
    #[error("not within a tokio runtime")]
    NoTokioRuntime,
}

impl ConfigError {
    /// The stable code, as [`Error::code`] gives it.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidBaseUrl => "invalid-base-url",
            Self::LeewayTooLarge { .. } => "leeway-too-large",
            Self::EmptySecret => "empty-secret",
            Self::IdenticalLifecyclePaths => "identical-lifecycle-paths",
            Self::NotALifecyclePath => "not-a-lifecycle-path",
            Self::KeyTenantMismatch => "key-tenant-mismatch",
            Self::InvalidAppId => "invalid-app-id",
            Self::SessionTtlOutOfRange { .. } => "session-ttl-out-of-range",
            Self::SweepIntervalTooShort => "sweep-interval-too-short",
            Self::InvalidStoreUrl => "invalid-store-url",
            Self::NoTokioRuntime => "no-tokio-runtime",
        }
    }
}

/// What could not answer (see [`Error::Unavailable`]): retrying later may succeed, so a web
/// server answers 503.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unavailable {
    /// The secret store could not answer (a database error, say); the app logs its cause.
    #[error("the secret store is unavailable")]
    SecretStore,
    /// The key source could not produce a public key for a reason other than not knowing it:
    /// the key server timed out, was unreachable, answered with an error status or an
    /// oversized body, or too many other keys are being fetched at once.
    #[error("the public key could not be fetched: {reason}")]
    Key {
        /// What went wrong, in a few words (never a URL or a response body).
        reason: &'static str,
    },
    /// The session revocation store could not answer, or cannot vouch that its copy of the
    /// revocations is complete (its Redis channel dropped and has not been re-read yet): a
    /// session token is refused rather than checked against a copy that may miss a
    /// revocation.
    #[error("the session revocation store is unavailable")]
    RevocationStore,
    /// The user directory (the product's bulk user API) could not answer a user sweep.
    #[error("the user directory is unavailable")]
    UserDirectory,
    /// The operating system's random number generator failed, so no session id could be
    /// drawn.
    #[error("no randomness for a session id")]
    Randomness,
}

impl Unavailable {
    /// The stable code, as [`Error::code`] gives it.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::SecretStore => "secret-store-unavailable",
            Self::Key { .. } => "key-unavailable",
            Self::RevocationStore => "revocation-store-unavailable",
            Self::UserDirectory => "user-directory-unavailable",
            Self::Randomness => "randomness-unavailable",
        }
    }
}

impl fmt::Debug for Error {
    // Debug shows the code next to the message: both are free of secrets by construction.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error({}: {})", self.code(), self)
    }
}

/// Which part of a compact JWS a form error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenPart {
    /// The first segment (JOSE header).
    Header,
    /// The second segment (claims).
    Payload,
    /// The third segment (MAC or signature).
    Signature,
}

impl fmt::Display for TokenPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Header => "header",
            Self::Payload => "payload",
            Self::Signature => "signature",
        })
    }
}

/// What is wrong with a lifecycle callback body (see [`Error::InvalidLifecyclePayload`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PayloadDefect {
    /// Longer than the limit.
    TooLarge,
    /// Not one UTF-8 JSON object (or nested too deeply, or a lone surrogate escape).
    NotJson,
    /// A member name appears twice.
    DuplicateMember,
    /// A required member is absent.
    MissingField(&'static str),
    /// A member has the wrong JSON type, or a value that cannot be right (an empty
    /// `sharedSecret`).
    InvalidField(&'static str),
}

impl fmt::Display for PayloadDefect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge => f.write_str("too large"),
            Self::NotJson => f.write_str("not a json object"),
            Self::DuplicateMember => f.write_str("a member name appears twice"),
            Self::MissingField(name) => write!(f, "missing {name}"),
            Self::InvalidField(name) => write!(f, "invalid {name}"),
        }
    }
}

/// A claim the verifier reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Claim {
    /// `iss`: the tenant's clientKey (or the app key, for tokens an app sends).
    Iss,
    /// `sub`: the user's account id.
    Sub,
    /// `aud`: string or array of strings.
    Aud,
    /// `iat`: issued at.
    Iat,
    /// `exp`: expiry.
    Exp,
    /// `nbf`: not before.
    Nbf,
    /// `qsh`: query string hash or `context-qsh`.
    Qsh,
    /// `context`: an object (with `user.accountId` when present).
    Context,
    /// `app`: a Forge Invocation Token's app, installation, environment and module.
    App,
    /// `jti`: the token's id.
    Jti,
    /// `principal`: the account id of the user a Forge UI module acts for.
    Principal,
    /// `icLabel`: the Isolated Cloud a Forge Invocation Token comes from.
    IcLabel,
    /// `token_use`: what a session token is for (`app-session`).
    TokenUse,
    /// `res`: the resource a session token was minted for.
    Res,
}

impl fmt::Display for Claim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Iss => "iss",
            Self::Sub => "sub",
            Self::Aud => "aud",
            Self::Iat => "iat",
            Self::Exp => "exp",
            Self::Nbf => "nbf",
            Self::Qsh => "qsh",
            Self::Context => "context",
            Self::App => "app",
            Self::Jti => "jti",
            Self::Principal => "principal",
            Self::IcLabel => "icLabel",
            Self::TokenUse => "token_use",
            Self::Res => "res",
        })
    }
}

/// Why a `qsh` did not match: what the request hashes to, what the token says, and the
/// canonical request, so a developer can see which part of the URL differs.
#[derive(Clone, PartialEq, Eq)]
pub struct QshMismatch {
    pub(crate) expected: Qsh,
    pub(crate) presented: String,
    pub(crate) canonical_request: String,
}

/// Longest `qsh` text kept for diagnostics: a real qsh is 64 characters.
const MAX_PRESENTED_QSH: usize = 80;

impl QshMismatch {
    pub(crate) fn new(expected: Qsh, presented: &str, canonical_request: String) -> Self {
        let mut end = presented.len().min(MAX_PRESENTED_QSH);
        while !presented.is_char_boundary(end) {
            end -= 1;
        }
        Self {
            expected,
            presented: presented[..end].to_owned(),
            canonical_request,
        }
    }

    /// The qsh of the request actually received.
    #[must_use]
    pub fn expected(&self) -> Qsh {
        self.expected
    }

    /// The token's `qsh` claim (cut to 80 characters).
    #[must_use]
    pub fn presented(&self) -> &str {
        &self.presented
    }

    /// The canonical request the expected qsh was computed from.
    #[must_use]
    pub fn canonical_request(&self) -> &str {
        &self.canonical_request
    }
}

impl fmt::Display for QshMismatch {
    // The canonical request stays out of the message: a query may carry a token under another
    // name (`JWT=...`), and errors never echo tokens. Read it with `canonical_request()`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "qsh mismatch: the request hashes to {}, the token says {:?}",
            self.expected, self.presented
        )
    }
}

impl fmt::Debug for QshMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QshMismatch")
            .field("expected", &self.expected)
            .field("presented", &self.presented)
            .field("canonical_request_len", &self.canonical_request.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A token whose segments must never appear in an error.
    const TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ0ZXN0LWNsaWVudC1rZXkiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMDE4MCwicXNoIjoiY29udGV4dC1xc2gifQ.Y_-fycsTC1VmKefYSFe0PL3HLJ3yBoGVJPW68NX1nfo";

    /// One value of every variant (the match below does not compile when a variant is
    /// added and not listed here), the mismatch carrying the token in its canonical request.
    fn every_error() -> Vec<Error> {
        let part = TokenPart::Payload;
        let mismatch = QshMismatch::new(
            crate::Qsh::from_bytes([7; 32]),
            TOKEN,
            format!("GET&/p&JWT={TOKEN}"),
        );
        let all = vec![
            Error::InvalidMethod,
            Error::PathTooLong { len: 1, max: 0 },
            Error::QueryTooLong { len: 1, max: 0 },
            Error::TooManyParameters { max: 0 },
            Error::InvalidPercentEncoding { offset: 3 },
            Error::InvalidUtf8 { offset: 3 },
            Error::TokenTooLarge { len: 1, max: 0 },
            Error::MalformedToken,
            Error::InvalidBase64(part),
            Error::InvalidJson(part),
            Error::DuplicateMember(part),
            Error::TooManyMembers(part),
            Error::NestingTooDeep(part),
            Error::ArrayTooLong(part),
            Error::TooManyEscapes(part),
            Error::MissingAlgorithm,
            Error::UnsupportedAlgorithm { expected: "HS256" },
            Error::UnsupportedTokenType,
            Error::CriticalHeader,
            Error::InvalidSignature,
            Error::UnknownIssuer,
            Error::MissingClaim(Claim::Qsh),
            Error::InvalidClaim(Claim::Exp),
            Error::Expired { exp: 1, now: 2 },
            Error::NotYetValid { nbf: 2, now: 1 },
            Error::IssuedInFuture { iat: 2, now: 1 },
            Error::EmptyValidity,
            Error::LifetimeTooLong {
                lifetime: 2,
                max: 1,
            },
            Error::QshMismatch(Box::new(mismatch)),
            Error::ContextTokenNotAllowed,
            Error::ContextTokenRequired,
            Error::MissingKeyId,
            Error::InvalidKeyId,
            Error::UnknownKeyId,
            Error::InvalidPublicKey { reason: "r" },
            Error::WeakPublicKey { bits: 1, min: 2 },
            Error::SymmetricTokenOnLifecycleRoute,
            Error::IssuerMismatch,
            Error::AudienceMismatch,
            Error::WrongLifecycleEvent,
            Error::InvalidLifecyclePayload(PayloadDefect::MissingField("sharedSecret")),
            Error::ForgeIssuerMismatch,
            Error::AppIdMismatch,
            Error::InvalidOAuthToken,
            Error::InvalidBearerHeader,
            Error::MissingToken,
            Error::ConflictingTokens,
            Error::InvalidAuthorizationHeader,
            Error::AppKeyMismatch,
            Error::NotASessionToken,
            Error::SessionTokenNotAccepted,
            Error::SessionExpired { exp: 1, now: 2 },
            Error::SessionRevoked,
            Error::SessionResourceMismatch,
            Error::InvalidWebhookPayload(PayloadDefect::MissingField("user")),
            Error::Config(ConfigError::InvalidBaseUrl),
            Error::Config(ConfigError::LeewayTooLarge { leeway: 1, max: 0 }),
            Error::Config(ConfigError::EmptySecret),
            Error::Config(ConfigError::IdenticalLifecyclePaths),
            Error::Config(ConfigError::KeyTenantMismatch),
            Error::Config(ConfigError::NotALifecyclePath),
            Error::Config(ConfigError::InvalidAppId),
            Error::Config(ConfigError::SessionTtlOutOfRange { ttl: 0, max: 1 }),
            Error::Config(ConfigError::SweepIntervalTooShort),
            Error::Config(ConfigError::InvalidStoreUrl),
            Error::Config(ConfigError::NoTokioRuntime),
            Error::Unavailable(Unavailable::SecretStore),
            Error::Unavailable(Unavailable::Key { reason: "r" }),
            Error::Unavailable(Unavailable::RevocationStore),
            Error::Unavailable(Unavailable::UserDirectory),
            Error::Unavailable(Unavailable::Randomness),
        ];
        for error in &all {
            // Exhaustive: a new variant must be added to the list above.
            match error {
                Error::InvalidMethod
                | Error::PathTooLong { .. }
                | Error::QueryTooLong { .. }
                | Error::TooManyParameters { .. }
                | Error::InvalidPercentEncoding { .. }
                | Error::InvalidUtf8 { .. }
                | Error::TokenTooLarge { .. }
                | Error::MalformedToken
                | Error::InvalidBase64(_)
                | Error::InvalidJson(_)
                | Error::DuplicateMember(_)
                | Error::TooManyMembers(_)
                | Error::NestingTooDeep(_)
                | Error::ArrayTooLong(_)
                | Error::TooManyEscapes(_)
                | Error::MissingAlgorithm
                | Error::UnsupportedAlgorithm { .. }
                | Error::UnsupportedTokenType
                | Error::CriticalHeader
                | Error::InvalidSignature
                | Error::UnknownIssuer
                | Error::MissingClaim(_)
                | Error::InvalidClaim(_)
                | Error::Expired { .. }
                | Error::NotYetValid { .. }
                | Error::IssuedInFuture { .. }
                | Error::EmptyValidity
                | Error::LifetimeTooLong { .. }
                | Error::QshMismatch(_)
                | Error::ContextTokenNotAllowed
                | Error::ContextTokenRequired
                | Error::MissingKeyId
                | Error::InvalidKeyId
                | Error::UnknownKeyId
                | Error::InvalidPublicKey { .. }
                | Error::WeakPublicKey { .. }
                | Error::SymmetricTokenOnLifecycleRoute
                | Error::IssuerMismatch
                | Error::AudienceMismatch
                | Error::WrongLifecycleEvent
                | Error::InvalidLifecyclePayload(_)
                | Error::ForgeIssuerMismatch
                | Error::AppIdMismatch
                | Error::InvalidOAuthToken
                | Error::InvalidBearerHeader
                | Error::MissingToken
                | Error::ConflictingTokens
                | Error::InvalidAuthorizationHeader
                | Error::AppKeyMismatch
                | Error::NotASessionToken
                | Error::SessionTokenNotAccepted
                | Error::SessionExpired { .. }
                | Error::SessionRevoked
                | Error::SessionResourceMismatch
                | Error::InvalidWebhookPayload(_)
                | Error::Config(
                    ConfigError::InvalidBaseUrl
                    | ConfigError::LeewayTooLarge { .. }
                    | ConfigError::EmptySecret
                    | ConfigError::IdenticalLifecyclePaths
                    | ConfigError::KeyTenantMismatch
                    | ConfigError::NotALifecyclePath
                    | ConfigError::InvalidAppId
                    | ConfigError::SessionTtlOutOfRange { .. }
                    | ConfigError::SweepIntervalTooShort
                    | ConfigError::InvalidStoreUrl
                    | ConfigError::NoTokioRuntime,
                )
                | Error::Unavailable(
                    Unavailable::SecretStore
                    | Unavailable::Key { .. }
                    | Unavailable::RevocationStore
                    | Unavailable::UserDirectory
                    | Unavailable::Randomness,
                ) => {}
            }
        }
        all
    }

    #[test]
    fn no_error_shows_a_token_segment() {
        let segments: Vec<&str> = TOKEN.split('.').skip(1).collect();
        let mut codes = Vec::new();
        for error in every_error() {
            for shown in [
                error.to_string(),
                format!("{error:?}"),
                format!("{error:#?}"),
            ] {
                for segment in &segments {
                    assert!(
                        !shown.contains(segment),
                        "{} shows the token: {shown}",
                        error.code()
                    );
                }
                assert!(shown.len() < 300, "{shown}");
            }
            codes.push(error.code());
        }
        // Codes are distinct per variant (the two Config/Unavailable groups included).
        let count = codes.len();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), count);
    }

    #[test]
    fn verdicts_are_told_from_config_and_unavailable() {
        let (mut verdicts, mut others) = (0, 0);
        for error in every_error() {
            let expected = !matches!(error, Error::Config(_) | Error::Unavailable(_));
            assert_eq!(error.is_verdict(), expected, "{error:?}");
            if expected {
                verdicts += 1;
            } else {
                others += 1;
            }
        }
        assert_eq!((verdicts, others), (55, 16));
    }
}
