//! The extractors: one type per route policy, so a handler's signature says which tokens the
//! route accepts.

use ::axum::extract::{FromRef, FromRequestParts};
use ::axum::http::request::Parts;

use super::rejection::ConnectRejection;
use super::state::ConnectAuth;
use super::verify::authenticate;
use crate::tenant::Tenant;
use crate::verify::Verified;

pub(super) mod sealed {
    use crate::canonical::CanonicalRequest;
    use crate::tenant::Tenant;
    use crate::verify::{QshPolicy, Verified};

    /// The route policies, as the extractors and the layer name them.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Policy {
        Request,
        Context,
        RequestOrContext,
    }

    impl Policy {
        pub(in crate::axum) fn qsh<'r, 'a>(
            self,
            request: &'r CanonicalRequest<'a>,
        ) -> QshPolicy<'r, 'a> {
            match self {
                Self::Request => QshPolicy::Request(request),
                Self::Context => QshPolicy::Context,
                Self::RequestOrContext => QshPolicy::RequestOrContext(request),
            }
        }

        /// For logs.
        pub(in crate::axum) fn name(self) -> &'static str {
            match self {
                Self::Request => "request-bound",
                Self::Context => "context",
                Self::RequestOrContext => "request-or-context",
            }
        }
    }

    /// A verification's result: only the verification code can build one, so only it can
    /// make an extractor value.
    #[derive(Debug)]
    pub struct Proof {
        pub(in crate::axum) verified: Verified,
        pub(in crate::axum) tenant: Tenant,
    }

    pub trait Sealed: Sized {
        const POLICY: Policy;
        fn from_proof(proof: Proof) -> Self;
    }
}

/// The three extractor types, each one route policy: what [`ConnectLayer`](super::ConnectLayer)
/// is generic over. Sealed.
pub trait ConnectPolicy: sealed::Sealed + Clone + Send + Sync + 'static {}

macro_rules! connect_extractor {
    ($(#[$doc:meta])* $name:ident, $policy:ident) => {
        $(#[$doc])*
        ///
        /// The value holds the [`Verified`] proof and the [`Tenant`] record the token was
        /// verified with (its base URL and key for the app's calls back to the product).
        /// Only a successful verification makes one.
        ///
        /// # Rejection
        ///
        /// [`ConnectRejection`]: 401 with `WWW-Authenticate: JWT` for a missing or refused
        /// token, 503 when the tenant store cannot answer, 500 when the app is misconfigured.
        #[derive(Clone, Debug)]
        pub struct $name {
            verified: Verified,
            tenant: Tenant,
        }

        impl $name {
            /// The verified token: clientKey, account id, claims.
            #[must_use]
            pub fn verified(&self) -> &Verified {
                &self.verified
            }

            /// The installed tenant whose key verified the token.
            #[must_use]
            pub fn tenant(&self) -> &Tenant {
                &self.tenant
            }

            /// Both, owned.
            #[must_use]
            pub fn into_parts(self) -> (Verified, Tenant) {
                (self.verified, self.tenant)
            }
        }

        impl sealed::Sealed for $name {
            const POLICY: sealed::Policy = sealed::Policy::$policy;

            fn from_proof(proof: sealed::Proof) -> Self {
                Self {
                    verified: proof.verified,
                    tenant: proof.tenant,
                }
            }
        }

        impl ConnectPolicy for $name {}

        impl<S> FromRequestParts<S> for $name
        where
            ConnectAuth: FromRef<S>,
            S: Send + Sync,
        {
            type Rejection = ConnectRejection;

            async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
                authenticate(&ConnectAuth::from_ref(state), parts).await
            }
        }
    };
}

connect_extractor!(
    /// A request-bound token: the token's `qsh` must be the hash of this very request
    /// ([`QshPolicy::Request`](crate::QshPolicy::Request)). For iframe loads, webhooks, server-to-server calls.
    ///
    /// A context token is refused ([`Error::ContextTokenNotAllowed`](crate::Error::ContextTokenNotAllowed)):
    /// accepting one here was CVE-2021-26073.
    ConnectRequest,
    Request
);

connect_extractor!(
    /// A context token (`AP.context.getToken()`, `qsh` = `context-qsh`): for the app's own
    /// API called from its iframe ([`QshPolicy::Context`](crate::QshPolicy::Context)). A request-bound token is refused
    /// ([`Error::ContextTokenRequired`](crate::Error::ContextTokenRequired)).
    ConnectContext,
    Context
);

connect_extractor!(
    /// Either kind of token ([`QshPolicy::RequestOrContext`](crate::QshPolicy::RequestOrContext)), for a route that deliberately
    /// serves both (an iframe URL that the app's front end also calls). Check
    /// [`Verified::kind`] when the two must be told apart; prefer [`ConnectRequest`] or
    /// [`ConnectContext`].
    ConnectRequestOrContext,
    RequestOrContext
);
