//! The routes and use-key as a client meets them: each call builds the request from
//! its file in `events/`, hands it to the handler the function runs, and returns
//! what a client receives. The races and the model-based test drive the vault
//! through these, over any pair of states (a paused client's too).

use apikeys::{SealingState, State};
use serde_json::{json, Value};

use crate::{event_for, parts, request, set_body};

/// What a client receives: status and the JSON body (Null when empty).
pub type Answer = (u16, Value);

/// The functions' states to call through.
#[derive(Clone, Copy)]
pub struct Calls<'a> {
    /// get-configs, update-settings, delete-config.
    pub state: &'a State,
    /// store (and its key routes), test-key, use-key.
    pub sealing: &'a SealingState,
}

/// `event` pointed at `path` with path parameters `params`.
fn routed(mut event: Value, path: &str, params: Value) -> Value {
    event["rawPath"] = json!(path);
    event["requestContext"]["http"]["path"] = json!(path);
    event["pathParameters"] = params;
    event
}

fn answer(response: lambda_http::Response<lambda_http::Body>) -> Answer {
    let (status, _, body) = parts(response);
    (status, body)
}

impl<'a> Calls<'a> {
    /// Calls through a stack's own states.
    pub fn of(stack: &'a crate::Stack) -> Self {
        Self {
            state: &stack.state,
            sealing: &stack.sealing,
        }
    }

    /// POST /api/provider-configs `{provider, apiKey, settings?}`.
    pub async fn store(&self, user: &str, provider: &str, key: &str, settings: Value) -> Answer {
        let mut event = event_for("store.json", Some(user));
        let mut body = json!({"provider": provider, "apiKey": key});
        if !settings.is_null() {
            body["settings"] = settings;
        }
        set_body(&mut event, &body);
        answer(apikeys::api::store::handle(self.sealing, request(&event)).await)
    }

    /// GET /api/provider-configs.
    pub async fn list(&self, user: &str) -> Answer {
        let event = event_for("get-configs.json", Some(user));
        answer(apikeys::api::get_configs::handle(self.state, request(&event)).await)
    }

    /// PUT /api/provider-configs `{provider, settings}`.
    pub async fn update_settings(&self, user: &str, provider: &str, settings: Value) -> Answer {
        let mut event = event_for("update-settings.json", Some(user));
        set_body(
            &mut event,
            &json!({"provider": provider, "settings": settings}),
        );
        answer(apikeys::api::update_settings::handle(self.state, request(&event)).await)
    }

    /// DELETE /api/provider-configs/{provider}: every key.
    pub async fn delete_all(&self, user: &str, provider: &str) -> Answer {
        let event = routed(
            event_for("delete-config.json", Some(user)),
            &format!("/api/provider-configs/{provider}"),
            json!({ "provider": provider }),
        );
        answer(apikeys::api::delete_config::handle(self.state, request(&event)).await)
    }

    /// POST /api/provider-configs/{provider}/keys `{apiKey, …}`.
    pub async fn add_key(&self, user: &str, provider: &str, body: Value) -> Answer {
        let mut event = routed(
            event_for("add-key.json", Some(user)),
            &format!("/api/provider-configs/{provider}/keys"),
            json!({ "provider": provider }),
        );
        set_body(&mut event, &body);
        answer(apikeys::api::store::handle(self.sealing, request(&event)).await)
    }

    /// GET /api/provider-configs/{provider}/keys.
    pub async fn keys(&self, user: &str, provider: &str) -> Answer {
        let event = routed(
            event_for("list-keys.json", Some(user)),
            &format!("/api/provider-configs/{provider}/keys"),
            json!({ "provider": provider }),
        );
        answer(apikeys::api::get_configs::handle(self.state, request(&event)).await)
    }

    /// PUT /api/provider-configs/{provider}/keys/{keyId} with `body`.
    pub async fn update_key(&self, user: &str, provider: &str, id: &str, body: Value) -> Answer {
        let mut event = routed(
            event_for("update-key.json", Some(user)),
            &format!("/api/provider-configs/{provider}/keys/{id}"),
            json!({ "provider": provider, "keyId": id }),
        );
        set_body(&mut event, &body);
        answer(apikeys::api::store::handle(self.sealing, request(&event)).await)
    }

    /// DELETE /api/provider-configs/{provider}/keys/{keyId}.
    pub async fn delete_key(&self, user: &str, provider: &str, id: &str) -> Answer {
        let event = routed(
            event_for("delete-key.json", Some(user)),
            &format!("/api/provider-configs/{provider}/keys/{id}"),
            json!({ "provider": provider, "keyId": id }),
        );
        answer(apikeys::api::delete_config::handle(self.state, request(&event)).await)
    }

    /// POST /api/test-api-key `{provider}`: a test of the stored key.
    pub async fn test_key(&self, user: &str, provider: &str) -> Answer {
        let mut event = event_for("test-key-stored.json", Some(user));
        set_body(&mut event, &json!({ "provider": provider }));
        answer(apikeys::api::test_key::handle(self.sealing, request(&event)).await)
    }

    /// use-key `{userId, provider}`.
    pub async fn use_key(&self, user: &str, provider: &str) -> Value {
        apikeys::invoke::handle(
            self.sealing,
            &json!({"userId": user, "provider": provider}),
            "req-calls",
        )
        .await
    }

    /// use-key's report `{userId, provider, keyId, outcome, lease?}`.
    pub async fn report(
        &self,
        user: &str,
        provider: &str,
        key_id: &str,
        outcome: &str,
        lease: Option<&str>,
    ) -> Value {
        let mut payload =
            json!({"userId": user, "provider": provider, "keyId": key_id, "outcome": outcome});
        if let Some(lease) = lease {
            payload["lease"] = json!(lease);
        }
        apikeys::invoke::handle(self.sealing, &payload, "req-calls").await
    }
}

/// The ids of a keys answer, in order.
pub fn key_ids(body: &Value) -> Vec<String> {
    body["keys"]
        .as_array()
        .map(|keys| {
            keys.iter()
                .filter_map(|k| k["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
