//! `connect-jwt verify-fit (--jwks URL|FILE) --app-id ID [--leeway S] [--now UNIX] TOKEN`:
//! verifies one Forge Invocation Token as a Forge remote would, and says which check failed.
//! `connect-jwt verify-fit --jsonl`: verifies every JSON Lines line on stdin (the contract is
//! in the README).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Read as _};
use std::process::ExitCode;
use std::sync::OnceLock;

use atlassian_connect_jwt::dangerous::decode_unverified;
use atlassian_connect_jwt::{
    invocation_token_from_authorization, Error, ForgeKeyId, ForgeKeySource, ForgeVerifier,
    HttpJwksSource, IcLabel, InstallKey, JwkSet, JwksSource, UnixTime, VerifiedInvocation,
    DEFAULT_LEEWAY, FORGE_ISSUER, MAX_JWKS_LEN,
};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::jsonl::{self, ErrorStyle, Failure};
use crate::text::safe;
use crate::{input, report, timefmt};

/// Shown under `connect-jwt verify-fit --help`.
const AFTER_HELP: &str = "\
Checks, in order: the token's form and header (RS256 only, a kid by the Forge rule), the
claim types, iss (forge/invocation-token), aud (--app-id), exp/iat/nbf (at most 300 s of
lifetime), then the key of the token's kid in the key set and the RSA signature. A key-set
URL is fetched only once the token passed every check before the key.

Prints `valid` and what the token says (exit 0), or `invalid: <message> (<code>)` with
details (exit 1); both on stdout. Forge's production key set is
https://forge.cdn.prod.atlassian-dev.net/.well-known/jwks.json; tokens live 25 s, so check
an old one with --now at its iat.

JSON Lines (--jsonl): one verification per input line,
  {\"token\":\"eyJ...\",\"jwks\":{\"keys\":[...]},\"app_id\":\"ari:cloud:ecosystem::app/<id>\",
   \"now\":1700000000}
(optional: \"leeway\"), one line out per line in, in order:
  {\"ok\":true,\"app_id\":\"...\",\"installation_id\":\"...\",\"principal\":\"...\",
   \"module_key\":\"...\",\"environment_type\":\"PRODUCTION\"}
  {\"ok\":false,\"error\":\"expired\"}
Bad lines answer {\"ok\":false,\"error\":\"malformed-input\",\"message\":...}. Nothing is
fetched. Exit 0 once stdin is read.

Examples:
  connect-jwt verify-fit --jwks https://forge.cdn.prod.atlassian-dev.net/.well-known/jwks.json \\
      --app-id ari:cloud:ecosystem::app/8db33809-1f32-48bb-8c52-5877dab48107 'Bearer eyJ...'
  connect-jwt verify-fit --jwks jwks.json --app-id ari:cloud:ecosystem::app/8db33809 --now 1700000000 - < fit.txt";

/// Arguments of `verify-fit`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = AFTER_HELP,
    override_usage = "connect-jwt verify-fit --jwks URL|FILE --app-id ID [--leeway SECONDS] \
                      [--now UNIX] TOKEN\n       \
                      connect-jwt verify-fit --jsonl < verifications.jsonl"
)]
pub(crate) struct Args {
    /// Read JSON Lines verifications on stdin, write one result line per input line
    #[arg(long)]
    jsonl: bool,
    // Help texts with a URL or `<id>` are attributes: rustdoc would read them as a link and
    // HTML.
    #[arg(
        long,
        value_name = "URL|FILE",
        help = "Forge's key set: an https:// URL (fetched once; plain http only to loopback) \
                or a JWKS file",
        required_unless_present = "jsonl",
        conflicts_with = "jsonl"
    )]
    jwks: Option<String>,
    #[arg(
        long = "app-id",
        value_name = "ID",
        help = "The Forge app the token must be for: the app id of manifest.yml, \
                ari:cloud:ecosystem::app/<uuid>",
        required_unless_present = "jsonl",
        conflicts_with = "jsonl"
    )]
    app_id: Option<String>,
    /// Clock-skew allowance in seconds, at most 300 [default: 30]
    #[arg(long, value_name = "SECONDS", conflicts_with = "jsonl")]
    leeway: Option<u64>,
    /// Unix time to verify at (default: the system clock)
    #[arg(long, value_name = "UNIX", conflicts_with = "jsonl")]
    now: Option<u64>,
    /// The token, `Bearer <token>`, or - to read it from stdin
    #[arg(required_unless_present = "jsonl", conflicts_with = "jsonl")]
    token: Option<String>,
}

/// Runs `verify-fit`.
pub(crate) fn run(args: &Args) -> ExitCode {
    match (&args.jwks, &args.app_id, &args.token) {
        (Some(jwks), Some(app_id), Some(token)) if !args.jsonl => one(args, jwks, app_id, token),
        _ => many(),
    }
}

/// One token from the command line.
fn one(args: &Args, jwks: &str, app_id: &str, pasted: &str) -> ExitCode {
    let leeway = args.leeway.unwrap_or(DEFAULT_LEEWAY);
    let verifier = match ForgeVerifier::new(app_id).and_then(|v| v.with_leeway(leeway)) {
        Ok(verifier) => verifier,
        Err(err) => {
            let status = report::library(&err);
            if err.code() == "invalid-app-id" {
                report::hint(
                    &"--app-id is the app id of the Forge app's manifest.yml, \
                      ari:cloud:ecosystem::app/<uuid> (not the bare uuid)",
                );
            }
            return status;
        }
    };
    let pasted = if pasted == "-" {
        match read_stdin_token() {
            Ok(token) => token,
            Err(err) => return report::io(&"reading the token from stdin", &err),
        }
    } else {
        pasted.to_owned()
    };
    let keys = match Keys::open(jwks) {
        Ok(keys) => keys,
        Err(Opened::Reported(status)) => return status,
        Err(Opened::Refused(error)) => {
            let mut out = String::new();
            let _ = writeln!(
                out,
                "invalid: {} ({})",
                safe(&error.to_string()),
                error.code()
            );
            let _ = writeln!(out, "  key set: {}", safe(jwks));
            return report::stdout(&out, ExitCode::FAILURE);
        }
    };
    let check = Check {
        verifier: &verifier,
        keys: &keys,
        now: input::now(args.now),
        leeway,
    };
    let mut out = String::new();
    let status = match fit_token(&pasted).and_then(|token| check.verify(token)) {
        Ok(verified) => {
            check.valid(&mut out, &verified);
            ExitCode::SUCCESS
        }
        Err(error) => {
            check.invalid(&mut out, &pasted, &error);
            ExitCode::FAILURE
        }
    };
    report::stdout(&out, status)
}

/// The token from stdin, without one trailing line break.
fn read_stdin_token() -> io::Result<String> {
    let mut text = String::new();
    io::stdin().lock().read_to_string(&mut text)?;
    let end = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .map_or(text.len(), str::len);
    text.truncate(end);
    Ok(text)
}

/// The token in what a person pasted: the token itself, or the `Authorization` header value
/// Forge sends (`Bearer <token>`, with or without `Authorization:`).
///
/// # Errors
///
/// [`Error::InvalidBearerHeader`] for a header value that is not `Bearer <token>`.
fn fit_token(pasted: &str) -> Result<&str, Error> {
    let value = strip_prefix_ignore_case(pasted, "authorization:").map(str::trim_start);
    let bearer = strip_prefix_ignore_case(pasted, "bearer")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '));
    match value {
        Some(value) => invocation_token_from_authorization(value),
        None if bearer => invocation_token_from_authorization(pasted),
        None => Ok(pasted),
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// Whether `--jwks` names a URL rather than a file.
fn is_url(jwks: &str) -> bool {
    ["https://", "http://"]
        .iter()
        .any(|scheme| strip_prefix_ignore_case(jwks, scheme).is_some())
}

/// The key set of `--jwks`.
enum Keys {
    /// Read from a file.
    File { path: String, set: JwkSet },
    /// Fetched from a URL once a token needs a key.
    Url { url: String, fetcher: Fetcher },
}

/// Why `--jwks` gave no key set.
enum Opened {
    /// Already reported on stderr (a file that cannot be read, a refused URL).
    Reported(ExitCode),
    /// The file is not a key set.
    Refused(Error),
}

impl Keys {
    fn open(jwks: &str) -> Result<Self, Opened> {
        if is_url(jwks) {
            let source = HttpJwksSource::with_url(jwks).map_err(|err| {
                let status = report::library(&err);
                report::hint(
                    &"--jwks takes an https:// URL without query, fragment or credentials \
                      (plain http only to localhost, 127.0.0.1 or [::1]), or a file",
                );
                Opened::Reported(status)
            })?;
            return Ok(Self::Url {
                url: jwks.to_owned(),
                fetcher: Fetcher {
                    source,
                    fetched: OnceLock::new(),
                },
            });
        }
        let text = read_limited(jwks).map_err(|err| {
            Opened::Reported(report::io(&format_args!("reading --jwks {jwks}"), &err))
        })?;
        let set = JwkSet::from_json(&text).map_err(Opened::Refused)?;
        Ok(Self::File {
            path: jwks.to_owned(),
            set,
        })
    }

    /// Where the keys came from, for people.
    fn origin(&self) -> &str {
        match self {
            Self::File { path, .. } => path,
            Self::Url { url, .. } => url,
        }
    }

    /// The set, once it is known (a URL's after its fetch).
    fn set(&self) -> Option<&JwkSet> {
        match self {
            Self::File { set, .. } => Some(set),
            Self::Url { fetcher, .. } => fetcher.fetched.get(),
        }
    }
}

/// The file's text, at most one byte over [`MAX_JWKS_LEN`] (the library refuses a longer
/// set, so reading more would only use memory).
fn read_limited(path: &str) -> io::Result<String> {
    let file = std::fs::File::open(path)?;
    let mut text = String::new();
    let limit = u64::try_from(MAX_JWKS_LEN).map_or(u64::MAX, |len| len + 1);
    file.take(limit).read_to_string(&mut text)?;
    Ok(text)
}

/// Fetches the key set the first time a key is asked for, and keeps it for the report.
struct Fetcher {
    source: HttpJwksSource,
    fetched: OnceLock<JwkSet>,
}

/// The same answers as a [`JwkSet`] (a token with an `icLabel` is `unknown-key-id`: the set
/// given is the commercial cloud's), from a set fetched on first use.
impl ForgeKeySource for Fetcher {
    async fn forge_key(
        &self,
        kid: &ForgeKeyId,
        ic_label: Option<&IcLabel>,
    ) -> Result<InstallKey, Error> {
        if ic_label.is_some() {
            return Err(Error::UnknownKeyId);
        }
        let set = self.source.fetch_jwks(None).await?;
        let key = set.key(kid).cloned();
        let _ = self.fetched.set(set);
        key
    }
}

/// One token and its report.
struct Check<'a> {
    verifier: &'a ForgeVerifier,
    keys: &'a Keys,
    now: UnixTime,
    leeway: u64,
}

impl Check<'_> {
    /// As a Forge remote: everything the token says, then the key, then the signature.
    fn verify(&self, token: &str) -> Result<VerifiedInvocation, Error> {
        match self.keys {
            Keys::File { set, .. } => self.verifier.verify(token, set, self.now),
            Keys::Url { fetcher, .. } => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|_| {
                        Error::Unavailable(atlassian_connect_jwt::Unavailable::Key {
                            reason: "no async runtime could be started",
                        })
                    })?;
                runtime.block_on(self.verifier.verify_async(token, fetcher, self.now))
            }
        }
    }

    fn valid(&self, out: &mut String, verified: &VerifiedInvocation) {
        let claims = verified.claims();
        let app = claims.app();
        let exp = claims.exp();
        let mut expiry = timefmt::expiry(exp, self.now);
        if exp <= self.now {
            let _ = write!(expiry, ", within the {} s leeway", self.leeway);
        }
        let version = app
            .app_version()
            .map(|version| format!("{}, ", safe(version)))
            .unwrap_or_default();
        let principal = verified
            .principal()
            .map_or_else(|| "none (a back-end invocation)".to_owned(), safe);
        let license = match app.license().and_then(|license| license.is_active()) {
            Some(true) => "active",
            Some(false) => "inactive",
            None => "not stated",
        };
        let bits = self
            .keys
            .set()
            .and_then(|set| set.key(verified.key_id()).ok())
            .map(|key| format!(" ({}-bit RSA)", key.bits()))
            .unwrap_or_default();
        // Writing into a String cannot fail.
        let _ = writeln!(out, "valid");
        let _ = writeln!(out, "installation:  {}", safe(verified.installation_id()));
        let _ = writeln!(
            out,
            "app:           {} ({version}{})",
            safe(verified.app_id()),
            safe(verified.environment_type())
        );
        let _ = writeln!(
            out,
            "module:        {} ({})",
            safe(verified.module_key()),
            safe(app.module().kind())
        );
        let _ = writeln!(out, "principal:     {principal}");
        if let Some(site) = claims.context().and_then(|context| context.site_url()) {
            let _ = writeln!(out, "site:          {}", safe(site));
        }
        let _ = writeln!(out, "license:       {license}");
        let _ = writeln!(
            out,
            "key id:        {}{bits} from {}",
            safe(verified.key_id().as_str()),
            safe(self.keys.origin())
        );
        let _ = writeln!(out, "exp:           {} ({expiry})", timefmt::utc(exp));
    }

    fn invalid(&self, out: &mut String, pasted: &str, err: &Error) {
        let _ = writeln!(out, "invalid: {} ({})", safe(&err.to_string()), err.code());
        let about_keys = matches!(
            err,
            Error::UnknownKeyId
                | Error::InvalidPublicKey { .. }
                | Error::WeakPublicKey { .. }
                | Error::InvalidSignature
                | Error::Unavailable(_)
        );
        if about_keys {
            let _ = writeln!(out, "  key set: {}", safe(self.keys.origin()));
        }
        timefmt::explain_failure(out, err, self.now, self.leeway);
        let told = Told::read(pasted);
        if let Some(hint) = self.hint(err, pasted, &told) {
            let _ = writeln!(out, "  hint: {hint}");
        }
    }

    /// One line for people on what to do about `err`, from what the token says (read
    /// without verification).
    fn hint(&self, err: &Error, pasted: &str, told: &Told) -> Option<String> {
        let quoted = |value: Option<&Value>| {
            value.map_or_else(|| "(none)".to_owned(), |value| safe(&value.to_string()))
        };
        Some(match err {
            Error::MalformedToken | Error::InvalidBearerHeader => paste_mistake(pasted)?.to_owned(),
            Error::UnsupportedAlgorithm { .. } => {
                let alg = told.header("alg");
                let connect = alg.and_then(Value::as_str) == Some("HS256");
                format!(
                    "the token's alg is {}: Forge signs invocation tokens with RS256{}",
                    quoted(alg),
                    if connect {
                        " (an HS256 token is a Connect token: check it with `connect-jwt verify`)"
                    } else {
                        ""
                    }
                )
            }
            Error::ForgeIssuerMismatch => {
                let connect = told.claim("qsh").is_some();
                format!(
                    "the token's iss is {}, a Forge Invocation Token's is \"{FORGE_ISSUER}\"{}",
                    quoted(told.claim("iss")),
                    if connect {
                        " (this token has a qsh: a Connect token? check it with `connect-jwt verify`)"
                    } else {
                        ""
                    }
                )
            }
            Error::AppIdMismatch => format!(
                "the token's aud is {} (its app.id {}); --app-id is \"{}\"",
                quoted(told.claim("aud")),
                quoted(told.claim("app").and_then(|app| app.get("id"))),
                safe(self.verifier.app_id())
            ),
            Error::MissingKeyId | Error::InvalidKeyId => format!(
                "the token's kid is {}: a Forge kid is 1 to 128 characters of A-Z a-z 0-9 . _ - /, \
                 without an empty, . or .. segment",
                quoted(told.header("kid"))
            ),
            Error::UnknownKeyId => match told.claim("icLabel") {
                Some(label) => format!(
                    "the token is for the Isolated Cloud {} (icLabel): verify-fit checks tokens \
                     of the commercial cloud, whose key set --jwks names",
                    quoted(Some(label))
                ),
                None => {
                    let kids: Vec<&str> =
                        self.keys.set()?.key_ids().map(ForgeKeyId::as_str).collect();
                    format!(
                        "the key set has the kids {}; the token's kid is {} (a key set of another \
                         environment? staging has its own)",
                        safe(&format!("{kids:?}")),
                        quoted(told.header("kid"))
                    )
                }
            },
            Error::Expired { .. } => {
                let iat = told.claim("iat").and_then(Value::as_u64)?;
                format!(
                    "Forge Invocation Tokens live about 25 s: to check an old one, pass --now {iat} \
                     (its iat)"
                )
            }
            Error::LifetimeTooLong { .. } => format!(
                "Forge's tokens live about 25 s; more than {} s is refused",
                self.verifier.max_lifetime()
            ),
            Error::InvalidSignature => format!(
                "the key of kid {} did not sign this token: it was changed after signing, or the \
                 key set is another environment's with the same kid",
                quoted(told.header("kid"))
            ),
            Error::InvalidPublicKey { .. } | Error::WeakPublicKey { .. } => format!(
                "the key set's key with kid {} cannot check RS256 tokens (an RSA signing key of \
                 2048 bits or more is needed)",
                quoted(told.header("kid"))
            ),
            _ => return None,
        })
    }
}

/// The mistake in a pasted token that was refused as malformed, when it is a common one.
fn paste_mistake(pasted: &str) -> Option<&'static str> {
    let value = strip_prefix_ignore_case(pasted, "authorization:").map_or(pasted, str::trim_start);
    let token = strip_prefix_ignore_case(value, "bearer ").unwrap_or(value);
    if strip_prefix_ignore_case(value, "jwt ").is_some() {
        Some(
            "the JWT scheme: Forge sends its token as `Authorization: Bearer <token>` (a Connect \
             token travels as `JWT <token>`: check it with `connect-jwt verify`)",
        )
    } else if value.eq_ignore_ascii_case("bearer") || value.eq_ignore_ascii_case("bearer ") {
        Some("`Bearer` without a token: paste the whole header value")
    } else if token.starts_with(['"', '\'']) || token.ends_with(['"', '\'']) {
        Some("quotes around the token: paste it without them")
    } else if token != token.trim() {
        Some(
            "whitespace at an end of the token (a copied space or line break): paste the token \
             alone",
        )
    } else {
        None
    }
}

/// What a token says about itself, read without verification, for hints.
#[derive(Default)]
struct Told {
    header: Option<Value>,
    payload: Option<Value>,
}

impl Told {
    fn read(pasted: &str) -> Self {
        let Some(parts) = fit_token(pasted)
            .ok()
            .and_then(|token| decode_unverified(token).ok())
        else {
            return Self::default();
        };
        Self {
            header: serde_json::from_str(parts.header_json()).ok(),
            payload: serde_json::from_str(parts.payload_json()).ok(),
        }
    }

    fn header(&self, name: &str) -> Option<&Value> {
        self.header.as_ref()?.get(name)
    }

    fn claim(&self, name: &str) -> Option<&Value> {
        self.payload.as_ref()?.get(name)
    }
}

// ----- JSON Lines -----

/// JSON Lines on stdin to JSON Lines on stdout.
fn many() -> ExitCode {
    let result = jsonl::run_styled(
        io::stdin().lock(),
        io::stdout().lock(),
        ErrorStyle::WithOk,
        |line| answer(line).map_err(jsonl::redact),
    );
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => report::io(&err, err.io_error()),
    }
}

/// One input line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line<'a> {
    #[serde(borrow)]
    token: Cow<'a, str>,
    #[serde(borrow)]
    jwks: &'a RawValue,
    #[serde(borrow)]
    app_id: Cow<'a, str>,
    now: u64,
    #[serde(default)]
    leeway: Option<u64>,
}

/// One output line.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Reply {
    Valid {
        ok: bool,
        app_id: String,
        installation_id: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        principal: Option<String>,
        module_key: String,
        environment_type: String,
    },
    Invalid {
        ok: bool,
        error: &'static str,
    },
}

/// Answers one line: the library's verification with the line's key set, app id and time.
/// A verdict or a configuration error is an `Invalid` line (`{"ok":false,"error":<code>}`);
/// only a line that is not a well-formed verification is a [`Failure`] (`malformed-input`,
/// with a message).
fn answer(line: &str) -> Result<Reply, Failure> {
    let line: Line<'_> = jsonl::parse_object(line)?;
    if !line.jwks.get().starts_with('{') {
        return Err(Failure::malformed(
            "invalid type for `jwks`: expected a json web key set object",
        ));
    }
    let verify = || -> Result<VerifiedInvocation, Error> {
        let mut verifier = ForgeVerifier::new(&line.app_id)?;
        if let Some(leeway) = line.leeway {
            verifier = verifier.with_leeway(leeway)?;
        }
        let keys = JwkSet::from_json(line.jwks.get())?;
        verifier.verify(&line.token, &keys, UnixTime::from_secs(line.now))
    };
    Ok(match verify() {
        Ok(verified) => Reply::Valid {
            ok: true,
            app_id: verified.app_id().to_owned(),
            installation_id: verified.installation_id().to_owned(),
            principal: verified.principal().map(str::to_owned),
            module_key: verified.module_key().to_owned(),
            environment_type: verified.environment_type().to_owned(),
        },
        Err(error) => Reply::Invalid {
            ok: false,
            error: error.code(),
        },
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tokens_in_what_was_pasted() {
        assert_eq!(fit_token("a.b.c"), Ok("a.b.c"));
        assert_eq!(fit_token("Bearer a.b.c"), Ok("a.b.c"));
        assert_eq!(fit_token("bearer a.b.c"), Ok("a.b.c"));
        assert_eq!(fit_token("Authorization: Bearer a.b.c"), Ok("a.b.c"));
        assert_eq!(fit_token("Bearer"), Err(Error::InvalidBearerHeader));
        assert_eq!(fit_token("Bearer "), Err(Error::InvalidBearerHeader));
        assert_eq!(
            fit_token("Authorization: JWT a.b.c"),
            Err(Error::InvalidBearerHeader)
        );
        // Not a header: the token as pasted (refused later as malformed).
        assert_eq!(fit_token("Bearerx.y.z"), Ok("Bearerx.y.z"));
        assert_eq!(fit_token("JWT a.b.c"), Ok("JWT a.b.c"));
    }

    #[test]
    fn urls_and_files() {
        assert!(is_url("https://forge.example/jwks.json"));
        assert!(is_url("HTTP://127.0.0.1:1/jwks.json"));
        assert!(!is_url("jwks.json"));
        assert!(!is_url("./https/jwks.json"));
    }

    #[test]
    fn common_mistakes_are_named() {
        let jwt = paste_mistake("JWT a.b.c").unwrap();
        assert!(jwt.starts_with("the JWT scheme"), "{jwt}");
        assert_eq!(paste_mistake("Authorization: jwt a.b.c"), Some(jwt));
        let bare = Some("`Bearer` without a token: paste the whole header value");
        assert_eq!(paste_mistake("Bearer"), bare);
        assert_eq!(paste_mistake("Authorization: Bearer "), bare);
        let quotes = Some("quotes around the token: paste it without them");
        assert_eq!(paste_mistake("'a.b.c'"), quotes);
        assert_eq!(paste_mistake("Bearer \"a.b.c\""), quotes);
        assert!(paste_mistake("a.b.c\n").unwrap().starts_with("whitespace"));
        assert_eq!(paste_mistake("a.b.c"), None);
        assert_eq!(paste_mistake("Bearer a.b.c"), None);
    }
}
