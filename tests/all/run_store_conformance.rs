//! The rules every [`RunStore`] keeps, run against each: the Redis store (on a real
//! redis-server, and on a real Redis Cluster) and the in-memory store `hush serve` uses on the embedded backend. One
//! idempotency key makes one run; a run queued twice starts once; an end is stored once,
//! only by the latest attempt; a run started too often is exhausted; events come in order
//! after a given id; another org never sees a run.

use crate::common;
use std::sync::Arc;
use std::time::Duration;

use hush::actions::ActionKind;
use hush::executor::{RunRecord, RunStatus};
use hush::model::{OrgId, UserId, now};
use hush::runs::memory::MemoryRuns;
use hush::runs::redis::RedisRuns;
use hush::runs::{Created, DEFAULT_RETENTION, Event, Pending, Run, Runs, Start, new_run_id};
use serde_json::json;

async fn redis_runs() -> Runs {
    let runs = RedisRuns::connect(&common::redis_server::shared_url(), DEFAULT_RETENTION)
        .await
        .unwrap();
    Arc::new(runs)
}

/// The Redis run store on the shared real Redis Cluster.
async fn cluster_runs() -> Runs {
    let runs = RedisRuns::connect(&common::redis_cluster::shared_url(), DEFAULT_RETENTION)
        .await
        .unwrap();
    Arc::new(runs)
}

fn memory_runs() -> Runs {
    Arc::new(MemoryRuns::new(DEFAULT_RETENTION))
}

fn org() -> OrgId {
    OrgId::parse(&common::unique("runs")).unwrap()
}

fn queued(org: &OrgId) -> Run {
    Run::queued(
        org.clone(),
        UserId::parse("mia").unwrap(),
        ActionKind::SendApiRequest,
        "tok_test".into(),
    )
}

fn pending() -> Pending {
    Pending {
        action: json!({"kind": "send_api_request"}),
        inputs: json!({}),
    }
}

fn ended(run: Run) -> Run {
    let at = now();
    let (id, org, actor, action_kind) = (
        run.id.clone(),
        run.org.clone(),
        run.actor.clone(),
        run.action_kind,
    );
    run.finish(RunRecord {
        id,
        org,
        actor,
        action_kind,
        status: RunStatus::Succeeded,
        started_at: at,
        finished_at: at,
        duration_ms: 1,
        result: Some(json!({"ok": true})),
        logs: vec!["done".into()],
        error: None,
        secrets_used: vec![],
        request: json!({}).into(),
    })
}

async fn one_idempotency_key_makes_one_run(runs: Runs) {
    let org = org();
    let first = queued(&org);
    let again = queued(&org);
    assert!(matches!(
        runs.create(&first, &pending(), Some("k1")).await.unwrap(),
        Created::New(_)
    ));
    match runs.create(&again, &pending(), Some("k1")).await.unwrap() {
        Created::Existing(id) => assert_eq!(id, first.id),
        Created::New(_) => panic!("a second run was stored under the same key"),
    }
    assert!(runs.get(&org, &again.id).await.unwrap().is_none());
    // The same key in another org is another org's.
    let other = queued(&self::org());
    assert!(matches!(
        runs.create(&other, &pending(), Some("k1")).await.unwrap(),
        Created::New(_)
    ));
}

async fn a_run_queued_twice_starts_once_and_ends_once(runs: Runs) {
    let org = org();
    let run = queued(&org);
    runs.create(&run, &pending(), None).await.unwrap();
    let Start::Run {
        attempt,
        run: started,
        ..
    } = runs.start(&org, &run.id, "w1", "entry-a", 5).await.unwrap()
    else {
        panic!("the first entry starts the run");
    };
    assert_eq!(attempt, 1);
    assert_eq!(started.status, RunStatus::Running);
    assert!(matches!(
        runs.start(&org, &run.id, "w2", "entry-b", 5).await.unwrap(),
        Start::Duplicate
    ));
    // A redelivery of the same entry is a second attempt; only it may store the end.
    let Start::Run {
        attempt: second, ..
    } = runs.start(&org, &run.id, "w2", "entry-a", 5).await.unwrap()
    else {
        panic!("a redelivered entry starts a second attempt");
    };
    assert_eq!(second, 2);
    assert!(
        !runs
            .finish(&ended((*started).clone()), 1, &[])
            .await
            .unwrap()
    );
    assert!(runs.finish(&ended(*started), 2, &[]).await.unwrap());
    assert!(
        !runs.finish(&ended(run.clone()), 2, &[]).await.unwrap(),
        "an end is stored once"
    );
    assert!(matches!(
        runs.start(&org, &run.id, "w3", "entry-a", 5).await.unwrap(),
        Start::Final
    ));
    let stored = runs.get(&org, &run.id).await.unwrap().unwrap();
    assert_eq!(stored.status, RunStatus::Succeeded);
    assert_eq!(stored.attempts, 2);
    assert_eq!(stored.logs, ["done"]);
}

async fn a_run_started_too_often_is_exhausted(runs: Runs) {
    let org = org();
    let run = queued(&org);
    runs.create(&run, &pending(), None).await.unwrap();
    assert!(matches!(
        runs.start(&org, &run.id, "w", "e", 1).await.unwrap(),
        Start::Run { .. }
    ));
    match runs.start(&org, &run.id, "w", "e", 1).await.unwrap() {
        Start::Exhausted(stored, attempts) => {
            assert_eq!(attempts, 1);
            assert_eq!(stored.id, run.id);
        }
        _ => panic!("a second start past max_attempts is exhausted"),
    }
    assert!(matches!(
        runs.start(&org, &new_run_id(), "w", "e", 1).await.unwrap(),
        Start::Gone
    ));
}

async fn events_come_in_order_after_an_id_and_another_org_sees_nothing(runs: Runs) {
    let org = org();
    let run = queued(&org);
    runs.create(&run, &pending(), None).await.unwrap();
    runs.log(&org, &run.id, &["one".into(), "two".into()])
        .await
        .unwrap();
    let mut feed = runs.watch(&org, &run.id).await.unwrap();
    let events = feed.next("0", Duration::from_secs(1)).await.unwrap();
    let kinds: Vec<Event> = events.iter().map(|(_, e)| e.clone()).collect();
    assert_eq!(
        kinds,
        [
            Event::Status {
                status: RunStatus::Queued
            },
            Event::Log { line: "one".into() },
            Event::Log { line: "two".into() },
        ]
    );
    let last = events.last().unwrap().0.clone();
    let waiting = tokio::spawn(async move { feed.next(&last, Duration::from_secs(10)).await });
    runs.log(&org, &run.id, &["three".into()]).await.unwrap();
    let later = waiting.await.unwrap().unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!(
        later[0].1,
        Event::Log {
            line: "three".into()
        }
    );
    assert!(runs.get(&self::org(), &run.id).await.unwrap().is_none());
    let other = self::org();
    let page = runs.list(&other, None, None, None, None, 10).await.unwrap();
    assert!(page.runs.is_empty());
}

async fn an_end_carries_the_last_log_lines_before_its_final_status(runs: Runs) {
    let org = org();
    let run = queued(&org);
    runs.create(&run, &pending(), None).await.unwrap();
    let Start::Run { run: started, .. } = runs.start(&org, &run.id, "w", "e", 5).await.unwrap()
    else {
        panic!("it starts");
    };
    runs.log(&org, &run.id, &["streamed".into()]).await.unwrap();
    assert!(
        runs.finish(&ended(*started), 1, &["last".into(), "very last".into()])
            .await
            .unwrap()
    );
    let mut feed = runs.watch(&org, &run.id).await.unwrap();
    let events: Vec<Event> = feed
        .next("0", Duration::from_secs(1))
        .await
        .unwrap()
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    assert_eq!(
        events,
        [
            Event::Status {
                status: RunStatus::Queued
            },
            Event::Status {
                status: RunStatus::Running
            },
            Event::Log {
                line: "streamed".into()
            },
            Event::Log {
                line: "last".into()
            },
            Event::Log {
                line: "very last".into()
            },
            Event::Status {
                status: RunStatus::Succeeded
            },
        ]
    );
}

macro_rules! on_both_run_stores {
    ($($name:ident),* $(,)?) => {
        mod redis {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::redis_runs().await).await }) *
        }
        mod memory {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::memory_runs()).await }) *
        }
        mod cluster {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::cluster_runs().await).await }) *
        }
    };
}

on_both_run_stores!(
    one_idempotency_key_makes_one_run,
    a_run_queued_twice_starts_once_and_ends_once,
    a_run_started_too_often_is_exhausted,
    events_come_in_order_after_an_id_and_another_org_sees_nothing,
    an_end_carries_the_last_log_lines_before_its_final_status,
);
