//! The one place SHA-256 and HMAC-SHA256 come from: RustCrypto's pure-Rust `sha2`/`hmac` by
//! default, or `ring`'s assembly with the `ring` feature. Everything else calls these.

/// A keyed HMAC-SHA256 state, precomputed from the key once.
///
/// Each MAC starts from a copy of this state; with the default backend the state and every
/// copy are overwritten on drop (`hmac`'s and `sha2`'s `zeroize` features), with `ring` not.
#[derive(Clone)]
pub(crate) struct MacKey(imp::MacKey);

/// RustCrypto's `Hmac<Sha256>` holds the key as two SHA-256 states (the inner and outer
/// padded keys); each wipes itself on drop, and so does each per-call copy.
#[cfg(not(feature = "ring"))]
impl zeroize::ZeroizeOnDrop for MacKey {}

#[cfg(not(feature = "ring"))]
const _: () = {
    const fn wiped_on_drop<T: zeroize::ZeroizeOnDrop>() {}
    // The type of both key states inside `Hmac<Sha256>` (`hmac`'s `HmacCore` is exactly
    // these two fields); without `sha2`'s `zeroize` feature this does not compile.
    wiped_on_drop::<<sha2::Sha256 as hmac::digest::block_api::EagerHash>::Core>();
};

/// Incremental SHA-256.
pub(crate) struct Hasher(imp::Hasher);

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

impl Hasher {
    pub(crate) fn new() -> Self {
        Self(imp::hasher())
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        imp::update(&mut self.0, data);
    }

    pub(crate) fn finish(self) -> [u8; 32] {
        imp::finish(self.0)
    }
}

/// SHA-256 of `data` in one call.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    let mut hasher = Hasher::new();
    hasher.update(data);
    hasher.finish()
}

#[cfg(not(feature = "ring"))]
mod imp {
    use hmac::{Hmac, KeyInit, Mac};
    use sha2::{Digest, Sha256};

    pub(super) type MacKey = Hmac<Sha256>;
    pub(super) type Hasher = Sha256;

    pub(super) fn mac_key(key: &[u8]) -> Option<MacKey> {
        <MacKey as KeyInit>::new_from_slice(key).ok()
    }

    /// The keyed state is copied (a MAC consumes its state) and the copy is wiped when
    /// `finalize` drops it.
    pub(super) fn sign(key: &MacKey, data: &[u8]) -> [u8; 32] {
        let mut mac = key.clone();
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    pub(super) fn verify(key: &MacKey, data: &[u8], tag: &[u8]) -> bool {
        let mut mac = key.clone();
        mac.update(data);
        // Checks the length, then compares with `subtle`'s constant-time equality; the
        // state copy is wiped when `verify_slice` drops it.
        mac.verify_slice(tag).is_ok()
    }

    pub(super) fn hasher() -> Hasher {
        Sha256::new()
    }

    pub(super) fn update(hasher: &mut Hasher, data: &[u8]) {
        Digest::update(hasher, data);
    }

    pub(super) fn finish(hasher: Hasher) -> [u8; 32] {
        hasher.finalize().into()
    }
}

#[cfg(feature = "ring")]
mod imp {
    use ring::{digest, hmac};

    pub(super) type MacKey = hmac::Key;
    pub(super) type Hasher = digest::Context;

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

    pub(super) fn hasher() -> Hasher {
        digest::Context::new(&digest::SHA256)
    }

    pub(super) fn update(hasher: &mut Hasher, data: &[u8]) {
        hasher.update(data);
    }

    pub(super) fn finish(hasher: Hasher) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(hasher.finish().as_ref());
        out
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
}
