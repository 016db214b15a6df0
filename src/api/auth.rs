//! Bearer authentication: the [`Caller`] extractor turns `Authorization: Bearer <token>`
//! into the token's record, or answers 401. Every bad token gets the same answer, and
//! the token's text is never logged or echoed. [`actor_for`] then decides whom the
//! request acts for, and [`require_admin`] whether that actor may change the directory.

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};

use super::ApiState;
use super::error::ApiError;
use crate::directory::{Role, UserRecord};
use crate::model::UserId;
use crate::tokens::{Principal, TokenRecord};

/// The authenticated caller of a request: the token's record and, for a user token, its
/// user's directory record, read in the same check (see [`Caller::member`]).
#[derive(Clone, Debug)]
pub struct Caller(pub TokenRecord, pub Option<UserRecord>);

impl Caller {
    /// `actor`'s directory record in the caller's org: the one read with a user token when
    /// `actor` is its user (no second read), else read now.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn member(
        &self,
        state: &ApiState,
        actor: &UserId,
    ) -> Result<Option<UserRecord>, ApiError> {
        match &self.1 {
            Some(user) if user.id == *actor => Ok(Some(user.clone())),
            _ => Ok(state.directory.user(&self.0.org, actor).await?),
        }
    }
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        Bearer::from_request_parts(parts, state)
            .await?
            .authenticate(state)
            .await
    }
}

/// A request's bearer token, not yet authenticated: for a handler that starts its own
/// read alongside the token's check ([`Bearer::authenticate`]) and uses what it read only
/// once the token is found good.
pub struct Bearer(String);

impl FromRequestParts<ApiState> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &ApiState) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::unauthorized(
                "missing bearer token: send `Authorization: Bearer <token>`",
            ));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        let Some(token) = token else {
            return Err(ApiError::unauthorized(
                "the Authorization header must be `Bearer <token>`",
            ));
        };
        Ok(Bearer(token.to_owned()))
    }
}

impl Bearer {
    /// The org the token's text names, before it is authenticated (not proof of anything).
    pub fn claimed_org(&self) -> Option<crate::model::OrgId> {
        crate::tokens::token_org(&self.0)
    }

    /// The token's record, or 401.
    pub async fn authenticate(&self, state: &ApiState) -> Result<Caller, ApiError> {
        match state.tokens.authenticate_user(&self.0).await? {
            Some((record, user)) => Ok(Caller(record, user)),
            None => Err(ApiError::unauthorized("invalid or revoked token")),
        }
    }
}

impl std::fmt::Debug for Bearer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bearer([REDACTED])")
    }
}

/// Decides whom a request acts for: a user token acts as its user (naming another user is
/// refused); a service token must name (`named`) a current member of its org. Shared by
/// every route that acts for a user (runs, secrets, directory, saved actions).
///
/// # Errors
/// 400 when a service token names no actor; 403 when a user token names someone else or
/// the actor is not a member of the token's org.
pub async fn actor_for(
    state: &ApiState,
    caller: &Caller,
    named: Option<&str>,
) -> Result<UserId, ApiError> {
    let org = &caller.0.org;
    let actor = match (&caller.0.principal, named) {
        (Principal::User { user }, None) => user.clone(),
        (Principal::User { user }, Some(named)) => {
            if named != user.as_str() {
                return Err(ApiError::denied(format!(
                    "a user token acts only as its user ({user}); it may not act for another user"
                )));
            }
            user.clone()
        }
        (Principal::Service { .. }, None) => {
            return Err(ApiError::invalid(
                "`actor` is required with a service token: the member to act for",
            ));
        }
        (Principal::Service { .. }, Some(named)) => UserId::parse_field("actor", named)?,
    };
    if caller.member(state, &actor).await?.is_none() {
        return Err(ApiError::denied(format!(
            "{actor} is not a member of org {org}; this token acts only for its org's members"
        )));
    }
    Ok(actor)
}

/// The actor's directory record, when it is an admin of the caller's org.
///
/// # Errors
/// 403 when the actor is a member but not an admin (or no longer a member).
pub async fn require_admin(
    state: &ApiState,
    caller: &Caller,
    actor: &UserId,
) -> Result<UserRecord, ApiError> {
    let org = &caller.0.org;
    match caller.member(state, actor).await? {
        Some(record) if record.role == Role::Admin => Ok(record),
        _ => Err(ApiError::denied(format!(
            "only an admin of org {org} may change its users and groups; {actor} is not one"
        ))),
    }
}

/// Whom a read acts for: a service token may read its org's shared records (users,
/// groups, saved actions) without naming an actor (`None`); a named actor, or a user
/// token, goes through [`actor_for`].
///
/// # Errors
/// As [`actor_for`].
pub async fn reader_for(
    state: &ApiState,
    caller: &Caller,
    named: Option<&str>,
) -> Result<Option<UserId>, ApiError> {
    match (&caller.0.principal, named) {
        (Principal::Service { .. }, None) => Ok(None),
        _ => actor_for(state, caller, named).await.map(Some),
    }
}

/// The query of a route that acts for a user and takes nothing else: `?actor=` (required
/// with a service token on routes that change something).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActorQuery {
    /// The member to act for.
    #[serde(default)]
    pub actor: Option<String>,
}
