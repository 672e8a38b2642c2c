//! Endpoints that belong to a key (`azure-openai`, `openai-compatible`): stored as
//! plain attributes, returned in configs, used by key tests of the stored key, and
//! refused with a 400 naming the field when they lead where key tests never call.

use std::time::Duration;

use apikeys::keytest::{KeyTestSettings, KeyTester};
use apikeys_integration_tests::{event_for, parts, request, set_body, Stack};
use serde_json::{json, Value};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{detail_fields, list_as, pk, store_as};

/// An Azure OpenAI key of the 32-hex shape.
const AZURE_KEY: &str = "0123456789abcdef0123456789abcdef";
const API_VERSION: &str = "2024-10-21";

/// A tester whose user-given endpoints may be on loopback (`allow_loopback`).
fn tester(allow_loopback: bool) -> KeyTester {
    let mut settings = KeyTestSettings::default();
    settings.backoff = Duration::from_millis(10);
    settings.allow_loopback_endpoints = allow_loopback;
    apikeys_integration_tests::example_tester(settings)
}

async fn stack(allow_loopback: bool) -> Stack {
    let mut stack = Stack::new().await;
    stack.sealing.tester = tester(allow_loopback);
    stack
}

/// A fake Azure OpenAI resource that lists models for AZURE_KEY in `api-key` at
/// the documented API version, and answers 401 to anything else.
async fn fake_azure() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/openai/models"))
        .and(query_param("api-version", API_VERSION))
        .and(header("api-key", AZURE_KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": []})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"error": {"code": "401", "message": "Access denied due to invalid subscription key"}}),
        ))
        .mount(&server)
        .await;
    server
}

fn azure_body(endpoint: &str) -> Value {
    json!({
        "provider": "azure-openai",
        "apiKey": AZURE_KEY,
        "endpoint": {"endpoint": endpoint, "apiVersion": API_VERSION, "deployment": "gpt-4o"},
    })
}

async fn test_key(stack: &Stack, user: &str, body: Value) -> (u16, Value) {
    let mut event = event_for("test-key.json", Some(user));
    set_body(&mut event, &body);
    let (status, _, body) =
        parts(apikeys::api::test_key::handle(&stack.sealing, request(&event)).await);
    (status, body)
}

#[tokio::test]
async fn an_azure_key_is_stored_with_its_endpoint_and_tested_there() {
    let server = fake_azure().await;
    let stack = stack(true).await;

    let (status, _, body) = store_as(&stack, "alice", azure_body(&server.uri())).await;
    assert_eq!(status, 201, "{body}");
    let expected =
        json!({"endpoint": server.uri(), "apiVersion": API_VERSION, "deployment": "gpt-4o"});
    assert_eq!(body["config"]["endpoint"], expected);
    assert_eq!(body["config"]["provider"], "azure-openai");

    let (status, _, listed) = list_as(&stack.state, "alice").await;
    assert_eq!(status, 200);
    assert_eq!(listed["configs"][0]["endpoint"], expected, "{listed}");

    // Without apiKey the stored key is tested at the stored endpoint.
    let (status, result) = test_key(&stack, "alice", json!({"provider": "azure"})).await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["status"], "valid", "{result}");
    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].url.path(), "/openai/models");
    assert_eq!(received[0].url.query(), Some("api-version=2024-10-21"));
    assert!(!received[0].url.as_str().contains(AZURE_KEY));
    assert!(!result.to_string().contains(AZURE_KEY));
}

#[tokio::test]
async fn a_store_without_endpoint_replaces_nothing_and_an_azure_store_needs_one() {
    let stack = stack(false).await;
    let (status, _, body) = store_as(
        &stack,
        "alice",
        json!({"provider": "azure-openai", "apiKey": AZURE_KEY}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(detail_fields(&body), ["endpoint"]);
    assert!(stack.item(&pk("alice", "azure-openai")).await.is_none());

    let (status, body) = test_key(
        &stack,
        "alice",
        json!({"provider": "azure-openai", "apiKey": AZURE_KEY}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(detail_fields(&body), ["endpoint"]);
}

#[tokio::test]
async fn an_openai_compatible_server_is_stored_without_a_key() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": []})))
        .mount(&server)
        .await;
    let stack = stack(true).await;
    let base = format!("{}/v1", server.uri());

    let (status, _, body) = store_as(
        &stack,
        "bob",
        json!({"provider": "openai-compatible", "endpoint": {"baseUrl": base}, "validate": true}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["config"]["endpoint"], json!({"baseUrl": base}));
    assert!(body["config"]["keyHint"].is_null(), "{body}");
    assert_eq!(body["config"]["lastValidationStatus"], "valid");

    let (status, result) = test_key(&stack, "bob", json!({"provider": "custom"})).await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["status"], "valid", "{result}");
    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), 2);
    assert!(received
        .iter()
        .all(|r| !r.headers.contains_key("authorization")));
}

#[tokio::test]
async fn endpoints_to_private_metadata_or_plain_http_addresses_are_refused_before_storing() {
    let stack = stack(false).await;
    let cases = [
        ("https://10.0.0.1", "endpoint.endpoint"),
        ("https://169.254.169.254", "endpoint.endpoint"),
        ("https://[::ffff:169.254.169.254]", "endpoint.endpoint"),
        ("http://my-resource.openai.azure.com", "endpoint.endpoint"),
    ];
    for (url, field) in cases {
        let (status, _, body) = store_as(&stack, "carol", azure_body(url)).await;
        assert_eq!(status, 400, "{url}: {body}");
        assert_eq!(detail_fields(&body), [field], "{url}: {body}");
        assert!(!body.to_string().contains(AZURE_KEY));
        assert!(
            stack.item(&pk("carol", "azure-openai")).await.is_none(),
            "{url}"
        );

        let (status, body) = test_key(&stack, "carol", azure_body(url)).await;
        assert_eq!(status, 400, "{url}: {body}");
        assert_eq!(detail_fields(&body), [field], "{url}: {body}");
    }
    let (status, _, body) = store_as(
        &stack,
        "carol",
        json!({"provider": "openai-compatible", "endpoint": {"baseUrl": "https://10.1.2.3/v1"}}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(detail_fields(&body), ["endpoint.baseUrl"]);
    assert!(stack
        .item(&pk("carol", "openai-compatible"))
        .await
        .is_none());
}

#[tokio::test]
async fn a_stored_key_is_never_sent_to_an_endpoint_of_the_request() {
    let server = fake_azure().await;
    let stack = stack(true).await;
    let (status, _, _) = store_as(&stack, "dave", azure_body(&server.uri())).await;
    assert_eq!(status, 201);

    let (status, body) = test_key(
        &stack,
        "dave",
        json!({"provider": "azure-openai", "endpoint": {"endpoint": "https://elsewhere.example.com", "apiVersion": API_VERSION}}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(detail_fields(&body), ["endpoint"]);
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_stored_endpoint_the_policy_no_longer_allows_is_a_422_without_a_call() {
    let server = fake_azure().await;
    let mut stack = stack(true).await;
    let (status, _, _) = store_as(&stack, "erin", azure_body(&server.uri())).await;
    assert_eq!(status, 201);

    stack.sealing.tester = tester(false);
    let (status, body) = test_key(&stack, "erin", json!({"provider": "azure-openai"})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(detail_fields(&body), ["endpoint.endpoint"]);
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_store_without_endpoint_removes_the_stored_one() {
    let stack = stack(true).await;
    let base = "https://llm.example.com/v1";
    let body = json!({"provider": "openai-compatible", "apiKey": "sk-local-0123456789", "endpoint": {"baseUrl": base}});
    assert_eq!(store_as(&stack, "frank", body).await.0, 201);
    assert!(stack
        .item(&pk("frank", "openai-compatible"))
        .await
        .unwrap()
        .contains_key("endpoint"));

    // With an operator-configured base URL the endpoint may be left out.
    let mut settings = KeyTestSettings::default();
    settings
        .set_base_url(
            apikeys::provider::ProviderId::OpenAiCompatible,
            "https://gateway.example.com/v1",
        )
        .unwrap();
    let mut stack = stack;
    stack.sealing.tester = KeyTester::new(settings);
    let body = json!({"provider": "openai-compatible", "apiKey": "sk-local-0123456789"});
    let (status, _, answer) = store_as(&stack, "frank", body).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["config"].get("endpoint").is_none(), "{answer}");
    assert!(!stack
        .item(&pk("frank", "openai-compatible"))
        .await
        .unwrap()
        .contains_key("endpoint"));
}
