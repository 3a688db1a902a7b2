//! Helpers shared by the seeded tests against the npm reference (`differential.rs`,
//! `interop.rs`): the generator's PRNG, the seed and case-count environment variables, and
//! the skip-or-fail check for node and `tests/reference/node_modules`.
//!
//! The PRNG and its methods are part of each test's reproducibility contract: a printed seed
//! must regenerate the same cases, so the algorithm and the draws each method makes must not
//! change.

use std::env;
use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

/// SplitMix64: tiny, seedable, good enough to drive a generator.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (the modulo bias is irrelevant here).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    pub(crate) fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub(crate) fn pick_str(&mut self, items: &[&'static str]) -> &'static str {
        items[self.below(items.len())]
    }

    /// Appends `len` characters drawn from `alphabet`.
    pub(crate) fn push_from(&mut self, alphabet: &[u8], len: usize, out: &mut String) {
        for _ in 0..len {
            out.push(char::from(*self.pick(alphabet)));
        }
    }

    /// `min..=max` characters drawn from `alphabet`.
    pub(crate) fn string_from(&mut self, alphabet: &[u8], min: usize, max: usize) -> String {
        let mut out = String::new();
        let len = self.between(min, max);
        self.push_from(alphabet, len, &mut out);
        out
    }

    /// A non-ASCII scalar value, evenly from each range with a distinct UTF-8 length or
    /// UTF-16 ordering (U+E000..=U+FFFF sorts after surrogate pairs in UTF-16).
    pub(crate) fn non_ascii_char(&mut self) -> char {
        let code = match self.below(4) {
            0 => self.between(0x80, 0x7FF),
            1 => self.between(0x800, 0xD7FF),
            2 => self.between(0xE000, 0xFFFF),
            _ => self.between(0x1_0000, 0x10_FFFF),
        };
        char::from_u32(code as u32).expect("no surrogates in these ranges")
    }
}

/// The seed in the environment variable `name` (decimal or `0x` hex), else one from the
/// clock and the process id. Panics on a value that is not a `u64`.
pub(crate) fn seed_from_env(name: &str) -> u64 {
    match env::var(name) {
        Ok(text) => {
            let text = text.trim();
            let parsed = match text.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => text.parse(),
            };
            parsed.unwrap_or_else(|_| panic!("{name}={text:?} is not a u64"))
        }
        Err(_) => {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            (nanos as u64) ^ (u64::from(std::process::id()) << 32)
        }
    }
}

/// The count in the environment variable `name`, else `default`. Panics on a value that is
/// not a count.
pub(crate) fn count_from_env(name: &str, default: usize) -> usize {
    env::var(name).map_or(default, |text| {
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a count"))
    })
}

/// `Err(why)` when the reference cannot run here.
fn reference_available(root: &Path) -> Result<(), String> {
    let package = root.join("tests/reference/node_modules/atlassian-jwt/package.json");
    if !package.is_file() {
        return Err(format!("{} is missing", package.display()));
    }
    match Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!("`node --version` failed: {}", out.status)),
        Err(err) => Err(format!("`node` is not runnable: {err}")),
    }
}

/// Whether the npm reference under `root` can run. When it cannot, prints a loud `SKIPPED`
/// banner naming `what` and returns `false`, or panics if `REQUIRE_NODE=1`.
pub(crate) fn reference_or_skip(root: &Path, what: &str) -> bool {
    let required = env::var("REQUIRE_NODE").as_deref() == Ok("1");
    match skip_or_fail(reference_available(root), what, required) {
        Ok(run) => run,
        Err(message) => panic!("{message}"),
    }
}

/// The decision of [`reference_or_skip`], without its environment: `Ok(true)` to run,
/// `Ok(false)` to skip (after the banner on stderr), `Err` (the failure message) when the
/// reference is required but cannot run.
pub(crate) fn skip_or_fail(
    available: Result<(), String>,
    what: &str,
    required: bool,
) -> Result<bool, String> {
    let Err(why) = available else {
        return Ok(true);
    };
    let message = format!("{what} needs node and 'npm ci --prefix tests/reference': {why}");
    if required {
        return Err(format!("REQUIRE_NODE=1 but {message}"));
    }
    eprintln!("\n{0}\nSKIPPED: {message}\n{0}\n", "!".repeat(78));
    Ok(false)
}
