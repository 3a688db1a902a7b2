//! Strict JSON for the nested claims of Forge Invocation Tokens: no member name twice in any
//! object at any depth, and an optional member that is present must have its type (`null`
//! is a wrong type, not "absent").

use core::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, Visitor};
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
        Some(b'{') => jws::for_each_member_within(
            text.as_bytes(),
            part,
            &jws::FORGE_LIMITS,
            |_| true,
            |_, member| unique_names(member, part),
        ),
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

/// A `T` read from a JSON object only: serde's derived structs also accept an array of
/// their fields in order (`["xen:macro","key"]` for `{"type":..,"key":..}`), which no
/// token means.
pub(crate) struct Object<T>(pub(crate) T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OnlyMaps<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for OnlyMaps<T> {
            type Value = T;

            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("a json object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }

        deserializer
            .deserialize_map(OnlyMaps(PhantomData))
            .map(Object)
    }
}

/// For `#[serde(deserialize_with = "object")]` on a struct field: see [`Object`].
pub(crate) fn object<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Object::deserialize(deserializer).map(|Object(value)| value)
}

/// [`present`] and [`object`] together.
pub(crate) fn present_object<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    object(deserializer).map(Some)
}

/// An array of objects (see [`Object`]).
pub(crate) fn objects<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let objects: Vec<Object<T>> = Vec::deserialize(deserializer)?;
    Ok(objects.into_iter().map(|Object(value)| value).collect())
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
    fn objects_only() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct Pair {
            a: u8,
            b: u8,
        }
        let read = |json| serde_json::from_str::<Object<Pair>>(json).map(|Object(p)| p);
        assert_eq!(read(r#"{"b":2,"a":1}"#).unwrap(), Pair { a: 1, b: 2 });
        // What the derived impl alone accepts.
        assert!(serde_json::from_str::<Pair>("[1,2]").is_ok());
        for bad in ["[1,2]", "[]", "null", "1", r#""ab""#] {
            assert!(read(bad).is_err(), "{bad}");
        }
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
