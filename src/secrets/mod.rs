//! Secret keys: create, list, show, rename, set-value, set-access, set-allowed-hosts,
//! delete, and resolve for the executor — with the access rules checked at every call and
//! values encrypted before they reach the store.
//!
//! Never returns, logs or stores a plaintext, except [`SecretStore::resolve`], which hands
//! the executor [`SecretValue`]s that zeroize on drop and print `[REDACTED]`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use crate::audit::{AuditAction, AuditEntry};
use crate::directory::UserRecord;
use crate::error::{Error, ErrorKind, Result};
use crate::model::{ComponentId, OrgId, RunId, SecretId, UserId, now};
use crate::redact::Lease;
use crate::store::{Backend, Commit, Table, Txn, retry_on_conflict};

pub mod access;
pub mod crypto;
pub mod model;
mod parsed;

pub use crypto::{DataKey, KeySource, Keyring, WrappedKey};
pub use model::{
    Access, Grant, HostPattern, Permission, Principal, SecretMeta, SecretValue, name_key,
};

const ORG_META: &str = "meta";
const ORG_DEK: &str = "dek";

/// What to create.
#[derive(Debug)]
pub struct NewSecret {
    /// Display name (1–100 characters, unique in the org ignoring case).
    pub name: String,
    /// The value; validated already by [`SecretValue::new`].
    pub value: SecretValue,
    /// Team or restricted.
    pub access: Access,
    /// Per-user and per-group permissions.
    pub grants: Vec<Grant>,
    /// Hosts the value may be sent to (empty: any).
    pub allowed_hosts: Vec<HostPattern>,
    /// Optional description.
    pub description: Option<String>,
}

/// Which secrets a listing shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Filter {
    /// Every secret of the org.
    #[default]
    All,
    /// Team secrets.
    Team,
    /// Restricted secrets.
    Restricted,
    /// Secrets the actor may use.
    UsableByMe,
    /// Secrets the actor may manage.
    ManageableByMe,
}

impl std::str::FromStr for Filter {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "all" => Filter::All,
            "team" => Filter::Team,
            "restricted" => Filter::Restricted,
            "usable" | "usable-by-me" => Filter::UsableByMe,
            "manageable" | "manageable-by-me" => Filter::ManageableByMe,
            other => {
                return Err(Error::invalid(
                    "filter",
                    format!("{other:?}: expected all, team, restricted, usable or manageable"),
                ));
            }
        })
    }
}

/// One page of a listing.
#[derive(Clone, Debug, Serialize)]
pub struct SecretPage {
    /// Metadata, in name order.
    pub items: Vec<SecretMeta>,
    /// Pass back to read the next page; absent at the end.
    pub next_cursor: Option<String>,
}

/// A secret resolved for a run: its metadata and its value. While it lives (and for the
/// registry's grace period after), the value is redacted from the process's logs.
#[derive(Debug)]
pub struct ResolvedSecret {
    /// Metadata as it was at resolve time.
    pub meta: SecretMeta,
    /// The plaintext.
    pub value: SecretValue,
    /// Keeps the value in the process-wide redactor.
    _lease: Lease,
}

/// The largest page a listing returns.
pub const MAX_PAGE: usize = 500;

/// Secret key operations over a storage backend.
pub struct SecretStore {
    backend: Arc<dyn Backend>,
    keyring: RwLock<Keyring>,
    deks: Mutex<HashMap<OrgId, Arc<DataKey>>>,
    pending_audit: Arc<Mutex<AuditBuffer>>,
    /// Metadata parsed at resolve, by the stored bytes (checked against every read).
    metas: parsed::ParseCache<SecretMeta>,
    /// Actors' directory records parsed at resolve, by the stored bytes.
    users: parsed::ParseCache<UserRecord>,
}

/// Allowed resolves waiting to be written to the audit trail, and the task writing them.
#[derive(Default)]
struct AuditBuffer {
    /// Kept unserialized: the writer serializes them, off the resolve's path.
    entries: Vec<(OrgId, AuditEntry)>,
    writer: Option<tokio::task::JoinHandle<()>>,
    /// Which writer is current, so a finishing writer never forgets a newer one.
    generation: u64,
}

/// How long the audit writer gathers entries before writing them as one batch.
const AUDIT_BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(2);

fn to_bytes(meta: &SecretMeta) -> Vec<u8> {
    serde_json::to_vec(meta).expect("secret metadata serializes")
}

fn parse_meta(bytes: &[u8]) -> Result<SecretMeta> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::internal(format!("stored secret metadata is unreadable: {e}")))
}

fn parse_user(bytes: &[u8]) -> Result<UserRecord> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::internal(format!("stored user record is unreadable: {e}")))
}

/// Registers a plaintext with the process-wide redactor, so that no log line can carry it
/// while the lease lives (and for a grace period after).
fn hold(name: &str, value: &SecretValue) -> Lease {
    crate::redact::global().hold(name, value.expose().as_bytes())
}

/// Audit entries in their stored form.
fn serialize(entries: Vec<(OrgId, AuditEntry)>) -> Vec<(OrgId, Vec<u8>)> {
    entries
        .into_iter()
        .map(|(org, entry)| (org, entry.to_bytes()))
        .collect()
}

fn unknown_secret(org: &OrgId, id: &SecretId) -> Error {
    Error::not_found(format!("secret {id} is deleted or unknown in org {org}"))
}

fn not_member(org: &OrgId, actor: &UserId) -> Error {
    Error::denied(format!("user {actor} is not a member of org {org}"))
}

fn no_org(org: &OrgId) -> Error {
    Error::not_found(format!("org {org} does not exist"))
}

/// Refuses too many grants, or one principal granted twice.
pub(crate) fn check_grants(grants: &[Grant]) -> Result<()> {
    if grants.len() > model::MAX_GRANTS {
        return Err(Error::invalid(
            "grant",
            format!(
                "{} grants; the limit is {}",
                grants.len(),
                model::MAX_GRANTS
            ),
        ));
    }
    for (i, g) in grants.iter().enumerate() {
        if grants[..i].iter().any(|h| h.principal == g.principal) {
            return Err(Error::invalid(
                "grant",
                format!("{} is granted more than once", g.principal),
            ));
        }
    }
    Ok(())
}

/// The directory field that must exist for `grant` to be given.
fn principal_field(grant: &Grant) -> (Table, &str) {
    match &grant.principal {
        Principal::User(u) => (Table::Users, u.as_str()),
        Principal::Group(g) => (Table::Groups, g.as_str()),
    }
}

/// `txn`, requiring each grantee's directory record to be still what was `found`, so a
/// grant is never stored for a user or group removed meanwhile (whose id a new one could
/// take, inheriting it).
fn expect_principals(mut txn: Txn, grants: &[Grant], found: &[Option<Vec<u8>>]) -> Txn {
    for (grant, bytes) in grants.iter().zip(found) {
        let (table, field) = principal_field(grant);
        txn = txn.expect(table, field, bytes.as_deref());
    }
    txn
}

/// Refuses the first grant whose user or group was not `found` in the directory.
fn check_found(org: &OrgId, grants: &[Grant], found: &[Option<Vec<u8>>]) -> Result<()> {
    match grants.iter().zip(found).find(|(_, f)| f.is_none()) {
        Some((grant, _)) => {
            let what = match &grant.principal {
                Principal::User(u) => format!("user {u} is not in org {org}"),
                Principal::Group(g) => format!("group {g} does not exist in org {org}"),
            };
            Err(Error::not_found(format!(
                "cannot grant to {}: {what}",
                grant.principal
            )))
        }
        None => Ok(()),
    }
}

/// Refuses too many allowed-host patterns.
pub(crate) fn check_hosts(hosts: &[HostPattern]) -> Result<()> {
    if hosts.len() > model::MAX_ALLOWED_HOSTS {
        return Err(Error::invalid(
            "allowed host",
            format!(
                "{} patterns; the limit is {}",
                hosts.len(),
                model::MAX_ALLOWED_HOSTS
            ),
        ));
    }
    Ok(())
}

/// Checks a list of components a secret may be revealed to: at most
/// [`model::MAX_REVEAL_COMPONENTS`], none twice.
pub(crate) fn check_reveal_components(components: &[ComponentId]) -> Result<()> {
    if components.len() > model::MAX_REVEAL_COMPONENTS {
        return Err(Error::invalid(
            "reveal_components",
            format!(
                "{} components; the limit is {}",
                components.len(),
                model::MAX_REVEAL_COMPONENTS
            ),
        ));
    }
    for (i, c) in components.iter().enumerate() {
        if components[..i].contains(c) {
            return Err(Error::invalid(
                "reveal_components",
                format!("{c} is listed twice"),
            ));
        }
    }
    Ok(())
}

fn describe_grants(access: Access, grants: &[Grant]) -> String {
    let access = match access {
        Access::Team => "team",
        Access::Restricted => "restricted",
    };
    let grants: Vec<String> = grants.iter().map(Grant::to_string).collect();
    if grants.is_empty() {
        access.to_owned()
    } else {
        format!("{access}; {}", grants.join(", "))
    }
}

fn encode_cursor(name_key: &str) -> String {
    URL_SAFE_NO_PAD.encode(name_key)
}

fn decode_cursor(cursor: &str) -> Result<String> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            Error::invalid(
                "cursor",
                format!("{cursor:?} is not a cursor hush returned"),
            )
        })
}

impl SecretStore {
    /// Works through `backend` with the master keys in `keyring`.
    pub fn new(backend: Arc<dyn Backend>, keyring: Keyring) -> Self {
        SecretStore {
            backend,
            keyring: RwLock::new(keyring),
            deks: Mutex::new(HashMap::new()),
            pending_audit: Arc::default(),
            metas: parsed::ParseCache::default(),
            users: parsed::ParseCache::default(),
        }
    }

    /// The org's data key, creating and storing it (wrapped) on first use.
    async fn data_key(&self, org: &OrgId) -> Result<Arc<DataKey>> {
        if let Some(dek) = self.deks.lock().expect("dek cache").get(org) {
            return Ok(Arc::clone(dek));
        }
        let dek = retry_on_conflict("creating the org's data key", || async {
            let got = self
                .backend
                .read(org, &[(Table::Org, ORG_META), (Table::Org, ORG_DEK)])
                .await?;
            let (meta, wrapped) = (&got[0], &got[1]);
            let Some(meta) = meta else {
                return Err(no_org(org));
            };
            if let Some(bytes) = wrapped {
                let wrapped: WrappedKey = serde_json::from_slice(bytes).map_err(|e| {
                    Error::crypto(format!("org {org}'s wrapped data key is unreadable: {e}"))
                })?;
                return self
                    .keyring
                    .read()
                    .expect("keyring")
                    .unwrap(org, &wrapped)
                    .map(Some);
            }
            let dek = DataKey::generate();
            let wrapped = self.keyring.read().expect("keyring").wrap(org, &dek);
            let txn = Txn::new()
                .expect(Table::Org, ORG_META, Some(meta))
                .expect(Table::Org, ORG_DEK, None)
                .put(
                    Table::Org,
                    ORG_DEK,
                    serde_json::to_vec(&wrapped).expect("serializes"),
                );
            Ok((self.backend.commit(org, txn).await? == Commit::Applied).then_some(dek))
        })
        .await?;
        let dek = Arc::new(dek);
        self.deks
            .lock()
            .expect("dek cache")
            .insert(org.clone(), Arc::clone(&dek));
        Ok(dek)
    }

    /// Records a refused attempt, then returns the refusal.
    async fn refuse(&self, org: &OrgId, entry: AuditEntry, error: Error) -> Error {
        tracing::debug!(%org, action = ?entry.action, actor = ?entry.actor, reason = %error, "refused");
        let entry = entry.denied().detail(error.message()).to_bytes();
        if let Err(e) = self.backend.append_audit(vec![(org.clone(), entry)]).await {
            tracing::warn!(%org, error = %e, "could not record a refused operation in the audit trail");
        }
        error
    }

    /// Creates a secret and returns its metadata (never the value).
    ///
    /// # Errors
    /// [`Invalid`](ErrorKind::Invalid) for a bad name, description, grant or host;
    /// [`Denied`](ErrorKind::Denied) when `actor` is not a member;
    /// [`Conflict`](ErrorKind::Conflict) when the name is taken (ignoring case);
    /// [`NotFound`](ErrorKind::NotFound) for an unknown org, or a grant to an unknown user or group.
    pub async fn create(&self, org: &OrgId, actor: &UserId, new: NewSecret) -> Result<SecretMeta> {
        model::validate_name(&new.name)?;
        if let Some(d) = &new.description {
            model::validate_description(d)?;
        }
        check_grants(&new.grants)?;
        check_hosts(&new.allowed_hosts)?;
        let _lease = hold(&new.name, &new.value);
        let key = name_key(&new.name);
        let mut fields = vec![
            (Table::Org, ORG_META),
            (Table::Users, actor.as_str()),
            (Table::Names, key.as_str()),
        ];
        fields.extend(new.grants.iter().map(principal_field));
        let got = self.backend.read(org, &fields).await?;
        if got[0].is_none() {
            return Err(no_org(org));
        }
        if got[1].is_none() {
            return Err(not_member(org, actor));
        }
        if got[2].is_some() {
            return Err(Error::conflict(format!(
                "a secret named {:?} already exists in org {org}",
                new.name
            )));
        }
        check_found(org, &new.grants, &got[3..])?;
        let dek = self.data_key(org).await?;
        let id = SecretId::generate();
        let at = now();
        let meta = SecretMeta {
            id: id.clone(),
            name: new.name.clone(),
            description: new.description.filter(|d| !d.is_empty()),
            access: new.access,
            grants: new.grants,
            allowed_hosts: new.allowed_hosts,
            reveal_components: Vec::new(),
            created_by: actor.clone(),
            created_at: at,
            updated_by: actor.clone(),
            updated_at: at,
            version: 1,
        };
        let ciphertext = dek.encrypt(org, &id, 1, &new.value);
        let txn = expect_principals(Txn::new(), &meta.grants, &got[3..])
            .expect(Table::Names, &key, None)
            .expect(Table::Secrets, id.as_str(), None)
            .expect(Table::Users, actor.as_str(), got[1].as_deref())
            .put(Table::Names, &key, id.as_str().as_bytes().to_vec())
            .put(Table::Secrets, id.as_str(), to_bytes(&meta))
            .put(Table::Ciphertexts, id.as_str(), ciphertext)
            .audit(
                AuditEntry::new(Some(actor), AuditAction::SecretCreate)
                    .secret(&id, Some(&meta.name))
                    .detail(describe_grants(meta.access, &meta.grants))
                    .to_bytes(),
            );
        match self.backend.commit(org, txn).await? {
            Commit::Applied => {
                tracing::debug!(%org, %actor, secret = %meta.id, "created secret");
                Ok(meta)
            }
            // The actor's record or the name changed between read and commit: report
            // from a fresh read.
            Commit::Conflict => {
                let again = self
                    .backend
                    .read(
                        org,
                        &[(Table::Users, actor.as_str()), (Table::Names, key.as_str())],
                    )
                    .await?;
                if again[0].is_none() {
                    Err(not_member(org, actor))
                } else if let Err(e) = self.check_principals_exist(org, &meta.grants).await {
                    Err(e)
                } else {
                    Err(Error::conflict(format!(
                        "a secret named {:?} already exists in org {org}",
                        new.name
                    )))
                }
            }
        }
    }

    /// Reads the actor's record and the org's existence in one round trip.
    ///
    /// # Errors
    /// [`NotFound`](ErrorKind::NotFound) for an unknown org, [`Denied`](ErrorKind::Denied)
    /// for a non-member, [`Unavailable`](ErrorKind::Unavailable) when the store fails.
    pub async fn member(&self, org: &OrgId, actor: &UserId) -> Result<UserRecord> {
        let got = self
            .backend
            .read(
                org,
                &[(Table::Org, ORG_META), (Table::Users, actor.as_str())],
            )
            .await?;
        let mut got = got.into_iter();
        if got.next().flatten().is_none() {
            return Err(no_org(org));
        }
        let bytes = got.next().flatten().ok_or_else(|| not_member(org, actor))?;
        parse_user(&bytes)
    }

    /// One page of the org's secrets, in name order. Any member may list; values are
    /// never included.
    ///
    /// # Errors
    /// [`Denied`](ErrorKind::Denied) for a non-member; [`Invalid`](ErrorKind::Invalid) for a bad cursor.
    pub async fn list(
        &self,
        org: &OrgId,
        actor: &UserId,
        filter: Filter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<SecretPage> {
        let limit = limit.clamp(1, MAX_PAGE);
        let mut after = cursor.map(decode_cursor).transpose()?;
        // The membership check and the first page travel together (one round trip on a
        // multiplexed connection); the page is dropped if the actor may not list.
        let (record, first) = tokio::join!(
            self.member(org, actor),
            self.backend.names_page(org, after.as_deref(), limit)
        );
        let record = record?;
        let mut batch = first?;
        let mut requested = limit;
        let mut items = Vec::with_capacity(limit);
        loop {
            let exhausted = batch.len() < requested;
            for (key, bytes) in std::mem::take(&mut batch) {
                after = Some(key);
                let meta = parse_meta(&bytes)?;
                let keep = match filter {
                    Filter::All => true,
                    Filter::Team => meta.access == Access::Team,
                    Filter::Restricted => meta.access == Access::Restricted,
                    Filter::UsableByMe => {
                        access::allows(&meta, actor, Some(&record), Permission::Use)
                    }
                    Filter::ManageableByMe => {
                        access::allows(&meta, actor, Some(&record), Permission::Manage)
                    }
                };
                if keep {
                    items.push(meta);
                }
            }
            if exhausted {
                return Ok(SecretPage {
                    items,
                    next_cursor: None,
                });
            }
            if items.len() == limit {
                return Ok(SecretPage {
                    items,
                    next_cursor: after.as_deref().map(encode_cursor),
                });
            }
            requested = limit - items.len();
            batch = self
                .backend
                .names_page(org, after.as_deref(), requested)
                .await?;
        }
    }

    /// A secret's metadata. Any member may look; the value is never included.
    ///
    /// # Errors
    /// [`NotFound`](ErrorKind::NotFound) for an unknown or deleted secret (or another
    /// org's); [`Denied`](ErrorKind::Denied) for a non-member.
    pub async fn show(&self, org: &OrgId, actor: &UserId, id: &SecretId) -> Result<SecretMeta> {
        let got = self
            .backend
            .read(
                org,
                &[
                    (Table::Org, ORG_META),
                    (Table::Users, actor.as_str()),
                    (Table::Secrets, id.as_str()),
                ],
            )
            .await?;
        if got[0].is_none() {
            return Err(no_org(org));
        }
        if got[1].is_none() {
            return Err(not_member(org, actor));
        }
        got[2]
            .as_deref()
            .map(parse_meta)
            .transpose()?
            .ok_or_else(|| unknown_secret(org, id))
    }

    /// The shared shape of every manage operation: read the actor, the secret and the
    /// `extra` cells (in one round trip), require Manage, let `change` compute the new
    /// metadata (and maybe ciphertext) from the secret and the extra cells, commit with a
    /// compare-and-set on the actor and the secret, retrying on conflict.
    async fn manage<F>(
        &self,
        org: &OrgId,
        actor: &UserId,
        id: &SecretId,
        action: AuditAction,
        extra: &[(Table, &str)],
        change: F,
    ) -> Result<Option<SecretMeta>>
    where
        F: Fn(&SecretMeta, &[Option<Vec<u8>>], Txn) -> Result<(Option<SecretMeta>, Txn, String)>,
    {
        retry_on_conflict("the change", || async {
            let mut fields = vec![(Table::Org, ORG_META), (Table::Users, actor.as_str()), (Table::Secrets, id.as_str())];
            fields.extend_from_slice(extra);
            let got = self.backend.read(org, &fields).await?;
            let extra_got = got[3..].to_vec();
            let mut got = got.into_iter();
            if got.next().flatten().is_none() {
                return Err(no_org(org));
            }
            let user_bytes = got.next().flatten();
            let Some(old_bytes) = got.next().flatten() else {
                return Err(unknown_secret(org, id));
            };
            let old = parse_meta(&old_bytes)?;
            let record = user_bytes.as_deref().map(parse_user).transpose()?;
            let audit = AuditEntry::new(Some(actor), action).secret(id, Some(&old.name));
            if record.is_none() {
                return Err(self.refuse(org, audit, not_member(org, actor)).await);
            }
            if !access::allows(&old, actor, record.as_ref(), Permission::Manage) {
                let error = Error::denied(format!(
                    "user {actor} may not manage secret {:?} ({id}): it needs the Manage permission",
                    old.name
                ));
                return Err(self.refuse(org, audit, error).await);
            }
            let base = Txn::new()
                .expect(Table::Users, actor.as_str(), user_bytes.as_deref())
                .expect(Table::Secrets, id.as_str(), Some(&old_bytes));
            let (new, txn, detail) = change(&old, &extra_got, base)?;
            tracing::debug!(%org, %actor, secret = %id, action = ?action, %detail, "changing secret");
            let txn = txn.audit(audit.detail(detail).to_bytes());
            Ok((self.backend.commit(org, txn).await? == Commit::Applied).then_some(new))
        })
        .await
    }

    fn touched(old: &SecretMeta, actor: &UserId) -> SecretMeta {
        let mut new = old.clone();
        new.updated_by = actor.clone();
        new.updated_at = now();
        new
    }

    /// Renames a secret; its id stays, so actions that use it keep working.
    ///
    /// # Errors
    /// As [`SecretStore::create`] for the name; [`Denied`](ErrorKind::Denied) without Manage.
    pub async fn rename(
        &self,
        org: &OrgId,
        actor: &UserId,
        id: &SecretId,
        name: &str,
    ) -> Result<SecretMeta> {
        model::validate_name(name)?;
        let new_key = name_key(name);
        let taken = || {
            Error::conflict(format!(
                "a secret named {name:?} already exists in org {org}"
            ))
        };
        let holder = self
            .backend
            .read(org, &[(Table::Names, new_key.as_str())])
            .await?;
        if let Some(Some(other)) = holder.first()
            && other.as_slice() != id.as_str().as_bytes()
        {
            return Err(taken());
        }
        let renamed = self
            .manage(
                org,
                actor,
                id,
                AuditAction::SecretRename,
                &[],
                |old, _, txn| {
                    let old_key = name_key(&old.name);
                    let mut new = Self::touched(old, actor);
                    new.name = name.to_owned();
                    let mut txn = txn;
                    if old_key != new_key {
                        txn = txn
                            .expect(Table::Names, &new_key, None)
                            .delete(Table::Names, &old_key)
                            .put(Table::Names, &new_key, id.as_str().as_bytes().to_vec());
                    }
                    let detail = format!("{:?} -> {name:?}", old.name);
                    Ok((
                        Some(new.clone()),
                        txn.put(Table::Secrets, id.as_str(), to_bytes(&new)),
                        detail,
                    ))
                },
            )
            .await;
        match renamed {
            Ok(meta) => Ok(meta.expect("rename returns metadata")),
            // A conflict that outlasts every retry is the new name being taken.
            Err(e) if e.kind() == ErrorKind::Conflict => Err(taken()),
            Err(e) => Err(e),
        }
    }

    /// Gives a secret a new value; the version goes up by one. The old value is never
    /// returned.
    ///
    /// # Errors
    /// [`Denied`](ErrorKind::Denied) without Manage; [`NotFound`](ErrorKind::NotFound) for an unknown secret.
    pub async fn set_value(
        &self,
        org: &OrgId,
        actor: &UserId,
        id: &SecretId,
        value: &SecretValue,
    ) -> Result<SecretMeta> {
        // The name is not known yet; the id labels the value in the logs.
        let _lease = hold(id.as_str(), value);
        let dek = self.data_key(org).await?;
        self.manage(
            org,
            actor,
            id,
            AuditAction::SecretSetValue,
            &[],
            |old, _, txn| {
                let mut new = Self::touched(old, actor);
                new.version = old.version + 1;
                let ciphertext = dek.encrypt(org, id, new.version, value);
                let txn = txn.put(Table::Secrets, id.as_str(), to_bytes(&new)).put(
                    Table::Ciphertexts,
                    id.as_str(),
                    ciphertext,
                );
                let detail = format!("version {} -> {}", old.version, new.version);
                Ok((Some(new), txn, detail))
            },
        )
        .await
        .map(|m| m.expect("set-value returns metadata"))
    }

    /// Sets team/restricted and the grants.
    ///
    /// # Errors
    /// [`Invalid`](ErrorKind::Invalid) for duplicate grants; [`NotFound`](ErrorKind::NotFound)
    /// for a grant to an unknown user or group; [`Denied`](ErrorKind::Denied) without Manage.
    pub async fn set_access(
        &self,
        org: &OrgId,
        actor: &UserId,
        id: &SecretId,
        access: Access,
        grants: Vec<Grant>,
    ) -> Result<SecretMeta> {
        check_grants(&grants)?;
        let principals: Vec<(Table, &str)> = grants.iter().map(principal_field).collect();
        self.manage(
            org,
            actor,
            id,
            AuditAction::SecretSetAccess,
            &principals,
            |old, found, txn| {
                check_found(org, &grants, found)?;
                let txn = expect_principals(txn, &grants, found);
                let mut new = Self::touched(old, actor);
                new.access = access;
                new.grants = grants.clone();
                let detail = format!(
                    "{} -> {}",
                    describe_grants(old.access, &old.grants),
                    describe_grants(access, &grants)
                );
                Ok((
                    Some(new.clone()),
                    txn.put(Table::Secrets, id.as_str(), to_bytes(&new)),
                    detail,
                ))
            },
        )
        .await
        .map(|m| m.expect("set-access returns metadata"))
    }

    async fn check_principals_exist(&self, org: &OrgId, grants: &[Grant]) -> Result<()> {
        let fields: Vec<(Table, &str)> = grants.iter().map(principal_field).collect();
        let got = self.backend.read(org, &fields).await?;
        check_found(org, grants, &got)
    }

    /// Sets the hosts the value may be sent to (empty: any host).
    ///
    /// # Errors
    /// [`Denied`](ErrorKind::Denied) without Manage.
    pub async fn set_allowed_hosts(
        &self,
        org: &OrgId,
        actor: &UserId,
        id: &SecretId,
        hosts: Vec<HostPattern>,
    ) -> Result<SecretMeta> {
        check_hosts(&hosts)?;
        self.manage(
            org,
            actor,
            id,
            AuditAction::SecretSetAllowedHosts,
            &[],
            |old, _, txn| {
                let mut new = Self::touched(old, actor);
                new.allowed_hosts = hosts.clone();
                let list = |h: &[HostPattern]| {
                    h.iter()
                        .map(HostPattern::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let detail = format!("[{}] -> [{}]", list(&old.allowed_hosts), list(&hosts));
                Ok((
                    Some(new.clone()),
                    txn.put(Table::Secrets, id.as_str(), to_bytes(&new)),
                    detail,
                ))
            },
        )
        .await
        .map(|m| m.expect("set-allowed-hosts returns metadata"))
    }

    /// Sets the Run Code components that may reveal the value (empty: none may). Only a
    /// component on this list runs a binding that says `"reveal": true`; every other
    /// component uses the secret without seeing it.
    ///
    /// # Errors
    /// [`Invalid`](ErrorKind::Invalid) for more than
    /// [`MAX_REVEAL_COMPONENTS`](model::MAX_REVEAL_COMPONENTS) or a duplicate;
    /// [`Denied`](ErrorKind::Denied) without Manage.
    pub async fn set_reveal_components(
        &self,
        org: &OrgId,
        actor: &UserId,
        id: &SecretId,
        components: Vec<ComponentId>,
    ) -> Result<SecretMeta> {
        check_reveal_components(&components)?;
        self.manage(
            org,
            actor,
            id,
            AuditAction::SecretSetRevealComponents,
            &[],
            |old, _, txn| {
                let mut new = Self::touched(old, actor);
                new.reveal_components = components.clone();
                let list = |c: &[ComponentId]| {
                    c.iter()
                        .map(ComponentId::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let detail = format!(
                    "[{}] -> [{}]",
                    list(&old.reveal_components),
                    list(&components)
                );
                Ok((
                    Some(new.clone()),
                    txn.put(Table::Secrets, id.as_str(), to_bytes(&new)),
                    detail,
                ))
            },
        )
        .await
        .map(|m| m.expect("set-reveal-components returns metadata"))
    }

    /// Sets or clears (`None` or empty) a secret's description.
    ///
    /// # Errors
    /// [`Invalid`](ErrorKind::Invalid) for a description over the limit or with control
    /// characters; [`Denied`](ErrorKind::Denied) without Manage.
    pub async fn set_description(
        &self,
        org: &OrgId,
        actor: &UserId,
        id: &SecretId,
        description: Option<&str>,
    ) -> Result<SecretMeta> {
        let description = description.filter(|d| !d.is_empty());
        if let Some(d) = description {
            model::validate_description(d)?;
        }
        self.manage(
            org,
            actor,
            id,
            AuditAction::SecretSetDescription,
            &[],
            |old, _, txn| {
                let mut new = Self::touched(old, actor);
                new.description = description.map(str::to_owned);
                let detail = if description.is_some() {
                    "description set"
                } else {
                    "description cleared"
                };
                Ok((
                    Some(new.clone()),
                    txn.put(Table::Secrets, id.as_str(), to_bytes(&new)),
                    detail.to_owned(),
                ))
            },
        )
        .await
        .map(|m| m.expect("set-description returns metadata"))
    }

    /// Deletes a secret: its metadata, ciphertext and name.
    ///
    /// # Errors
    /// [`Denied`](ErrorKind::Denied) without Manage; [`NotFound`](ErrorKind::NotFound) for an unknown secret.
    pub async fn delete(&self, org: &OrgId, actor: &UserId, id: &SecretId) -> Result<SecretMeta> {
        self.delete_guarded(org, actor, id, &[], |_, _, txn| Ok(txn))
            .await
    }

    /// Deletes a secret as [`SecretStore::delete`] does, if `guard` lets it: once the
    /// actor is known to hold Manage, `guard` sees the secret's metadata and the `extra`
    /// cells (read in the same round trip as the secret) and returns the delete's
    /// transaction with the preconditions and writes it adds (a compare-and-set on the
    /// cells it read, so the decision holds when the delete commits), or a refusal.
    /// A conflict re-reads everything and asks `guard` again.
    ///
    /// This is how a room above this one (saved actions) keeps its own records of a
    /// secret consistent with its deletion without this module knowing them.
    ///
    /// # Errors
    /// As [`SecretStore::delete`], and `guard`'s own refusal.
    pub async fn delete_guarded<G>(
        &self,
        org: &OrgId,
        actor: &UserId,
        id: &SecretId,
        extra: &[(Table, &str)],
        guard: G,
    ) -> Result<SecretMeta>
    where
        G: Fn(&SecretMeta, &[Option<Vec<u8>>], Txn) -> Result<Txn>,
    {
        self.manage(
            org,
            actor,
            id,
            AuditAction::SecretDelete,
            extra,
            |old, cells, txn| {
                let txn = guard(old, cells, txn)?
                    .delete(Table::Secrets, id.as_str())
                    .delete(Table::Ciphertexts, id.as_str())
                    .delete(Table::Names, &name_key(&old.name));
                Ok((Some(old.clone()), txn, format!("deleted {:?}", old.name)))
            },
        )
        .await
        .map(|m| m.expect("delete returns metadata"))
        .inspect(|_| self.metas.forget(org, id.as_str()))
    }

    /// Resolves secrets for a run: checks that `actor` may Use each of them against the
    /// directory as it is now, fetches them all in one round trip, and decrypts them.
    /// Every resolve is audited, allowed or denied.
    ///
    /// # Errors
    /// [`NotFound`](ErrorKind::NotFound) naming the first unknown or deleted secret (or one
    /// of another org); [`Denied`](ErrorKind::Denied) naming every secret the actor may not
    /// use; [`Crypto`](ErrorKind::Crypto) when a stored ciphertext fails to decrypt.
    pub async fn resolve(
        &self,
        org: &OrgId,
        actor: &UserId,
        ids: &[SecretId],
        run: &RunId,
    ) -> Result<Vec<ResolvedSecret>> {
        let mut unique: Vec<&SecretId> = Vec::with_capacity(ids.len());
        for id in ids {
            if !unique.contains(&id) {
                unique.push(id);
            }
        }
        // One round trip: the actor's record, every secret's metadata and ciphertext.
        let mut fields = Vec::with_capacity(1 + 2 * unique.len());
        fields.push((Table::Users, actor.as_str()));
        fields.extend(unique.iter().map(|id| (Table::Secrets, id.as_str())));
        fields.extend(unique.iter().map(|id| (Table::Ciphertexts, id.as_str())));
        let mut got = self.backend.read(org, &fields).await?;
        let record = match &got[0] {
            Some(bytes) => Some(
                self.users
                    .get_or_parse(org, actor.as_str(), bytes, parse_user)?,
            ),
            None => None,
        };
        if record.is_none() {
            // Only now tell "no such org" from "not a member" (audited below), off the hot path.
            if let Err(e) = self.member(org, actor).await
                && e.kind() != ErrorKind::Denied
            {
                return Err(e);
            }
        }
        let mut entry = AuditEntry::new(Some(actor), AuditAction::SecretResolve);
        entry.run_id = Some(run.clone());
        let n = unique.len();
        let mut metas = Vec::with_capacity(n);
        for (i, id) in unique.iter().enumerate() {
            let meta = got[1 + i]
                .as_deref()
                .map(|bytes| self.metas.get_or_parse(org, id.as_str(), bytes, parse_meta))
                .transpose()?;
            match meta {
                Some(meta) => {
                    entry = entry.secret(id, Some(&meta.name));
                    metas.push(meta);
                }
                None => {
                    entry = entry.secret(id, None);
                    return Err(self.refuse(org, entry, unknown_secret(org, id)).await);
                }
            }
        }
        if record.is_none() {
            return Err(self.refuse(org, entry, not_member(org, actor)).await);
        }
        let refused: Vec<String> = metas
            .iter()
            .filter(|m| !access::allows(m, actor, record.as_deref(), Permission::Use))
            .map(|m| format!("{:?} ({})", m.name, m.id))
            .collect();
        if !refused.is_empty() {
            let error = Error::denied(format!(
                "user {actor} may not use secret {}: it needs the Use permission",
                refused.join(", ")
            ));
            return Err(self.refuse(org, entry, error).await);
        }
        let mut dek = self.data_key(org).await?;
        let mut reloaded = false;
        let mut resolved = Vec::with_capacity(n);
        for (i, meta) in metas.into_iter().enumerate() {
            let blob = got[1 + n + i].take().ok_or_else(|| {
                Error::crypto(format!("secret {} has no stored ciphertext", meta.id))
            })?;
            let value = match dek.decrypt(org, &meta.id, meta.version, &blob) {
                Ok(value) => value,
                // The cached data key may be stale (the org was removed and created
                // again by another process): reload it once before failing.
                Err(_) if !reloaded => {
                    reloaded = true;
                    self.deks.lock().expect("dek cache").remove(org);
                    dek = self.data_key(org).await?;
                    dek.decrypt(org, &meta.id, meta.version, &blob)?
                }
                Err(e) => return Err(e),
            };
            let lease = hold(&meta.name, &value);
            resolved.push(ResolvedSecret {
                meta: Arc::unwrap_or_clone(meta),
                value,
                _lease: lease,
            });
        }
        tracing::debug!(%org, %actor, %run, secrets = resolved.len(), "resolved secrets");
        self.audit_later(org, entry);
        Ok(resolved)
    }

    /// Queues an audit entry for an allowed resolve. Entries are written in batches a few
    /// milliseconds later, so that a resolve costs one round trip, not two; refusals are
    /// written before the refusal returns. [`Self::flush`] waits for every queued entry.
    fn audit_later(&self, org: &OrgId, entry: AuditEntry) {
        let mut buffer = self.pending_audit.lock().expect("audit buffer");
        buffer.entries.push((org.clone(), entry));
        if buffer.writer.is_some() {
            return;
        }
        let shared = Arc::clone(&self.pending_audit);
        let backend = Arc::clone(&self.backend);
        buffer.generation += 1;
        let generation = buffer.generation;
        buffer.writer = Some(tokio::spawn(async move {
            loop {
                tokio::time::sleep(AUDIT_BATCH_WINDOW).await;
                let batch = {
                    let mut buffer = shared.lock().expect("audit buffer");
                    if buffer.entries.is_empty() {
                        if buffer.generation == generation {
                            buffer.writer = None;
                        }
                        return;
                    }
                    std::mem::take(&mut buffer.entries)
                };
                let count = batch.len();
                if let Err(e) = backend.append_audit(serialize(batch)).await {
                    tracing::error!(error = %e, count, "could not record resolves in the audit trail");
                }
            }
        }));
    }

    /// Waits until every queued audit entry is stored. Call it before the process exits.
    pub async fn flush(&self) {
        loop {
            let (writer, leftover) = {
                let mut buffer = self.pending_audit.lock().expect("audit buffer");
                match buffer.writer.take() {
                    Some(writer) => (Some(writer), Vec::new()),
                    None => (None, std::mem::take(&mut buffer.entries)),
                }
            };
            match writer {
                Some(writer) => {
                    let _ = writer.await;
                }
                None if leftover.is_empty() => return,
                None => {
                    if let Err(e) = self.backend.append_audit(serialize(leftover)).await {
                        tracing::error!(error = %e, "could not record resolves in the audit trail");
                    }
                }
            }
        }
    }

    /// Adds a new master key version (to the key file) and re-wraps every org's data key
    /// with it. Interrupted, it loses nothing: the key file keeps every version, and each
    /// org's data key is re-wrapped in its own atomic change.
    ///
    /// Returns the new current version and how many orgs were re-wrapped.
    ///
    /// # Errors
    /// [`Invalid`](ErrorKind::Invalid) when the keys come from `HUSH_MASTER_KEY` and it
    /// holds no version newer than some org's; store and crypto errors otherwise.
    pub async fn rotate_master_key(&self) -> Result<(u32, usize)> {
        let orgs = self.backend.orgs().await?;
        let added = {
            let mut ring = self.keyring.write().expect("keyring");
            match ring.source() {
                KeySource::File(_) => Some(ring.add_version()?),
                KeySource::Environment => None,
            }
        };
        let target = self.keyring.read().expect("keyring").current();
        let mut rewrapped = 0;
        let mut failed = Vec::new();
        for org in &orgs {
            match self.rewrap(org, target).await {
                Ok(true) => rewrapped += 1,
                Ok(false) => {}
                Err(e) => failed.push(format!("{org} ({e})")),
            }
        }
        if !failed.is_empty() {
            return Err(Error::crypto(format!(
                "master key version {target} is current and {rewrapped} org(s) were re-wrapped, but these could not be \
                 (they still use their old key version, and nothing was lost): {}",
                failed.join("; ")
            )));
        }
        if added.is_none() && rewrapped == 0 {
            return Err(Error::invalid(
                "HUSH_MASTER_KEY",
                format!(
                    "every org is already wrapped by version {target}; to rotate, add a new `N:BASE64` \
                     entry to HUSH_MASTER_KEY (keeping the old ones) and run `hush keys rotate` again"
                ),
            ));
        }
        Ok((target, rewrapped))
    }

    /// Finds a secret's id from its id or its name (ignoring case), for tools that let a
    /// person type either.
    ///
    /// # Errors
    /// [`NotFound`](ErrorKind::NotFound) when no secret has that id or name.
    pub async fn find(&self, org: &OrgId, id_or_name: &str) -> Result<SecretId> {
        if let Ok(id) = SecretId::parse(id_or_name) {
            return Ok(id);
        }
        let got = self
            .backend
            .read(org, &[(Table::Names, name_key(id_or_name).as_str())])
            .await?;
        let id = got.into_iter().next().flatten().ok_or_else(|| {
            Error::not_found(format!("no secret is named {id_or_name:?} in org {org}"))
        })?;
        SecretId::parse(&String::from_utf8_lossy(&id))
    }

    /// Re-wraps one org's data key under master key `target`; `false` when it already was.
    async fn rewrap(&self, org: &OrgId, target: u32) -> Result<bool> {
        retry_on_conflict("re-wrapping a data key", || async {
            let got = self.backend.read(org, &[(Table::Org, ORG_DEK)]).await?;
            let Some(bytes) = got.into_iter().next().flatten() else {
                return Ok(Some(false));
            };
            let wrapped: WrappedKey = serde_json::from_slice(&bytes).map_err(|e| {
                Error::crypto(format!("org {org}'s wrapped data key is unreadable: {e}"))
            })?;
            if wrapped.version == target {
                return Ok(Some(false));
            }
            let rewrapped = {
                let ring = self.keyring.read().expect("keyring");
                let dek = ring.unwrap(org, &wrapped)?;
                ring.wrap(org, &dek)
            };
            let txn = Txn::new().expect(Table::Org, ORG_DEK, Some(&bytes)).put(
                Table::Org,
                ORG_DEK,
                serde_json::to_vec(&rewrapped).expect("serializes"),
            );
            Ok((self.backend.commit(org, txn).await? == Commit::Applied).then_some(true))
        })
        .await
    }

    /// The master key versions held, and the one that wraps new data keys.
    pub fn key_versions(&self) -> (Vec<u32>, u32) {
        let ring = self.keyring.read().expect("keyring");
        (ring.versions(), ring.current())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::{Directory, Role};
    use crate::model::GroupId;
    use crate::store::EmbeddedBackend;

    fn user(id: &str) -> UserId {
        UserId::parse(id).unwrap()
    }

    fn value(text: &str) -> SecretValue {
        SecretValue::new(text).unwrap()
    }

    /// Resolves `id` for `actor` through `store`: its name, version and value, or the error kind.
    async fn resolve(
        store: &SecretStore,
        org: &OrgId,
        actor: &str,
        id: &SecretId,
    ) -> std::result::Result<(String, u32, String), ErrorKind> {
        let run = RunId::parse("run-1").unwrap();
        match store
            .resolve(org, &user(actor), std::slice::from_ref(id), &run)
            .await
        {
            Ok(got) => Ok((
                got[0].meta.name.clone(),
                got[0].meta.version,
                got[0].value.expose().to_owned(),
            )),
            Err(e) => Err(e.kind()),
        }
    }

    /// The resolving store keeps parsed metadata and user records; every change, made
    /// through another store (as another process would), must show at its next resolve.
    #[tokio::test]
    async fn every_change_shows_at_the_next_resolve_of_a_store_that_parsed_the_old_records() {
        let dir = tempfile::tempdir().unwrap();
        let backend: Arc<dyn Backend> =
            Arc::new(EmbeddedBackend::open(&dir.path().join("db")).unwrap());
        let key_file = dir.path().join("master.key");
        let resolving = SecretStore::new(
            Arc::clone(&backend),
            Keyring::generate_file(&key_file).unwrap(),
        );
        let other = SecretStore::new(Arc::clone(&backend), Keyring::load_file(&key_file).unwrap());
        let directory = Directory::new(Arc::clone(&backend));
        let org = OrgId::parse("acme").unwrap();
        let ops = GroupId::parse("ops").unwrap();
        directory.create_org(&org).await.unwrap();
        directory
            .add_user(&org, &user("mia"), Role::Member)
            .await
            .unwrap();
        directory
            .add_user(&org, &user("ana"), Role::Member)
            .await
            .unwrap();
        directory.create_group(&org, &ops).await.unwrap();
        let id = other
            .create(
                &org,
                &user("mia"),
                NewSecret {
                    name: "Stripe".into(),
                    value: value("sk_live_first_value"),
                    access: Access::Team,
                    grants: vec![],
                    allowed_hosts: vec![],
                    description: None,
                },
            )
            .await
            .unwrap()
            .id;
        let first = ("Stripe".to_owned(), 1, "sk_live_first_value".to_owned());
        assert_eq!(
            resolve(&resolving, &org, "ana", &id).await,
            Ok(first.clone())
        );
        assert_eq!(resolve(&resolving, &org, "ana", &id).await, Ok(first));

        other
            .rename(&org, &user("mia"), &id, "Stripe live")
            .await
            .unwrap();
        let renamed = resolve(&resolving, &org, "ana", &id).await.unwrap();
        assert_eq!(renamed.0, "Stripe live");

        other
            .set_value(&org, &user("mia"), &id, &value("sk_live_second_value"))
            .await
            .unwrap();
        let revalued = resolve(&resolving, &org, "ana", &id).await.unwrap();
        assert_eq!(
            (revalued.1, revalued.2.as_str()),
            (2, "sk_live_second_value")
        );

        other
            .set_access(&org, &user("mia"), &id, Access::Restricted, vec![])
            .await
            .unwrap();
        assert_eq!(
            resolve(&resolving, &org, "ana", &id).await,
            Err(ErrorKind::Denied)
        );

        let to_ops: Grant = "group:ops=use".parse().unwrap();
        other
            .set_access(&org, &user("mia"), &id, Access::Restricted, vec![to_ops])
            .await
            .unwrap();
        assert_eq!(
            resolve(&resolving, &org, "ana", &id).await,
            Err(ErrorKind::Denied)
        );
        directory
            .add_member(&org, &ops, &user("ana"))
            .await
            .unwrap();
        assert!(resolve(&resolving, &org, "ana", &id).await.is_ok());
        directory
            .remove_member(&org, &ops, &user("ana"))
            .await
            .unwrap();
        assert_eq!(
            resolve(&resolving, &org, "ana", &id).await,
            Err(ErrorKind::Denied)
        );

        directory
            .set_role(&org, &user("ana"), Role::Admin)
            .await
            .unwrap();
        assert!(resolve(&resolving, &org, "ana", &id).await.is_ok());
        directory.remove_user(&org, &user("ana")).await.unwrap();
        assert_eq!(
            resolve(&resolving, &org, "ana", &id).await,
            Err(ErrorKind::Denied)
        );

        other.delete(&org, &user("mia"), &id).await.unwrap();
        assert_eq!(
            resolve(&resolving, &org, "mia", &id).await,
            Err(ErrorKind::NotFound)
        );
        resolving.flush().await;
        other.flush().await;
    }
}
