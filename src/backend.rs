//! The one place SHA-256 and HMAC-SHA256 come from: RustCrypto's pure-Rust `sha2`/`hmac` by
//! default, or `ring`'s assembly with the `ring` feature. Everything else calls these.

/// A keyed HMAC-SHA256 state, precomputed from the key once.
///
/// Each MAC starts from a copy of this state; with the default backend the state and every
/// copy are overwritten on drop (`hmac`'s and `sha2`'s `zeroize` features), with `ring` not.
#[derive(Clone)]
pub(crate) struct MacKey(imp::MacKey);

/// RustCrypto's `HmacCore<Sha256>` holds the key as two SHA-256 states (the inner and outer
/// padded keys); each wipes itself on drop, and so does each per-call copy.
#[cfg(not(feature = "ring"))]
impl zeroize::ZeroizeOnDrop for MacKey {}

#[cfg(not(feature = "ring"))]
const _: () = {
    const fn wiped_on_drop<T: zeroize::ZeroizeOnDrop>() {}
    // The type of both key states inside `HmacCore<Sha256>` (exactly these two fields);
    // without `sha2`'s `zeroize` feature this does not compile.
    wiped_on_drop::<<sha2::Sha256 as hmac::digest::block_api::EagerHash>::Core>();
};

/// SHA-256 fed whole 64-byte blocks, then the last partial one: for callers that buffer
/// their input themselves (a second buffer inside the hasher would copy every byte again).
pub(crate) struct Sha256Blocks(imp::Blocks);

impl MacKey {
    /// Any key length works (HMAC hashes long keys); `None` only if a backend refused the
    /// key, which neither does. The caller rejects empty keys.
    pub(crate) fn new(key: &[u8]) -> Option<Self> {
        imp::mac_key(key).map(Self)
    }

    /// HMAC-SHA256 of `data`.
    pub(crate) fn sign(&self, data: &[u8]) -> [u8; 32] {
        imp::sign(&self.0, data)
    }

    /// Whether `tag` is the full 32-byte MAC of `data`, compared in constant time.
    pub(crate) fn verify(&self, data: &[u8], tag: &[u8]) -> bool {
        imp::verify(&self.0, data, tag)
    }
}

impl Sha256Blocks {
    pub(crate) fn new() -> Self {
        Self(imp::Blocks::new())
    }

    /// Hashes one whole block.
    pub(crate) fn block(&mut self, block: &[u8; 64]) {
        self.0.block(block);
    }

    /// Hashes `tail` and the padding: the digest.
    pub(crate) fn finish(mut self, mut tail: &[u8]) -> [u8; 32] {
        while let Some((block, rest)) = tail.split_first_chunk::<64>() {
            self.block(block);
            tail = rest;
        }
        self.0.finish(tail)
    }
}

/// SHA-256 of `data` in one call.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256Blocks::new().finish(data)
}

#[cfg(not(feature = "ring"))]
mod imp {
    use hmac::block_api::HmacCore;
    use hmac::digest::array::Array;
    use hmac::digest::block_api::{Buffer, FixedOutputCore, UpdateCore};
    use hmac::KeyInit;
    use sha2::block_api::compress256;
    use sha2::Sha256;
    use subtle::ConstantTimeEq;

    /// `hmac`'s block-level HMAC: the two keyed SHA-256 states, without `Hmac`'s buffer.
    pub(super) type MacKey = HmacCore<Sha256>;

    pub(super) fn mac_key(key: &[u8]) -> Option<MacKey> {
        MacKey::new_from_slice(key).ok()
    }

    /// The keyed state is copied (a MAC consumes its state): whole blocks of `data` go
    /// straight to the compression function, only the tail through a buffer. The state copy
    /// and the buffer (which ends up holding the inner digest) are wiped when dropped.
    pub(super) fn sign(key: &MacKey, data: &[u8]) -> [u8; 32] {
        let mut mac = key.clone();
        let (blocks, tail) = Array::slice_as_chunks(data);
        mac.update_blocks(blocks);
        let mut buffer = Buffer::<MacKey>::new(tail);
        let mut out = Array::default();
        mac.finalize_fixed_core(&mut buffer, &mut out);
        out.into()
    }

    /// A tag of another length than 32 bytes fails; otherwise compared in constant time:
    /// XOR-OR eight bytes at a time with no branch on the data, then one `subtle` test
    /// (`ct_eq` on the byte slices goes a byte at a time, and costs more than the rest of
    /// the MAC's own work beyond compressing).
    pub(super) fn verify(key: &MacKey, data: &[u8], tag: &[u8]) -> bool {
        if tag.len() != 32 {
            return false;
        }
        let mac = sign(key, data);
        let word = |bytes: &[u8]| {
            let mut word = [0u8; 8];
            word.copy_from_slice(bytes);
            u64::from_ne_bytes(word)
        };
        let difference = mac
            .chunks_exact(8)
            .zip(tag.chunks_exact(8))
            .fold(0u64, |acc, (a, b)| acc | (word(a) ^ word(b)));
        bool::from(difference.ct_eq(&0))
    }

    /// The compression function itself, with the padding of FIPS 180-4 §5.1.1 done here:
    /// no buffer and no output conversion layers in between.
    pub(super) struct Blocks {
        state: [u32; 8],
        blocks: u64,
    }

    /// FIPS 180-4 §5.3.3.
    const INITIAL: [u32; 8] = [
        0x6a09_e667,
        0xbb67_ae85,
        0x3c6e_f372,
        0xa54f_f53a,
        0x510e_527f,
        0x9b05_688c,
        0x1f83_d9ab,
        0x5be0_cd19,
    ];

    impl Blocks {
        pub(super) fn new() -> Self {
            Self {
                state: INITIAL,
                blocks: 0,
            }
        }

        pub(super) fn block(&mut self, block: &[u8; 64]) {
            compress256(&mut self.state, core::slice::from_ref(block));
            self.blocks += 1;
        }

        pub(super) fn finish(mut self, tail: &[u8]) -> [u8; 32] {
            let bits = (self.blocks * 64 + tail.len() as u64) * 8;
            let mut last = [0u8; 64];
            last[..tail.len()].copy_from_slice(tail);
            last[tail.len()] = 0x80;
            if tail.len() >= 56 {
                compress256(&mut self.state, core::slice::from_ref(&last));
                last = [0u8; 64];
            }
            last[56..].copy_from_slice(&bits.to_be_bytes());
            compress256(&mut self.state, core::slice::from_ref(&last));
            let mut out = [0u8; 32];
            for (bytes, word) in out.chunks_exact_mut(4).zip(self.state) {
                bytes.copy_from_slice(&word.to_be_bytes());
            }
            out
        }
    }
}

#[cfg(feature = "ring")]
mod imp {
    use ring::{digest, hmac};

    pub(super) type MacKey = hmac::Key;

    pub(super) fn mac_key(key: &[u8]) -> Option<MacKey> {
        Some(hmac::Key::new(hmac::HMAC_SHA256, key))
    }

    pub(super) fn sign(key: &MacKey, data: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(hmac::sign(key, data).as_ref());
        out
    }

    pub(super) fn verify(key: &MacKey, data: &[u8], tag: &[u8]) -> bool {
        // Constant-time; a tag of any other length than 32 bytes fails.
        tag.len() == 32 && hmac::verify(key, data, tag).is_ok()
    }

    /// ring exposes no compression function: its own context buffers the blocks.
    pub(super) struct Blocks(digest::Context);

    impl Blocks {
        pub(super) fn new() -> Self {
            Self(digest::Context::new(&digest::SHA256))
        }

        pub(super) fn block(&mut self, block: &[u8; 64]) {
            self.0.update(block);
        }

        pub(super) fn finish(mut self, tail: &[u8]) -> [u8; 32] {
            self.0.update(tail);
            let mut out = [0u8; 32];
            out.copy_from_slice(self.0.finish().as_ref());
            out
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2 and FIPS 180-2 "abc": whichever backend is compiled in.
    #[test]
    fn known_answers() {
        let key = MacKey::new(b"Jefe").unwrap();
        let mac = key.sign(b"what do ya want for nothing?");
        assert_eq!(
            crate::Qsh::from_bytes(mac).to_string(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(key.verify(b"what do ya want for nothing?", &mac));
        assert!(!key.verify(b"what do ya want for nothing?", &mac[..16]));
        assert!(!key.verify(b"what do ya want for nothing!", &mac));
        assert_eq!(
            crate::Qsh::from_bytes(sha256(b"abc")).to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    /// RFC 4231 test cases 1, 3, 4, 6 and 7 (keys and data shorter and longer than a block).
    #[test]
    fn rfc4231() {
        let long_key = [0xaa; 131];
        let cases: [(&[u8], &[u8], &str); 5] = [
            (&[0x0b; 20], b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
            (&[0xaa; 20], &[0xdd; 50], "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
            (
                &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25],
                &[0xcd; 50],
                "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
            ),
            (
                &long_key,
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
            (
                &long_key,
                b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.",
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            ),
        ];
        for (key, data, expected) in cases {
            let mac = MacKey::new(key).unwrap().sign(data);
            assert_eq!(crate::Qsh::from_bytes(mac).to_string(), expected);
        }
    }

    /// Every data length over several blocks, keys of every length up to two blocks, against
    /// `hmac`'s `Hmac<Sha256>` as one buffered call; `verify` accepts exactly that tag.
    #[test]
    fn mac_of_every_length() {
        use hmac::Mac;
        let bytes: Vec<u8> = (0..300u32).map(|i| (i * 13 + 5) as u8).collect();
        for key_len in [1, 31, 32, 63, 64, 65, 128] {
            let key = MacKey::new(&bytes[..key_len]).unwrap();
            for len in 0..=bytes.len() {
                let data = &bytes[key_len..][..len.min(bytes.len() - key_len)];
                let mut reference =
                    <hmac::Hmac<sha2::Sha256> as hmac::KeyInit>::new_from_slice(&bytes[..key_len])
                        .unwrap();
                reference.update(data);
                let expected: [u8; 32] = reference.finalize().into_bytes().into();
                assert_eq!(
                    key.sign(data),
                    expected,
                    "key {key_len}, data {}",
                    data.len()
                );
                assert!(key.verify(data, &expected));
                assert!(!key.verify(data, &[&expected[..], &[0]].concat()));
                assert!(!key.verify(data, &expected[..31]));
                let mut wrong = expected;
                wrong[len % 32] ^= 1;
                assert!(!key.verify(data, &wrong));
            }
        }
    }

    /// Every length around the padding boundaries (55/56 bytes in the last block) and over
    /// several blocks, against `sha2`'s own `Digest`.
    #[test]
    fn sha256_of_every_length() {
        use sha2::Digest;
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in 0..=data.len() {
            let expected: [u8; 32] = sha2::Sha256::digest(&data[..len]).into();
            assert_eq!(sha256(&data[..len]), expected, "length {len}");
        }
    }
}
