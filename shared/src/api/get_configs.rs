//! GET /api/provider-configs: the user's active configurations, by provider.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;
use time::OffsetDateTime;

use super::{authenticate, finish, json_response, ApiError, Audit, RequestMeta};
use crate::config::ProviderConfig;
use crate::state::State;

/// Handles a list request.
pub async fn handle(state: &State, req: Request) -> Response<Body> {
    let meta = RequestMeta::of(&req);
    let mut audit = Audit::new("configs.list");
    let result = list(state, &req, &mut audit).await;
    finish(&meta, audit, result)
}

async fn list(state: &State, req: &Request, audit: &mut Audit) -> Result<Response<Body>, ApiError> {
    let user = authenticate(&state.config, req, audit)?;
    let items = state.repo.list(user.as_str()).await?;
    let now = OffsetDateTime::now_utc();
    let configs: Vec<ProviderConfig> = items
        .into_iter()
        .map(|item| ProviderConfig::from_item(item, now, state.config.rotation_after))
        .collect();
    audit.event("configs.listed");
    Ok(json_response(
        StatusCode::OK,
        &json!({ "configs": configs }),
    ))
}
