//! Shared test setup: a real redis-server or a temp embedded store, a key file, and an
//! org with a few users and a group.

#![allow(dead_code)]

pub mod api;
pub mod echo;
pub mod redis_cluster;
pub mod redis_server;

use std::path::PathBuf;
use std::sync::{Arc, LazyLock};

use hush::actions::code::CodeRuntime;
use hush::actions::http::{HttpSender, NetworkPolicy};
use hush::audit::Audit;
use hush::directory::{Directory, Role};
use hush::executor::Executor;
use hush::model::{GroupId, OrgId, RunId, SecretId, UserId};
use hush::secrets::{Access, Keyring, NewSecret, SecretStore, SecretValue};
use hush::store::{Backend, EmbeddedBackend, RedisBackend};

/// One precompiled-component cache for the whole test binary, so each guest compiles once.
pub static COMPONENT_CACHE: LazyLock<tempfile::TempDir> =
    LazyLock::new(|| tempfile::tempdir().unwrap());

/// Which backend a harness runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Redis,
    Embedded,
    /// A real Redis Cluster (3 masters, each with a replica).
    Cluster,
}

/// Everything a store test needs. Users: `ada` (admin), `mia` (member, in group `eng`),
/// `max` (member); `zed` is not in the org.
pub struct Harness {
    pub kind: Kind,
    pub backend: Arc<dyn Backend>,
    pub directory: Directory,
    pub secrets: Arc<SecretStore>,
    pub audit: Audit,
    pub org: OrgId,
    pub key_file: PathBuf,
    pub dir: tempfile::TempDir,
    /// A private redis-server, for tests that need the whole store to themselves.
    pub server: Option<redis_server::RedisServer>,
    /// A private Redis Cluster, likewise.
    pub cluster: Option<redis_cluster::RedisCluster>,
}

pub fn user(id: &str) -> UserId {
    UserId::parse(id).unwrap()
}

pub fn group(id: &str) -> GroupId {
    GroupId::parse(id).unwrap()
}

pub fn run(id: &str) -> RunId {
    RunId::parse(id).unwrap()
}

pub fn value(text: &str) -> SecretValue {
    SecretValue::new(text).unwrap()
}

/// A random suffix so tests sharing one Redis never collide.
pub fn unique(prefix: &str) -> String {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).unwrap();
    format!("{prefix}-{}", hex::encode(bytes))
}

/// A team secret with no grants.
pub fn team(name: &str, text: &str) -> NewSecret {
    NewSecret {
        name: name.into(),
        value: value(text),
        access: Access::Team,
        grants: vec![],
        allowed_hosts: vec![],
        description: None,
    }
}

/// A restricted secret with `grants`.
pub fn restricted(name: &str, text: &str, grants: &[&str]) -> NewSecret {
    NewSecret {
        access: Access::Restricted,
        grants: grants.iter().map(|g| g.parse().unwrap()).collect(),
        ..team(name, text)
    }
}

pub async fn backend(kind: Kind, dir: &std::path::Path, url: &str) -> Arc<dyn Backend> {
    match kind {
        Kind::Redis | Kind::Cluster => Arc::new(RedisBackend::connect(url).await.unwrap()),
        Kind::Embedded => Arc::new(EmbeddedBackend::open(&dir.join("data")).unwrap()),
    }
}

impl Harness {
    /// On the shared redis-server, or a fresh embedded store.
    pub async fn new(kind: Kind) -> Harness {
        Self::with_server(kind, None, None).await
    }

    /// On a private redis-server or Redis Cluster, or a fresh embedded store.
    pub async fn isolated(kind: Kind) -> Harness {
        let server = (kind == Kind::Redis).then(redis_server::RedisServer::start);
        let cluster = (kind == Kind::Cluster).then(redis_cluster::RedisCluster::start);
        Self::with_server(kind, server, cluster).await
    }

    async fn with_server(
        kind: Kind,
        server: Option<redis_server::RedisServer>,
        cluster: Option<redis_cluster::RedisCluster>,
    ) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let url = match (&server, &cluster) {
            (Some(s), _) => s.url(),
            (_, Some(c)) => c.url(),
            _ if kind == Kind::Cluster => redis_cluster::shared_url(),
            _ => redis_server::shared_url(),
        };
        let backend = backend(kind, dir.path(), &url).await;
        let key_file = dir.path().join("master.key");
        let keyring = Keyring::generate_file(&key_file).unwrap();
        let org = OrgId::parse(&unique("t")).unwrap();
        let directory = Directory::new(Arc::clone(&backend));
        directory.create_org(&org).await.unwrap();
        directory
            .add_user(&org, &user("ada"), Role::Admin)
            .await
            .unwrap();
        directory
            .add_user(&org, &user("mia"), Role::Member)
            .await
            .unwrap();
        directory
            .add_user(&org, &user("max"), Role::Member)
            .await
            .unwrap();
        directory.create_group(&org, &group("eng")).await.unwrap();
        directory
            .add_member(&org, &group("eng"), &user("mia"))
            .await
            .unwrap();
        Harness {
            kind,
            secrets: Arc::new(SecretStore::new(Arc::clone(&backend), keyring)),
            audit: Audit::new(Arc::clone(&backend)),
            directory,
            backend,
            org,
            key_file,
            dir,
            server,
            cluster,
        }
    }

    /// The Redis URL this harness's data lives at (its private server or the shared one).
    pub fn redis_url(&self) -> String {
        match (&self.server, &self.cluster) {
            (Some(s), _) => s.url(),
            (_, Some(c)) => c.url(),
            _ if self.kind == Kind::Cluster => redis_cluster::shared_url(),
            _ => redis_server::shared_url(),
        }
    }

    /// A second store over the same data with the same key file (as another process).
    pub fn reopen(&self) -> SecretStore {
        SecretStore::new(
            Arc::clone(&self.backend),
            Keyring::load_file(&self.key_file).unwrap(),
        )
    }

    /// Creates a secret as `actor`, which must succeed.
    pub async fn create(&self, actor: &str, new: NewSecret) -> hush::secrets::SecretMeta {
        self.secrets
            .create(&self.org, &user(actor), new)
            .await
            .unwrap()
    }

    /// A Run Code runtime over this harness's store, calling out under `policy` and
    /// keeping precompiled components in the binary's one [`COMPONENT_CACHE`], and an
    /// executor that runs both action kinds with it.
    pub fn code_executor(&self, policy: NetworkPolicy) -> (Arc<CodeRuntime>, Executor) {
        let http = HttpSender::new(policy).unwrap();
        let code = Arc::new(
            CodeRuntime::new(
                Arc::clone(&self.backend),
                http.clone(),
                Some(COMPONENT_CACHE.path().to_path_buf()),
            )
            .unwrap(),
        );
        let executor = Executor::new(Arc::clone(&self.secrets), http).with_code(Arc::clone(&code));
        (code, executor)
    }

    /// Approves the component built at `path` to reveal secret `id` (as its creator `mia`
    /// or an admin, who hold Manage); returns the component's id.
    pub async fn approve_reveal(&self, id: &SecretId, path: &str) -> hush::model::ComponentId {
        let bytes = std::fs::read(path).unwrap();
        let component =
            hush::model::ComponentId::from_hex(&hush::actions::code::content_hash(&bytes)).unwrap();
        let meta = self
            .secrets
            .show(&self.org, &user("ada"), id)
            .await
            .unwrap();
        let mut list = meta.reveal_components;
        list.push(component.clone());
        self.secrets
            .set_reveal_components(&self.org, &user("ada"), id, list)
            .await
            .unwrap();
        component
    }

    /// Resolves one secret for `actor` and returns its plaintext.
    pub async fn use_as(&self, actor: &str, id: &SecretId) -> hush::Result<String> {
        let got = self
            .secrets
            .resolve(
                &self.org,
                &user(actor),
                std::slice::from_ref(id),
                &run("run-1"),
            )
            .await?;
        Ok(got[0].value.expose().to_owned())
    }
}

/// Every encoding of `value` that must never be found at rest: raw, base64 (standard and
/// URL-safe, padded or not), hex (both cases), JSON-escaped and percent-encoded.
pub fn forbidden_encodings(value: &str) -> Vec<(String, Vec<u8>)> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let bytes = value.as_bytes();
    let json = serde_json::to_string(value).unwrap();
    vec![
        ("raw".into(), bytes.to_vec()),
        ("base64".into(), STANDARD.encode(bytes).into_bytes()),
        (
            "base64 unpadded".into(),
            STANDARD_NO_PAD.encode(bytes).into_bytes(),
        ),
        ("base64url".into(), URL_SAFE.encode(bytes).into_bytes()),
        (
            "base64url unpadded".into(),
            URL_SAFE_NO_PAD.encode(bytes).into_bytes(),
        ),
        ("hex".into(), hex::encode(bytes).into_bytes()),
        ("HEX".into(), hex::encode_upper(bytes).into_bytes()),
        ("json".into(), json.as_bytes()[1..json.len() - 1].to_vec()),
        (
            "percent".into(),
            percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC)
                .to_string()
                .into_bytes(),
        ),
    ]
}

/// Panics naming the encoding and place if any forbidden encoding of any value is in
/// `haystack`: the list above, checked by hand, and every variant the redaction engine
/// knows (base64 at every alignment, entity and percent forms, …).
pub fn assert_no_value_in(place: &str, haystack: &[u8], values: &[&str]) {
    let redactor = hush::redact::Redactor::new(values.iter().map(|v| ("value", *v)));
    assert!(
        !redactor.is_match(haystack),
        "{place} holds a known encoding of a secret value"
    );
    for v in values {
        for (encoding, needle) in forbidden_encodings(v) {
            assert!(
                memchr::memmem::find(haystack, &needle).is_none(),
                "{place} holds the {encoding} encoding of a secret value"
            );
        }
    }
}

/// Runs the `hush` binary with none of hush's settings inherited, plus `env`, feeding it
/// `stdin`; fails the test if its output holds any known form of any of `values`.
pub fn run_hush(
    env: &[(&str, &str)],
    args: &[&str],
    stdin: &[u8],
    values: &[&str],
) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hush"));
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for name in [
        "HUSH_REDIS_URL",
        "HUSH_MASTER_KEY",
        "HUSH_MASTER_KEY_FILE",
        "HUSH_DATA_DIR",
        "HUSH_ALLOWED_NETWORKS",
        "HUSH_ALLOW_PRIVATE_NETWORKS",
        "RUST_LOG",
    ] {
        cmd.env_remove(name);
    }
    cmd.envs(env.iter().copied());
    let mut child = cmd.spawn().unwrap();
    // A command that refuses early may exit before it reads all of stdin.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    let out = child.wait_with_output().unwrap();
    let all = [&out.stdout[..], &out.stderr[..]].concat();
    assert_no_value_in(&format!("output of hush {args:?}"), &all, values);
    out
}

/// `XRANGE`'s reply: entry ids with their fields.
type StreamRows = Vec<(String, Vec<(String, Vec<u8>)>)>;

/// Redis key `key`'s type and everything it holds, of any type, as one byte string (hash
/// fields and values each followed by a newline), for scans that check no value is stored.
pub async fn redis_key_bytes(
    conn: &mut (impl redis::aio::ConnectionLike + Send + Sync),
    key: &str,
) -> (String, Vec<u8>) {
    use redis::AsyncCommands;
    let kind: String = redis::cmd("TYPE").arg(key).query_async(conn).await.unwrap();
    let bytes: Vec<u8> = match kind.as_str() {
        "string" => conn.get(key).await.unwrap(),
        "hash" => {
            let all: Vec<(Vec<u8>, Vec<u8>)> = conn.hgetall(key).await.unwrap();
            all.into_iter()
                .flat_map(|(f, v)| [f, b"\n".to_vec(), v, b"\n".to_vec()])
                .flatten()
                .collect()
        }
        "set" => conn
            .smembers::<_, Vec<Vec<u8>>>(key)
            .await
            .unwrap()
            .concat(),
        "zset" => conn
            .zrange::<_, Vec<Vec<u8>>>(key, 0, -1)
            .await
            .unwrap()
            .concat(),
        "list" => conn
            .lrange::<_, Vec<Vec<u8>>>(key, 0, -1)
            .await
            .unwrap()
            .concat(),
        "stream" => {
            let rows: StreamRows = redis::cmd("XRANGE")
                .arg(key)
                .arg("-")
                .arg("+")
                .query_async(conn)
                .await
                .unwrap();
            rows.into_iter()
                .flat_map(|(_, f)| f.into_iter().flat_map(|(k, v)| [k.into_bytes(), v]))
                .flatten()
                .collect()
        }
        other => panic!("unexpected key type {other} for {key}"),
    };
    (kind, bytes)
}

/// Runs `action` as `actor` of `h`'s org on `executor`, to its record.
pub async fn run_as(
    h: &Harness,
    executor: &Executor,
    actor: &str,
    action: hush::actions::code::CodeAction,
    inputs: serde_json::Value,
) -> hush::executor::RunRecord {
    executor
        .run(hush::executor::RunRequest {
            run_id: run(&unique("run")),
            org: h.org.clone(),
            actor: user(actor),
            action: action.into(),
            inputs,
        })
        .await
}

/// Fails unless the record, as JSON, holds no encoding of `value` the redactor knows.
pub fn assert_record_clean(record: &hush::executor::RunRecord, value: &str) {
    let text = serde_json::to_vec(record).unwrap();
    assert_no_value_in("the run record", &text, &[value]);
    for (label, encoded) in forbidden_encodings(value) {
        assert!(
            !text.windows(encoded.len()).any(|w| w == encoded.as_slice()),
            "the record holds the value {label}: {}",
            String::from_utf8_lossy(&text)
        );
    }
}

/// The error code and message of a failed record (fails the test for any other).
pub fn error_of(record: &hush::executor::RunRecord) -> (String, String) {
    assert_eq!(
        record.status,
        hush::executor::RunStatus::Failed,
        "{record:#?}"
    );
    let e = record.error.clone().unwrap();
    (e.code.code().to_owned(), e.message)
}

/// Runs each named `async fn(Harness)` of the calling test file as three tests, one on
/// each backend: `redis::<name>`, `embedded::<name>` and `cluster::<name>` (a real Redis
/// Cluster, shared by these tests).
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod redis {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Harness::new(super::common::Kind::Redis).await).await }) *
        }
        mod embedded {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Harness::new(super::common::Kind::Embedded).await).await }) *
        }
        mod cluster {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Harness::new(super::common::Kind::Cluster).await).await }) *
        }
    };
}
