//! `GET /v1/openapi.json`: the API's OpenAPI 3.1 document, written by hand in
//! `openapi.json` beside this file and embedded at build time. It describes shapes and
//! rules only; it never holds a token or a value.
//!
//! `tests/api_actions.rs` checks it against the router both ways: every documented
//! operation is routed, and every route in `src/api` is documented.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use super::ApiState;

/// The document, as served.
pub const DOCUMENT: &str = include_str!("openapi.json");

/// The OpenAPI route (no token needed).
pub fn routes() -> Router<ApiState> {
    Router::new().route("/v1/openapi.json", get(document))
}

async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}
