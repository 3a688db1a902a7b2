//! RSA public keys for signed install: PEM (SPKI) read by a small strict DER walker, RS256
//! checked by `ring`.

use core::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};

use crate::error::Error;

/// Shortest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;

/// Longest RSA modulus accepted, in bits (`ring`'s limit for RS256).
pub const MAX_RSA_BITS: usize = 8192;

/// Longest PEM text accepted, in bytes: an 8192-bit key is about 1.5 KiB.
const MAX_PEM_LEN: usize = 16 * 1024;

const PEM_BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
const PEM_END: &str = "-----END PUBLIC KEY-----";

/// DER of the OID 1.2.840.113549.1.1.1 (`rsaEncryption`).
const RSA_ENCRYPTION_OID: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];

const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_NULL: u8 = 0x05;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;

/// An RSA public key (2048 to 8192 bits) that verifies the RS256 signatures of Atlassian's
/// signed-install tokens.
///
/// Read from the PEM that `https://connect-install-keys.atlassian.com/<kid>` serves
/// (`-----BEGIN PUBLIC KEY-----`, a DER `SubjectPublicKeyInfo`). Everything is checked when
/// the key is built, so a key that builds is one `ring` accepts: the algorithm must be
/// `rsaEncryption` with NULL parameters, the DER minimal with nothing after it, the modulus
/// positive, odd and 2048 to 8192 bits long, the exponent odd and from 3 to 2³³ − 1.
///
/// Verification uses `ring` (PKCS#1 v1.5 with SHA-256), not the `rsa` crate: `rsa` carries
/// the unfixed advisory RUSTSEC-2023-0071 (the Marvin timing attack on decryption and
/// signing), so depending on it would make every user's `cargo audit` fail, although
/// verification with a public key leaks nothing secret.
///
/// ```
/// use atlassian_connect_jwt::{Error, InstallKey};
///
/// let err = InstallKey::from_pem("not a key").unwrap_err();
/// assert_eq!(err.code(), "invalid-public-key");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct InstallKey {
    /// The DER `RSAPublicKey` (PKCS#1) inside the SPKI: what `ring` verifies with.
    rsa_public_key: Vec<u8>,
    /// The modulus length in bits.
    bits: usize,
}

impl InstallKey {
    /// Reads a PEM `PUBLIC KEY` (SPKI). Surrounding whitespace and `\r\n` line ends are
    /// accepted; anything else around or inside the armor is not.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPublicKey`] for text that is not exactly one SPKI PEM block, a key that
    /// is not RSA (an EC key, say), malformed or non-minimal DER, trailing data, a modulus
    /// longer than 8192 bits or an unusable exponent; [`Error::WeakPublicKey`] for a modulus
    /// shorter than 2048 bits.
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        if pem.len() > MAX_PEM_LEN {
            return Err(invalid("pem too large"));
        }
        let mut lines = pem
            .trim()
            .lines()
            .map(|l| l.strip_suffix('\r').unwrap_or(l));
        if lines.next() != Some(PEM_BEGIN) {
            return Err(invalid("not a pem public key"));
        }
        let mut base64 = String::with_capacity(pem.len());
        let mut ended = false;
        for line in lines {
            if ended {
                return Err(invalid("data after the pem block"));
            }
            if line == PEM_END {
                ended = true;
            } else if !line.is_empty()
                && line
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
            {
                base64.push_str(line);
            } else {
                return Err(invalid("not a pem public key"));
            }
        }
        if !ended {
            return Err(invalid("pem block not closed"));
        }
        let der = STANDARD
            .decode(base64.as_bytes())
            .map_err(|_| invalid("pem body is not base64"))?;
        Self::from_spki_der(&der)
    }

    /// Reads a DER `SubjectPublicKeyInfo` (the bytes inside the PEM armor).
    ///
    /// # Errors
    ///
    /// As [`from_pem`](Self::from_pem), apart from the armor.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, Error> {
        // SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier,
        //                                     subjectPublicKey BIT STRING }
        let mut outer = Der::new(der);
        let mut spki = Der::new(outer.read(TAG_SEQUENCE)?);
        outer.finish()?;
        let mut algorithm = Der::new(spki.read(TAG_SEQUENCE)?);
        if algorithm.read(TAG_OID)? != RSA_ENCRYPTION_OID {
            return Err(invalid("not an rsa key"));
        }
        if !algorithm.read(TAG_NULL)?.is_empty() {
            return Err(invalid("malformed der"));
        }
        algorithm.finish()?;
        let bit_string = spki.read(TAG_BIT_STRING)?;
        spki.finish()?;
        let Some((&0, rsa_public_key)) = bit_string.split_first() else {
            return Err(invalid("malformed der"));
        };
        Self::from_rsa_public_key(rsa_public_key)
    }

    /// An RSA public key from its modulus and exponent as unsigned big-endian bytes (the
    /// decoded `n` and `e` of a JSON Web Key), with the same checks as
    /// [`from_pem`](Self::from_pem): they are encoded as a DER `RSAPublicKey` and read back by
    /// the same reader. A leading zero byte is refused: RFC 7518 §6.3.1 requires the minimal encoding.
    #[cfg_attr(not(feature = "forge"), allow(dead_code))]
    pub(crate) fn from_modulus_exponent(modulus: &[u8], exponent: &[u8]) -> Result<Self, Error> {
        if modulus.first() == Some(&0) || exponent.first() == Some(&0) {
            return Err(invalid("modulus or exponent not minimally encoded"));
        }
        // Longer moduli are refused by the checks below anyway; this bounds the allocation.
        if modulus.len() > MAX_RSA_BITS / 8 + 1 || exponent.len() > 8 {
            return Err(invalid("modulus longer than 8192 bits"));
        }
        let mut body = Vec::with_capacity(modulus.len() + exponent.len() + 16);
        der_unsigned_integer(modulus, &mut body);
        der_unsigned_integer(exponent, &mut body);
        let mut der = Vec::with_capacity(body.len() + 4);
        der_header(TAG_SEQUENCE, body.len(), &mut der);
        der.extend_from_slice(&body);
        Self::from_rsa_public_key(&der)
    }

    /// Checks a DER `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
    fn from_rsa_public_key(der: &[u8]) -> Result<Self, Error> {
        let mut outer = Der::new(der);
        let mut key = Der::new(outer.read(TAG_SEQUENCE)?);
        outer.finish()?;
        let modulus = positive_integer(key.read(TAG_INTEGER)?)?;
        let exponent = positive_integer(key.read(TAG_INTEGER)?)?;
        key.finish()?;

        let bits = bit_length(modulus);
        if bits < MIN_RSA_BITS {
            return Err(Error::WeakPublicKey {
                bits,
                min: MIN_RSA_BITS,
            });
        }
        if bits > MAX_RSA_BITS {
            return Err(invalid("modulus longer than 8192 bits"));
        }
        if modulus.last().is_some_and(|b| b & 1 == 0) {
            return Err(invalid("even modulus"));
        }
        let exponent_ok = exponent.last().is_some_and(|b| b & 1 == 1)
            && bit_length(exponent) <= 33
            && (exponent.len() > 1 || exponent.first().is_some_and(|&e| e >= 3));
        if !exponent_ok {
            return Err(invalid("unusable public exponent"));
        }
        Ok(Self {
            rsa_public_key: der.to_vec(),
            bits,
        })
    }

    /// The modulus length in bits.
    #[must_use]
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// The signature length in bytes: that of the modulus.
    pub(crate) fn signature_len(&self) -> usize {
        self.bits.div_ceil(8)
    }

    /// Checks that `signature` is this key's RSASSA-PKCS1-v1_5 SHA-256 signature (RS256) of
    /// `message`: the signature exactly as long as the modulus, then `ring`'s verification.
    ///
    /// [`InstallVerifier`](crate::InstallVerifier) calls it on a token's signing input; it is
    /// public for other RS256 uses and for checking the key layer against test vectors.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSignature`] for any signature that does not verify.
    pub fn verify_rs256(&self, message: &[u8], signature: &[u8]) -> Result<(), Error> {
        let valid = signature.len() == self.signature_len()
            && UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &self.rsa_public_key)
                .verify(message, signature)
                .is_ok();
        if valid {
            Ok(())
        } else {
            Err(Error::InvalidSignature)
        }
    }
}

impl fmt::Debug for InstallKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstallKey")
            .field("bits", &self.bits)
            .finish_non_exhaustive()
    }
}

fn invalid(reason: &'static str) -> Error {
    Error::InvalidPublicKey { reason }
}

/// The content of a DER INTEGER that must be positive and minimally encoded, without its
/// leading zero byte.
fn positive_integer(content: &[u8]) -> Result<&[u8], Error> {
    match content {
        [] => Err(invalid("malformed der")),
        [first, ..] if first & 0x80 != 0 => Err(invalid("negative integer")),
        [0] => Err(invalid("zero integer")),
        [0, second, ..] if second & 0x80 != 0 => Ok(&content[1..]),
        [0, ..] => Err(invalid("malformed der")),
        _ => Ok(content),
    }
}

/// Appends a DER tag and length (short form, or long form of one or two bytes).
#[cfg_attr(not(feature = "forge"), allow(dead_code))]
fn der_header(tag: u8, len: usize, out: &mut Vec<u8>) {
    out.push(tag);
    match len {
        0..=0x7F => out.push(len as u8),
        0x80..=0xFF => out.extend_from_slice(&[0x81, len as u8]),
        _ => out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]),
    }
}

/// Appends `bytes` (unsigned, big-endian) as a DER INTEGER: a zero byte goes in front when
/// the top bit is set, and nothing else changes, so a non-minimal input stays non-minimal
/// and [`positive_integer`] refuses it.
#[cfg_attr(not(feature = "forge"), allow(dead_code))]
fn der_unsigned_integer(bytes: &[u8], out: &mut Vec<u8>) {
    let pad = bytes.first().is_some_and(|b| b & 0x80 != 0);
    der_header(TAG_INTEGER, bytes.len() + usize::from(pad), out);
    if pad {
        out.push(0);
    }
    out.extend_from_slice(bytes);
}

/// Bit length of a big-endian unsigned integer without leading zero bytes.
fn bit_length(bytes: &[u8]) -> usize {
    match bytes.first() {
        None => 0,
        Some(&first) => (bytes.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
    }
}

/// A strict reader of definite-length DER: one tag at a time, minimal lengths only.
struct Der<'a> {
    rest: &'a [u8],
}

impl<'a> Der<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// The content of the next element, which must have tag `tag`.
    fn read(&mut self, tag: u8) -> Result<&'a [u8], Error> {
        let malformed = || invalid("malformed der");
        let (&found, rest) = self.rest.split_first().ok_or_else(malformed)?;
        if found != tag {
            return Err(malformed());
        }
        let (&first, rest) = rest.split_first().ok_or_else(malformed)?;
        let (len, rest) = match first {
            0x00..=0x7F => (usize::from(first), rest),
            0x81 => match rest {
                [len, rest @ ..] if *len >= 0x80 => (usize::from(*len), rest),
                _ => return Err(malformed()),
            },
            0x82 => match rest {
                [hi, lo, rest @ ..] if *hi != 0 => (usize::from(*hi) << 8 | usize::from(*lo), rest),
                _ => return Err(malformed()),
            },
            // Longer lengths are far beyond any accepted key; 0x80 is BER's indefinite form.
            _ => return Err(malformed()),
        };
        if rest.len() < len {
            return Err(malformed());
        }
        let (content, rest) = rest.split_at(len);
        self.rest = rest;
        Ok(content)
    }

    /// Nothing may follow the last element.
    fn finish(&self) -> Result<(), Error> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(invalid("trailing data"))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths_are_minimal() {
        assert_eq!(
            Der::new(&[0x02, 0x01, 0x05]).read(TAG_INTEGER).unwrap(),
            &[5]
        );
        for bad in [
            &[0x02, 0x81, 0x01, 0x05][..],
            &[0x02, 0x82, 0x00, 0x01, 0x05],
            &[0x02, 0x80, 0x05, 0x00, 0x00],
            &[0x02, 0x02, 0x05],
            &[0x03, 0x01, 0x05],
            &[0x02],
        ] {
            assert!(Der::new(bad).read(TAG_INTEGER).is_err(), "{bad:02x?}");
        }
    }

    #[test]
    fn components_take_the_der_checks() {
        // A 2048-bit odd modulus with the top bit set, exponent 65537.
        let mut n = vec![0xC5; 256];
        n[255] = 0x01;
        let key = InstallKey::from_modulus_exponent(&n, &[1, 0, 1]).unwrap();
        assert_eq!(key.bits(), 2048);
        let mut padded = vec![0];
        padded.extend_from_slice(&n);
        let non_minimal = invalid("modulus or exponent not minimally encoded");
        assert_eq!(
            InstallKey::from_modulus_exponent(&padded, &[1, 0, 1]).unwrap_err(),
            non_minimal
        );
        assert_eq!(
            InstallKey::from_modulus_exponent(&n, &[0, 1, 0, 1]).unwrap_err(),
            non_minimal
        );
        assert_eq!(
            InstallKey::from_modulus_exponent(&n, &[0]).unwrap_err(),
            non_minimal
        );
        assert_eq!(
            InstallKey::from_modulus_exponent(&n[..128], &[1, 0, 1]).unwrap_err(),
            Error::WeakPublicKey {
                bits: 1024,
                min: MIN_RSA_BITS
            }
        );
        assert_eq!(
            InstallKey::from_modulus_exponent(&n, &[1]).unwrap_err(),
            invalid("unusable public exponent")
        );
        assert_eq!(
            InstallKey::from_modulus_exponent(&n, &[]).unwrap_err(),
            invalid("malformed der")
        );
        assert_eq!(
            InstallKey::from_modulus_exponent(&[], &[1, 0, 1]).unwrap_err(),
            invalid("malformed der")
        );
        let mut even = n.clone();
        even[255] = 0x02;
        assert_eq!(
            InstallKey::from_modulus_exponent(&even, &[1, 0, 1]).unwrap_err(),
            invalid("even modulus")
        );
    }

    #[test]
    fn integers_are_positive_and_minimal() {
        assert_eq!(positive_integer(&[0x00, 0x80]).unwrap(), &[0x80]);
        assert_eq!(positive_integer(&[0x7F]).unwrap(), &[0x7F]);
        assert!(positive_integer(&[0x80]).is_err());
        assert!(positive_integer(&[0x00, 0x7F]).is_err());
        assert!(positive_integer(&[0x00]).is_err());
        assert!(positive_integer(&[]).is_err());
        assert_eq!(bit_length(&[0x01, 0x00]), 9);
        assert_eq!(bit_length(&[0x80]), 8);
    }
}
