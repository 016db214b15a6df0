//! The embedded backend, hush's default when no Redis URL is given: one redb database
//! file under the data directory, no server needed.
//!
//! The file holds only what the Redis backend would hold (metadata JSON and ciphertext),
//! never a plaintext. Several hush processes may use it at once (redb's multi-writer
//! mode); each change is one ACID write transaction.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use redb::{ConcurrencyMode, Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::{AUDIT_CAP, Backend, Commit, Table, Txn};
use crate::error::{Error, Result};
use crate::model::OrgId;

/// `org \0 table \0 field` → bytes.
const DATA: TableDefinition<&str, &[u8]> = TableDefinition::new("data");
/// Org ids.
const ORGS: TableDefinition<&str, ()> = TableDefinition::new("orgs");
/// `(org, sequence)` → audit entry.
const AUDIT: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("audit");
/// org → last audit sequence number.
const AUDIT_SEQ: TableDefinition<&str, u64> = TableDefinition::new("audit_seq");

/// The file name of the database inside the data directory.
pub const FILE_NAME: &str = "hush.redb";

/// Stores hush's data in a local redb file.
#[derive(Clone)]
pub struct EmbeddedBackend {
    db: Arc<Database>,
    path: PathBuf,
}

fn key(org: &OrgId, table: Table, field: &str) -> String {
    format!("{org}\0{}\0{field}", table.name())
}

fn prefix(org: &OrgId, table: Table) -> String {
    key(org, table, "")
}

impl EmbeddedBackend {
    /// Opens (or creates) the store in `dir`, creating the directory with mode 0700.
    ///
    /// # Errors
    /// [`Unavailable`](crate::error::ErrorKind::Unavailable) when the directory or file
    /// cannot be created or opened.
    pub fn open(dir: &Path) -> Result<Self> {
        create_private_dir(dir)?;
        let path = dir.join(FILE_NAME);
        let db = Database::builder()
            .set_concurrency_mode(ConcurrencyMode::MultiWriter)
            .set_cache_size(64 << 20)
            .create(&path)
            .map_err(|e| {
                Error::unavailable(format!(
                    "cannot open the embedded store {}: {e}",
                    path.display()
                ))
            })?;
        {
            use std::os::unix::fs::PermissionsExt;
            let private = std::fs::Permissions::from_mode(0o600);
            std::fs::set_permissions(&path, private).map_err(|e| {
                Error::unavailable(format!("cannot make {} private: {e}", path.display()))
            })?;
        }
        Ok(EmbeddedBackend {
            db: Arc::new(db),
            path,
        })
    }

    /// Runs blocking redb work off the async runtime.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Database) -> Result<T, redb::Error> + Send + 'static,
    ) -> Result<T> {
        let db = Arc::clone(&self.db);
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || work(&db))
            .await
            .map_err(|e| Error::internal(format!("embedded store task failed: {e}")))?
            .map_err(|e| {
                Error::unavailable(format!("the embedded store {} failed: {e}", path.display()))
            })
    }
}

/// Opens `table` for reading; `None` when nothing was ever written to it.
fn read_table<K: redb::Key + 'static, V: redb::Value + 'static>(
    tx: &redb::ReadTransaction,
    table: TableDefinition<K, V>,
) -> Result<Option<redb::ReadOnlyTable<K, V>>, redb::Error> {
    match tx.open_table(table) {
        Ok(table) => Ok(Some(table)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Creates `dir` (and parents) readable by the owner only.
pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| {
            Error::unavailable(format!(
                "cannot create the data directory {}: {e}",
                dir.display()
            ))
        })
}

fn strip<'a>(full: &'a str, prefix: &str) -> &'a str {
    &full[prefix.len()..]
}

#[async_trait]
impl Backend for EmbeddedBackend {
    fn describe(&self) -> String {
        format!("embedded store at {}", self.path.display())
    }

    async fn read(&self, org: &OrgId, fields: &[(Table, &str)]) -> Result<Vec<Option<Vec<u8>>>> {
        let keys: Vec<String> = fields.iter().map(|(t, f)| key(org, *t, f)).collect();
        self.blocking(move |db| {
            let tx = db.begin_read()?;
            let Some(table) = read_table(&tx, DATA)? else {
                return Ok(vec![None; keys.len()]);
            };
            keys.iter()
                .map(|k| Ok(table.get(k.as_str())?.map(|v| v.value().to_vec())))
                .collect()
        })
        .await
    }

    async fn scan(&self, org: &OrgId, table: Table) -> Result<Vec<(String, Vec<u8>)>> {
        let start = prefix(org, table);
        self.blocking(move |db| {
            let tx = db.begin_read()?;
            let Some(data) = read_table(&tx, DATA)? else {
                return Ok(Vec::new());
            };
            let mut out = Vec::new();
            for row in data.range(start.as_str()..)? {
                let (k, v) = row?;
                let Some(field) = k.value().strip_prefix(start.as_str()) else {
                    break;
                };
                out.push((field.to_owned(), v.value().to_vec()));
            }
            Ok(out)
        })
        .await
    }

    async fn commit(&self, org: &OrgId, txn: Txn) -> Result<Commit> {
        let org = org.clone();
        self.blocking(move |db| {
            let tx = db.begin_write()?;
            {
                let mut data = tx.open_table(DATA)?;
                for cell in &txn.expect {
                    let current = data.get(key(&org, cell.table, &cell.field).as_str())?;
                    if current.as_ref().map(|v| v.value()) != cell.value.as_deref() {
                        return Ok(Commit::Conflict);
                    }
                }
                for cell in &txn.writes {
                    let k = key(&org, cell.table, &cell.field);
                    match &cell.value {
                        Some(v) => {
                            data.insert(k.as_str(), v.as_slice())?;
                        }
                        None => {
                            data.remove(k.as_str())?;
                        }
                    }
                }
                if let Some(entry) = &txn.audit {
                    append_audit(&tx, &org, entry)?;
                }
            }
            tx.commit()?;
            Ok(Commit::Applied)
        })
        .await
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
        let names = prefix(org, table);
        let start = key(org, table, after.unwrap_or_default());
        let skip_first = after.is_some();
        let org = org.clone();
        self.blocking(move |db| {
            let tx = db.begin_read()?;
            let Some(data) = read_table(&tx, DATA)? else {
                return Ok(Vec::new());
            };
            let mut out = Vec::new();
            for row in data.range(start.as_str()..)? {
                if out.len() >= limit {
                    break;
                }
                let (k, id) = row?;
                let k = k.value();
                if !k.starts_with(names.as_str()) {
                    break;
                }
                if skip_first && k == start {
                    continue;
                }
                let id = String::from_utf8_lossy(id.value()).into_owned();
                if let Some(meta) = data.get(key(&org, join, &id).as_str())? {
                    out.push((strip(k, &names).to_owned(), meta.value().to_vec()));
                }
            }
            Ok(out)
        })
        .await
    }

    async fn register_org(&self, org: &OrgId) -> Result<()> {
        let org = org.clone();
        self.blocking(move |db| {
            let tx = db.begin_write()?;
            tx.open_table(ORGS)?.insert(org.as_str(), ())?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn orgs(&self) -> Result<Vec<OrgId>> {
        let names: Vec<String> = self
            .blocking(|db| {
                let tx = db.begin_read()?;
                let Some(orgs) = read_table(&tx, ORGS)? else {
                    return Ok(Vec::new());
                };
                orgs.iter()?
                    .map(|row| Ok(row?.0.value().to_owned()))
                    .collect()
            })
            .await?;
        names.iter().map(|n| OrgId::parse(n)).collect()
    }

    async fn drop_org(&self, org: &OrgId) -> Result<()> {
        let org = org.clone();
        self.blocking(move |db| {
            let tx = db.begin_write()?;
            {
                let start = format!("{org}\0");
                let end = format!("{org}\u{1}");
                tx.open_table(DATA)?
                    .retain_in(start.as_str()..end.as_str(), |_, _| false)?;
                tx.open_table(AUDIT)?
                    .retain_in((org.as_str(), 0)..=(org.as_str(), u64::MAX), |_, _| false)?;
                tx.open_table(AUDIT_SEQ)?.remove(org.as_str())?;
                tx.open_table(ORGS)?.remove(org.as_str())?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn append_audit(&self, entries: Vec<(OrgId, Vec<u8>)>) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        self.blocking(move |db| {
            let tx = db.begin_write()?;
            for (org, entry) in &entries {
                append_audit(&tx, org, entry)?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn audit_page(
        &self,
        org: &OrgId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        let first = match after {
            None => 0,
            Some(id) => id
                .parse::<u64>()
                .map_err(|_| Error::invalid("cursor", format!("{id:?} is not an audit entry id")))?
                .saturating_add(1),
        };
        let org = org.clone();
        self.blocking(move |db| {
            let tx = db.begin_read()?;
            let Some(audit) = read_table(&tx, AUDIT)? else {
                return Ok(Vec::new());
            };
            audit
                .range((org.as_str(), first)..=(org.as_str(), u64::MAX))?
                .take(limit)
                .map(|row| {
                    let (k, v) = row?;
                    Ok((k.value().1.to_string(), v.value().to_vec()))
                })
                .collect()
        })
        .await
    }

    async fn ping(&self) -> Result<()> {
        self.blocking(|db| {
            db.begin_read()?;
            Ok(())
        })
        .await
    }
}

/// Appends `entry` to `org`'s audit trail inside `tx`, trimming it to [`AUDIT_CAP`].
fn append_audit(tx: &redb::WriteTransaction, org: &OrgId, entry: &[u8]) -> Result<(), redb::Error> {
    let mut seqs = tx.open_table(AUDIT_SEQ)?;
    let seq = seqs.get(org.as_str())?.map_or(0, |v| v.value()) + 1;
    seqs.insert(org.as_str(), seq)?;
    let mut audit = tx.open_table(AUDIT)?;
    audit.insert((org.as_str(), seq), entry)?;
    if let Some(old) = seq.checked_sub(AUDIT_CAP as u64) {
        audit.remove((org.as_str(), old))?;
    }
    Ok(())
}
