//! The life of a run: its one type ([`Run`]), where runs are kept ([`RunStore`]: every
//! run's record from `queued` to its end, the per-org and per-workflow-run indexes,
//! idempotency keys, each run's event stream of status changes and log lines, and the
//! work queue), and the stages in order: `dispatch` (admit, store, queue or run here),
//! [`queue`] (the work stream in Redis), [`worker`] (start, run, store the end).
//!
//! Two stores implement [`RunStore`]: [`redis::RedisRuns`] (shared by every `hush serve`
//! and `hush worker` process, queue included) and [`memory::MemoryRuns`] (one process on
//! the embedded store: history in memory, queued runs drained in-process). Both store
//! only what the executor already redacted, plus the pending request (the action spec and
//! inputs, which name secrets by id and never hold a value).

pub(crate) mod dispatch;
pub mod memory;
pub mod queue;
pub mod redis;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::actions::ActionKind;
use crate::error::{Error, ErrorKind, Result};
use crate::executor::{RunError, RunRecord, RunStatus, SecretUse};
use crate::model::{ActionId, OrgId, RunId, Timestamp, UserId, now};
use crate::store::OrgVersion;

/// How long a run's record, events and idempotency key are kept by default: 7 days.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// The largest result kept in a record, in bytes of JSON; a larger one is replaced by a
/// preview and `result_truncated: true`.
pub const MAX_RESULT_BYTES: usize = 256 * 1024;
/// The most log bytes kept in a record; later lines are dropped with a note.
pub const MAX_LOG_BYTES: usize = 256 * 1024;
/// Events kept per run (approximately).
pub(crate) const MAX_EVENTS: usize = 2_000;
/// The longest page of [`RunStore::list`].
pub const MAX_PAGE: usize = 200;

/// A run as stored and shown: who dispatched it, where it stands and, once it ended, the
/// executor's redacted record. Every string in it is already redacted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// The run's id.
    pub id: RunId,
    /// The org.
    pub org: OrgId,
    /// The user it runs for.
    pub actor: UserId,
    /// `send_api_request` or `run_code`.
    pub action_kind: ActionKind,
    /// The saved action it ran, when dispatched by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_id: Option<ActionId>,
    /// Where it stands.
    pub status: RunStatus,
    /// The orchestrator's workflow run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_run_id: Option<RunId>,
    /// The id of the token that dispatched it (never the token).
    pub dispatched_by: String,
    /// When it was dispatched.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
    /// How many times a worker started it (more than 1 after a worker died).
    #[serde(default)]
    pub attempts: u32,
    /// When the last attempt started.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub started_at: Option<Timestamp>,
    /// When it ended.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub finished_at: Option<Timestamp>,
    /// Wall time of the run in milliseconds.
    #[serde(default)]
    pub duration_ms: Option<u64>,
    /// The result (see [`RunRecord::result`]).
    #[serde(default)]
    pub result: Option<Value>,
    /// Whether the result was over [`MAX_RESULT_BYTES`] and replaced by a preview.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub result_truncated: bool,
    /// Log lines, capped at [`MAX_LOG_BYTES`].
    #[serde(default)]
    pub logs: Vec<String>,
    /// Why it failed.
    #[serde(default)]
    pub error: Option<RunError>,
    /// The secrets it used, by id and name.
    #[serde(default)]
    pub secrets_used: Vec<SecretUse>,
    /// The action as written, secrets named by name (shared with the echo cache).
    #[serde(default)]
    pub request: Option<Arc<Value>>,
}

/// A run as `GET /v1/runs/{id}` answers it: the JSON of a [`Run`], and the fields that
/// decide who may see it. An ended run kept by the store is answered as kept, not parsed
/// and written again.
pub struct RunJson {
    /// Its org, actor and creation time.
    pub head: RunHead,
    /// The run as `serde_json` writes a [`Run`].
    pub json: Vec<u8>,
}

/// What decides who may see a run: its org, the user it ran for, and when it was made.
#[derive(Deserialize)]
pub struct RunHead {
    /// The org.
    pub org: OrgId,
    /// The user it runs for.
    pub actor: UserId,
    /// When it was dispatched.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
}

impl RunJson {
    /// `run`, written out.
    ///
    /// # Errors
    /// When the run does not serialize (it always does).
    pub fn of(run: &Run) -> Result<RunJson> {
        Ok(RunJson {
            head: RunHead {
                org: run.org.clone(),
                actor: run.actor.clone(),
                created_at: run.created_at,
            },
            json: serde_json::to_vec(run)
                .map_err(|e| Error::internal(format!("a run did not serialize: {e}")))?,
        })
    }
}

impl Run {
    /// A new queued run (a fresh id, created now) of an action of `action_kind`, for
    /// `actor`, dispatched by the token `dispatched_by`; nothing else set yet.
    pub fn queued(
        org: OrgId,
        actor: UserId,
        action_kind: ActionKind,
        dispatched_by: String,
    ) -> Run {
        Run {
            id: new_run_id(),
            org,
            actor,
            action_kind,
            action_id: None,
            status: RunStatus::Queued,
            workflow_run_id: None,
            dispatched_by,
            created_at: now(),
            attempts: 0,
            started_at: None,
            finished_at: None,
            duration_ms: None,
            result: None,
            result_truncated: false,
            logs: Vec::new(),
            error: None,
            secrets_used: Vec::new(),
            request: None,
        }
    }

    /// Whether the run has ended.
    pub fn is_final(&self) -> bool {
        matches!(self.status, RunStatus::Succeeded | RunStatus::Failed)
    }

    /// This run, ended as `record` says, with its result and logs capped.
    pub fn finish(mut self, record: RunRecord) -> Run {
        self.status = record.status;
        self.started_at = Some(record.started_at);
        self.finished_at = Some(record.finished_at);
        self.duration_ms = Some(record.duration_ms);
        (self.result, self.result_truncated) = cap_result(record.result);
        self.logs = cap_logs(record.logs);
        self.error = record.error;
        self.secrets_used = record.secrets_used;
        self.request = Some(record.request);
        self
    }

    /// This run, failed without running (e.g. dead-lettered) with `code` and `message`.
    pub fn fail(mut self, code: ErrorKind, message: String) -> Run {
        let at = now();
        self.status = RunStatus::Failed;
        self.finished_at = Some(at);
        self.logs.push(format!("failed: {message}"));
        self.error = Some(RunError {
            code,
            message,
            limit: None,
        });
        self
    }
}

fn cap_result(result: Option<Value>) -> (Option<Value>, bool) {
    let Some(value) = result else {
        return (None, false);
    };
    let text = value.to_string();
    if text.len() <= MAX_RESULT_BYTES {
        return (Some(value), false);
    }
    let mut end = 4096;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let preview = format!(
        "{}… ({} bytes; results over {MAX_RESULT_BYTES} bytes are not kept)",
        &text[..end],
        text.len()
    );
    (Some(Value::String(preview)), true)
}

fn cap_logs(logs: Vec<String>) -> Vec<String> {
    let mut kept = Vec::new();
    let mut bytes = 0;
    let total = logs.len();
    for line in logs {
        if bytes + line.len() > MAX_LOG_BYTES {
            kept.push(format!(
                "… {} more log line(s) not kept (run logs are capped at {MAX_LOG_BYTES} bytes)",
                total - kept.len()
            ));
            break;
        }
        bytes += line.len();
        kept.push(line);
    }
    kept
}

/// What a queued run will execute: the action spec and inputs as dispatched. Secrets are
/// named by id; no value is ever part of it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pending {
    /// The action spec (JSON).
    pub action: Value,
    /// The run's inputs.
    pub inputs: Value,
}

/// One event of a run's stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The run's status changed.
    Status {
        /// The new status.
        status: RunStatus,
    },
    /// A log line, already redacted.
    Log {
        /// The line.
        line: String,
    },
}

/// What [`RunStore::create`] did.
#[derive(Debug)]
pub enum Created {
    /// A new run was stored; the org's data version as it stood then, when the store
    /// knows it (see [`crate::store::Backend::read_seen`]).
    New(Option<OrgVersion>),
    /// The idempotency key was used before: this is the run it created.
    Existing(RunId),
}

/// What [`RunStore::start`] found.
#[derive(Debug)]
pub enum Start {
    /// Run it: this is attempt `attempt`.
    Run {
        /// The attempt number, to hand back to [`RunStore::finish`].
        attempt: u32,
        /// The run as stored.
        run: Box<Run>,
        /// What to execute.
        pending: Pending,
        /// The org's data version when it started, when the store knows it.
        seen: Option<OrgVersion>,
    },
    /// It has ended already (a worker died after finishing, before acknowledging).
    Final,
    /// Started more than the allowed number of times: give up on it.
    Exhausted(Box<Run>, u32),
    /// Another queue entry drives this run (it was queued twice); this one is dropped.
    Duplicate,
    /// Its record is gone (expired, or its org removed).
    Gone,
}

/// A page of runs, newest first. Answered as `{"items", "next_cursor"}`, the envelope of
/// every paged list of the API (secrets and saved actions too).
#[derive(Clone, Debug, Serialize)]
pub struct Page {
    /// The runs.
    #[serde(rename = "items")]
    pub runs: Vec<Run>,
    /// Pass as `cursor` for the next page; `None` at the end.
    pub next_cursor: Option<String>,
}

/// Where runs are kept, and how queued runs reach a worker. Each method is one atomic step
/// of a run's life; the steps' rules (an idempotency key makes one run, a run queued twice
/// starts once, an end is stored once and only by the latest attempt) are the store's.
#[async_trait]
pub trait RunStore: Send + Sync + 'static {
    /// Where the runs live, for messages (never includes a password).
    fn describe(&self) -> String;

    /// Stores a new run: `queued` with its pending request (for a worker), or `running`
    /// (run here, by the caller, as attempt 1). With an idempotency key already used in
    /// the org, stores nothing and names the run that key created.
    ///
    /// # Errors
    /// When the store fails.
    async fn create(
        &self,
        run: &Run,
        pending: &Pending,
        idempotency_key: Option<&str>,
    ) -> Result<Created>;

    /// Starts a delivery of run `id` by queue entry `entry`: counts the attempt and marks
    /// it `running`, unless it ended already, was started `max_attempts` times, is driven
    /// by another entry, or is gone. The first entry to start a run is the only one that
    /// ever may (so a run queued twice runs once).
    ///
    /// # Errors
    /// When the store fails or the stored run is unreadable.
    async fn start(
        &self,
        org: &OrgId,
        id: &RunId,
        worker: &str,
        entry: &str,
        max_attempts: u32,
    ) -> Result<Start>;

    /// Stores the ended `run` if `attempt` is still the run's latest attempt and it has
    /// not ended, its `unstreamed` last log lines added to its events before its final
    /// status (one round trip for both); returns whether it was stored.
    ///
    /// # Errors
    /// When the store fails.
    async fn finish(&self, run: &Run, attempt: u32, unstreamed: &[String]) -> Result<bool>;

    /// Appends redacted log lines to run `id`'s events while the run exists.
    ///
    /// # Errors
    /// When the store fails.
    async fn log(&self, org: &OrgId, id: &RunId, lines: &[String]) -> Result<()>;

    /// The run `id` of `org`, or `None` (also for another org's run, or an expired one).
    ///
    /// # Errors
    /// When the store fails or the stored run is unreadable.
    async fn get(&self, org: &OrgId, id: &RunId) -> Result<Option<Run>>;

    /// [`RunStore::get`], written out as the API answers it.
    ///
    /// # Errors
    /// When the store fails or the stored run is unreadable.
    async fn get_json(&self, org: &OrgId, id: &RunId) -> Result<Option<RunJson>> {
        self.get(org, id)
            .await?
            .as_ref()
            .map(RunJson::of)
            .transpose()
    }

    /// A page of `org`'s runs (or one workflow run's), newest first, optionally only those
    /// with `status` and only those of `actor` created since a time (when that user was
    /// added), after `cursor` (a run id from a previous page).
    ///
    /// # Errors
    /// [`Invalid`](ErrorKind::Invalid) for a bad cursor or limit; when the store fails.
    async fn list(
        &self,
        org: &OrgId,
        workflow_run_id: Option<&RunId>,
        status: Option<RunStatus>,
        actor: Option<(&UserId, Timestamp)>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page>;

    /// A reader of run `id`'s events (for server-sent events).
    ///
    /// # Errors
    /// When the store cannot be reached.
    async fn watch(&self, org: &OrgId, id: &RunId) -> Result<Box<dyn EventFeed>>;

    /// Queued runs not yet taken by a worker (what dispatch's cap counts).
    ///
    /// # Errors
    /// When the store fails.
    async fn queue_len(&self) -> Result<usize>;

    /// Queues run `id` of `org` for a worker.
    ///
    /// # Errors
    /// When the store fails.
    async fn enqueue(&self, org: &OrgId, id: &RunId) -> Result<()>;

    /// Whether the store answers.
    ///
    /// # Errors
    /// When it does not.
    async fn ping(&self) -> Result<()>;
}

/// A shared run store.
pub type Runs = std::sync::Arc<dyn RunStore>;

/// Reads one run's events in order.
#[async_trait]
pub trait EventFeed: Send {
    /// The events after event id `from` (`0` for all), waiting up to `block` for the
    /// first one; each with its event id (pass the last as the next `from`).
    ///
    /// # Errors
    /// When the store fails.
    async fn next(&mut self, from: &str, block: Duration) -> Result<Vec<(String, Event)>>;
}

/// Checks a page request: the limit, and the cursor (a run id from a previous page).
fn page_request(cursor: Option<&str>, limit: usize) -> Result<Option<RunId>> {
    if limit == 0 || limit > MAX_PAGE {
        return Err(Error::invalid(
            "limit",
            format!("it must be between 1 and {MAX_PAGE}"),
        ));
    }
    cursor
        .map(|c| {
            RunId::parse(c)
                .ok()
                .filter(|id| id.as_str().starts_with("run_"))
                .ok_or_else(|| Error::invalid("cursor", "it is not a cursor from a previous page"))
        })
        .transpose()
}

/// A fresh run id that sorts by creation time: `run_`, the creation time in milliseconds
/// (9 characters of an order-keeping base32) and 16 random characters.
pub fn new_run_id() -> RunId {
    new_run_id_at(now())
}

const ORDERED: &[u8; 32] = b"234567abcdefghijklmnopqrstuvwxyz";

fn time_prefix(at: Timestamp) -> String {
    let ms = u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    (0..9)
        .rev()
        .map(|i| ORDERED[((ms >> (5 * i)) & 31) as usize] as char)
        .collect()
}

fn new_run_id_at(at: Timestamp) -> RunId {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    let tail: String = bytes
        .iter()
        .map(|b| ORDERED[(*b & 31) as usize] as char)
        .collect();
    RunId::parse(&format!("run_{}{tail}", time_prefix(at))).expect("a valid run id")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_sort_by_creation_time() {
        let early = new_run_id_at(time::macros::datetime!(2026-01-01 00:00:00.001 UTC));
        let later = new_run_id_at(time::macros::datetime!(2026-01-01 00:00:00.002 UTC));
        let much_later = new_run_id_at(time::macros::datetime!(2099-12-31 00:00:00 UTC));
        assert!(early.as_str() < later.as_str());
        assert!(later.as_str() < much_later.as_str());
        assert_eq!(early.as_str().len(), 4 + 9 + 16);
    }

    #[test]
    fn results_and_logs_are_capped() {
        let big = Value::String("x".repeat(MAX_RESULT_BYTES + 10));
        let (kept, truncated) = cap_result(Some(big));
        assert!(truncated);
        assert!(kept.unwrap().as_str().unwrap().len() < 5000);
        let (kept, truncated) = cap_result(Some(serde_json::json!({"ok": 1})));
        assert!(!truncated);
        assert_eq!(kept, Some(serde_json::json!({"ok": 1})));

        let lines = vec!["y".repeat(1024); 300];
        let kept = cap_logs(lines);
        assert_eq!(kept.len(), MAX_LOG_BYTES / 1024 + 1);
        assert!(kept.last().unwrap().contains("more log line(s) not kept"));
    }
}
