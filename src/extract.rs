//! Where a Connect token travels: `Authorization: JWT <token>` or the `jwt` query parameter.

use crate::error::Error;
use crate::find::find_byte;

/// The token of an `Authorization` header value of the form `JWT <token>`.
///
/// The scheme is matched case-insensitively, followed by exactly one space.
///
/// ```
/// use atlassian_connect_jwt::{token_from_authorization, Error};
///
/// assert_eq!(token_from_authorization("JWT a.b.c"), Ok("a.b.c"));
/// assert_eq!(token_from_authorization("Bearer a.b.c"), Err(Error::InvalidAuthorizationHeader));
/// ```
///
/// # Errors
///
/// [`Error::InvalidAuthorizationHeader`] for another scheme or an empty token.
pub fn token_from_authorization(value: &str) -> Result<&str, Error> {
    match value.split_at_checked(4) {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("JWT ") && !token.is_empty() => {
            Ok(token)
        }
        _ => Err(Error::InvalidAuthorizationHeader),
    }
}

/// The value of the `jwt` parameter of a raw query (without `?`), if any.
///
/// The value is returned raw: a token is base64url and dots, which need no escaping, so a
/// value with escapes fails token parsing later rather than being guessed at here.
///
/// ```
/// use atlassian_connect_jwt::{token_from_query, Error};
///
/// assert_eq!(token_from_query("a=1&jwt=x.y.z"), Ok(Some("x.y.z")));
/// assert_eq!(token_from_query("%6Awt=x.y.z"), Ok(Some("x.y.z")));
/// assert_eq!(token_from_query("jwt=x.y.z&jwt=x.y.q"), Err(Error::ConflictingTokens));
/// ```
///
/// # Errors
///
/// [`Error::ConflictingTokens`] when two `jwt` parameters differ.
pub fn token_from_query(query: &str) -> Result<Option<&str>, Error> {
    let mut found = QueryToken::Absent;
    // One pass over the pieces (`find_byte` skips the long token value quickly).
    let bytes = query.as_bytes();
    let mut start = 0;
    while start <= query.len() {
        let end = find_byte(&bytes[start..], b'&').map_or(query.len(), |i| start + i);
        let piece = &query[start..end];
        start = end + 1;
        // Keys are short: a plain loop beats `memchr`'s set-up.
        let Some(eq) = piece.bytes().position(|b| b == b'=') else {
            continue;
        };
        let (key, value) = (&piece[..eq], &piece[eq + 1..]);
        if is_jwt_key(key.as_bytes()) {
            found.take(value);
        }
    }
    found.get()
}

/// Whether a raw (percent-encoded) query key names the `jwt` parameter: it decodes to exactly
/// `jwt`, in lower case. Escapes count (`%6Awt`, `%6awt`, `j%77t` all name it), a `+` is a
/// space (`jwt+` does not), other cases do not (`JWT` is an ordinary parameter, signed like
/// any other).
///
/// The one definition: the canonical request drops this parameter and takes its value as the
/// token, and [`token_from_query`] looks for the same one.
#[inline(always)]
pub(crate) fn is_jwt_key(raw: &[u8]) -> bool {
    // Decodes at most three units, as the query decodes them: `%XX` is the byte, a `%` not
    // followed by two hex digits is itself, and a `+` (a space) never matches.
    let hex = |c: u8| char::from(c).to_digit(16);
    let mut rest = raw;
    for expected in *b"jwt" {
        let (byte, width) = match *rest {
            [b'%', hi, lo, ..] => match (hex(hi), hex(lo)) {
                (Some(hi), Some(lo)) => ((hi * 16 + lo) as u8, 3),
                _ => (b'%', 1),
            },
            [byte, ..] => (byte, 1),
            [] => return false,
        };
        if byte != expected {
            return false;
        }
        rest = &rest[width..];
    }
    rest.is_empty()
}

/// The `jwt` parameters of a query, taken one by one: by [`token_from_query`], and by the
/// canonical request while it parses the query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum QueryToken<'q> {
    /// No `jwt=` piece.
    Absent,
    /// The value of every `jwt=` piece (raw), all equal.
    Found(&'q str),
    /// Two `jwt=` pieces with different values.
    Conflicting,
}

impl<'q> QueryToken<'q> {
    pub(crate) fn take(&mut self, value: &'q str) {
        *self = match *self {
            Self::Absent => Self::Found(value),
            Self::Found(previous) if previous == value => Self::Found(value),
            Self::Found(_) | Self::Conflicting => Self::Conflicting,
        };
    }

    /// The token, if any: an empty value is no token.
    pub(crate) fn get(self) -> Result<Option<&'q str>, Error> {
        match self {
            Self::Absent => Ok(None),
            Self::Found(value) => Ok(Some(value).filter(|v| !v.is_empty())),
            Self::Conflicting => Err(Error::ConflictingTokens),
        }
    }
}

/// The request's token, from the `Authorization` header value and/or the raw query.
///
/// ```
/// use atlassian_connect_jwt::{find_token, Error};
///
/// assert_eq!(find_token(Some("JWT a.b.c"), Some("x=1")), Ok("a.b.c"));
/// assert_eq!(find_token(None, Some("jwt=a.b.c")), Ok("a.b.c"));
/// assert_eq!(find_token(Some("JWT a.b.c"), Some("jwt=a.b.d")), Err(Error::ConflictingTokens));
/// assert_eq!(find_token(None, None), Err(Error::MissingToken));
/// ```
///
/// # Errors
///
/// [`Error::MissingToken`], [`Error::ConflictingTokens`] (header and query disagree),
/// [`Error::InvalidAuthorizationHeader`].
pub fn find_token<'a>(
    authorization: Option<&'a str>,
    query: Option<&'a str>,
) -> Result<&'a str, Error> {
    choose_token(
        authorization,
        query.map(token_from_query).transpose().map(Option::flatten),
    )
}

/// The token of the `Authorization` header value and/or the one found in the query: they
/// must agree when both are there. A bad header is reported before a bad query.
pub(crate) fn choose_token<'a>(
    authorization: Option<&'a str>,
    from_query: Result<Option<&'a str>, Error>,
) -> Result<&'a str, Error> {
    let from_header = authorization.map(token_from_authorization).transpose()?;
    match (from_header, from_query?) {
        (Some(h), Some(q)) if h != q => Err(Error::ConflictingTokens),
        (Some(token), _) | (None, Some(token)) => Ok(token),
        (None, None) => Err(Error::MissingToken),
    }
}

#[cfg(test)]
mod tests {
    use proptest::strategy::Strategy as _;

    use super::is_jwt_key;

    #[test]
    fn one_rule_names_the_jwt_parameter() {
        let named = [
            "jwt",
            "%6Awt",
            "%6awt",
            "j%77t",
            "jw%74",
            "%6A%77%74",
            "%6a%77%74",
        ];
        for key in named {
            assert!(is_jwt_key(key.as_bytes()), "{key}");
        }
        let not_named = [
            "", "JWT", "Jwt", "jwt+", "+jwt", "jw", "jwtx", "xjwt", "%4Awt", "jwt%20", "j%77",
            "%6Awt%", "%%6Awt", "jw%7", "jwt=",
        ];
        for key in not_named {
            assert!(!is_jwt_key(key.as_bytes()), "{key}");
        }
    }

    proptest::proptest! {
        /// The rule is "decodes to `jwt`", as `percent_encoding` decodes (which leaves `+` and
        /// broken escapes as they are, and neither can be part of `jwt`).
        #[test]
        fn the_rule_is_decoding_to_jwt(
            key in proptest::collection::vec(
                proptest::sample::select(vec![
                    "j", "w", "t", "J", "%", "6", "A", "a", "7", "4", "+", "%6A", "%6a", "%77",
                    "%74", "%4A", "%", "z",
                ]),
                0..6,
            ).prop_map(|pieces: Vec<&str>| pieces.concat()),
        ) {
            let decodes_to_jwt =
                percent_encoding::percent_decode(key.as_bytes()).eq(b"jwt".iter().copied());
            proptest::prop_assert_eq!(is_jwt_key(key.as_bytes()), decodes_to_jwt, "{}", key);
        }
    }
}
