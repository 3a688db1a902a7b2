//! `connect-jwt decode [--now UNIX] TOKEN`: a token's header and claims, NOT VERIFIED.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::process::ExitCode;

use atlassian_connect_jwt::dangerous::{decode_unverified, UnverifiedParts};
use atlassian_connect_jwt::{Error, UnixTime, Unverified, CONTEXT_QSH};
use serde_json::Value;

use crate::text::{pretty_json, safe};
use crate::{input, report, timefmt};

/// The banner: nothing `decode` shows has been checked.
pub(crate) const BANNER: &str =
    "*** NOT VERIFIED: decoded without a secret; anyone can write these claims ***";

/// Arguments of `decode`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Unix time to show times against (default: the system clock)
    #[arg(long, value_name = "UNIX")]
    now: Option<u64>,
    /// The token; also `JWT <token>`, or a URL with a `jwt` parameter (quote it)
    token: String,
}

/// Runs `decode`.
pub(crate) fn run(args: &Args) -> ExitCode {
    let parts = match input::token(&args.token).and_then(|t| Ok((t, decode_unverified(t)?))) {
        Ok(parts) => parts,
        Err(err) => return report::library(&err),
    };
    let text = render(parts.0, &parts.1, input::now(args.now));
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => report::io(&"writing stdout", &err),
    }
}

/// The report on one decoded token.
fn render(token: &str, parts: &UnverifiedParts, now: UnixTime) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = writeln!(out, "{BANNER}\n");
    let _ = writeln!(out, "header:\n{}\n", pretty_json(parts.header_json()));
    let _ = writeln!(out, "claims:\n{}\n", pretty_json(parts.payload_json()));

    let claims: Option<serde_json::Map<String, Value>> =
        serde_json::from_str(parts.payload_json()).ok();
    let claim = |name: &str| claims.as_ref().and_then(|c| c.get(name));
    let _ = writeln!(out, "kind:   {}", kind(claim("qsh")));
    for (name, required) in [("iat", true), ("exp", true), ("nbf", false)] {
        let shown = match claim(name) {
            None if required => "absent (a verifier requires it)".to_owned(),
            None => continue,
            Some(value) => time(name, value, now),
        };
        let _ = writeln!(out, "{name}:    {shown}");
    }
    let _ = writeln!(out, "now:    {} ({now})", timefmt::utc(now));
    let _ = writeln!(out, "form:   {}", form(token));
    let _ = writeln!(
        out,
        "\n{BANNER}\n(check it with: connect-jwt verify --secret ... METHOD URL TOKEN)"
    );
    out
}

/// The token kind, from its `qsh`.
fn kind(qsh: Option<&Value>) -> String {
    match qsh {
        None => "no qsh (a Connect verifier rejects it: missing-claim)".to_owned(),
        Some(Value::String(qsh)) if qsh == CONTEXT_QSH => {
            "context-qsh: a context token, bound to no request (only context routes take it)"
                .to_owned()
        }
        Some(Value::String(qsh)) if is_hex64(qsh) => {
            format!("request-bound qsh {qsh}: bound to one request")
        }
        Some(Value::String(qsh)) => format!(
            "request-bound qsh \"{}\", but not 64 lowercase hex digits: no request hashes to it",
            safe(qsh)
        ),
        Some(_) => "qsh is not a string (a verifier rejects it: invalid-claim)".to_owned(),
    }
}

fn is_hex64(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A NumericDate claim as a UTC date-time and relative to now.
fn time(name: &str, value: &Value, now: UnixTime) -> String {
    let Some(time) = numeric_date(value) else {
        return format!("{value} is not a NumericDate (a verifier rejects it: invalid-claim)");
    };
    let relative = if name == "exp" {
        timefmt::expiry(time, now)
    } else {
        timefmt::relative(time, now)
    };
    let raw = match value {
        Value::Number(n) if n.as_u64().is_none() => format!(", {n}"),
        _ => String::new(),
    };
    format!("{} ({relative}{raw})", timefmt::utc(time))
}

/// Whole seconds of a NumericDate as the verifier reads it.
fn numeric_date(value: &Value) -> Option<UnixTime> {
    atlassian_connect_jwt::dangerous::numeric_date(&value.to_string())
}

/// What a verifier makes of the token before it needs a secret.
fn form(token: &str) -> String {
    match Unverified::parse(token) {
        Ok(_) => "a verifier reads it: HS256 header, claims well typed \
                  (signature, times and qsh not checked)"
            .to_owned(),
        Err(err) => rejected(&err),
    }
}

fn rejected(err: &Error) -> String {
    format!("a verifier rejects it: {err} ({})", err.code())
}
