//! The one error type of the API and the one function that answers it.

use lambda_http::http::header::{HeaderValue, RETRY_AFTER};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde_json::json;

use super::field_error::FieldError;
use super::respond::json_response;
use crate::provider::ProviderId;
use crate::repo::RepoError;
#[cfg(feature = "sealing")]
use crate::seed::KeyMaterialError;

/// Seconds a client is asked to wait when the key material is unavailable.
#[cfg(feature = "sealing")]
pub(crate) const KEY_MATERIAL_RETRY_AFTER_SECS: u64 = 5;

/// Everything that can go wrong in a request, mapped to a status in [`ApiError::status`].
#[derive(Debug)]
pub enum ApiError {
    /// No identity from the authorizer (401).
    Unauthorized,
    /// The body is not JSON (400).
    MalformedJson,
    /// Fields fail validation (400), with one detail per field.
    Invalid(Vec<FieldError>),
    /// The body is larger than this many bytes, the limit (413).
    PayloadTooLarge(usize),
    /// No active configuration for the provider (404).
    NotFound(ProviderId),
    /// The provider has no key of the id named (404): another user's id reads the same.
    KeyNotFound(ProviderId),
    /// No route of the function has that path (404).
    NoRoute,
    /// A route has that path, for another method (405).
    MethodNotAllowed,
    /// The request contradicts what is stored (409), with the reason.
    Conflict(String),
    /// Too many requests; retry after this many seconds (429).
    RateLimited(u64),
    /// A well-formed request refused on its merits (422), with a body of its own.
    Unprocessable(serde_json::Value),
    /// The seed could not be had (503).
    #[cfg(feature = "sealing")]
    KeyMaterial(KeyMaterialError),
    /// The table failed for now (throttled, 5xx, unreachable, too slow) after the
    /// SDK's retries (503 with `Retry-After`): the cause goes to the log only.
    Unavailable(String),
    /// Anything else (500): the cause goes to the log only.
    Internal(String),
}

/// The wait a 503 of a table failure asks for.
pub const TABLE_RETRY_AFTER_SECS: u64 = 2;

impl ApiError {
    /// The HTTP status of the error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::MalformedJson | Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NotFound(_) | Self::KeyNotFound(_) | Self::NoRoute => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            #[cfg(feature = "sealing")]
            Self::KeyMaterial(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// An internal error from any displayable cause.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    /// The answer to the client: `{error, details?, requestId}` with the status and,
    /// where waiting helps, `Retry-After`. A 5xx says nothing; its cause is logged
    /// under the request id.
    pub fn into_response(self, request_id: &str) -> Response<Body> {
        let status = self.status();
        let body = match &self {
            Self::Unauthorized => json!({"error": "Unauthorized", "requestId": request_id}),
            Self::MalformedJson => json!({
                "error": "The request body is not valid JSON",
                "requestId": request_id,
            }),
            Self::Invalid(details) => json!({
                "error": "Invalid request",
                "details": details,
                "requestId": request_id,
            }),
            Self::PayloadTooLarge(limit) => json!({
                "error": format!("The request body is larger than {limit} bytes"),
                "requestId": request_id,
            }),
            Self::NotFound(provider) => json!({
                "error": format!("No active configuration for provider {provider}"),
                "requestId": request_id,
            }),
            Self::KeyNotFound(provider) => json!({
                "error": format!("No key of that id for provider {provider}"),
                "requestId": request_id,
            }),
            Self::NoRoute => json!({"error": "No such route", "requestId": request_id}),
            Self::MethodNotAllowed => json!({
                "error": "The route does not take that method",
                "requestId": request_id,
            }),
            Self::Conflict(reason) => json!({"error": reason, "requestId": request_id}),
            Self::RateLimited(_) => json!({
                "error": "Too many requests: try again later",
                "requestId": request_id,
            }),
            Self::Unprocessable(value) => {
                let mut value = value.clone();
                if let Some(map) = value.as_object_mut() {
                    map.insert("requestId".into(), request_id.into());
                }
                value
            }
            #[cfg(feature = "sealing")]
            Self::KeyMaterial(cause) => {
                tracing::error!(request_id, error = %cause, "key material unavailable");
                json!({
                    "error": "The service is temporarily unavailable: try again shortly",
                    "requestId": request_id,
                })
            }
            Self::Unavailable(cause) => {
                tracing::error!(request_id, error = %cause, "the table is unavailable");
                json!({
                    "error": "The service is temporarily unavailable: try again shortly",
                    "requestId": request_id,
                })
            }
            Self::Internal(cause) => {
                tracing::error!(request_id, error = %cause, "internal error");
                json!({"error": "Internal server error", "requestId": request_id})
            }
        };
        let mut response = json_response(status, &body);
        let retry_after = match self {
            Self::RateLimited(secs) => Some(secs.max(1)),
            #[cfg(feature = "sealing")]
            Self::KeyMaterial(_) => Some(KEY_MATERIAL_RETRY_AFTER_SECS),
            Self::Unavailable(_) => Some(TABLE_RETRY_AFTER_SECS),
            _ => None,
        };
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<Vec<FieldError>> for ApiError {
    fn from(details: Vec<FieldError>) -> Self {
        Self::Invalid(details)
    }
}

#[cfg(feature = "sealing")]
impl From<crate::seed::SealingError> for ApiError {
    fn from(err: crate::seed::SealingError) -> Self {
        match err {
            crate::seed::SealingError::Unavailable(cause) => Self::KeyMaterial(cause),
            crate::seed::SealingError::Crypto(cause) => {
                Self::internal(format!("the key does not seal or open: {cause}"))
            }
        }
    }
}

impl From<RepoError> for ApiError {
    fn from(err: RepoError) -> Self {
        if err.is_transient() {
            Self::Unavailable(err.to_string())
        } else {
            Self::internal(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_failure_for_now_is_503_with_retry_after_and_no_cause() {
        let response = ApiError::Unavailable(
            "dynamodb list: ProvisionedThroughputExceededException: slow down".into(),
        )
        .into_response("req-1");
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response.headers().get(RETRY_AFTER).unwrap(),
            &HeaderValue::from(TABLE_RETRY_AFTER_SECS)
        );
        let body = match response.body() {
            lambda_http::Body::Text(text) => text.clone(),
            other => panic!("a text body: {other:?}"),
        };
        assert!(!body.contains("Provisioned"), "{body}");
        assert!(body.contains("req-1"), "{body}");
    }
}
