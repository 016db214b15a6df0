//! `hush worker`: drains the work queue ([`super::queue`]). A worker reads entries
//! through the consumer group, holds each (one heartbeat re-claims everything it holds
//! every third of the visibility timeout) until its run's end is stored, starts each run
//! as a counted attempt (a run started `max_attempts` times is dead-lettered), runs it
//! through the executor with its log lines streamed to the run's events, stores the end
//! only for the latest attempt, then acknowledges the entry (batched with the other
//! runs' that ended meanwhile). On stop it takes no new work and finishes what it holds.
//! It never stores or logs anything unredacted.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use redis::streams::StreamId;
use serde_json::Value;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use super::queue::Entry;
use super::redis::RedisRuns;
use super::{Pending, Run, RunStore, Runs, Start};
use crate::actions::Action;
use crate::error::{ErrorKind, Result};
use crate::executor::{Executor, RunRequest, RunStatus};
use crate::store::OrgVersion;
use crate::store::redis::RedisConn;

/// How a worker works.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// The consumer name, unique per worker process.
    pub name: String,
    /// Runs held at once.
    pub concurrency: usize,
    /// How long an entry may sit idle before another worker claims it.
    pub visibility: Duration,
    /// Starts of one run before it is dead-lettered.
    pub max_attempts: u32,
}

impl WorkerConfig {
    /// Defaults: 64 runs at once, a 30 s visibility timeout, 5 attempts.
    pub fn named(name: impl Into<String>) -> Self {
        WorkerConfig {
            name: name.into(),
            concurrency: 64,
            visibility: Duration::from_secs(30),
            max_attempts: 5,
        }
    }
}

/// Whether the user a queued run was dispatched for is still the org's user of that id
/// (added before the run was created, not removed and added again since). A run never
/// runs as a later user of the same id; whether the actor may use each secret is the
/// executor's check, as for every run.
///
/// # Errors
/// When the store fails, or (not a member, no org) for the executor to refuse the run.
async fn actor_since_dispatch(
    executor: &Executor,
    run: &Run,
    seen: Option<&OrgVersion>,
) -> Result<bool> {
    let record = executor
        .secrets()
        .member_seen(&run.org, &run.actor, seen)
        .await?;
    Ok(record.holds_since(run.created_at))
}

/// Runs `run` here to its end, streaming its log lines to its events, and returns it as
/// it ended, with whether it failed because the secret store was unavailable before its
/// action did anything (see [`crate::executor::LiveRun`]). Storing the end is the
/// caller's ([`store_end`]).
pub async fn perform(
    store: &Runs,
    executor: &Executor,
    run: Run,
    action: Action,
    inputs: Value,
    seen: Option<OrgVersion>,
) -> Ended {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let forward = {
        let (org, id) = (run.org.clone(), run.id.clone());
        async move {
            while let Some(line) = rx.recv().await {
                // Gather lines for up to LOG_EVERY; a run that ends meanwhile hands them to
                // the round trip that stores its end.
                let mut lines = vec![line];
                let window = tokio::time::sleep(LOG_EVERY);
                tokio::pin!(window);
                loop {
                    tokio::select! {
                        more = rx.recv() => match more {
                            Some(line) => lines.push(line),
                            None => return lines,
                        },
                        () = &mut window => break,
                    }
                }
                if let Err(e) = store.log(&org, &id, &lines).await {
                    tracing::warn!(run = %id, error = %e, "live log lines were not stored");
                }
            }
            Vec::new()
        }
    };
    // The forwarder ends once the run has ended (and dropped its sender), in this task.
    let run_it = executor.run_seen(
        RunRequest {
            run_id: run.id.clone(),
            org: run.org.clone(),
            actor: run.actor.clone(),
            action,
            inputs,
        },
        Some(tx),
        seen,
    );
    let (ran, unstreamed) = tokio::join!(run_it, forward);
    let ended = run.finish(ran.record);
    // One line per run at INFO: ids, kind, status, error code and duration; never a
    // value, an input, a result or an error message.
    tracing::info!(
        run = %ended.id,
        org = %ended.org,
        actor = %ended.actor,
        kind = %ended.action_kind,
        status = match ended.status {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
        },
        error = ended.error.as_ref().map_or("", |e| e.code.code()),
        duration_ms = ended.duration_ms.unwrap_or_default(),
        attempt = ended.attempts,
        "run ended"
    );
    Ended {
        run: ended,
        store_unavailable: ran.store_unavailable,
        unstreamed,
    }
}

/// How often a run's log lines are streamed to its events while it runs.
const LOG_EVERY: Duration = Duration::from_millis(50);

/// A run as [`perform`] ended it.
#[derive(Debug)]
pub struct Ended {
    /// The run, ended.
    pub run: Run,
    /// Whether it failed because the secret store was unavailable before its action did
    /// anything (see [`crate::executor::LiveRun`]).
    pub store_unavailable: bool,
    /// Its last log lines, not yet in its events: [`store_end`] adds them with its end.
    pub unstreamed: Vec<String>,
}

impl Ended {
    fn without_running(run: Run, store_unavailable: bool) -> Ended {
        Ended {
            run,
            store_unavailable,
            unstreamed: Vec::new(),
        }
    }
}

/// Runs a started run to its end as [`perform`] does, once the queued run may still run:
/// refused when its actor was removed since dispatch, or when its spec (checked at
/// dispatch; a saved one read back can still be refused) is refused now. Returns the run
/// as it ended and whether the store was unavailable before it started.
pub(super) async fn run_started(
    store: &Runs,
    executor: &Executor,
    run: Run,
    pending: Pending,
    seen: Option<OrgVersion>,
) -> Ended {
    match actor_since_dispatch(executor, &run, seen.as_ref()).await {
        Err(e) if e.kind() == ErrorKind::Unavailable => Ended::without_running(run, true),
        Ok(false) => {
            let actor = run.actor.clone();
            let message = format!(
                "user {actor} was removed after this run was dispatched; it does not run as the user added under that id since"
            );
            Ended::without_running(run.fail(ErrorKind::Denied, message), false)
        }
        _ => match Action::from_value(pending.action) {
            Ok(action) => perform(store, executor, run, action, pending.inputs, seen).await,
            Err(e) => Ended::without_running(run.fail(e.kind(), e.message().to_owned()), false),
        },
    }
}

/// Stores a run's end as attempt `attempt`, retrying for up to a minute while Redis is
/// unavailable; returns whether it was stored. Past the minute the entry stays pending
/// and the run is delivered again.
pub async fn store_end(
    store: &dyn RunStore,
    run: &Run,
    attempt: u32,
    unstreamed: &[String],
) -> bool {
    let started = Instant::now();
    let mut wait = Duration::from_millis(50);
    loop {
        match store.finish(run, attempt, unstreamed).await {
            Ok(stored) => return stored,
            Err(e) if started.elapsed() < Duration::from_secs(60) => {
                tracing::warn!(run = %run.id, error = %e, "storing the run's end failed; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(2));
            }
            Err(e) => {
                tracing::error!(run = %run.id, error = %e, "the run's end could not be stored; it will be delivered again");
                return false;
            }
        }
    }
}

/// Handles one delivered entry and acknowledges it once its run's end is stored.
async fn handle(
    store: RedisRuns,
    executor: Executor,
    config: Arc<WorkerConfig>,
    acks: mpsc::UnboundedSender<(String, String)>,
    held: Arc<Held>,
    stream: String,
    raw: StreamId,
) {
    let shared: Runs = Arc::new(store.clone());
    let Some(entry) = Entry::parse(&stream, &raw) else {
        tracing::warn!(entry = %raw.id, "dropping a malformed queue entry");
        let _ = acks.send((stream, raw.id));
        return;
    };
    let heartbeat = Holding::new(&held, &entry.stream, &entry.id);
    let started = store
        .start(
            &entry.org,
            &entry.run,
            &config.name,
            &super::queue::delivery(&entry.stream, &entry.id),
            config.max_attempts,
        )
        .await;
    let done = match started {
        Ok(Start::Run {
            attempt,
            run,
            pending,
            seen,
        }) => {
            let ended = run_started(&shared, &executor, *run, pending, seen).await;
            if ended.store_unavailable {
                tracing::warn!(run = %ended.run.id, "the store was unavailable before the run could start; it will be delivered again");
                crate::metrics::delivery("store_unavailable");
                false
            } else {
                crate::metrics::delivery("ran");
                store_end(&*shared, &ended.run, attempt, &ended.unstreamed).await
            }
        }
        Ok(Start::Final) => {
            crate::metrics::delivery("already_final");
            true
        }
        Ok(Start::Exhausted(run, attempts)) => {
            let ended = run.fail(
                ErrorKind::Unavailable,
                format!(
                    "dead letter: the run was started {attempts} time(s) and never ended (the workers running it stopped or lost Redis)"
                ),
            );
            let stored = store_end(&*shared, &ended, attempts, &[]).await;
            if stored {
                let _ = store.dead_letter(&entry, attempts).await;
            }
            crate::metrics::delivery("dead_lettered");
            stored
        }
        Ok(Start::Duplicate) => {
            crate::metrics::delivery("duplicate");
            true
        }
        Ok(Start::Gone) => {
            crate::metrics::delivery("gone");
            true
        }
        Err(e) => {
            tracing::warn!(run = %entry.run, error = %e, "a queued run could not be started; it will be delivered again");
            false
        }
    };
    drop(heartbeat);
    if done {
        // Batched with other runs' acknowledgements: one XACK per stream per round trip.
        let _ = acks.send((entry.stream.clone(), entry.id.clone()));
    }
}

/// The entries this worker holds, by stream, for its heartbeat.
type Held = std::sync::Mutex<HashMap<String, HashSet<String>>>;

/// An entry in [`Held`] while its run is handled; dropped, it leaves.
struct Holding<'a> {
    held: &'a Held,
    stream: &'a str,
    id: &'a str,
}

impl<'a> Holding<'a> {
    fn new(held: &'a Held, stream: &'a str, id: &'a str) -> Self {
        lock(held)
            .entry(stream.to_owned())
            .or_default()
            .insert(id.to_owned());
        Holding { held, stream, id }
    }
}

impl Drop for Holding<'_> {
    fn drop(&mut self) {
        if let Some(ids) = lock(self.held).get_mut(self.stream) {
            ids.remove(self.id);
        }
    }
}

fn lock(held: &Held) -> std::sync::MutexGuard<'_, HashMap<String, HashSet<String>>> {
    held.lock().unwrap_or_else(|p| p.into_inner())
}

/// Every `every`, resets the idle time of every entry this worker holds (one XCLAIM per
/// stream), so that no other worker claims a run that is still running here.
async fn heartbeat(store: RedisRuns, worker: String, every: Duration, held: Arc<Held>) {
    loop {
        tokio::time::sleep(every).await;
        let holding: Vec<(String, Vec<String>)> = lock(&held)
            .iter()
            .filter(|(_, ids)| !ids.is_empty())
            .map(|(stream, ids)| (stream.clone(), ids.iter().cloned().collect()))
            .collect();
        for (stream, ids) in holding {
            if let Err(e) = store.touch(&stream, &worker, &ids).await {
                tracing::warn!(error = %e, "the heartbeat of held queue entries failed");
            }
        }
    }
}

/// Acknowledges the entries sent to it, all those waiting in one XACK per stream, until
/// every sender is gone and nothing is left. An entry whose acknowledgement fails five
/// times stays pending and is delivered again (its run's end is stored: it is final).
async fn acknowledge(store: RedisRuns, mut acks: mpsc::UnboundedReceiver<(String, String)>) {
    while let Some(first) = acks.recv().await {
        let mut by_stream: Vec<(String, Vec<String>)> = Vec::new();
        let mut add =
            |(stream, id): (String, String)| match by_stream.iter_mut().find(|(s, _)| *s == stream)
            {
                Some((_, ids)) => ids.push(id),
                None => by_stream.push((stream, vec![id])),
            };
        add(first);
        while let Ok(more) = acks.try_recv() {
            add(more);
        }
        for (stream, ids) in &by_stream {
            for _ in 0..5 {
                if store.ack(stream, ids).await.is_ok() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// Drains the work stream until `stop` is set, then finishes the runs it holds. Survives
/// Redis restarts: reads fail, are retried, and go on when Redis is back.
///
/// # Errors
/// When the consumer group cannot be created at start.
pub async fn work(
    store: RedisRuns,
    executor: Executor,
    config: WorkerConfig,
    stop: Arc<AtomicBool>,
) -> Result<()> {
    let mut wait = Duration::from_millis(100);
    while let Err(e) = store.ensure_group().await {
        if stop.load(Ordering::Relaxed) {
            return Err(e);
        }
        tracing::warn!(error = %e, "the work queue is not reachable yet; retrying");
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(2));
    }
    let config = Arc::new(config);
    let (acks, pending_acks) = mpsc::unbounded_channel();
    let acker = tokio::spawn(acknowledge(store.clone(), pending_acks));
    let held: Arc<Held> = Arc::default();
    let beating = tokio::spawn(heartbeat(
        store.clone(),
        config.name.clone(),
        config.visibility / 3,
        Arc::clone(&held),
    ));
    let slots = Arc::new(Semaphore::new(config.concurrency));
    let mut tasks = JoinSet::new();
    let mut conn = None;
    let mut last_claim: Option<Instant> = None;
    let mut last_trim = Instant::now();
    let mut streams = store.streams().await.unwrap_or_default();
    let mut last_streams = Instant::now();
    // The partition the next read starts at: reads go round every partition.
    let mut next = 0usize;
    tracing::info!(
        worker = %config.name,
        concurrency = config.concurrency,
        partitions = streams.len(),
        "worker started"
    );
    while !stop.load(Ordering::Relaxed) {
        while tasks.try_join_next().is_some() {}
        if streams.is_empty() || last_streams.elapsed() >= STREAMS_EVERY {
            match store.streams().await {
                Ok(found) if found != streams => {
                    // A partition named since (by a process with another N) gets its group.
                    let _ = store.ensure_group().await;
                    streams = found;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "listing the work queue's partitions failed"),
            }
            last_streams = Instant::now();
            if streams.is_empty() {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        }
        let free = slots.available_permits();
        if free == 0 {
            tokio::select! {
                _ = tasks.join_next() => {}
                () = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
            continue;
        }
        let mut entries: Vec<(String, StreamId)> = Vec::new();
        if last_claim.is_none_or(|t| t.elapsed() >= config.visibility / 2) {
            for stream in &streams {
                let want = free - entries.len();
                if want == 0 {
                    break;
                }
                match store
                    .claim_idle(stream, &config.name, config.visibility, want)
                    .await
                {
                    Ok(claimed) => {
                        if !claimed.is_empty() {
                            tracing::info!(
                                count = claimed.len(),
                                "claimed idle entries of stopped workers"
                            );
                        }
                        entries.extend(claimed.into_iter().map(|e| (stream.clone(), e)));
                    }
                    Err(e) => tracing::warn!(error = %e, "claiming idle entries failed"),
                }
            }
            last_claim = Some(Instant::now());
        }
        if entries.is_empty() {
            if conn.is_none() {
                match store.blocking_connection().await {
                    Ok(c) => conn = Some(c),
                    Err(e) => {
                        tracing::warn!(error = %e, "the work queue is unreachable; retrying");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                }
            }
            let c = conn.as_mut().expect("connected above");
            match read_round(&store, c, &streams, &mut next, &config.name, free).await {
                Ok(read) => entries = read,
                Err(e) => {
                    if e.message().contains("NOGROUP") {
                        let _ = store.ensure_group().await;
                    }
                    tracing::warn!(error = %e, "reading the work queue failed; reconnecting");
                    conn = None;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            }
        }
        for (stream, entry) in entries {
            let permit = Arc::clone(&slots)
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let (store, executor, config) = (store.clone(), executor.clone(), Arc::clone(&config));
            let (acks, held) = (acks.clone(), Arc::clone(&held));
            tasks.spawn(async move {
                handle(store, executor, config, acks, held, stream, entry).await;
                drop(permit);
            });
        }
        if last_trim.elapsed() >= Duration::from_secs(5) {
            for stream in &streams {
                if let Err(e) = store.trim(stream).await {
                    tracing::warn!(error = %e, "trimming the work queue failed");
                }
            }
            last_trim = Instant::now();
        }
    }
    tracing::info!(
        in_flight = tasks.len(),
        "stopping: finishing the runs this worker holds"
    );
    while tasks.join_next().await.is_some() {}
    beating.abort();
    drop(acks);
    let _ = acker.await;
    tracing::info!("worker stopped");
    Ok(())
}

/// How often a worker looks for partitions named by processes with another N.
const STREAMS_EVERY: Duration = Duration::from_secs(5);

/// Reads up to `count` new entries from the partitions, going round them from `next`:
/// with one partition, a read that waits up to 500 ms for one; with several, a read that
/// does not wait of each in turn until one has entries (each read takes no more than
/// there is room for), then, when none had any, one that waits up to 100 ms on the next
/// (on `conn`, a connection of its own: a waiting read would stall the shared one).
async fn read_round(
    store: &RedisRuns,
    conn: &mut RedisConn,
    streams: &[String],
    next: &mut usize,
    worker: &str,
    count: usize,
) -> Result<Vec<(String, StreamId)>> {
    let tag = |stream: &String, read: Vec<StreamId>| {
        read.into_iter()
            .map(|e| (stream.clone(), e))
            .collect::<Vec<_>>()
    };
    if let [only] = streams {
        let read = store
            .read_new(conn, only, worker, count, Some(Duration::from_millis(500)))
            .await?;
        return Ok(tag(only, read));
    }
    for _ in 0..streams.len() {
        let stream = &streams[*next % streams.len()];
        *next = (*next + 1) % streams.len();
        let read = store.read_new(conn, stream, worker, count, None).await?;
        if !read.is_empty() {
            return Ok(tag(stream, read));
        }
    }
    let stream = &streams[*next % streams.len()];
    *next = (*next + 1) % streams.len();
    let read = store
        .read_new(
            conn,
            stream,
            worker,
            count,
            Some(Duration::from_millis(100)),
        )
        .await?;
    Ok(tag(stream, read))
}

/// A consumer name for this process: host name and process id.
pub fn default_worker_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "host".to_owned());
    format!("{host}-{}", std::process::id())
}
