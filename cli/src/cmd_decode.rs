//! `connect-jwt decode [--now UNIX] TOKEN`: a token's header and claims, NOT VERIFIED.
//! `connect-jwt decode [--now UNIX] [--base URL] [METHOD] URL [TOKEN]`: the same, and whether
//! the token's qsh matches the request (no secret needed; the signature is not checked).

use std::fmt::Write as _;
use std::process::ExitCode;

use atlassian_connect_jwt::dangerous::{decode_unverified, UnverifiedParts};
use atlassian_connect_jwt::{diagnose, BasePath, Error, UnixTime, Unverified, CONTEXT_QSH};
use serde_json::Value;

use crate::mismatch;
use crate::text::{pretty_json, safe};
use crate::{input, report, timefmt};

/// The banner: nothing `decode` shows has been checked.
pub(crate) const BANNER: &str =
    "*** NOT VERIFIED: decoded without a secret; anyone can write these claims ***";

/// Shown under `connect-jwt decode --help`.
const AFTER_HELP: &str = "\
Given a URL with a jwt parameter (or METHOD URL, or METHOD URL TOKEN), decode also checks the
token's qsh against that request, which needs no secret: it says `qsh matches this request`,
or shows the canonical request given, the one the token was signed for and the cause. The
method is GET unless given (iframes and dialogs are loaded with GET). The signature is never
checked: use `connect-jwt verify` for that.";

/// Arguments of `decode`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = AFTER_HELP,
    override_usage = "connect-jwt decode [--now UNIX] TOKEN\n       \
                      connect-jwt decode [--now UNIX] [--base URL] [METHOD] URL_WITH_JWT\n       \
                      connect-jwt decode [--now UNIX] [--base URL] METHOD URL TOKEN"
)]
pub(crate) struct Args {
    /// Unix time to show times against (default: the system clock)
    #[arg(long, value_name = "UNIX")]
    now: Option<u64>,
    /// App base URL (descriptor baseUrl) or path, stripped from URL's path for the qsh check
    #[arg(long, value_name = "URL")]
    base: Option<String>,
    /// The token (also `JWT <token>`); or a URL with a jwt parameter, after an optional
    /// METHOD; or METHOD URL TOKEN. Quote URLs
    #[arg(required = true, num_args = 1..=3, value_name = "TOKEN")]
    args: Vec<String>,
}

/// The request a token is checked against.
struct Request<'a> {
    method: &'a str,
    /// Whether the method was assumed, not given.
    assumed: bool,
    url: &'a str,
}

/// Runs `decode`.
pub(crate) fn run(args: &Args) -> ExitCode {
    let (pasted, request) = match args.args.as_slice() {
        [token] if input::is_url(token) => (
            token.as_str(),
            Some(Request {
                method: "GET",
                assumed: true,
                url: token,
            }),
        ),
        [token] => (token.as_str(), None),
        [method, url, rest @ ..] => {
            if !is_method(method) {
                return report::usage(&format_args!(
                    "with more than one argument, the first is the METHOD (GET, POST, ...): \
                     connect-jwt decode [METHOD] URL [TOKEN]"
                ));
            }
            let request = Request {
                method,
                assumed: false,
                url,
            };
            (
                rest.first().map_or(url.as_str(), String::as_str),
                Some(request),
            )
        }
        [] => return report::usage(&"a TOKEN is required"),
    };
    if request.is_none() && args.base.is_some() {
        return report::usage(&"--base needs a URL to check the token's qsh against");
    }
    let base = match args.base.as_deref().map(BasePath::parse).transpose() {
        Ok(base) => base,
        Err(err) => return report::library(&err),
    };
    let token = match &request {
        Some(request) if pasted != request.url => input::token_for_url(pasted, request.url),
        Some(request) => input::token_in_url(request.url),
        None => input::token(pasted),
    };
    let parts = match token.and_then(|t| Ok((t, decode_unverified(t)?))) {
        Ok(parts) => parts,
        Err(err) => {
            let status = report::library(&err);
            if matches!(
                err,
                Error::MalformedToken | Error::InvalidAuthorizationHeader
            ) {
                if let Some(hint) = input::token_mistake(pasted) {
                    report::hint(&hint);
                }
            }
            return status;
        }
    };
    let now = input::now(args.now);
    let check = request.map(|r| qsh_check(&r, base.as_ref(), &parts.1));
    let text = render(parts.0, &parts.1, now, check.as_deref());
    report::stdout(&text, ExitCode::SUCCESS)
}

/// Whether `text` can be an HTTP method (an RFC 9110 token), not a URL or token.
fn is_method(text: &str) -> bool {
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    !text.is_empty() && text.len() <= 32 && text.bytes().all(tchar)
}

/// The `qsh:` lines: whether the token's qsh is the hash of the request, and if not, why.
fn qsh_check(request: &Request<'_>, base: Option<&BasePath>, parts: &UnverifiedParts) -> String {
    let mut out = String::new();
    let assumed = if request.assumed {
        "method GET assumed; "
    } else {
        ""
    };
    let not_checked = format!("({assumed}the signature was not checked)");
    let claims: Option<serde_json::Map<String, Value>> =
        serde_json::from_str(parts.payload_json()).ok();
    let qsh = match claims.as_ref().and_then(|c| c.get("qsh")) {
        Some(Value::String(qsh)) if qsh == CONTEXT_QSH => {
            let _ = writeln!(
                out,
                "qsh:    context-qsh: bound to no request, so there is nothing to check here"
            );
            return out;
        }
        Some(Value::String(qsh)) => qsh.clone(),
        _ => {
            let _ = writeln!(out, "qsh:    absent or not a string: no request matches");
            return out;
        }
    };
    match diagnose(request.method, request.url, base, &qsh) {
        Err(err) => {
            let _ = writeln!(
                out,
                "qsh:    not checked: the product could never have signed this request: {err} \
                 ({})",
                err.code()
            );
        }
        Ok(diagnosis) if diagnosis.matches() => {
            let _ = writeln!(
                out,
                "qsh:    matches this request: {} {not_checked}",
                safe(diagnosis.received_request())
            );
        }
        Ok(diagnosis) => {
            let _ = writeln!(out, "qsh:    does NOT match this request {not_checked}");
            mismatch::render(&mut out, &diagnosis);
        }
    }
    out
}

/// The report on one decoded token.
fn render(token: &str, parts: &UnverifiedParts, now: UnixTime, qsh: Option<&str>) -> String {
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
    if let Some(qsh) = qsh {
        out.push_str(qsh);
    }
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
