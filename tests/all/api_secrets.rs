//! The secret and directory endpoints of `hush serve` over real HTTP (the app on
//! 127.0.0.1:0 over a real redis-server, reqwest as the client): every secret operation
//! answers metadata and never a value (no encoding of it in any body or header), the
//! 409 for a referenced secret and `force=true`, permission refusals, bad input that
//! changes nothing, admin-only directory changes, and token audit entries.

use crate::common;
use std::sync::Arc;

use common::api::{Client, assert_error, serve, service_token, user_token};
use common::{Harness, Kind, restricted, team};
use hush::audit::AuditAction;
use hush::store::Table;
use hush::tokens::{Principal, Tokens};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const VALUE: &str = "sk_live_api_secrets_0123456789";
const NEW_VALUE: &str = "sk_live_api_rotated_9876543210";
const OTHER_VALUE: &str = "sk_live_other_org_5555555555";

/// One org on a real server: ada (admin), mia (member, in eng), max (member).
struct Ctx {
    h: Harness,
    api: Client,
}

impl Ctx {
    async fn start() -> Ctx {
        let h = Harness::new(Kind::Redis).await;
        let base = serve(&h, 64 * 1024).await;
        Ctx {
            api: Client::new(base, &[VALUE, NEW_VALUE, OTHER_VALUE]),
            h,
        }
    }

    /// The audit actions of the org's trail, with their actors, oldest first.
    async fn audit(&self) -> Vec<(AuditAction, Option<String>, Option<String>)> {
        let page = self.h.audit.list(&self.h.org, None, 1000).await.unwrap();
        page.entries
            .into_iter()
            .map(|r| {
                (
                    r.entry.action,
                    r.entry.actor.map(|a| a.to_string()),
                    r.entry.detail,
                )
            })
            .collect()
    }
}

fn created_id(got: &(StatusCode, Value)) -> String {
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
    got.1["id"].as_str().unwrap().to_owned()
}

/// A bad request: what it is, method, path, token, body, and the refusal it must get.
type Case<'a> = (
    &'a str,
    Method,
    String,
    &'a str,
    Option<Vec<u8>>,
    StatusCode,
    &'a str,
);

#[tokio::test]
async fn every_secret_operation_answers_metadata_and_never_the_value() {
    let c = Ctx::start().await;
    let mia = user_token(&c.h, "mia").await;
    let service = service_token(&c.h).await;

    let got = c
        .api
        .json(
            Method::POST,
            "/v1/secrets",
            &mia,
            &json!({"name": "Stripe live", "value": VALUE, "access": "restricted",
                    "grants": [{"principal": {"kind": "group", "id": "eng"}, "permission": "use"}],
                    "allowed_hosts": ["api.stripe.com"], "description": "live key"}),
        )
        .await;
    let id = created_id(&got);
    assert!(got.1.get("value").is_none(), "{}", got.1);
    assert_eq!(got.1["name"], "Stripe live");
    assert_eq!(got.1["version"], 1);
    assert_eq!(
        c.h.use_as("mia", &id.parse().unwrap()).await.unwrap(),
        VALUE
    );

    for filter in ["all", "team", "restricted", "usable", "manageable"] {
        let got = c
            .api
            .get(&format!("/v1/secrets?filter={filter}&limit=10"), &mia)
            .await;
        assert_eq!(got.0, StatusCode::OK, "{filter}: {}", got.1);
        let names: Vec<&str> = got.1["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap())
            .collect();
        let expected: &[&str] = if filter == "team" {
            &[]
        } else {
            &["Stripe live"]
        };
        assert_eq!(names, expected, "{filter}");
    }
    let got = c.api.get(&format!("/v1/secrets/{id}"), &mia).await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    assert_eq!(got.1["description"], "live key");
    // A service token acts for the member it names.
    let got = c
        .api
        .get(&format!("/v1/secrets/{id}?actor=max"), &service)
        .await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);

    let got = c
        .api
        .json(
            Method::PATCH,
            &format!("/v1/secrets/{id}"),
            &mia,
            &json!({"name": "Stripe key", "description": "", "access": "team", "grants": [],
                    "allowed_hosts": ["*.stripe.com"]}),
        )
        .await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    assert_eq!(got.1["name"], "Stripe key");
    assert_eq!(got.1["access"], "team");
    assert_eq!(got.1["allowed_hosts"], json!(["*.stripe.com"]));
    assert!(got.1.get("description").is_none(), "{}", got.1);

    let got = c
        .api
        .json(
            Method::PUT,
            &format!("/v1/secrets/{id}/value"),
            &service.clone(),
            &json!({"value": NEW_VALUE}),
        )
        .await;
    assert_error(&got, StatusCode::BAD_REQUEST, "invalid"); // no actor named
    let got = c
        .api
        .json(
            Method::PUT,
            &format!("/v1/secrets/{id}/value?actor=mia"),
            &service,
            &json!({"value": NEW_VALUE}),
        )
        .await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    assert_eq!(got.1["version"], 2);
    assert_eq!(
        c.h.use_as("max", &id.parse().unwrap()).await.unwrap(),
        NEW_VALUE
    );

    let got = c
        .api
        .get(&format!("/v1/secrets/{id}/references"), &mia)
        .await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    assert_eq!(got.1["actions"], json!([]));

    let got = c.api.delete(&format!("/v1/secrets/{id}"), &mia).await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    assert_eq!(got.1["deleted"], id.as_str());
    let got = c.api.get(&format!("/v1/secrets/{id}"), &mia).await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found");

    let actions: Vec<AuditAction> = c.audit().await.into_iter().map(|e| e.0).collect();
    for done in [
        AuditAction::SecretCreate,
        AuditAction::SecretRename,
        AuditAction::SecretSetDescription,
        AuditAction::SecretSetAccess,
        AuditAction::SecretSetAllowedHosts,
        AuditAction::SecretSetValue,
        AuditAction::SecretDelete,
    ] {
        assert!(actions.contains(&done), "{done:?} not audited: {actions:?}");
    }
}

#[tokio::test]
async fn a_member_without_manage_is_refused_and_another_orgs_secret_is_404() {
    let c = Ctx::start().await;
    let other = Ctx::start().await;
    let id =
        c.h.create("mia", restricted("Payroll", VALUE, &["user:max=use"]))
            .await
            .id;
    let max = user_token(&c.h, "max").await;
    let path = format!("/v1/secrets/{id}");

    let got = c
        .api
        .json(Method::PATCH, &path, &max, &json!({"name": "Mine now"}))
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "denied");
    let got = c
        .api
        .json(
            Method::PUT,
            &format!("{path}/value"),
            &max,
            &json!({"value": NEW_VALUE}),
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "denied");
    assert_error(
        &c.api.delete(&path, &max).await,
        StatusCode::FORBIDDEN,
        "denied",
    );
    // Use is enough to see the metadata, not to change it.
    let got = c.api.get(&path, &max).await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    assert_eq!(got.1["name"], "Payroll");
    assert_eq!(got.1["version"], 1);

    // Another org's token, on either server (they share the store): 404, never the name.
    let outsider = service_token(&other.h).await;
    let outsider_ada = user_token(&other.h, "ada").await;
    for api in [&c.api, &other.api] {
        for (method, suffix) in [
            (Method::GET, ""),
            (Method::PATCH, ""),
            (Method::DELETE, ""),
            (Method::GET, "/references"),
        ] {
            let body = (method == Method::PATCH).then(|| br#"{"name": "x"}"#.to_vec());
            let got = api
                .send(
                    method.clone(),
                    &format!("{path}{suffix}?actor=ada"),
                    Some(&outsider),
                    body,
                )
                .await;
            assert_error(&got, StatusCode::NOT_FOUND, "not_found");
            assert!(!got.1.to_string().contains("Payroll"), "{}", got.1);
        }
        let got = api.get(&path, &outsider_ada).await;
        assert_error(&got, StatusCode::NOT_FOUND, "not_found");
    }
    assert_eq!(c.h.use_as("mia", &id).await.unwrap(), VALUE);
}

#[tokio::test]
async fn deleting_a_referenced_secret_is_409_listing_the_references_until_forced() {
    let c = Ctx::start().await;
    let mia = user_token(&c.h, "mia").await;
    let id = c.h.create("mia", team("Stripe live", VALUE)).await.id;
    let spec = json!({"kind": "send_api_request", "method": "GET", "url": "https://api.example.com/",
                      "headers": [{"name": "Authorization", "value": format!("Bearer {{{{secret \"{id}\"}}}}")}]});
    for action in ["act_charge", "act_refund"] {
        let got = c
            .api
            .json(
                Method::PUT,
                &format!("/v1/actions/{action}"),
                &mia,
                &json!({ "spec": spec }),
            )
            .await;
        assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
    }

    let path = format!("/v1/secrets/{id}");
    let got = c.api.delete(&path, &mia).await;
    assert_error(&got, StatusCode::CONFLICT, "conflict");
    assert_eq!(
        got.1["error"]["references"],
        json!(["act_charge", "act_refund"])
    );
    let message = got.1["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("act_charge") && message.contains("force=true"),
        "{message}"
    );
    // Nothing changed: the secret still resolves and its references are listed.
    assert_eq!(c.h.use_as("mia", &id).await.unwrap(), VALUE);
    let got = c.api.get(&format!("{path}/references"), &mia).await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    let listed: Vec<&str> = got.1["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["act_charge", "act_refund"]);

    let got = c.api.delete(&format!("{path}?force=true"), &mia).await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    assert_error(
        &c.api.get(&path, &mia).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    // Nothing dangles in the index.
    let cell =
        c.h.backend
            .read(&c.h.org, &[(Table::References, id.as_str())])
            .await
            .unwrap();
    assert_eq!(cell, vec![None]);
    // The actions stay; running one would name the missing secret.
    let got = c.api.get("/v1/actions/act_charge", &mia).await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
}

#[tokio::test]
async fn bad_secret_requests_answer_the_json_error_and_change_nothing() {
    let c = Ctx::start().await;
    let mia = user_token(&c.h, "mia").await;
    let service = service_token(&c.h).await;
    let id = c.h.create("mia", team("Stripe live", VALUE)).await.id;
    let before = c.api.get("/v1/secrets?filter=all", &mia).await;
    let path = format!("/v1/secrets/{id}");
    let raw = |s: &str| Some(s.as_bytes().to_vec());
    let json_body = |v: Value| Some(v.to_string().into_bytes());
    let cases: Vec<Case> = vec![
        (
            "malformed JSON",
            Method::POST,
            "/v1/secrets".into(),
            &mia,
            raw("{\"name\": "),
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
        (
            "value of the wrong type",
            Method::POST,
            "/v1/secrets".into(),
            &mia,
            json_body(json!({"name": "X", "value": 12345678})),
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
        (
            "an unknown field",
            Method::POST,
            "/v1/secrets".into(),
            &mia,
            json_body(json!({"name": "X", "value": NEW_VALUE, "colour": "red"})),
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
        (
            "a value too short",
            Method::POST,
            "/v1/secrets".into(),
            &mia,
            json_body(json!({"name": "X", "value": "short"})),
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
        (
            "a bad grant",
            Method::POST,
            "/v1/secrets".into(),
            &mia,
            json_body(json!({"name": "X", "value": NEW_VALUE, "grants": ["user:max=use"]})),
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
        (
            "a name taken",
            Method::POST,
            "/v1/secrets".into(),
            &mia,
            json_body(json!({"name": "STRIPE LIVE", "value": NEW_VALUE})),
            StatusCode::CONFLICT,
            "conflict",
        ),
        (
            "a grant to a stranger",
            Method::POST,
            "/v1/secrets".into(),
            &mia,
            json_body(
                json!({"name": "X", "value": NEW_VALUE, "access": "restricted", "grants": [{"principal": {"kind": "user", "id": "zed"}, "permission": "use"}]}),
            ),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "no actor with a service token",
            Method::POST,
            "/v1/secrets".into(),
            &service,
            json_body(json!({"name": "X", "value": NEW_VALUE})),
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
        (
            "a user token acting for another",
            Method::POST,
            "/v1/secrets?actor=max".into(),
            &mia,
            json_body(json!({"name": "X", "value": NEW_VALUE})),
            StatusCode::FORBIDDEN,
            "denied",
        ),
        (
            "an unknown query parameter",
            Method::GET,
            "/v1/secrets?colour=red".into(),
            &mia,
            None,
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
        (
            "a bad filter",
            Method::GET,
            "/v1/secrets?filter=mine".into(),
            &mia,
            None,
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
        (
            "a bad limit",
            Method::GET,
            "/v1/secrets?limit=-1".into(),
            &mia,
            None,
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
        (
            "a bad cursor",
            Method::GET,
            "/v1/secrets?cursor=%25%25".into(),
            &mia,
            None,
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
        (
            "a malformed secret id",
            Method::GET,
            "/v1/secrets/stripe".into(),
            &mia,
            None,
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
        (
            "an unknown secret id",
            Method::GET,
            "/v1/secrets/sec_aaaaaaaaaaaaaaaaaaaaaaaaaa".into(),
            &mia,
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "an empty patch",
            Method::PATCH,
            path.clone(),
            &mia,
            json_body(json!({})),
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
        (
            "a patch with a bad name",
            Method::PATCH,
            path.clone(),
            &mia,
            json_body(json!({"name": "", "description": "d"})),
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
        (
            "a patch with a bad host",
            Method::PATCH,
            path.clone(),
            &mia,
            json_body(json!({"description": "d", "allowed_hosts": ["not a host"]})),
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
        (
            "a patch of access of the wrong type",
            Method::PATCH,
            path.clone(),
            &mia,
            json_body(json!({"access": true})),
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
        (
            "a value in the wrong field",
            Method::PUT,
            format!("{path}/value"),
            &mia,
            json_body(json!({"secret": NEW_VALUE})),
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
        (
            "a force that is not a boolean",
            Method::DELETE,
            format!("{path}?force=yes"),
            &mia,
            None,
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
    ];
    for (what, method, path, token, body, status, code) in cases {
        let got = c.api.send(method, &path, Some(token), body).await;
        assert_eq!(got.0, status, "{what}: {}", got.1);
        assert_error(&got, status, code);
    }
    let got = c
        .api
        .send(Method::POST, "/v1/secrets", None, raw("{}"))
        .await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "unauthorized");

    let after = c.api.get("/v1/secrets?filter=all", &mia).await;
    assert_eq!(after, before);
    assert_eq!(after.1["items"].as_array().unwrap().len(), 1);
    assert_eq!(after.1["items"][0]["version"], 1);
    assert_eq!(c.h.use_as("mia", &id).await.unwrap(), VALUE);
}

#[tokio::test]
async fn directory_changes_are_admin_only_and_audited_with_the_admin() {
    let c = Ctx::start().await;
    let ada = user_token(&c.h, "ada").await;
    let mia = user_token(&c.h, "mia").await;
    let service = service_token(&c.h).await;

    // Any member, or a service token without an actor, may list.
    for token in [&mia, &service] {
        let got = c.api.get("/v1/users", token).await;
        assert_eq!(got.0, StatusCode::OK, "{}", got.1);
        let ids: Vec<&str> = got
            .1
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["ada", "max", "mia"]);
        let got = c.api.get("/v1/groups", token).await;
        assert_eq!(got.1[0]["members"], json!(["mia"]), "{}", got.1);
    }

    // A member may not change the directory, nor may a service token for a member.
    let new_user = json!({"user": "noa", "role": "member"});
    let got = c.api.json(Method::POST, "/v1/users", &mia, &new_user).await;
    assert_error(&got, StatusCode::FORBIDDEN, "denied");
    let got = c
        .api
        .json(Method::POST, "/v1/users?actor=mia", &service, &new_user)
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "denied");
    let got = c
        .api
        .json(Method::POST, "/v1/users", &service, &new_user)
        .await;
    assert_error(&got, StatusCode::BAD_REQUEST, "invalid");
    let got = c
        .api
        .send(Method::PUT, "/v1/groups/eng/members/max", Some(&mia), None)
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "denied");
    assert!(
        c.h.directory
            .user(&c.h.org, &common::user("noa"))
            .await
            .unwrap()
            .is_none()
    );

    // An admin may, through either kind of token.
    let got = c.api.json(Method::POST, "/v1/users", &ada, &new_user).await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
    let got = c.api.json(Method::POST, "/v1/users", &ada, &new_user).await;
    assert_error(&got, StatusCode::CONFLICT, "conflict");
    let got = c
        .api
        .json(
            Method::PATCH,
            "/v1/users/noa?actor=ada",
            &service,
            &json!({"role": "admin"}),
        )
        .await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    assert_eq!(got.1["role"], "admin");
    let got = c
        .api
        .json(
            Method::PATCH,
            "/v1/users/noa",
            &ada,
            &json!({"role": "owner"}),
        )
        .await;
    assert_error(&got, StatusCode::BAD_REQUEST, "invalid");
    let got = c
        .api
        .json(Method::POST, "/v1/groups", &ada, &json!({"group": "ops"}))
        .await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
    let got = c
        .api
        .send(Method::PUT, "/v1/groups/ops/members/noa", Some(&ada), None)
        .await;
    assert_eq!(got.1["members"], json!(["noa"]), "{}", got.1);
    let got = c
        .api
        .send(Method::PUT, "/v1/groups/ops/members/zed", Some(&ada), None)
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found");
    let got = c.api.delete("/v1/groups/ops/members/noa", &ada).await;
    assert_eq!(got.1["members"], json!([]), "{}", got.1);
    assert_eq!(c.api.delete("/v1/groups/ops", &ada).await.0, StatusCode::OK);
    assert_eq!(c.api.delete("/v1/users/noa", &ada).await.0, StatusCode::OK);
    assert_error(
        &c.api.delete("/v1/users/noa", &ada).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert!(
        c.h.directory
            .user(&c.h.org, &common::user("noa"))
            .await
            .unwrap()
            .is_none()
    );

    let changes: Vec<_> = c
        .audit()
        .await
        .into_iter()
        .filter(|(_, _, detail)| {
            detail
                .as_deref()
                .is_some_and(|d| d.contains("noa") || d.contains("ops"))
        })
        .collect();
    let actions: Vec<AuditAction> = changes.iter().map(|c| c.0).collect();
    assert_eq!(
        actions,
        [
            AuditAction::UserAdd,
            AuditAction::UserSetRole,
            AuditAction::GroupCreate,
            AuditAction::GroupAddMember,
            AuditAction::GroupRemoveMember,
            AuditAction::GroupRemove,
            AuditAction::UserRemove,
        ]
    );
    assert!(
        changes.iter().all(|c| c.1.as_deref() == Some("ada")),
        "{changes:?}"
    );
}

#[tokio::test]
async fn token_create_and_revoke_are_audited_by_id_never_by_token() {
    let c = Ctx::start().await;
    let tokens = Tokens::new(Arc::clone(&c.h.backend));
    let issued = tokens
        .create(
            &c.h.org,
            Principal::User {
                user: common::user("mia"),
            },
        )
        .await
        .unwrap();
    let id = issued.record.id.clone();
    tokens.revoke(&c.h.org, &id).await.unwrap();
    let entries: Vec<_> = c
        .audit()
        .await
        .into_iter()
        .filter(|e| matches!(e.0, AuditAction::TokenCreate | AuditAction::TokenRevoke))
        .collect();
    let expected = format!("{id} for user mia");
    assert_eq!(
        entries,
        [
            (AuditAction::TokenCreate, None, Some(expected.clone())),
            (AuditAction::TokenRevoke, None, Some(expected)),
        ]
    );
    let page = c.h.audit.list(&c.h.org, None, 1000).await.unwrap();
    let trail = serde_json::to_vec(&page).unwrap();
    let secret_part = issued.token.rsplit('_').next().unwrap().to_owned();
    common::assert_no_value_in(
        "the audit trail",
        &trail,
        &[issued.token.as_str(), &secret_part],
    );
}

#[tokio::test]
async fn the_cli_refuses_to_delete_a_referenced_secret_unless_forced() {
    let c = Ctx::start().await;
    let mia = user_token(&c.h, "mia").await;
    let id = c.h.create("mia", team("Stripe live", VALUE)).await.id;
    let spec = json!({"kind": "send_api_request", "method": "GET", "url": "https://api.example.com/",
                      "headers": [{"name": "X-Key", "value": format!("{{{{secret \"{id}\"}}}}")}]});
    let got = c
        .api
        .json(
            Method::PUT,
            "/v1/actions/act_cli",
            &mia,
            &json!({ "spec": spec }),
        )
        .await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);

    let url = common::redis_server::shared_url();
    let key_file = c.h.key_file.display().to_string();
    let env = [
        ("HUSH_REDIS_URL", url.as_str()),
        ("HUSH_MASTER_KEY_FILE", key_file.as_str()),
    ];
    let org = c.h.org.to_string();
    let delete = [
        "secret",
        "delete",
        "--org",
        &org,
        "--as",
        "mia",
        id.as_str(),
    ];
    let refused = common::run_hush(&env, &delete, b"", &[VALUE]);
    assert_eq!(refused.status.code(), Some(5), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("act_cli") && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(c.h.use_as("mia", &id).await.unwrap(), VALUE);

    let forced = common::run_hush(&env, &[&delete[..], &["--force"]].concat(), b"", &[VALUE]);
    assert!(forced.status.success(), "{forced:?}");
    let cell =
        c.h.backend
            .read(&c.h.org, &[(Table::References, id.as_str())])
            .await
            .unwrap();
    assert_eq!(cell, vec![None]);
}

#[tokio::test]
async fn reveal_components_are_set_by_managers_only_checked_and_audited() {
    let c = Ctx::start().await;
    let mia = user_token(&c.h, "mia").await;
    let max = user_token(&c.h, "max").await;
    let id = c.h.create("mia", team("Reveal key", VALUE)).await.id;
    let path = format!("/v1/secrets/{id}");
    let component = format!("sha256:{}", "ab".repeat(32));
    let (status, shown) = c.api.get(&path, &max).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown["reveal_components"], json!([]), "none by default");

    // max may Use the team key but not decide who sees it.
    let got = c
        .api
        .json(
            Method::PATCH,
            &path,
            &max,
            &json!({"reveal_components": [component]}),
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "denied");
    // Ids are sha256 digests, never paths; a bad list changes nothing.
    for bad in [
        json!({"reveal_components": ["/dev/zero"]}),
        json!({"reveal_components": [format!("sha256:{}", "AB".repeat(32))]}),
        json!({"reveal_components": [component, component]}),
        json!({"reveal_components": [component], "name": ""}),
    ] {
        let got = c.api.json(Method::PATCH, &path, &mia, &bad).await;
        assert_error(&got, StatusCode::BAD_REQUEST, "invalid");
    }
    let (_, shown) = c.api.get(&path, &mia).await;
    assert_eq!(shown["reveal_components"], json!([]), "{shown}");

    let (status, meta) = c
        .api
        .json(
            Method::PATCH,
            &path,
            &mia,
            &json!({"reveal_components": [component]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{meta}");
    assert_eq!(meta["reveal_components"], json!([component]));
    let (status, meta) = c
        .api
        .json(
            Method::PATCH,
            &path,
            &mia,
            &json!({"reveal_components": []}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{meta}");
    assert_eq!(meta["reveal_components"], json!([]));

    let trail = c.audit().await;
    let changes: Vec<_> = trail
        .iter()
        .filter(|(a, _, _)| *a == AuditAction::SecretSetRevealComponents)
        .collect();
    assert_eq!(changes.len(), 3, "two changes and one refusal: {trail:#?}");
    assert!(
        changes
            .iter()
            .any(|(_, actor, detail)| actor.as_deref() == Some("mia")
                && detail.as_deref() == Some(&*format!("[] -> [{component}]"))),
        "{changes:#?}"
    );
}

#[tokio::test]
async fn the_api_and_saved_actions_take_only_added_components_never_a_server_path() {
    let c = Ctx::start().await;
    let mia = user_token(&c.h, "mia").await;
    let dir = tempfile::tempdir().unwrap();
    let on_disk = dir.path().join("x.wasm");
    std::fs::write(&on_disk, b"\0asm\x0d\0\x01\0secret-file-head").unwrap();
    for component in [
        "/dev/zero",
        "/etc/passwd",
        on_disk.to_str().unwrap(),
        "no-such-file.wasm",
        hush::guests::ECHO,
    ] {
        let spec = json!({"kind": "run_code", "name": "p", "component": component});
        for (method, route, body) in [
            (Method::POST, "/v1/runs?wait=true", json!({"action": spec})),
            (Method::POST, "/v1/runs", json!({"action": spec})),
            (Method::PUT, "/v1/actions/act_path", json!({"spec": spec})),
        ] {
            let got = c.api.json(method, route, &mia, &body).await;
            assert_error(&got, StatusCode::BAD_REQUEST, "invalid");
            let message = got.1["error"]["message"].as_str().unwrap();
            // One answer for every path: nothing says whether a file exists or what it holds.
            assert!(
                message.contains("sha256:") && message.contains("hush component add"),
                "{component}: {message}"
            );
            assert!(!message.contains("secret-file-head") && !message.contains("root:"));
        }
    }
    let (status, list) = c.api.get("/v1/actions", &mia).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !list.to_string().contains("act_path"),
        "nothing saved: {list}"
    );
}
