//! What a target echoes back, through the executor with real secrets from a real store
//! (redis-server) and a real local target: Send API Request and guest HTTP (the `hostile`
//! component built for wasm32-wasip2). A body cut at every cap around an echoed secret,
//! compressed echoes, every encoding class the target writes, a long all-digit value
//! echoed as a JSON number, and secrets in a URL's host.

use crate::common;
use std::io::Write as _;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{Harness, Kind, run, team, user};
use hush::actions::code::CodeAction;
use hush::actions::http::{HttpAction, NetworkPolicy};
use hush::executor::{Executor, RunRecord, RunRequest, RunStatus};
use serde_json::{Value, json};

/// Space, `~`, `*`, quotes and URL-special characters, upper- and lower-case letters.
const VALUE: &str = "sk_live Q7~x*z\"Ab/+=&9";
const NAME: &str = "Echo key";
const LABEL: &str = "[REDACTED:Echo key]";

/// What the target writes in place of the value it received.
fn encode(how: &str, v: &str) -> String {
    let pct = |s: &[u8], keep: &[u8]| -> String {
        s.iter()
            .map(|&b| {
                if b.is_ascii_alphanumeric() || keep.contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    let plus = |keep: &[u8]| -> String {
        v.split(' ')
            .map(|p| pct(p.as_bytes(), keep))
            .collect::<Vec<_>>()
            .join("+")
    };
    match how {
        "raw" => v.to_owned(),
        "trimmed" => v.trim().to_owned(),
        "lower" => v.to_ascii_lowercase(),
        "idna" => match url::Host::parse(v).unwrap() {
            url::Host::Domain(d) => d,
            other => panic!("{other:?}"),
        },
        // Python quote_plus, Go QueryEscape, PHP urlencode.
        "quote_plus" | "query_escape" => plus(b"-_.~"),
        "php_urlencode" => plus(b"-_."),
        "double_percent" => pct(pct(v.as_bytes(), b"").as_bytes(), b""),
        "base64_json" => STANDARD.encode(serde_json::to_string(v).unwrap()),
        "base64_json_doc" => STANDARD.encode(json!({"user": "u1", "token": v}).to_string()),
        "html_dec" => v.chars().map(|c| format!("&#{};", c as u32)).collect(),
        "html_hex" => v
            .chars()
            .enumerate()
            .map(|(i, c)| {
                let h = format!("{:x}", c as u32);
                format!("&#x{};", if i % 2 == 0 { h.to_uppercase() } else { h })
            })
            .collect(),
        // Python html.escape, PHP htmlspecialchars: only the special characters.
        "html_escape_py" => v
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&#x27;"),
        "html_numeric_specials" => v
            .chars()
            .map(|c| match c {
                '&' | '<' | '>' | '"' | '\'' => format!("&#{};", c as u32),
                c => c.to_string(),
            })
            .collect(),
        "hex_mixed" => hex::encode(v)
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i % 3 == 1 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect(),
        "u_every" => v.chars().map(|c| format!("\\u{:04x}", c as u32)).collect(),
        "u_every_upper" => v.chars().map(|c| format!("\\u{:04X}", c as u32)).collect(),
        "u_every_mixed" => v
            .chars()
            .enumerate()
            .map(|(i, c)| {
                let h = format!("{:04x}", c as u32);
                format!("\\u{}", if i % 2 == 1 { h.to_uppercase() } else { h })
            })
            .collect(),
        other => panic!("unknown encoding {other}"),
    }
}

fn compress(how: &str, body: &[u8]) -> Vec<u8> {
    match how {
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(body).unwrap();
            e.finish().unwrap()
        }
        "deflate" => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(body).unwrap();
            e.finish().unwrap()
        }
        "br" => {
            let mut out = Vec::new();
            {
                let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
                w.write_all(body).unwrap();
            }
            out
        }
        "zstd" => zstd::encode_all(body, 3).unwrap(),
        other => panic!("unknown content encoding {other}"),
    }
}

/// The target: takes the value from the request (header `x-echo`, or `v` of a JSON body,
/// or a bearer token), and answers `echo=<encoded value>!` (query `enc`, default raw),
/// compressed as query `ce` says; `json=1` answers `{"n": <value>}` as JSON instead (for
/// an all-digit value); `/bomb` answers 64 MiB of zeros gzip-compressed.
async fn echo_target() -> String {
    async fn handle(req: Request) -> Response {
        let (parts, body) = req.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        let query: Vec<(String, String)> =
            url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        if parts.uri.path() == "/bomb" {
            let zeros = vec![0u8; 64 << 20];
            return (
                [("content-type", "text/plain"), ("content-encoding", "gzip")],
                compress("gzip", &zeros),
            )
                .into_response();
        }
        let value = if let Some(h) = parts.headers.get("x-echo") {
            String::from_utf8_lossy(h.as_bytes()).into_owned()
        } else if let Some(h) = parts.headers.get("authorization") {
            let h = String::from_utf8_lossy(h.as_bytes()).into_owned();
            h.strip_prefix("Bearer ").unwrap_or(&h).to_owned()
        } else {
            let v: Value = serde_json::from_slice(&body).unwrap();
            v["v"].as_str().unwrap().to_owned()
        };
        let (content_type, mut out) = if q("json").is_some() {
            (
                "application/json",
                format!("{{\"n\": {value}}}").into_bytes(),
            )
        } else {
            let enc = q("enc").unwrap_or_else(|| "raw".into());
            (
                "text/plain",
                format!("echo={}!", encode(&enc, &value)).into_bytes(),
            )
        };
        let mut headers = vec![("content-type", content_type.to_owned())];
        if let Some(ce) = q("ce") {
            out = compress(&ce, &out);
            headers.push(("content-encoding", ce));
        }
        let mut resp = out.into_response();
        for (n, v) in headers {
            resp.headers_mut().insert(n, v.parse().unwrap());
        }
        resp
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(handle);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn policy() -> NetworkPolicy {
    NetworkPolicy::allowing(["127.0.0.1/32".parse().unwrap()])
}

fn executor(h: &Harness) -> Executor {
    h.code_executor(policy()).1
}

async fn run_action(h: &Harness, ex: &Executor, action: hush::actions::Action) -> RunRecord {
    ex.run(RunRequest {
        run_id: run(&common::unique("echo")),
        org: h.org.clone(),
        actor: user("max"),
        action,
        inputs: json!({}),
    })
    .await
}

/// A Send API Request that sends secret `id` in the `x-echo` header to `url`.
fn send(url: &str, id: &str, max_response_bytes: usize) -> hush::actions::Action {
    HttpAction::from_json(
        &json!({
            "kind": "send_api_request", "method": "GET", "url": url,
            "headers": [{"name": "X-Echo", "value": format!("{{{{secret \"{id}\"}}}}")}],
            "max_response_bytes": max_response_bytes,
        })
        .to_string(),
    )
    .unwrap()
    .into()
}

/// The body of a run's result as text (a JSON body as its JSON text).
fn body_of(record: &RunRecord) -> String {
    assert_eq!(record.status, RunStatus::Succeeded, "{record:#?}");
    match &record.result.as_ref().unwrap()["body"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `text` with every label taken out.
fn unlabelled(text: &str) -> String {
    let re_label = |s: &str| {
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find("[REDACTED:") {
            out.push_str(&rest[..i]);
            out.push('\u{0}');
            rest = rest[i..].split_once(']').map_or("", |(_, r)| r);
        }
        out.push_str(rest);
        out
    };
    re_label(text)
}

#[tokio::test]
async fn a_send_api_request_cut_at_any_cap_never_returns_part_of_an_echoed_secret() {
    let h = Harness::new(Kind::Redis).await;
    let ex = executor(&h);
    let id = h.create("mia", team(NAME, VALUE)).await.id.to_string();
    let url = echo_target().await;
    for enc in ["raw", "hex_mixed", "html_dec", "quote_plus", "u_every"] {
        let echoed = encode(enc, VALUE);
        let head = &echoed[..2];
        assert!(!"echo=".contains(head) && !LABEL.contains(head), "{enc}");
        let whole = "echo=".len() + echoed.len() + 1;
        for cap in "echo=".len()..=whole {
            let record = run_action(&h, &ex, send(&format!("{url}/?enc={enc}"), &id, cap)).await;
            let body = body_of(&record);
            assert!(
                !unlabelled(&body).contains(head),
                "{enc}, cap {cap}: the cut body keeps the start of the echoed secret: {body:?}"
            );
            let result = &record.result.as_ref().unwrap();
            assert_eq!(result["truncated"], cap < whole, "{enc}, cap {cap}");
            if cap > "echo=".len() {
                assert!(
                    body.starts_with(&format!("echo={LABEL}")),
                    "{enc}, cap {cap}: {body:?}"
                );
            }
        }
    }
}

#[tokio::test]
async fn compressed_echoes_are_decoded_then_redacted_and_a_bomb_is_cut_at_the_cap() {
    let h = Harness::new(Kind::Redis).await;
    let ex = executor(&h);
    let id = h.create("mia", team(NAME, VALUE)).await.id.to_string();
    let url = echo_target().await;
    for ce in ["gzip", "deflate", "br", "zstd"] {
        let record = run_action(&h, &ex, send(&format!("{url}/?ce={ce}"), &id, 1 << 20)).await;
        assert_eq!(body_of(&record), format!("echo={LABEL}!"), "{ce}");
        let result = record.result.as_ref().unwrap();
        assert!(result.get("note").is_none(), "{ce}: {result}");
        common::assert_no_value_in(
            ce,
            serde_json::to_string(&record).unwrap().as_bytes(),
            &[VALUE],
        );
    }
    let started = std::time::Instant::now();
    let record = run_action(&h, &ex, send(&format!("{url}/bomb"), &id, 1000)).await;
    let body = body_of(&record);
    assert_eq!(body.len(), 1000, "the cap counts decoded bytes");
    assert_eq!(record.result.as_ref().unwrap()["truncated"], true);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

#[tokio::test]
async fn every_encoding_class_a_target_echoes_is_redacted() {
    let h = Harness::new(Kind::Redis).await;
    let ex = executor(&h);
    let id = h.create("mia", team(NAME, VALUE)).await.id.to_string();
    let url = echo_target().await;
    let mut failures = Vec::new();
    for enc in [
        "raw",
        "lower",
        "quote_plus",
        "query_escape",
        "php_urlencode",
        "double_percent",
        "base64_json",
        "base64_json_doc",
        "html_dec",
        "html_hex",
        "html_escape_py",
        "html_numeric_specials",
        "hex_mixed",
        "u_every",
        "u_every_upper",
        "u_every_mixed",
    ] {
        let record = run_action(&h, &ex, send(&format!("{url}/?enc={enc}"), &id, 1 << 20)).await;
        let body = body_of(&record);
        let echoed = encode(enc, VALUE);
        if body.contains(&echoed) || !body.contains(LABEL) {
            failures.push(format!("{enc}: {body:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "not redacted:\n{}",
        failures.join("\n")
    );
}

#[tokio::test]
async fn a_value_trimmed_lower_cased_or_idna_encoded_by_the_target_is_redacted() {
    let h = Harness::new(Kind::Redis).await;
    let ex = executor(&h);
    let url = echo_target().await;
    let padded = "  tok_Trimmed_Value_42 \t";
    let unicode = "Sk-Ünï-Host-Key-42";
    for (name, value, enc) in [
        ("Padded", padded, "raw"),
        ("Padded", padded, "trimmed"),
        ("Hostish", unicode, "lower"),
        ("Hostish", unicode, "idna"),
        ("Hostish", "Sk-Live-Host-Key-42", "idna"),
    ] {
        let id = h
            .create("mia", team(&common::unique(name), value))
            .await
            .id
            .to_string();
        // The value travels in a JSON body: a header would be trimmed on the way.
        let action = HttpAction::from_json(
            &json!({
                "kind": "send_api_request", "method": "POST", "url": format!("{url}/?enc={enc}"),
                "body": {"type": "json", "value": {"v": format!("{{{{secret \"{id}\"}}}}")}},
            })
            .to_string(),
        )
        .unwrap();
        let record = run_action(&h, &ex, action.into()).await;
        let body = body_of(&record);
        let echoed = encode(enc, value);
        assert!(!body.contains(&echoed), "{enc} of {name}: {body:?}");
        assert!(body.contains("[REDACTED:"), "{enc} of {name}: {body:?}");
    }
}

#[tokio::test]
async fn a_long_all_digit_value_echoed_as_a_json_number_keeps_none_of_its_digits() {
    let h = Harness::new(Kind::Redis).await;
    let ex = executor(&h);
    let digits = "123456789012345678901234567890";
    let id = h.create("mia", team(NAME, digits)).await.id.to_string();
    let url = echo_target().await;
    let record = run_action(&h, &ex, send(&format!("{url}/?json=1"), &id, 1 << 20)).await;
    let text = serde_json::to_string(&record).unwrap();
    // As an f64 the number would keep 17 significant digits: 1.2345678901234568e29.
    for run in digits.as_bytes().windows(12) {
        let run = std::str::from_utf8(run).unwrap();
        assert!(!text.contains(run), "the record keeps {run}: {text}");
    }
    assert!(body_of(&record).contains(LABEL));
}

#[tokio::test]
async fn a_secret_in_a_url_host_is_refused_when_the_spec_is_read_and_when_a_redirect_asks() {
    let h = Harness::new(Kind::Redis).await;
    let value = "Sk-Live-Host-Key-42";
    let id = h.create("mia", team(NAME, value)).await.id.to_string();
    let s = format!("{{{{secret \"{id}\"}}}}");
    for url in [
        format!("https://{s}.example.com/"),
        format!("https://api.example.com:{s}/"),
        format!("http://x-{s}/v1"),
    ] {
        let err = HttpAction::from_json(
            &json!({"kind": "send_api_request", "method": "GET", "url": url}).to_string(),
        )
        .unwrap_err();
        assert_eq!(err.kind(), hush::error::ErrorKind::Invalid, "{url}");
        assert!(
            err.message().contains("scheme, host or port"),
            "{url}: {err:?}"
        );
    }
    // A target that redirects to a host made of the secret (lower-cased, as a URL
    // parser writes it): the redirect is refused, and nothing names the host.
    let target = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().fallback(|req: Request| async move {
            let v = req.headers()["x-echo"].to_str().unwrap().to_owned();
            (
                axum::http::StatusCode::FOUND,
                [("location", format!("http://{v}.invalid/next"))],
            )
                .into_response()
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}/")
    };
    let ex = executor(&h);
    let action = HttpAction::from_json(
        &json!({
            "kind": "send_api_request", "method": "GET", "url": target, "follow_redirects": true,
            "headers": [{"name": "X-Echo", "value": s}],
        })
        .to_string(),
    )
    .unwrap();
    let record = run_action(&h, &ex, action.into()).await;
    assert_eq!(record.status, RunStatus::Failed, "{record:#?}");
    let text = serde_json::to_string(&record).unwrap();
    assert!(
        !text
            .to_ascii_lowercase()
            .contains(&value.to_ascii_lowercase()),
        "{text}"
    );
    assert!(text.contains("holds a secret's value"), "{text}");
}

/// The `hostile` guest attaches the secret as a bearer token (never revealed) and returns
/// the body it read; the target echoes the token.
fn guest(id: &str, max_response_bytes: usize) -> hush::actions::Action {
    let v = json!({
        "kind": "run_code", "name": "echo", "component": hush::guests::HOSTILE,
        "secrets": {"key": id}, "allowed_hosts": ["127.0.0.1"],
        "limits": {"max_response_bytes": max_response_bytes},
    });
    CodeAction::from_json(&v.to_string()).unwrap().into()
}

async fn run_guest(h: &Harness, ex: &Executor, id: &str, url: &str, cap: usize) -> RunRecord {
    ex.run(RunRequest {
        run_id: run(&common::unique("guest")),
        org: h.org.clone(),
        actor: user("max"),
        action: guest(id, cap),
        inputs: json!({"attack": "attach_secret", "url": url}),
    })
    .await
}

#[tokio::test]
async fn a_guest_reading_an_echo_cut_at_any_cap_never_sees_part_of_the_secret() {
    let h = Harness::new(Kind::Redis).await;
    let ex = executor(&h);
    let id = h.create("mia", team(NAME, VALUE)).await.id.to_string();
    let url = echo_target().await;
    for enc in ["raw", "hex_mixed"] {
        let echoed = encode(enc, VALUE);
        let head = &echoed[..2];
        let whole = "echo=".len() + echoed.len() + 1;
        for cap in "echo=".len()..=whole {
            let record = run_guest(&h, &ex, &id, &format!("{url}/?enc={enc}"), cap).await;
            let body = body_of(&record);
            assert!(
                !unlabelled(&body).contains(head),
                "{enc}, cap {cap}: the guest saw the start of the secret: {body:?}"
            );
        }
    }
    // A compressed echo reaches the guest decoded and redacted.
    for ce in ["gzip", "br", "zstd", "deflate"] {
        let record = run_guest(&h, &ex, &id, &format!("{url}/?ce={ce}"), 1 << 20).await;
        assert_eq!(body_of(&record), format!("echo={LABEL}!"), "{ce}");
    }
}
