//! `/v1/secrets`: the secret key operations of `hush secret`, over HTTP, for the member
//! a request acts for (`?actor=` with a service token; a user token acts as its user).
//!
//! The [`SecretStore`](crate::secrets::SecretStore) enforces who may do what (any member
//! lists and shows; Manage renames, re-values, re-permissions and deletes); this module
//! only authenticates, parses and maps. A value comes in only in the body of
//! `POST /v1/secrets` and `PUT /v1/secrets/{id}/value`, and no response, error or log
//! line ever holds one: responses carry metadata only.
//!
//! Deleting a secret that saved actions refer to answers 409 with their ids (in
//! `error.references`) unless `?force=true`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiState;
use super::auth::{ActorQuery, Caller, actor_for};
use super::error::{ApiError, ApiJson, ApiQuery};
use crate::model::{ComponentId, SecretId};
use crate::saved::SecretDeletion;
use crate::secrets::{
    Access, Filter, Grant, HostPattern, NewSecret, SecretMeta, SecretPage, SecretValue, model,
    name_key,
};
use crate::store::Table;

/// The secret routes.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/secrets", get(list).post(create))
        .route("/v1/secrets/{id}", get(show).patch(update).delete(delete))
        .route("/v1/secrets/{id}/value", put(set_value))
        .route("/v1/secrets/{id}/references", get(references))
}

/// The body of `POST /v1/secrets`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Create {
    name: String,
    /// The value (8 bytes to 64 KiB of UTF-8); never shown again.
    value: String,
    /// `team` (default) or `restricted`.
    #[serde(default)]
    access: Option<Access>,
    #[serde(default)]
    grants: Vec<Grant>,
    #[serde(default)]
    allowed_hosts: Vec<HostPattern>,
    #[serde(default)]
    description: Option<String>,
}

/// The query of `GET /v1/secrets`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    actor: Option<String>,
    /// all (default), team, restricted, usable or manageable.
    #[serde(default)]
    filter: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
    /// 1-500, default 50.
    #[serde(default)]
    limit: Option<usize>,
}

/// The body of `PATCH /v1/secrets/{id}`: every field optional, at least one given.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Patch {
    #[serde(default)]
    name: Option<String>,
    /// An empty string clears it.
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    access: Option<Access>,
    /// Replaces every grant (with `access`, or keeping the current access).
    #[serde(default)]
    grants: Option<Vec<Grant>>,
    /// Replaces the allowed hosts (empty: any host).
    #[serde(default)]
    allowed_hosts: Option<Vec<HostPattern>>,
    /// Replaces the components (`sha256:…`) that may reveal the value (empty: none).
    #[serde(default)]
    reveal_components: Option<Vec<ComponentId>>,
}

/// The body of `PUT /v1/secrets/{id}/value`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewValue {
    value: String,
}

/// The query of `DELETE /v1/secrets/{id}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteQuery {
    #[serde(default)]
    actor: Option<String>,
    /// Delete even when saved actions refer to the secret.
    #[serde(default)]
    force: bool,
}

fn secret_id(text: &str) -> Result<SecretId, ApiError> {
    Ok(SecretId::parse_field("secret id", text)?)
}

/// `POST /v1/secrets`: 201 with the new secret's metadata.
async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ActorQuery>,
    ApiJson(body): ApiJson<Create>,
) -> Result<(StatusCode, Json<SecretMeta>), ApiError> {
    let value = SecretValue::new(body.value)?;
    let actor = actor_for(&state, &caller, query.actor.as_deref()).await?;
    let new = NewSecret {
        name: body.name,
        value,
        access: body.access.unwrap_or(Access::Team),
        grants: body.grants,
        allowed_hosts: body.allowed_hosts,
        description: body.description,
    };
    let meta = state.secrets.create(&caller.0.org, &actor, new).await?;
    Ok((StatusCode::CREATED, Json(meta)))
}

/// `GET /v1/secrets`: a page of metadata in name order.
async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<SecretPage>, ApiError> {
    let filter = match query.filter.as_deref() {
        Some(text) => text.parse::<Filter>()?,
        None => Filter::All,
    };
    let actor = actor_for(&state, &caller, query.actor.as_deref()).await?;
    let page = state
        .secrets
        .list(
            &caller.0.org,
            &actor,
            filter,
            query.cursor.as_deref(),
            query.limit.unwrap_or(50),
        )
        .await?;
    Ok(Json(page))
}

/// `GET /v1/secrets/{id}`.
async fn show(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<ActorQuery>,
) -> Result<Json<SecretMeta>, ApiError> {
    let id = secret_id(&id)?;
    let actor = actor_for(&state, &caller, query.actor.as_deref()).await?;
    Ok(Json(state.secrets.show(&caller.0.org, &actor, &id).await?))
}

/// `PATCH /v1/secrets/{id}`: every field is checked before any is applied; then each is
/// its own audited change, in the order access and grants, allowed hosts, reveal
/// components, description, name. Answers the metadata after the last.
async fn update(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<ActorQuery>,
    ApiJson(body): ApiJson<Patch>,
) -> Result<Json<SecretMeta>, ApiError> {
    let id = secret_id(&id)?;
    if body.name.is_none()
        && body.description.is_none()
        && body.access.is_none()
        && body.grants.is_none()
        && body.allowed_hosts.is_none()
        && body.reveal_components.is_none()
    {
        return Err(ApiError::invalid(
            "the body changes nothing: give at least one of name, description, access, grants, allowed_hosts, reveal_components",
        ));
    }
    if let Some(name) = &body.name {
        model::validate_name(name)?;
    }
    if let Some(description) = body.description.as_deref().filter(|d| !d.is_empty()) {
        model::validate_description(description)?;
    }
    if let Some(grants) = &body.grants {
        crate::secrets::check_grants(grants)?;
    }
    if let Some(hosts) = &body.allowed_hosts {
        crate::secrets::check_hosts(hosts)?;
    }
    if let Some(components) = &body.reveal_components {
        crate::secrets::check_reveal_components(components)?;
    }
    let org = &caller.0.org;
    let actor = actor_for(&state, &caller, query.actor.as_deref()).await?;
    let store = &state.secrets;
    let mut meta = store.show(org, &actor, &id).await?;
    // A name taken by another secret is refused before any other field is applied.
    if let Some(name) = &body.name {
        let key = name_key(name);
        let holder = state.backend.read(org, &[(Table::Names, &key)]).await?;
        if holder[0]
            .as_deref()
            .is_some_and(|h| h != id.as_str().as_bytes())
        {
            return Err(ApiError::conflict(format!(
                "a secret named {name:?} already exists in org {org}"
            )));
        }
    }
    if body.access.is_some() || body.grants.is_some() {
        let access = body.access.unwrap_or(meta.access);
        let grants = body.grants.unwrap_or_else(|| meta.grants.clone());
        meta = store.set_access(org, &actor, &id, access, grants).await?;
    }
    if let Some(hosts) = body.allowed_hosts {
        meta = store.set_allowed_hosts(org, &actor, &id, hosts).await?;
    }
    if let Some(components) = body.reveal_components {
        meta = store
            .set_reveal_components(org, &actor, &id, components)
            .await?;
    }
    if let Some(description) = &body.description {
        meta = store
            .set_description(org, &actor, &id, Some(description))
            .await?;
    }
    if let Some(name) = &body.name {
        meta = store.rename(org, &actor, &id, name).await?;
    }
    Ok(Json(meta))
}

/// `PUT /v1/secrets/{id}/value`: the version goes up; the metadata comes back.
async fn set_value(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<ActorQuery>,
    ApiJson(body): ApiJson<NewValue>,
) -> Result<Json<SecretMeta>, ApiError> {
    let value = SecretValue::new(body.value)?;
    let id = secret_id(&id)?;
    let actor = actor_for(&state, &caller, query.actor.as_deref()).await?;
    let meta = state
        .secrets
        .set_value(&caller.0.org, &actor, &id, &value)
        .await?;
    Ok(Json(meta))
}

/// `DELETE /v1/secrets/{id}[?force=true]`.
async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<DeleteQuery>,
) -> Result<Json<Value>, ApiError> {
    let id = secret_id(&id)?;
    let actor = actor_for(&state, &caller, query.actor.as_deref()).await?;
    let done = state
        .saved
        .delete_secret(&state.secrets, &caller.0.org, &actor, &id, query.force)
        .await?;
    match done {
        SecretDeletion::Deleted(meta) => Ok(Json(json!({"deleted": meta.id, "name": meta.name}))),
        SecretDeletion::Referenced(actions) => Err(ApiError::conflict(format!(
            "secret {id} is used by {} saved action(s): {}; change or delete them first, or \
             delete with ?force=true (they will then fail at their next run)",
            actions.len(),
            actions
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .with_field("references", json!(actions))),
    }
}

/// `GET /v1/secrets/{id}/references`: the saved actions that use the secret.
async fn references(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<ActorQuery>,
) -> Result<Json<Value>, ApiError> {
    let id = secret_id(&id)?;
    let org = &caller.0.org;
    let actor = actor_for(&state, &caller, query.actor.as_deref()).await?;
    state.secrets.show(org, &actor, &id).await?;
    let actions = state.saved.referencing(org, &id).await?;
    Ok(Json(json!({"secret": id, "actions": actions})))
}
