//! `GET /v1/me`: who the caller is, for a user token and a service token (with and
//! without the member it acts for), over a real server and a real redis-server.

use crate::common;
use common::api::{Client, assert_error, serve, service_token, user_token};
use common::{Harness, Kind};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn me_names_the_org_the_principal_and_the_member_acted_for_with_role_and_groups() {
    let h = Harness::isolated(Kind::Redis).await;
    let api = Client::new(serve(&h, 1 << 20).await, &[]);
    let mia = user_token(&h, "mia").await;
    let service = service_token(&h).await;

    let (status, me) = api.get("/v1/me", &mia).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["org"], json!(h.org.as_str()));
    assert_eq!(me["principal"], json!({"kind": "user", "user": "mia"}));
    assert_eq!(me["actor"]["id"], "mia");
    assert_eq!(me["actor"]["role"], "member");
    assert_eq!(me["actor"]["groups"], json!(["eng"]));
    assert!(!me.to_string().contains(&mia), "the token is not echoed");

    let ada = user_token(&h, "ada").await;
    let (_, me) = api.get("/v1/me", &ada).await;
    assert_eq!(me["actor"]["role"], "admin");

    // A service token: acting as the member it names, or as no one.
    let (status, me) = api.get("/v1/me?actor=max", &service).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(
        me["principal"],
        json!({"kind": "service", "service": "orchestrator"})
    );
    assert_eq!(me["actor"]["id"], "max");
    let (status, me) = api.get("/v1/me", &service).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["actor"], json!(null));

    // Refusals: a user token naming someone else, a service token naming a stranger,
    // no token.
    let got = api.get("/v1/me?actor=ada", &mia).await;
    assert_error(&got, StatusCode::FORBIDDEN, "denied");
    let got = api.get("/v1/me?actor=zed", &service).await;
    assert_error(&got, StatusCode::FORBIDDEN, "denied");
    let (status, _) = api.probe(reqwest::Method::GET, "/v1/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
