//! The work queue: Redis Streams read through the consumer group `workers` by any number
//! of worker processes ([`super::worker`]) on any number of machines. The queue is N
//! partitions, `hush:queue:{p0}` … `hush:queue:{p<N-1>}`, each in its own Redis Cluster
//! slot so dispatch and draining spread over a cluster's masters; a run goes to the
//! partition its id hashes to, and every worker reads every partition ever written to
//! (the set `hush:queue:partitions`), so changing N strands no queued run. This file owns
//! the streams' operations (queue, read, claim, touch, acknowledge, trim, dead-letter);
//! it never runs an action.
//!
//! Delivery is at least once, per partition exactly as for one stream. A worker holds each
//! entry it reads until the run's end is stored, then acknowledges it; while a run goes
//! on, its worker re-claims the entry every third of the visibility timeout, so only a
//! worker that died (or lost Redis for longer) leaves it idle. Idle entries are claimed by
//! another worker with `XAUTOCLAIM`. Each start counts an attempt on the run; a run
//! started `max_attempts` times without ending is failed with the reason and copied to
//! `hush:queue:dead` (dead letter). An end is stored only by the run's latest attempt and
//! only once, so a run is never recorded as ended twice. Each partition is trimmed to the
//! entries not yet acknowledged, and dispatch is refused while the queue holds more than
//! its cap.

use std::time::Duration;

use redis::AsyncCommands;
use redis::streams::{StreamAutoClaimReply, StreamId, StreamReadReply};

use super::redis::RedisRuns;
use crate::error::{Error, Result};
use crate::model::{OrgId, RunId};
use crate::store::redis::{LEGACY_WORK_STREAM, QUEUE_PARTITIONS, RedisConn, work_stream};

/// Where dead-lettered entries are copied, for operators.
pub const DEAD: &str = crate::store::redis::DEAD_STREAM;
/// The consumer group every worker reads through.
pub const GROUP: &str = crate::store::redis::WORK_GROUP;
/// The set naming every partition ever written to.
pub const PARTITIONS: &str = QUEUE_PARTITIONS;
/// The default cap on queued entries; dispatch answers "queue full" past it.
pub const DEFAULT_MAX_QUEUE: usize = 100_000;
/// The most partitions `HUSH_QUEUE_PARTITIONS` may ask for.
pub use super::redis::MAX_PARTITIONS;

/// The stream of partition `partition`: `hush:queue:{p<partition>}`.
pub fn stream(partition: usize) -> String {
    work_stream(partition)
}

/// What names one delivery of a run to [`super::RunStore::start`]: the entry's stream and
/// id (ids are unique within a stream only).
pub fn delivery(stream: &str, entry: &str) -> String {
    format!("{stream}/{entry}")
}

/// The partition (of `partitions`) run `id` is queued to: a hash of its id.
pub fn partition_of(id: &RunId, partitions: usize) -> usize {
    // FNV-1a: stable across processes and versions, unlike the std hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in id.as_str().bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    usize::try_from(hash % partitions.max(1) as u64).unwrap_or(0)
}

/// One entry of a work stream: which run of which org, and the stream it is in.
pub(super) struct Entry {
    pub id: String,
    pub stream: String,
    pub org: OrgId,
    pub run: RunId,
}

impl Entry {
    pub(super) fn parse(stream: &str, entry: &StreamId) -> Option<Entry> {
        let org: String = entry.get("org")?;
        let run: String = entry.get("run")?;
        Some(Entry {
            id: entry.id.clone(),
            stream: stream.to_owned(),
            org: OrgId::parse(&org).ok()?,
            run: RunId::parse(&run).ok()?,
        })
    }
}

impl RedisRuns {
    /// How many partitions this store queues runs to.
    pub fn partitions(&self) -> usize {
        self.partitions
    }

    /// This store with `n` partitions (for tests and benchmarks; `HUSH_QUEUE_PARTITIONS`
    /// sets it for processes).
    #[must_use]
    pub fn with_partitions(mut self, n: usize) -> Self {
        self.partitions = n.clamp(1, MAX_PARTITIONS);
        self
    }

    /// Names this store's partitions in the set of partitions (once per process).
    async fn register_partitions(&self) -> Result<()> {
        self.registered
            .get_or_try_init(|| async {
                let names: Vec<String> = (0..self.partitions).map(stream).collect();
                let mut conn = self.redis.conn.clone();
                conn.sadd::<_, _, ()>(PARTITIONS, names)
                    .await
                    .map_err(|e| self.fail(&e))
            })
            .await
            .copied()
    }

    /// Every work stream a worker reads: this store's partitions, every partition named
    /// in the set of partitions (written by processes with another N), and the stream of
    /// hush before partitions while it exists.
    ///
    /// # Errors
    /// When Redis fails.
    pub async fn streams(&self) -> Result<Vec<String>> {
        let mut conn = self.redis.conn.clone();
        let mut all: Vec<String> = conn.smembers(PARTITIONS).await.map_err(|e| self.fail(&e))?;
        for p in 0..self.partitions {
            let name = stream(p);
            if !all.contains(&name) {
                all.push(name);
            }
        }
        all.sort_by_key(|name| {
            let n = name
                .strip_prefix("hush:queue:{p")
                .and_then(|rest| rest.strip_suffix('}'))
                .and_then(|n| n.parse::<usize>().ok());
            (n.is_none(), n, name.clone())
        });
        Ok(all)
    }

    /// Creates the consumer group (and the stream) of every partition if they do not
    /// exist, and names them in the set of partitions; adopts the stream of hush before
    /// partitions when it still holds entries.
    ///
    /// # Errors
    /// When Redis fails.
    pub async fn ensure_group(&self) -> Result<()> {
        self.register_partitions().await?;
        let mut conn = self.redis.conn.clone();
        let legacy: bool = conn
            .exists(LEGACY_WORK_STREAM)
            .await
            .map_err(|e| self.fail(&e))?;
        if legacy {
            conn.sadd::<_, _, ()>(PARTITIONS, LEGACY_WORK_STREAM)
                .await
                .map_err(|e| self.fail(&e))?;
        }
        for name in self.streams().await? {
            let created: redis::RedisResult<()> = redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(&name)
                .arg(GROUP)
                .arg("0")
                .arg("MKSTREAM")
                .query_async(&mut conn)
                .await;
            match created {
                Err(e) if e.code() == Some("BUSYGROUP") => {}
                other => other.map_err(|e| self.fail(&e))?,
            }
        }
        Ok(())
    }

    /// How many entries the queue's partitions hold (delivered or not, until trimmed).
    ///
    /// # Errors
    /// When Redis fails.
    pub async fn queued(&self) -> Result<usize> {
        let lens = (0..self.partitions).map(|p| {
            let mut conn = self.redis.conn.clone();
            async move { conn.xlen::<_, usize>(stream(p)).await }
        });
        let mut total = 0;
        for len in futures_util::future::join_all(lens).await {
            total += len.map_err(|e| self.fail(&e))?;
        }
        Ok(total)
    }

    /// Puts runs `ids` of `org` on the work queue, each on its partition, one round trip
    /// per partition (sent together). On a cluster with replicas, returns only once a
    /// replica of each partition's master has them, so a failover loses none.
    ///
    /// # Errors
    /// When Redis fails.
    pub async fn enqueue_many(&self, org: &OrgId, ids: &[RunId]) -> Result<()> {
        self.register_partitions().await?;
        let mut by_partition: Vec<(usize, redis::Pipeline)> = Vec::new();
        for id in ids {
            let p = partition_of(id, self.partitions);
            let at = match by_partition.iter().position(|(q, _)| *q == p) {
                Some(at) => at,
                None => {
                    by_partition.push((p, redis::pipe()));
                    by_partition.len() - 1
                }
            };
            by_partition[at]
                .1
                .xadd(
                    stream(p),
                    "*",
                    &[("org", org.as_str()), ("run", id.as_str())],
                )
                .ignore();
        }
        let sends = by_partition.into_iter().map(|(p, pipe)| {
            let mut conn = self.redis.conn.clone();
            async move {
                pipe.query_async::<()>(&mut conn)
                    .await
                    .map_err(|e| self.fail(&e))?;
                self.redis.wait_for_replica(&mut conn, &stream(p)).await?;
                Ok::<(), Error>(())
            }
        });
        for sent in futures_util::future::join_all(sends).await {
            sent?;
        }
        Ok(())
    }

    /// Reads up to `count` new entries of `stream` for `worker`, waiting up to `block`
    /// (none: not at all) for the first.
    pub(super) async fn read_new(
        &self,
        conn: &mut RedisConn,
        stream: &str,
        worker: &str,
        count: usize,
        block: Option<Duration>,
    ) -> Result<Vec<StreamId>> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(GROUP)
            .arg(worker)
            .arg("COUNT")
            .arg(count);
        if let Some(block) = block {
            cmd.arg("BLOCK")
                .arg(u64::try_from(block.as_millis()).unwrap_or(u64::MAX));
        }
        let reply: Option<StreamReadReply> = cmd
            .arg("STREAMS")
            .arg(stream)
            .arg(">")
            .query_async(conn)
            .await
            .map_err(|e| self.fail(&e))?;
        Ok(reply
            .map(|r| r.keys.into_iter().flat_map(|k| k.ids).collect())
            .unwrap_or_default())
    }

    pub(super) async fn claim_idle(
        &self,
        stream: &str,
        worker: &str,
        idle: Duration,
        count: usize,
    ) -> Result<Vec<StreamId>> {
        let mut conn = self.redis.conn.clone();
        let reply: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
            .arg(stream)
            .arg(GROUP)
            .arg(worker)
            .arg(u64::try_from(idle.as_millis()).unwrap_or(u64::MAX))
            .arg("0-0")
            .arg("COUNT")
            .arg(count)
            .query_async(&mut conn)
            .await
            .map_err(|e| self.fail(&e))?;
        Ok(reply.claimed)
    }

    /// Resets the idle time of `entries` of `stream` that this worker holds, in one
    /// XCLAIM (an entry acknowledged meanwhile is not claimed again).
    pub(super) async fn touch(&self, stream: &str, worker: &str, entries: &[String]) -> Result<()> {
        let mut conn = self.redis.conn.clone();
        redis::cmd("XCLAIM")
            .arg(stream)
            .arg(GROUP)
            .arg(worker)
            .arg(0)
            .arg(entries)
            .arg("JUSTID")
            .query_async::<redis::Value>(&mut conn)
            .await
            .map(|_| ())
            .map_err(|e| self.fail(&e))
    }

    /// Acknowledges `entries` of `stream` in one XACK.
    pub(super) async fn ack<E: redis::ToRedisArgs + Send + Sync>(
        &self,
        stream: &str,
        entries: &[E],
    ) -> Result<()> {
        let mut conn = self.redis.conn.clone();
        conn.xack::<_, _, _, ()>(stream, GROUP, entries)
            .await
            .map_err(|e| self.fail(&e))
    }

    /// Drops the entries of `stream` every worker is done with, keeping all not yet
    /// acknowledged.
    pub(super) async fn trim(&self, stream: &str) -> Result<()> {
        let mut conn = self.redis.conn.clone();
        let groups: redis::streams::StreamInfoGroupsReply =
            conn.xinfo_groups(stream).await.map_err(|e| self.fail(&e))?;
        let Some(group) = groups.groups.iter().find(|g| g.name == GROUP) else {
            return Ok(());
        };
        let pending: redis::streams::StreamPendingReply = conn
            .xpending(stream, GROUP)
            .await
            .map_err(|e| self.fail(&e))?;
        let keep_from = match pending {
            redis::streams::StreamPendingReply::Data(data) => {
                min_id(&data.start_id, &group.last_delivered_id)
            }
            _ => group.last_delivered_id.clone(),
        };
        redis::cmd("XTRIM")
            .arg(stream)
            .arg("MINID")
            .arg("~")
            .arg(keep_from)
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| self.fail(&e))
    }

    pub(super) async fn dead_letter(&self, entry: &Entry, attempts: u32) -> Result<()> {
        let mut conn = self.redis.conn.clone();
        redis::cmd("XADD")
            .arg(DEAD)
            .arg("MAXLEN")
            .arg("~")
            .arg(10_000)
            .arg("*")
            .arg("org")
            .arg(entry.org.as_str())
            .arg("run")
            .arg(entry.run.as_str())
            .arg("partition")
            .arg(&entry.stream)
            .arg("attempts")
            .arg(attempts)
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| self.fail(&e))
    }
}

/// The smaller of two stream ids (`ms-seq`).
fn min_id(a: &str, b: &str) -> String {
    let parse = |s: &str| -> (u64, u64) {
        let (ms, seq) = s.split_once('-').unwrap_or((s, "0"));
        (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
    };
    if parse(a) <= parse(b) {
        a.to_owned()
    } else {
        b.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::min_id;

    #[test]
    fn min_id_compares_stream_ids_numerically() {
        assert_eq!(min_id("9-5", "10-0"), "9-5");
        assert_eq!(min_id("10-2", "10-10"), "10-2");
        assert_eq!(min_id("11-0", "10-10"), "10-10");
    }
}
