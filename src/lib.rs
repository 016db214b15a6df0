//! hush: a workflow action runtime.
//!
//! An orchestrator hands hush one action at a time on behalf of a user in an org; hush
//! resolves the org's secret keys the actor may use, runs the action and hands back a
//! result from which every used secret value has been redacted.
//!
//! The rooms, from the bottom up (a room imports only rooms on lines above its own, with
//! no exception; removing a user or group from [`directory`] rewrites the grants in
//! secret metadata in the same atomic change through the plain [`model::secret`] types):
//!
//! - [`error`], [`model`], [`config`], `metrics`: plain types shared by all, and the
//!   process's Prometheus counters, which any room may count into;
//! - [`redact`] and [`telemetry`]: output safety (they hold no state of any room);
//! - [`store`]: the transactional storage backends (Redis, embedded) that everything
//!   persistent is kept through; they know tables and bytes, not what is in them;
//! - [`audit`]: the per-org audit trail, which any room above may record into;
//! - [`directory`]: orgs, users, roles and groups;
//! - [`secrets`]: secret keys: their model, access rules, encryption and operations;
//! - [`tokens`]: API tokens (bearer credentials of users and services), persisted beside
//!   the directory and the secret keys;
//! - [`net`]: the outbound network policy (SSRF guard) every outbound call asks;
//! - [`actions`]: the action kinds (Send API Request, Run Code);
//! - [`saved`]: saved actions (specs stored under an id) and the secret → actions
//!   reference index, persisted beside the directory, secret keys and tokens;
//! - [`executor`]: the run pipeline (resolve, authorize, execute, redact, record);
//! - [`runs`]: the life of a run: dispatch, run history and the queue in Redis, the
//!   worker;
//! - [`app`]: opens the shared state every entry point uses;
//! - `web`: the web page `hush serve` serves (embedded static files; imports no room);
//! - [`api`]: `hush serve`, the HTTP API (authentication, runs, run history, secrets,
//!   directory, saved actions, OpenAPI), mounting `web`;
//! - [`cli`]: the command line.

//!
//! # Using hush as a library
//!
//! What an embedder needs, in the order of one run:
//!
//! - [`config::Config`] and [`app::Hush::open`]: the store (Redis or embedded), the
//!   master keys, and the directory, secret store and audit trail over them;
//! - [`secrets::SecretStore`]: create, share, rotate and delete secret keys (values go in
//!   as [`secrets::SecretValue`] and never come back out except to a run);
//! - [`actions::Action`]: a Send API Request ([`actions::http::HttpAction`]) or a Run
//!   Code action ([`actions::code::CodeAction`]), parsed from JSON with field-exact errors;
//! - [`executor::Executor`]: runs an [`executor::RunRequest`] to a redacted
//!   [`executor::RunRecord`] (`Hush::executor` builds one);
//! - [`runs`]: runs kept and queued ([`runs::RunStore`], in Redis or in memory) and the
//!   worker that drains the queue;
//! - [`api::app`]: the HTTP API as an axum router over an [`api::ApiState`];
//! - [`redact::Redactor`]: the redaction engine, for output hush did not produce itself.
//!
//! [`cli`] is the `hush` binary's command line; `guests` (hidden) names the test
//! components of this build tree.

pub mod actions;
pub mod api;
pub mod app;
pub mod audit;
#[doc(hidden)]
pub mod cli;
pub mod config;
pub mod directory;
pub mod error;
pub mod executor;
/// Paths of the guest components built by `build.rs` (example actions in `actions/` and
/// test guests in `tests/guests/`), each an absolute path to a wasm32-wasip2 component in
/// this build tree, for the tests and benches; `hush demo` uses the embedded bytes of its
/// two examples. Not part of the library's API.
#[doc(hidden)]
pub mod guests {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));
}
pub(crate) mod metrics;
pub mod model;
pub mod net;
pub mod redact;
pub mod runs;
pub mod saved;
pub mod secrets;
pub mod store;
pub mod telemetry;
pub mod tokens;
pub(crate) mod web;

pub use error::{Error, Result};
