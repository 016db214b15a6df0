//! `hush run` as a real process: an action file, a real local target, a run record with
//! secrets redacted; the network policy comes from the environment and is closed by
//! default.

use crate::common;
use std::process::Output;

use serde_json::{Value, json};

const VALUE: &str = "sk_test_cli_run_0123456789";

fn hush(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Output {
    let data = dir.join("data");
    let mut all = vec![("HUSH_DATA_DIR", data.to_str().unwrap())];
    all.extend_from_slice(env);
    common::run_hush(&all, args, stdin, &[VALUE])
}

fn ok(dir: &std::path::Path, args: &[&str], stdin: &[u8]) -> String {
    let out = hush(dir, args, &[], stdin);
    assert!(
        out.status.success(),
        "hush {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A target on its own thread that answers with the Authorization header it received.
fn target() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let app = axum::Router::new().fallback(|req: axum::extract::Request| async move {
                let auth = req
                    .headers()
                    .get("authorization")
                    .map(|v| v.to_str().unwrap().to_owned());
                axum::Json(json!({"auth": auth}))
            });
            axum::serve(listener, app).await.unwrap();
        });
    });
    addr
}

#[test]
fn hush_run_sends_the_action_and_prints_a_redacted_record() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["org", "create", "acme"], b"");
    ok(d, &["user", "add", "--org", "acme", "mia"], b"");
    let created: Value = serde_json::from_str(&ok(
        d,
        &[
            "secret",
            "create",
            "--org",
            "acme",
            "--as",
            "mia",
            "--name",
            "Stripe",
            "--value-stdin",
            "--json",
        ],
        VALUE.as_bytes(),
    ))
    .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let addr = target();
    let action = d.join("charge.json");
    std::fs::write(
        &action,
        json!({
            "kind": "send_api_request", "method": "POST",
            "url": format!("http://{addr}/v1/charges?amount={{{{inputs.amount}}}}"),
            "headers": [{"name": "Authorization", "value": format!("Bearer {{{{secret \"{id}\"}}}}")}]
        })
        .to_string(),
    )
    .unwrap();
    let action = action.to_str().unwrap();
    let args = [
        "run",
        action,
        "--org",
        "acme",
        "--as",
        "mia",
        "--inputs",
        r#"{"amount": 5}"#,
        "--json",
    ];

    let out = hush(d, &args, &[("HUSH_ALLOWED_NETWORKS", "127.0.0.1/32")], b"");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let record: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(record["status"], "succeeded", "{record}");
    assert_eq!(record["result"]["body"]["auth"], "Bearer [REDACTED:Stripe]");
    assert_eq!(record["secrets_used"][0]["name"], "Stripe");
    assert_eq!(
        record["request"]["headers"][0]["value"],
        "Bearer {{secret \"Stripe\"}}"
    );

    // The default policy is closed: the same run is refused before anything is sent.
    let out = hush(d, &args, &[], b"");
    let record: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(record["status"], "failed");
    assert_eq!(record["error"]["code"], "denied");
    assert!(
        record["error"]["message"]
            .as_str()
            .unwrap()
            .contains("loopback"),
        "{record}"
    );
    let out = hush(d, &args[..args.len() - 1], &[], b"");
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("127.0.0.1 is a loopback address"));
}
