//! POST /api/provider-configs `{provider, apiKey, endpoint?, settings?, validate?}`:
//! seals the key under (user, provider) and upserts the configuration with its
//! endpoint. 201 new, 200 replaced. An endpoint that leads somewhere key tests never
//! call is a 400 naming its field, before anything is written.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use secrecy::SecretString;
use serde_json::json;
use time::OffsetDateTime;

use super::body::JsonBody;
use super::error::ApiError;
use super::request::StoreRequest;
use super::respond::json_response;
use super::serve::serve;
use super::store_checks::{endpoint_refused, validate};
use crate::crypto::KeyContext;
use crate::domain::{timestamp, ProviderConfig};
use crate::keytest::KeyStatus;
use crate::repo::StoreWrite;
use crate::sealing_state::SealingState;

/// Handles a store request.
pub async fn handle(state: &SealingState, req: Request) -> Response<Body> {
    if super::keys::is_key_route(&req) {
        return match *req.method() {
            lambda_http::http::Method::PUT => super::update_key::handle(state, req).await,
            _ => super::add_key::handle(state, req).await,
        };
    }
    serve(req, "api_key.store", async |req, call| {
        let request = StoreRequest::parse(&JsonBody::read(req)?, &state.tester)?;
        call.audit.provider(request.provider);
        if let Some(endpoint) = &request.endpoint {
            state
                .tester
                .guard_endpoint(request.provider, endpoint)
                .await
                .map_err(endpoint_refused)?;
        }

        // Unavailable key material is a 503 before the provider is asked anything.
        state.keys.keyring().await.map_err(ApiError::KeyMaterial)?;
        let validated_at = if request.validate {
            Some(validate(state, call, &request).await?)
        } else {
            None
        };
        let user = call.user.as_str();
        // A provider whose key is optional may be stored without one: an empty
        // secret is sealed, so every stored item has an envelope to open.
        let no_key = SecretString::from(String::new());
        let secret = request.api_key.as_ref().map_or(&no_key, |k| k.secret());
        let envelope = state
            .keys
            .seal(&KeyContext::new(user, request.provider.as_str()), secret)
            .await?;
        let hint = request.api_key.as_ref().map(|k| k.hint(request.provider));
        let endpoint = request.endpoint.as_ref().map(|e| e.to_json());
        let now = OffsetDateTime::now_utc();
        let stored = state
            .base
            .repo
            .store(StoreWrite {
                user_id: user,
                provider: request.provider,
                envelope: &envelope,
                key_hint: hint.as_ref().map(|h| h.as_str()),
                endpoint: endpoint.as_ref(),
                key_expires_at: request.expires_at.as_deref(),
                settings: request.settings.as_ref().map(|s| s.as_map()),
                validation: validated_at
                    .as_deref()
                    .map(|at| (at, KeyStatus::Valid.as_str())),
                now: &timestamp(now),
                new_id: &uuid::Uuid::new_v4().to_string(),
                label: None,
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
