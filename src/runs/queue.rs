//! The work queue: the Redis Stream `hush:queue`, read through the consumer group
//! `workers` by any number of worker processes ([`super::worker`]) on any number of
//! machines. This file owns the stream's operations (queue, read, claim, touch,
//! acknowledge, trim, dead-letter); it never runs an action.
//!
//! Delivery is at least once. A worker holds each entry it reads until the run's end is
//! stored, then acknowledges it; while a run goes on, its worker re-claims the entry every
//! third of the visibility timeout, so only a worker that died (or lost Redis for longer)
//! leaves it idle. Idle entries are claimed by another worker with `XAUTOCLAIM`. Each start
//! counts an attempt on the run; a run started `max_attempts` times without ending is
//! failed with the reason and copied to `hush:queue:dead` (dead letter). An end is stored
//! only by the run's latest attempt and only once, so a run is never recorded as ended
//! twice. The stream is trimmed to the entries not yet acknowledged, and dispatch is
//! refused while it holds more than its cap.

use std::time::Duration;

use redis::AsyncCommands;
use redis::streams::{StreamAutoClaimReply, StreamId, StreamReadReply};

use super::redis::RedisRuns;
use crate::error::Result;
use crate::model::{OrgId, RunId};

/// The work stream.
pub const STREAM: &str = crate::store::redis::WORK_STREAM;
/// Where dead-lettered entries are copied, for operators.
pub const DEAD: &str = crate::store::redis::DEAD_STREAM;
/// The consumer group every worker reads through.
pub const GROUP: &str = crate::store::redis::WORK_GROUP;
/// The default cap on queued entries; dispatch answers "queue full" past it.
pub const DEFAULT_MAX_QUEUE: usize = 100_000;

/// One entry of the work stream: which run of which org.
pub(super) struct Entry {
    pub id: String,
    pub org: OrgId,
    pub run: RunId,
}

impl Entry {
    pub(super) fn parse(entry: &StreamId) -> Option<Entry> {
        let org: String = entry.get("org")?;
        let run: String = entry.get("run")?;
        Some(Entry {
            id: entry.id.clone(),
            org: OrgId::parse(&org).ok()?,
            run: RunId::parse(&run).ok()?,
        })
    }
}

impl RedisRuns {
    /// Creates the consumer group (and the stream) if they do not exist.
    ///
    /// # Errors
    /// When Redis fails.
    pub async fn ensure_group(&self) -> Result<()> {
        let mut conn = self.redis.conn.clone();
        let created: redis::RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(STREAM)
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await;
        match created {
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            other => other.map_err(|e| self.fail(&e)),
        }
    }

    /// Puts runs `ids` of `org` on the work stream, in one round trip.
    ///
    /// # Errors
    /// When Redis fails.
    pub async fn enqueue_many(&self, org: &OrgId, ids: &[RunId]) -> Result<()> {
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.xadd(STREAM, "*", &[("org", org.as_str()), ("run", id.as_str())])
                .ignore();
        }
        let mut conn = self.redis.conn.clone();
        pipe.query_async::<()>(&mut conn)
            .await
            .map_err(|e| self.fail(&e))
    }

    pub(super) async fn read_new(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
        worker: &str,
        count: usize,
    ) -> Result<Vec<StreamId>> {
        let reply: Option<StreamReadReply> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(GROUP)
            .arg(worker)
            .arg("COUNT")
            .arg(count)
            .arg("BLOCK")
            .arg(500)
            .arg("STREAMS")
            .arg(STREAM)
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
        worker: &str,
        idle: Duration,
        count: usize,
    ) -> Result<Vec<StreamId>> {
        let mut conn = self.redis.conn.clone();
        let reply: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
            .arg(STREAM)
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

    /// Resets the idle time of an entry this worker holds.
    pub(super) async fn touch(&self, worker: &str, entry: &str) -> Result<()> {
        let mut conn = self.redis.conn.clone();
        redis::cmd("XCLAIM")
            .arg(STREAM)
            .arg(GROUP)
            .arg(worker)
            .arg(0)
            .arg(entry)
            .arg("JUSTID")
            .query_async::<redis::Value>(&mut conn)
            .await
            .map(|_| ())
            .map_err(|e| self.fail(&e))
    }

    pub(super) async fn ack(&self, entry: &str) -> Result<()> {
        let mut conn = self.redis.conn.clone();
        conn.xack::<_, _, _, ()>(STREAM, GROUP, &[entry])
            .await
            .map_err(|e| self.fail(&e))
    }

    /// Drops the entries every worker is done with, keeping all not yet acknowledged.
    pub(super) async fn trim(&self) -> Result<()> {
        let mut conn = self.redis.conn.clone();
        let groups: redis::streams::StreamInfoGroupsReply =
            conn.xinfo_groups(STREAM).await.map_err(|e| self.fail(&e))?;
        let Some(group) = groups.groups.iter().find(|g| g.name == GROUP) else {
            return Ok(());
        };
        let pending: redis::streams::StreamPendingReply = conn
            .xpending(STREAM, GROUP)
            .await
            .map_err(|e| self.fail(&e))?;
        let keep_from = match pending {
            redis::streams::StreamPendingReply::Data(data) => {
                min_id(&data.start_id, &group.last_delivered_id)
            }
            _ => group.last_delivered_id.clone(),
        };
        redis::cmd("XTRIM")
            .arg(STREAM)
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
