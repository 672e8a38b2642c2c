//! A configuration's life: store, replace, list, update, delete, store again; the
//! concurrency and round-trip guarantees of those writes; rotation reminders.

use apikeys::domain::timestamp;
use apikeys::provider::ProviderId;
use apikeys::settings::ServiceSettings;
use apikeys::State;
use apikeys_integration_tests::{number, text, Stack};
use aws_sdk_dynamodb::types::AttributeValue;
use futures::future::join_all;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{
    delete_as, list_as, listed_providers, open_stored_as, openai, pk, store_as, update_as, KEY,
    OTHER_KEY,
};

const ALICE: &str = "alice";

fn store_with_settings() -> Value {
    json!({
        "provider": "openai",
        "apiKey": KEY,
        "settings": {"model": "gpt-4o-mini", "temperature": 0.7},
    })
}

fn new_settings() -> Value {
    json!({"model": "gpt-4o", "temperature": 0.2, "maxTokens": 2048})
}

/// Parses an RFC 3339 time of a body or item, failing the test when it is not one.
fn time_of(value: &str) -> OffsetDateTime {
    OffsetDateTime::parse(value, &Rfc3339).unwrap_or_else(|e| panic!("{value:?}: {e}"))
}

fn is_recent(value: &Value) -> bool {
    value.as_str().is_some_and(|t| {
        (OffsetDateTime::now_utc() - time_of(t))
            .whole_seconds()
            .abs()
            < 60
    })
}

#[tokio::test]
async fn first_store_answers_201_with_the_new_config() {
    // Given an empty table
    let stack = Stack::new().await;

    // When alice stores an OpenAI key with settings
    let (status, _, body) = store_as(&stack, ALICE, store_with_settings()).await;

    // Then she gets the new config, masked, with its settings and fresh counters
    assert_eq!(status, 201, "{body}");
    let config = &body["config"];
    assert!(
        config["id"].as_str().is_some_and(|id| !id.is_empty()),
        "{config}"
    );
    assert_eq!(config["provider"], "openai");
    assert_eq!(config["isActive"], true);
    assert_eq!(config["keyHint"], "sk-proj-…0000");
    assert_eq!(
        config["settings"],
        json!({"model": "gpt-4o-mini", "temperature": 0.7})
    );
    assert!(is_recent(&config["createdAt"]), "{config}");
    assert!(is_recent(&config["updatedAt"]), "{config}");
    assert_eq!(config["usageCount"], 0);
    assert_eq!(config["rotationDue"], false);
    assert_eq!(config.get("lastValidationStatus"), Some(&Value::Null));
}

#[tokio::test]
async fn first_store_keeps_the_key_sealed_for_its_owner() {
    // Given an empty table
    let stack = Stack::new().await;

    // When alice stores an OpenAI key
    assert_eq!(store_as(&stack, ALICE, store_with_settings()).await.0, 201);

    // Then the item holds an akv1 envelope that opens to her key, and version 1
    let item = stack
        .item(&pk(ALICE, "openai"))
        .await
        .expect("a stored item");
    assert_eq!(text(&item, "pk"), Some("alice#openai"));
    assert_eq!(text(&item, "userId"), Some(ALICE));
    assert_eq!(text(&item, "provider"), Some("openai"));
    let envelope = text(&item, "apiKey").expect("an apiKey");
    assert!(envelope.starts_with("akv1."), "{envelope}");
    assert!(!envelope.contains(KEY));
    assert_eq!(
        open_stored_as(&stack, ALICE, ALICE, "openai").await,
        Ok(KEY.to_owned())
    );
    assert_eq!(number(&item, "version"), Some(1));
}

#[tokio::test]
async fn storing_again_replaces_the_key_and_keeps_the_identity_of_the_config() {
    // Given alice's stored key
    let stack = Stack::new().await;
    let (_, _, first) = store_as(&stack, ALICE, store_with_settings()).await;

    // When she stores another key for the same provider
    let (status, _, body) = store_as(&stack, ALICE, openai(OTHER_KEY)).await;

    // Then it is a replacement: same id and creation time, new hint, new sealed key
    assert_eq!(status, 200, "{body}");
    let (before, after) = (&first["config"], &body["config"]);
    assert_eq!(after["id"], before["id"]);
    assert_eq!(after["createdAt"], before["createdAt"]);
    assert_eq!(after["keyHint"], "sk-proj-…1111");
    assert_eq!(
        after["settings"],
        json!({}),
        "a store replaces the settings"
    );
    let item = stack.item(&pk(ALICE, "openai")).await.unwrap();
    assert_eq!(number(&item, "version"), Some(2));
    assert_eq!(text(&item, "id"), before["id"].as_str());
    assert_eq!(
        open_stored_as(&stack, ALICE, ALICE, "openai").await,
        Ok(OTHER_KEY.to_owned())
    );
}

#[tokio::test]
async fn list_shows_the_config_but_never_the_key_or_its_ciphertext() {
    // Given alice's key stored and replaced
    let stack = Stack::new().await;
    store_as(&stack, ALICE, store_with_settings()).await;
    let (_, _, stored) = store_as(&stack, ALICE, openai(OTHER_KEY)).await;

    // When she lists her configs
    let (status, _, body) = list_as(&stack.state, ALICE).await;

    // Then she sees the one config as store returned it, with no trace of the key
    assert_eq!(status, 200, "{body}");
    let configs = body["configs"].as_array().expect("a configs array");
    assert_eq!(configs.len(), 1, "{body}");
    // Store's answer, plus the summary of the provider's keys (only the primary)
    let mut want = stored["config"].clone();
    want["keys"] = json!([{
        "id": stored["config"]["id"], "primary": true, "label": null,
        "keyHint": stored["config"]["keyHint"], "expired": false, "unavailable": null,
        "monthUsage": null,
    }]);
    assert_eq!(configs[0], want);
    assert!(configs[0].get("apiKey").is_none(), "{body}");
    let text = body.to_string();
    for secret in ["akv1.", KEY, OTHER_KEY] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

#[tokio::test]
async fn update_replaces_the_settings_and_keeps_the_key() {
    // Given alice's key stored and replaced
    let stack = Stack::new().await;
    store_as(&stack, ALICE, store_with_settings()).await;
    let (_, _, stored) = store_as(&stack, ALICE, openai(OTHER_KEY)).await;
    let sealed_before = stack.item(&pk(ALICE, "openai")).await.unwrap()["apiKey"].clone();

    // When she updates her settings
    let update = json!({"provider": "openai", "settings": new_settings()});
    let (status, _, body) = update_as(&stack.state, ALICE, update).await;

    // Then the config carries the new settings and the stored key is untouched
    assert_eq!(status, 200, "{body}");
    let config = &body["config"];
    assert_eq!(config["settings"], new_settings());
    assert_eq!(config["id"], stored["config"]["id"]);
    assert_eq!(config["keyHint"], "sk-proj-…1111");
    assert_eq!(config["isActive"], true);
    let item = stack.item(&pk(ALICE, "openai")).await.unwrap();
    assert_eq!(number(&item, "version"), Some(3));
    assert_eq!(item["apiKey"], sealed_before);
}

#[tokio::test]
async fn delete_removes_the_key_and_schedules_the_item_for_purging() {
    // Given alice's key stored and replaced
    let stack = Stack::new().await;
    assert_eq!(store_as(&stack, ALICE, store_with_settings()).await.0, 201);
    assert_eq!(store_as(&stack, ALICE, openai(OTHER_KEY)).await.0, 200);

    // When she deletes it
    let (status, headers, body) = delete_as(&stack.state, ALICE, "openai").await;

    // Then 204 with no body, and the item is inactive, keyless and due for purging
    assert_eq!(status, 204, "{body}");
    assert_eq!(body, Value::Null);
    assert!(headers.get("content-type").is_none());
    let item = stack.item(&pk(ALICE, "openai")).await.unwrap();
    assert_eq!(item.get("isActive"), Some(&AttributeValue::Bool(false)));
    assert!(!item.contains_key("apiKey"), "{item:?}");
    assert!(!item.contains_key("keyHint"), "{item:?}");
    assert!(text(&item, "deletedAt").is_some_and(|t| is_recent(&json!(t))));
    let in_30_days = OffsetDateTime::now_utc().unix_timestamp() + 30 * 86_400;
    let expires_at = number(&item, "expiresAt").expect("an expiresAt");
    assert!(
        (expires_at - in_30_days).abs() < 86_400,
        "expiresAt {expires_at} is not 30 days from now ({in_30_days})"
    );
    assert_eq!(number(&item, "version"), Some(3), "store, replace, delete");
}

#[tokio::test]
async fn a_deleted_config_is_no_longer_listed() {
    // Given alice's deleted config
    let stack = Stack::new().await;
    assert_eq!(store_as(&stack, ALICE, store_with_settings()).await.0, 201);
    assert_eq!(delete_as(&stack.state, ALICE, "openai").await.0, 204);

    // When she lists her configs
    let (status, _, body) = list_as(&stack.state, ALICE).await;

    // Then there are none
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"configs": []}));
}

#[tokio::test]
async fn a_deleted_config_can_be_neither_updated_nor_deleted_again() {
    // Given alice's deleted config
    let stack = Stack::new().await;
    assert_eq!(store_as(&stack, ALICE, store_with_settings()).await.0, 201);
    assert_eq!(delete_as(&stack.state, ALICE, "openai").await.0, 204);
    let deleted = stack.item(&pk(ALICE, "openai")).await;

    // When she updates it and deletes it again
    let update = json!({"provider": "openai", "settings": {"model": "gpt-4.1"}});
    let (update_status, _, update_body) = update_as(&stack.state, ALICE, update).await;
    let (delete_status, _, delete_body) = delete_as(&stack.state, ALICE, "openai").await;

    // Then both answer 404 and the deleted item stays as it was
    assert_eq!(update_status, 404, "{update_body}");
    assert_eq!(delete_status, 404, "{delete_body}");
    assert_eq!(stack.item(&pk(ALICE, "openai")).await, deleted);
}

#[tokio::test]
async fn storing_after_a_delete_creates_a_new_active_config() {
    // Given alice's deleted config
    let stack = Stack::new().await;
    let (_, _, first) = store_as(&stack, ALICE, store_with_settings()).await;
    assert_eq!(delete_as(&stack.state, ALICE, "openai").await.0, 204);

    // When she stores a key for the provider again
    let (status, _, body) = store_as(&stack, ALICE, openai(OTHER_KEY)).await;

    // Then it is a new active config under a new id, listed again
    assert_eq!(status, 201, "{body}");
    assert_ne!(body["config"]["id"], first["config"]["id"]);
    assert_eq!(body["config"]["isActive"], true);
    assert_eq!(body["config"]["keyHint"], "sk-proj-…1111");
    let item = stack.item(&pk(ALICE, "openai")).await.unwrap();
    assert!(!item.contains_key("deletedAt"), "{item:?}");
    assert!(!item.contains_key("expiresAt"), "{item:?}");
    let (_, _, listed) = list_as(&stack.state, ALICE).await;
    assert_eq!(listed_providers(&listed), ["openai"]);
}

#[tokio::test]
async fn every_write_of_the_lifecycle_counts_one_version() {
    // Given an empty table
    let stack = Stack::new().await;
    let update = json!({"provider": "openai", "settings": new_settings()});
    let mut versions = Vec::new();

    // When alice stores, replaces, updates, deletes and stores again
    let status = store_as(&stack, ALICE, openai(KEY)).await.0;
    versions.push(("store", status, version_of(&stack).await));
    let status = store_as(&stack, ALICE, openai(OTHER_KEY)).await.0;
    versions.push(("replace", status, version_of(&stack).await));
    let status = update_as(&stack.state, ALICE, update).await.0;
    versions.push(("update", status, version_of(&stack).await));
    let status = delete_as(&stack.state, ALICE, "openai").await.0;
    versions.push(("delete", status, version_of(&stack).await));
    let status = store_as(&stack, ALICE, openai(KEY)).await.0;
    versions.push(("store again", status, version_of(&stack).await));

    // Then each write succeeded and moved the version on by one
    assert_eq!(
        versions,
        [
            ("store", 201, Some(1)),
            ("replace", 200, Some(2)),
            ("update", 200, Some(3)),
            ("delete", 204, Some(4)),
            ("store again", 201, Some(5)),
        ]
    );
}

async fn version_of(stack: &Stack) -> Option<i64> {
    let item = stack.item(&pk(ALICE, "openai")).await?;
    number(&item, "version")
}

#[tokio::test]
async fn a_provider_alias_is_stored_under_the_canonical_id() {
    // Given an empty table
    let stack = Stack::new().await;

    // When alice stores a key for "anthropic"
    let body = json!({"provider": "anthropic", "apiKey": "sk-ant-api03-EXAMPLEexample0123456789-key0000AA"});
    let (status, _, body) = store_as(&stack, ALICE, body).await;

    // Then it is stored and answered as "claude"
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["config"]["provider"], "claude");
    assert_eq!(body["config"]["keyHint"], "sk-ant-api03-…00AA");
    assert!(stack.item(&pk(ALICE, "claude")).await.is_some());
    assert!(stack.item(&pk(ALICE, "anthropic")).await.is_none());
}

#[tokio::test]
async fn configs_are_listed_by_provider() {
    // Given keys stored for several providers, in no particular order
    let stack = Stack::new().await;
    for provider in [
        "openrouter",
        "grok",
        "openai",
        "claude",
        "google-ai",
        "github",
    ] {
        let body = json!({"provider": provider, "apiKey": "test-key-0123456789abcdef"});
        assert_eq!(store_as(&stack, ALICE, body).await.0, 201, "{provider}");
    }

    // When alice lists her configs
    let (status, _, body) = list_as(&stack.state, ALICE).await;

    // Then they come sorted by provider id
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        listed_providers(&body),
        [
            "claude",
            "github",
            "google-ai",
            "grok",
            "openai",
            "openrouter"
        ]
    );
}

// moto's threaded server applies UpdateItem as an unlocked read-modify-write, so under
// concurrency it loses writes (two creates, lost ADDs) where DynamoDB never does. These
// two run with `-- --ignored` against DynamoDB or an emulator that serializes requests.
#[tokio::test]
async fn concurrent_first_stores_create_the_config_exactly_once() {
    // Given an empty table
    let stack = Stack::new().await;

    // When twenty stores for alice's OpenAI config race
    let keys: Vec<String> = (0..20)
        .map(|i| format!("sk-proj-CONCURRENTkey0123456789abcdef{i:04}"))
        .collect();
    let answers = join_all(keys.iter().map(|key| store_as(&stack, ALICE, openai(key)))).await;

    // Then exactly one created it, the others replaced it, and all agree on the id
    let created = answers.iter().filter(|(s, _, _)| *s == 201).count();
    let replaced = answers.iter().filter(|(s, _, _)| *s == 200).count();
    assert_eq!((created, replaced), (1, 19), "statuses: {:?}", {
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    });
    let item = stack.item(&pk(ALICE, "openai")).await.unwrap();
    assert_eq!(number(&item, "version"), Some(20));
    let id = text(&item, "id").expect("an id");
    assert!(answers
        .iter()
        .all(|(_, _, body)| body["config"]["id"] == id));
}

#[tokio::test]
async fn concurrent_uses_are_all_counted() {
    // Given alice's stored key
    let stack = Stack::new().await;
    assert_eq!(store_as(&stack, ALICE, openai(KEY)).await.0, 201);

    // When fifty uses are recorded at once
    let now = OffsetDateTime::now_utc();
    let uses = join_all((0..50).map(|_| {
        stack
            .state
            .repo
            .record_use(ALICE, ProviderId::OpenAi, None, now)
    }))
    .await;

    // Then every one counted
    assert!(uses
        .iter()
        .all(|u| matches!(u, Ok(apikeys::repo::UseRecord::Used(_)))));
    let item = stack.item(&pk(ALICE, "openai")).await.unwrap();
    assert_eq!(number(&item, "usageCount"), Some(50));
}

#[tokio::test]
async fn every_operation_is_one_dynamodb_round_trip() {
    // Given an empty table and a counter of the functions' DynamoDB requests
    let stack = Stack::new().await;
    let update = json!({"provider": "openai", "settings": new_settings()});
    let mut trips = Vec::new();

    // When each operation runs once
    stack.counter.take();
    let status = store_as(&stack, ALICE, openai(KEY)).await.0;
    trips.push(("store new", status, stack.counter.take()));
    let status = store_as(&stack, ALICE, openai(OTHER_KEY)).await.0;
    trips.push(("store replacing", status, stack.counter.take()));
    let status = list_as(&stack.state, ALICE).await.0;
    trips.push(("list", status, stack.counter.take()));
    let status = update_as(&stack.state, ALICE, update).await.0;
    trips.push(("update", status, stack.counter.take()));
    // use-key (its answer has no status: 200 stands for "found" / "recorded")
    let ok = |found: bool| if found { 200 } else { 500 };
    let payload = json!({"userId": ALICE, "provider": "openai"});
    let used = apikeys::invoke::handle(&stack.sealing, &payload, "trips").await;
    trips.push(("use-key", ok(used["found"] == true), stack.counter.take()));
    let by_id = json!({"userId": ALICE, "provider": "openai", "keyId": used["keyId"]});
    let used = apikeys::invoke::handle(&stack.sealing, &by_id, "trips").await;
    trips.push((
        "use-key by id",
        ok(used["found"] == true),
        stack.counter.take(),
    ));
    let report =
        json!({"userId": ALICE, "provider": "openai", "keyId": used["keyId"], "outcome": "ok"});
    let reported = apikeys::invoke::handle(&stack.sealing, &report, "trips").await;
    trips.push((
        "report",
        ok(reported["recorded"] == true),
        stack.counter.take(),
    ));
    let status = delete_as(&stack.state, ALICE, "openai").await.0;
    trips.push(("delete", status, stack.counter.take()));

    // Then each succeeded with one round trip (use-key with an id, and a report: two
    // requests at once, one per place the key may be)
    assert_eq!(
        trips,
        [
            ("store new", 201, 1),
            ("store replacing", 200, 1),
            ("list", 200, 1),
            ("update", 200, 1),
            // The primary's update alone: usable, it is the key the order names.
            ("use-key", 200, 1),
            // Two requests sent at once, one round trip: the primary's place and the
            // key's own (an id is in one of them), of which one applies.
            ("use-key by id", 200, 2),
            ("report", 200, 2),
            ("delete", 204, 1),
        ]
    );
}

#[tokio::test]
async fn functions_without_key_material_list_update_and_delete() {
    // Given a stored key, and a state like get-configs', update-settings' and
    // delete-config's: a table and no seed anywhere
    for var in [
        "APIKEYS_SEED",
        "APIKEYS_SEED_SECRET_ID",
        "APIKEYS_SEED_CIPHERTEXT",
    ] {
        assert!(
            std::env::var_os(var).is_none(),
            "{var} is set in the test environment: unset it for this test"
        );
    }
    let stack = Stack::new().await;
    assert_eq!(store_as(&stack, ALICE, openai(KEY)).await.0, 201);
    let state = State::new(
        aws_sdk_dynamodb::Client::new(&stack.sdk),
        ServiceSettings {
            table_name: stack.table.clone(),
            ..ServiceSettings::default()
        },
    );

    // When alice lists, updates and deletes through it
    let (list, _, listed) = list_as(&state, ALICE).await;
    let update = json!({"provider": "openai", "settings": new_settings()});
    let (update, _, updated) = update_as(&state, ALICE, update).await;
    let (delete, _, _) = delete_as(&state, ALICE, "openai").await;

    // Then each works
    assert_eq!(
        (list, update, delete),
        (200, 200, 204),
        "{listed} {updated}"
    );
    assert_eq!(listed_providers(&listed), ["openai"]);
    assert_eq!(updated["config"]["settings"], new_settings());
}

/// Makes the key of alice's OpenAI config look stored `days` ago.
async fn age_key(stack: &Stack, days: i64) {
    let then = OffsetDateTime::now_utc() - time::Duration::days(days);
    stack
        .set_attribute(
            &pk(ALICE, "openai"),
            "keyStoredAt",
            AttributeValue::S(timestamp(then)),
        )
        .await;
}

#[tokio::test]
async fn a_key_stored_100_days_ago_is_due_for_rotation() {
    // Given alice's key, stored 100 days ago
    let stack = Stack::new().await;
    assert_eq!(store_as(&stack, ALICE, openai(KEY)).await.0, 201);
    age_key(&stack, 100).await;

    // When she lists her configs
    let (_, _, body) = list_as(&stack.state, ALICE).await;

    // Then it is due for rotation
    assert_eq!(body["configs"][0]["rotationDue"], true, "{body}");
}

#[tokio::test]
async fn a_fresh_key_is_not_due_for_rotation() {
    // Given alice's key, stored just now
    let stack = Stack::new().await;
    assert_eq!(store_as(&stack, ALICE, openai(KEY)).await.0, 201);

    // When she lists her configs
    let (_, _, body) = list_as(&stack.state, ALICE).await;

    // Then it is not due for rotation
    assert_eq!(body["configs"][0]["rotationDue"], false, "{body}");
}

#[tokio::test]
async fn a_longer_rotation_period_is_honoured() {
    // Given a deployment with a 200-day rotation period and a key stored 100 days ago
    let stack =
        Stack::with_service_config(|n| (n == "APIKEYS_ROTATION_DAYS").then(|| "200".to_owned()))
            .await;
    assert_eq!(store_as(&stack, ALICE, openai(KEY)).await.0, 201);
    age_key(&stack, 100).await;

    // When alice lists her configs
    let (_, _, body) = list_as(&stack.state, ALICE).await;

    // Then it is not due yet
    assert_eq!(body["configs"][0]["rotationDue"], false, "{body}");
}

#[tokio::test]
async fn settings_any_backend_takes_read_back_through_the_list_the_same() {
    // Given settings with numbers DynamoDB takes but an emulator could not give back
    // as a number attribute (10^40 written out, the smallest and largest magnitudes,
    // 38 significant digits), stored and then updated
    let stack = Stack::new().await;
    let user = apikeys_integration_tests::unique("numbers");
    let settings_text = r#"{"big": 10000000000000000000000000000000000000000,
        "tiny": 1e-130, "huge": 9.99e125, "neg": -1.5e-7, "int": -42,
        "digits": 1.2345678901234567890123456789012345678,
        "nested": {"list": [0, 1.25, {"deep": 3e40}]}}"#;
    let settings: Value = serde_json::from_str(settings_text).unwrap();
    let mut event = apikeys_integration_tests::event_for("store.json", Some(&user));
    event["body"] = json!(format!(
        r#"{{"provider": "openai", "apiKey": "{KEY}", "settings": {settings_text}}}"#
    ));
    let (status, _, stored) = apikeys_integration_tests::parts(
        apikeys::api::store::handle(&stack.sealing, apikeys_integration_tests::request(&event))
            .await,
    );
    assert_eq!(status, 201, "{stored}");

    // Then the list reads them back as sent, and again after an update
    let (status, _, listed) = list_as(&stack.state, &user).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["configs"][0]["settings"], settings);
    let updated_settings = json!({"big": 1e40, "other": 1e125});
    let (status, _, updated) = update_as(
        &stack.state,
        &user,
        json!({"provider": "openai", "settings": updated_settings}),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["config"]["settings"], updated_settings);
    let (status, _, listed) = list_as(&stack.state, &user).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["configs"][0]["settings"], updated_settings);
}

#[tokio::test]
async fn settings_stored_as_a_map_by_earlier_versions_keep_reading() {
    // Given an item whose settings an earlier version stored as a map attribute
    let stack = Stack::new().await;
    let user = apikeys_integration_tests::unique("map");
    assert_eq!(store_as(&stack, &user, openai(KEY)).await.0, 201);
    let map = AttributeValue::M(
        [
            ("model".to_owned(), AttributeValue::S("gpt-4o".into())),
            ("temperature".to_owned(), AttributeValue::N("0.5".into())),
        ]
        .into(),
    );
    stack
        .set_attribute(&pk(&user, "openai"), "settings", map)
        .await;

    // Then the list shows them
    let (status, _, listed) = list_as(&stack.state, &user).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(
        listed["configs"][0]["settings"],
        json!({"model": "gpt-4o", "temperature": 0.5})
    );
}
