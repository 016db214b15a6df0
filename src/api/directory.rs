//! `/v1/users` and `/v1/groups`: the caller's org's directory, mirroring `hush user` and
//! `hush group`.
//!
//! Any member (or a service token, without naming an actor) may list users and groups;
//! only an admin, acting as themselves (user token) or named by a service token
//! (`?actor=`), may add, remove or re-role users and create, remove or change groups.
//! Each change is audited with that admin as its actor. This module only authenticates,
//! checks the admin role and maps; it never touches another org's directory.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, patch, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiState;
use super::auth::{ActorQuery, Caller, actor_for, reader_for, require_admin};
use super::error::{ApiError, ApiJson, ApiQuery};
use crate::directory::{Directory, GroupRecord, Role, UserRecord};
use crate::model::{GroupId, UserId};

/// The directory routes.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/users", get(list_users).post(add_user))
        .route("/v1/users/{user}", patch(set_role).delete(remove_user))
        .route("/v1/groups", get(list_groups).post(create_group))
        .route("/v1/groups/{group}", delete(remove_group))
        .route(
            "/v1/groups/{group}/members/{user}",
            put(add_member).delete(remove_member),
        )
}

/// The body of `POST /v1/users`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    user: String,
    /// `member` (default) or `admin`.
    #[serde(default)]
    role: Option<Role>,
}

/// The body of `PATCH /v1/users/{user}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    role: Role,
}

/// The body of `POST /v1/groups`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewGroup {
    group: String,
}

/// The directory, acting as the request's actor once it is known to be an admin.
async fn as_admin(
    state: &ApiState,
    caller: &Caller,
    query: &ActorQuery,
) -> Result<Directory, ApiError> {
    let actor = actor_for(state, caller, query.actor.as_deref()).await?;
    require_admin(state, caller, &actor).await?;
    Ok(state.directory.acting_as(&actor))
}

fn user_id(text: &str) -> Result<UserId, ApiError> {
    Ok(UserId::parse_field("user", text)?)
}

fn group_id(text: &str) -> Result<GroupId, ApiError> {
    Ok(GroupId::parse_field("group", text)?)
}

/// `GET /v1/users`: every user of the org, by id.
async fn list_users(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ActorQuery>,
) -> Result<Json<Vec<UserRecord>>, ApiError> {
    reader_for(&state, &caller, query.actor.as_deref()).await?;
    Ok(Json(state.directory.list_users(&caller.0.org).await?))
}

/// `POST /v1/users`: 201 with the new user's record.
async fn add_user(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ActorQuery>,
    ApiJson(body): ApiJson<NewUser>,
) -> Result<(StatusCode, Json<UserRecord>), ApiError> {
    let user = user_id(&body.user)?;
    let directory = as_admin(&state, &caller, &query).await?;
    let record = directory
        .add_user(&caller.0.org, &user, body.role.unwrap_or(Role::Member))
        .await?;
    Ok((StatusCode::CREATED, Json(record)))
}

/// `PATCH /v1/users/{user}`: sets the role.
async fn set_role(
    State(state): State<ApiState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiQuery(query): ApiQuery<ActorQuery>,
    ApiJson(body): ApiJson<RoleChange>,
) -> Result<Json<UserRecord>, ApiError> {
    let user = user_id(&user)?;
    let directory = as_admin(&state, &caller, &query).await?;
    Ok(Json(
        directory.set_role(&caller.0.org, &user, body.role).await?,
    ))
}

/// `DELETE /v1/users/{user}`: removes the user from the org and its groups.
async fn remove_user(
    State(state): State<ApiState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiQuery(query): ApiQuery<ActorQuery>,
) -> Result<Json<Value>, ApiError> {
    let user = user_id(&user)?;
    let directory = as_admin(&state, &caller, &query).await?;
    directory.remove_user(&caller.0.org, &user).await?;
    Ok(Json(json!({"removed": user})))
}

/// `GET /v1/groups`: every group of the org with its members.
async fn list_groups(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ActorQuery>,
) -> Result<Json<Vec<GroupRecord>>, ApiError> {
    reader_for(&state, &caller, query.actor.as_deref()).await?;
    Ok(Json(state.directory.list_groups(&caller.0.org).await?))
}

/// `POST /v1/groups`: 201 with the new, empty group.
async fn create_group(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ActorQuery>,
    ApiJson(body): ApiJson<NewGroup>,
) -> Result<(StatusCode, Json<GroupRecord>), ApiError> {
    let group = group_id(&body.group)?;
    let directory = as_admin(&state, &caller, &query).await?;
    let record = directory.create_group(&caller.0.org, &group).await?;
    Ok((StatusCode::CREATED, Json(record)))
}

/// `DELETE /v1/groups/{group}`: its members stay in the org.
async fn remove_group(
    State(state): State<ApiState>,
    caller: Caller,
    Path(group): Path<String>,
    ApiQuery(query): ApiQuery<ActorQuery>,
) -> Result<Json<Value>, ApiError> {
    let group = group_id(&group)?;
    let directory = as_admin(&state, &caller, &query).await?;
    directory.remove_group(&caller.0.org, &group).await?;
    Ok(Json(json!({"removed": group})))
}

/// `PUT /v1/groups/{group}/members/{user}` (idempotent).
async fn add_member(
    State(state): State<ApiState>,
    caller: Caller,
    Path((group, user)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<ActorQuery>,
) -> Result<Json<GroupRecord>, ApiError> {
    let (group, user) = (group_id(&group)?, user_id(&user)?);
    let directory = as_admin(&state, &caller, &query).await?;
    Ok(Json(
        directory.add_member(&caller.0.org, &group, &user).await?,
    ))
}

/// `DELETE /v1/groups/{group}/members/{user}` (idempotent).
async fn remove_member(
    State(state): State<ApiState>,
    caller: Caller,
    Path((group, user)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<ActorQuery>,
) -> Result<Json<GroupRecord>, ApiError> {
    let (group, user) = (group_id(&group)?, user_id(&user)?);
    let directory = as_admin(&state, &caller, &query).await?;
    Ok(Json(
        directory
            .remove_member(&caller.0.org, &group, &user)
            .await?,
    ))
}
