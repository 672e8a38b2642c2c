//! POST /api/provider-configs/{provider}/keys `{apiKey, label?, priority?,
//! expiresAt?, endpoint?, validate?}`: seals another key of the provider beside its
//! primary (one transaction, see `repo::keys`). 201 with the key. The first key of a
//! provider becomes its primary; the sixth is a 409. The settings belong to the
//! provider's configuration (the primary), so a body with `settings` is a 400.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::key_fields::{label, priority};
use super::store_checks::seal_request;
use crate::api::edge::body::JsonBody;
use crate::api::edge::error::ApiError;
use crate::api::edge::field_error::FieldError;
use crate::api::edge::request::StoreRequest;
use crate::api::edge::respond::json_response;
use crate::api::edge::router::{PathParams, ProviderPath};
use crate::api::edge::serve::serve;
use crate::domain::{timestamp, KeyView};
use crate::repo::{Added, KeyWrite, StoreWrite, MAX_KEYS_PER_PROVIDER};
use crate::sealing_state::SealingState;

/// Adds a provider's first key and keys beside it: how often an add starts again
/// when another add or a delete changes the provider between its writes.
const ADD_ATTEMPTS: usize = 3;

/// Handles an add-key request.
pub async fn handle(state: &SealingState, req: Request, path: PathParams) -> Response<Body> {
    serve(req, "api_key.store", async |req, call| {
        let ProviderPath { provider } = ProviderPath::of(&path)?;
        call.audit.provider(provider);
        let body = JsonBody::read(req)?;
        let mut refused = Vec::new();
        if body.get("provider").is_some_and(|p| {
            p.as_str().and_then(crate::provider::ProviderId::parse) != Some(provider)
        }) {
            refused.push(FieldError::new("provider", "is given by the path"));
        }
        if body.get("settings").is_some() {
            refused.push(FieldError::new(
                "settings",
                "belong to the provider's configuration: PUT /api/provider-configs",
            ));
        }
        let label = label(body.get("label"))
            .map_err(|e| refused.push(e))
            .ok()
            .flatten();
        let priority = priority(body.get("priority"))
            .map_err(|e| refused.push(e))
            .unwrap_or(0);
        let body = body.with_member("provider", Value::String(provider.as_str().to_owned()));
        let request = match StoreRequest::parse(&body, &state.tester) {
            Ok(request) if refused.is_empty() => request,
            Ok(_) => return Err(ApiError::Invalid(refused)),
            Err(more) => {
                refused.extend(more);
                return Err(ApiError::Invalid(refused));
            }
        };
        let sealed = seal_request(state, call, &request).await?;
        let user = call.user.as_str();
        let now = OffsetDateTime::now_utc();
        let now_text = timestamp(now);
        let new_id = uuid::Uuid::new_v4().to_string();
        let write = KeyWrite {
            user_id: user,
            provider,
            envelope: &sealed.envelope,
            key_hint: sealed.hint(),
            endpoint: sealed.endpoint.as_ref(),
            key_expires_at: request.expires_at.as_deref(),
            label: label.as_deref(),
            priority,
            validation: sealed.validation(),
            now: &now_text,
            new_id: &new_id,
        };
        let mut kept = None;
        for _ in 0..ADD_ATTEMPTS {
            match state.base.repo.add_key(&write).await? {
                Added::Added(item) => kept = Some(*item),
                Added::Full => {
                    call.audit.event("api_key.store_refused");
                    return Err(ApiError::Conflict(format!(
                        "{provider} has {MAX_KEYS_PER_PROVIDER} keys already, the most a \
                         provider keeps: delete one first"
                    )));
                }
                // The provider's first key: it becomes the primary, unless another
                // first key got there meanwhile (then it goes beside that one).
                Added::NoPrimary => {
                    kept = state
                        .base
                        .repo
                        .create(StoreWrite {
                            user_id: user,
                            provider,
                            envelope: write.envelope,
                            key_hint: write.key_hint,
                            endpoint: write.endpoint,
                            key_expires_at: write.key_expires_at,
                            settings: None,
                            validation: write.validation,
                            now: &now_text,
                            new_id: &new_id,
                            label: write.label,
                        })
                        .await?
                        .map(|stored| stored.item);
                }
            }
            if kept.is_some() {
                break;
            }
        }
        let Some(item) = kept else {
            return Err(ApiError::Conflict(format!(
                "The keys of {provider} changed meanwhile: read them again and retry"
            )));
        };
        call.audit.event("api_key.stored");
        let key = KeyView::from_key(item.into(), now, state.base.settings.rotation_after);
        Ok(json_response(StatusCode::CREATED, &json!({ "key": key })))
    })
    .await
}
