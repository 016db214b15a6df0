//! The per-org data keys (created and wrapped on first use, cached unwrapped) and
//! master-key rotation (re-wrapping every org's data key). Never stores an unwrapped key.

use super::*;

impl SecretStore {
    /// The org's data key, creating and storing it (wrapped) on first use.
    pub(super) async fn data_key(&self, org: &OrgId) -> Result<Arc<DataKey>> {
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
