//! The directory: orgs, their users with a role (`member` or `admin`), and groups of
//! users. Secret access is decided against it at every use, so a change here takes effect
//! at the next resolve.
//!
//! A user record lists the user's groups and a group record lists its members; both are
//! changed in one transaction so they never disagree.
//!
//! A principal's rights die with it: removing a user drops, in the same transaction, the
//! user's group memberships, every grant naming the user on every secret of the org and
//! every API token of the user; removing a group drops its grants likewise. Adding a user
//! or creating a group clears, again in its own transaction, whatever a removal raced
//! with, so a re-added `bob` starts with nothing. What is keyed to a user id elsewhere
//! (the creator of a secret, who saved an action, whose runs a token sees, which user a
//! token was issued to) counts only for the incarnation that began at the record's
//! `added_at` ([`UserRecord::holds_since`]).

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::audit::{AuditAction, AuditEntry};
use crate::error::{Error, Result};
use crate::model::secret::{Principal, SecretMeta};
use crate::model::{GroupId, OrgId, Timestamp, UserId, now};
use crate::store::{Backend, Commit, Table, Txn, retry_on_conflict};

/// A user's role in an org.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// May create secrets and use those shared with them.
    Member,
    /// Holds Manage on every secret of the org.
    Admin,
}

impl std::str::FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "member" => Ok(Role::Member),
            "admin" => Ok(Role::Admin),
            other => Err(Error::invalid(
                "role",
                format!("{other:?} is neither member nor admin"),
            )),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Member => "member",
            Role::Admin => "admin",
        })
    }
}

/// An org.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgRecord {
    /// Its id.
    pub id: OrgId,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
}

/// A user's membership of an org.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// The user.
    pub id: UserId,
    /// Member or admin.
    pub role: Role,
    /// The groups the user belongs to.
    #[serde(default)]
    pub groups: Vec<GroupId>,
    /// When the user joined: this incarnation of the user id began then.
    #[serde(with = "time::serde::rfc3339")]
    pub added_at: Timestamp,
}

impl UserRecord {
    /// Whether something this user id did or was given at `at` belongs to this record's
    /// user, and not to an earlier user of the same id who was removed: `at` is no earlier
    /// than [`UserRecord::added_at`]. (Timestamps come from the clocks of the hush
    /// processes that wrote them; keep those clocks in step.)
    pub fn holds_since(&self, at: Timestamp) -> bool {
        self.added_at <= at
    }
}

/// A group of users.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRecord {
    /// The group.
    pub id: GroupId,
    /// Its members.
    #[serde(default)]
    pub members: Vec<UserId>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
}

const ORG_META: &str = "meta";

/// A user or group whose stale references are dropped (see [`Directory::forget`]).
#[derive(Clone, Copy)]
enum Named<'a> {
    User(&'a UserId),
    Group(&'a GroupId),
}

impl Named<'_> {
    fn is(&self, principal: &Principal) -> bool {
        match (self, principal) {
            (Named::User(u), Principal::User(p)) => *u == p,
            (Named::Group(g), Principal::Group(p)) => *g == p,
            _ => false,
        }
    }
}

/// The principal of a stored API token (the fields `kind` and `user` of
/// `tokens::TokenRecord`, which the directory reads only to drop a user's tokens).
#[derive(Deserialize)]
struct TokenPrincipal {
    kind: String,
    #[serde(default)]
    user: Option<String>,
}

/// What [`Directory::forget`] dropped, for the audit entry.
#[derive(Default)]
struct Forgotten {
    grants: usize,
    tokens: usize,
}

impl Forgotten {
    fn detail(&self) -> String {
        let mut parts = Vec::new();
        if self.grants > 0 {
            parts.push(format!("{} secret grant(s)", self.grants));
        }
        if self.tokens > 0 {
            parts.push(format!("{} API token(s)", self.tokens));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("; dropped {}", parts.join(" and "))
        }
    }
}

fn to_bytes<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("directory records serialize")
}

fn parse<T: for<'de> Deserialize<'de>>(what: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::internal(format!("stored {what} is unreadable: {e}")))
}

/// Reads and changes the directory.
///
/// It checks no permission: the operator's CLI may change anything, and the API checks
/// that its actor is an admin before calling. [`Directory::acting_as`] names that actor
/// in the audit entries of its changes.
#[derive(Clone)]
pub struct Directory {
    backend: Arc<dyn Backend>,
    /// Who the changes are made by, for the audit trail (`None`: the operator).
    actor: Option<UserId>,
}

impl Directory {
    /// Works through `backend`.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Directory {
            backend,
            actor: None,
        }
    }

    /// The same directory, recording `actor` in the audit entries of its changes.
    pub fn acting_as(&self, actor: &UserId) -> Self {
        Directory {
            backend: Arc::clone(&self.backend),
            actor: Some(actor.clone()),
        }
    }

    /// Creates an org.
    ///
    /// # Errors
    /// [`Conflict`](crate::error::ErrorKind::Conflict) when it exists.
    pub async fn create_org(&self, org: &OrgId) -> Result<OrgRecord> {
        let record = OrgRecord {
            id: org.clone(),
            created_at: now(),
        };
        let txn = Txn::new()
            .expect(Table::Org, ORG_META, None)
            .put(Table::Org, ORG_META, to_bytes(&record))
            .audit(AuditEntry::new(self.actor.as_ref(), AuditAction::OrgCreate).to_bytes());
        match self.backend.commit(org, txn).await? {
            Commit::Applied => {
                self.backend.register_org(org).await?;
                Ok(record)
            }
            Commit::Conflict => Err(Error::conflict(format!("org {org} already exists"))),
        }
    }

    /// Every org.
    pub async fn list_orgs(&self) -> Result<Vec<OrgId>> {
        self.backend.orgs().await
    }

    /// An org's record.
    ///
    /// # Errors
    /// [`NotFound`](crate::error::ErrorKind::NotFound) when there is no such org.
    pub async fn org(&self, org: &OrgId) -> Result<OrgRecord> {
        let [meta]: [Option<Vec<u8>>; 1] = self
            .backend
            .read(org, &[(Table::Org, ORG_META)])
            .await?
            .try_into()
            .map_err(|_| Error::internal("store returned the wrong number of fields"))?;
        match meta {
            Some(bytes) => parse("org", &bytes),
            None => Err(Error::not_found(format!("org {org} does not exist"))),
        }
    }

    /// Removes an org with everything it owns: users, groups, secrets, tokens, components,
    /// saved actions, audit trail and, on Redis, its runs, their events, idempotency keys
    /// and indexes, and its entries in the shared work queue. A new org of the same name
    /// starts empty.
    ///
    /// # Errors
    /// [`NotFound`](crate::error::ErrorKind::NotFound) when there is no such org.
    pub async fn remove_org(&self, org: &OrgId) -> Result<()> {
        self.org(org).await?;
        self.backend.drop_org(org).await
    }

    /// A user's record, or `None` when the user is not in the org.
    pub async fn user(&self, org: &OrgId, user: &UserId) -> Result<Option<UserRecord>> {
        self.user_seen(org, user, None).await
    }

    /// [`Directory::user`] at the org's data version `seen`, from the store's cache when
    /// nothing changed since (see [`Backend::read_seen`]).
    pub async fn user_seen(
        &self,
        org: &OrgId,
        user: &UserId,
        seen: Option<&crate::store::OrgVersion>,
    ) -> Result<Option<UserRecord>> {
        let got = self
            .backend
            .read_seen(org, &[(Table::Users, user.as_str())], seen)
            .await?;
        got.into_iter()
            .next()
            .flatten()
            .map(|bytes| parse("user", &bytes))
            .transpose()
    }

    /// Every user of an org, by id.
    pub async fn list_users(&self, org: &OrgId) -> Result<Vec<UserRecord>> {
        self.org(org).await?;
        self.backend
            .scan(org, Table::Users)
            .await?
            .iter()
            .map(|(_, bytes)| parse("user", bytes))
            .collect()
    }

    /// Every group of an org, by id.
    pub async fn list_groups(&self, org: &OrgId) -> Result<Vec<GroupRecord>> {
        self.org(org).await?;
        self.backend
            .scan(org, Table::Groups)
            .await?
            .iter()
            .map(|(_, bytes)| parse("group", bytes))
            .collect()
    }

    /// Adds to `txn` the end of everything that names `who` and must not outlive it:
    /// every grant naming it on every secret of `org` and, for a user, every API token
    /// issued to that user. Each changed record is compare-and-set, so a concurrent change
    /// to one makes the commit conflict and the caller read again.
    async fn forget(&self, org: &OrgId, who: Named<'_>, mut txn: Txn) -> Result<(Txn, Forgotten)> {
        let mut forgotten = Forgotten::default();
        for (id, bytes) in self.backend.scan(org, Table::Secrets).await? {
            let mut meta: SecretMeta = parse("secret", &bytes)?;
            let before = meta.grants.len();
            meta.grants.retain(|g| !who.is(&g.principal));
            if meta.grants.len() != before {
                forgotten.grants += before - meta.grants.len();
                txn = txn.expect(Table::Secrets, &id, Some(&bytes)).put(
                    Table::Secrets,
                    &id,
                    to_bytes(&meta),
                );
            }
        }
        if let Named::User(user) = who {
            for (hash, bytes) in self.backend.scan(org, Table::Tokens).await? {
                let token: TokenPrincipal = parse("token", &bytes)?;
                if token.kind == "user" && token.user.as_deref() == Some(user.as_str()) {
                    forgotten.tokens += 1;
                    txn = txn
                        .expect(Table::Tokens, &hash, Some(&bytes))
                        .delete(Table::Tokens, &hash);
                }
            }
        }
        Ok((txn, forgotten))
    }

    /// Adds a user to an org, with nothing: any grant or token left naming an earlier user
    /// of the same id (by a removal that raced with a change) is dropped in the same
    /// transaction.
    ///
    /// # Errors
    /// [`NotFound`](crate::error::ErrorKind::NotFound) for an unknown org,
    /// [`Conflict`](crate::error::ErrorKind::Conflict) when the user is already in it.
    pub async fn add_user(&self, org: &OrgId, user: &UserId, role: Role) -> Result<UserRecord> {
        self.org(org).await?;
        let taken = || Error::conflict(format!("user {user} is already in org {org}"));
        retry_on_conflict("add-user", || async {
            if self.user(org, user).await?.is_some() {
                return Err(taken());
            }
            let record = UserRecord {
                id: user.clone(),
                role,
                groups: Vec::new(),
                added_at: now(),
            };
            let txn = Txn::new().expect(Table::Users, user.as_str(), None).put(
                Table::Users,
                user.as_str(),
                to_bytes(&record),
            );
            let (txn, forgotten) = self.forget(org, Named::User(user), txn).await?;
            let txn = txn.audit(
                AuditEntry::new(self.actor.as_ref(), AuditAction::UserAdd)
                    .detail(format!("{user} as {role}{}", forgotten.detail()))
                    .to_bytes(),
            );
            Ok((self.backend.commit(org, txn).await? == Commit::Applied).then_some(record))
        })
        .await
    }

    /// Reads `(table, field)` records that must exist, with their stored bytes for a
    /// compare-and-set.
    async fn read_existing(&self, org: &OrgId, fields: &[(Table, &str)]) -> Result<Vec<Vec<u8>>> {
        let got = self.backend.read(org, fields).await?;
        let mut out = Vec::with_capacity(got.len());
        for ((table, field), bytes) in fields.iter().zip(got) {
            let Some(bytes) = bytes else {
                self.org(org).await?;
                let what = if *table == Table::Users {
                    "user"
                } else {
                    "group"
                };
                return Err(Error::not_found(format!(
                    "{what} {field} is not in org {org}"
                )));
            };
            out.push(bytes);
        }
        Ok(out)
    }

    /// Changes a user's role.
    ///
    /// # Errors
    /// [`NotFound`](crate::error::ErrorKind::NotFound) for an unknown org or user.
    pub async fn set_role(&self, org: &OrgId, user: &UserId, role: Role) -> Result<UserRecord> {
        retry_on_conflict("set-role", || async {
            let [old] = <[Vec<u8>; 1]>::try_from(
                self.read_existing(org, &[(Table::Users, user.as_str())])
                    .await?,
            )
            .expect("one field read");
            let mut record: UserRecord = parse("user", &old)?;
            record.role = role;
            let txn = Txn::new()
                .expect(Table::Users, user.as_str(), Some(&old))
                .put(Table::Users, user.as_str(), to_bytes(&record))
                .audit(
                    AuditEntry::new(self.actor.as_ref(), AuditAction::UserSetRole)
                        .detail(format!("{user} is now {role}"))
                        .to_bytes(),
                );
            Ok((self.backend.commit(org, txn).await? == Commit::Applied).then_some(record))
        })
        .await
    }

    /// Removes a user from an org and from all its groups, and in the same transaction
    /// drops every grant naming the user and revokes every API token of the user.
    ///
    /// # Errors
    /// [`NotFound`](crate::error::ErrorKind::NotFound) for an unknown org or user.
    pub async fn remove_user(&self, org: &OrgId, user: &UserId) -> Result<()> {
        retry_on_conflict("remove-user", || async {
            let [old] = <[Vec<u8>; 1]>::try_from(
                self.read_existing(org, &[(Table::Users, user.as_str())])
                    .await?,
            )
            .expect("one field read");
            let record: UserRecord = parse("user", &old)?;
            let group_fields: Vec<(Table, &str)> = record
                .groups
                .iter()
                .map(|g| (Table::Groups, g.as_str()))
                .collect();
            let groups = self.backend.read(org, &group_fields).await?;
            let mut txn = Txn::new()
                .expect(Table::Users, user.as_str(), Some(&old))
                .delete(Table::Users, user.as_str());
            for (group_id, bytes) in record.groups.iter().zip(groups) {
                let Some(bytes) = bytes else { continue };
                let mut group: GroupRecord = parse("group", &bytes)?;
                group.members.retain(|m| m != user);
                txn = txn
                    .expect(Table::Groups, group_id.as_str(), Some(&bytes))
                    .put(Table::Groups, group_id.as_str(), to_bytes(&group));
            }
            let (txn, forgotten) = self.forget(org, Named::User(user), txn).await?;
            let txn = txn.audit(
                AuditEntry::new(self.actor.as_ref(), AuditAction::UserRemove)
                    .detail(format!("{user}{}", forgotten.detail()))
                    .to_bytes(),
            );
            Ok((self.backend.commit(org, txn).await? == Commit::Applied).then_some(()))
        })
        .await
    }

    /// Creates an empty group, with no grants: any grant left naming an earlier group of
    /// the same id is dropped in the same transaction.
    ///
    /// # Errors
    /// [`NotFound`](crate::error::ErrorKind::NotFound) for an unknown org,
    /// [`Conflict`](crate::error::ErrorKind::Conflict) when the group exists.
    pub async fn create_group(&self, org: &OrgId, group: &GroupId) -> Result<GroupRecord> {
        self.org(org).await?;
        let taken = || Error::conflict(format!("group {group} already exists in org {org}"));
        retry_on_conflict("create-group", || async {
            let exists = self
                .backend
                .read(org, &[(Table::Groups, group.as_str())])
                .await?;
            if exists.into_iter().next().flatten().is_some() {
                return Err(taken());
            }
            let record = GroupRecord {
                id: group.clone(),
                members: Vec::new(),
                created_at: now(),
            };
            let txn = Txn::new().expect(Table::Groups, group.as_str(), None).put(
                Table::Groups,
                group.as_str(),
                to_bytes(&record),
            );
            let (txn, forgotten) = self.forget(org, Named::Group(group), txn).await?;
            let txn = txn.audit(
                AuditEntry::new(self.actor.as_ref(), AuditAction::GroupCreate)
                    .detail(format!("{group}{}", forgotten.detail()))
                    .to_bytes(),
            );
            Ok((self.backend.commit(org, txn).await? == Commit::Applied).then_some(record))
        })
        .await
    }

    /// Removes a group; its members stay in the org. Every grant naming the group is
    /// dropped in the same transaction.
    ///
    /// # Errors
    /// [`NotFound`](crate::error::ErrorKind::NotFound) for an unknown org or group.
    pub async fn remove_group(&self, org: &OrgId, group: &GroupId) -> Result<()> {
        retry_on_conflict("remove-group", || async {
            let [old] = <[Vec<u8>; 1]>::try_from(
                self.read_existing(org, &[(Table::Groups, group.as_str())])
                    .await?,
            )
            .expect("one field read");
            let record: GroupRecord = parse("group", &old)?;
            let user_fields: Vec<(Table, &str)> = record
                .members
                .iter()
                .map(|u| (Table::Users, u.as_str()))
                .collect();
            let users = self.backend.read(org, &user_fields).await?;
            let mut txn = Txn::new()
                .expect(Table::Groups, group.as_str(), Some(&old))
                .delete(Table::Groups, group.as_str());
            for (user_id, bytes) in record.members.iter().zip(users) {
                let Some(bytes) = bytes else { continue };
                let mut user: UserRecord = parse("user", &bytes)?;
                user.groups.retain(|g| g != group);
                txn = txn
                    .expect(Table::Users, user_id.as_str(), Some(&bytes))
                    .put(Table::Users, user_id.as_str(), to_bytes(&user));
            }
            let (txn, forgotten) = self.forget(org, Named::Group(group), txn).await?;
            let txn = txn.audit(
                AuditEntry::new(self.actor.as_ref(), AuditAction::GroupRemove)
                    .detail(format!("{group}{}", forgotten.detail()))
                    .to_bytes(),
            );
            Ok((self.backend.commit(org, txn).await? == Commit::Applied).then_some(()))
        })
        .await
    }

    /// Adds `user` to `group` (idempotent).
    ///
    /// # Errors
    /// [`NotFound`](crate::error::ErrorKind::NotFound) for an unknown org, group or user.
    pub async fn add_member(
        &self,
        org: &OrgId,
        group: &GroupId,
        user: &UserId,
    ) -> Result<GroupRecord> {
        self.change_membership(org, group, user, true).await
    }

    /// Removes `user` from `group` (idempotent).
    ///
    /// # Errors
    /// [`NotFound`](crate::error::ErrorKind::NotFound) for an unknown org, group or user.
    pub async fn remove_member(
        &self,
        org: &OrgId,
        group: &GroupId,
        user: &UserId,
    ) -> Result<GroupRecord> {
        self.change_membership(org, group, user, false).await
    }

    async fn change_membership(
        &self,
        org: &OrgId,
        group: &GroupId,
        user: &UserId,
        join: bool,
    ) -> Result<GroupRecord> {
        retry_on_conflict("group membership change", || async {
            let [group_bytes, user_bytes] = <[Vec<u8>; 2]>::try_from(
                self.read_existing(
                    org,
                    &[
                        (Table::Groups, group.as_str()),
                        (Table::Users, user.as_str()),
                    ],
                )
                .await?,
            )
            .expect("two fields read");
            let mut group_record: GroupRecord = parse("group", &group_bytes)?;
            let mut user_record: UserRecord = parse("user", &user_bytes)?;
            group_record.members.retain(|m| m != user);
            user_record.groups.retain(|g| g != group);
            if join {
                group_record.members.push(user.clone());
                group_record.members.sort();
                user_record.groups.push(group.clone());
                user_record.groups.sort();
            }
            let (action, verb) = if join {
                (AuditAction::GroupAddMember, "joined")
            } else {
                (AuditAction::GroupRemoveMember, "left")
            };
            let txn = Txn::new()
                .expect(Table::Groups, group.as_str(), Some(&group_bytes))
                .expect(Table::Users, user.as_str(), Some(&user_bytes))
                .put(Table::Groups, group.as_str(), to_bytes(&group_record))
                .put(Table::Users, user.as_str(), to_bytes(&user_record))
                .audit(
                    AuditEntry::new(self.actor.as_ref(), action)
                        .detail(format!("{user} {verb} {group}"))
                        .to_bytes(),
                );
            Ok((self.backend.commit(org, txn).await? == Commit::Applied).then_some(group_record))
        })
        .await
    }
}
