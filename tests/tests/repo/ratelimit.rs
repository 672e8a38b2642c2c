//! The key-test limit holds over any 60-second window, and a retried counter write
//! counts once. Time is the `now` the repository is given, never the clock.

use apikeys::repo::{Allowance, KeyTable};
use apikeys_integration_tests::{number, text, Stack};
use aws_sdk_dynamodb::types::AttributeValue;
use time::{Duration, OffsetDateTime};

use super::{Answers, LoseFirstAnswer};

const LIMIT: u32 = 10;

/// 2023-11-14T22:13:59.500Z: half a second before a minute boundary.
fn before_a_minute_boundary() -> OffsetDateTime {
    let t = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_039_500_000_000).unwrap();
    assert_eq!((t.second(), t.millisecond()), (59, 500));
    t
}

fn at(base: OffsetDateTime, seconds: f64) -> OffsetDateTime {
    base + Duration::seconds_f64(seconds)
}

/// How many of `tries` takes at `now` are granted.
async fn granted(repo: &KeyTable, user: &str, now: OffsetDateTime, tries: usize) -> usize {
    let mut granted = 0;
    for _ in 0..tries {
        if repo.take_key_test(user, now, LIMIT).await.unwrap() == Allowance::Granted {
            granted += 1;
        }
    }
    granted
}

#[tokio::test]
async fn the_limit_holds_until_the_oldest_test_leaves_the_window() {
    // Given ten tests by alice, one a second
    let stack = Stack::new().await;
    let repo = &stack.state.repo;
    let t0 = before_a_minute_boundary();
    for i in 0..10 {
        let taken = repo.take_key_test("alice", at(t0, f64::from(i)), LIMIT);
        assert_eq!(taken.await.unwrap(), Allowance::Granted, "test {i}");
    }

    // When she tries more as the window slides
    let take = |seconds: f64| repo.take_key_test("alice", at(t0, seconds), LIMIT);
    let eleventh = take(10.0).await.unwrap();
    let just_before = take(59.999).await.unwrap();
    let when_the_first_left = take(60.0).await.unwrap();
    let half_a_second_later = take(60.5).await.unwrap();

    // Then each is refused until the oldest grant is 60 s old, with the wait to then
    assert_eq!(
        eleventh,
        Allowance::Exhausted {
            retry_after_secs: 50
        }
    );
    assert_eq!(
        just_before,
        Allowance::Exhausted {
            retry_after_secs: 1
        }
    );
    assert_eq!(when_the_first_left, Allowance::Granted);
    assert_eq!(
        half_a_second_later,
        Allowance::Exhausted {
            retry_after_secs: 1
        }
    );
    // At 65.5 s the grants of seconds 1 to 5 have left the window: five more.
    assert_eq!(granted(repo, "alice", at(t0, 65.5), 12).await, 5);
}

#[tokio::test]
async fn no_burst_of_twenty_across_a_minute_boundary() {
    // Given ten tests by alice half a second before a minute boundary
    let stack = Stack::new().await;
    let repo = &stack.state.repo;
    let t0 = before_a_minute_boundary();
    assert_eq!(granted(repo, "alice", t0, 10).await, 10);

    // When she tries ten more a second later, in the next minute
    let next_minute = granted(repo, "alice", at(t0, 1.0), 10).await;

    // Then none is granted: they would make twenty within a second
    assert_eq!(next_minute, 0);
    assert_eq!(granted(repo, "alice", at(t0, 60.0), 11).await, 10);
}

#[tokio::test]
async fn each_user_has_an_allowance_of_their_own() {
    // Given alice's allowance used up
    let stack = Stack::new().await;
    let repo = &stack.state.repo;
    let now = before_a_minute_boundary();
    assert_eq!(granted(repo, "alice", now, 11).await, 10);

    // When bob tests a key
    let bob = repo.take_key_test("bob", now, LIMIT).await.unwrap();

    // Then he may
    assert_eq!(bob, Allowance::Granted);
}

#[tokio::test]
async fn a_retried_counter_write_counts_once() {
    // Given a repository whose first DynamoDB answer is lost after the write
    let stack = Stack::new().await;
    let answers = Answers::default();
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&stack.sdk)
            .interceptor(LoseFirstAnswer::default())
            .interceptor(answers.clone())
            .build(),
    );
    let repo = KeyTable::new(client, stack.table.clone());
    let now = before_a_minute_boundary();

    // When alice takes a test (the SDK sends the write again) and then ten more
    let first = repo.take_key_test("alice", now, LIMIT).await.unwrap();
    let writes = answers
        .all()
        .iter()
        .filter(|(operation, _)| operation == "UpdateItem")
        .count();
    let more = granted(&repo, "alice", now, 10).await;

    // Then the retried test counted once: nine more fit in her ten
    assert_eq!(first, Allowance::Granted);
    assert_eq!(
        writes, 2,
        "the lost answer made the SDK send the write again"
    );
    assert_eq!(more, 9);
    let item = stack
        .item_at("ratelimit#key-test#alice", "counter")
        .await
        .unwrap();
    let grants = (0..10)
        .filter(|i| matches!(item.get(&format!("t{i}")), Some(AttributeValue::N(t)) if t != "0"))
        .count();
    assert_eq!(grants, 10);
}

#[tokio::test]
async fn the_counter_expires_and_never_shows_in_the_users_list() {
    // Given a test taken by alice
    let stack = Stack::new().await;
    let now = OffsetDateTime::now_utc();
    let repo = &stack.state.repo;
    assert_eq!(
        repo.take_key_test("alice", now, LIMIT).await.unwrap(),
        Allowance::Granted
    );

    // When the counter item and alice's configurations are read
    let item = stack
        .item_at("ratelimit#key-test#alice", "counter")
        .await
        .unwrap();
    let listed = repo.list("alice").await.unwrap();

    // Then the counter carries a TTL past the window and no userId, so no index holds it
    let expires = number(&item, "expiresAt").expect("a TTL attribute");
    assert_eq!(expires, now.unix_timestamp() + 120);
    assert_eq!(text(&item, "userId"), None);
    assert!(listed.is_empty(), "{listed:?}");
}
