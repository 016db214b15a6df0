//! Queued dispatch across processes: a private redis-server, a local HTTP target that
//! counts each run's requests, the API on 127.0.0.1, and `hush worker` processes (the real
//! binary). A worker killed with SIGKILL, a worker stopped with SIGTERM, a poison run that
//! is dead-lettered, and Redis restarted under load: every run reaches one final state,
//! none is lost, and none is recorded as ended twice.

use crate::common;
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use common::{Harness, Kind, team};
use hush::actions::http::{HttpSender, NetworkPolicy};
use hush::api::{ApiState, app};
use hush::executor::{Executor, RunStatus};
use hush::model::RunId;
use hush::runs::queue;
use hush::runs::redis::RedisRuns;
use hush::runs::worker::{self, WorkerConfig};
use hush::runs::{DEFAULT_RETENTION, RunStore, Start};
use hush::store::RedisConn;
use hush::tokens::{Principal, Tokens};
use serde_json::{Value, json};

const VALUE: &str = "sk_live_queue_0123456789abcdef";

/// A target that counts requests per `n` and answers `{"n": n}` after `delay`.
pub(crate) struct Target {
    pub(crate) url: String,
    pub(crate) hits: Arc<Mutex<HashMap<u64, u32>>>,
}

impl Target {
    pub(crate) async fn start(delay: Duration) -> Target {
        type Hits = Arc<Mutex<HashMap<u64, u32>>>;
        async fn handle(
            State((hits, delay)): State<(Hits, Duration)>,
            Query(q): Query<HashMap<String, String>>,
        ) -> axum::Json<Value> {
            let n: u64 = q["n"].parse().unwrap();
            *hits.lock().unwrap().entry(n).or_default() += 1;
            tokio::time::sleep(delay).await;
            axum::Json(json!({"n": n}))
        }
        let hits: Hits = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .route("/work", axum::routing::post(handle))
            .with_state((Arc::clone(&hits), delay));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Target { url, hits }
    }

    pub(crate) fn distinct(&self) -> usize {
        self.hits.lock().unwrap().len()
    }
}

/// One org on a private, durable redis-server, with a team secret, the API in this
/// process and a service token.
pub(crate) struct Setup {
    pub(crate) h: Harness,
    pub(crate) runs: RedisRuns,
    pub(crate) base: String,
    pub(crate) token: String,
    pub(crate) action: Value,
    pub(crate) client: reqwest::Client,
    pub(crate) data: tempfile::TempDir,
}

impl Setup {
    async fn start(target: &Target) -> Setup {
        Self::start_on(Kind::Redis, target).await
    }

    /// [`Setup::start`] on a private Redis of `kind` (one server, or a cluster).
    pub(crate) async fn start_on(kind: Kind, target: &Target) -> Setup {
        let h = Harness::isolated(kind).await;
        let id = h.create("mia", team("Queue key", VALUE)).await.id;
        let runs = RedisRuns::connect(&h.redis_url(), DEFAULT_RETENTION)
            .await
            .unwrap();
        let policy = NetworkPolicy::allowing(["127.0.0.1/32".parse().unwrap()]);
        let executor = Executor::new(Arc::clone(&h.secrets), HttpSender::new(policy).unwrap());
        let state = ApiState::new(Arc::clone(&h.backend), Arc::new(runs.clone()), executor);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app(state)).await.unwrap() });
        let token = Tokens::new(Arc::clone(&h.backend))
            .create(&h.org, Principal::service("orchestrator").unwrap())
            .await
            .unwrap()
            .token
            .as_str()
            .to_owned();
        let action = json!({
            "kind": "send_api_request", "name": "Work", "method": "POST",
            "url": format!("{}/work", target.url),
            "query": [{"name": "n", "value": "{{inputs.n}}"}],
            "headers": [{"name": "Authorization", "value": format!("Bearer {{{{secret \"{id}\"}}}}")}]
        });
        Setup {
            h,
            runs,
            base,
            token,
            action,
            client: reqwest::Client::new(),
            data: tempfile::tempdir().unwrap(),
        }
    }

    /// A `hush worker` process on this setup's Redis and key file.
    pub(crate) fn worker(&self, name: &str, concurrency: usize) -> Child {
        self.worker_with(name, concurrency, &[])
    }

    /// [`Setup::worker`] with more settings.
    pub(crate) fn worker_with(
        &self,
        name: &str,
        concurrency: usize,
        env: &[(&str, &str)],
    ) -> Child {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hush"));
        // SAFETY: prctl is async-signal-safe; it only asks the kernel to kill the worker
        // when the thread that spawned it dies, so a failed test leaves no worker behind.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        cmd.arg("worker")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HUSH_REDIS_URL", self.h.redis_url())
            .env("HUSH_MASTER_KEY_FILE", &self.h.key_file)
            .env("HUSH_DATA_DIR", self.data.path())
            .env("HUSH_ALLOWED_NETWORKS", "127.0.0.1/32")
            .env("HUSH_WORKER_NAME", name)
            .env("HUSH_WORKER_CONCURRENCY", concurrency.to_string())
            .env("HUSH_VISIBILITY_TIMEOUT_MS", "1500")
            // The cluster client's own reconnect warnings are not the worker's.
            .env("RUST_LOG", "warn,redis=error")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap()
    }

    /// Dispatches run `n` (queued), retrying with the same idempotency key until the API
    /// answers; returns the run id.
    pub(crate) async fn dispatch(&self, n: u64, workflow: &str) -> RunId {
        let body = json!({
            "action": self.action, "actor": "mia", "inputs": {"n": n},
            "workflow_run_id": workflow, "idempotency_key": format!("{workflow}-{n}")
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let res = self
                .client
                .post(format!("{}/v1/runs", self.base))
                .bearer_auth(&self.token)
                .json(&body)
                .timeout(Duration::from_secs(10))
                .send()
                .await;
            if let Ok(res) = res
                && (res.status() == 202 || res.status() == 200)
            {
                let run: Value = res.json().await.unwrap();
                return RunId::parse(run["id"].as_str().unwrap()).unwrap();
            }
            assert!(Instant::now() < deadline, "run {n} could not be dispatched");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until every run in `ids` has ended; returns their statuses by id.
    pub(crate) async fn wait_all(
        &self,
        ids: &[RunId],
        within: Duration,
    ) -> HashMap<RunId, hush::runs::Run> {
        let deadline = Instant::now() + within;
        loop {
            let mut ended = HashMap::new();
            for id in ids {
                if let Ok(Some(run)) = self.runs.get(&self.h.org, id).await
                    && run.is_final()
                {
                    ended.insert(id.clone(), run);
                }
            }
            if ended.len() == ids.len() {
                return ended;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {} runs ended in time",
                ended.len(),
                ids.len()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// A connection of the test's own; on a cluster in the middle of a failover the
    /// first tries may find no node answering for a while, so it tries for up to 60 s.
    pub(crate) async fn redis(&self) -> RedisConn {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match RedisConn::open(&self.h.redis_url()).await {
                Ok(conn) => return conn,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("the test's connection to Redis failed, trying again: {e}");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => panic!("no connection to Redis in 60 s: {e}"),
            }
        }
    }

    /// The work stream run `id` is queued to.
    pub(crate) fn stream_of(&self, id: &RunId) -> String {
        queue::stream(queue::partition_of(id, self.runs.partitions()))
    }

    /// How many final-status events run `id`'s event stream holds.
    pub(crate) async fn final_events(&self, id: &RunId) -> usize {
        let mut conn = self.redis().await;
        let key = format!("hush:{{{}}}:run:{id}:events", self.h.org);
        let entries: Vec<(String, HashMap<String, String>)> = redis::cmd("XRANGE")
            .arg(key)
            .arg("-")
            .arg("+")
            .query_async(&mut conn)
            .await
            .unwrap();
        entries
            .iter()
            .filter(|(_, e)| e["e"].contains("succeeded") || e["e"].contains("failed"))
            .count()
    }
}

/// How many queue entries are delivered and not yet acknowledged, in every partition.
pub(crate) async fn pending_entries(s: &Setup, conn: &mut RedisConn) -> usize {
    let mut total = 0;
    for stream in s.runs.streams().await.unwrap() {
        let pending: redis::streams::StreamPendingReply = redis::cmd("XPENDING")
            .arg(&stream)
            .arg(queue::GROUP)
            .query_async(conn)
            .await
            .unwrap();
        total += pending.count();
    }
    total
}

/// How many entries the partitions hold.
async fn queue_length(s: &Setup, conn: &mut RedisConn) -> usize {
    let mut total = 0;
    for stream in s.runs.streams().await.unwrap() {
        let len: usize = redis::cmd("XLEN")
            .arg(&stream)
            .query_async(conn)
            .await
            .unwrap();
        total += len;
    }
    total
}

pub(crate) fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_thousand_runs_end_once_each_though_a_worker_is_killed_midway() {
    two_thousand_runs_with_a_worker_killed(Kind::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_a_cluster_two_thousand_runs_end_once_each_though_a_worker_is_killed_midway() {
    two_thousand_runs_with_a_worker_killed(Kind::Cluster).await;
}

/// 2,000 queued runs, three worker processes, one killed with SIGKILL a quarter of the
/// way: every run ends once, with its own result; on a cluster, over every partition.
async fn two_thousand_runs_with_a_worker_killed(kind: Kind) {
    let target = Target::start(Duration::from_millis(20)).await;
    let s = Setup::start_on(kind, &target).await;
    if kind == Kind::Cluster {
        assert_eq!(s.runs.partitions(), 6, "twice the masters by default");
    }
    let mut workers: Vec<Child> = (0..3).map(|i| s.worker(&format!("w{i}"), 16)).collect();

    let s = Arc::new(s);
    let mut dispatches = tokio::task::JoinSet::new();
    for chunk in 0..16u64 {
        let s = Arc::clone(&s);
        dispatches.spawn(async move {
            let mut ids = Vec::new();
            for n in (chunk * 125)..((chunk + 1) * 125) {
                ids.push((n, s.dispatch(n, "wf-load").await));
            }
            ids
        });
    }
    // Kill one worker with SIGKILL once a quarter of the runs reached the target.
    let deadline = Instant::now() + Duration::from_secs(120);
    while target.distinct() < 500 {
        assert!(Instant::now() < deadline, "the workers made no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop(&mut workers[0]);

    let mut ids = Vec::new();
    while let Some(chunk) = dispatches.join_next().await {
        ids.extend(chunk.unwrap());
    }
    assert_eq!(ids.len(), 2000);
    let only_ids: Vec<RunId> = ids.iter().map(|(_, id)| id.clone()).collect();
    let ended = s.wait_all(&only_ids, Duration::from_secs(300)).await;

    let hits = target.hits.lock().unwrap().clone();
    let mut repeated = 0;
    for (n, id) in &ids {
        let run = &ended[id];
        assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
        let result = run.result.as_ref().unwrap();
        assert_eq!(
            result["body"]["n"],
            json!(n),
            "run {id} has another run's result"
        );
        let seen = hits.get(n).copied().unwrap_or(0);
        assert!(seen >= 1, "run {n} never reached the target");
        if seen > 1 {
            repeated += 1;
            assert!(
                run.attempts >= 2,
                "run {n} reached the target {seen} times in one attempt"
            );
        }
        assert_eq!(s.final_events(id).await, 1, "run {id} ended more than once");
    }
    eprintln!("{repeated} run(s) reached the target again after the worker was killed");
    // Only the runs the killed worker held (at most its concurrency) may run again.
    assert!(repeated <= 16, "{repeated} runs reached the target twice");

    // Everything is acknowledged and the stream is trimmed to a bounded size.
    let mut conn = s.redis().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pending = pending_entries(&s, &mut conn).await;
        let len = queue_length(&s, &mut conn).await;
        if pending == 0 && len < 500 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{pending} entries pending, {len} in the stream"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for w in &mut workers {
        stop(w);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_worker_finish_what_it_holds_and_leaves_the_rest_queued() {
    let target = Target::start(Duration::from_millis(500)).await;
    let s = Setup::start(&target).await;
    let mut ids = Vec::new();
    for n in 0..12 {
        ids.push(s.dispatch(n, "wf-term").await);
    }
    let mut worker = s.worker("term", 3);
    let deadline = Instant::now() + Duration::from_secs(60);
    while target.distinct() == 0 {
        assert!(Instant::now() < deadline, "the worker took no work");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The worker holds a read-cache lease (it keeps its cache coherent)...
    let mut raw = redis::Client::open(s.h.redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let leases = |raw: &redis::aio::MultiplexedConnection| {
        let mut raw = raw.clone();
        async move {
            let n: u64 = redis::cmd("HLEN")
                .arg("hush:{caches}")
                .query_async(&mut raw)
                .await
                .unwrap();
            n
        }
    };
    while leases(&raw).await == 0 {
        assert!(Instant::now() < deadline, "the worker took no lease");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // SAFETY: sends SIGTERM to a child process this test owns.
    unsafe { libc::kill(i32::try_from(worker.id()).unwrap(), libc::SIGTERM) };
    let status = worker.wait().unwrap();
    assert!(status.success(), "the worker exited with {status}");
    // ...and drops it as it stops: no change waits for it to run out.
    assert_eq!(
        leases(&mut raw).await,
        0,
        "the stopped worker's lease is left"
    );

    let mut finished = 0;
    for id in &ids {
        let run = s.runs.get(&s.h.org, id).await.unwrap().unwrap();
        match run.status {
            RunStatus::Succeeded => finished += 1,
            RunStatus::Queued => {}
            other => panic!("run {id} was left {other:?} by a worker that stopped"),
        }
    }
    assert!((1..12).contains(&finished), "{finished} runs finished");

    // The rest are still queued, and another worker runs them, each exactly once.
    let metrics = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let mut next = s.worker_with("next", 4, &[("HUSH_WORKER_METRICS_LISTEN", &metrics)]);
    let ended = s.wait_all(&ids, Duration::from_secs(60)).await;
    assert!(ended.values().all(|r| r.status == RunStatus::Succeeded));
    assert!(ended.values().all(|r| r.attempts == 1), "{ended:#?}");
    assert!(target.hits.lock().unwrap().values().all(|&n| n == 1));
    // That worker counts what it ran on its own /metrics.
    let text = reqwest::get(format!("http://{metrics}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let ran = format!(
        "hush_runs_total{{kind=\"send_api_request\",status=\"succeeded\"}} {}",
        12 - finished
    );
    assert!(text.contains(&ran), "no {ran:?} in:\n{text}");
    assert!(text.contains("hush_queue_deliveries_total{outcome=\"ran\"}"));
    stop(&mut next);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_workers_keep_dying_is_failed_as_a_dead_letter() {
    let target = Target::start(Duration::ZERO).await;
    let s = Setup::start(&target).await;
    let id = s.dispatch(7, "wf-dead").await;
    // Two workers took it and died before it ended: two attempts counted, entry pending.
    s.runs.ensure_group().await.unwrap();
    let mut conn = s.redis().await;
    let read: redis::streams::StreamReadReply = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(queue::GROUP)
        .arg("doomed")
        .arg("COUNT")
        .arg(10)
        .arg("STREAMS")
        .arg(s.stream_of(&id))
        .arg(">")
        .query_async(&mut conn)
        .await
        .unwrap();
    let entry = queue::delivery(&s.stream_of(&id), &read.keys[0].ids[0].id);
    for _ in 0..2 {
        let started = s
            .runs
            .start(&s.h.org, &id, "doomed", &entry, 2)
            .await
            .unwrap();
        assert!(matches!(started, Start::Run { .. }), "{started:?}");
    }
    // A live worker claims the idle entry and gives up on the run.
    let policy = NetworkPolicy::allowing(["127.0.0.1/32".parse().unwrap()]);
    let executor = Executor::new(Arc::clone(&s.h.secrets), HttpSender::new(policy).unwrap());
    let stop_flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let config = WorkerConfig {
        visibility: Duration::from_millis(300),
        max_attempts: 2,
        ..WorkerConfig::named("alive")
    };
    let worker = tokio::spawn(worker::work(
        s.runs.clone(),
        executor,
        config,
        Arc::clone(&stop_flag),
    ));
    let ended = s
        .wait_all(std::slice::from_ref(&id), Duration::from_secs(30))
        .await;
    let run = &ended[&id];
    assert_eq!(run.status, RunStatus::Failed);
    let error = run.error.as_ref().unwrap();
    assert!(error.message.contains("dead letter"), "{error:?}");
    assert_eq!(target.distinct(), 0, "a dead-lettered run is not run again");
    let dead: Vec<(String, HashMap<String, String>)> = redis::cmd("XRANGE")
        .arg(queue::DEAD)
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(dead.iter().any(|(_, e)| e["run"] == id.as_str()));
    stop_flag.store(true, std::sync::atomic::Ordering::Relaxed);
    worker.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_restarted_under_load_loses_no_run() {
    let target = Target::start(Duration::from_millis(5)).await;
    let mut s = Setup::start(&target).await;
    let mut workers: Vec<Child> = (0..2).map(|i| s.worker(&format!("r{i}"), 8)).collect();
    // Dispatch in the background while Redis goes down and comes back.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let dispatcher = {
        let (base, token, action) = (s.base.clone(), s.token.clone(), s.action.clone());
        let client = s.client.clone();
        tokio::spawn(async move {
            for n in 0..400u64 {
                let body = json!({
                    "action": action, "actor": "mia", "inputs": {"n": n},
                    "workflow_run_id": "wf-restart", "idempotency_key": format!("restart-{n}")
                });
                let deadline = Instant::now() + Duration::from_secs(60);
                let id = loop {
                    let res = client
                        .post(format!("{base}/v1/runs"))
                        .bearer_auth(&token)
                        .json(&body)
                        .timeout(Duration::from_secs(10))
                        .send()
                        .await;
                    if let Ok(res) = res
                        && (res.status() == 202 || res.status() == 200)
                    {
                        let run: Value = res.json().await.unwrap();
                        break run["id"].as_str().unwrap().to_owned();
                    }
                    assert!(Instant::now() < deadline, "run {n} could not be dispatched");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                };
                tx.send((n, id)).unwrap();
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while target.distinct() < 100 {
        assert!(Instant::now() < deadline, "no progress before the restart");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    s.h.server.as_mut().unwrap().stop();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    s.h.server.as_mut().unwrap().restart();
    dispatcher.await.unwrap();

    let mut ids = HashMap::new();
    while let Ok((n, id)) = rx.try_recv() {
        ids.insert(n, RunId::parse(&id).unwrap());
    }
    assert_eq!(ids.len(), 400);
    let distinct: std::collections::HashSet<_> = ids.values().collect();
    assert_eq!(
        distinct.len(),
        400,
        "a retried dispatch created a second run"
    );
    let all: Vec<RunId> = ids.values().cloned().collect();
    let ended = s.wait_all(&all, Duration::from_secs(180)).await;
    for (n, id) in &ids {
        let run = &ended[id];
        assert_eq!(run.status, RunStatus::Succeeded, "run {n}: {run:#?}");
        assert_eq!(run.result.as_ref().unwrap()["body"]["n"], json!(n));
    }
    for w in &mut workers {
        stop(w);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_queued_twice_runs_once() {
    let target = Target::start(Duration::ZERO).await;
    let s = Setup::start(&target).await;
    let id = s.dispatch(3, "wf-twice").await;
    // As if a retry re-queued it: a second entry for the same run.
    s.runs.enqueue(&s.h.org, &id).await.unwrap();
    let mut worker = s.worker("twice", 4);
    let ended = s
        .wait_all(std::slice::from_ref(&id), Duration::from_secs(30))
        .await;
    assert_eq!(ended[&id].status, RunStatus::Succeeded);
    assert_eq!(ended[&id].attempts, 1);
    // Both entries are handled (acknowledged) and the target saw the run once.
    let mut conn = s.redis().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pending = pending_entries(&s, &mut conn).await;
        let groups: redis::streams::StreamInfoGroupsReply = redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(s.stream_of(&id))
            .query_async(&mut conn)
            .await
            .unwrap();
        let read = groups.groups[0].entries_read.unwrap_or(0);
        if pending == 0 && read >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the second entry was not handled"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(target.hits.lock().unwrap().get(&3), Some(&1));
    stop(&mut worker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_longer_than_the_visibility_timeout_is_not_taken_from_a_live_worker() {
    // Each run takes 4 s; entries idle 1.5 s may be claimed by another worker. The
    // workers' heartbeats keep what they hold from being claimed while they live.
    let target = Target::start(Duration::from_secs(4)).await;
    let s = Setup::start(&target).await;
    let mut workers = [s.worker("long-a", 4), s.worker("long-b", 4)];
    let mut ids = Vec::new();
    for n in 0..6 {
        ids.push(s.dispatch(n, "wf-long").await);
    }
    let ended = s.wait_all(&ids, Duration::from_secs(60)).await;
    for id in &ids {
        assert_eq!(ended[id].status, RunStatus::Succeeded, "{:?}", ended[id]);
        assert_eq!(ended[id].attempts, 1, "run {id} was started again");
    }
    let hits = target.hits.lock().unwrap().clone();
    assert!(
        (0..6).all(|n| hits.get(&n) == Some(&1)),
        "a run reached the target twice: {hits:?}"
    );
    for worker in &mut workers {
        stop(worker);
    }
}
