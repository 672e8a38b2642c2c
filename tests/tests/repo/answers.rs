//! update-settings, delete-config and get-configs never receive the ciphertext: every
//! DynamoDB answer their client gets is read as it arrived, errors included.

use apikeys::domain::timestamp;
use apikeys::provider::ProviderId;
use apikeys::settings::ServiceSettings;
use apikeys::State;
use apikeys_integration_tests::{number, text, Stack};
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::{client_with, delete_as, list_as, pk, store_as, update_as, Answers, KEY};

const ALICE: &str = "alice";

/// A state like update-settings', delete-config's and get-configs', whose DynamoDB
/// answers are recorded.
fn watched_state(stack: &Stack) -> (State, Answers) {
    let answers = Answers::default();
    let client = client_with(stack, answers.clone());
    let config = ServiceSettings {
        table_name: stack.table.clone(),
        ..ServiceSettings::default()
    };
    (State::new(client, config), answers)
}

/// Fails when any answer names the ciphertext attribute or holds the envelope;
/// `operation` must be among them, so the check cannot pass by seeing nothing.
fn assert_no_ciphertext(answers: &Answers, envelope: &str, operation: &str) {
    let all = answers.all();
    assert!(
        all.iter().any(|(op, _)| op == operation),
        "no {operation} answer was seen: {all:?}"
    );
    for (op, body) in &all {
        assert!(
            !body.contains("apiKey"),
            "{op} answered the ciphertext: {body}"
        );
        assert!(
            !body.contains(envelope),
            "{op} answered the envelope: {body}"
        );
    }
}

async fn stored_envelope(stack: &Stack) -> String {
    let item = stack.item(&pk(ALICE, "openai")).await.unwrap();
    text(&item, "apiKey").expect("a sealed key").to_owned()
}

#[tokio::test]
async fn update_settings_never_receives_the_ciphertext_and_answers_the_whole_config() {
    // Given alice's key, used once and tested
    let stack = Stack::new().await;
    let (_, stored) = store_as(&stack, ALICE, json!({"provider": "openai", "apiKey": KEY})).await;
    // One instant for the use and the test, so both record the same millisecond.
    let at = OffsetDateTime::now_utc();
    let now = timestamp(at);
    let repo = &stack.state.repo;
    assert!(matches!(
        repo.record_use(ALICE, ProviderId::OpenAi, None, at)
            .await
            .unwrap(),
        apikeys::repo::UseRecord::Used(_)
    ));
    let envelope = stored_envelope(&stack).await;
    let recorded = repo.record_validation(
        ALICE,
        ProviderId::OpenAi,
        "primary",
        &envelope,
        &now,
        "valid",
    );
    assert!(recorded.await.unwrap());
    let (state, answers) = watched_state(&stack);

    // When she replaces her settings
    let update = json!({"provider": "openai", "settings": {"model": "gpt-4o"}});
    let (status, body) = update_as(&state, ALICE, update).await;

    // Then the answer is the whole config, and no DynamoDB answer held the key
    assert_eq!(status, 200, "{body}");
    assert_no_ciphertext(&answers, &envelope, "UpdateItem");
    let (config, before) = (&body["config"], &stored["config"]);
    for same in ["id", "createdAt", "keyHint", "provider", "isActive"] {
        assert_eq!(config[same], before[same], "{same}: {config}");
    }
    assert_eq!(config["settings"], json!({"model": "gpt-4o"}));
    assert_eq!(config["usageCount"], 1);
    assert_eq!(config["lastUsedAt"], json!(now));
    assert_eq!(config["lastValidatedAt"], json!(now));
    assert_eq!(config["lastValidationStatus"], "valid");
    assert_eq!(config["rotationDue"], false);
    assert_ne!(config["updatedAt"], before["updatedAt"]);
    // The key stays as it was, and the write counted as one.
    let item = stack.item(&pk(ALICE, "openai")).await.unwrap();
    assert_eq!(text(&item, "apiKey"), Some(envelope.as_str()));
    assert_eq!(number(&item, "usageCount"), Some(1));
    assert_eq!(
        number(&item, "version"),
        Some(4),
        "store, use, test, update"
    );
}

#[tokio::test]
async fn update_settings_of_a_never_used_key_answers_no_use_and_no_test() {
    // Given alice's key, never used or tested
    let stack = Stack::new().await;
    store_as(&stack, ALICE, json!({"provider": "openai", "apiKey": KEY})).await;
    let envelope = stored_envelope(&stack).await;
    let (state, answers) = watched_state(&stack);

    // When she replaces her settings twice
    let update = json!({"provider": "openai", "settings": {"model": "gpt-4o"}});
    let (first, _) = update_as(&state, ALICE, update.clone()).await;
    let (second, body) = update_as(&state, ALICE, update).await;

    // Then the config says so, and no answer held the key
    assert_eq!((first, second), (200, 200), "{body}");
    assert_no_ciphertext(&answers, &envelope, "UpdateItem");
    let config = &body["config"];
    assert_eq!(config["usageCount"], 0);
    for absent in ["lastUsedAt", "lastValidatedAt", "lastValidationStatus"] {
        assert_eq!(config[absent], Value::Null, "{absent}: {config}");
    }
}

#[tokio::test]
async fn delete_and_its_refusals_never_receive_the_ciphertext() {
    // Given alice's stored key
    let stack = Stack::new().await;
    store_as(&stack, ALICE, json!({"provider": "openai", "apiKey": KEY})).await;
    let envelope = stored_envelope(&stack).await;
    let (state, answers) = watched_state(&stack);

    // When she deletes it, deletes it again and updates the deleted configuration
    let (deleted, _) = delete_as(&state, ALICE, "openai").await;
    let (again, _) = delete_as(&state, ALICE, "openai").await;
    let update = json!({"provider": "openai", "settings": {}});
    let (updated, _) = update_as(&state, ALICE, update).await;

    // Then 204, 404, 404, and no answer, refusals included, held the key (the
    // second delete's refusal looks for other keys of the provider: their keys only)
    assert_eq!((deleted, again, updated), (204, 404, 404));
    assert_no_ciphertext(&answers, &envelope, "UpdateItem");
    assert_no_ciphertext(&answers, &envelope, "Query");
    let operations: Vec<String> = answers.all().into_iter().map(|(op, _)| op).collect();
    assert_eq!(
        operations,
        ["UpdateItem", "UpdateItem", "Query", "UpdateItem"]
    );
}

#[tokio::test]
async fn listing_never_receives_the_ciphertext() {
    // Given alice's stored key
    let stack = Stack::new().await;
    store_as(&stack, ALICE, json!({"provider": "openai", "apiKey": KEY})).await;
    let envelope = stored_envelope(&stack).await;
    let (state, answers) = watched_state(&stack);

    // When she lists her configurations
    let (status, body) = list_as(&state, ALICE).await;

    // Then she sees it, and the index answer held no key
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["configs"].as_array().map(Vec::len), Some(1));
    assert_no_ciphertext(&answers, &envelope, "Query");
}
