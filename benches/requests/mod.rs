//! The requests the comparison bench (wall clock) and the instruction bench (callgrind) both
//! measure, the operations they run on them, and each operation's SHA-256 floor. One module,
//! so both benches time exactly the same inputs and code.
//!
//! Two requests: the "typical" one (a ~330-byte token and a ~105-byte canonical
//! request: 5 + 1 HMAC blocks with the tenant's key state precomputed, 2 qsh blocks) and a
//! heavier Jira iframe request with a dozen parameters.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, DefaultHasher};
use std::hint::black_box;

use atlassian_connect_jwt::{
    BasePath, CanonicalRequest, QshPolicy, SharedSecret, Signer, TenantKey, UnixTime, Verifier,
};

pub(crate) const SECRET: &str = "connect-test-secret-0123456789abcdef0123";
pub(crate) const CLIENT_KEY: &str = "jira:1234-5678-9000";
pub(crate) const ACCOUNT: &str = "557058:f0e1d2c3-b4a5-6789-0abc-def012345678";
pub(crate) const NOW: u64 = 1_700_000_000;
pub(crate) const BASE_URL: &str = "https://app.example.com/connect";

/// The typical request: a glance or webhook with a few parameters.
pub(crate) const TYPICAL: &str = "/connect/issue-glance?xdm_e=https%3A%2F%2Fexample.atlassian.net&issueKey=PROJ-123&lic=active&cv=1001.0.0";

/// A Jira issue-panel iframe as the product loads it.
pub(crate) const IFRAME: &str = "/connect/issue-panel?xdm_e=https%3A%2F%2Fexample.atlassian.net&xdm_c=channel-com.example.app__issue-panel&cp=&xdm_deprecated_addon_key_do_not_use=com.example.app&lic=active&cv=1001.0.0-SNAPSHOT&issueKey=PROJ-123&issueId=10001&projectKey=PROJ&projectId=10000&tz=Australia%2FSydney&loc=en-US&user_id=admin";

pub(crate) struct Fixture {
    pub(crate) name: &'static str,
    /// The request target with its `jwt` parameter.
    pub(crate) url: String,
    /// The request target without it (what is signed).
    pub(crate) target: &'static str,
    pub(crate) base: BasePath,
    pub(crate) key: TenantKey,
    /// The tenants' cached keys, as an app keeps them. SipHash with fixed keys rather than
    /// `RandomState`'s: the same work, but the same instruction count on every run.
    pub(crate) keys: HashMap<String, TenantKey, BuildHasherDefault<DefaultHasher>>,
    /// Bytes of the canonical request (`GET&/issue-glance&cv=...`): what the qsh hashes.
    pub(crate) canonical_len: usize,
    /// Bytes of the token's signing input (`header.payload`): what the HMAC covers.
    pub(crate) signing_input_len: usize,
    /// SHA-256 blocks of verification: HMAC inner + outer (key state precomputed) + qsh.
    pub(crate) verify_blocks: usize,
    /// SHA-256 blocks of the qsh alone.
    pub(crate) qsh_blocks: usize,
}

/// Blocks SHA-256 compresses for a message of `len` bytes (padding and length included).
pub(crate) fn blocks_for(len: usize) -> usize {
    (len + 9).div_ceil(64)
}

/// SHA-256 blocks of an HMAC over `len` bytes with the keyed state precomputed: the inner
/// hash continues after its key block (`blocks_for(64 + len) - 1`), the outer hash after its
/// own key block compresses the 32-byte inner digest (one block).
pub(crate) fn hmac_blocks(len: usize) -> usize {
    blocks_for(64 + len) - 1 + 1
}

pub(crate) fn fixture(name: &'static str, target: &'static str) -> Fixture {
    let key = TenantKey::new(CLIENT_KEY, &SharedSecret::new(SECRET)).unwrap();
    let base = BasePath::parse(BASE_URL).unwrap();
    let request = CanonicalRequest::from_target("GET", target, Some(&base)).unwrap();
    let token = Signer::new(CLIENT_KEY)
        .with_subject(ACCOUNT)
        .sign_request(&request, &key, UnixTime::from_secs(NOW))
        .unwrap();
    let signing_input_len = token.as_str().rfind('.').unwrap();
    let canonical_len = request.to_string().len();
    let qsh_blocks = blocks_for(canonical_len);
    Fixture {
        name,
        url: format!("{target}&jwt={}", token.as_str()),
        target,
        base,
        keys: [(CLIENT_KEY.to_owned(), key.clone())].into_iter().collect(),
        key,
        canonical_len,
        signing_input_len,
        verify_blocks: hmac_blocks(signing_input_len) + qsh_blocks,
        qsh_blocks,
    }
}

/// Where the request's SHA-256 block counts come from, in one line.
pub(crate) fn blocks_explained(f: &Fixture) -> String {
    format!(
        "{} request: canonical request {} bytes = {} SHA-256 blocks; signing input {} bytes = \
         {} HMAC blocks (inner after the precomputed key block, and outer)",
        f.name,
        f.canonical_len,
        f.qsh_blocks,
        f.signing_input_len,
        hmac_blocks(f.signing_input_len),
    )
}

pub(crate) fn typical() -> Fixture {
    fixture("typical", TYPICAL)
}

pub(crate) fn iframe() -> Fixture {
    fixture("iframe", IFRAME)
}

/// This crate's end-to-end verification: from the raw URL to the verified identity, with the
/// key from a map of cached tenant keys.
pub(crate) fn verify(f: &Fixture, verifier: &Verifier) -> bool {
    let url = black_box(f.url.as_str());
    let request = CanonicalRequest::from_target("GET", url, Some(&f.base)).unwrap();
    let token = request.token(None).unwrap();
    let verified = verifier
        .verify(
            token,
            QshPolicy::Request(&request),
            &f.keys,
            UnixTime::from_secs(NOW + 10),
        )
        .unwrap();
    verified.client_key() == CLIENT_KEY
}

/// The canonical request and its qsh, from the target without a token.
pub(crate) fn qsh(f: &Fixture) -> bool {
    let request = CanonicalRequest::from_target("GET", black_box(f.target), Some(&f.base)).unwrap();
    let qsh = request.qsh();
    qsh.to_bytes() != [0xff; 32]
}

/// A request-bound token for the target: canonical request, qsh, JSON, base64url, HMAC.
pub(crate) fn sign(f: &Fixture) -> bool {
    let request = CanonicalRequest::from_target("GET", black_box(f.target), Some(&f.base)).unwrap();
    let token = Signer::new(CLIENT_KEY)
        .with_subject(ACCOUNT)
        .sign_request(&request, &f.key, UnixTime::from_secs(NOW))
        .unwrap();
    !token.as_str().is_empty()
}

/// The floor: `blocks` SHA-256 compressions, through the same `sha2` build (and so the same
/// compression function, chosen the same way) as this crate's hashing.
pub(crate) fn floor(blocks: &[[u8; 64]]) -> bool {
    let mut state = [
        0x6a09e667u32,
        0xbb67ae85,
        0x3c6ef372,
        0xa54ff53a,
        0x510e527f,
        0x9b05688c,
        0x1f83d9ab,
        0x5be0cd19,
    ];
    sha2::block_api::compress256(&mut state, black_box(blocks));
    state[0] != 1
}
