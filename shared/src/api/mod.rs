//! The HTTP edge: identity, body parsing, one error type and one place that turns
//! results into responses with the security headers.

mod identity;
mod input;

pub mod delete_config;
pub mod get_configs;
pub mod store;
pub mod test_key;
pub mod update_settings;

use lambda_http::http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use lambda_http::http::StatusCode;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde_json::json;

pub use identity::{IdentityPolicy, UserId, LOCAL_USER_HEADER};
pub use input::{FieldError, MAX_BODY_BYTES};

use crate::provider::ProviderId;
use crate::seed::KeyMaterialError;

/// Everything that can go wrong in a request, mapped to a status in [`ApiError::status`].
#[derive(Debug)]
pub enum ApiError {
    /// No identity from the authorizer (401).
    Unauthorized,
    /// The body is not JSON (400).
    MalformedJson,
    /// Fields fail validation (400), with one detail per field.
    Invalid(Vec<FieldError>),
    /// The body is larger than [`MAX_BODY_BYTES`] (413).
    PayloadTooLarge,
    /// No active configuration for the provider (404).
    NotFound(ProviderId),
    /// Too many requests; retry after this many seconds (429).
    RateLimited(u64),
    /// A well-formed request refused on its merits (422), with a body of its own.
    Unprocessable(serde_json::Value),
    /// The seed could not be had (503).
    KeyMaterial(KeyMaterialError),
    /// Anything else (500): the cause goes to the log only.
    Internal(String),
}

impl ApiError {
    /// The HTTP status of the error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::MalformedJson | Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::KeyMaterial(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// An internal error from any displayable cause.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    fn into_response(self, meta: &RequestMeta) -> Response<Body> {
        let status = self.status();
        let request_id = meta.request_id.as_str();
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
            Self::PayloadTooLarge => json!({
                "error": format!("The request body is larger than {MAX_BODY_BYTES} bytes"),
                "requestId": request_id,
            }),
            Self::NotFound(provider) => json!({
                "error": format!("No active configuration for provider {provider}"),
                "requestId": request_id,
            }),
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
            Self::KeyMaterial(cause) => {
                tracing::error!(request_id, error = %cause, "key material unavailable");
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
            Self::KeyMaterial(_) => Some(5),
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

impl From<crate::repo::RepoError> for ApiError {
    fn from(err: crate::repo::RepoError) -> Self {
        Self::internal(err)
    }
}

impl From<crate::seed::KeyUseError> for ApiError {
    fn from(err: crate::seed::KeyUseError) -> Self {
        match err {
            crate::seed::KeyUseError::Unavailable(cause) => Self::KeyMaterial(cause),
            crate::seed::KeyUseError::Crypto(cause) => {
                Self::internal(format!("the key does not seal or open: {cause}"))
            }
        }
    }
}

/// What the log and the error body need to know of a request.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    /// API Gateway's request id, else Lambda's, else a fresh one.
    pub request_id: String,
}

impl RequestMeta {
    /// Reads the request id of `req`.
    pub fn of(req: &Request) -> Self {
        let from_gateway = match req.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
            Some(RequestContext::ApiGatewayV1(ctx)) => ctx.request_id.clone(),
            _ => None,
        };
        let request_id = from_gateway
            .filter(|id| !id.is_empty())
            .or_else(|| {
                req.lambda_context_ref()
                    .map(|c| c.request_id.clone())
                    .filter(|id| !id.is_empty())
            })
            .unwrap_or_else(|| format!("local-{}", uuid::Uuid::new_v4()));
        Self { request_id }
    }
}

/// Adds the headers every response carries.
fn secure(mut response: Response<Body>) -> Response<Body> {
    let headers = response.headers_mut();
    for (name, value) in [
        (CACHE_CONTROL.as_str(), "no-store"),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        (
            "strict-transport-security",
            "max-age=63072000; includeSubDomains",
        ),
        ("referrer-policy", "no-referrer"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// A JSON response with the security headers.
pub fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned());
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    secure(response)
}

/// An empty response with the security headers.
pub fn empty_response(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = status;
    secure(response)
}

/// The audit trail of one request: filled in by the handler as it learns who and
/// what, logged once by [`finish`] with the outcome.
#[derive(Debug)]
pub(crate) struct Audit {
    event: &'static str,
    user_id: Option<String>,
    provider: Option<ProviderId>,
    key_status: Option<&'static str>,
}

impl Audit {
    pub(crate) fn new(event: &'static str) -> Self {
        Self {
            event,
            user_id: None,
            provider: None,
            key_status: None,
        }
    }

    pub(crate) fn key_status(&mut self, status: &'static str) {
        self.key_status = Some(status);
    }

    pub(crate) fn user(&mut self, user: &UserId) {
        self.user_id = Some(user.as_str().to_owned());
    }

    pub(crate) fn provider(&mut self, provider: ProviderId) {
        self.provider = Some(provider);
    }

    pub(crate) fn event(&mut self, event: &'static str) {
        self.event = event;
    }
}

/// The user of a request (401 without one), noted in the audit trail.
pub(crate) fn authenticate(
    config: &crate::state::ServiceConfig,
    req: &Request,
    audit: &mut Audit,
) -> Result<UserId, ApiError> {
    let user = config
        .identity
        .identify(req)
        .ok_or(ApiError::Unauthorized)?;
    audit.user(&user);
    Ok(user)
}

/// Turns a handler's result into the response and writes the audit line.
pub(crate) fn finish(
    meta: &RequestMeta,
    audit: Audit,
    result: Result<Response<Body>, ApiError>,
) -> Response<Body> {
    let response = match result {
        Ok(response) => response,
        Err(err) => err.into_response(meta),
    };
    let status = response.status().as_u16();
    let outcome = if status < 400 { "success" } else { "failure" };
    tracing::info!(
        target: "apikeys::audit",
        event = audit.event,
        outcome,
        status,
        user_id = audit.user_id.as_deref().unwrap_or(""),
        provider = audit.provider.map(ProviderId::as_str).unwrap_or(""),
        key_status = audit.key_status.unwrap_or(""),
        request_id = meta.request_id.as_str(),
    );
    response
}
