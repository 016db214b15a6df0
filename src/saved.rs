//! Saved actions: action specs stored under an id (`act_…`) so that an orchestrator can
//! run them by id, and the secret → saved actions reference index that says which saved
//! actions a secret's deletion would break.
//!
//! Owns [`Table::Actions`] (action id → [`SavedAction`]) and [`Table::References`]
//! (secret id → the ids of the saved actions that refer to it, a sorted JSON list). Every
//! save and delete changes the action and its index entries in one [`Txn`], with a
//! compare-and-set on every cell it read, so the index never disagrees with the actions;
//! [`SavedActions::delete_secret`] does the same for a secret's deletion.
//!
//! Rules: any member may save a new action, but only with secrets that exist in the org
//! and that the member may Use (so no one can save an action that sends a secret they
//! could not send themselves); only the member who saved an action last, or an admin,
//! may replace or delete it. Every save and delete is audited, refusals too. A spec
//! names secrets by id and never holds a value; this module never reads a ciphertext
//! and never logs a spec.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::actions::Action;
use crate::audit::{AuditAction, AuditEntry};
use crate::directory::{Role, UserRecord};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{ActionId, OrgId, SecretId, Timestamp, UserId, now};
use crate::secrets::{Permission, SecretMeta, SecretStore, access};
use crate::store::{Backend, Commit, Table, Txn, retry_on_conflict};

/// The most saved actions one listing page holds.
pub const MAX_PAGE: usize = 500;

/// A saved action as stored and shown.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedAction {
    /// Its id.
    pub id: ActionId,
    /// A display name (given when saved, or the spec's own `name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The spec as it was saved (validated by [`Action::from_json`]).
    pub spec: Value,
    /// The secrets the spec refers to, each once, in id order.
    #[serde(default)]
    pub secrets: Vec<SecretId>,
    /// The member who saved it last.
    pub saved_by: UserId,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub saved_at: Timestamp,
}

impl SavedAction {
    /// The spec, parsed and validated again (as a run needs it).
    ///
    /// # Errors
    /// [`Invalid`](ErrorKind::Invalid) if the stored spec no longer validates.
    pub fn action(&self) -> Result<Action> {
        Action::from_json(&self.spec.to_string())
    }
}

/// One page of saved actions, in id order.
#[derive(Clone, Debug, Serialize)]
pub struct ActionPage {
    /// The actions.
    pub items: Vec<SavedAction>,
    /// Pass back as `cursor` to read on; absent at the end.
    pub next_cursor: Option<String>,
}

/// What [`SavedActions::delete_secret`] did.
#[derive(Debug)]
pub enum SecretDeletion {
    /// The secret is deleted (and its reference index entry with it).
    Deleted(Box<SecretMeta>),
    /// Nothing changed: these saved actions refer to the secret.
    Referenced(Vec<ActionId>),
}

/// Saves, reads and deletes saved actions, and keeps the reference index.
#[derive(Clone)]
pub struct SavedActions {
    backend: Arc<dyn Backend>,
}

fn parse<T: for<'de> Deserialize<'de>>(what: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::internal(format!("a stored {what} is unreadable: {e}")))
}

/// A reference index entry (absent: no references).
fn parse_refs(bytes: Option<&[u8]>) -> Result<Vec<ActionId>> {
    bytes.map_or(Ok(Vec::new()), |b| parse("reference list", b))
}

/// Adds the writes that take `id` out of (or, with `add`, put it into) the reference
/// entry of one secret whose current bytes are `current`, with a compare-and-set on them.
fn update_refs(
    txn: Txn,
    secret: &SecretId,
    current: Option<&[u8]>,
    id: &ActionId,
    add: bool,
) -> Result<Txn> {
    let mut list = parse_refs(current)?;
    list.retain(|a| a != id);
    if add {
        list.push(id.clone());
        list.sort();
    }
    let txn = txn.expect(Table::References, secret.as_str(), current);
    Ok(if list.is_empty() {
        txn.delete(Table::References, secret.as_str())
    } else {
        txn.put(
            Table::References,
            secret.as_str(),
            serde_json::to_vec(&list).expect("a reference list serializes"),
        )
    })
}

fn not_member(org: &OrgId, actor: &UserId) -> Error {
    Error::denied(format!("user {actor} is not a member of org {org}"))
}

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl SavedActions {
    /// Works through `backend`.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        SavedActions { backend }
    }

    /// The saved action `id` of `org`, or `None` (also for another org's).
    ///
    /// # Errors
    /// When the store fails or holds a record it cannot read.
    pub async fn get(&self, org: &OrgId, id: &ActionId) -> Result<Option<SavedAction>> {
        let got = self
            .backend
            .read(org, &[(Table::Actions, id.as_str())])
            .await?;
        got.into_iter()
            .next()
            .flatten()
            .map(|bytes| parse("saved action", &bytes))
            .transpose()
    }

    /// Up to `limit` (1 to [`MAX_PAGE`]) saved actions with ids after `cursor`.
    ///
    /// # Errors
    /// [`Invalid`](ErrorKind::Invalid) for a cursor that is not an action id.
    pub async fn list(
        &self,
        org: &OrgId,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ActionPage> {
        let limit = limit.clamp(1, MAX_PAGE);
        let after = cursor
            .map(|c| ActionId::parse_field("cursor", c))
            .transpose()?;
        let mut rows: Vec<(String, Vec<u8>)> = self
            .backend
            .scan(org, Table::Actions)
            .await?
            .into_iter()
            .filter(|(id, _)| after.as_ref().is_none_or(|a| id.as_str() > a.as_str()))
            .collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        let more = rows.len() > limit;
        rows.truncate(limit);
        let items = rows
            .iter()
            .map(|(_, bytes)| parse("saved action", bytes))
            .collect::<Result<Vec<SavedAction>>>()?;
        let next_cursor = more
            .then(|| items.last().map(|a| a.id.to_string()))
            .flatten();
        Ok(ActionPage { items, next_cursor })
    }

    /// The saved actions that refer to `secret`, in id order.
    ///
    /// # Errors
    /// When the store fails or holds a record it cannot read.
    pub async fn referencing(&self, org: &OrgId, secret: &SecretId) -> Result<Vec<SavedAction>> {
        let got = self
            .backend
            .read(org, &[(Table::References, secret.as_str())])
            .await?;
        let ids = parse_refs(got[0].as_deref())?;
        let fields: Vec<(Table, &str)> =
            ids.iter().map(|id| (Table::Actions, id.as_str())).collect();
        let got = self.backend.read(org, &fields).await?;
        got.iter()
            .flatten()
            .map(|bytes| parse("saved action", bytes))
            .collect()
    }

    /// Reads the actor's record and the saved action `id`: `(user bytes, user record,
    /// stored action bytes and record)`, refusing a non-member.
    async fn actor_and_action(
        &self,
        org: &OrgId,
        actor: &UserId,
        id: &ActionId,
    ) -> Result<(Vec<u8>, UserRecord, Option<(Vec<u8>, SavedAction)>)> {
        let mut got = self
            .backend
            .read(
                org,
                &[
                    (Table::Users, actor.as_str()),
                    (Table::Actions, id.as_str()),
                ],
            )
            .await?
            .into_iter();
        let user_bytes = got.next().flatten().ok_or_else(|| not_member(org, actor))?;
        let record: UserRecord = parse("user record", &user_bytes)?;
        let old = got
            .next()
            .flatten()
            .map(|bytes| parse("saved action", &bytes).map(|a| (bytes, a)))
            .transpose()?;
        Ok((user_bytes, record, old))
    }

    /// Records a refused save or delete in the audit trail, then returns the refusal.
    async fn refuse(&self, org: &OrgId, entry: AuditEntry, error: Error) -> Error {
        let entry = entry.denied().detail(error.message()).to_bytes();
        if let Err(e) = self.backend.append_audit(vec![(org.clone(), entry)]).await {
            tracing::warn!(%org, error = %e, "could not record a refused change in the audit trail");
        }
        error
    }

    /// Refuses a change to `old` by someone who neither saved it last nor is an admin.
    fn may_change(old: &SavedAction, actor: &UserId, record: &UserRecord) -> Result<()> {
        // Who saved it is the user of that id then, not a later user of the same id.
        if (old.saved_by == *actor && record.holds_since(old.saved_at))
            || record.role == Role::Admin
        {
            Ok(())
        } else {
            Err(Error::denied(format!(
                "saved action {} was saved by {}; only they or an admin may replace or delete it",
                old.id, old.saved_by
            )))
        }
    }

    /// Saves `spec` as action `id` of `org` for `actor`, creating it or replacing it, and
    /// updates the reference index in the same transaction (dropping the references the
    /// old spec had and the new one has not). Returns the saved action and whether it was
    /// created.
    ///
    /// # Errors
    /// [`Invalid`](ErrorKind::Invalid) for a spec that does not validate, a bad name, or a
    /// spec naming secrets that do not exist in the org (all named);
    /// [`Denied`](ErrorKind::Denied) for a non-member, an actor without Use on a secret
    /// the spec names (all named), or a replace by someone who neither saved it nor is an
    /// admin.
    pub async fn save(
        &self,
        org: &OrgId,
        actor: &UserId,
        id: &ActionId,
        spec: Value,
        name: Option<String>,
    ) -> Result<(SavedAction, bool)> {
        if !spec.is_object() {
            return Err(Error::invalid(
                "spec",
                "it must be an action spec (a JSON object with a `kind`)",
            ));
        }
        let action = Action::from_json(&spec.to_string())?;
        let secrets: Vec<SecretId> = action
            .references()?
            .into_iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let name = name.or_else(|| spec.get("name").and_then(Value::as_str).map(str::to_owned));
        if let Some(name) = &name {
            crate::secrets::model::validate_name(name)?;
        }
        let refused = || AuditEntry::new(Some(actor), AuditAction::ActionSave);
        retry_on_conflict("saving the action", || async {
            let (user_bytes, record, old) = match self.actor_and_action(org, actor, id).await {
                Err(e) if e.kind() == ErrorKind::Denied => {
                    return Err(self.refuse(org, refused(), e).await);
                }
                got => got?,
            };
            if let Some((_, old)) = &old
                && let Err(e) = Self::may_change(old, actor, &record)
            {
                return Err(self.refuse(org, refused(), e).await);
            }
            let old_secrets = old.as_ref().map_or(&[][..], |(_, a)| &a.secrets[..]);
            let touched: BTreeSet<&SecretId> = old_secrets.iter().chain(&secrets).collect();
            let mut fields: Vec<(Table, &str)> = secrets
                .iter()
                .map(|s| (Table::Secrets, s.as_str()))
                .collect();
            fields.extend(touched.iter().map(|s| (Table::References, s.as_str())));
            let got = self.backend.read(org, &fields).await?;
            let (metas, refs) = got.split_at(secrets.len());
            let unknown: Vec<&SecretId> = secrets
                .iter()
                .zip(metas)
                .filter(|(_, m)| m.is_none())
                .map(|(s, _)| s)
                .collect();
            if !unknown.is_empty() {
                return Err(Error::invalid(
                    "spec",
                    format!(
                        "it refers to secrets that do not exist in org {org}: {}",
                        join(&unknown)
                    ),
                ));
            }
            let metas = metas
                .iter()
                .flatten()
                .map(|bytes| parse::<SecretMeta>("secret", bytes))
                .collect::<Result<Vec<_>>>()?;
            let denied: Vec<String> = metas
                .iter()
                .filter(|m| !access::allows(m, actor, Some(&record), Permission::Use))
                .map(|m| format!("{:?} ({})", m.name, m.id))
                .collect();
            if !denied.is_empty() {
                let error = Error::denied(format!(
                    "user {actor} may not save an action that uses secret {}: it needs the Use permission",
                    denied.join(", ")
                ));
                let mut entry = refused();
                for meta in &metas {
                    entry = entry.secret(&meta.id, Some(&meta.name));
                }
                return Err(self.refuse(org, entry, error).await);
            }
            let saved = SavedAction {
                id: id.clone(),
                name: name.clone(),
                spec: spec.clone(),
                secrets: secrets.clone(),
                saved_by: actor.clone(),
                saved_at: now(),
            };
            let mut txn = Txn::new()
                .expect(Table::Users, actor.as_str(), Some(&user_bytes))
                .expect(
                    Table::Actions,
                    id.as_str(),
                    old.as_ref().map(|(b, _)| b.as_slice()),
                )
                .put(
                    Table::Actions,
                    id.as_str(),
                    serde_json::to_vec(&saved).expect("a saved action serializes"),
                );
            for (secret, bytes) in secrets.iter().zip(&got) {
                txn = txn.expect(Table::Secrets, secret.as_str(), bytes.as_deref());
            }
            for (secret, current) in touched.iter().zip(refs) {
                txn = update_refs(txn, secret, current.as_deref(), id, secrets.contains(secret))?;
            }
            let created = old.is_none();
            let mut entry = AuditEntry::new(Some(actor), AuditAction::ActionSave).detail(format!(
                "{} {id}",
                if created { "created" } else { "replaced" }
            ));
            for meta in &metas {
                entry = entry.secret(&meta.id, Some(&meta.name));
            }
            let txn = txn.audit(entry.to_bytes());
            Ok(match self.backend.commit(org, txn).await? {
                Commit::Applied => Some((saved.clone(), created)),
                Commit::Conflict => None,
            })
        })
        .await
    }

    /// Deletes the saved action `id` and its references, in one transaction.
    ///
    /// # Errors
    /// [`NotFound`](ErrorKind::NotFound) when there is no such action;
    /// [`Denied`](ErrorKind::Denied) for a non-member, or someone who neither saved it last
    /// nor is an admin.
    pub async fn delete(&self, org: &OrgId, actor: &UserId, id: &ActionId) -> Result<SavedAction> {
        let refused = || AuditEntry::new(Some(actor), AuditAction::ActionDelete);
        retry_on_conflict("deleting the action", || async {
            let (user_bytes, record, old) = match self.actor_and_action(org, actor, id).await {
                Err(e) if e.kind() == ErrorKind::Denied => {
                    return Err(self.refuse(org, refused(), e).await);
                }
                got => got?,
            };
            let Some((old_bytes, old)) = old else {
                return Err(Error::not_found(format!(
                    "no saved action {id} in org {org}"
                )));
            };
            if let Err(e) = Self::may_change(&old, actor, &record) {
                return Err(self.refuse(org, refused(), e).await);
            }
            let fields: Vec<(Table, &str)> = old
                .secrets
                .iter()
                .map(|s| (Table::References, s.as_str()))
                .collect();
            let refs = self.backend.read(org, &fields).await?;
            let mut txn = Txn::new()
                .expect(Table::Users, actor.as_str(), Some(&user_bytes))
                .expect(Table::Actions, id.as_str(), Some(&old_bytes))
                .delete(Table::Actions, id.as_str());
            for (secret, current) in old.secrets.iter().zip(&refs) {
                txn = update_refs(txn, secret, current.as_deref(), id, false)?;
            }
            let txn = txn.audit(
                AuditEntry::new(Some(actor), AuditAction::ActionDelete)
                    .detail(format!("deleted {id}"))
                    .to_bytes(),
            );
            Ok(match self.backend.commit(org, txn).await? {
                Commit::Applied => Some(old.clone()),
                Commit::Conflict => None,
            })
        })
        .await
    }

    /// Deletes a secret through `secrets` unless saved actions refer to it: then nothing
    /// changes and their ids come back, unless `force`, which deletes it anyway and drops
    /// its reference index entry in the same transaction (those actions will fail at
    /// their next run, naming the missing secret). The check and the delete are one
    /// compare-and-set: an action saved in between makes the delete re-check.
    ///
    /// # Errors
    /// As [`SecretStore::delete`] (Manage is checked before references).
    pub async fn delete_secret(
        &self,
        secrets: &SecretStore,
        org: &OrgId,
        actor: &UserId,
        secret: &SecretId,
        force: bool,
    ) -> Result<SecretDeletion> {
        let referenced: Mutex<Option<Vec<ActionId>>> = Mutex::new(None);
        let field = secret.as_str();
        let deleted = secrets
            .delete_guarded(
                org,
                actor,
                secret,
                &[(Table::References, field)],
                |meta, cells, txn| {
                    let current = cells[0].as_deref();
                    let list = parse_refs(current)?;
                    if !list.is_empty() && !force {
                        let message = format!(
                            "secret {:?} ({}) is used by saved action {}",
                            meta.name,
                            meta.id,
                            join(&list)
                        );
                        *referenced.lock().expect("reference list") = Some(list);
                        return Err(Error::conflict(message));
                    }
                    let txn = txn.expect(Table::References, field, current);
                    Ok(if current.is_some() {
                        txn.delete(Table::References, field)
                    } else {
                        txn
                    })
                },
            )
            .await;
        match deleted {
            Ok(meta) => Ok(SecretDeletion::Deleted(Box::new(meta))),
            Err(e) if e.kind() == ErrorKind::Conflict => {
                match referenced.lock().expect("reference list").take() {
                    Some(list) => Ok(SecretDeletion::Referenced(list)),
                    None => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The same rules on the embedded backend (the HTTP tests run on Redis).

    use super::*;
    use crate::directory::Directory;
    use crate::secrets::{Access, Keyring, NewSecret, SecretValue};
    use crate::store::EmbeddedBackend;

    fn id(text: &str) -> ActionId {
        ActionId::parse(text).unwrap()
    }

    fn spec(secrets: &[&SecretId]) -> Value {
        let headers: Vec<Value> = secrets
            .iter()
            .map(|s| serde_json::json!({"name": "X-Key", "value": format!("{{{{secret \"{s}\"}}}}")}))
            .collect();
        serde_json::json!({"kind": "send_api_request", "method": "GET",
                           "url": "https://api.example.com/", "headers": headers})
    }

    #[tokio::test]
    async fn the_reference_index_follows_saves_replaces_deletes_and_forced_secret_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let backend: Arc<dyn Backend> =
            Arc::new(EmbeddedBackend::open(&dir.path().join("db")).unwrap());
        let store = SecretStore::new(
            Arc::clone(&backend),
            Keyring::generate_file(&dir.path().join("master.key")).unwrap(),
        );
        let directory = Directory::new(Arc::clone(&backend));
        let org = OrgId::parse("acme").unwrap();
        let (mia, max) = (UserId::parse("mia").unwrap(), UserId::parse("max").unwrap());
        directory.create_org(&org).await.unwrap();
        directory.add_user(&org, &mia, Role::Member).await.unwrap();
        directory.add_user(&org, &max, Role::Member).await.unwrap();
        let mut secrets = Vec::new();
        for name in ["A", "B"] {
            let new = NewSecret {
                name: name.into(),
                value: SecretValue::new("sk_test_0123456789").unwrap(),
                access: Access::Team,
                grants: vec![],
                allowed_hosts: vec![],
                description: None,
            };
            secrets.push(store.create(&org, &mia, new).await.unwrap().id);
        }
        let (a, b) = (&secrets[0], &secrets[1]);
        let saved = SavedActions::new(Arc::clone(&backend));
        let refs = |s: &SecretId| {
            let saved = saved.clone();
            let (org, s) = (org.clone(), s.clone());
            async move {
                let ids: Vec<String> = saved
                    .referencing(&org, &s)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|a| a.id.to_string())
                    .collect();
                ids
            }
        };

        let (_, created) = saved
            .save(&org, &mia, &id("act_1"), spec(&[a, b]), None)
            .await
            .unwrap();
        assert!(created);
        assert_eq!(
            (refs(a).await, refs(b).await),
            (vec!["act_1".to_owned()], vec!["act_1".to_owned()])
        );
        let (_, created) = saved
            .save(&org, &mia, &id("act_1"), spec(&[b]), None)
            .await
            .unwrap();
        assert!(!created);
        assert!(refs(a).await.is_empty());
        let err = saved
            .save(&org, &max, &id("act_1"), spec(&[]), None)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Denied);
        let err = saved
            .save(
                &org,
                &mia,
                &id("act_2"),
                spec(&[&SecretId::generate()]),
                None,
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Invalid);
        assert!(saved.get(&org, &id("act_2")).await.unwrap().is_none());

        match saved
            .delete_secret(&store, &org, &mia, b, false)
            .await
            .unwrap()
        {
            SecretDeletion::Referenced(ids) => assert_eq!(ids, [id("act_1")]),
            SecretDeletion::Deleted(_) => panic!("a referenced secret was deleted"),
        }
        assert!(matches!(
            saved
                .delete_secret(&store, &org, &mia, a, false)
                .await
                .unwrap(),
            SecretDeletion::Deleted(_)
        ));
        assert!(matches!(
            saved
                .delete_secret(&store, &org, &mia, b, true)
                .await
                .unwrap(),
            SecretDeletion::Deleted(_)
        ));
        assert!(refs(b).await.is_empty());
        // The action outlives its secret and can still be deleted.
        saved.delete(&org, &mia, &id("act_1")).await.unwrap();
        assert!(saved.list(&org, None, 10).await.unwrap().items.is_empty());
        assert!(
            backend
                .scan(&org, Table::References)
                .await
                .unwrap()
                .is_empty()
        );
    }
}
