//! A small timing harness shared by hush's benchmarks: interleaved rounds of ours and the
//! baseline, medians, and the `ratio <figure> = <x>  (<ours> vs <baseline>)` summary
//! lines that `scripts/bench` collects.

#![allow(dead_code)]

#[path = "../../tests/common/redis_cluster.rs"]
pub mod redis_cluster;
#[path = "../../tests/common/redis_server.rs"]
pub mod redis_server;

use std::sync::Arc;
use std::time::{Duration, Instant};

/// The allocator the `hush` binary uses (src/main.rs), so that what runs in a bench's own
/// process (our side and the baselines alike) allocates as `hush serve` does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `HUSH_BENCH_QUICK=1` (set by `scripts/bench --quick`) shortens every benchmark.
pub fn quick() -> bool {
    std::env::var("HUSH_BENCH_QUICK").is_ok_and(|v| v == "1")
}

/// Picks the quick or the full count.
pub fn count(quick_count: usize, full_count: usize) -> usize {
    if quick() { quick_count } else { full_count }
}

/// The median of `samples`.
pub fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// The `p`-th percentile (0–100) of `samples`.
pub fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let rank = ((samples.len() as f64 - 1.0) * p / 100.0).round() as usize;
    samples[rank.min(samples.len() - 1)]
}

/// Formats a duration with a unit that suits it.
pub fn show(d: Duration) -> String {
    let ns = d.as_nanos() as f64;
    if ns < 1_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.1} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

/// Prints one summary line; `ours` and `baseline` are times per operation.
pub fn ratio(figure: &str, ours: Duration, baseline: Duration) {
    let x = ours.as_secs_f64() / baseline.as_secs_f64();
    println!(
        "ratio {figure} = {x:.3}  ({} vs {})",
        show(ours),
        show(baseline)
    );
}

/// Per-operation latency samples of two async operations, measured in interleaved
/// rounds so that machine noise hits both alike. Returns `(ours, baseline)` samples.
pub async fn interleaved<A, AF, B, BF>(
    rounds: usize,
    per_round: usize,
    mut ours: A,
    mut baseline: B,
) -> (Vec<Duration>, Vec<Duration>)
where
    A: FnMut() -> AF,
    AF: std::future::Future<Output = ()>,
    B: FnMut() -> BF,
    BF: std::future::Future<Output = ()>,
{
    let mut a = Vec::with_capacity(rounds * per_round);
    let mut b = Vec::with_capacity(rounds * per_round);
    for _ in 0..per_round {
        ours().await;
        baseline().await;
    }
    for _ in 0..rounds {
        for _ in 0..per_round {
            let t = Instant::now();
            baseline().await;
            b.push(t.elapsed());
        }
        for _ in 0..per_round {
            let t = Instant::now();
            ours().await;
            a.push(t.elapsed());
        }
    }
    (a, b)
}

/// Runs `total` operations over `concurrency` tasks and returns the time per operation.
pub async fn per_op_at<F, Fut>(total: usize, concurrency: usize, op: F) -> Duration
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|w| {
            let op = Arc::clone(&op);
            tokio::spawn(async move {
                let mut i = w;
                while i < total {
                    op().await;
                    i += concurrency;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    started.elapsed() / total as u32
}

/// What the end-to-end benchmarks share: a private in-memory redis-server, the Redis
/// store kept coherent (as `hush serve` keeps it), a secret store with a fresh key file, and org `bench` with member `mia` and one
/// team secret.
pub struct Fixture {
    /// The redis-server (stopped when dropped).
    pub server: redis_server::RedisServer,
    /// The store over it.
    pub backend: Arc<dyn hush::store::Backend>,
    /// The secret store.
    pub secrets: Arc<hush::secrets::SecretStore>,
    /// Holds the master key file.
    pub key_dir: tempfile::TempDir,
    /// `bench`.
    pub org: hush::model::OrgId,
    /// `mia`, a member.
    pub mia: hush::model::UserId,
    /// The team secret.
    pub secret: hush::secrets::SecretMeta,
}

impl Fixture {
    /// Starts the server and creates the org, the member and the secret `name` = `value`.
    pub async fn start(name: &str, value: &str) -> Fixture {
        use hush::directory::{Directory, Role};
        use hush::secrets::{Access, Keyring, NewSecret, SecretStore, SecretValue};
        let server = redis_server::RedisServer::start_in_memory();
        // As `hush serve` holds it: coherent, so reads of unchanged data ask Redis nothing.
        let redis = hush::store::RedisBackend::connect(&server.url())
            .await
            .unwrap();
        redis.keep_coherent();
        while !redis.is_coherent() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let backend: Arc<dyn hush::store::Backend> = Arc::new(redis);
        let key_dir = tempfile::tempdir().unwrap();
        let secrets = Arc::new(SecretStore::new(
            Arc::clone(&backend),
            Keyring::generate_file(&key_dir.path().join("master.key")).unwrap(),
        ));
        let org = hush::model::OrgId::parse("bench").unwrap();
        let mia = hush::model::UserId::parse("mia").unwrap();
        let directory = Directory::new(Arc::clone(&backend));
        directory.create_org(&org).await.unwrap();
        directory.add_user(&org, &mia, Role::Member).await.unwrap();
        let secret = secrets
            .create(
                &org,
                &mia,
                NewSecret {
                    name: name.into(),
                    value: SecretValue::new(value).unwrap(),
                    access: Access::Team,
                    grants: vec![],
                    allowed_hosts: vec![],
                    description: None,
                },
            )
            .await
            .unwrap();
        Fixture {
            server,
            backend,
            secrets,
            key_dir,
            org,
            mia,
            secret,
        }
    }
}

/// Counts what Redis is asked while it runs, from `redis-cli monitor`: every command, and
/// round trips (a MULTI…EXEC block is one; a command a Lua script runs is none, the
/// script's EVALSHA is one). Commands named in `ignore` (the bench's own polling) are
/// left out.
pub struct Monitor {
    child: std::process::Child,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// What a [`Monitor`] saw.
#[derive(Debug, Default)]
pub struct Traffic {
    pub commands: usize,
    pub round_trips: usize,
}

impl Monitor {
    /// Starts `redis-cli -u url monitor` and waits until it is attached.
    pub fn start(url: &str) -> Monitor {
        use std::io::BufRead;
        let mut child = std::process::Command::new("redis-cli")
            .args(["-u", url, "monitor"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("redis-cli (installed with redis-server)");
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        assert!(first.trim() == "OK", "redis-cli monitor: {first}");
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = std::sync::Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in out.lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        Monitor { child, lines }
    }

    /// Stops watching and counts, leaving out commands named in `ignore`.
    pub fn stop(mut self, ignore: &[&str]) -> Traffic {
        std::thread::sleep(Duration::from_millis(200));
        let _ = self.child.kill();
        let _ = self.child.wait();
        let lines = self.lines.lock().unwrap();
        let mut traffic = Traffic::default();
        let mut in_multi = std::collections::HashSet::new();
        for line in lines.iter() {
            // `<time> [<db> <client>] "CMD" …`
            let Some((client, rest)) = line
                .split_once(" [")
                .and_then(|(_, r)| r.split_once("] "))
                .map(|(c, r)| (c.split_whitespace().nth(1).unwrap_or("").to_owned(), r))
            else {
                continue;
            };
            let command = rest
                .trim_start_matches('"')
                .split('"')
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            if ignore.contains(&command.as_str()) {
                continue;
            }
            match command.as_str() {
                "MULTI" => {
                    in_multi.insert(client);
                }
                "EXEC" => {
                    in_multi.remove(&client);
                    traffic.round_trips += 1;
                }
                _ => {
                    traffic.commands += 1;
                    if client != "lua" && !in_multi.contains(&client) {
                        traffic.round_trips += 1;
                    }
                }
            }
        }
        traffic
    }
}

/// A local `POST /v1/charges` target answering `{"id": "ch_1", "ok": true}` and counting
/// its requests in `hits`; returns its URL.
pub async fn charges_target(hits: Arc<std::sync::atomic::AtomicUsize>) -> String {
    let app = axum::Router::new().route(
        "/v1/charges",
        axum::routing::post(move || {
            hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            async { axum::Json(serde_json::json!({"id": "ch_1", "ok": true})) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v1/charges")
}

/// CPU time process `pid` has used so far (user + system, from `/proc/<pid>/stat`, in
/// clock ticks of 10 ms), for the benches' "where the time goes" lines.
#[allow(dead_code)]
pub fn cpu_of(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which may hold spaces): state is the first,
    // utime the 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<u64> = rest
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let ticks = fields.get(10).copied().unwrap_or(0) + fields.get(11).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// CPU time the redis-server at `url` has used so far (`INFO cpu`, in µs).
#[allow(dead_code)]
pub async fn redis_cpu(url: &str) -> Duration {
    let info = redis_info(url, "cpu").await;
    let secs: f64 = info
        .lines()
        .filter(|l| l.starts_with("used_cpu_sys:") || l.starts_with("used_cpu_user:"))
        .filter_map(|l| {
            l.split_once(':')
                .and_then(|(_, v)| v.trim().parse::<f64>().ok())
        })
        .sum();
    Duration::from_secs_f64(secs)
}

/// Redis's time in each command so far, from `INFO commandstats`: name → (calls, µs).
/// A script's own commands are counted both under its EVALSHA and under their names.
pub async fn redis_commands(url: &str) -> std::collections::BTreeMap<String, (u64, u64)> {
    redis_info(url, "commandstats")
        .await
        .lines()
        .filter_map(|l| {
            let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
            let field = |key: &str| {
                rest.split(',')
                    .find_map(|kv| kv.strip_prefix(key))
                    .and_then(|v| v.parse::<u64>().ok())
            };
            Some((name.to_owned(), (field("calls=")?, field("usec=")?)))
        })
        .collect()
}

/// The commands Redis spent most time in between `before` and `after`, per `runs`: a line
/// such as `evalsha 1.0 calls 20.1 µs, xadd 2.0 calls 3.2 µs, …`.
pub fn top_commands(
    before: &std::collections::BTreeMap<String, (u64, u64)>,
    after: &std::collections::BTreeMap<String, (u64, u64)>,
    runs: usize,
    top: usize,
) -> String {
    let mut spent: Vec<(&String, u64, u64)> = after
        .iter()
        .map(|(name, (calls, usec))| {
            let (c0, u0) = before.get(name).copied().unwrap_or((0, 0));
            (name, calls.saturating_sub(c0), usec.saturating_sub(u0))
        })
        .filter(|(_, calls, _)| *calls > 0)
        .collect();
    spent.sort_by_key(|s| std::cmp::Reverse(s.2));
    spent
        .iter()
        .take(top)
        .map(|(name, calls, usec)| {
            format!(
                "{name} {:.1} calls {:.1} µs",
                *calls as f64 / runs as f64,
                *usec as f64 / runs as f64
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Redis's `INFO <section>`.
async fn redis_info(url: &str, section: &str) -> String {
    let mut conn = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    redis::cmd("INFO")
        .arg(section)
        .query_async(&mut conn)
        .await
        .unwrap()
}
