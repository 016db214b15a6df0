//! Invariant 4: the process's logs never contain a decrypted value. TRACE is on for every
//! crate, real store operations run against a real redis-server, and every line the
//! process writes is captured.

use crate::common;
use base64::Engine;
use common::{Harness, Kind, assert_no_value_in, restricted, run, team, user};

const VALUES: [&str; 3] = [
    "sk_live_logtest_0123456789",
    "hunter2-but-longer-password",
    "multi-line\nsecret value here",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_logs_of_every_crate_hold_no_decrypted_value() {
    let capture = crate::capture();

    let h = Harness::new(Kind::Redis).await;
    let mut ids = Vec::new();
    for (i, v) in VALUES.iter().enumerate() {
        let new = if i == 0 {
            team(&format!("log-{i}"), v)
        } else {
            restricted(&format!("log-{i}"), v, &["user:max=use"])
        };
        ids.push(
            h.secrets
                .create(&h.org, &user("mia"), new)
                .await
                .unwrap()
                .id,
        );
    }
    let resolved = h
        .secrets
        .resolve(&h.org, &user("max"), &ids, &run("log-run"))
        .await
        .unwrap();
    let _ = h
        .secrets
        .resolve(&h.org, &user("zed"), &ids, &run("log-denied"))
        .await;

    // What a careless dependency might log while a run holds the values: raw, in headers,
    // base64 (basic auth), hex, JSON, in Debug of a struct, through the `log` crate too.
    for r in &resolved {
        let v = r.value.expose();
        tracing::trace!(target: "reqwest::connect", "sending Authorization: Bearer {v}");
        tracing::debug!(target: "hyper::proto::h1", header = %format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("user:{v}"))));
        tracing::info!(target: "h2::codec", payload = %hex::encode(v), "frame");
        tracing::warn!(target: "rustls::client", body = %serde_json::json!({ "token": v }), "body");
        tracing::error!(target: "wasmtime::runtime", "{:?}", (v, 42));
        log::info!(target: "redis::aio", "command arg {v}");
    }
    drop(resolved);
    // Released values stay redacted through the grace period.
    tracing::info!(target: "hush::late", "late line {}", VALUES[0]);
    h.secrets.flush().await;

    let out = capture.contents();
    assert!(
        out.contains("resolved secrets"),
        "hush's own TRACE/DEBUG lines were captured"
    );
    assert!(
        out.contains("reqwest::connect") && out.contains("redis::aio"),
        "lines of other crates were captured"
    );
    assert!(
        out.contains("[REDACTED:log-0]"),
        "values were redacted by name:\n{out}"
    );
    assert_no_value_in("the process log", out.as_bytes(), &VALUES);
    for line in VALUES[2].lines() {
        assert!(
            !out.contains(line) || line.len() < 8,
            "a line of a multi-line value leaked"
        );
    }
}
