//! The top-level help: usage, then a worked example that this very build runs, so
//! `connect-jwt` alone shows the tool doing its job.

use std::io::{self, Write};
use std::process::ExitCode;

use crate::{cmd_canonical, cmd_qsh, jsonl, report};

/// The example request: what a Connect app with base URL `EXAMPLE_BASE` receives when
/// Jira loads its issue panel (the token in `jwt` is not part of the hash).
const EXAMPLE_METHOD: &str = "GET";
const EXAMPLE_URL: &str = "https://app.example.com/connect/issue-panel?b=2&a=hello+world&jwt=...";
const EXAMPLE_BASE: &str = "https://app.example.com/connect";

/// The example, its output computed now by the library.
pub(crate) fn example() -> String {
    let mut text = format!(
        "Example (computed live by this build):\n  \
         $ connect-jwt qsh --base {EXAMPLE_BASE} {EXAMPLE_METHOD} '{EXAMPLE_URL}'\n"
    );
    let mut out = Vec::new();
    match cmd_qsh::render(&mut out, EXAMPLE_METHOD, EXAMPLE_URL, Some(EXAMPLE_BASE)) {
        Ok(()) => indent(&mut text, &String::from_utf8_lossy(&out)),
        Err(err) => indent(&mut text, &format!("error: {err} ({})\n", err.code())),
    }

    let line =
        format!(r#"{{"method":"{EXAMPLE_METHOD}","url":"{EXAMPLE_URL}","base":"{EXAMPLE_BASE}"}}"#);
    text.push_str(&format!(
        "\nThe same, as JSON Lines (one request per line in, one result per line out):\n  \
         $ echo '{line}' | connect-jwt canonical --jsonl\n"
    ));
    let mut out = Vec::new();
    let run = jsonl::run(line.as_bytes(), &mut out, |line| {
        cmd_canonical::answer(line, None)
    });
    match run {
        Ok(()) => indent(&mut text, &String::from_utf8_lossy(&out)),
        Err(err) => indent(&mut text, &format!("error: {err}\n")),
    }
    text.push_str(
        "\nTokens (the secret may also come from $CONNECT_JWT_SECRET, and is never printed):\n  \
         $ connect-jwt decode TOKEN                          # header, claims, times: NOT VERIFIED\n  \
         $ connect-jwt verify --secret S METHOD URL [TOKEN]  # valid, or why not\n  \
         $ connect-jwt sign --secret S --iss KEY METHOD URL  # a token bound to the request\n  \
         $ connect-jwt sign-assertion --secret S ...         # the OAuth user-impersonation assertion\n\
         \nMore: connect-jwt <COMMAND> --help; the JSON Lines contracts are in README.md.",
    );
    text
}

fn indent(text: &mut String, block: &str) {
    for line in block.lines() {
        text.push_str("  ");
        text.push_str(line);
        text.push('\n');
    }
}

/// Prints the help (for `connect-jwt` with no arguments) and exits 0.
pub(crate) fn print(command: &mut clap::Command) -> ExitCode {
    let help = command.render_help();
    let mut stdout = io::stdout().lock();
    let newline = if help.to_string().ends_with('\n') {
        ""
    } else {
        "\n"
    };
    match write!(stdout, "{help}{newline}").and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => report::io(&"writing stdout", &err),
    }
}
