//! JSON Web Key Sets (RFC 7517): the RSA keys Forge signs invocation tokens with, by `kid`.

use core::fmt;
use std::borrow::Cow;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::kid::ForgeKeyId;
use crate::error::{Error, TokenPart};
use crate::install::InstallKey;
use crate::jws;

/// Longest key set accepted, in bytes (64 KiB; Forge's has a few keys of about 500 bytes).
pub const MAX_JWKS_LEN: usize = 64 * 1024;

/// Most keys a key set may list.
pub const MAX_JWKS_KEYS: usize = 64;

/// Members of a JWK that only a private key has (RFC 7518 §6.3.2, §6.4): a key set that
/// publishes one has leaked it.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A JSON Web Key Set, read strictly: the RS256 public key of each `kid`, or why the key of
/// that `kid` cannot be used.
///
/// Each key is checked when the set is read, once per fetch rather than once per token:
/// `kty` must be `RSA`; `use`, when present, `sig`; `alg`, when present, `RS256`; no private
/// key member (`d`, `p`, ...); `n` and `e` canonical base64url of a modulus of 2048 to 8192
/// bits and a usable exponent, as for [`InstallKey`]. A key that fails is kept as its error,
/// so a token naming it gets that error ([`Error::WeakPublicKey`], [`Error::InvalidPublicKey`])
/// while the other keys of the set stay usable. Two keys with one `kid` make that `kid`
/// unusable. Keys without a `kid`, or with one that
/// [`validate_forge_kid`](crate::validate_forge_kid) refuses, can never be chosen by a token
/// and are left out.
///
/// ```
/// use atlassian_connect_jwt::{Error, ForgeKeyId, JwkSet};
///
/// let set = JwkSet::from_json(r#"{"keys":[{"kty":"EC","kid":"forge/k1","crv":"P-256"}]}"#)?;
/// let kid = ForgeKeyId::new("forge/k1")?;
/// assert_eq!(set.key(&kid).unwrap_err(), Error::InvalidPublicKey { reason: "not an rsa key" });
/// assert_eq!(set.key(&ForgeKeyId::new("forge/k2")?).unwrap_err(), Error::UnknownKeyId);
/// assert_eq!(JwkSet::from_json("[]").unwrap_err().code(), "invalid-public-key");
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct JwkSet {
    keys: Vec<Entry>,
    max_age: Option<Duration>,
}

/// One `kid` of a set: its key, or why it cannot be used.
type Entry = (ForgeKeyId, Result<InstallKey, Error>);

impl JwkSet {
    /// Reads a key set (`{"keys": [...]}`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPublicKey`] when the text is longer than [`MAX_JWKS_LEN`], is not one
    /// JSON object with a `keys` array of objects, repeats a member name in the set or in a
    /// key, lists more than [`MAX_JWKS_KEYS`] keys, or has a `kid` that is not a string.
    /// Faults of single keys are not errors here (see the type's documentation).
    pub fn from_json(json: &str) -> Result<Self, Error> {
        if json.len() > MAX_JWKS_LEN {
            return Err(invalid("key set too large"));
        }
        #[derive(Deserialize)]
        struct Set<'a> {
            #[serde(borrow)]
            keys: Vec<&'a RawValue>,
        }
        let set: Set<'_> = serde_json::from_str(json).map_err(|_| not_a_key_set())?;
        if set.keys.len() > MAX_JWKS_KEYS {
            return Err(invalid("too many keys in the key set"));
        }
        let mut keys: Vec<Entry> = Vec::new();
        for raw in set.keys {
            let Some((kid, key)) = read_key(raw)? else {
                continue;
            };
            match keys.iter_mut().find(|(known, _)| *known == kid) {
                Some((_, earlier)) => *earlier = Err(invalid("two keys have this key id")),
                None => keys.push((kid, key)),
            }
        }
        Ok(Self {
            keys,
            max_age: None,
        })
    }

    /// The key named `kid`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownKeyId`] when the set has no key with that `kid`; the key's own error
    /// when it is not usable ([`Error::WeakPublicKey`], [`Error::InvalidPublicKey`]).
    pub fn key(&self, kid: &ForgeKeyId) -> Result<&InstallKey, Error> {
        match self.keys.iter().find(|(known, _)| known == kid) {
            Some((_, Ok(key))) => Ok(key),
            Some((_, Err(error))) => Err(error.clone()),
            None => Err(Error::UnknownKeyId),
        }
    }

    /// The `kid`s of the set, usable or not, in the set's order.
    pub fn key_ids(&self) -> impl Iterator<Item = &ForgeKeyId> {
        self.keys.iter().map(|(kid, _)| kid)
    }

    /// How many `kid`s the set has.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set has no `kid` at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Records how long the server lets the set be kept (its `Cache-Control: max-age`): a
    /// [`JwksCache`](crate::JwksCache) keeps it that long, within its bounds.
    #[must_use]
    pub fn with_max_age(self, max_age: Duration) -> Self {
        Self {
            max_age: Some(max_age),
            ..self
        }
    }

    /// How long the server lets the set be kept, if it said.
    #[must_use]
    pub fn max_age(&self) -> Option<Duration> {
        self.max_age
    }
}

impl fmt::Debug for JwkSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (kid, key) in &self.keys {
            match key {
                Ok(key) => map.entry(kid, &format_args!("rsa {} bits", key.bits())),
                Err(error) => map.entry(kid, &format_args!("unusable: {error}")),
            };
        }
        map.finish()
    }
}

fn invalid(reason: &'static str) -> Error {
    Error::InvalidPublicKey { reason }
}

fn not_a_key_set() -> Error {
    invalid("not a json web key set")
}

/// One key of the set: `None` when it has no `kid` a token could name.
fn read_key(raw: &RawValue) -> Result<Option<Entry>, Error> {
    #[derive(Default)]
    struct Members<'j> {
        kid: Option<Cow<'j, str>>,
        kty: Option<Option<Cow<'j, str>>>,
        usage: Option<Option<Cow<'j, str>>>,
        alg: Option<Option<Cow<'j, str>>>,
        n: Option<Option<Cow<'j, str>>>,
        e: Option<Option<Cow<'j, str>>>,
        private: bool,
    }
    let mut m = Members::default();
    // The part is only a label: every error of the walk is reported as a bad key set.
    jws::for_each_member(
        raw.get().as_bytes(),
        TokenPart::Header,
        |_| true,
        |name, value| {
            let text = || jws::json_str(value);
            match name.as_ref() {
                "kid" => m.kid = Some(text().ok_or_else(not_a_key_set)?),
                "kty" => m.kty = Some(text()),
                "use" => m.usage = Some(text()),
                "alg" => m.alg = Some(text()),
                "n" => m.n = Some(text()),
                "e" => m.e = Some(text()),
                other if PRIVATE_MEMBERS.contains(&other) => m.private = true,
                _ => {}
            }
            Ok(())
        },
    )
    .map_err(|error| match error {
        Error::InvalidPublicKey { .. } => error,
        _ => not_a_key_set(),
    })?;
    let Some(kid) = m.kid.and_then(|kid| ForgeKeyId::new(&kid).ok()) else {
        return Ok(None);
    };
    let is = |member: &Option<Option<Cow<'_, str>>>, expected: &str| matches!(member, Some(Some(value)) if value == expected);
    let key = if !is(&m.kty, "RSA") {
        Err(invalid("not an rsa key"))
    } else if m.usage.is_some() && !is(&m.usage, "sig") {
        Err(invalid("not a signing key"))
    } else if m.alg.is_some() && !is(&m.alg, "RS256") {
        Err(invalid("not an rs256 key"))
    } else if m.private {
        Err(invalid("the key set publishes a private key"))
    } else {
        match (m.n.flatten(), m.e.flatten()) {
            (Some(n), Some(e)) => {
                match (URL_SAFE_NO_PAD.decode(&*n), URL_SAFE_NO_PAD.decode(&*e)) {
                    (Ok(n), Ok(e)) => InstallKey::from_modulus_exponent(&n, &e),
                    _ => Err(invalid("modulus or exponent is not base64url")),
                }
            }
            _ => Err(invalid("no modulus or exponent")),
        }
    };
    Ok(Some((kid, key)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn kid(kid: &str) -> ForgeKeyId {
        ForgeKeyId::new(kid).unwrap()
    }

    /// A 2048-bit odd modulus (not a real key: enough for the checks, which run no RSA).
    fn n() -> String {
        let mut n = vec![0xC5; 256];
        n[255] = 1;
        URL_SAFE_NO_PAD.encode(n)
    }

    fn set(keys: &str) -> JwkSet {
        JwkSet::from_json(&format!(r#"{{"keys":[{keys}]}}"#)).unwrap()
    }

    #[test]
    fn keys_are_checked_one_by_one() {
        let n = n();
        let s = set(&format!(
            r#"{{"kty":"RSA","kid":"good","n":"{n}","e":"AQAB","use":"sig","alg":"RS256","x5c":["x"]}},
               {{"kty":"RSA","kid":"enc","n":"{n}","e":"AQAB","use":"enc"}},
               {{"kty":"RSA","kid":"rs512","n":"{n}","e":"AQAB","alg":"RS512"}},
               {{"kty":"RSA","kid":"private","n":"{n}","e":"AQAB","d":"AQAB"}},
               {{"kty":"RSA","kid":"no-n","e":"AQAB"}},
               {{"kty":"RSA","kid":"null-n","n":null,"e":"AQAB"}},
               {{"kty":"RSA","kid":"padded","n":"{n}=","e":"AQAB"}},
               {{"kty":"oct","kid":"hmac","k":"c2VjcmV0"}},
               {{"kid":"no-kty","n":"{n}","e":"AQAB"}},
               {{"kty":"RSA","n":"{n}","e":"AQAB"}},
               {{"kty":"RSA","kid":"../x","n":"{n}","e":"AQAB"}},
               {{"kty":"RSA","kid":"twice","n":"{n}","e":"AQAB"}},
               {{"kty":"RSA","kid":"twice","n":"{n}","e":"AQAB"}}"#
        ));
        assert_eq!(s.key(&kid("good")).unwrap().bits(), 2048);
        let error = |k| s.key(&kid(k)).unwrap_err();
        assert_eq!(error("enc"), invalid("not a signing key"));
        assert_eq!(error("rs512"), invalid("not an rs256 key"));
        assert_eq!(
            error("private"),
            invalid("the key set publishes a private key")
        );
        assert_eq!(error("no-n"), invalid("no modulus or exponent"));
        assert_eq!(error("null-n"), invalid("no modulus or exponent"));
        assert_eq!(
            error("padded"),
            invalid("modulus or exponent is not base64url")
        );
        assert_eq!(error("hmac"), invalid("not an rsa key"));
        assert_eq!(error("no-kty"), invalid("not an rsa key"));
        assert_eq!(error("twice"), invalid("two keys have this key id"));
        assert_eq!(error("missing"), Error::UnknownKeyId);
        let kids: Vec<&str> = s.key_ids().map(ForgeKeyId::as_str).collect();
        assert_eq!(
            kids,
            [
                "good", "enc", "rs512", "private", "no-n", "null-n", "padded", "hmac", "no-kty",
                "twice"
            ]
        );
    }

    #[test]
    fn the_set_itself_is_strict() {
        let bad = not_a_key_set();
        for json in [
            "",
            "[]",
            "{}",
            r#"{"keys":{}}"#,
            r#"{"keys":[1]}"#,
            r#"{"keys":["x"]}"#,
            r#"{"keys":[{"kid":1}]}"#,
            r#"{"keys":[{"kid":"a","kid":"b"}]}"#,
            r#"{"keys":[],"keys":[]}"#,
            r#"{"keys":[]} x"#,
        ] {
            assert_eq!(JwkSet::from_json(json), Err(bad.clone()), "{json}");
        }
        let many = vec![r#"{"kty":"RSA","kid":"k"}"#; MAX_JWKS_KEYS + 1].join(",");
        assert_eq!(
            JwkSet::from_json(&format!(r#"{{"keys":[{many}]}}"#)),
            Err(invalid("too many keys in the key set"))
        );
        let huge = format!(r#"{{"keys":[],"x":"{}"}}"#, "a".repeat(MAX_JWKS_LEN));
        assert_eq!(JwkSet::from_json(&huge), Err(invalid("key set too large")));
        let empty = JwkSet::from_json(r#"{"keys":[],"other":1}"#).unwrap();
        assert!(empty.is_empty());
        assert_eq!(empty.max_age(), None);
        let kept = empty.with_max_age(Duration::from_secs(60));
        assert_eq!(kept.max_age(), Some(Duration::from_secs(60)));
    }
}
