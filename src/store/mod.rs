//! Storage backends: a small transactional key-value interface that the directory, the
//! secret keys and the audit trail are persisted through, with a Redis and an embedded
//! implementation.
//!
//! A backend knows nothing of permissions, encryption or validation; those live once, in
//! [`crate::directory`] and [`crate::secrets`], above this trait. It stores opaque bytes:
//! every value it ever sees is metadata JSON or ciphertext, never a plaintext.
//!
//! Data is organised per org into a few [`Table`]s (field → bytes), some kept in field
//! order for paging. Every change is a
//! [`Txn`]: compare-and-set preconditions on fields, then writes, then an optional audit
//! entry, applied atomically or not at all.

use async_trait::async_trait;

use crate::error::Result;
use crate::model::OrgId;

pub(crate) mod embedded;
pub(crate) mod redis;

pub use embedded::EmbeddedBackend;
pub use redis::{FinalRecords, RedisBackend, RedisConn};

/// One per-org table of fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Table {
    /// Org-wide settings: `meta` (creation) and `dek` (the wrapped data key).
    Org,
    /// User id → user record (role and groups).
    Users,
    /// Group id → group record (members).
    Groups,
    /// Secret id → secret metadata (never a value).
    Secrets,
    /// Secret id → ciphertext of its current value.
    Ciphertexts,
    /// Case-folded secret name → secret id; kept in name order for listing.
    Names,
    /// Content hash (hex SHA-256) → a Run Code component's bytes.
    Components,
    /// Hex SHA-256 of an API token → the token's record (never the token itself).
    Tokens,
    /// Saved action id → the saved action (its spec and who saved it).
    Actions,
    /// Secret id → the ids of the saved actions that reference it (a JSON list).
    References,
}

impl Table {
    /// Every table, in a fixed order shared by both backends.
    pub const ALL: [Table; 10] = [
        Table::Org,
        Table::Users,
        Table::Groups,
        Table::Secrets,
        Table::Ciphertexts,
        Table::Names,
        Table::Components,
        Table::Tokens,
        Table::Actions,
        Table::References,
    ];

    /// The table's position in [`Table::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether the backend keeps the table's fields in order, for [`Backend::page`]: only
    /// [`Table::Names`] (listing secrets by name).
    pub fn is_ordered(self) -> bool {
        matches!(self, Table::Names)
    }

    /// A short name used in storage keys.
    pub fn name(self) -> &'static str {
        match self {
            Table::Org => "org",
            Table::Users => "users",
            Table::Groups => "groups",
            Table::Secrets => "secrets",
            Table::Ciphertexts => "ct",
            Table::Names => "names",
            Table::Components => "components",
            Table::Tokens => "tokens",
            Table::Actions => "actions",
            Table::References => "refs",
        }
    }
}

/// One field of one table, with a value (`Some`) or its absence (`None`).
#[derive(Clone, PartialEq, Eq)]
pub struct Cell {
    /// The table.
    pub table: Table,
    /// The field within the table.
    pub field: String,
    /// The bytes, or `None` for "absent" / "delete".
    pub value: Option<Vec<u8>>,
}

/// An atomic change to one org: every precondition must hold, then every write is applied
/// and the audit entry appended; otherwise nothing happens.
#[derive(Clone, Default)]
pub struct Txn {
    /// Fields that must currently hold exactly these values (or be absent).
    pub expect: Vec<Cell>,
    /// Fields to set (`Some`) or delete (`None`).
    pub writes: Vec<Cell>,
    /// An audit entry to append with the change.
    pub audit: Option<Vec<u8>>,
}

impl Txn {
    /// An empty transaction.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requires `table[field]` to hold `value` (`None`: to be absent).
    pub fn expect(mut self, table: Table, field: &str, value: Option<&[u8]>) -> Self {
        self.expect.push(Cell {
            table,
            field: field.to_owned(),
            value: value.map(<[u8]>::to_vec),
        });
        self
    }

    /// Sets `table[field]` to `value`.
    pub fn put(mut self, table: Table, field: &str, value: Vec<u8>) -> Self {
        self.writes.push(Cell {
            table,
            field: field.to_owned(),
            value: Some(value),
        });
        self
    }

    /// Deletes `table[field]`.
    pub fn delete(mut self, table: Table, field: &str) -> Self {
        self.writes.push(Cell {
            table,
            field: field.to_owned(),
            value: None,
        });
        self
    }

    /// Appends `entry` to the org's audit trail as part of the change.
    pub fn audit(mut self, entry: Vec<u8>) -> Self {
        self.audit = Some(entry);
        self
    }
}

/// The version of one org's stored data: a fresh random token written by every applied
/// [`Txn`] of the org (and gone with the org), so two reads that see the same version see
/// the same data. Backends that cache (Redis) keep it; it is never a count that a restart
/// could repeat.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OrgVersion(pub Vec<u8>);

/// Whether a [`Txn`] was applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Commit {
    /// Every precondition held; the change is stored.
    Applied,
    /// A precondition failed; nothing was changed. Re-read and try again.
    Conflict,
}

/// How many audit entries an org keeps; older ones are trimmed.
pub const AUDIT_CAP: usize = 100_000;

/// A storage backend. Every method is one round trip to the store (or one transaction).
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Where the data lives, for messages (never includes a password).
    fn describe(&self) -> String;

    /// Reads several fields of one org at once, in one round trip.
    async fn read(&self, org: &OrgId, fields: &[(Table, &str)]) -> Result<Vec<Option<Vec<u8>>>>;

    /// Reads as [`Backend::read`] does, and names the org's data version the fields were
    /// read at, when the backend keeps one (for a later [`Backend::read_seen`]).
    async fn read_at(
        &self,
        org: &OrgId,
        fields: &[(Table, &str)],
    ) -> Result<(Vec<Option<Vec<u8>>>, Option<OrgVersion>)> {
        Ok((self.read(org, fields).await?, None))
    }

    /// Reads as [`Backend::read`] does, for a caller that knows the org's data version
    /// `seen` from a round trip it made after every change it must see (a run learns it
    /// when it is stored or started): a backend that caches may answer from its cache,
    /// with no round trip, when what it holds was read at exactly that version.
    async fn read_seen(
        &self,
        org: &OrgId,
        fields: &[(Table, &str)],
        seen: Option<&OrgVersion>,
    ) -> Result<Vec<Option<Vec<u8>>>> {
        let _ = seen;
        self.read(org, fields).await
    }

    /// Reads a whole table of one org (used for the small ones: users, groups).
    async fn scan(&self, org: &OrgId, table: Table) -> Result<Vec<(String, Vec<u8>)>>;

    /// Applies `txn` atomically if its preconditions hold.
    async fn commit(&self, org: &OrgId, txn: Txn) -> Result<Commit>;

    /// Up to `limit` fields of `table` in field order after the field `after`, each with
    /// the value of the field of `join` that its own value names (a field whose joined
    /// field is absent is skipped): an ordered index read with a one-hop lookup, in one
    /// round trip. `table` must be [ordered](Table::is_ordered).
    ///
    /// # Errors
    /// [`Internal`](crate::error::ErrorKind::Internal) for a table that is not ordered;
    /// when the store fails.
    async fn page(
        &self,
        org: &OrgId,
        table: Table,
        join: Table,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>>;

    /// Adds `org` to the list of orgs (idempotent).
    async fn register_org(&self, org: &OrgId) -> Result<()>;

    /// Every registered org.
    async fn orgs(&self) -> Result<Vec<OrgId>>;

    /// Removes an org and everything stored for it.
    async fn drop_org(&self, org: &OrgId) -> Result<()>;

    /// Appends audit entries (each to its org's trail) outside of any other change, in one
    /// round trip or transaction.
    async fn append_audit(&self, entries: Vec<(OrgId, Vec<u8>)>) -> Result<()>;

    /// Up to `limit` audit entries after the entry id `after`, oldest first:
    /// `(entry id, entry)` pairs.
    async fn audit_page(
        &self,
        org: &OrgId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>>;

    /// Checks the store answers.
    async fn ping(&self) -> Result<()>;

    /// For a long-lived process: lets a backend that caches answer reads from its cache
    /// with no round trip, for as long as it can prove the cache current (the Redis
    /// backend's lease and invalidations, [`RedisBackend::keep_coherent`]). Nothing for
    /// a backend that does not cache.
    fn keep_coherent(&self) {}

    /// Ends what [`Backend::keep_coherent`] started, on a clean shutdown (the Redis
    /// backend drops its lease, so that no change waits for it to run out).
    async fn stop_coherent(&self) {}

    /// This backend's coherent cache for records that never change once written (the
    /// run store's ended runs), when it keeps one ([`RedisBackend::final_records`]).
    fn final_records(&self) -> Option<FinalRecords> {
        None
    }
}

/// How many times an operation re-reads and retries after a [`Commit::Conflict`].
const MAX_ATTEMPTS: usize = 64;

/// Runs an optimistic read-modify-commit `attempt` until it applies: `Ok(Some(t))` when it
/// committed, `Ok(None)` when it hit a conflict and should re-read.
///
/// # Errors
/// The attempt's own error, or [`Conflict`](crate::error::ErrorKind::Conflict) after
/// `MAX_ATTEMPTS` conflicts in a row.
pub async fn retry_on_conflict<T, F, Fut>(what: &str, mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    for _ in 0..MAX_ATTEMPTS {
        if let Some(done) = attempt().await? {
            return Ok(done);
        }
        tokio::task::yield_now().await;
    }
    Err(crate::error::Error::conflict(format!(
        "{what} kept conflicting with concurrent changes; try again"
    )))
}
