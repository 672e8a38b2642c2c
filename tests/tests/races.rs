//! Deterministic races on the emulator: one request is held between its read and
//! its write (an SDK interceptor, `PauseBefore`), a second one runs to the end in
//! between, then the first goes on. Each test names the invariant of the key model
//! it holds. Tests that need DynamoDB transactions carry `several_keys` in their
//! name (the dynalite run leaves them to moto).

use apikeys_integration_tests::calls::{key_ids, Calls};
use apikeys_integration_tests::pause::PauseBefore;
use apikeys_integration_tests::{unique, Stack};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Value};

/// An OpenAI key of its own for `i`.
fn key(i: usize) -> String {
    format!("sk-proj-RaceKey{i:02}abcdefghijklmnopqrstuvwxyz0123")
}

fn pk(user: &str) -> String {
    format!("{user}#openai")
}

/// Stores the primary and adds `others` keys; their ids, the primary's first.
async fn keys_of(calls: Calls<'_>, user: &str, others: usize) -> Vec<String> {
    let (status, body) = calls.store(user, "openai", &key(0), Value::Null).await;
    assert_eq!(status, 201, "{body}");
    let mut ids = vec![body["config"]["id"].as_str().unwrap().to_owned()];
    for i in 1..=others {
        let (status, body) = calls
            .add_key(user, "openai", json!({"apiKey": key(i)}))
            .await;
        assert_eq!(status, 201, "{body}");
        ids.push(body["key"]["id"].as_str().unwrap().to_owned());
    }
    ids
}

/// No key of the user's provider is active, in the table or through the API, and
/// use-key hands nothing out.
async fn nothing_left(stack: &Stack, user: &str) {
    let calls = Calls::of(stack);
    assert_eq!(stack.active_ids(&pk(user)).await, Vec::<String>::new());
    let (status, body) = calls.keys(user, "openai").await;
    assert_eq!((status, key_ids(&body)), (200, vec![]), "{body}");
    let used = calls.use_key(user, "openai").await;
    assert_eq!(used["found"], false, "{used}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_keys_a_key_added_while_every_key_is_deleted_never_outlives_the_delete() {
    // Given a provider with two keys, and a delete of every key held after it read
    // the keys, before its transaction
    let stack = Stack::new().await;
    let user = unique("race");
    keys_of(Calls::of(&stack), &user, 1).await;
    let pause = PauseBefore::default();
    let (state, sealing) = stack.paused(&pause);
    pause.arm("TransactWriteItems", 0);
    let deleting = {
        let user = user.clone();
        tokio::spawn(async move {
            Calls {
                state: &state,
                sealing: &sealing,
            }
            .delete_all(&user, "openai")
            .await
        })
    };
    pause.reached().await;

    // When a third key is added in between
    let (status, body) = Calls::of(&stack)
        .add_key(&user, "openai", json!({"apiKey": key(7)}))
        .await;
    assert_eq!(status, 201, "{body}");
    pause.release();

    // Then the delete, answered 204, took every key: none is left to hand out
    let (status, body) = deleting.await.unwrap();
    assert_eq!(status, 204, "{body}");
    nothing_left(&stack, &user).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_keys_a_key_made_primary_while_every_key_is_deleted_never_outlives_the_delete() {
    // Given three keys, and a delete of every key held between its read and its write
    let stack = Stack::new().await;
    let user = unique("race");
    let ids = keys_of(Calls::of(&stack), &user, 2).await;
    let pause = PauseBefore::default();
    let (state, sealing) = stack.paused(&pause);
    pause.arm("TransactWriteItems", 0);
    let deleting = {
        let user = user.clone();
        tokio::spawn(async move {
            Calls {
                state: &state,
                sealing: &sealing,
            }
            .delete_all(&user, "openai")
            .await
        })
    };
    pause.reached().await;

    // When the second key is made primary in between (the two keys change places)
    let (status, body) = Calls::of(&stack)
        .update_key(&user, "openai", &ids[1], json!({"primary": true}))
        .await;
    assert_eq!(status, 200, "{body}");
    pause.release();

    // Then the delete took every key, the former primary at its new place too
    let (status, body) = deleting.await.unwrap();
    assert_eq!(status, 204, "{body}");
    nothing_left(&stack, &user).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_keys_two_first_keys_added_at_once_are_both_kept() {
    // Given a provider without keys, and an add held after it found no primary,
    // before it writes its key as the primary
    let stack = Stack::new().await;
    let user = unique("race");
    let pause = PauseBefore::default();
    let (state, sealing) = stack.paused(&pause);
    pause.arm("UpdateItem", 0);
    let adding = {
        let user = user.clone();
        tokio::spawn(async move {
            Calls {
                state: &state,
                sealing: &sealing,
            }
            .add_key(&user, "openai", json!({"apiKey": key(1)}))
            .await
        })
    };
    pause.reached().await;

    // When another first key is added in between
    let (status, second) = Calls::of(&stack)
        .add_key(&user, "openai", json!({"apiKey": key(2)}))
        .await;
    assert_eq!(status, 201, "{second}");
    pause.release();

    // Then both answered 201 and both are kept: a 201 is a kept key
    let (status, first) = adding.await.unwrap();
    assert_eq!(status, 201, "{first}");
    let mut want = vec![
        first["key"]["id"].as_str().unwrap().to_owned(),
        second["key"]["id"].as_str().unwrap().to_owned(),
    ];
    want.sort();
    assert_eq!(stack.active_ids(&pk(&user)).await, want);
    let (_, listed) = Calls::of(&stack).keys(&user, "openai").await;
    assert_eq!(key_ids(&listed).len(), 2, "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_keys_deleting_the_only_key_by_id_spares_a_key_added_at_that_moment() {
    // Given one key, and its delete by id held before its write
    let stack = Stack::new().await;
    let user = unique("race");
    let ids = keys_of(Calls::of(&stack), &user, 0).await;
    let pause = PauseBefore::default();
    let (state, sealing) = stack.paused(&pause);
    pause.arm("UpdateItem", 0);
    let deleting = {
        let (user, id) = (user.clone(), ids[0].clone());
        tokio::spawn(async move {
            Calls {
                state: &state,
                sealing: &sealing,
            }
            .delete_key(&user, "openai", &id)
            .await
        })
    };
    pause.reached().await;

    // When a second key is added in between
    let (status, added) = Calls::of(&stack)
        .add_key(&user, "openai", json!({"apiKey": key(3)}))
        .await;
    assert_eq!(status, 201, "{added}");
    pause.release();

    // Then the delete is refused (the key is a primary with others now), and the
    // added key is kept
    let (status, body) = deleting.await.unwrap();
    assert_eq!(status, 409, "{body}");
    let added_id = added["key"]["id"].as_str().unwrap();
    assert!(
        stack
            .active_ids(&pk(&user))
            .await
            .contains(&added_id.to_owned()),
        "the added key was deleted"
    );
}

#[tokio::test]
async fn a_report_about_a_key_replaced_since_its_use_is_stale_and_marks_nothing() {
    // Given a key handed out with its lease
    let stack = Stack::new().await;
    let calls = Calls::of(&stack);
    let user = unique("race");
    keys_of(calls, &user, 0).await;
    let used = calls.use_key(&user, "openai").await;
    assert_eq!(used["found"], true, "{used}");
    let (id, lease) = (
        used["keyId"].as_str().unwrap().to_owned(),
        used["lease"].as_str().expect("a lease").to_owned(),
    );

    // When the user replaces the key (same id), and then the app reports the old
    // key invalid with the lease it was handed
    let (status, body) = calls.store(&user, "openai", &key(5), Value::Null).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["config"]["id"], id.as_str());
    let report = calls
        .report(&user, "openai", &id, "invalid", Some(&lease))
        .await;

    // Then the report is stale, and the new key is handed out unmarked
    assert_eq!(report, json!({"recorded": false, "reason": "stale"}));
    let again = calls.use_key(&user, "openai").await;
    assert_eq!(again["apiKey"], key(5), "{again}");
    assert_ne!(again["lease"], lease.as_str());
}

#[tokio::test]
async fn a_report_about_a_key_tested_since_its_use_is_stale_and_a_current_one_marks_it() {
    // Given a key handed out with its lease, then tested again
    let stack = Stack::new().await;
    let calls = Calls::of(&stack);
    let user = unique("race");
    keys_of(calls, &user, 0).await;
    let used = calls.use_key(&user, "openai").await;
    let (id, lease) = (
        used["keyId"].as_str().unwrap().to_owned(),
        used["lease"].as_str().unwrap().to_owned(),
    );
    let item = stack.item(&pk(&user)).await.unwrap();
    let Some(AttributeValue::S(envelope)) = item.get("apiKey") else {
        panic!("no envelope")
    };
    let tested = stack
        .state
        .repo
        .record_validation(
            &user,
            apikeys::provider::ProviderId::OpenAi,
            "primary",
            envelope,
            "2026-12-07T00:00:00.000Z",
            "valid",
        )
        .await
        .unwrap();
    assert!(tested);

    // When the app reports the key as it was before the test
    let stale = calls
        .report(&user, "openai", &id, "invalid", Some(&lease))
        .await;
    // Then nothing is marked
    assert_eq!(stale, json!({"recorded": false, "reason": "stale"}));
    assert_eq!(calls.use_key(&user, "openai").await["found"], true);

    // And a report with the current lease marks it, as does one without a lease
    // (callers from before leases)
    let current = calls.use_key(&user, "openai").await;
    let fresh = calls
        .report(
            &user,
            "openai",
            &id,
            "rate_limited",
            current["lease"].as_str(),
        )
        .await;
    assert_eq!(fresh, json!({"recorded": true}));
    assert_eq!(calls.use_key(&user, "openai").await["found"], false);
    let old_style = calls.report(&user, "openai", &id, "ok", None).await;
    assert_eq!(old_style, json!({"recorded": true}));
    assert_eq!(calls.use_key(&user, "openai").await["found"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_keys_spending_between_a_uses_read_and_its_write_stops_the_key() {
    // Given a primary the provider marked rate limited, and a second key with a
    // budget of 10 tokens of which 4 are spent, and a use held after its read of the
    // partition (which found the second key usable), before its write
    let stack = Stack::new().await;
    let calls = Calls::of(&stack);
    let user = unique("race");
    let ids = keys_of(calls, &user, 1).await;
    let until = i128::from(time::OffsetDateTime::now_utc().unix_timestamp() + 3600) * 1000;
    stack
        .set_attribute(
            &pk(&user),
            "unavailableReason",
            AttributeValue::S("rate_limited".into()),
        )
        .await;
    stack
        .set_attribute(
            &pk(&user),
            "unavailableUntil",
            AttributeValue::N(until.to_string()),
        )
        .await;
    let (status, body) = calls
        .update_key(
            &user,
            "openai",
            &ids[1],
            json!({"budget": {"monthlyTokens": 10}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let month = apikeys::repo::month_of(time::OffsetDateTime::now_utc());
    let spend = |tokens: u64| apikeys::repo::Spent {
        requests: 1,
        input_tokens: tokens,
        output_tokens: 0,
    };
    let openai = apikeys::provider::ProviderId::OpenAi;
    let repo = &stack.state.repo;
    let total = repo
        .record_spending(&user, openai, &ids[1], &month, spend(4))
        .await
        .unwrap();
    assert_eq!(total.map(|t| t.spent.tokens()), Some(4));
    let pause = PauseBefore::default();
    let (state, sealing) = stack.paused(&pause);
    // The primary's one-round-trip update is refused (update 0); the second key's
    // is held (update 1).
    pause.arm("UpdateItem", 1);
    let using = {
        let user = user.clone();
        tokio::spawn(async move {
            Calls {
                state: &state,
                sealing: &sealing,
            }
            .use_key(&user, "openai")
            .await
        })
    };
    pause.reached().await;

    // When a proxied call's spending lands in between and reaches the budget
    let total = repo
        .record_spending(&user, openai, &ids[1], &month, spend(6))
        .await
        .unwrap();
    assert_eq!(total.map(|t| t.spent.tokens()), Some(10));
    pause.release();

    // Then the held use does not hand the spent key out, nor counts a use of it
    let used = using.await.unwrap();
    assert_eq!(used["found"], false, "{used}");
    assert!(used.get("apiKey").is_none(), "{used}");
    let (_, listed) = calls.keys(&user, "openai").await;
    let second = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == ids[1].as_str())
        .expect("the second key");
    assert_eq!(second["usageCount"], 0, "{listed}");
    assert_eq!(second["unavailable"], "budget_exhausted", "{listed}");
}

#[tokio::test]
async fn several_keys_a_migration_never_replaces_what_the_functions_wrote_in_the_new_table() {
    // Given old items of three users at versions above anything in the new table
    let stack = Stack::new().await;
    let calls = Calls::of(&stack);
    let (stored, added, deleted) = (unique("m-store"), unique("m-add"), unique("m-del"));
    let mut olds = Vec::new();
    for user in [&stored, &added, &deleted] {
        olds.push(stack.single_key_item(user, &key(9), 5).await);
    }
    let source = stack.single_key_table(&olds).await;

    // And, in the new table, a store, a store with a key added, and a delete
    assert_eq!(
        calls.store(&stored, "openai", &key(1), Value::Null).await.0,
        201
    );
    let added_ids = keys_of(calls, &added, 1).await;
    assert_eq!(
        calls
            .store(&deleted, "openai", &key(2), Value::Null)
            .await
            .0,
        201
    );
    assert_eq!(calls.delete_all(&deleted, "openai").await.0, 204);

    // When the migration runs
    let report = apikeys_admin::migrate::migrate(&source, &stack.state.repo, None, None, |_| {})
        .await
        .unwrap();

    // Then all three survive as the functions left them
    assert_eq!((report.copied, report.updated), (0, 0), "{report:?}");
    assert_eq!(calls.use_key(&stored, "openai").await["apiKey"], key(1));
    let mut want = added_ids.clone();
    want.sort();
    assert_eq!(stack.active_ids(&pk(&added)).await, want);
    let primary = stack.item(&pk(&added)).await.unwrap();
    assert_eq!(
        primary.get("keyCount"),
        Some(&AttributeValue::N("1".into()))
    );
    assert_eq!(stack.active_ids(&pk(&deleted)).await, Vec::<String>::new());
    assert_eq!(calls.use_key(&deleted, "openai").await["found"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_between_a_migration_read_and_its_write_wins() {
    // Given a migrated copy, and the old table written again since (a newer version)
    let stack = Stack::new().await;
    let calls = Calls::of(&stack);
    let user = unique("m-race");
    let source = stack
        .single_key_table(&[stack.single_key_item(&user, &key(8), 3).await])
        .await;
    let first = apikeys_admin::migrate::migrate(&source, &stack.state.repo, None, None, |_| {})
        .await
        .unwrap();
    assert_eq!(first.copied, 1, "{first:?}");
    let newer = stack.single_key_item(&user, &key(9), 6).await;
    stack.put_json(source.table(), &newer).await;

    // When a rerun is held after it read the copy, before it replaces it
    let pause = PauseBefore::default();
    let (state, _) = stack.paused(&pause);
    pause.arm("PutItem", 1);
    let rerun = {
        let source = source.clone();
        tokio::spawn(async move {
            apikeys_admin::migrate::migrate(&source, &state.repo, None, None, |_| {}).await
        })
    };
    pause.reached().await;
    // and the user stores a new key in between
    let (status, body) = calls.store(&user, "openai", &key(1), Value::Null).await;
    assert_eq!(status, 200, "{body}");
    pause.release();

    // Then the user's key is kept, and the rerun says so
    let report = rerun.await.unwrap().unwrap();
    assert_eq!((report.updated, report.kept_newer), (0, 1), "{report:?}");
    assert_eq!(calls.use_key(&user, "openai").await["apiKey"], key(1));
}
