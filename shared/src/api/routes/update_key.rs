//! PUT /api/provider-configs/{provider}/keys/{keyId} `{label?, priority?,
//! expiresAt?, primary?, budget?}`: changes one key (`budget: null` removes it). `expiresAt: null` sets it back to
//! never; `primary: true` makes it the provider's primary (the two keys change
//! places; the single-key routes see it from then on). 200 with the key; 404 for an
//! id the provider does not have (another user's id reads the same); 409 when a
//! key changed while it was being made primary.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::key_fields::{budget, label, priority};
use crate::api::edge::body::JsonBody;
use crate::api::edge::error::ApiError;
use crate::api::edge::field_error::FieldError;
use crate::api::edge::respond::json_response;
use crate::api::edge::router::{KeyPath, PathParams};
use crate::api::edge::serve::serve;
use crate::domain::{timestamp, KeyView};
use crate::repo::{KeyChanges, MadePrimary};
use crate::sealing_state::SealingState;

/// The members a change may hold.
const FIELDS: &[&str] = &["label", "priority", "expiresAt", "primary", "budget"];

/// Handles a change of one key.
pub async fn handle(state: &SealingState, req: Request, path: PathParams) -> Response<Body> {
    serve(req, "api_key.update", async |req, call| {
        let KeyPath {
            provider,
            key_id: id,
        } = KeyPath::of(&path)?;
        call.audit.provider(provider);
        let body = JsonBody::read(req)?;
        let (changes, primary) = parse(&body)?;
        let repo = &state.base.repo;
        let user = call.user.as_str();
        let now = OffsetDateTime::now_utc();
        let now_text = timestamp(now);
        if primary {
            match repo.make_primary(user, provider, &id, &now_text).await? {
                MadePrimary::Done(_) | MadePrimary::Already(_) => {}
                MadePrimary::NotFound => return Err(ApiError::KeyNotFound(provider)),
                MadePrimary::Changed => {
                    return Err(ApiError::Conflict(
                        "A key of this provider changed meanwhile: read the keys again and retry"
                            .to_owned(),
                    ))
                }
            }
        }
        let item = repo
            .update_key(user, provider, &id, &changes, &now_text)
            .await?
            .ok_or(ApiError::KeyNotFound(provider))?;
        call.audit.event("api_key.updated");
        let key = KeyView::from_key(item.into(), now, state.base.settings.rotation_after);
        Ok(json_response(StatusCode::OK, &json!({ "key": key })))
    })
    .await
}

/// The changes of a body, and whether it makes the key primary. At least one
/// member; every member is checked, and all that are wrong are named at once.
fn parse(body: &JsonBody) -> Result<(KeyChanges, bool), ApiError> {
    let mut refused = Vec::new();
    let mut changes = KeyChanges::default();
    if FIELDS.iter().all(|f| !body.has(f)) {
        refused.push(FieldError::new(
            "body",
            "give at least one of label, priority, expiresAt, primary, budget",
        ));
    }
    if body.has("label") {
        match label(body.get("label")) {
            Ok(l) => changes.label = Some(l),
            Err(e) => refused.push(e),
        }
    }
    if body.get("priority").is_some() {
        match priority(body.get("priority")) {
            Ok(p) => changes.priority = Some(p),
            Err(e) => refused.push(e),
        }
    }
    if body.has("budget") {
        match budget(body.get("budget")) {
            Ok(b) => changes.budget = Some(b),
            Err(e) => refused.push(e),
        }
    }
    if body.has("expiresAt") {
        match crate::api::edge::request::expires_at(body) {
            Ok(at) => changes.expires_at = Some(at),
            Err(e) => refused.extend(e),
        }
    }
    let primary = match body.get("primary") {
        None => false,
        Some(Value::Bool(true)) => true,
        Some(Value::Bool(false)) => {
            refused.push(FieldError::new(
                "primary",
                "can only be true: make another key primary instead",
            ));
            false
        }
        Some(_) => {
            refused.push(FieldError::new("primary", "must be true"));
            false
        }
    };
    if refused.is_empty() {
        Ok((changes, primary))
    } else {
        Err(ApiError::Invalid(refused))
    }
}
