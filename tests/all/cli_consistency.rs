//! The CLI's consistency, as a new user meets it in the first hour: one exit-code rule
//! (the README's table), held by a table where each case exits with the same code and
//! error code with and without `--json`, a failed run included; unread files said one
//! way; `--grant …=use` refused on a team secret; run ids and statuses spelled as the API
//! spells them; a component file checked before any secret is resolved; and `keys
//! rotate` in every org's audit trail.

use crate::common;
use std::path::Path;
use std::process::Output;

use serde_json::{Value, json};

const VALUE: &str = "sk_test_exit_codes_0123456789";

fn hush(dir: &Path, args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Output {
    let data = dir.join("data");
    let mut all = vec![("HUSH_DATA_DIR", data.to_str().unwrap())];
    all.extend_from_slice(env);
    common::run_hush(&all, args, stdin, &[VALUE])
}

fn ok(dir: &Path, args: &[&str], stdin: &[u8]) -> String {
    let out = hush(dir, args, &[], stdin);
    assert!(
        out.status.success(),
        "hush {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// An org `acme` with ada (admin), mia (member) and group eng, a team secret "Stripe"
/// (returned: its id) and an action file per case under `dir`.
fn setup(dir: &Path) -> String {
    ok(dir, &["org", "create", "acme"], b"");
    ok(
        dir,
        &["user", "add", "--org", "acme", "--role", "admin", "ada"],
        b"",
    );
    ok(dir, &["user", "add", "--org", "acme", "mia"], b"");
    ok(dir, &["group", "create", "--org", "acme", "eng"], b"");
    let created: Value = serde_json::from_str(&ok(
        dir,
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
            "--json",
        ],
        VALUE.as_bytes(),
    ))
    .unwrap();
    created["id"].as_str().unwrap().to_owned()
}

/// A Send API Request action file to `url` with the secret in a header.
fn action(dir: &Path, name: &str, url: &str, secret: &str) -> String {
    let path = dir.join(name);
    std::fs::write(
        &path,
        json!({
            "kind": "send_api_request", "method": "GET", "url": url,
            "headers": [{"name": "Authorization", "value": format!("Bearer {{{{secret \"{secret}\"}}}}")}]
        })
        .to_string(),
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

/// One row of the exit-code table: what it is, the arguments, the environment, stdin,
/// the exit code, the error code, and whether `--json` prints a run record.
type Row<'a> = (
    &'a str,
    Vec<String>,
    &'a [(&'a str, &'a str)],
    &'a [u8],
    i32,
    &'a str,
    bool,
);

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn every_command_exits_with_its_error_kinds_code_with_or_without_json() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let id = setup(d);
    let open = [("HUSH_ALLOWED_NETWORKS", "127.0.0.1/32")];
    let missing_input = action(d, "input.json", "http://127.0.0.1:1/{{inputs.x}}", &id);
    let loopback = action(d, "loopback.json", "http://127.0.0.1:1/", &id);
    let refused = action(
        d,
        "refused.json",
        &format!("http://127.0.0.1:{}/", closed_port()),
        &id,
    );
    let unknown_secret = action(
        d,
        "unknown.json",
        "http://127.0.0.1:1/",
        "sec_aaaaaaaaaaaaaaaaaaaaaaaaaa",
    );
    let missing_file = d.join("nope.json");
    let missing_file = missing_file.to_str().unwrap();
    let run = |file: &str| -> Vec<String> {
        ["run", file, "--org", "acme", "--as", "mia"]
            .map(str::to_owned)
            .to_vec()
    };
    let strs = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();

    let table: Vec<Row> = vec![
        (
            "a run with a missing input",
            run(&missing_input),
            &open,
            b"",
            2,
            "invalid",
            true,
        ),
        (
            "an action file that does not exist",
            run(missing_file),
            &open,
            b"",
            2,
            "invalid",
            false,
        ),
        (
            "a grant of use on a team secret",
            strs(&[
                "secret",
                "create",
                "--org",
                "acme",
                "--as",
                "ada",
                "--name",
                "Team with grant",
                "--value-stdin",
                "--grant",
                "user:mia=use",
            ]),
            &[],
            VALUE.as_bytes(),
            2,
            "invalid",
            false,
        ),
        (
            "a secret that does not exist",
            strs(&["secret", "show", "--org", "acme", "--as", "mia", "Nope"]),
            &[],
            b"",
            3,
            "not_found",
            false,
        ),
        (
            "a run naming a secret that does not exist",
            run(&unknown_secret),
            &open,
            b"",
            3,
            "not_found",
            true,
        ),
        (
            "a user named in a group who is not in the org",
            strs(&["group", "add-member", "--org", "acme", "eng", "zed"]),
            &[],
            b"",
            3,
            "not_found",
            false,
        ),
        (
            "an --as user who is not a member of the org",
            strs(&["secret", "show", "--org", "acme", "--as", "zed", "Stripe"]),
            &[],
            b"",
            4,
            "denied",
            false,
        ),
        (
            "a run the network policy refuses",
            run(&loopback),
            &[],
            b"",
            4,
            "denied",
            true,
        ),
        (
            "an org that exists",
            strs(&["org", "create", "acme"]),
            &[],
            b"",
            5,
            "conflict",
            false,
        ),
        (
            "a run whose target refuses the connection",
            run(&refused),
            &open,
            b"",
            6,
            "unavailable",
            true,
        ),
    ];

    for (what, args, env, stdin, code, kind, is_run) in table {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = hush(d, &args, env, stdin);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{what}: {err}");
        assert!(
            err.starts_with("hush: error: ") && err.trim_end().lines().count() == 1,
            "{what}: one line on stderr: {err}"
        );

        let mut json_args = args.clone();
        json_args.push("--json");
        let out = hush(d, &json_args, env, stdin);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{what} --json: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let answer: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{what} --json: one JSON document on stdout ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        });
        assert_eq!(answer["error"]["code"], kind, "{what}: {answer}");
        if is_run {
            assert_eq!(
                answer["status"], "failed",
                "{what}: the run record: {answer}"
            );
            assert!(
                answer["id"].as_str().unwrap().starts_with("run_"),
                "{what}: {answer}"
            );
        }
    }
}

#[test]
fn a_grant_of_use_needs_restricted_and_a_grant_of_manage_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let id = setup(d);
    let create = |name: &str, extra: &[&str]| {
        let mut args = vec![
            "secret",
            "create",
            "--org",
            "acme",
            "--as",
            "ada",
            "--name",
            name,
            "--value-stdin",
        ];
        args.extend_from_slice(extra);
        hush(d, &args, &[], VALUE.as_bytes())
    };
    let out = create("Use on team", &["--grant", "user:mia=use"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--restricted"),
        "the refusal says what to do: {err}"
    );

    assert!(
        create(
            "Use restricted",
            &["--restricted", "--grant", "user:mia=use"]
        )
        .status
        .success()
    );
    assert!(
        create("Manage on team", &["--grant", "user:mia=manage"])
            .status
            .success()
    );

    let out = hush(
        d,
        &[
            "secret",
            "set-access",
            "--org",
            "acme",
            "--as",
            "ada",
            &id,
            "--team",
            "--grant",
            "group:eng=use",
        ],
        &[],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn every_unread_file_is_said_the_same_way() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let id = setup(d);
    let missing = d.join("missing");
    let m = missing.to_str().unwrap();
    let spec = d.join("code.json");
    std::fs::write(
        &spec,
        json!({"kind": "run_code", "name": "p", "component": m}).to_string(),
    )
    .unwrap();
    let spec = spec.to_str().unwrap();
    let http = action(d, "http.json", "http://127.0.0.1:1/", &id);
    let cases: [(&[&str], &str); 5] = [
        (&["run", m, "--org", "acme", "--as", "mia"], "action"),
        (
            &[
                "run",
                &http,
                "--org",
                "acme",
                "--as",
                "mia",
                "--inputs-file",
                m,
            ],
            "--inputs-file",
        ),
        (&["run", spec, "--org", "acme", "--as", "mia"], "component"),
        (
            &[
                "secret",
                "create",
                "--org",
                "acme",
                "--as",
                "mia",
                "--name",
                "F",
                "--value-file",
                m,
            ],
            "--value-file",
        ),
        (
            &["component", "add", "--org", "acme", "--as", "mia", m],
            "component",
        ),
    ];
    for (args, field) in cases {
        let out = hush(d, args, &[], b"");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(
            err.trim_end(),
            format!("hush: error: invalid {field}: cannot read {m}: no such file or directory"),
            "{args:?}"
        );
    }
}

#[test]
fn hush_run_checks_the_component_file_before_resolving_any_secret() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let id = setup(d);
    let spec = d.join("code.json");
    std::fs::write(
        &spec,
        json!({"kind": "run_code", "name": "p", "component": d.join("gone.wasm"),
               "secrets": {"key": id}})
        .to_string(),
    )
    .unwrap();
    let out = hush(
        d,
        &[
            "run",
            spec.to_str().unwrap(),
            "--org",
            "acme",
            "--as",
            "mia",
        ],
        &[],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    let audit = ok(d, &["audit", "--org", "acme", "--json"], b"");
    let audit: Value = serde_json::from_str(&audit).unwrap();
    let resolves: Vec<&Value> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e.to_string().contains("secret_resolve"))
        .collect();
    assert!(resolves.is_empty(), "nothing was resolved: {resolves:?}");
}

#[test]
fn a_run_prints_its_id_and_status_as_the_api_spells_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let id = setup(d);
    let loopback = action(d, "loopback.json", "http://127.0.0.1:1/", &id);
    let out = hush(
        d,
        &["run", &loopback, "--org", "acme", "--as", "mia"],
        &[],
        b"",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("run run_") && first.contains(" failed in "),
        "{text}"
    );
}

#[test]
fn keys_rotate_leaves_an_audit_entry_in_every_org() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    ok(d, &["org", "create", "other"], b"");
    ok(d, &["keys", "rotate"], b"");
    for org in ["acme", "other"] {
        let audit: Value =
            serde_json::from_str(&ok(d, &["audit", "--org", org, "--json"], b"")).unwrap();
        let rotations: Vec<&Value> = audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "master_key_rotate")
            .collect();
        assert_eq!(rotations.len(), 1, "{org}: {audit}");
        assert_eq!(rotations[0]["outcome"], "allowed");
        assert!(
            rotations[0]["detail"]
                .as_str()
                .unwrap()
                .contains("master key version 2"),
            "{org}: {audit}"
        );
    }
}
