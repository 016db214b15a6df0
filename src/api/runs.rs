//! `/v1/runs`: dispatch an inline action for an actor and read finished runs.
//!
//! Who may act for whom is decided here, before anything runs: a user token acts only as
//! its user; a service token acts for any current member of its org and no one else.
//! Whether the actor may use each secret is the executor's check, at run time. A
//! response holds only the executor's redacted record.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::Value;

use super::ApiState;
use super::auth::{Caller, actor_for};
use super::error::{ApiError, ApiJson, ApiQuery};
use super::history::StoredRun;
use super::tokens::{Principal, random_base32};
use crate::actions::Action;
use crate::directory::Role;
use crate::executor::RunRequest;
use crate::model::RunId;

/// The body of `POST /v1/runs`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dispatch {
    /// An inline action spec (`send_api_request` or `run_code`).
    action: Value,
    /// The run's inputs (a JSON object; default `{}`).
    #[serde(default)]
    inputs: Option<serde_json::Map<String, Value>>,
    /// The user to act for: required with a service token; a user token acts as itself.
    #[serde(default)]
    actor: Option<String>,
    /// The orchestrator's workflow run, kept with the record.
    #[serde(default)]
    workflow_run_id: Option<String>,
}

/// The query of `POST /v1/runs`.
#[derive(Deserialize)]
pub struct DispatchQuery {
    /// Answer with the finished record (the only mode for now).
    #[serde(default)]
    wait: bool,
}

/// `POST /v1/runs?wait=true`: runs the action and answers with its record.
pub async fn dispatch(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<DispatchQuery>,
    ApiJson(body): ApiJson<Dispatch>,
) -> Result<Json<StoredRun>, ApiError> {
    if !body.action.is_object() {
        return Err(ApiError::invalid(
            "`action` must be an action spec (a JSON object with a `kind`)",
        ));
    }
    let action = Action::from_json(&body.action.to_string())?;
    let workflow_run_id = body
        .workflow_run_id
        .as_deref()
        .map(|id| RunId::parse_field("workflow_run_id", id))
        .transpose()?;
    let actor = actor_for(&state, &caller, body.actor.as_deref()).await?;
    if !query.wait {
        return Err(ApiError::invalid(
            "queued dispatch is not available yet; pass `?wait=true` to run and wait for the record",
        ));
    }
    let request = RunRequest {
        run_id: RunId::parse(&format!("run_{}", random_base32(26)))?,
        org: caller.0.org.clone(),
        actor,
        action,
        inputs: Value::Object(body.inputs.unwrap_or_default()),
    };
    let record = state.executor.run(request).await;
    let run = StoredRun {
        record,
        workflow_run_id,
        dispatched_by: caller.0.id.clone(),
    };
    if let Err(e) = state.history.put(&run).await {
        // The action has run: answering an error would invite a retry that runs it again,
        // so the caller gets its record and the operator the failure.
        tracing::error!(run = %run.record.id, error = %e, "a finished run could not be stored in the run history");
    }
    Ok(Json(run))
}

/// `GET /v1/runs/{id}`: a run of the caller's org. A user token that is not an admin
/// sees only the runs it acted in; every other run answers 404, like another org's.
pub async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<StoredRun>, ApiError> {
    let org = &caller.0.org;
    let id = RunId::parse_field("run id", &id)?;
    let not_found = || ApiError::not_found(format!("no run {id} in org {org}"));
    let run = state.history.get(org, &id).await?.ok_or_else(not_found)?;
    if let Principal::User { user } = &caller.0.principal
        && run.record.actor != *user
    {
        let is_admin = state
            .directory
            .user(org, user)
            .await?
            .is_some_and(|u| u.role == Role::Admin);
        if !is_admin {
            return Err(not_found());
        }
    }
    Ok(Json(run))
}
