//! DELETE /api/provider-configs/{provider}: soft-deletes the configuration and
//! removes the ciphertext. 204, or 404 when none is active.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use time::OffsetDateTime;

use crate::api::edge::error::ApiError;
use crate::api::edge::respond::empty_response;
use crate::api::edge::router::{PathParams, ProviderPath};
use crate::api::edge::serve::serve;
use crate::domain::timestamp;
use crate::state::State;

/// Handles a delete of every key of a provider.
pub async fn handle(state: &State, req: Request, path: PathParams) -> Response<Body> {
    serve(req, "api_key.delete", async |_, call| {
        let ProviderPath { provider } = ProviderPath::of(&path)?;
        call.audit.provider(provider);

        let now = OffsetDateTime::now_utc();
        let purge_at = (now + state.settings.delete_grace).unix_timestamp();
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
