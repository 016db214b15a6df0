//! `GET /v1/me`: who the caller is — the token's org and principal (a user, or a service
//! and the member it acts for), and that member's role and groups — so a client such as
//! the web page can say who is signed in and offer only what the member may do. It
//! answers no token text and no token id.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::ApiState;
use super::auth::{ActorQuery, Caller, reader_for};
use super::error::{ApiError, ApiQuery};
use crate::tokens::Principal;

/// The route.
pub fn routes() -> Router<ApiState> {
    Router::new().route("/v1/me", get(me))
}

/// `GET /v1/me`: `{"org", "principal": {"kind": "user", "user"} | {"kind": "service",
/// "service"}, "actor": null | {"id", "role", "groups", "added_at"}}`. A service token
/// names the member with `?actor=` (without it, `actor` is null); a user token acts as
/// its user.
async fn me(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ActorQuery>,
) -> Result<Json<Value>, ApiError> {
    let org = &caller.0.org;
    let actor = match reader_for(&state, &caller, query.actor.as_deref()).await? {
        Some(actor) => caller.member(&state, &actor).await?,
        None => None,
    };
    let principal = match &caller.0.principal {
        Principal::User { user } => json!({"kind": "user", "user": user}),
        Principal::Service { service } => json!({"kind": "service", "service": service}),
    };
    Ok(Json(
        json!({"org": org, "principal": principal, "actor": actor}),
    ))
}
