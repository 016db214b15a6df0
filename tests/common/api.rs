//! Shared helpers for tests of `hush serve` over real HTTP: the app on 127.0.0.1:0 over
//! a harness's store, tokens, and answers checked for values and for the error shape.

use std::sync::Arc;

use hush::actions::http::{HttpSender, NetworkPolicy};
use hush::api::{ApiState, app};
use hush::executor::Executor;
use hush::runs::DEFAULT_RETENTION;
use hush::runs::redis::RedisRuns;
use hush::tokens::{Principal, Tokens};
use reqwest::StatusCode;
use serde_json::Value;

use super::{Harness, assert_no_value_in, user};

/// The API over `h`'s store (and its secret store, and runs in its Redis) on a fresh
/// port, with loopback opened for Send API Request and `max_body` bytes of body at most;
/// returns its base URL.
pub async fn serve(h: &Harness, max_body: usize) -> String {
    let policy = NetworkPolicy::allowing(["127.0.0.1/32".parse().unwrap()]);
    let executor = Executor::new(Arc::clone(&h.secrets), HttpSender::new(policy).unwrap());
    let runs = RedisRuns::connect(&h.redis_url(), DEFAULT_RETENTION)
        .await
        .unwrap();
    let state = ApiState::new(Arc::clone(&h.backend), Arc::new(runs), executor)
        .with_max_body_bytes(max_body);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app(state)).await.unwrap() });
    format!("http://{addr}")
}

/// The API over `h`'s store as [`serve`] makes it, with Run Code too (the harness's
/// code executor, loopback opened); returns its base URL.
pub async fn serve_with_code(h: &Harness, max_body: usize) -> String {
    let policy = NetworkPolicy::allowing(["127.0.0.1/32".parse().unwrap()]);
    let (_, executor) = h.code_executor(policy);
    let runs = RedisRuns::connect(&h.redis_url(), DEFAULT_RETENTION)
        .await
        .unwrap();
    let state = ApiState::new(Arc::clone(&h.backend), Arc::new(runs), executor)
        .with_max_body_bytes(max_body);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app(state)).await.unwrap() });
    format!("http://{addr}")
}

/// A token of `h`'s org for `principal`.
pub async fn token(h: &Harness, principal: Principal) -> String {
    let issued = Tokens::new(Arc::clone(&h.backend))
        .create(&h.org, principal)
        .await
        .unwrap();
    issued.token.as_str().to_owned()
}

/// A user token of `h`'s org.
pub async fn user_token(h: &Harness, name: &str) -> String {
    token(h, Principal::User { user: user(name) }).await
}

/// A service token of `h`'s org.
pub async fn service_token(h: &Harness) -> String {
    token(h, Principal::service("orchestrator").unwrap()).await
}

/// The status and JSON body of `res`, after checking that neither its headers nor its
/// body hold any known encoding of any of `values`.
pub async fn answer(res: reqwest::Response, values: &[&str]) -> (StatusCode, Value) {
    let status = res.status();
    let mut headers = Vec::new();
    for (name, value) in res.headers() {
        headers.extend_from_slice(name.as_str().as_bytes());
        headers.extend_from_slice(b": ");
        headers.extend_from_slice(value.as_bytes());
        headers.push(b'\n');
    }
    assert_no_value_in("an API response's headers", &headers, values);
    let bytes = res.bytes().await.unwrap();
    assert_no_value_in("an API response", &bytes, values);
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
    (status, body)
}

/// Asserts the one error shape, with `status` and `code` and a message.
pub fn assert_error(got: &(StatusCode, Value), status: StatusCode, code: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["error"]["code"], code, "{}", got.1);
    assert!(
        got.1["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{}",
        got.1
    );
}

/// A client of one server that checks every answer for `values` and parses it as JSON.
pub struct Client {
    /// The server's base URL.
    pub base: String,
    http: reqwest::Client,
    values: Vec<String>,
}

impl Client {
    /// A client of `base` that fails the test if any answer holds any of `values`.
    pub fn new(base: String, values: &[&str]) -> Client {
        Client {
            base,
            http: reqwest::Client::new(),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        }
    }

    /// Sends `body` (raw bytes, `Content-Type: application/json`) with `method` to
    /// `path` (with its query string), with `token` as bearer when given.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.header("content-type", "application/json").body(body);
        }
        let values: Vec<&str> = self.values.iter().map(String::as_str).collect();
        answer(req.send().await.unwrap(), &values).await
    }

    /// `method path` without a token or body: the status and the body as text (which
    /// need not be JSON), checked for values like every answer.
    pub async fn probe(&self, method: reqwest::Method, path: &str) -> (StatusCode, String) {
        let res = self
            .http
            .request(method, format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = res.status();
        let bytes = res.bytes().await.unwrap();
        let values: Vec<&str> = self.values.iter().map(String::as_str).collect();
        assert_no_value_in("an API response", &bytes, &values);
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    /// `GET path`.
    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::DELETE, path, Some(token), None)
            .await
    }

    /// `method path` with a JSON body.
    pub async fn json(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: &Value,
    ) -> (StatusCode, Value) {
        self.send(
            method,
            path,
            Some(token),
            Some(body.to_string().into_bytes()),
        )
        .await
    }
}

/// A target on 127.0.0.1 that answers `{"auth": <the Authorization header it received>}`;
/// returns its base URL.
pub async fn auth_echo_target() -> String {
    use axum::response::IntoResponse;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(|req: axum::extract::Request| async move {
        let auth = req
            .headers()
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned());
        axum::Json(serde_json::json!({"auth": auth})).into_response()
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}
