//! `connect-jwt sign --secret S --iss ISS [--sub ACCOUNT] [--lifetime SECONDS]
//! [--base PRODUCT_BASE_URL] [--now UNIX] [--header] (--context | METHOD URL)`: signs a token.

use std::io::{self, Write};
use std::process::ExitCode;

use atlassian_connect_jwt::{BasePath, CanonicalRequest, SignedToken, Signer, DEFAULT_LIFETIME};

use crate::{input, report};

/// Shown under `connect-jwt sign --help`.
const AFTER_HELP: &str = "\
Prints the token (or, with --header, `Authorization: JWT <token>`) on stdout. The token is
bound to METHOD URL by its qsh, canonicalized relative to --base: for a call from an app to
the product, the product's base URL (https://x.atlassian.net/wiki for Confluence); to make a
token like the product's for an app, the app's descriptor baseUrl. --context signs a context
token (qsh \"context-qsh\") instead, bound to no request. The secret is never printed.";

/// Arguments of `sign`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = AFTER_HELP,
    override_usage = "connect-jwt sign --secret SECRET --iss ISS [--sub ACCOUNT] \
                      [--lifetime SECONDS] [--base URL] [--now UNIX] [--header] METHOD URL\n       \
                      connect-jwt sign --context --secret SECRET --iss ISS [OPTIONS]"
)]
pub(crate) struct Args {
    #[command(flatten)]
    secret: input::SecretArg,
    /// The issuer: the app key (calls to the product) or the tenant's clientKey
    #[arg(long, value_name = "ISS")]
    iss: String,
    /// The subject: a user's Atlassian account id
    #[arg(long, value_name = "ACCOUNT")]
    sub: Option<String>,
    /// Lifetime in seconds (exp - iat)
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_LIFETIME)]
    lifetime: u64,
    /// Base URL or path stripped from URL's path before hashing (for calls to the product:
    /// its base URL)
    #[arg(long, value_name = "PRODUCT_BASE_URL")]
    base: Option<String>,
    /// Unix time to sign at, the token's iat (default: the system clock)
    #[arg(long, value_name = "UNIX")]
    now: Option<u64>,
    /// Sign a context token (qsh "context-qsh"), bound to no request
    #[arg(long)]
    context: bool,
    /// Print `Authorization: JWT <token>` instead of the bare token
    #[arg(long)]
    header: bool,
    /// HTTP method of the request, any case
    #[arg(required_unless_present = "context", requires = "url")]
    method: Option<String>,
    /// The request (/path?query) or a full URL; quote it
    #[arg(required_unless_present = "context")]
    url: Option<String>,
}

/// Runs `sign`.
pub(crate) fn run(args: &Args) -> ExitCode {
    let key = match args.secret.tenant_key(&args.iss) {
        Ok(key) => key,
        Err(status) => return status,
    };
    let base = match args.base.as_deref().map(BasePath::parse).transpose() {
        Ok(base) => base,
        Err(err) => return report::library(&err),
    };
    let mut signer = Signer::new(args.iss.as_str()).with_lifetime(args.lifetime);
    if let Some(sub) = &args.sub {
        signer = signer.with_subject(sub.as_str());
    }
    let now = input::now(args.now);
    let request = match (&args.method, &args.url) {
        (Some(method), Some(url)) => {
            match CanonicalRequest::from_target(method, url, base.as_ref()) {
                Ok(request) => Some(request),
                Err(err) => return report::library(&err),
            }
        }
        _ => None,
    };
    let signed = if args.context {
        if request.is_some() {
            // Say so rather than ignore it silently; the token still goes to stdout alone.
            let _ = writeln!(
                io::stderr().lock(),
                "note: a context token is bound to no request: METHOD and URL are not signed"
            );
        }
        signer.sign_context(&key, now)
    } else {
        match &request {
            Some(request) => signer.sign_request(request, &key, now),
            // clap requires METHOD and URL without --context.
            None => return report::usage(&"METHOD and URL are required without --context"),
        }
    };
    match signed {
        Ok(token) => print_token(&token, args.header),
        Err(err) => report::library(&err),
    }
}

/// Prints the token, or the `Authorization` header carrying it.
pub(crate) fn print_token(token: &SignedToken, header: bool) -> ExitCode {
    let text = if header {
        format!("Authorization: {}\n", token.authorization_header())
    } else {
        format!("{}\n", token.as_str())
    };
    report::stdout(&text, ExitCode::SUCCESS)
}
