//! Strict unpadded base64url decoding (RFC 4648 §5) of token segments, into a buffer of the
//! exact decoded length: the same texts accepted as by `base64`'s `URL_SAFE_NO_PAD` (no
//! padding, no other alphabet, no length of 1 modulo 4, no non-zero trailing bits), in about
//! half its instructions.
//!
//! Verification decodes a whole payload before anything else may reject it, so this is on
//! every request's path: four table lookups per four characters, each pre-shifted to its
//! place in the 24-bit group, ORed together, with one flag bit that any character outside the
//! alphabet sets. Only the input is looked up, never a secret.

/// Set in a table entry for a byte outside the alphabet (above the 24 bits of a group).
const INVALID: u32 = 1 << 31;

/// The 6-bit value of each base64url character, or `None`.
const fn value(c: u8) -> Option<u32> {
    match c {
        b'A'..=b'Z' => Some((c - b'A') as u32),
        b'a'..=b'z' => Some((c - b'a') as u32 + 26),
        b'0'..=b'9' => Some((c - b'0') as u32 + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    }
}

/// The value of each byte as the `position`-th character (0 to 3) of a group, shifted into
/// place, or [`INVALID`].
const fn table(position: u32) -> [u32; 256] {
    let mut table = [INVALID; 256];
    let mut b = 0;
    while b < 256 {
        if let Some(v) = value(b as u8) {
            table[b] = v << (18 - 6 * position);
        }
        b += 1;
    }
    table
}

const T0: [u32; 256] = table(0);
const T1: [u32; 256] = table(1);
const T2: [u32; 256] = table(2);
const T3: [u32; 256] = table(3);

/// The decoded length of an unpadded text of `len` characters, or `None` when no such text
/// has that length (1 modulo 4).
pub(crate) const fn decoded_len(len: usize) -> Option<usize> {
    match len % 4 {
        1 => None,
        rest => Some(len / 4 * 3 + rest.saturating_sub(1)),
    }
}

/// The 24-bit group of four characters, [`INVALID`] set if any is outside the alphabet.
#[inline(always)]
fn group(c: [u8; 4]) -> u32 {
    T0[usize::from(c[0])] | T1[usize::from(c[1])] | T2[usize::from(c[2])] | T3[usize::from(c[3])]
}

/// Decodes `text` into `out`, which must be exactly [`decoded_len`] bytes long; `false` (with
/// `out` partly written) if `text` is not canonical unpadded base64url of that length.
pub(crate) fn decode_into(text: &[u8], out: &mut [u8]) -> bool {
    if decoded_len(text.len()) != Some(out.len()) {
        return false;
    }
    // Eight characters (six bytes) a step, then at most one more group of four.
    let (pairs, rest_text) = text.as_chunks::<8>();
    let (sixes, rest_out) = out.as_chunks_mut::<6>();
    let mut flags = 0u32;
    for (chars, bytes) in pairs.iter().zip(sixes) {
        let [a, b, c, d, e, f, g, h] = *chars;
        let (high, low) = (group([a, b, c, d]), group([e, f, g, h]));
        flags |= high | low;
        let six = (u64::from(high) << 24 | u64::from(low)).to_be_bytes();
        bytes.copy_from_slice(&six[2..]);
    }
    let (groups, tail) = rest_text.as_chunks::<4>();
    let (whole, rest) = rest_out.as_chunks_mut::<3>();
    for (chars, bytes) in groups.iter().zip(whole) {
        let n = group(*chars);
        flags |= n;
        let [_, b0, b1, b2] = n.to_be_bytes();
        *bytes = [b0, b1, b2];
    }
    // The last 2 or 3 characters: 1 or 2 bytes, and the low bits of the last character
    // (4 or 2), which no byte holds, must be zero.
    let (last, unused) = match *tail {
        [a, b] => (T0[usize::from(a)] | T1[usize::from(b)], 0xF000),
        [a, b, c] => (
            T0[usize::from(a)] | T1[usize::from(b)] | T2[usize::from(c)],
            0xC0,
        ),
        _ => (0, 0),
    };
    let [_, b0, b1, _] = last.to_be_bytes();
    for (slot, byte) in rest.iter_mut().zip([b0, b1]) {
        *slot = byte;
    }
    (flags | last) & INVALID == 0 && last & unused == 0
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;

    use super::*;

    /// What `base64` decodes `text` to, if it accepts it.
    fn reference(text: &[u8]) -> Option<Vec<u8>> {
        URL_SAFE_NO_PAD.decode(text).ok()
    }

    /// Ours, with the buffer sized as callers size it.
    fn ours(text: &[u8]) -> Option<Vec<u8>> {
        let mut out = vec![0u8; decoded_len(text.len())?];
        decode_into(text, &mut out).then_some(out)
    }

    /// Every text of up to 3 characters over the alphabet and a few bytes outside it: all the
    /// last groups (trailing bits included) and every place of a foreign byte in one.
    #[test]
    fn every_short_text_agrees() {
        let mut chars: Vec<u8> = (0..=255u8).filter(|&b| value(b).is_some()).collect();
        chars.extend_from_slice(b"=+/.\0 \x7f\x80\xff");
        let mut texts = vec![vec![]];
        for _ in 0..3 {
            let longer: Vec<Vec<u8>> = texts
                .iter()
                .filter(|t| t.len() == texts.last().unwrap().len())
                .flat_map(|t| {
                    chars.iter().map(move |&c| {
                        let mut t = t.clone();
                        t.push(c);
                        t
                    })
                })
                .collect();
            texts.extend(longer);
        }
        for text in &texts {
            assert_eq!(
                ours(text),
                reference(text),
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
    }

    /// Encodings of every length up to a few groups of 8 bytes, each then spoiled at every
    /// position by a byte outside the alphabet, by `=` padding, and by a cut.
    #[test]
    fn longer_texts_agree() {
        let bytes: Vec<u8> = (0..200u32).map(|i| (i * 151 + 7) as u8).collect();
        for len in 0..bytes.len() {
            let text = URL_SAFE_NO_PAD.encode(&bytes[..len]);
            assert_eq!(ours(text.as_bytes()).as_deref(), Some(&bytes[..len]));
            for at in 0..text.len() {
                for bad in [b'.', b'=', b'/', b'+', 0x80] {
                    let mut spoiled = text.clone().into_bytes();
                    spoiled[at] = bad;
                    assert_eq!(ours(&spoiled), None, "{len} {at} {bad}");
                }
                assert_eq!(
                    ours(&text.as_bytes()[..at]),
                    reference(&text.as_bytes()[..at])
                );
            }
            let padded = URL_SAFE_NO_PAD.encode(&bytes[..len]) + "==";
            assert_eq!(ours(padded.as_bytes()), None);
        }
    }

    /// A buffer of any other size than the decoded length is refused, not overrun.
    #[test]
    fn buffer_of_the_wrong_size() {
        let mut out = [0u8; 4];
        assert!(decode_into(b"AAAA", &mut out[..3]));
        assert!(!decode_into(b"AAAA", &mut out));
        assert!(!decode_into(b"AAAA", &mut out[..2]));
        assert!(!decode_into(b"AAAAA", &mut out[..3]));
    }
}
