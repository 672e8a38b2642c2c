//! The test-key function and `validate: true` on store, through their handlers,
//! against the emulator and fake providers on loopback.

use std::time::Duration;

use apikeys::keytest::{KeyTestSettings, KeyTester};
use apikeys::provider::ProviderId;
use apikeys_integration_tests::{event_for, parts, request, set_body, Stack};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Value};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const GOOD_KEY: &str = "sk-proj-G00dKey0123456789abcdefghijklmnopQRST";
const BAD_KEY: &str = "sk-proj-BadKey0123456789abcdefghijklmnopqrWXYZ";

/// A fake OpenAI that accepts GOOD_KEY and refuses everything else.
async fn fake_openai() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .and(header(
            "authorization",
            format!("Bearer {GOOD_KEY}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": []})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"error": {"message": "Incorrect API key provided"}})),
        )
        .mount(&server)
        .await;
    server
}

async fn stack_with(server: &MockServer) -> Stack {
    let mut stack = Stack::new().await;
    let mut settings = KeyTestSettings::default();
    settings.backoff = Duration::from_millis(10);
    settings
        .set_base_url(ProviderId::OpenAi, &server.uri())
        .unwrap();
    stack.sealing.tester = KeyTester::new(settings);
    stack
}

async fn test_key(
    stack: &Stack,
    user: &str,
    body: Value,
) -> (u16, lambda_http::http::HeaderMap, Value) {
    let mut event = event_for("test-key.json", Some(user));
    set_body(&mut event, &body);
    parts(apikeys::api::test_key::handle(&stack.sealing, request(&event)).await)
}

async fn store(stack: &Stack, user: &str, body: Value) -> (u16, Value) {
    let mut event = event_for("store.json", Some(user));
    set_body(&mut event, &body);
    let (status, _, body) =
        parts(apikeys::api::store::handle(&stack.sealing, request(&event)).await);
    (status, body)
}

#[tokio::test]
async fn a_given_key_is_tested_and_the_answer_has_the_documented_shape() {
    let server = fake_openai().await;
    let stack = stack_with(&server).await;

    let (status, _, body) = test_key(
        &stack,
        "alice",
        json!({"provider": "openai", "apiKey": GOOD_KEY}),
    )
    .await;

    assert_eq!(status, 200);
    assert_eq!(body["valid"], true);
    assert_eq!(body["status"], "valid");
    assert_eq!(body["provider"], "openai");
    assert!(body["latencyMs"].is_u64());
    assert!(body["checkedAt"].as_str().unwrap().ends_with('Z'));
    assert!(body["message"].is_string());
}

#[tokio::test]
async fn a_refused_key_is_invalid_with_the_providers_reason() {
    let server = fake_openai().await;
    let stack = stack_with(&server).await;

    let (status, _, body) = test_key(
        &stack,
        "alice",
        json!({"provider": "openai", "apiKey": BAD_KEY}),
    )
    .await;

    assert_eq!(status, 200);
    assert_eq!(body["valid"], false);
    assert_eq!(body["status"], "invalid");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("Incorrect API key provided"));
    assert!(!body.to_string().contains(BAD_KEY));
}

#[tokio::test]
async fn a_too_short_key_is_format_invalid_without_a_call() {
    let server = fake_openai().await;
    let stack = stack_with(&server).await;

    let (status, _, body) = test_key(
        &stack,
        "alice",
        json!({"provider": "openai", "apiKey": "sk-short"}),
    )
    .await;

    assert_eq!(status, 200);
    assert_eq!(body["status"], "format_invalid");
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_misfiled_event_says_which_provider_the_key_looks_like() {
    let server = fake_openai().await;
    let stack = stack_with(&server).await;
    let event = event_for("test-key-misfiled.json", Some("alice"));

    let (status, _, body) =
        parts(apikeys::api::test_key::handle(&stack.sealing, request(&event)).await);

    assert_eq!(status, 200);
    assert_eq!(body["status"], "format_invalid");
    assert!(
        body["message"].as_str().unwrap().contains("Anthropic"),
        "{body}"
    );
}

#[tokio::test]
async fn the_stored_key_is_tested_and_the_outcome_recorded() {
    // Given alice's stored key
    let server = fake_openai().await;
    let stack = stack_with(&server).await;
    let (status, _) = store(
        &stack,
        "alice",
        json!({"provider": "openai", "apiKey": GOOD_KEY}),
    )
    .await;
    assert_eq!(status, 201);

    // When she tests without a key
    let event = event_for("test-key-stored.json", Some("alice"));
    let (status, _, body) =
        parts(apikeys::api::test_key::handle(&stack.sealing, request(&event)).await);

    // Then the stored key went to the provider and the item records the outcome
    assert_eq!(status, 200);
    assert_eq!(body["status"], "valid");
    let item = stack.item("alice#openai").await.unwrap();
    assert_eq!(
        item["lastValidationStatus"],
        AttributeValue::S("valid".into())
    );
    assert_eq!(
        item["lastValidatedAt"],
        AttributeValue::S(body["checkedAt"].as_str().unwrap().to_owned())
    );
    assert_eq!(item["version"], AttributeValue::N("2".into()));
}

#[tokio::test]
async fn a_stored_key_that_stopped_working_is_recorded_invalid() {
    let server = fake_openai().await;
    let stack = stack_with(&server).await;
    store(
        &stack,
        "alice",
        json!({"provider": "openai", "apiKey": BAD_KEY}),
    )
    .await;

    let (_, _, body) = test_key(&stack, "alice", json!({"provider": "openai"})).await;

    assert_eq!(body["status"], "invalid");
    let item = stack.item("alice#openai").await.unwrap();
    assert_eq!(
        item["lastValidationStatus"],
        AttributeValue::S("invalid".into())
    );
}

#[tokio::test]
async fn testing_a_stored_key_that_does_not_exist_is_404() {
    let server = fake_openai().await;
    let stack = stack_with(&server).await;

    let (status, _, body) = test_key(&stack, "alice", json!({"provider": "openai"})).await;

    assert_eq!(status, 404);
    assert!(body["error"].is_string());
}

#[tokio::test]
async fn validate_true_refuses_an_invalid_key_and_stores_nothing() {
    let server = fake_openai().await;
    let stack = stack_with(&server).await;

    let (status, body) = store(
        &stack,
        "alice",
        json!({"provider": "openai", "apiKey": BAD_KEY, "validate": true}),
    )
    .await;

    assert_eq!(status, 422);
    assert_eq!(body["test"]["status"], "invalid");
    assert!(body["requestId"].is_string());
    assert!(!body.to_string().contains(BAD_KEY));
    assert!(stack.item("alice#openai").await.is_none(), "nothing stored");
}

#[tokio::test]
async fn validate_true_stores_a_valid_key_with_its_test_result() {
    let server = fake_openai().await;
    let stack = stack_with(&server).await;

    let (status, body) = store(
        &stack,
        "alice",
        json!({"provider": "openai", "apiKey": GOOD_KEY, "validate": true}),
    )
    .await;

    assert_eq!(status, 201);
    assert_eq!(body["config"]["lastValidationStatus"], "valid");
    let item = stack.item("alice#openai").await.unwrap();
    assert_eq!(
        item["lastValidationStatus"],
        AttributeValue::S("valid".into())
    );
}

#[tokio::test]
async fn fifty_concurrent_tests_by_one_user_allow_exactly_ten() {
    let server = fake_openai().await;
    let stack = stack_with(&server).await;

    let calls = (0..50).map(|_| {
        test_key(
            &stack,
            "alice",
            json!({"provider": "openai", "apiKey": GOOD_KEY}),
        )
    });
    let answers = futures::future::join_all(calls).await;

    let allowed = answers.iter().filter(|(s, _, _)| *s == 200).count();
    let limited: Vec<_> = answers.iter().filter(|(s, _, _)| *s == 429).collect();
    assert_eq!(allowed, 10);
    assert_eq!(limited.len(), 40);
    for (_, headers, body) in limited {
        let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&wait));
        assert!(body["error"].is_string());
    }
    // Another user has an allowance of their own.
    let (status, _, _) = test_key(
        &stack,
        "bob",
        json!({"provider": "openai", "apiKey": GOOD_KEY}),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn stored_and_given_key_tests_share_one_allowance() {
    let server = fake_openai().await;
    let stack = stack_with(&server).await;
    store(
        &stack,
        "alice",
        json!({"provider": "openai", "apiKey": GOOD_KEY}),
    )
    .await;

    for i in 0..10 {
        let body = if i % 2 == 0 {
            json!({"provider": "openai"})
        } else {
            json!({"provider": "openai", "apiKey": GOOD_KEY})
        };
        assert_eq!(test_key(&stack, "alice", body).await.0, 200, "test {i}");
    }

    assert_eq!(
        test_key(&stack, "alice", json!({"provider": "openai"}))
            .await
            .0,
        429
    );
}

#[tokio::test]
async fn rate_limit_counters_stay_out_of_the_users_list() {
    let server = fake_openai().await;
    let stack = stack_with(&server).await;
    test_key(
        &stack,
        "alice",
        json!({"provider": "openai", "apiKey": GOOD_KEY}),
    )
    .await;

    let event = event_for("get-configs.json", Some("alice"));
    let (status, _, body) =
        parts(apikeys::api::get_configs::handle(&stack.state, request(&event)).await);

    assert_eq!(status, 200);
    assert_eq!(body["configs"], json!([]));
}

#[tokio::test]
async fn test_key_events_answer_as_documented() {
    let server = fake_openai().await;
    let stack = stack_with(&server).await;
    let handle = |name: &'static str| {
        let event = apikeys_integration_tests::event_json(name);
        let sealing = &stack.sealing;
        async move { parts(apikeys::api::test_key::handle(sealing, request(&event)).await) }
    };

    assert_eq!(handle("test-key-no-identity.json").await.0, 401);
    let (status, _, body) = handle("test-key-unknown-provider.json").await;
    assert_eq!(status, 400);
    assert_eq!(body["details"][0]["field"], "provider");
    let (status, _, body) = handle("test-key.json").await;
    assert_eq!(status, 200);
    assert_eq!(
        body["status"], "invalid",
        "the event's example key is refused by the fake"
    );
}

#[tokio::test]
async fn several_keys_each_key_is_testable_by_its_id_and_its_status_is_its_own() {
    let server = fake_openai().await;
    let stack = stack_with(&server).await;
    let user = apikeys_integration_tests::unique("tester");
    store(
        &stack,
        &user,
        json!({"provider": "openai", "apiKey": GOOD_KEY}),
    )
    .await;
    let (status, _, added) =
        super::keys::add_key_as(&stack, &user, "openai", json!({"apiKey": BAD_KEY})).await;
    assert_eq!(status, 201, "{added}");
    let bad_id = added["key"]["id"].as_str().unwrap().to_owned();

    // The other key, by its id: invalid, and recorded on that key only
    let (status, _, body) = test_key(
        &stack,
        &user,
        json!({"provider": "openai", "keyId": bad_id}),
    )
    .await;
    assert_eq!(
        (status, body["status"].clone()),
        (200, json!("invalid")),
        "{body}"
    );
    let item = stack
        .item_at(&format!("{user}#openai"), &format!("key#{bad_id}"))
        .await
        .unwrap();
    assert_eq!(
        item.get("lastValidationStatus"),
        Some(&AttributeValue::S("invalid".into()))
    );
    assert!(!stack
        .item(&format!("{user}#openai"))
        .await
        .unwrap()
        .contains_key("lastValidationStatus"));
    // The primary without an id: valid
    let (_, _, body) = test_key(&stack, &user, json!({"provider": "openai"})).await;
    assert_eq!(body["status"], "valid", "{body}");

    // Another user's id is a 404; a keyId beside apiKey is a 400 naming it
    let (status, _, _) = test_key(
        &stack,
        &apikeys_integration_tests::unique("other"),
        json!({"provider": "openai", "keyId": bad_id}),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _, body) = test_key(
        &stack,
        &user,
        json!({"provider": "openai", "keyId": bad_id, "apiKey": GOOD_KEY}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["details"][0]["field"], "keyId");
}
