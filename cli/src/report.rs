//! How commands end: `error: <message> (<code>)` on stderr and an exit status.
//!
//! Exit statuses: 0 success, 1 the request (or I/O) failed, 2 bad usage (clap's).

use std::fmt::Display;
use std::io::{self, Write};
use std::process::ExitCode;

/// Prints `error: <message> (<code>)` on stderr and returns exit status 1.
pub(crate) fn error(message: &dyn Display, code: &str) -> ExitCode {
    // Nothing sensible is left to do if stderr is gone.
    let _ = writeln!(io::stderr().lock(), "error: {message} ({code})");
    ExitCode::FAILURE
}

/// A library error: its lowercase message and its stable code.
pub(crate) fn library(err: &atlassian_connect_jwt::Error) -> ExitCode {
    error(err, err.code())
}

/// An I/O error: exit status 1, with a message unless stdout was closed by its reader
/// (`connect-jwt ... | head`), which is no news to anyone.
pub(crate) fn io(context: &dyn Display, err: &io::Error) -> ExitCode {
    if err.kind() == io::ErrorKind::BrokenPipe {
        return ExitCode::FAILURE;
    }
    error(&format_args!("{context}: {err}"), "io-error")
}
