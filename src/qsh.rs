//! The query string hash: SHA-256 of the canonical request, compared in constant time.

use core::fmt;
use core::str::FromStr;

use subtle::ConstantTimeEq;

use crate::backend::{self, Sha256Blocks};

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
        // Eight hex digits at a time, XOR-ORed into one word with no branch on the data, then
        // one constant-time test: `ct_eq` on the byte slices costs more than the rest of
        // verification's checks.
        let difference = self
            .0
            .chunks_exact(4)
            .zip(presented.chunks_exact(8))
            .fold(0u64, |acc, (bytes, digits)| {
                acc | (hex_word(bytes) ^ u64::from_le_bytes(array(digits)))
            });
        bool::from(difference.ct_eq(&0))
    }

    /// The 64-byte lowercase hex form, without allocating.
    #[must_use]
    pub fn hex(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        for (digits, bytes) in out.chunks_exact_mut(8).zip(self.0.chunks_exact(4)) {
            digits.copy_from_slice(&hex_word(bytes).to_le_bytes());
        }
        out
    }
}

/// The 8 lowercase hex digits of 4 bytes, as a little-endian word (first digit lowest), by
/// arithmetic on all of them at once rather than a table lookup per digit.
#[inline]
fn hex_word(bytes: &[u8]) -> u64 {
    const LOW_NIBBLES: u64 = 0x000f_000f_000f_000f;
    const EACH: u64 = 0x0101_0101_0101_0101;
    // Byte i to bits 16i..16i+8: each byte gets a lane of two digit bytes.
    let mut x = u64::from(u32::from_le_bytes(array(bytes)));
    x = (x | (x << 16)) & 0x0000_ffff_0000_ffff;
    x = (x | (x << 8)) & 0x00ff_00ff_00ff_00ff;
    // The high nibble in the lane's first byte, the low one in its second: one digit a byte.
    let nibbles = ((x >> 4) & LOW_NIBBLES) | ((x & LOW_NIBBLES) << 8);
    // `nibble + 6` reaches 16 exactly for a-f; those get 'a' - '0' - 10 = 39 more. No byte
    // carries into the next (nibbles are at most 15).
    let letters = ((nibbles + 6 * EACH) >> 4) & EACH;
    nibbles + u64::from(b'0') * EACH + letters * 39
}

/// The first `N` bytes of `bytes` (the callers pass chunks of exactly `N`).
#[inline]
fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[..N]);
    out
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

/// Feeds SHA-256 through a one-block buffer, so the many 1–3 byte pieces of a canonical
/// query reach the hash as whole blocks instead of one call each.
pub(crate) struct HashSink {
    hasher: Sha256Blocks,
    buf: [u8; 64],
    len: usize,
}

impl HashSink {
    pub(crate) fn new() -> Self {
        Self {
            hasher: Sha256Blocks::new(),
            buf: [0; 64],
            len: 0,
        }
    }

    pub(crate) fn finish(self) -> Qsh {
        Qsh(self.hasher.finish(&self.buf[..self.len]))
    }
}

impl Sink for HashSink {
    #[inline]
    fn put_byte(&mut self, byte: u8) {
        if self.len == self.buf.len() {
            self.hasher.block(&self.buf);
            self.len = 0;
        }
        self.buf[self.len] = byte;
        self.len += 1;
    }

    #[inline(always)]
    fn put(&mut self, bytes: &[u8]) {
        if self.len + bytes.len() <= self.buf.len() {
            copy_short(&mut self.buf[self.len..self.len + bytes.len()], bytes);
            self.len += bytes.len();
            return;
        }
        // Fill the block, hash it, hash whole blocks straight from `bytes`, keep the rest.
        let (head, mut rest) = bytes.split_at(self.buf.len() - self.len);
        self.buf[self.len..].copy_from_slice(head);
        self.hasher.block(&self.buf);
        while let Some((block, tail)) = rest.split_first_chunk::<64>() {
            self.hasher.block(block);
            rest = tail;
        }
        self.buf[..rest.len()].copy_from_slice(rest);
        self.len = rest.len();
    }
}

/// `dst.copy_from_slice(src)` (the caller slices `dst` to `src`'s length), with the short
/// slices (most pieces of a canonical query are 1 to 16 bytes) copied by fixed-size moves,
/// two of them overlapping, instead of a `memcpy` call apiece.
#[inline(always)]
pub(crate) fn copy_short(dst: &mut [u8], src: &[u8]) {
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
    use super::{copy_short, HashSink, Qsh, Sink};

    /// Every byte value in every position of a 4-byte group, against `format!`'s hex; and
    /// `matches_hex` refuses each single-digit change, upper case included.
    #[test]
    fn hex_digits_of_every_byte() {
        for start in (0..=255u8).step_by(32) {
            let mut bytes = [0u8; 32];
            for (i, byte) in bytes.iter_mut().enumerate() {
                *byte = start.wrapping_add(i as u8);
            }
            for shift in 0..4 {
                bytes.rotate_left(shift);
                let qsh = Qsh::from_bytes(bytes);
                let expected: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                assert_eq!(qsh.hex(), expected.as_bytes());
                assert!(qsh.matches_hex(&expected));
                for at in 0..64 {
                    let mut changed = expected.clone().into_bytes();
                    for other in [b'0', b'9', b'a', b'f', b'A', b'F'] {
                        if other != expected.as_bytes()[at] {
                            changed[at] = other;
                            let text = String::from_utf8(changed.clone()).unwrap_or_default();
                            assert!(!qsh.matches_hex(&text), "{text} matched {expected}");
                        }
                    }
                }
            }
        }
    }

    proptest::proptest! {
        /// However the bytes arrive (pieces of any size, single bytes), the hash is that of
        /// their concatenation.
        #[test]
        fn hash_sink_hashes_the_concatenation(
            pieces in proptest::collection::vec(
                (proptest::collection::vec(proptest::num::u8::ANY, 0..150), proptest::bool::ANY),
                0..12,
            ),
        ) {
            let mut sink = HashSink::new();
            let mut all = Vec::new();
            for (piece, bytewise) in &pieces {
                if *bytewise {
                    piece.iter().for_each(|&b| sink.put_byte(b));
                } else {
                    sink.put(piece);
                }
                all.extend_from_slice(piece);
            }
            proptest::prop_assert_eq!(sink.finish().to_bytes(), crate::backend::sha256(&all));
        }
    }

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
