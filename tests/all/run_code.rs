//! Run Code end to end: real components (built from `tests/guests` and `actions/` by the
//! build script) run by the executor with real secrets from a real store, against real
//! local HTTP targets. Covers the component store and caches, every limit, every escape
//! attempt, and that a used secret never appears in a run record in any encoding.

use std::path::PathBuf;
use std::sync::Arc;

use crate::common;
use crate::common::echo::target;
use common::{Harness, Kind, assert_record_clean as assert_clean, error_of, run_as, team, user};
use hush::actions::code::{CodeAction, CodeRuntime, Source};
use hush::actions::http::{HttpSender, NetworkPolicy};
use hush::executor::{Executor, RunStatus};
use hush::guests;
use hush::secrets::HostPattern;
use serde_json::{Value, json};

const VALUE: &str = "sk_live_guest_\"Zq8/+=&x";

fn loopback_only() -> NetworkPolicy {
    NetworkPolicy::allowing(["127.0.0.1/32".parse().unwrap()])
}

fn runtime(h: &Harness, policy: NetworkPolicy) -> (Arc<CodeRuntime>, Executor) {
    h.code_executor(policy)
}

fn spec(component: &str, extra: Value) -> CodeAction {
    let mut v = json!({"kind": "run_code", "name": "test", "component": component});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    CodeAction::from_json(&v.to_string()).unwrap()
}

#[tokio::test]
async fn echo_returns_its_input_and_names_the_secrets_it_used() {
    let h = Harness::new(Kind::Redis).await;
    let (_, executor) = runtime(&h, NetworkPolicy::closed());
    let s = h.create("mia", team("Echo key", VALUE)).await;
    let action = spec(
        guests::ECHO,
        json!({"secrets": {"key": {"id": s.id.as_str()}}}),
    );
    let record = run_as(
        &h,
        &executor,
        "max",
        action,
        json!({"hello": "world", "n": [1, 2]}),
    )
    .await;
    assert_eq!(record.status, RunStatus::Succeeded, "{record:#?}");
    assert_eq!(record.action_kind, hush::actions::ActionKind::RunCode);
    let result = record.result.clone().unwrap();
    assert_eq!(
        result["input"],
        json!({"hello": "world", "n": [1, 2]}),
        "{result}"
    );
    assert_eq!(result["bindings"], json!(["key"]), "{result}");
    assert_eq!(record.secrets_used.len(), 1);
    assert_eq!(record.secrets_used[0].name, "Echo key");
    assert_clean(&record, VALUE);
}

#[tokio::test]
async fn a_component_added_to_an_org_runs_by_hash_there_and_nowhere_else() {
    let h = Harness::new(Kind::Redis).await;
    let other = Harness::new(Kind::Redis).await;
    let (code, executor) = runtime(&h, NetworkPolicy::closed());
    let bytes = std::fs::read(guests::ECHO).unwrap();
    let id = code
        .add_component(&h.org, &user("mia"), bytes.clone())
        .await
        .unwrap();
    assert_eq!(
        id,
        format!("sha256:{}", hush::actions::code::content_hash(&bytes))
    );
    // Adding it again is idempotent.
    assert_eq!(
        code.add_component(&h.org, &user("ada"), bytes.clone())
            .await
            .unwrap(),
        id
    );
    // Someone outside the org cannot add to it.
    let e = code
        .add_component(&h.org, &user("zed"), bytes)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), hush::error::ErrorKind::Denied, "{e}");

    let record = run_as(&h, &executor, "max", spec(&id, json!({})), json!({"a": 1})).await;
    assert_eq!(record.status, RunStatus::Succeeded, "{record:#?}");
    assert_eq!(record.result.unwrap()["input"], json!({"a": 1}));

    // The other org never added it: even though it is compiled and cached in this
    // process, its hash alone does not run it there.
    let (_, other_executor) = runtime(&other, NetworkPolicy::closed());
    let record = run_as(
        &other,
        &other_executor,
        "max",
        spec(&id, json!({})),
        json!({}),
    )
    .await;
    let (code_, message) = error_of(&record);
    assert_eq!(code_, "not_found", "{message}");
    assert!(message.contains("has not been added"), "{message}");
}

#[tokio::test]
async fn a_component_importing_what_the_host_lacks_is_refused_clearly() {
    let h = Harness::new(Kind::Redis).await;
    let (code, executor) = runtime(&h, NetworkPolicy::closed());
    let bytes = std::fs::read(guests::FOREIGN_IMPORT).unwrap();
    let e = code
        .add_component(&h.org, &user("mia"), bytes)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), hush::error::ErrorKind::Invalid, "{e}");
    assert!(e.message().contains("hush:evil/backdoor"), "{e}");
    let record = run_as(
        &h,
        &executor,
        "mia",
        spec(guests::FOREIGN_IMPORT, json!({})),
        json!({}),
    )
    .await;
    let (c, message) = error_of(&record);
    assert_eq!(c, "invalid");
    assert!(message.contains("does not provide"), "{message}");
}

#[tokio::test]
async fn bytes_that_are_not_a_component_are_refused_and_nothing_is_stored() {
    let h = Harness::new(Kind::Redis).await;
    let (code, _) = runtime(&h, NetworkPolicy::closed());
    // A core module (not a component), and garbage.
    let core_module = b"\0asm\x01\0\0\0".to_vec();
    for bytes in [core_module, b"not wasm at all".to_vec(), Vec::new()] {
        let e = code
            .add_component(&h.org, &user("mia"), bytes.clone())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), hush::error::ErrorKind::Invalid, "{e}");
        assert!(e.message().starts_with("invalid component"), "{e}");
        let hash = hush::actions::code::content_hash(&bytes);
        let stored = h
            .backend
            .read(&h.org, &[(hush::store::Table::Components, &hash)])
            .await
            .unwrap();
        assert!(stored[0].is_none());
    }
}

#[tokio::test]
async fn a_precompiled_component_is_loaded_from_disk_by_a_new_runtime() {
    let h = Harness::new(Kind::Redis).await;
    let dir = tempfile::tempdir().unwrap();
    let http = HttpSender::new(NetworkPolicy::closed()).unwrap();
    let reference = hush::actions::code::ComponentRef::Path(PathBuf::from(guests::TRANSFORM_JSON));
    let first = CodeRuntime::new(
        Arc::clone(&h.backend),
        http.clone(),
        Some(dir.path().into()),
    )
    .unwrap();
    assert_eq!(
        first.warm(&h.org, &reference).await.unwrap(),
        Source::Compiled
    );
    assert_eq!(
        first.warm(&h.org, &reference).await.unwrap(),
        Source::Memory
    );
    let second = CodeRuntime::new(Arc::clone(&h.backend), http, Some(dir.path().into())).unwrap();
    assert_eq!(second.warm(&h.org, &reference).await.unwrap(), Source::Disk);
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(files.len(), 1, "one precompiled artifact");
}

/// Each abusive guest ends with its own clear error while well-behaved runs going on at
/// the same time finish correctly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_abuse_ends_each_run_with_its_own_error_while_others_finish() {
    let h = Harness::new(Kind::Redis).await;
    let t = target().await;
    let (_, executor) = runtime(&h, loopback_only());
    let hostile = |attack: Value, limits: Value| {
        let action = spec(
            guests::HOSTILE,
            json!({"allowed_hosts": ["127.0.0.1"], "limits": limits}),
        );
        (action, attack)
    };
    let cases: Vec<((CodeAction, Value), &str, &str)> = vec![
        (
            hostile(
                json!({"attack": "infinite_loop"}),
                json!({"timeout_ms": 300}),
            ),
            "limit_exceeded",
            "time limit of 300 ms",
        ),
        (
            hostile(json!({"attack": "stack_overflow"}), json!({})),
            "trapped",
            "stack overflow",
        ),
        (
            hostile(json!({"attack": "memory_bomb"}), json!({"memory_mb": 16})),
            "limit_exceeded",
            "memory limit of 16 MiB",
        ),
        (
            hostile(json!({"attack": "stdout_flood"}), json!({})),
            "limit_exceeded",
            "bytes of logs, stdout and stderr",
        ),
        (
            hostile(
                json!({"attack": "log_flood"}),
                json!({"max_log_bytes": 10000}),
            ),
            "limit_exceeded",
            "more than 10000 bytes of logs",
        ),
        (
            hostile(
                json!({"attack": "http_flood", "url": t.url("/flood")}),
                json!({"max_http_calls": 20}),
            ),
            "limit_exceeded",
            "more than 20 HTTP calls",
        ),
        (
            hostile(json!({"attack": "request_hoard"}), json!({})),
            "limit_exceeded",
            "MiB of unsent requests",
        ),
        (
            hostile(
                json!({"attack": "big_output", "bytes": 2000}),
                json!({"max_output_bytes": 1000}),
            ),
            "limit_exceeded",
            "more than 1000 bytes of output",
        ),
    ];
    let good = spec(guests::ECHO, json!({}));
    let mut abusive = Vec::new();
    for ((action, input), _, _) in &cases {
        abusive.push(run_as(&h, &executor, "mia", action.clone(), input.clone()));
    }
    let mut well_behaved = Vec::new();
    for i in 0..20 {
        well_behaved.push(run_as(&h, &executor, "mia", good.clone(), json!({"i": i})));
    }
    let (abusive, well_behaved) = tokio::join!(
        futures::future::join_all(abusive),
        futures::future::join_all(well_behaved)
    );
    for (record, (_, code, needle)) in abusive.iter().zip(&cases) {
        let (c, message) = error_of(record);
        assert_eq!(&c, code, "{message}");
        assert!(
            message.contains(needle),
            "expected {needle:?} in {message:?}"
        );
    }
    for (i, record) in well_behaved.iter().enumerate() {
        assert_eq!(record.status, RunStatus::Succeeded, "{record:#?}");
        assert_eq!(record.result.as_ref().unwrap()["input"], json!({"i": i}));
    }
    // The flood stopped at the cap: exactly 20 calls reached the target.
    let flood = t
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.uri == "/flood")
        .count();
    assert_eq!(flood, 20);
}

#[tokio::test]
async fn guest_http_is_refused_off_the_allowed_hosts_and_to_private_and_metadata_addresses() {
    let h = Harness::new(Kind::Redis).await;
    let t = target().await;
    let cases = [
        // Not in the action's allowed hosts (none by default).
        (
            vec![],
            loopback_only(),
            t.url("/x"),
            "may not call 127.0.0.1",
        ),
        // Allowed by the action, refused by the default network policy.
        (
            vec!["127.0.0.1"],
            NetworkPolicy::closed(),
            t.url("/x"),
            "loopback",
        ),
        (
            vec!["169.254.169.254"],
            NetworkPolicy::closed(),
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            "169.254.169.254",
        ),
        (
            vec!["localtest.me", "localhost"],
            NetworkPolicy::closed(),
            format!("http://localhost:{}/x", t.addr.port()),
            "localhost",
        ),
    ];
    for (allowed, policy, url, needle) in cases {
        let (_, executor) = runtime(&h, policy);
        let action = spec(guests::HOSTILE, json!({"allowed_hosts": allowed}));
        let record = run_as(
            &h,
            &executor,
            "mia",
            action,
            json!({"attack": "http_to", "url": url}),
        )
        .await;
        let (c, message) = error_of(&record);
        assert_eq!(c, "action_failed", "{message}");
        assert!(
            message.contains("not_allowed") && message.contains(needle),
            "{url}: {message}"
        );
    }
    assert!(
        t.seen.lock().unwrap().is_empty(),
        "nothing reached the target"
    );
}

#[tokio::test]
async fn a_guest_sees_no_files_no_environment_and_no_sockets() {
    let h = Harness::new(Kind::Redis).await;
    let t = target().await;
    let (_, executor) = runtime(&h, loopback_only());
    let action = spec(guests::HOSTILE, json!({}));
    let files = run_as(
        &h,
        &executor,
        "mia",
        action.clone(),
        json!({"attack": "read_file"}),
    )
    .await;
    let out = files.result.clone().unwrap_or_else(|| panic!("{files:#?}"));
    assert!(out["etc_passwd"]["error"].is_string(), "{out}");
    assert!(out["read_dir_root"]["error"].is_string(), "{out}");

    let env = run_as(
        &h,
        &executor,
        "mia",
        action.clone(),
        json!({"attack": "read_env"}),
    )
    .await;
    let out = env.result.clone().unwrap_or_else(|| panic!("{env:#?}"));
    assert_eq!(out["vars"], json!({}), "{out}");

    let addr = t.addr.to_string();
    let socket = run_as(
        &h,
        &executor,
        "mia",
        action,
        json!({"attack": "open_socket", "addr": addr}),
    )
    .await;
    let out = socket
        .result
        .clone()
        .unwrap_or_else(|| panic!("{socket:#?}"));
    assert_eq!(out["connected"], json!(false), "{out}");
    assert!(t.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn unbound_secrets_and_reveal_without_permission_are_clear_errors() {
    let h = Harness::new(Kind::Redis).await;
    let (_, executor) = runtime(&h, NetworkPolicy::closed());
    let s = h.create("mia", team("Hidden key", VALUE)).await;
    let action = spec(guests::HOSTILE, json!({"secrets": {"key": s.id.as_str()}}));
    let record = run_as(
        &h,
        &executor,
        "mia",
        action.clone(),
        json!({"attack": "unbound_secret"}),
    )
    .await;
    let (_, message) = error_of(&record);
    assert!(
        message.contains("no secret is bound as \"nope\""),
        "{message}"
    );
    let record = run_as(
        &h,
        &executor,
        "mia",
        action,
        json!({"attack": "reveal_denied"}),
    )
    .await;
    let (_, message) = error_of(&record);
    assert!(message.contains("may not be revealed"), "{message}");
    assert_clean(&record, VALUE);
}

#[tokio::test]
async fn a_trap_and_a_panic_carrying_a_revealed_secret_fail_redacted() {
    let h = Harness::new(Kind::Redis).await;
    let (_, executor) = runtime(&h, NetworkPolicy::closed());
    let s = h.create("mia", team("Panic key", VALUE)).await;
    h.approve_reveal(&s.id, guests::HOSTILE).await;
    let action = spec(
        guests::HOSTILE,
        json!({"secrets": {"key": {"id": s.id.as_str(), "reveal": true}}}),
    );
    let record = run_as(
        &h,
        &executor,
        "mia",
        action.clone(),
        json!({"attack": "trap"}),
    )
    .await;
    let (c, message) = error_of(&record);
    assert_eq!(c, "trapped", "{message}");

    let record = run_as(
        &h,
        &executor,
        "mia",
        action,
        json!({"attack": "panic_with_secret"}),
    )
    .await;
    let (c, message) = error_of(&record);
    assert_eq!(c, "trapped", "{message}");
    assert!(message.contains("leaked [REDACTED:Panic key]"), "{message}");
    assert_clean(&record, VALUE);
}

#[tokio::test]
async fn a_revealed_secret_printed_in_every_encoding_is_redacted_everywhere() {
    let h = Harness::new(Kind::Redis).await;
    let (_, executor) = runtime(&h, NetworkPolicy::closed());
    let s = h.create("mia", team("Printed key", VALUE)).await;
    h.approve_reveal(&s.id, guests::HOSTILE).await;
    let action = spec(
        guests::HOSTILE,
        json!({"secrets": {"key": {"id": s.id.as_str(), "reveal": true}}}),
    );
    let record = run_as(
        &h,
        &executor,
        "mia",
        action,
        json!({"attack": "print_secret"}),
    )
    .await;
    assert_eq!(record.status, RunStatus::Succeeded, "{record:#?}");
    for prefix in ["stdout: raw", "stderr: raw", "info: raw"] {
        assert!(
            record
                .logs
                .iter()
                .any(|l| l.starts_with(prefix) && l.contains("[REDACTED:Printed key]")),
            "{prefix}: {:#?}",
            record.logs
        );
    }
    assert_eq!(
        record.result.as_ref().unwrap()["raw"],
        json!("[REDACTED:Printed key]")
    );
    assert_clean(&record, VALUE);
}

#[tokio::test]
async fn an_attached_secret_reaches_the_target_intact_without_reveal_and_its_echo_is_redacted() {
    let h = Harness::new(Kind::Redis).await;
    let t = target().await;
    let (_, executor) = runtime(&h, loopback_only());
    let s = h.create("mia", team("Attached key", VALUE)).await;
    let action = spec(
        guests::HOSTILE,
        json!({"secrets": {"key": s.id.as_str()}, "allowed_hosts": ["127.0.0.1"]}),
    );
    let input = json!({"attack": "attach_secret", "url": t.url("/attach"), "query": "api_key"});
    let record = run_as(&h, &executor, "max", action.clone(), input).await;
    assert_eq!(record.status, RunStatus::Succeeded, "{record:#?}");
    let seen = t.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].headers["authorization"], format!("Bearer {VALUE}"));
    let query = seen[0].uri.split_once('?').unwrap().1.to_owned();
    let got: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(got, [("api_key".to_owned(), VALUE.to_owned())]);
    // The target echoed the secret back in its body and a header: the guest saw it
    // redacted, so the output holds no value either.
    let out = record.result.clone().unwrap();
    assert!(
        out["body"]
            .as_str()
            .unwrap()
            .contains("[REDACTED:Attached key]"),
        "{out}"
    );
    assert_clean(&record, VALUE);

    // Basic auth, with the same secret as the password.
    let input = json!({"attack": "attach_secret", "url": t.url("/basic"), "bearer": false, "basic_user": "acct"});
    let record = run_as(&h, &executor, "max", action, input).await;
    assert_eq!(record.status, RunStatus::Succeeded, "{record:#?}");
    let seen = t.seen.lock().unwrap().clone();
    let expected = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("acct:{VALUE}")
        )
    );
    assert_eq!(seen[1].headers["authorization"], expected);
    assert_clean(&record, VALUE);
}

#[tokio::test]
async fn an_attached_secret_is_never_sent_off_its_own_allowed_hosts() {
    let h = Harness::new(Kind::Redis).await;
    let t = target().await;
    let (_, executor) = runtime(&h, loopback_only());
    let mut new = team("Stripe only", VALUE);
    new.allowed_hosts = vec![HostPattern::parse("api.stripe.com").unwrap()];
    let s = h.create("mia", new).await;
    let action = spec(
        guests::HOSTILE,
        json!({"secrets": {"key": s.id.as_str()}, "allowed_hosts": ["127.0.0.1"]}),
    );
    let input = json!({"attack": "attach_secret", "url": t.url("/steal")});
    let record = run_as(&h, &executor, "mia", action, input).await;
    let (_, message) = error_of(&record);
    assert!(
        message.contains("\"Stripe only\"") && message.contains("may not be sent to 127.0.0.1"),
        "{message}"
    );
    assert!(t.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_run_code_action_needs_use_permission_on_every_bound_secret() {
    let h = Harness::new(Kind::Redis).await;
    let (_, executor) = runtime(&h, NetworkPolicy::closed());
    let s = h
        .create(
            "mia",
            common::restricted("Mia only", VALUE, &["user:mia=use"]),
        )
        .await;
    let action = spec(guests::ECHO, json!({"secrets": {"key": s.id.as_str()}}));
    let record = run_as(&h, &executor, "max", action.clone(), json!({})).await;
    let (c, message) = error_of(&record);
    assert_eq!(c, "denied", "{message}");
    assert!(message.contains("Mia only"), "{message}");
    let record = run_as(&h, &executor, "mia", action, json!({})).await;
    assert_eq!(record.status, RunStatus::Succeeded, "{record:#?}");
}

#[tokio::test]
async fn a_revealed_secret_sent_by_the_guest_itself_is_held_to_its_allowed_hosts() {
    let h = Harness::new(Kind::Redis).await;
    let t = target().await;
    let (_, executor) = runtime(&h, loopback_only());
    let mut new = team("Revealed stripe", VALUE);
    new.allowed_hosts = vec![HostPattern::parse("api.stripe.com").unwrap()];
    let s = h.create("mia", new).await;
    h.approve_reveal(&s.id, guests::HOSTILE).await;
    let action = spec(
        guests::HOSTILE,
        json!({"secrets": {"key": {"id": s.id.as_str(), "reveal": true}}, "allowed_hosts": ["127.0.0.1"]}),
    );
    for how in ["header", "query", "body"] {
        let input = json!({"attack": "exfiltrate", "url": t.url("/steal"), "how": how});
        let record = run_as(&h, &executor, "mia", action.clone(), input).await;
        let (_, message) = error_of(&record);
        assert!(
            message.contains("\"Revealed stripe\"")
                && message.contains("may not be sent to 127.0.0.1"),
            "{how}: {message}"
        );
        assert_clean(&record, VALUE);
    }
    assert!(
        t.seen.lock().unwrap().is_empty(),
        "nothing reached the target"
    );

    // A secret without allowed hosts may go wherever the action may call.
    let free = h
        .create("mia", team("Free key", "free_value_0123456789"))
        .await;
    h.approve_reveal(&free.id, guests::HOSTILE).await;
    let action = spec(
        guests::HOSTILE,
        json!({"secrets": {"key": {"id": free.id.as_str(), "reveal": true}}, "allowed_hosts": ["127.0.0.1"]}),
    );
    let input = json!({"attack": "exfiltrate", "url": t.url("/ok"), "how": "header"});
    let record = run_as(&h, &executor, "mia", action, input).await;
    assert_eq!(record.status, RunStatus::Succeeded, "{record:#?}");
    assert_eq!(t.seen.lock().unwrap().len(), 1);
}

/// A team secret allowed only on api.stripe.com, bound as `key` with `"reveal": true` to
/// the hostile guest, and a free secret bound as `other`.
async fn revealing_action(h: &Harness, name: &str) -> (CodeAction, hush::model::SecretId) {
    let mut new = team(name, VALUE);
    new.allowed_hosts = vec![HostPattern::parse("api.stripe.com").unwrap()];
    let s = h.create("mia", new).await;
    let other = h
        .create(
            "mia",
            team(&format!("{name} other"), "other_value_0123456789"),
        )
        .await;
    let action = spec(
        guests::HOSTILE,
        json!({"secrets": {"key": {"id": s.id.as_str(), "reveal": true}, "other": other.id.as_str()},
               "allowed_hosts": ["127.0.0.1"]}),
    );
    (action, s.id)
}

#[tokio::test]
async fn reveal_is_refused_before_anything_runs_unless_the_secrets_managers_approved_the_component()
{
    let h = Harness::new(Kind::Redis).await;
    let t = target().await;
    let (_, executor) = runtime(&h, loopback_only());
    let (action, id) = revealing_action(&h, "Unapproved key").await;
    let component = format!(
        "sha256:{}",
        hush::actions::code::content_hash(&std::fs::read(guests::HOSTILE).unwrap())
    );
    // mia created the secret and max may Use it (team): neither wrote "reveal" into a
    // spec and saw the value, whatever the guest does first.
    let attacks = [
        json!({"attack": "smuggle", "url": t.url("/first"), "how": "nothing"}),
        json!({"attack": "print_secret"}),
    ];
    for (actor, input) in ["mia", "max"]
        .iter()
        .flat_map(|a| attacks.iter().map(move |i| (*a, i.clone())))
    {
        let record = run_as(&h, &executor, actor, action.clone(), input).await;
        let (code, message) = error_of(&record);
        assert_eq!(code, "denied", "{message}");
        assert!(
            message.contains("\"Unapproved key\"")
                && message.contains(id.as_str())
                && message.contains(&component),
            "{message}"
        );
        // The executor's own lines only: the guest printed and logged nothing.
        assert!(
            record
                .logs
                .iter()
                .all(|l| l.starts_with("resolved ") || l.starts_with("failed: ")),
            "nothing ran: {:?}",
            record.logs
        );
        assert_clean(&record, VALUE);
    }
    assert!(t.seen.lock().unwrap().is_empty(), "the guest never ran");

    // Approving another component does not approve this one.
    h.secrets
        .set_reveal_components(
            &h.org,
            &user("mia"),
            &id,
            vec![hush::model::ComponentId::from_hex(&"ab".repeat(32)).unwrap()],
        )
        .await
        .unwrap();
    let record = run_as(
        &h,
        &executor,
        "max",
        action.clone(),
        json!({"attack": "print_secret"}),
    )
    .await;
    assert_eq!(error_of(&record).0, "denied");

    // A member with Use only cannot approve it.
    let e = h
        .secrets
        .set_reveal_components(
            &h.org,
            &user("max"),
            &id,
            vec![hush::model::ComponentId::parse(&component).unwrap()],
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), hush::error::ErrorKind::Denied, "{e}");

    // Approved by a manager, it runs; the approval is audited.
    h.approve_reveal(&id, guests::HOSTILE).await;
    let record = run_as(
        &h,
        &executor,
        "max",
        action,
        json!({"attack": "print_secret"}),
    )
    .await;
    assert_eq!(record.status, RunStatus::Succeeded, "{record:#?}");
    assert_clean(&record, VALUE);
    let audit = h.audit.list(&h.org, None, 500).await.unwrap().entries;
    assert!(
        audit
            .iter()
            .any(|e| format!("{e:?}").contains("SecretSetRevealComponents")
                && format!("{e:?}").contains(&component)),
        "{audit:#?}"
    );
}

#[tokio::test]
async fn once_revealed_every_call_is_held_to_the_secrets_allowed_hosts_whatever_it_carries() {
    let h = Harness::new(Kind::Redis).await;
    let t = target().await;
    let (_, executor) = runtime(&h, loopback_only());
    let (action, id) = revealing_action(&h, "Smuggled key").await;
    h.approve_reveal(&id, guests::HOSTILE).await;
    // The name of an attached query parameter, the prefix of an attached header, the
    // basic-auth user name, a reversed copy, or nothing of it at all: the run revealed
    // the value, so it may call only the hosts the secret is allowed on.
    for how in [
        "query_name",
        "header_prefix",
        "basic_user",
        "reversed",
        "nothing",
    ] {
        let input = json!({"attack": "smuggle", "url": t.url("/steal"), "how": how});
        let record = run_as(&h, &executor, "max", action.clone(), input).await;
        let (_, message) = error_of(&record);
        assert!(
            message.contains("\"Smuggled key\"")
                && message.contains("may not be sent to 127.0.0.1")
                && message.contains("revealed"),
            "{how}: {message}"
        );
        assert_clean(&record, VALUE);
    }
    assert!(
        t.seen.lock().unwrap().is_empty(),
        "nothing reached the target"
    );
    // Without a reveal, the same guest may attach `other` to the same host.
    let input = json!({"attack": "attach_secret", "url": t.url("/ok"), "bearer": false, "basic_user": "acct"});
    let plain = spec(
        guests::HOSTILE,
        json!({"secrets": {"key": action.secrets["other"].id.as_str()}, "allowed_hosts": ["127.0.0.1"]}),
    );
    let record = run_as(&h, &executor, "max", plain, input).await;
    assert_eq!(record.status, RunStatus::Succeeded, "{record:#?}");
    assert_eq!(t.seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_guest_signs_with_hmac_sha256_and_sha512_without_the_value_entering_it() {
    use hmac::{Hmac, Mac};
    let h = Harness::new(Kind::Redis).await;
    let (_, executor) = runtime(&h, NetworkPolicy::closed());
    let s = h.create("mia", team("Signing key", VALUE)).await;
    // No reveal in the binding, and no approval.
    let action = spec(guests::HOSTILE, json!({"secrets": {"key": s.id.as_str()}}));
    let data = "order 42 paid";
    let record = run_as(
        &h,
        &executor,
        "max",
        action,
        json!({"attack": "hmac", "data": data}),
    )
    .await;
    assert_eq!(record.status, RunStatus::Succeeded, "{record:#?}");
    let out = record.result.clone().unwrap();
    let mut m256 = Hmac::<sha2::Sha256>::new_from_slice(VALUE.as_bytes()).unwrap();
    m256.update(data.as_bytes());
    let mut m512 = Hmac::<sha2::Sha512>::new_from_slice(VALUE.as_bytes()).unwrap();
    m512.update(data.as_bytes());
    assert_eq!(
        out["sha256"],
        hex::encode(m256.finalize().into_bytes()),
        "{out}"
    );
    assert_eq!(
        out["sha512"],
        hex::encode(m512.finalize().into_bytes()),
        "{out}"
    );
    assert_clean(&record, VALUE);
}

/// A freed instance's memory slot is reused (and kept resident) for the next run of the
/// same component: nothing a run left in its memory is readable by the next one.
#[tokio::test]
async fn a_run_finds_nothing_a_previous_run_left_in_its_memory() {
    let h = Harness::new(Kind::Redis).await;
    let (_, executor) = runtime(&h, NetworkPolicy::closed());
    let action = spec(guests::HOSTILE, json!({}));
    let mark = "left-behind-by-run-1:7f3a9c";
    // Runs `attack` on `action` and returns its output.
    let attack = async |action: &CodeAction, attack: Value| -> Value {
        let record = run_as(&h, &executor, "mia", action.clone(), attack).await;
        assert_eq!(record.status, RunStatus::Succeeded, "{record:#?}");
        record.result.unwrap()
    };
    let leave = json!({"attack": "leave_mark", "mark": mark, "mb": 4});
    let find = json!({"attack": "find_mark", "mark": mark});
    for _ in 0..3 {
        attack(&action, leave.clone()).await;
    }
    for _ in 0..3 {
        let out = attack(&action, find.clone()).await;
        assert!(out["scanned"].as_u64().unwrap() > 1 << 20, "{out}");
        assert_eq!(
            out["found"], 0,
            "a run read what an earlier one left: {out}"
        );
    }
    // Nor does another component given the slot next: the same guest with a custom
    // section appended is another module (another hash, another memory image).
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("hostile-other.wasm");
    let mut bytes = std::fs::read(guests::HOSTILE).unwrap();
    let name = b"hush-test";
    bytes.extend_from_slice(&[
        0,
        u8::try_from(name.len() + 2).unwrap(),
        u8::try_from(name.len()).unwrap(),
    ]);
    bytes.extend_from_slice(name);
    bytes.push(1);
    std::fs::write(&other, &bytes).unwrap();
    let other_action = spec(other.to_str().unwrap(), json!({}));
    for _ in 0..3 {
        attack(&action, leave.clone()).await;
        let out = attack(&other_action, find.clone()).await;
        assert_eq!(
            out["found"], 0,
            "another component read what a run left: {out}"
        );
    }
    // The scan does find a mark when there is one (left by the same run).
    let mut control = find.clone();
    control["control"] = json!(true);
    let out = attack(&action, control).await;
    assert!(out["found"].as_u64().unwrap() > 1000, "{out}");
}
