//! Checks of the `verify_install` fuzz target, shared with `tests/fuzz_token_corpus.rs` (which
//! replays `corpus/verify_install/` under `cargo test --features signed-install`).
//!
//! The oracle: nothing verifies that Atlassian's key did not sign, and a body is accepted only
//! when it is the token's tenant's. A 2048-bit key pair is generated once per process and one
//! valid `installed` token signed with it. The input is a selector byte, then:
//!
//! * `t`: a token, verified with a valid body: refused unless it is the valid token;
//! * `m`: pairs (position, byte) written into the valid token: refused unless nothing changed;
//! * `b`: a body for the valid token: accepted only if it is a JSON object whose `clientKey`
//!   is the token's `iss` and whose `eventType` is `installed`.
//!
//! Each includer uses `#[path = "..."] mod install_checks;`, so this file may use only std, the
//! library (feature `signed-install`) and crates both the fuzz crate and the library's tests
//! depend on: `rsa`, `base64`, `serde_json`.

use std::sync::OnceLock;

use atlassian_connect_jwt::{
    CanonicalRequest, Error, InstallKey, InstallToken, InstallVerifier, UnixTime, VerifiedInstall,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer};

const NOW: u64 = 1_700_000_000;
const BASE: &str = "https://app.example.com";
const CLIENT_KEY: &str = "tenant-1";
const BODY: &str = r#"{"key":"app","clientKey":"tenant-1","sharedSecret":"s","baseUrl":"https://t.example","eventType":"installed"}"#;

/// What one input did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum InstallOutcome {
    /// The callback verified (and the oracle agreed).
    Accepted,
    /// The callback was refused with this error.
    Refused(Error),
    /// Not an input of any mode (no selector, unknown selector, not UTF-8).
    Skipped,
}

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
        let header = r#"{"kid":"kid-1","typ":"JWT","alg":"RS256"}"#;
        let claims = format!(
            r#"{{"iss":"{CLIENT_KEY}","aud":"{BASE}","iat":{},"exp":{},"qsh":"{qsh}"}}"#,
            NOW - 10,
            NOW + 170
        );
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let signature = SigningKey::<rsa::sha2::Sha256>::new(private).sign(input.as_bytes());
        let fixture = Fixture {
            key: InstallKey::from_pem(&pem).unwrap(),
            token: format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_vec())),
            verifier: InstallVerifier::new(BASE).unwrap(),
        };
        assert!(verify(&fixture, &fixture.token, BODY).is_ok());
        fixture
    })
}

fn verify(fixture: &Fixture, token: &str, body: &str) -> Result<VerifiedInstall, Error> {
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

/// Runs one input through its mode and asserts the oracle; panics on a violation.
pub(crate) fn check_install(data: &[u8]) -> InstallOutcome {
    let fixture = fixture();
    let Some((&selector, rest)) = data.split_first() else {
        return InstallOutcome::Skipped;
    };
    let (token, body) = match selector {
        b't' => match std::str::from_utf8(rest) {
            Ok(token) => (token.to_owned(), BODY),
            Err(_) => return InstallOutcome::Skipped,
        },
        b'm' => {
            let mut token = fixture.token.clone().into_bytes();
            for pair in rest.chunks_exact(2) {
                let at = usize::from(pair[0]) * token.len() / 256;
                token[at] = pair[1];
            }
            match String::from_utf8(token) {
                Ok(token) => (token, BODY),
                Err(_) => return InstallOutcome::Skipped,
            }
        }
        b'b' => match std::str::from_utf8(rest) {
            Ok(body) => (fixture.token.clone(), body),
            Err(_) => return InstallOutcome::Skipped,
        },
        _ => return InstallOutcome::Skipped,
    };
    match verify(fixture, &token, body) {
        Ok(install) => {
            assert_eq!(token, fixture.token, "accepted a token it never signed");
            let json: serde_json::Value =
                serde_json::from_str(body).expect("accepted a body that is not JSON");
            assert_eq!(
                json["clientKey"], CLIENT_KEY,
                "accepted another tenant's body"
            );
            assert_eq!(
                json["eventType"], "installed",
                "accepted another event's body"
            );
            assert_eq!(install.payload().client_key(), CLIENT_KEY);
            InstallOutcome::Accepted
        }
        Err(error) => InstallOutcome::Refused(error),
    }
}
