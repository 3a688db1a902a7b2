//! The two pieces of an unverified Forge Invocation Token that choose a key: its `kid` and
//! its `icLabel`, each checked by its own allow-list before anything uses it.

use core::fmt;

use crate::error::{Claim, Error};

/// Longest Forge `kid` accepted, in bytes (real ones are about 60).
const MAX_FORGE_KID_LEN: usize = 128;

/// Longest Isolated Cloud label, in bytes (Atlassian's rule).
const MAX_IC_LABEL_LEN: usize = 50;

/// Checks the `kid` of a Forge Invocation Token before anything uses it, and returns it
/// unchanged: 1 to 128 characters of `A-Z a-z 0-9 . _ - /`, made of `/`-separated segments
/// that are neither empty nor `.` nor `..`.
///
/// Forge's key ids look like `forge/invocation-token/wf-<uuid>`: they contain `/`, so the
/// signed-install rule ([`validate_kid`](crate::validate_kid)) does not fit them. A Forge
/// `kid` is only ever compared with the `kid`s of the key set, never put into a URL or a
/// path; the rule keeps it printable and short all the same, and refuses the traversal and
/// injection shapes (`../x`, `a//b`, `/a`, `%2e`, `\r\n`) so that no later use can go wrong.
///
/// ```
/// use atlassian_connect_jwt::{validate_forge_kid, Error};
///
/// let kid = "forge/invocation-token/wf-0f7c3d5a-32f4-4f61-8a4b-4c38a2a1b0e1";
/// assert_eq!(validate_forge_kid(kid), Ok(kid));
/// assert_eq!(validate_forge_kid(""), Err(Error::MissingKeyId));
/// assert_eq!(validate_forge_kid("forge/../x"), Err(Error::InvalidKeyId));
/// assert_eq!(validate_forge_kid("/etc/passwd"), Err(Error::InvalidKeyId));
/// ```
///
/// # Errors
///
/// [`Error::MissingKeyId`] for `""`, [`Error::InvalidKeyId`] otherwise.
pub fn validate_forge_kid(kid: &str) -> Result<&str, Error> {
    if kid.is_empty() {
        return Err(Error::MissingKeyId);
    }
    let allowed = kid.len() <= MAX_FORGE_KID_LEN
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'))
        && kid
            .split('/')
            .all(|segment| !matches!(segment, "" | "." | ".."));
    if allowed {
        Ok(kid)
    } else {
        Err(Error::InvalidKeyId)
    }
}

/// A Forge key id that passed [`validate_forge_kid`]: what key sets and key caches are
/// asked for.
///
/// ```
/// use atlassian_connect_jwt::ForgeKeyId;
///
/// let kid = ForgeKeyId::new("forge/invocation-token/wf-1")?;
/// assert_eq!(kid.as_str(), "forge/invocation-token/wf-1");
/// assert!(ForgeKeyId::new("forge//x").is_err());
/// # Ok::<(), atlassian_connect_jwt::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ForgeKeyId(Box<str>);

impl ForgeKeyId {
    /// Checks `kid` with [`validate_forge_kid`].
    ///
    /// # Errors
    ///
    /// As [`validate_forge_kid`].
    pub fn new(kid: &str) -> Result<Self, Error> {
        validate_forge_kid(kid).map(|kid| Self(kid.into()))
    }

    /// The key id.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for ForgeKeyId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for ForgeKeyId {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for ForgeKeyId {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl fmt::Debug for ForgeKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for ForgeKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The Isolated Cloud a Forge Invocation Token comes from (its `icLabel` claim), checked
/// against `^[a-z0-9_-]{1,50}$`: the only form in which it may go into a key-set URL
/// (Atlassian calls this check security critical).
///
/// The label selects which of Atlassian's key sets verifies the token, among URLs the app
/// configured (a template with `{IC_LABEL}`); it can never choose a host or path outside
/// that template, because none of its characters can end a host name or a path segment.
///
/// ```
/// use atlassian_connect_jwt::{Claim, Error, IcLabel};
///
/// assert_eq!(IcLabel::new("acme-prod")?.as_str(), "acme-prod");
/// for bad in ["", "Acme", "a.b", "a/b", "evil.example#", &"a".repeat(51)] {
///     assert_eq!(IcLabel::new(bad), Err(Error::InvalidClaim(Claim::IcLabel)));
/// }
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IcLabel(Box<str>);

impl IcLabel {
    /// Checks `label`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidClaim`]`(`[`Claim::IcLabel`]`)` unless `label` matches
    /// `^[a-z0-9_-]{1,50}$`.
    pub fn new(label: &str) -> Result<Self, Error> {
        let allowed = (1..=MAX_IC_LABEL_LEN).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if allowed {
            Ok(Self(label.into()))
        } else {
            Err(Error::InvalidClaim(Claim::IcLabel))
        }
    }

    /// The label.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for IcLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for IcLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forge_kids() {
        for ok in [
            "forge/invocation-token/wf-0f7c3d5a-32f4-4f61-8a4b-4c38a2a1b0e1",
            "a",
            "a.b/c_d-e",
            "...a",
            &"a".repeat(MAX_FORGE_KID_LEN),
        ] {
            assert_eq!(validate_forge_kid(ok), Ok(ok), "{ok}");
        }
        for bad in [
            "../x",
            "forge/../x",
            "forge/..",
            "./x",
            "forge/./x",
            ".",
            "..",
            "/x",
            "x/",
            "a//b",
            "%2e%2e/x",
            "a\r\nHost: x",
            "a b",
            "a?b",
            "a#b",
            r"a\b",
            "https://evil.example/k",
            "é",
            &"a".repeat(MAX_FORGE_KID_LEN + 1),
        ] {
            assert_eq!(validate_forge_kid(bad), Err(Error::InvalidKeyId), "{bad:?}");
        }
        assert_eq!(validate_forge_kid(""), Err(Error::MissingKeyId));
    }

    #[test]
    fn ic_labels() {
        for ok in ["a", "acme_prod-1", &"z".repeat(50)] {
            assert_eq!(IcLabel::new(ok).map(|l| l.to_string()), Ok(ok.to_owned()));
        }
        for bad in [
            "",
            "A",
            "a.b",
            "a/b",
            "a:1",
            "a@b",
            "a b",
            "é",
            "a%2f",
            &"z".repeat(51),
        ] {
            assert_eq!(
                IcLabel::new(bad),
                Err(Error::InvalidClaim(Claim::IcLabel)),
                "{bad:?}"
            );
        }
    }
}
