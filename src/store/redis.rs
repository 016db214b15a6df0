//! The Redis backend, for production: every key of one org carries the org in a hash tag
//! (`hush:{org}:…`) so an org's keys share a Cluster slot and a change to them is one
//! atomic Lua script.
//!
//! Key layout (all key names live here):
//! - `hush:{org}:<table>`: one hash per [`Table`];
//! - `hush:{org}:names:idx`: a sorted set of case-folded names, for listing in name order;
//! - `hush:{org}:audit`: the org's audit stream, capped near [`AUDIT_CAP`] entries;
//! - `hush:{org}:ver`: the org's data version ([`OrgVersion`]), replaced by every commit;
//! - `hush:orgs`: the set of org ids;
//! - `hush:{caches}` and keys under it: coherent read caches' leases (named in the child
//!   module `cache`, which owns that protocol);
//! - `hush:queue:{p<n>}`: the work queue's partitions ([`work_stream`]), each in its own
//!   slot, named in the set `hush:queue:partitions`; `hush:queue:dead`: dead letters.
//!
//! Every other key under an org's hash tag (run history, see [`crate::runs`]) is the org's
//! too: [`Backend::drop_org`] deletes every `hush:{org}:*` key, and the org's entries in
//! every work queue partition and the dead letters.
//!
//! The connection is a [`RedisConn`]: for `redis://` a [`ConnectionManager`] (after Redis
//! restarts, commands fail with a clear error until it is back, then work again without a
//! restart of hush); for `redis+cluster://h1:p1,h2:p2` redis-rs's cluster client, which
//! follows MOVED/ASK, refreshes its slot map and reconnects. Every script and transaction
//! touches one slot. On a cluster whose masters have replicas, a commit is acknowledged
//! only once a replica has it ([`Connection::wait_for_replica`]). This file never sends a
//! plaintext: values reach it encrypted.
//!
//! Reads are cached per org at the data version they were read at (read atomically with
//! the fields): metadata, ciphertexts, wrapped data keys, user and token records, never a
//! plaintext. A cached answer is given to [`Backend::read_seen`] with the very version it
//! was read at, which a run learns in a round trip it makes anyway (storing or starting
//! it) after every change acknowledged before it; and, in a process that keeps its cache
//! coherent ([`RedisBackend::keep_coherent`]), to any read with no round trip at all,
//! under a lease and invalidations that every commit waits for ([`cache`]: the registry
//! `hush:{caches}`, its birth `hush:{caches}:born`, acknowledgements
//! `hush:{caches}:ack:<id>` and the channel `hush:invalidate`). Either way a cache hit is
//! never older than a change acknowledged before the read began, whatever happened to
//! connections or to Redis meanwhile.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use super::{AUDIT_CAP, Backend, Commit, OrgVersion, Table, Txn};
use crate::error::{Error, Result};
use crate::model::OrgId;

mod cache;
use cache::ReadCache;

const ORGS_KEY: &str = "hush:orgs";
/// The work queue's streams (`runs::queue` reads and writes them; org removal drops an
/// org's entries from them) are partitions, each in its own Cluster slot: partition `p`
/// is [`work_stream`]`(p)` = `hush:queue:{p<p>}`. Key names live here, below every room
/// that uses them.
pub fn work_stream(partition: usize) -> String {
    format!("hush:queue:{{p{partition}}}")
}
/// The set of every work stream ever written to (each partition, and the single stream
/// `hush:queue` of hush before partitions when it still exists): workers read them all,
/// so changing the number of partitions strands no queued run.
pub const QUEUE_PARTITIONS: &str = "hush:queue:partitions";
/// The work stream of hush before partitions, drained by workers while it exists.
pub const LEGACY_WORK_STREAM: &str = "hush:queue";
/// Where dead-lettered queue entries are copied.
pub const DEAD_STREAM: &str = "hush:queue:dead";
/// The consumer group every worker reads the work stream through.
pub const WORK_GROUP: &str = "workers";
/// The suffix of an org's audit stream key.
const AUDIT: &str = "audit";
/// The suffix of an org's data version key.
const VERSION: &str = "ver";
/// Stores hush's data in Redis (or a Redis-compatible server).
#[derive(Clone)]
pub struct RedisBackend {
    redis: Connection,
    conn: RedisConn,
    display: String,
    commit: Script,
    page: Script,
    /// The reads of `read_through` as one script, on a cluster.
    read: Script,
    cache: Arc<ReadCache>,
    /// False with `HUSH_READ_CACHE=off`: every read goes to Redis.
    cache_answers: bool,
}

/// Per-org key names, in the order the Lua scripts expect them.
struct OrgKeys {
    tables: [String; Table::ALL.len()],
    names_index: String,
    audit: String,
    version: String,
}

/// `hush:{org}:<suffix>`: the one place key names are formed.
fn org_key(org: &OrgId, suffix: &str) -> String {
    format!("hush:{{{org}}}:{suffix}")
}

impl OrgKeys {
    fn new(org: &OrgId) -> Self {
        OrgKeys {
            tables: Table::ALL.map(|t| org_key(org, t.name())),
            names_index: org_key(org, "names:idx"),
            audit: org_key(org, AUDIT),
            version: org_key(org, VERSION),
        }
    }

    fn table(&self, table: Table) -> &str {
        &self.tables[table.index()]
    }

    fn all(&self) -> impl Iterator<Item = &str> {
        self.tables.iter().map(String::as_str).chain([
            self.names_index.as_str(),
            self.audit.as_str(),
            self.version.as_str(),
        ])
    }
}

/// `redis://user:password@host/` → `redis://***@host/`, so messages never show a password.
fn display_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// A Redis backend's coherent cache as another store sees it, for records that never
/// change once written (the run store's ended runs): answered with no round trip while
/// this process holds its lease, dropped with their org's cached fields, and kept only
/// from a read that no invalidation overtook. It holds what it is handed, already
/// redacted; never a plaintext.
#[derive(Clone)]
pub struct FinalRecords {
    cache: Arc<ReadCache>,
}

impl FinalRecords {
    /// For a read about to be sent.
    pub(crate) fn ticket(&self) -> cache::Ticket {
        self.cache.ticket()
    }

    /// Record `key` of `org`, when held under the lease and not expired.
    pub(crate) fn get(&self, org: &OrgId, key: &str) -> Option<Vec<u8>> {
        let found = self.cache.get_final(org, key);
        if found.is_some() {
            self.cache.hit();
        }
        found
    }

    /// Keeps record `key` of `org`, which Redis keeps until `until` and will not change,
    /// read by a read that took `ticket`.
    pub(crate) fn put(
        &self,
        org: &OrgId,
        key: &str,
        bytes: Vec<u8>,
        until: Instant,
        ticket: cache::Ticket,
    ) {
        self.cache.put_final(org, key, bytes, until, ticket);
    }
}

impl RedisBackend {
    /// Connects to the Redis server at `url` (`redis://host:port/db`).
    ///
    /// # Errors
    /// [`Unavailable`](crate::error::ErrorKind::Unavailable) when the server cannot be reached.
    pub async fn connect(url: &str) -> Result<Self> {
        let redis = Connection::open(url).await?;
        Ok(RedisBackend {
            conn: redis.conn.clone(),
            display: redis.display.clone(),
            redis,
            commit: Script::new(include_str!("lua/commit.lua")),
            page: Script::new(include_str!("lua/page.lua")),
            read: Script::new(include_str!("lua/read.lua")),
            cache: Arc::default(),
            cache_answers: std::env::var("HUSH_READ_CACHE").map_or(true, |v| v != "off"),
        })
    }

    /// Lets this process answer reads from its cache with no round trip to Redis, under a
    /// lease and invalidations (see [`cache`]), for as long as the process lives:
    /// for long-lived processes (`hush serve`); a one-off command gains nothing from it.
    /// Does nothing with `HUSH_READ_CACHE=off`, or when already called.
    pub fn keep_coherent(&self) {
        if self.cache_answers {
            self.cache.keep_coherent(&self.redis);
        }
    }

    /// This process's cache for records that never change once written (a run that has
    /// ended), under the same lease and invalidations; `None` with `HUSH_READ_CACHE=off`.
    pub fn final_records(&self) -> Option<FinalRecords> {
        self.cache_answers.then(|| FinalRecords {
            cache: Arc::clone(&self.cache),
        })
    }

    /// Whether this process holds a read-cache lease now, for tests and benchmarks that
    /// wait for it before they count round trips.
    #[doc(hidden)]
    pub fn is_coherent(&self) -> bool {
        self.cache.leased()
    }

    /// `fields` from the cache with no round trip, when it holds them coherently.
    fn coherent(
        &self,
        org: &OrgId,
        fields: &[(Table, &str)],
    ) -> Option<(Vec<Option<Vec<u8>>>, OrgVersion)> {
        if !self.cache_answers || fields.is_empty() {
            return None;
        }
        let found = self.cache.get_coherent(org, fields)?;
        self.cache.hit();
        Some(found)
    }

    /// Reads this backend answered from its cache, for tests that check it is used.
    #[doc(hidden)]
    pub fn cache_hits(&self) -> u64 {
        self.cache.hits.load(Ordering::Relaxed)
    }

    /// Every byte string the read cache holds (metadata, ciphertexts, wrapped keys, user
    /// records), for tests that check it holds no plaintext.
    #[doc(hidden)]
    pub fn cached_bytes(&self) -> Vec<Vec<u8>> {
        self.cache.contents()
    }

    /// Reads `fields` and the org's data version in one MULTI/EXEC, and caches them.
    async fn read_through(
        &self,
        org: &OrgId,
        fields: &[(Table, &str)],
    ) -> Result<(Vec<Option<Vec<u8>>>, Option<OrgVersion>)> {
        if fields.is_empty() {
            return Ok((Vec::new(), None));
        }
        // One HMGET per run of fields from the same table, and the version, in MULTI/EXEC,
        // so that a secret's metadata and ciphertext are read at one instant, the instant
        // the version names: a resolve of any number of secrets is one round trip.
        let ticket = self.cache.ticket();
        if self.redis.is_cluster() {
            return self.read_by_script(org, fields, ticket).await;
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.cmd("GET").arg(org_key(org, VERSION));
        for run in fields.chunk_by(|a, b| a.0 == b.0) {
            let names: Vec<&str> = run.iter().map(|(_, field)| *field).collect();
            pipe.cmd("HMGET")
                .arg(org_key(org, run[0].0.name()))
                .arg(names);
        }
        let mut reply: Vec<redis::Value> = pipe
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.fail(e))?;
        let unexpected = |e| Error::internal(format!("an unexpected Redis reply: {e}"));
        let rows: Vec<Vec<Option<Vec<u8>>>> = reply
            .split_off(1)
            .into_iter()
            .map(|v| redis::from_redis_value(v).map_err(unexpected))
            .collect::<Result<_>>()?;
        let version: Option<Vec<u8>> =
            redis::from_redis_value(reply.pop().unwrap_or(redis::Value::Nil))
                .map_err(unexpected)?;
        let values: Vec<Option<Vec<u8>>> = rows.into_iter().flatten().collect();
        let version = version.map(OrgVersion);
        if let Some(version) = &version {
            self.cache
                .put(org, version.clone(), fields, &values, ticket);
        }
        Ok((values, version))
    }

    /// [`RedisBackend::read_through`] on a cluster: the same reads in one Lua script
    /// (`lua/read.lua`), which the cluster client follows through MOVED, ASK and
    /// TRYAGAIN, as it does not a MULTI/EXEC.
    async fn read_by_script(
        &self,
        org: &OrgId,
        fields: &[(Table, &str)],
        ticket: cache::Ticket,
    ) -> Result<(Vec<Option<Vec<u8>>>, Option<OrgVersion>)> {
        let mut invocation = self.read.prepare_invoke();
        invocation.key(org_key(org, VERSION));
        for run in fields.chunk_by(|a, b| a.0 == b.0) {
            invocation.key(org_key(org, run[0].0.name())).arg(run.len());
            for (_, field) in run {
                invocation.arg(*field);
            }
        }
        let reply: Vec<Option<Vec<u8>>> = invocation
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.fail(e))?;
        let mut reply = reply.into_iter();
        let version = reply.next().flatten().map(OrgVersion);
        let values: Vec<Option<Vec<u8>>> = reply.collect();
        if values.len() != fields.len() {
            return Err(Error::internal("an unexpected Redis reply: fields missing"));
        }
        if let Some(version) = &version {
            self.cache
                .put(org, version.clone(), fields, &values, ticket);
        }
        Ok((values, version))
    }

    fn fail(&self, e: redis::RedisError) -> Error {
        unavailable(&self.display, &e)
    }

    /// Deletes every key matching `pattern` but `keep`, by `SCAN` a batch at a time;
    /// returns how many it deleted.
    async fn sweep(&self, pattern: &str, keep: &str) -> Result<usize> {
        let mut conn = self.conn.clone();
        let mut cursor: u64 = 0;
        let mut deleted = 0;
        loop {
            // Every key of the org is in its slot: on a cluster, SCAN that slot's master.
            let (next, mut keys): (u64, Vec<String>) = conn
                .on_master_of(
                    keep,
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(pattern)
                        .arg("COUNT")
                        .arg(SWEEP_BATCH),
                )
                .await
                .map_err(|e| self.fail(e))?;
            keys.retain(|k| k != keep);
            if !keys.is_empty() {
                let n: usize = conn.unlink(&keys).await.map_err(|e| self.fail(e))?;
                deleted += n;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }

    /// Deletes (and acknowledges, so no worker holds them) the entries of `stream` that
    /// belong to `org`, reading the stream a batch at a time.
    async fn drop_stream_entries(&self, stream: &str, org: &OrgId) -> Result<()> {
        let mut conn = self.conn.clone();
        let mut start = "-".to_owned();
        loop {
            let page: redis::streams::StreamRangeReply = conn
                .xrange_count(stream, &start, "+", SWEEP_BATCH)
                .await
                .map_err(|e| self.fail(e))?;
            let Some(last) = page.ids.last() else {
                return Ok(());
            };
            start = format!("({}", last.id);
            let done = page.ids.len() < SWEEP_BATCH;
            let ids: Vec<&str> = page
                .ids
                .iter()
                .filter(|e| e.get::<String>("org").as_deref() == Some(org.as_str()))
                .map(|e| e.id.as_str())
                .collect();
            if !ids.is_empty() {
                // The consumer group may not exist (no worker ever ran): then there is
                // nothing to acknowledge.
                let _: redis::RedisResult<i64> = redis::cmd("XACK")
                    .arg(stream)
                    .arg(WORK_GROUP)
                    .arg(&ids)
                    .query_async(&mut conn)
                    .await;
                let _: i64 = conn.xdel(stream, &ids).await.map_err(|e| self.fail(e))?;
            }
            if done {
                return Ok(());
            }
        }
    }
}

/// Keys deleted, or stream entries read, per round trip when an org is dropped.
const SWEEP_BATCH: usize = 1000;

/// `text` with Redis glob characters escaped, for a `SCAN MATCH` of that literal prefix.
fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\' | '^') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A connection to Redis as every Redis user in hush holds it: one server through a
/// [`ConnectionManager`] (reconnects after a restart), one plain multiplexed connection
/// (dedicated to blocking reads), or a Redis Cluster through redis-rs's cluster client
/// (MOVED/ASK, slot-map refresh and reconnects handled by it). Every command hush sends
/// goes through [`redis::aio::ConnectionLike`], so callers do not care which it is.
#[derive(Clone)]
pub enum RedisConn {
    /// One server, reconnecting.
    Manager(ConnectionManager),
    /// One server, one dedicated connection.
    Plain(redis::aio::MultiplexedConnection),
    /// A Redis Cluster.
    Cluster(redis::cluster_async::ClusterConnection),
}

impl redis::aio::ConnectionLike for RedisConn {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            RedisConn::Manager(c) => c.req_packed_command(cmd),
            RedisConn::Plain(c) => c.req_packed_command(cmd),
            RedisConn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            RedisConn::Manager(c) => c.req_packed_commands(pipeline, offset, count),
            RedisConn::Plain(c) => c.req_packed_commands(pipeline, offset, count),
            RedisConn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConn::Manager(c) => c.get_db(),
            RedisConn::Plain(c) => c.get_db(),
            RedisConn::Cluster(c) => c.get_db(),
        }
    }
}

impl RedisConn {
    /// Opens the connection hush would use for `url` (one server or a
    /// `redis+cluster://` cluster), for tests and benchmarks that inspect Redis as hush
    /// sees it.
    ///
    /// # Errors
    /// As [`RedisBackend::connect`].
    #[doc(hidden)]
    pub async fn open(url: &str) -> Result<RedisConn> {
        Ok(Connection::open(url).await?.conn)
    }

    /// Sends `cmd` to the master that holds `key`'s slot (on one server: to it).
    ///
    /// # Errors
    /// When Redis fails.
    pub async fn on_master_of<T: redis::FromRedisValue>(
        &mut self,
        key: &str,
        cmd: &redis::Cmd,
    ) -> redis::RedisResult<T> {
        match self {
            RedisConn::Cluster(c) => {
                use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
                let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(
                    Route::with_key(key, SlotAddr::Master),
                ));
                let value = c.route_command(cmd.clone(), route).await?;
                redis::from_redis_value(value).map_err(Into::into)
            }
            other => cmd.query_async(other).await,
        }
    }
}

/// How long a write that must survive the loss of its master waits for a replica.
const REPLICA_WAIT_MS: u64 = 2000;
/// How long a slot whose master was seen with no replica is written without waiting
/// before it is checked again.
const NO_REPLICA_RECHECK: Duration = Duration::from_secs(2);

/// Where a [`Connection`] connects: one server or a cluster.
#[derive(Clone)]
enum Target {
    Single(Box<redis::Client>),
    /// The cluster client, and a client per seed node (for subscriptions).
    Cluster(Box<redis::cluster::ClusterClient>, Vec<redis::Client>),
}

/// A connection to Redis as every Redis user in hush opens it: the shared [`RedisConn`]
/// (reconnecting), what opens dedicated connections (for blocking stream reads), the URL
/// without its password, and whether writes that matter wait for a replica.
#[derive(Clone)]
pub(crate) struct Connection {
    target: Target,
    pub conn: RedisConn,
    pub display: String,
    /// The masters of a cluster (1 on one server), seen at connect.
    pub masters: usize,
    /// Whether writes that must survive the loss of a master wait for a replica: on a
    /// cluster whose masters have replicas, unless `HUSH_REDIS_WAIT_REPLICA=off`.
    pub wait_replica: bool,
    /// Slots whose master had no replica connected, and when that was seen.
    no_replica: Arc<Mutex<HashMap<redis::cluster_routing::Slot, std::time::Instant>>>,
}

/// The URL scheme that names a Redis Cluster: `redis+cluster://[user:password@]h1:p1,h2:p2`
/// (`rediss+cluster://` with TLS), each host a seed node.
pub const CLUSTER_SCHEMES: [&str; 2] = ["redis+cluster://", "rediss+cluster://"];

/// The seed node URLs named by a `redis+cluster://` URL, each with the URL's user,
/// password and query; `None` for a URL of one server.
///
/// # Errors
/// [`Invalid`](crate::error::ErrorKind::Invalid) for a cluster URL with no host.
pub(crate) fn cluster_nodes(url: &str) -> Result<Option<Vec<String>>> {
    let Some((scheme, rest)) = CLUSTER_SCHEMES
        .iter()
        .find_map(|s| url.strip_prefix(s).map(|rest| (s, rest)))
    else {
        return Ok(None);
    };
    let node_scheme = if scheme.starts_with("rediss") {
        "rediss://"
    } else {
        "redis://"
    };
    let (auth, rest) = match rest.rfind('@') {
        Some(at) => (&rest[..=at], &rest[at + 1..]),
        None => ("", rest),
    };
    let (hosts, tail) = match rest.find(['/', '?', '#']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let tail = tail.strip_prefix('/').unwrap_or(tail);
    let nodes: Vec<String> = hosts
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| format!("{node_scheme}{auth}{h}/{tail}"))
        .collect();
    if nodes.is_empty() {
        return Err(Error::invalid(
            "HUSH_REDIS_URL",
            format!("{}: a Redis Cluster URL names no node", display_url(url)),
        ));
    }
    Ok(Some(nodes))
}

impl Connection {
    /// Connects to `url`: `redis://` / `rediss://` for one server, `redis+cluster://`
    /// for a Redis Cluster ([`cluster_nodes`]).
    ///
    /// # Errors
    /// [`Invalid`](crate::error::ErrorKind::Invalid) for a bad URL;
    /// [`Unavailable`](crate::error::ErrorKind::Unavailable) when Redis cannot be reached.
    pub async fn open(url: &str) -> Result<Self> {
        let display = display_url(url);
        let invalid =
            |e: redis::RedisError| Error::invalid("HUSH_REDIS_URL", format!("{display}: {e}"));
        if let Some(nodes) = cluster_nodes(url)? {
            let seeds = nodes
                .iter()
                .map(|n| redis::Client::open(n.as_str()))
                .collect::<redis::RedisResult<Vec<_>>>()
                .map_err(invalid)?;
            let client = redis::cluster::ClusterClientBuilder::new(nodes)
                .connection_timeout(Duration::from_secs(2))
                .response_timeout(Duration::from_secs(5))
                .retries(12)
                .min_retry_wait(20)
                .max_retry_wait(1000)
                .build()
                .map_err(invalid)?;
            let mut conn = client
                .get_async_connection()
                .await
                .map_err(|e| unavailable(&display, &e))?;
            let (masters, replicated) = cluster_shape(&mut conn)
                .await
                .map_err(|e| unavailable(&display, &e))?;
            let wait_replica =
                replicated && std::env::var("HUSH_REDIS_WAIT_REPLICA").map_or(true, |v| v != "off");
            return Ok(Connection {
                target: Target::Cluster(Box::new(client), seeds),
                conn: RedisConn::Cluster(conn),
                display,
                masters,
                wait_replica,
                no_replica: Arc::default(),
            });
        }
        let client = redis::Client::open(url).map_err(invalid)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .map_err(|e| unavailable(&display, &e))?;
        Ok(Connection {
            target: Target::Single(Box::new(client)),
            conn: RedisConn::Manager(conn),
            display,
            masters: 1,
            wait_replica: false,
            no_replica: Arc::default(),
        })
    }

    /// Whether this is a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.target, Target::Cluster(..))
    }

    /// A new connection of its own, for blocking reads (which would stall the shared
    /// one), whose response timeout outlasts the longest block (5 s).
    ///
    /// # Errors
    /// When Redis cannot be reached.
    pub async fn dedicated(&self) -> Result<RedisConn> {
        match &self.target {
            Target::Single(client) => {
                let config = redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(2)))
                    .set_response_timeout(Some(Duration::from_secs(10)));
                client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                    .map(RedisConn::Plain)
                    .map_err(|e| self.fail(&e))
            }
            Target::Cluster(client, _) => {
                let config = redis::cluster::ClusterConfig::new()
                    .set_connection_timeout(Duration::from_secs(2))
                    .set_response_timeout(Duration::from_secs(10));
                client
                    .get_async_connection_with_config(config)
                    .await
                    .map(RedisConn::Cluster)
                    .map_err(|e| self.fail(&e))
            }
        }
    }

    /// A subscription connection of its own: to the server, or to the first seed node of
    /// a cluster that answers (a cluster delivers every node's publishes to each node).
    ///
    /// # Errors
    /// When no node can be reached.
    pub async fn pubsub(&self) -> Result<redis::aio::PubSub> {
        let clients: &[redis::Client] = match &self.target {
            Target::Single(client) => std::slice::from_ref(client),
            Target::Cluster(_, seeds) => seeds,
        };
        let mut last = None;
        for client in clients {
            match client.get_async_pubsub().await {
                Ok(pubsub) => return Ok(pubsub),
                Err(e) => last = Some(self.fail(&e)),
            }
        }
        Err(last.unwrap_or_else(|| Error::unavailable("no Redis node to subscribe to")))
    }

    /// The error for a failed command, naming the server but not its password.
    pub fn fail(&self, e: &redis::RedisError) -> Error {
        unavailable(&self.display, e)
    }

    /// On a cluster with replicas ([`Connection::wait_replica`]): waits until a replica
    /// of the master holding `key` has every write `conn` sent to that master before
    /// (Redis `WAIT`; the cluster client keeps one connection per node, so that includes
    /// the caller's write). Returns once one acknowledged, or when the master has no
    /// replica connected now (after a failover, until a replica rejoins: then the write
    /// lives on that master only, as the README's Redis Cluster section says).
    ///
    /// # Errors
    /// [`Unavailable`](crate::error::ErrorKind::Unavailable) when the master has a replica
    /// and none acknowledged within the timeout; when Redis fails.
    pub async fn wait_for_replica(&self, conn: &mut RedisConn, key: &str) -> Result<()> {
        if !self.wait_replica {
            return Ok(());
        }
        let slot = redis::cluster_routing::Slot::for_key(key);
        {
            let mut seen = self.no_replica.lock().unwrap_or_else(|p| p.into_inner());
            match seen.get(&slot) {
                Some(at) if at.elapsed() < NO_REPLICA_RECHECK => return Ok(()),
                Some(_) => {
                    seen.remove(&slot);
                }
                None => {}
            }
        }
        let acked: i64 = conn
            .on_master_of(key, redis::cmd("WAIT").arg(1).arg(REPLICA_WAIT_MS))
            .await
            .map_err(|e| self.fail(&e))?;
        if acked >= 1 {
            return Ok(());
        }
        let info: String = conn
            .on_master_of(key, redis::cmd("INFO").arg("replication"))
            .await
            .map_err(|e| self.fail(&e))?;
        let connected = info
            .lines()
            .find_map(|l| l.strip_prefix("connected_slaves:"))
            .and_then(|n| n.trim().parse::<u32>().ok())
            .unwrap_or(0);
        if connected == 0 {
            self.no_replica
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(slot, std::time::Instant::now());
            return Ok(());
        }
        crate::metrics::redis_error();
        Err(Error::unavailable(format!(
            "the Redis store at {} is unavailable: no replica confirmed the write in {REPLICA_WAIT_MS} ms; try again",
            self.display
        )))
    }
}

/// How many masters the cluster has, and whether every one has a replica (from
/// `CLUSTER SHARDS`, or `CLUSTER SLOTS` on servers before 7).
async fn cluster_shape(
    conn: &mut redis::cluster_async::ClusterConnection,
) -> redis::RedisResult<(usize, bool)> {
    // CLUSTER SLOTS: one row per slot range: start, end, master, replicas...
    let rows: Vec<Vec<redis::Value>> = redis::cmd("CLUSTER").arg("SLOTS").query_async(conn).await?;
    let mut masters: HashMap<String, bool> = HashMap::new();
    for row in rows {
        let master = row.get(2).map(|v| format!("{v:?}")).unwrap_or_default();
        let replicated = row.len() > 3;
        let entry = masters.entry(master).or_insert(true);
        *entry = *entry && replicated;
    }
    let n = masters.len().max(1);
    Ok((n, !masters.is_empty() && masters.values().all(|r| *r)))
}

fn unavailable(display: &str, e: &redis::RedisError) -> Error {
    let what = if e.is_connection_refusal() {
        "connection refused".to_owned()
    } else if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_io_error() || e.is_connection_dropped() {
        "connection lost".to_owned()
    } else if matches!(e.code(), Some("MOVED" | "ASK" | "CROSSSLOT"))
        && !CLUSTER_SCHEMES.iter().any(|s| display.starts_with(s))
    {
        format!(
            "{e}: it is a node of a Redis Cluster; name the cluster with redis+cluster://host:port,host:port (see the README's Redis Cluster section)"
        )
    } else {
        e.to_string()
    };
    Error::unavailable(format!(
        "the Redis store at {display} is unavailable: {what}"
    ))
}

fn push_cells(invocation: &mut redis::ScriptInvocation<'_>, cells: &[super::Cell]) {
    invocation.arg(cells.len());
    for cell in cells {
        invocation
            .arg(cell.table.index() + 1)
            .arg(&cell.field)
            .arg(if cell.value.is_some() { "1" } else { "0" })
            .arg(cell.value.as_deref().unwrap_or_default());
    }
}

#[async_trait]
impl Backend for RedisBackend {
    fn describe(&self) -> String {
        format!("redis at {}", self.display)
    }

    async fn read(&self, org: &OrgId, fields: &[(Table, &str)]) -> Result<Vec<Option<Vec<u8>>>> {
        if let Some((values, _)) = self.coherent(org, fields) {
            return Ok(values);
        }
        Ok(self.read_through(org, fields).await?.0)
    }

    async fn read_at(
        &self,
        org: &OrgId,
        fields: &[(Table, &str)],
    ) -> Result<(Vec<Option<Vec<u8>>>, Option<OrgVersion>)> {
        if let Some((values, version)) = self.coherent(org, fields) {
            return Ok((values, Some(version)));
        }
        self.read_through(org, fields).await
    }

    async fn read_seen(
        &self,
        org: &OrgId,
        fields: &[(Table, &str)],
        seen: Option<&OrgVersion>,
    ) -> Result<Vec<Option<Vec<u8>>>> {
        let seen = seen.filter(|_| self.cache_answers);
        if let Some(cached) = seen.and_then(|v| self.cache.get(org, fields, v)) {
            self.cache.hit();
            return Ok(cached);
        }
        if let Some((values, _)) = self.coherent(org, fields) {
            return Ok(values);
        }
        crate::metrics::read_cache(false);
        Ok(self.read_through(org, fields).await?.0)
    }

    async fn scan(&self, org: &OrgId, table: Table) -> Result<Vec<(String, Vec<u8>)>> {
        let keys = OrgKeys::new(org);
        let mut all: Vec<(String, Vec<u8>)> = self
            .conn
            .clone()
            .hgetall(keys.table(table))
            .await
            .map_err(|e| self.fail(e))?;
        all.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(all)
    }

    async fn commit(&self, org: &OrgId, txn: Txn) -> Result<Commit> {
        let keys = OrgKeys::new(org);
        let mut invocation = self.commit.prepare_invoke();
        for key in keys.all() {
            invocation.key(key);
        }
        push_cells(&mut invocation, &txn.expect);
        push_cells(&mut invocation, &txn.writes);
        let mut version = [0u8; 16];
        getrandom::fill(&mut version).expect("the operating system's random source failed");
        invocation
            .arg(txn.audit.as_deref().unwrap_or_default())
            .arg(AUDIT_CAP)
            .arg(hex::encode(version));
        let mut conn = self.conn.clone();
        let applied: Result<i64> = async {
            let applied: i64 = invocation
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.fail(e))?;
            if applied == 1 {
                // Acknowledged only once a replica has it (a failover keeps the change) and
                // once no process's cache can answer from before it.
                self.redis
                    .wait_for_replica(&mut conn, &keys.version)
                    .await?;
                self.cache.announce(&self.redis, &mut conn, org).await?;
            }
            Ok(applied)
        }
        .await;
        let applied = applied.inspect_err(|_| {
            // Not acknowledged, but perhaps applied (a reply lost, a replica or a cache
            // that did not answer): announced until Redis takes it, so no cache keeps
            // answering from before it.
            self.cache.announce_later(&self.redis, org);
        })?;
        if applied != 1 {
            // What this process cached of the org lost to a change it has not yet been
            // told of: the retry reads Redis.
            self.cache.forget(org);
        }
        Ok(if applied == 1 {
            Commit::Applied
        } else {
            Commit::Conflict
        })
    }

    async fn page(
        &self,
        org: &OrgId,
        table: Table,
        join: Table,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        if !table.is_ordered() {
            return Err(Error::internal(format!(
                "the {} table is not kept in order",
                table.name()
            )));
        }
        let keys = OrgKeys::new(org);
        let flat: Vec<Vec<u8>> = self
            .page
            .key(keys.table(table))
            .key(&keys.names_index)
            .key(keys.table(join))
            .arg(after.unwrap_or_default())
            .arg(limit)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.fail(e))?;
        let mut out = Vec::with_capacity(flat.len() / 2);
        let mut it = flat.into_iter();
        while let (Some(name), Some(meta)) = (it.next(), it.next()) {
            let name = String::from_utf8(name)
                .map_err(|_| Error::internal("a stored field name is not UTF-8"))?;
            out.push((name, meta));
        }
        Ok(out)
    }

    async fn register_org(&self, org: &OrgId) -> Result<()> {
        let _: i64 = self
            .conn
            .clone()
            .sadd(ORGS_KEY, org.as_str())
            .await
            .map_err(|e| self.fail(e))?;
        Ok(())
    }

    async fn orgs(&self) -> Result<Vec<OrgId>> {
        let mut names: Vec<String> = self
            .conn
            .clone()
            .smembers(ORGS_KEY)
            .await
            .map_err(|e| self.fail(e))?;
        names.sort();
        names.iter().map(|n| OrgId::parse(n)).collect()
    }

    async fn drop_org(&self, org: &OrgId) -> Result<()> {
        let keys = OrgKeys::new(org);
        let mut conn = self.conn.clone();
        // First its data version, so no cached read of it is served any more; then its
        // tokens, so nothing authenticates to it (and dispatches runs) any more; then
        // every process's cache is told, and waited for.
        let _: i64 = conn.del(&keys.version).await.map_err(|e| self.fail(e))?;
        let _: i64 = conn
            .del(keys.table(Table::Tokens))
            .await
            .map_err(|e| self.fail(e))?;
        self.cache
            .announce(&self.redis, &mut conn, org)
            .await
            .inspect_err(|_| self.cache.announce_later(&self.redis, org))?;
        // Then every key under its hash tag but its meta (runs, their events, idempotency
        // keys, indexes, the store's tables), a batch at a time; sweep again while a sweep
        // still finds keys (a run that was ending may have written one meanwhile).
        let meta = keys.table(Table::Org);
        let pattern = format!("{}*", glob_escape(&org_key(org, "")));
        for _ in 0..5 {
            if self.sweep(&pattern, meta).await? == 0 {
                break;
            }
        }
        // Its entries in every partition of the shared work queue, and dead letters.
        let mut streams: Vec<String> = conn
            .smembers(QUEUE_PARTITIONS)
            .await
            .map_err(|e| self.fail(e))?;
        streams.extend([LEGACY_WORK_STREAM.to_owned(), DEAD_STREAM.to_owned()]);
        for stream in &streams {
            self.drop_stream_entries(stream, org).await?;
        }
        // Last the org itself, so an interrupted removal can be run again.
        let all: Vec<&str> = keys.all().collect();
        let _: i64 = conn.del(all).await.map_err(|e| self.fail(e))?;
        let _: i64 = conn
            .srem(ORGS_KEY, org.as_str())
            .await
            .map_err(|e| self.fail(e))?;
        // Anything read during the sweep is cached nowhere any more.
        self.cache
            .announce(&self.redis, &mut conn, org)
            .await
            .inspect_err(|_| self.cache.announce_later(&self.redis, org))
    }

    async fn append_audit(&self, entries: Vec<(OrgId, Vec<u8>)>) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        // One pipeline per org (each in the org's slot), sent together.
        let mut by_org: Vec<(OrgId, redis::Pipeline)> = Vec::new();
        for (org, entry) in entries {
            let at = match by_org.iter().position(|(o, _)| *o == org) {
                Some(at) => at,
                None => {
                    by_org.push((org.clone(), redis::pipe()));
                    by_org.len() - 1
                }
            };
            by_org[at]
                .1
                .cmd("XADD")
                .arg(org_key(&org, AUDIT))
                .arg("MAXLEN")
                .arg("~")
                .arg(AUDIT_CAP)
                .arg("*")
                .arg("e")
                .arg(entry)
                .ignore();
        }
        let sends = by_org.into_iter().map(|(_, pipe)| {
            let mut conn = self.conn.clone();
            async move { pipe.query_async::<()>(&mut conn).await }
        });
        for sent in futures_util::future::join_all(sends).await {
            sent.map_err(|e| self.fail(e))?;
        }
        Ok(())
    }

    async fn audit_page(
        &self,
        org: &OrgId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        let keys = OrgKeys::new(org);
        let start = after.map_or_else(|| "-".to_owned(), |id| format!("({id}"));
        let rows: Vec<(String, Vec<(String, Vec<u8>)>)> = redis::cmd("XRANGE")
            .arg(&keys.audit)
            .arg(start)
            .arg("+")
            .arg("COUNT")
            .arg(limit)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.fail(e))?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, fields)| fields.into_iter().next().map(|(_, entry)| (id, entry)))
            .collect())
    }

    async fn ping(&self) -> Result<()> {
        let _: String = redis::cmd("PING")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.fail(e))?;
        Ok(())
    }

    fn keep_coherent(&self) {
        RedisBackend::keep_coherent(self);
    }

    async fn stop_coherent(&self) {
        self.cache.stop_coherent(&self.redis).await;
    }

    fn final_records(&self) -> Option<FinalRecords> {
        RedisBackend::final_records(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_url_hides_the_password() {
        assert_eq!(
            display_url("redis://:hunter22@db:6379/0"),
            "redis://***@db:6379/0"
        );
        assert_eq!(
            display_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
    }

    #[test]
    fn a_cluster_url_names_each_seed_with_its_user_and_password() {
        assert_eq!(
            cluster_nodes("redis+cluster://app:s3cret@h1:7001,h2:7002/?protocol=resp3")
                .unwrap()
                .unwrap(),
            vec![
                "redis://app:s3cret@h1:7001/?protocol=resp3".to_owned(),
                "redis://app:s3cret@h2:7002/?protocol=resp3".to_owned(),
            ]
        );
        assert_eq!(
            cluster_nodes("rediss+cluster://h1:7001").unwrap().unwrap(),
            vec!["rediss://h1:7001/".to_owned()]
        );
        assert_eq!(cluster_nodes("redis://h1:6379/0").unwrap(), None);
        let err = cluster_nodes("redis+cluster://:pw@").unwrap_err();
        assert!(!err.message().contains("pw"), "{err}");
        assert_eq!(
            display_url("redis+cluster://app:s3cret@h1:7001,h2:7002"),
            "redis+cluster://***@h1:7001,h2:7002"
        );
    }

    #[test]
    fn every_org_key_carries_the_org_hash_tag() {
        let org = OrgId::parse("acme").unwrap();
        for key in OrgKeys::new(&org).all() {
            assert!(key.starts_with("hush:{acme}:"), "{key}");
        }
    }
}
