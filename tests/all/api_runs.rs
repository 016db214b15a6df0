//! Runs through `hush serve` over real HTTP, each test on its own redis-server with a
//! worker in this process: queued dispatch (202) and idempotency keys, dispatch of a saved
//! action by id, the paginated run list by workflow run and status, live events over
//! server-sent events with redacted log lines, and the Prometheus metrics.

use crate::common;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::api::{Client, service_token, user_token};
use common::{Harness, Kind, assert_no_value_in, team};
use hush::actions::code::CodeRuntime;
use hush::actions::http::{HttpSender, NetworkPolicy};
use hush::api::{ApiState, app};
use hush::executor::Executor;
use hush::guests;
use hush::runs::DEFAULT_RETENTION;
use hush::runs::redis::RedisRuns;
use hush::runs::worker::{self, WorkerConfig};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const VALUE: &str = "sk_live_runs_api_0123456789abcdef";

/// An org on a private redis-server, the API (Send API Request and Run Code) on a fresh
/// port, a team secret, a target that counts its requests, and a worker to start.
struct Api {
    h: Harness,
    client: Client,
    runs: RedisRuns,
    executor: Executor,
    code: Arc<CodeRuntime>,
    secret: String,
    target: String,
    hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    _cache: tempfile::TempDir,
}

impl Api {
    async fn start() -> Api {
        let h = Harness::isolated(Kind::Redis).await;
        let secret = h.create("mia", team("Runs key", VALUE)).await.id;
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&hits);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = format!("http://{}", listener.local_addr().unwrap());
        let target_app = axum::Router::new()
            .route(
                "/slow",
                axum::routing::post(|| async {
                    tokio::time::sleep(Duration::from_millis(1500)).await;
                    axum::Json(json!({"slow": true}))
                }),
            )
            .fallback(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async { axum::Json(json!({"ok": true})) }
            });
        tokio::spawn(async move { axum::serve(listener, target_app).await.unwrap() });

        let cache = tempfile::tempdir().unwrap();
        let policy = NetworkPolicy::allowing(["127.0.0.1/32".parse().unwrap()]);
        let http = HttpSender::new(policy).unwrap();
        let code = Arc::new(
            CodeRuntime::new(
                Arc::clone(&h.backend),
                http.clone(),
                Some(cache.path().to_path_buf()),
            )
            .unwrap(),
        );
        let executor = Executor::new(Arc::clone(&h.secrets), http).with_code(Arc::clone(&code));
        let runs = RedisRuns::connect(&h.redis_url(), DEFAULT_RETENTION)
            .await
            .unwrap();
        let state = ApiState::new(
            Arc::clone(&h.backend),
            Arc::new(runs.clone()),
            executor.clone(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app(state)).await.unwrap() });
        Api {
            client: Client::new(base, &[VALUE]),
            h,
            runs,
            executor,
            code,
            secret: secret.to_string(),
            target,
            hits,
            stop: Arc::new(AtomicBool::new(false)),
            _cache: cache,
        }
    }

    /// Adds the hostile test guest to the org; returns its component id.
    async fn hostile_component(&self) -> String {
        self.code
            .add_component(
                &self.h.org,
                &common::user("mia"),
                std::fs::read(guests::HOSTILE).unwrap(),
            )
            .await
            .unwrap()
    }

    /// Starts a worker in this process.
    fn worker(&self) -> tokio::task::JoinHandle<hush::Result<()>> {
        tokio::spawn(worker::work(
            self.runs.clone(),
            self.executor.clone(),
            WorkerConfig {
                concurrency: 8,
                ..WorkerConfig::named("test-worker")
            },
            Arc::clone(&self.stop),
        ))
    }

    /// A Send API Request to the counting target (or to `url`), sending the secret.
    fn action(&self, url: Option<&str>) -> Value {
        json!({
            "kind": "send_api_request", "name": "Ping", "method": "POST",
            "url": url.map_or_else(|| format!("{}/ping", self.target), str::to_owned),
            "headers": [{"name": "Authorization", "value": format!("Bearer {{{{secret \"{}\"}}}}", self.secret)}]
        })
    }

    async fn post_run(&self, token: &str, query: &str, body: Value) -> (StatusCode, Value) {
        self.client
            .json(Method::POST, &format!("/v1/runs{query}"), token, &body)
            .await
    }

    async fn wait_ended(&self, token: &str, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, run) = self.client.get(&format!("/v1/runs/{id}"), token).await;
            assert_eq!(status, StatusCode::OK, "{run}");
            if run["status"] == "succeeded" || run["status"] == "failed" {
                return run;
            }
            assert!(Instant::now() < deadline, "run {id} did not end: {run}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_run_answers_202_a_worker_ends_it_and_its_idempotency_key_returns_it() {
    let api = Api::start().await;
    let token = service_token(&api.h).await;
    let body = json!({"action": api.action(None), "actor": "mia", "idempotency_key": "order-17"});
    let (status, queued) = api.post_run(&token, "", body.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(queued["status"], "queued");
    let id = queued["id"].as_str().unwrap().to_owned();
    assert_eq!(
        api.hits.load(Ordering::SeqCst),
        0,
        "nothing runs before a worker"
    );

    let worker = api.worker();
    let ended = api.wait_ended(&token, &id).await;
    assert_eq!(ended["status"], "succeeded", "{ended}");
    assert_eq!(ended["attempts"], 1);
    assert_eq!(ended["result"]["status"], 200);

    // The same key again: the same run, run once.
    let (status, again) = api.post_run(&token, "", body).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["id"], id.as_str());
    assert_eq!(again["status"], "succeeded");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(api.hits.load(Ordering::SeqCst), 1);

    api.stop.store(true, Ordering::Relaxed);
    worker.await.unwrap().unwrap();
}

/// Asserts `got` is the 409 of a replay refused, and that it says nothing of the run
/// `other` (not its id, status, result, logs, actor or request).
fn assert_replay_refused(got: &(StatusCode, Value), other: &Value) {
    assert_eq!(got.0, StatusCode::CONFLICT, "{}", got.1);
    assert_eq!(got.1["error"]["code"], "conflict", "{}", got.1);
    assert_eq!(
        got.1.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["error"],
        "{}",
        got.1
    );
    let text = got.1.to_string();
    let id = other["id"].as_str().unwrap();
    for hidden in [
        id,
        &id[4..],
        "succeeded",
        "queued",
        "\"ok\"",
        "Ping",
        "Runs key",
    ] {
        assert!(
            !text.contains(hidden),
            "the refusal tells {hidden:?}: {text}"
        );
    }
    assert!(
        !text.contains(&format!("\"{}\"", other["actor"].as_str().unwrap())),
        "the refusal names the other actor: {text}"
    );
}

#[tokio::test]
async fn another_members_idempotency_key_is_a_409_that_reveals_nothing_of_their_run() {
    let api = Api::start().await;
    let mia = user_token(&api.h, "mia").await;
    let max = user_token(&api.h, "max").await;
    let body = json!({"action": api.action(None), "idempotency_key": "mia-secret-step"});
    let (status, mine) = api.post_run(&mia, "?wait=true", body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    assert_eq!(mine["status"], "succeeded", "{mine}");
    let id = mine["id"].as_str().unwrap();
    let (status, _) = api.client.get(&format!("/v1/runs/{id}"), &max).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "max cannot read it");

    // max replays mia's key, queued and waited for, inline and by a saved action: 409.
    for query in ["", "?wait=true"] {
        let got = api.post_run(&max, query, body.clone()).await;
        assert_replay_refused(&got, &mine);
    }
    let got = api
        .post_run(
            &max,
            "?wait=true",
            json!({"action": {"kind": "send_api_request", "method": "GET",
                   "url": format!("{}/other", api.target)},
                   "idempotency_key": "mia-secret-step"}),
        )
        .await;
    assert_replay_refused(&got, &mine);
    assert_eq!(api.hits.load(Ordering::SeqCst), 1, "no refused replay ran");

    // An admin's own token acts as the admin: mia's key is not the admin's retry either.
    let ada = user_token(&api.h, "ada").await;
    let got = api.post_run(&ada, "?wait=true", body.clone()).await;
    assert_replay_refused(&got, &mine);

    // mia's own retry still answers with her run, and runs nothing.
    let (status, again) = api.post_run(&mia, "?wait=true", body).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["id"], mine["id"]);
    assert_eq!(api.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_service_token_replays_a_key_only_for_the_actor_it_was_first_dispatched_for() {
    let api = Api::start().await;
    let service = service_token(&api.h).await;
    let body = |actor: &str| json!({"action": api.action(None), "actor": actor, "idempotency_key": "wf-9-step-1"});
    let (status, mias) = api.post_run(&service, "?wait=true", body("mia")).await;
    assert_eq!(status, StatusCode::OK, "{mias}");
    assert_eq!(mias["actor"], "mia");

    let got = api.post_run(&service, "?wait=true", body("max")).await;
    assert_replay_refused(&got, &mias);
    let got = api.post_run(&service, "", body("ada")).await;
    assert_replay_refused(&got, &mias);
    // Nor through max's own token.
    let max = user_token(&api.h, "max").await;
    let got = api
        .post_run(
            &max,
            "",
            json!({"action": api.action(None), "idempotency_key": "wf-9-step-1"}),
        )
        .await;
    assert_replay_refused(&got, &mias);
    assert_eq!(api.hits.load(Ordering::SeqCst), 1, "no refused replay ran");

    // For mia, by the service token or by mia's own: the same run.
    let (status, again) = api.post_run(&service, "", body("mia")).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["id"], mias["id"]);
    let mia = user_token(&api.h, "mia").await;
    let (status, again) = api
        .post_run(
            &mia,
            "",
            json!({"action": api.action(None), "idempotency_key": "wf-9-step-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["id"], mias["id"]);
    assert_eq!(api.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_queued_for_a_removed_user_never_runs_as_a_new_user_of_the_same_id() {
    let api = Api::start().await;
    let bob = common::user("bob");
    let directory = &api.h.directory;
    directory
        .add_user(&api.h.org, &bob, hush::directory::Role::Member)
        .await
        .unwrap();
    let service = service_token(&api.h).await;
    let (status, queued) = api
        .post_run(
            &service,
            "",
            json!({"action": api.action(None), "actor": "bob"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    directory.remove_user(&api.h.org, &bob).await.unwrap();
    directory
        .add_user(&api.h.org, &bob, hush::directory::Role::Member)
        .await
        .unwrap();

    let worker = api.worker();
    let ended = api
        .wait_ended(&service, queued["id"].as_str().unwrap())
        .await;
    assert_eq!(ended["status"], "failed", "{ended}");
    assert_eq!(ended["error"]["code"], "denied", "{ended}");
    assert!(
        ended["error"]["message"]
            .as_str()
            .unwrap()
            .contains("removed after this run was dispatched"),
        "{ended}"
    );
    assert_eq!(
        api.hits.load(Ordering::SeqCst),
        0,
        "the run was sent as the new bob"
    );
    api.stop.store(true, Ordering::Relaxed);
    worker.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_saved_action_is_dispatched_by_its_id() {
    let api = Api::start().await;
    let mia = user_token(&api.h, "mia").await;
    let (status, saved) = api
        .client
        .json(
            Method::PUT,
            "/v1/actions/act_ping",
            &mia,
            &json!({"spec": api.action(None)}),
        )
        .await;
    assert!(status.is_success(), "{saved}");

    let (status, run) = api
        .post_run(&mia, "?wait=true", json!({"action_id": "act_ping"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["action_id"], "act_ping");
    assert_eq!(run["secrets_used"][0]["name"], "Runs key");
    assert_eq!(api.hits.load(Ordering::SeqCst), 1);

    let (status, got) = api
        .post_run(&mia, "?wait=true", json!({"action_id": "act_nope"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{got}");
    for body in [
        json!({"action_id": "act_ping", "action": api.action(None)}),
        json!({}),
        json!({"action_id": "not an id"}),
    ] {
        let (status, got) = api.post_run(&mia, "?wait=true", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{got}");
        assert_eq!(got["error"]["code"], "invalid");
    }
    assert_eq!(
        api.hits.load(Ordering::SeqCst),
        1,
        "no refused dispatch ran"
    );
}

#[tokio::test]
async fn runs_are_listed_newest_first_by_workflow_run_and_status_a_page_at_a_time() {
    let api = Api::start().await;
    let service = service_token(&api.h).await;
    let mut wf_a = Vec::new();
    for (i, actor) in ["mia", "max", "mia", "mia"].iter().enumerate() {
        let (status, run) = api
            .post_run(
                &service,
                "?wait=true",
                json!({"action": api.action(None), "actor": actor, "workflow_run_id": "wf-a", "inputs": {"i": i}}),
            )
            .await;
        assert_eq!(run["status"], "succeeded", "{status} {run}");
        wf_a.push(run["id"].as_str().unwrap().to_owned());
    }
    // One that fails: nothing listens on port 9 of loopback.
    let (_, failed) = api
        .post_run(
            &service,
            "?wait=true",
            json!({"action": api.action(Some("http://127.0.0.1:9/x")), "actor": "mia", "workflow_run_id": "wf-a"}),
        )
        .await;
    assert_eq!(failed["status"], "failed", "{failed}");
    wf_a.push(failed["id"].as_str().unwrap().to_owned());
    for _ in 0..2 {
        let (_, run) = api
            .post_run(
                &service,
                "?wait=true",
                json!({"action": api.action(None), "actor": "mia", "workflow_run_id": "wf-b"}),
            )
            .await;
        assert_eq!(run["status"], "succeeded");
    }

    // Pages of two through wf-a: newest first, each run once, then no cursor.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = api
            .client
            .get(
                &format!("/v1/runs?workflow_run_id=wf-a&limit=2{cursor}"),
                &service,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let runs = page["items"].as_array().unwrap();
        assert!(runs.len() <= 2);
        seen.extend(runs.iter().map(|r| r["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    let mut newest_first = wf_a.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);

    let (_, page) = api
        .client
        .get("/v1/runs?workflow_run_id=wf-a&status=failed", &service)
        .await;
    let runs = page["items"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["id"], failed["id"]);

    let (_, page) = api.client.get("/v1/runs?limit=200", &service).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 7);

    // A member sees only the runs they acted in; an admin sees all.
    let max = user_token(&api.h, "max").await;
    let (_, page) = api.client.get("/v1/runs", &max).await;
    let runs = page["items"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["actor"], "max");
    let ada = user_token(&api.h, "ada").await;
    let (_, page) = api.client.get("/v1/runs", &ada).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_events_stream_status_changes_and_redacted_log_lines() {
    let api = Api::start().await;
    let s = api
        .h
        .create(
            "mia",
            team("Printed key", "pk_live_printed_0123456789abcdef"),
        )
        .await;
    let component = api.hostile_component().await;
    let action = json!({
        "kind": "run_code", "name": "print", "component": component,
        "secrets": {"key": {"id": s.id.as_str(), "reveal": true}}
    });
    let mia = user_token(&api.h, "mia").await;
    // mia manages the key and lets this component reveal it.
    let (status, meta) = api
        .client
        .json(
            Method::PATCH,
            &format!("/v1/secrets/{}", s.id),
            &mia,
            &json!({"reveal_components": [component]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{meta}");
    let (status, queued) = api
        .post_run(
            &mia,
            "",
            json!({"action": action, "inputs": {"attack": "print_secret"}}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    let id = queued["id"].as_str().unwrap().to_owned();

    // Subscribe before the run starts, then start a worker.
    let events = reqwest::Client::new()
        .get(format!("{}/v1/runs/{id}/events", api.client.base))
        .bearer_auth(&mia)
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), StatusCode::OK);
    assert_eq!(
        events.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let worker = api.worker();
    let body = tokio::time::timeout(Duration::from_secs(30), events.bytes())
        .await
        .expect("the stream ends after the final status")
        .unwrap();
    assert_no_value_in(
        "the event stream",
        &body,
        &[VALUE, "pk_live_printed_0123456789abcdef"],
    );
    let text = String::from_utf8(body.to_vec()).unwrap();
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} is not in the stream:\n{text}"))
    };
    let queued_at = at(r#"{"type":"status","status":"queued"}"#);
    let running_at = at(r#"{"type":"status","status":"running"}"#);
    let logged_at = at(r#""line":"info: raw [REDACTED:Printed key]""#);
    let ended_at = at(r#"{"type":"status","status":"succeeded"}"#);
    assert!(queued_at < running_at && running_at < logged_at && logged_at < ended_at);
    assert!(text.contains("event: log"));

    // Another member's user token cannot watch it.
    let max = user_token(&api.h, "max").await;
    let (status, _) = api.client.get(&format!("/v1/runs/{id}/events"), &max).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    api.stop.store(true, Ordering::Relaxed);
    worker.await.unwrap().unwrap();
}

#[tokio::test]
async fn metrics_count_runs_by_kind_and_status_breaches_and_redactions() {
    let api = Api::start().await;
    let mia = user_token(&api.h, "mia").await;
    let component = api.hostile_component().await;
    let (_, run) = api
        .post_run(
            &mia,
            "?wait=true",
            json!({"action": {"kind": "run_code", "name": "flood", "component": component,
                   "allowed_hosts": ["127.0.0.1"], "limits": {"max_http_calls": 2}},
                   "inputs": {"attack": "http_flood", "url": format!("{}/flood", api.target)}}),
        )
        .await;
    assert_eq!(run["error"]["code"], "limit_exceeded", "{run}");
    let (_, run) = api
        .post_run(&mia, "?wait=true", json!({"action": api.action(None)}))
        .await;
    assert_eq!(run["status"], "succeeded");

    let (status, text) = api.client.probe(Method::GET, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let value = |line_start: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(line_start))
            .unwrap_or_else(|| panic!("no {line_start} in:\n{text}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(value(r#"hush_runs_total{kind="send_api_request",status="succeeded"}"#) >= 1.0);
    assert!(value(r#"hush_runs_total{kind="run_code",status="failed"}"#) >= 1.0);
    assert!(value(r#"hush_sandbox_limit_breaches_total{limit="limits.max_http_calls"}"#) >= 1.0);
    assert!(value(r#"hush_run_duration_seconds_count{kind="run_code"}"#) >= 1.0);
    assert!(text.contains("hush_redactions_total"));
    assert!(text.contains("hush_redis_errors_total"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_of_a_slow_run_stays_open_until_it_ends() {
    let api = Api::start().await;
    let mia = user_token(&api.h, "mia").await;
    let worker = api.worker();
    let slow = api.action(Some(&format!("{}/slow", api.target)));
    let (status, queued) = api.post_run(&mia, "", json!({"action": slow})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    let id = queued["id"].as_str().unwrap();
    let started = Instant::now();
    let text = reqwest::Client::new()
        .get(format!("{}/v1/runs/{id}/events", api.client.base))
        .bearer_auth(&mia)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"{"type":"status","status":"succeeded"}"#),
        "the stream closed after {:?} without the final status:\n{text}",
        started.elapsed()
    );
    api.stop.store(true, Ordering::Relaxed);
    worker.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_run_whose_target_cannot_be_reached_fails_once_and_is_not_run_again() {
    let api = Api::start().await;
    let mia = user_token(&api.h, "mia").await;
    let worker = api.worker();
    // Nothing listens on port 9 of loopback: the target's "unavailable" is the run's own
    // failure, not the store's, so the run is not delivered again.
    let (status, queued) = api
        .post_run(
            &mia,
            "",
            json!({"action": api.action(Some("http://127.0.0.1:9/x"))}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    let ended = api.wait_ended(&mia, queued["id"].as_str().unwrap()).await;
    assert_eq!(ended["status"], "failed", "{ended}");
    assert_eq!(ended["error"]["code"], "unavailable", "{ended}");
    assert_eq!(ended["attempts"], 1, "{ended}");
    api.stop.store(true, Ordering::Relaxed);
    worker.await.unwrap().unwrap();
}
