//! Strict JSON for the nested claims of Forge Invocation Tokens: no member name twice in any
//! object at any depth, and an optional member that is present must have its type (`null`
//! is a wrong type, not "absent").

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::error::{Error, TokenPart};
use crate::jws;

/// Checks that no object inside `value` repeats a member name (compared after unescaping),
/// whatever the depth: [`Error::DuplicateMember`] otherwise.
///
/// Each object is walked by the token walker ([`jws::for_each_member`]), which refuses a
/// repeated name at its own level; this recurses into every object and array value. Numbers
/// and strings are not interpreted, so nothing here refuses what the walker accepted apart
/// from a repeated name.
pub(crate) fn unique_names(value: &RawValue, part: TokenPart) -> Result<(), Error> {
    let text = value.get();
    match text.as_bytes().first() {
        Some(b'{') => jws::for_each_member(text.as_bytes(), part, |_, member| {
            unique_names(member, part)
        }),
        Some(b'[') => {
            let items: Vec<&RawValue> =
                serde_json::from_str(text).map_err(|_| Error::InvalidJson(part))?;
            items
                .into_iter()
                .try_for_each(|item| unique_names(item, part))
        }
        _ => Ok(()),
    }
}

/// For `#[serde(default, deserialize_with = "present")]` on an `Option` field: absent is
/// `None`, anything present must be a `T` (so `null` is an error, not `None`).
pub(crate) fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn check(json: &str) -> Result<(), Error> {
        let raw: &RawValue = serde_json::from_str(json).unwrap();
        unique_names(raw, TokenPart::Payload)
    }

    #[test]
    fn repeated_names_at_any_depth() {
        let dup = Err(Error::DuplicateMember(TokenPart::Payload));
        assert_eq!(check(r#"{"a":1,"b":{"a":2}}"#), Ok(()));
        assert_eq!(check(r#"[{"a":1},{"a":1}]"#), Ok(()));
        assert_eq!(check(r#"1e400"#), Ok(()));
        assert_eq!(check(r#"{"x":[1e400,"\u0000"]}"#), Ok(()));
        assert_eq!(check(r#"{"a":1,"a":2}"#), dup);
        assert_eq!(check(r#"{"b":{"c":{"a":1,"\u0061":2}}}"#), dup);
        assert_eq!(check(r#"{"b":[1,[{"k":1,"k":1}]]}"#), dup);
        assert_eq!(check(r#"[[[{"k":1,"k":1}]]]"#), dup);
    }
}
