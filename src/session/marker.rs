//! The type marker of app session tokens, known to every verifier (with or without the
//! `session` feature) so that the Connect verifier can name a session token it refuses.

use std::borrow::Cow;

use crate::error::{Error, TokenPart};
use crate::jws;

/// The `typ` header of an app session token (RFC 8725 §3.11 explicit typing).
pub(crate) const SESSION_TYP: &str = "app-session+jwt";

/// `base64url({"alg":"HS256","typ":"app-session+jwt"})`: the header of every session token.
pub(crate) const SESSION_HEADER_B64: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6ImFwcC1zZXNzaW9uK2p3dCJ9";

/// The Connect verifier's header error, made specific when the header is a session token's:
/// called on the error path only, so product tokens pay nothing for it.
pub(crate) fn refine_connect_header_error(header_segment: &str, error: Error) -> Error {
    if error == Error::UnsupportedTokenType && header_typ_is_session(header_segment) {
        Error::SessionTokenNotAccepted
    } else {
        error
    }
}

/// Whether the header's `typ` (after JSON unescaping, ignoring ASCII case as RFC 7515 §4.1.9
/// allows for media types) is [`SESSION_TYP`].
fn header_typ_is_session(header_segment: &str) -> bool {
    if header_segment == SESSION_HEADER_B64 {
        return true;
    }
    let mut stack = [0u8; 256];
    let mut found = false;
    let walked = jws::with_decoded(header_segment, TokenPart::Header, &mut stack, |json| {
        jws::for_each_member(
            json,
            TokenPart::Header,
            |name| name == "typ",
            |name, value| {
                if name == &Cow::Borrowed("typ") {
                    found =
                        jws::json_str(value).is_some_and(|t| t.eq_ignore_ascii_case(SESSION_TYP));
                }
                Ok(())
            },
        )
    });
    walked.is_ok() && found
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_header_constant_is_the_session_header() {
        assert_eq!(
            jws::decode(SESSION_HEADER_B64, TokenPart::Header).unwrap(),
            br#"{"alg":"HS256","typ":"app-session+jwt"}"#
        );
    }

    #[test]
    fn only_a_session_typ_is_refined() {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine as _;
        let enc = |json: &str| URL_SAFE_NO_PAD.encode(json);
        let refined =
            |json: &str| refine_connect_header_error(&enc(json), Error::UnsupportedTokenType);
        assert_eq!(
            refined(r#"{"alg":"HS256","typ":"app-session+jwt"}"#),
            Error::SessionTokenNotAccepted
        );
        assert_eq!(
            refined(r#"{"typ":"APP-SESSION+JWT","alg":"HS256"}"#),
            Error::SessionTokenNotAccepted
        );
        assert_eq!(
            refined(r#"{"alg":"HS256","typ":"JWE"}"#),
            Error::UnsupportedTokenType
        );
        assert_eq!(
            refined(r#"{"alg":"HS256","typ":"app-session+jwt","typ":"x"}"#),
            Error::UnsupportedTokenType
        );
        // Another error is never replaced.
        assert_eq!(
            refine_connect_header_error(SESSION_HEADER_B64, Error::CriticalHeader),
            Error::CriticalHeader
        );
    }
}
