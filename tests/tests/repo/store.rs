//! A store means what the original app means: it replaces the settings with what it
//! sends, and after a delete it creates a new configuration.

use apikeys::provider::ProviderId;
use apikeys::repo::KeyRow;
use apikeys::repo::UseRecord;
use apikeys_integration_tests::{number, text, Stack};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::{delete_as, list_as, pk, store_as, KEY};

const ALICE: &str = "alice";

/// A stored time long before any test runs, so a fresh one can never equal it.
const LONG_AGO: &str = "2024-01-01T00:00:00.000Z";

fn with_settings() -> Value {
    json!({"provider": "openai", "apiKey": KEY, "settings": {"model": "gpt-4o-mini"}})
}

fn without_settings() -> Value {
    json!({"provider": "openai", "apiKey": KEY})
}

/// Gives alice's stored configuration a history: created long ago, used, tested,
/// under a budget with this month's spending and its alert sent.
async fn give_history(stack: &Stack) {
    let key = pk(ALICE, "openai");
    stack
        .set_attribute(&key, "createdAt", AttributeValue::S(LONG_AGO.into()))
        .await;
    let now = OffsetDateTime::now_utc();
    let used = stack
        .state
        .repo
        .record_use(ALICE, ProviderId::OpenAi, None, now);
    assert!(matches!(used.await.unwrap(), UseRecord::Used(_)));
    stack
        .set_attribute(&key, "lastValidatedAt", AttributeValue::S(LONG_AGO.into()))
        .await;
    stack
        .set_attribute(
            &key,
            "lastValidationStatus",
            AttributeValue::S("valid".into()),
        )
        .await;
    let n = |v: &str| AttributeValue::N(v.into());
    let budget = [("monthlyTokens", n("100")), ("alertAt", n("0.8"))];
    let month = [
        ("month", AttributeValue::S(apikeys::repo::month_of(now))),
        ("requests", n("3")),
        ("inputTokens", n("60")),
        ("outputTokens", n("30")),
        ("totalTokens", n("90")),
    ];
    let map = |pairs: &[(&str, AttributeValue)]| {
        AttributeValue::M(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    };
    stack.set_attribute(&key, "budget", map(&budget)).await;
    stack
        .set_attribute(&key, apikeys::repo::MONTH_USAGE, map(&month))
        .await;
    stack
        .set_attribute(
            &key,
            "budgetAlertMonth",
            AttributeValue::S(apikeys::repo::month_of(now)),
        )
        .await;
}

#[tokio::test]
async fn a_store_after_a_delete_creates_a_new_configuration() {
    // Given alice's configuration with settings and a history, deleted
    let stack = Stack::new().await;
    let (_, first) = store_as(&stack, ALICE, with_settings()).await;
    give_history(&stack).await;
    assert_eq!(delete_as(&stack.state, ALICE, "openai").await.0, 204);

    // When she stores a key for the provider again, without settings
    stack.counter.take();
    let (status, body) = store_as(&stack, ALICE, without_settings()).await;

    // Then it is a new configuration, in one round trip, with nothing of the old one
    assert_eq!(status, 201, "{body}");
    assert_eq!(stack.counter.take(), 1, "one DynamoDB round trip");
    let config = &body["config"];
    assert_ne!(config["id"], first["config"]["id"], "{config}");
    assert!(config["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_ne!(config["createdAt"], LONG_AGO);
    assert_eq!(config["createdAt"], config["updatedAt"]);
    assert_eq!(config["usageCount"], 0);
    assert_eq!(config["settings"], json!({}));
    assert_eq!(config["isActive"], true);
    for absent in ["lastUsedAt", "lastValidatedAt", "lastValidationStatus"] {
        assert_eq!(config[absent], Value::Null, "{absent}: {config}");
    }

    // And the table holds the new configuration only
    let item = stack.item(&pk(ALICE, "openai")).await.unwrap();
    assert_eq!(text(&item, "id"), config["id"].as_str());
    assert_eq!(text(&item, "createdAt"), config["createdAt"].as_str());
    assert_eq!(number(&item, "usageCount"), Some(0));
    assert_eq!(
        item.get("settings"),
        Some(&AttributeValue::M(Default::default()))
    );
    for absent in [
        "lastUsedAt",
        "lastValidatedAt",
        "lastValidationStatus",
        "budget",
        "monthUsage",
        "budgetAlertMonth",
        "deletedAt",
        "deletedId",
        "deletedCreatedAt",
        "expiresAt",
    ] {
        assert!(!item.contains_key(absent), "{absent}: {item:?}");
    }
    let (_, listed) = list_as(&stack.state, ALICE).await;
    assert_eq!(listed["configs"][0]["id"], config["id"]);
}

#[tokio::test]
async fn a_deleted_configuration_keeps_nothing_a_store_could_bring_back() {
    // Given alice's configuration with settings and a history
    let stack = Stack::new().await;
    let (_, first) = store_as(&stack, ALICE, with_settings()).await;
    give_history(&stack).await;

    // When she deletes it
    assert_eq!(delete_as(&stack.state, ALICE, "openai").await.0, 204);

    // Then the item is a tombstone: its former id and creation time, nothing else
    let item = stack.item(&pk(ALICE, "openai")).await.unwrap();
    for gone in [
        "apiKey",
        "keyHint",
        "id",
        "createdAt",
        "settings",
        "usageCount",
        "lastUsedAt",
        "lastValidatedAt",
        "lastValidationStatus",
        "keyStoredAt",
        "budget",
        "monthUsage",
        "budgetAlertMonth",
    ] {
        assert!(!item.contains_key(gone), "{gone}: {item:?}");
    }
    assert_eq!(text(&item, "deletedId"), first["config"]["id"].as_str());
    assert_eq!(text(&item, "deletedCreatedAt"), Some(LONG_AGO));
    assert_eq!(item.get("isActive"), Some(&AttributeValue::Bool(false)));
    assert!(item.contains_key("deletedAt") && item.contains_key("expiresAt"));

    // And the scans of the admin tools and the sweep still read it, as deleted
    let mut pages = stack.state.repo.pages(false);
    let items = pages.next().await.unwrap().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].0.id, first["config"]["id"].as_str().unwrap());
    assert!(!items[0].0.is_active);
    assert!(pages.next().await.unwrap().is_none());
}

#[tokio::test]
async fn a_store_replaces_the_settings_with_what_it_sends() {
    // Given alice's configuration with settings
    let stack = Stack::new().await;
    assert_eq!(store_as(&stack, ALICE, with_settings()).await.0, 201);

    // When she stores again without settings, then with other settings
    let (without, cleared) = store_as(&stack, ALICE, without_settings()).await;
    let other = json!({"provider": "openai", "apiKey": KEY, "settings": {"temperature": 0.1}});
    let (with, replaced) = store_as(&stack, ALICE, other).await;

    // Then each replaced the configuration and its settings
    assert_eq!((without, with), (200, 200));
    assert_eq!(cleared["config"]["settings"], json!({}), "{cleared}");
    assert_eq!(replaced["config"]["settings"], json!({"temperature": 0.1}));
    assert_eq!(cleared["config"]["id"], replaced["config"]["id"]);
    let (_, listed) = list_as(&stack.state, ALICE).await;
    assert_eq!(
        listed["configs"][0]["settings"],
        json!({"temperature": 0.1})
    );
}

#[tokio::test]
async fn a_store_over_an_item_deleted_with_its_history_starts_afresh_too() {
    // Given an inactive item that still holds its history, as imports write them
    let stack = Stack::new().await;
    let old = KeyRow {
        pk: pk(ALICE, "openai"),
        sk: "primary".to_owned(),
        user_id: ALICE.into(),
        provider: "openai".into(),
        id: "imported-id".into(),
        key_hint: None,
        settings: Map::from_iter([("model".to_owned(), json!("gpt-4"))]),
        endpoint: None,
        is_active: false,
        created_at: LONG_AGO.into(),
        updated_at: LONG_AGO.into(),
        key_stored_at: None,
        last_used_at: Some(LONG_AGO.into()),
        last_validated_at: None,
        last_validation_status: None,
        deleted_at: Some(LONG_AGO.into()),
        usage_count: 7,
        version: 1,
        key_revision: 1,
        expires_at: None,
        key_expires_at: None,
        label: None,
        priority: None,
        key_count: None,
        unavailable_reason: None,
        unavailable_until: None,
        month_usage: None,
        budget: None,
    };
    assert!(stack.state.repo.put_new(&old, None).await.unwrap());

    // When alice stores a key for the provider
    let (status, body) = store_as(&stack, ALICE, without_settings()).await;

    // Then it is a new configuration as well
    assert_eq!(status, 201, "{body}");
    let config = &body["config"];
    assert_ne!(config["id"], "imported-id");
    assert_ne!(config["createdAt"], LONG_AGO);
    assert_eq!(config["usageCount"], 0);
    assert_eq!(config["lastUsedAt"], Value::Null);
    assert_eq!(config["settings"], json!({}));
    let item = stack.item(&pk(ALICE, "openai")).await.unwrap();
    assert_eq!(text(&item, "id"), config["id"].as_str());
    assert_eq!(number(&item, "usageCount"), Some(0));
    assert!(!item.contains_key("lastUsedAt"), "{item:?}");
}

#[tokio::test]
async fn an_import_write_whose_answer_was_lost_still_counts_as_written() {
    // Given a repository whose first DynamoDB answer is lost after the write
    let stack = Stack::new().await;
    let client = super::client_with(&stack, super::LoseFirstAnswer::default());
    let repo = apikeys::repo::KeyTable::new(client, stack.table.clone());
    let item = KeyRow {
        pk: pk(ALICE, "openai"),
        sk: "primary".to_owned(),
        user_id: ALICE.into(),
        provider: "openai".into(),
        id: "imported-id".into(),
        key_hint: Some("sk-proj-…0000".into()),
        settings: Map::new(),
        endpoint: None,
        is_active: true,
        created_at: LONG_AGO.into(),
        updated_at: LONG_AGO.into(),
        key_stored_at: Some(LONG_AGO.into()),
        last_used_at: None,
        last_validated_at: None,
        last_validation_status: None,
        deleted_at: None,
        usage_count: 0,
        version: 1,
        key_revision: 1,
        expires_at: None,
        key_expires_at: None,
        label: None,
        priority: None,
        key_count: None,
        unavailable_reason: None,
        unavailable_until: None,
        month_usage: None,
        budget: None,
    };

    // When the import writes the item (the SDK sends it again) and then once more
    let first = repo.put_new(&item, Some("akv1.sealed")).await.unwrap();
    let mut other = item.clone();
    other.id = "another-id".into();
    let second = repo.put_new(&other, Some("akv1.other")).await.unwrap();

    // Then the first counts as written and the second finds it there
    assert!(first, "the retried write found its own item");
    assert!(!second, "another write never overwrites");
    let stored = stack.item(&pk(ALICE, "openai")).await.unwrap();
    assert_eq!(text(&stored, "id"), Some("imported-id"));
}
