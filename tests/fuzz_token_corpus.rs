//! Replays the `parse_token` and `verify` fuzz corpora (`fuzz/corpus/parse_token/`,
//! `fuzz/corpus/verify/`) under plain `cargo test`, through exactly the checks the fuzz targets
//! run (`fuzz/src/token_checks.rs`), and with feature `signed-install` the `verify_install`
//! corpus (`fuzz/src/install_checks.rs`).
//!
//! Hand-written seeds (`seed-*`) also state their expected outcome in their name:
//!
//! * `parse_token`: `seed-ok-*` parse, `seed-decoded-*` only decode (header or claims
//!   refused), `seed-bad-*` neither;
//! * `verify`: `seed-accept-*` are accepted (so the oracle's accept branch runs), every other
//!   seed is refused; `seed-mutate-*` are in mutation mode;
//! * `verify_install`: `seed-accept-*` are accepted, `seed-refuse-*` refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../fuzz/src/token_checks.rs"]
mod token_checks;

#[cfg(feature = "signed-install")]
#[path = "../fuzz/src/install_checks.rs"]
mod install_checks;

use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;

use token_checks::{ParseOutcome, Selector, VerifyOutcome};

/// Every file of `fuzz/corpus/<target>/`, sorted, as (name, bytes); panics if there is none.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} is empty", dir.display());
    files
        .iter()
        .map(|file| {
            let name = file
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let data = std::fs::read(file).unwrap_or_else(|e| panic!("reading {name}: {e}"));
            (name, data)
        })
        .collect()
}

/// Runs `check` on every file, collecting panics as failures instead of stopping at the first.
fn replay<T>(
    target: &str,
    check: impl Fn(&[u8]) -> T,
    expect: impl Fn(&str, &T) -> Result<(), String>,
) -> usize {
    let files = corpus(target);
    let mut seeds = 0;
    let mut failures = Vec::new();
    for (name, data) in &files {
        let outcome = match panic::catch_unwind(AssertUnwindSafe(|| check(data))) {
            Ok(outcome) => outcome,
            Err(cause) => {
                let message = cause
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| cause.downcast_ref::<&str>().copied())
                    .unwrap_or("(non-string panic)");
                failures.push(format!("{name}: {message}"));
                continue;
            }
        };
        if let Some(seed) = name.strip_prefix("seed-") {
            seeds += 1;
            if let Err(message) = expect(seed, &outcome) {
                failures.push(format!("{name}: {message}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} {target} corpus file(s) fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
    seeds
}

#[test]
fn parse_token_corpus_passes_the_fuzz_checks() {
    let seeds = replay("parse_token", token_checks::check_parse, |seed, outcome| {
        let expected_ok = match outcome {
            ParseOutcome::Parsed => seed.starts_with("ok-"),
            ParseOutcome::Decoded(_) => seed.starts_with("decoded-"),
            ParseOutcome::Rejected(_) => seed.starts_with("bad-"),
            ParseOutcome::Skipped => false,
        };
        if expected_ok {
            Ok(())
        } else {
            Err(format!("unexpected outcome {outcome:?}"))
        }
    });
    assert!(seeds >= 15, "only {seeds} parse_token seeds");
}

#[test]
fn verify_corpus_passes_the_fuzz_checks_and_exercises_acceptance() {
    let accepted = std::cell::Cell::new(0);
    let mutations = std::cell::Cell::new(0);
    let seeds = replay("verify", token_checks::check_verify, |seed, outcome| {
        if seed.starts_with("mutate-") {
            mutations.set(mutations.get() + 1);
        }
        match outcome {
            VerifyOutcome::Accepted(_) if seed.starts_with("accept-") => {
                accepted.set(accepted.get() + 1);
                Ok(())
            }
            VerifyOutcome::Rejected(_) if !seed.starts_with("accept-") => Ok(()),
            other => Err(format!("unexpected outcome {other:?}")),
        }
    });
    assert!(seeds >= 15, "only {seeds} verify seeds");
    assert!(
        accepted.get() >= 1,
        "no verify seed is accepted: the oracle's accept branch never runs"
    );
    assert!(mutations.get() >= 1, "no verify seed is in mutation mode");
}

#[test]
fn mutation_seeds_are_in_mutation_mode() {
    for (name, data) in corpus("verify") {
        let Some(&first) = data.first() else { continue };
        if name.starts_with("seed-") {
            assert_eq!(
                Selector::from_byte(first).mutate,
                name.starts_with("seed-mutate-") || name == "seed-accept-signed-unmutated",
                "{name}: selector {:?}",
                char::from(first)
            );
        }
    }
}

#[test]
fn mutations_apply_as_documented() {
    let mut bytes = b"abc".to_vec();
    // xor 'a' with 3, insert 'X' at the end (position wraps over len + 1), delete index 1.
    token_checks::apply_mutations(&mut bytes, &[0, 0, 0, 3, 1, 3, 0, b'X', 2, 1, 0, 0, 9]);
    assert_eq!(bytes, b"bcX");
    // Replace with a token character: value 64 is `.`.
    token_checks::apply_mutations(&mut bytes, &[3, 1, 0, 64]);
    assert_eq!(bytes, b"b.X");
}

#[cfg(feature = "signed-install")]
#[test]
fn verify_install_corpus_passes_the_fuzz_checks() {
    use install_checks::InstallOutcome;
    let (accepted, refused) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
    let seeds = replay(
        "verify_install",
        install_checks::check_install,
        |seed, outcome| match outcome {
            InstallOutcome::Accepted if seed.starts_with("accept-") => {
                accepted.set(accepted.get() + 1);
                Ok(())
            }
            InstallOutcome::Refused(_) if seed.starts_with("refuse-") => {
                refused.set(refused.get() + 1);
                Ok(())
            }
            other => Err(format!("unexpected outcome {other:?}")),
        },
    );
    assert_eq!(seeds, accepted.get() + refused.get());
    assert!(accepted.get() >= 2 && refused.get() >= 5, "{seeds} seeds");
}
