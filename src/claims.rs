//! Typed claims of a Connect token, read strictly: a claim of the wrong type is an error, never
//! "absent" (the jsonwebtoken CVE-2026-25537 mistake).
//!
//! The decoded payload is the one heap allocation of a verification, sized exactly; string
//! claims are spans of it, and only strings with JSON escapes are copied out.

use core::fmt;
use std::borrow::Cow;

use serde::de::{Deserializer as _, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::base64url;
use crate::error::{Claim, Error, TokenPart};
use crate::jws::{self, Members};
use crate::time::UnixTime;

/// The claims of a verified (or, through [`dangerous`](crate::dangerous), inspected) token.
///
/// `iss`, `iat` and `exp` are always present here; `qsh` is present on every token the
/// verifier accepts. Any other member is available as raw JSON through [`raw`](Self::raw).
///
/// Small (a few machine words per claim) and owned: the decoded payload JSON lives in one
/// exactly sized heap block, and the claims are spans of it.
#[derive(Clone, PartialEq, Eq)]
pub struct Claims {
    payload: Box<str>,
    iss: Text,
    sub: Option<Text>,
    aud: Audience,
    iat: UnixTime,
    exp: UnixTime,
    nbf: Option<UnixTime>,
    qsh: Option<Text>,
    context_account_id: Option<Text>,
}

/// A string claim: a span of the payload, or its unescaped copy when it had escapes.
#[derive(Clone, PartialEq, Eq)]
#[cfg_attr(test, derive(Debug))]
enum Text {
    Span { start: u32, end: u32 },
    Owned(Box<str>),
}

impl Text {
    fn new(payload: &[u8], value: Cow<'_, str>) -> Self {
        let start = (value.as_ptr() as usize).wrapping_sub(payload.as_ptr() as usize);
        match value {
            Cow::Borrowed(v) if start <= payload.len() && payload.len() - start >= v.len() => {
                Self::span(start, start + v.len())
            }
            other => Self::Owned(other.into_owned().into_boxed_str()),
        }
    }

    /// Payloads are at most [`MAX_TOKEN_LEN`](crate::MAX_TOKEN_LEN) bytes, so offsets fit.
    fn span(start: usize, end: usize) -> Self {
        let at = |i: usize| u32::try_from(i).unwrap_or(u32::MAX);
        Self::Span {
            start: at(start),
            end: at(end),
        }
    }

    fn get<'c>(&'c self, payload: &'c str) -> &'c str {
        match self {
            // Spans are whole JSON strings cut from UTF-8 text, so on character boundaries.
            Self::Span { start, end } => payload
                .get(*start as usize..*end as usize)
                .unwrap_or_default(),
            Self::Owned(s) => s,
        }
    }
}

/// `aud`: absent, one string (no list allocated for it), or a list.
#[derive(Clone, Default, PartialEq, Eq)]
#[cfg_attr(test, derive(Debug))]
enum Audience {
    #[default]
    Absent,
    One(Text),
    Many(Box<[Text]>),
}

impl Audience {
    fn as_slice(&self) -> &[Text] {
        match self {
            Self::Absent => &[],
            Self::One(text) => core::slice::from_ref(text),
            Self::Many(texts) => texts,
        }
    }
}

impl Claims {
    /// Decodes a payload segment (base64url) and reads its claims; `iss`, `iat` and `exp`
    /// are required. The decoded JSON goes straight into its exactly sized heap block.
    pub(crate) fn decode(segment: &str) -> Result<Self, Error> {
        let invalid = Error::InvalidBase64(TokenPart::Payload);
        // Unpadded base64url: 4 characters are 3 bytes, and a last group of 1 is invalid.
        let Some(exact) = base64url::decoded_len(segment.len()) else {
            return Err(invalid);
        };
        let mut payload = vec![0u8; exact];
        if !base64url::decode_into(segment.as_bytes(), &mut payload) {
            return Err(invalid);
        }
        Self::read(payload.into_boxed_slice())
    }

    /// Reads the payload JSON; `iss`, `iat` and `exp` are required, everything typed.
    pub(crate) fn parse(payload_json: &[u8]) -> Result<Self, Error> {
        Self::read(payload_json.into())
    }

    fn read(payload: Box<[u8]>) -> Result<Self, Error> {
        // Validated as UTF-8 once: claims are then slices of it, not checked again on access.
        let payload = match String::from_utf8(payload.into_vec()) {
            Ok(text) => text.into_boxed_str(),
            Err(e) => {
                return Err(Fields::read(e.as_bytes())
                    .err()
                    .unwrap_or(Error::InvalidJson(TokenPart::Payload)))
            }
        };
        let fields = match plain::read(&payload) {
            Some(fields) => fields,
            None => Fields::read(payload.as_bytes())?,
        };
        Ok(Self {
            iss: fields.iss.ok_or(Error::MissingClaim(Claim::Iss))?,
            iat: fields.iat.ok_or(Error::MissingClaim(Claim::Iat))?,
            exp: fields.exp.ok_or(Error::MissingClaim(Claim::Exp))?,
            sub: fields.sub,
            aud: fields.aud,
            nbf: fields.nbf,
            qsh: fields.qsh,
            context_account_id: fields.context_account_id,
            payload,
        })
    }

    /// `iss`: the tenant's clientKey on tokens the product sends.
    #[must_use]
    pub fn iss(&self) -> &str {
        self.iss.get(&self.payload)
    }

    /// `sub`: the Atlassian account id of the user, when the token acts for one.
    #[must_use]
    pub fn sub(&self) -> Option<&str> {
        self.sub.as_ref().map(|t| t.get(&self.payload))
    }

    /// `aud`, as a list (a single string is a one-element list; absent is empty).
    #[must_use]
    pub fn aud(&self) -> Vec<&str> {
        self.aud
            .as_slice()
            .iter()
            .map(|t| t.get(&self.payload))
            .collect()
    }

    /// `iat`, rounded down to whole seconds.
    #[must_use]
    pub fn iat(&self) -> UnixTime {
        self.iat
    }

    /// `exp`, rounded down to whole seconds.
    #[must_use]
    pub fn exp(&self) -> UnixTime {
        self.exp
    }

    /// `nbf`, rounded down to whole seconds, if present.
    #[must_use]
    pub fn nbf(&self) -> Option<UnixTime> {
        self.nbf
    }

    /// `qsh`: a query string hash in hex, or `context-qsh`.
    #[must_use]
    pub fn qsh(&self) -> Option<&str> {
        self.qsh.as_ref().map(|t| t.get(&self.payload))
    }

    /// `context.user.accountId`, present on context tokens of a logged-in user.
    #[must_use]
    pub fn context_account_id(&self) -> Option<&str> {
        self.context_account_id
            .as_ref()
            .map(|t| t.get(&self.payload))
    }

    /// The raw JSON text of any claim, typed ones included (`raw("context")`).
    #[must_use]
    pub fn raw(&self, name: &str) -> Option<&str> {
        let members = Members::parse(self.payload.as_bytes(), TokenPart::Payload).ok()?;
        members.get(name).map(RawValue::get)
    }

    /// Every claim name with its raw JSON text, in the token's order.
    pub fn iter(&self) -> impl Iterator<Item = (Cow<'_, str>, &str)> {
        Members::parse(self.payload.as_bytes(), TokenPart::Payload)
            .map(Members::into_vec)
            .unwrap_or_default()
            .into_iter()
            .map(|(name, value)| (name, value.get()))
    }

    /// The whole payload, as JSON text.
    #[must_use]
    pub fn payload_json(&self) -> &str {
        &self.payload
    }
}

impl fmt::Debug for Claims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claims")
            .field("iss", &self.iss())
            .field("sub", &self.sub())
            .field("aud", &self.aud())
            .field("iat", &self.iat)
            .field("exp", &self.exp)
            .field("nbf", &self.nbf)
            .field("qsh", &self.qsh())
            .field("context_account_id", &self.context_account_id())
            .finish_non_exhaustive()
    }
}

/// The typed claims found in one pass over the payload's members.
#[derive(Default)]
#[cfg_attr(test, derive(PartialEq))]
struct Fields {
    iss: Option<Text>,
    sub: Option<Text>,
    aud: Audience,
    iat: Option<UnixTime>,
    exp: Option<UnixTime>,
    nbf: Option<UnixTime>,
    qsh: Option<Text>,
    context_account_id: Option<Text>,
}

impl Fields {
    fn read(payload: &[u8]) -> Result<Self, Error> {
        let mut fields = Self::default();
        let wanted = |name: &str| {
            matches!(
                name,
                "iss" | "sub" | "qsh" | "aud" | "iat" | "exp" | "nbf" | "context"
            )
        };
        jws::for_each_member(payload, TokenPart::Payload, wanted, |name, value| {
            let text = |claim| {
                jws::json_str(value)
                    .map(|v| Text::new(payload, v))
                    .ok_or(Error::InvalidClaim(claim))
            };
            let date = |claim| numeric_date(value).ok_or(Error::InvalidClaim(claim));
            match name.as_ref() {
                "iss" => fields.iss = Some(text(Claim::Iss)?),
                "sub" => fields.sub = Some(text(Claim::Sub)?),
                "qsh" => fields.qsh = Some(text(Claim::Qsh)?),
                "aud" => fields.aud = audience(payload, value)?,
                "iat" => fields.iat = Some(date(Claim::Iat)?),
                "exp" => fields.exp = Some(date(Claim::Exp)?),
                "nbf" => fields.nbf = Some(date(Claim::Nbf)?),
                "context" => {
                    fields.context_account_id = context_account_id(payload, value.get())?;
                }
                _ => {}
            }
            Ok(())
        })?;
        Ok(fields)
    }
}

/// `aud`: a string or a list of strings. (Told apart by the first byte, not by serde's
/// untagged enums, which buffer every element before trying each variant.)
fn audience(payload: &[u8], raw: &RawValue) -> Result<Audience, Error> {
    let invalid = Error::InvalidClaim(Claim::Aud);
    if raw.get().starts_with('[') {
        /// The list's strings, straight into the claim's spans.
        struct List<'p>(&'p [u8]);

        impl<'de> Visitor<'de> for List<'_> {
            type Value = Vec<Text>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of strings")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Text>, A::Error> {
                let mut texts = Vec::new();
                while let Some(jws::Name(aud)) = seq.next_element()? {
                    texts.push(Text::new(self.0, aud));
                }
                Ok(texts)
            }
        }

        let mut deserializer = serde_json::Deserializer::from_str(raw.get());
        let texts = deserializer
            .deserialize_seq(List(payload))
            .map_err(|_| invalid)?;
        Ok(Audience::Many(texts.into_boxed_slice()))
    } else {
        let aud = jws::json_str(raw).ok_or(invalid)?;
        Ok(Audience::One(Text::new(payload, aud)))
    }
}

/// A NumericDate claim, read as [`UnixTime::from_numeric_date`] reads it.
fn numeric_date(raw: &RawValue) -> Option<UnixTime> {
    UnixTime::from_numeric_date(raw.get())
}

/// `context` must be an object; `context.user.accountId`, when present, a string.
fn context_account_id(payload: &[u8], raw: &str) -> Result<Option<Text>, Error> {
    #[derive(Deserialize)]
    struct Context<'a> {
        #[serde(borrow)]
        user: Option<User<'a>>,
    }
    #[derive(Deserialize)]
    struct User<'a> {
        #[serde(rename = "accountId", borrow)]
        account_id: Option<Cow<'a, str>>,
    }
    let context: Context<'_> =
        serde_json::from_str(raw).map_err(|_| Error::InvalidClaim(Claim::Context))?;
    Ok(context
        .user
        .and_then(|u| u.account_id)
        .map(|id| Text::new(payload, id)))
}

/// The payloads Connect implementations write, read without serde_json: compact JSON (no
/// whitespace), names and strings without escapes, at most 16 top-level members, no repeated
/// names, within the general reader's limits. Anything else, and every error, goes to
/// [`Fields::read`], so one set of rules decides what is valid; this only has to accept a
/// subset of it and read that subset the same way. It gives up at the first byte it does not
/// read (whitespace, an escape) or the first member, element or level too many, so the
/// general reader, which then reads the whole payload, has little of it read twice.
mod plain {
    use super::{context_account_id, Audience, Fields, Text};
    use crate::jws::{MAX_JSON_ARRAY_LEN, MAX_JSON_DEPTH, MAX_JSON_MEMBERS};
    use crate::time::UnixTime;

    /// Most top-level names other than the typed claims remembered for the repeated-name
    /// check (a typed claim read twice is found by its field); more go to the general reader.
    const MAX_NAMES: usize = 16;

    /// The typed claims of `payload`, or `None` to leave it to the general reader.
    pub(super) fn read(text: &str) -> Option<Fields> {
        let payload = text.as_bytes();
        let mut scan = Scanner { text, at: 0 };
        let mut counts = Counts::default();
        let mut fields = Fields::default();
        let mut names = [(0, 0); MAX_NAMES];
        // Members of the top-level object, and how many of them are not typed claims.
        let (mut count, mut others) = (0, 0);
        let mut context = None;
        scan.expect(b'{')?;
        if !scan.eat(b'}') {
            loop {
                scan.expect(b'"')?;
                let (start, end) = scan.name()?;
                let name = &payload[start..end];
                count += 1;
                scan.expect(b':')?;
                // A claim read before is a repeated name; other names are compared with the
                // earlier other names.
                let first = |read_before: bool| (!read_before).then_some(());
                match name {
                    b"iss" => {
                        first(fields.iss.is_some())?;
                        fields.iss = Some(scan.text()?);
                    }
                    b"sub" => {
                        first(fields.sub.is_some())?;
                        fields.sub = Some(scan.text()?);
                    }
                    b"qsh" => {
                        first(fields.qsh.is_some())?;
                        fields.qsh = Some(scan.text()?);
                    }
                    // A list of audiences goes to the general reader, which copies them.
                    b"aud" => {
                        first(fields.aud != Audience::Absent)?;
                        fields.aud = Audience::One(scan.text()?);
                    }
                    b"iat" => {
                        first(fields.iat.is_some())?;
                        fields.iat = Some(scan.date()?);
                    }
                    b"exp" => {
                        first(fields.exp.is_some())?;
                        fields.exp = Some(scan.date()?);
                    }
                    b"nbf" => {
                        first(fields.nbf.is_some())?;
                        fields.nbf = Some(scan.date()?);
                    }
                    b"context" => {
                        first(context.is_some())?;
                        let start = scan.at;
                        scan.value(1, &mut counts)?;
                        context = text.get(start..scan.at);
                    }
                    _ => {
                        // Names are short: comparing inline beats a `memcmp` call per pair.
                        let same = |&(s, e): &(usize, usize)| {
                            e - s == name.len()
                                && payload[s..e].iter().zip(name).all(|(a, b)| a == b)
                        };
                        if names[..others].iter().any(same) {
                            return None;
                        }
                        *names.get_mut(others)? = (start, end);
                        others += 1;
                        scan.value(1, &mut counts)?;
                    }
                }
                if scan.eat(b'}') {
                    break;
                }
                scan.expect(b',')?;
            }
        }
        // The top-level members with the nested ones `value` counted.
        if scan.at != payload.len() || count + counts.members > MAX_JSON_MEMBERS {
            return None;
        }
        // Read last, once the rest is known to be plain: a payload left to the general
        // reader costs no second reading of its `context` here.
        if let Some(raw) = context {
            fields.context_account_id = context_account_id(payload, raw).ok()?;
        }
        Some(fields)
    }

    struct Scanner<'j> {
        text: &'j str,
        at: usize,
    }

    /// What [`Scanner::value`] has read so far (kept out of the scanner, which the typed
    /// claims never need them in).
    #[derive(Default)]
    struct Counts {
        /// Members of nested objects.
        members: usize,
        /// Elements of all arrays.
        elements: usize,
    }

    impl Counts {
        /// Counts one more member; `None` past [`MAX_JSON_MEMBERS`].
        fn member(&mut self) -> Option<()> {
            self.members += 1;
            (self.members <= MAX_JSON_MEMBERS).then_some(())
        }

        /// Counts one more array element; `None` past [`MAX_JSON_ARRAY_LEN`].
        fn element(&mut self) -> Option<()> {
            self.elements += 1;
            (self.elements <= MAX_JSON_ARRAY_LEN).then_some(())
        }
    }

    impl Scanner<'_> {
        fn peek(&self) -> Option<u8> {
            self.text.as_bytes().get(self.at).copied()
        }

        fn eat(&mut self, byte: u8) -> bool {
            let found = self.peek() == Some(byte);
            self.at += usize::from(found);
            found
        }

        fn expect(&mut self, byte: u8) -> Option<()> {
            self.eat(byte).then_some(())
        }

        /// After an opening quote: the span of a string without escapes or control
        /// characters, up to its closing quote.
        #[inline(always)]
        fn string(&mut self) -> Option<(usize, usize)> {
            let start = self.at;
            let bytes = self.text.as_bytes();
            // The first `"`, `\\` or control character ends the scan; only a `"` is a plain
            // string's end. Eight bytes a step (SWAR), the last few of the text one by one.
            let rest = bytes.get(start..)?;
            let mut words = rest.chunks_exact(8);
            let mut at = start;
            let stop = 'scan: {
                for word in &mut words {
                    let mut eight = [0u8; 8];
                    eight.copy_from_slice(word);
                    let found = string_stops(u64::from_le_bytes(eight));
                    if found != 0 {
                        break 'scan at + (found.trailing_zeros() / 8) as usize;
                    }
                    at += 8;
                }
                at + words
                    .remainder()
                    .iter()
                    .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?
            };
            self.at = stop + 1;
            (bytes[stop] == b'"').then_some((start, stop))
        }

        fn name(&mut self) -> Option<(usize, usize)> {
            let start = self.at;
            let next4 = self.text.as_bytes().get(start..start + 4);
            if let Some(&[a, b, c, b'"']) = next4 {
                if matches!(
                    &[a, b, c],
                    b"iss" | b"iat" | b"exp" | b"qsh" | b"sub" | b"aud" | b"nbf"
                ) {
                    self.at = start + 4;
                    return Some((start, start + 3));
                }
            }
            self.string()
        }

        /// A string value, as a span of the payload.
        fn text(&mut self) -> Option<Text> {
            self.expect(b'"')?;
            let (start, end) = self.string()?;
            Some(Text::span(start, end))
        }

        /// A NumericDate written as a plain integer within range (what tokens carry);
        /// fractions, exponents, signs and out-of-range values go to the general reader.
        fn date(&mut self) -> Option<UnixTime> {
            let bytes = self.text.as_bytes();
            let start = self.at;
            let mut at = start;
            let mut secs = 0u64;
            // Dates of our time have 10 digits: the first 8 read as one word (SWAR).
            if let Some(word) = bytes.get(at..at + 8) {
                let mut eight = [0u8; 8];
                eight.copy_from_slice(word);
                if let Some(value) = eight_digits(u64::from_le_bytes(eight)) {
                    secs = value;
                    at += 8;
                }
            }
            // More than 12 digits is refused whatever follows: no need to count further.
            while let Some(&d) = bytes.get(at).filter(|d| d.is_ascii_digit()) {
                if at - start == 12 {
                    return None;
                }
                secs = secs * 10 + u64::from(d - b'0');
                at += 1;
            }
            let digits = at - start;
            self.at = at;
            if digits == 0 || (digits > 1 && bytes[start] == b'0') {
                return None;
            }
            if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
                return None;
            }
            (secs <= UnixTime::MAX_NUMERIC_DATE.as_secs()).then_some(UnixTime::from_secs(secs))
        }

        fn value(&mut self, depth: usize, counts: &mut Counts) -> Option<()> {
            match self.peek()? {
                b'"' => {
                    self.at += 1;
                    self.string().map(drop)
                }
                open @ (b'{' | b'[') => {
                    if depth >= MAX_JSON_DEPTH {
                        return None;
                    }
                    self.at += 1;
                    let close = if open == b'{' { b'}' } else { b']' };
                    if self.eat(close) {
                        return Some(());
                    }
                    loop {
                        if open == b'{' {
                            self.expect(b'"')?;
                            self.string()?;
                            counts.member()?;
                            self.expect(b':')?;
                        } else {
                            counts.element()?;
                        }
                        self.value(depth + 1, counts)?;
                        if self.eat(close) {
                            return Some(());
                        }
                        self.expect(b',')?;
                    }
                }
                b't' => self.literal("true"),
                b'f' => self.literal("false"),
                b'n' => self.literal("null"),
                _ => self.number(),
            }
        }

        fn literal(&mut self, word: &str) -> Option<()> {
            let found = self.text.get(self.at..)?.starts_with(word);
            self.at += word.len();
            found.then_some(())
        }

        /// RFC 8259 §6: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
        fn number(&mut self) -> Option<()> {
            let bytes = self.text.as_bytes();
            let mut at = self.at;
            let digits = |at: &mut usize| {
                let start = *at;
                while bytes.get(*at).is_some_and(u8::is_ascii_digit) {
                    *at += 1;
                }
                *at - start
            };
            at += usize::from(bytes.get(at) == Some(&b'-'));
            match bytes.get(at) {
                Some(b'0') => at += 1,
                Some(b'1'..=b'9') => {
                    digits(&mut at);
                }
                _ => return None,
            }
            if bytes.get(at) == Some(&b'.') {
                at += 1;
                if digits(&mut at) == 0 {
                    return None;
                }
            }
            if matches!(bytes.get(at), Some(b'e' | b'E')) {
                at += 1;
                at += usize::from(matches!(bytes.get(at), Some(b'+' | b'-')));
                if digits(&mut at) == 0 {
                    return None;
                }
            }
            self.at = at;
            Some(())
        }
    }

    /// Bytes of `word` that end a plain string's scan (`"`, `\\`, below 0x20), as their
    /// high bits: exact up to the first such byte, which is all the caller reads.
    #[inline(always)]
    fn string_stops(word: u64) -> u64 {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGHS: u64 = 0x8080_8080_8080_8080;
        let zero = |x: u64| x.wrapping_sub(ONES) & !x;
        let quote = zero(word ^ (ONES * u64::from(b'"')));
        let backslash = zero(word ^ (ONES * u64::from(b'\\')));
        let control = word.wrapping_sub(ONES * 0x20) & !word;
        (quote | backslash | control) & HIGHS
    }

    /// The value of eight ASCII digits (first digit in the lowest byte), or `None` if any
    /// byte is not a digit.
    #[inline(always)]
    fn eight_digits(word: u64) -> Option<u64> {
        const EACH: u64 = 0x0101_0101_0101_0101;
        // Every byte 0x30..=0x39: its high nibble 3, and adding 6 keeps it 3.
        let digits = (word & (0xF0 * EACH)) == 0x30 * EACH
            && (word.wrapping_add(6 * EACH) & (0xF0 * EACH)) == 0x30 * EACH;
        if !digits {
            return None;
        }
        let mut v = word - 0x30 * EACH;
        v = (v * 10 + (v >> 8)) & 0x00FF_00FF_00FF_00FF;
        v = (v * 100 + (v >> 16)) & 0x0000_FFFF_0000_FFFF;
        v = (v * 10_000 + (v >> 32)) & 0xFFFF_FFFF;
        Some(v)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::jws::{MAX_JSON_ARRAY_LEN, MAX_JSON_MEMBERS};

    fn parse(json: &str) -> Result<Claims, Error> {
        Claims::parse(json.as_bytes())
    }

    #[test]
    fn required_and_typed() {
        let ok = parse(r#"{"iss":"a","iat":1,"exp":2.9,"qsh":"x","aud":"b","context":{"user":{"accountId":"u"}}}"#)
            .unwrap();
        assert_eq!(ok.exp(), UnixTime::from_secs(2));
        assert_eq!(ok.aud(), ["b"]);
        assert_eq!(ok.context_account_id(), Some("u"));
        assert_eq!(ok.raw("context"), Some(r#"{"user":{"accountId":"u"}}"#));
        assert_eq!(
            parse(r#"{"iat":1,"exp":2}"#),
            Err(Error::MissingClaim(Claim::Iss))
        );
        assert_eq!(
            parse(r#"{"iss":"a","exp":2}"#),
            Err(Error::MissingClaim(Claim::Iat))
        );
        assert_eq!(
            parse(r#"{"iss":"a","iat":1}"#),
            Err(Error::MissingClaim(Claim::Exp))
        );
        assert_eq!(
            parse(r#"{"iss":1,"iat":1,"exp":2}"#),
            Err(Error::InvalidClaim(Claim::Iss))
        );
        assert_eq!(
            parse(r#"{"iss":null,"iat":1,"exp":2}"#),
            Err(Error::InvalidClaim(Claim::Iss))
        );
        assert_eq!(
            parse(r#"{"iss":"a","iat":1,"exp":2,"aud":3}"#),
            Err(Error::InvalidClaim(Claim::Aud))
        );
        assert_eq!(
            parse(r#"{"iss":"a","iat":1,"exp":2,"context":[]}"#),
            Err(Error::InvalidClaim(Claim::Context))
        );
        assert_eq!(
            parse(r#"{"iss":"a","iat":1,"exp":2,"context":{"user":{"accountId":5}}}"#),
            Err(Error::InvalidClaim(Claim::Context))
        );
    }

    #[test]
    fn payloads_of_every_length_decode_exactly() {
        use base64::Engine as _;
        // Every remainder of the segment length, short and long payloads.
        for filler in (0..8).chain([1000, 3100, 6000]) {
            let json = format!(
                r#"{{"iss":"a","iat":1,"exp":2,"x":"{}"}}"#,
                "y".repeat(filler)
            );
            let segment = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&json);
            let claims = Claims::decode(&segment).unwrap();
            assert_eq!(claims.payload_json(), json);
            assert_eq!(claims.payload.len(), json.len(), "{filler}");
            assert_eq!((claims.iss(), claims.exp()), ("a", UnixTime::from_secs(2)));
        }
        // A length no base64url text has, and non-zero trailing bits.
        for bad in ["eyJhIjoxfQx", "eyJhIjoxfR"] {
            assert_eq!(
                Claims::decode(bad),
                Err(Error::InvalidBase64(TokenPart::Payload)),
                "{bad}"
            );
        }
    }

    #[test]
    fn claims_are_small() {
        // A few words per claim; the payload is behind one pointer.
        assert!(
            core::mem::size_of::<Claims>() <= 192,
            "{}",
            core::mem::size_of::<Claims>()
        );
    }

    #[test]
    fn numeric_dates_are_strict() {
        for exp in [
            "\"9999999999\"",
            "1e400",
            "-1",
            "-0",
            "-0.0",
            "18446744073709551616",
            "true",
            "null",
            "[]",
            "1e300",
            "9223372036854775807",
        ] {
            let json = format!(r#"{{"iss":"a","iat":1,"exp":{exp}}}"#);
            assert_eq!(
                parse(&json),
                Err(Error::InvalidClaim(Claim::Exp)),
                "exp {exp}"
            );
        }
        let nbf = parse(r#"{"iss":"a","iat":1,"exp":2,"nbf":"99999999999"}"#);
        assert_eq!(nbf, Err(Error::InvalidClaim(Claim::Nbf)));
    }

    /// Whatever the plain reader accepts, the general reader accepts and reads the same way.
    fn plain_agrees(json: &[u8]) -> bool {
        let Some(plain) = core::str::from_utf8(json).ok().and_then(plain::read) else {
            return false;
        };
        let general = Fields::read(json);
        assert!(
            general.as_ref().is_ok_and(|g| *g == plain),
            "{:?}",
            String::from_utf8_lossy(json)
        );
        true
    }

    #[test]
    fn plain_reader_agrees_with_the_general_one() {
        let accepted = [
            r#"{"iss":"a","iat":1700000000,"exp":1700000180,"qsh":"context-qsh"}"#,
            r#"{"iss":"a","aud":"x","nbf":0,"z":[1,-0.5e+3,true,null,{"k":[false,{}]}]}"#,
            r#"{"aud":"","context":{"user":{"accountId":"u","x":1}},"sub":"é"}"#,
            r#"{"context":{},"exp":253402300799}"#,
            r#"{}"#,
        ];
        for json in accepted {
            assert!(plain_agrees(json.as_bytes()), "{json}");
        }
        let left_to_the_general_reader = [
            r#" { "iss" : "a" , "aud" : "x" , "nbf" : 0 , "z" : [1, -0.5e+3, true, null, {"k": [false, {}]}] } "#,
            "{\"iss\":\"a\"}\n",
            r#"{"z":[1, 2]}"#,
            r#"{"iss":"\u0061"}"#,
            r#"{"aud":["a"]}"#,
            r#"{"a":1,"a":2}"#,
            r#"{"iss":"a","iss":"a"}"#,
            r#"{"sub":"a","x":1,"sub":"b"}"#,
            r#"{"qsh":"a","qsh":"a"}"#,
            r#"{"aud":"a","aud":"a"}"#,
            r#"{"iat":1,"iat":1}"#,
            r#"{"exp":1,"exp":2}"#,
            r#"{"nbf":1,"nbf":1}"#,
            r#"{"context":{},"context":{}}"#,
            r#"{"iat":1.5}"#,
            r#"{"iat":01}"#,
            r#"{"exp":253402300800}"#,
            r#"{"iat":"1"}"#,
            r#"{"iss":1}"#,
            r#"{"context":[]}"#,
            r#"{"context":{"user":{"accountId":5}}}"#,
            r#"{"context":{"user":1,"user":2}}"#,
            r#"{"a":1,}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":tru}"#,
            r#"{"a":-}"#,
            r#"{"a":1.}"#,
            r#"{"a":1e}"#,
            r#"{"a":+1}"#,
            "{\"a\":\"\u{1}\"}",
            "{\"a\":\"\t\"}",
            "\u{feff}{}",
            r#"{} x"#,
            r#"[]"#,
        ];
        for json in left_to_the_general_reader {
            assert!(!plain_agrees(json.as_bytes()), "{json}");
        }
        let deep = |n| format!(r#"{{"a":{}1{}}}"#, "[".repeat(n), "]".repeat(n));
        assert!(plain_agrees(deep(31).as_bytes()));
        assert!(!plain_agrees(deep(32).as_bytes()));
        assert!(!plain_agrees(b"{\"a\":\"\xC3\x28\"}"));
        // The limits, as the general reader counts them: members over all objects, elements
        // over all arrays.
        let members = |n: usize| {
            let nested: Vec<String> = (0..n).map(|i| format!(r#""k{i}":{{}}"#)).collect();
            format!(
                r#"{{"iss":"a","iat":1,"exp":2,"x":{{{}}}}}"#,
                nested.join(",")
            )
        };
        assert!(plain_agrees(members(MAX_JSON_MEMBERS - 4).as_bytes()));
        assert!(!plain_agrees(members(MAX_JSON_MEMBERS - 3).as_bytes()));
        let elements = |n: usize| {
            format!(
                r#"{{"iss":"a","a":[[],{}],"b":[true]}}"#,
                vec!["0"; n - 2].join(",")
            )
        };
        assert!(plain_agrees(elements(MAX_JSON_ARRAY_LEN).as_bytes()));
        assert!(!plain_agrees(elements(MAX_JSON_ARRAY_LEN + 1).as_bytes()));
        assert_eq!(
            Fields::read(members(MAX_JSON_MEMBERS - 3).as_bytes()).err(),
            Some(Error::TooManyMembers(TokenPart::Payload))
        );
        assert_eq!(
            Fields::read(elements(MAX_JSON_ARRAY_LEN + 1).as_bytes()).err(),
            Some(Error::ArrayTooLong(TokenPart::Payload))
        );
    }

    /// The plain reader's word-at-a-time scans, at every alignment: a string ends at its
    /// first `"`, and a `\\` or control character anywhere before it leaves the payload to
    /// the general reader; dates of every digit count around 8 and 12, leading zeros and
    /// fractions as the general reader reads them.
    #[test]
    fn plain_reader_scans_by_the_word() {
        for len in 0..40 {
            let plain = "x".repeat(len);
            let json = format!(r#"{{"iss":"{plain}","iat":1,"exp":2}}"#);
            assert!(plain_agrees(json.as_bytes()), "{json}");
            assert_eq!(parse(&json).unwrap().iss(), plain);
            for at in 0..len {
                for special in ["\\u0078", "\\\"", "\u{1}", "\u{1f}"] {
                    let mut text = plain.clone();
                    text.replace_range(at..=at, special);
                    let json = format!(r#"{{"iss":"{text}","iat":1,"exp":2}}"#);
                    assert!(!plain_agrees(json.as_bytes()), "{json}");
                }
            }
            // Cut short: no closing quote at all.
            let json = format!(r#"{{"iss":"{plain}"#);
            assert!(!plain_agrees(json.as_bytes()), "{json}");
        }
        for digits in (1..=14).chain([20, 25]) {
            for first in ['0', '1', '2', '9'] {
                let number: String = core::iter::once(first)
                    .chain((1..digits).map(|i| char::from(b'0' + (i * 7 % 10) as u8)))
                    .collect();
                for after in ["", ".5", "e1", "x"] {
                    let json = format!(r#"{{"iss":"a","iat":{number}{after},"exp":2}}"#);
                    let plain = plain_agrees(json.as_bytes());
                    let expected = after.is_empty()
                        && (digits == 1 || first != '0')
                        && number.parse::<u128>().unwrap()
                            <= u128::from(UnixTime::MAX_NUMERIC_DATE.as_secs());
                    assert_eq!(plain, expected, "{json}");
                    if plain {
                        assert_eq!(
                            u128::from(parse(&json).unwrap().iat().as_secs()),
                            number.parse::<u128>().unwrap()
                        );
                    }
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn plain_reader_never_disagrees(
            pieces in proptest::collection::vec(proptest::sample::select(PIECES), 0..24),
            members in proptest::collection::vec(
                (proptest::sample::select(NAMES), proptest::sample::select(PIECES)),
                0..8,
            ),
        ) {
            let soup = pieces.concat();
            plain_agrees(soup.as_bytes());
            plain_agrees(format!("{{{soup}}}").as_bytes());
            let members: Vec<String> = members.iter().map(|(n, v)| format!("{n}:{v}")).collect();
            plain_agrees(format!("{{{}}}", members.join(",")).as_bytes());
        }
    }

    const NAMES: &[&str] = &[
        "\"iss\"",
        "\"qsh\"",
        "\"aud\"",
        "\"iat\"",
        "\"exp\"",
        "\"nbf\"",
        "\"sub\"",
        "\"context\"",
        "\"a\"",
        "\"\\u0061\"",
        " \"é\" ",
    ];

    const PIECES: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        " ",
        "\n",
        "\"iss\"",
        "\"a\"",
        "\"\\u0061\"",
        "\"é\"",
        "\"\u{1}\"",
        "\"",
        "1",
        "0",
        "-",
        ".",
        "e",
        "E",
        "+",
        "12",
        "-0.5e+3",
        "1700000000",
        "1700000000.5",
        "253402300799",
        "253402300800",
        "true",
        "false",
        "null",
        "tru",
        "[1,{\"k\":[]}]",
        "{\"user\":{\"accountId\":\"u\"}}",
        "{\"user\":{\"accountId\":1}}",
        "{\"user\":null}",
        // Large enough that a few of them cross the member and element limits.
        "[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]",
        "{\"k0\":0,\"k1\":0,\"k2\":0,\"k3\":0,\"k4\":0,\"k5\":0,\"k6\":0,\"k7\":0,\"k8\":0,\"k9\":0,\"k10\":0,\"k11\":0,\"k12\":0,\"k13\":0,\"k14\":0,\"k15\":0,\"k16\":0,\"k17\":0,\"k18\":0,\"k19\":[]}",
        "[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]",
    ];
}
