//! Removal through the `hush` command line, on the embedded store and on Redis: `hush user
//! remove` revokes the user's tokens and grants, `hush group remove` the group's grants,
//! and after `hush org remove` a new org of the same name starts empty.

use crate::common;
use std::process::Output;

const VALUE: &str = "sk_test_cli_removal_0123456789";

struct Cli {
    _dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    org: String,
}

impl Cli {
    fn embedded() -> Cli {
        let dir = tempfile::tempdir().unwrap();
        let env = vec![(
            "HUSH_DATA_DIR".into(),
            dir.path().join("data").display().to_string(),
        )];
        Cli {
            _dir: dir,
            env,
            org: "acme".into(),
        }
    }

    fn redis() -> Cli {
        use base64::Engine;
        let mut cli = Cli::embedded();
        cli.env
            .push(("HUSH_REDIS_URL".into(), common::redis_server::shared_url()));
        cli.env.push((
            "HUSH_MASTER_KEY".into(),
            base64::engine::general_purpose::STANDARD.encode([7u8; 64]),
        ));
        cli.org = common::unique("rm");
        cli
    }

    fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        common::run_hush(&env, args, stdin, &[VALUE])
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        self.json_with(args, b"")
    }

    fn json_with(&self, args: &[&str], stdin: &[u8]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.run(&all, stdin);
        assert!(
            out.status.success(),
            "hush {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

fn removal_revokes_everything_that_named_the_removed(cli: &Cli) {
    let org = cli.org.as_str();
    cli.json(&["org", "create", org]);
    cli.json(&["user", "add", "--org", org, "--role", "admin", "ada"]);
    cli.json(&["user", "add", "--org", org, "bob"]);
    cli.json(&["group", "create", "--org", org, "ops"]);
    cli.json(&["group", "add-member", "--org", org, "ops", "bob"]);
    let token = cli.json(&["token", "create", "--org", org, "--user", "bob"]);
    let secret = cli.json_with(
        &[
            "secret",
            "create",
            "--org",
            org,
            "--as",
            "ada",
            "--name",
            "Shared",
            "--value-stdin",
            "--restricted",
            "--grant",
            "user:bob=manage",
            "--grant",
            "group:ops=use",
        ],
        VALUE.as_bytes(),
    );
    let id = secret["id"].as_str().unwrap();
    let grants = |cli: &Cli| {
        cli.json(&["secret", "show", "--org", org, "--as", "ada", id])["grants"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(grants(cli), 2);

    cli.json(&["user", "remove", "--org", org, "bob"]);
    let tokens = cli.json(&["token", "list", "--org", org]);
    assert!(
        !tokens.to_string().contains(token["id"].as_str().unwrap()),
        "bob's token outlived bob: {tokens}"
    );
    assert_eq!(grants(cli), 1, "bob's grant outlived bob");
    cli.json(&["group", "remove", "--org", org, "ops"]);
    assert_eq!(grants(cli), 0, "the group's grant outlived the group");
    cli.json(&["user", "add", "--org", org, "bob"]);
    cli.json(&["group", "create", "--org", org, "ops"]);
    cli.json(&["group", "add-member", "--org", org, "ops", "bob"]);
    let usable = cli.json(&[
        "secret", "list", "--org", org, "--as", "bob", "--filter", "usable",
    ]);
    assert_eq!(usable["items"], serde_json::json!([]), "{usable}");

    cli.json(&["org", "remove", org]);
    cli.json(&["org", "create", org]);
    assert_eq!(
        cli.json(&["token", "list", "--org", org]),
        serde_json::json!([])
    );
    assert_eq!(
        cli.json(&["user", "list", "--org", org]),
        serde_json::json!([])
    );
    let audit = cli.json(&["audit", "--org", org]);
    assert!(!audit.to_string().contains("Shared"), "{audit}");
}

#[test]
fn removal_over_the_cli_revokes_everything_on_the_embedded_store() {
    removal_revokes_everything_that_named_the_removed(&Cli::embedded());
}

#[test]
fn removal_over_the_cli_revokes_everything_on_redis() {
    removal_revokes_everything_that_named_the_removed(&Cli::redis());
}
