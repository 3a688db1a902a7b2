//! `connect-jwt verify --secret S [--base URL] [--accept ...] [--leeway S] [--now UNIX] METHOD
//! URL [TOKEN]`: verifies one token as a Connect app would, and on a qsh mismatch shows what
//! the token was signed for.
//! `connect-jwt verify --jsonl [--base URL]`: verifies every JSON Lines request on stdin (the
//! contract is in the README).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::io;
use std::process::ExitCode;

use atlassian_connect_jwt::{
    diagnose, BasePath, CanonicalRequest, Diagnosis, Error, QshMismatch, QshPolicy, SharedSecret,
    TenantKey, UnixTime, Unverified, Verified, Verifier, DEFAULT_LEEWAY,
};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::jsonl::{self, ErrorStyle, Failure};
use crate::mismatch::{self, line};
use crate::text::safe;
use crate::{input, report, timefmt};

/// Shown under `connect-jwt verify --help`.
const AFTER_HELP: &str = "\
Prints `valid` and what the token says (exit 0), or `invalid: <message> (<code>)` with
details (exit 1); both on stdout. On a qsh mismatch it shows both qsh values, the canonical
request given and the one the token was signed for, and the cause: it searches the changes
proxies, frameworks and configurations make (base path, method, parameters added, path
prefix removed, path decoded or re-encoded, %2B and +, trailing slash). The secret comes from
--secret-file PATH, $CONNECT_JWT_SECRET or --secret SECRET, and is never printed.

JSON Lines (--jsonl): one request per input line,
  {\"token\":\"eyJ...\",\"secrets\":{\"<clientKey>\":\"<secret>\"},\"method\":\"GET\",
   \"url\":\"/p?a=1\",\"now\":1700000060,\"accept\":\"request\"}
(optional: \"base\", defaulting to --base, and \"leeway\"), one line out per line in, in order:
  {\"ok\":true,\"iss\":\"<clientKey>\",\"sub\":null,\"kind\":\"request-bound\"}
  {\"ok\":false,\"error\":\"expired\",\"message\":\"...\"}
  {\"ok\":false,\"error\":\"qsh-mismatch\",\"message\":\"...\",
   \"diagnosis\":{\"cause\":\"parameter-added\",\"detail\":\"...\"}}
Bad lines answer {\"ok\":false,\"error\":\"malformed-input\",...}. Exit 0 once stdin is read.";

/// Which tokens the route accepts (`QshPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Accept {
    /// Tokens bound to this request by their qsh (iframes, webhooks, lifecycle, server calls)
    Request,
    /// Context tokens only (qsh "context-qsh", from AP.context.getToken())
    Context,
    /// Either
    RequestOrContext,
}

/// Arguments of `verify`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = AFTER_HELP,
    override_usage = "connect-jwt verify [--secret-file PATH | --secret SECRET] [--base URL] \
                      [--accept KIND] [--leeway SECONDS] [--now UNIX] METHOD URL [TOKEN]\n       \
                      connect-jwt verify --jsonl [--base URL] < requests.jsonl"
)]
pub(crate) struct Args {
    /// Read JSON Lines requests on stdin, write one result line per input line
    #[arg(long, conflicts_with_all = ["secret", "secret_file"])]
    jsonl: bool,
    #[command(flatten)]
    secret: input::SecretArg,
    /// App base URL (descriptor baseUrl) or path, stripped from URL's path
    #[arg(long, value_name = "URL")]
    base: Option<String>,
    /// Which tokens the route accepts
    #[arg(
        long,
        value_enum,
        value_name = "KIND",
        default_value_t = Accept::Request,
        conflicts_with = "jsonl"
    )]
    accept: Accept,
    /// Clock-skew allowance in seconds, at most 300 [default: 30]
    #[arg(long, value_name = "SECONDS", conflicts_with = "jsonl")]
    leeway: Option<u64>,
    /// Unix time to verify at (default: the system clock)
    #[arg(long, value_name = "UNIX", conflicts_with = "jsonl")]
    now: Option<u64>,
    /// HTTP method of the request, any case
    #[arg(required_unless_present = "jsonl", conflicts_with = "jsonl")]
    method: Option<String>,
    /// The request as the app received it (/path?query) or a full URL; quote it
    #[arg(required_unless_present = "jsonl", conflicts_with = "jsonl")]
    url: Option<String>,
    /// The token, or `JWT <token>` (default: URL's jwt parameter, which must not differ)
    #[arg(conflicts_with = "jsonl")]
    token: Option<String>,
}

/// Runs `verify`.
pub(crate) fn run(args: &Args) -> ExitCode {
    let base = match args.base.as_deref().map(BasePath::parse).transpose() {
        Ok(base) => base,
        Err(err) => return report::library(&err),
    };
    match (&args.method, &args.url) {
        (Some(method), Some(url)) if !args.jsonl => one(args, method, url, base.as_ref()),
        _ => many(base.as_ref()),
    }
}

/// One token from the command line.
fn one(args: &Args, method: &str, url: &str, base: Option<&BasePath>) -> ExitCode {
    let secret = match args.secret.shared_secret() {
        Ok(secret) => secret,
        Err(status) => return status,
    };
    let leeway = args.leeway.unwrap_or(DEFAULT_LEEWAY);
    let verifier = match Verifier::new().with_leeway(leeway) {
        Ok(verifier) => verifier,
        Err(err) => return report::library(&err),
    };
    let check = Check {
        method,
        url,
        base,
        accept: args.accept,
        now: input::now(args.now),
        leeway,
    };
    let token = match &args.token {
        Some(token) => input::token_for_url(token, url),
        None => input::token_in_url(url),
    };
    let mut out = String::new();
    let result = token
        .map_err(Invalid::from)
        .and_then(|token| check.verify(&verifier, &secret, token));
    let status = match result {
        Ok(verified) => {
            check.valid(&mut out, &verified);
            ExitCode::SUCCESS
        }
        Err(failure) => {
            check.invalid(&mut out, &failure);
            let pasted = args.token.as_deref().unwrap_or(url);
            token_hint(&mut out, &failure.error, pasted);
            ExitCode::FAILURE
        }
    };
    report::stdout(&out, status)
}

/// The hint for a token that could not be found or read: which mistake was made pasting it,
/// or where the second token is.
fn token_hint(out: &mut String, error: &Error, pasted: &str) {
    let hint = match error {
        Error::MalformedToken | Error::InvalidAuthorizationHeader => {
            input::token_mistake(pasted).map(str::to_owned)
        }
        Error::ConflictingTokens => Some(
            "the URL's jwt parameter holds another token than the one given (or two different \
             ones): an app refuses such a request; drop one of them"
                .to_owned(),
        ),
        _ => None,
    };
    if let Some(hint) = hint {
        let _ = writeln!(out, "  hint: {hint}");
    }
}

/// Why a token failed, with what is known of it.
#[derive(Debug)]
struct Invalid {
    error: Error,
    /// The token's `iss`, once its form was read.
    issuer: Option<String>,
}

impl From<Error> for Invalid {
    fn from(error: Error) -> Self {
        Self {
            error,
            issuer: None,
        }
    }
}

/// One verification and its report.
struct Check<'a> {
    method: &'a str,
    url: &'a str,
    base: Option<&'a BasePath>,
    accept: Accept,
    now: UnixTime,
    leeway: u64,
}

impl Check<'_> {
    /// As an app: canonicalize the request (unless only context tokens are accepted), read the
    /// token, then check signature, times and qsh.
    fn verify(
        &self,
        verifier: &Verifier,
        secret: &SharedSecret,
        token: &str,
    ) -> Result<Verified, Invalid> {
        let request = match self.accept {
            Accept::Context => None,
            Accept::Request | Accept::RequestOrContext => Some(CanonicalRequest::from_target(
                self.method,
                self.url,
                self.base,
            )?),
        };
        let policy = match (&request, self.accept) {
            (Some(request), Accept::Request) => QshPolicy::Request(request),
            (Some(request), _) => QshPolicy::RequestOrContext(request),
            (None, _) => QshPolicy::Context,
        };
        let unverified = Unverified::parse(token)?;
        let issuer = unverified.issuer().to_owned();
        // The secret given is the key of whichever tenant the token names.
        TenantKey::new(&issuer, secret)
            .and_then(|key| verifier.finish(unverified, &key, policy, self.now))
            .map_err(|error| Invalid {
                error,
                issuer: Some(issuer),
            })
    }

    fn valid(&self, out: &mut String, verified: &Verified) {
        let exp = verified.claims().exp();
        let mut expiry = timefmt::expiry(exp, self.now);
        if exp <= self.now {
            let _ = write!(expiry, ", within the {} s leeway", self.leeway);
        }
        let expiry = format!("{} ({expiry})", timefmt::utc(exp));
        let account = verified
            .account_id()
            .map_or_else(|| "(none)".to_owned(), safe);
        // Writing into a String cannot fail.
        let _ = writeln!(out, "valid");
        let _ = writeln!(out, "client key: {}", safe(verified.client_key()));
        let _ = writeln!(out, "account id: {account}");
        let _ = writeln!(out, "kind:       {}", verified.kind().as_str());
        let _ = writeln!(out, "exp:        {expiry}");
    }

    fn invalid(&self, out: &mut String, invalid: &Invalid) {
        let err = &invalid.error;
        let _ = writeln!(out, "invalid: {} ({})", safe(&err.to_string()), err.code());
        timefmt::explain_failure(out, err, self.now, self.leeway);
        match err {
            Error::QshMismatch(mismatch) => self.mismatch(out, mismatch),
            Error::ContextTokenNotAllowed => {
                let _ = writeln!(
                    out,
                    "  hint: this is a context token (qsh \"context-qsh\", from \
                     AP.context.getToken()); only routes that accept context tokens take it \
                     (--accept context or request-or-context)"
                );
            }
            Error::ContextTokenRequired => {
                let _ = writeln!(
                    out,
                    "  hint: this token is bound to a request by its qsh: verify it with \
                     --accept request"
                );
            }
            Error::InvalidSignature => {
                let iss = invalid.issuer.as_deref().map(safe).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "  hint: the token (iss \"{iss}\") was not signed with this secret, or was \
                     changed after signing"
                );
            }
            _ => {}
        }
    }

    /// Both qsh values, the canonical request given, the one the token was signed for and
    /// the cause.
    fn mismatch(&self, out: &mut String, mismatch: &QshMismatch) {
        line(
            out,
            "expected qsh:",
            &format_args!("{}  (the request given)", mismatch.expected()),
        );
        line(
            out,
            "presented qsh:",
            &format_args!("{}  (the token's claim)", safe(mismatch.presented())),
        );
        match diagnose(self.method, self.url, self.base, mismatch.presented()) {
            Ok(diagnosis) => mismatch::render(out, &diagnosis),
            // The request canonicalized before the qsh was compared, so this cannot happen.
            Err(_) => line(
                out,
                "canonical request given:",
                &safe(mismatch.canonical_request()),
            ),
        }
    }
}

/// JSON Lines on stdin to JSON Lines on stdout.
fn many(default_base: Option<&BasePath>) -> ExitCode {
    let result = jsonl::run_styled(
        io::stdin().lock(),
        io::stdout().lock(),
        ErrorStyle::WithOk,
        |line| answer(line, default_base).map_err(jsonl::redact),
    );
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => report::io(&err, err.io_error()),
    }
}

/// One input line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Request<'a> {
    #[serde(borrow)]
    token: Cow<'a, str>,
    secrets: Secrets,
    #[serde(borrow)]
    method: Cow<'a, str>,
    #[serde(borrow)]
    url: Cow<'a, str>,
    #[serde(default, borrow)]
    base: Option<Cow<'a, str>>,
    now: u64,
    accept: Accept,
    #[serde(default)]
    leeway: Option<u64>,
}

/// `{"<clientKey>": "<shared secret>", ...}`; a clientKey given twice is malformed input.
#[derive(Debug)]
struct Secrets(BTreeMap<String, SharedSecret>);

impl<'de> Deserialize<'de> for Secrets {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SecretsVisitor;
        impl<'de> Visitor<'de> for SecretsVisitor {
            type Value = Secrets;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object from clientKey to shared secret")
            }
            // serde's own message would quote the string, and a string here is likely the
            // secret itself (`"secrets":"..."`): say what was wrong without it.
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Secrets, E> {
                Err(E::custom(
                    "invalid type: a string, expected an object from clientKey to shared secret",
                ))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Secrets, A::Error> {
                let mut secrets = BTreeMap::new();
                while let Some(client_key) = map.next_key::<String>()? {
                    let secret = SharedSecret::new(map.next_value::<String>()?);
                    if secrets.insert(client_key, secret).is_some() {
                        return Err(de::Error::custom("a clientKey appears twice in `secrets`"));
                    }
                }
                Ok(Secrets(secrets))
            }
        }
        // `any`, not `map`: serde_json answers a string given to `deserialize_map` with a
        // message quoting it, without asking the visitor.
        deserializer.deserialize_any(SecretsVisitor)
    }
}

/// One output line on success.
#[derive(Debug, Serialize)]
struct Answer {
    ok: bool,
    iss: String,
    sub: Option<String>,
    kind: &'static str,
}

/// The output line of a `qsh-mismatch`: the failure line with the diagnosis.
#[derive(Debug, Serialize)]
struct MismatchLine {
    ok: bool,
    error: &'static str,
    message: String,
    diagnosis: DiagnosisJson,
}

/// `"diagnosis": {"cause": <code>, "detail": <one line>}`, and `"also": <code>` for a pair.
#[derive(Debug, Serialize)]
struct DiagnosisJson {
    cause: &'static str,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    also: Option<&'static str>,
}

impl From<&Diagnosis> for DiagnosisJson {
    fn from(diagnosis: &Diagnosis) -> Self {
        let causes = diagnosis.causes();
        Self {
            cause: causes.first().map_or("unknown", |c| c.code()),
            detail: diagnosis.detail(),
            also: causes.get(1).map(|c| c.code()),
        }
    }
}

/// An output line that is not a plain failure.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Reply {
    Valid(Answer),
    Mismatch(MismatchLine),
}

/// Answers one JSON Lines request.
fn answer(line: &str, default_base: Option<&BasePath>) -> Result<Reply, Failure> {
    let request: Request<'_> = jsonl::parse_object(line)?;
    let verifier = Verifier::new().with_leeway(request.leeway.unwrap_or(DEFAULT_LEEWAY))?;
    let now = UnixTime::from_secs(request.now);
    let store = &request.secrets.0;
    let verified = match request.accept {
        Accept::Context => verifier.verify(&request.token, QshPolicy::Context, store, now)?,
        Accept::Request | Accept::RequestOrContext => {
            let own_base = request.base.as_deref().map(BasePath::parse).transpose()?;
            let base = own_base.as_ref().or(default_base);
            let canonical = CanonicalRequest::from_target(&request.method, &request.url, base)?;
            let policy = if request.accept == Accept::Request {
                QshPolicy::Request(&canonical)
            } else {
                QshPolicy::RequestOrContext(&canonical)
            };
            match verifier.verify(&request.token, policy, store, now) {
                Ok(verified) => verified,
                Err(err @ Error::QshMismatch(_)) => {
                    return mismatch_line(&err, &request.method, &request.url, base)
                }
                Err(err) => return Err(err.into()),
            }
        }
    };
    Ok(Reply::Valid(Answer {
        ok: true,
        iss: verified.client_key().to_owned(),
        sub: verified.account_id().map(str::to_owned),
        kind: verified.kind().as_str(),
    }))
}

/// The `qsh-mismatch` line with its diagnosis.
fn mismatch_line(
    err: &Error,
    method: &str,
    url: &str,
    base: Option<&BasePath>,
) -> Result<Reply, Failure> {
    let Error::QshMismatch(mismatch) = err else {
        return Err(err.clone().into());
    };
    // The request canonicalized before the qsh was compared, so diagnosing cannot fail.
    let diagnosis = diagnose(method, url, base, mismatch.presented()).map_err(Failure::from)?;
    Ok(Reply::Mismatch(MismatchLine {
        ok: false,
        error: err.code(),
        message: err.to_string(),
        diagnosis: DiagnosisJson::from(&diagnosis),
    }))
}
