//! The run pipeline end to end: a real store, a real local target, a run record that
//! names its secrets, echoes templates by secret name and holds no value anywhere.

use crate::common;
use std::sync::Arc;

use axum::extract::Request;
use axum::response::IntoResponse;
use common::{Harness, Kind, assert_no_value_in, restricted, run, team, user};
use hush::actions::http::{HttpAction, HttpSender, NetworkPolicy};
use hush::executor::{Executor, RunRequest, RunStatus};
use serde_json::json;

const VALUE: &str = "sk_live_pipeline_0123456789";

/// A target that answers with the Authorization header and the body it received.
async fn echo_target() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(|req: Request| async move {
        let auth = req
            .headers()
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = axum::body::to_bytes(req.into_body(), usize::MAX)
            .await
            .unwrap();
        axum::Json(json!({"auth": auth, "body": String::from_utf8_lossy(&body)})).into_response()
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn executor(h: &Harness) -> Executor {
    let policy = NetworkPolicy::allowing(["127.0.0.1/32".parse().unwrap()]);
    Executor::new(Arc::clone(&h.secrets), HttpSender::new(policy).unwrap())
}

fn request(h: &Harness, actor: &str, action: serde_json::Value) -> RunRequest {
    RunRequest {
        run_id: run("pipeline-run"),
        org: h.org.clone(),
        actor: user(actor),
        action: HttpAction::from_json(&action.to_string()).unwrap().into(),
        inputs: json!({"amount": 1250}),
    }
}

#[tokio::test]
async fn a_run_record_names_its_secrets_redacts_echoes_and_holds_no_value() {
    let h = Harness::new(Kind::Redis).await;
    let id = h
        .secrets
        .create(&h.org, &user("mia"), team("Stripe live", VALUE))
        .await
        .unwrap()
        .id;
    let url = echo_target().await;
    let action = json!({
        "kind": "send_api_request", "name": "Create charge", "method": "POST",
        "url": format!("{url}/v1/charges"),
        "headers": [{"name": "Authorization", "value": format!("Bearer {{{{secret \"{id}\"}}}}")}],
        "body": {"type": "json", "value": {"amount": "{{inputs.amount}}", "key": format!("{{{{secret \"{id}\"}}}}")}}
    });
    let record = executor(&h).run(request(&h, "max", action)).await;
    assert_eq!(record.status, RunStatus::Succeeded, "{record:?}");
    let result = record.result.as_ref().unwrap();
    assert_eq!(result["status"], 200);
    assert_eq!(result["body"]["auth"], "Bearer [REDACTED:Stripe live]");
    assert!(
        result["body"]["body"]
            .as_str()
            .unwrap()
            .contains("\"amount\":1250")
    );
    assert_eq!(record.secrets_used.len(), 1);
    assert_eq!(record.secrets_used[0].id, id);
    assert_eq!(record.secrets_used[0].name, "Stripe live");
    assert_eq!(
        record.request["headers"][0]["value"],
        "Bearer {{secret \"Stripe live\"}}"
    );
    let text = serde_json::to_string(&record).unwrap();
    assert_no_value_in("the run record", text.as_bytes(), &[VALUE]);
}

#[tokio::test]
async fn an_actor_without_use_gets_a_failed_record_and_nothing_is_sent() {
    let h = Harness::new(Kind::Redis).await;
    let id = h
        .secrets
        .create(
            &h.org,
            &user("ada"),
            restricted("Payroll", VALUE, &["user:mia=use"]),
        )
        .await
        .unwrap()
        .id;
    let action = json!({
        "kind": "send_api_request", "method": "GET",
        "url": "http://127.0.0.1:9/never",
        "headers": [{"name": "X-Key", "value": format!("{{{{secret \"{id}\"}}}}")}]
    });
    let record = executor(&h).run(request(&h, "max", action)).await;
    assert_eq!(record.status, RunStatus::Failed);
    let error = record.error.as_ref().unwrap();
    assert_eq!(error.code.code(), "denied");
    assert!(error.message.contains("Payroll"), "{error:?}");
    assert!(record.result.is_none());
    assert!(record.secrets_used.is_empty());
}

#[tokio::test]
async fn a_template_error_fails_the_run_naming_the_field() {
    let h = Harness::new(Kind::Redis).await;
    let action = json!({
        "kind": "send_api_request", "method": "POST", "url": "http://127.0.0.1:9/x",
        "body": {"type": "json", "value": {"amount": "{{inputs.missing}}"}}
    });
    let record = executor(&h).run(request(&h, "max", action)).await;
    assert_eq!(record.status, RunStatus::Failed);
    let error = record.error.unwrap();
    assert_eq!(error.code.code(), "invalid");
    assert!(error.message.contains("body.value.amount"), "{error:?}");
}
