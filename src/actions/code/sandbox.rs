//! One run of a component: the per-run store (WASI with nothing granted, the bound
//! secrets, the limits), the call, and the sorting of how it ended into an output or a
//! clear error that names the limit hit. Everything it returns is redacted; the store,
//! and every plaintext in it, is dropped before it returns.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;

use super::host::{ActionPre, BoundSecret, Capture, RunState, Stream};
use super::limits::{Breach, MAX_RESOURCES, MemoryLimiter, Shared};
use super::spec::Limits;
use crate::actions::http::HttpSender;
use crate::error::{Error, ErrorKind};
use crate::model::LiveLog;
use crate::redact::{self, Redactor};
use crate::secrets::HostPattern;

/// How a run ended, everything redacted.
#[derive(Debug)]
pub struct Outcome {
    /// The output, or the error that ended the run.
    pub result: Result<Value, Error>,
    /// Log lines, then stdout and stderr lines, in that order.
    pub logs: Vec<String>,
    /// How many of the first `logs` were sent live as they happened.
    pub live_sent: usize,
}

/// What one run needs besides the component.
pub(super) struct RunInput<'a> {
    pub input: &'a Value,
    pub bindings: BTreeMap<String, BoundSecret>,
    pub allowed_hosts: Vec<HostPattern>,
    pub limits: &'a Limits,
    pub http: HttpSender,
    pub redactor: Arc<Redactor>,
    pub live: Option<LiveLog>,
    /// The inline code, for a runner component (empty for a user's component).
    pub script: Arc<str>,
    /// Only compile the inline code (validation at save or dispatch time).
    pub check_only: bool,
}

/// A fresh store for one run of `input` on `engine`: WASI with nothing granted, the
/// bound secrets, the memory limiter and the deadline (checked at every epoch tick, which
/// also yields to the executor). Returns the store and the run's shared output.
fn store(engine: &Engine, input: RunInput<'_>) -> (Store<RunState>, Arc<Mutex<Shared>>) {
    let limits = input.limits;
    let shared = Arc::new(Mutex::new(Shared::new(limits.max_log_bytes)));
    let timeout = Duration::from_millis(limits.timeout_ms);
    let deadline = Instant::now() + timeout;
    let wasi = WasiCtxBuilder::new()
        .stdout(Capture {
            shared: Arc::clone(&shared),
            stream: Stream::Stdout,
        })
        .stderr(Capture {
            shared: Arc::clone(&shared),
            stream: Stream::Stderr,
        })
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build();
    let mut table = ResourceTable::new();
    table.set_max_capacity(MAX_RESOURCES);
    let mb = limits.memory_mb;
    let state = RunState {
        wasi,
        table,
        limiter: MemoryLimiter {
            limit: usize::try_from(mb << 20).unwrap_or(usize::MAX),
            mb,
            shared: Arc::clone(&shared),
        },
        shared: Arc::clone(&shared),
        deadline,
        bindings: input.bindings,
        allowed_hosts: input.allowed_hosts,
        http: input.http,
        redactor: input.redactor,
        live: input.live,
        http_calls: 0,
        max_http_calls: limits.max_http_calls,
        max_response_bytes: usize::try_from(limits.max_response_bytes).unwrap_or(usize::MAX),
        request_bytes: 0,
        script: input.script,
        check_only: input.check_only,
    };
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.limiter);
    store.set_epoch_deadline(1);
    let timeout_ms = limits.timeout_ms;
    store.epoch_deadline_callback(move |ctx| {
        if Instant::now() >= deadline {
            let breach = Breach::Timeout(timeout_ms);
            let message = breach.message();
            ctx.data()
                .shared
                .lock()
                .expect("run output lock")
                .breach
                .get_or_insert(breach);
            return Err(wasmtime::format_err!("{message}"));
        }
        // Yield to the executor at every tick, so a busy guest cannot starve other runs.
        Ok(UpdateDeadline::Yield(1))
    });
    (store, shared)
}

/// A store with nothing bound, no code and the default limits: for hush's runner to set
/// itself up in before it is snapshotted (it is given no secret, no input and no script).
pub(super) fn idle_store(engine: &Engine, http: HttpSender) -> Store<RunState> {
    let limits = Limits::default();
    store(
        engine,
        RunInput {
            input: &Value::Null,
            bindings: BTreeMap::new(),
            allowed_hosts: Vec::new(),
            limits: &limits,
            http,
            redactor: Arc::new(Redactor::empty()),
            live: None,
            script: Arc::from(""),
            check_only: false,
        },
    )
    .0
}

/// Instantiates `pre` in a fresh store and calls its `run` export under the limits.
pub(super) async fn run(pre: &ActionPre<RunState>, input: RunInput<'_>) -> Outcome {
    let limits = input.limits;
    let timeout = Duration::from_millis(limits.timeout_ms);
    let timeout_ms = limits.timeout_ms;
    let redactor = Arc::clone(&input.redactor);
    let text = input.input.to_string();
    let script_given = !input.script.is_empty();
    let (mut store, shared) = store(pre.engine(), input);
    let call = async {
        let action = pre.instantiate_async(&mut store).await?;
        action.call_run(&mut store, &text).await
    };
    // Epochs interrupt guest code; this also bounds time spent in host calls.
    let called = tokio::time::timeout(timeout + Duration::from_millis(250), call)
        .await
        .ok();
    drop(store);

    let mut shared = Arc::into_inner(shared)
        .map(|m| m.into_inner().expect("run output lock"))
        .unwrap_or_else(|| Shared::new(0));
    let live_sent = shared.live_sent;
    let logs = collect_logs(&mut shared, &redactor);
    let result = match called {
        None => Err(limit_error(&Breach::Timeout(timeout_ms))),
        Some(_) if shared.breach.is_some() => {
            Err(limit_error(shared.breach.as_ref().expect("checked")))
        }
        Some(Ok(Ok(text))) => output(&text, limits, &redactor),
        // Only hush's runner reports a compile error of the inline code this way.
        Some(Ok(Err(e))) if e.code == "syntax_error" && script_given => {
            Err(Error::invalid("code", redactor.redact_str(&e.message)))
        }
        Some(Ok(Err(e))) => Err(Error::new(
            ErrorKind::ActionFailed,
            format!(
                "the action failed: {}: {}",
                redactor.redact_str(&e.code),
                redactor.redact_str(&e.message)
            ),
        )),
        Some(Err(trap)) => Err(trap_error(&trap, &logs)),
    };
    Outcome {
        result,
        logs,
        live_sent,
    }
}

fn limit_error(breach: &Breach) -> Error {
    Error::limit(breach.setting(), breach.message())
}

/// Parses, caps and redacts the guest's output.
fn output(text: &str, limits: &Limits, redactor: &Redactor) -> Result<Value, Error> {
    if u64::try_from(text.len()).unwrap_or(u64::MAX) > limits.max_output_bytes {
        return Err(limit_error(&Breach::Output(limits.max_output_bytes)));
    }
    let mut value: Value = serde_json::from_str(text).map_err(|e| {
        Error::new(
            ErrorKind::ActionFailed,
            format!("the action's output is not JSON: {e}"),
        )
    })?;
    redact::redact_json(redactor, &mut value);
    Ok(value)
}

/// A trap's message: what kind of trap, and the guest's panic message when it printed one
/// (from its redacted stderr).
fn trap_error(trap: &wasmtime::Error, logs: &[String]) -> Error {
    let what = match trap.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::StackOverflow) => {
            "the action trapped on a stack overflow (it recursed too deeply)".to_owned()
        }
        // Rust keeps its stack in linear memory; overflowing it runs off the bottom.
        Some(wasmtime::Trap::MemoryOutOfBounds) => {
            "the action trapped on an out-of-bounds memory access: most often a stack overflow \
             (it recursed too deeply)"
                .to_owned()
        }
        Some(wasmtime::Trap::UnreachableCodeReached) => {
            "the action trapped (it panicked or aborted)".to_owned()
        }
        Some(t) => format!("the action trapped: {t}"),
        None => {
            let text = format!("{trap:#}");
            if text.contains("import") || text.contains("instantiat") {
                format!("the component could not be started: {}", first_line(&text))
            } else {
                "the action trapped".to_owned()
            }
        }
    };
    let panic = logs.iter().find(|l| l.contains("panicked at")).map(|l| {
        let start = logs.iter().position(|x| x == l).unwrap_or(0);
        logs[start..]
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join(" ")
    });
    let message = match panic {
        Some(p) => format!("{what}: {p}"),
        None => what,
    };
    Error::new(ErrorKind::Trapped, message)
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// The run's log lines, then its stdout and stderr split into lines, all redacted. Each
/// stream is redacted whole before it is split, so a value split across writes is caught.
fn collect_logs(shared: &mut Shared, redactor: &Redactor) -> Vec<String> {
    let mut logs: Vec<String> = shared
        .lines
        .drain(..)
        .map(|l| redactor.redact_str(&l).into_owned())
        .collect();
    for (label, bytes) in [("stdout", &shared.stdout), ("stderr", &shared.stderr)] {
        let text = String::from_utf8_lossy(&redactor.redact_bytes(bytes)).into_owned();
        logs.extend(
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| format!("{label}: {l}")),
        );
    }
    logs
}
