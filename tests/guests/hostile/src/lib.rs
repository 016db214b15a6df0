//! Test guest `hostile`: every way a guest might attack the host or leak a secret, one per
//! input `{"attack": "<name>", …}`. Each attack really does the thing; the host's tests
//! assert that the host survives it and leaks nothing. Never used outside tests.

use std::hint::black_box;
use std::io::Write as _;

use base64::Engine as _;
use hush_guest::{Ctx, Error};
use serde_json::{Value, json};

fn run(input: Value, ctx: &Ctx) -> Result<Value, Error> {
    let attack = str_field(&input, "attack")?;
    match attack {
        "infinite_loop" => infinite_loop(),
        "stack_overflow" => Ok(json!({ "depth": recurse(0, [0; 256]) })),
        "memory_bomb" => memory_bomb(&input),
        "stdout_flood" => stdout_flood(&input),
        "http_flood" => http_flood(&input, ctx),
        "http_to" => http_to(&input, ctx),
        "unbound_secret" => {
            let secret = ctx.secret("nope")?;
            Ok(json!({ "unexpectedly_bound": secret.binding() }))
        }
        "reveal_denied" => {
            let binding = input["binding"].as_str().unwrap_or("key");
            let value = ctx.secret(binding)?.reveal()?;
            Ok(json!({ "unexpectedly_revealed_len": value.len() }))
        }
        "read_file" => Ok(read_file()),
        "read_env" => Ok(read_env()),
        "open_socket" => open_socket(&input),
        "trap" => trap(),
        "panic_with_secret" => {
            let value = ctx.secret("key")?.reveal()?;
            panic!("leaked {value}");
        }
        "print_secret" => print_secret(ctx),
        "attach_secret" => attach_secret(&input, ctx),
        "exfiltrate" => exfiltrate(&input, ctx),
        "smuggle" => smuggle(&input, ctx),
        "hmac" => hmac(&input, ctx),
        "request_hoard" => request_hoard(ctx),
        "log_flood" => Ok(log_flood(&input, ctx)),
        "big_output" => big_output(&input),
        "leave_mark" => leave_mark(&input),
        "find_mark" => find_mark(&input),
        other => Err(Error::bad_input(format!("unknown attack `{other}`"))),
    }
}

hush_guest::export!(run);

fn str_field<'a>(input: &'a Value, name: &str) -> Result<&'a str, Error> {
    input[name]
        .as_str()
        .ok_or_else(|| Error::bad_input(format!("`{name}` must be a string")))
}

fn u64_field(input: &Value, name: &str, default: u64) -> u64 {
    input[name].as_u64().unwrap_or(default)
}

/// Spins forever; only the host's time limit (epoch or fuel) ends it.
fn infinite_loop() -> Result<Value, Error> {
    let mut n: u64 = 0;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

/// Unbounded, non-tail recursion with a frame the optimizer cannot remove.
#[allow(unconditional_recursion)]
fn recurse(depth: u64, frame: [u8; 256]) -> u64 {
    let mut local = black_box(frame);
    local[(depth % 256) as usize] = depth as u8;
    let below = recurse(black_box(depth + 1), local);
    below.wrapping_add(black_box(local)[0] as u64)
}

/// Grows one Vec (doubling) until an allocation fails. With `"infallible": true` it grows
/// with plain `push`, which aborts (traps) on allocation failure instead.
fn memory_bomb(input: &Value) -> Result<Value, Error> {
    let mut bomb: Vec<u8> = Vec::new();
    if input["infallible"].as_bool() == Some(true) {
        loop {
            bomb.push(black_box(1));
            if bomb.len() == bomb.capacity() {
                bomb.resize(bomb.len() * 2, 1);
            }
        }
    }
    let mut want: usize = 1 << 20;
    loop {
        if bomb.try_reserve_exact(want - bomb.len()).is_err() {
            return Err(Error::new(
                "out_of_memory",
                format!(
                    "allocation of {want} bytes failed after holding {} bytes",
                    bomb.len()
                ),
            ));
        }
        // Touch every byte so the memory is really committed.
        bomb.resize(want, 1);
        black_box(&bomb);
        want = want.saturating_mul(2);
    }
}

/// Writes `bytes` (default 100 MB) to stdout in 64 KiB chunks.
fn stdout_flood(input: &Value) -> Result<Value, Error> {
    let total = u64_field(input, "bytes", 100 * 1024 * 1024);
    let chunk = vec![b'A'; 64 * 1024];
    let mut out = std::io::stdout().lock();
    let mut written: u64 = 0;
    while written < total {
        let n = chunk.len().min((total - written) as usize);
        if let Err(e) = out.write_all(&chunk[..n]) {
            return Ok(json!({ "written": written, "error": e.to_string() }));
        }
        written += n as u64;
    }
    let flushed = out.flush().map_err(|e| e.to_string());
    Ok(json!({ "written": written, "flush": flushed.err() }))
}

/// Makes `count` (default 10,000) GET calls to `url`; the first error ends it.
fn http_flood(input: &Value, ctx: &Ctx) -> Result<Value, Error> {
    let url = str_field(input, "url")?;
    let count = u64_field(input, "count", 10_000);
    for sent in 0..count {
        if let Err(e) = ctx.http().get(url).send() {
            return Err(Error::new(
                e.code(),
                format!("after {sent} calls: {}", e.message()),
            ));
        }
    }
    Ok(json!({ "sent": count }))
}

/// One GET to `url` (a host that is not allowed, 127.0.0.1, 169.254.169.254, …).
fn http_to(input: &Value, ctx: &Ctx) -> Result<Value, Error> {
    let resp = ctx.http().get(str_field(input, "url")?).send()?;
    Ok(json!({ "status": resp.status(), "body": resp.text() }))
}

/// Tries the filesystem the sandbox does not give; reports what happened.
fn read_file() -> Value {
    let passwd = match std::fs::read("/etc/passwd") {
        Ok(bytes) => json!({ "ok": String::from_utf8_lossy(&bytes) }),
        Err(e) => json!({ "error": e.to_string() }),
    };
    let root = match std::fs::read_dir("/") {
        Ok(entries) => {
            let names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            json!({ "ok": names })
        }
        Err(e) => json!({ "error": e.to_string() }),
    };
    let cwd = std::env::current_dir().map(|p| p.display().to_string());
    json!({ "etc_passwd": passwd, "read_dir_root": root, "cwd": format!("{cwd:?}") })
}

/// Reports the environment variables and arguments the guest can see.
fn read_env() -> Value {
    let vars: serde_json::Map<String, Value> = std::env::vars()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let args: Vec<String> = std::env::args().collect();
    json!({ "vars": vars, "args": args })
}

/// Opens a TCP connection to `addr` (default 127.0.0.1:80) with std; reports the result.
fn open_socket(input: &Value) -> Result<Value, Error> {
    let addr = input["addr"].as_str().unwrap_or("127.0.0.1:80");
    Ok(match std::net::TcpStream::connect(addr) {
        Ok(mut stream) => {
            let wrote = stream.write_all(b"GET / HTTP/1.0\r\n\r\n").is_ok();
            json!({ "connected": true, "wrote": wrote })
        }
        Err(e) => json!({ "connected": false, "error": e.to_string() }),
    })
}

/// Executes the wasm `unreachable` instruction.
fn trap() -> Result<Value, Error> {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    std::process::abort();
}

/// Reveals binding `key` and emits it raw, base64, hex and JSON-escaped to stdout,
/// stderr, the log and the output.
fn print_secret(ctx: &Ctx) -> Result<Value, Error> {
    let value = ctx.secret("key")?.reveal()?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&value);
    let hex = hex::encode(&value);
    let escaped = serde_json::to_string(&value)?;
    let lines = [
        format!("raw {value}"),
        format!("base64 {b64}"),
        format!("hex {hex}"),
        format!("json {escaped}"),
    ];
    for line in &lines {
        println!("{line}");
        eprintln!("{line}");
        ctx.log().info(line);
    }
    let _ = std::io::stdout().flush();
    Ok(json!({ "raw": value, "base64": b64, "hex": hex, "json": escaped, "lines": lines }))
}

/// Attaches binding `key` (never revealed) to one GET to `url`: as a bearer header, and
/// also as the query parameter `query` and/or basic auth for user `basic_user` when the
/// input names them. Returns the response as the guest sees it.
fn attach_secret(input: &Value, ctx: &Ctx) -> Result<Value, Error> {
    let key = ctx.secret("key")?;
    let mut request = ctx.http().get(str_field(input, "url")?);
    if input["bearer"].as_bool() != Some(false) {
        request = request.bearer(&key);
    }
    if let Some(name) = input["query"].as_str() {
        request = request.query_secret(name, &key);
    }
    if let Some(user) = input["basic_user"].as_str() {
        request = request.basic_auth(user, &key);
    }
    let resp = request.send()?;
    let headers: Vec<Value> = resp.headers().iter().map(|(n, v)| json!([n, v])).collect();
    Ok(json!({ "status": resp.status(), "headers": headers, "body": resp.text() }))
}

/// Reveals binding `key` and sends it itself, in the way `how` names (`header`, `query`
/// base64-encoded, or `body`), to `url`: the host must hold it to the secret's allowed
/// hosts even though it no longer knows where the value came from.
fn exfiltrate(input: &Value, ctx: &Ctx) -> Result<Value, Error> {
    let value = ctx.secret("key")?.reveal()?;
    let url = str_field(input, "url")?;
    let request = match input["how"].as_str().unwrap_or("header") {
        "query" => {
            let b64 = base64::engine::general_purpose::STANDARD.encode(&value);
            ctx.http().get(&format!("{url}?q={b64}"))
        }
        "body" => ctx
            .http()
            .post(url)
            .body(format!("stolen={value}").into_bytes()),
        _ => ctx.http().get(url).header("x-stolen", &value),
    };
    let resp = request.send()?;
    Ok(json!({ "status": resp.status() }))
}

/// Reveals binding `key` and hides it where the host inserts binding `other` (whose own
/// rules allow the call), in the way `how` names: the attached query parameter's name
/// (`query_name`), the attached header's prefix (`header_prefix`), the basic-auth user
/// name (`basic_user`); or sends it reversed in the body (`reversed`) or not at all
/// (`nothing`), to `url`.
fn smuggle(input: &Value, ctx: &Ctx) -> Result<Value, Error> {
    let value = ctx.secret("key")?.reveal()?;
    let other = ctx.secret("other")?;
    let request = ctx.http().get(str_field(input, "url")?);
    let request = match input["how"].as_str().unwrap_or("nothing") {
        "query_name" => request.query_secret(&value, &other),
        "header_prefix" => request.header_secret("x-token", &format!("{value} "), &other),
        "basic_user" => request.basic_auth(&value, &other),
        "reversed" => request.body(value.chars().rev().collect::<String>()),
        _ => request,
    };
    let resp = request.send()?;
    Ok(json!({ "status": resp.status() }))
}

/// HMAC-SHA256 and HMAC-SHA512 of `data`, keyed with binding `key` by the host, as hex.
fn hmac(input: &Value, ctx: &Ctx) -> Result<Value, Error> {
    let key = ctx.secret("key")?;
    let data = str_field(input, "data")?.as_bytes();
    Ok(json!({
        "sha256": hex::encode(key.hmac_sha256(data)),
        "sha512": hex::encode(key.hmac_sha512(data)),
    }))
}

/// Builds requests with 1 MiB headers and never sends or drops them, so that the host
/// would hold ever more of them.
fn request_hoard(ctx: &Ctx) -> Result<Value, Error> {
    let big = "h".repeat(1 << 20);
    let mut held = Vec::new();
    for _ in 0..1_000 {
        held.push(ctx.http().get("https://example.com/").header("x-big", &big));
    }
    Ok(json!({ "held": held.len() }))
}

/// Logs `lines` (default 1,000,000) lines of `line_bytes` (default 200) bytes each.
fn log_flood(input: &Value, ctx: &Ctx) -> Value {
    let lines = u64_field(input, "lines", 1_000_000);
    let line = "L".repeat(u64_field(input, "line_bytes", 200) as usize);
    for i in 0..lines {
        ctx.log().info(&format!("{i} {line}"));
    }
    json!({ "logged": lines })
}

/// Returns an output larger than `bytes` (default 16 MiB).
fn big_output(input: &Value) -> Result<Value, Error> {
    let bytes = u64_field(input, "bytes", 16 * 1024 * 1024) as usize;
    Ok(json!({ "filler": "x".repeat(bytes + 1) }))
}

/// The bytes a run leaves behind for `mark`: each byte plus one, so that the mark as the
/// input carries it is not what is searched for.
fn shifted(mark: &str) -> Vec<u8> {
    mark.bytes().map(|b| b.wrapping_add(1)).collect()
}

/// Fills `mb` MiB of the heap with the shifted mark (and never frees it), and leaves a copy
/// on the stack: what a later run in the same memory slot must never find.
fn leave_mark(input: &Value) -> Result<Value, Error> {
    let mark = shifted(str_field(input, "mark")?);
    let mb = u64_field(input, "mb", 4) as usize;
    let filled: Vec<u8> = mark.iter().copied().cycle().take(mb << 20).collect();
    black_box(&filled);
    std::mem::forget(filled);
    Ok(json!({ "left": mb }))
}

/// Counts the shifted mark in all of this instance's linear memory, outside the one copy
/// it makes itself to compare against.
/// With `"control": true` it first leaves the mark itself, to show the scan finds one.
fn find_mark(input: &Value) -> Result<Value, Error> {
    if input["control"] == true {
        leave_mark(&json!({ "mark": input["mark"], "mb": 1 }))?;
    }
    let mark = shifted(str_field(input, "mark")?);
    let size = core::arch::wasm32::memory_size(0) * 65536;
    let own = mark.as_ptr() as usize;
    let mut found = 0u64;
    let mut at = 0usize;
    while at + mark.len() <= size {
        if at != own {
            // SAFETY: every address below memory.size is readable in wasm32; the bytes are
            // only compared.
            let window = unsafe { core::slice::from_raw_parts(at as *const u8, mark.len()) };
            if black_box(window) == mark.as_slice() {
                found += 1;
            }
        }
        at += 1;
    }
    Ok(json!({ "found": found, "scanned": size }))
}
