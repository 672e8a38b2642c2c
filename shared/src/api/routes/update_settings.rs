//! PUT /api/provider-configs `{provider, settings}`: replaces the settings of an
//! active configuration. 404 when there is none.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;
use time::OffsetDateTime;

use crate::api::edge::body::JsonBody;
use crate::api::edge::error::ApiError;
use crate::api::edge::request::UpdateSettingsRequest;
use crate::api::edge::respond::json_response;
use crate::api::edge::serve::serve;
use crate::domain::{timestamp, ProviderConfig};
use crate::state::State;

/// Handles a settings update.
pub async fn handle(state: &State, req: Request) -> Response<Body> {
    serve(req, "settings.update", async |req, call| {
        let UpdateSettingsRequest { provider, settings } =
            UpdateSettingsRequest::parse(&JsonBody::read(req)?)?;
        call.audit.provider(provider);

        let now = OffsetDateTime::now_utc();
        let item = state
            .repo
            .update_settings(
                call.user.as_str(),
                provider,
                settings.as_map(),
                &timestamp(now),
            )
            .await?
            .ok_or(ApiError::NotFound(provider))?;
        call.audit.event("settings.updated");
        let config = ProviderConfig::from_key(item.into(), now, state.settings.rotation_after);
        Ok(json_response(StatusCode::OK, &json!({ "config": config })))
    })
    .await
}
