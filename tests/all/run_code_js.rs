//! Run Code in JavaScript end to end: inline code run by hush's JavaScript runner
//! component (built by build.rs from `runners/javascript`), through the real executor, with
//! real secrets from a real redis-server, against real local HTTP targets. Covers the three
//! example actions (`actions/*.js`), the JS surface, syntax errors, every limit and escape
//! attempt in JavaScript, and that no secret value reaches a record or a log. It never
//! asserts on timing.

use crate::common;
use crate::common::echo::target;
use common::{
    Harness, Kind, assert_no_value_in, assert_record_clean as assert_clean, error_of, run_as, team,
    user,
};
use hmac::{Hmac, Mac};
use hush::actions::Action;
use hush::actions::code::CodeAction;
use hush::actions::http::NetworkPolicy;
use hush::executor::{RunRecord, RunStatus};
use hush::secrets::HostPattern;
use serde_json::{Value, json};

const VALUE: &str = "sk_live_js_\"Zq8/+=&x";

fn loopback_only() -> NetworkPolicy {
    NetworkPolicy::allowing(["127.0.0.1/32".parse().unwrap()])
}

/// A JavaScript action running `code`, with the other fields of `extra`.
fn js(code: &str, extra: Value) -> CodeAction {
    let mut v = json!({"kind": "run_code", "name": "js", "language": "javascript", "code": code});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    CodeAction::from_json(&v.to_string()).unwrap()
}

/// The example spec `actions/<name>-js.json`, its placeholder secret id replaced.
fn example(name: &str, secret: Option<&str>) -> CodeAction {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("actions");
    let text = std::fs::read_to_string(dir.join(format!("{name}-js.json"))).unwrap();
    let text = match secret {
        Some(id) => text.replace("sec_REPLACE", id),
        None => text,
    };
    let spec = CodeAction::from_json(&text).unwrap();
    // The spec carries the readable source in actions/<name>.js, byte for byte.
    let source = std::fs::read_to_string(dir.join(format!("{name}.js"))).unwrap();
    assert_eq!(
        spec.code.as_deref(),
        Some(source.as_str()),
        "{name}-js.json"
    );
    spec
}

fn succeeded(record: &RunRecord) -> Value {
    assert_eq!(record.status, RunStatus::Succeeded, "{record:#?}");
    record.result.clone().unwrap()
}

#[tokio::test]
async fn js_call_api_attaches_its_key_as_a_bearer_token_without_holding_it() {
    let h = Harness::new(Kind::Redis).await;
    let t = target().await;
    let (_, executor) = h.code_executor(loopback_only());
    let s = h.create("mia", team("API token", VALUE)).await;
    let mut action = example("call-api", Some(s.id.as_str()));
    action.allowed_hosts = vec![HostPattern::parse("127.0.0.1").unwrap()];
    let inputs = json!({"base_url": format!("http://{}", t.addr), "path": "/v1/me"});
    let record = run_as(&h, &executor, "max", action.clone(), inputs.clone()).await;
    let out = succeeded(&record);
    assert_eq!(out["status"], 200, "{out}");
    assert_eq!(out["ok"], true, "{out}");
    assert_eq!(out["body"]["path"], "/v1/me", "{out}");
    // The target got the real token; what it echoed back was redacted before the code saw it.
    let seen = t.seen.lock().unwrap().clone();
    assert_eq!(seen[0].headers["authorization"], format!("Bearer {VALUE}"));
    assert_eq!(
        out["body"]["headers"]["authorization"],
        "Bearer [REDACTED:API token]"
    );
    assert_eq!(record.secrets_used[0].name, "API token");
    assert!(
        record.logs.iter().any(|l| l.contains("GET http://")),
        "{:?}",
        record.logs
    );
    assert_clean(&record, VALUE);

    // With the default (closed) network policy the call to loopback is refused.
    let (_, closed) = h.code_executor(NetworkPolicy::closed());
    let record = run_as(&h, &closed, "max", action, inputs).await;
    let (code, message) = error_of(&record);
    assert_eq!(code, "action_failed", "{message}");
    assert!(message.contains("loopback"), "{message}");
    assert_eq!(t.seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn js_transform_json_totals_line_items() {
    let h = Harness::new(Kind::Redis).await;
    let (_, executor) = h.code_executor(NetworkPolicy::closed());
    let record = run_as(
        &h,
        &executor,
        "mia",
        example("transform-json", None),
        json!({"tax_rate_bps": 1000, "items": [
            {"sku": "a", "quantity": 2, "unit_price_cents": 150},
            {"sku": "b", "quantity": 1, "unit_price_cents": 700},
            {"sku": "a", "quantity": 1, "unit_price_cents": 150}]}),
    )
    .await;
    let out = succeeded(&record);
    assert_eq!(out["subtotal_cents"], 1150, "{out}");
    assert_eq!(out["tax_cents"], 115, "{out}");
    assert_eq!(out["total_cents"], 1265, "{out}");
    assert_eq!(out["item_count"], 4, "{out}");
    assert_eq!(out["currency"], "usd", "{out}");
    assert_eq!(out["lines"].as_array().unwrap().len(), 2, "{out}");
    assert_eq!(
        out["lines"][0],
        json!({"sku": "a", "name": "", "quantity": 3, "total_cents": 450})
    );
    assert!(
        record
            .logs
            .iter()
            .any(|l| l.contains("2 lines, 4 items, total 1265 usd")),
        "{:?}",
        record.logs
    );

    // An empty list is the action's own error, with its message.
    let record = run_as(
        &h,
        &executor,
        "mia",
        example("transform-json", None),
        json!({"items": []}),
    )
    .await;
    let (code, message) = error_of(&record);
    assert_eq!(code, "action_failed");
    assert!(message.contains("Error: `items` is empty"), "{message}");
}

#[tokio::test]
async fn js_hmac_sign_signs_with_a_key_it_never_sees() {
    let h = Harness::new(Kind::Redis).await;
    let (_, executor) = h.code_executor(NetworkPolicy::closed());
    let s = h.create("mia", team("Webhook key", VALUE)).await;
    let action = example("hmac-sign", Some(s.id.as_str()));
    assert!(!action.secrets["signing_key"].reveal);
    let record = run_as(
        &h,
        &executor,
        "max",
        action,
        json!({"payload": "order 42 paid", "timestamp": 1700000000}),
    )
    .await;
    let out = succeeded(&record);
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(VALUE.as_bytes()).unwrap();
    mac.update(b"1700000000.order 42 paid");
    let expected = mac.finalize().into_bytes();
    assert_eq!(out["signature_hex"], hex::encode(expected), "{out}");
    assert_eq!(
        out["signature_base64"],
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, expected)
    );
    assert_eq!(
        out["signature_header"],
        format!("t=1700000000,v1={}", hex::encode(expected))
    );
    assert_eq!(out["signed_bytes"], 24);
    assert_clean(&record, VALUE);
}

#[tokio::test]
async fn a_syntax_error_is_refused_as_invalid_with_its_line_and_column() {
    let h = Harness::new(Kind::Redis).await;
    let (code, executor) = h.code_executor(NetworkPolicy::closed());
    let broken = js(
        "export default async function run(input) {\n  return { a: 1 +* 2 };\n}\n",
        json!({}),
    );
    // At save or dispatch time: the runner compiles it, runs nothing.
    let e = executor
        .check(&Action::RunCode(broken.clone()))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), hush::error::ErrorKind::Invalid, "{e}");
    assert!(
        e.message().starts_with("invalid code: SyntaxError")
            && e.message().contains("line 2, column"),
        "{}",
        e.message()
    );
    // Good code passes the same check.
    code.check(&js("export default async () => 1;", json!({})))
        .await
        .unwrap();
    // And at run time the same refusal.
    let record = run_as(&h, &executor, "mia", broken, json!({})).await;
    let (c, message) = error_of(&record);
    assert_eq!(c, "invalid", "{message}");
    assert!(message.contains("line 2, column"), "{message}");

    // A module without a default function is the action's error, not a crash.
    let record = run_as(
        &h,
        &executor,
        "mia",
        js("export const x = 1;", json!({})),
        json!({}),
    )
    .await;
    let (c, message) = error_of(&record);
    assert_eq!(c, "action_failed", "{message}");
    assert!(
        message.contains("export default async function run"),
        "{message}"
    );
}

#[tokio::test]
async fn a_thrown_error_fails_the_run_with_its_message_redacted() {
    let h = Harness::new(Kind::Redis).await;
    let (_, executor) = h.code_executor(NetworkPolicy::closed());
    let s = h.create("mia", team("Thrown key", VALUE)).await;
    let (action, _) = approved_revealer(
        &h,
        &s.id,
        "export default async function run(input, { secrets }) {\n  \
           throw new TypeError(`declined ${input.why} ${secrets.key.reveal()}`);\n}\n",
    )
    .await;
    let record = run_as(&h, &executor, "max", action, json!({"why": "card"})).await;
    let (code, message) = error_of(&record);
    assert_eq!(code, "action_failed", "{message}");
    assert!(
        message.contains("TypeError: declined card [REDACTED:Thrown key] (at line 2, column"),
        "{message}"
    );
    assert_clean(&record, VALUE);

    // A thrown non-Error value, and a rejected promise, are errors too.
    for (code_text, needle) in [
        (
            "export default async () => { throw {reason: 'nope'}; }",
            r#"{"reason":"nope"}"#,
        ),
        (
            "export default () => Promise.reject(new RangeError('too far'));",
            "RangeError: too far",
        ),
        (
            "throw new Error('at the top level'); export default () => 1;",
            "Error: at the top level",
        ),
    ] {
        let record = run_as(&h, &executor, "mia", js(code_text, json!({})), json!({})).await;
        let (c, message) = error_of(&record);
        assert_eq!(c, "action_failed", "{message}");
        assert!(message.contains(needle), "{code_text}: {message}");
    }
}

#[tokio::test]
async fn the_js_surface_has_json_url_text_encoding_base64_and_console() {
    let h = Harness::new(Kind::Redis).await;
    let (_, executor) = h.code_executor(NetworkPolicy::closed());
    let code = r#"
export default async function run(input, ctx) {
  const u = new URL("/v1/items?b=2&a=1#top", "https://api.example.com/base/");
  u.searchParams.append("q", "a b&c");
  const bytes = new TextEncoder().encode("héllo €𝄞");
  console.log("log", { n: 1 }, [2]);
  console.info("info");
  console.warn("warn");
  console.error("error", new Error("shown"));
  console.debug("debug");
  await null;
  return {
    href: u.href, host: u.host, path: u.pathname, a: u.searchParams.get("a"),
    hash: u.hash, relative: new URL("../x", "https://h.example/a/b/c").href,
    bytes: bytes.length, round: new TextDecoder().decode(bytes),
    b64: btoa("hush"), unb64: atob("aHVzaA=="),
    json: JSON.parse(JSON.stringify({ x: [1, "two", null] })),
    input, bindings: ctx.secrets.bindings(),
  };
}
"#;
    let record = run_as(&h, &executor, "mia", js(code, json!({})), json!({"k": "v"})).await;
    let out = succeeded(&record);
    assert_eq!(
        out["href"],
        "https://api.example.com/v1/items?b=2&a=1&q=a+b%26c#top"
    );
    assert_eq!(out["host"], "api.example.com");
    assert_eq!(out["path"], "/v1/items");
    assert_eq!(out["a"], "1");
    assert_eq!(out["hash"], "#top");
    assert_eq!(out["relative"], "https://h.example/a/x");
    assert_eq!(out["bytes"], "héllo €𝄞".len());
    assert_eq!(out["round"], "héllo €𝄞");
    assert_eq!(out["b64"], "aHVzaA==");
    assert_eq!(out["unb64"], "hush");
    assert_eq!(out["json"], json!({"x": [1, "two", null]}));
    assert_eq!(out["input"], json!({"k": "v"}));
    assert_eq!(out["bindings"], json!([]));
    for line in [
        r#"info: log {"n":1} [2]"#,
        "info: info",
        "warn: warn",
        "error: error Error: shown",
        "debug: debug",
    ] {
        assert!(
            record.logs.iter().any(|l| l == line),
            "{line}: {:?}",
            record.logs
        );
    }
    // Returning nothing is `null`.
    let record = run_as(
        &h,
        &executor,
        "mia",
        js("export default async () => {}", json!({})),
        json!({}),
    )
    .await;
    assert_eq!(succeeded(&record), Value::Null);
}

#[tokio::test]
async fn fetch_attaches_a_secret_as_header_query_or_basic_auth_and_echoes_come_back_redacted() {
    let h = Harness::new(Kind::Redis).await;
    let t = target().await;
    let (_, executor) = h.code_executor(loopback_only());
    let s = h.create("mia", team("Attached key", VALUE)).await;
    let code = r#"
export default async function run(input, { secrets }) {
  const key = secrets.get("key");
  const a = await fetch(input.url + "/header", { headers: { "X-Token": key.withPrefix("tok "), "X-Plain": "p" } });
  const b = await fetch(input.url + "/query", { query: { api_key: key, page: "2" } });
  const c = await fetch(input.url + "/basic", { method: "POST", basicAuth: { username: "acct", password: key }, body: { n: 1 }, timeout: 2000 });
  const echoed = await a.json();
  return { a: a.status, b: b.status, c: c.status, header: echoed.headers["x-token"],
           type: a.headers.get("content-type"), query: (await b.json()).uri };
}
"#;
    let action = js(
        code,
        json!({"secrets": {"key": s.id.as_str()}, "allowed_hosts": ["127.0.0.1"]}),
    );
    let record = run_as(&h, &executor, "max", action, json!({"url": t.url("")})).await;
    let out = succeeded(&record);
    assert_eq!(
        (out["a"].clone(), out["b"].clone(), out["c"].clone()),
        (json!(200), json!(200), json!(200))
    );
    assert_eq!(out["header"], "tok [REDACTED:Attached key]");
    assert_eq!(out["type"], "application/json");
    assert!(
        out["query"]
            .as_str()
            .unwrap()
            .contains("[REDACTED:Attached key]"),
        "{out}"
    );
    let seen = t.seen.lock().unwrap().clone();
    assert_eq!(seen[0].headers["x-token"], format!("tok {VALUE}"));
    assert_eq!(seen[0].headers["x-plain"], "p");
    let query = seen[1].uri.split_once('?').unwrap().1.to_owned();
    let got: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    assert!(
        got.contains(&("api_key".to_owned(), VALUE.to_owned())),
        "{got:?}"
    );
    assert!(
        got.contains(&("page".to_owned(), "2".to_owned())),
        "{got:?}"
    );
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("acct:{VALUE}")
        )
    );
    assert_eq!(seen[2].headers["authorization"], basic);
    assert_eq!(seen[2].headers["content-type"], "application/json");
    assert_clean(&record, VALUE);
}

#[tokio::test]
async fn hostile_js_ends_each_run_with_its_own_error_while_20_well_behaved_runs_succeed() {
    let h = Harness::new(Kind::Redis).await;
    let t = target().await;
    let (_, executor) = h.code_executor(loopback_only());
    let flood_url = t.url("/flood");
    let cases: Vec<(&str, Value, &str, String)> = vec![
        (
            "export default async () => { for (;;) {} }",
            json!({"timeout_ms": 300}),
            "limit_exceeded",
            "time limit of 300 ms".into(),
        ),
        (
            "export default async () => { const f = (n) => f(n + 1) + 1; return f(0); }",
            json!({}),
            "trapped",
            "stack overflow".into(),
        ),
        (
            "export default async () => { const a = []; for (;;) a.push('x'.repeat(1 << 20) + a.length); }",
            json!({"memory_mb": 16}),
            "limit_exceeded",
            "memory limit of 16 MiB".into(),
        ),
        (
            "export default async () => 'x'.repeat(2000)",
            json!({"max_output_bytes": 1000}),
            "limit_exceeded",
            "more than 1000 bytes of output".into(),
        ),
        (
            "export default async () => { for (;;) console.log('flood '.repeat(100)); }",
            json!({"max_log_bytes": 10000}),
            "limit_exceeded",
            "more than 10000 bytes of logs".into(),
        ),
        (
            "export default async (input) => { for (let i = 0; i < 10000; i++) await fetch(input.url); }",
            json!({"max_http_calls": 20}),
            "limit_exceeded",
            "more than 20 HTTP calls".into(),
        ),
        (
            "export default async () => new Promise(() => {})",
            json!({}),
            "action_failed",
            "never settles".into(),
        ),
    ];
    let good = js("export default async (input) => ({ input })", json!({}));
    let mut abusive = Vec::new();
    for (code, limits, _, _) in &cases {
        let action = js(
            code,
            json!({"allowed_hosts": ["127.0.0.1"], "limits": limits}),
        );
        abusive.push(run_as(
            &h,
            &executor,
            "mia",
            action,
            json!({"url": flood_url}),
        ));
    }
    let mut well_behaved = Vec::new();
    for i in 0..20 {
        well_behaved.push(run_as(&h, &executor, "mia", good.clone(), json!({"i": i})));
    }
    let (abusive, well_behaved) = tokio::join!(
        futures::future::join_all(abusive),
        futures::future::join_all(well_behaved)
    );
    for (record, (code_text, _, code, needle)) in abusive.iter().zip(&cases) {
        let (c, message) = error_of(record);
        assert_eq!(&c, code, "{code_text}: {message}");
        assert!(
            message.contains(needle.as_str()),
            "{code_text}: expected {needle:?} in {message:?}"
        );
    }
    for (i, record) in well_behaved.iter().enumerate() {
        assert_eq!(succeeded(record)["input"], json!({"i": i}));
    }
    // The flood of 10,000 stopped at the cap: exactly 20 calls reached the target.
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
async fn js_fetch_is_refused_off_the_allowed_hosts_and_to_loopback_and_metadata_addresses() {
    let h = Harness::new(Kind::Redis).await;
    let t = target().await;
    let s = h
        .create("mia", {
            let mut new = team("Pinned key", VALUE);
            new.allowed_hosts = vec![HostPattern::parse("api.stripe.com").unwrap()];
            new
        })
        .await;
    let code = "export default async (input, { secrets }) => {\n  \
        const headers = input.attach ? { Authorization: secrets.key.bearer() } : {};\n  \
        const r = await fetch(input.url, { headers });\n  return r.status;\n}\n";
    let cases = [
        (
            vec![],
            loopback_only(),
            t.url("/x"),
            false,
            "may not call 127.0.0.1",
        ),
        (
            vec!["127.0.0.1"],
            NetworkPolicy::closed(),
            t.url("/x"),
            false,
            "loopback",
        ),
        (
            vec!["169.254.169.254"],
            NetworkPolicy::closed(),
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            false,
            "169.254.169.254",
        ),
        (
            vec!["localhost"],
            NetworkPolicy::closed(),
            format!("http://localhost:{}/x", t.addr.port()),
            false,
            "localhost",
        ),
        // The secret is allowed only on api.stripe.com.
        (
            vec!["127.0.0.1"],
            loopback_only(),
            t.url("/x"),
            true,
            "may not be sent to 127.0.0.1",
        ),
    ];
    for (allowed, policy, url, attach, needle) in cases {
        let (_, executor) = h.code_executor(policy);
        let action = js(
            code,
            json!({"allowed_hosts": allowed, "secrets": {"key": s.id.as_str()}}),
        );
        let record = run_as(
            &h,
            &executor,
            "mia",
            action,
            json!({"url": url, "attach": attach}),
        )
        .await;
        let (c, message) = error_of(&record);
        assert_eq!(c, "action_failed", "{message}");
        assert!(
            message.contains("HttpError: not_allowed") && message.contains(needle),
            "{url}: {message}"
        );
        assert_clean(&record, VALUE);
    }
    assert!(
        t.seen.lock().unwrap().is_empty(),
        "nothing reached the target"
    );
}

#[tokio::test]
async fn tricks_to_read_a_secrets_value_in_js_yield_only_its_placeholder() {
    let h = Harness::new(Kind::Redis).await;
    let (_, executor) = h.code_executor(NetworkPolicy::closed());
    let s = h.create("mia", team("Opaque key", VALUE)).await;
    let code = r#"
export default async function run(input, { secrets, secret }) {
  const s = secrets.key;
  const tries = {};
  const attempt = (name, f) => { try { tries[name] = f(); } catch (e) { tries[name] = `threw ${e.name}: ${e.message}`; } };
  attempt("string", () => String(s));
  attempt("template", () => `${s}`);
  attempt("concat", () => "" + s);
  attempt("json", () => JSON.stringify(s));
  attempt("json_object", () => JSON.stringify({ s }));
  attempt("to_string", () => s.toString());
  attempt("proto_to_string", () => Object.prototype.toString.call(s));
  attempt("primitive", () => s[Symbol.toPrimitive]("string"));
  attempt("value_of", () => String(s.valueOf()));
  attempt("own_names", () => JSON.stringify(Object.getOwnPropertyNames(s)));
  attempt("own_keys", () => JSON.stringify(Reflect.ownKeys(s).map(String)));
  attempt("descriptors", () => JSON.stringify(Object.getOwnPropertyDescriptors(s)));
  attempt("entries", () => JSON.stringify(Object.entries(s)));
  attempt("proto_names", () => JSON.stringify(Object.getOwnPropertyNames(Object.getPrototypeOf(s))));
  attempt("proxy", () => String(new Proxy(s, { get: (t, k, r) => Reflect.get(t, k, r) })));
  attempt("proxy_method", () => new Proxy(s, {}).hmacSha256("x").length);
  attempt("prefix", () => String(s.withPrefix("Bearer ")));
  attempt("eval", () => eval("String(secrets.key) + JSON.stringify(secrets.key)"));
  attempt("function", () => Function("s", "return `${s}` + Object.getOwnPropertyNames(s)")(s));
  attempt("reveal", () => s.reveal());
  attempt("forged", () => { const f = Object.create(Object.getPrototypeOf(s)); return f.reveal(); });
  attempt("construct", () => new s.constructor(Symbol("hush"), 0, "key").reveal());
  attempt("natives", () => typeof globalThis.__hush_native + typeof globalThis.__hush_main);
  attempt("unbound", () => secret("nope"));
  console.log("secret:", s, [s], { s });
  return tries;
}
"#;
    let action = js(code, json!({"secrets": {"key": s.id.as_str()}}));
    let record = run_as(&h, &executor, "max", action, json!({})).await;
    let out = succeeded(&record);
    for (name, expected) in [
        ("string", "[secret key]"),
        ("template", "[secret key]"),
        ("concat", "[secret key]"),
        ("json", "\"[secret key]\""),
        ("json_object", "{\"s\":\"[secret key]\"}"),
        ("to_string", "[secret key]"),
        ("proto_to_string", "[object Secret]"),
        ("primitive", "[secret key]"),
        ("value_of", "[secret key]"),
        ("own_names", "[\"binding\"]"),
        ("own_keys", "[\"binding\"]"),
        ("entries", "[[\"binding\",\"key\"]]"),
        ("prefix", "[secret key with a prefix]"),
        ("eval", "[secret key]\"[secret key]\""),
        ("function", "[secret key]binding"),
        ("natives", "undefinedundefined"),
    ] {
        assert_eq!(out[name], expected, "{name}: {out}");
    }
    assert_eq!(out["proxy"], "[secret key]", "{out}");
    for (name, needle) in [
        ("reveal", "does not say \\\"reveal\\\": true"),
        ("forged", "not a secret"),
        // A proxy is not the secret it wraps: the runner finds no handle for it.
        ("proxy_method", "not a secret"),
        ("construct", "secrets come from ctx.secrets"),
        ("unbound", "no secret is bound as \\\"nope\\\""),
    ] {
        let text = out[name].to_string();
        assert!(
            text.contains("threw") && text.contains(needle),
            "{name}: {text}"
        );
    }
    assert!(
        record
            .logs
            .iter()
            .any(|l| l == r#"info: secret: [secret key] ["[secret key]"] {"s":"[secret key]"}"#),
        "{:?}",
        record.logs
    );
    assert_clean(&record, VALUE);
}

/// A JS action binding secret `id` as `key` with `"reveal": true`, its code approved by
/// the secret's managers; returns it with the code's id (`sha256:` of the code text).
async fn approved_revealer(
    h: &Harness,
    id: &hush::model::SecretId,
    code: &str,
) -> (CodeAction, hush::model::ComponentId) {
    let action = js(
        code,
        json!({"secrets": {"key": {"id": id.as_str(), "reveal": true}}}),
    );
    let component =
        hush::model::ComponentId::from_hex(&hush::actions::code::content_hash(code.as_bytes()))
            .unwrap();
    h.secrets
        .set_reveal_components(&h.org, &user("mia"), id, vec![component.clone()])
        .await
        .unwrap();
    (action, component)
}

#[tokio::test]
async fn reveal_in_js_needs_that_exact_code_approved_and_stays_redacted() {
    let h = Harness::new(Kind::Redis).await;
    let (_, executor) = h.code_executor(NetworkPolicy::closed());
    let s = h.create("mia", team("Reveal key", VALUE)).await;
    let code = "export default async (input, { secrets }) => {\n  \
        const v = secrets.key.reveal();\n  console.log('value', v);\n  \
        return { v, reversed: [...v].reverse().join('').length };\n}\n";
    let unapproved = js(
        code,
        json!({"secrets": {"key": {"id": s.id.as_str(), "reveal": true}}}),
    );
    let code_id = format!(
        "sha256:{}",
        hush::actions::code::content_hash(code.as_bytes())
    );
    let record = run_as(&h, &executor, "max", unapproved.clone(), json!({})).await;
    let (c, message) = error_of(&record);
    assert_eq!(c, "denied", "{message}");
    assert!(
        message.contains("\"Reveal key\"") && message.contains(&code_id),
        "{message}"
    );

    let (approved, component) = approved_revealer(&h, &s.id, code).await;
    assert_eq!(component.to_string(), code_id);
    let record = run_as(&h, &executor, "max", approved, json!({})).await;
    let out = succeeded(&record);
    assert_eq!(out["v"], "[REDACTED:Reveal key]", "{out}");
    assert_eq!(out["reversed"], VALUE.chars().count());
    assert!(
        record
            .logs
            .iter()
            .any(|l| l == "info: value [REDACTED:Reveal key]"),
        "{:?}",
        record.logs
    );
    assert_clean(&record, VALUE);

    // One more character of code is other code: not approved.
    let changed = js(
        &format!("{code} "),
        json!({"secrets": {"key": {"id": s.id.as_str(), "reveal": true}}}),
    );
    let record = run_as(&h, &executor, "max", changed, json!({})).await;
    assert_eq!(error_of(&record).0, "denied");
}

#[tokio::test]
async fn over_the_api_js_is_dispatched_inline_and_saved_a_syntax_error_is_refused_and_redis_holds_no_value()
 {
    use reqwest::{Method, StatusCode};
    let h = Harness::new(Kind::Redis).await;
    let s = h.create("mia", team("Webhook key", VALUE)).await;
    let api = common::api::Client::new(common::api::serve_with_code(&h, 1 << 20).await, &[VALUE]);
    let mia = common::api::user_token(&h, "mia").await;
    let spec = serde_json::to_value(example("hmac-sign", Some(s.id.as_str()))).unwrap();
    let inputs = json!({"payload": "order 42 paid", "timestamp": 1700000000});
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(VALUE.as_bytes()).unwrap();
    mac.update(b"1700000000.order 42 paid");
    let expected = hex::encode(mac.finalize().into_bytes());

    // Inline, dispatched and waited for.
    let (status, run) = api
        .json(
            Method::POST,
            "/v1/runs?wait=true",
            &mia,
            &json!({"action": spec, "inputs": inputs}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["result"]["signature_hex"], expected, "{run}");

    // Saved, then dispatched by id.
    let (status, saved) = api
        .json(
            Method::PUT,
            "/v1/actions/act_sign_js",
            &mia,
            &json!({"spec": spec}),
        )
        .await;
    assert!(status.is_success(), "{saved}");
    let (status, run) = api
        .json(
            Method::POST,
            "/v1/runs?wait=true",
            &mia,
            &json!({"action_id": "act_sign_js", "inputs": inputs}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["result"]["signature_hex"], expected, "{run}");

    // Code that does not compile is refused at save and at dispatch, with where.
    let broken = json!({"kind": "run_code", "language": "javascript",
        "code": "export default async function run() {\n  return [1, 2;\n}\n"});
    let (status, got) = api
        .json(
            Method::PUT,
            "/v1/actions/act_broken",
            &mia,
            &json!({"spec": broken}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{got}");
    assert_eq!(got["error"]["code"], "invalid", "{got}");
    let message = got["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("invalid code: SyntaxError") && message.contains("line 2, column"),
        "{message}"
    );
    let (status, _) = api.get("/v1/actions/act_broken", &mia).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing was saved");
    let (status, got) = api
        .json(
            Method::POST,
            "/v1/runs?wait=true",
            &mia,
            &json!({"action": broken}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{got}");
    assert!(
        got["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 2, column"),
        "{got}"
    );

    // Approved code that reveals the value, prints it, returns it and throws it: the run,
    // its logs and its events are stored in Redis, and no key of the org holds the value.
    let code = "export default async (input, { secrets }) => {\n  const v = secrets.key.reveal();\n  \
        console.log(v, btoa(v));\n  if (input.fail) throw new Error(v);\n  return { v };\n}\n";
    let (action, _) = approved_revealer(&h, &s.id, code).await;
    let spec = serde_json::to_value(action).unwrap();
    for fail in [false, true] {
        let (status, run) = api
            .json(
                Method::POST,
                "/v1/runs?wait=true",
                &mia,
                &json!({"action": spec, "inputs": {"fail": fail}}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{run}");
        let expected = if fail { "failed" } else { "succeeded" };
        assert_eq!(run["status"], expected, "{run}");
        assert!(run.to_string().contains("[REDACTED:Webhook key]"), "{run}");
    }
    assert_no_value_in_redis(&h, VALUE).await;
}

/// Fails if any Redis key of `h`'s org, of any type, holds an encoding of `value`.
async fn assert_no_value_in_redis(h: &Harness, value: &str) {
    use redis::AsyncCommands;
    let client = redis::Client::open(h.redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = conn.keys(format!("hush:{{{}}}:*", h.org)).await.unwrap();
    assert!(keys.iter().any(|k| k.contains("run")), "{keys:?}");
    for key in &keys {
        let (kind, dump) = common::redis_key_bytes(&mut conn, key).await;
        assert_no_value_in(&format!("Redis {kind} {key}"), &dump, &[value]);
    }
}

#[test]
fn the_cli_runs_the_js_examples_from_their_spec_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("data");
    let env = [("HUSH_DATA_DIR", data.to_str().unwrap())];
    let hush = |args: &[&str]| common::run_hush(&env, args, VALUE.as_bytes(), &[VALUE]);
    let ok = |args: &[&str]| {
        let out = hush(args);
        assert!(
            out.status.success(),
            "hush {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    // `hush run <spec file>` as mia with `inputs`, its record as JSON.
    let run_file = |spec: &std::path::Path, inputs: &str| {
        ok(&[
            "run",
            spec.to_str().unwrap(),
            "--org",
            "acme",
            "--as",
            "mia",
            "--inputs",
            inputs,
            "--json",
        ])
    };
    hush(&["org", "create", "acme"]);
    hush(&["user", "add", "--org", "acme", "mia"]);
    let created = ok(&[
        "secret",
        "create",
        "--org",
        "acme",
        "--as",
        "mia",
        "--name",
        "Webhook key",
        "--value-stdin",
        "--json",
    ]);
    let id = created["id"].as_str().unwrap();
    let actions = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("actions");
    let sign = d.join("hmac-sign-js.json");
    std::fs::write(
        &sign,
        std::fs::read_to_string(actions.join("hmac-sign-js.json"))
            .unwrap()
            .replace("sec_REPLACE", id),
    )
    .unwrap();
    let inputs = json!({"payload": "order 42 paid", "timestamp": 1700000000}).to_string();
    let record = run_file(&sign, &inputs);
    assert_eq!(record["status"], "succeeded", "{record}");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(VALUE.as_bytes()).unwrap();
    mac.update(b"1700000000.order 42 paid");
    assert_eq!(
        record["result"]["signature_hex"],
        hex::encode(mac.finalize().into_bytes())
    );

    let transform = actions.join("transform-json-js.json");
    let inputs = json!({"tax_rate_bps": 1000, "items": [
        {"sku": "a", "quantity": 2, "unit_price_cents": 150},
        {"sku": "b", "quantity": 1, "unit_price_cents": 700}]})
    .to_string();
    let record = run_file(&transform, &inputs);
    assert_eq!(record["result"]["total_cents"], 1100, "{record}");

    // A syntax error: exit code 2 (invalid) with the line and column.
    let broken = d.join("broken.json");
    std::fs::write(
        &broken,
        json!({"kind": "run_code", "language": "javascript", "code": "export default (;"})
            .to_string(),
    )
    .unwrap();
    let out = hush(&[
        "run",
        broken.to_str().unwrap(),
        "--org",
        "acme",
        "--as",
        "mia",
    ]);
    let text = String::from_utf8_lossy(&[&out.stdout[..], &out.stderr[..]].concat()).into_owned();
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("SyntaxError") && text.contains("line 1, column"),
        "{text}"
    );
}

#[tokio::test]
async fn the_runner_itself_cannot_be_added_as_a_users_component() {
    let h = Harness::new(Kind::Redis).await;
    let (code, _) = h.code_executor(NetworkPolicy::closed());
    let bytes = std::fs::read(hush::guests::JS_RUNNER).unwrap();
    let e = code
        .add_component(&h.org, &user("mia"), bytes)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), hush::error::ErrorKind::Invalid, "{e}");
    assert!(
        e.message().contains("imports hush:action/script"),
        "{}",
        e.message()
    );
}

#[test]
fn a_spec_names_a_component_or_code_never_both() {
    let bad = [
        (
            json!({"kind": "run_code", "component": "sha256:".to_owned() + &"a".repeat(64), "language": "javascript", "code": "x"}),
            "invalid component",
        ),
        (json!({"kind": "run_code", "code": "x"}), "invalid language"),
        (
            json!({"kind": "run_code", "language": "javascript"}),
            "invalid code",
        ),
        (
            json!({"kind": "run_code", "language": "python", "code": "x"}),
            "invalid language",
        ),
        (
            json!({"kind": "run_code", "language": "javascript", "code": "  "}),
            "invalid code",
        ),
        (
            json!({"kind": "run_code", "language": "javascript", "code": "x".repeat(hush::actions::code::MAX_CODE_BYTES + 1)}),
            "invalid code",
        ),
        (json!({"kind": "run_code"}), "invalid component"),
    ];
    for (spec, needle) in bad {
        let e = CodeAction::from_json(&spec.to_string()).unwrap_err();
        assert!(e.message().starts_with(needle), "{spec}: {}", e.message());
    }
    // Over the API and in saved actions inline code is accepted as it is.
    let action = Action::from_json(
        &json!({"kind": "run_code", "language": "javascript", "code": "export default () => 1"})
            .to_string(),
    )
    .unwrap();
    assert!(matches!(action, Action::RunCode(_)));
}

#[tokio::test]
async fn each_js_run_starts_from_the_ready_snapshot_and_shares_nothing_with_the_last() {
    let h = Harness::new(Kind::Redis).await;
    let (code, executor) = h.code_executor(NetworkPolicy::closed());
    code.warm_js_runner().await.unwrap();
    assert!(
        code.js_runner_preinitialized(),
        "the runner fell back to setting up its engine in every run"
    );
    // The first run changes everything it can reach; the second looks for its traces.
    let first = js(
        r#"export default async function run() {
            globalThis.leak = "from the first run";
            Array.prototype.leak = 1;
            JSON.stringify = () => "hijacked";
            console.log = () => {};
            return [Math.random(), Math.random(), Math.random()];
        }"#,
        json!({}),
    );
    let second = js(
        r#"export default async function run() {
            return {
                global: typeof globalThis.leak,
                proto: typeof [].leak,
                json: JSON.stringify({a: 1}),
                random: [Math.random(), Math.random(), Math.random()],
            };
        }"#,
        json!({}),
    );
    let a = succeeded(&run_as(&h, &executor, "mia", first, json!({})).await);
    let b = succeeded(&run_as(&h, &executor, "mia", second, json!({})).await);
    assert_eq!(b["global"], "undefined", "{b}");
    assert_eq!(b["proto"], "undefined", "{b}");
    assert_eq!(b["json"], r#"{"a":1}"#, "{b}");
    // Math.random is seeded per run, not once in the snapshot: two runs draw different
    // numbers (three equal draws in a row would be a 2^-159 coincidence).
    let draws = |v: &Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let (ra, rb) = (draws(&a), draws(&b["random"]));
    assert!(ra.iter().all(|x| (0.0..1.0).contains(x)), "{ra:?}");
    assert_ne!(ra, rb, "two runs drew the same Math.random sequence");
}

#[tokio::test]
async fn a_memory_limit_below_what_the_js_engine_needs_is_a_clear_limit_error() {
    let h = Harness::new(Kind::Redis).await;
    let (_, executor) = h.code_executor(NetworkPolicy::closed());
    let code = "export default async function run() { return 1; }";
    let small = run_as(
        &h,
        &executor,
        "mia",
        js(code, json!({"limits": {"memory_mb": 1}})),
        json!({}),
    )
    .await;
    let (kind, message) = error_of(&small);
    assert_eq!(kind, "limit_exceeded", "{small:#?}");
    assert!(message.contains("memory limit of 1 MiB"), "{message}");
    // The smallest limit that fits the engine runs the same code.
    let mut fits = None;
    for mb in 2..=16 {
        let record = run_as(
            &h,
            &executor,
            "mia",
            js(code, json!({"limits": {"memory_mb": mb}})),
            json!({}),
        )
        .await;
        if record.status == RunStatus::Succeeded {
            fits = Some(mb);
            break;
        }
        let (kind, _) = error_of(&record);
        assert_eq!(kind, "limit_exceeded", "{record:#?}");
    }
    println!("the JS engine runs in {fits:?} MiB");
    assert!(
        fits.is_some(),
        "no limit up to 16 MiB ran a trivial JS action"
    );
}
