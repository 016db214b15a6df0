//! Invariant 1: no plaintext, nor its base64, hex, JSON or URL encoding, is ever written
//! to Redis (any key of any type, and the append-only file on disk; on a Redis Cluster,
//! every key of every node, masters and replicas) or to any file of the embedded store.

use crate::common;
use common::{Harness, Kind, assert_no_value_in, run, team, user, value};
use hush::secrets::Filter;
use redis::AsyncCommands;

const VALUES: [&str; 5] = [
    "sk_live_51HqLyjWDarjtT1zdp7dc",
    "multi\nline\npassword with spaces",
    "unicodé-šecret-値-🔑-value",
    "quote\"back\\slash</tag>&amp;",
    "replaced-value-then-gone",
];

/// Creates, renames, rotates values of, resolves and deletes secrets, touching every
/// path that writes.
async fn exercise(h: &Harness) {
    let mut ids = Vec::new();
    for (i, v) in VALUES[..4].iter().enumerate() {
        ids.push(
            h.secrets
                .create(&h.org, &user("mia"), team(&format!("secret {i}"), v))
                .await
                .unwrap()
                .id,
        );
    }
    let doomed = h
        .secrets
        .create(&h.org, &user("mia"), team("doomed", VALUES[4]))
        .await
        .unwrap()
        .id;
    h.secrets
        .set_value(
            &h.org,
            &user("mia"),
            &doomed,
            &value("second-value-of-doomed"),
        )
        .await
        .unwrap();
    h.secrets
        .rename(&h.org, &user("mia"), &ids[0], "renamed")
        .await
        .unwrap();
    h.secrets
        .resolve(&h.org, &user("max"), &ids, &run("rest-run"))
        .await
        .unwrap();
    let _ = h
        .secrets
        .resolve(&h.org, &user("zed"), &ids, &run("denied-run"))
        .await;
    h.secrets
        .delete(&h.org, &user("mia"), &doomed)
        .await
        .unwrap();
    h.secrets
        .list(&h.org, &user("mia"), Filter::All, None, 50)
        .await
        .unwrap();
    h.secrets.flush().await;
}

fn all_values() -> Vec<&'static str> {
    let mut v = VALUES.to_vec();
    v.push("second-value-of-doomed");
    v
}

#[tokio::test]
async fn redis_holds_no_value_in_any_key_of_any_type_nor_in_its_append_only_file() {
    let h = Harness::isolated(Kind::Redis).await;
    exercise(&h).await;
    let server = h.server.as_ref().unwrap();
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = conn.keys("*").await.unwrap();
    assert!(keys.len() >= 8, "expected the org's keys, got {keys:?}");
    let mut seen_types = std::collections::BTreeSet::new();
    for key in &keys {
        let (kind, dump) = common::redis_key_bytes(&mut conn, key).await;
        seen_types.insert(kind.clone());
        assert_no_value_in(&format!("Redis {kind} {key}"), &dump, &all_values());
    }
    assert!(
        seen_types.contains("hash")
            && seen_types.contains("zset")
            && seen_types.contains("stream")
            && seen_types.contains("set")
    );
    let mut files = 0;
    for entry in walk(server.dir()) {
        let bytes = std::fs::read(&entry).unwrap();
        files += 1;
        assert_no_value_in(
            &format!("Redis file {}", entry.display()),
            &bytes,
            &all_values(),
        );
    }
    assert!(files > 0, "the append-only file was checked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_holds_no_value_in_any_key_of_any_node_nor_in_its_files() {
    let h = Harness::isolated(Kind::Cluster).await;
    exercise(&h).await;
    let cluster = h.cluster.as_ref().unwrap();
    let mut org_keys = 0;
    let mut seen_types = std::collections::BTreeSet::new();
    for port in cluster.ports() {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        // A replica answers reads of its master's slots once asked to.
        let () = redis::cmd("READONLY").query_async(&mut conn).await.unwrap();
        let keys: Vec<String> = conn.keys("*").await.unwrap();
        for key in &keys {
            let (kind, dump) = common::redis_key_bytes(&mut conn, key).await;
            seen_types.insert(kind.clone());
            assert_no_value_in(
                &format!("Redis {kind} {key} on node {port}"),
                &dump,
                &all_values(),
            );
            if key.contains(h.org.as_str()) {
                org_keys += 1;
            }
        }
    }
    // The org's keys on its master and on that master's replica.
    assert!(org_keys >= 16, "only {org_keys} keys of the org were found");
    assert!(seen_types.contains("hash") && seen_types.contains("stream"));
    let mut files = 0;
    for entry in walk(cluster.dir()) {
        let bytes = std::fs::read(&entry).unwrap();
        files += 1;
        assert_no_value_in(
            &format!("Redis file {}", entry.display()),
            &bytes,
            &all_values(),
        );
    }
    assert!(
        files >= 12,
        "every node's cluster config and append-only files were checked"
    );
}

#[tokio::test]
async fn the_embedded_store_writes_no_value_to_any_file() {
    let h = Harness::new(Kind::Embedded).await;
    exercise(&h).await;
    drop(h.secrets.clone());
    let mut files = 0;
    for entry in walk(h.dir.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        files += 1;
        assert_no_value_in(&format!("file {}", entry.display()), &bytes, &all_values());
    }
    assert!(files >= 2, "the database and the key file were checked");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
