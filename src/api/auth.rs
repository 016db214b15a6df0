//! Bearer authentication: the [`Caller`] extractor turns `Authorization: Bearer <token>`
//! into the token's record, or answers 401. Every bad token gets the same answer, and
//! the token's text is never logged or echoed.

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};

use super::ApiState;
use super::error::ApiError;
use super::tokens::TokenRecord;

/// The authenticated caller of a request.
#[derive(Clone, Debug)]
pub struct Caller(pub TokenRecord);

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
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
        match state.tokens.authenticate(token).await? {
            Some(record) => Ok(Caller(record)),
            None => Err(ApiError::unauthorized("invalid or revoked token")),
        }
    }
}
