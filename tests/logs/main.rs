//! Invariant 4, process logs: with TRACE on for every crate (axum, hyper, redis, reqwest,
//! wasmtime), the runs, requests and secret routes these modules drive write no value to
//! the process log. They share one process-wide subscriber that captures every line,
//! which is why they are a binary of their own (`tests/all` runs at the default level).

#[path = "../common/mod.rs"]
#[macro_use]
mod common;

mod api_logs;
mod http_logs;
mod log_redaction;

/// The process log as captured: one subscriber for the whole binary, at TRACE for every
/// crate, installed by the first test to ask (every line redacted, as in `hush serve`).
pub fn capture() -> hush::telemetry::CaptureWriter {
    use hush::telemetry::{CaptureWriter, RedactingMakeWriter};
    static CAPTURE: std::sync::OnceLock<CaptureWriter> = std::sync::OnceLock::new();
    CAPTURE
        .get_or_init(|| {
            let capture = CaptureWriter::new();
            hush::telemetry::init_with_writer_at(
                RedactingMakeWriter::new(capture.clone()),
                "trace",
            )
            .expect("the only subscriber of this binary");
            capture
        })
        .clone()
}
