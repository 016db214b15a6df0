//! Benchmarks of Run Code end to end: a trivial component (the `echo` test guest), cached,
//! with one secret resolved from Redis on every run, against a bare wasmtime
//! `InstancePre` instantiate-and-call of the same component on the same engine plus one
//! raw Redis GET; runs/s at 64 concurrent runs; and the first load of a new component
//! (compiled) against a load from the on-disk precompiled cache. And the same for
//! JavaScript: a trivial inline JS action (one secret attached) end to end against the
//! same action as the Rust `echo` component; the JS sandbox alone per run against a Node
//! `vm` new context per run (when `node` is installed); JS runs/s at 64 concurrent; and the
//! runner's cold load, compiled against from the disk cache.

mod support;

use std::sync::Arc;
use std::time::Instant;

use hush::actions::code::{CodeAction, CodeRuntime, ComponentRef, Source};
use hush::actions::http::{HttpSender, NetworkPolicy};
use hush::executor::{Executor, RunRequest, RunStatus};
use hush::model::RunId;
use redis::AsyncCommands;
use support::{count, interleaved, median, per_op_at, ratio, show};
use wasmtime::component::{ComponentType, InstancePre, Lift, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

const VALUE: &str = "sk_live_bench_code_0123456789abcdef";

/// The bare baseline's store: WASI with nothing granted, as little as a call needs.
struct Bare {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Bare {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The world's `action-error`, for the bare typed call.
#[derive(ComponentType, Lift)]
#[component(record)]
#[allow(dead_code)]
struct ActionError {
    code: String,
    message: String,
}

/// The baseline's work: a fresh store, an instance from `pre`, one call of `run`.
async fn bare_call(pre: &InstancePre<Bare>, input: &str) {
    let mut store = wasmtime::Store::new(
        pre.engine(),
        Bare {
            wasi: WasiCtxBuilder::new().build(),
            table: ResourceTable::new(),
        },
    );
    store.set_epoch_deadline(u64::MAX / 2);
    let instance = pre.instantiate_async(&mut store).await.unwrap();
    let run = instance
        .get_typed_func::<(&str,), (Result<String, ActionError>,)>(&mut store, "run")
        .unwrap();
    let (out,) = run.call_async(&mut store, (input,)).await.unwrap();
    assert!(out.is_ok());
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let support::Fixture {
        server,
        backend,
        secrets,
        key_dir: _key_dir,
        org,
        mia,
        secret,
    } = support::Fixture::start("Bench key", VALUE).await;

    // First load of a new component, then the same from the disk cache in a new runtime.
    let wasm = std::fs::read(hush::guests::ECHO).unwrap();
    let http = HttpSender::new(NetworkPolicy::closed()).unwrap();
    let mut compiled = Vec::new();
    let mut from_disk = Vec::new();
    for _ in 0..count(2, 5) {
        let cache = tempfile::tempdir().unwrap();
        let path = ComponentRef::Path(hush::guests::ECHO.into());
        let fresh = CodeRuntime::new(
            Arc::clone(&backend),
            http.clone(),
            Some(cache.path().into()),
        )
        .unwrap();
        let t = Instant::now();
        assert_eq!(fresh.warm(&org, &path).await.unwrap(), Source::Compiled);
        compiled.push(t.elapsed());
        let again = CodeRuntime::new(
            Arc::clone(&backend),
            http.clone(),
            Some(cache.path().into()),
        )
        .unwrap();
        let t = Instant::now();
        assert_eq!(again.warm(&org, &path).await.unwrap(), Source::Disk);
        from_disk.push(t.elapsed());
    }
    let (compiled, from_disk) = (median(&mut compiled), median(&mut from_disk));
    println!(
        "component first load: compiled in {}; loaded precompiled from disk in {} ({} KiB component)",
        show(compiled),
        show(from_disk),
        wasm.len() / 1024
    );
    ratio("component-load-disk-vs-compile", from_disk, compiled);

    let cache = tempfile::tempdir().unwrap();
    let code = Arc::new(
        CodeRuntime::new(
            Arc::clone(&backend),
            http.clone(),
            Some(cache.path().into()),
        )
        .unwrap(),
    );
    let id = code.add_component(&org, &mia, wasm).await.unwrap();
    let action = CodeAction::from_json(
        &serde_json::json!({
            "kind": "run_code", "name": "Echo", "component": id,
            "secrets": {"key": secret.id.as_str()},
        })
        .to_string(),
    )
    .unwrap();
    let executor = Arc::new(Executor::new(Arc::clone(&secrets), http).with_code(Arc::clone(&code)));
    let inputs = serde_json::json!({"amount": 1999, "customer": "cus_42"});
    let request = {
        let (org, mia, action, inputs) = (org.clone(), mia.clone(), action.clone(), inputs.clone());
        move || RunRequest {
            run_id: RunId::parse("bench-run").unwrap(),
            org: org.clone(),
            actor: mia.clone(),
            action: action.clone().into(),
            inputs: inputs.clone(),
        }
    };

    // The baseline: the same component on the same engine, instantiated from one
    // InstancePre and called, after a raw GET of the secret's ciphertext bytes.
    let engine = code.engine().clone();
    let component =
        wasmtime::component::Component::new(&engine, std::fs::read(hush::guests::ECHO).unwrap())
            .unwrap();
    let mut linker: Linker<Bare> = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
    // The echo guest asks for its binding names; everything else of hush's is a trap.
    linker
        .instance("hush:action/secrets@0.1.0")
        .unwrap()
        .func_wrap("bindings", |_, (): ()| Ok((vec!["key".to_owned()],)))
        .unwrap();
    linker.define_unknown_imports_as_traps(&component).unwrap();
    let pre = Arc::new(linker.instantiate_pre(&component).unwrap());
    let raw = redis::aio::ConnectionManager::new(redis::Client::open(server.url()).unwrap())
        .await
        .unwrap();
    let ciphertext: Vec<u8> = raw
        .clone()
        .hget(format!("hush:{{{org}}}:ct"), secret.id.as_str())
        .await
        .unwrap();
    let _: () = raw.clone().set("bench:raw", &ciphertext).await.unwrap();
    let input_text = inputs.to_string();
    let bare = {
        let (pre, raw, input_text) = (Arc::clone(&pre), raw.clone(), input_text.clone());
        move || {
            let (pre, mut raw, input_text) = (Arc::clone(&pre), raw.clone(), input_text.clone());
            async move {
                let _: Vec<u8> = raw.get("bench:raw").await.unwrap();
                bare_call(&pre, &input_text).await;
            }
        }
    };
    let ours = {
        let (executor, request) = (Arc::clone(&executor), request.clone());
        move || {
            let (executor, request) = (Arc::clone(&executor), request.clone());
            async move {
                let record = executor.run(request()).await;
                assert_eq!(record.status, RunStatus::Succeeded, "{:?}", record.error);
            }
        }
    };

    // `HUSH_BENCH_PROFILE=run`: only sequential runs of the echo action, for `perf record`.
    if std::env::var("HUSH_BENCH_PROFILE").is_ok_and(|v| v == "run") {
        for _ in 0..20_000 {
            ours().await;
        }
        secrets.flush().await;
        return;
    }
    let (mut a, mut b) = interleaved(count(5, 20), count(100, 200), &ours, &bare).await;
    println!(
        "run-code (echo, 1 secret): p50 {} (bare instantiate+call + raw GET p50 {})",
        show(median(&mut a)),
        show(median(&mut b))
    );
    ratio("run-code-p50", median(&mut a), median(&mut b));

    // Where the difference lies: the sandbox alone (CodeRuntime::execute with the secret
    // already resolved) against the bare instantiate-and-call alone, neither touching Redis.
    let resolved = Arc::new(
        secrets
            .resolve(
                &org,
                &mia,
                std::slice::from_ref(&secret.id),
                &RunId::parse("bench-resolve").unwrap(),
            )
            .await
            .unwrap(),
    );
    let redactor = Arc::new(hush::redact::Redactor::new([(
        "Bench key",
        VALUE.as_bytes(),
    )]));
    let sandbox = {
        let (code, action, inputs, resolved, redactor, org) = (
            Arc::clone(&code),
            action.clone(),
            inputs.clone(),
            Arc::clone(&resolved),
            Arc::clone(&redactor),
            org.clone(),
        );
        move || {
            let (code, action, inputs, resolved, redactor, org) = (
                Arc::clone(&code),
                action.clone(),
                inputs.clone(),
                Arc::clone(&resolved),
                Arc::clone(&redactor),
                org.clone(),
            );
            async move {
                let outcome = code
                    .execute(&action, &org, &inputs, &resolved, redactor, None)
                    .await;
                assert!(outcome.result.is_ok());
            }
        }
    };
    let bare_call = {
        let (pre, input_text) = (Arc::clone(&pre), input_text.clone());
        move || {
            let (pre, input_text) = (Arc::clone(&pre), input_text.clone());
            async move {
                bare_call(&pre, &input_text).await;
            }
        }
    };
    let (mut a, mut b) = interleaved(count(5, 20), count(100, 200), &sandbox, &bare_call).await;
    println!(
        "run-code sandbox alone: p50 {} (bare instantiate+call p50 {}); not a goal, it shows where time goes",
        show(median(&mut a)),
        show(median(&mut b))
    );
    let sandbox_alone = median(&mut a);
    ratio("run-code-sandbox-only-p50", sandbox_alone, median(&mut b));
    drop(resolved);

    // A peer: one isolated run of the same trivial action in a Node `vm` context made for
    // that run (the isolation of n8n's Code node), measured by `node` in this run.
    let node = node_vm_per_run(count(100, 400));
    match node {
        Some(node) => {
            println!(
                "run-code sandbox alone per run: p50 {} (Node vm new context per run: p50 {}; goal <= 0.2x)",
                show(sandbox_alone),
                show(node)
            );
            ratio("run-code-vs-node-vm-per-run", sandbox_alone, node);
        }
        None => println!(
            "run-code-vs-node-vm-per-run skipped: `node` is not installed (scripts/bench installs Debian's nodejs when root)"
        ),
    }

    let total = count(2_000, 20_000);
    let mut ours_times = Vec::new();
    let mut bare_times = Vec::new();
    for _ in 0..count(2, 3) {
        bare_times.push(per_op_at(total, 64, bare.clone()).await);
        ours_times.push(per_op_at(total, 64, ours.clone()).await);
    }
    let (ours_time, bare_time) = (median(&mut ours_times), median(&mut bare_times));
    println!(
        "run-code at 64 concurrent: {:.0} runs/s ({} per run; goal >= 5,000/s); bare: {:.0}/s ({})",
        1.0 / ours_time.as_secs_f64(),
        show(ours_time),
        1.0 / bare_time.as_secs_f64(),
        show(bare_time)
    );
    ratio("run-code-64-concurrent", ours_time, bare_time);

    javascript(
        &code, &executor, &secrets, &backend, &org, &mia, &secret, &ours, node,
    )
    .await;
    secrets.flush().await;
}

/// The trivial JavaScript action: returns its input and its binding names, with the
/// secret attached (bound), no HTTP: what `echo` does in Rust.
const JS_ECHO: &str = "export default async function run(input, { secrets }) {\n  \
    return { input, bindings: secrets.bindings(), key: String(secrets.key) };\n}\n";

/// The same function as a script, for Node's `vm` (which runs ES modules only behind a flag).
const NODE_ECHO: &str = "(async function run(input, { secrets }) {\n  \
    return { input, bindings: secrets.bindings(), key: String(secrets.key) };\n})";

#[allow(clippy::too_many_arguments)]
async fn javascript<R, RF>(
    code: &Arc<CodeRuntime>,
    executor: &Arc<Executor>,
    secrets: &Arc<hush::secrets::SecretStore>,
    backend: &Arc<dyn hush::store::Backend>,
    org: &hush::model::OrgId,
    mia: &hush::model::UserId,
    secret: &hush::secrets::SecretMeta,
    rust_run: &R,
    node: Option<std::time::Duration>,
) where
    R: Fn() -> RF + Clone + Send + Sync + 'static,
    RF: std::future::Future<Output = ()> + Send,
{
    // The runner's cold load: compiled by a new runtime, then from the disk cache.
    let http = HttpSender::new(NetworkPolicy::closed()).unwrap();
    let mut compiled = Vec::new();
    let mut from_disk = Vec::new();
    for _ in 0..count(2, 3) {
        let cache = tempfile::tempdir().unwrap();
        let fresh =
            CodeRuntime::new(Arc::clone(backend), http.clone(), Some(cache.path().into())).unwrap();
        let t = Instant::now();
        assert_eq!(fresh.warm_js_runner().await.unwrap(), Source::Compiled);
        compiled.push(t.elapsed());
        let again =
            CodeRuntime::new(Arc::clone(backend), http.clone(), Some(cache.path().into())).unwrap();
        let t = Instant::now();
        assert_eq!(again.warm_js_runner().await.unwrap(), Source::Disk);
        from_disk.push(t.elapsed());
    }
    let (compiled, from_disk) = (median(&mut compiled), median(&mut from_disk));
    println!(
        "js runner cold load: compiled in {}; from the disk cache in {}",
        show(compiled),
        show(from_disk)
    );
    ratio("js-runner-load-disk-vs-compile", from_disk, compiled);

    let action = CodeAction::from_json(
        &serde_json::json!({
            "kind": "run_code", "name": "Echo (JS)", "language": "javascript", "code": JS_ECHO,
            "secrets": {"key": secret.id.as_str()},
        })
        .to_string(),
    )
    .unwrap();
    let inputs = serde_json::json!({"amount": 1999, "customer": "cus_42"});
    let js_run = {
        let (executor, org, mia, action, inputs) = (
            Arc::clone(executor),
            org.clone(),
            mia.clone(),
            action.clone(),
            inputs.clone(),
        );
        move || {
            let request = RunRequest {
                run_id: RunId::parse("bench-js-run").unwrap(),
                org: org.clone(),
                actor: mia.clone(),
                action: action.clone().into(),
                inputs: inputs.clone(),
            };
            let executor = Arc::clone(&executor);
            async move {
                let record = executor.run(request).await;
                assert_eq!(record.status, RunStatus::Succeeded, "{:?}", record.error);
            }
        }
    };
    let (mut a, mut b) = interleaved(count(5, 20), count(50, 100), &js_run, rust_run).await;
    println!(
        "run-code JS (1 secret, no HTTP): p50 {} (the same as the Rust echo component: p50 {}; goal <= 2x)",
        show(median(&mut a)),
        show(median(&mut b))
    );
    ratio("run-code-js-p50", median(&mut a), median(&mut b));

    // The JS sandbox alone (secret already resolved, no Redis), for the Node comparison.
    let resolved = Arc::new(
        secrets
            .resolve(
                org,
                mia,
                std::slice::from_ref(&secret.id),
                &RunId::parse("bench-js-resolve").unwrap(),
            )
            .await
            .unwrap(),
    );
    let redactor = Arc::new(hush::redact::Redactor::new([(
        "Bench key",
        VALUE.as_bytes(),
    )]));
    // `HUSH_BENCH_PROFILE=js`: only the JS sandbox, run after run, for `perf record`.
    let profiling = std::env::var("HUSH_BENCH_PROFILE").is_ok_and(|v| v == "js");
    let mut sandbox = Vec::new();
    for _ in 0..if profiling { 20_000 } else { count(100, 400) } {
        let t = Instant::now();
        let outcome = code
            .execute(
                &action,
                org,
                &inputs,
                &resolved,
                Arc::clone(&redactor),
                None,
            )
            .await;
        sandbox.push(t.elapsed());
        assert!(outcome.result.is_ok(), "{:?}", outcome.result);
    }
    let sandbox = median(&mut sandbox);
    if profiling {
        println!("JS sandbox alone per run: p50 {}", show(sandbox));
        return;
    }
    match node {
        Some(node) => {
            println!(
                "JS sandbox alone per run: p50 {} (Node vm new context per run: p50 {}; goal <= 0.25x)",
                show(sandbox),
                show(node)
            );
            ratio("run-code-js-vs-node-vm", sandbox, node);
        }
        None => println!(
            "JS sandbox alone per run: p50 {}; run-code-js-vs-node-vm skipped: `node` is not installed",
            show(sandbox)
        ),
    }
    drop(resolved);

    let total = count(1_000, 5_000);
    let mut js_times = Vec::new();
    let mut rust_times = Vec::new();
    for _ in 0..count(2, 3) {
        rust_times.push(per_op_at(total, 64, rust_run.clone()).await);
        js_times.push(per_op_at(total, 64, js_run.clone()).await);
    }
    let (js_time, rust_time) = (median(&mut js_times), median(&mut rust_times));
    println!(
        "run-code JS at 64 concurrent: {:.0} runs/s ({} per run); Rust echo: {:.0}/s ({})",
        1.0 / js_time.as_secs_f64(),
        show(js_time),
        1.0 / rust_time.as_secs_f64(),
        show(rust_time)
    );
    ratio("run-code-js-64-concurrent", js_time, rust_time);
}

/// The median time of one Node `vm` run of the same function in a new context (the
/// context created, the code compiled in it, the function called and awaited), measured
/// by `node` itself; `None` when `node` is not installed.
fn node_vm_per_run(runs: usize) -> Option<std::time::Duration> {
    let script = format!(
        r#"
const vm = require("vm");
const code = {code};
const input = {{ amount: 1999, customer: "cus_42" }};
(async () => {{
  const times = [];
  for (let i = 0; i < {warm} + {runs}; i++) {{
    const t = process.hrtime.bigint();
    const context = vm.createContext({{}});
    const run = new vm.Script(code).runInContext(context);
    const secrets = {{ bindings: () => ["key"], key: {{ toString: () => "[secret key]" }} }};
    const out = await run(input, {{ secrets }});
    JSON.stringify(out);
    if (i >= {warm}) times.push(Number(process.hrtime.bigint() - t));
  }}
  times.sort((a, b) => a - b);
  console.log(times[times.length >> 1]);
}})();
"#,
        code = serde_json::to_string(NODE_ECHO).unwrap(),
        warm = 20,
    );
    let out = std::process::Command::new("node")
        .arg("-e")
        .arg(script)
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("node failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let ns: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    Some(std::time::Duration::from_nanos(ns))
}
