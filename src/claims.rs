//! Typed claims of a Connect token, read strictly: a claim of the wrong type is an error, never
//! "absent" (the jsonwebtoken CVE-2026-25537 mistake).
//!
//! The decoded payload is kept inline (no heap allocation for ordinary tokens) and string
//! claims are spans of it; only strings with JSON escapes are copied out.

use core::fmt;
use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::{Claim, Error, TokenPart};
use crate::jws::{self, Members};
use crate::time::UnixTime;

/// Payloads up to this many bytes (those of tokens up to 4 KiB) are kept without allocating.
const INLINE_PAYLOAD: usize = 3072;

/// The claims of a verified (or, through [`dangerous`](crate::dangerous), inspected) token.
///
/// `iss`, `iat` and `exp` are always present here; `qsh` is present on every token the
/// verifier accepts. Any other member is available as raw JSON through [`raw`](Self::raw).
#[derive(Clone, PartialEq, Eq)]
pub struct Claims {
    payload: Payload,
    iss: Text,
    sub: Option<Text>,
    aud: Vec<Text>,
    iat: UnixTime,
    exp: UnixTime,
    nbf: Option<UnixTime>,
    qsh: Option<Text>,
    context_account_id: Option<Text>,
}

/// The decoded payload JSON.
// Inline on purpose: keeping ordinary payloads off the heap is the point of this type.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, PartialEq, Eq)]
enum Payload {
    Inline {
        len: usize,
        bytes: [u8; INLINE_PAYLOAD],
    },
    Heap(Vec<u8>),
}

impl Payload {
    fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Inline { len, bytes } => &bytes[..*len],
            Self::Heap(bytes) => bytes,
        }
    }

    fn as_str(&self) -> &str {
        // Claims are only built from payloads that parsed as UTF-8 JSON.
        core::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

/// A string claim: a span of the payload, or its unescaped copy when it had escapes.
#[derive(Clone, PartialEq, Eq)]
enum Text {
    Span { start: usize, end: usize },
    Owned(Box<str>),
}

impl Text {
    fn new(payload: &[u8], value: Cow<'_, str>) -> Self {
        let start = (value.as_ptr() as usize).wrapping_sub(payload.as_ptr() as usize);
        match value {
            Cow::Borrowed(v) if start <= payload.len() && payload.len() - start >= v.len() => {
                Self::Span {
                    start,
                    end: start + v.len(),
                }
            }
            other => Self::Owned(other.into_owned().into_boxed_str()),
        }
    }

    fn get<'c>(&'c self, payload: &'c Payload) -> &'c str {
        match self {
            // Spans are whole JSON strings cut from UTF-8 text: checking the span alone is enough.
            Self::Span { start, end } => payload
                .as_bytes()
                .get(*start..*end)
                .and_then(|b| core::str::from_utf8(b).ok())
                .unwrap_or_default(),
            Self::Owned(s) => s,
        }
    }
}

impl Claims {
    /// Reads a payload segment (base64url) into claims; `iss`, `iat` and `exp` are required.
    ///
    /// The payload is decoded straight into the claims' own buffer, so the kilobytes of an
    /// inline payload are not copied around on the way.
    pub(crate) fn decode(segment: &str) -> Result<Self, Error> {
        let payload = if segment.len() / 4 * 3 + 3 <= INLINE_PAYLOAD {
            Payload::Inline {
                len: 0,
                bytes: [0u8; INLINE_PAYLOAD],
            }
        } else {
            Payload::Heap(jws::decode(segment, TokenPart::Payload)?)
        };
        let mut claims = Self::unread(payload);
        if let Payload::Inline { len, bytes } = &mut claims.payload {
            *len = base64_decode_into(segment, bytes)?;
        }
        claims.read_fields()?;
        Ok(claims)
    }

    /// Reads the payload JSON; `iss`, `iat` and `exp` are required, everything typed.
    pub(crate) fn parse(payload_json: &[u8]) -> Result<Self, Error> {
        let mut claims = Self::unread(Payload::Heap(payload_json.to_vec()));
        claims.read_fields()?;
        Ok(claims)
    }

    /// Claims over `payload` whose fields are not read yet.
    fn unread(payload: Payload) -> Self {
        Self {
            payload,
            iss: Text::Owned(Box::default()),
            sub: None,
            aud: Vec::new(),
            iat: UnixTime::from_secs(0),
            exp: UnixTime::from_secs(0),
            nbf: None,
            qsh: None,
            context_account_id: None,
        }
    }

    fn read_fields(&mut self) -> Result<(), Error> {
        let fields = Fields::read(self.payload.as_bytes())?;
        self.iss = fields.iss.ok_or(Error::MissingClaim(Claim::Iss))?;
        self.iat = fields.iat.ok_or(Error::MissingClaim(Claim::Iat))?;
        self.exp = fields.exp.ok_or(Error::MissingClaim(Claim::Exp))?;
        self.sub = fields.sub;
        self.aud = fields.aud;
        self.nbf = fields.nbf;
        self.qsh = fields.qsh;
        self.context_account_id = fields.context_account_id;
        Ok(())
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
        self.aud.iter().map(|t| t.get(&self.payload)).collect()
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
        self.payload.as_str()
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

fn base64_decode_into(segment: &str, out: &mut [u8]) -> Result<usize, Error> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode_slice(segment, out)
        .map_err(|_| Error::InvalidBase64(TokenPart::Payload))
}

/// The typed claims found in one pass over the payload's members.
#[derive(Default)]
struct Fields {
    iss: Option<Text>,
    sub: Option<Text>,
    aud: Vec<Text>,
    iat: Option<UnixTime>,
    exp: Option<UnixTime>,
    nbf: Option<UnixTime>,
    qsh: Option<Text>,
    context_account_id: Option<Text>,
}

impl Fields {
    fn read(payload: &[u8]) -> Result<Self, Error> {
        let mut fields = Self::default();
        jws::for_each_member(payload, TokenPart::Payload, |name, value| {
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
                "context" => fields.context_account_id = context_account_id(payload, value)?,
                _ => {}
            }
            Ok(())
        })?;
        Ok(fields)
    }
}

fn audience(payload: &[u8], raw: &RawValue) -> Result<Vec<Text>, Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Audience<'a> {
        One(#[serde(borrow)] Cow<'a, str>),
        Many(#[serde(borrow)] Vec<Cow<'a, str>>),
    }
    match serde_json::from_str::<Audience<'_>>(raw.get()) {
        Ok(Audience::One(aud)) => Ok(vec![Text::new(payload, aud)]),
        Ok(Audience::Many(auds)) => Ok(auds.into_iter().map(|a| Text::new(payload, a)).collect()),
        Err(_) => Err(Error::InvalidClaim(Claim::Aud)),
    }
}

/// A NumericDate claim, read as [`UnixTime::from_numeric_date`] reads it.
fn numeric_date(raw: &RawValue) -> Option<UnixTime> {
    UnixTime::from_numeric_date(raw.get())
}

/// `context` must be an object; `context.user.accountId`, when present, a string.
fn context_account_id(payload: &[u8], raw: &RawValue) -> Result<Option<Text>, Error> {
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
        serde_json::from_str(raw.get()).map_err(|_| Error::InvalidClaim(Claim::Context))?;
    Ok(context
        .user
        .and_then(|u| u.account_id)
        .map(|id| Text::new(payload, id)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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
}
