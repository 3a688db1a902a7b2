//! `connect-jwt`: a command-line debugger for Atlassian Connect JWTs.
//!
//! This file only parses the command line and dispatches: each command lives in its own
//! `cmd_*` module (an `Args` struct and a `run` function returning the exit status), and
//! `--jsonl` modes share the loop in [`jsonl`]. To add a command: a module, a variant of
//! [`Command`], a line in [`main`].

mod cmd_canonical;
mod cmd_decode;
mod cmd_qsh;
mod cmd_sign;
mod cmd_sign_assertion;
mod cmd_verify;
mod cmd_verify_fit;
mod cmd_verify_install;
mod help;
mod input;
mod jsonl;
mod mismatch;
mod report;
mod text;
mod timefmt;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// Debug Atlassian Connect JWTs: canonical requests and query string hashes (qsh), exactly
/// as the Atlassian product computes them; decode, verify and sign tokens.
#[derive(Debug, Parser)]
#[command(name = "connect-jwt", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show the canonical request and qsh of one request, for a person to read
    Qsh(cmd_qsh::Args),
    /// Print one canonical request, or many with their qsh as JSON Lines (--jsonl)
    Canonical(cmd_canonical::Args),
    /// Show a token's header, claims, times and kind, NOT VERIFIED, and check a URL's qsh (no secret needed)
    Decode(cmd_decode::Args),
    /// Verify a token for a request with a shared secret, or many as JSON Lines (--jsonl)
    Verify(cmd_verify::Args),
    /// Verify a signed-install lifecycle callback (installed/uninstalled): RS256 token and body
    VerifyInstall(cmd_verify_install::Args),
    /// Verify a Forge Invocation Token (Forge remote) against Forge's key set, or many as JSON Lines (--jsonl)
    VerifyFit(cmd_verify_fit::Args),
    /// Sign a token for a request (or a context token, --context)
    Sign(cmd_sign::Args),
    /// Sign the user-impersonation assertion (OAuth 2.0 JWT bearer grant)
    SignAssertion(cmd_sign_assertion::Args),
}

fn main() -> ExitCode {
    // The top-level help (no arguments, `help`, `--help`) ends with a worked example that is
    // computed live by the library.
    let mut command = Cli::command().after_help(help::example());
    let cli = match command
        .try_get_matches_from_mut(std::env::args_os())
        .and_then(|matches| Cli::from_arg_matches(&matches))
    {
        Ok(cli) => cli,
        // Usage errors exit 2 (on stderr); --help and --version exit 0 (on stdout).
        Err(err) => return clap_exit(&err),
    };
    match &cli.command {
        Some(Command::Qsh(args)) => cmd_qsh::run(args),
        Some(Command::Canonical(args)) => cmd_canonical::run(args),
        Some(Command::Decode(args)) => cmd_decode::run(args),
        Some(Command::Verify(args)) => cmd_verify::run(args),
        Some(Command::VerifyInstall(args)) => cmd_verify_install::run(args),
        Some(Command::VerifyFit(args)) => cmd_verify_fit::run(args),
        Some(Command::Sign(args)) => cmd_sign::run(args),
        Some(Command::SignAssertion(args)) => cmd_sign_assertion::run(args),
        None => help::print(&mut command),
    }
}

fn clap_exit(err: &clap::Error) -> ExitCode {
    let _ = err.print();
    ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2))
}
