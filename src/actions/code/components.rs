//! Components: checking one against the `hush:action` world, storing it by content hash
//! in the org's store, compiling it once (cached in memory by hash, and on disk as a
//! precompiled artifact) and keeping one `InstancePre` per component; and hush's own
//! JavaScript runner, embedded in the binary, pre-initialized once per process
//! (`preinit`) and compiled once (cached on disk like any component). It never runs a
//! user's component, and never lets a user's component import the runners' `script`
//! interface.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

use super::host::{ActionPre, RunState};
use super::preinit;
use super::spec::ComponentRef;
use crate::audit::{AuditAction, AuditEntry};
use crate::error::{Error, Result};
use crate::model::{ComponentId, OrgId, UserId};
use crate::store::{Backend, Commit, Table, Txn};

/// The largest component accepted, in bytes (64 MiB).
pub const MAX_COMPONENT_BYTES: usize = 64 << 20;
/// How many compiled components are kept in memory.
const MEMORY_CAPACITY: usize = 256;
/// The interface only hush's runner components may import.
const SCRIPT_INTERFACE: &str = "hush:action/script";

include!(concat!(env!("OUT_DIR"), "/js_runner.rs"));

/// The compiled-component caches and the store of component bytes.
pub(super) struct Components {
    engine: Engine,
    linker: Linker<RunState>,
    backend: Arc<dyn Backend>,
    disk: Option<PathBuf>,
    engine_tag: u64,
    compiled: Mutex<HashMap<String, Arc<ActionPre<RunState>>>>,
    /// `(org, hash)` pairs known to be stored for that org, so a run of a cached
    /// component still needs the org to hold it, without a store read every time.
    present: Mutex<HashSet<(OrgId, String)>>,
    /// The JavaScript runner, once compiled, and whether it is the pre-initialized one.
    js_runner: tokio::sync::OnceCell<(Arc<ActionPre<RunState>>, bool)>,
}

/// Where a run's component was found, for measuring and for the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Already compiled in this process.
    Memory,
    /// Loaded from the on-disk precompiled cache.
    Disk,
    /// Compiled now.
    Compiled,
}

/// The hex SHA-256 of `bytes`.
pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Components {
    pub fn new(
        engine: Engine,
        linker: Linker<RunState>,
        backend: Arc<dyn Backend>,
        disk: Option<PathBuf>,
    ) -> Self {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        Components {
            engine,
            linker,
            backend,
            disk,
            engine_tag: h.finish(),
            compiled: Mutex::default(),
            present: Mutex::default(),
            js_runner: tokio::sync::OnceCell::new(),
        }
    }

    /// Checks `bytes` against the world (compiling it and caching the result) and stores
    /// it for `org`. Returns the content hash.
    ///
    /// # Errors
    /// [`Invalid`](crate::error::ErrorKind::Invalid) when it is not a component of the
    /// `hush:action` world; [`Denied`](crate::error::ErrorKind::Denied) when `actor` is
    /// not a member of `org`; store errors.
    pub async fn add(&self, org: &OrgId, actor: &UserId, bytes: Vec<u8>) -> Result<String> {
        if bytes.len() > MAX_COMPONENT_BYTES {
            return Err(Error::invalid(
                "component",
                format!("it is larger than {MAX_COMPONENT_BYTES} bytes"),
            ));
        }
        let hash = content_hash(&bytes);
        self.prepare(&hash, &bytes)?;
        let got = self
            .backend
            .read(
                org,
                &[(Table::Users, actor.as_str()), (Table::Components, &hash)],
            )
            .await?;
        let Some(user) = &got[0] else {
            return Err(Error::denied(format!(
                "{actor} is not a member of org {org}"
            )));
        };
        if got[1].is_none() {
            let txn = Txn::new()
                .expect(Table::Users, actor.as_str(), Some(user))
                .put(Table::Components, &hash, bytes)
                .audit(
                    AuditEntry::new(Some(actor), AuditAction::ComponentAdd)
                        .detail(format!("sha256:{hash}"))
                        .to_bytes(),
                );
            if self.backend.commit(org, txn).await? == Commit::Conflict {
                return Err(Error::conflict(
                    "the org changed while the component was being added; try again",
                ));
            }
        }
        self.present
            .lock()
            .expect("components lock")
            .insert((org.clone(), hash.clone()));
        Ok(hash)
    }

    /// The compiled component `reference` names, for a run in `org`, with its id.
    ///
    /// # Errors
    /// [`NotFound`](crate::error::ErrorKind::NotFound) for a hash the org has not added or
    /// a missing file; [`Invalid`](crate::error::ErrorKind::Invalid) for bytes that are
    /// not a component of the world.
    pub async fn load(
        &self,
        org: &OrgId,
        reference: &ComponentRef,
    ) -> Result<(Arc<ActionPre<RunState>>, Source, ComponentId)> {
        let (hash, loaded) = match reference {
            ComponentRef::Stored(hash) => {
                let key = (org.clone(), hash.clone());
                let known = self.present.lock().expect("components lock").contains(&key);
                if known && let Some(pre) = self.cached(hash) {
                    return Ok((pre, Source::Memory, ComponentId::from_hex(hash)?));
                }
                let got = self.backend.read(org, &[(Table::Components, hash)]).await?;
                let Some(bytes) = got.into_iter().next().flatten() else {
                    return Err(Error::not_found(format!(
                        "component sha256:{hash} has not been added to org {org} (hush component add)"
                    )));
                };
                if content_hash(&bytes) != *hash {
                    return Err(Error::internal(format!(
                        "the stored bytes of component sha256:{hash} do not match their hash"
                    )));
                }
                self.present.lock().expect("components lock").insert(key);
                (hash.clone(), self.prepare(hash, &bytes)?)
            }
            ComponentRef::Path(path) => {
                let bytes = read_component_file(path).await?;
                let hash = content_hash(&bytes);
                let loaded = self.prepare(&hash, &bytes)?;
                (hash, loaded)
            }
        };
        Ok((loaded.0, loaded.1, ComponentId::from_hex(&hash)?))
    }

    /// hush's JavaScript runner, pre-initialized (its engine set up in a snapshot, see
    /// `preinit`) and compiled once per `Components` (from the disk cache when it is there),
    /// with where it came from. `store` makes the idle store the snapshot is taken in.
    ///
    /// # Errors
    /// [`Internal`](crate::error::ErrorKind::Internal) when this build has no runner
    /// (`HUSH_SKIP_GUEST_BUILD`) or it does not compile.
    pub async fn js_runner(
        &self,
        store: impl FnOnce() -> wasmtime::Store<RunState>,
    ) -> Result<(Arc<ActionPre<RunState>>, Source)> {
        if let Some((pre, _)) = self.js_runner.get() {
            return Ok((Arc::clone(pre), Source::Memory));
        }
        if JS_RUNNER_WASM.is_empty() {
            return Err(Error::internal(
                "this hush was built without its JavaScript runner (HUSH_SKIP_GUEST_BUILD)",
            ));
        }
        let mut source = Source::Memory;
        let (pre, _) = self
            .js_runner
            .get_or_try_init(|| async {
                let hash = content_hash(JS_RUNNER_WASM);
                // The snapshot is made from the embedded runner, so it is named by the
                // runner's hash too (the engine's tag is in the file name).
                let ready = format!("{hash}-ready");
                let ((pre, from), preinitialized) = match self.load_precompiled(&ready) {
                    Some(component) => ((self.link(component, true)?, Source::Disk), true),
                    None => {
                        match preinit::snapshot(&self.engine, &self.linker, store, JS_RUNNER_WASM)
                            .await
                        {
                            Some(snapshot) => (self.instantiate_pre(&ready, snapshot, true)?, true),
                            None => (self.instantiate_pre(&hash, JS_RUNNER_WASM, true)?, false),
                        }
                    }
                };
                source = from;
                Ok::<_, Error>((pre, preinitialized))
            })
            .await?;
        Ok((Arc::clone(pre), source))
    }

    /// Whether the JavaScript runner, once loaded, is the pre-initialized snapshot.
    pub fn js_runner_preinitialized(&self) -> bool {
        self.js_runner.get().is_some_and(|(_, ready)| *ready)
    }

    fn cached(&self, hash: &str) -> Option<Arc<ActionPre<RunState>>> {
        self.compiled
            .lock()
            .expect("components lock")
            .get(hash)
            .cloned()
    }

    /// The `InstancePre` for `bytes` (whose hash is `hash`): from memory, from the disk
    /// cache, or compiled now and saved to both.
    fn prepare(&self, hash: &str, bytes: &[u8]) -> Result<(Arc<ActionPre<RunState>>, Source)> {
        if let Some(pre) = self.cached(hash) {
            return Ok((pre, Source::Memory));
        }
        let (pre, source) = self.instantiate_pre(hash, bytes, false)?;
        let mut compiled = self.compiled.lock().expect("components lock");
        if compiled.len() >= MEMORY_CAPACITY
            && let Some(evict) = compiled.keys().next().cloned()
        {
            compiled.remove(&evict);
        }
        compiled.insert(hash.to_owned(), Arc::clone(&pre));
        Ok((pre, source))
    }

    /// Compiles `bytes` (or loads them precompiled from disk) and links them. Only a
    /// `builtin` (hush's own runner) may import the `script` interface.
    fn instantiate_pre(
        &self,
        hash: &str,
        bytes: &[u8],
        builtin: bool,
    ) -> Result<(Arc<ActionPre<RunState>>, Source)> {
        let (component, source) = match self.load_precompiled(hash) {
            Some(c) => (c, Source::Disk),
            None => (self.compile(hash, bytes)?, Source::Compiled),
        };
        Ok((self.link(component, builtin)?, source))
    }

    /// Links a compiled component. Only a `builtin` (hush's own runner) may import the
    /// `script` interface.
    fn link(&self, component: Component, builtin: bool) -> Result<Arc<ActionPre<RunState>>> {
        if !builtin
            && component
                .component_type()
                .imports(&self.engine)
                .any(|(name, _)| name.starts_with(SCRIPT_INTERFACE))
        {
            return Err(Error::invalid(
                "component",
                format!("it imports {SCRIPT_INTERFACE}, which only hush's own runners may import"),
            ));
        }
        let pre = self.linker.instantiate_pre(&component).map_err(|e| {
            Error::invalid(
                "component",
                format!(
                    "it needs something hush does not provide: {}",
                    root_cause(&e)
                ),
            )
        })?;
        let pre = ActionPre::new(pre).map_err(|e| {
            Error::invalid(
                "component",
                format!(
                    "it does not export the hush:action world's `run` function: {}",
                    root_cause(&e)
                ),
            )
        })?;
        Ok(Arc::new(pre))
    }

    fn disk_path(&self, hash: &str) -> Option<PathBuf> {
        let dir = self.disk.as_ref()?;
        Some(dir.join(format!("{hash}-{:016x}.cwasm", self.engine_tag)))
    }

    fn load_precompiled(&self, hash: &str) -> Option<Component> {
        let path = self.disk_path(hash)?;
        if !path.exists() {
            return None;
        }
        // SAFETY: the file is one this process family wrote (below) into hush's own data
        // directory (mode 0700), named by content hash and by the engine's compatibility
        // hash, so it was produced by `precompile_component` of a compatible engine.
        match unsafe { Component::deserialize_file(&self.engine, &path) } {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "a precompiled component could not be loaded; recompiling");
                None
            }
        }
    }

    fn compile(&self, hash: &str, bytes: &[u8]) -> Result<Component> {
        let not_component = |e: wasmtime::Error| {
            Error::invalid(
                "component",
                format!(
                    "it is not a WebAssembly component hush can run: {}",
                    root_cause(&e)
                ),
            )
        };
        let Some(path) = self.disk_path(hash) else {
            return Component::new(&self.engine, bytes).map_err(not_component);
        };
        let artifact = self
            .engine
            .precompile_component(bytes)
            .map_err(not_component)?;
        if let Err(e) = write_atomically(&path, &artifact) {
            tracing::warn!(path = %path.display(), error = %e, "the precompiled component could not be cached on disk");
        }
        // SAFETY: `artifact` was produced just now by this engine's `precompile_component`.
        unsafe { Component::deserialize(&self.engine, &artifact) }.map_err(not_component)
    }
}

fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Reads a component file for `hush run`: a regular file of at most
/// [`MAX_COMPONENT_BYTES`], read no further than that (a device such as `/dev/zero`, a
/// FIFO or a directory is refused before any read).
pub async fn read_component_file(path: &std::path::Path) -> Result<Vec<u8>> {
    use tokio::io::AsyncReadExt as _;
    let unreadable = |e: std::io::Error| {
        Error::not_found(format!(
            "component file {} could not be read: {}",
            path.display(),
            e.kind()
        ))
    };
    let file = tokio::fs::File::open(path).await.map_err(unreadable)?;
    let meta = file.metadata().await.map_err(unreadable)?;
    if !meta.is_file() {
        return Err(Error::invalid(
            "component",
            format!("{} is not a regular file", path.display()),
        ));
    }
    let mut bytes = Vec::new();
    file.take(MAX_COMPONENT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(unreadable)?;
    if bytes.len() > MAX_COMPONENT_BYTES {
        return Err(Error::invalid(
            "component",
            format!(
                "{} is larger than {MAX_COMPONENT_BYTES} bytes",
                path.display()
            ),
        ));
    }
    Ok(bytes)
}

/// wasmtime's errors read best as their chain, on one line.
fn root_cause(e: &wasmtime::Error) -> String {
    format!("{e:#}").replace('\n', " ")
}
