//! DELETE /api/provider-configs/{provider}: soft-deletes the configuration and
//! removes the ciphertext. 204, or 404 when none is active.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use time::OffsetDateTime;

use super::error::ApiError;
use super::request::DeleteConfigRequest;
use super::respond::empty_response;
use super::serve::serve;
use crate::domain::timestamp;
use crate::state::State;

/// Handles a delete request.
pub async fn handle(state: &State, req: Request) -> Response<Body> {
    if super::keys::is_key_route(&req) {
        return super::keys::delete(state, req).await;
    }
    serve(req, "api_key.delete", async |req, call| {
        let DeleteConfigRequest { provider } = DeleteConfigRequest::parse(req)?;
        call.audit.provider(provider);

        let now = OffsetDateTime::now_utc();
        let purge_at = (now + state.config.delete_grace).unix_timestamp();
        let deleted = state
            .repo
            .delete(call.user.as_str(), provider, &timestamp(now), purge_at)
            .await?;
        if !deleted {
            return Err(ApiError::NotFound(provider));
        }
        call.audit.event("api_key.deleted");
        Ok(empty_response(StatusCode::NO_CONTENT))
    })
    .await
}
