//! `connect-app`: a complete Atlassian Connect app on axum, built on `atlassian-connect-jwt`.
//!
//! | route (relative to the base URL) | token | answer |
//! | --- | --- | --- |
//! | `GET /atlassian-connect.json` | none | the descriptor |
//! | `POST /installed`, `POST /uninstalled` | signed install (RS256) | 204, 401 |
//! | `GET /panel` | request-bound, in `jwt` | the iframe page, with the user from the product and a session token for its script |
//! | `GET /api/whoami` | context (`Authorization: JWT`) | `{"clientKey", "accountId"}` |
//! | `GET /panel.js` | none | the page's script |
//! | `GET /api/session/whoami` | the page's session token (`Authorization: Bearer`) | `{"clientKey", "accountId"}` |
//! | `POST /webhooks/jira` | request-bound | 204 |
//! | `POST /webhooks/user-deleted` | request-bound | 204: the user's sessions are revoked |
//! | `POST /forge/remote/{*path}` | Forge Invocation Token (`Authorization: Bearer`), when `CONNECT_APP_FORGE_APP_ID` is set | `{"installationId", "clientKey"?, ...}` |
//! | `GET /healthz` | none | 200 while the tenant store answers |
//!
//! In the background, the user sweep asks Jira every `CONNECT_APP_USER_SWEEP_INTERVAL` which
//! session holders are still active. Session revocations are shared through Redis when
//! `CONNECT_APP_REDIS_URL` is set.
//!
//! The binary reads [`Config`]; a program that embeds the app builds an [`App`] and nests
//! [`App::routes`] in its own router.
#![forbid(unsafe_code)]

mod app;
mod config;
mod routes;

pub use app::{App, AppState, StartError};
pub use config::{Config, ConfigError, ForgeSettings, Settings, DEFAULT_KEY};
