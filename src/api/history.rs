//! Run history: each finished run's record, stored in its org's [`Table::Runs`] under its
//! run id. It stores only what the executor already redacted; it never adds a value.
//!
//! This first layout keeps no retention TTL, no per-workflow index and no size caps;
//! those come with queued dispatch (issue 6).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::executor::RunRecord;
use crate::model::{OrgId, RunId};
use crate::store::{Backend, Commit, Table, Txn};

/// A run as the API stores and shows it: the executor's record and how it was dispatched.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredRun {
    /// The run record (every string already redacted).
    #[serde(flatten)]
    pub record: RunRecord,
    /// The orchestrator's workflow run this action belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_run_id: Option<RunId>,
    /// The id of the token that dispatched it (never the token).
    pub dispatched_by: String,
}

/// Stores and reads finished runs.
#[derive(Clone)]
pub struct RunHistory {
    backend: Arc<dyn Backend>,
}

impl RunHistory {
    /// Works through `backend`.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        RunHistory { backend }
    }

    /// Stores a finished run under its org and id.
    ///
    /// # Errors
    /// [`Conflict`](crate::error::ErrorKind::Conflict) when a run with that id is stored
    /// already (nothing is overwritten); [`Unavailable`](crate::error::ErrorKind::Unavailable)
    /// when the store fails.
    pub async fn put(&self, run: &StoredRun) -> Result<()> {
        let id = run.record.id.as_str();
        let bytes = serde_json::to_vec(run).expect("a run record serializes");
        let txn = Txn::new()
            .expect(Table::Runs, id, None)
            .put(Table::Runs, id, bytes);
        match self.backend.commit(&run.record.org, txn).await? {
            Commit::Applied => Ok(()),
            Commit::Conflict => Err(Error::conflict(format!("run {id} is already stored"))),
        }
    }

    /// The run `id` of `org`, or `None` (also for another org's run).
    ///
    /// # Errors
    /// [`Unavailable`](crate::error::ErrorKind::Unavailable) when the store fails.
    pub async fn get(&self, org: &OrgId, id: &RunId) -> Result<Option<StoredRun>> {
        let got = self
            .backend
            .read(org, &[(Table::Runs, id.as_str())])
            .await?;
        got.into_iter()
            .next()
            .flatten()
            .map(|bytes| {
                serde_json::from_slice(&bytes)
                    .map_err(|e| Error::internal(format!("stored run {id} is unreadable: {e}")))
            })
            .transpose()
    }
}
