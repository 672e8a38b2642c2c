//! POST /api/provider-configs `{provider, apiKey, endpoint?, settings?, validate?}`:
//! seals the key under (user, provider) and upserts the configuration with its
//! endpoint. 201 new, 200 replaced. An endpoint that leads somewhere key tests never
//! call is a 400 naming its field, before anything is written.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;
use time::OffsetDateTime;

use super::store_checks::seal_request;
use crate::api::edge::body::JsonBody;
use crate::api::edge::request::StoreRequest;
use crate::api::edge::respond::json_response;
use crate::api::edge::serve::serve;
use crate::domain::{timestamp, ProviderConfig};
use crate::repo::StoreWrite;
use crate::sealing_state::SealingState;

/// Handles a store request.
pub async fn handle(state: &SealingState, req: Request) -> Response<Body> {
    serve(req, "api_key.store", async |req, call| {
        let request = StoreRequest::parse(&JsonBody::read(req)?, &state.tester)?;
        call.audit.provider(request.provider);
        let sealed = seal_request(state, call, &request).await?;
        let now = OffsetDateTime::now_utc();
        let stored = state
            .base
            .repo
            .store(StoreWrite {
                user_id: call.user.as_str(),
                provider: request.provider,
                envelope: &sealed.envelope,
                key_hint: sealed.hint(),
                endpoint: sealed.endpoint.as_ref(),
                key_expires_at: request.expires_at.as_deref(),
                settings: request.settings.as_ref().map(|s| s.as_map()),
                validation: sealed.validation(),
                now: &timestamp(now),
                new_id: &uuid::Uuid::new_v4().to_string(),
                label: None,
            })
            .await?;

        let (status, event) = if stored.created {
            (StatusCode::CREATED, "api_key.stored")
        } else {
            (StatusCode::OK, "api_key.replaced")
        };
        call.audit.event(event);
        let config =
            ProviderConfig::from_key(stored.item.into(), now, state.base.settings.rotation_after);
        Ok(json_response(status, &json!({ "config": config })))
    })
    .await
}
