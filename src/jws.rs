//! Compact JWS, strictly: three canonical base64url segments, JSON objects without duplicate
//! members, and an HMAC-SHA256 signature compared in constant time.

use std::borrow::Cow;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::error::{Error, TokenPart};
use crate::find::find_byte;
use crate::secret::TenantKey;

/// Longest token accepted, in bytes (8 KiB), checked before anything is decoded.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The one algorithm tenant tokens may use.
pub(crate) const HS256: &str = "HS256";

/// `base64url({"typ":"JWT","alg":"HS256"})`: the header of every token this crate signs, byte
/// for byte the one the product and npm `atlassian-jwt` write.
pub(crate) const HS256_HEADER_B64: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9";

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
    // Branch-free over fixed-size chunks, so the compiler vectorizes the scan.
    let all_token_chars = |chunk: &[u8]| {
        chunk.iter().fold(true, |ok, &b| {
            let lower = b | 0x20;
            ok & ((lower.wrapping_sub(b'a') < 26)
                | (b.wrapping_sub(b'0') < 10)
                | (b == b'-')
                | (b == b'_')
                | (b == b'.'))
        })
    };
    let chunks = token.as_bytes().chunks_exact(32);
    let tail = chunks.remainder();
    if !(chunks.fold(true, |ok, chunk| ok & all_token_chars(chunk)) && all_token_chars(tail)) {
        return Err(Error::MalformedToken);
    }
    let bytes = token.as_bytes();
    let dot = |from: usize| find_byte(&bytes[from..], b'.').map(|i| from + i);
    let first = dot(0).ok_or(Error::MalformedToken)?;
    let second = dot(first + 1).ok_or(Error::MalformedToken)?;
    if dot(second + 1).is_some() {
        return Err(Error::MalformedToken);
    }
    let (header, payload, signature) = (
        &token[..first],
        &token[first + 1..second],
        &token[second + 1..],
    );
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

/// Appends `bytes` as base64url without padding, straight into `out` (no intermediate
/// buffer to zero or copy).
pub(crate) fn encode_into(bytes: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    let encoded_len = bytes.len() / 3 * 4 + [0, 2, 3][bytes.len() % 3];
    out.resize(start + encoded_len, 0);
    // The space is exactly the encoded length, so this writes all of it.
    let written = URL_SAFE_NO_PAD
        .encode_slice(bytes, &mut out[start..])
        .unwrap_or(0);
    out.truncate(start + written);
}

/// HMAC-SHA256 of the signing input.
pub(crate) fn mac(key: &TenantKey, signing_input: &[u8]) -> [u8; 32] {
    key.mac.sign(signing_input)
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
    if key
        .mac
        .verify(segments.signing_input.as_bytes(), &tag[..len])
    {
        Ok(())
    } else {
        Err(Error::InvalidSignature)
    }
}

/// Walks the members of one UTF-8 JSON object (nothing but whitespace after it), calling
/// `visit` with each name and raw value, without allocating for ordinary input.
///
/// Names are compared after JSON unescaping (`"\u0071sh"` is `qsh`, RFC 7515 §5.3); a name
/// that appears twice is [`Error::DuplicateMember`]. An error from `visit` stops the walk and
/// is returned as it is.
pub(crate) fn for_each_member<'j>(
    json: &'j [u8],
    part: TokenPart,
    visit: impl FnMut(&Cow<'j, str>, &'j RawValue) -> Result<(), Error>,
) -> Result<(), Error> {
    if !json_text_is_sound(json) {
        return Err(Error::InvalidJson(part));
    }
    let mut failure = None;
    let seed = MemberWalk {
        visit,
        failure: &mut failure,
        part,
    };
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    let walked = seed
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end());
    match (walked, failure) {
        (Ok(()), _) => Ok(()),
        (Err(_), Some(error)) => Err(error),
        (Err(_), None) => Err(Error::InvalidJson(part)),
    }
}

/// Deepest nesting of arrays and objects accepted in a header or payload.
pub(crate) const MAX_JSON_DEPTH: usize = 32;

/// What serde_json does not check in values it skips over: no escape may leave a lone UTF-16
/// surrogate (`"\ud800"` is not Unicode, RFC 8725 §3.7), and nesting stays within
/// [`MAX_JSON_DEPTH`]. Ordinary payloads (no `\`, few brackets) are cleared by two fast
/// counts; the walk below runs only for the rest.
fn json_text_is_sound(json: &[u8]) -> bool {
    let brackets = json.iter().filter(|&&b| b == b'[' || b == b'{').count();
    if brackets <= MAX_JSON_DEPTH && !json.contains(&b'\\') {
        return true;
    }
    let (mut depth, mut in_string, mut high_surrogate) = (0usize, false, false);
    let mut i = 0;
    while i < json.len() {
        let b = json[i];
        i += 1;
        if !in_string {
            match b {
                b'"' => in_string = true,
                b'[' | b'{' => {
                    depth += 1;
                    if depth > MAX_JSON_DEPTH {
                        return false;
                    }
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            }
            continue;
        }
        let unit = match (b, json.get(i)) {
            (b'\\', Some(b'u')) => {
                let hex = json
                    .get(i + 1..i + 5)
                    .and_then(|h| core::str::from_utf8(h).ok());
                let Some(unit) = hex.and_then(|h| u16::from_str_radix(h, 16).ok()) else {
                    return false;
                };
                i += 5;
                Some(unit)
            }
            (b'\\', _) => {
                i += 1;
                None
            }
            _ => None,
        };
        let low = unit.is_some_and(|u| (0xDC00..=0xDFFF).contains(&u));
        if high_surrogate != low {
            return false;
        }
        high_surrogate = unit.is_some_and(|u| (0xD800..=0xDBFF).contains(&u));
        if b == b'"' {
            in_string = false;
        }
    }
    !high_surrogate
}

struct MemberWalk<'f, F> {
    visit: F,
    failure: &'f mut Option<Error>,
    part: TokenPart,
}

impl<'de, F> DeserializeSeed<'de> for MemberWalk<'_, F>
where
    F: FnMut(&Cow<'de, str>, &'de RawValue) -> Result<(), Error>,
{
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, F> Visitor<'de> for MemberWalk<'_, F>
where
    F: FnMut(&Cow<'de, str>, &'de RawValue) -> Result<(), Error>,
{
    type Value = ();

    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("a json object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        let mut seen = SeenNames::default();
        while let Some(Name(name)) = map.next_key::<Name<'de>>()? {
            let value: &'de RawValue = map.next_value()?;
            let outcome = if seen.insert(name.clone()) {
                (self.visit)(&name, value)
            } else {
                Err(Error::DuplicateMember(self.part))
            };
            if let Err(error) = outcome {
                *self.failure = Some(error);
                return Err(de::Error::custom("stopped"));
            }
        }
        Ok(())
    }
}

/// Member names seen so far: a few inline, the rest (rare, bounded by the token size) on
/// the heap.
#[derive(Default)]
struct SeenNames<'j> {
    inline: [Option<Cow<'j, str>>; 16],
    spill: Vec<Cow<'j, str>>,
}

impl<'j> SeenNames<'j> {
    /// Records `name`; false if it was already there.
    fn insert(&mut self, name: Cow<'j, str>) -> bool {
        let known = self
            .inline
            .iter()
            .flatten()
            .chain(&self.spill)
            .any(|n| *n == name);
        if known {
            return false;
        }
        match self.inline.iter_mut().find(|slot| slot.is_none()) {
            Some(slot) => *slot = Some(name),
            None => self.spill.push(name),
        }
        true
    }
}

/// The members of a JSON object, in order, each value kept as raw JSON text: for the
/// inspection paths, which may allocate.
#[derive(Debug)]
pub(crate) struct Members<'j> {
    members: Vec<(Cow<'j, str>, &'j RawValue)>,
}

impl<'j> Members<'j> {
    /// Parses one JSON object (see [`for_each_member`]).
    pub(crate) fn parse(json: &'j [u8], part: TokenPart) -> Result<Self, Error> {
        let mut members = Vec::new();
        for_each_member(json, part, |name, value| {
            members.push((name.clone(), value));
            Ok(())
        })?;
        Ok(Self { members })
    }

    /// All members, in document order.
    pub(crate) fn into_vec(self) -> Vec<(Cow<'j, str>, &'j RawValue)> {
        self.members
    }

    /// The raw JSON value of the member `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&'j RawValue> {
        self.members
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| *v)
    }
}

/// A member name, borrowed from the JSON text unless it contains escapes.
pub(crate) struct Name<'de>(pub(crate) Cow<'de, str>);

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;

        impl<'de> Visitor<'de> for NameVisitor {
            type Value = Name<'de>;

            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("a string")
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

/// A JSON string value, borrowed from the JSON text unless it contains escapes.
pub(crate) fn json_str(raw: &RawValue) -> Option<Cow<'_, str>> {
    serde_json::from_str::<Name<'_>>(raw.get())
        .ok()
        .map(|n| n.0)
}

/// `base64url({"alg":"HS256","typ":"JWT"})`: the other header Connect implementations write.
const HS256_HEADER_B64_ALG_FIRST: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

/// Checks the header segment of a tenant token (see [`check_header`]).
///
/// The two headers every Connect implementation writes are recognized still encoded: strict
/// base64url has one spelling per byte string, so no decoding is needed for them.
pub(crate) fn check_hs256_header(segment: &str) -> Result<(), Error> {
    if segment == HS256_HEADER_B64 || segment == HS256_HEADER_B64_ALG_FIRST {
        return Ok(());
    }
    let mut header = [0u8; 256];
    with_decoded(segment, TokenPart::Header, &mut header, |h| {
        check_header(h, HS256)
    })
}

/// The JOSE header of a tenant token, checked: `alg` must be exactly `HS256` (compared after
/// JSON unescaping), `typ` absent or `JWT`, no `crit`. `kid`, `jku`, `jwk`, `x5u` and `x5c`
/// are ignored: the key comes from the token's `iss` alone.
pub(crate) fn check_header(header_json: &[u8], expected_alg: &'static str) -> Result<(), Error> {
    // The two headers every Connect implementation writes, byte for byte: no parsing needed.
    if expected_alg == HS256
        && (header_json == br#"{"typ":"JWT","alg":"HS256"}"#
            || header_json == br#"{"alg":"HS256","typ":"JWT"}"#)
    {
        return Ok(());
    }
    Header::read(header_json)?.check(expected_alg)
}

/// The members of a JOSE header that any check reads, found in one pass (duplicates,
/// surrogates and depth ruled by [`for_each_member`]).
#[derive(Debug)]
pub(crate) struct Header<'j> {
    /// `alg`, unescaped; `None` when absent or not a string.
    alg: Option<Cow<'j, str>>,
    /// `typ` absent, or a string equal to `JWT` ignoring ASCII case.
    typ_ok: bool,
    /// A `crit` member is present (whatever its value).
    crit: bool,
    /// `kid`, as raw JSON; read only by checks that select a key by it.
    kid: Option<&'j RawValue>,
}

impl<'j> Header<'j> {
    /// Reads the header's members.
    pub(crate) fn read(header_json: &'j [u8]) -> Result<Self, Error> {
        let mut header = Self {
            alg: None,
            typ_ok: true,
            crit: false,
            kid: None,
        };
        for_each_member(header_json, TokenPart::Header, |name, value| {
            match name.as_ref() {
                "alg" => header.alg = json_str(value),
                "typ" => {
                    header.typ_ok = json_str(value).is_some_and(|t| t.eq_ignore_ascii_case("JWT"));
                }
                "crit" => header.crit = true,
                "kid" => header.kid = Some(value),
                _ => {}
            }
            Ok(())
        })?;
        Ok(header)
    }

    /// The rules every token obeys, in this order: no `crit`, an `alg` string equal to
    /// `expected_alg`, `typ` absent or `JWT`.
    pub(crate) fn check(&self, expected_alg: &'static str) -> Result<(), Error> {
        if self.crit {
            return Err(Error::CriticalHeader);
        }
        match self.alg.as_deref() {
            None => return Err(Error::MissingAlgorithm),
            Some(alg) if alg != expected_alg => {
                return Err(Error::UnsupportedAlgorithm {
                    expected: expected_alg,
                })
            }
            Some(_) => {}
        }
        if !self.typ_ok {
            return Err(Error::UnsupportedTokenType);
        }
        Ok(())
    }

    /// `alg`, unescaped, when it is a string.
    #[cfg_attr(not(feature = "signed-install"), allow(dead_code))]
    pub(crate) fn alg(&self) -> Option<&str> {
        self.alg.as_deref()
    }

    /// `kid`: `Ok(None)` when absent, [`Error::InvalidKeyId`] when not a string.
    #[cfg_attr(not(feature = "signed-install"), allow(dead_code))]
    pub(crate) fn kid(&self) -> Result<Option<Cow<'j, str>>, Error> {
        self.kid
            .map(|raw| json_str(raw).ok_or(Error::InvalidKeyId))
            .transpose()
    }
}

/// Decodes a segment into `stack` when it fits, else onto the heap, and hands the bytes to
/// `use_bytes`.
pub(crate) fn with_decoded<R>(
    segment: &str,
    part: TokenPart,
    stack: &mut [u8],
    use_bytes: impl FnOnce(&[u8]) -> Result<R, Error>,
) -> Result<R, Error> {
    if segment.len() / 4 * 3 + 3 <= stack.len() {
        let len = URL_SAFE_NO_PAD
            .decode_slice(segment, stack)
            .map_err(|_| Error::InvalidBase64(part))?;
        use_bytes(&stack[..len])
    } else {
        use_bytes(&decode(segment, part)?)
    }
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
    fn encode_into_appends_unpadded_base64url() {
        for len in 0..40u8 {
            let bytes: Vec<u8> = (0..len)
                .map(|i| i.wrapping_mul(97).wrapping_add(250))
                .collect();
            let mut out = b"x.".to_vec();
            encode_into(&bytes, &mut out);
            assert_eq!(out[2..], *URL_SAFE_NO_PAD.encode(&bytes).as_bytes());
            assert_eq!(&out[..2], b"x.");
        }
    }

    #[test]
    fn known_headers_are_recognized_encoded() {
        assert_eq!(
            decode(HS256_HEADER_B64, TokenPart::Header).unwrap(),
            br#"{"typ":"JWT","alg":"HS256"}"#
        );
        assert_eq!(
            decode(HS256_HEADER_B64_ALG_FIRST, TokenPart::Header).unwrap(),
            br#"{"alg":"HS256","typ":"JWT"}"#
        );
        assert_eq!(check_hs256_header(HS256_HEADER_B64), Ok(()));
        assert_eq!(check_hs256_header(HS256_HEADER_B64_ALG_FIRST), Ok(()));
        // `{"alg":"none"}`, then with non-zero trailing bits.
        assert_eq!(
            check_hs256_header("eyJhbGciOiJub25lIn0"),
            Err(Error::UnsupportedAlgorithm { expected: HS256 })
        );
        assert_eq!(
            check_hs256_header("eyJhbGciOiJub25lIn1"),
            Err(Error::InvalidBase64(TokenPart::Header))
        );
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
