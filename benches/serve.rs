//! Benchmarks of `hush serve` and `hush worker` over a private redis-server and a local
//! axum target, all Send API Requests with one secret:
//! - dispatch-to-result of queued mode (POST, then the run's event stream to its end, a
//!   worker in this process) against `?wait=true` sync mode (one POST);
//! - 10,000 queued runs drained by 1 and by 2 `hush worker` processes (the release
//!   binary), per run, against the same runs through the executor in this process at the
//!   same concurrency; with the p99 of the runs' own duration;
//! - `GET /v1/runs/{id}` against a raw Redis GET of the same record bytes; and, not a
//!   ratio, the same GET from a `hush serve` process.

mod support;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hush::actions::http::{HttpSender, NetworkPolicy};
use hush::api::ApiState;
use hush::executor::{Executor, RunRequest, RunStatus};
use hush::model::RunId;
use hush::runs::queue;
use hush::runs::redis::RedisRuns;
use hush::runs::worker::{self, WorkerConfig};
use hush::runs::{DEFAULT_RETENTION, Pending, Run, RunStore};
use hush::tokens::{Principal, Tokens};
use redis::AsyncCommands;
use serde_json::{Value, json};
use support::{count, interleaved, median, per_op_at, percentile, ratio, show};

const VALUE: &str = "sk_live_bench_serve_0123456789abcdef";
const CONCURRENCY: usize = 64;

fn worker(
    url: &str,
    key_file: &std::path::Path,
    data: &std::path::Path,
    name: &str,
    cache: bool,
) -> Child {
    Command::new(env!("CARGO_BIN_EXE_hush"))
        .arg("worker")
        .env_clear()
        .env("HUSH_READ_CACHE", if cache { "on" } else { "off" })
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HUSH_REDIS_URL", url)
        .env("HUSH_MASTER_KEY_FILE", key_file)
        .env("HUSH_DATA_DIR", data)
        .env("HUSH_ALLOWED_NETWORKS", "127.0.0.1/32")
        .env("HUSH_WORKER_NAME", name)
        .env("HUSH_WORKER_CONCURRENCY", CONCURRENCY.to_string())
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let support::Fixture {
        server,
        backend,
        secrets,
        key_dir,
        org,
        mia,
        secret,
    } = support::Fixture::start("Stripe", VALUE).await;
    let url = server.url();
    let key_file = key_dir.path().join("master.key");
    let hits = Arc::new(AtomicUsize::new(0));
    let target = support::charges_target(Arc::clone(&hits)).await;
    let spec = json!({
        "kind": "send_api_request", "name": "Create charge", "method": "POST", "url": target,
        "headers": [{"name": "Authorization", "value": format!("Bearer {{{{secret \"{}\"}}}}", secret.id)}],
        "body": {"type": "json", "value": {"amount": "{{inputs.amount}}"}},
    });
    let policy = NetworkPolicy::allowing(["127.0.0.1/32".parse().unwrap()]);
    let executor = Executor::new(Arc::clone(&secrets), HttpSender::new(policy).unwrap());
    let runs = RedisRuns::connect(&url, DEFAULT_RETENTION).await.unwrap();
    // As `hush serve` sets it up: ended runs kept in the coherent backend's cache.
    let state = ApiState::new(
        Arc::clone(&backend),
        Arc::new(runs.clone().with_final_records(backend.final_records())),
        executor.clone(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(hush::api::serve(listener, state));
    let token = Tokens::new(Arc::clone(&backend))
        .create(&org, Principal::service("bench").unwrap())
        .await
        .unwrap()
        .token
        .as_str()
        .to_owned();
    let client = reqwest::Client::new();

    // 1. Queued vs sync, dispatch to result, one run at a time; a worker in this process.
    let stop = Arc::new(AtomicBool::new(false));
    let in_process = tokio::spawn(worker::work(
        runs.clone(),
        executor.clone(),
        WorkerConfig::named("bench-in-process"),
        Arc::clone(&stop),
    ));
    let body = json!({"action": spec, "actor": "mia", "inputs": {"amount": "1999"}});
    let sync = {
        let (client, base, token, body) =
            (client.clone(), base.clone(), token.clone(), body.clone());
        move || {
            let (client, base, token, body) =
                (client.clone(), base.clone(), token.clone(), body.clone());
            async move {
                let run: Value = client
                    .post(format!("{base}/v1/runs?wait=true"))
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                assert_eq!(run["status"], "succeeded", "{run}");
            }
        }
    };
    let queued = {
        let (client, base, token, body) =
            (client.clone(), base.clone(), token.clone(), body.clone());
        move || {
            let (client, base, token, body) =
                (client.clone(), base.clone(), token.clone(), body.clone());
            async move {
                let run: Value = client
                    .post(format!("{base}/v1/runs"))
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let id = run["id"].as_str().unwrap();
                let events = client
                    .get(format!("{base}/v1/runs/{id}/events"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
                assert!(events.contains(r#""status":"succeeded""#), "{events}");
            }
        }
    };
    let (mut q, mut s) = interleaved(count(5, 10), count(40, 100), &queued, &sync).await;
    println!(
        "dispatch to result: queued (POST + event stream) p50 {}, p99 {}; wait=true p50 {}, p99 {}",
        show(median(&mut q)),
        show(percentile(&mut q, 99.0)),
        show(median(&mut s)),
        show(percentile(&mut s, 99.0))
    );
    ratio(
        "queued-vs-sync-dispatch-p50",
        median(&mut q),
        median(&mut s),
    );
    stop.store(true, Ordering::Relaxed);
    in_process.await.unwrap().unwrap();

    // 2. Draining queued runs with 1 and 2 worker processes.
    let total = count(2_000, 10_000);
    let direct = {
        let (executor, org, mia, spec) = (executor.clone(), org.clone(), mia.clone(), spec.clone());
        move || {
            let (executor, org, mia, spec) =
                (executor.clone(), org.clone(), mia.clone(), spec.clone());
            async move {
                let record = executor
                    .run(RunRequest {
                        run_id: RunId::parse("bench-direct").unwrap(),
                        org,
                        actor: mia,
                        action: hush::actions::Action::from_json(&spec.to_string()).unwrap(),
                        inputs: json!({"amount": "1999"}),
                    })
                    .await;
                assert_eq!(record.status, RunStatus::Succeeded);
            }
        }
    };
    let me = std::process::id();
    let cpu_before = (support::cpu_of(me), support::redis_cpu(&url).await);
    let baseline = per_op_at(total, CONCURRENCY, direct).await;
    let per = |d: Duration| show(d / u32::try_from(total).unwrap());
    println!(
        "baseline CPU per run: this process (executor, HTTP target) {}, redis-server {}",
        per(support::cpu_of(me).saturating_sub(cpu_before.0)),
        per(support::redis_cpu(&url).await.saturating_sub(cpu_before.1)),
    );
    println!(
        "baseline: the executor in this process, {CONCURRENCY} at once: {} per run ({:.0} runs/s)",
        show(baseline),
        1.0 / baseline.as_secs_f64()
    );
    let data = tempfile::tempdir().unwrap();
    // Timed passes with 1 and 2 workers; then passes that count Redis's traffic under
    // MONITOR (which slows Redis down, so they are not timed), with the read cache on and
    // off.
    for (workers, cache, counted) in [
        (1, true, false),
        (2, true, false),
        (1, true, true),
        (1, false, true),
    ] {
        let mut ids = Vec::with_capacity(total);
        for _ in 0..total {
            let run = Run::queued(
                org.clone(),
                mia.clone(),
                hush::actions::ActionKind::SendApiRequest,
                "bench".into(),
            );
            let pending = Pending {
                action: spec.clone(),
                inputs: json!({"amount": "1999"}),
            };
            runs.create(&run, &pending, None).await.unwrap();
            ids.push(run.id);
        }
        // Start the workers and wait until each is connected, so that their start-up is
        // not timed; then queue every run at once.
        let names: Vec<String> = (0..workers)
            .map(|i| format!("bench-{workers}-{cache}-{i}"))
            .collect();
        let mut children: Vec<Child> = names
            .iter()
            .map(|name| worker(&url, &key_file, data.path(), name, cache))
            .collect();
        // Each worker prints one line once it is connected and about to read.
        for child in &mut children {
            use std::io::BufRead;
            let mut line = String::new();
            std::io::BufReader::new(child.stdout.as_mut().unwrap())
                .read_line(&mut line)
                .unwrap();
            assert!(line.contains("draining"), "{line}");
        }
        let mut conn = redis::Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let before = hits.load(Ordering::Relaxed);
        let monitor = counted.then(|| support::Monitor::start(&url));
        let cpu_before = (
            children
                .iter()
                .map(|c| support::cpu_of(c.id()))
                .sum::<Duration>(),
            support::redis_cpu(&url).await,
            support::cpu_of(me),
        );
        let commands_before = support::redis_commands(&url).await;
        let started = Instant::now();
        runs.enqueue_many(&org, &ids).await.unwrap();
        loop {
            let groups: redis::streams::StreamInfoGroupsReply =
                conn.xinfo_groups(queue::stream(0)).await.unwrap();
            let group = groups
                .groups
                .iter()
                .find(|g| g.name == queue::GROUP)
                .unwrap();
            // Every run reached the target and every entry is acknowledged. (The group's
            // lag is unknown once the stream was trimmed.)
            if hits.load(Ordering::Relaxed) - before >= total && group.pending == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let elapsed = started.elapsed();
        if !counted {
            println!(
                "{workers} worker(s): CPU per queued run: worker process(es) {}, redis-server {}, this process (HTTP target, polling) {}",
                per(children
                    .iter()
                    .map(|c| support::cpu_of(c.id()))
                    .sum::<Duration>()
                    .saturating_sub(cpu_before.0)),
                per(support::redis_cpu(&url).await.saturating_sub(cpu_before.1)),
                per(support::cpu_of(me).saturating_sub(cpu_before.2)),
            );
            println!(
                "{workers} worker(s): where redis-server's time per queued run goes (a script's commands are in its EVALSHA too): {}",
                support::top_commands(
                    &commands_before,
                    &support::redis_commands(&url).await,
                    total,
                    8
                )
            );
        }
        if let Some(monitor) = monitor {
            // The bench's own queueing (XADD) and polling (XINFO) are not the worker's.
            let traffic = monitor.stop(&["XINFO", "XADD"]);
            println!(
                "read cache {}: a worker made {:.2} Redis round trips and {:.2} commands per queued run",
                if cache { "on" } else { "off" },
                traffic.round_trips as f64 / total as f64,
                traffic.commands as f64 / total as f64,
            );
        }
        for child in &mut children {
            let _ = child.kill();
            let _ = child.wait();
        }
        assert_eq!(hits.load(Ordering::Relaxed) - before, total);
        let mut durations = Vec::with_capacity(total);
        for id in &ids {
            let run = runs.get(&org, id).await.unwrap().unwrap();
            assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
            durations.push(Duration::from_millis(run.duration_ms.unwrap()));
        }
        let per_run = elapsed / u32::try_from(total).unwrap();
        println!(
            "{workers} worker process(es) (read cache {}{}) drained {total} queued runs in {} ({:.0} runs/s); run duration p50 {}, p99 {}",
            if cache { "on" } else { "off" },
            if counted {
                ", under MONITOR: not timed"
            } else {
                ""
            },
            show(elapsed),
            total as f64 / elapsed.as_secs_f64(),
            show(median(&mut durations)),
            show(percentile(&mut durations, 99.0))
        );
        if cache && !counted {
            ratio(&format!("queue-drain-{workers}-worker"), per_run, baseline);
        }
    }

    // 3. GET /v1/runs/{id} against a raw GET of the same record bytes.
    let (_, run): (_, Value) = {
        let res = client
            .post(format!("{base}/v1/runs?wait=true"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        (res.status(), res.json().await.unwrap())
    };
    let id = run["id"].as_str().unwrap().to_owned();
    let raw = redis::aio::ConnectionManager::new(redis::Client::open(url.as_str()).unwrap())
        .await
        .unwrap();
    let record: Vec<u8> = raw
        .clone()
        .hget(format!("hush:{{{org}}}:run:{id}"), "record")
        .await
        .unwrap();
    let _: () = raw.clone().set("bench:record", &record).await.unwrap();
    // The API as deployed: `hush serve` in its own process, as redis-server is, on the
    // same Redis (the run and the token above are there).
    let mut serve = Command::new(env!("CARGO_BIN_EXE_hush"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HUSH_LISTEN", "127.0.0.1:0")
        .env("HUSH_REDIS_URL", &url)
        .env("HUSH_MASTER_KEY_FILE", &key_file)
        .env("HUSH_DATA_DIR", data.path())
        .env("HUSH_ALLOWED_NETWORKS", "127.0.0.1/32")
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let served = {
        use std::io::BufRead;
        let mut line = String::new();
        std::io::BufReader::new(serve.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let at = line.find("http://").unwrap_or_else(|| panic!("{line}"));
        line[at..].split_whitespace().next().unwrap().to_owned()
    };
    let get_run = |base: String| {
        let (client, token, id) = (client.clone(), token.clone(), id.clone());
        move || {
            let (client, base, token, id) =
                (client.clone(), base.clone(), token.clone(), id.clone());
            async move {
                let res = client
                    .get(format!("{base}/v1/runs/{id}"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap();
                assert!(res.status().is_success());
                let _ = res.bytes().await.unwrap();
            }
        }
    };
    let get_served = get_run(served.clone());
    let get_in_process = get_run(base.clone());
    let get_raw = {
        let raw = raw.clone();
        move || {
            let mut raw = raw.clone();
            async move {
                let bytes: Vec<u8> = raw.get("bench:record").await.unwrap();
                assert!(!bytes.is_empty());
            }
        }
    };
    // Where the time goes (not a ratio): the HTTP round trip alone, to a route that reads
    // nothing.
    let healthz = |base: String| {
        let client = client.clone();
        move || {
            let (client, base) = (client.clone(), base.clone());
            async move {
                let res = client.get(format!("{base}/healthz")).send().await.unwrap();
                assert!(res.status().is_success());
                let _ = res.bytes().await.unwrap();
            }
        }
    };
    // What one request asks of Redis once the token and the ended run are cached (the
    // leases' renewals, a script every 200 ms per process, are not the requests').
    get_in_process().await;
    get_served().await;
    let monitor = support::Monitor::start(&url);
    let requests = 100;
    for _ in 0..requests {
        get_in_process().await;
    }
    let traffic = monitor.stop(&["EVALSHA"]);
    println!(
        "GET /v1/runs/{{id}}: {:.2} Redis round trips ({:.2} commands) per request",
        traffic.round_trips as f64 / requests as f64,
        traffic.commands as f64 / requests as f64,
    );
    let (mut a, mut b) =
        interleaved(count(5, 20), count(100, 200), &get_in_process, &get_raw).await;
    println!(
        "GET /v1/runs/{{id}}: p50 {} (raw Redis GET of the record's {} bytes p50 {})",
        show(median(&mut a)),
        record.len(),
        show(median(&mut b))
    );
    ratio("api-get-run-p50", median(&mut a), median(&mut b));
    // Not a ratio: the same GET from `hush serve` in its own process, as deployed. Each
    // request then wakes a parked process as well (the ratio's API shares this bench's
    // runtime, as when the figure was first measured).
    let served_healthz = healthz(served.clone());
    let (mut p, mut g) = interleaved(count(5, 20), count(100, 200), &get_served, &get_raw).await;
    let (mut h, _) = interleaved(count(5, 20), count(100, 200), &served_healthz, &get_raw).await;
    println!(
        "diagnostic, not a ratio: from `hush serve` in its own process: GET /v1/runs/{{id}} p50 {}, GET /healthz p50 {}; raw Redis GET p50 {}",
        show(median(&mut p)),
        show(median(&mut h)),
        show(median(&mut g))
    );
    let in_process_healthz = healthz(base.clone());
    let (mut h, mut g) =
        interleaved(count(5, 20), count(100, 200), &in_process_healthz, &get_raw).await;
    println!(
        "diagnostic, not a ratio: the HTTP round trip alone (GET /healthz) p50 {}; raw Redis GET p50 {}",
        show(median(&mut h)),
        show(median(&mut g))
    );
    // Not a ratio, where the time goes: the same two GETs from the leanest client, one
    // kept-alive connection whose request is written and answer read in the calling task
    // (reqwest hands each request to a connection task and back).
    let addr = base.trim_start_matches("http://").to_owned();
    let lean = |path: String, bearer: Option<String>| {
        let client = Arc::new(tokio::sync::Mutex::new(None::<LeanHttp>));
        let addr = addr.clone();
        move || {
            let (client, addr, path, bearer) = (
                Arc::clone(&client),
                addr.clone(),
                path.clone(),
                bearer.clone(),
            );
            async move {
                let mut client = client.lock().await;
                if client.is_none() {
                    *client = Some(LeanHttp::connect(&addr).await);
                }
                let body = client.as_mut().unwrap().get(&path, bearer.as_deref()).await;
                assert!(!body.is_empty());
            }
        }
    };
    let lean_run = lean(format!("/v1/runs/{id}"), Some(token.clone()));
    let lean_healthz = lean("/healthz".to_owned(), None);
    let (mut r, mut g) = interleaved(count(5, 20), count(100, 200), &lean_run, &get_raw).await;
    let (mut h, _) = interleaved(count(5, 20), count(100, 200), &lean_healthz, &get_raw).await;
    println!(
        "diagnostic, not a ratio: from a lean HTTP/1.1 client: GET /v1/runs/{{id}} p50 {}, GET /healthz p50 {}; raw Redis GET p50 {}",
        show(median(&mut r)),
        show(median(&mut h)),
        show(median(&mut g))
    );
    let _ = serve.kill();
    let _ = serve.wait();
    secrets.flush().await;
}

/// The leanest HTTP/1.1 client, for a diagnostic only: one kept-alive connection, a GET
/// written and its answer (with a `content-length`) read in the calling task.
struct LeanHttp {
    tcp: tokio::net::TcpStream,
    host: String,
    buf: Vec<u8>,
}

impl LeanHttp {
    async fn connect(addr: &str) -> LeanHttp {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        LeanHttp {
            tcp,
            host: addr.to_owned(),
            buf: Vec::with_capacity(16 * 1024),
        }
    }

    /// The body of a `200 OK` answer to `GET path`.
    async fn get(&mut self, path: &str, bearer: Option<&str>) -> Vec<u8> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let auth = bearer.map_or(String::new(), |t| format!("authorization: Bearer {t}\r\n"));
        let request = format!("GET {path} HTTP/1.1\r\nhost: {}\r\n{auth}\r\n", self.host);
        self.tcp.write_all(request.as_bytes()).await.unwrap();
        self.buf.clear();
        loop {
            let mut chunk = [0u8; 8192];
            let n = self.tcp.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the server closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
            let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = std::str::from_utf8(&self.buf[..end])
                .unwrap()
                .to_ascii_lowercase();
            assert!(head.starts_with("http/1.1 200"), "{head}");
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().unwrap())
                .expect("a content-length");
            if self.buf.len() >= end + 4 + length {
                return self.buf[end + 4..end + 4 + length].to_vec();
            }
        }
    }
}
