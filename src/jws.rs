//! Compact JWS, strictly: three canonical base64url segments, JSON objects without duplicate
//! members, and an HMAC-SHA256 signature compared in constant time.

use std::borrow::Cow;
use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
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
    check_size(token)?;
    if !token_chars(token.as_bytes()) {
        return Err(Error::MalformedToken);
    }
    split_unchecked(token)
}

/// As [`split`], without the alphabet check and without looking for dots inside the
/// payload: the header ends at the first dot and the signature starts after the last one.
/// For a caller that decodes the header and the payload (which succeeds on base64url text
/// only, so never on a payload holding a dot), checks the signature's alphabet with
/// [`token_chars`], and on any failure returns what [`split`] says of the token, if it
/// refuses it: the error is then the one [`split`] gives.
pub(crate) fn split_deferred(token: &str) -> Result<Segments<'_>, Error> {
    check_size(token)?;
    let bytes = token.as_bytes();
    let first = find_byte(bytes, b'.').ok_or(Error::MalformedToken)?;
    // The signature is the short end of the token: an HS256 one is 43 characters, so the
    // last dot is looked for there first.
    let hs256 = bytes
        .len()
        .checked_sub(44)
        .filter(|&at| bytes[at] == b'.' && find_byte(&bytes[at + 1..], b'.').is_none());
    let last = hs256
        .or_else(|| bytes.iter().rposition(|&b| b == b'.'))
        .filter(|&last| last > first)
        .ok_or(Error::MalformedToken)?;
    segments(token, first, last)
}

/// The segments of `token` around its two dots at `first` and `last`, none empty.
fn segments(token: &str, first: usize, last: usize) -> Result<Segments<'_>, Error> {
    let (header, payload, signature) =
        (&token[..first], &token[first + 1..last], &token[last + 1..]);
    if header.is_empty() || payload.is_empty() || signature.is_empty() {
        return Err(Error::MalformedToken);
    }
    Ok(Segments {
        header,
        payload,
        signature,
        signing_input: &token[..last],
    })
}

fn check_size(token: &str) -> Result<(), Error> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(Error::TokenTooLarge {
            len: token.len(),
            max: MAX_TOKEN_LEN,
        });
    }
    Ok(())
}

/// Whether every byte is base64url or a dot.
pub(crate) fn token_chars(bytes: &[u8]) -> bool {
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
    let chunks = bytes.chunks_exact(32);
    let tail = chunks.remainder();
    chunks.fold(true, |ok, chunk| ok & all_token_chars(chunk)) && all_token_chars(tail)
}

/// The segments of a token of valid size, whatever its alphabet.
fn split_unchecked(token: &str) -> Result<Segments<'_>, Error> {
    let bytes = token.as_bytes();
    let dot = |from: usize| find_byte(&bytes[from..], b'.').map(|i| from + i);
    let first = dot(0).ok_or(Error::MalformedToken)?;
    let second = dot(first + 1).ok_or(Error::MalformedToken)?;
    if dot(second + 1).is_some() {
        return Err(Error::MalformedToken);
    }
    segments(token, first, second)
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
    let mut tag = [0u8; 32];
    if !crate::base64url::decode_into(segments.signature.as_bytes(), &mut tag) {
        return Err(Error::InvalidBase64(TokenPart::Signature));
    }
    if key.mac.verify(segments.signing_input.as_bytes(), &tag) {
        Ok(())
    } else {
        Err(Error::InvalidSignature)
    }
}

/// Most members a header or payload may have, counted over all its objects (nested ones
/// included): [`Error::TooManyMembers`].
///
/// Connect payloads have fewer than 30 in all. Each member costs the reader a fixed amount of
/// work (its name hashed for the repeated-name check, its value skipped) that anyone can cause
/// before the signature is checked; 64 keeps a token of nothing but members within twice the
/// cost of an ordinary token of the same length (`benches/hostile_tokens.rs`), where 128
/// would not, with escaped names.
pub const MAX_JSON_MEMBERS: usize = 64;

/// Deepest nesting of arrays and objects in a header or payload, the top-level object being
/// depth 1: [`Error::NestingTooDeep`].
///
/// Real tokens rarely nest past 6; 32 keeps every reader's recursion shallow (serde_json's own
/// limit is 128).
pub const MAX_JSON_DEPTH: usize = 32;

/// Most array elements a header or payload may have, counted over all its arrays (nested ones
/// included), as members are over all objects: [`Error::ArrayTooLong`].
///
/// `aud` lists and the arrays of a `context` hold a handful. Counting the elements of all
/// arrays, not each array's, is what bounds the values a text holds: 6 KB of `[0,0,…]` would
/// otherwise be 3000 of them, each costing a reader a few times what a byte of a string does.
pub const MAX_JSON_ARRAY_LEN: usize = 64;

/// Most backslash escapes in the strings of one header or payload, a surrogate pair being two:
/// [`Error::TooManyEscapes`].
///
/// Product tokens have none. A writer that escapes every `/` (PHP) or every non-ASCII
/// character (Python's `ensure_ascii`) needs one per such character: 128 covers a few URLs or
/// a long non-Latin display name, and bounds the strings that must be copied out and
/// unescaped instead of borrowed.
pub const MAX_JSON_ESCAPES: usize = 128;

/// Walks the members of one UTF-8 JSON object (nothing but whitespace after it), the header or
/// payload `part` of a token, calling `visit` with the name and raw value of each member whose
/// name is `wanted` (the others are only checked), without allocating for ordinary input.
///
/// In this order: the `MAX_JSON_*` limits, over the text as written before any of it is
/// parsed (a text past a limit gets the limit's error even if it is malformed further on),
/// together with lone UTF-16 surrogate escapes (`"\ud800"` is not Unicode, RFC 8725 §3.7:
/// [`Error::InvalidJson`]), the first of these in text order; then UTF-8; then one pass in
/// text order: syntax, repeated names and `visit`'s errors as they occur.
///
/// Names are compared after JSON unescaping (`"\u0071sh"` is `qsh`, RFC 7515 §5.3); a name
/// that appears twice is [`Error::DuplicateMember`], found in time linear in the number of
/// names. An error from `visit` stops the walk and is returned as it is.
pub(crate) fn for_each_member<'j>(
    json: &'j [u8],
    part: TokenPart,
    wanted: impl Fn(&str) -> bool,
    visit: impl FnMut(&Cow<'j, str>, &'j RawValue) -> Result<(), Error>,
) -> Result<(), Error> {
    for_each_member_within(json, part, &TOKEN_LIMITS, wanted, visit)
}

/// As [`for_each_member`], under other member, array and escape limits (a Forge Invocation
/// Token's payload is a few times a Connect token's; see [`FORGE_LIMITS`]).
pub(crate) fn for_each_member_within<'j>(
    json: &'j [u8],
    part: TokenPart,
    limits: &Limits,
    wanted: impl Fn(&str) -> bool,
    visit: impl FnMut(&Cow<'j, str>, &'j RawValue) -> Result<(), Error>,
) -> Result<(), Error> {
    prescan(json, limits).map_err(|defect| defect.error(part))?;
    walk(json, part, wanted, visit)
}

/// As [`for_each_member`], for the body of a lifecycle callback: read only after its token
/// verified, and bounded by its own size limit (`MAX_LIFECYCLE_BODY`) rather than the token's
/// member, array and escape limits. Nesting deeper than [`MAX_JSON_DEPTH`] and lone
/// surrogates are [`Error::InvalidJson`], and a repeated name [`Error::DuplicateMember`]
/// (both naming the payload), as ever.
#[cfg_attr(
    not(any(feature = "signed-install", feature = "session")),
    allow(dead_code)
)]
pub(crate) fn for_each_body_member<'j>(
    json: &'j [u8],
    wanted: impl Fn(&str) -> bool,
    visit: impl FnMut(&Cow<'j, str>, &'j RawValue) -> Result<(), Error>,
) -> Result<(), Error> {
    let part = TokenPart::Payload;
    prescan(json, &BODY_LIMITS).map_err(|_| Error::InvalidJson(part))?;
    walk(json, part, wanted, visit)
}

/// The UTF-8 check and the one-pass walk of both: serde_json reads the object, `visit` sees
/// each wanted member.
fn walk<'j>(
    json: &'j [u8],
    part: TokenPart,
    wanted: impl Fn(&str) -> bool,
    visit: impl FnMut(&Cow<'j, str>, &'j RawValue) -> Result<(), Error>,
) -> Result<(), Error> {
    // All at once (vectorized), instead of string by string as serde_json would.
    let text = core::str::from_utf8(json).map_err(|_| Error::InvalidJson(part))?;
    let mut failure = None;
    let seed = MemberWalk {
        wanted,
        visit,
        failure: &mut failure,
        part,
    };
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let walked = seed
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end());
    match (walked, failure) {
        (Ok(()), _) => Ok(()),
        (Err(_), Some(error)) => Err(error),
        (Err(_), None) => Err(Error::InvalidJson(part)),
    }
}

/// The counts the pre-scan holds a text to (nesting is always [`MAX_JSON_DEPTH`]).
pub(crate) struct Limits {
    members: usize,
    elements: usize,
    escapes: usize,
}

const TOKEN_LIMITS: Limits = Limits {
    members: MAX_JSON_MEMBERS,
    elements: MAX_JSON_ARRAY_LEN,
    escapes: MAX_JSON_ESCAPES,
};

/// The limits of a Forge Invocation Token's header and payload: its documented claims hold
/// about 45 members in 9 objects, and UI invocations add a `context` of their own, so four
/// times a Connect token's (the verifier reads the claims before it fetches a key, so these
/// too bound the work of an unauthenticated caller; the walk stays linear).
#[cfg_attr(not(feature = "forge"), allow(dead_code))]
pub(crate) const FORGE_LIMITS: Limits = Limits {
    members: 4 * MAX_JSON_MEMBERS,
    elements: 4 * MAX_JSON_ARRAY_LEN,
    escapes: 4 * MAX_JSON_ESCAPES,
};

const BODY_LIMITS: Limits = Limits {
    members: usize::MAX,
    elements: usize::MAX,
    escapes: usize::MAX,
};

/// The first thing the pre-scan finds wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Defect {
    Members,
    Depth,
    Elements,
    Escapes,
    /// A lone surrogate, or `\u` without four hex digits.
    Escape,
}

impl Defect {
    fn error(self, part: TokenPart) -> Error {
        match self {
            Self::Members => Error::TooManyMembers(part),
            Self::Depth => Error::NestingTooDeep(part),
            Self::Elements => Error::ArrayTooLong(part),
            Self::Escapes => Error::TooManyEscapes(part),
            Self::Escape => Error::InvalidJson(part),
        }
    }
}

/// One linear pass over the text as written, before anything parses it: the limits, and what
/// serde_json does not check in the values it skips (no escape may leave a lone surrogate).
/// The first defect in text order is reported.
///
/// It reads the text's first value when that is an object or array (leading whitespace
/// skipped), from its opening bracket to the matching closing one; anything else is left to
/// the parser to refuse. Outside strings, a member is a string followed (whitespace aside) by
/// `:`, counted at that string; nesting counts `[` and `{` less `]` and `}`; and an array's
/// elements are counted one at its `[` (unless `]` follows, whitespace aside) and one at each
/// `,` directly in it. In strings, an escape is a `\`. Only those bytes are looked at one by
/// one: runs of others (string contents, numbers, whitespace) are skipped 32 bytes at a time.
/// Ordinary texts are cleared without the scan, by one count of those bytes.
fn prescan(json: &[u8], limits: &Limits) -> Result<(), Defect> {
    if clearly_within(json, limits) {
        return Ok(());
    }
    scan(json, limits)
}

/// The scan of [`prescan`] itself, byte by byte where it matters.
fn scan(json: &[u8], limits: &Limits) -> Result<(), Defect> {
    let mut i = skip_whitespace(json, 0);
    if !matches!(json.get(i), Some(b'{' | b'[')) {
        return Ok(());
    }
    let mut depth = 0usize;
    // Bit `d`: the container open at depth `d` is an array.
    let mut arrays = 0u64;
    let (mut members, mut elements, mut escapes) = (0usize, 0usize, 0usize);
    let element = |elements: &mut usize| {
        *elements += 1;
        if *elements > limits.elements {
            Err(Defect::Elements)
        } else {
            Ok(())
        }
    };
    while let Some(&b) = json.get(i) {
        i += 1;
        match b {
            b'"' => {
                i = skip_string(json, i, &mut escapes, limits.escapes)?;
                if json.get(skip_whitespace(json, i)) == Some(&b':') {
                    members += 1;
                    if members > limits.members {
                        return Err(Defect::Members);
                    }
                }
            }
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return Err(Defect::Depth);
                }
                let array = b == b'[';
                arrays = (arrays & !(1 << depth)) | (u64::from(array) << depth);
                if array
                    && json
                        .get(skip_whitespace(json, i))
                        .is_some_and(|&c| c != b']')
                {
                    element(&mut elements)?;
                }
            }
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Ok(());
                }
            }
            // Counted with the string before it.
            b':' => {}
            b',' => {
                if arrays >> depth & 1 == 1 {
                    element(&mut elements)?;
                }
            }
            _ => i = skip_other(json, i),
        }
    }
    Ok(())
}

/// The bytes the pre-scan looks at outside strings: `"`, `:`, `,`, `[`, `]`, `{`, `}`.
fn structural(b: u8) -> bool {
    // `[` `]` are `{` `}` less 0x20.
    (b == b'"') | (b == b':') | (b == b',') | ((b | 0x20) == b'{') | ((b | 0x20) == b'}')
}

/// From `i`, past bytes that are not [`structural`]: a few one by one, then 32 at a time.
fn skip_other(json: &[u8], mut i: usize) -> usize {
    for _ in 0..8 {
        match json.get(i) {
            Some(&b) if !structural(b) => i += 1,
            _ => return i,
        }
    }
    while let Some(chunk) = json.get(i..i + 32) {
        if chunk
            .iter()
            .fold(0u8, |any, &b| any | u8::from(structural(b)))
            != 0
        {
            break;
        }
        i += 32;
    }
    while json.get(i).is_some_and(|&b| !structural(b)) {
        i += 1;
    }
    i
}

/// From `i`, past JSON whitespace.
fn skip_whitespace(json: &[u8], mut i: usize) -> usize {
    while matches!(json.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// Whether the scan can only pass: few enough `[`/`{`, `,`, `\` and colons that may end a
/// name (those right after a `"` or whitespace) in the whole text for no limit to be reached
/// (the elements of all arrays are at most their `,` and `[`), counted branch-free so that the
/// compiler vectorizes it, and no `\u` anywhere that is not four hex digits of a code unit
/// outside the surrogates.
fn clearly_within(json: &[u8], limits: &Limits) -> bool {
    let Some(&first) = json.first() else {
        return true;
    };
    let is_ws = |b: u8| (b == b' ') | (b == b'\t') | (b == b'\n') | (b == b'\r');
    let mut opens = usize::from((first | 0x20) == b'{');
    let mut arrays = usize::from(first == b'[');
    let mut commas = usize::from(first == b',');
    let mut backslashes = usize::from(first == b'\\');
    let mut colons = 0usize;
    // Each byte with the one before it.
    for (before, bytes) in json.chunks(128).zip(json[1..].chunks(128)) {
        let (mut o, mut a, mut c, mut m, mut b) = (0u8, 0u8, 0u8, 0u8, 0u8);
        for (&p, &x) in before.iter().zip(bytes) {
            o += u8::from((x | 0x20) == b'{');
            a += u8::from(x == b'[');
            c += u8::from((x == b':') & ((p == b'"') | is_ws(p)));
            m += u8::from(x == b',');
            b += u8::from(x == b'\\');
        }
        opens += usize::from(o);
        arrays += usize::from(a);
        colons += usize::from(c);
        commas += usize::from(m);
        backslashes += usize::from(b);
    }
    let within = opens <= MAX_JSON_DEPTH
        && colons <= limits.members
        && commas + arrays <= limits.elements
        && backslashes <= limits.escapes;
    within && (backslashes == 0 || no_surrogate_escapes(json))
}

/// Whether every `\u` in the text, in strings or not, is followed by four hex digits of a code
/// unit outside the surrogates (a superset of the escapes the scan would check).
fn no_surrogate_escapes(json: &[u8]) -> bool {
    let mut rest = json;
    while let Some(at) = find_backslash(rest) {
        rest = &rest[at + 1..];
        let unit = || rest.get(1..5).and_then(hex_unit);
        if rest.first() == Some(&b'u') && unit().is_none_or(|u| (0xD800..=0xDFFF).contains(&u)) {
            return false;
        }
    }
    true
}

/// The position of the first `\`, 32 bytes at a time. (Not `find_byte`: a second caller
/// would keep that from being inlined into [`split`], on every token's path.)
fn find_backslash(bytes: &[u8]) -> Option<usize> {
    let mut offset = 0;
    for chunk in bytes.chunks_exact(32) {
        if chunk.iter().fold(0u8, |any, &b| any | u8::from(b == b'\\')) != 0 {
            break;
        }
        offset += 32;
    }
    bytes[offset..]
        .iter()
        .position(|&b| b == b'\\')
        .map(|i| offset + i)
}

/// After an opening quote at `i - 1`: the index just past the closing quote (or the end of
/// the text, for serde_json to refuse), counting escapes and checking surrogates.
fn skip_string(
    json: &[u8],
    mut i: usize,
    escapes: &mut usize,
    max_escapes: usize,
) -> Result<usize, Defect> {
    // A high surrogate was just read: the next character must be an escaped low one.
    let mut high = false;
    loop {
        let Some(at) = find_quote_or_backslash(&json[i..]) else {
            // Unterminated, for the parser to refuse; but a high surrogate followed by
            // anything but an escape is a defect first.
            return if high && i < json.len() {
                Err(Defect::Escape)
            } else {
                Ok(json.len())
            };
        };
        if high && at > 0 {
            return Err(Defect::Escape);
        }
        i += at;
        if json[i] == b'"' {
            return if high { Err(Defect::Escape) } else { Ok(i + 1) };
        }
        *escapes += 1;
        if *escapes > max_escapes {
            return Err(Defect::Escapes);
        }
        match json.get(i + 1) {
            Some(b'u') => {
                let unit = json
                    .get(i + 2..i + 6)
                    .and_then(hex_unit)
                    .ok_or(Defect::Escape)?;
                if high != (0xDC00..=0xDFFF).contains(&unit) {
                    return Err(Defect::Escape);
                }
                high = (0xD800..=0xDBFF).contains(&unit);
                i += 6;
            }
            Some(_) if high => return Err(Defect::Escape),
            Some(_) => i += 2,
            None => return Ok(json.len()),
        }
    }
}

/// Four hex digits (either case) as a UTF-16 code unit.
fn hex_unit(hex: &[u8]) -> Option<u16> {
    hex.iter().try_fold(0u16, |unit, &digit| {
        let nibble = match digit {
            b'0'..=b'9' => digit - b'0',
            b'a'..=b'f' => digit - b'a' + 10,
            b'A'..=b'F' => digit - b'A' + 10,
            _ => return None,
        };
        Some(unit << 4 | u16::from(nibble))
    })
}

/// The position of the first `"` or `\`: the first bytes one by one (names and most values
/// are short), then 32 at a time while there is none.
fn find_quote_or_backslash(bytes: &[u8]) -> Option<usize> {
    let special = |b: &u8| (*b == b'"') | (*b == b'\\');
    if let Some(at) = bytes.iter().take(16).position(special) {
        return Some(at);
    }
    let mut offset = bytes.len().min(16);
    for chunk in bytes[offset..].chunks_exact(32) {
        if chunk.iter().fold(0u8, |any, b| any | u8::from(special(b))) != 0 {
            break;
        }
        offset += 32;
    }
    bytes[offset..].iter().position(special).map(|i| offset + i)
}

struct MemberWalk<'f, W, F> {
    wanted: W,
    visit: F,
    failure: &'f mut Option<Error>,
    part: TokenPart,
}

impl<'de, W, F> DeserializeSeed<'de> for MemberWalk<'_, W, F>
where
    W: Fn(&str) -> bool,
    F: FnMut(&Cow<'de, str>, &'de RawValue) -> Result<(), Error>,
{
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, W, F> Visitor<'de> for MemberWalk<'_, W, F>
where
    W: Fn(&str) -> bool,
    F: FnMut(&Cow<'de, str>, &'de RawValue) -> Result<(), Error>,
{
    type Value = ();

    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("a json object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        let mut seen = SeenNames::new();
        while let Some(key) = map.next_key_seed(KeySeed(&mut seen.unescaped))? {
            let name = key.resolve(&seen.unescaped);
            // The value of an unwanted member is checked, not kept: cheaper than cutting
            // out its text.
            let value: Option<&'de RawValue> = if (self.wanted)(name) {
                Some(map.next_value()?)
            } else {
                map.next_value::<IgnoredAny>()?;
                None
            };
            let outcome = match value {
                _ if !seen.insert(key) => Err(Error::DuplicateMember(self.part)),
                Some(value) => {
                    let name = match key {
                        Key::Borrowed(name) => Cow::Borrowed(name),
                        Key::Unescaped(..) => Cow::Owned(key.resolve(&seen.unescaped).to_owned()),
                    };
                    (self.visit)(&name, value)
                }
                None => Ok(()),
            };
            if let Err(error) = outcome {
                *self.failure = Some(error);
                return Err(de::Error::custom("stopped"));
            }
        }
        Ok(())
    }
}

/// A member name: borrowed from the JSON text, or (when it has escapes) unescaped into the
/// walk's one buffer of such names, so that no name costs an allocation of its own.
#[derive(Clone, Copy)]
enum Key<'j> {
    Borrowed(&'j str),
    /// `start..end` of [`SeenNames::unescaped`].
    Unescaped(u32, u32),
}

impl<'j> Key<'j> {
    fn resolve<'a>(self, unescaped: &'a str) -> &'a str
    where
        'j: 'a,
    {
        match self {
            Self::Borrowed(name) => name,
            Self::Unescaped(start, end) => unescaped
                .get(start as usize..end as usize)
                .unwrap_or_default(),
        }
    }
}

/// Reads a member name as a [`Key`], appending an unescaped one to the buffer.
struct KeySeed<'b>(&'b mut String);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Key<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Key<'de>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
        Ok(Key::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
        // Texts are at most a token or a lifecycle body long, far below 4 GiB.
        let offset = |len: usize| u32::try_from(len).map_err(|_| E::custom("too long"));
        let start = offset(self.0.len())?;
        self.0.push_str(v);
        Ok(Key::Unescaped(start, offset(self.0.len())?))
    }
}

/// Member names seen so far, for the repeated-name check, in time linear in their number and
/// with no allocation for a token's names beyond one buffer for those with escapes.
///
/// The first [`LINEAR_NAMES`] are compared one by one (what ordinary headers and payloads
/// need). Past those, every name goes into a fixed table of slots by its SipHash under keys
/// drawn at random for each walk (std's `RandomState`), so no one can choose names that
/// collide: the expected number of comparisons per name stays below two. A lifecycle body,
/// which may have more names than a token, moves to a std `HashSet` once the table is full.
struct SeenNames<'j> {
    names: [Option<Key<'j>>; MAX_JSON_MEMBERS],
    len: usize,
    /// The names that had escapes, unescaped, one after the other.
    unescaped: String,
    /// `0` for an empty slot, else one more than an index into `names` in the low byte and
    /// the top byte of the name's hash in the high one (most probes of another name end
    /// there); twice as many slots as names, so that probe sequences stay short. In use once
    /// there are more than [`LINEAR_NAMES`] names.
    slots: [u16; 2 * MAX_JSON_MEMBERS],
    keys: RandomState,
    /// A body's names once there are more than `names` holds.
    spill: Option<HashSet<String>>,
}

/// Names compared one by one before [`SeenNames`] hashes them.
const LINEAR_NAMES: usize = 8;

// Slots hold `index + 1` in a byte.
const _: () = assert!(MAX_JSON_MEMBERS < 256);

impl<'j> SeenNames<'j> {
    fn new() -> Self {
        Self {
            names: [None; MAX_JSON_MEMBERS],
            len: 0,
            unescaped: String::new(),
            slots: [0; 2 * MAX_JSON_MEMBERS],
            keys: RandomState::new(),
            spill: None,
        }
    }

    /// The name at `index`.
    fn name(&self, index: usize) -> &str {
        self.names[index].map_or("", |key| key.resolve(&self.unescaped))
    }

    /// Records `key`; false if its name was already there.
    fn insert(&mut self, key: Key<'j>) -> bool {
        let name = key.resolve(&self.unescaped);
        if let Some(spill) = &mut self.spill {
            return spill.insert(name.to_owned());
        }
        if self.len < LINEAR_NAMES {
            if (0..self.len).any(|index| same_name(self.name(index), name)) {
                return false;
            }
        } else {
            if self.len == LINEAR_NAMES {
                // The names so far (all different) go into the table now.
                for index in 0..self.len {
                    if let Some((slot, tag)) = self.probe(self.name(index)) {
                        self.slots[slot] = tag | (index as u16 + 1);
                    }
                }
            }
            let Some((slot, tag)) = self.probe(name) else {
                return false;
            };
            if self.len == self.names.len() {
                let mut spill: HashSet<String> = (0..self.len)
                    .map(|index| self.name(index).to_owned())
                    .collect();
                spill.insert(name.to_owned());
                self.spill = Some(spill);
                return true;
            }
            self.slots[slot] = tag | (self.len as u16 + 1);
        }
        self.names[self.len] = Some(key);
        self.len += 1;
        true
    }

    /// The empty slot for `name` and its tag; `None` if `name` is in the table already.
    fn probe(&self, name: &str) -> Option<(usize, u16)> {
        let (mut slot, tag) = probe_start(&self.keys, name);
        while self.slots[slot] != 0 {
            let entry = self.slots[slot];
            if entry & 0xFF00 == tag && same_name(self.name(usize::from(entry & 0xFF) - 1), name) {
                return None;
            }
            slot = (slot + 1) % self.slots.len();
        }
        Some((slot, tag))
    }
}

/// The first slot of `name`'s probe sequence and its tag (the hash's top byte, as a slot's
/// high byte).
fn probe_start(keys: &RandomState, name: &str) -> (usize, u16) {
    let hash = keys.hash_one(name);
    let slot = (hash as usize) % (2 * MAX_JSON_MEMBERS);
    (slot, ((hash >> 56) as u16) << 8)
}

/// Names are short: comparing them inline beats a `memcmp` call per pair.
fn same_name(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

/// The members of a JSON object, in order, each value kept as raw JSON text: for the
/// inspection paths, which may allocate.
#[derive(Debug)]
pub(crate) struct Members<'j> {
    members: Vec<(Cow<'j, str>, &'j RawValue)>,
}

impl<'j> Members<'j> {
    /// Parses a token's header or payload (see [`for_each_member`]).
    pub(crate) fn parse(json: &'j [u8], part: TokenPart) -> Result<Self, Error> {
        let mut members = Vec::new();
        for_each_member(
            json,
            part,
            |_| true,
            |name, value| {
                members.push((name.clone(), value));
                Ok(())
            },
        )?;
        Ok(Self { members })
    }

    /// Parses a Forge Invocation Token's header or payload (see [`FORGE_LIMITS`]).
    #[cfg_attr(not(feature = "forge"), allow(dead_code))]
    pub(crate) fn parse_within(
        json: &'j [u8],
        part: TokenPart,
        limits: &Limits,
    ) -> Result<Self, Error> {
        let mut members = Vec::new();
        for_each_member_within(
            json,
            part,
            limits,
            |_| true,
            |name, value| {
                members.push((name.clone(), value));
                Ok(())
            },
        )?;
        Ok(Self { members })
    }

    /// Parses a lifecycle callback body (see [`for_each_body_member`]).
    #[cfg_attr(not(feature = "signed-install"), allow(dead_code))]
    pub(crate) fn parse_body(json: &'j [u8]) -> Result<Self, Error> {
        let mut members = Vec::new();
        for_each_body_member(
            json,
            |_| true,
            |name, value| {
                members.push((name.clone(), value));
                Ok(())
            },
        )?;
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

/// The members of a JOSE header that any check reads, found in one pass (limits, duplicates
/// and surrogates ruled by [`for_each_member`]).
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
        let wanted = |name: &str| matches!(name, "alg" | "typ" | "crit" | "kid");
        for_each_member(header_json, TokenPart::Header, wanted, |name, value| {
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

    /// The pre-scan's rules as documented, one byte at a time: no clearing by counts, no
    /// skipping of runs.
    fn naive_scan(json: &[u8], limits: &Limits) -> Result<(), Defect> {
        let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
        let next = |i: usize| json.get(i..).and_then(|rest| rest.iter().find(|b| !ws(b)));
        let count = |n: &mut usize, max: usize, defect: Defect| {
            *n += 1;
            if *n > max {
                Err(defect)
            } else {
                Ok(())
            }
        };
        let Some(start) = json
            .iter()
            .position(|b| !ws(b))
            .filter(|&i| matches!(json[i], b'{' | b'['))
        else {
            return Ok(());
        };
        let mut open = Vec::new();
        let (mut members, mut elements, mut escapes) = (0, 0, 0);
        // Inside a string: whether a high surrogate was just read.
        let mut string: Option<bool> = None;
        let mut i = start;
        while let Some(&b) = json.get(i) {
            i += 1;
            if let Some(high) = string {
                if b == b'\\' {
                    count(&mut escapes, limits.escapes, Defect::Escapes)?;
                    match json.get(i) {
                        None => return Ok(()),
                        Some(b'u') => {
                            let unit = json
                                .get(i + 1..i + 5)
                                .and_then(|hex| core::str::from_utf8(hex).ok())
                                .filter(|hex| hex.bytes().all(|c| c.is_ascii_hexdigit()))
                                .and_then(|hex| u16::from_str_radix(hex, 16).ok())
                                .ok_or(Defect::Escape)?;
                            if high != (0xDC00..=0xDFFF).contains(&unit) {
                                return Err(Defect::Escape);
                            }
                            string = Some((0xD800..=0xDBFF).contains(&unit));
                            i += 5;
                        }
                        Some(_) if high => return Err(Defect::Escape),
                        Some(_) => i += 1,
                    }
                } else if high {
                    return Err(Defect::Escape);
                } else if b == b'"' {
                    string = None;
                    if next(i) == Some(&b':') {
                        count(&mut members, limits.members, Defect::Members)?;
                    }
                }
                continue;
            }
            match b {
                b'"' => string = Some(false),
                b'{' | b'[' => {
                    open.push(b);
                    if open.len() > MAX_JSON_DEPTH {
                        return Err(Defect::Depth);
                    }
                    if b == b'[' && next(i).is_some_and(|&c| c != b']') {
                        count(&mut elements, limits.elements, Defect::Elements)?;
                    }
                }
                b'}' | b']' => {
                    open.pop();
                    if open.is_empty() {
                        return Ok(());
                    }
                }
                b',' if open.last() == Some(&b'[') => {
                    count(&mut elements, limits.elements, Defect::Elements)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    const SMALL: Limits = Limits {
        members: 3,
        elements: 3,
        escapes: 3,
    };

    #[test]
    fn scan_at_and_past_each_limit() {
        let cases: &[(&str, Result<(), Defect>)] = &[
            (r#"{"a":1,"b":{"c":2}}"#, Ok(())),
            (r#"{"a":1,"b":{"c":2,"d":3}}"#, Err(Defect::Members)),
            (r#"{"a":"x:y","b":":","c":[":"]}"#, Ok(())),
            (
                r#"{"a" :1, "b"	:2, "c"
:3, "d":4}"#,
                Err(Defect::Members),
            ),
            (r#"{"a":[1,[]],"b":[2]}"#, Ok(())),
            (r#"{"a":[1,[]],"b":[2,3]}"#, Err(Defect::Elements)),
            (r#"{"a":[1,[2],[]]}"#, Err(Defect::Elements)),
            (r#"{"a":[ ], "b":[1, 2],"c":[ 3 ]}"#, Ok(())),
            (r#"{"a":"\n\t\/"}"#, Ok(())),
            (r#"{"\u0061":"\n\t"}"#, Ok(())),
            (r#"{"a":"\ud83d\ude00\n"}"#, Ok(())),
            (r#"{"a":"\n\t\/\\"}"#, Err(Defect::Escapes)),
            (r#"{"a":"\ud800"}"#, Err(Defect::Escape)),
            (r#"{"a":"\udc00"}"#, Err(Defect::Escape)),
            (r#"{"a":"\ud800\n"}"#, Err(Defect::Escape)),
            (r#"{"a":"\ud800x\udc00"}"#, Err(Defect::Escape)),
            (r#"{"a":"\u12"}"#, Err(Defect::Escape)),
            (r#"{"a":"\u+123"}"#, Err(Defect::Escape)),
            // The first defect in text order.
            (r#"{"a":"\ud800","b":[1,2,3,4]}"#, Err(Defect::Escape)),
            (r#"{"b":[1,2,3,4],"a":"\ud800"}"#, Err(Defect::Elements)),
            // Only the first value, and only an array or object, is read.
            (r#"{"a":1} {"b":2,"c":3,"d":4,"e":5}"#, Ok(())),
            (r#""a":1,"b":2,"c":3,"d":4"#, Ok(())),
            (r#"x{"a":1,"b":2,"c":3,"d":4}"#, Ok(())),
            (r#"[1,2,3,4]"#, Err(Defect::Elements)),
            (r#"{"a":"unterminated \ud800"#, Ok(())),
            (r#"{"a":"unterminated \ud800x"#, Err(Defect::Escape)),
            (r#"{"a":"unterminated \ud800\"#, Ok(())),
        ];
        for (json, want) in cases {
            assert_eq!(scan(json.as_bytes(), &SMALL), *want, "{json}");
            assert_eq!(prescan(json.as_bytes(), &SMALL), *want, "{json}");
            assert_eq!(naive_scan(json.as_bytes(), &SMALL), *want, "{json}");
        }
        let nest = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        let deep = |n: usize| format!(r#"{{"a":{}}}"#, nest(n));
        assert_eq!(
            scan(deep(MAX_JSON_DEPTH - 1).as_bytes(), &BODY_LIMITS),
            Ok(())
        );
        assert_eq!(
            scan(deep(MAX_JSON_DEPTH).as_bytes(), &BODY_LIMITS),
            Err(Defect::Depth)
        );
        assert_eq!(
            scan("[".repeat(5_000).as_bytes(), &BODY_LIMITS),
            Err(Defect::Depth)
        );
    }

    #[test]
    fn scan_at_the_token_limits() {
        // Values with a `":` inside defeat the clearing count, so the scan itself decides.
        let members = |n: usize| {
            let members: Vec<String> = (0..n).map(|i| format!(r#""k{i}":":""#)).collect();
            format!("{{{}}}", members.join(","))
        };
        assert!(!clearly_within(
            members(MAX_JSON_MEMBERS).as_bytes(),
            &TOKEN_LIMITS
        ));
        assert_eq!(
            prescan(members(MAX_JSON_MEMBERS).as_bytes(), &TOKEN_LIMITS),
            Ok(())
        );
        assert_eq!(
            prescan(members(MAX_JSON_MEMBERS + 1).as_bytes(), &TOKEN_LIMITS),
            Err(Defect::Members)
        );
        let elements =
            |n: usize| format!(r#"{{"a":"\ud800\udc00","b":[{}]}}"#, vec!["0"; n].join(","));
        assert!(!clearly_within(elements(1).as_bytes(), &TOKEN_LIMITS));
        assert_eq!(
            prescan(elements(MAX_JSON_ARRAY_LEN).as_bytes(), &TOKEN_LIMITS),
            Ok(())
        );
        assert_eq!(
            prescan(elements(MAX_JSON_ARRAY_LEN + 1).as_bytes(), &TOKEN_LIMITS),
            Err(Defect::Elements)
        );
        let escapes = |n: usize| format!(r#"{{"a":"\ud800\udc00{}"}}"#, r"\n".repeat(n - 2));
        assert_eq!(
            prescan(escapes(MAX_JSON_ESCAPES).as_bytes(), &TOKEN_LIMITS),
            Ok(())
        );
        assert_eq!(
            prescan(escapes(MAX_JSON_ESCAPES + 1).as_bytes(), &TOKEN_LIMITS),
            Err(Defect::Escapes)
        );
        // Ordinary texts are cleared by the count.
        assert!(clearly_within(
            br#"{"iss":"jira:1","iat":1,"exp":2,"aud":["a","b"],"x":"\u00e9\n"}"#,
            &TOKEN_LIMITS
        ));
    }

    proptest::proptest! {
        /// The optimized pre-scan (clearing by counts, runs skipped in bulk) is the rules.
        #[test]
        fn prescan_is_the_documented_scan(
            pieces in proptest::collection::vec(proptest::sample::select(SCAN_PIECES), 0..40),
        ) {
            let json = pieces.concat();
            for limits in [&SMALL, &TOKEN_LIMITS, &BODY_LIMITS] {
                let want = naive_scan(json.as_bytes(), limits);
                proptest::prop_assert_eq!(prescan(json.as_bytes(), limits), want, "{}", json);
                if clearly_within(json.as_bytes(), limits) {
                    proptest::prop_assert_eq!(want, Ok(()), "{}", json);
                }
            }
        }
    }

    const SCAN_PIECES: &[&str] = &[
        "{", "}", "[", "]", ",", ":", " ", "\n", "\"", "\\", "a", "0", "\"a\"", "\"a\":",
        "\"a\" :", "\":\"", "\"x:y\"", "\"\\u0061\"", "\"\\ud83d\\ude00\"", "\"\\ud800\"",
        "\"\\udc00\"", "\"\\ud800\\n\"", "\"\\n\\t\"", "\"\\\\\"", "\"\\u12\"", "\\u0061",
        "\\ud800", "\"\\\"\"", "[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]",
        "[[[[[[[[[[", "]]]]]]]]]]",
        "{\"k0\":0,\"k1\":0,\"k2\":0,\"k3\":0,\"k4\":0,\"k5\":0,\"k6\":0,\"k7\":0,\"k8\":0,\"k9\":0}",
        "\"\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\"",
        "                                        ",
        "\"a long string value that is more than thirty-two bytes long, with a : and a , in it\"",
    ];

    #[test]
    fn repeated_names_found_wherever_they_are() {
        let names =
            |n: usize| -> Vec<String> { (0..n).map(|i| format!(r#""n{i}":{i}"#)).collect() };
        let object = |names: &[String]| format!("{{{}}}", names.join(","));
        // Linear, at the switch to the table, in the table; escaped and not.
        for len in [2, LINEAR_NAMES, LINEAR_NAMES + 1, MAX_JSON_MEMBERS] {
            let all = names(len);
            let text = object(&all);
            let parsed = Members::parse(text.as_bytes(), TokenPart::Payload).unwrap();
            assert_eq!(parsed.into_vec().len(), len);
            for first in [0, (len - 1) / 2, len - 2] {
                let mut repeated = all.clone();
                repeated[len - 1] = format!(r#""\u006e{first}":0"#);
                assert_eq!(
                    Members::parse(object(&repeated).as_bytes(), TokenPart::Payload).unwrap_err(),
                    Error::DuplicateMember(TokenPart::Payload),
                    "n{first} again at {len}"
                );
            }
        }
        // Escaped names are kept unescaped, each once: a later plain spelling repeats them.
        let mut escaped: Vec<String> = (0..40).map(|i| format!(r#""\u006e{i}":0"#)).collect();
        let text = object(&escaped);
        let parsed = Members::parse(text.as_bytes(), TokenPart::Payload).unwrap();
        assert_eq!(parsed.get("n39").map(RawValue::get), Some("0"));
        escaped.push(r#""n39":1"#.to_owned());
        assert_eq!(
            Members::parse(object(&escaped).as_bytes(), TokenPart::Payload).unwrap_err(),
            Error::DuplicateMember(TokenPart::Payload)
        );
    }

    #[test]
    fn a_lifecycle_body_has_no_member_array_or_escape_limit() {
        let names =
            |n: usize| -> Vec<String> { (0..n).map(|i| format!(r#""n{i}":[0,"\n"]"#)).collect() };
        let mut body = names(3 * MAX_JSON_MEMBERS);
        let object = |names: &[String]| format!("{{{}}}", names.join(","));
        let mut seen = 0;
        let walked = for_each_body_member(
            object(&body).as_bytes(),
            |_| true,
            |_, _| {
                seen += 1;
                Ok(())
            },
        );
        assert_eq!((walked, seen), (Ok(()), 3 * MAX_JSON_MEMBERS));
        let text = object(&body);
        let parsed = Members::parse_body(text.as_bytes()).unwrap();
        assert_eq!(parsed.into_vec().len(), 3 * MAX_JSON_MEMBERS);
        body.push(r#""n100":1"#.to_owned());
        assert_eq!(
            for_each_body_member(object(&body).as_bytes(), |_| true, |_, _| Ok(())),
            Err(Error::DuplicateMember(TokenPart::Payload))
        );
        // Nesting and lone surrogates are still refused, as not JSON.
        let deep = format!(
            r#"{{"a":{}1{}}}"#,
            "[".repeat(MAX_JSON_DEPTH),
            "]".repeat(MAX_JSON_DEPTH)
        );
        for bad in [deep.as_str(), r#"{"a":"\udc00"}"#] {
            assert_eq!(
                for_each_body_member(bad.as_bytes(), |_| true, |_, _| Ok(())),
                Err(Error::InvalidJson(TokenPart::Payload))
            );
        }
    }

    #[test]
    fn only_wanted_values_are_visited() {
        let mut visited = Vec::new();
        let json = br#"{"a":1,"b":[2],"c":{"d":3},"\u0062b":"x"}"#;
        for_each_member(
            json,
            TokenPart::Header,
            |name| name.starts_with('b'),
            |name, value| {
                visited.push((name.to_string(), value.get().to_owned()));
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(
            visited,
            [
                ("b".to_owned(), "[2]".to_owned()),
                ("bb".to_owned(), r#""x""#.to_owned())
            ]
        );
        // Unwanted values are still checked.
        assert_eq!(
            for_each_member(br#"{"a":tru}"#, TokenPart::Header, |_| false, |_, _| Ok(())),
            Err(Error::InvalidJson(TokenPart::Header))
        );
        assert_eq!(
            for_each_member(
                b"{\"a\":\"\xC3\x28\"}",
                TokenPart::Header,
                |_| false,
                |_, _| Ok(())
            ),
            Err(Error::InvalidJson(TokenPart::Header))
        );
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
