//! A qsh mismatch on one screen, shared by `verify` and `decode URL`: the canonical request
//! received, the one the token was signed for (the library's diagnosis), where they first
//! differ, and the cause with what the app should change.

use std::fmt::{self, Write as _};

use atlassian_connect_jwt::{Cause, Diagnosis};

use crate::text::safe;

/// Width of the labels, so values line up.
pub(crate) const WIDTH: usize = 26;

/// Writes `  <label><value>` with the label padded to [`WIDTH`].
pub(crate) fn line(out: &mut String, label: &str, value: &dyn fmt::Display) {
    // Writing into a String cannot fail.
    let _ = writeln!(out, "  {label:<WIDTH$}{value}");
}

/// The diagnosis of a mismatch: both canonical requests (or how many variants were tried),
/// a caret under the first difference, each cause, and the `--base` to try for a base-path
/// cause.
pub(crate) fn render(out: &mut String, diagnosis: &Diagnosis) {
    let given = safe(diagnosis.received_request());
    line(out, "canonical request given:", &given);
    match diagnosis.signed_request() {
        Some(signed) => {
            let signed = safe(signed);
            line(out, "the token was signed for:", &signed);
            let same = given
                .chars()
                .zip(signed.chars())
                .take_while(|(a, b)| a == b)
                .count();
            let _ = writeln!(
                out,
                "  {:width$}^ first difference",
                "",
                width = WIDTH + same
            );
        }
        None => {
            let limit = if diagnosis.is_complete() {
                ""
            } else {
                " (the search stopped at its limit)"
            };
            line(
                out,
                "the token was signed for:",
                &format_args!(
                    "unknown: none of {} variants of this request hashes to the presented qsh{limit}",
                    diagnosis.candidates()
                ),
            );
        }
    }
    for cause in diagnosis.causes() {
        line(
            out,
            "cause:",
            &format_args!("{}: {}", cause.code(), safe(&cause.detail())),
        );
    }
    if let Some(hint) = diagnosis.causes().iter().find_map(base_hint) {
        line(out, "hint:", &hint);
    }
}

/// The `--base` that matches the token, for a base-path cause.
fn base_hint(cause: &Cause) -> Option<String> {
    match cause {
        Cause::BasePathNotStripped { prefix } => {
            Some(format!("check again with --base {}", safe(prefix)))
        }
        Cause::BasePathWrong { signed, .. } if signed.is_empty() => {
            Some("check again without --base".to_owned())
        }
        Cause::BasePathWrong { signed, .. } => {
            Some(format!("check again with --base {}", safe(signed)))
        }
        _ => None,
    }
}
