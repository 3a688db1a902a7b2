//! `connect-jwt sign-assertion --secret S --client-id ID --account-id A --tenant URL
//! [--now UNIX]`: the user-impersonation assertion of the OAuth 2.0 JWT bearer grant.

use std::process::ExitCode;

use atlassian_connect_jwt::UserAssertion;

use crate::{cmd_sign, input, report};

/// Shown under `connect-jwt sign-assertion --help`.
const AFTER_HELP: &str = "\
Prints the assertion an app exchanges for a user's access token (RFC 7523), signed with the
tenant's shared secret: iss urn:atlassian:connect:clientid:<ID>,
sub urn:atlassian:connect:useraccountid:<ACCOUNT>, tnt <URL>, aud the Atlassian OAuth
server, a lifetime of 60 s. Post it as `assertion` with
grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer. The secret is never printed.";

/// Arguments of `sign-assertion`.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct Args {
    #[command(flatten)]
    secret: input::SecretArg,
    /// The app's OAuth client id (the `oauthClientId` of the installed callback)
    #[arg(long, value_name = "ID")]
    client_id: String,
    /// The Atlassian account id of the user to act for
    #[arg(long, value_name = "ACCOUNT")]
    account_id: String,
    /// The tenant's base URL (the `baseUrl` of the installed callback)
    #[arg(long, value_name = "URL")]
    tenant: String,
    /// Unix time to sign at, the assertion's iat (default: the system clock)
    #[arg(long, value_name = "UNIX")]
    now: Option<u64>,
}

/// Runs `sign-assertion`.
pub(crate) fn run(args: &Args) -> ExitCode {
    // The assertion names the tenant by its base URL; the key's clientKey is not signed.
    let key = match args.secret.tenant_key(&args.tenant) {
        Ok(key) => key,
        Err(status) => return status,
    };
    let assertion = UserAssertion {
        oauth_client_id: &args.client_id,
        account_id: &args.account_id,
        tenant_base_url: &args.tenant,
    };
    match assertion.sign(&key, input::now(args.now)) {
        Ok(token) => cmd_sign::print_token(&token, false),
        Err(err) => report::library(&err),
    }
}
