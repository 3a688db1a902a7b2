//! Replays the `verify_fit` fuzz corpus (`fuzz/corpus/verify_fit/`) under plain `cargo test`,
//! through exactly the checks the fuzz target runs (`fuzz/src/fit_checks.rs`).
//!
//! Hand-written seeds state their expected outcome in their name: `seed-accept-*` are
//! accepted (so the oracle's accept branch runs for every mode), `seed-refuse-*` refused.
//! Every other file (found by fuzzing) must only pass the oracle.
#![cfg(feature = "forge")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../fuzz/src/fit_checks.rs"]
mod fit_checks;

use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;

use fit_checks::FitOutcome;

#[test]
fn verify_fit_corpus_passes_the_fuzz_checks() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/verify_fit");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    let (mut accepted, mut refused, mut failures) = (Vec::new(), 0, Vec::new());
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let data = std::fs::read(file).unwrap();
        let outcome = match panic::catch_unwind(AssertUnwindSafe(|| fit_checks::check_fit(&data))) {
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
        let Some(seed) = name.strip_prefix("seed-") else {
            continue;
        };
        match outcome {
            FitOutcome::Accepted if seed.starts_with("accept-") => {
                accepted.push(data[0]);
            }
            FitOutcome::Refused(_) if seed.starts_with("refuse-") => refused += 1,
            other => failures.push(format!("{name}: unexpected outcome {other:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Every mode's accept branch ran, and the refusals are not a handful.
    accepted.sort_unstable();
    accepted.dedup();
    assert_eq!(accepted, b"ckm");
    assert!(refused >= 12, "{refused}");
}
