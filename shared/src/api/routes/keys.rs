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
use lambda_http::{Body, Request, Response};
use serde_json::json;
use time::OffsetDateTime;

use crate::api::edge::error::ApiError;
use crate::api::edge::respond::{empty_response, json_response};
use crate::api::edge::router::{KeyPath, PathParams, ProviderPath};
use crate::api::edge::serve::serve;
use crate::domain::KeyView;
use crate::repo::{PrimaryDelete, MAX_KEYS_PER_PROVIDER};
use crate::state::State;

/// `GET /api/provider-configs/{provider}/keys`.
pub async fn list(state: &State, req: Request, path: PathParams) -> Response<Body> {
    serve(req, "keys.list", async |_, call| {
        let ProviderPath { provider } = ProviderPath::of(&path)?;
        call.audit.provider(provider);
        let now = OffsetDateTime::now_utc();
        let keys: Vec<KeyView> = state
            .repo
            .provider_keys(call.user.as_str(), provider)
            .await?
            .into_iter()
            .map(|item| KeyView::from_key(item, now, state.settings.rotation_after))
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
pub async fn delete(state: &State, req: Request, path: PathParams) -> Response<Body> {
    serve(req, "api_key.delete", async |_, call| {
        let KeyPath {
            provider,
            key_id: id,
        } = KeyPath::of(&path)?;
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
            let purge_at = (now + state.settings.delete_grace).unix_timestamp();
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
