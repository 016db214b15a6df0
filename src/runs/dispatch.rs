//! The life of a run from dispatch on: admit it (the queue's cap), store it (or find the
//! run its idempotency key already made), then queue it for a worker or run it here and
//! store its end. It owns the rules that keep a dispatch whole across a lost Redis; it
//! never decides who may see or replay a run (the API does) and never runs a queued run
//! itself ([`super::worker`] does).

use super::worker::{perform, store_end};
use super::{Created, Pending, Run, Runs};
use crate::actions::Action;
use crate::error::{Error, Result};
use crate::executor::{Executor, RunStatus};
use crate::model::RunId;

/// What a dispatch became.
#[derive(Debug)]
pub enum Dispatched {
    /// A new run, queued: a worker will run it.
    Queued(Run),
    /// A new run, run here to its end (its end stored).
    Ended(Run),
    /// The idempotency key was used before, for this run; nothing was stored or started.
    /// The caller decides whether to answer with it ([`requeue_if_lost`] first).
    Existing(RunId),
}

/// How to dispatch.
#[derive(Clone, Copy, Debug)]
pub struct DispatchOptions<'a> {
    /// Run it here and wait for its end, instead of queueing it.
    pub wait: bool,
    /// The idempotency key, unique per org.
    pub idempotency_key: Option<&'a str>,
    /// Refuse to queue while the work stream holds this many entries or more.
    pub max_queue: usize,
}

/// Dispatches `run` (status `queued`, or `running` as attempt 1 with `wait`) of `action`
/// with `pending`.
///
/// # Errors
/// [`Unavailable`](crate::error::ErrorKind::Unavailable) when the queue is full or Redis
/// fails. A run that was stored but could not be queued is failed (when Redis lets us say
/// so) unless it has an idempotency key, whose retry queues it ([`requeue_if_lost`]).
pub async fn dispatch(
    store: &Runs,
    executor: &Executor,
    run: Run,
    action: Action,
    pending: Pending,
    options: DispatchOptions<'_>,
) -> Result<Dispatched> {
    if !options.wait {
        let waiting = store.queue_len().await?;
        if waiting >= options.max_queue {
            return Err(Error::unavailable(format!(
                "the work queue is full ({waiting} entries waiting); try again later"
            )));
        }
    }
    let seen = match store
        .create(&run, &pending, options.idempotency_key)
        .await?
    {
        Created::Existing(id) => return Ok(Dispatched::Existing(id)),
        Created::New(seen) => seen,
    };
    if options.wait {
        let ended = perform(store, executor, run, action, pending.inputs, seen).await;
        store_end(&**store, &ended.run, 1, &ended.unstreamed).await;
        return Ok(Dispatched::Ended(ended.run));
    }
    if let Err(e) = store.enqueue(&run.org, &run.id).await {
        // With an idempotency key, the caller's retry queues it (`requeue_if_lost`);
        // without one, no retry can reach this run, so it ends here as failed.
        if options.idempotency_key.is_none() {
            let failed = run.fail(
                e.kind(),
                format!("the run could not be queued: {}", e.message()),
            );
            let _ = store.finish(&failed, 0, &[]).await;
        }
        return Err(e);
    }
    Ok(Dispatched::Queued(run))
}

/// Queues `existing` again when a first dispatch stored it and then lost Redis before
/// queueing it (still `queued`, never started). A run queued twice still runs once (see
/// [`super::RunStore::start`]).
///
/// # Errors
/// When Redis fails.
pub async fn requeue_if_lost(store: &Runs, existing: &Run) -> Result<()> {
    if existing.status == RunStatus::Queued && existing.attempts == 0 {
        store.enqueue(&existing.org, &existing.id).await?;
    }
    Ok(())
}
