//! Compact JWS, strictly: three canonical base64url segments, JSON objects without duplicate
//! members, and an HMAC-SHA256 signature compared in constant time.

use std::borrow::Cow;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::Mac;
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::error::{Error, TokenPart};
use crate::secret::TenantKey;

/// Longest token accepted, in bytes (8 KiB), checked before anything is decoded.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The one algorithm tenant tokens may use.
pub(crate) const HS256: &str = "HS256";

/// `base64url({"alg":"HS256","typ":"JWT"})`: the header of every token this crate signs.
pub(crate) const HS256_HEADER_B64: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

/// The three segments of a compact JWS, still encoded.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Segments<'t> {
    pub(crate) header: &'t str,
    pub(crate) payload: &'t str,
    pub(crate) signature: &'t str,
    /// `header.payload`: the bytes the signature covers.
    pub(crate) signing_input: &'t str,
}

/// Splits a token after checking its size and alphabet (RFC 8725bis "check JWT format").
pub(crate) fn split(token: &str) -> Result<Segments<'_>, Error> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(Error::TokenTooLarge {
            len: token.len(),
            max: MAX_TOKEN_LEN,
        });
    }
    let token_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    if !token.bytes().all(token_char) {
        return Err(Error::MalformedToken);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Error::MalformedToken);
    };
    if header.is_empty() || payload.is_empty() || signature.is_empty() {
        return Err(Error::MalformedToken);
    }
    Ok(Segments {
        header,
        payload,
        signature,
        signing_input: &token[..header.len() + 1 + payload.len()],
    })
}

/// Decodes one segment; padding, other alphabets and non-zero trailing bits are errors.
pub(crate) fn decode(segment: &str, part: TokenPart) -> Result<Vec<u8>, Error> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| Error::InvalidBase64(part))
}

/// Base64url without padding.
pub(crate) fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// HMAC-SHA256 of the signing input.
pub(crate) fn mac(key: &TenantKey, signing_input: &str) -> [u8; 32] {
    let mut mac = key.mac.clone();
    mac.update(signing_input.as_bytes());
    mac.finalize().into_bytes().into()
}

/// Checks the signature segment: exactly 32 canonical bytes, compared in constant time.
pub(crate) fn verify_hs256(key: &TenantKey, segments: &Segments<'_>) -> Result<(), Error> {
    // 32 bytes are 43 base64url characters; anything else cannot be an HS256 MAC.
    if segments.signature.len() != 43 {
        return Err(Error::InvalidSignature);
    }
    let mut tag = [0u8; 33];
    let len = URL_SAFE_NO_PAD
        .decode_slice(segments.signature, &mut tag)
        .map_err(|_| Error::InvalidBase64(TokenPart::Signature))?;
    let mut mac = key.mac.clone();
    mac.update(segments.signing_input.as_bytes());
    mac.verify_slice(&tag[..len])
        .map_err(|_| Error::InvalidSignature)
}

/// The members of a JSON object, in order, each value kept as raw JSON text.
///
/// Names are compared after JSON unescaping (`"\u0071sh"` is `qsh`, RFC 7515 §5.3); a name
/// that appears twice makes the object invalid.
#[derive(Debug)]
pub(crate) struct Members<'j> {
    members: Vec<(Cow<'j, str>, &'j RawValue)>,
}

impl<'j> Members<'j> {
    /// Parses one UTF-8 JSON object with nothing but whitespace after it.
    pub(crate) fn parse(json: &'j [u8], part: TokenPart) -> Result<Self, Error> {
        let members: Self = serde_json::from_slice(json).map_err(|_| Error::InvalidJson(part))?;
        let mut names: Vec<&str> = members.members.iter().map(|(k, _)| k.as_ref()).collect();
        names.sort_unstable();
        if names.windows(2).any(|w| w[0] == w[1]) {
            return Err(Error::DuplicateMember(part));
        }
        Ok(members)
    }

    /// The raw JSON value of the member `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&'j RawValue> {
        self.members
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| *v)
    }

    /// All members, in document order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &'j RawValue)> + '_ {
        self.members.iter().map(|(k, v)| (k.as_ref(), *v))
    }
}

impl<'de: 'j, 'j> Deserialize<'de> for Members<'j> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;

        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = Members<'de>;

            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("a json object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8).min(32));
                while let Some(name) = map.next_key::<Name<'de>>()? {
                    let value: &'de RawValue = map.next_value()?;
                    members.push((name.0, value));
                }
                Ok(Members { members })
            }
        }

        deserializer.deserialize_map(ObjectVisitor)
    }
}

/// A member name, borrowed from the JSON text unless it contains escapes.
struct Name<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;

        impl<'de> Visitor<'de> for NameVisitor {
            type Value = Name<'de>;

            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("a member name")
            }

            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Name(Cow::Borrowed(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Name(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Name(Cow::Owned(v)))
            }
        }

        deserializer.deserialize_str(NameVisitor)
    }
}

/// The JOSE header of a tenant token, checked: `alg` must be exactly `HS256` (compared after
/// JSON unescaping), `typ` absent or `JWT`, no `crit`. `kid`, `jku`, `jwk`, `x5u` and `x5c`
/// are ignored: the key comes from the token's `iss` alone.
pub(crate) fn check_header(header_json: &[u8], expected_alg: &'static str) -> Result<(), Error> {
    let header = Members::parse(header_json, TokenPart::Header)?;
    if header.get("crit").is_some() {
        return Err(Error::CriticalHeader);
    }
    let alg = header
        .get("alg")
        .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
        .ok_or(Error::MissingAlgorithm)?;
    if alg != expected_alg {
        return Err(Error::UnsupportedAlgorithm {
            expected: expected_alg,
        });
    }
    if let Some(typ) = header.get("typ") {
        let typ =
            serde_json::from_str::<String>(typ.get()).map_err(|_| Error::UnsupportedTokenType)?;
        if !typ.eq_ignore_ascii_case("JWT") {
            return Err(Error::UnsupportedTokenType);
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn split_is_strict() {
        assert!(split("a.b.c").is_ok());
        for bad in [
            "a.b", "a.b.c.", "a.b.c.d", ".b.c", "a..c", "a.b.", "a.b.c=", "a b.c.d", "a.b.c\n",
        ] {
            assert_eq!(split(bad).unwrap_err(), Error::MalformedToken, "{bad:?}");
        }
        let huge = "a".repeat(MAX_TOKEN_LEN + 1);
        assert!(matches!(split(&huge), Err(Error::TokenTooLarge { .. })));
    }

    #[test]
    fn members_reject_duplicates_after_unescaping() {
        assert!(Members::parse(br#"{"a":1,"b":2}"#, TokenPart::Payload).is_ok());
        assert_eq!(
            Members::parse(br#"{"qsh":"x","\u0071sh":"y"}"#, TokenPart::Payload).unwrap_err(),
            Error::DuplicateMember(TokenPart::Payload)
        );
        for bad in [
            &b"[]"[..],
            b"null",
            b"\"x\"",
            b"{",
            b"{} x",
            b"\xEF\xBB\xBF{}",
            b"{\"a\":\"\xC3\x28\"}",
        ] {
            assert_eq!(
                Members::parse(bad, TokenPart::Header).unwrap_err(),
                Error::InvalidJson(TokenPart::Header)
            );
        }
        assert!(Members::parse(b"{}  \n", TokenPart::Header).is_ok());
    }

    #[test]
    fn header_rules() {
        assert_eq!(
            check_header(br#"{"alg":"HS256","typ":"JWT"}"#, HS256),
            Ok(())
        );
        assert_eq!(check_header(br#"{"alg":"\u0048S256"}"#, HS256), Ok(()));
        assert_eq!(
            check_header(br#"{"typ":"JWT"}"#, HS256),
            Err(Error::MissingAlgorithm)
        );
        assert_eq!(
            check_header(br#"{"alg":null}"#, HS256),
            Err(Error::MissingAlgorithm)
        );
        assert_eq!(
            check_header(br#"{"alg":["HS256"]}"#, HS256),
            Err(Error::MissingAlgorithm)
        );
        assert_eq!(
            check_header(br#"{"alg":"none"}"#, HS256),
            Err(Error::UnsupportedAlgorithm { expected: HS256 })
        );
        assert_eq!(
            check_header(br#"{"alg":"HS256","crit":[]}"#, HS256),
            Err(Error::CriticalHeader)
        );
        assert_eq!(
            check_header(br#"{"alg":"HS256","typ":"JWE"}"#, HS256),
            Err(Error::UnsupportedTokenType)
        );
    }
}
