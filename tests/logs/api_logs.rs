//! Invariant 4 for the secret routes of `hush serve`: with TRACE on for every crate
//! (axum, hyper, redis, reqwest), creating a secret, giving it a new value, and sending
//! values in refused requests (a wrong field, a too-short value, a malformed body, no
//! token) writes no value to the process log, not even one hush never stored.

use crate::common;
use common::api::{Client, serve, user_token};
use common::{Harness, Kind, assert_no_value_in};
use reqwest::{Method, StatusCode};
use serde_json::json;

const VALUE: &str = "sk_live_apilog_0123456789";
const NEW_VALUE: &str = "sk_live_apilog_rotated_987654";
/// Sent only in refused requests: never stored, so no redactor knows it.
const STRAY: &str = "sk_live_apilog_stray_55555555";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_routes_at_trace_level_log_no_value() {
    let capture = crate::capture();

    let h = Harness::new(Kind::Redis).await;
    let api = Client::new(serve(&h, 64 * 1024).await, &[VALUE, NEW_VALUE, STRAY]);
    let mia = user_token(&h, "mia").await;

    let got = api
        .json(
            Method::POST,
            "/v1/secrets",
            &mia,
            &json!({"name": "Log key", "value": VALUE}),
        )
        .await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
    let id = got.1["id"].as_str().unwrap().to_owned();
    let got = api
        .json(
            Method::PUT,
            &format!("/v1/secrets/{id}/value"),
            &mia,
            &json!({"value": NEW_VALUE}),
        )
        .await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);

    let refused = [
        (
            Some(&mia),
            json!({"name": "Stray", "value": STRAY, "colour": 1}).to_string(),
        ),
        (
            Some(&mia),
            json!({"name": "Stray", "secret": STRAY}).to_string(),
        ),
        (Some(&mia), json!({"name": STRAY, "value": 7}).to_string()),
        (
            Some(&mia),
            format!("{{\"name\": \"Stray\", \"value\": \"{STRAY}\""),
        ),
        (None, json!({"name": "Stray", "value": STRAY}).to_string()),
    ];
    for (token, body) in refused {
        let got = api
            .send(
                Method::POST,
                "/v1/secrets",
                token.map(String::as_str),
                Some(body.into_bytes()),
            )
            .await;
        assert!(got.0.is_client_error(), "{}", got.1);
    }
    let got = api
        .json(
            Method::PUT,
            &format!("/v1/secrets/{id}/value"),
            &mia,
            &json!({"value": STRAY, "extra": true}),
        )
        .await;
    assert_eq!(got.0, StatusCode::BAD_REQUEST, "{}", got.1);
    h.secrets.flush().await;

    let out = capture.contents();
    assert!(
        out.contains("refused request"),
        "the refusals were logged:\n{out}"
    );
    assert!(
        out.contains("hyper") || out.contains("axum"),
        "HTTP crates' lines were captured"
    );
    assert_no_value_in(
        "the process log",
        out.as_bytes(),
        &[VALUE, NEW_VALUE, STRAY],
    );
}
