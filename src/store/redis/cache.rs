//! What a Redis-backed process may answer from memory, and the protocol that keeps it
//! exact: the read cache (per org, fields read at one data version: metadata,
//! ciphertexts, wrapped data keys, user and token records, never a plaintext; and
//! records that never change once written, the run store's ended runs, each until it
//! expires) and its coherence with Redis. This file never sends or holds a plaintext,
//! and never answers from memory what a change acknowledged to anyone has made stale.
//!
//! The cache answers in two ways:
//! - **At a known version.** A run that learned its org's data version in a round trip
//!   made after every change it must see (storing or starting it) gets fields cached at
//!   exactly that version. Nothing else is needed for that to be exact.
//! - **Coherent: no round trip at all.** A long-lived process (`hush serve`, which calls
//!   [`ReadCache::keep_coherent`]) answers any read from its cache while it holds a lease
//!   and has applied every invalidation. This is Chubby's rule: a change is acknowledged
//!   to its caller only once every cache that may hold what it changed has dropped it,
//!   or that cache's lease has run out. So the cost of exactness is paid by the writer,
//!   once per change, and not by every run.
//!
//! The protocol, over Redis:
//! 1. A coherent process subscribes to [`CHANNEL`] on a connection of its own, then
//!    registers in [`REGISTRY`] (its id → its lease's end, by Redis's clock) and renews
//!    every [`RENEW_EVERY`]. It answers unasked only until its lease ends, counted from
//!    *before* the registration or renewal was sent, less a margin; so its lease always
//!    ends before Redis's record of it does.
//! 2. Every commit, once applied (and on a replica), runs `lua/announce.lua`: it
//!    publishes the org on [`CHANNEL`] and returns every registered process whose lease
//!    has not ended (but the writer's own, which dropped the org itself). The commit
//!    returns only when each of them has acknowledged (added its id to the
//!    announcement's ack set) or the lease Redis holds for it has ended (re-read when the
//!    one seen at the announcement ends, in case it was renewed since).
//! 3. A process drops the org's cached fields when an invalidation arrives, then
//!    acknowledges; one that cannot acknowledge gives up its lease (a writer waits for
//!    the lease Redis holds *now*, so a process must never renew past an invalidation it
//!    has not acknowledged: invalidations and renewals are handled by one task,
//!    invalidations first). A read that was under way while any invalidation (or a change of
//!    lease) arrived is cached for the version-checked path only, never as coherent.
//! 4. A lost subscription, a failed renewal or a renewal that finds the lease ended
//!    empties the whole cache before anything is served from it again; then the process
//!    subscribes and registers anew.
//! 5. When Redis lost the registry (a restart without persistence), processes that have
//!    not noticed yet may still hold leases: writers wait one whole lease after the
//!    registry is born again ([`BORN`]) before acknowledging.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use redis::Script;

use super::{Connection, RedisConn};
use crate::error::{Error, Result};
use crate::model::OrgId;
use crate::store::{OrgVersion, Table};

/// How long a registration or renewal lets a process answer from its cache unasked.
pub(crate) const LEASE: Duration = Duration::from_millis(1000);
/// How often a coherent process renews its lease.
const RENEW_EVERY: Duration = Duration::from_millis(200);
/// How much sooner than Redis's record a process takes its lease to end.
const MARGIN: Duration = Duration::from_millis(100);
/// The registry of coherent processes: a hash, process id → lease end (ms, Redis's clock).
pub(crate) const REGISTRY: &str = "hush:{caches}";
/// When the registry was (last) born, in ms by Redis's clock.
pub(crate) const BORN: &str = "hush:{caches}:born";
/// Where invalidations are published: `<announcement id> <org>`.
pub(crate) const CHANNEL: &str = "hush:invalidate";
/// How long an announcement's ack set outlives it.
const ACK_TTL_MS: u64 = 30_000;
/// How many times a writer tries to announce a change before it answers that Redis is
/// unavailable (and goes on announcing it in the background).
const ANNOUNCE_TRIES: u32 = 3;

/// The most fields cached per org, and the most orgs cached; past either, that cache is
/// emptied and filled again by the next reads.
const CACHE_FIELDS: usize = 20_000;
const CACHE_ORGS: usize = 10_000;
/// The most bytes of final records cached, over all orgs; past it, they are all dropped.
const FINAL_BYTES: usize = 64 << 20;

static REGISTER: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("../lua/lease.lua")));
static ANNOUNCE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../lua/announce.lua")));

/// 24 random hex digits: a process incarnation's or an announcement's id.
fn random_id() -> String {
    let mut id = [0u8; 12];
    getrandom::fill(&mut id).expect("the operating system's random source failed");
    hex::encode(id)
}

/// An announcement's ack set, under the registry's hash tag (one Cluster slot).
fn ack_key(announcement: &str) -> String {
    format!("hush:{{caches}}:ack:{announcement}")
}

/// One org's cached fields, all read at `version`.
struct Snapshot {
    version: OrgVersion,
    fields: HashMap<(Table, String), Option<Vec<u8>>>,
    /// Whether the snapshot may be served unasked, under the lease (module documentation).
    coherent: bool,
}

/// A record that never changes once written (a run that has ended), until it expires.
struct Final {
    bytes: Vec<u8>,
    /// Before Redis expires the record.
    until: Instant,
}

/// Final records, per org, and their size.
#[derive(Default)]
struct Finals {
    orgs: HashMap<OrgId, HashMap<String, Final>>,
    bytes: usize,
}

/// Cached reads, per org, and this process's part in the coherence protocol (see the
/// module documentation). Never holds a plaintext.
pub(crate) struct ReadCache {
    orgs: Mutex<HashMap<OrgId, Snapshot>>,
    /// Records that never change once written, served only under the lease and dropped
    /// with their org's fields (the org removed and made again is another org). Locked
    /// after `orgs`, never before.
    finals: Mutex<Finals>,
    pub(crate) hits: AtomicU64,
    /// This process's id in the registry: new for every registration (an incarnation),
    /// so that a writer never waits on a lease renewed by a later incarnation.
    id: Mutex<String>,
    base: Instant,
    /// Nanoseconds after `base` at which the lease ends; 0 when there is none.
    lease_until: AtomicU64,
    /// Bumped (under `orgs`' lock) by every invalidation and every lease lost or gained: a
    /// read under way meanwhile is not cached as coherent.
    changes: AtomicU64,
    started: AtomicBool,
    /// The task of [`ReadCache::keep_coherent`], stopped by [`ReadCache::stop_coherent`].
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Default for ReadCache {
    fn default() -> Self {
        ReadCache {
            orgs: Mutex::default(),
            finals: Mutex::default(),
            hits: AtomicU64::new(0),
            id: Mutex::new(random_id()),
            base: Instant::now(),
            lease_until: AtomicU64::new(0),
            changes: AtomicU64::new(0),
            started: AtomicBool::new(false),
            task: Mutex::default(),
        }
    }
}

/// Taken before a read is sent: the read may be cached as coherent only if nothing
/// changed before it is put.
#[derive(Clone, Copy)]
pub(crate) struct Ticket(Option<u64>);

impl ReadCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<OrgId, Snapshot>> {
        self.orgs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn finals(&self) -> std::sync::MutexGuard<'_, Finals> {
        self.finals.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// This incarnation's id.
    fn id(&self) -> String {
        self.id.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_nanos())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// Counts a read answered from this cache.
    pub(crate) fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
        crate::metrics::read_cache(true);
    }

    /// Whether the lease lets this process answer unasked now.
    pub(crate) fn leased(&self) -> bool {
        self.nanos(Instant::now()) < self.lease_until.load(Ordering::Acquire)
    }

    /// For a read about to be sent.
    pub(crate) fn ticket(&self) -> Ticket {
        Ticket(self.leased().then(|| self.changes.load(Ordering::Acquire)))
    }

    /// The cached values of `fields`, when every one was read at exactly `seen`.
    pub(crate) fn get(
        &self,
        org: &OrgId,
        fields: &[(Table, &str)],
        seen: &OrgVersion,
    ) -> Option<Vec<Option<Vec<u8>>>> {
        let orgs = self.lock();
        let snapshot = orgs.get(org).filter(|s| s.version == *seen)?;
        Self::collect(snapshot, fields)
    }

    /// The cached values of `fields` and the version they were read at, with no round
    /// trip, when the snapshot is coherent and the lease still holds once they are read.
    pub(crate) fn get_coherent(
        &self,
        org: &OrgId,
        fields: &[(Table, &str)],
    ) -> Option<(Vec<Option<Vec<u8>>>, OrgVersion)> {
        let found = {
            let orgs = self.lock();
            let snapshot = orgs.get(org).filter(|s| s.coherent)?;
            (Self::collect(snapshot, fields)?, snapshot.version.clone())
        };
        // Checked after the read: if the lease held then, every change acknowledged
        // before the read had been applied here (or the writer waited the lease out).
        self.leased().then_some(found)
    }

    fn collect(snapshot: &Snapshot, fields: &[(Table, &str)]) -> Option<Vec<Option<Vec<u8>>>> {
        fields
            .iter()
            .map(|(table, field)| snapshot.fields.get(&(*table, (*field).to_owned())).cloned())
            .collect()
    }

    /// Keeps `values` of `fields`, read at `version` by a read that took `ticket`.
    pub(crate) fn put(
        &self,
        org: &OrgId,
        version: OrgVersion,
        fields: &[(Table, &str)],
        values: &[Option<Vec<u8>>],
        ticket: Ticket,
    ) {
        let mut orgs = self.lock();
        let coherent = ticket.0 == Some(self.changes.load(Ordering::Acquire));
        if orgs.len() >= CACHE_ORGS && !orgs.contains_key(org) {
            orgs.clear();
        }
        let snapshot = orgs.entry(org.clone()).or_insert_with(|| Snapshot {
            version: version.clone(),
            fields: HashMap::new(),
            coherent,
        });
        if snapshot.version != version {
            snapshot.version = version;
            snapshot.fields.clear();
            snapshot.coherent = coherent;
        } else {
            // The same version is the same data: a coherent read makes it all coherent.
            snapshot.coherent |= coherent;
        }
        if snapshot.fields.len() + fields.len() > CACHE_FIELDS {
            snapshot.fields.clear();
        }
        for ((table, field), value) in fields.iter().zip(values) {
            snapshot
                .fields
                .insert((*table, (*field).to_owned()), value.clone());
        }
    }

    /// The final record `key` of `org`, with no round trip, when this process holds it
    /// under its lease and it has not expired.
    pub(crate) fn get_final(&self, org: &OrgId, key: &str) -> Option<Vec<u8>> {
        let found = {
            let finals = self.finals();
            let record = finals.orgs.get(org)?.get(key)?;
            (Instant::now() < record.until).then(|| record.bytes.clone())?
        };
        // As in `get_coherent`: the lease must hold after the read.
        self.leased().then_some(found)
    }

    /// Keeps `bytes`, the final record `key` of `org` that Redis keeps until `until`, read
    /// by a read that took `ticket`; nothing unless that read was coherent.
    pub(crate) fn put_final(
        &self,
        org: &OrgId,
        key: &str,
        bytes: Vec<u8>,
        until: Instant,
        ticket: Ticket,
    ) {
        let _orgs = self.lock();
        if ticket.0 != Some(self.changes.load(Ordering::Acquire)) {
            return;
        }
        let mut finals = self.finals();
        if finals.bytes + bytes.len() > FINAL_BYTES {
            *finals = Finals::default();
        }
        finals.bytes += bytes.len();
        let old = finals
            .orgs
            .entry(org.clone())
            .or_default()
            .insert(key.to_owned(), Final { bytes, until });
        finals.bytes -= old.map_or(0, |o| o.bytes.len());
    }

    /// Drops everything cached of `org`.
    pub(crate) fn forget(&self, org: &OrgId) {
        let mut orgs = self.lock();
        orgs.remove(org);
        let mut finals = self.finals();
        let dropped = finals.orgs.remove(org);
        finals.bytes -= dropped.map_or(0, |d| d.values().map(|f| f.bytes.len()).sum());
        self.changes.fetch_add(1, Ordering::AcqRel);
    }

    /// Drops everything cached, of every org.
    fn forget_all(&self) {
        let mut orgs = self.lock();
        orgs.clear();
        *self.finals() = Finals::default();
        self.changes.fetch_add(1, Ordering::AcqRel);
    }

    /// Drops the lease and everything cached, before anything is served again.
    fn lose(&self) {
        self.lease_until.store(0, Ordering::Release);
        self.forget_all();
    }

    /// Every cached byte string, for tests that check the cache holds no plaintext.
    pub(crate) fn contents(&self) -> Vec<Vec<u8>> {
        let mut contents: Vec<Vec<u8>> = self
            .lock()
            .values()
            .flat_map(|s| s.fields.values().flatten().cloned())
            .collect();
        let finals = self.finals();
        contents.extend(
            finals
                .orgs
                .values()
                .flat_map(|o| o.values().map(|f| f.bytes.clone())),
        );
        contents
    }

    /// Starts this process's part in the protocol (once; later calls do nothing): a task
    /// that subscribes, registers, renews and applies invalidations, and after any loss
    /// empties the cache and starts over.
    pub(crate) fn keep_coherent(self: &Arc<Self>, redis: &Connection) {
        if self.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let (cache, redis) = (Arc::clone(self), redis.clone());
        let task = tokio::spawn(async move {
            let mut pause = Duration::from_millis(20);
            loop {
                let since = Instant::now();
                let held = cache.hold(&redis).await;
                cache.lose();
                if since.elapsed() > Duration::from_secs(10) {
                    pause = Duration::from_millis(20);
                }
                if let Err(e) = held {
                    tracing::warn!(error = %e, "the read cache lost its lease; reads go to Redis until it is back");
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
        });
        *self.task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
    }

    /// Ends this process's part in the protocol, on a clean shutdown: stops the task,
    /// empties the cache and drops the lease from the registry, so that no writer waits
    /// for it to run out. Best effort: a lease Redis keeps ends within [`LEASE`].
    pub(crate) async fn stop_coherent(&self, redis: &Connection) {
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some(task) = task else {
            return;
        };
        task.abort();
        let _ = task.await;
        self.lose();
        let _: redis::RedisResult<i64> = redis::cmd("HDEL")
            .arg(REGISTRY)
            .arg(self.id())
            .query_async(&mut redis.conn.clone())
            .await;
    }

    /// Subscribes, registers, then applies invalidations and renews until something
    /// fails; never returns `Ok`.
    async fn hold(self: &Arc<Self>, redis: &Connection) -> Result<()> {
        let (mut sink, mut stream) = redis.pubsub().await?.split();
        sink.subscribe(CHANNEL).await.map_err(|e| redis.fail(&e))?;
        let mut conn = redis.conn.clone();
        // A new incarnation, replacing the last one's entry (whose cache was emptied).
        let last = std::mem::replace(
            &mut *self.id.lock().unwrap_or_else(|p| p.into_inner()),
            random_id(),
        );
        self.lease(redis, &mut conn, "register", &last).await?;
        let mut renew = tokio::time::interval(RENEW_EVERY);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        renew.tick().await;
        loop {
            tokio::select! {
                // Invalidations first: a renewal never goes before one already here.
                biased;
                message = stream.next() => {
                    let Some(message) = message else {
                        return Err(Error::unavailable("the invalidation subscription was lost"));
                    };
                    self.invalidated(message.get_payload_bytes(), redis, &mut conn).await?;
                }
                _ = renew.tick() => {
                    self.lease(redis, &mut conn, "renew", "").await?;
                }
            }
        }
    }

    /// Registers (`mode` "register", dropping the entry of incarnation `last`) or renews
    /// ("renew", which fails when Redis no longer holds an unexpired lease of this
    /// incarnation) the lease.
    async fn lease(
        &self,
        redis: &Connection,
        conn: &mut RedisConn,
        mode: &str,
        last: &str,
    ) -> Result<()> {
        let sent = Instant::now();
        let granted: i64 = REGISTER
            .key(REGISTRY)
            .key(BORN)
            .arg(self.id())
            .arg(u64::try_from(LEASE.as_millis()).unwrap_or(u64::MAX))
            .arg(mode)
            .arg(last)
            .invoke_async(conn)
            .await
            .map_err(|e| redis.fail(&e))?;
        if granted != 1 {
            return Err(Error::unavailable("the read cache's lease had ended"));
        }
        // A lease that a failover could lose is no lease.
        redis.wait_for_replica(conn, REGISTRY).await?;
        let until = self.nanos(sent + LEASE - MARGIN);
        if mode == "register" {
            let _orgs = self.lock();
            self.changes.fetch_add(1, Ordering::AcqRel);
            self.lease_until.store(until, Ordering::Release);
        } else {
            self.lease_until.fetch_max(until, Ordering::AcqRel);
        }
        Ok(())
    }

    /// Applies one invalidation (`<announcement> <org>`), then acknowledges it.
    async fn invalidated(
        &self,
        payload: &[u8],
        redis: &Connection,
        conn: &mut RedisConn,
    ) -> Result<()> {
        let text = String::from_utf8_lossy(payload);
        let Some((announcement, org)) = text.split_once(' ') else {
            return Ok(());
        };
        match OrgId::parse(org) {
            Ok(org) => self.forget(&org),
            // Not an org hush would write: drop everything rather than guess.
            Err(_) => self.forget_all(),
        }
        // Acknowledged before anything else is done: a process that cannot acknowledge
        // must not renew its lease (a writer waits for either).
        let key = ack_key(announcement);
        redis::pipe()
            .sadd(&key, self.id())
            .ignore()
            .pexpire(&key, i64::try_from(ACK_TTL_MS).unwrap_or(i64::MAX))
            .ignore()
            .query_async::<()>(conn)
            .await
            .map_err(|e| redis.fail(&e))
    }

    /// Announces a change to `org` that may have been applied though its writer was not
    /// answered, in the background, until Redis takes the announcement (retrying with
    /// backoff for up to ten minutes): no cache keeps answering from before it.
    pub(crate) fn announce_later(self: &Arc<Self>, redis: &Connection, org: &OrgId) {
        self.forget(org);
        let (cache, redis, org) = (Arc::clone(self), redis.clone(), org.clone());
        tokio::spawn(async move {
            let (mut pause, started) = (Duration::from_millis(50), Instant::now());
            let mut conn = redis.conn.clone();
            while cache.announce(&redis, &mut conn, &org).await.is_err()
                && started.elapsed() < Duration::from_secs(600)
            {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
        });
    }

    /// Announces a change Redis applied to `org` and returns once every other coherent
    /// process has dropped what it cached of `org`, or its lease has ended (step 2 of the
    /// protocol). This process's own cache of `org` is dropped first.
    ///
    /// # Errors
    /// [`Unavailable`](crate::error::ErrorKind::Unavailable) when Redis could not be
    /// told in [`ANNOUNCE_TRIES`] tries.
    pub(crate) async fn announce(
        &self,
        redis: &Connection,
        conn: &mut RedisConn,
        org: &OrgId,
    ) -> Result<()> {
        self.forget(org);
        let announcement = random_id();
        let mut tries = 0;
        let reply: Vec<redis::Value> = loop {
            let sent = ANNOUNCE
                .key(REGISTRY)
                .key(BORN)
                .arg(CHANNEL)
                .arg(format!("{announcement} {org}"))
                .arg(self.id())
                .invoke_async(conn)
                .await;
            match sent {
                Ok(values) => break values,
                Err(e) if tries + 1 < ANNOUNCE_TRIES => {
                    tries += 1;
                    tracing::debug!(error = %redis.fail(&e), "announcing a change again");
                    tokio::time::sleep(Duration::from_millis(20 * u64::from(tries))).await;
                }
                Err(e) => return Err(redis.fail(&e)),
            }
        };
        let at = Instant::now();
        let unexpected = || Error::internal("an unexpected Redis reply to an announcement");
        let int = |v: &redis::Value| match v {
            redis::Value::Int(n) => Ok(*n),
            _ => Err(unexpected()),
        };
        // {now, born, then (process id, lease end) for each process to wait for}, in ms.
        let (now, born) = match reply.as_slice() {
            [now, born, ..] => (int(now)?, int(born)?),
            _ => return Err(unexpected()),
        };
        let after = |ms: i64| at + Duration::from_millis(u64::try_from(ms - now).unwrap_or(0));
        let lease_ms = i64::try_from(LEASE.as_millis()).unwrap_or(i64::MAX);
        let not_before = after(born + lease_ms);
        let mut waiting: Vec<(String, Instant)> = reply[2..]
            .chunks_exact(2)
            .map(|pair| {
                let id: String =
                    redis::from_redis_value(pair[0].clone()).map_err(|_| unexpected())?;
                Ok((id, after(int(&pair[1])?)))
            })
            .collect::<Result<_>>()?;
        let key = ack_key(&announcement);
        let mut polls = 0u32;
        while !waiting.is_empty() {
            let acked: Vec<String> = redis::cmd("SMEMBERS")
                .arg(&key)
                .query_async(conn)
                .await
                .map_err(|e| redis.fail(&e))?;
            waiting.retain(|(id, _)| !acked.contains(id));
            if waiting.iter().any(|(_, until)| Instant::now() >= *until) {
                // A lease seen at the announcement ended with no acknowledgement; but the
                // process may have renewed it since (before it read the invalidation): it
                // is waited for until the lease Redis holds now ends.
                let (at, now, ends) = Self::lease_ends(redis, conn, &waiting).await?;
                for ((_, until), ends) in waiting.iter_mut().zip(ends) {
                    *until = at + Duration::from_millis(u64::try_from(ends - now).unwrap_or(0));
                }
                let at = Instant::now();
                waiting.retain(|(_, until)| at < *until);
            }
            polls += 1;
            if waiting.is_empty() {
                break;
            } else if polls < 8 {
                tokio::task::yield_now().await;
            } else {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        tokio::time::sleep_until(not_before.into()).await;
        Ok(())
    }

    /// When this was asked, Redis's time then (ms), and the end of the lease Redis holds
    /// now for each of `processes` (0 for none), in one round trip.
    async fn lease_ends(
        redis: &Connection,
        conn: &mut RedisConn,
        processes: &[(String, Instant)],
    ) -> Result<(Instant, i64, Vec<i64>)> {
        let ids: Vec<&str> = processes.iter().map(|(id, _)| id.as_str()).collect();
        let ((secs, micros), ends): ((i64, i64), Vec<Option<i64>>) = redis::pipe()
            .cmd("TIME")
            .cmd("HMGET")
            .arg(REGISTRY)
            .arg(&ids)
            .query_async(conn)
            .await
            .map_err(|e| redis.fail(&e))?;
        let ends = ends.into_iter().map(Option::unwrap_or_default).collect();
        Ok((Instant::now(), secs * 1000 + micros / 1000, ends))
    }
}
