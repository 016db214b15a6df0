//! hush: a workflow action runtime.
//!
//! An orchestrator hands hush one action at a time on behalf of a user in an org; hush
//! resolves the org's secret keys the actor may use, runs the action and hands back a
//! result from which every used secret value has been redacted.
//!
//! The rooms, from the bottom up (a lower line never imports a higher one):
//!
//! - [`error`], [`model`], [`config`]: plain types shared by all;
//! - [`store`]: the transactional storage backends (Redis, embedded) that the directory,
//!   the secret keys and the audit trail are persisted through;
//! - [`directory`]: orgs, users, roles and groups;
//! - [`secrets`]: secret keys: their model, access rules, encryption and operations;
//! - [`audit`]: the per-org audit trail;
//! - [`tokens`]: API tokens (bearer credentials of users and services), persisted beside
//!   the directory and the secret keys;
//! - [`redact`] and [`telemetry`]: output safety;
//! - [`net`]: the outbound network policy (SSRF guard) every outbound call asks;
//! - [`actions`]: the action kinds (Send API Request, Run Code) and saved actions;
//! - [`executor`]: the run pipeline (resolve, authorize, execute, redact, record);
//! - [`app`]: opens the shared state every entry point uses;
//! - [`runs`]: run history and queued dispatch in Redis (streams, `hush worker`);
//! - [`metrics`]: Prometheus metrics;
//! - [`api`]: `hush serve`, the HTTP API (bearer tokens, runs, run history, secrets,
//!   directory, saved actions, OpenAPI);
//! - [`web`]: the web page `hush serve` serves (embedded static files);
//! - [`cli`]: the command line.

pub mod actions;
pub mod api;
pub mod app;
pub mod audit;
pub mod cli;
pub mod config;
pub mod directory;
pub mod error;
pub mod executor;
/// Paths of the guest components built by `build.rs` (example actions in `actions/` and
/// test guests in `tests/guests/`), each an absolute path to a wasm32-wasip2 component.
pub mod guests {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));
}
pub mod metrics;
pub mod model;
pub mod net;
pub mod redact;
pub mod runs;
pub mod secrets;
pub mod store;
pub mod telemetry;
pub mod tokens;
pub mod web;

pub use error::{Error, Result};
