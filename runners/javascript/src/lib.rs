//! hush's JavaScript runner: one QuickJS engine (rquickjs) in a wasm32-wasip2 component of
//! the `hush:action/javascript-runner` world. `wizer-initialize` sets up the engine (the
//! host snapshots the instance right after, so a run starts from a ready heap); `run` reads
//! the action's source from the host (`script.source`), compiles it as an ES module, calls
//! its default export with the input and a context (`prelude.js`), and returns the JSON of
//! what it resolves to. Nothing of a run is set up in the snapshot: the bindings, secrets
//! and `Math.random`'s seed are each run's own.
//!
//! It owns nothing the host does not give it: every secret is a WIT resource handle kept
//! here, on the Rust side, and a JavaScript `Secret` object holds only an index into that
//! list (in a `WeakMap` of the prelude), so a secret's value never enters the JS heap unless
//! the code calls `reveal()` and the host allows it. It must never call `reveal` on its
//! own, never print a value, and never give the code any capability the host did not grant
//! to the component (the host enforces every rule again: this file is convenience, not the
//! boundary).

use std::cell::RefCell;

use rquickjs::{
    Context, Ctx, Exception, Function, Module, Object, Persistent, Runtime, TypedArray, Value,
};

wit_bindgen::generate!({
    path: "../../wit",
    world: "hush:action/javascript-runner-init",
});

use hush::action::http as host_http;
use hush::action::log as host_log;
use hush::action::script;
use hush::action::secrets as host_secrets;

/// The prelude: the `Secret` class, `console`, the driver and the lazy globals.
const PRELUDE: &str = include_str!("prelude.js");
/// The parts the prelude loads on first use (`native.load(name)`): each a function of its
/// dependencies. Parsing is most of a run's cost, so only what the code uses is parsed.
const PARTS: &[(&str, &str)] = &[
    ("text", include_str!("text.js")),
    ("url", include_str!("url.js")),
    ("fetch", include_str!("fetch.js")),
];

/// The name the user's module is compiled under (it shows in stack traces).
const MODULE_NAME: &str = "action.js";

/// The largest JS stack, in bytes: QuickJS throws a `RangeError` before the wasm shadow
/// stack (1 MiB) runs out.
const MAX_STACK_BYTES: usize = 512 * 1024;

/// The engine, set up once: by `wizer-initialize` before the host snapshots the instance
/// (every run then starts from it), or by the first `run` of an unsnapshotted runner.
struct Engine {
    rt: Runtime,
    context: Context,
    /// The prelude's driver, `__hush_main(namespace, inputText)`.
    main: Persistent<Function<'static>>,
    /// The prelude's `__hush_describe(thrown) -> [code, message]`.
    describe: Persistent<Function<'static>>,
}

thread_local! {
    static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
    /// The secret handles the code asked for; a JS `Secret` holds an index into this.
    static SECRETS: RefCell<Vec<host_secrets::Secret>> = const { RefCell::new(Vec::new()) };
    /// How the run ended, set once by the prelude's driver (`native.done`).
    static OUTCOME: RefCell<Option<Result<String, ActionError>>> = const { RefCell::new(None) };
    /// `Math.random`'s state (xorshift64*), seeded from the host's randomness at each run.
    static RANDOM: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

struct Runner;

impl Guest for Runner {
    fn wizer_initialize() {
        // A failure here leaves no engine; `run` then sets one up and reports the error.
        if let Ok(engine) = start(true) {
            ENGINE.with(|e| *e.borrow_mut() = Some(engine));
        }
    }

    fn run(input: String) -> Result<String, ActionError> {
        let source = script::source();
        let check_only = script::check_only();
        let engine = match ENGINE.with(|e| e.borrow_mut().take()) {
            Some(engine) => engine,
            None => start(false)?,
        };
        let outcome = run(&engine, &source, &input, check_only);
        // The instance ends with this call: freeing the engine's heap would only cost time.
        std::mem::forget(engine);
        outcome
    }
}

export!(Runner);

fn error(code: &str, message: impl Into<String>) -> ActionError {
    ActionError {
        code: code.into(),
        message: message.into(),
    }
}

fn engine_error(e: rquickjs::Error) -> ActionError {
    error("runner", format!("the JavaScript engine failed: {e}"))
}

/// A runtime and context with the natives and the prelude in place. `preload` also
/// evaluates the lazily loaded parts (free in a snapshot, a cost in every unsnapshotted
/// run).
fn start(preload: bool) -> Result<Engine, ActionError> {
    let rt = Runtime::new().map_err(engine_error)?;
    rt.set_max_stack_size(MAX_STACK_BYTES);
    let context = Context::full(&rt).map_err(engine_error)?;
    let (main, describe) = context.with(|ctx| {
        install_natives(&ctx).map_err(engine_error)?;
        let prelude_failed = |e: rquickjs::Error| {
            let detail = describe(&ctx.catch());
            error(
                "runner",
                format!("the runner's prelude failed: {e}: {detail}"),
            )
        };
        ctx.eval::<(), _>(PRELUDE).map_err(prelude_failed)?;
        if preload {
            ctx.eval::<(), _>("void [TextEncoder, URL, Headers];")
                .map_err(prelude_failed)?;
        }
        let globals = ctx.globals();
        let main: Function = globals.get("__hush_main").map_err(engine_error)?;
        let describe_fn: Function = globals.get("__hush_describe").map_err(engine_error)?;
        globals.remove("__hush_main").map_err(engine_error)?;
        globals.remove("__hush_describe").map_err(engine_error)?;
        Ok::<_, ActionError>((
            Persistent::save(&ctx, main),
            Persistent::save(&ctx, describe_fn),
        ))
    })?;
    Ok(Engine {
        rt,
        context,
        main,
        describe,
    })
}

fn run(
    engine: &Engine,
    source: &str,
    input: &str,
    check_only: bool,
) -> Result<String, ActionError> {
    let seed = getrandom::u64().map_err(|e| error("runner", format!("no randomness: {e}")))?;
    RANDOM.with(|r| r.set(seed | 1));
    let outcome = engine.context.with(|ctx| -> Result<String, ActionError> {
        let main = engine.main.clone().restore(&ctx).map_err(engine_error)?;
        let describe_fn = engine
            .describe
            .clone()
            .restore(&ctx)
            .map_err(engine_error)?;
        let declared = match Module::declare(ctx.clone(), MODULE_NAME, source) {
            Ok(m) => m,
            Err(_) => return Err(syntax_error(&ctx.catch())),
        };
        if check_only {
            return Ok("null".into());
        }
        let (module, promise) = match declared.eval() {
            Ok(x) => x,
            Err(_) => return Err(thrown(&describe_fn, ctx.catch())),
        };
        match promise.finish::<Value>() {
            Ok(_) => {}
            Err(rquickjs::Error::WouldBlock) => {
                return Err(error(
                    "never_settled",
                    "the module's top-level code awaits something that never settles",
                ));
            }
            Err(_) => return Err(thrown(&describe_fn, ctx.catch())),
        }
        let namespace = module.namespace().map_err(engine_error)?;
        if main.call::<_, ()>((namespace, input)).is_err() {
            return Err(thrown(&describe_fn, ctx.catch()));
        }
        Ok(String::new())
    })?;
    if check_only {
        return Ok(outcome);
    }
    // Drive the promise jobs (every `await`) until the queue is empty.
    loop {
        match engine.rt.execute_pending_job() {
            Ok(true) => {}
            Ok(false) => break,
            // An exception in a job the driver does not observe (a stray rejected
            // promise): the driver's own promise still settles or not.
            Err(_) => {}
        }
    }
    OUTCOME.with(|o| o.borrow_mut().take()).unwrap_or_else(|| {
        Err(error(
            "never_settled",
            "the action's run function returned a promise that never settles",
        ))
    })
}

/// The next `Math.random()`: xorshift64* over the run's seed, 53 bits in `[0, 1)`.
fn random() -> f64 {
    RANDOM.with(|r| {
        let mut x = r.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        r.set(x);
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    })
}

/// `name: message (at line L, column C)` of a thrown value, as the prelude describes it.
fn describe(value: &Value) -> String {
    if let Some(e) = value.as_exception() {
        let name: String = e.get("name").unwrap_or_else(|_| "Error".into());
        let message = e.message().unwrap_or_default();
        return format!("{name}: {message}");
    }
    "a non-Error value was thrown".into()
}

/// The error of a value thrown outside the driver (module evaluation).
fn thrown<'js>(describe_fn: &Function<'js>, value: Value<'js>) -> ActionError {
    if let Ok(parts) = describe_fn.call::<_, Vec<String>>((value.clone(),))
        && parts.len() == 2
    {
        return error(&parts[0], parts[1].clone());
    }
    error("Error", describe(&value))
}

/// A compile error: code `syntax_error`, with line and column from the stack.
fn syntax_error(value: &Value) -> ActionError {
    let mut message = describe(value);
    if let Some(e) = value.as_exception()
        && let Some(stack) = e.stack()
        && let Some((line, column)) = location(&stack)
    {
        message = format!("{message} (at line {line}, column {column})");
    }
    error("syntax_error", message)
}

/// The first `action.js:L:C` in a stack.
fn location(stack: &str) -> Option<(u32, u32)> {
    let at = stack.find(MODULE_NAME)? + MODULE_NAME.len();
    let mut parts = stack[at..].strip_prefix(':')?.splitn(3, ':');
    let line = parts.next()?.parse().ok()?;
    let column: String = parts
        .next()?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some((line, column.parse().ok()?))
}

/// The bytes of a `Uint8Array`, copied out.
fn copy_bytes(array: &TypedArray<'_, u8>) -> Vec<u8> {
    // SAFETY: the slice is copied at once, while no JavaScript runs that could detach or
    // resize its buffer.
    unsafe { array.as_bytes() }
        .map(<[u8]>::to_vec)
        .unwrap_or_default()
}

fn throw(ctx: &Ctx<'_>, message: &str) -> rquickjs::Error {
    Exception::throw_message(ctx, message)
}

fn with_secret<T>(
    ctx: &Ctx<'_>,
    index: u32,
    f: impl FnOnce(&host_secrets::Secret) -> T,
) -> rquickjs::Result<T> {
    SECRETS.with(|s| {
        let s = s.borrow();
        match s.get(index as usize) {
            Some(secret) => Ok(f(secret)),
            None => Err(throw(ctx, "not a secret of this run")),
        }
    })
}

/// `load(name)`: the lazily loaded part `name`, evaluated now (the prelude calls it once).
fn load<'js>(ctx: Ctx<'js>, name: String) -> rquickjs::Result<Function<'js>> {
    match PARTS.iter().find(|(n, _)| *n == name) {
        Some((_, source)) => ctx.eval::<Function, _>(*source),
        None => Err(throw(&ctx, "no such part of the runner")),
    }
}

/// `hmac(index, sha512, data)`: the MAC of `data` keyed with a secret, from the host.
fn hmac<'js>(
    ctx: Ctx<'js>,
    index: u32,
    sha512: bool,
    data: TypedArray<'js, u8>,
) -> rquickjs::Result<TypedArray<'js, u8>> {
    let bytes = copy_bytes(&data);
    let mac = with_secret(&ctx, index, |s| {
        if sha512 {
            s.hmac_sha512(&bytes)
        } else {
            s.hmac_sha256(&bytes)
        }
    })?;
    TypedArray::<u8>::new(ctx.clone(), mac)
}

/// The native functions the prelude captures (and then deletes from the global object).
fn install_natives(ctx: &Ctx<'_>) -> rquickjs::Result<()> {
    let native = Object::new(ctx.clone())?;
    native.set(
        "secret",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'_>, binding: String| match host_secrets::get(&binding) {
                Ok(secret) => Ok(SECRETS.with(|s| {
                    let mut s = s.borrow_mut();
                    s.push(secret);
                    (s.len() - 1) as u32
                })),
                Err(message) => Err(throw(&ctx, &message)),
            },
        )?,
    )?;
    native.set(
        "bindings",
        Function::new(ctx.clone(), host_secrets::bindings)?,
    )?;
    native.set(
        "reveal",
        Function::new(ctx.clone(), |ctx: Ctx<'_>, index: u32| {
            match with_secret(&ctx, index, host_secrets::Secret::reveal)? {
                Ok(value) => Ok(value),
                Err(message) => Err(throw(&ctx, &message)),
            }
        })?,
    )?;
    native.set("hmac", Function::new(ctx.clone(), hmac)?)?;
    native.set(
        "log",
        Function::new(ctx.clone(), |level: String, message: String| {
            let level = match level.as_str() {
                "debug" => host_log::Level::Debug,
                "warn" => host_log::Level::Warn,
                "error" => host_log::Level::Error,
                "trace" => host_log::Level::Trace,
                _ => host_log::Level::Info,
            };
            host_log::log(level, &message);
        })?,
    )?;
    native.set("send", Function::new(ctx.clone(), send)?)?;
    native.set("load", Function::new(ctx.clone(), load)?)?;
    native.set("random", Function::new(ctx.clone(), random)?)?;
    native.set(
        "done",
        Function::new(ctx.clone(), |ok: bool, text: String, code: String| {
            OUTCOME.with(|o| {
                o.borrow_mut().get_or_insert(if ok {
                    Ok(text)
                } else {
                    Err(error(&code, text))
                });
            });
        })?,
    )?;
    ctx.globals().set("__hush_native", native)
}

/// `send({method, url, headers, attach, ids, body, timeout})`: `headers` is `[name, value,
/// …]`; `attach` is `[kind, name, prefix, …]` (kind `header`, `query` or `basic`, whose
/// `name` is the username), one triple per secret index in `ids`. Returns `{status,
/// headers: [name, value, …], body: Uint8Array, truncated}` or `{error: kind, message}`.
fn send<'js>(ctx: Ctx<'js>, req: Object<'js>) -> rquickjs::Result<Object<'js>> {
    let method: String = req.get("method")?;
    let url: String = req.get("url")?;
    let headers: Vec<String> = req.get("headers")?;
    let attachments: Vec<String> = req.get("attach")?;
    let attached: Vec<u32> = req.get("ids")?;
    let body: Option<TypedArray<'js, u8>> = req.get("body")?;
    let timeout_ms: Option<f64> = req.get("timeout")?;
    use host_http::Method as M;
    let method = match method.to_ascii_uppercase().as_str() {
        "GET" => M::Get,
        "POST" => M::Post,
        "PUT" => M::Put,
        "PATCH" => M::Patch,
        "DELETE" => M::Delete,
        "HEAD" => M::Head,
        "OPTIONS" => M::Options,
        other => {
            return Err(Exception::throw_type(
                &ctx,
                &format!("unsupported method {other:?}"),
            ));
        }
    };
    let request = host_http::OutgoingRequest::new(method, &url);
    for pair in headers.chunks(2) {
        if let [name, value] = pair {
            request.add_header(name, value);
        }
    }
    for (triple, index) in attachments.chunks(3).zip(attached) {
        let [kind, name, prefix] = triple else {
            continue;
        };
        with_secret(&ctx, index, |secret| match kind.as_str() {
            "query" => request.attach_query(name, secret),
            "basic" => request.attach_basic_auth(name, secret),
            _ => request.attach_header(name, prefix, secret),
        })?;
    }
    if let Some(body) = body {
        request.set_body(&copy_bytes(&body));
    }
    if let Some(ms) = timeout_ms
        && ms.is_finite()
        && ms >= 0.0
    {
        request.set_timeout_ms(ms.min(f64::from(u32::MAX)) as u32);
    }
    let out = Object::new(ctx.clone())?;
    match host_http::send(request) {
        Ok(response) => {
            out.set("status", response.status)?;
            let flat: Vec<String> = response
                .headers
                .into_iter()
                .flat_map(|h| [h.name, h.value])
                .collect();
            out.set("headers", flat)?;
            out.set("body", TypedArray::<u8>::new(ctx.clone(), response.body)?)?;
            out.set("truncated", response.truncated)?;
        }
        Err(e) => {
            use host_http::ErrorKind as K;
            let kind = match e.kind {
                K::NotAllowed => "not_allowed",
                K::LimitReached => "limit_reached",
                K::Timeout => "timeout",
                K::Invalid => "invalid",
                K::Failed => "failed",
            };
            out.set("error", kind)?;
            out.set("message", e.message)?;
        }
    }
    Ok(out)
}
