//! The configuration table against the local emulator, judged where a client or an
//! operator would notice it:
//!
//! - [`store`]: a store replaces the settings; after a delete it creates a new
//!   configuration and brings nothing of the deleted one back.
//! - [`ratelimit`]: the key-test limit over any 60-second window, and under a
//!   retried write.
//! - [`answers`]: update-settings, delete-config and get-configs never receive the
//!   ciphertext in any DynamoDB answer.

mod answers;
mod ratelimit;
mod store;
mod uses;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use apikeys::api::{delete_config, get_configs, update_settings};
use apikeys::State;
use apikeys_integration_tests::{event_for, parts, request, set_body, Stack};
use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeDeserializationInterceptorContextMut,
    BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use serde_json::{json, Value};

/// An OpenAI key as a user would paste it.
const KEY: &str = "sk-proj-EXAMPLEexample0123456789EXAMPLEkey0000";

/// What a client receives: status and JSON body (Null when empty).
type Answer = (u16, Value);

/// The item key of a user's configuration for a provider.
fn pk(user: &str, provider: &str) -> String {
    format!("{user}#{provider}")
}

/// POST /api/provider-configs as `user` with `body`.
async fn store_as(stack: &Stack, user: &str, body: Value) -> Answer {
    let mut event = event_for("store.json", Some(user));
    set_body(&mut event, &body);
    let (status, _, body) =
        parts(apikeys::api::store::handle(&stack.sealing, request(&event)).await);
    (status, body)
}

/// PUT /api/provider-configs as `user` with `body`.
async fn update_as(state: &State, user: &str, body: Value) -> Answer {
    let mut event = event_for("update-settings.json", Some(user));
    set_body(&mut event, &body);
    let (status, _, body) = parts(update_settings::handle(state, request(&event)).await);
    (status, body)
}

/// DELETE /api/provider-configs/{provider} as `user`.
async fn delete_as(state: &State, user: &str, provider: &str) -> Answer {
    let mut event = event_for("delete-config.json", Some(user));
    event["pathParameters"]["provider"] = json!(provider);
    event["rawPath"] = json!(format!("/api/provider-configs/{provider}"));
    event["requestContext"]["http"]["path"] = event["rawPath"].clone();
    let (status, _, body) = parts(delete_config::handle(state, request(&event)).await);
    (status, body)
}

/// GET /api/provider-configs as `user`.
async fn list_as(state: &State, user: &str) -> Answer {
    let event = event_for("get-configs.json", Some(user));
    let (status, _, body) = parts(get_configs::handle(state, request(&event)).await);
    (status, body)
}

/// A DynamoDB client of the emulator with `interceptor` on every request.
fn client_with(stack: &Stack, interceptor: impl Intercept + 'static) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&stack.sdk)
            .interceptor(interceptor)
            .build(),
    )
}

/// The DynamoDB operation of a request about to be sent (`X-Amz-Target`), e.g.
/// "UpdateItem".
fn operation_of(context: &BeforeTransmitInterceptorContextRef<'_>) -> String {
    apikeys_integration_tests::faults::target_of(context.request().headers().get("x-amz-target")).1
}

/// Every answer a DynamoDB client received: the operation (`X-Amz-Target`) and
/// the raw body, error answers included.
#[derive(Debug, Clone, Default)]
struct Answers {
    target: Arc<Mutex<String>>,
    seen: Arc<Mutex<Vec<(String, String)>>>,
}

impl Answers {
    /// (operation, body) of every answer so far, e.g. ("UpdateItem", "{...}").
    fn all(&self) -> Vec<(String, String)> {
        self.seen.lock().unwrap().clone()
    }
}

impl Intercept for Answers {
    fn name(&self) -> &'static str {
        "Answers"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        *self.target.lock().unwrap() = operation_of(context);
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let body = context.response().body().bytes().unwrap_or_default();
        let operation = self.target.lock().unwrap().clone();
        self.seen
            .lock()
            .unwrap()
            .push((operation, String::from_utf8_lossy(body).into_owned()));
        Ok(())
    }
}

/// Loses the answer to the first write (reads pass), after the emulator has applied
/// it: the client sees a 500, as after a dropped connection or a server fault, and
/// the SDK sends the same request again.
#[derive(Debug, Clone, Default)]
struct LoseFirstAnswer {
    lost: Arc<AtomicBool>,
    target: Arc<Mutex<String>>,
    /// Only a write whose request body holds this text loses its answer.
    marker: Option<&'static str>,
}

impl LoseFirstAnswer {
    /// Loses the answer to the first write whose request holds `marker`.
    fn to_write_with(marker: &'static str) -> Self {
        Self {
            marker: Some(marker),
            ..Self::default()
        }
    }
}

impl Intercept for LoseFirstAnswer {
    fn name(&self) -> &'static str {
        "LoseFirstAnswer"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let body = context.request().body().bytes().unwrap_or_default();
        let marked = self
            .marker
            .is_none_or(|m| String::from_utf8_lossy(body).contains(m));
        *self.target.lock().unwrap() = if marked {
            operation_of(context)
        } else {
            "unmarked".to_owned()
        };
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let read = matches!(
            self.target.lock().unwrap().as_str(),
            "Query" | "GetItem" | "Scan" | "unmarked"
        );
        if read || self.lost.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let response = context.response_mut();
        *response.status_mut() = 500u16.try_into()?;
        *response.body_mut() = r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"answer lost"}"#.into();
        Ok(())
    }
}
