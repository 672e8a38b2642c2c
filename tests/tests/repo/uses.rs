//! A recorded use is retry-safe: an SDK retry of a use whose answer was lost
//! counts once, and the retried call still gets the key.

use apikeys::provider::ProviderId;
use std::collections::HashMap;

use apikeys::repo::{month_of, KeyTable, UseRecord, MONTH_USAGE, USE_TOKENS};
use apikeys_integration_tests::{number, Stack};
use aws_sdk_dynamodb::types::AttributeValue;
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

#[tokio::test]
async fn a_month_kept_before_its_total_still_holds_the_key_to_its_budget() {
    // Given a key with a budget of 100 tokens whose month map was written before
    // `totalTokens` was kept: 50 tokens spent
    let stack = Stack::new().await;
    let (status, body) = store_as(&stack, "bo", json!({"provider": "openai", "apiKey": KEY})).await;
    assert_eq!(status, 201, "{body}");
    let id = body["config"]["id"].as_str().unwrap().to_owned();
    let n = |v: u64| AttributeValue::N(v.to_string());
    let budget = AttributeValue::M(HashMap::from([
        ("monthlyTokens".to_owned(), n(100)),
        ("alertAt".to_owned(), AttributeValue::N("0.8".into())),
    ]));
    stack
        .set_attribute(&pk("bo", "openai"), "budget", budget)
        .await;
    let now = OffsetDateTime::now_utc();
    let month_map = |input: u64| {
        AttributeValue::M(HashMap::from([
            ("month".to_owned(), AttributeValue::S(month_of(now))),
            ("requests".to_owned(), n(1)),
            ("inputTokens".to_owned(), n(input)),
            ("outputTokens".to_owned(), n(0)),
        ]))
    };
    stack
        .set_attribute(&pk("bo", "openai"), MONTH_USAGE, month_map(50))
        .await;
    let repo = &stack.state.repo;

    // When it is used, by the use order and by its id, Then it is handed out both
    // times: the write cannot know the total, and the item read says 50 < 100
    for key_id in [None, Some(id.as_str())] {
        let used = repo
            .record_use("bo", ProviderId::OpenAi, key_id, now)
            .await
            .unwrap();
        assert!(matches!(used, UseRecord::Used(_)), "{key_id:?}: {used:?}");
    }
    let item = stack.item(&pk("bo", "openai")).await.unwrap();
    assert_eq!(number(&item, "usageCount"), Some(2));

    // And once the old map says the budget is spent, neither use hands it out
    stack
        .set_attribute(&pk("bo", "openai"), MONTH_USAGE, month_map(120))
        .await;
    for key_id in [None, Some(id.as_str())] {
        let used = repo
            .record_use("bo", ProviderId::OpenAi, key_id, now)
            .await
            .unwrap();
        assert!(
            matches!(&used, UseRecord::Unavailable { reason, .. } if reason == "budget_exhausted"),
            "{key_id:?}: {used:?}"
        );
    }
    let item = stack.item(&pk("bo", "openai")).await.unwrap();
    assert_eq!(number(&item, "usageCount"), Some(2));
}

#[tokio::test]
async fn a_key_used_past_its_list_of_use_tokens_keeps_the_newest_and_still_counts_a_lost_answer_once(
) {
    // Given a key stored before the list of use tokens, with the ring of an older
    // version (`u0..`) still on its item, used until its list is full
    let stack = Stack::new().await;
    let (status, _) = store_as(&stack, "cy", json!({"provider": "openai", "apiKey": KEY})).await;
    assert_eq!(status, 201);
    stack
        .set_attribute(&pk("cy", "openai"), "u5", AttributeValue::S("old".into()))
        .await;
    let repo = &stack.state.repo;
    let now = OffsetDateTime::now_utc();
    let list = |item: &apikeys::repo::Item| match item.get("useTokens") {
        Some(AttributeValue::L(list)) => list.clone(),
        other => panic!("useTokens: {other:?}"),
    };
    for _ in 0..2 * USE_TOKENS {
        let used = repo
            .record_use("cy", ProviderId::OpenAi, None, now)
            .await
            .unwrap();
        assert!(matches!(used, UseRecord::Used(_)), "{used:?}");
    }
    let item = stack.item(&pk("cy", "openai")).await.unwrap();
    let full = list(&item);
    assert_eq!(
        full.len(),
        2 * USE_TOKENS,
        "every use so far kept its token"
    );
    assert!(item.contains_key("u5"), "nothing made room yet");

    // When the next use makes room and the answer to that write is lost (the
    // emulator applied it; the SDK sends it again)
    let answers = Answers::default();
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&stack.sdk)
            .interceptor(LoseFirstAnswer::to_write_with(":kept"))
            .interceptor(answers.clone())
            .build(),
    );
    let lossy = KeyTable::new(client, stack.table.clone());
    let used = lossy
        .record_use("cy", ProviderId::OpenAi, None, now)
        .await
        .unwrap();

    // Then the key is handed out and the use counted once
    assert!(matches!(used, UseRecord::Used(_)), "{used:?}");
    let item = stack.item(&pk("cy", "openai")).await.unwrap();
    assert_eq!(number(&item, "usageCount"), Some(2 * USE_TOKENS as i64 + 1));
    // And the list holds the newest tokens before it and this use's own
    let kept = list(&item);
    assert_eq!(kept.len(), USE_TOKENS);
    assert_eq!(
        kept[..USE_TOKENS - 1],
        full[full.len() - (USE_TOKENS - 1)..]
    );
    assert!(!full.contains(&kept[USE_TOKENS - 1]));
    assert!(
        !item.contains_key("u5"),
        "the old ring's attributes are gone"
    );
    assert!(
        answers
            .all()
            .iter()
            .filter(|(op, _)| op == "UpdateItem")
            .count()
            >= 3,
        "the append, the write making room and its resend: {:?}",
        answers.all()
    );

    // And the next uses append again, one round trip each
    stack.counter.take();
    let used = repo
        .record_use("cy", ProviderId::OpenAi, None, now)
        .await
        .unwrap();
    assert!(matches!(used, UseRecord::Used(_)), "{used:?}");
    assert_eq!(stack.counter.take(), 1, "one request");
    let item = stack.item(&pk("cy", "openai")).await.unwrap();
    assert_eq!(list(&item).len(), USE_TOKENS + 1);
}

#[tokio::test]
async fn uses_that_meet_a_full_list_at_once_each_count_once_and_keep_their_tokens() {
    // Given a key whose list of use tokens is full
    let stack = Stack::new().await;
    let (status, _) = store_as(&stack, "di", json!({"provider": "openai", "apiKey": KEY})).await;
    assert_eq!(status, 201);
    let repo = &stack.state.repo;
    let now = OffsetDateTime::now_utc();
    for _ in 0..2 * USE_TOKENS {
        repo.record_use("di", ProviderId::OpenAi, None, now)
            .await
            .unwrap();
    }

    // When ten uses arrive at once: one makes room, the others find it made
    let uses = futures::future::join_all(
        (0..10).map(|_| repo.record_use("di", ProviderId::OpenAi, None, now)),
    )
    .await;

    // Then each hands out the key and counts once, and the list holds the newest
    // tokens: the 31 kept, then the ten
    for used in uses {
        assert!(matches!(used, Ok(UseRecord::Used(_))), "{used:?}");
    }
    let item = stack.item(&pk("di", "openai")).await.unwrap();
    assert_eq!(
        number(&item, "usageCount"),
        Some(2 * USE_TOKENS as i64 + 10)
    );
    let Some(AttributeValue::L(list)) = item.get("useTokens") else {
        panic!("useTokens: {:?}", item.get("useTokens"));
    };
    assert_eq!(list.len(), USE_TOKENS - 1 + 10);
}

#[tokio::test]
async fn a_use_taken_back_uncounts_once_and_not_after_its_list_was_rewritten() {
    // Given a key used three times, then once more by a write whose answer was lost
    // (the SDK sends it again, and the resend is answered as the use it was)
    let stack = Stack::new().await;
    let (status, _) = store_as(&stack, "ev", json!({"provider": "openai", "apiKey": KEY})).await;
    assert_eq!(status, 201);
    let repo = &stack.state.repo;
    let now = OffsetDateTime::now_utc();
    let use_once = |repo: &KeyTable| {
        let repo = repo.clone();
        async move {
            match repo
                .record_use("ev", ProviderId::OpenAi, None, now)
                .await
                .unwrap()
            {
                UseRecord::Used(sealed) => sealed.use_mark.expect("a recorded use leaves a mark"),
                other => panic!("{other:?}"),
            }
        }
    };
    for _ in 0..3 {
        use_once(repo).await;
    }
    let lossy = KeyTable::new(
        aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&stack.sdk)
                .interceptor(LoseFirstAnswer::default())
                .build(),
        ),
        stack.table.clone(),
    );
    let mark = use_once(&lossy).await;
    let count = || async {
        number(
            &stack.item(&pk("ev", "openai")).await.unwrap(),
            "usageCount",
        )
    };
    assert_eq!(count().await, Some(4));

    // When that use is taken back (its key was not sent), and the withdrawal is
    // sent again
    let taken = repo
        .withdraw_use("ev", ProviderId::OpenAi, &mark)
        .await
        .unwrap();
    let again = repo
        .withdraw_use("ev", ProviderId::OpenAi, &mark)
        .await
        .unwrap();

    // Then it is uncounted once
    assert!(taken, "the use was taken back");
    assert!(!again, "a resent withdrawal takes nothing back");
    assert_eq!(count().await, Some(3));

    // And a use whose list was rewritten since (a write made room) stays counted
    let early = use_once(repo).await;
    for _ in 0..2 * USE_TOKENS {
        use_once(repo).await;
    }
    let before = count().await;
    let taken = repo
        .withdraw_use("ev", ProviderId::OpenAi, &early)
        .await
        .unwrap();
    assert!(!taken, "its token is no longer where the use left it");
    assert_eq!(count().await, before);

    // And a use whose key was deleted since is left as the delete left it
    let last = use_once(repo).await;
    let (status, body) = apikeys_integration_tests::calls::Calls::of(&stack)
        .delete_all("ev", "openai")
        .await;
    assert_eq!(status, 204, "{body}");
    let taken = repo
        .withdraw_use("ev", ProviderId::OpenAi, &last)
        .await
        .unwrap();
    assert!(!taken, "a deleted key keeps no count to take back");
    assert_eq!(count().await, None);
}
