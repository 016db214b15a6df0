//! Invariant 4 for Send API Request: with TRACE on for every crate (reqwest, hyper,
//! rustls, handlebars), a run that sends a secret in a header, the query and the body
//! writes no decrypted value to the process log.

use crate::common;
use std::sync::Arc;

use common::{Harness, Kind, assert_no_value_in, run, team, user};
use hush::actions::http::{HttpAction, HttpSender, NetworkPolicy};
use hush::executor::{Executor, RunRequest, RunStatus};
use serde_json::json;

const VALUE: &str = "sk_live_httplog_0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_at_trace_level_logs_no_secret_value() {
    let capture = crate::capture();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(|req: axum::extract::Request| async move {
        let auth = req
            .headers()
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned());
        axum::Json(json!({"echo": auth}))
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let h = Harness::new(Kind::Redis).await;
    let id = h
        .secrets
        .create(&h.org, &user("mia"), team("Log key", VALUE))
        .await
        .unwrap()
        .id;
    let secret = format!("{{{{secret \"{id}\"}}}}");
    let action = HttpAction::from_json(
        &json!({
            "kind": "send_api_request", "method": "POST",
            "url": format!("http://{addr}/v1?k={secret}"),
            "headers": [{"name": "Authorization", "value": format!("Bearer {secret}")}],
            "body": {"type": "json", "value": {"key": secret}}
        })
        .to_string(),
    )
    .unwrap();
    let executor = Executor::new(
        Arc::clone(&h.secrets),
        HttpSender::new(NetworkPolicy::allowing(["127.0.0.1/32".parse().unwrap()])).unwrap(),
    );
    let record = executor
        .run(RunRequest {
            run_id: run("log-run"),
            org: h.org.clone(),
            actor: user("mia"),
            action: action.into(),
            inputs: json!({}),
        })
        .await;
    assert_eq!(record.status, RunStatus::Succeeded, "{record:?}");
    tracing::info!(target: "hush::late", "late line {VALUE}");
    h.secrets.flush().await;

    let out = capture.contents();
    assert!(
        out.contains("hyper") || out.contains("reqwest"),
        "HTTP crates' lines were captured:\n{out}"
    );
    assert!(
        out.contains("[REDACTED:Log key]"),
        "the late line was redacted by name"
    );
    assert_no_value_in("the process log", out.as_bytes(), &[VALUE]);
    assert_no_value_in(
        "the run record",
        serde_json::to_string(&record).unwrap().as_bytes(),
        &[VALUE],
    );
}
