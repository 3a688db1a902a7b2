//! Replays the `canonicalize` fuzz corpus (`fuzz/corpus/canonicalize/`) under plain
//! `cargo test`, through exactly the checks the fuzz target runs (`fuzz/src/checks.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../fuzz/src/checks.rs"]
mod checks;

use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;

#[test]
fn fuzz_corpus_passes_the_fuzz_checks() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/canonicalize");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} is empty", dir.display());

    let mut seeds = 0;
    let mut failures = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("reading {name}: {e}"));
        if name.starts_with("seed-") {
            // A hand-written seed must mean something: UTF-8, `METHOD \n BASE \n TARGET`.
            seeds += 1;
            let text = std::str::from_utf8(&data)
                .unwrap_or_else(|_| panic!("seed {name} is not UTF-8 (the target skips it)"));
            assert_eq!(
                text.splitn(3, '\n').count(),
                3,
                "seed {name} is not METHOD\\nBASE\\nTARGET"
            );
        }
        if let Err(cause) = panic::catch_unwind(AssertUnwindSafe(|| checks::check(&data))) {
            let message = cause
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| cause.downcast_ref::<&str>().copied())
                .unwrap_or("(non-string panic)")
                .to_owned();
            failures.push(format!("{name}: {message}"));
        }
    }
    assert!(
        seeds >= 20,
        "only {seeds} seed-* files in {}",
        dir.display()
    );
    assert!(
        failures.is_empty(),
        "{} corpus file(s) fail the fuzz checks:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
