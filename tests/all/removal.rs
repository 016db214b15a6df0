//! Removal revokes, on both backends: a removed user's tokens, grants and creator rights,
//! a removed group's grants, and everything an org owns die with them, and a new user,
//! group or org of the same id starts with nothing — also when a removal raced with a
//! change that left a stale reference behind. (An org on the embedded store lives under
//! one key prefix its removal deletes; on Redis its run history lives beside it.)

use crate::common;
use common::{Harness, restricted, team, user};
use hush::directory::Role;
use hush::error::ErrorKind;
use hush::model::GroupId;
use hush::secrets::{Access, Principal};
use hush::store::{Commit, Table, Txn};
use hush::tokens::{Principal as TokenPrincipal, Tokens};
use std::sync::Arc;

on_both_backends!(
    a_removed_users_grants_are_not_inherited_by_a_new_user_of_the_same_id,
    a_removed_groups_grants_are_not_inherited_by_a_new_group_of_the_same_id,
    a_new_user_with_a_removed_creators_id_does_not_manage_their_secrets,
    removing_a_user_revokes_their_tokens_and_a_new_user_of_the_same_id_has_none,
    a_token_that_escaped_removal_never_authenticates_a_new_user_of_the_same_id,
    a_grant_left_behind_by_a_raced_removal_is_dropped_when_the_id_is_added_again,
);

fn gid(id: &str) -> GroupId {
    GroupId::parse(id).unwrap()
}

async fn add(h: &Harness, id: &str) {
    h.directory
        .add_user(&h.org, &user(id), Role::Member)
        .await
        .unwrap();
}

async fn a_removed_users_grants_are_not_inherited_by_a_new_user_of_the_same_id(h: Harness) {
    add(&h, "bob").await;
    let s = h
        .create(
            "ada",
            restricted("Bob's key", "value-bob-grant-01", &["user:bob=manage"]),
        )
        .await;
    assert_eq!(h.use_as("bob", &s.id).await.unwrap(), "value-bob-grant-01");

    h.directory.remove_user(&h.org, &user("bob")).await.unwrap();
    let meta = h.secrets.show(&h.org, &user("ada"), &s.id).await.unwrap();
    assert!(
        meta.grants.is_empty(),
        "the grant outlived its user: {:?}",
        meta.grants
    );
    add(&h, "bob").await;
    assert_eq!(
        h.use_as("bob", &s.id).await.unwrap_err().kind(),
        ErrorKind::Denied
    );
    assert_eq!(
        h.secrets
            .set_access(&h.org, &user("bob"), &s.id, Access::Team, vec![])
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Denied
    );
}

async fn a_removed_groups_grants_are_not_inherited_by_a_new_group_of_the_same_id(h: Harness) {
    let s = h
        .create(
            "ada",
            restricted("Eng key", "value-eng-grant-01", &["group:eng=manage"]),
        )
        .await;
    assert_eq!(h.use_as("mia", &s.id).await.unwrap(), "value-eng-grant-01");

    h.directory.remove_group(&h.org, &gid("eng")).await.unwrap();
    let meta = h.secrets.show(&h.org, &user("ada"), &s.id).await.unwrap();
    assert!(meta.grants.is_empty(), "{:?}", meta.grants);
    h.directory.create_group(&h.org, &gid("eng")).await.unwrap();
    h.directory
        .add_member(&h.org, &gid("eng"), &user("max"))
        .await
        .unwrap();
    for who in ["max", "mia"] {
        assert_eq!(
            h.use_as(who, &s.id).await.unwrap_err().kind(),
            ErrorKind::Denied,
            "{who}"
        );
    }
}

async fn a_new_user_with_a_removed_creators_id_does_not_manage_their_secrets(h: Harness) {
    add(&h, "bob").await;
    let s = h
        .create("bob", restricted("Bob made it", "value-bob-made-01", &[]))
        .await;
    assert_eq!(h.use_as("bob", &s.id).await.unwrap(), "value-bob-made-01");
    h.directory.remove_user(&h.org, &user("bob")).await.unwrap();
    add(&h, "bob").await;
    assert_eq!(
        h.use_as("bob", &s.id).await.unwrap_err().kind(),
        ErrorKind::Denied
    );
    assert_eq!(
        h.secrets
            .delete(&h.org, &user("bob"), &s.id)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Denied
    );
    // An admin still manages it.
    assert_eq!(h.use_as("ada", &s.id).await.unwrap(), "value-bob-made-01");
}

async fn removing_a_user_revokes_their_tokens_and_a_new_user_of_the_same_id_has_none(h: Harness) {
    add(&h, "bob").await;
    let tokens = Tokens::new(Arc::clone(&h.backend));
    let bob = TokenPrincipal::User { user: user("bob") };
    let first = tokens.create(&h.org, bob.clone()).await.unwrap();
    let second = tokens.create(&h.org, bob.clone()).await.unwrap();
    let service = tokens
        .create(&h.org, TokenPrincipal::service("orchestrator").unwrap())
        .await
        .unwrap();
    assert!(tokens.authenticate(&first.token).await.unwrap().is_some());

    h.directory.remove_user(&h.org, &user("bob")).await.unwrap();
    let left: Vec<_> = tokens.list(&h.org).await.unwrap();
    assert_eq!(
        left.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        [service.record.id.as_str()],
        "bob's tokens were not revoked with bob"
    );
    add(&h, "bob").await;
    for t in [&first, &second] {
        assert!(
            tokens.authenticate(&t.token).await.unwrap().is_none(),
            "an old token of bob's authenticates the new bob"
        );
    }
    assert!(tokens.authenticate(&service.token).await.unwrap().is_some());
    let fresh = tokens.create(&h.org, bob).await.unwrap();
    assert!(tokens.authenticate(&fresh.token).await.unwrap().is_some());
    let audit = h.audit.list(&h.org, None, 1000).await.unwrap();
    assert!(
        audit.entries.iter().any(|e| e
            .entry
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("2 API token(s)"))),
        "the removal's audit entry says what it revoked"
    );
}

async fn a_token_that_escaped_removal_never_authenticates_a_new_user_of_the_same_id(h: Harness) {
    add(&h, "bob").await;
    let tokens = Tokens::new(Arc::clone(&h.backend));
    let issued = tokens
        .create(&h.org, TokenPrincipal::User { user: user("bob") })
        .await
        .unwrap();
    let rows = h.backend.scan(&h.org, Table::Tokens).await.unwrap();
    let (hash, bytes) = rows
        .into_iter()
        .find(|(_, b)| String::from_utf8_lossy(b).contains(&issued.record.id))
        .unwrap();
    // A token issued before tokens recorded their user's incarnation.
    let mut legacy: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    legacy.as_object_mut().unwrap().remove("user_added_at");
    let legacy_token = tokens
        .create(&h.org, TokenPrincipal::User { user: user("bob") })
        .await
        .unwrap();
    let legacy_hash = h
        .backend
        .scan(&h.org, Table::Tokens)
        .await
        .unwrap()
        .into_iter()
        .find(|(_, b)| String::from_utf8_lossy(b).contains(&legacy_token.record.id))
        .unwrap()
        .0;
    legacy["id"] = serde_json::json!(legacy_token.record.id);

    h.directory.remove_user(&h.org, &user("bob")).await.unwrap();
    add(&h, "bob").await;
    // Put both records back, as a token issued while the removal ran would have stayed.
    let txn = Txn::new().put(Table::Tokens, &hash, bytes).put(
        Table::Tokens,
        &legacy_hash,
        serde_json::to_vec(&legacy).unwrap(),
    );
    assert_eq!(
        h.backend.commit(&h.org, txn).await.unwrap(),
        Commit::Applied
    );
    assert!(tokens.authenticate(&issued.token).await.unwrap().is_none());
    assert!(
        tokens
            .authenticate(&legacy_token.token)
            .await
            .unwrap()
            .is_none()
    );
}

async fn a_grant_left_behind_by_a_raced_removal_is_dropped_when_the_id_is_added_again(h: Harness) {
    add(&h, "bob").await;
    let s = h
        .create(
            "ada",
            restricted("Raced", "value-raced-grant", &["user:bob=use"]),
        )
        .await;
    let g = h
        .create(
            "ada",
            restricted("Raced group", "value-raced-group", &["group:eng=use"]),
        )
        .await;
    let stale = |id: &hush::model::SecretId| {
        let h = &h;
        let id = id.clone();
        async move {
            h.backend
                .read(&h.org, &[(Table::Secrets, id.as_str())])
                .await
                .unwrap()
                .remove(0)
                .unwrap()
        }
    };
    let (user_grant, group_grant) = (stale(&s.id).await, stale(&g.id).await);
    h.directory.remove_user(&h.org, &user("bob")).await.unwrap();
    h.directory.remove_group(&h.org, &gid("eng")).await.unwrap();
    // A change that read the secrets before the removals wrote them back after.
    let txn = Txn::new()
        .put(Table::Secrets, s.id.as_str(), user_grant)
        .put(Table::Secrets, g.id.as_str(), group_grant);
    assert_eq!(
        h.backend.commit(&h.org, txn).await.unwrap(),
        Commit::Applied
    );

    add(&h, "bob").await;
    h.directory.create_group(&h.org, &gid("eng")).await.unwrap();
    h.directory
        .add_member(&h.org, &gid("eng"), &user("bob"))
        .await
        .unwrap();
    for id in [&s.id, &g.id] {
        assert_eq!(
            h.use_as("bob", id).await.unwrap_err().kind(),
            ErrorKind::Denied
        );
        let meta = h.secrets.show(&h.org, &user("ada"), id).await.unwrap();
        assert!(
            !meta.grants.iter().any(|g| matches!(
                &g.principal,
                Principal::User(u) if u.as_str() == "bob"
            ) || matches!(&g.principal, Principal::Group(x) if x.as_str() == "eng")),
            "{:?}",
            meta.grants
        );
    }
}

/// On Redis an org owns every key under its hash tag, not only the store's tables (run
/// history keeps runs, events, idempotency keys and indexes there), and its entries in the
/// shared work queue; the embedded store keeps everything of an org under one prefix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_an_org_on_redis_deletes_every_key_under_its_hash_tag_and_its_queue_entries() {
    let h = Harness::isolated(common::Kind::Redis).await;
    let tokens = Tokens::new(Arc::clone(&h.backend));
    let mia_token = tokens
        .create(&h.org, TokenPrincipal::User { user: user("mia") })
        .await
        .unwrap();
    let s = h.create("mia", team("Org key", "value-org-gone-01")).await;
    let client = ::redis::Client::open(h.redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let tag = format!("hush:{{{}}}", h.org);
    // What run history writes (see src/runs/mod.rs), more than one sweep batch of it.
    let mut pipe = ::redis::pipe();
    for i in 0..2500 {
        pipe.cmd("HSET")
            .arg(format!("{tag}:run:run_{i}"))
            .arg("status")
            .arg("queued")
            .ignore();
    }
    pipe.cmd("XADD")
        .arg(format!("{tag}:run:run_1:events"))
        .arg("*")
        .arg("e")
        .arg("{}")
        .ignore()
        .cmd("SET")
        .arg(format!("{tag}:idem:wf-1"))
        .arg("run_1")
        .ignore()
        .cmd("ZADD")
        .arg(format!("{tag}:runs"))
        .arg(0)
        .arg("run_1")
        .ignore();
    for (org, run) in [
        (h.org.as_str(), "run_1"),
        ("other-org", "run_9"),
        (h.org.as_str(), "run_2"),
    ] {
        pipe.cmd("XADD")
            .arg("hush:queue")
            .arg("*")
            .arg("org")
            .arg(org)
            .arg("run")
            .arg(run)
            .ignore();
    }
    pipe.cmd("XADD")
        .arg("hush:queue:dead")
        .arg("*")
        .arg("org")
        .arg(h.org.as_str())
        .arg("run")
        .arg("run_3")
        .ignore();
    pipe.query_async::<()>(&mut conn).await.unwrap();

    h.directory.remove_org(&h.org).await.unwrap();

    let left: Vec<String> = ::redis::cmd("KEYS")
        .arg(format!("{tag}:*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        left.is_empty(),
        "{} keys of the removed org remain",
        left.len()
    );
    for (stream, want) in [
        ("hush:queue", vec!["other-org"]),
        ("hush:queue:dead", vec![]),
    ] {
        let page: ::redis::streams::StreamRangeReply = ::redis::cmd("XRANGE")
            .arg(stream)
            .arg("-")
            .arg("+")
            .query_async(&mut conn)
            .await
            .unwrap();
        let orgs: Vec<String> = page
            .ids
            .iter()
            .map(|e| e.get::<String>("org").unwrap())
            .collect();
        assert_eq!(orgs, want, "{stream}");
    }

    // A new org of the same name starts empty.
    h.directory.create_org(&h.org).await.unwrap();
    h.directory
        .add_user(&h.org, &user("mia"), Role::Member)
        .await
        .unwrap();
    assert!(
        tokens
            .authenticate(&mia_token.token)
            .await
            .unwrap()
            .is_none()
    );
    assert!(tokens.list(&h.org).await.unwrap().is_empty());
    assert_eq!(
        h.use_as("mia", &s.id).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
}
