//! `/v1/runs`: dispatch an action (inline or saved) for an actor, queued or waited for;
//! read one run, a page of runs, or a run's live events (server-sent events).
//!
//! Who may act for whom is decided here, before anything runs: a user token acts only as
//! its user; a service token acts for any current member of its org and no one else.
//! Whether the actor may use each secret is the executor's check, at run time. A
//! response holds only what the executor redacted.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use super::ApiState;
use super::auth::{Bearer, Caller, actor_for};
use super::error::{ApiError, ApiJson, ApiQuery};
use crate::actions::Action;
use crate::directory::{Role, UserRecord};
use crate::executor::RunStatus;
use crate::model::{ActionId, OrgId, RunId, Timestamp, UserId};
use crate::runs::dispatch::{self, DispatchOptions, Dispatched};
use crate::runs::{Event, Pending, Run, RunJson};
use crate::tokens::Principal;

/// The body of `POST /v1/runs`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dispatch {
    /// An inline action spec (`send_api_request` or `run_code`).
    #[serde(default)]
    action: Option<Value>,
    /// Or the id of a saved action (`act_…`).
    #[serde(default)]
    action_id: Option<String>,
    /// The run's inputs (a JSON object; default `{}`).
    #[serde(default)]
    inputs: Option<serde_json::Map<String, Value>>,
    /// The user to act for: required with a service token; a user token acts as itself.
    #[serde(default)]
    actor: Option<String>,
    /// The orchestrator's workflow run, kept with the record and indexed.
    #[serde(default)]
    workflow_run_id: Option<String>,
    /// A retry with the same key (in the same org, for the same actor) returns the same
    /// run; the key used for another actor is a conflict.
    #[serde(default)]
    idempotency_key: Option<String>,
}

/// The query of `POST /v1/runs`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispatchQuery {
    /// Run now and answer with the ended run; otherwise queue it and answer 202.
    #[serde(default)]
    wait: bool,
}

fn idempotency_key(key: Option<&str>) -> Result<Option<&str>, ApiError> {
    match key {
        None => Ok(None),
        Some(k) if !k.is_empty() && k.len() <= 200 && k.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(k))
        }
        Some(_) => Err(ApiError::invalid(
            "`idempotency_key` must be 1-200 visible ASCII characters",
        )),
    }
}

/// `POST /v1/runs`: queues the action (202 with the queued run) or, with `?wait=true`,
/// runs it here and answers with the ended run. A repeated `idempotency_key` answers
/// with the run it created (200), running nothing — only when that run was dispatched for
/// the same actor (see `replay`); otherwise 409, saying nothing of that run.
pub async fn dispatch(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<DispatchQuery>,
    ApiJson(body): ApiJson<Dispatch>,
) -> Result<Response, ApiError> {
    let org = caller.0.org.clone();
    let (spec, action_id) = match (body.action, body.action_id) {
        (Some(spec), None) => (spec, None),
        (None, Some(id)) => {
            let id = ActionId::parse_field("action_id", &id)?;
            let saved =
                state.saved.get(&org, &id).await?.ok_or_else(|| {
                    ApiError::not_found(format!("no saved action {id} in org {org}"))
                })?;
            (saved.spec, Some(id))
        }
        _ => {
            return Err(ApiError::invalid(
                "give exactly one of `action` (an inline spec) or `action_id` (a saved action)",
            ));
        }
    };
    if !spec.is_object() {
        return Err(ApiError::invalid(
            "`action` must be an action spec (a JSON object with a `kind`)",
        ));
    }
    let action = Action::from_json(&spec.to_string())?;
    state.executor.check(&action).await?;
    let workflow_run_id = body
        .workflow_run_id
        .as_deref()
        .map(|id| RunId::parse_field("workflow_run_id", id))
        .transpose()?;
    let idempotency = idempotency_key(body.idempotency_key.as_deref())?;
    let actor = actor_for(&state, &caller, body.actor.as_deref()).await?;
    let mut run = Run::queued(
        org.clone(),
        actor.clone(),
        action.kind(),
        caller.0.id.clone(),
    );
    run.action_id = action_id;
    run.workflow_run_id = workflow_run_id;
    if query.wait {
        run.status = RunStatus::Running;
        run.attempts = 1;
        run.started_at = Some(run.created_at);
    }
    let pending = Pending {
        action: spec,
        inputs: Value::Object(body.inputs.unwrap_or_default()),
    };
    let options = DispatchOptions {
        wait: query.wait,
        idempotency_key: idempotency,
        max_queue: state.max_queue,
    };
    match dispatch::dispatch(&state.runs, &state.executor, run, action, pending, options).await? {
        Dispatched::Existing(id) => {
            let existing = replay(&state, &org, &actor, &id).await?;
            dispatch::requeue_if_lost(&state.runs, &existing).await?;
            Ok((StatusCode::OK, Json(existing)).into_response())
        }
        Dispatched::Ended(ended) => Ok((StatusCode::OK, Json(ended)).into_response()),
        Dispatched::Queued(run) => Ok((StatusCode::ACCEPTED, Json(run)).into_response()),
    }
}

/// The run `id` that an idempotency key names, for a replay by `actor`.
///
/// A replay answers with the earlier run only when that run was dispatched for the same
/// actor. A user token (a member's or an admin's) acts only as its user, so it gets back
/// only its own runs, never more than `GET /v1/runs/{id}` shows it; a service token
/// dispatching for `actor` gets back only `actor`'s run too, though it may read every run:
/// a retry is the same request for the same person, and another person's run under that
/// key is another request, which a replay must not pass off as this one. Anything else
/// (another actor's run, or a run no longer kept) is 409 `conflict`, with one message that
/// says nothing of the other run: not its id, actor or status, nor whether it is kept.
async fn replay(
    state: &ApiState,
    org: &OrgId,
    actor: &UserId,
    id: &RunId,
) -> Result<Run, ApiError> {
    let same_person = |run: &Run, user: Option<&UserRecord>| {
        run.actor == *actor && user.is_some_and(|u| u.holds_since(run.created_at))
    };
    let run = state.runs.get(org, id).await?;
    let user = match &run {
        Some(run) if run.actor == *actor => state.directory.user(org, actor).await?,
        _ => None,
    };
    match run {
        Some(run) if same_person(&run, user.as_ref()) => Ok(run),
        _ => Err(ApiError::conflict(
            "this idempotency_key was already used for another request in this org; \
             a retry must be dispatched for the same actor, or use a new key",
        )),
    }
}

/// Reads run `id` for `caller`: a user token that is not an admin sees only the runs it
/// acted in (since it was added: not those of an earlier user of the same id); every
/// other run answers 404, like another org's.
async fn visible_run(state: &ApiState, caller: &Caller, id: &str) -> Result<Run, ApiError> {
    let id = RunId::parse_field("run id", id)?;
    let run = state.runs.get(&caller.0.org, &id).await?;
    shown_to(state, caller, &id, run).await
}

/// `run` (read as run `id` of the caller's org) if the caller may see it, else 404.
async fn shown_to<R: Owned>(
    state: &ApiState,
    caller: &Caller,
    id: &RunId,
    run: Option<R>,
) -> Result<R, ApiError> {
    let org = &caller.0.org;
    let not_found = || ApiError::not_found(format!("no run {id} in org {org}"));
    let run = run.filter(|r| r.head().0 == org).ok_or_else(not_found)?;
    if let Some(only) = only_actor(state, caller).await?
        && !only.owns(&run)
    {
        return Err(not_found());
    }
    Ok(run)
}

/// A run, parsed or as JSON: whose it is.
trait Owned {
    /// Its org, actor and creation time.
    fn head(&self) -> (&OrgId, &UserId, Timestamp);
}

impl Owned for Run {
    fn head(&self) -> (&OrgId, &UserId, Timestamp) {
        (&self.org, &self.actor, self.created_at)
    }
}

impl Owned for RunJson {
    fn head(&self) -> (&OrgId, &UserId, Timestamp) {
        (&self.head.org, &self.head.actor, self.head.created_at)
    }
}

/// The one user whose runs a caller may see.
struct OnlyActor {
    user: UserId,
    /// When this user was added: runs before then were an earlier user's of the same id.
    since: Timestamp,
}

impl OnlyActor {
    fn owns(&self, run: &impl Owned) -> bool {
        let (_, actor, created_at) = run.head();
        *actor == self.user && created_at >= self.since
    }
}

/// The one actor whose runs `caller` may see, or `None` for all of its org's.
async fn only_actor(state: &ApiState, caller: &Caller) -> Result<Option<OnlyActor>, ApiError> {
    let Principal::User { user } = &caller.0.principal else {
        return Ok(None);
    };
    let Some(record) = caller.member(state, user).await? else {
        // Authentication found the user a moment ago; removed since: it sees nothing.
        return Err(ApiError::unauthorized("invalid or revoked token"));
    };
    Ok((record.role != Role::Admin).then(|| OnlyActor {
        user: user.clone(),
        since: record.added_at,
    }))
}

/// `GET /v1/runs/{id}`.
pub async fn get(
    State(state): State<ApiState>,
    bearer: Bearer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    // The token's check and the run's read go out together (both keys are in the org's
    // slot): one round trip's wait instead of two. What was read is shown only once the
    // token is found good, and only if the run is of the token's org and visible to it.
    let claimed = bearer.claimed_org();
    let run_id = RunId::parse_field("run id", &id);
    let read = async {
        match (&claimed, &run_id) {
            (Some(org), Ok(run_id)) => state.runs.get_json(org, run_id).await.map(Some),
            _ => Ok(None),
        }
    };
    let (caller, read) = tokio::join!(bearer.authenticate(&state), read);
    let caller = caller?;
    let run_id = run_id?;
    let run = match (claimed, read?) {
        (Some(org), Some(run)) if org == caller.0.org => run,
        _ => state.runs.get_json(&caller.0.org, &run_id).await?,
    };
    // The run's JSON as the store wrote it: what `Json<Run>` would write.
    let shown = shown_to(&state, &caller, &run_id, run).await?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        shown.json,
    )
        .into_response())
}

/// The query of `GET /v1/runs`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    workflow_run_id: Option<String>,
    status: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

/// `GET /v1/runs?workflow_run_id=…&status=…&cursor=…&limit=…`: newest first.
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<crate::runs::Page>, ApiError> {
    let status = query
        .status
        .as_deref()
        .map(|s| {
            serde_json::from_value::<RunStatus>(Value::String(s.to_owned())).map_err(|_| {
                ApiError::invalid("`status` must be queued, running, succeeded or failed")
            })
        })
        .transpose()?;
    let workflow_run_id = query
        .workflow_run_id
        .as_deref()
        .map(|id| RunId::parse_field("workflow_run_id", id))
        .transpose()?;
    let only = only_actor(&state, &caller).await?;
    let page = state
        .runs
        .list(
            &caller.0.org,
            workflow_run_id.as_ref(),
            status,
            only.as_ref().map(|o| (&o.user, o.since)),
            query.cursor.as_deref(),
            query.limit.unwrap_or(50),
        )
        .await?;
    Ok(Json(page))
}

/// `GET /v1/runs/{id}/events`: server-sent events — `status` and `log` events, each
/// already redacted, from the run's start; the stream ends after the final status.
pub async fn events(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Sse<impl futures_util::Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let run = visible_run(&state, &caller, &id).await?;
    let mut feed = state.runs.watch(&run.org, &run.id).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<SseEvent>(64);
    let store = Arc::clone(&state.runs);
    tokio::spawn(async move {
        let mut from = "0".to_owned();
        loop {
            let events = match feed.next(&from, Duration::from_secs(5)).await {
                Ok(events) => events,
                Err(_) => return,
            };
            if events.is_empty() {
                // Quiet for 5 s: the run may have ended with its events expired or trimmed.
                match store.get(&run.org, &run.id).await {
                    Ok(Some(now)) if now.is_final() => {
                        let event = Event::Status { status: now.status };
                        let _ = tx.send(sse(&event)).await;
                        return;
                    }
                    Ok(Some(_)) => continue,
                    _ => return,
                }
            }
            for (stream_id, event) in events {
                from = stream_id;
                let last = matches!(
                    event,
                    Event::Status {
                        status: RunStatus::Succeeded | RunStatus::Failed
                    }
                );
                if tx.send(sse(&event)).await.is_err() {
                    return;
                }
                if last {
                    return;
                }
            }
        }
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    Ok(Sse::new(futures_util::StreamExt::map(stream, Ok)).keep_alive(KeepAlive::default()))
}

fn sse(event: &Event) -> SseEvent {
    let name = match event {
        Event::Status { .. } => "status",
        Event::Log { .. } => "log",
    };
    SseEvent::default()
        .event(name)
        .json_data(event)
        .unwrap_or_else(|_| SseEvent::default().event(name))
}
