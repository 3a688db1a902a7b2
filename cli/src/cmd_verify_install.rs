//! `connect-jwt verify-install (--key PEM_FILE | --key-url [BASE]) --base-url APP_BASE
//! [--path PATH] [--leeway S] [--now UNIX] BODY_FILE TOKEN`: verifies one signed-install
//! lifecycle callback (`installed` / `uninstalled`) as a Connect app would, and says exactly
//! which check failed.

use std::fmt::Write as _;
use std::io::{self, Read as _};
use std::path::PathBuf;
use std::process::ExitCode;

use atlassian_connect_jwt::dangerous::decode_unverified;
use atlassian_connect_jwt::{
    CanonicalRequest, Error, HttpKeySource, InstallKey, InstallKeySource, InstallToken,
    InstallVerifier, UnixTime, VerifiedInstall, Verifier, ATLASSIAN_INSTALL_KEYS_URL,
    DEFAULT_LEEWAY,
};

use crate::text::safe;
use crate::{input, report, timefmt};

/// Shown under `connect-jwt verify-install --help`.
const AFTER_HELP: &str = "\
Checks, in order: the token's form and RS256 header with an allowed kid (before any key is
fetched), the RSA signature with the key of that kid, exp/iat/nbf, aud (one of the
--base-url values, one trailing slash tolerated), qsh (that of POST PATH), the body (the
JSON the product sends), iss (= the body's clientKey) and the body's eventType.

Prints `valid` and the tenant the callback installs (exit 0), or `invalid: <message>
(<code>)` with details (exit 1); both on stdout. The body's sharedSecret is never printed.

Examples:
  connect-jwt verify-install --key-url --base-url https://app.example.com body.json 'JWT eyJ...'
  connect-jwt verify-install --key key.pem --base-url https://app.example.com - eyJ... < body.json";

/// Arguments of `verify-install`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = AFTER_HELP,
    override_usage = "connect-jwt verify-install (--key PEM_FILE | --key-url [BASE]) \
                      --base-url APP_BASE [--path PATH] [--leeway SECONDS] [--now UNIX] \
                      BODY_FILE TOKEN"
)]
pub(crate) struct Args {
    /// The public key of the token's kid, as a PEM file (-----BEGIN PUBLIC KEY-----)
    #[arg(long, value_name = "PEM_FILE", required_unless_present = "key_url")]
    key: Option<PathBuf>,
    // The help text is an attribute: it shows `<kid>` and a bare URL, which rustdoc would
    // read as HTML and a link.
    #[arg(
        long,
        help = "Fetch the key of the token's kid from BASE/<kid> \
                [default BASE: https://connect-install-keys.atlassian.com]",
        value_name = "BASE",
        num_args = 0..=1,
        default_missing_value = ATLASSIAN_INSTALL_KEYS_URL,
        conflicts_with = "key"
    )]
    key_url: Option<String>,
    /// The app's base URL (descriptor baseUrl) that the token's aud must name; repeatable
    #[arg(long = "base-url", value_name = "APP_BASE", required = true)]
    base_url: Vec<String>,
    /// The callback's path relative to the app's base URL [default: /installed or
    /// /uninstalled, following the body's eventType]
    #[arg(long, value_name = "PATH")]
    path: Option<String>,
    /// Clock-skew allowance in seconds, at most 300 [default: 30]
    #[arg(long, value_name = "SECONDS")]
    leeway: Option<u64>,
    /// Unix time to verify at (default: the system clock)
    #[arg(long, value_name = "UNIX")]
    now: Option<u64>,
    /// The callback's JSON body: a file, or - for stdin
    body_file: PathBuf,
    /// The token, or `JWT <token>`
    token: String,
}

/// Where the key comes from.
enum KeyFrom<'a> {
    File(&'a PathBuf),
    Server(&'a str),
}

/// Runs `verify-install`.
pub(crate) fn run(args: &Args) -> ExitCode {
    let leeway = args.leeway.unwrap_or(DEFAULT_LEEWAY);
    let verifier = match install_verifier(&args.base_url, leeway) {
        Ok(verifier) => verifier,
        Err(err) => return report::library(&err),
    };
    let body = match read_body(&args.body_file) {
        Ok(body) => body,
        Err(err) => return report::io(&format_args!("reading {}", args.body_file.display()), &err),
    };
    let key_from = match (&args.key, &args.key_url) {
        (Some(file), _) => KeyFrom::File(file),
        (None, Some(base)) => KeyFrom::Server(base),
        (None, None) => return report::usage(&"--key or --key-url is required"),
    };
    let path = args
        .path
        .clone()
        .unwrap_or_else(|| default_path(&body).to_owned());
    let check = Check {
        now: input::now(args.now),
        leeway,
        base_urls: &args.base_url,
        body: &body,
        path: &path,
    };
    let mut out = String::new();
    let status = match check.verify(&verifier, &args.token, &key_from) {
        Ok((install, key_note)) => {
            check.valid(&mut out, &install, &key_note);
            ExitCode::SUCCESS
        }
        Err(Failure::Reported(status)) => return status,
        Err(Failure::Invalid(error, key_note)) => {
            check.invalid(&mut out, &args.token, &error, key_note.as_deref());
            ExitCode::FAILURE
        }
    };
    report::stdout(&out, status)
}

fn install_verifier(base_urls: &[String], leeway: u64) -> Result<InstallVerifier, Error> {
    let (first, rest) = base_urls.split_first().ok_or(Error::Config(
        atlassian_connect_jwt::ConfigError::InvalidBaseUrl,
    ))?;
    let mut verifier = InstallVerifier::new(first)?;
    for base in rest {
        verifier = verifier.with_base_url(base)?;
    }
    Ok(verifier.with_time_rules(Verifier::new().with_leeway(leeway)?))
}

fn read_body(file: &PathBuf) -> io::Result<String> {
    if file.as_os_str() == "-" {
        let mut body = String::new();
        io::stdin().lock().read_to_string(&mut body)?;
        Ok(body)
    } else {
        std::fs::read_to_string(file)
    }
}

/// The callback path the body's `eventType` names, `/installed` when it names none.
fn default_path(body: &str) -> &'static str {
    let event = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|body| body.get("eventType")?.as_str().map(str::to_owned));
    match event.as_deref() {
        Some("uninstalled") => "/uninstalled",
        _ => "/installed",
    }
}

enum Failure {
    /// A failure already reported on stderr (a file that cannot be read).
    Reported(ExitCode),
    /// The callback failed this check; the note says which key was used, once one was.
    Invalid(Error, Option<String>),
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Self::Invalid(error, None)
    }
}

/// One callback and its report.
struct Check<'a> {
    now: UnixTime,
    leeway: u64,
    base_urls: &'a [String],
    body: &'a str,
    path: &'a str,
}

impl Check<'_> {
    /// As an app: parse the token (its kid checked), find the key, verify everything.
    fn verify(
        &self,
        verifier: &InstallVerifier,
        pasted_token: &str,
        key_from: &KeyFrom<'_>,
    ) -> Result<(VerifiedInstall, String), Failure> {
        let request = CanonicalRequest::from_target("POST", self.path, None)?;
        let token = InstallToken::parse(input::token(pasted_token)?)?;
        let (key, note) = match key_from {
            KeyFrom::File(file) => {
                let pem = std::fs::read_to_string(file).map_err(|err| {
                    Failure::Reported(report::io(
                        &format_args!("reading {}", file.display()),
                        &err,
                    ))
                })?;
                (
                    InstallKey::from_pem(&pem),
                    format!("from {}", file.display()),
                )
            }
            KeyFrom::Server(base) => {
                let source = HttpKeySource::with_base_url(base)?;
                let note = format!("from {}", source.key_url(token.key_id()));
                (fetch(&source, &token), note)
            }
        };
        let key = key.map_err(|error| Failure::Invalid(error, Some(note.clone())))?;
        let note = format!("{note} ({}-bit RSA)", key.bits());
        verifier
            .verify(token, self.body, &request, &key, self.now)
            .map(|install| (install, note.clone()))
            .map_err(|error| Failure::Invalid(error, Some(note)))
    }

    fn valid(&self, out: &mut String, install: &VerifiedInstall, key_note: &str) {
        let payload = install.payload();
        let secret = match payload.shared_secret() {
            Some(_) => "present (not shown)",
            None => "absent",
        };
        let exp = timefmt::utc_and_expiry(install.claims().exp(), self.now);
        let optional = |value: Option<&str>| value.map_or_else(|| "(none)".to_owned(), safe);
        // Writing into a String cannot fail.
        let _ = writeln!(out, "valid");
        let _ = writeln!(out, "event:         {}", safe(payload.event_type()));
        let _ = writeln!(out, "client key:    {}", safe(install.client_key()));
        let _ = writeln!(out, "base url:      {}", safe(payload.base_url()));
        let _ = writeln!(out, "product:       {}", optional(payload.product_type()));
        let _ = writeln!(out, "app key:       {}", safe(payload.key()));
        let _ = writeln!(out, "shared secret: {secret}");
        let _ = writeln!(out, "key id:        {} {key_note}", install.key_id());
        let _ = writeln!(out, "exp:           {exp}");
    }

    fn invalid(&self, out: &mut String, pasted: &str, err: &Error, key_note: Option<&str>) {
        let _ = writeln!(out, "invalid: {} ({})", safe(&err.to_string()), err.code());
        if let Some(note) = key_note {
            let _ = writeln!(out, "  key: {}", safe(note));
        }
        timefmt::explain_failure(out, err, self.now, self.leeway);
        // What the token claims, read without verification, to explain the failure.
        let claims = input::token(pasted)
            .ok()
            .and_then(|token| decode_unverified(token).ok()?.claims().ok());
        let hint = match (err, &claims) {
            (Error::AudienceMismatch, Some(claims)) => format!(
                "the token's aud is {:?}; the app's base urls are {:?}",
                claims.aud(),
                self.base_urls
            ),
            (Error::IssuerMismatch, Some(claims)) => format!(
                "the token's iss is \"{}\"; the body's clientKey is another tenant",
                safe(claims.iss())
            ),
            (Error::QshMismatch(mismatch), _) => format!(
                "the token is not for `{}` (expected qsh {}, presented {}): check --path",
                mismatch.canonical_request(),
                mismatch.expected(),
                safe(mismatch.presented())
            ),
            (Error::WrongLifecycleEvent, _) => format!(
                "the token or the body is for the other lifecycle callback, not POST {}",
                safe(self.path)
            ),
            (Error::SymmetricTokenOnLifecycleRoute, _) => "lifecycle callbacks are signed \
                 RS256 by Atlassian (signed install); an HS256 token there may be signed with \
                 the very secret its body announces"
                .to_owned(),
            (Error::ContextTokenNotAllowed, _) => "a context token (qsh \"context-qsh\") is \
                 never accepted on a lifecycle route"
                .to_owned(),
            (Error::InvalidSignature, _) => "the token was not signed by this key, or was \
                 changed after signing"
                .to_owned(),
            (Error::UnknownKeyId, _) => "the key server has no key with this kid".to_owned(),
            _ => return,
        };
        let _ = writeln!(out, "  hint: {hint}");
    }
}

/// Fetches the key of `token`'s kid on a one-off runtime.
fn fetch(source: &HttpKeySource, token: &InstallToken<'_>) -> Result<InstallKey, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|_| {
            Error::Unavailable(atlassian_connect_jwt::Unavailable::Key {
                reason: "no async runtime could be started",
            })
        })?;
    runtime.block_on(source.install_key(token.key_id()))
}
