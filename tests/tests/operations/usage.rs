//! use-key, the function the app's servers invoke: driven through its real payloads
//! (the `cargo lambda invoke` files in `events/`), against the emulator.

use apikeys::invoke::handle;
use apikeys::provider::ProviderId;
use apikeys::usage::{use_key, UsedKey};
use apikeys_integration_tests::{event_for, event_json, parts, request, set_body, Stack};
use aws_sdk_dynamodb::types::AttributeValue;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

const KEY: &str = "sk-proj-UsageCounter0123456789abcdefghijklmn";
const OTHER_KEY: &str = "sk-proj-UsageReplaced0123456789abcdefghijklm";

/// Stores `body` for `user` through the store handler: (status, answer).
async fn store_body(stack: &Stack, user: &str, body: Value) -> (u16, Value) {
    let mut event = event_for("store.json", Some(user));
    set_body(&mut event, &body);
    let (status, _, body) =
        parts(apikeys::api::store::handle(&stack.sealing, request(&event)).await);
    (status, body)
}

/// Stores `key` for `user`; the configuration's id.
async fn store(stack: &Stack, user: &str, key: &str) -> String {
    let body = json!({"provider": "openai", "apiKey": key, "settings": {"model": "gpt-4o-mini"}});
    let (status, body) = store_body(stack, user, body).await;
    assert!(status == 201 || status == 200, "{status} {body}");
    body["config"]["id"].as_str().unwrap().to_owned()
}

/// A payload of `events/` for `user` (and `key_id`, where it names one).
fn payload(name: &str, user: &str, key_id: Option<&str>) -> Value {
    let mut payload = event_json(name);
    payload["userId"] = json!(user);
    if let Some(id) = key_id {
        payload["keyId"] = json!(id);
    }
    payload
}

async fn invoke(stack: &Stack, payload: &Value) -> Value {
    handle(&stack.sealing, payload, "req-use-key-test").await
}

async fn usage_count(stack: &Stack, user: &str) -> Option<String> {
    match stack
        .item(&format!("{user}#openai"))
        .await?
        .get("usageCount")
    {
        Some(AttributeValue::N(n)) => Some(n.clone()),
        _ => None,
    }
}

#[tokio::test]
async fn a_stored_key_is_handed_out_with_its_id_hint_and_settings_and_the_use_counted() {
    let stack = Stack::new().await;
    let user = apikeys_integration_tests::unique("use");
    let id = store(&stack, &user, KEY).await;

    let answer = invoke(&stack, &payload("use-key.json", &user, None)).await;

    assert_eq!(answer["found"], true, "{answer}");
    assert_eq!(answer["apiKey"], KEY);
    assert_eq!(answer["keyId"], id.as_str());
    assert_eq!(answer["provider"], "openai");
    assert_eq!(answer["settings"], json!({"model": "gpt-4o-mini"}));
    let hint = answer["keyHint"].as_str().unwrap();
    assert!(
        hint.ends_with("klmn") && !hint.contains("UsageCounter"),
        "{hint}"
    );
    assert_eq!(usage_count(&stack, &user).await.as_deref(), Some("1"));

    // By id: the same key, counted again.
    let by_id = invoke(&stack, &payload("use-key-by-id.json", &user, Some(&id))).await;
    assert_eq!(by_id["apiKey"], KEY, "{by_id}");
    assert_eq!(usage_count(&stack, &user).await.as_deref(), Some("2"));
}

#[tokio::test]
async fn no_key_none_of_that_id_and_a_deleted_one_are_told_apart_and_count_nothing() {
    let stack = Stack::new().await;
    let user = apikeys_integration_tests::unique("use");

    let none = invoke(&stack, &payload("use-key.json", &user, None)).await;
    assert_eq!(none, json!({"found": false, "reason": "none"}));

    store(&stack, &user, KEY).await;
    let other_id = invoke(
        &stack,
        &payload(
            "use-key-by-id.json",
            &user,
            Some("00000000-0000-4000-8000-00000000dead"),
        ),
    )
    .await;
    assert_eq!(other_id, json!({"found": false, "reason": "none"}));
    // Another user's name never reaches this user's key.
    let stranger = invoke(
        &stack,
        &payload("use-key.json", "someone-else-entirely", None),
    )
    .await;
    assert_eq!(stranger["found"], false);
    assert_eq!(usage_count(&stack, &user).await.as_deref(), Some("0"));

    let delete = event_for("delete-config.json", Some(&user));
    let (status, _, _) =
        parts(apikeys::api::delete_config::handle(&stack.state, request(&delete)).await);
    assert_eq!(status, 204);
    let deleted = invoke(&stack, &payload("use-key.json", &user, None)).await;
    assert_eq!(deleted, json!({"found": false, "reason": "inactive"}));
}

#[tokio::test]
async fn a_payload_through_api_gateway_is_refused_and_writes_nothing() {
    let stack = Stack::new().await;
    let user = apikeys_integration_tests::unique("use");
    store(&stack, &user, KEY).await;
    // The gateway event carries a body naming a user: it must never be read.
    let mut event = event_json("use-key-through-gateway.json");
    event["body"] = json!(json!({"userId": user, "provider": "openai"}).to_string());

    let answer = invoke(&stack, &event).await;

    assert_eq!(answer["error"]["field"], "requestContext", "{answer}");
    assert!(answer.get("apiKey").is_none());
    assert_eq!(usage_count(&stack, &user).await.as_deref(), Some("0"));
}

#[tokio::test]
async fn bad_input_names_the_field_and_never_echoes_a_value() {
    let stack = Stack::new().await;
    for (payload, field) in [
        (json!({"provider": "openai"}), "userId"),
        (json!({"userId": "u", "provider": KEY}), "provider"),
        (
            json!({"userId": "u", "provider": "openai", "keyId": KEY.repeat(2)}),
            "keyId",
        ),
        (
            json!({"userId": "u", "provider": "openai", "apiKey": KEY}),
            "apiKey",
        ),
        (
            json!({"userId": "u", "provider": "openai", "outcome": "invalid"}),
            "keyId",
        ),
    ] {
        let answer = invoke(&stack, &payload).await;
        assert_eq!(answer["error"]["field"], field, "{answer}");
        assert!(!answer.to_string().contains(KEY), "{answer}");
    }
}

#[tokio::test]
async fn a_rate_limited_key_is_skipped_until_its_wait_is_over() {
    let stack = Stack::new().await;
    let user = apikeys_integration_tests::unique("use");
    let id = store(&stack, &user, KEY).await;
    let mut report = payload("use-key-report-rate-limited.json", &user, Some(&id));
    report["retryAfterSeconds"] = json!(2);
    let before = OffsetDateTime::now_utc();

    assert_eq!(invoke(&stack, &report).await, json!({"recorded": true}));

    let refused = invoke(&stack, &payload("use-key.json", &user, None)).await;
    assert_eq!(refused["found"], false, "{refused}");
    assert_eq!(refused["reason"], "all_unavailable");
    assert_eq!(refused["unavailable"], "rate_limited");
    let at = OffsetDateTime::parse(refused["availableAt"].as_str().unwrap(), &Rfc3339).unwrap();
    let wait = (at - before).as_seconds_f64();
    assert!((1.5..3.5).contains(&wait), "available after {wait} s");
    assert_eq!(usage_count(&stack, &user).await.as_deref(), Some("0"));

    tokio::time::sleep(std::time::Duration::from_millis(2_200)).await;
    let back = invoke(&stack, &payload("use-key.json", &user, None)).await;
    assert_eq!(back["apiKey"], KEY, "{back}");
}

#[tokio::test]
async fn an_invalid_key_stays_unused_until_it_is_replaced_or_tested_again() {
    let stack = Stack::new().await;
    let user = apikeys_integration_tests::unique("use");
    let id = store(&stack, &user, KEY).await;
    let mut report = payload("use-key-report-rate-limited.json", &user, Some(&id));
    report["outcome"] = json!("invalid");
    report.as_object_mut().unwrap().remove("retryAfterSeconds");

    assert_eq!(invoke(&stack, &report).await, json!({"recorded": true}));
    let refused = invoke(&stack, &payload("use-key.json", &user, None)).await;
    assert_eq!(refused["reason"], "all_unavailable", "{refused}");
    assert_eq!(refused["unavailable"], "invalid");
    assert_eq!(refused["availableAt"], Value::Null);
    // What the provider said is the key's last known status.
    let item = stack.item(&format!("{user}#openai")).await.unwrap();
    assert_eq!(
        item["lastValidationStatus"],
        AttributeValue::S("invalid".into())
    );

    // A report for another id records nothing.
    report["keyId"] = json!("00000000-0000-4000-8000-00000000dead");
    assert_eq!(
        invoke(&stack, &report).await,
        json!({"recorded": false, "reason": "none"})
    );

    // Replacing the key makes it usable again.
    store(&stack, &user, OTHER_KEY).await;
    let back = invoke(&stack, &payload("use-key.json", &user, None)).await;
    assert_eq!(back["apiKey"], OTHER_KEY, "{back}");

    // So does a test that finds it valid.
    report["keyId"] = json!(id);
    report["outcome"] = json!("quota_exceeded");
    assert_eq!(invoke(&stack, &report).await, json!({"recorded": true}));
    let envelope = match stack
        .item(&format!("{user}#openai"))
        .await
        .unwrap()
        .get("apiKey")
    {
        Some(AttributeValue::S(e)) => e.clone(),
        other => panic!("{other:?}"),
    };
    let now = apikeys::domain::timestamp(OffsetDateTime::now_utc());
    assert!(stack
        .state
        .repo
        .record_validation(
            &user,
            ProviderId::OpenAi,
            "primary",
            &envelope,
            &now,
            "valid"
        )
        .await
        .unwrap());
    let tested = invoke(&stack, &payload("use-key.json", &user, None)).await;
    assert_eq!(tested["found"], true, "{tested}");
}

#[tokio::test]
async fn fifty_concurrent_uses_are_each_counted_once() {
    let stack = Stack::new().await;
    let user = apikeys_integration_tests::unique("use");
    store(&stack, &user, KEY).await;
    let payload = payload("use-key.json", &user, None);

    let answers = futures::future::join_all((0..50).map(|_| invoke(&stack, &payload))).await;

    assert!(answers.iter().all(|a| a["apiKey"] == KEY), "{answers:?}");
    assert_eq!(usage_count(&stack, &user).await.as_deref(), Some("50"));
    let item = stack.item(&format!("{user}#openai")).await.unwrap();
    assert!(item.contains_key("lastUsedAt"));
    // The library function the handler wraps answers the same.
    assert!(matches!(
        use_key(&stack.sealing, &user, ProviderId::OpenAi, None).await.unwrap(),
        UsedKey::Active { key, .. } if key.expose_secret() == KEY
    ));
}

/// Stores `KEY` with `expires_at` (absent when `None`); the answer.
async fn store_expiring(stack: &Stack, user: &str, expires_at: Option<&str>) -> (u16, Value) {
    let mut body = json!({"provider": "openai", "apiKey": KEY});
    if let Some(at) = expires_at {
        body["expiresAt"] = json!(at);
    }
    store_body(stack, user, body).await
}

#[tokio::test]
async fn an_expired_key_is_never_handed_out_and_never_is_a_valid_expiry_again() {
    let stack = Stack::new().await;
    let user = apikeys_integration_tests::unique("use");
    let soon = OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let soon_text = soon.format(&Rfc3339).unwrap();

    // A time in the past is refused, naming the field, and stores nothing.
    let (status, body) = store_expiring(&stack, &user, Some("2020-01-01T00:00:00Z")).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["details"][0]["field"], "expiresAt", "{body}");
    assert!(stack.item(&format!("{user}#openai")).await.is_none());

    // Before its expiry the key is handed out, and the list shows when it expires.
    let (status, body) = store_expiring(&stack, &user, Some(&soon_text)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["config"]["expired"], false);
    assert!(body["config"]["expiresAt"].is_string(), "{body}");
    let used = invoke(&stack, &payload("use-key.json", &user, None)).await;
    assert_eq!(used["apiKey"], KEY, "{used}");

    // After it, never, by id or not; the list says expired; a settings update keeps it so.
    tokio::time::sleep(std::time::Duration::from_millis(2_300)).await;
    let id = used["keyId"].as_str().unwrap();
    for p in [
        payload("use-key.json", &user, None),
        payload("use-key-by-id.json", &user, Some(id)),
    ] {
        assert_eq!(
            invoke(&stack, &p).await,
            json!({"found": false, "reason": "expired"})
        );
    }
    let mut update = event_for("update-settings.json", Some(&user));
    set_body(
        &mut update,
        &json!({"provider": "openai", "settings": {"model": "gpt-4o"}}),
    );
    let (status, _, updated) =
        parts(apikeys::api::update_settings::handle(&stack.state, request(&update)).await);
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["config"]["expired"], true, "{updated}");
    let list = event_for("get-configs.json", Some(&user));
    let (_, _, listed) =
        parts(apikeys::api::get_configs::handle(&stack.state, request(&list)).await);
    assert_eq!(listed["configs"][0]["expired"], true, "{listed}");
    assert_eq!(usage_count(&stack, &user).await.as_deref(), Some("1"));

    // Storing the key again without an expiry sets it back to never.
    let (status, body) = store_expiring(&stack, &user, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["config"]["expiresAt"], Value::Null, "{body}");
    assert_eq!(body["config"]["expired"], false);
    let back = invoke(&stack, &payload("use-key.json", &user, None)).await;
    assert_eq!(back["apiKey"], KEY, "{back}");
}

#[tokio::test]
async fn a_key_without_expiry_written_as_null_by_a_settings_update_is_handed_out() {
    let stack = Stack::new().await;
    let user = apikeys_integration_tests::unique("use");
    store(&stack, &user, KEY).await;
    let mut update = event_for("update-settings.json", Some(&user));
    set_body(
        &mut update,
        &json!({"provider": "openai", "settings": {"model": "gpt-4o"}}),
    );
    let (status, _, _) =
        parts(apikeys::api::update_settings::handle(&stack.state, request(&update)).await);
    assert_eq!(status, 200);

    let used = invoke(&stack, &payload("use-key.json", &user, None)).await;
    assert_eq!(used["apiKey"], KEY, "{used}");
}

/// Adds another OpenAI key for `user` through POST /api/provider-configs/openai/keys;
/// its id.
async fn add_key(stack: &Stack, user: &str, key: &str, priority: u32) -> String {
    let mut event = event_for("store.json", Some(user));
    event["rawPath"] = json!("/api/provider-configs/openai/keys");
    event["requestContext"]["http"]["path"] = event["rawPath"].clone();
    event["pathParameters"] = json!({"provider": "openai"});
    set_body(&mut event, &json!({"apiKey": key, "priority": priority}));
    let (status, _, body) =
        parts(apikeys::api::store::handle(&stack.sealing, request(&event)).await);
    assert_eq!(status, 201, "{body}");
    body["key"]["id"].as_str().unwrap().to_owned()
}

async fn extra_usage(stack: &Stack, user: &str, id: &str) -> Option<String> {
    match stack
        .item_at(&format!("{user}#openai"), &format!("key#{id}"))
        .await?
        .get("usageCount")
    {
        Some(AttributeValue::N(n)) => Some(n.clone()),
        _ => None,
    }
}

#[tokio::test]
async fn several_keys_a_rate_limited_primary_falls_back_to_the_next_key_and_comes_back() {
    const THIRD: &str = "sk-proj-UsageThirdKey0123456789abcdefghijklmn";
    let stack = Stack::new().await;
    let user = apikeys_integration_tests::unique("use");
    let primary = store(&stack, &user, KEY).await;
    let later = add_key(&stack, &user, THIRD, 5).await;
    let next = add_key(&stack, &user, OTHER_KEY, 1).await;

    // The primary is rate limited for 2 s
    let mut report = payload("use-key-report-rate-limited.json", &user, Some(&primary));
    report["retryAfterSeconds"] = json!(2);
    assert_eq!(invoke(&stack, &report).await, json!({"recorded": true}));

    // Then use-key hands out the next key by priority, with the provider's settings
    let used = invoke(&stack, &payload("use-key.json", &user, None)).await;
    assert_eq!(used["found"], true, "{used}");
    assert_eq!(used["apiKey"], OTHER_KEY);
    assert_eq!(used["keyId"], next.as_str());
    assert_eq!(used["settings"], json!({"model": "gpt-4o-mini"}));
    assert_eq!(
        extra_usage(&stack, &user, &next).await.as_deref(),
        Some("1")
    );
    assert_eq!(usage_count(&stack, &user).await.as_deref(), Some("0"));

    // And by its id too (the primary's refusal carries the settings)
    let by_id = invoke(&stack, &payload("use-key-by-id.json", &user, Some(&next))).await;
    assert_eq!(
        (by_id["apiKey"].clone(), by_id["settings"]["model"].clone()),
        (json!(OTHER_KEY), json!("gpt-4o-mini"))
    );
    assert_eq!(
        extra_usage(&stack, &user, &next).await.as_deref(),
        Some("2")
    );

    // When the next key is reported invalid and the last one has expired, nothing is
    // usable: the answer names the soonest, the primary's wait
    let mut invalid = payload("use-key-report-rate-limited.json", &user, Some(&next));
    invalid["outcome"] = json!("invalid");
    invalid.as_object_mut().unwrap().remove("retryAfterSeconds");
    assert_eq!(invoke(&stack, &invalid).await, json!({"recorded": true}));
    stack
        .dynamodb
        .update_item()
        .table_name(&stack.table)
        .key("pk", AttributeValue::S(format!("{user}#openai")))
        .key("sk", AttributeValue::S(format!("key#{later}")))
        .update_expression("SET keyExpiresAt = :past")
        .expression_attribute_values(
            ":past",
            AttributeValue::S("2020-01-01T00:00:00.000Z".into()),
        )
        .send()
        .await
        .unwrap();
    let none = invoke(&stack, &payload("use-key.json", &user, None)).await;
    assert_eq!(none["found"], false, "{none}");
    assert_eq!(none["reason"], "all_unavailable");
    assert_eq!(none["unavailable"], "rate_limited");
    assert!(none["availableAt"].is_string(), "{none}");
    // The expired key is never handed out, not even by id
    let expired = invoke(&stack, &payload("use-key-by-id.json", &user, Some(&later))).await;
    assert_eq!(
        (expired["found"].clone(), expired["reason"].clone()),
        (json!(false), json!("expired"))
    );

    // And once the wait is over the primary comes back
    tokio::time::sleep(std::time::Duration::from_millis(2_300)).await;
    let back = invoke(&stack, &payload("use-key.json", &user, None)).await;
    assert_eq!(back["apiKey"], KEY, "{back}");
    assert_eq!(back["keyId"], primary.as_str());
    assert_eq!(usage_count(&stack, &user).await.as_deref(), Some("1"));
}
