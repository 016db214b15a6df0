//! The Redis backend, for production: every key of one org carries the org in a hash tag
//! (`hush:{org}:…`) so an org's keys share a Cluster slot and a change to them is one
//! atomic Lua script.
//!
//! Key layout (all key names live here):
//! - `hush:{org}:<table>`: one hash per [`Table`];
//! - `hush:{org}:names:idx`: a sorted set of case-folded names, for listing in name order;
//! - `hush:{org}:audit`: the org's audit stream, capped near [`AUDIT_CAP`] entries;
//! - `hush:{org}:ver`: the org's data version ([`OrgVersion`]), replaced by every commit;
//! - `hush:orgs`: the set of org ids.
//!
//! Every other key under an org's hash tag (run history, see [`crate::runs`]) is the org's
//! too: [`Backend::drop_org`] deletes every `hush:{org}:*` key, and the org's entries in
//! the shared work queue streams (`hush:queue`, `hush:queue:dead`).
//!
//! The connection is a [`ConnectionManager`]: after Redis restarts, commands fail with a
//! clear error until it is back, then work again without a restart of hush.
//!
//! Reads are cached per org at the data version they were read at (read atomically with
//! the fields): metadata, ciphertexts, wrapped data keys and user records, never a
//! plaintext. A cached answer is given only to [`Backend::read_seen`] with the very version
//! it was read at, which a run learns in a round trip it makes anyway (storing or starting
//! it) after every change acknowledged before it; so a cache hit is never stale, whatever
//! happened to connections or to Redis meanwhile (a restart that loses the data loses the
//! version too, and nothing is served without one).

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::{AUDIT_CAP, Backend, Commit, OrgVersion, Table, Txn};
use crate::error::{Error, Result};
use crate::model::OrgId;

const ORGS_KEY: &str = "hush:orgs";
/// The work queue's stream (`runs::queue` reads and writes it; org removal drops an
/// org's entries from it). Key names live here, below every room that uses them.
pub const WORK_STREAM: &str = "hush:queue";
/// Where dead-lettered queue entries are copied.
pub const DEAD_STREAM: &str = "hush:queue:dead";
/// The consumer group every worker reads the work stream through.
pub const WORK_GROUP: &str = "workers";
/// The suffix of an org's audit stream key.
const AUDIT: &str = "audit";
/// The suffix of an org's data version key.
const VERSION: &str = "ver";
/// The most fields cached per org, and the most orgs cached; past either, that cache is
/// emptied and filled again by the next reads.
const CACHE_FIELDS: usize = 20_000;
const CACHE_ORGS: usize = 10_000;

/// One org's cached fields, all read at `version`.
struct Snapshot {
    version: OrgVersion,
    fields: HashMap<(Table, String), Option<Vec<u8>>>,
}

/// Cached reads, per org (see the module documentation). Never holds a plaintext.
#[derive(Default)]
struct ReadCache {
    orgs: Mutex<HashMap<OrgId, Snapshot>>,
    hits: AtomicU64,
}

impl ReadCache {
    /// The cached values of `fields`, when every one was read at exactly `seen`.
    fn get(
        &self,
        org: &OrgId,
        fields: &[(Table, &str)],
        seen: &OrgVersion,
    ) -> Option<Vec<Option<Vec<u8>>>> {
        let orgs = self.orgs.lock().unwrap_or_else(|p| p.into_inner());
        let snapshot = orgs.get(org).filter(|s| s.version == *seen)?;
        fields
            .iter()
            .map(|(table, field)| snapshot.fields.get(&(*table, (*field).to_owned())).cloned())
            .collect()
    }

    /// Keeps `values` of `fields`, read at `version`.
    fn put(
        &self,
        org: &OrgId,
        version: OrgVersion,
        fields: &[(Table, &str)],
        values: &[Option<Vec<u8>>],
    ) {
        let mut orgs = self.orgs.lock().unwrap_or_else(|p| p.into_inner());
        if orgs.len() >= CACHE_ORGS && !orgs.contains_key(org) {
            orgs.clear();
        }
        let snapshot = orgs.entry(org.clone()).or_insert_with(|| Snapshot {
            version: version.clone(),
            fields: HashMap::new(),
        });
        if snapshot.version != version {
            snapshot.version = version;
            snapshot.fields.clear();
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

    fn forget(&self, org: &OrgId) {
        self.orgs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(org);
    }

    /// Every cached byte string, for tests that check the cache holds no plaintext.
    fn contents(&self) -> Vec<Vec<u8>> {
        let orgs = self.orgs.lock().unwrap_or_else(|p| p.into_inner());
        orgs.values()
            .flat_map(|s| s.fields.values().flatten().cloned())
            .collect()
    }
}

/// Stores hush's data in Redis (or a Redis-compatible server).
#[derive(Clone)]
pub struct RedisBackend {
    conn: ConnectionManager,
    display: String,
    commit: Script,
    page: Script,
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

impl RedisBackend {
    /// Connects to the Redis server at `url` (`redis://host:port/db`).
    ///
    /// # Errors
    /// [`Unavailable`](crate::error::ErrorKind::Unavailable) when the server cannot be reached.
    pub async fn connect(url: &str) -> Result<Self> {
        let Connection { conn, display, .. } = Connection::open(url).await?;
        Ok(RedisBackend {
            conn,
            display,
            commit: Script::new(include_str!("lua/commit.lua")),
            page: Script::new(include_str!("lua/page.lua")),
            cache: Arc::default(),
            cache_answers: std::env::var("HUSH_READ_CACHE").map_or(true, |v| v != "off"),
        })
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
            self.cache.put(org, version.clone(), fields, &values);
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
            let (next, mut keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(SWEEP_BATCH)
                .query_async(&mut conn)
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

/// A connection to one Redis server, as every Redis user in hush opens it: a
/// [`ConnectionManager`] that reconnects after a restart, the client (for dedicated
/// connections, e.g. blocking stream reads) and the URL without its password.
#[derive(Clone)]
pub(crate) struct Connection {
    pub client: redis::Client,
    pub conn: ConnectionManager,
    pub display: String,
}

impl Connection {
    /// Connects to `url`.
    ///
    /// # Errors
    /// [`Invalid`](crate::error::ErrorKind::Invalid) for a bad URL;
    /// [`Unavailable`](crate::error::ErrorKind::Unavailable) when the server cannot be reached.
    pub async fn open(url: &str) -> Result<Self> {
        let display = display_url(url);
        let client = redis::Client::open(url)
            .map_err(|e| Error::invalid("HUSH_REDIS_URL", format!("{display}: {e}")))?;
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
            client,
            conn,
            display,
        })
    }

    /// The error for a failed command, naming the server but not its password.
    pub fn fail(&self, e: &redis::RedisError) -> Error {
        unavailable(&self.display, e)
    }
}

fn unavailable(display: &str, e: &redis::RedisError) -> Error {
    let what = if e.is_connection_refusal() {
        "connection refused".to_owned()
    } else if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_io_error() || e.is_connection_dropped() {
        "connection lost".to_owned()
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
        Ok(self.read_through(org, fields).await?.0)
    }

    async fn read_at(
        &self,
        org: &OrgId,
        fields: &[(Table, &str)],
    ) -> Result<(Vec<Option<Vec<u8>>>, Option<OrgVersion>)> {
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
            self.cache.hits.fetch_add(1, Ordering::Relaxed);
            crate::metrics::read_cache(true);
            return Ok(cached);
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
        let applied: i64 = invocation
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.fail(e))?;
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
        // tokens, so nothing authenticates to it (and dispatches runs) any more.
        self.cache.forget(org);
        let _: i64 = conn.del(&keys.version).await.map_err(|e| self.fail(e))?;
        let _: i64 = conn
            .del(keys.table(Table::Tokens))
            .await
            .map_err(|e| self.fail(e))?;
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
        // Its entries in the shared work queue and dead letters.
        for stream in [WORK_STREAM, DEAD_STREAM] {
            self.drop_stream_entries(stream, org).await?;
        }
        // Last the org itself, so an interrupted removal can be run again.
        let all: Vec<&str> = keys.all().collect();
        let _: i64 = conn.del(all).await.map_err(|e| self.fail(e))?;
        let _: i64 = conn
            .srem(ORGS_KEY, org.as_str())
            .await
            .map_err(|e| self.fail(e))?;
        Ok(())
    }

    async fn append_audit(&self, entries: Vec<(OrgId, Vec<u8>)>) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for (org, entry) in entries {
            pipe.cmd("XADD")
                .arg(org_key(&org, AUDIT))
                .arg("MAXLEN")
                .arg("~")
                .arg(AUDIT_CAP)
                .arg("*")
                .arg("e")
                .arg(entry)
                .ignore();
        }
        pipe.query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(|e| self.fail(e))
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
    fn every_org_key_carries_the_org_hash_tag() {
        let org = OrgId::parse("acme").unwrap();
        for key in OrgKeys::new(&org).all() {
            assert!(key.starts_with("hush:{acme}:"), "{key}");
        }
    }
}
