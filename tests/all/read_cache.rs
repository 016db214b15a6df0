//! The read cache never serves a stale answer: a change acknowledged before a run is
//! dispatched is seen by that run, every time. Hundreds of change-then-dispatch rounds,
//! sync and queued, through the real API and a real worker over a private redis-server
//! that is restarted in the middle: a new value, a revoked grant, a group member removed,
//! a secret deleted, a user removed. The API and worker keep their caches coherent (as
//! `hush serve` does): the cache answers with no round trip (its hits are counted, and
//! Redis's own command counts show no read), a lost subscription empties it, a writer
//! waits out a cache that does not acknowledge, and it holds no plaintext. An ended run
//! is read from Redis once, then from the cache until it expires or its org is removed.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Request;
use axum::response::IntoResponse;
use hush::actions::http::{HttpSender, NetworkPolicy};
use hush::api::{ApiState, app};
use hush::executor::Executor;
use hush::model::{GroupId, SecretId};
use hush::runs::DEFAULT_RETENTION;
use hush::runs::redis::RedisRuns;
use hush::runs::worker::{self, WorkerConfig};
use hush::secrets::{Access, Keyring, SecretStore};
use hush::store::RedisBackend;
use serde_json::{Value, json};

use crate::common::{self, Harness, Kind, restricted, user, value};

/// Waits until `backend` holds its read-cache lease.
async fn coherent(backend: &RedisBackend) {
    for _ in 0..2000 {
        if backend.is_coherent() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the read cache never took its lease");
}

/// How many times Redis ran each command named in `commands`, from `INFO commandstats`.
async fn calls(url: &str, commands: &[&str]) -> Vec<u64> {
    let mut conn = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    commands
        .iter()
        .map(|name| {
            info.lines()
                .find_map(|l| l.strip_prefix(&format!("cmdstat_{name}:calls=")))
                .and_then(|rest| rest.split(',').next())
                .map_or(0, |n| n.parse().unwrap())
        })
        .collect()
}

/// Rounds per mode (sync, queued); each makes a change between two dispatches.
const ROUNDS: usize = 150;

/// Awaits `$op` until it is not refused as unavailable (Redis coming back after its
/// restart): a change counts once it is acknowledged, which is what the rounds check.
macro_rules! acknowledged {
    ($op:expr) => {
        loop {
            match $op.await {
                Ok(v) => break v,
                Err(e) if e.kind() == hush::error::ErrorKind::Unavailable => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("{e}"),
            }
        }
    };
}

struct Setup {
    h: Harness,
    /// The API process's backend (it runs sync runs) and the worker process's.
    api: RedisBackend,
    worker: RedisBackend,
    /// Changes are made through a third store, as by another process.
    secrets: Arc<SecretStore>,
    base: String,
    token: String,
    target: String,
    received: Arc<Mutex<Vec<String>>>,
    client: reqwest::Client,
    stop: Arc<AtomicBool>,
}

impl Setup {
    /// The API and a worker as two processes would run them: each over a Redis backend
    /// (and cache) of its own, sharing the harness's private redis-server and key file;
    /// changes go through the harness's store, a third one.
    async fn start() -> Setup {
        Self::on(Kind::Redis).await
    }

    /// [`Setup::start`] on a private redis-server or a private Redis Cluster.
    async fn on(kind: Kind) -> Setup {
        let h = Harness::isolated(kind).await;
        let over = |backend: &RedisBackend| {
            let shared: Arc<dyn hush::store::Backend> = Arc::new(backend.clone());
            let secrets = Arc::new(SecretStore::new(
                Arc::clone(&shared),
                Keyring::load_file(&h.key_file).unwrap(),
            ));
            (shared, secrets)
        };
        // Both long-lived, as `hush serve` and `hush worker` hold their stores: coherent.
        let api = RedisBackend::connect(&h.redis_url()).await.unwrap();
        let worker_backend = RedisBackend::connect(&h.redis_url()).await.unwrap();
        for backend in [&api, &worker_backend] {
            backend.keep_coherent();
            coherent(backend).await;
        }
        let (api_shared, api_secrets) = over(&api);
        let (_, worker_secrets) = over(&worker_backend);
        let secrets = Arc::clone(&h.secrets);
        let received = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&received);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = format!("http://{}", listener.local_addr().unwrap());
        let target_app = axum::Router::new().fallback(move |req: Request| {
            let seen = Arc::clone(&seen);
            async move {
                let auth = req
                    .headers()
                    .get("authorization")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                seen.lock().unwrap().push(auth);
                axum::Json(json!({"ok": true})).into_response()
            }
        });
        tokio::spawn(async move { axum::serve(listener, target_app).await.unwrap() });
        let policy = NetworkPolicy::allowing(["127.0.0.1/32".parse().unwrap()]);
        let executor = |secrets: &Arc<SecretStore>| {
            Executor::new(
                Arc::clone(secrets),
                HttpSender::new(policy.clone()).unwrap(),
            )
        };
        let runs = RedisRuns::connect(&h.redis_url(), DEFAULT_RETENTION)
            .await
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        tokio::spawn(worker::work(
            runs.clone(),
            executor(&worker_secrets),
            WorkerConfig {
                concurrency: 4,
                // A run whose store was unavailable as it started (Redis restarting) is
                // delivered again once idle this long.
                visibility: Duration::from_millis(500),
                ..WorkerConfig::named("cache-worker")
            },
            Arc::clone(&stop),
        ));
        // The API's run store keeps ended runs in the API's cache, as `hush serve`'s does.
        let api_runs = runs.clone().with_final_records(api.final_records());
        let state = ApiState::new(api_shared, Arc::new(api_runs), executor(&api_secrets));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app(state)).await.unwrap() });
        let token = common::api::service_token(&h).await;
        Setup {
            h,
            api,
            worker: worker_backend,
            secrets,
            base,
            token,
            target,
            received,
            client: reqwest::Client::new(),
            stop,
        }
    }

    /// Dispatches a request carrying `secret` as `actor`, waits for its end, and returns
    /// the run and the Authorization header the target received (if it was sent).
    async fn dispatch(
        &self,
        queued: bool,
        actor: &str,
        secret: &SecretId,
    ) -> (Value, Option<String>) {
        // A run that failed because Redis was coming back (its restart) decided nothing
        // about the change: dispatch it again. Every other answer counts.
        loop {
            let (run, sent) = self.dispatch_once(queued, actor, secret).await;
            if run["error"]["code"] != "unavailable" {
                return (run, sent);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn dispatch_once(
        &self,
        queued: bool,
        actor: &str,
        secret: &SecretId,
    ) -> (Value, Option<String>) {
        let before = self.received.lock().unwrap().len();
        let action = json!({
            "kind": "send_api_request", "name": "Cached", "method": "POST",
            "url": format!("{}/charge", self.target),
            "headers": [{"name": "Authorization", "value": format!("Bearer {{{{secret \"{secret}\"}}}}")}]
        });
        let path = if queued {
            "/v1/runs"
        } else {
            "/v1/runs?wait=true"
        };
        let dispatched: Value = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&json!({"action": action, "inputs": {}, "actor": actor}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        // A dispatch the API refuses outright (an actor no longer in the org) is a run that
        // never started: its error is the answer.
        if dispatched.get("id").is_none() && dispatched["error"].is_object() {
            let refused = json!({"status": "failed", "error": dispatched["error"]});
            return (refused, None);
        }
        let id = dispatched["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{dispatched}"))
            .to_owned();
        let mut run = dispatched;
        for _ in 0..6000 {
            if run["status"] == "succeeded" || run["status"] == "failed" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
            run = self
                .client
                .get(format!("{}/v1/runs/{id}", self.base))
                .bearer_auth(&self.token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        }
        let received = self.received.lock().unwrap();
        (run, received.get(before).cloned())
    }

    /// The status of `GET /v1/runs` with `token`.
    async fn list_runs(&self, token: String) -> reqwest::StatusCode {
        self.client
            .get(format!("{}/v1/runs", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
    }

    /// A run that must have sent exactly `value`.
    async fn expect_sent(
        &self,
        round: &str,
        queued: bool,
        actor: &str,
        secret: &SecretId,
        value: &str,
    ) {
        let (run, sent) = self.dispatch(queued, actor, secret).await;
        assert_eq!(run["status"], "succeeded", "{round}: {run}");
        assert_eq!(
            sent.as_deref(),
            Some(format!("Bearer {value}").as_str()),
            "{round}: a stale value was sent"
        );
    }

    /// A run that must have been refused with `code`, sending nothing.
    async fn expect_refused(
        &self,
        round: &str,
        queued: bool,
        actor: &str,
        secret: &SecretId,
        code: &str,
    ) {
        let (run, sent) = self.dispatch(queued, actor, secret).await;
        assert_eq!(
            run["status"], "failed",
            "{round}: a stale answer let the run go: {run}"
        );
        assert_eq!(run["error"]["code"], code, "{round}: {run}");
        assert_eq!(sent, None, "{round}: the target was called");
    }
}

/// One round of change kind `round % 5`: dispatch twice (the first fills the cache, the
/// second is answered from it), change, dispatch again and check that run saw the change.
async fn round(s: &Setup, round: usize, queued: bool) {
    let org = &s.h.org;
    let (mia, max) = (user("mia"), user("max"));
    let label = format!("round {round} ({})", if queued { "queued" } else { "sync" });
    let fresh = |tag: &str| format!("sk_live_cache_{round}_{tag}_0123456789");
    match round % 5 {
        // A new value.
        0 => {
            let (old, new) = (fresh("old"), fresh("new"));
            let id = acknowledged!(s.secrets.create(
                org,
                &mia,
                common::team(&format!("v{round}"), &old)
            ))
            .id;
            s.expect_sent(&label, queued, "mia", &id, &old).await;
            s.expect_sent(&label, queued, "mia", &id, &old).await;
            acknowledged!(s.secrets.set_value(org, &mia, &id, &value(&new)));
            s.expect_sent(&label, queued, "mia", &id, &new).await;
        }
        // A grant revoked.
        1 => {
            let v = fresh("grant");
            let id = acknowledged!(s.secrets.create(
                org,
                &mia,
                restricted(&format!("g{round}"), &v, &["user:max=use"]),
            ))
            .id;
            s.expect_sent(&label, queued, "max", &id, &v).await;
            s.expect_sent(&label, queued, "max", &id, &v).await;
            acknowledged!(
                s.secrets
                    .set_access(org, &mia, &id, Access::Restricted, vec![])
            );
            s.expect_refused(&label, queued, "max", &id, "denied").await;
        }
        // A member removed from the group the grant names.
        2 => {
            let v = fresh("group");
            let ops = GroupId::parse(&format!("ops{round}")).unwrap();
            acknowledged!(s.h.directory.create_group(org, &ops));
            acknowledged!(s.h.directory.add_member(org, &ops, &max));
            let id = acknowledged!(s.secrets.create(
                org,
                &mia,
                restricted(&format!("m{round}"), &v, &[&format!("group:{ops}=use")]),
            ))
            .id;
            s.expect_sent(&label, queued, "max", &id, &v).await;
            s.expect_sent(&label, queued, "max", &id, &v).await;
            acknowledged!(s.h.directory.remove_member(org, &ops, &max));
            s.expect_refused(&label, queued, "max", &id, "denied").await;
        }
        // A secret deleted.
        3 => {
            let v = fresh("deleted");
            let id = acknowledged!(s.secrets.create(
                org,
                &mia,
                common::team(&format!("d{round}"), &v)
            ))
            .id;
            s.expect_sent(&label, queued, "mia", &id, &v).await;
            s.expect_sent(&label, queued, "mia", &id, &v).await;
            acknowledged!(s.secrets.delete(org, &mia, &id));
            s.expect_refused(&label, queued, "mia", &id, "not_found")
                .await;
        }
        // A user removed.
        _ => {
            let v = fresh("user");
            let who = format!("u{round}");
            acknowledged!(
                s.h.directory
                    .add_user(org, &user(&who), hush::directory::Role::Member)
            );
            let id = acknowledged!(s.secrets.create(
                org,
                &mia,
                common::team(&format!("u{round}"), &v)
            ))
            .id;
            s.expect_sent(&label, queued, &who, &id, &v).await;
            s.expect_sent(&label, queued, &who, &id, &v).await;
            acknowledged!(s.h.directory.remove_user(org, &user(&who)));
            s.expect_refused(&label, queued, &who, &id, "denied").await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_acknowledged_before_a_dispatch_is_seen_by_it_every_time_across_a_redis_restart() {
    let mut s = Setup::start().await;
    for queued in [false, true] {
        for i in 0..ROUNDS {
            if i == ROUNDS / 2 {
                s.h.server.as_mut().unwrap().restart();
            }
            round(&s, i + if queued { ROUNDS } else { 0 }, queued).await;
        }
    }
    let hits = s.api.cache_hits() + s.worker.cache_hits();
    assert!(
        hits >= ROUNDS as u64,
        "the cache answered only {hits} reads in {} rounds",
        2 * ROUNDS
    );
    s.stop.store(true, std::sync::atomic::Ordering::Relaxed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_a_cluster_a_change_acknowledged_before_a_dispatch_is_seen_by_it_every_time() {
    // The caches subscribe on the first seed node; the commits publish on the registry's
    // master, and the cluster bus carries the invalidations between them.
    let s = Setup::on(Kind::Cluster).await;
    for queued in [false, true] {
        for i in 0..ROUNDS / 3 {
            round(&s, i + if queued { ROUNDS } else { 0 }, queued).await;
        }
    }
    assert!(
        s.api.cache_hits() + s.worker.cache_hits() >= (ROUNDS / 3) as u64,
        "the caches answered"
    );
    s.stop.store(true, std::sync::atomic::Ordering::Relaxed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_cache_holds_ciphertexts_and_metadata_never_a_plaintext() {
    let s = Setup::start().await;
    let mia = user("mia");
    let plain = "sk_live_cache_plaintext_0123456789";
    let id = s
        .secrets
        .create(&s.h.org, &mia, common::team("Plain", plain))
        .await
        .unwrap()
        .id;
    for queued in [false, false, true, true] {
        s.expect_sent("plaintext", queued, "mia", &id, plain).await;
    }
    assert!(
        s.api.cache_hits() > 0 && s.worker.cache_hits() > 0,
        "the runs were answered from both caches"
    );
    let cached = [s.api.cached_bytes(), s.worker.cached_bytes()].concat();
    assert!(
        cached.iter().any(|b| b
            .windows(id.as_str().len())
            .any(|w| w == id.as_str().as_bytes())),
        "the secret's metadata is cached"
    );
    common::assert_no_value_in("the read cache", &cached.concat(), &[plain]);
    s.stop.store(true, std::sync::atomic::Ordering::Relaxed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_dispatched_with_an_unchanged_token_actor_and_secret_reads_nothing_from_redis() {
    let s = Setup::start().await;
    let mia = user("mia");
    let v = "sk_live_cache_unchanged_0123456789";
    let id = s
        .secrets
        .create(&s.h.org, &mia, common::team("Same", v))
        .await
        .unwrap()
        .id;
    s.expect_sent("warm", false, "mia", &id, v).await;
    // What a read of the store sends: its HMGETs and the version's GET in one MULTI/EXEC.
    // The transaction is what is counted: the run's own scripts (create, finish) call
    // HMGET and GET inside them, and Redis counts those too.
    let reads = ["multi", "exec"];
    let (before, hits) = (calls(&s.h.redis_url(), &reads).await, s.api.cache_hits());
    for _ in 0..5 {
        s.expect_sent("unchanged", false, "mia", &id, v).await;
    }
    assert_eq!(
        calls(&s.h.redis_url(), &reads).await,
        before,
        "5 sync runs read nothing from Redis: not the token, the actor nor the secret"
    );
    assert!(
        s.api.cache_hits() >= hits + 5,
        "each of the 5 runs was answered by the cache"
    );
    s.stop.store(true, std::sync::atomic::Ordering::Relaxed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_token_is_refused_on_the_first_request_after_its_user_is_removed() {
    let s = Setup::start().await;
    let get = |token: String| s.list_runs(token);
    let hits = s.api.cache_hits();
    for i in 0..50 {
        let who = user(&format!("t{i}"));
        acknowledged!(
            s.h.directory
                .add_user(&s.h.org, &who, hush::directory::Role::Member)
        );
        let token =
            common::api::token(&s.h, hush::tokens::Principal::User { user: who.clone() }).await;
        for _ in 0..2 {
            assert_eq!(
                get(token.clone()).await,
                reqwest::StatusCode::OK,
                "round {i}"
            );
        }
        acknowledged!(s.h.directory.remove_user(&s.h.org, &who));
        assert_eq!(
            get(token).await,
            reqwest::StatusCode::UNAUTHORIZED,
            "round {i}: a removed user's token still worked"
        );
    }
    assert!(
        s.api.cache_hits() > hits,
        "authentication read the user from the cache"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_invalidation_subscription_empties_the_cache_before_it_answers_again() {
    let s = Setup::start().await;
    let mia = user("mia");
    for i in 0..5 {
        let (old, new) = (
            format!("sk_live_cache_lost_{i}_old_0123456789"),
            format!("sk_live_cache_lost_{i}_new_0123456789"),
        );
        let id = s
            .secrets
            .create(&s.h.org, &mia, common::team(&format!("Lost {i}"), &old))
            .await
            .unwrap()
            .id;
        s.expect_sent("warm", false, "mia", &id, &old).await;
        s.expect_sent("cached", false, "mia", &id, &old).await;
        // Every subscription (the API's and the worker's) cut: the change's invalidation
        // reaches neither, so the change must wait out their leases and they must empty
        // their caches before they answer from them again.
        let mut conn = raw(&s).await;
        let killed: i64 = redis::cmd("CLIENT")
            .arg(&["KILL", "TYPE", "pubsub"][..])
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(killed >= 2, "both subscriptions were cut ({killed})");
        s.secrets
            .set_value(&s.h.org, &mia, &id, &value(&new))
            .await
            .unwrap();
        s.expect_sent(&format!("round {i}"), false, "mia", &id, &new)
            .await;
        s.expect_sent(&format!("round {i}"), true, "mia", &id, &new)
            .await;
    }
    coherent(&s.api).await;
    s.stop.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// A raw connection to the setup's Redis, for what a test does behind hush's back.
async fn raw(s: &Setup) -> redis::aio::MultiplexedConnection {
    redis::Client::open(s.h.redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Redis's clock, in ms.
async fn redis_ms(conn: &redis::aio::MultiplexedConnection) -> u64 {
    let (secs, micros): (u64, u64) = redis::cmd("TIME")
        .query_async(&mut conn.clone())
        .await
        .unwrap();
    secs * 1000 + micros / 1000
}

/// Registers (or renews) a lease for process `id` that never acknowledges anything,
/// ending at `ends` (Redis's clock, ms).
async fn silent_lease(conn: &redis::aio::MultiplexedConnection, id: &str, ends: u64) {
    let _: () = redis::cmd("HSET")
        .arg("hush:{caches}")
        .arg(id)
        .arg(ends)
        .query_async(&mut conn.clone())
        .await
        .unwrap();
}

/// A team secret created through the setup's third store; its id.
async fn team_secret(s: &Setup, name: &str, text: &str) -> SecretId {
    s.secrets
        .create(&s.h.org, &user("mia"), common::team(name, text))
        .await
        .unwrap()
        .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_is_acknowledged_only_once_a_cache_that_does_not_answer_has_lost_its_lease() {
    let s = Setup::start().await;
    let id = team_secret(&s, "Ghost", "sk_live_cache_ghost_0123456789").await;
    let conn = raw(&s).await;
    // A process that registered a lease (3 s, longer than any other wait of a writer)
    // and then stopped answering: it never acknowledges.
    let ends = redis_ms(&conn).await + 3000;
    silent_lease(&conn, "ghost", ends).await;
    let mia = user("mia");
    let set = |text: &'static str| async {
        s.secrets
            .set_value(&s.h.org, &mia, &id, &value(text))
            .await
            .unwrap();
    };
    set("sk_live_cache_ghost_new_0123456789").await;
    let acknowledged = redis_ms(&conn).await;
    assert!(
        acknowledged >= ends,
        "the change was acknowledged {} ms before the silent cache's lease ended",
        ends - acknowledged
    );
    // Its lease over, it is waited for no more: the next change drops it.
    let lease = || {
        let mut conn = conn.clone();
        async move {
            let ends: Option<String> = redis::cmd("HGET")
                .arg("hush:{caches}")
                .arg("ghost")
                .query_async(&mut conn)
                .await
                .unwrap();
            ends
        }
    };
    let registered = lease().await;
    set("sk_live_cache_ghost_newer_0123456789").await;
    assert!(
        registered.is_some() && lease().await.is_none(),
        "an ended lease is dropped from the registry"
    );
    s.stop.store(true, std::sync::atomic::Ordering::Relaxed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_by_another_process_is_refused_on_the_first_request_after() {
    let s = Setup::start().await;
    // Issued and revoked through the harness's store: another process than the API's.
    let tokens = hush::tokens::Tokens::new(Arc::clone(&s.h.backend));
    let get = |token: String| s.list_runs(token);
    let hits = s.api.cache_hits();
    for i in 0..50 {
        let issued = tokens
            .create(
                &s.h.org,
                hush::tokens::Principal::service("orchestrator").unwrap(),
            )
            .await
            .unwrap();
        let token = issued.token.as_str().to_owned();
        for _ in 0..2 {
            assert_eq!(
                get(token.clone()).await,
                reqwest::StatusCode::OK,
                "round {i}"
            );
        }
        tokens.revoke(&s.h.org, &issued.record.id).await.unwrap();
        assert_eq!(
            get(token).await,
            reqwest::StatusCode::UNAUTHORIZED,
            "round {i}: a revoked token still worked"
        );
    }
    assert!(
        s.api.cache_hits() >= hits + 50,
        "authentication was answered by the cache"
    );
    s.stop.store(true, std::sync::atomic::Ordering::Relaxed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_waits_for_a_lease_renewed_after_it_was_announced() {
    let s = Setup::start().await;
    let id = team_secret(&s, "Renewed", "sk_live_cache_renew_0123456789").await;
    let conn = raw(&s).await;
    // A process that holds a lease when the change is announced, never acknowledges it,
    // and renews its lease while the writer waits: it may still answer from its cache
    // until its renewed lease ends, so the change is not acknowledged before that.
    silent_lease(&conn, "renewer", redis_ms(&conn).await + 1500).await;
    let writer = {
        let (secrets, org) = (Arc::clone(&s.secrets), s.h.org.clone());
        tokio::spawn(async move {
            secrets
                .set_value(
                    &org,
                    &user("mia"),
                    &id,
                    &value("sk_live_cache_renew_new_0123456789"),
                )
                .await
                .unwrap();
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let renewed = redis_ms(&conn).await + 3000;
    silent_lease(&conn, "renewer", renewed).await;
    writer.await.unwrap();
    let acknowledged = redis_ms(&conn).await;
    assert!(
        acknowledged >= renewed,
        "the change was acknowledged {} ms before the renewed lease ended",
        renewed - acknowledged
    );
    s.stop.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// `GET /v1/runs/{id}` with `token`: its status and body.
async fn get_run(s: &Setup, id: &str, token: &str) -> (reqwest::StatusCode, Value) {
    let res = s
        .client
        .get(format!("{}/v1/runs/{id}", s.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_run_is_read_from_redis_once_then_answered_from_the_cache() {
    let s = Setup::start().await;
    let v = "sk_live_cache_ended_run_0123456789";
    let secret = team_secret(&s, "Ended", v).await;
    let (run, _) = s.dispatch(false, "mia", &secret).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let id = run["id"].as_str().unwrap();
    let (status, first) = get_run(&s, id, &s.token).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{first}");
    assert_eq!(
        first, run,
        "the stored run is the one the dispatch answered"
    );
    // What a read of a run sends: an HMGET (and, with a cache for ended runs, a PTTL).
    let reads = ["hmget", "pttl"];
    let (before, hits) = (calls(&s.h.redis_url(), &reads).await, s.api.cache_hits());
    for _ in 0..5 {
        assert_eq!(get_run(&s, id, &s.token).await, (status, first.clone()));
    }
    assert_eq!(
        calls(&s.h.redis_url(), &reads).await,
        before,
        "5 reads of an ended run sent nothing to Redis"
    );
    assert!(
        s.api.cache_hits() >= hits + 5,
        "each read was answered from the cache"
    );
    common::assert_no_value_in("the read cache", &s.api.cached_bytes().concat(), &[v]);
    s.stop.store(true, std::sync::atomic::Ordering::Relaxed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_run_answered_from_the_cache_is_shown_only_to_whom_may_see_it() {
    use hush::directory::Role;
    let s = Setup::start().await;
    let bob = user("bob");
    acknowledged!(s.h.directory.add_user(&s.h.org, &bob, Role::Member));
    let secret = team_secret(&s, "Shown", "sk_live_cache_shown_to_0123456789").await;
    let (run, _) = s.dispatch(false, "bob", &secret).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let id = run["id"].as_str().unwrap();
    // Tokens issued first: an issue is a change to the org, which empties its cache.
    let bobs = common::api::user_token(&s.h, "bob").await;
    let ada = common::api::user_token(&s.h, "ada").await;
    let mia = common::api::user_token(&s.h, "mia").await;
    // Read by the service token: from now on the run is answered from the cache.
    assert_eq!(get_run(&s, id, &s.token).await.0, reqwest::StatusCode::OK);
    let hits = s.api.cache_hits();
    assert_eq!(
        get_run(&s, id, &bobs).await,
        (reqwest::StatusCode::OK, run.clone()),
        "bob sees his own run"
    );
    assert_eq!(
        get_run(&s, id, &ada).await,
        (reqwest::StatusCode::OK, run.clone()),
        "an admin sees every run of the org"
    );
    let (status, body) = get_run(&s, id, &mia).await;
    assert_eq!(
        status,
        reqwest::StatusCode::NOT_FOUND,
        "another member saw bob's run: {body}"
    );
    assert!(
        s.api.cache_hits() >= hits + 3,
        "each read of the run was answered from the cache"
    );
    // A new user of the same id, added after the run: not the run's bob. (The change
    // empties the org's cache; the service token's read keeps the run again.)
    acknowledged!(s.h.directory.remove_user(&s.h.org, &bob));
    acknowledged!(s.h.directory.add_user(&s.h.org, &bob, Role::Member));
    let new_bobs = common::api::user_token(&s.h, "bob").await;
    assert_eq!(get_run(&s, id, &s.token).await.0, reqwest::StatusCode::OK);
    let hits = s.api.cache_hits();
    let (status, body) = get_run(&s, id, &new_bobs).await;
    assert_eq!(
        status,
        reqwest::StatusCode::NOT_FOUND,
        "a new user of the same id saw the earlier bob's run: {body}"
    );
    assert!(
        s.api.cache_hits() > hits,
        "the new bob's read was answered from the cache"
    );
    s.stop.store(true, std::sync::atomic::Ordering::Relaxed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_run_of_a_removed_org_is_not_shown_to_a_new_org_of_the_same_name() {
    let s = Setup::start().await;
    let secret = team_secret(&s, "Removed", "sk_live_cache_removed_org_0123456789").await;
    let (run, _) = s.dispatch(false, "mia", &secret).await;
    let id = run["id"].as_str().unwrap();
    for _ in 0..2 {
        assert_eq!(get_run(&s, id, &s.token).await.0, reqwest::StatusCode::OK);
    }
    // Removed by another process (the harness's store), acknowledged, made again.
    acknowledged!(s.h.directory.remove_org(&s.h.org));
    acknowledged!(s.h.directory.create_org(&s.h.org));
    let token = common::api::service_token(&s.h).await;
    let (status, body) = get_run(&s, id, &token).await;
    assert_eq!(
        status,
        reqwest::StatusCode::NOT_FOUND,
        "the removed org's run was shown to the new org: {body}"
    );
    s.stop.store(true, std::sync::atomic::Ordering::Relaxed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_cached_only_once_it_has_ended_and_only_until_it_expires() {
    use hush::runs::{Pending, Run, RunStore, Start};
    let s = Setup::start().await;
    // Runs kept one second, their ended copies in the API's cache.
    let runs = RedisRuns::connect(&s.h.redis_url(), Duration::from_secs(1))
        .await
        .unwrap()
        .with_final_records(s.api.final_records());
    let run = Run::queued(
        s.h.org.clone(),
        user("mia"),
        hush::actions::ActionKind::SendApiRequest,
        "test".into(),
    );
    let pending = Pending {
        action: json!({}),
        inputs: json!({}),
    };
    runs.create(&run, &pending, None).await.unwrap();
    let status = |runs: &RedisRuns| {
        let (runs, org, id) = (runs.clone(), s.h.org.clone(), run.id.clone());
        async move { runs.get(&org, &id).await.unwrap().map(|r| r.status) }
    };
    let hits = s.api.cache_hits();
    assert_eq!(status(&runs).await, Some(hush::executor::RunStatus::Queued));
    let Start::Run {
        attempt,
        run: started,
        ..
    } = runs
        .start(&s.h.org, &run.id, "w", "entry-1", 5)
        .await
        .unwrap()
    else {
        panic!("the run starts");
    };
    assert_eq!(
        status(&runs).await,
        Some(hush::executor::RunStatus::Running)
    );
    assert_eq!(
        s.api.cache_hits(),
        hits,
        "a run that has not ended is read each time"
    );
    let ended = started.fail(hush::error::ErrorKind::Internal, "ended".into());
    assert!(runs.finish(&ended, attempt, &[]).await.unwrap());
    for _ in 0..3 {
        assert_eq!(status(&runs).await, Some(hush::executor::RunStatus::Failed));
    }
    assert_eq!(
        s.api.cache_hits(),
        hits + 2,
        "the ended run was read from Redis once"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        status(&runs).await,
        None,
        "an expired run is gone from the cache too"
    );
    s.stop.store(true, std::sync::atomic::Ordering::Relaxed);
}
