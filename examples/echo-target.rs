//! A local HTTP target for trying the README's actions without an account anywhere: it
//! listens on 127.0.0.1 (port 8099 unless an address is given), answers every method and
//! path with `200` and a JSON echo of the request (method, path, query, headers, body),
//! and prints one line per request it received (method and path, never a header or body).
//!
//! `cargo run --example echo-target [-- 127.0.0.1:PORT]`. Because it echoes what it gets,
//! a run against it shows that hush redacts a secret the target sends back.

use axum::extract::Request;
use serde_json::{Map, Value, json};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8099".into());
    let listener = match tokio::net::TcpListener::bind(&addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("echo-target: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    let addr = listener.local_addr().expect("a bound address");
    println!("echo-target: listening on http://{addr}");
    let app = axum::Router::new().fallback(echo);
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("echo-target: {e}");
        std::process::exit(1);
    }
}

async fn echo(request: Request) -> axum::Json<Value> {
    let (parts, body) = request.into_parts();
    println!("echo-target: {} {}", parts.method, parts.uri.path());
    let mut headers = Map::new();
    for (name, value) in &parts.headers {
        headers.insert(
            name.as_str().to_owned(),
            Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned()),
        );
    }
    let bytes = axum::body::to_bytes(body, 16 << 20)
        .await
        .unwrap_or_default();
    let body = serde_json::from_slice::<Value>(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    axum::Json(json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "headers": headers,
        "body": body,
    }))
}
