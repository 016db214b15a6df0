//! `hush serve` over real HTTP: the app on 127.0.0.1:0 over a real redis-server, a real
//! local target for Send API Request, reqwest as the client. Covers bearer auth, who may
//! act for whom, run history across orgs, the JSON error shape for bad requests, health
//! and readiness, and tokens shown once.

use crate::common;
use std::sync::Arc;

use common::api::assert_error;
use common::{Harness, Kind, assert_no_value_in, team, user};
use hush::tokens::Tokens;
use reqwest::StatusCode;
use serde_json::{Value, json};

const VALUE: &str = "sk_live_api_0123456789abcdef";
const MAX_BODY: usize = 64 * 1024;

/// The API over `h`'s store on a fresh port; returns its base URL.
async fn serve(h: &Harness) -> String {
    common::api::serve(h, MAX_BODY).await
}

/// One org's API: its harness (ada admin, mia and max members, zed an outsider), the
/// server, a team secret `Stripe live`, and a Send API Request that sends it.
struct Api {
    h: Harness,
    base: String,
    client: reqwest::Client,
    action: Value,
}

impl Api {
    async fn start() -> Api {
        let h = Harness::new(Kind::Redis).await;
        let id = h.create("mia", team("Stripe live", VALUE)).await.id;
        let target = common::api::auth_echo_target().await;
        let action = json!({
            "kind": "send_api_request", "name": "Charge", "method": "POST",
            "url": format!("{target}/v1/charges"),
            "headers": [{"name": "Authorization", "value": format!("Bearer {{{{secret \"{id}\"}}}}")}]
        });
        let base = serve(&h).await;
        Api {
            h,
            base,
            client: reqwest::Client::new(),
            action,
        }
    }

    async fn user_token(&self, name: &str) -> String {
        common::api::user_token(&self.h, name).await
    }

    async fn service_token(&self) -> String {
        common::api::service_token(&self.h).await
    }

    /// POSTs `body` (raw bytes) to /v1/runs?wait=true; returns status and JSON, checking
    /// that no response ever holds the secret.
    async fn post_raw(&self, token: Option<&str>, body: Vec<u8>) -> (StatusCode, Value) {
        let mut req = self
            .client
            .post(format!("{}/v1/runs?wait=true", self.base))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        answer(req.send().await.unwrap()).await
    }

    async fn dispatch(&self, token: &str, body: Value) -> (StatusCode, Value) {
        self.post_raw(Some(token), body.to_string().into_bytes())
            .await
    }

    async fn get_run(&self, token: &str, id: &str) -> (StatusCode, Value) {
        let res = self
            .client
            .get(format!("{}/v1/runs/{id}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        answer(res).await
    }
}

async fn answer(res: reqwest::Response) -> (StatusCode, Value) {
    common::api::answer(res, &[VALUE]).await
}

#[tokio::test]
async fn a_request_without_a_token_or_with_a_bad_one_is_401() {
    let api = Api::start().await;
    let body = json!({"action": api.action, "actor": "mia"}).to_string();
    let got = api.post_raw(None, body.clone().into_bytes()).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "unauthorized");

    let real = api.service_token().await;
    let unknown = format!("hush_{}_{}", api.h.org, "a".repeat(52));
    let other_org = real.replacen(api.h.org.as_str(), "someone-else", 1);
    for bad in ["nonsense", &unknown, &other_org, &real[..real.len() - 1]] {
        let got = api.post_raw(Some(bad), body.clone().into_bytes()).await;
        assert_error(&got, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let got = api.get_run("nonsense", "run_x").await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn a_service_token_acts_for_a_member_and_the_record_is_redacted_everywhere() {
    let api = Api::start().await;
    let token = api.service_token().await;
    let body =
        json!({"action": api.action, "inputs": {}, "actor": "max", "workflow_run_id": "wf-7"});
    let (status, record) = api.dispatch(&token, body).await;
    assert_eq!(status, StatusCode::OK, "{record}");
    assert_eq!(record["status"], "succeeded", "{record}");
    assert_eq!(record["actor"], "max");
    assert_eq!(record["workflow_run_id"], "wf-7");
    assert_eq!(
        record["result"]["body"]["auth"],
        "Bearer [REDACTED:Stripe live]"
    );
    assert_eq!(record["secrets_used"][0]["name"], "Stripe live");

    // Run history: the same record, by id, and the stored bytes (the run's hash and its
    // event stream) hold no value either.
    let id = record["id"].as_str().unwrap();
    let (status, stored) = api.get_run(&token, id).await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert_eq!(stored, record);
    let client = redis::Client::open(api.h.redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let key = format!("hush:{{{}}}:run:{id}", api.h.org);
    let hash: Vec<Vec<u8>> = redis::cmd("HGETALL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!hash.is_empty(), "the run is stored under {key}");
    let events: redis::Value = redis::cmd("XRANGE")
        .arg(format!("{key}:events"))
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_no_value_in("the stored run", &hash.concat(), &[VALUE]);
    assert_no_value_in(
        "the run's events",
        format!("{events:?}").as_bytes(),
        &[VALUE],
    );
}

#[tokio::test]
async fn a_service_token_may_not_act_for_a_non_member_or_for_no_one() {
    let api = Api::start().await;
    let token = api.service_token().await;
    let got = api
        .dispatch(&token, json!({"action": api.action, "actor": "zed"}))
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "denied");
    let got = api.dispatch(&token, json!({"action": api.action})).await;
    assert_error(&got, StatusCode::BAD_REQUEST, "invalid");
    let got = api
        .dispatch(
            &token,
            json!({"action": api.action, "actor": "not a user{}"}),
        )
        .await;
    assert_error(&got, StatusCode::BAD_REQUEST, "invalid");
}

#[tokio::test]
async fn a_user_token_acts_only_as_its_user() {
    let api = Api::start().await;
    let token = api.user_token("mia").await;
    let got = api
        .dispatch(&token, json!({"action": api.action, "actor": "max"}))
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "denied");

    for body in [
        json!({"action": api.action}),
        json!({"action": api.action, "actor": "mia"}),
    ] {
        let (status, record) = api.dispatch(&token, body).await;
        assert_eq!(status, StatusCode::OK, "{record}");
        assert_eq!(record["actor"], "mia");
        assert_eq!(record["status"], "succeeded", "{record}");
    }
}

#[tokio::test]
async fn a_token_removed_from_its_org_or_revoked_stops_working() {
    let api = Api::start().await;
    let max = api.user_token("max").await;
    api.h
        .directory
        .remove_user(&api.h.org, &user("max"))
        .await
        .unwrap();
    // Removing the user revoked the token with the user.
    let got = api.dispatch(&max, json!({"action": api.action})).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "unauthorized");

    let tokens = Tokens::new(Arc::clone(&api.h.backend));
    let service = api.service_token().await;
    let id = tokens
        .list(&api.h.org)
        .await
        .unwrap()
        .last()
        .unwrap()
        .id
        .clone();
    tokens.revoke(&api.h.org, &id).await.unwrap();
    let got = api
        .dispatch(&service, json!({"action": api.action, "actor": "mia"}))
        .await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn a_run_of_another_org_or_of_another_member_is_404() {
    let api = Api::start().await;
    let other = Api::start().await;
    let service = api.service_token().await;
    let (_, record) = api
        .dispatch(&service, json!({"action": api.action, "actor": "max"}))
        .await;
    let id = record["id"].as_str().unwrap();

    let outsider = other.service_token().await;
    let got = other.get_run(&outsider, id).await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found");
    // The other org's server and this one share the store: the token decides the org.
    let got = api.get_run(&outsider, id).await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found");

    let mia = api.user_token("mia").await;
    assert_error(
        &api.get_run(&mia, id).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let max = api.user_token("max").await;
    assert_eq!(api.get_run(&max, id).await.0, StatusCode::OK);
    let ada = api.user_token("ada").await;
    assert_eq!(api.get_run(&ada, id).await.0, StatusCode::OK);
    assert_error(
        &api.get_run(&ada, "run_never_dispatched").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[tokio::test]
async fn bad_requests_answer_the_json_error_shape_with_the_right_status() {
    let api = Api::start().await;
    let token = api.service_token().await;
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> =
        vec![
        ("malformed JSON", b"{\"action\": ".to_vec(), StatusCode::BAD_REQUEST, "invalid"),
        ("not JSON", b"action=1".to_vec(), StatusCode::BAD_REQUEST, "invalid"),
        (
            "inputs of the wrong type",
            json!({"action": api.action, "actor": "mia", "inputs": VALUE}).to_string().into_bytes(),
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
        (
            "action of the wrong type",
            json!({"action": 7, "actor": "mia"}).to_string().into_bytes(),
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
        (
            "an unknown field",
            json!({"action": api.action, "actor": "mia", "acter": "x"}).to_string().into_bytes(),
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
        (
            "an unknown action kind",
            json!({"action": {"kind": "teleport"}, "actor": "mia"}).to_string().into_bytes(),
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
        (
            "an oversized body",
            json!({"action": api.action, "actor": "mia", "inputs": {"pad": "x".repeat(MAX_BODY)}})
                .to_string()
                .into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
        ),
    ];
    for (what, body, status, code) in cases {
        let got = api.post_raw(Some(&token), body).await;
        assert_eq!(got.0, status, "{what}: {}", got.1);
        assert_error(&got, status, code);
    }

    // Listing runs: a bad cursor, status or limit, and an unknown parameter.
    for query in [
        "cursor=%21%21%21",
        "cursor=sec_notarun",
        "status=done",
        "limit=0",
        "limit=100000",
        "limit=ten",
        "colour=red",
    ] {
        let res = api
            .client
            .get(format!("{}/v1/runs?{query}", api.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let got = answer(res).await;
        assert_error(&got, StatusCode::BAD_REQUEST, "invalid");
    }

    let res = api
        .client
        .post(format!("{}/v1/runs?wait=maybe", api.base))
        .bearer_auth(&token)
        .json(&json!({"action": api.action, "actor": "mia"}))
        .send()
        .await
        .unwrap();
    assert_error(&answer(res).await, StatusCode::BAD_REQUEST, "invalid");

    let res = api
        .client
        .get(format!("{}/v1/nowhere", api.base))
        .send()
        .await
        .unwrap();
    assert_error(&answer(res).await, StatusCode::NOT_FOUND, "not_found");
    let res = api
        .client
        .delete(format!("{}/v1/runs", api.base))
        .send()
        .await
        .unwrap();
    assert_error(
        &answer(res).await,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
    let res = api
        .client
        .post(format!("{}/v1/runs?wait=true", api.base))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_error(
        &answer(res).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
}

#[tokio::test]
async fn healthz_answers_always_and_readyz_follows_the_store() {
    let mut h = Harness::isolated(Kind::Redis).await;
    let base = serve(&h).await;
    let client = reqwest::Client::new();
    let get = |path: &'static str| {
        let client = client.clone();
        let url = format!("{base}{path}");
        async move { answer(client.get(url).send().await.unwrap()).await }
    };
    assert_eq!(get("/healthz").await.0, StatusCode::OK);
    assert_eq!(get("/readyz").await.0, StatusCode::OK);

    h.server.as_mut().unwrap().stop();
    assert_eq!(get("/healthz").await.0, StatusCode::OK);
    assert_error(
        &get("/readyz").await,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    );

    h.server.as_mut().unwrap().restart();
    let mut ready = false;
    for _ in 0..50 {
        if get("/readyz").await.0 == StatusCode::OK {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ready, "readyz did not recover after Redis came back");
}

#[test]
fn token_create_shows_the_token_once_and_list_never_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data").display().to_string();
    let env = [("HUSH_DATA_DIR", data.as_str())];
    let hush = |args: &[&str]| {
        let out = common::run_hush(&env, args, b"", &[]);
        assert!(
            out.status.success(),
            "hush {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    hush(&["org", "create", "acme"]);
    hush(&["user", "add", "--org", "acme", "mia"]);
    let created: Value = serde_json::from_str(&hush(&[
        "token", "create", "--org", "acme", "--user", "mia", "--json",
    ]))
    .unwrap();
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("hush_acme_"), "{token}");
    assert_eq!(created["kind"], "user");
    assert_eq!(created["user"], "mia");
    let id = created["id"].as_str().unwrap().to_owned();

    let text = hush(&[
        "token",
        "create",
        "--org",
        "acme",
        "--service",
        "orchestrator",
    ]);
    let service = text.lines().last().unwrap().to_owned();
    assert!(service.starts_with("hush_acme_"), "{text}");

    // Never again: not in list (text or JSON), not in revoke, not in the store's file.
    let secret_part = |t: &str| t.rsplit('_').next().unwrap().to_owned();
    for args in [
        &["token", "list", "--org", "acme"][..],
        &["token", "list", "--org", "acme", "--json"],
    ] {
        let out = hush(args);
        assert!(out.contains(&id), "{out}");
        assert!(out.contains("orchestrator"), "{out}");
        for t in [&token, &service] {
            assert_no_value_in("token list", out.as_bytes(), &[t, &secret_part(t)]);
        }
    }
    let file = std::fs::read(dir.path().join("data/hush.redb")).unwrap();
    for t in [&token, &service] {
        assert_no_value_in("the store file", &file, &[t, &secret_part(t)]);
    }

    let out = hush(&["token", "revoke", "--org", "acme", &id]);
    assert!(out.contains(&id), "{out}");
    assert_no_value_in("token revoke", out.as_bytes(), &[&token]);
    let listed: Value =
        serde_json::from_str(&hush(&["token", "list", "--org", "acme", "--json"])).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");

    let refused = common::run_hush(
        &env,
        &["token", "create", "--org", "acme", "--user", "zed"],
        b"",
        &[],
    );
    assert_eq!(refused.status.code(), Some(3));
    let refused = common::run_hush(&env, &["token", "revoke", "--org", "acme", &id], b"", &[]);
    assert_eq!(refused.status.code(), Some(3));
}
