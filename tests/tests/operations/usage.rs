//! The usage function the app's servers call: opens the key and counts the use.

use apikeys::provider::ProviderId;
use apikeys::usage::{use_key, UsedKey};
use apikeys_integration_tests::{event_for, parts, request, set_body, Stack};
use aws_sdk_dynamodb::types::AttributeValue;
use secrecy::ExposeSecret;
use serde_json::json;

#[tokio::test]
async fn the_usage_function_counts_exactly_under_fifty_concurrent_calls() {
    let stack = Stack::new().await;
    let key = "sk-proj-UsageCounter0123456789abcdefghijklmn";
    let mut event = event_for("store.json", Some("alice"));
    set_body(&mut event, &json!({"provider": "openai", "apiKey": key}));
    assert_eq!(
        parts(apikeys::api::store::handle(&stack.sealing, request(&event)).await).0,
        201
    );

    let uses = futures::future::join_all(
        (0..50).map(|_| use_key(&stack.sealing, "alice", ProviderId::OpenAi)),
    )
    .await;

    for used in uses {
        match used.unwrap() {
            UsedKey::Active { key: k, .. } => assert_eq!(k.expose_secret(), key),
            UsedKey::None => panic!("the key is active"),
        }
    }
    let item = stack.item("alice#openai").await.unwrap();
    assert_eq!(item["usageCount"], AttributeValue::N("50".into()));
    assert!(item.contains_key("lastUsedAt"));
    assert!(matches!(
        use_key(&stack.sealing, "alice", ProviderId::Claude)
            .await
            .unwrap(),
        UsedKey::None
    ));
}
