//! Key ids: the `kid` of a signed-install token, checked against an allow-list before it is
//! used to find a key.

use core::fmt;

use crate::error::Error;

/// Longest `kid` accepted, in bytes.
const MAX_KID_LEN: usize = 64;

/// Checks a key id before anything uses it: 1 to 64 characters of `A-Z a-z 0-9 . _ -`, no
/// `..` anywhere, and not `.` alone. Returns it unchanged.
///
/// The `kid` comes from an unverified token and becomes part of the URL of the key to fetch
/// (`https://connect-install-keys.atlassian.com/<kid>`): with this allow-list it can only be
/// one plain path segment, never a path traversal (`../x`, `%2e%2e`), another host
/// (`//evil.example/k`, `https://...`, `\\evil.example\k`), a query, a fragment or a header
/// injection (`\r\n`). [`InstallToken::parse`](crate::InstallToken::parse) applies it; a key fetcher that takes a `kid`
/// from anywhere else must apply it too.
///
/// ```
/// use atlassian_connect_jwt::{validate_kid, Error};
///
/// assert_eq!(validate_kid("0e50fccb-239d-4991-a5db-dc850ba3f236"), Ok("0e50fccb-239d-4991-a5db-dc850ba3f236"));
/// assert_eq!(validate_kid(""), Err(Error::MissingKeyId));
/// assert_eq!(validate_kid("../../x"), Err(Error::InvalidKeyId));
/// assert_eq!(validate_kid("//evil.example/k"), Err(Error::InvalidKeyId));
/// ```
///
/// # Errors
///
/// [`Error::MissingKeyId`] for `""`, [`Error::InvalidKeyId`] otherwise.
pub fn validate_kid(kid: &str) -> Result<&str, Error> {
    if kid.is_empty() {
        return Err(Error::MissingKeyId);
    }
    let allowed = kid.len() <= MAX_KID_LEN
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && !kid.contains("..")
        // `.` alone is a path segment that URL resolution reads as "this directory".
        && kid != ".";
    if allowed {
        Ok(kid)
    } else {
        Err(Error::InvalidKeyId)
    }
}

/// A key id that passed [`validate_kid`]: safe to use as one path segment of a key URL, as a
/// cache key or in a log line.
///
/// Key sources ([`InstallKeySource`](crate::InstallKeySource)) take a `KeyId`, never a bare
/// string, so a `kid` cannot reach a key server without having been checked.
///
/// ```
/// use atlassian_connect_jwt::KeyId;
///
/// let kid = KeyId::new("0e50fccb-239d-4991-a5db-dc850ba3f236")?;
/// assert_eq!(kid.as_str(), "0e50fccb-239d-4991-a5db-dc850ba3f236");
/// assert!(KeyId::new("../admin").is_err());
/// # Ok::<(), atlassian_connect_jwt::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(Box<str>);

impl KeyId {
    /// Checks `kid` with [`validate_kid`].
    ///
    /// # Errors
    ///
    /// As [`validate_kid`].
    pub fn new(kid: &str) -> Result<Self, Error> {
        validate_kid(kid).map(|kid| Self(kid.into()))
    }

    /// The key id.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for KeyId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl core::borrow::Borrow<str> for KeyId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for KeyId {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for KeyId {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
