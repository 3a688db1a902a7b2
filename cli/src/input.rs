//! Command-line inputs shared by the token commands: the shared secret, the clock, the token.

use std::convert::Infallible;
use std::process::ExitCode;

use atlassian_connect_jwt::{
    token_from_authorization, token_from_query, Error, SharedSecret, TenantKey, UnixTime,
};

use crate::report;

/// The environment variable read when `--secret` is not given. Its value is never shown, not
/// even in `--help`.
pub(crate) const SECRET_ENV: &str = "CONNECT_JWT_SECRET";

/// `--secret`, shared by the commands that sign or verify.
#[derive(Debug, clap::Args)]
pub(crate) struct SecretArg {
    /// The tenant's shared secret (default: $CONNECT_JWT_SECRET); never printed
    #[arg(
        long = "secret",
        value_name = "SECRET",
        value_parser = secret,
        allow_hyphen_values = true
    )]
    secret: Option<SharedSecret>,
}

impl SecretArg {
    /// `--secret` or `$CONNECT_JWT_SECRET`, refused (and reported) when empty.
    pub(crate) fn shared_secret(&self) -> Result<SharedSecret, ExitCode> {
        let secret = secret_or_env(self.secret.as_ref())?;
        if secret.is_empty() {
            let empty = Error::Config(atlassian_connect_jwt::ConfigError::EmptySecret);
            return Err(report::library(&empty));
        }
        Ok(secret)
    }

    /// The key of `--secret` or `$CONNECT_JWT_SECRET` for tenant `client_key`; errors are
    /// reported.
    pub(crate) fn tenant_key(&self, client_key: &str) -> Result<TenantKey, ExitCode> {
        let secret = secret_or_env(self.secret.as_ref())?;
        TenantKey::new(client_key, &secret).map_err(|err| report::library(&err))
    }
}

/// Wraps `--secret` at once, so that neither `Debug` nor an error message can show it.
/// (Never fails: an empty secret is refused later, by the library, without echoing it.)
pub(crate) fn secret(text: &str) -> Result<SharedSecret, Infallible> {
    Ok(SharedSecret::new(text))
}

/// `--secret`, or else the environment variable [`SECRET_ENV`].
///
/// # Errors
///
/// The exit status of a usage error (reported) when neither is set, or the variable is not
/// UTF-8.
pub(crate) fn secret_or_env(arg: Option<&SharedSecret>) -> Result<SharedSecret, ExitCode> {
    if let Some(secret) = arg {
        return Ok(secret.clone());
    }
    match std::env::var_os(SECRET_ENV).map(std::ffi::OsString::into_string) {
        Some(Ok(secret)) => Ok(SharedSecret::new(secret)),
        Some(Err(_)) => Err(report::usage(&format_args!(
            "{SECRET_ENV} is not valid UTF-8"
        ))),
        None => Err(report::usage(&format_args!(
            "the shared secret is required: pass --secret SECRET or set {SECRET_ENV}"
        ))),
    }
}

/// `--now`, or the system clock.
pub(crate) fn now(arg: Option<u64>) -> UnixTime {
    arg.map_or_else(UnixTime::now, UnixTime::from_secs)
}

/// The token in what a person pasted: the token itself, an `Authorization` header value
/// (`JWT <token>`, with or without `Authorization:`), or a URL with a `jwt` parameter.
///
/// # Errors
///
/// [`Error::InvalidAuthorizationHeader`], [`Error::ConflictingTokens`], or
/// [`Error::MissingToken`] for a URL without a `jwt` parameter.
pub(crate) fn token(pasted: &str) -> Result<&str, Error> {
    let header = strip_prefix_ignore_case(pasted, "authorization:").map(str::trim_start);
    if let Some(value) = header {
        return token_from_authorization(value);
    }
    if strip_prefix_ignore_case(pasted, "jwt ").is_some() {
        return token_from_authorization(pasted);
    }
    match query(pasted) {
        // A token never holds `?`: this is a URL.
        Some(_) => token_in_url(pasted),
        None => Ok(pasted),
    }
}

/// The token in the `jwt` parameter of `url`.
///
/// # Errors
///
/// [`Error::MissingToken`] without one, [`Error::ConflictingTokens`] with two different ones.
pub(crate) fn token_in_url(url: &str) -> Result<&str, Error> {
    let query = query(url).ok_or(Error::MissingToken)?;
    token_from_query(query)?.ok_or(Error::MissingToken)
}

/// The raw query of a URL or request target (without `?` and `#fragment`), if it has one.
pub(crate) fn query(url: &str) -> Option<&str> {
    let url = url.split_once('#').map_or(url, |(before, _)| before);
    url.split_once('?').map(|(_, query)| query)
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_in_what_was_pasted() {
        assert_eq!(token("a.b.c"), Ok("a.b.c"));
        assert_eq!(token("JWT a.b.c"), Ok("a.b.c"));
        assert_eq!(token("jwt a.b.c"), Ok("a.b.c"));
        assert_eq!(token("Authorization: JWT a.b.c"), Ok("a.b.c"));
        assert_eq!(
            token("Authorization: Bearer a.b.c"),
            Err(Error::InvalidAuthorizationHeader)
        );
        assert_eq!(token("https://x/p?a=1&jwt=a.b.c#f"), Ok("a.b.c"));
        assert_eq!(token("/p?a=1"), Err(Error::MissingToken));
        assert_eq!(
            token("/p?jwt=a.b.c&jwt=d.e.f"),
            Err(Error::ConflictingTokens)
        );
        assert_eq!(token("é"), Ok("é"));
    }
}
