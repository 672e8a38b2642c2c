//! The HTTP API against the local AWS emulator: requests parsed from `events/`,
//! handed to the handlers the functions run, and judged by what a client sees (status,
//! headers, body) and what the table holds afterwards.
//!
//! - [`endpoint`]: endpoints that belong to a key, stored, listed, used, guarded.
//! - [`keys`]: several keys per provider: add, list, the limit, isolation, deletes.
//! - [`lifecycle`]: store, list, update, delete, concurrency, round trips, rotation.
//! - [`validation`]: bad input, field by field, with nothing half-written.
//! - [`security`]: isolation between users, identity, logs, headers, opaque errors.
//! - [`test_key`]: the test-key function and `validate: true` on store.
//! - [`openapi`]: every documented route and status against `infra/contract/openapi.yaml`.

mod endpoint;
mod keys;
mod lifecycle;
mod openapi;
mod security;
mod test_key;
mod validation;

use apikeys::api::{delete_config, get_configs, store, update_settings};
use apikeys::crypto::{CryptoError, KeyContext};
use apikeys::State;
use apikeys_integration_tests::{event_for, parts, request, set_body, text, Stack};
use lambda_http::http::HeaderMap;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

/// The OpenAI key of `events/store.json`.
const KEY: &str = "sk-proj-EXAMPLEexample0123456789EXAMPLEkey0000";
/// Another OpenAI key, for replacing the first.
const OTHER_KEY: &str = "sk-proj-REPLACEMENTkey0123456789abcdefghij1111";

/// What a client receives: status, headers and the JSON body (Null when empty).
type Answer = (u16, HeaderMap, Value);

/// The item key of a user's configuration for a provider.
fn pk(user: &str, provider: &str) -> String {
    format!("{user}#{provider}")
}

/// A store body for OpenAI.
fn openai(key: &str) -> Value {
    json!({ "provider": "openai", "apiKey": key })
}

/// POST /api/provider-configs as `user` with `body`, through the store function.
async fn store_as(stack: &Stack, user: &str, body: Value) -> Answer {
    let mut event = event_for("store.json", Some(user));
    set_body(&mut event, &body);
    parts(store::handle(&stack.sealing, request(&event)).await)
}

/// GET /api/provider-configs as `user`.
async fn list_as(state: &State, user: &str) -> Answer {
    let event = event_for("get-configs.json", Some(user));
    parts(get_configs::handle(state, request(&event)).await)
}

/// PUT /api/provider-configs as `user` with `body`.
async fn update_as(state: &State, user: &str, body: Value) -> Answer {
    let mut event = event_for("update-settings.json", Some(user));
    set_body(&mut event, &body);
    parts(update_settings::handle(state, request(&event)).await)
}

/// A DELETE /api/provider-configs/{provider} event as `user`.
fn delete_event(user: &str, provider: &str) -> Value {
    let mut event = event_for("delete-config.json", Some(user));
    event["pathParameters"]["provider"] = json!(provider);
    event["rawPath"] = json!(format!("/api/provider-configs/{provider}"));
    event["requestContext"]["http"]["path"] = event["rawPath"].clone();
    event
}

/// DELETE /api/provider-configs/{provider} as `user`.
async fn delete_as(state: &State, user: &str, provider: &str) -> Answer {
    parts(delete_config::handle(state, request(&delete_event(user, provider))).await)
}

/// Opens the `apiKey` stored for (user, provider) under the context `(as_user, provider)`.
async fn open_stored_as(
    stack: &Stack,
    owner: &str,
    as_user: &str,
    provider: &str,
) -> Result<String, CryptoError> {
    let item = stack
        .item(&pk(owner, provider))
        .await
        .expect("the item exists");
    let envelope = text(&item, "apiKey").expect("the item holds an apiKey");
    let keyring = stack
        .sealing
        .keys
        .keyring()
        .await
        .expect("the test keyring");
    keyring
        .open(&KeyContext::new(as_user, provider), envelope)
        .map(|opened| opened.secret.expose_secret().to_owned())
}

/// The `field`s named by an error body's `details`, in order.
fn detail_fields(body: &Value) -> Vec<String> {
    body["details"]
        .as_array()
        .map(|details| {
            details
                .iter()
                .map(|d| d["field"].as_str().unwrap_or("<no field>").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The providers of a list answer, in order.
fn listed_providers(body: &Value) -> Vec<String> {
    body["configs"]
        .as_array()
        .expect("a configs array")
        .iter()
        .map(|c| c["provider"].as_str().unwrap_or("<none>").to_owned())
        .collect()
}
