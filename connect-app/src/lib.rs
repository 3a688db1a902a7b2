//! `connect-app`: a complete Atlassian Connect app on axum, built on `atlassian-connect-jwt`.
//!
//! | route (relative to the base URL) | token | answer |
//! | --- | --- | --- |
//! | `GET /atlassian-connect.json` | none | the descriptor |
//! | `POST /installed`, `POST /uninstalled` | signed install (RS256) | 204, 401 |
//! | `GET /panel` | request-bound, in `jwt` | the iframe page, with the user from the product |
//! | `GET /api/whoami` | context (`Authorization: JWT`) | `{"clientKey", "accountId"}` |
//! | `POST /webhooks/jira` | request-bound | 204 |
//! | `GET /healthz` | none | 200 while the tenant store answers |
//!
//! The binary reads [`Config`]; a program that embeds the app builds an [`App`] and nests
//! [`App::routes`] in its own router.
#![forbid(unsafe_code)]

mod app;
mod config;
mod routes;

pub use app::{App, AppState, StartError};
pub use config::{Config, ConfigError, Settings, DEFAULT_KEY};
