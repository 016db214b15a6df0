//! Resolving secrets for a run: one read of the actor, the metadata and the ciphertexts,
//! the access check, decryption into values that zeroize on drop (and are held in the
//! process-wide redactor while they live), and the batching writer that records the
//! allowed resolves in the audit trail off the run's path. Never logs or stores a value.

use super::*;

/// Allowed resolves waiting to be written to the audit trail, and the task writing them.
#[derive(Default)]
pub(super) struct AuditBuffer {
    /// Kept unserialized: the writer serializes them, off the resolve's path.
    entries: Vec<(OrgId, AuditEntry)>,
    writer: Option<tokio::task::JoinHandle<()>>,
    /// Which writer is current, so a finishing writer never forgets a newer one.
    generation: u64,
}

/// How long the audit writer gathers entries before writing them as one batch.
const AUDIT_BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(2);

/// Audit entries in their stored form.
fn serialize(entries: Vec<(OrgId, AuditEntry)>) -> Vec<(OrgId, Vec<u8>)> {
    entries
        .into_iter()
        .map(|(org, entry)| (org, entry.to_bytes()))
        .collect()
}

impl SecretStore {
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
        self.resolve_seen(org, actor, ids, run, None).await
    }

    /// [`SecretStore::resolve`] for a run that knows the org's data version `seen`: the
    /// actor's record, the metadata and the ciphertexts come from the store's cache, with
    /// no round trip, when they were read at exactly that version (see
    /// [`Backend::read_seen`]). Values are decrypted for this run as always.
    ///
    /// # Errors
    /// As [`SecretStore::resolve`].
    pub async fn resolve_seen(
        &self,
        org: &OrgId,
        actor: &UserId,
        ids: &[SecretId],
        run: &RunId,
        seen: Option<&OrgVersion>,
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
        let mut got = self.backend.read_seen(org, &fields, seen).await?;
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
}
