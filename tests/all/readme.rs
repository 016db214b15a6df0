//! The README as a new user reads it: every ```sh block, in order, in one bash shell
//! (`set -euo pipefail`), on a fresh data directory and a fresh redis-server, against a
//! real echo target on 127.0.0.1. A block is skipped only when the line before it is a
//! `<!-- readme-test: skip (why) -->` comment.
//!
//! What the test provides is what the README asks the reader to provide: `STRIPE_KEY`,
//! `NEW_STRIPE_KEY` and `API` (the target) in the environment, `hush` on the PATH; and it
//! puts its own free ports where the README names the defaults (`127.0.0.1:8080` for
//! `hush serve`, `redis://127.0.0.1:6379/0` for Redis, ports 7101–7106 and
//! `/tmp/hush-cluster` for the Redis Cluster section's nodes). The shell runs in a scratch copy
//! of the repository's top level (links to it), so the files the blocks write stay out of
//! the repository; `cargo` there builds into its own target directory, since the one
//! running this test is locked.

use crate::common;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

const STRIPE_KEY: &str = "sk_test_readme_4eC39HqLyjWDarjtT1zdp7dc";
const NEW_STRIPE_KEY: &str = "sk_test_readme_new_9fKq02LmZxP7rT";

const SKIP: &str = "<!-- readme-test: skip";

/// One ```sh block of the README: its first line number and its text.
struct Block {
    line: usize,
    text: String,
}

/// The README's shell blocks that are not marked as skipped, in order.
fn runnable_blocks(readme: &str) -> Vec<Block> {
    let lines: Vec<&str> = readme.lines().collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim_end() == "```sh" {
            let previous = lines[..i].iter().rev().find(|l| !l.trim().is_empty());
            let skipped = previous.is_some_and(|l| l.trim_start().starts_with(SKIP));
            let start = i + 1;
            let mut end = start;
            while lines[end].trim_end() != "```" {
                end += 1;
            }
            if !skipped {
                blocks.push(Block {
                    line: start + 1,
                    text: lines[start..end].join("\n"),
                });
            }
            i = end;
        }
        i += 1;
    }
    blocks
}

/// What the echo target received: method, path, the `customer` query value, and whether
/// the Authorization header was `Bearer <STRIPE_KEY>` (the value itself is not kept).
type Seen = Arc<Mutex<Vec<(String, String, Option<String>, bool)>>>;

/// A real HTTP target on 127.0.0.1 that echoes each request as JSON (like
/// `examples/echo-target.rs`) and records what it saw.
fn echo_target() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let app = axum::Router::new().fallback(move |req: axum::extract::Request| async move {
                let auth = req
                    .headers()
                    .get("authorization")
                    .map(|v| v.to_str().unwrap_or_default().to_owned());
                let customer = req.uri().query().and_then(|q| {
                    url::form_urlencoded::parse(q.as_bytes())
                        .find(|(k, _)| k == "customer")
                        .map(|(_, v)| v.into_owned())
                });
                log.lock().unwrap().push((
                    req.method().to_string(),
                    req.uri().path().to_owned(),
                    customer,
                    auth.as_deref() == Some(&format!("Bearer {STRIPE_KEY}")),
                ));
                axum::Json(json!({"method": req.method().as_str(), "authorization": auth}))
            });
            axum::serve(listener, app).await.unwrap();
        });
    });
    (format!("http://{addr}"), seen)
}

fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// A scratch directory whose entries link to the repository's top level, so `actions/`,
/// `Cargo.toml` and the workspace are where the README expects them.
fn scratch_checkout(repo: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(repo).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "target" || name == ".git" {
            continue;
        }
        std::os::unix::fs::symlink(entry.path(), dir.path().join(&name)).unwrap();
    }
    dir
}

/// The target directory this test binary was built in (`…/target/debug/deps/readme-…`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_path_buf()
}

#[test]
fn every_readme_shell_block_runs_in_order_and_succeeds() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let redis = common::redis_server::RedisServer::start();
    let listen = free_addr();
    let cluster_dir = tempfile::tempdir().unwrap();
    let mut substitutions = vec![
        ("redis://127.0.0.1:6379/0", redis.url()),
        ("127.0.0.1:8080", listen.clone()),
        (
            "/tmp/hush-cluster",
            cluster_dir.path().to_string_lossy().into_owned(),
        ),
    ];
    // The Redis Cluster section's nodes, on free ports (each with its bus port free).
    let mut cluster_ports = Vec::new();
    for port in ["7101", "7102", "7103", "7104", "7105", "7106"] {
        let free = common::redis_cluster::cluster_port(&cluster_ports);
        cluster_ports.push(free);
        substitutions.push((port, free.to_string()));
    }
    for (from, _) in &substitutions {
        assert!(
            readme.contains(from),
            "the README no longer names {from}; update this test's substitutions"
        );
    }

    let blocks = runnable_blocks(&readme);
    assert!(
        blocks.len() >= 6,
        "expected the README's runnable blocks, found {}",
        blocks.len()
    );
    let mut script = String::from("set -euo pipefail\n");
    for (n, block) in blocks.iter().enumerate() {
        let mut text = block.text.clone();
        // Through placeholders, so that no substitute is itself substituted (a free port
        // may hold "7101").
        for (i, (from, _)) in substitutions.iter().enumerate() {
            text = text.replace(from, &format!("\u{1}{i}\u{1}"));
        }
        for (i, (_, to)) in substitutions.iter().enumerate() {
            text = text.replace(&format!("\u{1}{i}\u{1}"), to);
        }
        script.push_str(&format!(
            "echo '### README block {n} (line {})' >&2\n{text}\necho '### README block {n} done' >&2\n",
            block.line
        ));
    }

    let (api, seen) = echo_target();
    let checkout = scratch_checkout(repo);
    let work = checkout.path();
    let bin = work.join(".bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_hush"), bin.join("hush")).unwrap();
    let script_path = work.join(".readme.sh");
    std::fs::write(&script_path, &script).unwrap();
    // The output goes to a file, not a pipe: `hush serve &` outlives the shell and would
    // hold a pipe open.
    let log_path = work.join(".readme.log");
    let log = std::fs::File::create(&log_path).unwrap();

    let mut cmd = Command::new("bash");
    cmd.arg(&script_path)
        .current_dir(work)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .process_group(0);
    for (name, _) in std::env::vars() {
        // cargo test's own variables (CARGO_MANIFEST_DIR, CARGO_TARGET_DIR, …) are not the
        // reader's; CARGO_HOME is where their toolchain's registry lives.
        let cargo_own = name.starts_with("CARGO_") && name != "CARGO_HOME";
        if name.starts_with("HUSH_") || name == "RUST_LOG" || cargo_own {
            cmd.env_remove(name);
        }
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    cmd.env("PATH", path)
        .env("HUSH_DATA_DIR", work.join(".data"))
        .env("CARGO_TARGET_DIR", target_dir().join("readme-test"))
        .env("STRIPE_KEY", STRIPE_KEY)
        .env("NEW_STRIPE_KEY", NEW_STRIPE_KEY)
        .env("API", &api);
    let mut child = cmd.spawn().unwrap();
    let pgid = child.id() as i32;
    // A guard against a hang (a block waiting forever), not a timing assertion: the first
    // run builds a guest component in release mode.
    let deadline = Instant::now() + Duration::from_secs(1200);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // SAFETY: kill(2) on the process group this test started (the shell and `hush serve`).
    unsafe {
        libc::kill(-pgid, libc::SIGTERM);
    }
    let _ = child.wait();
    // The Redis Cluster section's nodes (a replica may outlive SIGTERM): stopped by port.
    for port in &cluster_ports {
        let _ = Command::new("redis-cli")
            .args(["-p", &port.to_string(), "shutdown", "nosave"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    let mut output = String::new();
    std::fs::File::open(&log_path)
        .unwrap()
        .read_to_string(&mut output)
        .unwrap();
    // Shown with --nocapture: what a reader running the blocks would see.
    println!("{output}");
    let status = status.unwrap_or_else(|| panic!("the README's blocks hung:\n{output}"));
    assert!(
        status.success(),
        "a README block failed ({status}):\n{output}"
    );
    for n in 0..blocks.len() {
        assert!(
            output.contains(&format!("### README block {n} done")),
            "block {n} did not finish:\n{output}"
        );
    }
    common::assert_no_value_in(
        "the README blocks' output",
        output.as_bytes(),
        &[STRIPE_KEY, NEW_STRIPE_KEY],
    );
    assert!(
        output.contains("[REDACTED:"),
        "the echoed secret shows redacted in a run record:\n{output}"
    );
    // hush serve logs one INFO line per run it ran (the queued one, the wait=true one).
    assert_eq!(
        output.matches("INFO hush::runs::worker: run ended").count(),
        2,
        "one log line per run:\n{output}"
    );

    // The target got exactly the README's requests: two CLI runs, the queued run and the
    // saved action dispatched with wait=true, each charge with the secret's value.
    let seen = seen.lock().unwrap().clone();
    let expected = vec![
        ("POST", "/v1/charges", Some("cus_1"), true),
        ("POST", "/v1/charges", Some("cus_2"), true),
        ("GET", "/", None, false),
        ("POST", "/v1/charges", Some("cus_3"), true),
    ];
    let seen: Vec<(&str, &str, Option<&str>, bool)> = seen
        .iter()
        .map(|(m, p, c, a)| (m.as_str(), p.as_str(), c.as_deref(), *a))
        .collect();
    assert_eq!(seen, expected, "what the target received\n{output}");
}
