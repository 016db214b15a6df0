//! A real Redis Cluster for tests and benchmarks: `redis-server --cluster-enabled yes`
//! nodes on free loopback ports in a temp dir, joined by `redis-cli --cluster create`
//! (3 masters, each with a replica by default, `cluster-node-timeout` 1000 ms, append-only
//! files fsynced every second, a directory per node), every node
//! killed when the cluster is dropped (or when the process that started it dies). It owns
//! starting, killing and inspecting those nodes; it never holds a secret value.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::redis_server::{free_port, spawn_with, wait_until_up};

/// The cluster's node timeout: a master down this long is failed over.
pub const NODE_TIMEOUT_MS: u64 = 1000;

/// One node: its port and process (none once killed).
struct Node {
    port: u16,
    child: Option<Child>,
}

/// A running cluster.
pub struct RedisCluster {
    nodes: Vec<Node>,
    dir: PathBuf,
    /// The ACL user and password every client must give, when the cluster has one.
    auth: Option<(String, String)>,
    /// The certificates of a cluster that speaks only TLS.
    tls: Option<Certs>,
    _temp: tempfile::TempDir,
}

/// A port whose cluster bus port (port + 10000) is free too, and neither of which is one
/// of the `taken` ports or their bus ports.
pub fn cluster_port(taken: &[u16]) -> u16 {
    loop {
        let port = free_port();
        let clash = taken
            .iter()
            .any(|&t| port == t || port == t + 10_000 || port + 10_000 == t);
        if port < 55_000
            && !clash
            && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok()
        {
            return port;
        }
    }
}

/// `redis-cli` with `args`; its standard output (fails the test when it fails).
pub fn redis_cli(args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(args)
        .output()
        .expect("redis-cli runs (apt-get install redis-tools)");
    assert!(
        out.status.success(),
        "redis-cli {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn spawn_node(
    port: u16,
    dir: &std::path::Path,
    durable: bool,
    auth: Option<(String, String)>,
    tls: Option<Certs>,
) -> Child {
    let (tx, rx) = std::sync::mpsc::channel();
    // A directory per node: each keeps its own append-only files and cluster config.
    let dir = dir.join(port.to_string());
    std::fs::create_dir_all(&dir).expect("node dir");
    // The parent-death signal fires when the spawning thread exits: spawn on a thread
    // that lives as long as the process.
    std::thread::spawn(move || {
        let conf = format!("nodes-{port}.conf");
        let timeout = NODE_TIMEOUT_MS.to_string();
        // With a user: the default user off, the user allowed everything, and replicas
        // authenticating to their master as it.
        let acl: Vec<String> = match &auth {
            Some((user, password)) => [
                "--user",
                "default",
                "off",
                "--user",
                user,
                "on",
                &format!(">{password}"),
                "~*",
                "&*",
                "+@all",
                "--masteruser",
                user,
                "--masterauth",
                password,
            ]
            .iter()
            .map(|a| (*a).to_owned())
            .collect(),
            None => Vec::new(),
        };
        let mut args: Vec<&str> = acl.iter().map(String::as_str).collect();
        let tls_args = tls
            .as_ref()
            .map(|c| c.server_args(port))
            .unwrap_or_default();
        args.extend(tls_args.iter().map(String::as_str));
        if tls.is_some() {
            args.extend(["--tls-cluster", "yes", "--tls-replication", "yes"]);
        }
        args.extend([
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            &conf,
            "--cluster-node-timeout",
            &timeout,
            "--appendonly",
            if durable { "yes" } else { "no" },
            "--appendfsync",
            "everysec",
        ]);
        tx.send(spawn_with(port, &dir, &args)).expect("send child");
        loop {
            std::thread::park();
        }
    });
    rx.recv().expect("redis-server spawned")
}

impl RedisCluster {
    /// Starts 3 masters, each with one replica.
    pub fn start() -> RedisCluster {
        Self::start_with(3, 1)
    }

    /// Starts `masters` masters with `replicas` replicas each, and waits until every node
    /// says the cluster is ok and every replica is in sync.
    pub fn start_with(masters: usize, replicas: usize) -> RedisCluster {
        Self::start_nodes(masters, replicas, true, None, None)
    }

    /// 3 masters, each with one replica, speaking only TLS (clients, the cluster bus and
    /// replication) with the server certificate of `certs`.
    pub fn start_tls(certs: &Certs) -> RedisCluster {
        Self::start_nodes(3, 1, true, None, Some(certs.clone()))
    }

    /// 3 masters, each with one replica, where the default user is off and only `user`
    /// with `password` may connect.
    pub fn start_with_user(user: &str, password: &str) -> RedisCluster {
        Self::start_nodes(
            3,
            1,
            true,
            Some((user.to_owned(), password.to_owned())),
            None,
        )
    }

    /// 3 masters, each with one replica, keeping nothing on disk (for benchmarks, as
    /// [`super::redis_server::RedisServer::start_in_memory`]).
    pub fn start_in_memory() -> RedisCluster {
        Self::start_nodes(3, 1, false, None, None)
    }

    fn start_nodes(
        masters: usize,
        replicas: usize,
        durable: bool,
        auth: Option<(String, String)>,
        tls: Option<Certs>,
    ) -> RedisCluster {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path().to_owned();
        let mut ports = Vec::new();
        for _ in 0..masters * (1 + replicas) {
            ports.push(cluster_port(&ports));
        }
        let nodes: Vec<Node> = ports
            .iter()
            .map(|&port| Node {
                port,
                child: Some(spawn_node(port, &dir, durable, auth.clone(), tls.clone())),
            })
            .collect();
        for node in &nodes {
            if auth.is_none() && tls.is_none() {
                wait_until_up(node.port);
            }
        }
        let cluster = RedisCluster {
            nodes,
            dir,
            auth,
            tls,
            _temp: temp,
        };
        if cluster.auth.is_some() || cluster.tls.is_some() {
            let deadline = Instant::now() + Duration::from_secs(10);
            for port in cluster.ports() {
                while cluster
                    .cli(port, &["ping"])
                    .is_none_or(|p| !p.contains("PONG"))
                {
                    assert!(Instant::now() < deadline, "node {port} did not come up");
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        let addresses: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let replicas_arg = replicas.to_string();
        let mut args: Vec<&str> = vec!["--cluster", "create"];
        args.extend(addresses.iter().map(String::as_str));
        args.extend(["--cluster-replicas", &replicas_arg, "--cluster-yes"]);
        cluster.redis_cli(&args);
        cluster.wait_healthy(masters, replicas);
        cluster
    }

    /// Waits until every live node says `cluster_state:ok`, there are `masters` masters
    /// and each has `replicas` replicas online.
    pub fn wait_healthy(&self, masters: usize, replicas: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.is_healthy(masters, replicas) {
                return;
            }
            assert!(Instant::now() < deadline, "the cluster did not become ok");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn is_healthy(&self, masters: usize, replicas: usize) -> bool {
        let live = self.live_ports();
        let ok = live.iter().all(|p| {
            self.cli(*p, &["cluster", "info"])
                .is_some_and(|i| i.contains("cluster_state:ok"))
        });
        if !ok {
            return false;
        }
        let found = self.masters();
        found.len() == masters
            && found.iter().all(|p| {
                self.cli(*p, &["info", "replication"]).is_some_and(|info| {
                    info.matches("state=online").count() >= replicas
                        && info.contains(&format!("connected_slaves:{replicas}"))
                })
            })
    }

    /// The URL hush is pointed at: `redis+cluster://` with every node as a seed.
    pub fn url(&self) -> String {
        let seeds: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let scheme = if self.tls.is_some() {
            "rediss+cluster"
        } else {
            "redis+cluster"
        };
        match &self.auth {
            Some((user, password)) => {
                format!("{scheme}://{user}:{password}@{}", seeds.join(","))
            }
            None => format!("{scheme}://{}", seeds.join(",")),
        }
    }

    /// `redis-cli` with this cluster's user and password, if any, then `args`.
    pub fn redis_cli(&self, args: &[&str]) -> String {
        let mut all = self.auth_args();
        all.extend(args.iter().map(|a| (*a).to_owned()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        redis_cli(&all)
    }

    /// [`cli_on`] with this cluster's user and password, if any.
    pub fn cli(&self, port: u16, args: &[&str]) -> Option<String> {
        let mut all = self.auth_args();
        all.extend(args.iter().map(|a| (*a).to_owned()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        cli_on(port, &all)
    }

    fn auth_args(&self) -> Vec<String> {
        let mut tls = self
            .tls
            .as_ref()
            .map(Certs::client_args)
            .unwrap_or_default();
        tls.extend(self.user_args());
        tls
    }

    fn user_args(&self) -> Vec<String> {
        match &self.auth {
            Some((user, password)) => vec![
                "--user".into(),
                user.clone(),
                "--pass".into(),
                password.clone(),
                "--no-auth-warning".into(),
            ],
            None => Vec::new(),
        }
    }

    /// Every node's port.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.port).collect()
    }

    /// The ports of the nodes still running.
    pub fn live_ports(&self) -> Vec<u16> {
        self.nodes
            .iter()
            .filter(|n| n.child.is_some())
            .map(|n| n.port)
            .collect()
    }

    /// The ports of the live masters that serve slots, as the live nodes see them.
    pub fn masters(&self) -> Vec<u16> {
        let Some(text) = self
            .live_ports()
            .into_iter()
            .find_map(|p| self.cli(p, &["cluster", "nodes"]))
        else {
            return Vec::new();
        };
        let mut out: Vec<u16> = text
            .lines()
            .filter(|l| l.contains("master") && !l.contains("fail") && l.split(' ').count() > 8)
            .filter_map(|l| {
                let addr = l.split(' ').nth(1)?;
                addr.split(['@', ','])
                    .next()?
                    .rsplit(':')
                    .next()?
                    .parse()
                    .ok()
            })
            .filter(|p| self.live_ports().contains(p))
            .collect();
        out.sort_unstable();
        out
    }

    /// The port of the master serving `key`'s slot.
    pub fn master_of(&self, key: &str) -> u16 {
        let live = self.live_ports();
        let slot: u16 = self
            .cli(live[0], &["cluster", "keyslot", key])
            .expect("CLUSTER KEYSLOT")
            .trim()
            .parse()
            .expect("a slot number");
        let text = self
            .cli(live[0], &["cluster", "nodes"])
            .expect("CLUSTER NODES");
        for line in text
            .lines()
            .filter(|l| l.contains("master") && !l.contains("fail"))
        {
            let fields: Vec<&str> = line.split(' ').collect();
            let serves = fields.iter().skip(8).any(|range| {
                let (a, b) = range.split_once('-').unwrap_or((range, range));
                matches!((a.parse::<u16>(), b.parse::<u16>()), (Ok(a), Ok(b)) if a <= slot && slot <= b)
            });
            if serves {
                let port = fields[1]
                    .split(['@', ','])
                    .next()
                    .and_then(|a| a.rsplit(':').next());
                return port.and_then(|p| p.parse().ok()).expect("a node address");
            }
        }
        panic!("no live master serves slot {slot} of {key}");
    }

    /// The id of the node on `port`.
    pub fn node_id(&self, port: u16) -> String {
        self.cli(port, &["cluster", "myid"])
            .expect("CLUSTER MYID")
            .trim()
            .to_owned()
    }

    /// Kills the node on `port` with SIGKILL.
    pub fn kill(&mut self, port: u16) {
        let node = self
            .nodes
            .iter_mut()
            .find(|n| n.port == port)
            .expect("a node of this cluster");
        if let Some(mut child) = node.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until the live nodes agree the cluster is ok again after `killed` (a master)
    /// died: its replica promoted, `masters` masters serving every slot, none of them it.
    pub fn wait_failed_over(&self, killed: u16, masters: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let live = self.live_ports();
            let ok = live.iter().all(|p| {
                self.cli(*p, &["cluster", "info"])
                    .is_some_and(|i| i.contains("cluster_state:ok"))
            });
            let found = self.masters();
            if ok && found.len() == masters && !found.contains(&killed) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no replica took over from the master on port {killed}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Moves slot `slot` from the master on `from` to the master on `to`, keys and all,
    /// with `redis-cli --cluster reshard`, which moves a master's slots lowest first: so it
    /// moves every slot of `from` up to `slot`. Returns how many slots moved.
    pub fn reshard_through(&self, slot: u16, from: u16, to: u16) -> usize {
        let nodes = self
            .cli(from, &["cluster", "nodes"])
            .expect("CLUSTER NODES");
        let mine = nodes
            .lines()
            .find(|l| l.contains("myself"))
            .expect("the node's own line");
        let lowest = mine
            .split(' ')
            .skip(8)
            .filter_map(|range| range.split('-').next()?.parse::<u16>().ok())
            .min()
            .expect("the master serves slots");
        assert!(
            lowest <= slot,
            "slot {slot} is not served by the node on {from}"
        );
        let count = usize::from(slot - lowest) + 1;
        let (from_id, to_id) = (self.node_id(from), self.node_id(to));
        let at = format!("127.0.0.1:{from}");
        let slots = count.to_string();
        self.redis_cli(&[
            "--cluster",
            "reshard",
            &at,
            "--cluster-from",
            &from_id,
            "--cluster-to",
            &to_id,
            "--cluster-slots",
            &slots,
            "--cluster-yes",
        ]);
        count
    }

    /// The slot of `key`.
    pub fn slot_of(&self, key: &str) -> u16 {
        self.cli(self.live_ports()[0], &["cluster", "keyslot", key])
            .expect("CLUSTER KEYSLOT")
            .trim()
            .parse()
            .expect("a slot number")
    }

    /// The data directory of every node.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

/// A test certificate authority and a server certificate for 127.0.0.1 it signed, made
/// with `openssl` (never a secret of hush's: keys for loopback tests only).
#[derive(Clone)]
pub struct Certs {
    /// The CA's certificate (what a client trusts, e.g. through `SSL_CERT_FILE`).
    pub ca: PathBuf,
    /// The server's certificate and key.
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Certs {
    /// Makes a CA and a server certificate for `127.0.0.1` in `dir`.
    pub fn make(dir: &std::path::Path) -> Certs {
        let run = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .output()
                .expect("openssl runs (apt-get install openssl)");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        std::fs::write(
            dir.join("san.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .unwrap();
        run(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=hush test CA",
        ]);
        run(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "redis.key",
            "-out",
            "redis.csr",
            "-subj",
            "/CN=127.0.0.1",
        ]);
        run(&[
            "x509",
            "-req",
            "-in",
            "redis.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "redis.crt",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ]);
        Certs {
            ca: dir.join("ca.crt"),
            cert: dir.join("redis.crt"),
            key: dir.join("redis.key"),
        }
    }

    /// `redis-server` settings to serve only TLS on `port` with these certificates.
    pub fn server_args(&self, port: u16) -> Vec<String> {
        let path = |p: &PathBuf| p.to_string_lossy().into_owned();
        vec![
            "--port".into(),
            "0".into(),
            "--tls-port".into(),
            port.to_string(),
            "--tls-cert-file".into(),
            path(&self.cert),
            "--tls-key-file".into(),
            path(&self.key),
            "--tls-ca-cert-file".into(),
            path(&self.ca),
            "--tls-auth-clients".into(),
            "no".into(),
        ]
    }

    /// `redis-cli` settings to speak TLS to such a server.
    pub fn client_args(&self) -> Vec<String> {
        vec![
            "--tls".into(),
            "--cacert".into(),
            self.ca.to_string_lossy().into_owned(),
        ]
    }
}

/// Starts a single `redis-server` speaking only TLS on `port`, data in `dir`, killed when
/// the process that started it dies (kill the child to stop it sooner).
pub fn spawn_tls_server(port: u16, dir: &std::path::Path, certs: &Certs) -> Child {
    let (tx, rx) = std::sync::mpsc::channel();
    let (dir, args) = (dir.to_owned(), certs.server_args(port));
    std::thread::spawn(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        tx.send(spawn_with(port, &dir, &args)).expect("send child");
        loop {
            std::thread::park();
        }
    });
    let child = rx.recv().expect("redis-server spawned");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut ping: Vec<String> = certs.client_args();
    ping.extend(["ping".to_owned()]);
    let ping: Vec<&str> = ping.iter().map(String::as_str).collect();
    while cli_on(port, &ping).is_none_or(|p| !p.contains("PONG")) {
        assert!(
            Instant::now() < deadline,
            "the TLS redis-server did not come up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// `redis-cli -p port args`, or `None` when the node does not answer.
pub fn cli_on(port: u16, args: &[&str]) -> Option<String> {
    let out = Command::new("redis-cli")
        .arg("-p")
        .arg(port.to_string())
        .args(args)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.success() && !text.starts_with("Could not connect")).then_some(text)
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// The URL of a cluster shared by every test in this process that only reads and writes
/// (conformance suites), started on first use; tests that kill nodes or move slots start
/// their own.
pub fn shared_url() -> String {
    static SHARED: OnceLock<String> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            let cluster = Box::leak(Box::new(RedisCluster::start()));
            cluster.url()
        })
        .clone()
}
