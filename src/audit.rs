//! The per-org audit trail: who changed or used which secret (and who changed the
//! directory), when, and whether it was allowed. An entry never holds a value.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{OrgId, RunId, SecretId, Timestamp, UserId};
use crate::store::Backend;

/// What was done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    /// An org was created.
    OrgCreate,
    /// A user joined the org.
    UserAdd,
    /// A user's role changed.
    UserSetRole,
    /// A user left the org.
    UserRemove,
    /// A group was created.
    GroupCreate,
    /// A group was removed.
    GroupRemove,
    /// A user joined a group.
    GroupAddMember,
    /// A user left a group.
    GroupRemoveMember,
    /// A secret was created.
    SecretCreate,
    /// A secret was renamed.
    SecretRename,
    /// A secret got a new value.
    SecretSetValue,
    /// A secret's access or grants changed.
    SecretSetAccess,
    /// A secret's allowed hosts changed.
    SecretSetAllowedHosts,
    /// The components a secret may be revealed to changed.
    SecretSetRevealComponents,
    /// A secret was deleted.
    SecretDelete,
    /// Secrets were resolved for a run.
    SecretResolve,
    /// A Run Code component was added.
    ComponentAdd,
    /// A secret's description changed.
    SecretSetDescription,
    /// An action was saved (created or replaced).
    ActionSave,
    /// A saved action was deleted.
    ActionDelete,
    /// An API token was created.
    TokenCreate,
    /// An API token was revoked.
    TokenRevoke,
    /// `hush keys rotate` made a new master key version current and re-wrapped the org's
    /// data key with it (no actor: whoever holds the master key file or variable).
    MasterKeyRotate,
}

/// Whether the operation was allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It went ahead.
    Allowed,
    /// It was refused for lack of permission.
    Denied,
}

/// A secret named in an entry, by id and the name it had then.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditSecret {
    /// The secret's id.
    pub id: SecretId,
    /// Its name at the time, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// One audit entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: Timestamp,
    /// Who acted (absent for operator commands such as creating an org).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<UserId>,
    /// What.
    pub action: AuditAction,
    /// Allowed or denied.
    pub outcome: Outcome,
    /// The secrets concerned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<AuditSecret>,
    /// The run, for resolves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<RunId>,
    /// A short description of the change (never a value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl AuditEntry {
    /// A new allowed entry stamped now.
    pub fn new(actor: Option<&UserId>, action: AuditAction) -> Self {
        AuditEntry {
            at: crate::model::now(),
            actor: actor.cloned(),
            action,
            outcome: Outcome::Allowed,
            secrets: Vec::new(),
            run_id: None,
            detail: None,
        }
    }

    /// Names a secret.
    pub fn secret(mut self, id: &SecretId, name: Option<&str>) -> Self {
        self.secrets.push(AuditSecret {
            id: id.clone(),
            name: name.map(str::to_owned),
        });
        self
    }

    /// Adds a detail.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Marks it denied.
    pub fn denied(mut self) -> Self {
        self.outcome = Outcome::Denied;
        self
    }

    /// The stored form.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an audit entry serializes")
    }
}

/// Reads the audit trail.
#[derive(Clone)]
pub struct Audit {
    backend: Arc<dyn Backend>,
}

/// One page of audit entries.
#[derive(Clone, Debug, Serialize)]
pub struct AuditPage {
    /// Entries, oldest first, each with its id.
    pub entries: Vec<AuditRow>,
    /// Pass as `after` to read on; absent at the end.
    pub next: Option<String>,
}

/// An entry with its id.
#[derive(Clone, Debug, Serialize)]
pub struct AuditRow {
    /// The entry id.
    pub id: String,
    /// The entry.
    #[serde(flatten)]
    pub entry: AuditEntry,
}

impl Audit {
    /// Reads through `backend`.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Audit { backend }
    }

    /// Up to `limit` entries after `after`, oldest first.
    ///
    /// # Errors
    /// When the store fails or holds an entry it cannot parse.
    pub async fn list(&self, org: &OrgId, after: Option<&str>, limit: usize) -> Result<AuditPage> {
        let limit = limit.clamp(1, 1000);
        let rows = self.backend.audit_page(org, after, limit).await?;
        let next = (rows.len() == limit)
            .then(|| rows.last().map(|r| r.0.clone()))
            .flatten();
        let entries = rows
            .into_iter()
            .map(|(id, bytes)| {
                let entry = serde_json::from_slice(&bytes)
                    .map_err(|e| Error::internal(format!("audit entry {id} is unreadable: {e}")))?;
                Ok(AuditRow { id, entry })
            })
            .collect::<Result<_>>()?;
        Ok(AuditPage { entries, next })
    }
}
