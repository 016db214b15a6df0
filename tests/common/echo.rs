//! A target on 127.0.0.1 for Run Code tests: it records each request and echoes its URI,
//! path and headers back as JSON (and the Authorization header as `x-echo-auth`), so a
//! secret attached by the host comes straight back towards the guest.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use serde_json::{Value, json};

/// What a target received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub uri: String,
    pub headers: HeaderMap,
}

#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Target {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// Starts a recording, echoing target.
pub async fn target() -> Target {
    async fn handle(State(seen): State<Arc<Mutex<Vec<Seen>>>>, req: Request) -> impl IntoResponse {
        let uri = req.uri().to_string();
        let path = req.uri().path().to_owned();
        let headers = req.headers().clone();
        seen.lock().unwrap().push(Seen {
            uri: uri.clone(),
            headers: headers.clone(),
        });
        let echoed: serde_json::Map<String, Value> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), json!(String::from_utf8_lossy(v.as_bytes()))))
            .collect();
        let auth = headers
            .get("authorization")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        (
            [
                ("content-type", "application/json"),
                ("x-echo-auth", auth.as_str()),
            ],
            json!({"uri": uri, "path": path, "headers": echoed}).to_string(),
        )
            .into_response()
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(Arc::clone(&seen));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Target { addr, seen }
}
