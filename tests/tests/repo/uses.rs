//! A recorded use is retry-safe: an SDK retry of a use whose answer was lost
//! counts once, and the retried call still gets the key.

use apikeys::provider::ProviderId;
use apikeys::repo::{KeyTable, UseRecord};
use apikeys_integration_tests::{number, Stack};
use serde_json::json;
use time::OffsetDateTime;

use super::{pk, store_as, Answers, LoseFirstAnswer, KEY};

#[tokio::test]
async fn a_use_whose_answer_was_lost_counts_once() {
    // Given alice's key and a repository whose first DynamoDB answer is lost
    let stack = Stack::new().await;
    let (status, _) = store_as(
        &stack,
        "alice",
        json!({"provider": "openai", "apiKey": KEY}),
    )
    .await;
    assert_eq!(status, 201);
    let answers = Answers::default();
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&stack.sdk)
            .interceptor(LoseFirstAnswer::default())
            .interceptor(answers.clone())
            .build(),
    );
    let repo = KeyTable::new(client, stack.table.clone());

    // When a use is recorded (the SDK sends the write again)
    let used = repo
        .record_use("alice", ProviderId::OpenAi, None, OffsetDateTime::now_utc())
        .await
        .unwrap();

    // Then the write went twice, the use counted once and the key came back
    let writes = answers
        .all()
        .iter()
        .filter(|(operation, _)| operation == "UpdateItem")
        .count();
    assert_eq!(
        writes, 2,
        "the lost answer made the SDK send the write again"
    );
    let UseRecord::Used(sealed) = used else {
        panic!("{used:?}");
    };
    assert!(sealed.envelope.starts_with("akv1."));
    assert_eq!(sealed.item.usage_count, 1);
    let item = stack.item(&pk("alice", "openai")).await.unwrap();
    assert_eq!(number(&item, "usageCount"), Some(1));
}
