//! The changes a secret's managers make: rename, new value, access and grants, allowed
//! hosts, components that may reveal it, description, delete. Each checks Manage against
//! the directory as it is, changes the stored metadata in one compare-and-set commit with
//! its audit entry, and never returns, logs or stores a value.

use super::*;

impl SecretStore {
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

    pub(super) async fn check_principals_exist(&self, org: &OrgId, grants: &[Grant]) -> Result<()> {
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
    /// `MAX_REVEAL_COMPONENTS` (50) or a duplicate;
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
}
