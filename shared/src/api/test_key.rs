//! POST /api/test-api-key `{provider, apiKey?}`: tells the truth about a key, with
//! the given key or (without `apiKey`) the user's stored one. Rate limited per user.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

use super::allowance::take_key_test;
use super::body::JsonBody;
use super::error::ApiError;
use super::identity::UserId;
use super::request::{KeyToTest, TestKeyRequest};
use super::respond::json_response;
use super::serve::serve;
use crate::crypto::KeyContext;
use crate::keytest::{KeyTestResult, KeyTester};
use crate::provider::ProviderId;
use crate::sealing_state::SealingState;

/// Handles a key test.
pub async fn handle(state: &SealingState, req: Request) -> Response<Body> {
    serve(req, "api_key.test", async |req, call| {
        let TestKeyRequest { provider, key } = TestKeyRequest::parse(&JsonBody::read(req)?)?;
        call.audit.provider(provider);
        take_key_test(&state.base, &call.user).await?;

        let result = match key {
            KeyToTest::Given(key) => state.tester.test(provider, key.secret()).await,
            KeyToTest::BadlyShaped(reason) => KeyTester::format_invalid(provider, &reason),
            KeyToTest::Stored => test_stored_key(state, &call.user, provider).await?,
        };
        call.audit.event("api_key.tested");
        call.audit.key_status(result.status.as_str());
        Ok(json_response(StatusCode::OK, &result))
    })
    .await
}

/// Opens the user's stored key, tests it, and records the outcome on the item.
async fn test_stored_key(
    state: &SealingState,
    user: &UserId,
    provider: ProviderId,
) -> Result<KeyTestResult, ApiError> {
    state.keys.keyring().await.map_err(ApiError::KeyMaterial)?;
    let sealed = state
        .base
        .repo
        .get_sealed(user.as_str(), provider)
        .await?
        .ok_or(ApiError::NotFound(provider))?;
    let ctx = KeyContext::new(user.as_str(), provider.as_str());
    let opened = state.keys.open(&ctx, &sealed.envelope).await?;
    let result = state.tester.test(provider, &opened.secret).await;
    state
        .base
        .repo
        .record_validation(
            user.as_str(),
            provider,
            &sealed.envelope,
            &result.checked_at,
            result.status.as_str(),
        )
        .await?;
    Ok(result)
}
