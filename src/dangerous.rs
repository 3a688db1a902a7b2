//! Reading a token without verifying it: for debuggers and logs only, never for decisions.

use crate::claims::Claims;
use crate::error::{Error, TokenPart};
use crate::jws::{self, Members};
use crate::time::UnixTime;

/// A token's decoded header and payload, **not verified**: anyone can write anything here.
#[derive(Clone, Debug)]
pub struct UnverifiedParts {
    header: String,
    payload: String,
}

impl UnverifiedParts {
    /// The header's JSON text, as sent.
    #[must_use]
    pub fn header_json(&self) -> &str {
        &self.header
    }

    /// The payload's JSON text, as sent.
    #[must_use]
    pub fn payload_json(&self) -> &str {
        &self.payload
    }

    /// The header's `alg`, if it is a string.
    #[must_use]
    pub fn algorithm(&self) -> Option<String> {
        let members = Members::parse(self.header.as_bytes(), TokenPart::Header).ok()?;
        serde_json::from_str(members.get("alg")?.get()).ok()
    }

    /// The payload read as typed claims (the same strict rules as verification).
    ///
    /// # Errors
    ///
    /// Missing or mistyped claims.
    pub fn claims(&self) -> Result<Claims, Error> {
        Claims::parse(self.payload.as_bytes())
    }
}

/// Decodes a token's header and payload **without checking its signature**.
///
/// The form is still checked strictly (size, three canonical base64url segments, JSON
/// objects without duplicate members), so what this shows is what the verifier would see.
///
/// ```
/// use atlassian_connect_jwt::dangerous::decode_unverified;
///
/// let parts = decode_unverified("eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ0ZXN0LWNsaWVudC1rZXkiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMDE4MCwicXNoIjoiY29udGV4dC1xc2gifQ.Y_-fycsTC1VmKefYSFe0PL3HLJ3yBoGVJPW68NX1nfo")?;
/// assert_eq!(parts.algorithm().as_deref(), Some("HS256"));
/// assert_eq!(parts.claims()?.qsh(), Some("context-qsh"));
/// # Ok::<(), atlassian_connect_jwt::Error>(())
/// ```
///
/// # Errors
///
/// Form errors: [`Error::TokenTooLarge`], [`Error::MalformedToken`], [`Error::InvalidBase64`],
/// the JSON limits ([`Error::TooManyMembers`], [`Error::NestingTooDeep`],
/// [`Error::ArrayTooLong`], [`Error::TooManyEscapes`]), [`Error::InvalidJson`],
/// [`Error::DuplicateMember`].
pub fn decode_unverified(token: &str) -> Result<UnverifiedParts, Error> {
    let segments = jws::split(token)?;
    let header = jws::decode(segments.header, TokenPart::Header)?;
    let payload = jws::decode(segments.payload, TokenPart::Payload)?;
    Members::parse(&header, TokenPart::Header)?;
    Members::parse(&payload, TokenPart::Payload)?;
    // Both parsed as UTF-8 JSON above.
    let text =
        |bytes: Vec<u8>, part| String::from_utf8(bytes).map_err(|_| Error::InvalidJson(part));
    Ok(UnverifiedParts {
        header: text(header, TokenPart::Header)?,
        payload: text(payload, TokenPart::Payload)?,
    })
}

/// Reads a JWT NumericDate from the JSON text of a claim value exactly as the verifier does:
/// a JSON number (not a string), finite, not negative (not even `-0`), no later than
/// [`UnixTime::MAX_NUMERIC_DATE`]; fractions are rounded down. For debuggers that show why a
/// date was refused.
///
/// ```
/// use atlassian_connect_jwt::{dangerous::numeric_date, UnixTime};
///
/// assert_eq!(numeric_date("1700000100.5"), Some(UnixTime::from_secs(1_700_000_100)));
/// assert_eq!(numeric_date("\"1700000100\""), None);
/// assert_eq!(numeric_date("-0"), None);
/// assert_eq!(numeric_date("1e300"), None);
/// ```
#[must_use]
pub fn numeric_date(json: &str) -> Option<UnixTime> {
    UnixTime::from_numeric_date(json)
}
