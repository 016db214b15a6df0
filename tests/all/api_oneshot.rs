//! The HTTP API driven in-process with `tower::ServiceExt::oneshot` over the embedded
//! backend and the in-memory run store ([`MemoryRuns`], what `hush serve` uses without
//! Redis): no socket and no Redis between the test and the router, a real local target
//! for Send API Request. Covers a run waited for and read back, a queued run drained
//! in-process, idempotency, paging, live events, and refusals in the error shape.

use crate::common;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use common::{Harness, Kind, assert_no_value_in, team};
use hush::actions::http::{HttpSender, NetworkPolicy};
use hush::api::{ApiState, app};
use hush::executor::Executor;
use hush::runs::memory::MemoryRuns;
use hush::runs::{DEFAULT_RETENTION, Runs};
use serde_json::{Value, json};
use tower::ServiceExt;

const VALUE: &str = "sk_live_oneshot_0123456789abcdef";

/// The router over an embedded harness and a memory run store drained in-process, a
/// service token, and a Send API Request that sends the team secret `Stripe live`.
struct Api {
    h: Harness,
    router: Router,
    token: String,
    action: Value,
    _stop: Arc<AtomicBool>,
}

impl Api {
    async fn start() -> Api {
        let h = Harness::new(Kind::Embedded).await;
        let id = h.create("mia", team("Stripe live", VALUE)).await.id;
        let action = json!({
            "kind": "send_api_request", "name": "Charge", "method": "POST",
            "url": format!("{}/v1/charges", common::api::auth_echo_target().await),
            "headers": [{"name": "Authorization", "value": format!("Bearer {{{{secret \"{id}\"}}}}")}]
        });
        let policy = NetworkPolicy::allowing(["127.0.0.1/32".parse().unwrap()]);
        let executor = Executor::new(Arc::clone(&h.secrets), HttpSender::new(policy).unwrap());
        let memory = Arc::new(MemoryRuns::new(DEFAULT_RETENTION));
        let stop = Arc::new(AtomicBool::new(false));
        tokio::spawn(MemoryRuns::drain(
            Arc::clone(&memory),
            executor.clone(),
            4,
            Arc::clone(&stop),
        ));
        let runs: Runs = memory;
        let router = app(ApiState::new(Arc::clone(&h.backend), runs, executor));
        let token = common::api::service_token(&h).await;
        Api {
            h,
            router,
            token,
            action,
            _stop: stop,
        }
    }

    /// Sends one request through the router; returns the status and the body, after
    /// checking that neither the headers nor the body hold the value.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Vec<u8>) {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {}", self.token));
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
        let response = self
            .router
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = format!("{:?}", response.headers());
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_no_value_in("the response headers", headers.as_bytes(), &[VALUE]);
        assert_no_value_in("the response body", &bytes, &[VALUE]);
        (status, bytes.to_vec())
    }

    async fn json(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let (status, bytes) = self.call(method, path, body).await;
        let value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "{path}: not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        (status, value)
    }

    /// The run `id`, read until it has ended (a queued run is run by the drain).
    async fn ended(&self, id: &str) -> Value {
        for _ in 0..400 {
            let (status, run) = self
                .json(Method::GET, &format!("/v1/runs/{id}"), None)
                .await;
            assert_eq!(status, StatusCode::OK, "{run}");
            if run["status"] == "succeeded" || run["status"] == "failed" {
                return run;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("run {id} never ended");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_waited_for_on_the_embedded_store_is_redacted_and_reads_back_the_same() {
    let api = Api::start().await;
    let body =
        json!({"action": api.action, "inputs": {}, "actor": "max", "workflow_run_id": "wf-1"});
    let (status, record) = api
        .json(Method::POST, "/v1/runs?wait=true", Some(body))
        .await;
    assert_eq!(status, StatusCode::OK, "{record}");
    assert_eq!(record["status"], "succeeded", "{record}");
    assert_eq!(
        record["result"]["body"]["auth"],
        "Bearer [REDACTED:Stripe live]"
    );
    let id = record["id"].as_str().unwrap();
    let (status, stored) = api.json(Method::GET, &format!("/v1/runs/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored, record);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_run_is_answered_202_and_run_to_its_end_in_process() {
    let api = Api::start().await;
    let body = json!({"action": api.action, "inputs": {}, "actor": "mia"});
    let (status, queued) = api.json(Method::POST, "/v1/runs", Some(body)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(queued["status"], "queued");
    let run = api.ended(queued["id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["attempts"], 1);
    assert_eq!(
        run["result"]["body"]["auth"],
        "Bearer [REDACTED:Stripe live]"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_idempotency_key_makes_one_run_and_a_second_dispatch_answers_with_it() {
    let api = Api::start().await;
    let body =
        json!({"action": api.action, "inputs": {}, "actor": "mia", "idempotency_key": "charge-42"});
    let (first_status, first) = api.json(Method::POST, "/v1/runs", Some(body.clone())).await;
    assert_eq!(first_status, StatusCode::ACCEPTED, "{first}");
    let (_, second) = api.json(Method::POST, "/v1/runs", Some(body)).await;
    assert_eq!(second["id"], first["id"], "{second}");
    api.ended(first["id"].as_str().unwrap()).await;
    let (_, page) = api.json(Method::GET, "/v1/runs?limit=50", None).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_page_newest_first_by_cursor_and_filter_by_workflow_run() {
    let api = Api::start().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let wf = if i % 2 == 0 { "wf-even" } else { "wf-odd" };
        let body =
            json!({"action": api.action, "inputs": {}, "actor": "mia", "workflow_run_id": wf});
        let (status, run) = api
            .json(Method::POST, "/v1/runs?wait=true", Some(body))
            .await;
        assert_eq!(status, StatusCode::OK, "{run}");
        ids.push(run["id"].as_str().unwrap().to_owned());
        // Run ids order by the millisecond they were made in.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut seen = Vec::new();
    let mut path = "/v1/runs?limit=2".to_owned();
    loop {
        let (status, page) = api.json(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/runs?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);
    let (_, even) = api
        .json(Method::GET, "/v1/runs?workflow_run_id=wf-even", None)
        .await;
    let even: Vec<&str> = even["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        even,
        vec![ids[4].as_str(), ids[2].as_str(), ids[0].as_str()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runs_events_stream_its_statuses_and_end_after_the_final_one() {
    let api = Api::start().await;
    let body = json!({"action": api.action, "inputs": {}, "actor": "mia"});
    let (_, run) = api
        .json(Method::POST, "/v1/runs?wait=true", Some(body))
        .await;
    let id = run["id"].as_str().unwrap();
    let (status, stream) = api
        .call(Method::GET, &format!("/v1/runs/{id}/events"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let stream = String::from_utf8(stream).unwrap();
    let statuses: Vec<&str> = stream
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| d.split("\"status\":\"").nth(1))
        .map(|s| s.split('"').next().unwrap())
        .collect();
    assert_eq!(statuses, ["running", "succeeded"], "{stream}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_answer_the_json_error_shape_without_a_socket() {
    let api = Api::start().await;
    let no_token = api
        .router
        .clone()
        .oneshot(
            Request::builder()
                .uri("/v1/runs")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(no_token.status(), StatusCode::UNAUTHORIZED);
    let (status, body) = api.json(Method::GET, "/v1/runs/run_nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
    let (status, body) = api.json(Method::GET, "/v1/runs?limit=0", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid");
    let (status, body) = api
        .json(
            Method::POST,
            "/v1/runs",
            Some(json!({"action": {"kind": "nope"}, "inputs": {}, "actor": "mia"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = api.json(Method::GET, "/readyz", None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the embedded store and memory runs are ready"
    );
    drop(api.h);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_token_naming_the_org_reads_no_run_though_the_read_starts_with_its_check() {
    let api = Api::start().await;
    let body = json!({"action": api.action, "inputs": {}, "actor": "mia"});
    let (_, run) = api
        .json(Method::POST, "/v1/runs?wait=true", Some(body))
        .await;
    let id = run["id"].as_str().unwrap();
    let forged = format!("hush_{}_{}", api.h.org, "a".repeat(52));
    let response = api
        .router
        .clone()
        .oneshot(
            Request::builder()
                .uri(format!("/v1/runs/{id}"))
                .header("authorization", format!("Bearer {forged}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains(id) && !text.contains("succeeded"), "{text}");
}
