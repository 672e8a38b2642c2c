//! DELETE /api/provider-configs/{provider}: soft-deletes the configuration and
//! removes the ciphertext. 204, or 404 when none is active.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use time::OffsetDateTime;

use super::input::FieldError;
use super::{authenticate, empty_response, finish, ApiError, Audit, RequestMeta};
use crate::config::timestamp;
use crate::provider::ProviderId;
use crate::state::State;

/// Handles a delete request.
pub async fn handle(state: &State, req: Request) -> Response<Body> {
    let meta = RequestMeta::of(&req);
    let mut audit = Audit::new("api_key.delete");
    let result = delete(state, &req, &mut audit).await;
    finish(&meta, audit, result)
}

/// The `{provider}` path parameter, or the last path segment where no API Gateway
/// route set one (a Lambda function URL, `cargo lambda watch`).
fn provider_param(req: &Request) -> Option<String> {
    req.path_parameters_ref()
        .and_then(|p| p.first("provider"))
        .map(str::to_owned)
        .or_else(|| {
            let path = req.uri().path();
            let (_, rest) = path.split_once("/provider-configs/")?;
            let segment = rest.trim_end_matches('/');
            (!segment.is_empty() && !segment.contains('/')).then(|| segment.to_owned())
        })
}

async fn delete(
    state: &State,
    req: &Request,
    audit: &mut Audit,
) -> Result<Response<Body>, ApiError> {
    let user = authenticate(&state.config, req, audit)?;
    let provider = match provider_param(req) {
        None => {
            return Err(ApiError::Invalid(vec![FieldError::new(
                "provider",
                "is required in the path",
            )]))
        }
        Some(raw) => ProviderId::parse(&raw).ok_or_else(|| {
            ApiError::Invalid(vec![FieldError::new(
                "provider",
                format!(
                    "unsupported provider; use one of {}",
                    ProviderId::accepted_ids()
                ),
            )])
        })?,
    };
    audit.provider(provider);

    let now = OffsetDateTime::now_utc();
    let purge_at = (now + state.config.delete_grace).unix_timestamp();
    if !state
        .repo
        .delete(user.as_str(), provider, &timestamp(now), purge_at)
        .await?
    {
        return Err(ApiError::NotFound(provider));
    }
    audit.event("api_key.deleted");
    Ok(empty_response(StatusCode::NO_CONTENT))
}
