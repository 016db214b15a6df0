//! hush on a real Redis Cluster (3 masters, each with a replica, started by these tests):
//! no command of hush's gets a CROSSSLOT reply; a master killed with SIGKILL under a
//! load of queued runs and secret changes loses no acknowledged dispatch or change, and
//! hush reconnects by itself; an org's slot moved to another master by
//! `redis-cli --cluster reshard` during runs loses nothing; a cluster that needs a user
//! and password takes them from the URL and never shows them; TLS works for one Redis and
//! for a cluster. The queue kill test on a
//! cluster is in `queue`, the conformance suites run on a cluster as a third backend, and
//! the at-rest scan of every node is in `at_rest`.
//! Nothing here is mocked: every node is a real `redis-server`, every worker the real
//! `hush` binary; no test asserts on timing.

use crate::common;
use crate::queue::{Setup, Target, stop};
use std::collections::HashMap;
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::redis_cluster::{RedisCluster, cli_on};
use common::{Harness, Kind, team, user};
use hush::executor::RunStatus;
use hush::model::{OrgId, RunId, SecretId};
use hush::runs::redis::RedisRuns;
use hush::runs::{DEFAULT_RETENTION, RunStore};
use hush::secrets::SecretStore;
use hush::store::{Backend, RedisBackend};
use serde_json::{Value, json};

/// The CROSSSLOT errors each node of `cluster` has answered since it started.
fn crossslot_errors(cluster: &RedisCluster) -> HashMap<u16, u64> {
    cluster
        .live_ports()
        .into_iter()
        .map(|port| {
            let stats = cli_on(port, &["info", "errorstats"]).unwrap_or_default();
            let count = stats
                .lines()
                .find_map(|l| l.strip_prefix("errorstat_CROSSSLOT:count="))
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or(0);
            (port, count)
        })
        .collect()
}

/// Dispatches runs `0..count` through the API in the background, each retried with its
/// idempotency key until acknowledged; sends `(n, run id)` once acknowledged.
fn dispatch_in_background(
    s: &Setup,
    workflow: &str,
    count: u64,
) -> (
    tokio::task::JoinHandle<()>,
    tokio::sync::mpsc::UnboundedReceiver<(u64, RunId)>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (base, token, action) = (s.base.clone(), s.token.clone(), s.action.clone());
    let client = s.client.clone();
    let workflow = workflow.to_owned();
    let task = tokio::spawn(async move {
        for n in 0..count {
            let body = json!({
                "action": action, "actor": "mia", "inputs": {"n": n},
                "workflow_run_id": workflow, "idempotency_key": format!("{workflow}-{n}")
            });
            let deadline = Instant::now() + Duration::from_secs(90);
            let id = loop {
                let res = client
                    .post(format!("{base}/v1/runs"))
                    .bearer_auth(&token)
                    .json(&body)
                    .timeout(Duration::from_secs(20))
                    .send()
                    .await;
                let last = match res {
                    Ok(res) if res.status() == 202 || res.status() == 200 => {
                        let run: Value = res.json().await.unwrap();
                        break RunId::parse(run["id"].as_str().unwrap()).unwrap();
                    }
                    Ok(res) => {
                        format!("{}: {}", res.status(), res.text().await.unwrap_or_default())
                    }
                    Err(e) => e.to_string(),
                };
                assert!(
                    Instant::now() < deadline,
                    "run {n} could not be dispatched: {last}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            tx.send((n, id)).unwrap();
        }
    });
    (task, rx)
}

/// Creates secrets in the background until `stop`; returns the ones whose creation was
/// acknowledged, with their values (an unacknowledged one may or may not exist).
fn change_secrets_in_background(
    secrets: Arc<SecretStore>,
    org: OrgId,
    prefix: &'static str,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<(SecretId, String)>> {
    tokio::spawn(async move {
        let mut acked = Vec::new();
        let mut i = 0u32;
        while !stop.load(Ordering::Relaxed) {
            let value = format!("value-{prefix}-{i:06}-abcdef");
            let created = secrets
                .create(&org, &user("mia"), team(&format!("{prefix} {i}"), &value))
                .await;
            if let Ok(meta) = created {
                acked.push((meta.id, value));
            } else {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            i += 1;
        }
        acked
    })
}

/// Every acknowledged run ended, succeeded, once, with its own result.
async fn assert_every_run_ended_once(s: &Setup, ids: &HashMap<u64, RunId>) {
    let all: Vec<RunId> = ids.values().cloned().collect();
    let ended = s.wait_all(&all, Duration::from_secs(300)).await;
    for (n, id) in ids {
        let run = &ended[id];
        assert_eq!(run.status, RunStatus::Succeeded, "run {n}: {run:#?}");
        assert_eq!(run.result.as_ref().unwrap()["body"]["n"], json!(n));
        assert_eq!(s.final_events(id).await, 1, "run {id} ended more than once");
    }
}

/// Every acknowledged secret change is there, with its value.
async fn assert_every_secret_kept(h: &Harness, acked: &[(SecretId, String)]) {
    for (id, value) in acked {
        assert_eq!(
            h.use_as("mia", id).await.as_deref().ok(),
            Some(value.as_str()),
            "acknowledged secret {id} was lost"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_command_of_hush_gets_a_crossslot_reply_on_a_cluster() {
    let target = Target::start(Duration::ZERO).await;
    let s = Setup::start_on(Kind::Cluster, &target).await;
    let cluster = s.h.cluster.as_ref().unwrap();
    let before = crossslot_errors(cluster);
    // Every kind of change and read: secrets (create, list, resolve, audit), queued runs
    // through the API and a worker (create, start, log, finish, list, watch), a second
    // org's audit appended with the first's, and removing an org (its keys and its
    // entries in every partition).
    let mut worker = s.worker("slots", 4);
    let mut ids = Vec::new();
    for n in 0..30 {
        ids.push(s.dispatch(n, "wf-slots").await);
    }
    let ended = s.wait_all(&ids, Duration::from_secs(120)).await;
    assert!(ended.values().all(|r| r.status == RunStatus::Succeeded));
    let res = s
        .client
        .get(format!("{}/v1/runs?limit=10", s.base))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = s
        .client
        .get(format!("{}/v1/runs/{}/events", s.base, ids[0]))
        .bearer_auth(&s.token)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let _ = res.bytes().await;
    // A second org on the same store: both orgs' resolves are audited in one batch.
    let second = OrgId::parse(&common::unique("slots")).unwrap();
    s.h.directory.create_org(&second).await.unwrap();
    s.h.directory
        .add_user(&second, &user("mia"), hush::directory::Role::Member)
        .await
        .unwrap();
    let made = s.h.create("mia", team("slots", "value-slots-0001")).await;
    let theirs =
        s.h.secrets
            .create(&second, &user("mia"), team("slots", "value-slots-0002"))
            .await
            .unwrap();
    assert_eq!(
        s.h.use_as("mia", &made.id).await.unwrap(),
        "value-slots-0001"
    );
    let got =
        s.h.secrets
            .resolve(
                &second,
                &user("mia"),
                std::slice::from_ref(&theirs.id),
                &common::run("run-2"),
            )
            .await
            .unwrap();
    assert_eq!(got[0].value.expose(), "value-slots-0002");
    s.h.secrets.flush().await;
    s.h.directory.remove_org(&second).await.unwrap();
    let runs = RedisRuns::connect(&s.h.redis_url(), DEFAULT_RETENTION)
        .await
        .unwrap();
    runs.enqueue(&s.h.org, &ids[0]).await.unwrap();
    stop(&mut worker);
    s.h.directory.remove_org(&s.h.org).await.unwrap();
    let after = crossslot_errors(cluster);
    assert_eq!(before.len(), 6, "every node was asked");
    assert_eq!(after, before, "some command got a CROSSSLOT reply");
}

/// What the failover and migration tests run through the disruption: two workers, 300
/// dispatches and secret changes, all in the background.
struct Load {
    workers: Vec<Child>,
    dispatcher: tokio::task::JoinHandle<()>,
    rx: tokio::sync::mpsc::UnboundedReceiver<(u64, RunId)>,
    stop_changes: Arc<AtomicBool>,
    changes: tokio::task::JoinHandle<Vec<(SecretId, String)>>,
}

impl Load {
    /// Starts the load (`name` names its workflow, workers and secrets) and returns once
    /// the target has seen 60 runs.
    async fn start(s: &Setup, target: &Target, name: &'static str) -> Load {
        let workers: Vec<Child> = (0..2).map(|i| s.worker(&format!("{name}{i}"), 8)).collect();
        let (dispatcher, rx) = dispatch_in_background(s, &format!("wf-{name}"), 300);
        let stop_changes = Arc::new(AtomicBool::new(false));
        let changes = change_secrets_in_background(
            Arc::clone(&s.h.secrets),
            s.h.org.clone(),
            name,
            Arc::clone(&stop_changes),
        );
        let deadline = Instant::now() + Duration::from_secs(120);
        while target.distinct() < 60 {
            assert!(
                Instant::now() < deadline,
                "no progress before the disruption"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Load {
            workers,
            dispatcher,
            rx,
            stop_changes,
            changes,
        }
    }

    /// Waits for the rest of the load and asserts that every dispatch was acknowledged
    /// and ended once, and that every acknowledged secret change is there. The workers
    /// are left running.
    async fn assert_nothing_lost(&mut self, s: &Setup) {
        (&mut self.dispatcher).await.unwrap();
        self.stop_changes.store(true, Ordering::Relaxed);
        let acked = (&mut self.changes).await.unwrap();
        let mut ids = HashMap::new();
        while let Ok((n, id)) = self.rx.try_recv() {
            ids.insert(n, id);
        }
        assert_eq!(ids.len(), 300, "every dispatch was acknowledged in the end");
        assert_every_run_ended_once(s, &ids).await;
        assert!(!acked.is_empty(), "some secret changes were acknowledged");
        assert_every_secret_kept(&s.h, &acked).await;
    }

    fn stop(&mut self) {
        for w in &mut self.workers {
            stop(w);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_master_killed_under_load_loses_no_acknowledged_dispatch_or_secret_change() {
    let target = Target::start(Duration::from_millis(5)).await;
    let mut s = Setup::start_on(Kind::Cluster, &target).await;
    let mut load = Load::start(&s, &target, "failover").await;
    // The master of the org's slot: its secrets, its runs and their events.
    let cluster = s.h.cluster.as_mut().unwrap();
    let victim = cluster.master_of(&format!("hush:{{{}}}:ver", s.h.org));
    cluster.kill(victim);
    let cluster = s.h.cluster.take().unwrap();
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.wait_failed_over(victim, 3);
        cluster
    })
    .await
    .unwrap();
    s.h.cluster = Some(cluster);
    load.assert_nothing_lost(&s).await;
    // hush goes on by itself: the same API process and workers run new dispatches, and a
    // change after the failover is kept too.
    let mut late_runs = HashMap::new();
    for n in 1000..1020 {
        late_runs.insert(n, s.dispatch(n, "wf-after-failover").await);
    }
    assert_every_run_ended_once(&s, &late_runs).await;
    let late =
        s.h.create("mia", team("after failover", "value-late-000001"))
            .await;
    assert_eq!(
        s.h.use_as("mia", &late.id).await.unwrap(),
        "value-late-000001"
    );
    load.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_orgs_slot_resharded_to_another_master_during_runs_loses_nothing() {
    let target = Target::start(Duration::from_millis(5)).await;
    let mut s = Setup::start_on(Kind::Cluster, &target).await;
    let mut load = Load::start(&s, &target, "migrate").await;
    let key = format!("hush:{{{}}}:ver", s.h.org);
    let cluster = s.h.cluster.take().unwrap();
    let (cluster, from, to) = tokio::task::spawn_blocking(move || {
        let slot = cluster.slot_of(&key);
        let from = cluster.master_of(&key);
        let to = *cluster.masters().iter().find(|p| **p != from).unwrap();
        let moved = cluster.reshard_through(slot, from, to);
        eprintln!("redis-cli --cluster reshard moved {moved} slot(s), the org's last");
        let now = cluster.master_of(&key);
        (cluster, from, now)
    })
    .await
    .unwrap();
    assert_ne!(from, to, "the org's slot moved to another master");
    s.h.cluster = Some(cluster);
    load.assert_nothing_lost(&s).await;
    load.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_the_number_of_partitions_strands_no_queued_run() {
    let target = Target::start(Duration::ZERO).await;
    let s = Setup::start_on(Kind::Cluster, &target).await;
    // Runs queued by a process with 12 partitions, then drained by workers with 2.
    let wide = RedisRuns::connect(&s.h.redis_url(), DEFAULT_RETENTION)
        .await
        .unwrap()
        .with_partitions(12);
    let mut ids = Vec::new();
    for n in 0..24 {
        ids.push(s.dispatch(n, "wf-narrow").await);
    }
    for id in &ids {
        wide.enqueue(&s.h.org, id).await.unwrap();
    }
    let spread: std::collections::HashSet<usize> = ids
        .iter()
        .map(|id| hush::runs::queue::partition_of(id, 12))
        .collect();
    assert!(
        spread.iter().any(|p| *p >= 2),
        "some runs were queued beyond partition 2"
    );
    let mut worker = s.worker_with("narrow", 4, &[("HUSH_QUEUE_PARTITIONS", "2")]);
    let ended = s.wait_all(&ids, Duration::from_secs(120)).await;
    assert!(ended.values().all(|r| r.status == RunStatus::Succeeded));
    assert!(ended.values().all(|r| r.attempts == 1), "{ended:#?}");
    assert!(target.hits.lock().unwrap().values().all(|&n| n == 1));
    stop(&mut worker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_with_a_user_and_password_works_with_them_in_the_url_and_never_shows_them() {
    const PASSWORD: &str = "pw-cluster-0123456789";
    let cluster = RedisCluster::start_with_user("hush-app", PASSWORD);
    let url = cluster.url();
    assert!(url.starts_with("redis+cluster://hush-app:pw-cluster-0123456789@"));
    // Without them, or with a wrong password, the store is refused, and no message holds
    // a password.
    let without = url.replace(&format!("hush-app:{PASSWORD}@"), "");
    let wrong = url.replace(PASSWORD, "not-the-password-42");
    for bad in [without, wrong] {
        let Err(err) = RedisBackend::connect(&bad).await else {
            panic!("connected to a cluster that needs a password without it");
        };
        assert_eq!(err.kind(), hush::error::ErrorKind::Unavailable, "{err}");
        for secret in [PASSWORD, "not-the-password-42"] {
            assert!(!err.message().contains(secret), "{err}");
        }
    }
    // With them, the hush binary and the stores work, and nothing they print holds it.
    let key = {
        use base64::Engine;
        let mut bytes = [0u8; 64];
        getrandom::fill(&mut bytes).unwrap();
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    let env = [
        ("HUSH_REDIS_URL", url.as_str()),
        ("HUSH_MASTER_KEY", key.as_str()),
    ];
    for args in [
        &["org", "create", "acme"][..],
        &["user", "add", "--org", "acme", "--role", "member", "mia"][..],
        &["user", "list", "--org", "acme"][..],
    ] {
        let out = common::run_hush(&env, args, b"", &[PASSWORD]);
        assert!(
            out.status.success(),
            "hush {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let runs = RedisRuns::connect(&url, DEFAULT_RETENTION).await.unwrap();
    let org = OrgId::parse("acme").unwrap();
    let backend = RedisBackend::connect(&url).await.unwrap();
    assert!(
        !backend.describe().contains(PASSWORD),
        "{}",
        backend.describe()
    );
    assert!(!runs.describe().contains(PASSWORD), "{}", runs.describe());
    let run = run_of(&org);
    runs.create(
        &run,
        &hush::runs::Pending {
            action: json!({}),
            inputs: json!({}),
        },
        None,
    )
    .await
    .unwrap();
    runs.enqueue(&org, &run.id).await.unwrap();
    assert!(runs.queue_len().await.unwrap() >= 1);
    assert_eq!(
        runs.get(&org, &run.id).await.unwrap().unwrap().status,
        RunStatus::Queued
    );
}

/// A queued run of `org` (nothing runs it here).
fn run_of(org: &OrgId) -> hush::runs::Run {
    hush::runs::Run::queued(
        org.clone(),
        user("mia"),
        hush::actions::ActionKind::SendApiRequest,
        "tok_test".into(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_url_naming_one_node_of_a_cluster_is_told_to_name_the_cluster() {
    let cluster = RedisCluster::start();
    let node = cluster.masters()[0];
    // An org whose keys another master serves, as in the issue.
    let org = (0..)
        .map(|i| format!("acme{i}"))
        .find(|org| cluster.master_of(&format!("hush:{{{org}}}:ver")) != node)
        .unwrap();
    let key = {
        use base64::Engine;
        let mut bytes = [0u8; 64];
        getrandom::fill(&mut bytes).unwrap();
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    let one_node = format!("redis://127.0.0.1:{node}/");
    let env = [
        ("HUSH_REDIS_URL", one_node.as_str()),
        ("HUSH_MASTER_KEY", key.as_str()),
    ];
    let out = common::run_hush(&env, &["org", "create", &org], b"", &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("redis+cluster://"), "{stderr}");
    // Named as a cluster, the same command works.
    let url = cluster.url();
    let env = [
        ("HUSH_REDIS_URL", url.as_str()),
        ("HUSH_MASTER_KEY", key.as_str()),
    ];
    let out = common::run_hush(&env, &["org", "create", &org], b"", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_works_for_one_redis_and_for_a_cluster_with_a_ca_the_process_trusts() {
    use common::redis_cluster::{Certs, spawn_tls_server};
    let dir = tempfile::tempdir().unwrap();
    let certs = Certs::make(dir.path());
    let ca = certs.ca.to_string_lossy().into_owned();
    let key = {
        use base64::Engine;
        let mut bytes = [0u8; 64];
        getrandom::fill(&mut bytes).unwrap();
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    let single_dir = dir.path().join("single");
    std::fs::create_dir(&single_dir).unwrap();
    let port = common::redis_server::free_port();
    let mut single = spawn_tls_server(port, &single_dir, &certs);
    let cluster = RedisCluster::start_tls(&certs);
    let single_url = format!("rediss://127.0.0.1:{port}/");
    let cluster_url = cluster.url();
    assert!(cluster_url.starts_with("rediss+cluster://"));
    for url in [single_url.as_str(), cluster_url.as_str()] {
        // Trusting the test CA (rustls reads SSL_CERT_FILE), every command works.
        let env = [
            ("HUSH_REDIS_URL", url),
            ("HUSH_MASTER_KEY", key.as_str()),
            ("SSL_CERT_FILE", ca.as_str()),
        ];
        for args in [
            &["org", "create", "acme"][..],
            &["user", "add", "--org", "acme", "--role", "member", "mia"][..],
        ] {
            let out = common::run_hush(&env, args, b"", &[]);
            assert!(
                out.status.success(),
                "hush {args:?} on {url}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let out = common::run_hush(
            &env,
            &[
                "secret",
                "create",
                "--org",
                "acme",
                "--as",
                "mia",
                "--name",
                "tls",
                "--value-stdin",
            ],
            b"value-over-tls-0001",
            &["value-over-tls-0001"],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = common::run_hush(&env, &["org", "list"], b"", &[]);
        assert!(String::from_utf8_lossy(&out.stdout).contains("acme"));
        // Not trusting it, nothing is sent: the server's certificate is refused.
        let untrusted = [("HUSH_REDIS_URL", url), ("HUSH_MASTER_KEY", key.as_str())];
        let out = common::run_hush(&untrusted, &["org", "list"], b"", &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains("unavailable"),
            "connected to {url} without trusting its CA: {stderr}"
        );
    }
    let _ = single.kill();
    let _ = single.wait();
}
