//! A real `redis-server` for tests and benchmarks: started on a free port in a temp dir,
//! with append-only persistence so a restart loses nothing, and killed when dropped (or
//! when the process that started it dies).
//!
//! `HUSH_TEST_REDIS_URL` points the shared server at an existing Redis instead.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A redis-server child process.
pub struct RedisServer {
    child: Option<Child>,
    durable: bool,
    port: u16,
    dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind an ephemeral port")
        .local_addr()
        .expect("local address")
        .port()
}

fn spawn(port: u16, dir: &std::path::Path, durable: bool) -> Child {
    let persistence: &[&str] = if durable {
        &["--appendonly", "yes", "--appendfsync", "always"]
    } else {
        &["--appendonly", "no"]
    };
    spawn_with(port, dir, persistence)
}

/// Starts `redis-server` on `port` with data in `dir` and `extra` settings, killed when
/// the thread that spawned it dies.
pub(crate) fn spawn_with(port: u16, dir: &std::path::Path, extra: &[&str]) -> Child {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new("redis-server");
    cmd.args([
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
    ])
    .args(extra)
    .arg("--dir")
    .arg(dir)
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    // SAFETY: prctl is async-signal-safe; it only asks the kernel to kill the server if
    // the thread that spawned it dies, so no test leaves a server behind.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    match cmd.spawn() {
        Ok(child) => child,
        Err(e) => panic!(
            "cannot start redis-server ({e}); install it (`apt-get install redis-server`) or run scripts/test, which does"
        ),
    }
}

pub(crate) fn wait_until_up(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
            if stream.write_all(b"PING\r\n").is_ok() {
                let mut buf = [0u8; 16];
                if let Ok(n) = stream.read(&mut buf)
                    && buf[..n].starts_with(b"+PONG")
                {
                    return;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "redis-server on port {port} did not come up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl RedisServer {
    /// Starts a private server (for tests that stop and restart it).
    ///
    /// The spawn happens on a thread that lives as long as the process, because the
    /// parent-death signal fires when the spawning *thread* exits.
    pub fn start() -> RedisServer {
        Self::start_with(true)
    }

    /// Starts a private server that keeps nothing on disk (for benchmarks, where an
    /// fsync per write would measure the disk).
    pub fn start_in_memory() -> RedisServer {
        Self::start_with(false)
    }

    fn start_with(durable: bool) -> RedisServer {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path().to_owned();
        let port = free_port();
        let child = spawn_on_keeper_thread(port, dir.clone(), durable);
        wait_until_up(port);
        RedisServer {
            child: Some(child),
            durable,
            port,
            dir,
            _temp: Some(temp),
        }
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The data directory (holds the append-only file).
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Kills the server (SIGKILL: no chance to save anything beyond the fsynced AOF).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and data.
    pub fn restart(&mut self) {
        self.stop();
        self.child = Some(spawn_on_keeper_thread(
            self.port,
            self.dir.clone(),
            self.durable,
        ));
        wait_until_up(self.port);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn spawn_on_keeper_thread(port: u16, dir: PathBuf, durable: bool) -> Child {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        tx.send(spawn(port, &dir, durable)).expect("send child");
        loop {
            std::thread::park();
        }
    });
    rx.recv().expect("redis-server spawned")
}

/// The URL of a server shared by every test in this process: `HUSH_TEST_REDIS_URL`, or
/// one started on first use.
pub fn shared_url() -> String {
    static SHARED: OnceLock<String> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            if let Ok(url) = std::env::var("HUSH_TEST_REDIS_URL") {
                return url;
            }
            let server = Box::leak(Box::new(RedisServer::start()));
            server.url()
        })
        .clone()
}
