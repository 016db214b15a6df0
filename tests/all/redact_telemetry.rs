//! Process logging never shows a held value: every level, several targets (including the
//! ones reqwest, hyper and redis log under), messages, fields, `Debug` of structs, human and
//! JSON formats, and `log` records bridged into tracing.

use std::sync::Arc;

use hush::redact::{Redactor, global};
use hush::telemetry::{CaptureWriter, RedactingMakeWriter, init_with_writer, subscriber};
use tracing_subscriber::EnvFilter;

/// Has a quote and a backslash, so `Debug` and JSON escaping both change it.
const VALUE: &str = r#"tel"emetry\secret-v4lue"#;

#[derive(Debug)]
#[allow(dead_code)] // read through Debug only
struct Config {
    url: String,
    password: String,
}

fn log_everything(value: &str) {
    let cfg = Config {
        url: "https://api.example.com".into(),
        password: value.to_owned(),
    };
    macro_rules! at_every_level {
        ($target:literal) => {
            tracing::trace!(target: $target, token = %value, "trace {value}");
            tracing::debug!(target: $target, cfg = ?cfg, "debug {cfg:?}");
            tracing::info!(target: $target, token = value, "info {value}");
            tracing::warn!(target: $target, ?cfg, "warn");
            tracing::error!(target: $target, error = %format!("boom: {value}"), "error {value:?}");
        };
    }
    at_every_level!("hush");
    at_every_level!("reqwest::connect");
    at_every_level!("hyper");
    at_every_level!("redis");
    let span = tracing::info_span!("run", secret = %value);
    let _enter = span.enter();
    tracing::info!("inside a span carrying the value");
}

fn assert_clean(output: &str, expect_lines: usize) {
    assert!(!output.contains("emetry\\secret"), "{output}");
    assert!(!output.contains("secret-v4lue"), "{output}");
    assert!(output.contains("[REDACTED:tel]"), "{output}");
    assert!(output.lines().count() >= expect_lines, "{output}");
}

#[test]
fn scoped_human_and_json_output_at_every_level_holds_no_value() {
    let redactor = Arc::new(Redactor::new([("tel", VALUE)]));
    for json in [false, true] {
        let capture = CaptureWriter::new();
        let make = RedactingMakeWriter::with_redactor(capture.clone(), Arc::clone(&redactor));
        let sub = subscriber(make, EnvFilter::new("trace"), json);
        tracing::subscriber::with_default(sub, || log_everything(VALUE));
        // 5 levels x 4 targets + the span event.
        assert_clean(&capture.contents(), 21);
    }
}

#[test]
fn global_subscriber_redacts_held_values_and_log_records() {
    let capture = CaptureWriter::new();
    init_with_writer(RedactingMakeWriter::new(capture.clone())).expect("first install");
    let lease = global().hold("tel", VALUE.as_bytes());

    log_everything(VALUE);
    log::info!(target: "redis", "AUTH {VALUE}");
    log::warn!(target: "hyper::proto", "header {VALUE:?}");
    log::error!("plain log record {VALUE}");

    let out = capture.contents();
    assert_clean(&out, 4 * 3 + 3);
    assert!(out.contains("AUTH [REDACTED:tel]"), "{out}");
    assert!(out.contains("plain log record [REDACTED:tel]"), "{out}");
    drop(lease);
    assert!(init_with_writer(RedactingMakeWriter::new(CaptureWriter::new())).is_err());
}
