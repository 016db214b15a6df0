//! `/v1/actions`: saved actions over HTTP ([`crate::saved`] owns them and the
//! secret → actions reference index; this module only authenticates and maps).
//!
//! `PUT /v1/actions/{id}` creates (201) or replaces (200) the action `act_…` for the
//! member the request acts for (`?actor=` with a service token). Any member may create;
//! only the member who saved it last, or an admin, may replace or delete; every secret
//! the spec names must exist in the org (else 400 naming them) and be usable by that
//! member (else 403 naming them). Reads need no actor with a service token.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiState;
use super::auth::{ActorQuery, Caller, actor_for, reader_for};
use super::error::{ApiError, ApiJson, ApiQuery};
use crate::model::ActionId;
use crate::saved::{ActionPage, SavedAction};

/// The saved action routes.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/actions", get(list))
        .route("/v1/actions/{id}", get(show).put(save).delete(delete))
}

/// The body of `PUT /v1/actions/{id}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Save {
    /// The action spec (`send_api_request` or `run_code`).
    spec: Value,
    /// A display name (default: the spec's `name`).
    #[serde(default)]
    name: Option<String>,
}

/// The query of `GET /v1/actions`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
    /// 1-500, default 100.
    #[serde(default)]
    limit: Option<usize>,
}

fn action_id(text: &str) -> Result<ActionId, ApiError> {
    Ok(ActionId::parse_field("action id", text)?)
}

/// `PUT /v1/actions/{id}`: 201 when created, 200 when replaced; the saved action.
async fn save(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<ActorQuery>,
    ApiJson(body): ApiJson<Save>,
) -> Result<(StatusCode, Json<SavedAction>), ApiError> {
    let id = action_id(&id)?;
    let actor = actor_for(&state, &caller, query.actor.as_deref()).await?;
    if body.spec.is_object() {
        // Inline code that does not compile is refused here, with its line and column.
        let action = crate::actions::Action::from_json(&body.spec.to_string())?;
        state.executor.check(&action).await?;
    }
    let (saved, created) = state
        .saved
        .save(&caller.0.org, &actor, &id, body.spec, body.name)
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(saved)))
}

/// `GET /v1/actions/{id}`.
async fn show(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<ActorQuery>,
) -> Result<Json<SavedAction>, ApiError> {
    let id = action_id(&id)?;
    reader_for(&state, &caller, query.actor.as_deref()).await?;
    let org = &caller.0.org;
    match state.saved.get(org, &id).await? {
        Some(saved) => Ok(Json(saved)),
        None => Err(ApiError::not_found(format!(
            "no saved action {id} in org {org}"
        ))),
    }
}

/// `GET /v1/actions`: a page in id order.
async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<ActionPage>, ApiError> {
    reader_for(&state, &caller, query.actor.as_deref()).await?;
    let limit = query.limit.unwrap_or(100);
    // As the other lists answer (and the OpenAPI document says): out of range is 400,
    // not silently clamped.
    if !(1..=crate::saved::MAX_PAGE).contains(&limit) {
        return Err(crate::error::Error::invalid(
            "limit",
            format!("it must be between 1 and {}", crate::saved::MAX_PAGE),
        )
        .into());
    }
    let page = state
        .saved
        .list(&caller.0.org, query.cursor.as_deref(), limit)
        .await?;
    Ok(Json(page))
}

/// `DELETE /v1/actions/{id}`.
async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<ActorQuery>,
) -> Result<Json<Value>, ApiError> {
    let id = action_id(&id)?;
    let actor = actor_for(&state, &caller, query.actor.as_deref()).await?;
    let deleted = state.saved.delete(&caller.0.org, &actor, &id).await?;
    Ok(Json(json!({"deleted": deleted.id})))
}
