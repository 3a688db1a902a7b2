//! The app's settings: environment variables, or the same as flags.

use core::fmt;
use std::net::SocketAddr;

use atlassian_connect_jwt::{BasePath, ATLASSIAN_INSTALL_KEYS_URL};
use clap::Parser;

/// The descriptor's `key` unless `CONNECT_APP_KEY` names another.
pub const DEFAULT_KEY: &str = "com.example.connect-app";

/// What `connect-app` reads at start-up. Every setting is an environment variable or the
/// flag of the same name (`CONNECT_APP_BASE_URL` or `--base-url`); a flag wins.
#[derive(Clone, Parser)]
#[command(name = "connect-app", version, about)]
pub struct Config {
    /// The address to listen on.
    #[arg(long, env = "CONNECT_APP_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,

    /// The descriptor's baseUrl, as the product reaches the app [default: http:// and the
    /// listen address]. A path in it (`https://example.com/app`) serves every route under
    /// that path.
    #[arg(long, env = "CONNECT_APP_BASE_URL")]
    pub base_url: Option<String>,

    /// The descriptor's `key`.
    #[arg(long, env = "CONNECT_APP_KEY", default_value = DEFAULT_KEY)]
    pub key: String,

    /// Where tenants are kept: `sqlite://FILE`, `postgres://USER:PASSWORD@HOST/DB` or
    /// `memory:`.
    #[arg(
        long,
        env = "CONNECT_APP_DATABASE_URL",
        default_value = "sqlite://connect-app.db",
        hide_env_values = true,
        hide_default_value = false
    )]
    pub database_url: String,

    /// Where the public keys of signed installs are fetched from (`<url>/<kid>`).
    #[arg(long, env = "CONNECT_APP_INSTALL_KEYS_URL", default_value = ATLASSIAN_INSTALL_KEYS_URL)]
    pub install_keys_url: String,
}

impl Config {
    /// The configuration, checked.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for a base URL that is not `http(s)://host[:port][/path]`.
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        let base_url = match &self.base_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        };
        let parsed = url::Url::parse(&base_url).map_err(|_| ConfigError::BaseUrl)?;
        let plain = matches!(parsed.scheme(), "http" | "https")
            && parsed.host().is_some()
            && parsed.username().is_empty()
            && parsed.password().is_none()
            && parsed.query().is_none()
            && parsed.fragment().is_none();
        if !plain {
            return Err(ConfigError::BaseUrl);
        }
        let base_path = BasePath::parse(&base_url).map_err(|_| ConfigError::BaseUrl)?;
        Ok(Settings {
            listen: self.listen,
            base_url,
            base_path,
            key: self.key.clone(),
            database_url: self.database_url.clone(),
            install_keys_url: self.install_keys_url.clone(),
        })
    }
}

// The database URL may hold a password.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("base_url", &self.base_url)
            .field("key", &self.key)
            .field("install_keys_url", &self.install_keys_url)
            .finish_non_exhaustive()
    }
}

/// The checked configuration.
#[derive(Clone)]
pub struct Settings {
    /// The address to listen on.
    pub listen: SocketAddr,
    /// The descriptor's baseUrl, without a trailing `/`.
    pub base_url: String,
    /// Its path (`""` at the root): every route is served under it.
    pub base_path: BasePath,
    /// The descriptor's `key`.
    pub key: String,
    /// The tenant store's URL (may hold a password: never logged).
    pub database_url: String,
    /// The signed-install key server.
    pub install_keys_url: String,
}

impl Settings {
    /// Settings for `base_url` and `database_url`, the rest by default (the environment is
    /// not read): for tests and for programs that embed the app.
    ///
    /// # Errors
    ///
    /// As [`Config::settings`].
    pub fn new(base_url: &str, database_url: &str) -> Result<Self, ConfigError> {
        let config = Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            base_url: Some(base_url.to_owned()),
            key: DEFAULT_KEY.to_owned(),
            database_url: database_url.to_owned(),
            install_keys_url: ATLASSIAN_INSTALL_KEYS_URL.to_owned(),
        };
        config.settings()
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("base_url", &self.base_url)
            .field("key", &self.key)
            .field("install_keys_url", &self.install_keys_url)
            .finish_non_exhaustive()
    }
}

/// A setting the app cannot start with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// `CONNECT_APP_BASE_URL` is not `http(s)://host[:port][/path]` (no query, fragment or
    /// credentials).
    BaseUrl,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BaseUrl => f.write_str(
                "CONNECT_APP_BASE_URL must be http(s)://host[:port][/path], without query, fragment or credentials",
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(args: &[&str]) -> Result<Settings, ConfigError> {
        let mut argv = vec!["connect-app"];
        argv.extend_from_slice(args);
        Config::parse_from(argv).settings()
    }

    #[test]
    fn the_base_url_defaults_to_the_listen_address() -> Result<(), ConfigError> {
        let s = settings(&["--listen", "127.0.0.1:4000"])?;
        assert_eq!(s.base_url, "http://127.0.0.1:4000");
        assert_eq!(s.base_path.as_str(), "");
        Ok(())
    }

    #[test]
    fn a_path_in_the_base_url_is_the_base_path() -> Result<(), ConfigError> {
        let s = settings(&["--base-url", "https://apps.example.com/connect/app/"])?;
        assert_eq!(s.base_url, "https://apps.example.com/connect/app");
        assert_eq!(s.base_path.as_str(), "/connect/app");
        Ok(())
    }

    #[test]
    fn base_urls_the_product_cannot_call_are_refused() {
        for bad in [
            "apps.example.com",
            "ftp://apps.example.com",
            "https://apps.example.com/?a=1",
            "https://apps.example.com/#x",
            "https://user:pw@apps.example.com",
            "https://",
        ] {
            assert_eq!(
                settings(&["--base-url", bad]).err(),
                Some(ConfigError::BaseUrl),
                "{bad}"
            );
        }
    }

    #[test]
    fn debug_never_shows_the_database_url() {
        let config = Config::parse_from([
            "connect-app",
            "--database-url",
            "postgres://app:hunter2@db/app",
        ]);
        assert!(!format!("{config:?}").contains("hunter2"));
        assert!(!format!("{:?}", config.settings()).contains("hunter2"));
    }
}
