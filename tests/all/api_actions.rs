//! Saved actions and the OpenAPI document of `hush serve` over real HTTP (the app on
//! 127.0.0.1:0 over a real redis-server): saving, replacing and deleting keep the secret
//! → actions reference index right; who may save what; bad input that changes nothing;
//! and the document and the router agree both ways.

use crate::common;
use std::collections::BTreeSet;

use common::api::{Client, assert_error, serve, service_token, user_token};
use common::{Harness, Kind, restricted, team};
use hush::audit::{AuditAction, Outcome};
use hush::model::SecretId;
use hush::store::Table;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const VALUE_A: &str = "sk_live_saved_action_a_012345";
const VALUE_B: &str = "sk_live_saved_action_b_678901";

struct Ctx {
    h: Harness,
    api: Client,
}

impl Ctx {
    async fn start() -> Ctx {
        let h = Harness::new(Kind::Redis).await;
        let base = serve(&h, 64 * 1024).await;
        Ctx {
            api: Client::new(base, &[VALUE_A, VALUE_B]),
            h,
        }
    }

    /// The reference index entry of `secret`, as stored.
    async fn refs(&self, secret: &SecretId) -> Option<Vec<String>> {
        let got = self
            .h
            .backend
            .read(&self.h.org, &[(Table::References, secret.as_str())])
            .await
            .unwrap();
        got[0]
            .as_ref()
            .map(|bytes| serde_json::from_slice(bytes).unwrap())
    }

    /// Every stored saved action and reference index entry, raw.
    async fn stored(&self) -> (Vec<(String, Vec<u8>)>, Vec<(String, Vec<u8>)>) {
        let org = &self.h.org;
        (
            self.h.backend.scan(org, Table::Actions).await.unwrap(),
            self.h.backend.scan(org, Table::References).await.unwrap(),
        )
    }
}

/// A Send API Request that sends each of `secrets` in a header.
fn spec_using(secrets: &[&SecretId]) -> Value {
    let headers: Vec<Value> = secrets
        .iter()
        .enumerate()
        .map(|(i, id)| json!({"name": format!("X-Key-{i}"), "value": format!("{{{{secret \"{id}\"}}}}")}))
        .collect();
    json!({"kind": "send_api_request", "name": "Call", "method": "GET",
           "url": "https://api.example.com/", "headers": headers})
}

/// A bad request: what it is, method, path, token, body, and the refusal it must get.
type Case<'a> = (
    &'a str,
    Method,
    &'a str,
    &'a str,
    Option<Vec<u8>>,
    StatusCode,
    &'a str,
);

#[tokio::test]
async fn saving_replacing_and_deleting_actions_keeps_the_reference_index_right() {
    let c = Ctx::start().await;
    let mia = user_token(&c.h, "mia").await;
    let a = c.h.create("mia", team("Key A", VALUE_A)).await.id;
    let b = c.h.create("mia", team("Key B", VALUE_B)).await.id;

    let got = c
        .api
        .json(
            Method::PUT,
            "/v1/actions/act_x",
            &mia,
            &json!({"spec": spec_using(&[&a])}),
        )
        .await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
    assert_eq!(got.1["secrets"], json!([a]));
    assert_eq!(got.1["saved_by"], "mia");
    assert_eq!(got.1["name"], "Call");
    assert_eq!(c.refs(&a).await, Some(vec!["act_x".to_owned()]));

    // Replacing drops the old reference and adds the new one.
    let got = c
        .api
        .json(
            Method::PUT,
            "/v1/actions/act_x",
            &mia,
            &json!({"spec": spec_using(&[&b]), "name": "Call B"}),
        )
        .await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    assert_eq!(got.1["name"], "Call B");
    assert_eq!(c.refs(&a).await, None);
    assert_eq!(c.refs(&b).await, Some(vec!["act_x".to_owned()]));

    let got = c
        .api
        .json(
            Method::PUT,
            "/v1/actions/act_y",
            &mia,
            &json!({"spec": spec_using(&[&a, &b])}),
        )
        .await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
    assert_eq!(c.refs(&a).await, Some(vec!["act_y".to_owned()]));
    assert_eq!(
        c.refs(&b).await,
        Some(vec!["act_x".to_owned(), "act_y".to_owned()])
    );
    let got = c
        .api
        .get(&format!("/v1/secrets/{b}/references"), &mia)
        .await;
    let listed: Vec<&str> = got.1["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["act_x", "act_y"]);

    let got = c.api.get("/v1/actions/act_x", &mia).await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    assert_eq!(got.1["spec"], spec_using(&[&b]));
    let got = c.api.get("/v1/actions?limit=1", &mia).await;
    assert_eq!(got.1["items"][0]["id"], "act_x", "{}", got.1);
    let cursor = got.1["next_cursor"].as_str().unwrap().to_owned();
    let got = c
        .api
        .get(&format!("/v1/actions?limit=1&cursor={cursor}"), &mia)
        .await;
    assert_eq!(got.1["items"][0]["id"], "act_y", "{}", got.1);
    assert_eq!(got.1["next_cursor"], Value::Null);

    // Deleting drops its references and only its own.
    let got = c.api.delete("/v1/actions/act_x", &mia).await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    assert_eq!(c.refs(&a).await, Some(vec!["act_y".to_owned()]));
    assert_eq!(c.refs(&b).await, Some(vec!["act_y".to_owned()]));
    assert_error(
        &c.api.get("/v1/actions/act_x", &mia).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let got = c.api.delete("/v1/actions/act_y", &mia).await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    assert_eq!((c.refs(&a).await, c.refs(&b).await), (None, None));
    let got = c.api.get("/v1/actions", &mia).await;
    assert_eq!(got.1["items"], json!([]));
}

#[tokio::test]
async fn only_the_saver_or_an_admin_may_replace_and_every_secret_must_be_usable() {
    let c = Ctx::start().await;
    let (mia, max, ada) = (
        user_token(&c.h, "mia").await,
        user_token(&c.h, "max").await,
        user_token(&c.h, "ada").await,
    );
    let service = service_token(&c.h).await;
    let a = c.h.create("mia", team("Key A", VALUE_A)).await.id;
    let private =
        c.h.create("mia", restricted("Mia only", VALUE_B, &[]))
            .await
            .id;
    let body = json!({"spec": spec_using(&[&a])});
    let got = c
        .api
        .json(Method::PUT, "/v1/actions/act_m", &mia, &body)
        .await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);

    let got = c
        .api
        .json(Method::PUT, "/v1/actions/act_m", &max, &body)
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "denied");
    assert_error(
        &c.api.delete("/v1/actions/act_m", &max).await,
        StatusCode::FORBIDDEN,
        "denied",
    );
    let got = c
        .api
        .json(Method::PUT, "/v1/actions/act_m?actor=max", &service, &body)
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "denied");
    assert_eq!(
        c.api.get("/v1/actions/act_m", &max).await.1["saved_by"],
        "mia"
    );

    // max may not save an action that sends a secret he may not use.
    let got = c
        .api
        .json(
            Method::PUT,
            "/v1/actions/act_steal",
            &max,
            &json!({"spec": spec_using(&[&private])}),
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "denied");
    assert!(
        got.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains(private.as_str())
    );
    assert_eq!(c.refs(&private).await, None);
    // Each refusal is in the audit trail, by max, denied.
    let trail = c.h.audit.list(&c.h.org, None, 1000).await.unwrap();
    let refused: Vec<AuditAction> = trail
        .entries
        .iter()
        .filter(|r| {
            r.entry.outcome == Outcome::Denied && r.entry.actor == Some(common::user("max"))
        })
        .map(|r| r.entry.action)
        .collect();
    assert_eq!(
        refused,
        [
            AuditAction::ActionSave,
            AuditAction::ActionDelete,
            AuditAction::ActionSave,
            AuditAction::ActionSave
        ]
    );

    // An admin may replace anyone's.
    let got = c
        .api
        .json(Method::PUT, "/v1/actions/act_m", &ada, &body)
        .await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    assert_eq!(got.1["saved_by"], "ada");
    // Another org's token, on either server (they share the store): 404, and its own
    // `act_m` is another action.
    let other = Ctx::start().await;
    let outsider = service_token(&other.h).await;
    for api in [&c.api, &other.api] {
        assert_error(
            &api.get("/v1/actions/act_m", &outsider).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
        assert_error(
            &api.delete("/v1/actions/act_m?actor=ada", &outsider).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
    }
    let got = other
        .api
        .json(
            Method::PUT,
            "/v1/actions/act_m?actor=ada",
            &outsider,
            &json!({"spec": spec_using(&[])}),
        )
        .await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
    // Reads need no actor with a service token.
    assert_eq!(
        c.api.get("/v1/actions/act_m", &service).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn bad_action_requests_answer_the_json_error_and_change_nothing() {
    let c = Ctx::start().await;
    let mia = user_token(&c.h, "mia").await;
    let service = service_token(&c.h).await;
    let a = c.h.create("mia", team("Key A", VALUE_A)).await.id;
    let got = c
        .api
        .json(
            Method::PUT,
            "/v1/actions/act_ok",
            &mia,
            &json!({"spec": spec_using(&[&a])}),
        )
        .await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
    let before = c.stored().await;

    let unknown = SecretId::generate();
    let raw = |s: &str| Some(s.as_bytes().to_vec());
    let json_body = |v: Value| Some(v.to_string().into_bytes());
    let replace = "/v1/actions/act_ok";
    let cases: Vec<Case> = vec![
        (
            "malformed JSON",
            Method::PUT,
            replace,
            &mia,
            raw("{\"spec\": "),
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
        (
            "a spec of the wrong type",
            Method::PUT,
            replace,
            &mia,
            json_body(json!({"spec": 7})),
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
        (
            "a name of the wrong type",
            Method::PUT,
            replace,
            &mia,
            json_body(json!({"spec": spec_using(&[]), "name": 7})),
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
        (
            "an unknown field",
            Method::PUT,
            replace,
            &mia,
            json_body(json!({"spec": spec_using(&[]), "owner": "mia"})),
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
        (
            "an unknown field in the spec",
            Method::PUT,
            replace,
            &mia,
            json_body(
                json!({"spec": {"kind": "send_api_request", "method": "GET", "url": "https://a.example/", "colour": 1}}),
            ),
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
        (
            "an unknown action kind",
            Method::PUT,
            replace,
            &mia,
            json_body(json!({"spec": {"kind": "teleport"}})),
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
        (
            "an unknown secret",
            Method::PUT,
            replace,
            &mia,
            json_body(json!({"spec": spec_using(&[&a, &unknown])})),
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
        (
            "a malformed action id",
            Method::PUT,
            "/v1/actions/charge",
            &mia,
            json_body(json!({"spec": spec_using(&[])})),
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
        (
            "an upper-case action id",
            Method::PUT,
            "/v1/actions/act_Charge",
            &mia,
            json_body(json!({"spec": spec_using(&[])})),
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
        (
            "no actor with a service token",
            Method::PUT,
            replace,
            &service,
            json_body(json!({"spec": spec_using(&[])})),
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
        (
            "an actor who is not a member",
            Method::PUT,
            "/v1/actions/act_new?actor=zed",
            &service,
            json_body(json!({"spec": spec_using(&[])})),
            StatusCode::FORBIDDEN,
            "denied",
        ),
        (
            "an unknown action id",
            Method::GET,
            "/v1/actions/act_never",
            &mia,
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "deleting an unknown action id",
            Method::DELETE,
            "/v1/actions/act_never",
            &mia,
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "a bad cursor",
            Method::GET,
            "/v1/actions?cursor=nope",
            &mia,
            None,
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
        (
            "a page size past the most (as the OpenAPI document says)",
            Method::GET,
            "/v1/actions?limit=501",
            &mia,
            None,
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
        (
            "a page size of zero",
            Method::GET,
            "/v1/actions?limit=0",
            &mia,
            None,
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
        (
            "an unknown query parameter",
            Method::GET,
            "/v1/actions?sort=name",
            &mia,
            None,
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
    ];
    for (what, method, path, token, body, status, code) in cases {
        let got = c.api.send(method, path, Some(token), body).await;
        assert_eq!(got.0, status, "{what}: {}", got.1);
        assert_error(&got, status, code);
        if what == "an unknown secret" {
            let message = got.1["error"]["message"].as_str().unwrap();
            assert!(message.contains(unknown.as_str()), "{message}");
            assert!(!message.contains(a.as_str()), "{message}");
        }
    }
    assert_eq!(c.stored().await, before);
}

/// Operations the document describes before their handlers are routed (none now): each
/// must answer the fallback until it is routed, and be taken out of here then.
const PENDING: &[(&str, &str)] = &[];

/// Every `(method, path)` that a `.route("path", get(..).post(..))` call in `src/api`
/// registers.
fn routes_in_source() -> BTreeSet<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api");
    let mut found = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let mut rest = text.as_str();
        while let Some(at) = rest.find(".route(") {
            rest = &rest[at + ".route(".len()..];
            // The call's text, up to its balanced closing parenthesis.
            let mut depth = 1;
            let end = rest
                .char_indices()
                .find(|&(_, ch)| {
                    depth += match ch {
                        '(' => 1,
                        ')' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map(|(i, _)| i)
                .unwrap();
            let call = &rest[..end];
            let route = call.split('"').nth(1).unwrap().to_owned();
            for method in ["get", "post", "put", "patch", "delete"] {
                let needle = format!("{method}(");
                let used = call.match_indices(&needle).any(|(i, _)| {
                    i == 0
                        || !call.as_bytes()[i - 1].is_ascii_alphanumeric()
                            && call.as_bytes()[i - 1] != b'_'
                });
                if used {
                    found.insert((method.to_owned(), route.clone()));
                }
            }
        }
    }
    found
}

#[tokio::test]
async fn the_openapi_document_and_the_router_agree_both_ways() {
    let c = Ctx::start().await;
    let got = c
        .api
        .send(Method::GET, "/v1/openapi.json", None, None)
        .await;
    assert_eq!(got.0, StatusCode::OK);
    let doc = got.1;
    assert_eq!(doc["openapi"], "3.1.0");

    // Every `$ref` resolves, and every operation has a unique id and a 2xx answer.
    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r);
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{r} is not local"));
        assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
    }
    let mut ids = BTreeSet::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            let id = op["operationId"].as_str().unwrap();
            assert!(ids.insert(id.to_owned()), "operationId {id} twice");
            let answers = op["responses"].as_object().unwrap();
            assert!(
                answers.keys().any(|k| k.starts_with('2')),
                "{id} has no 2xx"
            );
        }
    }

    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.clone(), path.clone()));
        }
    }

    // Every documented operation is routed: it answers something other than the "no such
    // route" fallback or 405 (without a token, most answer 401).
    for (method, path) in &documented {
        let concrete = path
            .replace(
                "{id}",
                if path.starts_with("/v1/secrets") {
                    "sec_aaaaaaaaaaaaaaaaaaaaaaaaaa"
                } else if path.starts_with("/v1/actions") {
                    "act_probe"
                } else {
                    "run_probe"
                },
            )
            .replace("{user}", "mia")
            .replace("{group}", "eng");
        let method_ = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let (status, text) = c.api.probe(method_, &concrete).await;
        let fallback = serde_json::from_str::<Value>(&text)
            .is_ok_and(|v| v["error"]["message"] == "no such route");
        let unrouted = status == StatusCode::METHOD_NOT_ALLOWED
            || (status == StatusCode::NOT_FOUND && fallback);
        let pending = PENDING.contains(&(method.as_str(), path.as_str()));
        if pending {
            assert!(
                unrouted,
                "{method} {path} is routed now: remove it from PENDING"
            );
        } else {
            assert!(
                !unrouted,
                "{method} {path} is documented but not routed: {text}"
            );
        }
    }

    // Every route is documented.
    let routed = routes_in_source();
    assert!(
        routed.len() >= 20,
        "the source scan found too few routes: {routed:?}"
    );
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "routed but not in openapi.json: {undocumented:?}"
    );
    // And the scan agrees with the probes: what the document has beyond the source is
    // exactly what is pending.
    let beyond: BTreeSet<(String, String)> = documented.difference(&routed).cloned().collect();
    let pending: BTreeSet<(String, String)> = PENDING
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(beyond, pending);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_saves_and_secret_deletes_never_lose_or_dangle_a_reference() {
    let c = Ctx::start().await;
    let mia = user_token(&c.h, "mia").await;
    let a = c.h.create("mia", team("Key A", VALUE_A)).await.id;
    let body = json!({"spec": spec_using(&[&a])});

    // Ten actions saved at once on one secret: every one is in its index entry.
    let paths: Vec<String> = (0..10).map(|i| format!("/v1/actions/act_{i}")).collect();
    let saves = paths
        .iter()
        .map(|path| c.api.json(Method::PUT, path, &mia, &body));
    for got in futures::future::join_all(saves).await {
        assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
    }
    let all: Vec<String> = (0..10).map(|i| format!("act_{i}")).collect();
    assert_eq!(c.refs(&a).await, Some(all));

    // A save racing the delete of its secret: exactly one of them wins, and the index
    // says so.
    for round in 0..8 {
        let s =
            c.h.create("mia", team(&format!("Race {round}"), VALUE_B))
                .await
                .id;
        let action = format!("act_race_{round}");
        let (save_path, delete_path) =
            (format!("/v1/actions/{action}"), format!("/v1/secrets/{s}"));
        let save_body = json!({"spec": spec_using(&[&s])});
        let (saved, deleted) = tokio::join!(
            c.api.json(Method::PUT, &save_path, &mia, &save_body),
            c.api.delete(&delete_path, &mia),
        );
        match (saved.0, deleted.0) {
            (StatusCode::CREATED, StatusCode::CONFLICT) => {
                assert_eq!(c.refs(&s).await, Some(vec![action.clone()]));
                assert_eq!(deleted.1["error"]["references"], json!([action]));
                assert!(c.h.use_as("mia", &s).await.is_ok());
            }
            (StatusCode::BAD_REQUEST, StatusCode::OK) => {
                assert_eq!(c.refs(&s).await, None);
                assert_error(
                    &c.api.get(&format!("/v1/actions/{action}"), &mia).await,
                    StatusCode::NOT_FOUND,
                    "not_found",
                );
            }
            other => panic!("round {round}: save {saved:?}, delete {deleted:?} ({other:?})"),
        }
    }
}
