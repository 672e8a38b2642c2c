//! GET /api/provider-configs: the user's active configurations, by provider.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;
use time::OffsetDateTime;

use super::respond::json_response;
use super::serve::serve;
use crate::domain::ProviderConfig;
use crate::state::State;

/// Handles a list request.
pub async fn handle(state: &State, req: Request) -> Response<Body> {
    serve(req, "configs.list", async |_, call| {
        let items = state.repo.list(call.user.as_str()).await?;
        let now = OffsetDateTime::now_utc();
        let configs: Vec<ProviderConfig> = items
            .into_iter()
            .map(|item| ProviderConfig::from_item(item, now, state.config.rotation_after))
            .collect();
        call.audit.event("configs.listed");
        Ok(json_response(
            StatusCode::OK,
            &json!({ "configs": configs }),
        ))
    })
    .await
}
