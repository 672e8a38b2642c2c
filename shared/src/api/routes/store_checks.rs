//! What the routes that seal a key do before they write: the endpoint guard (its
//! refusal a 400), the key material (a 503 before anything else), `validate: true`
//! (the provider must accept the key first), and the sealing.

use secrecy::SecretString;
use serde_json::{json, Value};

use super::allowance::take_key_test;
use crate::api::edge::error::ApiError;
use crate::api::edge::field_error::FieldError;
use crate::api::edge::request::StoreRequest;
use crate::api::edge::serve::Call;
use crate::crypto::KeyContext;
use crate::domain::KeyHint;
use crate::keytest::KeyStatus;
use crate::sealing_state::SealingState;

/// A store request made ready to write: guarded, tested when asked, sealed.
pub(crate) struct Sealed {
    /// The `akv1` envelope.
    pub(crate) envelope: String,
    /// The masked key; `None` for a provider whose key is optional, stored without one.
    pub(crate) hint: Option<KeyHint>,
    /// The endpoint as stored.
    pub(crate) endpoint: Option<Value>,
    /// When a `validate: true` check found the key valid.
    pub(crate) validated_at: Option<String>,
}

impl Sealed {
    /// The masked key, as written.
    pub(crate) fn hint(&self) -> Option<&str> {
        self.hint.as_ref().map(|h| h.as_str())
    }

    /// The key test made before storing, as written: (time, status).
    pub(crate) fn validation(&self) -> Option<(&str, &str)> {
        self.validated_at
            .as_deref()
            .map(|at| (at, KeyStatus::Valid.as_str()))
    }
}

/// Guards the endpoint, checks the key material, tests the key when the request asks
/// and seals it under (user, provider).
pub(crate) async fn seal_request(
    state: &SealingState,
    call: &mut Call,
    request: &StoreRequest,
) -> Result<Sealed, ApiError> {
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
        Some(validate(state, call, request).await?)
    } else {
        None
    };
    // A provider whose key is optional may be stored without one: an empty secret is
    // sealed, so every stored item has an envelope to open.
    let no_key = SecretString::from(String::new());
    let secret = request.api_key.as_ref().map_or(&no_key, |k| k.secret());
    let envelope = state
        .keys
        .seal(
            &KeyContext::new(call.user.as_str(), request.provider.as_str()),
            secret,
        )
        .await?;
    Ok(Sealed {
        envelope,
        hint: request.api_key.as_ref().map(|k| k.hint(request.provider)),
        endpoint: request.endpoint.as_ref().map(|e| e.to_json()),
        validated_at,
    })
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
