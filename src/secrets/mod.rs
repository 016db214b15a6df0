//! Secret keys: create, list, show, rename, set-value, set-access, set-allowed-hosts,
//! set-reveal-components, delete, and resolve for the executor — with the access rules
//! checked at every call and values encrypted before they reach the store. This file
//! holds the store, its shared checks, creation and reading; `manage` the changes a
//! manager makes, `resolve` resolving for a run (and the batching audit writer of its
//! entries), `keys` the per-org data keys and master-key rotation.
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
use crate::store::{Backend, Commit, OrgVersion, Table, Txn, retry_on_conflict};

pub(crate) mod access;
pub(crate) mod crypto;
mod keys;
mod manage;
pub(crate) mod model;
mod parsed;
mod resolve;

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
    pending_audit: Arc<Mutex<resolve::AuditBuffer>>,
    /// Metadata parsed at resolve, by the stored bytes (checked against every read).
    metas: parsed::ParseCache<SecretMeta>,
    /// Actors' directory records parsed at resolve, by the stored bytes.
    users: parsed::ParseCache<UserRecord>,
}

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

/// A cursor is a position (the name after which to go on), so any base64url text is one;
/// bytes that are not UTF-8 still name a position.
fn decode_cursor(cursor: &str) -> Result<String> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
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
        self.member_seen(org, actor, None).await
    }

    /// [`SecretStore::member`] at the org's data version `seen`, from the store's cache
    /// when nothing changed since (see [`Backend::read_seen`]).
    ///
    /// # Errors
    /// As [`SecretStore::member`].
    pub async fn member_seen(
        &self,
        org: &OrgId,
        actor: &UserId,
        seen: Option<&OrgVersion>,
    ) -> Result<UserRecord> {
        let got = self
            .backend
            .read_seen(
                org,
                &[(Table::Org, ORG_META), (Table::Users, actor.as_str())],
                seen,
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
            self.backend
                .page(org, Table::Names, Table::Secrets, after.as_deref(), limit)
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
                .page(
                    org,
                    Table::Names,
                    Table::Secrets,
                    after.as_deref(),
                    requested,
                )
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
