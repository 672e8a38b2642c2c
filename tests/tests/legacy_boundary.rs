//! Legacy values are opened only where they can be trusted: the RealMultiLLM formats
//! carry no associated data, so a legacy value copied into another user's row would
//! open for that user. The functions never open one, whatever the deployment's legacy
//! settings say; `apikeys-admin` converts them under each row's own user.

use apikeys::settings::Settings;
use apikeys::SealingState;
use apikeys_integration_tests::{emulator_endpoint, unique, Stack, TEST_SEED};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Value};

/// One vector of `shared/tests/data/legacy-realmultillm.json` (a copy of the
/// RealMultiLLM vectors): (seed, plaintext, stored).
fn vector() -> (String, String, String) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/tests/data/legacy-realmultillm.json");
    let data: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let v = &data["pbkdf2-json"][0];
    let text = |k: &str| v[k].as_str().unwrap().to_owned();
    (text("seed"), text("plaintext"), text("stored"))
}

#[tokio::test]
async fn a_legacy_value_planted_in_another_users_row_never_opens_in_a_function() {
    // Given a deployment whose settings name the legacy seed and allow legacy values
    let _ = emulator_endpoint();
    let stack = Stack::new().await;
    let (legacy_seed, plaintext, stored) = vector();
    let table = stack.table.clone();
    let settings = Settings::from_lookup(|name| match name {
        "APIKEYS_TABLE_NAME" => Some(table.clone()),
        "APIKEYS_SEED" => Some(TEST_SEED.to_owned()),
        "APIKEYS_KDF_ITERATIONS" => Some(apikeys::crypto::MIN_KDF_ITERATIONS.to_string()),
        "APIKEYS_LEGACY_SEED" => Some(legacy_seed.clone()),
        "APIKEYS_LEGACY_POLICY" => Some("allow".to_owned()),
        other => std::env::var(other).ok(),
    })
    .expect("the settings");
    let function = SealingState::from_settings(&settings).await;

    // And a user's key whose envelope an attacker replaced with a legacy value of
    // another user's key
    let victim = unique("victim");
    let calls = apikeys_integration_tests::calls::Calls::of(&stack);
    let (status, _) = calls
        .store(
            &victim,
            "openai",
            "sk-proj-VictimKey0123456789abcdefghijklmnop",
            Value::Null,
        )
        .await;
    assert_eq!(status, 201);
    stack
        .set_attribute(
            &format!("{victim}#openai"),
            "apiKey",
            AttributeValue::S(stored),
        )
        .await;

    // When the app's servers ask use-key for the victim's key
    let answer = apikeys::invoke::handle(
        &function,
        &json!({"userId": victim, "provider": "openai"}),
        "req-legacy",
    )
    .await;

    // Then nothing opens: the answer is the opaque error of a value that does not
    // open, and the legacy plaintext is nowhere in it
    assert_eq!(answer["error"]["message"], "internal error", "{answer}");
    assert!(!answer.to_string().contains(&plaintext), "{answer}");
    assert!(answer.get("apiKey").is_none(), "{answer}");
}
