//! PUT /api/provider-configs `{provider, settings}`: replaces the settings of an
//! active configuration. 404 when there is none.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;
use time::OffsetDateTime;

use super::input::{json_object, Fields};
use super::{authenticate, finish, json_response, ApiError, Audit, RequestMeta};
use crate::config::{timestamp, ProviderConfig};
use crate::state::State;

/// Handles a settings update.
pub async fn handle(state: &State, req: Request) -> Response<Body> {
    let meta = RequestMeta::of(&req);
    let mut audit = Audit::new("settings.update");
    let result = update(state, &req, &mut audit).await;
    finish(&meta, audit, result)
}

async fn update(
    state: &State,
    req: &Request,
    audit: &mut Audit,
) -> Result<Response<Body>, ApiError> {
    let user = authenticate(&state.config, req, audit)?;
    let body = json_object(req)?;
    let mut fields = Fields::default();
    let provider = fields.provider(&body);
    let settings = fields.settings(&body, true);
    fields.finish()?;
    let (Some(provider), Some(settings)) = (provider, settings) else {
        return Err(ApiError::internal("validated fields missing"));
    };
    audit.provider(provider);

    let now = OffsetDateTime::now_utc();
    let item = state
        .repo
        .update_settings(user.as_str(), provider, settings.as_map(), &timestamp(now))
        .await?
        .ok_or(ApiError::NotFound(provider))?;
    audit.event("settings.updated");
    let config = ProviderConfig::from_item(item, now, state.config.rotation_after);
    Ok(json_response(StatusCode::OK, &json!({ "config": config })))
}
