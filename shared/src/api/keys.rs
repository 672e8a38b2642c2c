//! The provider's keys besides the primary (up to five in all):
//!
//! - `GET /api/provider-configs/{provider}/keys`: every active key, the primary
//!   first, then in use order (get-configs; the index, no ciphertext).
//! - `POST /api/provider-configs/{provider}/keys` `{apiKey, label?, priority?,
//!   expiresAt?, endpoint?, validate?}`: 201 with the key; the first key of a
//!   provider becomes its primary; the sixth is a 409 (store: seals).
//! - `DELETE /api/provider-configs/{provider}/keys/{keyId}`: 204; 404 for an id the
//!   provider does not have (another user's id reads the same); the primary is a
//!   409 while other keys exist, since the single-key routes need it: make another
//!   key primary first (delete-config).
//! - `PUT .../keys/{keyId}` is in `update_key` (store: it moves ciphertext).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;
use time::OffsetDateTime;

use super::error::ApiError;
use super::field_error::FieldError;
use super::respond::{empty_response, json_response};
use super::serve::serve;
use crate::domain::KeyView;
use crate::provider::ProviderId;
use crate::repo::{PrimaryDelete, MAX_KEYS_PER_PROVIDER};
use crate::state::State;

/// The `{provider}` and `{keyId}` of a key route: from the path parameters API
/// Gateway sets, or from the path itself where none are set (`cargo lambda watch`).
pub(crate) fn key_path(req: &Request) -> Result<(ProviderId, Option<String>), ApiError> {
    let params = req.path_parameters_ref();
    let from_path = || -> Option<(String, Option<String>)> {
        let path = req.uri().path();
        let (_, rest) = path.split_once("/provider-configs/")?;
        let mut parts = rest.trim_end_matches('/').split('/');
        let provider = parts.next()?.to_owned();
        (parts.next()? == "keys").then_some(())?;
        let key = parts.next().map(str::to_owned);
        parts.next().is_none().then_some((provider, key))
    };
    let (provider, key_id) = match params.and_then(|p| p.first("provider")) {
        Some(provider) => (
            provider.to_owned(),
            params.and_then(|p| p.first("keyId")).map(str::to_owned),
        ),
        None => from_path().ok_or_else(|| {
            ApiError::Invalid(vec![FieldError::new("provider", "is required in the path")])
        })?,
    };
    let provider = ProviderId::parse(&provider).ok_or_else(|| {
        ApiError::Invalid(vec![FieldError::new(
            "provider",
            format!(
                "unsupported provider; use one of {}",
                ProviderId::accepted_ids()
            ),
        )])
    })?;
    Ok((provider, key_id))
}

/// Whether a request is for a key route (`.../{provider}/keys...`) rather than a
/// single-key one: how a function that serves both tells them apart.
pub fn is_key_route(req: &Request) -> bool {
    req.uri()
        .path()
        .split_once("/provider-configs/")
        .is_some_and(|(_, rest)| rest.split('/').nth(1) == Some("keys"))
}

/// Whether `id` has the form of a key id: a uuid's characters, at most 64.
pub(crate) fn is_key_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A key id as sent in the path.
pub(crate) fn key_id(raw: Option<String>) -> Result<String, ApiError> {
    match raw {
        Some(id) if is_key_id(&id) => Ok(id),
        _ => Err(ApiError::Invalid(vec![FieldError::new(
            "keyId",
            "must be the id of one of the provider's keys",
        )])),
    }
}

/// `GET /api/provider-configs/{provider}/keys`.
pub async fn list(state: &State, req: Request) -> Response<Body> {
    serve(req, "keys.list", async |req, call| {
        let (provider, _) = key_path(req)?;
        call.audit.provider(provider);
        let now = OffsetDateTime::now_utc();
        let keys: Vec<KeyView> = state
            .repo
            .provider_keys(call.user.as_str(), provider)
            .await?
            .into_iter()
            .map(|item| KeyView::from_key(item, now, state.config.rotation_after))
            .collect();
        call.audit.event("keys.listed");
        Ok(json_response(
            StatusCode::OK,
            &json!({ "keys": keys, "limit": MAX_KEYS_PER_PROVIDER }),
        ))
    })
    .await
}

/// `DELETE /api/provider-configs/{provider}/keys/{keyId}`.
pub async fn delete(state: &State, req: Request) -> Response<Body> {
    serve(req, "api_key.delete", async |req, call| {
        let (provider, raw_id) = key_path(req)?;
        let id = key_id(raw_id)?;
        call.audit.provider(provider);
        let user = call.user.as_str();
        // Another key, or the primary; a key made primary (or another made primary
        // instead) between the two writes is looked for again where it is now.
        for _ in 0..DELETE_ATTEMPTS {
            if state.repo.delete_key(user, provider, &id).await? {
                call.audit.event("api_key.deleted");
                return Ok(empty_response(StatusCode::NO_CONTENT));
            }
            let now = OffsetDateTime::now_utc();
            let purge_at = (now + state.config.delete_grace).unix_timestamp();
            let now = crate::domain::timestamp(now);
            match state
                .repo
                .delete_only_key(user, provider, &id, &now, purge_at)
                .await?
            {
                PrimaryDelete::Deleted => {
                    call.audit.event("api_key.deleted");
                    return Ok(empty_response(StatusCode::NO_CONTENT));
                }
                PrimaryDelete::HasOthers => {
                    return Err(ApiError::Conflict(format!(
                        "That is the primary key of {provider}: make another key primary \
                         first (PUT /api/provider-configs/{provider}/keys/{{keyId}} with \
                         primary: true), or delete every key with DELETE \
                         /api/provider-configs/{provider}"
                    )))
                }
                PrimaryDelete::NotFound => return Err(ApiError::KeyNotFound(provider)),
                PrimaryDelete::Moved => {}
            }
        }
        Err(ApiError::Conflict(
            "The provider's keys changed meanwhile: read them again and retry".to_owned(),
        ))
    })
    .await
}

/// Writes a delete of one key makes while the key moves between places.
const DELETE_ATTEMPTS: usize = 3;
