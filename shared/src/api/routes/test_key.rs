//! POST /api/test-api-key `{provider, apiKey?, endpoint?, keyId?}`: tells the truth
//! about a key, with the given key (at the given endpoint) or, without `apiKey`, the
//! user's stored key at its stored endpoint: the primary, or the key `keyId` names.
//! Rate limited per user.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::allowance::take_key_test;
use super::store_checks::endpoint_refused;
use crate::api::edge::body::JsonBody;
use crate::api::edge::error::ApiError;
use crate::api::edge::field_error::FieldError;
use crate::api::edge::identity::UserId;
use crate::api::edge::request::{KeyToTest, TestKeyRequest};
use crate::api::edge::respond::json_response;
use crate::api::edge::serve::serve;
use crate::crypto::KeyContext;
use crate::keytest::{Endpoint, EndpointError, KeyTestResult, KeyTester};
use crate::provider::ProviderId;
use crate::sealing_state::SealingState;

/// Handles a key test.
pub async fn handle(state: &SealingState, req: Request) -> Response<Body> {
    serve(req, "api_key.test", async |req, call| {
        let TestKeyRequest {
            provider,
            key,
            endpoint,
            key_id,
        } = TestKeyRequest::parse(&JsonBody::read(req)?, &state.tester)?;
        call.audit.provider(provider);
        take_key_test(&state.base, &call.user).await?;

        let tester = &state.tester;
        let result = match key {
            KeyToTest::Given(key) => tester
                .test_with(provider, Some(key.secret()), endpoint.as_ref())
                .await
                .map_err(endpoint_refused)?,
            KeyToTest::Keyless => tester
                .test_with(provider, None, endpoint.as_ref())
                .await
                .map_err(endpoint_refused)?,
            KeyToTest::BadlyShaped(reason) => KeyTester::format_invalid(provider, &reason),
            KeyToTest::Stored => {
                test_stored_key(state, &call.user, provider, key_id.as_deref()).await?
            }
        };
        call.audit.event("api_key.tested");
        call.audit.key_status(result.status.as_str());
        Ok(json_response(StatusCode::OK, &result))
    })
    .await
}

/// Opens the user's stored key, tests it at its stored endpoint, and records the
/// outcome on the item.
async fn test_stored_key(
    state: &SealingState,
    user: &UserId,
    provider: ProviderId,
    key_id: Option<&str>,
) -> Result<KeyTestResult, ApiError> {
    // Unavailable key material is a 503 whether or not a key is stored.
    state.keys.keyring().await.map_err(ApiError::KeyMaterial)?;
    let sealed = state
        .base
        .repo
        .get_sealed_key(user.as_str(), provider, key_id)
        .await?
        .ok_or(match key_id {
            Some(_) => ApiError::KeyNotFound(provider),
            None => ApiError::NotFound(provider),
        })?;
    // Parsed again under today's policy: an endpoint stored while loopback
    // endpoints were allowed may no longer be.
    let endpoint = sealed
        .item
        .endpoint
        .as_ref()
        .map(|value| state.tester.parse_endpoint(provider, value))
        .transpose()
        .map_err(|errors| {
            stored_endpoint_unusable(
                errors
                    .into_iter()
                    .map(|e| FieldError::new(e.field, e.message))
                    .collect(),
            )
        })?;
    let ctx = KeyContext::new(user.as_str(), provider.as_str());
    let opened = state.keys.open(&ctx, &sealed.envelope).await?;
    let result = test_opened(&state.tester, provider, &opened.secret, endpoint.as_ref())
        .await
        .map_err(|e: EndpointError| {
            stored_endpoint_unusable(vec![FieldError::new(e.field, e.reason)])
        })?;
    state
        .base
        .repo
        .record_validation(
            user.as_str(),
            provider,
            &sealed.item.sk,
            &sealed.envelope,
            &result.checked_at,
            result.status.as_str(),
        )
        .await?;
    Ok(result)
}

/// A stored key is tested with its key, or without one when none was stored (an
/// empty secret, for a provider whose key is optional).
async fn test_opened(
    tester: &KeyTester,
    provider: ProviderId,
    secret: &SecretString,
    endpoint: Option<&Endpoint>,
) -> Result<KeyTestResult, EndpointError> {
    let key = (!secret.expose_secret().is_empty()).then_some(secret);
    tester.test_with(provider, key, endpoint).await
}

/// The stored endpoint cannot be used under today's policy (or is missing): the
/// request was fine, the stored configuration is not, so a 422 that says how to fix it.
fn stored_endpoint_unusable(details: Vec<FieldError>) -> ApiError {
    ApiError::Unprocessable(json!({
        "error": "The stored endpoint of this key cannot be used; store the key again with an endpoint that is allowed",
        "details": details,
    }))
}
