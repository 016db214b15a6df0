//! The three example Run Code actions in `actions/` as a user runs them: `hush component
//! add`, then `hush run` of the example spec (with its placeholder secret id filled in),
//! as real processes against a real local target. No output may hold the secret.

use crate::common;
use std::path::Path;
use std::process::Output;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};

const VALUE: &str = "whsec_cli_example_0123456789";

fn hush(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let data = dir.join("data");
    let mut all = vec![("HUSH_DATA_DIR", data.to_str().unwrap())];
    all.extend_from_slice(env);
    common::run_hush(&all, args, VALUE.as_bytes(), &[VALUE])
}

fn ok(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Value {
    let out = hush(dir, args, env);
    assert!(
        out.status.success(),
        "hush {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// An org `acme` with member `mia` and a secret; returns the secret's id.
fn setup(d: &Path, name: &str) -> String {
    hush(d, &["org", "create", "acme"], &[]);
    hush(d, &["user", "add", "--org", "acme", "mia"], &[]);
    let created = ok(
        d,
        &[
            "secret",
            "create",
            "--org",
            "acme",
            "--as",
            "mia",
            "--name",
            name,
            "--value-stdin",
            "--json",
        ],
        &[],
    );
    created["id"].as_str().unwrap().to_owned()
}

/// The example spec `actions/<file>`, with its component and secret id filled in.
fn example(d: &Path, file: &str, component: &str, secret: Option<&str>) -> String {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("actions")
            .join(file),
    )
    .unwrap();
    let mut spec: Value = serde_json::from_str(&text).unwrap();
    spec["component"] = json!(component);
    let text = spec.to_string();
    let text = match secret {
        Some(id) => text.replace("sec_REPLACE", id),
        None => text,
    };
    let path = d.join(file);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn run(d: &Path, spec: &str, inputs: Value, env: &[(&str, &str)]) -> Value {
    let inputs = inputs.to_string();
    ok(
        d,
        &[
            "run", spec, "--org", "acme", "--as", "mia", "--inputs", &inputs, "--json",
        ],
        env,
    )
}

#[test]
fn transform_json_added_by_hash_totals_line_items() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, "Unused");
    let added = ok(
        d,
        &[
            "component",
            "add",
            "--org",
            "acme",
            "--as",
            "mia",
            hush::guests::TRANSFORM_JSON,
            "--json",
        ],
        &[],
    );
    let id = added["component"].as_str().unwrap();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{added}");
    let spec = example(d, "transform-json.json", id, None);
    let record = run(
        d,
        &spec,
        json!({"tax_rate_bps": 1000, "items": [
            {"sku": "a", "quantity": 2, "unit_price_cents": 150},
            {"sku": "b", "quantity": 1, "unit_price_cents": 700},
            {"sku": "a", "quantity": 1, "unit_price_cents": 150}]}),
        &[],
    );
    assert_eq!(record["status"], "succeeded", "{record}");
    assert_eq!(record["action_kind"], "run_code");
    let out = &record["result"];
    assert_eq!(out["subtotal_cents"], 1150, "{out}");
    assert_eq!(out["tax_cents"], 115, "{out}");
    assert_eq!(out["total_cents"], 1265, "{out}");
    assert_eq!(out["lines"].as_array().unwrap().len(), 2, "{out}");

    // A file that is not a component is refused with a clear message and exit code 2.
    let bogus = d.join("bogus.wasm");
    std::fs::write(&bogus, b"\0asm\x01\0\0\0").unwrap();
    let out = hush(
        d,
        &[
            "component",
            "add",
            "--org",
            "acme",
            "--as",
            "mia",
            bogus.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid component"));
}

#[test]
fn hmac_sign_signs_with_a_key_it_never_sees() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let id = setup(d, "Webhook key");
    let spec = example(d, "hmac-sign.json", hush::guests::HMAC_SIGN, Some(&id));
    // The example binds its key without "reveal": the host signs.
    assert!(!std::fs::read_to_string(&spec).unwrap().contains("reveal"));
    let record = run(
        d,
        &spec,
        json!({"payload": "order 42 paid", "timestamp": 1700000000}),
        &[],
    );
    assert_eq!(record["status"], "succeeded", "{record}");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(VALUE.as_bytes()).unwrap();
    mac.update(b"1700000000.order 42 paid");
    let expected = hex::encode(mac.finalize().into_bytes());
    assert_eq!(record["result"]["signature_hex"], expected, "{record}");
    assert_eq!(
        record["result"]["signature_header"],
        format!("t=1700000000,v1={expected}")
    );
}

/// `hush run` of a spec that binds `key` with `"reveal": true` to the hostile guest.
fn reveal_spec(d: &Path, secret: &str) -> String {
    let path = d.join("reveal.json");
    let spec = json!({"kind": "run_code", "name": "reveal", "component": hush::guests::HOSTILE,
        "secrets": {"key": {"id": secret, "reveal": true}}});
    std::fs::write(&path, spec.to_string()).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn reveal_runs_only_in_a_component_the_secrets_managers_approved() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let id = setup(d, "Reveal key");
    hush(d, &["user", "add", "--org", "acme", "bob"], &[]);
    let component = format!(
        "sha256:{}",
        hush::actions::code::content_hash(&std::fs::read(hush::guests::HOSTILE).unwrap())
    );
    let spec = reveal_spec(d, &id);
    let inputs = json!({"attack": "print_secret"}).to_string();
    let attempt = |who: &str| {
        hush(
            d,
            &[
                "run", &spec, "--org", "acme", "--as", who, "--inputs", &inputs, "--json",
            ],
            &[],
        )
    };

    // Use (the secret is team) does not let the spec's author reveal it.
    let out = attempt("bob");
    let record: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(record["status"], "failed", "{record}");
    assert_eq!(record["error"]["code"], "denied", "{record}");
    let message = record["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("\"Reveal key\"") && message.contains(&component),
        "{message}"
    );
    let logs = record["logs"].to_string();
    assert!(
        !logs.contains("stdout:") && !logs.contains("info:"),
        "the guest never ran: {logs}"
    );

    // Only a manager may approve a component; bob (Use only) may not.
    let set = |who: &str, extra: &[&str]| {
        let mut args = vec![
            "secret",
            "set-reveal-components",
            "--org",
            "acme",
            "--as",
            who,
            &id,
        ];
        args.extend_from_slice(extra);
        hush(d, &args, &[])
    };
    let refused = set("bob", &["--component", &component]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("Manage"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let approved = set("mia", &["--component", &component]);
    assert!(approved.status.success(), "{approved:?}");
    let shown = ok(
        d,
        &[
            "secret", "show", "--org", "acme", "--as", "bob", &id, "--json",
        ],
        &[],
    );
    assert_eq!(shown["reveal_components"], json!([component]), "{shown}");

    // Approved, the same run reveals (and the value stays redacted).
    let out = attempt("bob");
    let record: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(record["status"], "succeeded", "{record}");
    assert_eq!(record["result"]["raw"], "[REDACTED:Reveal key]", "{record}");

    // Cleared, it is refused again at the very next run.
    assert!(set("mia", &[]).status.success());
    let record: Value = serde_json::from_slice(&attempt("bob").stdout).unwrap();
    assert_eq!(record["error"]["code"], "denied", "{record}");
}

/// A target on its own thread that answers with the Authorization header it received.
fn target() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let app = axum::Router::new().fallback(|req: axum::extract::Request| async move {
                let auth = req
                    .headers()
                    .get("authorization")
                    .map(|v| v.to_str().unwrap().to_owned());
                axum::Json(json!({"received_auth": auth, "path": req.uri().path()}))
            });
            axum::serve(listener, app).await.unwrap();
        });
    });
    addr
}

#[test]
fn call_api_attaches_its_key_without_revealing_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let id = setup(d, "API token");
    let addr = target();
    let spec_path = example(d, "call-api.json", hush::guests::CALL_API, Some(&id));
    // Point the example's allowed host at the local target.
    let mut spec: Value =
        serde_json::from_str(&std::fs::read_to_string(&spec_path).unwrap()).unwrap();
    spec["allowed_hosts"] = json!(["127.0.0.1"]);
    std::fs::write(&spec_path, spec.to_string()).unwrap();
    let inputs = json!({"base_url": format!("http://{addr}"), "path": "/v1/me"});

    let record = run(
        d,
        &spec_path,
        inputs.clone(),
        &[("HUSH_ALLOWED_NETWORKS", "127.0.0.1/32")],
    );
    assert_eq!(record["status"], "succeeded", "{record}");
    assert_eq!(record["result"]["status"], 200);
    assert_eq!(record["result"]["body"]["path"], "/v1/me");
    // The target got the real token (the guest never held it); what it echoed back is
    // redacted before the guest sees it.
    assert_eq!(
        record["result"]["body"]["received_auth"],
        "Bearer [REDACTED:API token]"
    );

    // With the default (closed) network policy the call to loopback is refused: the guest
    // gets the refusal and returns it as its error, so the run is `action_failed` (exit
    // code 8, with --json too) and its message says why.
    let inputs = inputs.to_string();
    let out = hush(
        d,
        &[
            "run", &spec_path, "--org", "acme", "--as", "mia", "--inputs", &inputs, "--json",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(8));
    let record: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(record["error"]["code"], "action_failed", "{record}");
    assert_eq!(record["status"], "failed", "{record}");
    assert!(
        record["error"]["message"]
            .as_str()
            .unwrap()
            .contains("loopback"),
        "{record}"
    );
}

#[test]
fn component_files_are_read_only_when_regular_and_never_past_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, "Unused");
    let big = d.join("big.wasm");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(hush::actions::code::MAX_COMPONENT_BYTES as u64 + 1)
        .unwrap();
    let big = big.to_str().unwrap().to_owned();
    let dir_path = d.to_str().unwrap().to_owned();
    for (file, expect) in [
        ("/dev/zero", "not a regular file"),
        (dir_path.as_str(), "not a regular file"),
        (big.as_str(), "larger than"),
    ] {
        let out = hush(
            d,
            &["component", "add", "--org", "acme", "--as", "mia", file],
            &[],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file}: {err}");
        assert!(err.contains(expect), "{file}: {err}");

        let spec = d.join("path.json");
        std::fs::write(
            &spec,
            json!({"kind": "run_code", "name": "p", "component": file}).to_string(),
        )
        .unwrap();
        let record = run_failed(d, spec.to_str().unwrap());
        assert!(
            record["error"]["message"]
                .as_str()
                .unwrap()
                .contains(expect),
            "{file}: {record}"
        );
    }
}

/// `hush run --json` of a spec that fails: the record.
fn run_failed(d: &Path, spec: &str) -> Value {
    let out = hush(
        d,
        &["run", spec, "--org", "acme", "--as", "mia", "--json"],
        &[],
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
}
