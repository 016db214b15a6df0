//! Run history and queued dispatch in Redis: every run's record from `queued` to its end,
//! the per-org and per-workflow-run indexes, idempotency keys, each run's event stream
//! (status changes and log lines, for server-sent events) and the work queue that
//! `hush worker` processes drain ([`queue`]). The life of one run, in order:
//! [`dispatch`] (admit, store, queue or run here), [`queue`] (the work stream),
//! [`worker`] (start, run, store the end).
//!
//! It stores only what the executor already redacted, plus the pending request (the
//! action spec and inputs, which name secrets by id and never hold a value).
//!
//! Key layout (every run key carries its org in a hash tag, like the secret store):
//! - `hush:{org}:run:<id>`: a hash — `status`, `attempts`, `record` (the [`Run`] as JSON),
//!   `request` (the pending [`Pending`] request, removed when the run ends); expires after
//!   the retention period;
//! - `hush:{org}:run:<id>:events`: the run's event stream, capped, same expiry;
//! - `hush:{org}:runs` and `hush:{org}:wf:<workflow run>`: run ids in lexical order (run
//!   ids start with their creation time), trimmed to the retention period;
//! - `hush:{org}:idem:<key>`: idempotency key → run id, same expiry;
//! - `hush:queue`: the work stream, read by the consumer group `workers` ([`queue`]).

pub mod dispatch;
pub mod queue;
pub mod worker;

use std::time::Duration;

use redis::{AsyncCommands, Script};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::actions::ActionKind;
use crate::error::{Error, ErrorKind, Result};
use crate::executor::{RunError, RunRecord, RunStatus, SecretUse};
use crate::model::{ActionId, OrgId, RunId, Timestamp, UserId, now};
use crate::store::redis::Connection;

/// How long a run's record, events and idempotency key are kept by default: 7 days.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// The largest result kept in a record, in bytes of JSON; a larger one is replaced by a
/// preview and `result_truncated: true`.
pub const MAX_RESULT_BYTES: usize = 256 * 1024;
/// The most log bytes kept in a record; later lines are dropped with a note.
pub const MAX_LOG_BYTES: usize = 256 * 1024;
/// Events kept per run (approximately).
const MAX_EVENTS: usize = 2_000;
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
    /// The action as written, secrets named by name.
    #[serde(default)]
    pub request: Option<Value>,
}

impl Run {
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
    /// A new run was stored.
    New,
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

/// The run history and the queue, over one Redis server.
#[derive(Clone)]
pub struct RunStore {
    redis: Connection,
    retention: Duration,
    create: Script,
    start: Script,
    finish: Script,
    log: Script,
}

fn key(org: &OrgId, suffix: &str) -> String {
    format!("hush:{{{org}}}:{suffix}")
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

impl RunStore {
    /// The store on the Redis server at `url`, keeping runs for `retention`.
    ///
    /// # Errors
    /// When Redis cannot be reached.
    pub async fn connect(url: &str, retention: Duration) -> Result<Self> {
        Ok(RunStore {
            redis: Connection::open(url).await?,
            retention,
            create: Script::new(include_str!("lua/create.lua")),
            start: Script::new(include_str!("lua/start.lua")),
            finish: Script::new(include_str!("lua/finish.lua")),
            log: Script::new(include_str!("lua/log.lua")),
        })
    }

    fn fail(&self, e: &redis::RedisError) -> Error {
        crate::metrics::redis_error();
        self.redis.fail(e)
    }

    fn retention_secs(&self) -> u64 {
        self.retention.as_secs().max(1)
    }

    /// Stores a new run: `queued` with its pending request (for a worker), or `running`
    /// (run here, by the caller, as attempt 1). With an idempotency key already used in
    /// the org, stores nothing and names the run that key created.
    ///
    /// # Errors
    /// When Redis fails.
    pub async fn create(
        &self,
        run: &Run,
        pending: &Pending,
        idempotency_key: Option<&str>,
    ) -> Result<Created> {
        let org = &run.org;
        let cutoff = format!(
            "run_{}",
            time_prefix(now() - time::Duration::seconds(self.retention_secs() as i64))
        );
        let status = match run.status {
            RunStatus::Running => "running",
            _ => "queued",
        };
        let mut invocation = self.create.prepare_invoke();
        invocation
            .key(key(org, &format!("run:{}", run.id)))
            .key(key(org, &format!("run:{}:events", run.id)))
            .key(key(org, "runs"))
            // Absent keys are named in the org's slot too, so the script stays on one slot.
            .key(match &run.workflow_run_id {
                Some(wf) => key(org, &format!("wf:{wf}")),
                None => key(org, "wf"),
            })
            .key(match idempotency_key {
                Some(k) => key(org, &format!("idem:{k}")),
                None => key(org, "idem"),
            })
            .arg(run.id.as_str())
            .arg(status)
            .arg(serde_json::to_string(run).expect("a run serializes"))
            .arg(serde_json::to_string(pending).expect("a request serializes"))
            .arg(self.retention_secs())
            .arg(cutoff)
            .arg(MAX_EVENTS)
            .arg(serde_json::to_string(&Event::Status { status: run.status }).expect("json"))
            .arg(if run.workflow_run_id.is_some() {
                "1"
            } else {
                "0"
            })
            .arg(if idempotency_key.is_some() { "1" } else { "0" });
        let mut conn = self.redis.conn.clone();
        let existing: Option<String> = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.fail(&e))?;
        match existing {
            None => Ok(Created::New),
            Some(id) => Ok(Created::Existing(RunId::parse(&id)?)),
        }
    }

    /// Starts a delivery of run `id` by queue entry `entry`: counts the attempt and marks
    /// it `running`, unless it ended already, was started more than `max_attempts` times,
    /// is driven by another entry, or is gone. The first entry to start a run is the only
    /// one that ever may (so a run queued twice runs once).
    ///
    /// # Errors
    /// When Redis fails or the stored run is unreadable.
    pub async fn start(
        &self,
        org: &OrgId,
        id: &RunId,
        worker: &str,
        entry: &str,
        max_attempts: u32,
    ) -> Result<Start> {
        let mut conn = self.redis.conn.clone();
        let started = now();
        let reply: Vec<String> = self
            .start
            .key(key(org, &format!("run:{id}")))
            .key(key(org, &format!("run:{id}:events")))
            .arg(worker)
            .arg(max_attempts)
            .arg(MAX_EVENTS)
            .arg(
                serde_json::to_string(&Event::Status {
                    status: RunStatus::Running,
                })
                .expect("json"),
            )
            .arg(entry)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.fail(&e))?;
        let unreadable =
            |e: serde_json::Error| Error::internal(format!("stored run {id} is unreadable: {e}"));
        match reply.first().map(String::as_str) {
            Some("run") if reply.len() == 4 => {
                let attempt = reply[1].parse().unwrap_or(1);
                let mut run: Run = serde_json::from_str(&reply[2]).map_err(unreadable)?;
                run.status = RunStatus::Running;
                run.attempts = attempt;
                run.started_at = Some(started);
                let pending = serde_json::from_str(&reply[3]).map_err(unreadable)?;
                Ok(Start::Run {
                    attempt,
                    run: Box::new(run),
                    pending,
                })
            }
            Some("final") => Ok(Start::Final),
            Some("duplicate") => Ok(Start::Duplicate),
            Some("exhausted") if reply.len() == 3 => {
                let attempts = reply[1].parse().unwrap_or(max_attempts);
                let run: Run = serde_json::from_str(&reply[2]).map_err(unreadable)?;
                Ok(Start::Exhausted(Box::new(run), attempts))
            }
            _ => Ok(Start::Gone),
        }
    }

    /// Stores the ended `run` if `attempt` is still the run's latest attempt and it has
    /// not ended; returns whether it was stored.
    ///
    /// # Errors
    /// When Redis fails.
    pub async fn finish(&self, run: &Run, attempt: u32) -> Result<bool> {
        let org = &run.org;
        let mut conn = self.redis.conn.clone();
        let status = match run.status {
            RunStatus::Succeeded => "succeeded",
            _ => "failed",
        };
        let stored: i64 = self
            .finish
            .key(key(org, &format!("run:{}", run.id)))
            .key(key(org, &format!("run:{}:events", run.id)))
            .arg(attempt)
            .arg(status)
            .arg(serde_json::to_string(run).expect("a run serializes"))
            .arg(self.retention_secs())
            .arg(MAX_EVENTS)
            .arg(serde_json::to_string(&Event::Status { status: run.status }).expect("json"))
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.fail(&e))?;
        Ok(stored == 1)
    }

    /// Appends redacted log lines to run `id`'s event stream, in one round trip, while
    /// the run exists (a run of a removed org writes nothing back).
    ///
    /// # Errors
    /// When Redis fails.
    pub async fn log(&self, org: &OrgId, id: &RunId, lines: &[String]) -> Result<()> {
        let mut invocation = self.log.prepare_invoke();
        invocation
            .key(key(org, &format!("run:{id}")))
            .key(key(org, &format!("run:{id}:events")))
            .arg(MAX_EVENTS);
        for line in lines {
            invocation
                .arg(serde_json::to_string(&Event::Log { line: line.clone() }).expect("json"));
        }
        let mut conn = self.redis.conn.clone();
        invocation
            .invoke_async::<i64>(&mut conn)
            .await
            .map(|_| ())
            .map_err(|e| self.fail(&e))
    }

    /// The run `id` of `org`, or `None` (also for another org's run, or an expired one).
    ///
    /// # Errors
    /// When Redis fails or the stored run is unreadable.
    pub async fn get(&self, org: &OrgId, id: &RunId) -> Result<Option<Run>> {
        let mut conn = self.redis.conn.clone();
        let (status, attempts, record): (Option<String>, Option<u32>, Option<String>) = conn
            .hmget(
                key(org, &format!("run:{id}")),
                &["status", "attempts", "record"],
            )
            .await
            .map_err(|e| self.fail(&e))?;
        let (Some(status), Some(record)) = (status, record) else {
            return Ok(None);
        };
        let mut run: Run = serde_json::from_str(&record)
            .map_err(|e| Error::internal(format!("stored run {id} is unreadable: {e}")))?;
        run.status = parse_status(&status);
        run.attempts = attempts.unwrap_or(run.attempts);
        Ok(Some(run))
    }

    /// A page of `org`'s runs (or one workflow run's), newest first, optionally only those
    /// with `status` and only those of `actor` created since a time (when that user was
    /// added), after `cursor` (a run id from a previous page).
    ///
    /// # Errors
    /// [`Invalid`](ErrorKind::Invalid) for a bad cursor or limit; when Redis fails.
    pub async fn list(
        &self,
        org: &OrgId,
        workflow_run_id: Option<&RunId>,
        status: Option<RunStatus>,
        actor: Option<(&UserId, Timestamp)>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page> {
        if limit == 0 || limit > MAX_PAGE {
            return Err(Error::invalid(
                "limit",
                format!("it must be between 1 and {MAX_PAGE}"),
            ));
        }
        let cursor = cursor
            .map(|c| {
                RunId::parse(c)
                    .ok()
                    .filter(|id| id.as_str().starts_with("run_"))
                    .ok_or_else(|| {
                        Error::invalid("cursor", "it is not a cursor from a previous page")
                    })
            })
            .transpose()?;
        let index = match workflow_run_id {
            Some(wf) => key(org, &format!("wf:{wf}")),
            None => key(org, "runs"),
        };
        let mut conn = self.redis.conn.clone();
        let mut runs = Vec::new();
        let mut after = cursor.map_or_else(|| "+".to_owned(), |c| format!("({c}"));
        // With a status filter, scan at most this many ids per page; the cursor says
        // where to go on.
        let mut budget = 10 * MAX_PAGE;
        loop {
            let batch = limit.max(50).min(budget);
            let ids: Vec<String> = redis::cmd("ZREVRANGEBYLEX")
                .arg(&index)
                .arg(&after)
                .arg("-")
                .arg("LIMIT")
                .arg(0)
                .arg(batch)
                .query_async(&mut conn)
                .await
                .map_err(|e| self.fail(&e))?;
            budget = budget.saturating_sub(ids.len());
            let exhausted = ids.len() < batch;
            let mut pipe = redis::pipe();
            for id in &ids {
                pipe.cmd("HMGET")
                    .arg(key(org, &format!("run:{id}")))
                    .arg(&["status", "attempts", "record"]);
            }
            let rows: Vec<(Option<String>, Option<u32>, Option<String>)> = if ids.is_empty() {
                Vec::new()
            } else {
                pipe.query_async(&mut conn)
                    .await
                    .map_err(|e| self.fail(&e))?
            };
            for (id, (st, attempts, record)) in ids.iter().zip(rows) {
                after = format!("({id}");
                let (Some(st), Some(record)) = (st, record) else {
                    continue; // expired
                };
                let st = parse_status(&st);
                if status.is_some_and(|s| s != st) {
                    continue;
                }
                let mut run: Run = serde_json::from_str(&record)
                    .map_err(|e| Error::internal(format!("stored run {id} is unreadable: {e}")))?;
                if actor.is_some_and(|(a, since)| *a != run.actor || run.created_at < since) {
                    continue;
                }
                run.status = st;
                run.attempts = attempts.unwrap_or(run.attempts);
                runs.push(run);
                if runs.len() == limit {
                    return Ok(Page {
                        runs,
                        next_cursor: Some(id.clone()),
                    });
                }
            }
            if exhausted {
                return Ok(Page {
                    runs,
                    next_cursor: None,
                });
            }
            if budget == 0 {
                let next = after.trim_start_matches('(').to_owned();
                return Ok(Page {
                    runs,
                    next_cursor: Some(next),
                });
            }
        }
    }

    /// Events of run `id` after stream id `from` (`0` for all), waiting up to `block` for
    /// the first one. Returns the events with their stream ids.
    ///
    /// # Errors
    /// When Redis fails.
    pub async fn events(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
        org: &OrgId,
        id: &RunId,
        from: &str,
        block: Duration,
    ) -> Result<Vec<(String, Event)>> {
        let reply: Option<redis::streams::StreamReadReply> = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(500)
            .arg("BLOCK")
            .arg(u64::try_from(block.as_millis()).unwrap_or(u64::MAX))
            .arg("STREAMS")
            .arg(key(org, &format!("run:{id}:events")))
            .arg(from)
            .query_async(conn)
            .await
            .map_err(|e| self.fail(&e))?;
        let mut events = Vec::new();
        for stream in reply.map(|r| r.keys).unwrap_or_default() {
            for entry in stream.ids {
                let Some(redis::Value::BulkString(bytes)) = entry.map.get("e") else {
                    continue;
                };
                if let Ok(event) = serde_json::from_slice(bytes) {
                    events.push((entry.id.clone(), event));
                }
            }
        }
        Ok(events)
    }

    /// A dedicated connection for blocking reads ([`RunStore::events`], the worker's
    /// queue reads), whose response timeout outlasts the longest block (5 s).
    ///
    /// # Errors
    /// When Redis cannot be reached.
    pub async fn blocking_connection(&self) -> Result<redis::aio::MultiplexedConnection> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(10)));
        self.redis
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| self.fail(&e))
    }

    /// Whether Redis answers.
    ///
    /// # Errors
    /// When it does not.
    pub async fn ping(&self) -> Result<()> {
        let mut conn = self.redis.conn.clone();
        redis::cmd("PING")
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| self.fail(&e))
    }
}

fn parse_status(s: &str) -> RunStatus {
    match s {
        "queued" => RunStatus::Queued,
        "running" => RunStatus::Running,
        "succeeded" => RunStatus::Succeeded,
        _ => RunStatus::Failed,
    }
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
