//! POST /api/provider-configs `{provider, apiKey, settings?, validate?}`: seals the
//! key under (user, provider) and upserts the configuration. 201 new, 200 replaced.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;
use time::OffsetDateTime;

use super::allowance::take_key_test;
use super::body::JsonBody;
use super::error::ApiError;
use super::request::StoreRequest;
use super::respond::json_response;
use super::serve::{serve, Call};
use crate::crypto::KeyContext;
use crate::domain::{timestamp, ProviderConfig};
use crate::keytest::KeyStatus;
use crate::repo::StoreWrite;
use crate::sealing_state::SealingState;

/// Handles a store request.
pub async fn handle(state: &SealingState, req: Request) -> Response<Body> {
    serve(req, "api_key.store", async |req, call| {
        let request = StoreRequest::parse(&JsonBody::read(req)?)?;
        call.audit.provider(request.provider);

        // Unavailable key material is a 503 before the provider is asked anything.
        state.keys.keyring().await.map_err(ApiError::KeyMaterial)?;
        let validated_at = if request.validate {
            Some(validate(state, call, &request).await?)
        } else {
            None
        };
        let user = call.user.as_str();
        let envelope = state
            .keys
            .seal(
                &KeyContext::new(user, request.provider.as_str()),
                request.api_key.secret(),
            )
            .await?;
        let now = OffsetDateTime::now_utc();
        let stored = state
            .base
            .repo
            .store(StoreWrite {
                user_id: user,
                provider: request.provider,
                envelope: &envelope,
                key_hint: request.api_key.hint(request.provider).as_str(),
                settings: request.settings.as_ref().map(|s| s.as_map()),
                validation: validated_at
                    .as_deref()
                    .map(|at| (at, KeyStatus::Valid.as_str())),
                now: &timestamp(now),
                new_id: &uuid::Uuid::new_v4().to_string(),
            })
            .await?;

        let (status, event) = if stored.created {
            (StatusCode::CREATED, "api_key.stored")
        } else {
            (StatusCode::OK, "api_key.replaced")
        };
        call.audit.event(event);
        let config = ProviderConfig::from_item(stored.item, now, state.base.config.rotation_after);
        Ok(json_response(status, &json!({ "config": config })))
    })
    .await
}

/// `validate: true`: the provider must accept the key before anything is written.
/// The time of that check.
async fn validate(
    state: &SealingState,
    call: &mut Call,
    request: &StoreRequest,
) -> Result<String, ApiError> {
    take_key_test(&state.base, &call.user).await?;
    let result = state
        .tester
        .test(request.provider, request.api_key.secret())
        .await;
    call.audit.key_status(result.status.as_str());
    if !result.valid {
        call.audit.event("api_key.store_refused");
        return Err(ApiError::Unprocessable(json!({
            "error": "The API key did not pass the provider's check, so it was not stored",
            "test": result,
        })));
    }
    Ok(result.checked_at)
}
