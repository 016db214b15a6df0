//! Pre-initialization of hush's JavaScript runner with wasmtime-wizer: the runner is
//! instrumented, instantiated once in an idle store (no secret, no input, no code), its
//! `wizer-initialize` export sets up the engine, and the instance's memories and globals
//! are written back into a new component whose runs start from that ready heap. The
//! snapshot is plain wasm (independent of the engine), made at most once per process.
//!
//! It runs only hush's own runner, never a user's component, and only its initializer:
//! nothing of a run (secrets, inputs, code) exists when the snapshot is taken.

use tokio::sync::OnceCell;
use wasmtime::Engine;
use wasmtime::component::{Component, Instance, Lift, Linker, WasmList};
use wasmtime::{AsContextMut as _, Store, StoreContextMut};
use wasmtime_wizer::{ComponentInstanceState, Wizer};

use super::host::RunState;

/// The snapshot of this binary's runner, once made (`None`: it could not be).
static SNAPSHOT: OnceCell<Option<Vec<u8>>> = OnceCell::const_new();

/// The pre-initialized runner made from `wasm` (the same embedded runner every call),
/// made once per process in `store`'s engine; `None` when it cannot be made (the cause is
/// logged), and the plain runner is used.
pub(super) async fn snapshot(
    engine: &Engine,
    linker: &Linker<RunState>,
    store: impl FnOnce() -> Store<RunState>,
    wasm: &[u8],
) -> Option<&'static [u8]> {
    SNAPSHOT
        .get_or_init(|| async {
            match make(engine, linker, store(), wasm).await {
                Ok(bytes) => Some(bytes),
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "the JavaScript runner could not be pre-initialized; each run sets up its engine");
                    None
                }
            }
        })
        .await
        .as_deref()
}

async fn make(
    engine: &Engine,
    linker: &Linker<RunState>,
    mut store: Store<RunState>,
    wasm: &[u8],
) -> wasmtime::Result<Vec<u8>> {
    let mut wizer = Wizer::new();
    // Dropping the export breaks the component (its lifted function still names the core
    // export); hush never calls it on a snapshot, and calling it again would only set up a
    // fresh engine.
    wizer.keep_init_func(true);
    let (cx, instrumented) = wizer.instrument_component(wasm)?;
    let component = Component::new(engine, &instrumented)?;
    let instance = linker.instantiate_async(&mut store, &component).await?;
    let init = instance.get_typed_func::<(), ()>(&mut store, wizer.get_init_func())?;
    init.call_async(&mut store, ()).await?;
    let mut access = Access {
        store: &mut store,
        instance,
        failed: None,
    };
    let snapshot = wizer.snapshot_component(&cx, &mut access).await?;
    match access.failed {
        Some(e) => Err(e.context("reading the initialized runner's state")),
        None => Ok(snapshot),
    }
}

/// Reads the instrumented instance's state for the snapshot: calls the accessor functions
/// wasmtime-wizer added under its `wasmtime:wizer/access` instance. Its trait cannot fail,
/// so the first failure is kept (and the snapshot thrown away).
struct Access<'a> {
    store: &'a mut Store<RunState>,
    instance: Instance,
    failed: Option<wasmtime::Error>,
}

impl Access<'_> {
    async fn call<R, R2: Default>(
        &mut self,
        instance: &str,
        func: &str,
        take: impl FnOnce(StoreContextMut<'_, RunState>, R) -> R2,
    ) -> R2
    where
        R: Lift + Send + Sync + 'static,
    {
        match self.try_call(instance, func).await {
            Ok(value) => take(self.store.as_context_mut(), value),
            Err(e) => {
                self.failed.get_or_insert(e);
                R2::default()
            }
        }
    }

    async fn try_call<R>(&mut self, instance: &str, func: &str) -> wasmtime::Result<R>
    where
        R: Lift + Send + Sync + 'static,
    {
        let missing = || wasmtime::format_err!("wizer's accessor {instance}#{func} is missing");
        let (_, parent) = self
            .instance
            .get_export(&mut *self.store, None, instance)
            .ok_or_else(missing)?;
        let (_, index) = self
            .instance
            .get_export(&mut *self.store, Some(&parent), func)
            .ok_or_else(missing)?;
        let typed = self
            .instance
            .get_typed_func::<(), (R,)>(&mut *self.store, index)?;
        Ok(typed.call_async(&mut *self.store, ()).await?.0)
    }
}

impl ComponentInstanceState for Access<'_> {
    async fn call_func_ret_list_u8(
        &mut self,
        instance: &str,
        func: &str,
        contents: impl FnOnce(&[u8]) + Send,
    ) {
        self.call(instance, func, |store, list: WasmList<u8>| {
            contents(list.as_le_slice(&store));
        })
        .await;
    }

    async fn call_func_ret_s32(&mut self, instance: &str, func: &str) -> i32 {
        self.call(instance, func, |_, v| v).await
    }

    async fn call_func_ret_s64(&mut self, instance: &str, func: &str) -> i64 {
        self.call(instance, func, |_, v| v).await
    }

    async fn call_func_ret_f32(&mut self, instance: &str, func: &str) -> u32 {
        self.call(instance, func, |_, v: f32| v.to_bits()).await
    }

    async fn call_func_ret_f64(&mut self, instance: &str, func: &str) -> u64 {
        self.call(instance, func, |_, v: f64| v.to_bits()).await
    }
}
