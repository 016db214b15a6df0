//! The Run Code action kind: a user's WebAssembly component, or inline JavaScript run by
//! hush's own runner component (`runners/javascript`, the code handed in as data through
//! the `script` interface), in a wasmtime sandbox against the `hush:action` WIT world
//! (`wit/hush.wit`). It owns the shared runtime (one
//! engine with the pooling allocator, an epoch ticker, the component caches) and the
//! per-run sandbox; it never fetches a secret (the executor hands them in) and never
//! returns or logs anything unredacted.
//!
//! - `spec`: the JSON spec ([`CodeAction`]) and its limits;
//! - [`CodeRuntime`]: shared by every run: [`CodeRuntime::add_component`] and
//!   [`CodeRuntime::execute`];
//! - `host`: the WIT host implementation; `limits`: breaches and the run's output ledger;
//!   `sandbox`: one run under its limits;
//!   `components`: compile, cache and store components.
//!
//! A guest gets no filesystem, no environment, no sockets and no stdin; its stdout and
//! stderr go to the run's logs. Its time (epoch interruption, yielding to other runs at
//! every tick), memory, logs, output and HTTP calls are capped per run, and a breach
//! ends that run with an error naming the limit.

mod components;
mod host;
mod limits;
mod preinit;
mod sandbox;
pub(crate) mod spec;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;
use wasmtime::component::Linker;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use zeroize::Zeroizing;

pub use components::{MAX_COMPONENT_BYTES, Source, content_hash, read_component_file};
pub use limits::Breach;
pub use sandbox::Outcome;
pub use spec::{Binding, CodeAction, ComponentRef, Language, Limits, MAX_CODE_BYTES, Program};

use crate::actions::http::HttpSender;
use crate::error::{Error, Result};
use crate::model::{ComponentId, LiveLog, OrgId, UserId};
use crate::redact::Redactor;
use crate::secrets::{ResolvedSecret, SecretMeta};
use crate::store::Backend;

/// How often the epoch ticks: the granularity of timeouts and of yielding.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);
/// Component instances that may be live at once (the pooling allocator's slots).
pub const MAX_CONCURRENT_INSTANCES: u32 = 256;
/// How much of a freed linear memory stays resident for the next instance in its slot.
/// A JavaScript run touches less than 2 MiB; 2, 4, 8 and 16 MiB measured the same for it,
/// and every warm slot (100 at most, wasmtime's default) may hold this much.
const KEEP_RESIDENT_BYTES: usize = 4 << 20;

/// The shared Run Code runtime: the engine, the linker with the host's interfaces, the
/// component caches and the HTTP client. Cheap to share behind an `Arc`.
pub struct CodeRuntime {
    engine: Engine,
    components: components::Components,
    http: HttpSender,
    ticking: Arc<AtomicBool>,
}

impl Drop for CodeRuntime {
    fn drop(&mut self) {
        self.ticking.store(false, Ordering::Relaxed);
    }
}

fn engine() -> Result<Engine> {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.wasm_component_model(true);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(MAX_CONCURRENT_INSTANCES);
    pool.total_core_instances(MAX_CONCURRENT_INSTANCES * 8);
    pool.total_memories(MAX_CONCURRENT_INSTANCES * 2);
    pool.total_tables(MAX_CONCURRENT_INSTANCES * 4);
    pool.total_stacks(MAX_CONCURRENT_INSTANCES);
    pool.max_memory_size(usize::try_from(spec::MAX_MEMORY_MB << 20).unwrap_or(usize::MAX));
    // A freed slot is reset in place (only its dirty pages, found with PAGEMAP_SCAN where
    // the kernel has it, restored from the component's memory image) and its first pages
    // stay resident: the next run of the same component (the JavaScript runner's snapshot
    // above all) starts without a page fault per page it touches.
    pool.pagemap_scan(wasmtime::Enabled::Auto);
    pool.linear_memory_keep_resident(KEEP_RESIDENT_BYTES);
    pool.table_keep_resident(KEEP_RESIDENT_BYTES / 64);
    let mut pooled = config.clone();
    pooled.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    match Engine::new(&pooled) {
        Ok(engine) => Ok(engine),
        // The pool reserves its slots' address space up front (terabytes of it, never
        // touched); where that is not allowed (`ulimit -v`, valgrind), allocate per
        // instance instead: slower to instantiate, same limits.
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "the wasm instance pool could not be reserved; allocating on demand");
            Engine::new(&config)
                .map_err(|e| Error::internal(format!("the wasm engine could not be set up: {e:#}")))
        }
    }
}

impl CodeRuntime {
    /// A runtime storing components through `backend`, calling out through `http`, and
    /// keeping precompiled components under `cache_dir` (none: compile in memory only).
    ///
    /// # Errors
    /// [`Internal`](crate::error::ErrorKind::Internal) when the engine cannot be set up.
    pub fn new(
        backend: Arc<dyn Backend>,
        http: HttpSender,
        cache_dir: Option<PathBuf>,
    ) -> Result<Self> {
        let engine = engine()?;
        let mut linker: Linker<host::RunState> = Linker::new(&engine);
        let wire = |e: wasmtime::Error| {
            Error::internal(format!("the host interfaces could not be linked: {e:#}"))
        };
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(wire)?;
        host::Action::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |s| s)
            .map_err(wire)?;
        let ticking = Arc::new(AtomicBool::new(true));
        {
            let engine = engine.clone();
            let ticking = Arc::clone(&ticking);
            std::thread::Builder::new()
                .name("hush-epoch".into())
                .spawn(move || {
                    while ticking.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                })
                .map_err(|_| Error::internal("the epoch ticker could not start"))?;
        }
        Ok(CodeRuntime {
            components: components::Components::new(engine.clone(), linker, backend, cache_dir),
            engine,
            http,
            ticking,
        })
    }

    /// The engine, for benchmarks that measure against a bare instantiation.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Checks a component against the `hush:action` world, compiles it and stores it for
    /// `org`, content-addressed. Returns its id, `sha256:<hex>`.
    ///
    /// # Errors
    /// [`Invalid`](crate::error::ErrorKind::Invalid) when it is not a component of the
    /// world (it imports something hush does not provide, or lacks `run`);
    /// [`Denied`](crate::error::ErrorKind::Denied) when `actor` is not a member.
    pub async fn add_component(
        &self,
        org: &OrgId,
        actor: &UserId,
        bytes: Vec<u8>,
    ) -> Result<String> {
        let hash = self.components.add(org, actor, bytes).await?;
        Ok(format!("sha256:{hash}"))
    }

    /// Loads (and compiles, if new) the component `reference` names for `org`, and says
    /// where it came from.
    ///
    /// # Errors
    /// As [`CodeRuntime::execute`] does for its component.
    pub async fn warm(&self, org: &OrgId, reference: &ComponentRef) -> Result<Source> {
        self.components
            .load(org, reference)
            .await
            .map(|(_, s, _)| s)
    }

    /// Runs `spec` on `inputs` with the resolved `secrets` it binds. Everything in the
    /// outcome is redacted with `redactor`; the plaintexts handed to the sandbox are
    /// dropped (and wiped) before this returns.
    pub async fn execute(
        &self,
        spec: &CodeAction,
        org: &OrgId,
        inputs: &Value,
        secrets: &[ResolvedSecret],
        redactor: Arc<Redactor>,
        live: Option<LiveLog>,
    ) -> Outcome {
        let fail = |e: Error| Outcome {
            result: Err(e),
            logs: Vec::new(),
            live_sent: 0,
        };
        let (pre, component, script) = match self.program(org, spec).await {
            Ok(loaded) => loaded,
            Err(e) => return fail(e),
        };
        let mut bindings = BTreeMap::new();
        for (name, binding) in &spec.secrets {
            let Some(s) = secrets.iter().find(|s| s.meta.id == binding.id) else {
                return fail(Error::internal(format!(
                    "secret {} bound as {name:?} was not resolved",
                    binding.id
                )));
            };
            if binding.reveal && !s.meta.reveal_components.contains(&component) {
                return fail(reveal_not_approved(&s.meta, name, &component));
            }
            bindings.insert(
                name.clone(),
                host::BoundSecret {
                    id: s.meta.id.clone(),
                    name: s.meta.name.clone(),
                    value: Zeroizing::new(s.value.expose().to_owned()),
                    reveal: binding.reveal,
                    revealed: false,
                    allowed_hosts: s.meta.allowed_hosts.clone(),
                },
            );
        }
        sandbox::run(
            &pre,
            sandbox::RunInput {
                input: inputs,
                bindings,
                allowed_hosts: spec.allowed_hosts.clone(),
                limits: &spec.limits,
                http: self.http.clone(),
                redactor,
                live,
                script,
                check_only: false,
            },
        )
        .await
    }

    /// The compiled component a spec runs, the id its secrets' managers approve for
    /// reveal, and the inline code for a runner. For inline code the id is `sha256:` of
    /// the code's text (its UTF-8 bytes, exactly as in the spec): approving it approves
    /// that exact code, run by hush's runner for its language.
    async fn program(
        &self,
        org: &OrgId,
        spec: &CodeAction,
    ) -> Result<(Arc<host::ActionPre<host::RunState>>, ComponentId, Arc<str>)> {
        match spec.program()? {
            Program::Component(reference) => {
                let (pre, _, id) = self.components.load(org, reference).await?;
                Ok((pre, id, Arc::from("")))
            }
            Program::Code {
                language: Language::Javascript,
                code,
            } => {
                let (pre, _) = self.js_runner().await?;
                let id = ComponentId::from_hex(&content_hash(code.as_bytes()))?;
                Ok((pre, id, Arc::from(code)))
            }
        }
    }

    /// Compiles the JavaScript runner now, if it is not yet, and says where it came from
    /// (for measuring a cold start).
    ///
    /// # Errors
    /// [`Internal`](crate::error::ErrorKind::Internal) when this build has no runner.
    pub async fn warm_js_runner(&self) -> Result<Source> {
        self.js_runner().await.map(|(_, s)| s)
    }

    /// Whether the JavaScript runner (loaded by [`CodeRuntime::warm_js_runner`] or a run)
    /// runs from its pre-initialized snapshot; false before it is loaded, or when this
    /// build could not snapshot it and each run sets up its engine.
    #[doc(hidden)]
    pub fn js_runner_preinitialized(&self) -> bool {
        self.components.js_runner_preinitialized()
    }

    async fn js_runner(&self) -> Result<(Arc<host::ActionPre<host::RunState>>, Source)> {
        let http = self.http.clone();
        let engine = self.engine.clone();
        self.components
            .js_runner(move || sandbox::idle_store(&engine, http))
            .await
    }

    /// Checks what can be checked of `spec` before it runs, beyond its shape: inline code
    /// must compile (hush's runner compiles it, runs nothing, and is given no secret).
    ///
    /// # Errors
    /// [`Invalid`](crate::error::ErrorKind::Invalid) naming `code`, with the line and
    /// column of a syntax error; the runner's own failures otherwise.
    pub async fn check(&self, spec: &CodeAction) -> Result<()> {
        let Program::Code {
            language: Language::Javascript,
            code,
        } = spec.program()?
        else {
            return Ok(());
        };
        let (pre, _) = self.js_runner().await?;
        let limits = Limits::default();
        let outcome = sandbox::run(
            &pre,
            sandbox::RunInput {
                input: &Value::Null,
                bindings: BTreeMap::new(),
                allowed_hosts: Vec::new(),
                limits: &limits,
                http: self.http.clone(),
                redactor: Arc::new(Redactor::empty()),
                live: None,
                script: Arc::from(code),
                check_only: true,
            },
        )
        .await;
        outcome.result.map(|_| ())
    }
}

/// The refusal of a binding that asks to reveal a secret to a component its managers
/// have not approved: names the secret, the binding and the component, never a value.
fn reveal_not_approved(meta: &SecretMeta, binding: &str, component: &ComponentId) -> Error {
    Error::denied(format!(
        "secret {:?} ({}) may not be revealed to component {component} (bound as {binding:?} \
         with \"reveal\": true): only the components its managers approved may reveal it \
         (hush secret set-reveal-components); attach it to requests or use its HMAC \
         operations instead",
        meta.name, meta.id
    ))
}
