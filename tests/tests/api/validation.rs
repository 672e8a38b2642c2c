//! Bad input: each case gets its exact status and names the offending field, the
//! error body carries the request id, and a refused store leaves the stored config
//! exactly as it was.

use apikeys::api::{delete_config, store, test_key, update_settings};
use apikeys_integration_tests::{event_for, parts, request, request_id_of, set_body, Item, Stack};
use serde_json::{json, Value};

use super::{detail_fields, openai, pk, store_as, KEY, OTHER_KEY};

const ALICE: &str = "alice";

/// A store event of alice's with `body` as its raw text.
fn store_event_with_raw_body(body: &str) -> Value {
    let mut event = event_for("store.json", Some(ALICE));
    event["body"] = Value::String(body.to_owned());
    event
}

/// A store event of alice's with `body` serialized.
fn store_event(body: Value) -> Value {
    let mut event = event_for("store.json", Some(ALICE));
    set_body(&mut event, &body);
    event
}

/// A stack where alice has stored her OpenAI key, and that item as stored.
async fn stack_with_stored_key() -> (Stack, Item) {
    let stack = Stack::new().await;
    assert_eq!(store_as(&stack, ALICE, openai(KEY)).await.0, 201);
    let item = stack.item(&pk(ALICE, "openai")).await.expect("stored item");
    (stack, item)
}

/// The checks every refusal shares: the status, the fields named in `details`, and
/// an `error` with the event's request id.
fn assert_refused(answer: (u16, Value), event: &Value, status: u16, fields: &[&str]) {
    let (got, body) = answer;
    assert_eq!(got, status, "{body}");
    assert_eq!(detail_fields(&body), fields, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    assert_eq!(
        body["requestId"].as_str(),
        Some(request_id_of(event).as_str())
    );
}

/// Given alice's stored key, when `event` is posted to store, then it is refused
/// with `status` naming `fields`, and her stored config is untouched.
async fn assert_store_refused(event: Value, status: u16, fields: &[&str]) {
    let (stack, before) = stack_with_stored_key().await;

    let (got, _, body) = parts(store::handle(&stack.sealing, request(&event)).await);

    assert_refused((got, body), &event, status, fields);
    assert_eq!(
        stack.item(&pk(ALICE, "openai")).await.as_ref(),
        Some(&before),
        "a refused store changed the stored config"
    );
}

#[tokio::test]
async fn store_without_provider_is_refused() {
    assert_store_refused(
        store_event(json!({"apiKey": OTHER_KEY})),
        400,
        &["provider"],
    )
    .await;
}

#[tokio::test]
async fn store_with_a_provider_that_is_not_a_string_is_refused() {
    let body = json!({"provider": 7, "apiKey": OTHER_KEY});
    assert_store_refused(store_event(body), 400, &["provider"]).await;
}

#[tokio::test]
async fn store_for_an_unknown_provider_is_refused() {
    let event = event_for("store-unknown-provider.json", Some(ALICE));
    assert_store_refused(event, 400, &["provider"]).await;
}

#[tokio::test]
async fn store_without_api_key_is_refused() {
    let body = json!({"provider": "openai", "settings": {"model": "gpt-4o"}});
    assert_store_refused(store_event(body), 400, &["apiKey"]).await;
}

#[tokio::test]
async fn store_with_a_key_of_nine_characters_after_trimming_is_refused() {
    let body = json!({"provider": "openai", "apiKey": "   sk-abcdef \n\t "});
    assert_store_refused(store_event(body), 400, &["apiKey"]).await;
}

#[tokio::test]
async fn store_with_a_key_of_501_characters_is_refused() {
    let body = json!({"provider": "openai", "apiKey": format!("sk-{}", "a".repeat(498))});
    assert_store_refused(store_event(body), 400, &["apiKey"]).await;
}

#[tokio::test]
async fn store_with_a_control_character_in_the_key_is_refused() {
    let body = json!({"provider": "openai", "apiKey": "sk-proj-abc\u{7}defghijklmnop"});
    assert_store_refused(store_event(body), 400, &["apiKey"]).await;
}

#[tokio::test]
async fn store_with_a_key_that_is_not_a_string_is_refused() {
    let body = json!({"provider": "openai", "apiKey": ["sk-proj-abcdefghijklmnop"]});
    assert_store_refused(store_event(body), 400, &["apiKey"]).await;
}

#[tokio::test]
async fn store_with_settings_that_are_an_array_is_refused() {
    let body = json!({"provider": "openai", "apiKey": OTHER_KEY, "settings": ["gpt-4o"]});
    assert_store_refused(store_event(body), 400, &["settings"]).await;
}

#[tokio::test]
async fn store_with_settings_over_4096_bytes_is_refused() {
    let body = json!({"provider": "openai", "apiKey": OTHER_KEY, "settings": {"prompt": "x".repeat(4100)}});
    assert_store_refused(store_event(body), 400, &["settings"]).await;
}

#[tokio::test]
async fn store_with_settings_nested_nine_deep_is_refused() {
    let mut settings = json!(1);
    for _ in 0..9 {
        settings = json!({ "n": settings });
    }
    let body = json!({"provider": "openai", "apiKey": OTHER_KEY, "settings": settings});
    assert_store_refused(store_event(body), 400, &["settings"]).await;
}

#[tokio::test]
async fn store_with_validate_that_is_not_a_boolean_is_refused() {
    let body = json!({"provider": "openai", "apiKey": OTHER_KEY, "validate": "yes"});
    assert_store_refused(store_event(body), 400, &["validate"]).await;
}

#[tokio::test]
async fn store_with_a_body_that_is_a_json_array_is_refused() {
    let body = json!([{"provider": "openai", "apiKey": OTHER_KEY}]);
    assert_store_refused(store_event(body), 400, &["body"]).await;
}

#[tokio::test]
async fn store_with_an_empty_body_is_refused() {
    assert_store_refused(store_event_with_raw_body(""), 400, &["body"]).await;
}

#[tokio::test]
async fn store_with_malformed_json_is_refused_without_details() {
    // Given alice's stored key
    let (stack, before) = stack_with_stored_key().await;
    let event = event_for("store-malformed.json", Some(ALICE));

    // When a body that is not JSON is posted
    let (status, _, body) = parts(store::handle(&stack.sealing, request(&event)).await);

    // Then 400 says so, with no field details, and nothing changed
    assert_refused((status, body.clone()), &event, 400, &[]);
    assert!(body["error"].as_str().unwrap().contains("JSON"), "{body}");
    assert!(body.get("details").is_none(), "{body}");
    assert_eq!(stack.item(&pk(ALICE, "openai")).await, Some(before));
}

#[tokio::test]
async fn store_with_a_body_over_16_kib_is_refused_as_too_large() {
    let body = json!({"provider": "openai", "apiKey": OTHER_KEY, "settings": {"pad": "x".repeat(16 * 1024)}});
    assert_store_refused(store_event(body), 413, &[]).await;
}

#[tokio::test]
async fn store_names_every_invalid_field_at_once() {
    let event = event_for("store-invalid-fields.json", Some(ALICE));
    assert_store_refused(event, 400, &["apiKey", "settings", "validate"]).await;
}

#[tokio::test]
async fn store_without_a_content_type_header_is_accepted() {
    // Given an empty table and an event with no content-type header
    let stack = Stack::new().await;
    let event = event_for("store-no-content-type.json", Some(ALICE));
    assert!(event["headers"].get("content-type").is_none());

    // When it is posted
    let (status, _, body) = parts(store::handle(&stack.sealing, request(&event)).await);

    // Then the key is stored
    assert_eq!(status, 201, "{body}");
    assert!(stack.item(&pk(ALICE, "openai")).await.is_some());
}

#[tokio::test]
async fn update_without_settings_is_refused() {
    // Given alice's stored key
    let (stack, before) = stack_with_stored_key().await;
    let mut event = event_for("update-settings.json", Some(ALICE));
    set_body(&mut event, &json!({"provider": "openai"}));

    // When she sends an update with no settings
    let (status, _, body) = parts(update_settings::handle(&stack.state, request(&event)).await);

    // Then it is refused naming settings, and nothing changed
    assert_refused((status, body), &event, 400, &["settings"]);
    assert_eq!(stack.item(&pk(ALICE, "openai")).await, Some(before));
}

#[tokio::test]
async fn update_for_an_unknown_provider_is_refused() {
    // Given alice's stored key
    let (stack, _) = stack_with_stored_key().await;
    let event = event_for("update-settings-unknown-provider.json", Some(ALICE));

    // When she updates the settings of an unknown provider
    let (status, _, body) = parts(update_settings::handle(&stack.state, request(&event)).await);

    // Then it is refused naming the provider
    assert_refused((status, body), &event, 400, &["provider"]);
}

#[tokio::test]
async fn delete_of_an_unknown_provider_is_refused() {
    // Given alice's stored key
    let (stack, before) = stack_with_stored_key().await;
    let event = event_for("delete-config-unknown-provider.json", Some(ALICE));

    // When she deletes an unknown provider's config
    let (status, _, body) = parts(delete_config::handle(&stack.state, request(&event)).await);

    // Then it is refused naming the provider, and nothing changed
    assert_refused((status, body), &event, 400, &["provider"]);
    assert_eq!(stack.item(&pk(ALICE, "openai")).await, Some(before));
}

// ------------------------------------------------ what a key and a number may be

/// Keys with something inside that no provider issues, and what it is.
const KEYS_NO_PROVIDER_ISSUES: [(&str, &str); 9] = [
    ("twenty emoji", "🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑"),
    (
        "a zero-width space",
        "sk-proj-REPLACEMENT\u{200B}key0123456789abcdefghij1111",
    ),
    (
        "a byte-order mark",
        "\u{FEFF}sk-proj-REPLACEMENTkey0123456789abcdefghij1111",
    ),
    (
        "a right-to-left override",
        "sk-proj-REPLACEMENT\u{202E}key0123456789abcdefghij1111",
    ),
    (
        "a left-to-right isolate",
        "sk-proj-REPLACEMENT\u{2066}key0123456789abcdefghij1111\u{2069}",
    ),
    (
        "a no-break space",
        "sk-proj-REPLACEMENTkey0123456789abcdefghij1111\u{A0}",
    ),
    (
        "an inner space",
        "sk-proj-REPLACEMENT key0123456789abcdefghij1111",
    ),
    (
        "an inner tab",
        "sk-proj-REPLACEMENT\tkey0123456789abcdefghij1111",
    ),
    (
        "a full-width letter",
        "sk-proj-REPLACEMENT\u{FF4B}ey0123456789abcdefghij1111",
    ),
];

/// The part of the keys above that must never come back in an answer.
const KEY_BODY: &str = "0123456789abcdefghij1111";

#[tokio::test]
async fn store_of_a_key_that_is_not_printable_ascii_is_refused() {
    for (what, key) in KEYS_NO_PROVIDER_ISSUES {
        // Given alice's stored key, when she stores a key holding `what`
        let event = store_event(json!({"provider": "openai", "apiKey": key}));
        let (stack, before) = stack_with_stored_key().await;
        let (status, _, body) = parts(store::handle(&stack.sealing, request(&event)).await);

        // Then 400 names apiKey without quoting the key, and nothing changed
        assert_refused((status, body.clone()), &event, 400, &["apiKey"]);
        assert!(!body.to_string().contains(KEY_BODY), "{what}: {body}");
        assert_eq!(
            stack.item(&pk(ALICE, "openai")).await.as_ref(),
            Some(&before),
            "{what}: a refused store changed the stored config"
        );
    }
}

#[tokio::test]
async fn a_first_store_of_an_emoji_key_writes_nothing() {
    // Given an empty table
    let stack = Stack::new().await;
    let (_, emoji) = KEYS_NO_PROVIDER_ISSUES[0];
    let event = store_event(json!({"provider": "openai", "apiKey": emoji}));

    // When alice stores twenty emoji as her OpenAI key
    let (status, _, body) = parts(store::handle(&stack.sealing, request(&event)).await);

    // Then 400 names apiKey, and there is no item (so no hint of emoji either)
    assert_refused((status, body.clone()), &event, 400, &["apiKey"]);
    assert!(!body.to_string().contains('🔑'), "{body}");
    assert_eq!(stack.item(&pk(ALICE, "openai")).await, None);
}

#[tokio::test]
async fn a_key_test_of_a_key_that_is_not_printable_ascii_is_format_invalid() {
    // Given alice and no provider reachable at all
    let stack = Stack::new().await;
    for (what, key) in KEYS_NO_PROVIDER_ISSUES {
        let mut event = event_for("test-key.json", Some(ALICE));
        set_body(&mut event, &json!({"provider": "openai", "apiKey": key}));

        // When she tests a key holding `what`
        let (status, _, body) = parts(test_key::handle(&stack.sealing, request(&event)).await);

        // Then the answer says format_invalid without a call, and does not quote it
        assert_eq!(status, 200, "{what}: {body}");
        assert_eq!(body["status"], "format_invalid", "{what}: {body}");
        assert!(!body.to_string().contains(KEY_BODY), "{what}: {body}");
    }
}

/// Settings bodies with a number DynamoDB cannot store, written as raw JSON (a
/// `json!` value would already have rounded them), and the path each names.
const UNSTORABLE_SETTINGS: [(&str, &str); 7] = [
    (r#"{"t": 1e200}"#, "settings.t"),
    (r#"{"t": -1e-200}"#, "settings.t"),
    (r#"{"t": 1E+126}"#, "settings.t"),
    (r#"{"t": 1e-400}"#, "settings.t"),
    (
        r#"{"t": 1234567890123456789012345678901234567891}"#,
        "settings.t",
    ),
    (
        r#"{"model": "gpt-4o", "a": [0, 1, {"b": 1e126}]}"#,
        "settings.a[2].b",
    ),
    (
        r#"{"deep": {"er": [[0.1000000000000000000000000000000000000001]]}}"#,
        "settings.deep.er[0][0]",
    ),
];

/// A raw body `{"provider": "openai", <extra>, "settings": <settings>}`.
fn raw_body(extra: &str, settings: &str) -> String {
    format!(r#"{{"provider": "openai", {extra}"settings": {settings}}}"#)
}

#[tokio::test]
async fn store_with_a_settings_number_dynamodb_cannot_hold_is_refused_naming_its_path() {
    for (settings, path) in UNSTORABLE_SETTINGS {
        let body = raw_body(&format!(r#""apiKey": "{OTHER_KEY}", "#), settings);
        assert_store_refused(store_event_with_raw_body(&body), 400, &[path]).await;
    }
}

#[tokio::test]
async fn a_first_store_with_an_unstorable_number_writes_nothing() {
    // Given an empty table
    let stack = Stack::new().await;
    let body = raw_body(&format!(r#""apiKey": "{KEY}", "#), r#"{"t": 1e200}"#);
    let event = store_event_with_raw_body(&body);

    // When alice stores settings with 1e200
    let (status, _, answer) = parts(store::handle(&stack.sealing, request(&event)).await);

    // Then 400 names settings.t and nothing is stored
    assert_refused((status, answer), &event, 400, &["settings.t"]);
    assert_eq!(stack.item(&pk(ALICE, "openai")).await, None);
}

#[tokio::test]
async fn update_with_a_settings_number_dynamodb_cannot_hold_is_refused_naming_its_path() {
    let (stack, before) = stack_with_stored_key().await;
    for (settings, path) in UNSTORABLE_SETTINGS {
        // Given alice's stored key, when she updates her settings to `settings`
        let mut event = event_for("update-settings.json", Some(ALICE));
        event["body"] = Value::String(raw_body("", settings));
        let (status, _, body) = parts(update_settings::handle(&stack.state, request(&event)).await);

        // Then 400 names the path, and nothing changed
        assert_refused((status, body), &event, 400, &[path]);
        assert_eq!(
            stack.item(&pk(ALICE, "openai")).await.as_ref(),
            Some(&before),
            "{settings}: a refused update changed the stored config"
        );
    }
}

#[tokio::test]
async fn every_unstorable_number_is_named_at_once() {
    let (stack, before) = stack_with_stored_key().await;
    let mut event = event_for("update-settings.json", Some(ALICE));
    event["body"] = Value::String(raw_body(
        "",
        r#"{"a": 1e-131, "b": 2, "c": [-1234567890123456789012345678901234567890.5]}"#,
    ));

    let (status, _, body) = parts(update_settings::handle(&stack.state, request(&event)).await);

    assert_refused(
        (status, body),
        &event,
        400,
        &["settings.a", "settings.c[0]"],
    );
    assert_eq!(stack.item(&pk(ALICE, "openai")).await, Some(before));
}

#[tokio::test]
async fn settings_numbers_at_the_edges_of_what_dynamodb_holds_are_stored() {
    // Given an empty table
    let stack = Stack::new().await;
    let settings = r#"{"max": 9.99e125, "min": -1e-130, "digits": 12345678901234567890123456789012345678, "zero": 0.0e-999}"#;
    let body = raw_body(&format!(r#""apiKey": "{KEY}", "#), settings);
    let event = store_event_with_raw_body(&body);

    // When alice stores them
    let (status, _, answer) = parts(store::handle(&stack.sealing, request(&event)).await);

    // Then they are stored and answered as numbers
    assert_eq!(status, 201, "{answer}");
    let stored = &answer["config"]["settings"];
    assert_eq!(stored["max"].as_f64(), Some(9.99e125), "{answer}");
    assert_eq!(stored["min"].as_f64(), Some(-1e-130), "{answer}");
    assert!(stored["digits"].is_number(), "{answer}");
    assert_eq!(stored["zero"].as_f64(), Some(0.0), "{answer}");
}

#[tokio::test]
async fn a_function_answers_404_off_its_table_and_405_for_another_method_of_a_route() {
    let stack = Stack::new().await;
    // Given the store function's table (POST config, POST key, PUT key)
    let mut event = apikeys_integration_tests::event_for("store.json", Some("alice"));
    event["requestContext"]["http"]["method"] = json!("GET");
    let (status, _, body) = apikeys_integration_tests::parts(
        apikeys::api::store::handle(&stack.sealing, apikeys_integration_tests::request(&event))
            .await,
    );
    assert_eq!(status, 405, "{body}");
    assert!(body["requestId"].is_string(), "{body}");

    let mut event = apikeys_integration_tests::event_for("store.json", Some("alice"));
    event["rawPath"] = json!("/api/provider-configs/openai/other");
    event["requestContext"]["http"]["path"] = event["rawPath"].clone();
    let (status, _, body) = apikeys_integration_tests::parts(
        apikeys::api::store::handle(&stack.sealing, apikeys_integration_tests::request(&event))
            .await,
    );
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"], "No such route");
}
