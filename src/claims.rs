//! Typed claims of a Connect token, read strictly: a claim of the wrong type is an error, never
//! "absent" (the jsonwebtoken CVE-2026-25537 mistake).

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::{Claim, Error, TokenPart};
use crate::jws::Members;
use crate::time::UnixTime;

/// Latest NumericDate accepted: 9999-12-31T23:59:59Z. Later dates are invalid claims.
const MAX_NUMERIC_DATE: u64 = 253_402_300_799;

/// The claims of a verified (or, through [`dangerous`](crate::dangerous), inspected) token.
///
/// `iss`, `iat` and `exp` are always present here; `qsh` is present on every token the
/// verifier accepts. Any other member is available as raw JSON through
/// [`raw`](Self::raw).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    iss: String,
    sub: Option<String>,
    aud: Vec<String>,
    iat: UnixTime,
    exp: UnixTime,
    nbf: Option<UnixTime>,
    qsh: Option<String>,
    context_account_id: Option<String>,
    members: Vec<(String, String)>,
}

impl Claims {
    /// Reads the payload JSON; `iss`, `iat` and `exp` are required, everything typed.
    pub(crate) fn parse(payload_json: &[u8]) -> Result<Self, Error> {
        let members = Members::parse(payload_json, TokenPart::Payload)?;
        Self::from_members(&members)
    }

    fn from_members(members: &Members<'_>) -> Result<Self, Error> {
        let iss = string(members, Claim::Iss)?.ok_or(Error::MissingClaim(Claim::Iss))?;
        let sub = string(members, Claim::Sub)?;
        let aud = audience(members)?;
        let iat = numeric_date(members, Claim::Iat)?.ok_or(Error::MissingClaim(Claim::Iat))?;
        let exp = numeric_date(members, Claim::Exp)?.ok_or(Error::MissingClaim(Claim::Exp))?;
        let nbf = numeric_date(members, Claim::Nbf)?;
        let qsh = string(members, Claim::Qsh)?;
        let context_account_id = context_account_id(members)?;
        Ok(Self {
            iss,
            sub,
            aud,
            iat,
            exp,
            nbf,
            qsh,
            context_account_id,
            members: members
                .iter()
                .map(|(k, v)| (k.to_owned(), v.get().to_owned()))
                .collect(),
        })
    }

    /// `iss`: the tenant's clientKey on tokens the product sends.
    #[must_use]
    pub fn iss(&self) -> &str {
        &self.iss
    }

    /// `sub`: the Atlassian account id of the user, when the token acts for one.
    #[must_use]
    pub fn sub(&self) -> Option<&str> {
        self.sub.as_deref()
    }

    /// `aud`, as a list (a single string becomes a one-element list; absent is empty).
    #[must_use]
    pub fn aud(&self) -> &[String] {
        &self.aud
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
        self.qsh.as_deref()
    }

    /// `context.user.accountId`, present on context tokens of a logged-in user.
    #[must_use]
    pub fn context_account_id(&self) -> Option<&str> {
        self.context_account_id.as_deref()
    }

    /// The raw JSON text of any claim, typed ones included (`raw("context")`).
    #[must_use]
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.members
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every claim name with its raw JSON text, in the token's order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.members.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

fn name(claim: Claim) -> &'static str {
    match claim {
        Claim::Iss => "iss",
        Claim::Sub => "sub",
        Claim::Aud => "aud",
        Claim::Iat => "iat",
        Claim::Exp => "exp",
        Claim::Nbf => "nbf",
        Claim::Qsh => "qsh",
        Claim::Context => "context",
    }
}

fn string(members: &Members<'_>, claim: Claim) -> Result<Option<String>, Error> {
    members
        .get(name(claim))
        .map(|raw| {
            serde_json::from_str::<String>(raw.get()).map_err(|_| Error::InvalidClaim(claim))
        })
        .transpose()
}

fn audience(members: &Members<'_>) -> Result<Vec<String>, Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Audience {
        One(String),
        Many(Vec<String>),
    }
    match members.get("aud") {
        None => Ok(Vec::new()),
        Some(raw) => match serde_json::from_str::<Audience>(raw.get()) {
            Ok(Audience::One(aud)) => Ok(vec![aud]),
            Ok(Audience::Many(auds)) => Ok(auds),
            Err(_) => Err(Error::InvalidClaim(Claim::Aud)),
        },
    }
}

/// A NumericDate: a JSON number, finite, not negative (not even `-0`), at most year 9999;
/// fractions are rounded down.
fn numeric_date(members: &Members<'_>, claim: Claim) -> Result<Option<UnixTime>, Error> {
    let Some(raw) = members.get(name(claim)) else {
        return Ok(None);
    };
    parse_numeric_date(raw)
        .map(Some)
        .ok_or(Error::InvalidClaim(claim))
}

fn parse_numeric_date(raw: &RawValue) -> Option<UnixTime> {
    let number: serde_json::Number = serde_json::from_str(raw.get()).ok()?;
    let secs = if let Some(secs) = number.as_u64() {
        secs
    } else {
        let secs = number.as_f64()?;
        if !secs.is_finite() || secs.is_sign_negative() || secs > MAX_NUMERIC_DATE as f64 {
            return None;
        }
        // In range and non-negative, so the conversion is exact after flooring.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let whole = secs.floor() as u64;
        whole
    };
    (secs <= MAX_NUMERIC_DATE).then_some(UnixTime::from_secs(secs))
}

/// `context` must be an object; `context.user.accountId`, when present, a string.
fn context_account_id(members: &Members<'_>) -> Result<Option<String>, Error> {
    #[derive(Deserialize)]
    struct Context {
        user: Option<User>,
    }
    #[derive(Deserialize)]
    struct User {
        #[serde(rename = "accountId")]
        account_id: Option<String>,
    }
    let Some(raw) = members.get("context") else {
        return Ok(None);
    };
    let context: Context =
        serde_json::from_str(raw.get()).map_err(|_| Error::InvalidClaim(Claim::Context))?;
    Ok(context.user.and_then(|u| u.account_id))
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
        assert_eq!(ok.aud(), ["b".to_owned()]);
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
