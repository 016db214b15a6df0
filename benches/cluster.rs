//! Benchmarks of hush on a real Redis Cluster (3 masters, each with a replica, started
//! here) against one redis-server, both keeping nothing on disk:
//! - the same queued runs (10,000; 2,000 with `--quick`) drained by the same number of
//!   `hush worker` processes (the release binary) from the cluster and from one Redis;
//! - a resolve of one secret on the cluster against a raw GET of its ciphertext's bytes
//!   through a cluster connection.
//!
//! On one machine the cluster's nodes share its cores with the workers, so the cluster is
//! not expected to be faster: the figures show what running on it costs. It only measures;
//! it never asserts a figure.

mod support;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hush::directory::{Directory, Role};
use hush::executor::RunStatus;
use hush::model::{OrgId, RunId, UserId};
use hush::runs::redis::RedisRuns;
use hush::runs::{DEFAULT_RETENTION, Pending, Run, RunStore};
use hush::secrets::{Access, Keyring, NewSecret, SecretStore, SecretValue};
use hush::store::{Backend, RedisBackend, RedisConn};
use redis::AsyncCommands;
use serde_json::json;
use support::{count, interleaved, median, ratio, show};

const VALUE: &str = "sk_live_bench_cluster_0123456789abcdef";
const WORKERS: usize = 2;
const CONCURRENCY: usize = 64;

/// Org `bench` with member `mia` and one team secret, on the Redis at `url`.
struct Setup {
    backend: Arc<dyn Backend>,
    secrets: Arc<SecretStore>,
    key_dir: tempfile::TempDir,
    org: OrgId,
    mia: UserId,
    secret: hush::secrets::SecretMeta,
}

async fn setup(url: &str) -> Setup {
    let backend: Arc<dyn Backend> = Arc::new(RedisBackend::connect(url).await.unwrap());
    let key_dir = tempfile::tempdir().unwrap();
    let secrets = Arc::new(SecretStore::new(
        Arc::clone(&backend),
        Keyring::generate_file(&key_dir.path().join("master.key")).unwrap(),
    ));
    let org = OrgId::parse("bench").unwrap();
    let mia = UserId::parse("mia").unwrap();
    let directory = Directory::new(Arc::clone(&backend));
    directory.create_org(&org).await.unwrap();
    directory.add_user(&org, &mia, Role::Member).await.unwrap();
    let secret = secrets
        .create(
            &org,
            &mia,
            NewSecret {
                name: "Stripe".into(),
                value: SecretValue::new(VALUE).unwrap(),
                access: Access::Team,
                grants: vec![],
                allowed_hosts: vec![],
                description: None,
            },
        )
        .await
        .unwrap();
    Setup {
        backend,
        secrets,
        key_dir,
        org,
        mia,
        secret,
    }
}

fn worker(url: &str, s: &Setup, data: &std::path::Path, name: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_hush"))
        .arg("worker")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HUSH_REDIS_URL", url)
        .env("HUSH_MASTER_KEY_FILE", s.key_dir.path().join("master.key"))
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

/// Stores `total` queued runs (untimed), starts [`WORKERS`] workers and waits until each
/// is connected, then queues every run at once and times until every run reached the
/// target and every entry is acknowledged. Returns the time per run.
async fn drain(url: &str, s: &Setup, target: &str, hits: &AtomicUsize, total: usize) -> Duration {
    let runs = RedisRuns::connect(url, DEFAULT_RETENTION).await.unwrap();
    let spec = json!({
        "kind": "send_api_request", "name": "Create charge", "method": "POST", "url": target,
        "headers": [{"name": "Authorization", "value": format!("Bearer {{{{secret \"{}\"}}}}", s.secret.id)}],
        "body": {"type": "json", "value": {"amount": "{{inputs.amount}}"}},
    });
    let mut ids: Vec<RunId> = Vec::with_capacity(total);
    for chunk in 0..total.div_ceil(256) {
        let n = 256.min(total - chunk * 256);
        let creates = (0..n).map(|_| {
            let run = Run::queued(
                s.org.clone(),
                s.mia.clone(),
                hush::actions::ActionKind::SendApiRequest,
                "bench".into(),
            );
            let pending = Pending {
                action: spec.clone(),
                inputs: json!({"amount": "1999"}),
            };
            let runs = runs.clone();
            async move {
                runs.create(&run, &pending, None).await.unwrap();
                run.id
            }
        });
        ids.extend(futures::future::join_all(creates).await);
    }
    let data = tempfile::tempdir().unwrap();
    let mut children: Vec<Child> = (0..WORKERS)
        .map(|i| worker(url, s, data.path(), &format!("bench-cluster-{i}")))
        .collect();
    for child in &mut children {
        use std::io::BufRead;
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.contains("draining"), "{line}");
    }
    let before = hits.load(Ordering::Relaxed);
    let started = Instant::now();
    runs.enqueue_many(&s.org, &ids).await.unwrap();
    let mut conn = RedisConn::open(url).await.unwrap();
    loop {
        if hits.load(Ordering::Relaxed) - before >= total {
            let mut pending = 0;
            for stream in runs.streams().await.unwrap() {
                let reply: redis::streams::StreamPendingReply = conn
                    .xpending(&stream, hush::runs::queue::GROUP)
                    .await
                    .unwrap();
                pending += reply.count();
            }
            if pending == 0 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    for child in &mut children {
        let _ = child.kill();
        let _ = child.wait();
    }
    assert_eq!(hits.load(Ordering::Relaxed) - before, total);
    for id in ids.iter().step_by(97) {
        let run = runs.get(&s.org, id).await.unwrap().unwrap();
        assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    }
    println!(
        "{} ({} partition(s)): {WORKERS} worker process(es) drained {total} queued runs in {} ({:.0} runs/s)",
        if url.contains("+cluster") {
            "3-master cluster"
        } else {
            "one Redis"
        },
        runs.partitions(),
        show(elapsed),
        total as f64 / elapsed.as_secs_f64()
    );
    elapsed / u32::try_from(total).unwrap()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let single = support::redis_server::RedisServer::start_in_memory();
    let cluster = support::redis_cluster::RedisCluster::start_in_memory();
    let hits = Arc::new(AtomicUsize::new(0));
    let target = support::charges_target(Arc::clone(&hits)).await;
    let total = count(2_000, 10_000);

    // 1. The same queued runs drained from one Redis and from the cluster.
    let on_single = setup(&single.url()).await;
    let single_per_run = drain(&single.url(), &on_single, &target, &hits, total).await;
    on_single.secrets.flush().await;
    drop(single);
    let on_cluster = setup(&cluster.url()).await;
    let cluster_per_run = drain(&cluster.url(), &on_cluster, &target, &hits, total).await;
    ratio(
        "queue-drain-cluster-vs-single",
        cluster_per_run,
        single_per_run,
    );

    // 2. A resolve on the cluster against a raw GET through a cluster connection.
    let mut raw = RedisConn::open(&cluster.url()).await.unwrap();
    let ciphertext: Vec<u8> = raw
        .hget(
            format!("hush:{{{}}}:ct", on_cluster.org),
            on_cluster.secret.id.as_str(),
        )
        .await
        .unwrap();
    let _: () = raw.set("bench:raw", &ciphertext).await.unwrap();
    let raw_len = ciphertext.len();
    let run = RunId::parse("bench-run").unwrap();
    let wanted = std::slice::from_ref(&on_cluster.secret.id);
    let (secrets, org, mia) = (&on_cluster.secrets, &on_cluster.org, &on_cluster.mia);
    let _ = &on_cluster.backend;
    let (mut ours, mut base) = interleaved(
        count(10, 40),
        count(200, 500),
        || async {
            let got = secrets.resolve(org, mia, wanted, &run).await.unwrap();
            assert_eq!(got.len(), 1);
        },
        || {
            let mut conn = raw.clone();
            async move {
                let bytes: Vec<u8> = conn.get("bench:raw").await.unwrap();
                assert_eq!(bytes.len(), raw_len);
            }
        },
    )
    .await;
    println!(
        "resolve-1-secret on the cluster: p50 {} (raw GET through a cluster connection p50 {})",
        show(median(&mut ours)),
        show(median(&mut base))
    );
    ratio(
        "resolve-1-secret-cluster",
        median(&mut ours),
        median(&mut base),
    );
    on_cluster.secrets.flush().await;
}
