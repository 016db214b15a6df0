//! The `hush` command line, run as a real process: every command, `--json`, refusals with
//! a non-zero exit and one line, values only through stdin or a file, and bad input that
//! stores nothing.

use crate::common;
use std::path::Path;
use std::process::Output;

use hush::app::Hush;
use hush::config::Config;
use hush::model::{OrgId, RunId, UserId};

const VALUE: &str = "sk_test_cli_0123456789abcdef";

struct Cli {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Cli {
    fn embedded() -> Cli {
        let dir = tempfile::tempdir().unwrap();
        let env = vec![(
            "HUSH_DATA_DIR".into(),
            dir.path().join("data").display().to_string(),
        )];
        Cli { dir, env }
    }

    fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        common::run_hush(&env, args, stdin, &[VALUE])
    }

    /// Runs and expects success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        self.ok_with(args, b"")
    }

    fn ok_with(&self, args: &[&str], stdin: &[u8]) -> String {
        let out = self.run(args, stdin);
        assert!(
            out.status.success(),
            "hush {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.push("--json");
        serde_json::from_str(&self.ok(&all)).unwrap()
    }

    /// The org `acme` with ada (admin), mia (member in eng), max (member).
    fn with_org(self) -> Cli {
        self.ok(&["org", "create", "acme"]);
        self.ok(&["user", "add", "--org", "acme", "--role", "admin", "ada"]);
        self.ok(&["user", "add", "--org", "acme", "mia"]);
        self.ok(&["user", "add", "--org", "acme", "--role", "member", "max"]);
        self.ok(&["group", "create", "--org", "acme", "eng"]);
        self.ok(&["group", "add-member", "--org", "acme", "eng", "mia"]);
        self
    }

    fn secret_count(&self) -> usize {
        let page = self.json(&["secret", "list", "--org", "acme", "--as", "ada"]);
        page["items"].as_array().unwrap().len()
    }

    fn config(&self) -> Config {
        let env = self.env.clone();
        Config::from_lookup(move |name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn every_secret_command_works_and_prints_metadata_only() {
    let cli = Cli::embedded().with_org();
    let created: serde_json::Value = serde_json::from_str(&cli.ok_with(
        &[
            "secret",
            "create",
            "--org",
            "acme",
            "--as",
            "mia",
            "--name",
            "Stripe",
            "--value-stdin",
            "--restricted",
            "--grant",
            "group:eng=use",
            "--grant",
            "user:max=manage",
            "--allowed-host",
            "api.stripe.com",
            "--description",
            "billing key",
            "--json",
        ],
        format!("{VALUE}\n").as_bytes(),
    ))
    .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("sec_"));
    assert_eq!(created["access"], "restricted");
    assert_eq!(created["version"], 1);
    assert!(created.get("value").is_none());

    let shown = cli.json(&["secret", "show", "--org", "acme", "--as", "max", "stripe"]);
    assert_eq!(
        shown["id"],
        id.as_str(),
        "show accepts a name, ignoring case"
    );
    let text = cli.ok(&["secret", "show", "--org", "acme", "--as", "max", &id]);
    assert!(
        text.contains("billing key")
            && text.contains("group:eng=use")
            && text.contains(&format!("{{{{secret \"{id}\"}}}}"))
    );

    cli.ok(&[
        "secret",
        "rename",
        "--org",
        "acme",
        "--as",
        "max",
        &id,
        "Stripe live",
    ]);
    let file = cli.dir.path().join("new-value");
    std::fs::write(&file, "sk_test_cli_second_value_1\n").unwrap();
    let updated = cli.json(&[
        "secret",
        "set-value",
        "--org",
        "acme",
        "--as",
        "max",
        &id,
        "--value-file",
        file.to_str().unwrap(),
    ]);
    assert_eq!(updated["version"], 2);
    assert_eq!(updated["name"], "Stripe live");
    let access = cli.json(&[
        "secret",
        "set-access",
        "--org",
        "acme",
        "--as",
        "ada",
        &id,
        "--team",
    ]);
    assert_eq!(access["access"], "team");
    assert_eq!(access["grants"], serde_json::json!([]));
    let hosts = cli.json(&[
        "secret",
        "set-allowed-hosts",
        "--org",
        "acme",
        "--as",
        "ada",
        &id,
        "--allowed-host",
        "*.stripe.com",
    ]);
    assert_eq!(hosts["allowed_hosts"], serde_json::json!(["*.stripe.com"]));

    let usable = cli.json(&[
        "secret", "list", "--org", "acme", "--as", "mia", "--filter", "usable",
    ]);
    assert_eq!(usable["items"].as_array().unwrap().len(), 1);

    // The value stored is the one given (one trailing newline dropped), and resolves.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let hush = Hush::open(&cli.config()).await.unwrap();
        let got = hush
            .secrets
            .resolve(
                &OrgId::parse("acme").unwrap(),
                &UserId::parse("mia").unwrap(),
                &[id.parse().unwrap()],
                &RunId::parse("cli-test").unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(got[0].value.expose(), "sk_test_cli_second_value_1");
    });

    let audit = cli.json(&["audit", "--org", "acme"]);
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "secret_create",
        "secret_rename",
        "secret_set_value",
        "secret_set_access",
        "secret_set_allowed_hosts",
    ] {
        assert!(
            actions.contains(&action),
            "{action} missing from {actions:?}"
        );
    }
    let deleted = cli.json(&["secret", "delete", "--org", "acme", "--as", "ada", &id]);
    assert_eq!(deleted["deleted"], id.as_str());
    assert_eq!(cli.secret_count(), 0);
}

#[test]
fn directory_commands_list_what_they_changed() {
    let cli = Cli::embedded().with_org();
    let orgs = cli.json(&["org", "list"]);
    assert_eq!(orgs, serde_json::json!(["acme"]));
    let users = cli.json(&["user", "list", "--org", "acme"]);
    let roles: Vec<(&str, &str)> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["id"].as_str().unwrap(), u["role"].as_str().unwrap()))
        .collect();
    assert_eq!(
        roles,
        [("ada", "admin"), ("max", "member"), ("mia", "member")]
    );
    cli.ok(&[
        "user", "set-role", "--org", "acme", "--role", "admin", "max",
    ]);
    cli.ok(&["group", "remove-member", "--org", "acme", "eng", "mia"]);
    let groups = cli.json(&["group", "list", "--org", "acme"]);
    assert_eq!(groups[0]["members"], serde_json::json!([]));
    cli.ok(&["user", "remove", "--org", "acme", "mia"]);
    cli.ok(&["group", "remove", "--org", "acme", "eng"]);
    assert_eq!(
        cli.json(&["group", "list", "--org", "acme"]),
        serde_json::json!([])
    );
    assert_eq!(
        cli.json(&["user", "list", "--org", "acme"])[1]["role"],
        "admin"
    );
    cli.ok(&["org", "remove", "acme"]);
    assert_eq!(cli.json(&["org", "list"]), serde_json::json!([]));
}

#[test]
fn a_refusal_exits_non_zero_with_one_line_naming_the_secret() {
    let cli = Cli::embedded().with_org();
    cli.ok_with(
        &[
            "secret",
            "create",
            "--org",
            "acme",
            "--as",
            "ada",
            "--name",
            "Admin only",
            "--value-stdin",
            "--restricted",
        ],
        VALUE.as_bytes(),
    );
    let out = cli.run(
        &[
            "secret",
            "delete",
            "--org",
            "acme",
            "--as",
            "mia",
            "Admin only",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(4));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("may not manage secret \"Admin only\""),
        "{err}"
    );
    let json_out = cli.run(
        &[
            "secret",
            "delete",
            "--org",
            "acme",
            "--as",
            "mia",
            "Admin only",
            "--json",
        ],
        b"",
    );
    let body: serde_json::Value = serde_json::from_slice(&json_out.stdout).unwrap();
    assert_eq!(body["error"]["code"], "denied");
    assert_eq!(cli.secret_count(), 1);
}

#[test]
fn bad_input_of_every_kind_is_refused_clearly_and_stores_nothing() {
    let cli = Cli::embedded().with_org();
    cli.ok_with(
        &[
            "secret",
            "create",
            "--org",
            "acme",
            "--as",
            "ada",
            "--name",
            "Existing",
            "--value-stdin",
        ],
        VALUE.as_bytes(),
    );
    let dir = cli.dir.path().to_str().unwrap().to_owned();
    let missing = format!("{dir}/missing-file");
    let long_name = "n".repeat(101);
    let huge = vec![b'a'; 70 * 1024];
    let create = |name: &str| -> Vec<String> {
        [
            "secret", "create", "--org", "acme", "--as", "mia", "--name", name,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let with = |mut base: Vec<String>, more: &[&str]| {
        base.extend(more.iter().map(|s| s.to_string()));
        base
    };
    let cases: Vec<(Vec<String>, Vec<u8>, &str)> = vec![
        (
            with(create("short"), &["--value-stdin"]),
            b"short\n".to_vec(),
            "at least 8 bytes",
        ),
        (
            with(create("empty"), &["--value-stdin"]),
            b"".to_vec(),
            "empty",
        ),
        (
            with(create("nul"), &["--value-stdin"]),
            b"abc\0defghij".to_vec(),
            "NUL",
        ),
        (
            with(create("binary"), &["--value-stdin"]),
            vec![0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xfa, 0xf9, 0xf8, 0xf7],
            "UTF-8",
        ),
        (with(create("huge"), &["--value-stdin"]), huge, "64 KiB"),
        (
            with(create("nofile"), &["--value-file", &missing]),
            vec![],
            "cannot read",
        ),
        (
            with(create("dirfile"), &["--value-file", &dir]),
            vec![],
            "is a directory",
        ),
        (
            with(create("both"), &["--value-stdin", "--value-file", &missing]),
            VALUE.as_bytes().to_vec(),
            "cannot be used with",
        ),
        (create("neither"), vec![], "required"),
        (
            with(create("argv"), &["--value", VALUE]),
            vec![],
            "unexpected argument",
        ),
        (
            with(create(""), &["--value-stdin"]),
            VALUE.as_bytes().to_vec(),
            "invalid name",
        ),
        (
            with(create(&long_name), &["--value-stdin"]),
            VALUE.as_bytes().to_vec(),
            "1 to 100",
        ),
        (
            with(create("bell\u{7}name"), &["--value-stdin"]),
            VALUE.as_bytes().to_vec(),
            "control character",
        ),
        (
            with(create("EXISTING"), &["--value-stdin"]),
            VALUE.as_bytes().to_vec(),
            "already exists",
        ),
        (
            with(create("g1"), &["--value-stdin", "--grant", "user:max"]),
            VALUE.as_bytes().to_vec(),
            "invalid grant",
        ),
        (
            with(create("g2"), &["--value-stdin", "--grant", "user:max=read"]),
            VALUE.as_bytes().to_vec(),
            "neither use nor manage",
        ),
        (
            with(
                create("g3"),
                &["--value-stdin", "--restricted", "--grant", "user:ghost=use"],
            ),
            VALUE.as_bytes().to_vec(),
            "ghost",
        ),
        (
            with(
                create("g4"),
                &[
                    "--value-stdin",
                    "--restricted",
                    "--grant",
                    "group:eng=use",
                    "--grant",
                    "group:eng=manage",
                ],
            ),
            VALUE.as_bytes().to_vec(),
            "more than once",
        ),
        (
            with(
                create("h1"),
                &["--value-stdin", "--allowed-host", "https://api.stripe.com"],
            ),
            VALUE.as_bytes().to_vec(),
            "invalid allowed host",
        ),
        (
            vec![
                "secret".into(),
                "create".into(),
                "--org".into(),
                "Bad Org".into(),
                "--as".into(),
                "mia".into(),
                "--name".into(),
                "x1".into(),
                "--value-stdin".into(),
            ],
            VALUE.as_bytes().to_vec(),
            "invalid --org",
        ),
        (
            vec![
                "secret".into(),
                "create".into(),
                "--org".into(),
                "nowhere".into(),
                "--as".into(),
                "mia".into(),
                "--name".into(),
                "x2".into(),
                "--value-stdin".into(),
            ],
            VALUE.as_bytes().to_vec(),
            "does not exist",
        ),
        (
            vec![
                "secret".into(),
                "create".into(),
                "--org".into(),
                "acme".into(),
                "--as".into(),
                "zed".into(),
                "--name".into(),
                "x3".into(),
                "--value-stdin".into(),
            ],
            VALUE.as_bytes().to_vec(),
            "not a member",
        ),
        (
            vec![
                "secret".into(),
                "list".into(),
                "--org".into(),
                "acme".into(),
                "--as".into(),
                "mia".into(),
                "--filter".into(),
                "mine".into(),
            ],
            vec![],
            "invalid filter",
        ),
        (
            vec![
                "secret".into(),
                "list".into(),
                "--org".into(),
                "acme".into(),
                "--as".into(),
                "mia".into(),
                "--cursor".into(),
                "%%%".into(),
            ],
            vec![],
            "invalid cursor",
        ),
        (
            vec![
                "user".into(),
                "add".into(),
                "--org".into(),
                "acme".into(),
                "--role".into(),
                "owner".into(),
                "olga".into(),
            ],
            vec![],
            "neither member nor admin",
        ),
        (
            vec![
                "secret".into(),
                "rename".into(),
                "--org".into(),
                "acme".into(),
                "--as".into(),
                "ada".into(),
                "Existing".into(),
                " ".into(),
            ],
            vec![],
            "invalid name",
        ),
        (
            vec![
                "secret".into(),
                "show".into(),
                "--org".into(),
                "acme".into(),
                "--as".into(),
                "ada".into(),
                "no such".into(),
            ],
            vec![],
            "no secret is named",
        ),
    ];
    for (args, stdin, expect) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = cli.run(&args, &stdin);
        let err = stderr(&out);
        assert!(!out.status.success(), "hush {args:?} should fail");
        assert!(
            err.contains(expect),
            "hush {args:?}: expected {expect:?} in {err:?}"
        );
        if !err.starts_with("error:") {
            assert_eq!(err.lines().count(), 1, "one line for {args:?}: {err}");
        }
    }
    assert_eq!(
        cli.secret_count(),
        1,
        "nothing but the first secret was stored"
    );
    let users = cli.json(&["user", "list", "--org", "acme"]);
    assert_eq!(users.as_array().unwrap().len(), 3);
}

#[test]
fn the_embedded_default_generates_a_private_key_file_and_says_where() {
    use std::os::unix::fs::PermissionsExt;
    let cli = Cli::embedded();
    let out = cli.run(&["org", "create", "first"], b"");
    assert!(out.status.success());
    let key = cli.dir.path().join("data/master.key");
    assert!(
        stderr(&out).contains(&key.display().to_string()),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(
        !stderr(&cli.run(&["org", "list"], b"")).contains("generated"),
        "said only once"
    );
}

#[test]
fn keys_rotate_twice_and_every_value_still_resolves() {
    let cli = Cli::embedded().with_org();
    let mut ids = Vec::new();
    for i in 0..3 {
        let meta = cli.json(&[
            "secret",
            "create",
            "--org",
            "acme",
            "--as",
            "mia",
            "--name",
            &format!("k{i}"),
            "--value-file",
            write_value(cli.dir.path(), i).to_str().unwrap(),
        ]);
        ids.push(meta["id"].as_str().unwrap().parse().unwrap());
    }
    let first = cli.json(&["keys", "rotate"]);
    assert_eq!(first["current_version"], 2);
    assert_eq!(first["orgs_rewrapped"], 1);
    let second = cli.json(&["keys", "rotate"]);
    assert_eq!(second["current_version"], 3);
    assert_eq!(
        cli.json(&["keys", "status"])["versions"],
        serde_json::json!([1, 2, 3])
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let hush = Hush::open(&cli.config()).await.unwrap();
        let got = hush
            .secrets
            .resolve(
                &OrgId::parse("acme").unwrap(),
                &UserId::parse("mia").unwrap(),
                &ids,
                &RunId::parse("r").unwrap(),
            )
            .await
            .unwrap();
        for (i, r) in got.iter().enumerate() {
            assert_eq!(r.value.expose(), format!("rotation-value-{i}"));
        }
    });
}

fn write_value(dir: &Path, i: usize) -> std::path::PathBuf {
    let path = dir.join(format!("value-{i}"));
    std::fs::write(&path, format!("rotation-value-{i}")).unwrap();
    path
}

#[test]
fn redis_without_a_master_key_is_refused_and_with_one_works() {
    let url = common::redis_server::shared_url();
    let mut cli = Cli::embedded();
    cli.env.push(("HUSH_REDIS_URL".into(), url));
    let out = cli.run(&["org", "list"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("HUSH_MASTER_KEY"), "{}", stderr(&out));
    use base64::Engine;
    cli.env.push((
        "HUSH_MASTER_KEY".into(),
        base64::engine::general_purpose::STANDARD.encode([42u8; 64]),
    ));
    let org = common::unique("cli");
    cli.ok(&["org", "create", &org]);
    cli.ok(&["user", "add", "--org", &org, "--role", "admin", "ada"]);
    cli.ok_with(
        &[
            "secret",
            "create",
            "--org",
            &org,
            "--as",
            "ada",
            "--name",
            "On redis",
            "--value-stdin",
        ],
        VALUE.as_bytes(),
    );
    let page: serde_json::Value =
        serde_json::from_str(&cli.ok(&["secret", "list", "--org", &org, "--as", "ada", "--json"]))
            .unwrap();
    assert_eq!(page["items"][0]["name"], "On redis");
    assert!(
        !cli.dir.path().join("data").exists(),
        "with Redis, nothing is written to the data directory"
    );
}

#[test]
fn redis_that_is_down_gives_a_clear_error() {
    let mut cli = Cli::embedded();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    cli.env.push((
        "HUSH_REDIS_URL".into(),
        format!("redis://:hunter2secret@127.0.0.1:{port}/"),
    ));
    cli.env.push(("HUSH_MASTER_KEY".into(), "AAAA".into()));
    let out = cli.run(&["org", "list"], b"");
    assert_eq!(out.status.code(), Some(6));
    let err = stderr(&out);
    assert!(
        err.contains("unavailable") && err.contains("connection refused"),
        "{err}"
    );
    assert!(
        !err.contains("hunter2secret"),
        "the Redis password is never printed: {err}"
    );
}

#[test]
fn the_demo_walks_through_the_store_and_a_send_api_request_and_shows_refusals() {
    let cli = Cli::embedded();
    let out = cli.run(&["demo"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    for expect in [
        "bob: allowed",
        "carol: refused",
        "deleted or unknown",
        "secret_resolve",
        "value [REDACTED]",
        "it is allowed only on api.stripe.com",
        "127.0.0.1 is a loopback address",
        "it is exactly the stored value: yes",
        "\"authorization\": \"Bearer [REDACTED:Stripe key]\"",
        "\"signature_header\": \"t=1700000000,v1=",
        "only the components its managers approved may reveal it",
    ] {
        assert!(
            text.contains(expect),
            "{expect:?} missing from the demo output"
        );
    }
}

#[test]
fn hush_serve_on_the_embedded_store_runs_a_queued_run_itself_and_hush_worker_says_it_needs_redis() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let cli = Cli::embedded();
    cli.ok(&["org", "create", "acme"]);
    cli.ok(&["user", "add", "--org", "acme", "--role", "member", "mia"]);
    let token = cli.json(&["token", "create", "--org", "acme", "--user", "mia"])["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut serve = Command::new(env!("CARGO_BIN_EXE_hush"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("HUSH_REDIS_URL")
        .env_remove("RUST_LOG")
        .envs(cli.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(serve.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("kept in this process's memory"), "{line}");
    let base = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .map(|addr| format!("http://{addr}"))
        .unwrap_or_else(|| panic!("no address in {line:?}"));

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let ended = runtime.block_on(async {
        let client = reqwest::Client::new();
        // An action refused by the network policy still runs through the queue to its end.
        let queued: serde_json::Value = client
            .post(format!("{base}/v1/runs"))
            .bearer_auth(&token)
            .json(&serde_json::json!({
                "action": {"kind": "send_api_request", "name": "Ping", "method": "GET", "url": "http://127.0.0.1:9/"},
                "inputs": {}
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = queued["id"].as_str().unwrap_or_else(|| panic!("{queued}")).to_owned();
        for _ in 0..400 {
            let run: serde_json::Value = client
                .get(format!("{base}/v1/runs/{id}"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if run["status"] == "succeeded" || run["status"] == "failed" {
                return run;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("the queued run never ended");
    });
    serve.kill().unwrap();
    let _ = serve.wait();
    assert_eq!(ended["status"], "failed", "{ended}");
    assert_eq!(ended["attempts"], 1, "{ended}");
    assert!(
        ended["error"]["message"]
            .as_str()
            .unwrap()
            .contains("loopback"),
        "{ended}"
    );

    let out = cli.run(&["worker"], b"");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("HUSH_REDIS_URL"), "{}", stderr(&out));
}
