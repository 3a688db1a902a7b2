//! `connect-jwt qsh [--base URL] METHOD URL`: the canonical request and its qsh, for a person.

use std::io::{self, Write};
use std::process::ExitCode;

use atlassian_connect_jwt::{BasePath, CanonicalRequest, Error};

use crate::report;

/// Arguments of `qsh`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// App base URL (descriptor baseUrl) or path, stripped from URL's path
    #[arg(long, value_name = "URL")]
    base: Option<String>,
    /// HTTP method, any case (GET, post, ...)
    method: String,
    /// The request as the app received it (/path?query) or a full URL; quote it in the shell
    url: String,
}

/// Runs `qsh`.
pub(crate) fn run(args: &Args) -> ExitCode {
    let mut text = Vec::new();
    if let Err(err) = render(&mut text, &args.method, &args.url, args.base.as_deref()) {
        return report::library(&err);
    }
    let mut stdout = io::stdout().lock();
    match stdout.write_all(&text).and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => report::io(&"writing stdout", &err),
    }
}

/// Writes the human-readable report of one request into `out` (also used by the help's live
/// example, so the help shows exactly what the command prints).
///
/// ```text
/// base path:         /connect (stripped)
/// canonical request: GET&/issue-panel&a=hello%20world&b=2
/// qsh:               8aa5...
/// ```
pub(crate) fn render(
    out: &mut Vec<u8>,
    method: &str,
    url: &str,
    base: Option<&str>,
) -> Result<(), Error> {
    let base = base.map(BasePath::parse).transpose()?;
    let request = CanonicalRequest::from_target(method, url, base.as_ref())?;
    let canonical = request.to_string();
    if let Some(base) = &base {
        let note = if base.as_str().is_empty() {
            "(the root: nothing to strip)"
        } else if stripped(method, url, &canonical)? {
            "(stripped)"
        } else {
            "(not a prefix of the path: nothing stripped)"
        };
        let shown = if base.as_str().is_empty() {
            "/"
        } else {
            base.as_str()
        };
        line(out, "base path:", &format_args!("{shown} {note}"));
    }
    line(out, "canonical request:", &canonical);
    line(out, "qsh:", &request.qsh());
    Ok(())
}

/// Whether the base path was stripped: stripping always changes the canonical path, so
/// compare with the request canonicalized without a base. (The library does not say.)
fn stripped(method: &str, url: &str, canonical: &str) -> Result<bool, Error> {
    let unstripped = CanonicalRequest::from_target(method, url, None)?;
    Ok(unstripped.to_string() != canonical)
}

fn line(out: &mut Vec<u8>, label: &str, value: &dyn std::fmt::Display) {
    // Writing into a Vec cannot fail.
    let _ = writeln!(out, "{label:<18} {value}");
}
