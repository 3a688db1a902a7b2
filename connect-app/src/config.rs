//! The app's settings: environment variables, or the same as flags.

use core::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use atlassian_connect_jwt::session::{
    DEFAULT_SESSION_TTL, DEFAULT_SWEEP_INTERVAL, MAX_SESSION_TTL, MIN_SWEEP_INTERVAL,
};
use atlassian_connect_jwt::{BasePath, ATLASSIAN_FORGE_JWKS_URL, ATLASSIAN_INSTALL_KEYS_URL};
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

    /// Where session revocations are shared by every instance: `redis://HOST:PORT/DB`
    /// [default: none, revocations kept in memory (one instance)].
    #[arg(long, env = "CONNECT_APP_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Lifetime of the session tokens the iframe page gets, in seconds (1 to 3600).
    #[arg(long, env = "CONNECT_APP_SESSION_TTL", default_value_t = DEFAULT_SESSION_TTL)]
    pub session_ttl: u64,

    /// How often the product is asked which session holders are still active, in seconds
    /// (decimals allowed; at least 0.1).
    #[arg(
        long,
        env = "CONNECT_APP_USER_SWEEP_INTERVAL",
        default_value_t = DEFAULT_SWEEP_INTERVAL.as_secs_f64()
    )]
    pub user_sweep_interval: f64,

    /// The Forge app id (`ari:cloud:ecosystem::app/<uuid>`) whose invocations
    /// `POST /forge/remote/*` accepts [default: none, the Forge routes are not served].
    #[arg(long, env = "CONNECT_APP_FORGE_APP_ID")]
    pub forge_app_id: Option<String>,

    /// Where Forge's signing keys are fetched from (a JSON Web Key Set) [default: Forge's,
    /// when CONNECT_APP_FORGE_APP_ID is set].
    #[arg(long, env = "CONNECT_APP_FORGE_JWKS_URL")]
    pub forge_jwks_url: Option<String>,
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
        if self.session_ttl == 0 || self.session_ttl > MAX_SESSION_TTL {
            return Err(ConfigError::SessionTtl);
        }
        let sweep_interval = Duration::try_from_secs_f64(self.user_sweep_interval)
            .ok()
            .filter(|interval| *interval >= MIN_SWEEP_INTERVAL)
            .ok_or(ConfigError::UserSweepInterval)?;
        let forge = match (&self.forge_app_id, &self.forge_jwks_url) {
            (Some(app_id), jwks_url) => Some(ForgeSettings {
                app_id: app_id.clone(),
                jwks_url: jwks_url
                    .clone()
                    .unwrap_or_else(|| ATLASSIAN_FORGE_JWKS_URL.to_owned()),
            }),
            (None, Some(_)) => return Err(ConfigError::ForgeJwksWithoutAppId),
            (None, None) => None,
        };
        Ok(Settings {
            listen: self.listen,
            base_url,
            base_path,
            key: self.key.clone(),
            database_url: self.database_url.clone(),
            install_keys_url: self.install_keys_url.clone(),
            redis_url: self.redis_url.clone(),
            session_ttl: self.session_ttl,
            sweep_interval,
            forge,
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
            .field("session_ttl", &self.session_ttl)
            .field("user_sweep_interval", &self.user_sweep_interval)
            .field("forge_app_id", &self.forge_app_id)
            .field("forge_jwks_url", &self.forge_jwks_url)
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
    /// The Redis server of the session revocations (may hold a password: never logged);
    /// `None`: in memory.
    pub redis_url: Option<String>,
    /// Lifetime of session tokens, in seconds.
    pub session_ttl: u64,
    /// The user sweep's interval.
    pub sweep_interval: Duration,
    /// The Forge remote routes, when configured.
    pub forge: Option<ForgeSettings>,
}

/// Where Forge invocations are checked: `POST /forge/remote/*` is served with these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForgeSettings {
    /// The Forge app id the invocations must be addressed to.
    pub app_id: String,
    /// Forge's key set.
    pub jwks_url: String,
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
            redis_url: None,
            session_ttl: DEFAULT_SESSION_TTL,
            user_sweep_interval: DEFAULT_SWEEP_INTERVAL.as_secs_f64(),
            forge_app_id: None,
            forge_jwks_url: None,
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
            .field("session_ttl", &self.session_ttl)
            .field("sweep_interval", &self.sweep_interval)
            .field("forge", &self.forge)
            .finish_non_exhaustive()
    }
}

/// A setting the app cannot start with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// `CONNECT_APP_BASE_URL` is not `http(s)://host[:port][/path]` (no query, fragment or
    /// credentials).
    BaseUrl,
    /// `CONNECT_APP_SESSION_TTL` is 0 or more than 3600 seconds.
    SessionTtl,
    /// `CONNECT_APP_USER_SWEEP_INTERVAL` is not a number of seconds of at least 0.1.
    UserSweepInterval,
    /// `CONNECT_APP_FORGE_JWKS_URL` is set without `CONNECT_APP_FORGE_APP_ID`.
    ForgeJwksWithoutAppId,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BaseUrl => f.write_str(
                "CONNECT_APP_BASE_URL must be http(s)://host[:port][/path], without query, fragment or credentials",
            ),
            Self::SessionTtl => f.write_str("CONNECT_APP_SESSION_TTL must be 1 to 3600 seconds"),
            Self::UserSweepInterval => f.write_str(
                "CONNECT_APP_USER_SWEEP_INTERVAL must be a number of seconds of at least 0.1",
            ),
            Self::ForgeJwksWithoutAppId => f.write_str(
                "CONNECT_APP_FORGE_JWKS_URL is set but CONNECT_APP_FORGE_APP_ID is not: set both, or neither",
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
    fn session_and_forge_settings_default_and_parse() -> Result<(), ConfigError> {
        let s = settings(&[])?;
        assert_eq!(
            (s.redis_url, s.session_ttl, s.sweep_interval, s.forge),
            (None, 300, Duration::from_secs(60), None)
        );
        let s = settings(&[
            "--redis-url",
            "redis://127.0.0.1:6379/0",
            "--session-ttl",
            "600",
            "--user-sweep-interval",
            "0.5",
            "--forge-app-id",
            "ari:cloud:ecosystem::app/8db33809-1f32-48bb-8c52-5877dab48107",
        ])?;
        assert_eq!(s.redis_url.as_deref(), Some("redis://127.0.0.1:6379/0"));
        assert_eq!(s.session_ttl, 600);
        assert_eq!(s.sweep_interval, Duration::from_millis(500));
        assert_eq!(
            s.forge,
            Some(ForgeSettings {
                app_id: "ari:cloud:ecosystem::app/8db33809-1f32-48bb-8c52-5877dab48107".into(),
                jwks_url: ATLASSIAN_FORGE_JWKS_URL.into(),
            })
        );
        Ok(())
    }

    #[test]
    fn session_and_forge_settings_out_of_range_are_refused() {
        for (args, error) in [
            (&["--session-ttl", "0"][..], ConfigError::SessionTtl),
            (&["--session-ttl", "3601"], ConfigError::SessionTtl),
            (
                &["--user-sweep-interval", "0.09"],
                ConfigError::UserSweepInterval,
            ),
            (
                // `=`: a separate `-1` would be read as a flag.
                &["--user-sweep-interval=-1"],
                ConfigError::UserSweepInterval,
            ),
            (
                &["--user-sweep-interval", "inf"],
                ConfigError::UserSweepInterval,
            ),
            (
                &["--user-sweep-interval", "NaN"],
                ConfigError::UserSweepInterval,
            ),
            (
                &["--forge-jwks-url", "https://keys.example/jwks.json"],
                ConfigError::ForgeJwksWithoutAppId,
            ),
        ] {
            assert_eq!(settings(args).err(), Some(error), "{args:?}");
        }
        assert_eq!(
            settings(&["--session-ttl", "3600"]).map(|s| s.session_ttl),
            Ok(3600)
        );
        assert_eq!(
            settings(&["--user-sweep-interval", "0.1"]).map(|s| s.sweep_interval),
            Ok(Duration::from_millis(100))
        );
    }

    #[test]
    fn debug_never_shows_the_database_url() {
        let config = Config::parse_from([
            "connect-app",
            "--database-url",
            "postgres://app:hunter2@db/app",
            "--redis-url",
            "redis://:swordfish@cache:6379/0",
        ]);
        for secret in ["hunter2", "swordfish"] {
            assert!(!format!("{config:?}").contains(secret));
            assert!(!format!("{:?}", config.settings()).contains(secret));
        }
    }
}
