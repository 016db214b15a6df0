//! Send API Request end to end against real local targets (axum on 127.0.0.1:0) with
//! real secrets from the store: where secrets land, the SSRF guard, allowed hosts,
//! redirects, template injection and limits. It never opens the network policy wider
//! than the one loopback address a test needs.

use crate::common;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use common::{Harness, Kind, run, team, user};
use hush::actions::http::{HttpAction, HttpSender, NetworkPolicy};
use hush::error::ErrorKind;
use hush::redact::Redactor;
use hush::secrets::{HostPattern, ResolvedSecret};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const VALUE: &str = "sk_live_Zq8\"pR/+=&x";

/// What a target received.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    uri: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

#[derive(Clone)]
struct Target {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Target {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn handle(State(seen): State<Arc<Mutex<Vec<Seen>>>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap()
        .to_vec();
    let uri = parts.uri.to_string();
    seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        uri: uri.clone(),
        headers: parts.headers.clone(),
        body,
    });
    let query = parts.uri.query().unwrap_or("");
    let to = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "to")
        .map(|(_, v)| v.into_owned());
    match parts.uri.path() {
        "/redirect" => (StatusCode::FOUND, [("location", to.unwrap())]).into_response(),
        "/redirect307" => {
            (StatusCode::TEMPORARY_REDIRECT, [("location", to.unwrap())]).into_response()
        }
        "/redirect303" => (StatusCode::SEE_OTHER, [("location", to.unwrap())]).into_response(),
        "/loop" => (StatusCode::FOUND, [("location", "/loop")]).into_response(),
        "/big" => "x".repeat(200_000).into_response(),
        "/binary" => (
            [("content-type", "application/octet-stream")],
            vec![0u8, 0xff, 0xfe, 1],
        )
            .into_response(),
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late".into_response()
        }
        _ => (
            [("content-type", "application/json")],
            Body::from(json!({"ok": true, "uri": uri}).to_string()),
        )
            .into_response(),
    }
}

async fn target() -> Target {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(Arc::clone(&seen));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Target { addr, seen }
}

/// A raw server that promises 1000 bytes, sends 5 and hangs up.
async fn cutting_target() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf).await;
            let _ = sock
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\ncontent-type: text/plain\r\n\r\nshort")
                .await;
            drop(sock);
        }
    });
    addr
}

fn loopback_only() -> HttpSender {
    HttpSender::new(NetworkPolicy::allowing(["127.0.0.1/32".parse().unwrap()])).unwrap()
}

fn action(v: Value) -> HttpAction {
    let mut base = json!({"kind": "send_api_request", "method": "GET"});
    for (k, val) in v.as_object().unwrap() {
        base[k] = val.clone();
    }
    HttpAction::from_json(&base.to_string()).unwrap()
}

/// A store with one secret (allowed on `hosts`), resolved for a run as `mia`.
async fn secret(hosts: &[&str]) -> (Harness, Vec<ResolvedSecret>, String) {
    let h = Harness::new(Kind::Redis).await;
    let mut new = team("Stripe live", VALUE);
    new.allowed_hosts = hosts
        .iter()
        .map(|p| HostPattern::parse(p).unwrap())
        .collect();
    let id = h
        .secrets
        .create(&h.org, &user("mia"), new)
        .await
        .unwrap()
        .id;
    let resolved = h
        .secrets
        .resolve(
            &h.org,
            &user("mia"),
            std::slice::from_ref(&id),
            &run("http-run"),
        )
        .await
        .unwrap();
    (h, resolved, id.to_string())
}

fn redactor(secrets: &[ResolvedSecret]) -> Redactor {
    Redactor::new(
        secrets
            .iter()
            .map(|s| (s.meta.name.clone(), s.value.expose().to_owned())),
    )
}

fn tmpl(id: &str) -> String {
    format!("{{{{secret \"{id}\"}}}}")
}

#[tokio::test]
async fn a_secret_reaches_the_target_exactly_in_header_query_json_form_and_basic_auth() {
    let (_h, secrets, id) = secret(&[]).await;
    let t = target().await;
    let sender = loopback_only();
    let r = redactor(&secrets);
    let s = tmpl(&id);

    let spec = action(json!({
        "method": "POST",
        "url": t.url("/json"),
        "headers": [{"name": "X-Api-Key", "value": s}],
        "query": [{"name": "key", "value": s}],
        "body": {"type": "json", "value": {"key": s, "nested": ["pre-".to_owned() + &s]}}
    }));
    let out = sender
        .execute(&spec, &json!({}), &secrets, &r)
        .await
        .unwrap();
    assert_eq!(out.status, 200);
    assert_eq!(out.body["ok"], true);
    let seen = t.seen().pop().unwrap();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.headers["x-api-key"], VALUE);
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(seen.uri.split_once('?').unwrap().1.as_bytes())
            .into_owned()
            .collect();
    assert_eq!(query, vec![("key".to_owned(), VALUE.to_owned())]);
    let body: Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(
        body,
        json!({"key": VALUE, "nested": [format!("pre-{VALUE}")]})
    );
    assert_eq!(seen.headers["content-type"], "application/json");

    let spec = action(json!({
        "method": "PUT",
        "url": t.url("/form"),
        "body": {"type": "form", "fields": [{"name": "token", "value": s}, {"name": "n", "value": "a b"}]}
    }));
    sender
        .execute(&spec, &json!({}), &secrets, &r)
        .await
        .unwrap();
    let seen = t.seen().pop().unwrap();
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&seen.body)
        .into_owned()
        .collect();
    assert_eq!(
        form,
        vec![("token".into(), VALUE.into()), ("n".into(), "a b".into())]
    );

    let spec = action(json!({
        "url": t.url("/basic"),
        "auth": {"type": "basic", "username": "{{inputs.user}}", "password": s}
    }));
    sender
        .execute(&spec, &json!({"user": "acct_1"}), &secrets, &r)
        .await
        .unwrap();
    let seen = t.seen().pop().unwrap();
    use base64::Engine as _;
    let want = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("acct_1:{VALUE}"))
    );
    assert_eq!(seen.headers["authorization"], want.as_str());

    // A secret in the URL path is percent-encoded, so it stays one path segment.
    let spec = action(json!({"url": format!("{}/{s}", t.url("/path"))}));
    sender
        .execute(&spec, &json!({}), &secrets, &r)
        .await
        .unwrap();
    let seen = t.seen().pop().unwrap();
    let segment = seen.uri.strip_prefix("/path/").unwrap();
    assert_eq!(
        percent_encoding::percent_decode_str(segment)
            .decode_utf8()
            .unwrap(),
        VALUE
    );
}

#[tokio::test]
async fn private_loopback_and_metadata_addresses_are_refused_with_the_default_policy() {
    let t = target().await;
    let port = t.addr.port();
    let closed = HttpSender::new(NetworkPolicy::closed()).unwrap();
    let cases = [
        (
            format!("http://127.0.0.1:{port}/"),
            "127.0.0.1 is a loopback address",
        ),
        (format!("http://[::1]:{port}/"), "is a loopback address"),
        (
            format!("http://[::ffff:127.0.0.1]:{port}/"),
            "is a loopback address",
        ),
        (
            format!("http://2130706433:{port}/"),
            "127.0.0.1 is a loopback address",
        ),
        (
            format!("http://0x7f.1:{port}/"),
            "127.0.0.1 is a loopback address",
        ),
        (
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            "cloud metadata",
        ),
        ("http://[fd00:ec2::254]/".to_owned(), "cloud metadata"),
        ("http://10.0.0.1/".to_owned(), "private network"),
        (format!("http://localhost:{port}/"), "localhost resolves to"),
    ];
    for (url, want) in cases {
        let spec = action(json!({"url": url}));
        let err = closed
            .execute(&spec, &json!({}), &[], &Redactor::empty())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Denied, "{url}: {err:?}");
        assert!(err.message().contains(want), "{url}: {err:?}");
    }
    assert!(t.seen().is_empty(), "the target was reached");

    // The loopback-only policy opens 127.0.0.1 and nothing else.
    let open = loopback_only();
    let spec = action(json!({"url": t.url("/ok")}));
    assert_eq!(
        open.execute(&spec, &json!({}), &[], &Redactor::empty())
            .await
            .unwrap()
            .status,
        200
    );
    let spec = action(json!({"url": format!("http://127.0.0.2:{port}/")}));
    let err = open
        .execute(&spec, &json!({}), &[], &Redactor::empty())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Denied, "{err:?}");
}

#[tokio::test]
async fn a_redirect_to_an_address_outside_the_policy_is_refused() {
    let t = target().await;
    let sender = loopback_only();
    for to in [
        format!("http://127.0.0.2:{}/", t.addr.port()),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        format!("http://[::1]:{}/", t.addr.port()),
    ] {
        let spec = action(json!({
            "url": t.url("/redirect"),
            "query": [{"name": "to", "value": to}],
            "follow_redirects": true
        }));
        let err = sender
            .execute(&spec, &json!({}), &[], &Redactor::empty())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Denied, "{to}: {err:?}");
    }
    // Without follow_redirects the 302 itself is the result.
    let spec = action(json!({
        "url": t.url("/redirect"),
        "query": [{"name": "to", "value": "http://169.254.169.254/"}]
    }));
    let out = sender
        .execute(&spec, &json!({}), &[], &Redactor::empty())
        .await
        .unwrap();
    assert_eq!(out.status, 302);
}

#[tokio::test]
async fn a_secret_with_allowed_hosts_is_never_sent_elsewhere() {
    let (_h, secrets, id) = secret(&["api.stripe.com"]).await;
    let t = target().await;
    let sender = loopback_only();
    let r = redactor(&secrets);
    let s = tmpl(&id);
    for (name, spec) in [
        ("url", json!({"url": format!("{}?k={s}", t.url("/u"))})),
        (
            "query",
            json!({"url": t.url("/q"), "query": [{"name": "k", "value": s}]}),
        ),
        (
            "header",
            json!({"url": t.url("/h"), "headers": [{"name": "Authorization", "value": format!("Bearer {s}")}]}),
        ),
        (
            "json body",
            json!({"method": "POST", "url": t.url("/b"), "body": {"type": "json", "value": {"k": s}}}),
        ),
        (
            "raw body",
            json!({"method": "POST", "url": t.url("/b"), "body": {"type": "raw", "content_type": "text/plain", "value": s}}),
        ),
        (
            "auth",
            json!({"url": t.url("/a"), "auth": {"type": "bearer", "token": s}}),
        ),
    ] {
        let err = sender
            .execute(&action(spec), &json!({}), &secrets, &r)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Denied, "{name}: {err:?}");
        assert!(
            err.message().contains("\"Stripe live\"") && err.message().contains("127.0.0.1"),
            "{name}: {err:?}"
        );
    }
    assert!(t.seen().is_empty(), "a request was sent");
}

#[tokio::test]
async fn a_redirect_to_another_host_drops_or_refuses_what_carries_a_secret() {
    let (_h, secrets, id) = secret(&["127.0.0.1"]).await;
    let a = target().await;
    let b = target().await;
    let sender = HttpSender::new(NetworkPolicy::allowing([
        "127.0.0.1/32".parse().unwrap(),
        "::1/128".parse().unwrap(),
    ]))
    .unwrap();
    let r = redactor(&secrets);
    let s = tmpl(&id);
    let other = format!("http://localhost:{}/landed", b.addr.port());

    // Headers carrying a secret are dropped; the others follow.
    let spec = action(json!({
        "url": a.url("/redirect"),
        "query": [{"name": "to", "value": other}],
        "headers": [
            {"name": "Authorization", "value": format!("Bearer {s}")},
            {"name": "X-Trace", "value": "t-1"}
        ],
        "follow_redirects": true
    }));
    let out = sender
        .execute(&spec, &json!({}), &secrets, &r)
        .await
        .unwrap();
    assert_eq!(out.status, 200);
    assert_eq!(
        a.seen()[0].headers["authorization"],
        format!("Bearer {VALUE}").as_str()
    );
    let landed = b.seen().pop().unwrap();
    assert!(landed.headers.get("authorization").is_none());
    assert_eq!(landed.headers["x-trace"], "t-1");

    // A body carrying a secret is never re-sent to another host by a 307.
    let spec = action(json!({
        "method": "POST",
        "url": a.url("/redirect307"),
        "query": [{"name": "to", "value": other}],
        "body": {"type": "json", "value": {"k": s}},
        "follow_redirects": true
    }));
    let err = sender
        .execute(&spec, &json!({}), &secrets, &r)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Denied, "{err:?}");
    assert!(err.message().contains("Stripe live"), "{err:?}");

    // A Location that itself holds the secret may only point at an allowed host.
    let spec = action(json!({
        "url": a.url("/redirect"),
        "query": [{"name": "to", "value": format!("{other}?leak={s}")}],
        "follow_redirects": true
    }));
    let err = sender
        .execute(&spec, &json!({}), &secrets, &r)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Denied, "{err:?}");
    assert!(
        err.message().contains("may not be sent to localhost"),
        "{err:?}"
    );
    assert_eq!(b.seen().len(), 1, "the second target was reached again");
}

#[tokio::test]
async fn inputs_with_quotes_newlines_and_braces_stay_data() {
    let t = target().await;
    let sender = loopback_only();
    let inputs = json!({
        "name": "x\", \"admin\": true, \"y\": \"",
        "multi": "line1\nline2",
        "braces": "{{inputs.name}} {{secret \"sec_aaaaaaaaaaaaaaaaaaaaaaaaaa\"}}",
        "q": "a&b=c#d"
    });
    let spec = action(json!({
        "method": "POST",
        "url": format!("{}?q={{{{inputs.q}}}}", t.url("/inject")),
        "query": [{"name": "b", "value": "{{inputs.braces}}"}],
        "body": {"type": "json", "value": {"name": "{{inputs.name}}", "multi": "{{inputs.multi}}", "braces": "{{inputs.braces}}"}}
    }));
    sender
        .execute(&spec, &inputs, &[], &Redactor::empty())
        .await
        .unwrap();
    let seen = t.seen().pop().unwrap();
    let body: Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(body["name"], inputs["name"]);
    assert_eq!(body["multi"], inputs["multi"]);
    assert_eq!(body["braces"], inputs["braces"]);
    assert!(body.get("admin").is_none());
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(seen.uri.split_once('?').unwrap().1.as_bytes())
            .into_owned()
            .collect();
    assert_eq!(
        query,
        vec![
            ("q".to_owned(), "a&b=c#d".to_owned()),
            (
                "b".to_owned(),
                inputs["braces"].as_str().unwrap().to_owned()
            )
        ]
    );

    let spec = action(json!({
        "url": t.url("/header"),
        "headers": [{"name": "X-Name", "value": "{{inputs.multi}}"}]
    }));
    let err = sender
        .execute(&spec, &inputs, &[], &Redactor::empty())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid, "{err:?}");
    assert!(err.message().contains("headers[0].value"), "{err:?}");
    assert_eq!(t.seen().len(), 1, "the refused request was sent");
}

#[tokio::test]
async fn responses_over_the_cap_are_truncated_and_binary_is_base64() {
    let t = target().await;
    let sender = loopback_only();
    let spec = action(json!({"url": t.url("/big"), "max_response_bytes": 1000}));
    let out = sender
        .execute(&spec, &json!({}), &[], &Redactor::empty())
        .await
        .unwrap();
    assert!(out.truncated);
    assert_eq!(out.body.as_str().unwrap().len(), 1000);

    let spec = action(json!({"url": t.url("/binary")}));
    let out = sender
        .execute(&spec, &json!({}), &[], &Redactor::empty())
        .await
        .unwrap();
    assert!(!out.truncated);
    assert_eq!(out.body, "AP/+AQ==");
    assert!(out.note.unwrap().contains("base64"));
}

#[tokio::test]
async fn a_slow_target_times_out_with_a_clear_error() {
    let t = target().await;
    let sender = loopback_only();
    let spec = action(json!({"url": t.url("/slow"), "timeout_ms": 300}));
    let err = sender
        .execute(&spec, &json!({}), &[], &Redactor::empty())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.message().contains("timed out after 300 ms"), "{err:?}");
}

#[tokio::test]
async fn a_connection_closed_mid_body_is_a_clear_error() {
    let addr = cutting_target().await;
    let sender = loopback_only();
    let spec = action(json!({"url": format!("http://{addr}/")}));
    let err = sender
        .execute(&spec, &json!({}), &[], &Redactor::empty())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.message().contains("could not be read"), "{err:?}");
}

#[tokio::test]
async fn redirect_loops_stop_after_ten_hops() {
    let t = target().await;
    let sender = loopback_only();
    let spec = action(json!({"url": t.url("/loop"), "follow_redirects": true}));
    let err = sender
        .execute(&spec, &json!({}), &[], &Redactor::empty())
        .await
        .unwrap_err();
    assert!(err.message().contains("more than 10"), "{err:?}");
    assert_eq!(t.seen().len(), 11);
}

#[tokio::test]
async fn error_messages_never_carry_the_secret() {
    let (_h, secrets, id) = secret(&[]).await;
    let sender = loopback_only();
    let r = redactor(&secrets);
    // A closed port: the message names the host, never the URL with its query.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let spec = action(json!({"url": format!("http://127.0.0.1:{port}/x?k={}", tmpl(&id))}));
    let err = sender
        .execute(&spec, &json!({}), &secrets, &r)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.message().contains("refused the connection"), "{err:?}");
    common::assert_no_value_in("error", err.message().as_bytes(), &[VALUE]);
}

#[tokio::test]
async fn same_origin_redirects_keep_secrets_and_follow_the_method_rules() {
    let (_h, secrets, id) = secret(&["127.0.0.1"]).await;
    let t = target().await;
    let sender = loopback_only();
    let r = redactor(&secrets);
    let s = tmpl(&id);
    let body = json!({"type": "json", "value": {"k": s}});
    let header = json!([{"name": "X-Key", "value": s}]);

    // 307 keeps the method, the body and (same origin) the secret header.
    let spec = action(json!({
        "method": "POST", "url": t.url("/redirect307"),
        "query": [{"name": "to", "value": "/landed307"}],
        "headers": header, "body": body, "follow_redirects": true
    }));
    sender
        .execute(&spec, &json!({}), &secrets, &r)
        .await
        .unwrap();
    let landed = t.seen().pop().unwrap();
    assert_eq!(landed.uri, "/landed307");
    assert_eq!(landed.method, "POST");
    assert_eq!(landed.headers["x-key"], VALUE);
    assert_eq!(
        serde_json::from_slice::<Value>(&landed.body).unwrap(),
        json!({"k": VALUE})
    );

    // 303 turns the POST into a GET without a body or content type.
    let spec = action(json!({
        "method": "POST", "url": t.url("/redirect303"),
        "query": [{"name": "to", "value": "/landed303"}],
        "headers": header, "body": body, "follow_redirects": true
    }));
    sender
        .execute(&spec, &json!({}), &secrets, &r)
        .await
        .unwrap();
    let landed = t.seen().pop().unwrap();
    assert_eq!(landed.uri, "/landed303");
    assert_eq!(landed.method, "GET");
    assert!(landed.body.is_empty());
    assert!(landed.headers.get("content-type").is_none());
    assert_eq!(landed.headers["x-key"], VALUE);
}
