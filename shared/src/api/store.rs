//! POST /api/provider-configs `{provider, apiKey, settings?, validate?}`: seals the
//! key under (user, provider) and upserts the configuration. 201 new, 200 replaced.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;
use time::OffsetDateTime;

use super::input::{json_object, Fields};
use super::{authenticate, finish, json_response, ApiError, Audit, RequestMeta};
use crate::config::{timestamp, ProviderConfig};
use crate::crypto::KeyContext;
use crate::keytest::KeyStatus;
use crate::repo::StoreWrite;
use crate::state::SealingState;

/// Handles a store request.
pub async fn handle(state: &SealingState, req: Request) -> Response<Body> {
    let meta = RequestMeta::of(&req);
    let mut audit = Audit::new("api_key.store");
    let result = store(state, &req, &mut audit).await;
    finish(&meta, audit, result)
}

async fn store(
    state: &SealingState,
    req: &Request,
    audit: &mut Audit,
) -> Result<Response<Body>, ApiError> {
    let user = authenticate(&state.base.config, req, audit)?;
    let body = json_object(req)?;
    let mut fields = Fields::default();
    let provider = fields.provider(&body);
    let api_key = fields.api_key(&body, true);
    let settings = fields.settings(&body, false);
    let validate = fields.flag(&body, "validate");
    fields.finish()?;
    let (Some(provider), Some(api_key)) = (provider, api_key) else {
        return Err(ApiError::internal("validated fields missing"));
    };
    audit.provider(provider);

    // Unavailable key material is a 503 before the provider is asked anything.
    state.keys.keyring().await.map_err(ApiError::KeyMaterial)?;
    // `validate: true`: the provider must accept the key before anything is written.
    let validation = if validate {
        super::test_key::take_allowance(state, &user).await?;
        let result = state.tester.test(provider, api_key.secret()).await;
        audit.key_status(result.status.as_str());
        if !result.valid {
            audit.event("api_key.store_refused");
            return Err(ApiError::Unprocessable(json!({
                "error": "The API key did not pass the provider's check, so it was not stored",
                "test": result,
            })));
        }
        Some(result.checked_at)
    } else {
        None
    };
    let ctx = KeyContext::new(user.as_str(), provider.as_str());
    let envelope = state.keys.seal(&ctx, api_key.secret()).await?;
    let now = OffsetDateTime::now_utc();
    let stamp = timestamp(now);
    let hint = api_key.hint(provider);
    let new_id = uuid::Uuid::new_v4().to_string();
    let stored = state
        .base
        .repo
        .store(StoreWrite {
            user_id: user.as_str(),
            provider,
            envelope: &envelope,
            key_hint: hint.as_str(),
            settings: settings.as_ref().map(|s| s.as_map()),
            validation: validation
                .as_deref()
                .map(|at| (at, KeyStatus::Valid.as_str())),
            now: &stamp,
            new_id: &new_id,
        })
        .await?;

    let (status, event) = if stored.created {
        (StatusCode::CREATED, "api_key.stored")
    } else {
        (StatusCode::OK, "api_key.replaced")
    };
    audit.event(event);
    let config = ProviderConfig::from_item(stored.item, now, state.base.config.rotation_after);
    Ok(json_response(status, &json!({ "config": config })))
}
