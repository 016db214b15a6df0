//! hush's integration tests, as one binary (so wasmtime and the rest of hush are linked
//! once, not once per file): one module per area, real parts throughout (a real
//! redis-server started by the tests, real HTTP servers on 127.0.0.1, real guest
//! components, real headless Chromium), with the shared helpers in `tests/common`.
//!
//! The process-log tests, which install a process-wide TRACE subscriber, are the other
//! binary, `tests/logs`.

#[path = "../common/mod.rs"]
#[macro_use]
mod common;

mod api;
mod api_actions;
mod api_me;
mod api_oneshot;
mod api_removal;
mod api_runs;
mod api_secrets;
mod at_rest;
mod cli;
mod cli_consistency;
mod cli_removal;
mod cli_run;
mod cli_run_code;
mod cluster;
mod echo_redaction;
mod faults;
mod guests_built;
mod http_action;
mod layering;
mod queue;
mod read_cache;
mod readme;
mod redact_cases;
mod redact_fuzz_body;
mod redact_props;
mod redact_registry;
mod redact_stream;
mod redact_structured;
mod redact_telemetry;
mod removal;
mod run_code;
mod run_code_js;
mod run_pipeline;
mod run_store_conformance;
mod ssrf_metadata;
mod store_conformance;
mod tamper;
mod web;
mod web_editor;
