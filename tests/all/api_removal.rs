//! Removal through `hush serve` with real tokens on a private redis-server: removing a
//! user over the API revokes their tokens and a user re-added under the same id sees
//! nothing of theirs (runs, idempotency keys, saved actions); removing an org deletes its
//! runs, events, idempotency keys, indexes and queue entries, so a new org of the same
//! name starts empty.

use crate::common;
use common::api::{Client, serve, service_token, user_token};
use common::{Harness, Kind, user};
use hush::directory::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A run that fails without reaching anything: nothing listens on port 9 of loopback.
fn action() -> Value {
    json!({"kind": "send_api_request", "name": "Nowhere", "method": "GET",
           "url": "http://127.0.0.1:9/x"})
}

#[tokio::test]
async fn a_user_removed_over_the_api_loses_their_tokens_and_a_new_user_of_the_id_sees_nothing_of_theirs()
 {
    let h = Harness::isolated(Kind::Redis).await;
    let client = Client::new(serve(&h, 1 << 20).await, &[]);
    let ada = user_token(&h, "ada").await;
    let (status, body) = client
        .json(Method::POST, "/v1/users", &ada, &json!({"user": "bob"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let old_bob = user_token(&h, "bob").await;
    let (status, run) = client
        .json(
            Method::POST,
            "/v1/runs?wait=true",
            &old_bob,
            &json!({"action": action(), "idempotency_key": "bob-step-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    let run_id = run["id"].as_str().unwrap().to_owned();
    let (status, saved) = client
        .json(
            Method::PUT,
            "/v1/actions/act_bobs",
            &old_bob,
            &json!({"spec": action()}),
        )
        .await;
    assert!(status.is_success(), "{saved}");

    let (status, body) = client.delete("/v1/users/bob", &ada).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = client.get("/v1/runs", &old_bob).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a removed user's token works"
    );

    let (status, body) = client
        .json(Method::POST, "/v1/users", &ada, &json!({"user": "bob"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = client.get("/v1/runs", &old_bob).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the old bob's token works for the new bob"
    );

    let new_bob = user_token(&h, "bob").await;
    let (status, page) = client.get("/v1/runs", &new_bob).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(
        page["items"],
        json!([]),
        "the new bob sees the old bob's runs"
    );
    let (status, _) = client.get(&format!("/v1/runs/{run_id}"), &new_bob).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = client
        .get(&format!("/v1/runs/{run_id}/events"), &new_bob)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = client
        .json(
            Method::POST,
            "/v1/runs?wait=true",
            &new_bob,
            &json!({"action": action(), "idempotency_key": "bob-step-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(!body.to_string().contains(&run_id), "{body}");
    let service = service_token(&h).await;
    let (status, body) = client
        .json(
            Method::POST,
            "/v1/runs",
            &service,
            &json!({"action": action(), "actor": "bob", "idempotency_key": "bob-step-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = client
        .json(
            Method::PUT,
            "/v1/actions/act_bobs",
            &new_bob,
            &json!({"spec": action()}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = client.delete("/v1/actions/act_bobs", &new_bob).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
}

#[tokio::test]
async fn removing_an_org_deletes_its_runs_idempotency_keys_and_queue_entries() {
    let h = Harness::isolated(Kind::Redis).await;
    let client = Client::new(serve(&h, 1 << 20).await, &[]);
    let mia = user_token(&h, "mia").await;
    let (status, queued) = client
        .json(
            Method::POST,
            "/v1/runs",
            &mia,
            &json!({"action": action(), "idempotency_key": "wf-1-step-1", "workflow_run_id": "wf-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    let (status, ended) = client
        .json(
            Method::POST,
            "/v1/runs?wait=true",
            &mia,
            &json!({"action": action(), "idempotency_key": "wf-1-step-2", "workflow_run_id": "wf-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{ended}");

    let redis = redis::Client::open(h.redis_url()).unwrap();
    let mut conn = redis.get_multiplexed_async_connection().await.unwrap();
    let keys = |conn: &mut redis::aio::MultiplexedConnection| {
        let pattern = format!("hush:{{{}}}:*", h.org);
        let mut conn = conn.clone();
        async move {
            redis::cmd("KEYS")
                .arg(pattern)
                .query_async::<Vec<String>>(&mut conn)
                .await
                .unwrap()
        }
    };
    let before = keys(&mut conn).await;
    assert!(
        before.iter().any(|k| k.contains(":run:")) && before.iter().any(|k| k.contains(":idem:")),
        "{before:?}"
    );
    let queue_of_org = |conn: &mut redis::aio::MultiplexedConnection| {
        let org = h.org.to_string();
        let mut conn = conn.clone();
        async move {
            let page: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
                .arg(hush::runs::queue::stream(0))
                .arg("-")
                .arg("+")
                .query_async(&mut conn)
                .await
                .unwrap();
            page.ids
                .iter()
                .filter(|e| e.get::<String>("org").as_deref() == Some(org.as_str()))
                .count()
        }
    };
    assert_eq!(queue_of_org(&mut conn).await, 1);

    h.directory.remove_org(&h.org).await.unwrap();
    assert_eq!(
        keys(&mut conn).await,
        Vec::<String>::new(),
        "keys of the removed org remain"
    );
    assert_eq!(queue_of_org(&mut conn).await, 0, "queue entries remain");

    // A new org of the same name: none of the old runs, keys or indexes.
    h.directory.create_org(&h.org).await.unwrap();
    h.directory
        .add_user(&h.org, &user("mia"), Role::Admin)
        .await
        .unwrap();
    let (status, _) = client.get("/v1/runs", &mia).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the old org's token works"
    );
    let mia = user_token(&h, "mia").await;
    for id in [&queued["id"], &ended["id"]] {
        let (status, _) = client
            .get(&format!("/v1/runs/{}", id.as_str().unwrap()), &mia)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let (_, page) = client.get("/v1/runs?workflow_run_id=wf-1", &mia).await;
    assert_eq!(page["items"], json!([]), "{page}");
    let (status, again) = client
        .json(
            Method::POST,
            "/v1/runs",
            &mia,
            &json!({"action": action(), "idempotency_key": "wf-1-step-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{again}");
    assert_ne!(again["id"], queued["id"]);
}
