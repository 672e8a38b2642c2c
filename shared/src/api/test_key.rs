//! POST /api/test-api-key `{provider, apiKey?}`: tells the truth about a key, with
//! the given key or (without `apiKey`) the user's stored one. Rate limited per user.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::Value;
use time::OffsetDateTime;

use super::input::{json_object, Fields};
use super::{authenticate, finish, json_response, ApiError, Audit, RequestMeta, UserId};
use crate::config::ApiKey;
use crate::crypto::KeyContext;
use crate::keytest::{KeyTestResult, KeyTester};
use crate::provider::ProviderId;
use crate::repo::Allowance;
use crate::state::SealingState;

/// Handles a key test.
pub async fn handle(state: &SealingState, req: Request) -> Response<Body> {
    let meta = RequestMeta::of(&req);
    let mut audit = Audit::new("api_key.test");
    let result = test_key(state, &req, &mut audit).await;
    finish(&meta, audit, result)
}

/// Takes one test from the user's per-minute allowance, or answers 429.
pub(crate) async fn take_allowance(state: &SealingState, user: &UserId) -> Result<(), ApiError> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    match state
        .base
        .repo
        .take_key_test(user.as_str(), now, state.base.config.key_tests_per_minute)
        .await?
    {
        Allowance::Granted => Ok(()),
        Allowance::Exhausted { retry_after_secs } => Err(ApiError::RateLimited(retry_after_secs)),
    }
}

/// The key of the request: `Ok(None)` when absent (test the stored key), a
/// `format_invalid` result when it fails the basic checks.
fn requested_key(
    body: &serde_json::Map<String, Value>,
    provider: ProviderId,
) -> Result<Option<Result<ApiKey, KeyTestResult>>, ()> {
    match body.get("apiKey") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(raw)) => {
            Ok(Some(ApiKey::parse(raw).map_err(|reason| {
                KeyTester::format_invalid(provider, &reason)
            })))
        }
        Some(_) => Err(()),
    }
}

async fn test_key(
    state: &SealingState,
    req: &Request,
    audit: &mut Audit,
) -> Result<Response<Body>, ApiError> {
    let user = authenticate(&state.base.config, req, audit)?;
    let body = json_object(req)?;
    let mut fields = Fields::default();
    let provider = fields.provider(&body);
    let key = match provider.map(|p| requested_key(&body, p)) {
        Some(Err(())) => {
            fields.fail("apiKey", "must be a string");
            None
        }
        Some(Ok(key)) => key,
        None => None,
    };
    fields.finish()?;
    let Some(provider) = provider else {
        return Err(ApiError::internal("validated provider missing"));
    };
    audit.provider(provider);
    take_allowance(state, &user).await?;

    let result = match key {
        Some(Ok(key)) => state.tester.test(provider, key.secret()).await,
        Some(Err(format_invalid)) => format_invalid,
        None => test_stored_key(state, &user, provider).await?,
    };
    audit.event("api_key.tested");
    audit.key_status(result.status.as_str());
    Ok(json_response(StatusCode::OK, &result))
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
