//! Benchmarks of Send API Request end to end (one secret resolved from Redis on every run,
//! a local axum target) against a bare reqwest request plus a raw Redis GET of the
//! secret's ciphertext, done one after the other: p50 latency, and time per run at 64
//! concurrent runs.

mod support;

use std::sync::Arc;
use std::time::Duration;

use hush::actions::http::{HttpAction, HttpSender, NetworkPolicy};
use hush::executor::{Executor, RunRequest, RunStatus};
use hush::model::RunId;
use redis::AsyncCommands;
use support::{count, interleaved, median, per_op_at, ratio, show};

const VALUE: &str = "sk_live_bench_http_0123456789abcdef";
/// An audit entry of a resolve, as long as hush's (for the diagnostic below).
const AUDIT_SIZED: &str = r#"{"at":"2026-01-01T00:00:00.000000000Z","actor":"mia","action":"secret_resolve","outcome":"allowed","secrets":[{"id":"sec_aaaaaaaaaaaaaaaaaaaaaaaaaa","name":"Stripe"}],"run_id":"bench-run"}"#;

async fn start_target() -> std::net::SocketAddr {
    async fn charge(headers: axum::http::HeaderMap) -> axum::Json<serde_json::Value> {
        let ok = headers.contains_key("authorization");
        axum::Json(serde_json::json!({"id": "ch_1", "ok": ok}))
    }
    let app = axum::Router::new().route("/v1/charges", axum::routing::post(charge));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let support::Fixture {
        server,
        backend: _,
        secrets,
        key_dir: _key_dir,
        org,
        mia,
        secret,
    } = support::Fixture::start("Stripe", VALUE).await;
    let addr = start_target().await;
    let url = format!("http://{addr}/v1/charges");
    let action = HttpAction::from_json(
        &serde_json::json!({
            "kind": "send_api_request", "name": "Create charge", "method": "POST",
            "url": url,
            "headers": [{"name": "Authorization", "value": format!("Bearer {{{{secret \"{}\"}}}}", secret.id)}],
            "body": {"type": "json", "value": {"amount": "{{inputs.amount}}"}},
        })
        .to_string(),
    )
    .unwrap();
    let policy = NetworkPolicy::allowing(["127.0.0.1/32".parse().unwrap()]);
    let executor = Arc::new(Executor::new(
        Arc::clone(&secrets),
        HttpSender::new(policy).unwrap(),
    ));
    let inputs = serde_json::json!({"amount": "1999"});
    let request = {
        let (org, mia, action, inputs) = (org.clone(), mia.clone(), action.clone(), inputs.clone());
        move || RunRequest {
            run_id: RunId::parse("bench-run").unwrap(),
            org: org.clone(),
            actor: mia.clone(),
            action: action.clone().into(),
            inputs: inputs.clone(),
        }
    };

    // The baseline: the same request with a bare pooled reqwest client, after a raw GET
    // of the secret's ciphertext bytes.
    let client = reqwest::Client::new();
    let raw = redis::aio::ConnectionManager::new(redis::Client::open(server.url()).unwrap())
        .await
        .unwrap();
    let ciphertext: Vec<u8> = raw
        .clone()
        .hget(format!("hush:{{{org}}}:ct"), secret.id.as_str())
        .await
        .unwrap();
    let _: () = raw.clone().set("bench:raw", &ciphertext).await.unwrap();
    let bare = {
        let (client, raw, url) = (client.clone(), raw.clone(), url.clone());
        move || {
            let (client, mut raw, url) = (client.clone(), raw.clone(), url.clone());
            async move {
                let _: Vec<u8> = raw.get("bench:raw").await.unwrap();
                let response = client
                    .post(&url)
                    .header("authorization", format!("Bearer {VALUE}"))
                    .json(&serde_json::json!({"amount": "1999"}))
                    .send()
                    .await
                    .unwrap();
                let body: serde_json::Value = response.json().await.unwrap();
                assert_eq!(body["ok"], true);
            }
        }
    };
    // Not a baseline, a diagnostic: the bare request plus the Redis work a run of hush
    // cannot skip (the read of the actor, metadata and ciphertext in one MULTI/EXEC, and
    // the audit entry's XADD), to show how much of the gap that work is.
    let bare_with_store_work = {
        let (client, raw, url) = (client.clone(), raw.clone(), url.clone());
        let audit = format!("hush:{{{org}}}:audit");
        move || {
            let (client, mut raw, url, audit) =
                (client.clone(), raw.clone(), url.clone(), audit.clone());
            async move {
                let response = client
                    .post(&url)
                    .header("authorization", format!("Bearer {VALUE}"))
                    .json(&serde_json::json!({"amount": "1999"}))
                    .send()
                    .await
                    .unwrap();
                let body: serde_json::Value = response.json().await.unwrap();
                assert_eq!(body["ok"], true);
                let _: String = redis::cmd("XADD")
                    .arg(&audit)
                    .arg("MAXLEN")
                    .arg("~")
                    .arg(100_000)
                    .arg("*")
                    .arg("e")
                    .arg(AUDIT_SIZED)
                    .query_async(&mut raw)
                    .await
                    .unwrap();
            }
        }
    };
    let ours = {
        let (executor, request) = (Arc::clone(&executor), request.clone());
        move || {
            let (executor, request) = (Arc::clone(&executor), request.clone());
            async move {
                let record = executor.run(request()).await;
                assert_eq!(record.status, RunStatus::Succeeded, "{:?}", record.error);
            }
        }
    };

    // `HUSH_BENCH_PROFILE=run`: only sequential runs, for callgrind; `=concurrent`: only
    // runs 64 at once, for `perf record`.
    match std::env::var("HUSH_BENCH_PROFILE").as_deref() {
        Ok("run") => {
            for _ in 0..3000 {
                ours().await;
            }
            secrets.flush().await;
            return;
        }
        Ok("concurrent") => {
            per_op_at(200_000, 64, ours.clone()).await;
            secrets.flush().await;
            return;
        }
        _ => {}
    }
    let (mut a, mut b) = interleaved(count(5, 20), count(100, 200), &ours, &bare).await;
    println!(
        "send-api-request: p50 {} (bare reqwest + raw GET p50 {})",
        show(median(&mut a)),
        show(median(&mut b))
    );
    ratio("send-api-request-p50", median(&mut a), median(&mut b));

    let total = count(2_000, 10_000);
    // Warm both, then alternate the two measurements so that both see the same load.
    let mut ours_times = Vec::new();
    let mut bare_times = Vec::new();
    // CPU per run of each side (this process: runs and HTTP target; and redis-server),
    // from the last alternation.
    let url_redis = server.url();
    let mut cpu = [(Duration::ZERO, Duration::ZERO); 2];
    for _ in 0..count(2, 3) {
        let (took, used) = cpu_while(&url_redis, per_op_at(total, 64, bare.clone())).await;
        bare_times.push(took);
        cpu[0] = used;
        let (took, used) = cpu_while(&url_redis, per_op_at(total, 64, ours.clone())).await;
        ours_times.push(took);
        cpu[1] = used;
    }
    let per = |d: Duration| show(d / u32::try_from(total).unwrap());
    println!(
        "CPU per run at 64 concurrent: ours: this process {}, redis-server {}; bare: this process {}, redis-server {}",
        per(cpu[1].0),
        per(cpu[1].1),
        per(cpu[0].0),
        per(cpu[0].1)
    );
    let (ours_time, bare_time) = (median(&mut ours_times), median(&mut bare_times));
    println!(
        "send-api-request at 64 concurrent: {:.0} runs/s ({} per run); bare: {:.0}/s ({})",
        1.0 / ours_time.as_secs_f64(),
        show(ours_time),
        1.0 / bare_time.as_secs_f64(),
        show(bare_time)
    );
    ratio("send-api-request-64-concurrent", ours_time, bare_time);
    let mut diag_times = Vec::new();
    for _ in 0..count(2, 3) {
        diag_times.push(per_op_at(total, 64, bare_with_store_work.clone()).await);
    }
    println!(
        "diagnostic, not a ratio: bare + hush's Redis work (its audit XADD; no read, the cache being coherent) at 64 concurrent: {} per run",
        show(median(&mut diag_times))
    );
    secrets.flush().await;
}

/// What `work` returns, and the CPU time this process and the redis-server at `url` used
/// while it ran.
async fn cpu_while<T>(
    url: &str,
    work: impl std::future::Future<Output = T>,
) -> (T, (Duration, Duration)) {
    let me = std::process::id();
    let before = (support::cpu_of(me), support::redis_cpu(url).await);
    let out = work.await;
    let used = (
        support::cpu_of(me).saturating_sub(before.0),
        support::redis_cpu(url).await.saturating_sub(before.1),
    );
    (out, used)
}
