//! The query string hash: SHA-256 of the canonical request, compared in constant time.

use core::fmt;
use core::str::FromStr;

use subtle::ConstantTimeEq;

use crate::backend::{self, Hasher};

/// The `qsh` claim value of a context token (`AP.context.getToken()`): it binds the token to no
/// request at all, so it is only acceptable where a route explicitly allows context tokens.
pub const CONTEXT_QSH: &str = "context-qsh";

/// A query string hash: the 32-byte SHA-256 of a canonical request.
///
/// `Display` and [`FromStr`] use the lowercase hex form that tokens carry. Parsing is exact:
/// 64 lowercase hex digits and nothing else, so a `qsh` claim that differs from the computed
/// one in case, length or whitespace never compares equal. Equality is constant-time.
///
/// ```
/// use atlassian_connect_jwt::{CanonicalRequest, Qsh};
///
/// let qsh = CanonicalRequest::from_target("GET", "/test?param=value", None)?.qsh();
/// assert_eq!(
///     qsh.to_string(),
///     "be16910858a41fd19ea5c1b4e9decca9a784d1024cb00b2158defe2f29dc86dd"
/// );
/// assert_eq!(qsh, "be16910858a41fd19ea5c1b4e9decca9a784d1024cb00b2158defe2f29dc86dd".parse::<Qsh>()?);
/// assert!("BE16910858A41FD19EA5C1B4E9DECCA9A784D1024CB00B2158DEFE2F29DC86DD".parse::<Qsh>().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Eq)]
pub struct Qsh([u8; 32]);

impl Qsh {
    /// The qsh of a canonical request string given as bytes (`METHOD&path&query`).
    ///
    /// Use [`CanonicalRequest::qsh`](crate::CanonicalRequest::qsh) to hash a request without
    /// building the string; this is for canonical strings that already exist.
    #[must_use]
    pub fn of_canonical(canonical: &str) -> Self {
        Self(backend::sha256(canonical.as_bytes()))
    }

    /// Wraps 32 raw digest bytes.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 raw digest bytes.
    #[must_use]
    pub const fn to_bytes(self) -> [u8; 32] {
        self.0
    }

    /// Compares with the `qsh` text of a token in constant time (for equal-length input).
    ///
    /// Anything but exactly 64 lowercase hex digits is unequal.
    #[must_use]
    pub fn matches_hex(&self, presented: &str) -> bool {
        let presented = presented.as_bytes();
        if presented.len() != 64 {
            return false;
        }
        let ours = self.hex();
        // XOR-OR eight bytes at a time with no branch on the data, then one constant-time
        // test: `ct_eq` on the byte slices costs more than the rest of verification's checks.
        let word = |bytes: &[u8]| {
            let mut word = [0u8; 8];
            word.copy_from_slice(bytes);
            u64::from_ne_bytes(word)
        };
        let difference = ours
            .chunks_exact(8)
            .zip(presented.chunks_exact(8))
            .fold(0u64, |acc, (a, b)| acc | (word(a) ^ word(b)));
        bool::from(difference.ct_eq(&0))
    }

    /// The 64-byte lowercase hex form, without allocating.
    #[must_use]
    pub fn hex(&self) -> [u8; 64] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 64];
        for (pair, byte) in out.chunks_exact_mut(2).zip(self.0) {
            pair[0] = HEX[usize::from(byte >> 4)];
            pair[1] = HEX[usize::from(byte & 0x0f)];
        }
        out
    }
}

impl PartialEq for Qsh {
    fn eq(&self, other: &Self) -> bool {
        bool::from(self.0.ct_eq(&other.0))
    }
}

impl ConstantTimeEq for Qsh {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.0.ct_eq(&other.0)
    }
}

impl fmt::Display for Qsh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = self.hex();
        // The hex alphabet is ASCII, so this never fails.
        f.write_str(core::str::from_utf8(&hex).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Qsh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Qsh({self})")
    }
}

/// The text was not exactly 64 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a qsh is exactly 64 lowercase hex digits")]
pub struct ParseQshError(());

impl FromStr for Qsh {
    type Err = ParseQshError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.as_bytes();
        if s.len() != 64 {
            return Err(ParseQshError(()));
        }
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            _ => Err(ParseQshError(())),
        };
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
            *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
        }
        Ok(Self(out))
    }
}

/// Where canonical request bytes go: a string for diagnostics, or straight into SHA-256.
pub(crate) trait Sink {
    fn put(&mut self, bytes: &[u8]);

    fn put_byte(&mut self, byte: u8) {
        self.put(&[byte]);
    }
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Feeds SHA-256 through a small buffer, so the many 1–3 byte pieces of a canonical query
/// reach the hash in whole blocks instead of one call each.
pub(crate) struct HashSink {
    hasher: Hasher,
    buf: [u8; 128],
    len: usize,
}

impl HashSink {
    pub(crate) fn new() -> Self {
        Self {
            hasher: Hasher::new(),
            buf: [0; 128],
            len: 0,
        }
    }

    pub(crate) fn finish(mut self) -> Qsh {
        self.hasher.update(&self.buf[..self.len]);
        Qsh(self.hasher.finish())
    }
}

impl Sink for HashSink {
    #[inline]
    fn put_byte(&mut self, byte: u8) {
        if self.len == self.buf.len() {
            self.hasher.update(&self.buf);
            self.len = 0;
        }
        self.buf[self.len] = byte;
        self.len += 1;
    }

    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        if self.len + bytes.len() <= self.buf.len() {
            copy_short(&mut self.buf[self.len..self.len + bytes.len()], bytes);
            self.len += bytes.len();
            return;
        }
        self.hasher.update(&self.buf[..self.len]);
        self.len = 0;
        if bytes.len() >= self.buf.len() {
            self.hasher.update(bytes);
        } else {
            self.buf[..bytes.len()].copy_from_slice(bytes);
            self.len = bytes.len();
        }
    }
}

/// `dst.copy_from_slice(src)` (the caller slices `dst` to `src`'s length), with the short
/// slices (most pieces of a canonical query are 1 to 16 bytes) copied by fixed-size moves,
/// two of them overlapping, instead of a `memcpy` call apiece.
#[inline]
fn copy_short(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    match n {
        0 => {}
        1..=3 => {
            dst[0] = src[0];
            dst[n / 2] = src[n / 2];
            dst[n - 1] = src[n - 1];
        }
        4..=7 => {
            dst[..4].copy_from_slice(&src[..4]);
            dst[n - 4..].copy_from_slice(&src[n - 4..]);
        }
        8..=16 => {
            dst[..8].copy_from_slice(&src[..8]);
            dst[n - 8..].copy_from_slice(&src[n - 8..]);
        }
        _ => dst.copy_from_slice(src),
    }
}

#[cfg(test)]
mod tests {
    use super::copy_short;

    #[test]
    fn copy_short_copies_every_length() {
        let src: Vec<u8> = (1..=40).collect();
        for n in 0..=src.len() {
            let mut dst = vec![0u8; n];
            copy_short(&mut dst, &src[..n]);
            assert_eq!(dst, &src[..n], "length {n}");
        }
    }
}
