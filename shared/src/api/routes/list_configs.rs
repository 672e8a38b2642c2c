//! GET /api/provider-configs: the user's active configurations, by provider, each
//! with a summary of its keys (`keys`, primary first).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;
use time::OffsetDateTime;

use crate::api::edge::respond::json_response;
use crate::api::edge::serve::serve;
use crate::domain::{sort_keys, KeySummary, KeyView, ProviderConfig};
use crate::state::State;

/// Handles a list request.
pub async fn handle(state: &State, req: Request) -> Response<Body> {
    serve(req, "configs.list", async |_, call| {
        let mut items = state.repo.list(call.user.as_str()).await?;
        let now = OffsetDateTime::now_utc();
        let rotation_after = state.settings.rotation_after;
        // One Query holds every key: each provider's primary is its configuration,
        // and all its keys (primary first) are its `keys`.
        sort_keys(&mut items);
        items.sort_by(|a, b| a.provider.cmp(&b.provider));
        let summaries: Vec<(String, KeySummary)> = items
            .iter()
            .map(|item| {
                let view = KeyView::from_key(item.clone(), now, rotation_after);
                (item.provider.clone(), KeySummary::from(&view))
            })
            .collect();
        let configs: Vec<ProviderConfig> = items
            .into_iter()
            .filter(|item| item.primary)
            .map(|item| {
                let mut config = ProviderConfig::from_key(item, now, rotation_after);
                config.keys = Some(
                    summaries
                        .iter()
                        .filter(|(p, _)| *p == config.provider)
                        .map(|(_, k)| k.clone())
                        .collect(),
                );
                config
            })
            .collect();
        call.audit.event("configs.listed");
        Ok(json_response(
            StatusCode::OK,
            &json!({ "configs": configs }),
        ))
    })
    .await
}
