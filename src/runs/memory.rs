//! The run store of one process on the embedded backend ([`MemoryRuns`]): run records,
//! indexes, idempotency keys and event streams in memory, and the queue as an in-process
//! channel drained by [`MemoryRuns::drain`]. It keeps the rules of [`super::RunStore`]
//! exactly as the Redis store does (one run per idempotency key, a run queued twice starts
//! once, an end stored once by the latest attempt), under one lock, so each step is atomic.
//!
//! What it does not do, by design: outlive the process (history and queued runs go with
//! it) or serve a second process (the embedded backend is one process's). It stores only
//! what it is handed, already redacted; it never writes a file.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Mutex, Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use super::worker::{run_started, store_end};
use super::{
    Created, Event, EventFeed, MAX_EVENTS, Page, Pending, Run, RunStore, Runs, Start, page_request,
    time_prefix,
};
use crate::error::{ErrorKind, Result};
use crate::executor::{Executor, RunStatus};
use crate::model::{OrgId, RunId, Timestamp, UserId, now};

/// One stored run.
struct Stored {
    run: Run,
    pending: Option<Pending>,
    /// The queue entry that started it (the first one to).
    entry: Option<String>,
    events: Vec<(u64, Event)>,
    next_event: u64,
}

impl Stored {
    fn push(&mut self, event: Event) {
        self.next_event += 1;
        self.events.push((self.next_event, event));
        if self.events.len() > MAX_EVENTS {
            let extra = self.events.len() - MAX_EVENTS;
            self.events.drain(..extra);
        }
    }
}

#[derive(Default)]
struct State {
    /// Per org, run id → run; run ids sort by creation time.
    runs: HashMap<OrgId, BTreeMap<String, Stored>>,
    /// (org, idempotency key) → the run it created and when.
    idempotency: HashMap<(OrgId, String), (RunId, Timestamp)>,
}

/// Runs kept in this process's memory, with an in-process queue.
pub struct MemoryRuns {
    state: Arc<Mutex<State>>,
    retention: Duration,
    /// Bumped on every new event, to wake [`EventFeed`]s.
    changed: watch::Sender<u64>,
    queue: mpsc::UnboundedSender<(OrgId, RunId)>,
    taken: std::sync::Mutex<Option<mpsc::UnboundedReceiver<(OrgId, RunId)>>>,
    waiting: std::sync::atomic::AtomicUsize,
}

impl MemoryRuns {
    /// An empty store keeping runs for `retention`.
    pub fn new(retention: Duration) -> Self {
        let (queue, rx) = mpsc::unbounded_channel();
        MemoryRuns {
            state: Arc::new(Mutex::new(State::default())),
            retention,
            changed: watch::channel(0).0,
            queue,
            taken: std::sync::Mutex::new(Some(rx)),
            waiting: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn notify(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Drops runs and idempotency keys older than the retention period.
    fn expire(&self, state: &mut State) {
        let secs = i64::try_from(self.retention.as_secs().max(1)).unwrap_or(i64::MAX);
        let oldest = now() - time::Duration::seconds(secs);
        let cutoff = format!("run_{}", time_prefix(oldest));
        for runs in state.runs.values_mut() {
            let keep = runs.split_off(&cutoff);
            *runs = keep;
        }
        state.idempotency.retain(|_, (_, at)| *at >= oldest);
    }

    /// Runs the queued runs of `store` on `executor`, `concurrency` at a time, until `stop`
    /// is set; then finishes the runs it holds. A run is started once (attempt 1): there
    /// is no other worker to hand it to.
    ///
    /// # Panics
    /// When called twice on one store (it has one queue).
    pub async fn drain(
        store: Arc<MemoryRuns>,
        executor: Executor,
        concurrency: usize,
        stop: Arc<AtomicBool>,
    ) {
        let mut rx = store
            .taken
            .lock()
            .expect("the queue lock is never poisoned")
            .take()
            .expect("one drain per memory run store");
        let slots = Arc::new(Semaphore::new(concurrency.max(1)));
        let shared: Runs = store.clone();
        let mut tasks = JoinSet::new();
        while !stop.load(Ordering::Relaxed) {
            while tasks.try_join_next().is_some() {}
            let next = tokio::select! {
                next = rx.recv() => next,
                () = tokio::time::sleep(Duration::from_millis(200)) => continue,
            };
            let Some((org, id)) = next else { break };
            store.waiting.fetch_sub(1, Ordering::Relaxed);
            let permit = Arc::clone(&slots)
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let (shared, executor) = (Arc::clone(&shared), executor.clone());
            tasks.spawn(async move {
                run_one(&shared, &executor, &org, &id).await;
                drop(permit);
            });
        }
        while tasks.join_next().await.is_some() {}
    }
}

/// Starts, runs and ends one queued run.
async fn run_one(store: &Runs, executor: &Executor, org: &OrgId, id: &RunId) {
    let started = store.start(org, id, "in-process", id.as_str(), 1).await;
    let Ok(Start::Run {
        attempt,
        run,
        pending,
        seen,
    }) = started
    else {
        return;
    };
    let ended = run_started(store, executor, *run, pending, seen).await;
    let (run, unstreamed) = if ended.store_unavailable {
        let failed = ended.run.fail(
            ErrorKind::Unavailable,
            "the secret store was unavailable before the run could start".to_owned(),
        );
        (failed, ended.unstreamed)
    } else {
        (ended.run, ended.unstreamed)
    };
    store_end(&**store, &run, attempt, &unstreamed).await;
}

#[async_trait]
impl RunStore for MemoryRuns {
    fn describe(&self) -> String {
        "this process's memory".to_owned()
    }

    async fn create(
        &self,
        run: &Run,
        pending: &Pending,
        idempotency_key: Option<&str>,
    ) -> Result<Created> {
        let mut state = self.state.lock().await;
        self.expire(&mut state);
        if let Some(key) = idempotency_key {
            let slot = (run.org.clone(), key.to_owned());
            if let Some((existing, _)) = state.idempotency.get(&slot) {
                return Ok(Created::Existing(existing.clone()));
            }
            state.idempotency.insert(slot, (run.id.clone(), now()));
        }
        let mut stored = Stored {
            run: run.clone(),
            pending: Some(pending.clone()),
            entry: None,
            events: Vec::new(),
            next_event: 0,
        };
        stored.run.attempts = u32::from(run.status == RunStatus::Running);
        stored.push(Event::Status { status: run.status });
        state
            .runs
            .entry(run.org.clone())
            .or_default()
            .insert(run.id.as_str().to_owned(), stored);
        drop(state);
        self.notify();
        Ok(Created::New(None))
    }

    async fn start(
        &self,
        org: &OrgId,
        id: &RunId,
        _worker: &str,
        entry: &str,
        max_attempts: u32,
    ) -> Result<Start> {
        let mut state = self.state.lock().await;
        let Some(stored) = state
            .runs
            .get_mut(org)
            .and_then(|runs| runs.get_mut(id.as_str()))
        else {
            return Ok(Start::Gone);
        };
        if stored.run.is_final() {
            return Ok(Start::Final);
        }
        match &stored.entry {
            Some(first) if first != entry => return Ok(Start::Duplicate),
            Some(_) => {}
            None => stored.entry = Some(entry.to_owned()),
        }
        if stored.run.attempts >= max_attempts {
            return Ok(Start::Exhausted(
                Box::new(stored.run.clone()),
                stored.run.attempts,
            ));
        }
        let Some(pending) = stored.pending.clone() else {
            return Ok(Start::Gone);
        };
        stored.run.attempts += 1;
        stored.run.status = RunStatus::Running;
        stored.run.started_at = Some(now());
        stored.push(Event::Status {
            status: RunStatus::Running,
        });
        let run = stored.run.clone();
        drop(state);
        self.notify();
        Ok(Start::Run {
            attempt: run.attempts,
            run: Box::new(run),
            pending,
            seen: None,
        })
    }

    async fn finish(&self, run: &Run, attempt: u32, unstreamed: &[String]) -> Result<bool> {
        let mut state = self.state.lock().await;
        let Some(stored) = state
            .runs
            .get_mut(&run.org)
            .and_then(|runs| runs.get_mut(run.id.as_str()))
        else {
            return Ok(false);
        };
        if stored.run.is_final() || stored.run.attempts != attempt {
            return Ok(false);
        }
        let attempts = stored.run.attempts;
        stored.run = run.clone();
        stored.run.attempts = attempts;
        stored.pending = None;
        for line in unstreamed {
            stored.push(Event::Log { line: line.clone() });
        }
        stored.push(Event::Status { status: run.status });
        drop(state);
        self.notify();
        Ok(true)
    }

    async fn log(&self, org: &OrgId, id: &RunId, lines: &[String]) -> Result<()> {
        let mut state = self.state.lock().await;
        if let Some(stored) = state
            .runs
            .get_mut(org)
            .and_then(|runs| runs.get_mut(id.as_str()))
        {
            for line in lines {
                stored.push(Event::Log { line: line.clone() });
            }
        }
        drop(state);
        self.notify();
        Ok(())
    }

    async fn get(&self, org: &OrgId, id: &RunId) -> Result<Option<Run>> {
        let state = self.state.lock().await;
        Ok(state
            .runs
            .get(org)
            .and_then(|runs| runs.get(id.as_str()))
            .map(|stored| stored.run.clone()))
    }

    async fn list(
        &self,
        org: &OrgId,
        workflow_run_id: Option<&RunId>,
        status: Option<RunStatus>,
        actor: Option<(&UserId, Timestamp)>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page> {
        let cursor = page_request(cursor, limit)?;
        let state = self.state.lock().await;
        let Some(runs) = state.runs.get(org) else {
            return Ok(Page {
                runs: Vec::new(),
                next_cursor: None,
            });
        };
        let before = cursor.as_ref().map(RunId::as_str);
        let mut page = Vec::new();
        let newest_first = runs
            .iter()
            .rev()
            .filter(|(id, _)| before.is_none_or(|c| id.as_str() < c));
        for (id, stored) in newest_first {
            let run = &stored.run;
            if workflow_run_id.is_some_and(|wf| run.workflow_run_id.as_ref() != Some(wf))
                || status.is_some_and(|s| s != run.status)
                || actor.is_some_and(|(a, since)| *a != run.actor || run.created_at < since)
            {
                continue;
            }
            page.push(run.clone());
            if page.len() == limit {
                return Ok(Page {
                    runs: page,
                    next_cursor: Some(id.clone()),
                });
            }
        }
        Ok(Page {
            runs: page,
            next_cursor: None,
        })
    }

    async fn watch(&self, org: &OrgId, id: &RunId) -> Result<Box<dyn EventFeed>> {
        Ok(Box::new(MemoryFeed {
            state: Arc::clone(&self.state),
            changed: self.changed.subscribe(),
            org: org.clone(),
            id: id.clone(),
        }))
    }

    async fn queue_len(&self) -> Result<usize> {
        Ok(self.waiting.load(Ordering::Relaxed))
    }

    async fn enqueue(&self, org: &OrgId, id: &RunId) -> Result<()> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        // The receiver lives as long as the drain; without one, runs wait in the channel.
        let _ = self.queue.send((org.clone(), id.clone()));
        Ok(())
    }

    async fn ping(&self) -> Result<()> {
        Ok(())
    }
}

/// One run's events, read from the store's memory; woken by every new event.
struct MemoryFeed {
    state: Arc<Mutex<State>>,
    changed: watch::Receiver<u64>,
    org: OrgId,
    id: RunId,
}

#[async_trait]
impl EventFeed for MemoryFeed {
    async fn next(&mut self, from: &str, block: Duration) -> Result<Vec<(String, Event)>> {
        let after: u64 = from.parse().unwrap_or(0);
        let deadline = tokio::time::Instant::now() + block;
        loop {
            self.changed.borrow_and_update();
            {
                let state = self.state.lock().await;
                let Some(stored) = state
                    .runs
                    .get(&self.org)
                    .and_then(|runs| runs.get(self.id.as_str()))
                else {
                    return Ok(Vec::new());
                };
                let events: Vec<(String, Event)> = stored
                    .events
                    .iter()
                    .filter(|(n, _)| *n > after)
                    .map(|(n, e)| (n.to_string(), e.clone()))
                    .collect();
                if !events.is_empty() {
                    return Ok(events);
                }
            }
            match tokio::time::timeout_at(deadline, self.changed.changed()).await {
                Ok(Ok(())) => {}
                _ => return Ok(Vec::new()),
            }
        }
    }
}
