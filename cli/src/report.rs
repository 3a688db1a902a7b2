//! How commands end: `error: <message> (<code>)` on stderr and an exit status.
//!
//! Exit statuses: 0 success, 1 the request or token failed (or I/O), 2 bad usage.

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

/// A hint line under an error on stderr: `  hint: <text>`.
pub(crate) fn hint(text: &dyn Display) {
    let _ = writeln!(io::stderr().lock(), "  hint: {text}");
}

/// An I/O error: exit status 1, with a message unless stdout was closed by its reader
/// (`connect-jwt ... | head`), which is no news to anyone.
pub(crate) fn io(context: &dyn Display, err: &io::Error) -> ExitCode {
    if err.kind() == io::ErrorKind::BrokenPipe {
        return ExitCode::FAILURE;
    }
    error(&format_args!("{context}: {err}"), "io-error")
}

/// Bad usage clap could not catch: `error: <message>` on stderr, exit status 2.
pub(crate) fn usage(message: &dyn Display) -> ExitCode {
    let _ = writeln!(io::stderr().lock(), "error: {message}");
    ExitCode::from(2)
}

/// Writes a command's whole output to stdout, then exits with `status`.
pub(crate) fn stdout(text: &str, status: ExitCode) -> ExitCode {
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => status,
        Err(err) => io(&"writing stdout", &err),
    }
}
