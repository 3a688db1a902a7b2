//! `connect-jwt canonical [--base URL] METHOD URL`: the canonical request, bare, for scripts.
//! `connect-jwt canonical --jsonl [--base URL]`: canonical request and qsh of every JSON Lines
//! request on stdin (the contract is in the README).

use std::borrow::Cow;
use std::io::{self, Write};
use std::process::ExitCode;

use atlassian_connect_jwt::{BasePath, CanonicalRequest};
use serde::{Deserialize, Serialize};

use crate::jsonl::{self, Failure, Hex64};
use crate::report;

/// Shown under `connect-jwt canonical --help`.
const AFTER_HELP: &str = "\
JSON Lines (--jsonl): one request per input line,
  {\"method\":\"GET\",\"url\":\"/test?param=value\",\"base\":\"https://app.example.com\"}
(\"base\" optional, defaults to --base), and exactly one line out per line in, in order:
  {\"canonical\":\"GET&/test&param=value\",\"qsh\":\"be16...86dd\"}
  {\"error\":\"invalid-percent-encoding\",\"message\":\"...\"}
Bad lines (not a JSON object, missing, unknown or mistyped fields, blank, not UTF-8)
answer {\"error\":\"malformed-input\",...}. Exit status 0 once stdin is read to its end.";

/// Arguments of `canonical`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = AFTER_HELP,
    override_usage = "connect-jwt canonical [--base URL] METHOD URL\n       \
                      connect-jwt canonical --jsonl [--base URL] < requests.jsonl"
)]
pub(crate) struct Args {
    /// Read JSON Lines requests on stdin, write one result line per input line
    #[arg(long)]
    jsonl: bool,
    /// App base URL or path to strip (--jsonl: for lines without "base")
    #[arg(long, value_name = "URL")]
    base: Option<String>,
    /// HTTP method, any case (not with --jsonl)
    #[arg(required_unless_present = "jsonl", conflicts_with = "jsonl")]
    method: Option<String>,
    /// The request as received (/path?query) or a full URL (not with --jsonl)
    #[arg(required_unless_present = "jsonl", conflicts_with = "jsonl")]
    url: Option<String>,
}

/// Runs `canonical`.
pub(crate) fn run(args: &Args) -> ExitCode {
    let base = match args.base.as_deref().map(BasePath::parse).transpose() {
        Ok(base) => base,
        Err(err) => return report::library(&err),
    };
    match (&args.method, &args.url) {
        (Some(method), Some(url)) if !args.jsonl => one(method, url, base.as_ref()),
        _ => many(base.as_ref()),
    }
}

/// One request from the command line: prints its canonical request and nothing else.
fn one(method: &str, url: &str, base: Option<&BasePath>) -> ExitCode {
    let canonical = match CanonicalRequest::from_target(method, url, base) {
        Ok(request) => request.to_string(),
        Err(err) => return report::library(&err),
    };
    let mut stdout = io::stdout().lock();
    match writeln!(stdout, "{canonical}").and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => report::io(&"writing stdout", &err),
    }
}

/// JSON Lines on stdin to JSON Lines on stdout.
fn many(default_base: Option<&BasePath>) -> ExitCode {
    let result = jsonl::run(io::stdin().lock(), io::stdout().lock(), |line| {
        answer(line, default_base)
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => report::io(&err, err.io_error()),
    }
}

/// One input line: `{"method": string, "url": string, "base"?: string | null}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Request<'a> {
    #[serde(borrow)]
    method: Cow<'a, str>,
    #[serde(borrow)]
    url: Cow<'a, str>,
    #[serde(default, borrow)]
    base: Option<Cow<'a, str>>,
}

/// One output line on success.
#[derive(Debug, Serialize)]
struct Answer {
    canonical: String,
    qsh: Hex64,
}

/// Answers one JSON Lines request (also used by the help's live example).
pub(crate) fn answer(
    line: &str,
    default_base: Option<&BasePath>,
) -> Result<impl Serialize, Failure> {
    let request: Request<'_> = jsonl::parse_object(line)?;
    let own_base = request.base.as_deref().map(BasePath::parse).transpose()?;
    let base = own_base.as_ref().or(default_base);
    let canonical = CanonicalRequest::from_target(&request.method, &request.url, base)?;
    Ok(Answer {
        canonical: canonical.to_string(),
        qsh: Hex64(canonical.qsh().hex()),
    })
}
