//! The run store over Redis ([`RedisRuns`]): run records, indexes, idempotency keys and
//! event streams as Redis keys changed by Lua scripts (`lua/`), so each step of a run's
//! life is one atomic round trip; the work queue's stream operations are in
//! [`super::queue`]. It stores only what [`super::RunStore`] is handed (already redacted);
//! it never runs anything.
//!
//! Key layout (every run key carries its org in a hash tag, like the secret store):
//! - `hush:{org}:run:<id>`: a hash — `status`, `attempts`, `record` (the [`Run`] as JSON),
//!   `request` (the pending [`Pending`] request, removed when the run ends); expires after
//!   the retention period;
//! - `hush:{org}:run:<id>:events`: the run's event stream, capped, same expiry;
//! - `hush:{org}:runs` and `hush:{org}:wf:<workflow run>`: run ids in lexical order (run
//!   ids start with their creation time), trimmed to the retention period;
//! - `hush:{org}:idem:<key>`: idempotency key → run id, same expiry;
//! - `hush:queue:{p<n>}`: the work stream's partitions, each in its own slot, read by the
//!   consumer group `workers` ([`super::queue`]).

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::{AsyncCommands, Script};

use super::{
    Created, Event, EventFeed, MAX_EVENTS, MAX_PAGE, Page, Pending, Run, RunHead, RunJson,
    RunStore, Start, time_prefix,
};
use crate::error::{Error, Result};
use crate::executor::RunStatus;
use crate::model::{OrgId, RunId, Timestamp, UserId, now};
use crate::store::redis::{Connection, RedisConn};
use crate::store::{FinalRecords, OrgVersion};

/// The run history and the queue, over one Redis server.
#[derive(Clone)]
pub struct RedisRuns {
    pub(super) redis: Connection,
    retention: Duration,
    /// How many partitions the work queue is written to ([`super::queue`]).
    pub(super) partitions: usize,
    /// Set once this process named its partitions in the set of partitions.
    pub(super) registered: std::sync::Arc<tokio::sync::OnceCell<()>>,
    /// Where ended runs are kept, read once, in a process that keeps its store's cache
    /// coherent ([`RedisRuns::with_final_records`]).
    finals: Option<FinalRecords>,
}

// The scripts each step of a run's life is (shared: a store is cloned per run).
static CREATE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/create.lua")));
static START: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/start.lua")));
static FINISH: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/finish.lua")));
static LOG: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/log.lua")));

/// The most partitions `HUSH_QUEUE_PARTITIONS` may ask for.
pub const MAX_PARTITIONS: usize = 1024;

/// The number of partitions: `HUSH_QUEUE_PARTITIONS`, or by default 1 on one Redis
/// server and twice the masters on a cluster.
///
/// # Errors
/// [`Invalid`](crate::error::ErrorKind::Invalid) for a setting that is not a number from 1
/// to [`MAX_PARTITIONS`].
pub(crate) fn partitions_setting(cluster: bool, masters: usize) -> Result<usize> {
    match std::env::var("HUSH_QUEUE_PARTITIONS") {
        Ok(text) if !text.trim().is_empty() => match text.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_PARTITIONS).contains(&n) => Ok(n),
            _ => Err(Error::invalid(
                "HUSH_QUEUE_PARTITIONS",
                format!("must be a number from 1 to {MAX_PARTITIONS}"),
            )),
        },
        _ if cluster => Ok(2 * masters.max(1)),
        _ => Ok(1),
    }
}

/// How much sooner than Redis an ended run's cached copy expires.
const FINAL_MARGIN: Duration = Duration::from_millis(100);

fn key(org: &OrgId, suffix: &str) -> String {
    format!("hush:{{{org}}}:{suffix}")
}

/// The error for run `id`'s stored JSON that does not parse.
fn unreadable(id: &impl std::fmt::Display) -> impl Fn(serde_json::Error) -> Error + Copy + '_ {
    move |e| Error::internal(format!("stored run {id} is unreadable: {e}"))
}

impl RedisRuns {
    /// The store on the Redis server at `url`, keeping runs for `retention`.
    ///
    /// # Errors
    /// When Redis cannot be reached.
    pub async fn connect(url: &str, retention: Duration) -> Result<Self> {
        let redis = Connection::open(url).await?;
        let partitions = partitions_setting(redis.is_cluster(), redis.masters)?;
        Ok(RedisRuns {
            redis,
            retention,
            partitions,
            registered: std::sync::Arc::default(),
            finals: None,
        })
    }

    /// Answers [`RunStore::get`] of a run that has ended from `finals` (a coherent
    /// store's cache: see [`crate::store::Backend::final_records`]) with no round trip,
    /// once read. An ended run never changes; it is read again only once it has expired
    /// or its org's cache was dropped (the org removed, or the lease lost).
    pub fn with_final_records(mut self, finals: Option<FinalRecords>) -> Self {
        self.finals = finals;
        self
    }

    pub(super) fn fail(&self, e: &redis::RedisError) -> Error {
        crate::metrics::redis_error();
        self.redis.fail(e)
    }
    fn retention_secs(&self) -> u64 {
        self.retention.as_secs().max(1)
    }
    /// Events of run `id` after stream id `from` (`0` for all), waiting up to `block` for
    /// the first one. Returns the events with their stream ids.
    ///
    /// # Errors
    /// When Redis fails.
    async fn events(
        &self,
        conn: &mut RedisConn,
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

    /// A dedicated connection for blocking reads ([`RunStore::watch`], the worker's
    /// queue reads), whose response timeout outlasts the longest block (5 s).
    ///
    /// # Errors
    /// When Redis cannot be reached.
    pub async fn blocking_connection(&self) -> Result<RedisConn> {
        self.redis.dedicated().await
    }
}

#[async_trait]
impl RunStore for RedisRuns {
    fn describe(&self) -> String {
        format!("Redis at {}", self.redis.display)
    }

    /// Stores a new run: `queued` with its pending request (for a worker), or `running`
    /// (run here, by the caller, as attempt 1). With an idempotency key already used in
    /// the org, stores nothing and names the run that key created.
    ///
    /// # Errors
    /// When Redis fails.
    async fn create(
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
        let mut invocation = CREATE.prepare_invoke();
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
            .key(key(org, "ver"))
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
        let (existing, version): (String, Vec<u8>) = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.fail(&e))?;
        if existing.is_empty() {
            // A dispatch is acknowledged only once a replica has the run: a failover of
            // the org's master keeps it (its queue entry waits likewise, in enqueue).
            self.redis
                .wait_for_replica(&mut conn, &key(org, "ver"))
                .await?;
        }
        if existing.is_empty() {
            Ok(Created::New(
                (!version.is_empty()).then_some(OrgVersion(version)),
            ))
        } else {
            Ok(Created::Existing(RunId::parse(&existing)?))
        }
    }
    /// Starts a delivery of run `id` by queue entry `entry`: counts the attempt and marks
    /// it `running`, unless it ended already, was started more than `max_attempts` times,
    /// is driven by another entry, or is gone. The first entry to start a run is the only
    /// one that ever may (so a run queued twice runs once).
    ///
    /// # Errors
    /// When Redis fails or the stored run is unreadable.
    async fn start(
        &self,
        org: &OrgId,
        id: &RunId,
        worker: &str,
        entry: &str,
        max_attempts: u32,
    ) -> Result<Start> {
        let mut conn = self.redis.conn.clone();
        let started = now();
        let reply: Vec<Vec<u8>> = START
            .key(key(org, &format!("run:{id}")))
            .key(key(org, &format!("run:{id}:events")))
            .key(key(org, "ver"))
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
        let unreadable = unreadable(id);
        let text = |i: usize| std::str::from_utf8(&reply[i]).unwrap_or_default();
        let number = |i: usize| text(i).parse::<u32>().ok();
        match reply.first().map(Vec::as_slice) {
            Some(b"run") if reply.len() == 5 => {
                let attempt = number(1).unwrap_or(1);
                let mut run: Run = serde_json::from_slice(&reply[2]).map_err(unreadable)?;
                run.status = RunStatus::Running;
                run.attempts = attempt;
                run.started_at = Some(started);
                let pending = serde_json::from_slice(&reply[3]).map_err(unreadable)?;
                let version = &reply[4];
                Ok(Start::Run {
                    attempt,
                    run: Box::new(run),
                    pending,
                    seen: (!version.is_empty()).then(|| OrgVersion(version.clone())),
                })
            }
            Some(b"final") => Ok(Start::Final),
            Some(b"duplicate") => Ok(Start::Duplicate),
            Some(b"exhausted") if reply.len() == 3 => {
                let attempts = number(1).unwrap_or(max_attempts);
                let run: Run = serde_json::from_slice(&reply[2]).map_err(unreadable)?;
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
    async fn finish(&self, run: &Run, attempt: u32, unstreamed: &[String]) -> Result<bool> {
        let org = &run.org;
        let mut conn = self.redis.conn.clone();
        let status = match run.status {
            RunStatus::Succeeded => "succeeded",
            _ => "failed",
        };
        let mut invocation = FINISH.prepare_invoke();
        invocation
            .key(key(org, &format!("run:{}", run.id)))
            .key(key(org, &format!("run:{}:events", run.id)))
            .arg(attempt)
            .arg(status)
            .arg(serde_json::to_string(run).expect("a run serializes"))
            .arg(self.retention_secs())
            .arg(MAX_EVENTS)
            .arg(serde_json::to_string(&Event::Status { status: run.status }).expect("json"));
        for line in unstreamed {
            invocation
                .arg(serde_json::to_string(&Event::Log { line: line.clone() }).expect("json"));
        }
        let stored: i64 = invocation
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
    async fn log(&self, org: &OrgId, id: &RunId, lines: &[String]) -> Result<()> {
        let mut invocation = LOG.prepare_invoke();
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
    async fn get(&self, org: &OrgId, id: &RunId) -> Result<Option<Run>> {
        let unreadable = unreadable(id);
        if let Some(bytes) = self.finals.as_ref().and_then(|f| f.get(org, id.as_str())) {
            return serde_json::from_slice(&bytes).map(Some).map_err(unreadable);
        }
        let run_key = key(org, &format!("run:{id}"));
        let fields = ["status", "attempts", "record"];
        let mut conn = self.redis.conn.clone();
        // With a cache for ended runs, the record's expiry comes in the same round trip.
        let (ticket, sent) = (
            self.finals.as_ref().map(FinalRecords::ticket),
            Instant::now(),
        );
        let ((status, attempts, record), expires_ms): (
            (Option<String>, Option<u32>, Option<String>),
            i64,
        ) = if self.finals.is_some() {
            redis::pipe()
                .hmget(&run_key, &fields)
                .pttl(&run_key)
                .query_async(&mut conn)
                .await
        } else {
            conn.hmget(&run_key, &fields).await.map(|read| (read, -1))
        }
        .map_err(|e| self.fail(&e))?;
        let (Some(status), Some(record)) = (status, record) else {
            return Ok(None);
        };
        let mut run: Run = serde_json::from_str(&record).map_err(unreadable)?;
        run.status = parse_status(&status);
        run.attempts = attempts.unwrap_or(run.attempts);
        // An ended run is never written again (`finish.lua` refuses to), and its expiry is
        // set as it ends: kept until a margin before Redis drops it.
        if let (Some(finals), Some(ticket), Ok(ms)) =
            (&self.finals, ticket, u64::try_from(expires_ms))
            && run.is_final()
            && ms > FINAL_MARGIN.as_millis() as u64
        {
            let until = sent + Duration::from_millis(ms) - FINAL_MARGIN;
            let bytes = serde_json::to_vec(&run).map_err(unreadable)?;
            finals.put(org, id.as_str(), bytes, until, ticket);
        }
        Ok(Some(run))
    }

    async fn get_json(&self, org: &OrgId, id: &RunId) -> Result<Option<RunJson>> {
        // A kept ended run is answered as kept: only its head is read from it.
        if let Some(json) = self.finals.as_ref().and_then(|f| f.get(org, id.as_str())) {
            let head: RunHead = serde_json::from_slice(&json).map_err(unreadable(id))?;
            return Ok(Some(RunJson { head, json }));
        }
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
    /// [`Invalid`](crate::error::ErrorKind::Invalid) for a bad cursor or limit; when Redis fails.
    async fn list(
        &self,
        org: &OrgId,
        workflow_run_id: Option<&RunId>,
        status: Option<RunStatus>,
        actor: Option<(&UserId, Timestamp)>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page> {
        let cursor = super::page_request(cursor, limit)?;
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
                let mut run: Run = serde_json::from_str(&record).map_err(unreadable(&id))?;
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
    /// Whether Redis answers.
    ///
    /// # Errors
    /// When it does not.
    async fn watch(&self, org: &OrgId, id: &RunId) -> Result<Box<dyn EventFeed>> {
        Ok(Box::new(RedisFeed {
            store: self.clone(),
            conn: self.blocking_connection().await?,
            org: org.clone(),
            id: id.clone(),
        }))
    }

    async fn queue_len(&self) -> Result<usize> {
        self.queued().await
    }

    async fn enqueue(&self, org: &OrgId, id: &RunId) -> Result<()> {
        self.enqueue_many(org, std::slice::from_ref(id)).await
    }

    async fn ping(&self) -> Result<()> {
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

/// A run's events read from its Redis stream over a dedicated connection (blocking reads
/// would stall the shared one).
struct RedisFeed {
    store: RedisRuns,
    conn: RedisConn,
    org: OrgId,
    id: RunId,
}

#[async_trait]
impl EventFeed for RedisFeed {
    async fn next(&mut self, from: &str, block: Duration) -> Result<Vec<(String, Event)>> {
        self.store
            .events(&mut self.conn, &self.org, &self.id, from, block)
            .await
    }
}
