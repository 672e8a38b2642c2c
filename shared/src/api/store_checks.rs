//! What the routes that seal a key check before they write: the endpoint guard's
//! refusal as a 400, and `validate: true` (the provider must accept the key first).

use serde_json::json;

use super::allowance::take_key_test;
use super::error::ApiError;
use super::field_error::FieldError;
use super::request::StoreRequest;
use super::serve::Call;
use crate::sealing_state::SealingState;

/// `validate: true`: the provider must accept the key before anything is written.
/// The time of that check.
pub(crate) async fn validate(
    state: &SealingState,
    call: &mut Call,
    request: &StoreRequest,
) -> Result<String, ApiError> {
    take_key_test(&state.base, &call.user).await?;
    let result = state
        .tester
        .test_with(
            request.provider,
            request.api_key.as_ref().map(|k| k.secret()),
            request.endpoint.as_ref(),
        )
        .await
        .map_err(endpoint_refused)?;
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

/// A user-given endpoint the guard refuses (or a missing one): a 400 naming the field.
pub(crate) fn endpoint_refused(err: crate::keytest::EndpointError) -> ApiError {
    ApiError::Invalid(vec![FieldError::new(err.field, err.reason)])
}
