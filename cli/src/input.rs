//! Command-line inputs shared by the token commands: the shared secret, the clock, the token
//! and the mistakes people make pasting it.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use atlassian_connect_jwt::{
    token_from_authorization, token_from_query, Error, SharedSecret, TenantKey, UnixTime,
};

use zeroize::Zeroizing;

use crate::report;

/// The environment variable read when neither `--secret` nor `--secret-file` is given. Its
/// value is never shown, not even in `--help`.
pub(crate) const SECRET_ENV: &str = "CONNECT_JWT_SECRET";

/// `--secret` and `--secret-file`, shared by the commands that sign or verify.
#[derive(Debug, clap::Args)]
pub(crate) struct SecretArg {
    /// The tenant's shared secret (default: $CONNECT_JWT_SECRET); never printed. Other users
    /// see it in `ps`, and your shell history keeps it: prefer --secret-file or the variable
    #[arg(
        long = "secret",
        value_name = "SECRET",
        value_parser = secret,
        allow_hyphen_values = true
    )]
    secret: Option<SharedSecret>,
    /// Read the shared secret from this file (one trailing newline, LF or CRLF, is dropped);
    /// never printed
    #[arg(long = "secret-file", value_name = "PATH", conflicts_with = "secret")]
    secret_file: Option<PathBuf>,
}

impl SecretArg {
    /// The secret (see [`SecretArg::get`]), refused (and reported) when empty.
    pub(crate) fn shared_secret(&self) -> Result<SharedSecret, ExitCode> {
        let secret = self.get()?;
        if secret.is_empty() {
            let empty = Error::Config(atlassian_connect_jwt::ConfigError::EmptySecret);
            return Err(report::library(&empty));
        }
        Ok(secret)
    }

    /// The key of the secret for tenant `client_key`; errors are reported.
    pub(crate) fn tenant_key(&self, client_key: &str) -> Result<TenantKey, ExitCode> {
        let secret = self.get()?;
        TenantKey::new(client_key, &secret).map_err(|err| report::library(&err))
    }

    /// `--secret`, else `--secret-file`, else the environment variable [`SECRET_ENV`].
    ///
    /// # Errors
    ///
    /// The exit status of a reported error: a usage error when there is no secret or it is
    /// not UTF-8, an I/O error when the file cannot be read.
    fn get(&self) -> Result<SharedSecret, ExitCode> {
        if let Some(secret) = &self.secret {
            return Ok(secret.clone());
        }
        if let Some(path) = &self.secret_file {
            return secret_from_file(path);
        }
        match std::env::var_os(SECRET_ENV).map(std::ffi::OsString::into_string) {
            Some(Ok(secret)) => Ok(SharedSecret::new(secret)),
            Some(Err(_)) => Err(report::usage(&format_args!(
                "{SECRET_ENV} is not valid UTF-8"
            ))),
            None => Err(report::usage(&format_args!(
                "the shared secret is required: pass --secret-file PATH, set {SECRET_ENV}, or \
                 pass --secret SECRET"
            ))),
        }
    }
}

/// Wraps `--secret` at once, so that neither `Debug` nor an error message can show it.
/// (Never fails: an empty secret is refused later, by the library, without echoing it.)
pub(crate) fn secret(text: &str) -> Result<SharedSecret, Infallible> {
    Ok(SharedSecret::new(text))
}

/// The secret in the file at `path`, without one trailing `\n` or `\r\n` (editors end files
/// with one; a secret never ends with a line break).
fn secret_from_file(path: &Path) -> Result<SharedSecret, ExitCode> {
    let mut bytes = Zeroizing::new(match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) => {
            return Err(report::io(
                &format_args!("reading --secret-file {}", path.display()),
                &err,
            ))
        }
    });
    let end = bytes
        .strip_suffix(b"\r\n")
        .or_else(|| bytes.strip_suffix(b"\n"))
        .map_or(bytes.len(), <[u8]>::len);
    bytes.truncate(end);
    match std::str::from_utf8(&bytes) {
        Ok(text) => Ok(SharedSecret::new(text)),
        Err(_) => Err(report::usage(&format_args!(
            "--secret-file {} is not valid UTF-8",
            path.display()
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

/// The token pasted as `TOKEN` (as for [`token`]) for a request to `url`, which must not carry
/// another token in its `jwt` parameter: an app refuses such a request.
///
/// # Errors
///
/// Those of [`token`], and [`Error::ConflictingTokens`] when the URL's `jwt` differs.
pub(crate) fn token_for_url<'a>(pasted: &'a str, url: &'a str) -> Result<&'a str, Error> {
    let token = token(pasted)?;
    match query(url).map(token_from_query).transpose()?.flatten() {
        Some(in_url) if in_url != token => Err(Error::ConflictingTokens),
        _ => Ok(token),
    }
}

/// Whether what was pasted is a URL (or request target), not a token or header value.
pub(crate) fn is_url(pasted: &str) -> bool {
    strip_prefix_ignore_case(pasted, "authorization:").is_none()
        && strip_prefix_ignore_case(pasted, "jwt ").is_none()
        && query(pasted).is_some()
}

/// The mistake in a pasted token that the library refused as `malformed-token` or
/// `invalid-authorization-header`, when it is a common one; a hint line for people (the
/// error code stays the library's).
pub(crate) fn token_mistake(pasted: &str) -> Option<&'static str> {
    let value = strip_prefix_ignore_case(pasted, "authorization:").map_or(pasted, str::trim_start);
    let token = strip_prefix_ignore_case(value, "jwt ").unwrap_or(value);
    let in_url = is_url(pasted)
        .then(|| query(pasted).and_then(|q| token_from_query(q).ok().flatten()))
        .flatten();
    let token = in_url.unwrap_or(token);
    let hex = |b: u8| b.is_ascii_hexdigit();
    let escaped = token
        .as_bytes()
        .windows(3)
        .any(|w| w[0] == b'%' && hex(w[1]) && hex(w[2]));
    if strip_prefix_ignore_case(value, "bearer").is_some() {
        Some(
            "the Bearer scheme: a Connect token travels as `Authorization: JWT <token>` \
             (or in the jwt query parameter)",
        )
    } else if token.starts_with(['"', '\'']) || token.ends_with(['"', '\'']) {
        Some("quotes around the token: paste it without them")
    } else if strip_prefix_ignore_case(token, "jwt=").is_some() {
        Some("a `jwt=` prefix: paste the parameter's value alone, or the whole URL")
    } else if token != token.trim() || value != value.trim_end() {
        Some(
            "whitespace at an end of the token (a copied space or line break): paste the \
             token alone",
        )
    } else if escaped {
        Some(
            "a percent-escaped token (%2E, %3D, ...): paste it decoded, or paste the whole URL \
             with its jwt parameter",
        )
    } else {
        None
    }
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

    #[test]
    fn a_token_given_with_a_url_must_agree_with_its_jwt_parameter() {
        assert_eq!(token_for_url("a.b.c", "/p?x=1"), Ok("a.b.c"));
        assert_eq!(token_for_url("JWT a.b.c", "/p?jwt=a.b.c"), Ok("a.b.c"));
        assert_eq!(
            token_for_url("a.b.c", "/p?jwt=d.e.f"),
            Err(Error::ConflictingTokens)
        );
        assert_eq!(token_for_url("Bearer a.b.c", "/p"), Ok("Bearer a.b.c"));
    }

    #[test]
    fn common_mistakes_are_named() {
        let bearer = Some("the Bearer scheme: a Connect token travels as `Authorization: JWT <token>` (or in the jwt query parameter)");
        assert_eq!(token_mistake("Bearer a.b.c"), bearer);
        assert_eq!(token_mistake("Authorization: bearer a.b.c"), bearer);
        let quotes = Some("quotes around the token: paste it without them");
        assert_eq!(token_mistake("\"a.b.c\""), quotes);
        assert_eq!(token_mistake("'a.b.c'"), quotes);
        assert_eq!(token_mistake("JWT \"a.b.c\""), quotes);
        let prefix = Some("a `jwt=` prefix: paste the parameter's value alone, or the whole URL");
        assert_eq!(token_mistake("jwt=a.b.c"), prefix);
        assert_eq!(token_mistake("JWT=a.b.c"), prefix);
        let space = Some("whitespace at an end of the token (a copied space or line break): paste the token alone");
        assert_eq!(token_mistake("a.b.c\n"), space);
        assert_eq!(token_mistake(" a.b.c"), space);
        assert_eq!(token_mistake("JWT  a.b.c"), space);
        assert_eq!(token_mistake("Authorization: JWT a.b.c "), space);
        let escaped = Some("a percent-escaped token (%2E, %3D, ...): paste it decoded, or paste the whole URL with its jwt parameter");
        assert_eq!(token_mistake("a%2Eb.c"), escaped);
        assert_eq!(token_mistake("/p?jwt=a.b%2Ec"), escaped);
        for fine in ["a.b.c", "not-a-token", "JWT a.b.c", "/p?jwt=a.b.c", "a%zz"] {
            assert_eq!(token_mistake(fine), None, "{fine}");
        }
    }
}
