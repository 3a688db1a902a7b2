//! Signed install (feature `signed-install`): the oracle "nothing verifies that Atlassian's key
//! did not sign, and a body is accepted only when it is the token's tenant's".
//!
//! A 2048-bit key pair is generated once per run and one valid `installed` token signed with
//! it. Input: a selector byte, then
//! - `t`: a token, verified with a valid body: must fail;
//! - `m`: pairs (index, byte) applied to the valid token: must fail unless nothing changed;
//! - `b`: a body for the valid token: verifies only if it is a JSON object whose `clientKey`
//!   is the token's `iss` and whose `eventType` is `installed`.
//!
//! `cargo +nightly fuzz run verify_install`, or `cargo fuzz run -s none verify_install`.
#![no_main]

use std::sync::OnceLock;

use atlassian_connect_jwt::{
    CanonicalRequest, InstallKey, InstallToken, InstallVerifier, UnixTime, VerifiedInstall,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer};

const NOW: u64 = 1_700_000_000;
const BASE: &str = "https://app.example.com";
const CLIENT_KEY: &str = "tenant-1";
const BODY: &str = r#"{"key":"app","clientKey":"tenant-1","sharedSecret":"s","baseUrl":"https://t.example","eventType":"installed"}"#;

struct Fixture {
    key: InstallKey,
    token: String,
    verifier: InstallVerifier,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
        let pem = private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        let qsh = CanonicalRequest::from_parts("POST", "/installed", None, None)
            .unwrap()
            .qsh();
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        let header = r#"{"kid":"kid-1","typ":"JWT","alg":"RS256"}"#;
        let claims = format!(
            r#"{{"iss":"{CLIENT_KEY}","aud":"{BASE}","iat":{},"exp":{},"qsh":"{qsh}"}}"#,
            NOW - 10,
            NOW + 170
        );
        let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
        let signature = SigningKey::<rsa::sha2::Sha256>::new(private).sign(input.as_bytes());
        let token = format!("{input}.{}", b64(&signature.to_vec()));
        let fixture = Fixture {
            key: InstallKey::from_pem(&pem).unwrap(),
            token,
            verifier: InstallVerifier::new(BASE).unwrap(),
        };
        assert!(verify(&fixture, &fixture.token, BODY).is_ok());
        fixture
    })
}

fn verify(
    fixture: &Fixture,
    token: &str,
    body: &str,
) -> Result<VerifiedInstall, atlassian_connect_jwt::Error> {
    let request = CanonicalRequest::from_target("POST", "/installed", None)?;
    let parsed = InstallToken::parse(token)?;
    fixture.verifier.verify(
        parsed,
        body,
        &request,
        &fixture.key,
        UnixTime::from_secs(NOW),
    )
}

fuzz_target!(|data: &[u8]| {
    let fixture = fixture();
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector {
        b't' => {
            if let Ok(token) = std::str::from_utf8(rest) {
                if token != fixture.token {
                    assert!(
                        verify(fixture, token, BODY).is_err(),
                        "accepted a token it never signed"
                    );
                }
            }
        }
        b'm' => {
            let mut token = fixture.token.clone().into_bytes();
            for pair in rest.chunks_exact(2) {
                let at = usize::from(pair[0]) * token.len() / 256;
                token[at] = pair[1];
            }
            if let Ok(token) = String::from_utf8(token) {
                if token != fixture.token {
                    assert!(
                        verify(fixture, &token, BODY).is_err(),
                        "accepted a changed token"
                    );
                }
            }
        }
        b'b' => {
            let Ok(body) = std::str::from_utf8(rest) else {
                return;
            };
            if let Ok(install) = verify(fixture, &fixture.token, body) {
                let json: serde_json::Value =
                    serde_json::from_str(body).expect("accepted a body that is not JSON");
                assert_eq!(json["clientKey"], CLIENT_KEY);
                assert_eq!(json["eventType"], "installed");
                assert_eq!(install.payload().client_key(), CLIENT_KEY);
            }
        }
        _ => {}
    }
});
