//! Benchmarks of the secret store on a real redis-server: resolve against a raw Redis GET
//! of the same bytes, and 10,000 secrets in one org (create throughput, one list page
//! against a raw read of the same page).

mod support;

use std::sync::Arc;
use std::time::Instant;

use hush::directory::{Directory, Role};
use hush::model::{OrgId, RunId, SecretId, UserId};
use hush::secrets::{Access, Filter, Keyring, NewSecret, SecretStore, SecretValue};
use hush::store::{Backend, RedisBackend};
use redis::AsyncCommands;
use support::{count, interleaved, median, ratio, show};

fn new_secret(i: usize) -> NewSecret {
    NewSecret {
        name: format!("secret {i:05}"),
        value: SecretValue::new(format!("sk_live_bench_value_{i:05}_abcdefghijklmnop")).unwrap(),
        access: if i.is_multiple_of(3) {
            Access::Restricted
        } else {
            Access::Team
        },
        grants: if i.is_multiple_of(3) {
            vec!["user:mia=use".parse().unwrap()]
        } else {
            vec![]
        },
        allowed_hosts: vec![],
        description: None,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let server = support::redis_server::RedisServer::start_in_memory();
    let url = server.url();
    let backend: Arc<dyn Backend> = Arc::new(RedisBackend::connect(&url).await.unwrap());
    let key_dir = tempfile::tempdir().unwrap();
    let secrets = Arc::new(SecretStore::new(
        Arc::clone(&backend),
        Keyring::generate_file(&key_dir.path().join("master.key")).unwrap(),
    ));
    let directory = Directory::new(Arc::clone(&backend));
    let org = OrgId::parse("bench").unwrap();
    let mia = UserId::parse("mia").unwrap();
    directory.create_org(&org).await.unwrap();
    directory.add_user(&org, &mia, Role::Member).await.unwrap();
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut raw = redis::aio::ConnectionManager::new(client).await.unwrap();

    // --- resolve ---
    let mut ids: Vec<SecretId> = Vec::new();
    for i in 0..5 {
        ids.push(secrets.create(&org, &mia, new_secret(i)).await.unwrap().id);
    }
    let ciphertext: Vec<u8> = raw
        .hget(format!("hush:{{{org}}}:ct"), ids[0].as_str())
        .await
        .unwrap();
    let _: () = raw.set("bench:raw", &ciphertext).await.unwrap();
    let run = RunId::parse("bench-run").unwrap();
    let raw_len = ciphertext.len();
    let (rounds, per_round) = (count(10, 40), count(200, 500));
    // `HUSH_BENCH_PROFILE=resolve`: only resolves, for callgrind; `=read-shapes`: raw
    // MULTI/EXEC, plain pipeline and Lua reads of the resolve's three fields against GET.
    if std::env::var("HUSH_BENCH_PROFILE").is_ok_and(|v| v == "resolve") {
        for _ in 0..3000 {
            secrets.resolve(&org, &mia, &ids[..1], &run).await.unwrap();
        }
        secrets.flush().await;
        return;
    }
    if std::env::var("HUSH_BENCH_PROFILE").is_ok_and(|v| v == "read-shapes") {
        read_shapes(&raw, &backend, &org, &mia, &ids[0], raw_len).await;
        return;
    }
    // The org's data version, as a run learns it in the round trip that stores or starts
    // it: with it, a resolve of unchanged secrets is answered by the read cache.
    let (_, version) = backend
        .read_at(&org, &[(hush::store::Table::Users, mia.as_str())])
        .await
        .unwrap();
    let version = version.expect("a Redis org has a data version");
    // And a process that keeps its cache coherent (as `hush serve` does): no version to
    // learn, no round trip at all while nothing changed.
    let coherent = RedisBackend::connect(&url).await.unwrap();
    coherent.keep_coherent();
    while !coherent.is_coherent() {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let coherent_secrets = SecretStore::new(
        Arc::new(coherent),
        Keyring::load_file(&key_dir.path().join("master.key")).unwrap(),
    );
    for (figure, store, n, seen) in [
        ("resolve-1-secret", &*secrets, 1, None),
        ("resolve-5-secrets", &*secrets, 5, None),
        ("resolve-1-secret-cached", &*secrets, 1, Some(&version)),
        ("resolve-5-secrets-cached", &*secrets, 5, Some(&version)),
        ("resolve-1-secret-coherent", &coherent_secrets, 1, None),
        ("resolve-5-secrets-coherent", &coherent_secrets, 5, None),
    ] {
        let wanted = &ids[..n];
        let (mut ours, mut base) = interleaved(
            rounds,
            per_round,
            || async {
                let got = store
                    .resolve_seen(&org, &mia, wanted, &run, seen)
                    .await
                    .unwrap();
                assert_eq!(got.len(), n);
            },
            || {
                let mut conn = raw.clone();
                async move {
                    let bytes: Vec<u8> = conn.get("bench:raw").await.unwrap();
                    assert_eq!(bytes.len(), raw_len);
                }
            },
        )
        .await;
        println!(
            "{figure}: p50 {} (raw GET p50 {})",
            show(median(&mut ours)),
            show(median(&mut base))
        );
        ratio(figure, median(&mut ours), median(&mut base));
    }
    secrets.flush().await;
    coherent_secrets.flush().await;

    // --- 10,000 secrets in one org ---
    let total = count(2_000, 10_000);
    let concurrency = 32;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let secrets = Arc::clone(&secrets);
        let (org, mia) = (org.clone(), mia.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 5 + worker;
            while i < total {
                secrets.create(&org, &mia, new_secret(i)).await.unwrap();
                i += concurrency;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let created = total - 5;
    let create_time = started.elapsed() / created as u32;
    // Baseline: the same number of raw HSETs of the same bytes, same concurrency.
    let meta_bytes: Vec<u8> = raw
        .hget(format!("hush:{{{org}}}:secrets"), ids[0].as_str())
        .await
        .unwrap();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let mut conn = raw.clone();
        let (meta_bytes, ciphertext) = (meta_bytes.clone(), ciphertext.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = worker;
            while i < created {
                let _: () = redis::pipe()
                    .hset("bench:raw:meta", i, &meta_bytes)
                    .ignore()
                    .hset("bench:raw:ct", i, &ciphertext)
                    .ignore()
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                i += concurrency;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let raw_write = started.elapsed() / created as u32;
    println!(
        "create: {created} secrets in one org at {:.0} creates/s ({} each, {concurrency} concurrent); raw HSET pair {}",
        1.0 / create_time.as_secs_f64(),
        show(create_time),
        show(raw_write)
    );
    ratio("create-secret-throughput", create_time, raw_write);

    // One list page of 50 from the middle of the org, against one HMGET of the same 50 records.
    let first = secrets
        .list(&org, &mia, Filter::All, None, 500)
        .await
        .unwrap();
    let cursor = first.next_cursor.clone().unwrap();
    let page_ids: Vec<String> = secrets
        .list(&org, &mia, Filter::All, Some(&cursor), 50)
        .await
        .unwrap()
        .items
        .iter()
        .map(|m| m.id.to_string())
        .collect();
    let secrets_key = format!("hush:{{{org}}}:secrets");
    let (mut ours, mut base) = interleaved(
        count(5, 20),
        count(50, 100),
        || async {
            let page = secrets
                .list(&org, &mia, Filter::All, Some(&cursor), 50)
                .await
                .unwrap();
            assert_eq!(page.items.len(), 50);
        },
        || {
            let mut conn = raw.clone();
            let (key, ids) = (secrets_key.clone(), page_ids.clone());
            async move {
                let rows: Vec<Vec<u8>> = redis::cmd("HMGET")
                    .arg(key)
                    .arg(ids)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                assert_eq!(rows.len(), 50);
            }
        },
    )
    .await;
    println!(
        "list page of 50 in an org of {total}: p50 {} (raw HMGET of the same 50 records {})",
        show(median(&mut ours)),
        show(median(&mut base))
    );
    ratio("list-page-50", median(&mut ours), median(&mut base));
}

/// The resolve's read (the actor's record, a secret's metadata and ciphertext) in each
/// shape Redis offers, against a raw GET: what one round trip costs before hush does anything.
async fn read_shapes(
    raw: &redis::aio::ConnectionManager,
    backend: &Arc<dyn Backend>,
    org: &OrgId,
    mia: &UserId,
    id: &SecretId,
    raw_len: usize,
) {
    use hush::store::Table;
    let users = format!("hush:{{{org}}}:users");
    let metas = format!("hush:{{{org}}}:secrets");
    let cts = format!("hush:{{{org}}}:ct");
    let script = redis::Script::new(
        "return {redis.call('HMGET', KEYS[1], ARGV[1]), redis.call('HMGET', KEYS[2], ARGV[2]), redis.call('HMGET', KEYS[3], ARGV[2])}",
    );
    let shapes = ["multi", "pipe", "lua", "backend.read"];
    for shape in shapes {
        let (mut ours, mut base) = interleaved(
            20,
            500,
            || {
                let mut conn = raw.clone();
                let (users, metas, cts, script) = (&users, &metas, &cts, &script);
                async move {
                    match shape {
                        "multi" | "pipe" => {
                            let mut pipe = redis::pipe();
                            if shape == "multi" {
                                pipe.atomic();
                            }
                            pipe.cmd("HMGET").arg(users).arg(mia.as_str());
                            pipe.cmd("HMGET").arg(metas).arg(id.as_str());
                            pipe.cmd("HMGET").arg(cts).arg(id.as_str());
                            let rows: Vec<Vec<Option<Vec<u8>>>> =
                                pipe.query_async(&mut conn).await.unwrap();
                            assert_eq!(rows.len(), 3);
                        }
                        "lua" => {
                            let rows: Vec<Vec<Option<Vec<u8>>>> = script
                                .key(users)
                                .key(metas)
                                .key(cts)
                                .arg(mia.as_str())
                                .arg(id.as_str())
                                .invoke_async(&mut conn)
                                .await
                                .unwrap();
                            assert_eq!(rows.len(), 3);
                        }
                        _ => {
                            let got = backend
                                .read(
                                    org,
                                    &[
                                        (Table::Users, mia.as_str()),
                                        (Table::Secrets, id.as_str()),
                                        (Table::Ciphertexts, id.as_str()),
                                    ],
                                )
                                .await
                                .unwrap();
                            assert_eq!(got.len(), 3);
                        }
                    }
                }
            },
            || {
                let mut conn = raw.clone();
                async move {
                    let bytes: Vec<u8> = conn.get("bench:raw").await.unwrap();
                    assert_eq!(bytes.len(), raw_len);
                }
            },
        )
        .await;
        println!(
            "read shape {shape}: p50 {} vs GET {}",
            show(median(&mut ours)),
            show(median(&mut base))
        );
    }
}
