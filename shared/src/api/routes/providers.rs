//! GET /api/providers: the providers the vault knows, from the registry, for the key
//! manager page (its list, display names, key placeholders and endpoint fields
//! follow the registry without an edit of the page). No table read.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};

use crate::api::edge::respond::json_response;
use crate::api::edge::serve::serve;
use crate::provider::{EndpointKind, KeyRequirement, ProviderId};

/// One provider as the page shows it.
fn describe(provider: ProviderId) -> Value {
    let entry = provider.entry();
    // The prefix of the registry's example key as the field's placeholder
    // (`sk-proj-…`): the longest shape prefix it starts with.
    let placeholder = entry
        .shapes
        .iter()
        .filter(|s| !s.prefix.is_empty() && entry.example_key.starts_with(s.prefix))
        .max_by_key(|s| s.prefix.len())
        .map(|s| format!("{}…", s.prefix))
        .unwrap_or_default();
    let endpoint = match entry.endpoint {
        EndpointKind::None => "none",
        EndpointKind::BaseUrl => "baseUrl",
        EndpointKind::Azure => "azure",
    };
    json!({
        "id": entry.canonical,
        "displayName": entry.display_name,
        "aliases": entry.aliases,
        "keyPlaceholder": placeholder,
        "keyOptional": entry.key == KeyRequirement::Optional,
        "endpoint": endpoint,
    })
}

/// Every provider, in the registry's order. A plain loop: a closure over
/// `ProviderId::ALL` here sends rustc's release build into a query cycle through the
/// registry's constant (rustc 1.95, opt-level 3).
fn registry() -> Vec<Value> {
    let mut providers = Vec::with_capacity(ProviderId::ALL.len());
    for provider in ProviderId::ALL {
        providers.push(describe(provider));
    }
    providers
}

/// Handles a providers request.
pub async fn handle(req: Request) -> Response<Body> {
    serve(req, "providers.list", async |_, call| {
        call.audit.event("providers.listed");
        let providers = registry();
        Ok(json_response(
            StatusCode::OK,
            &json!({ "providers": providers }),
        ))
    })
    .await
}
