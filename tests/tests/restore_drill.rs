//! The restore drill of docs/operations.md, followed on the local stack: export the
//! table, wipe it, restore it into a new table, and every key opens and the counts by
//! key id are `stats`' from before. Then the case that bites real vaults: a restore
//! to a point before seed rotations. After one rotation `AWSPREVIOUS` still opens the
//! restored keys; after two nothing does, until the old seed version is staged as
//! `AWSPREVIOUS` again and `rewrap` seals the restored keys under today's seed.

use std::collections::HashMap;

use apikeys::crypto::MIN_KDF_ITERATIONS;
use apikeys::repo::KeyTable;
use apikeys::seed::{KeyMaterial, SeedFetcher, SeedSettings};
use apikeys::settings::ServiceSettings;
use apikeys::{SealingState, State};
use apikeys_admin::stats::{stats, KnownKeys, Stats};
use apikeys_integration_tests::calls::Calls;
use apikeys_integration_tests::{emulator_endpoint, unique, Item, Stack};
use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};

const SEED_1: &str = "restore-drill-seed-one-0123456789abcdefghijklmnopq";
const SEED_2: &str = "restore-drill-seed-two-0123456789abcdefghijklmnopq";
const SEED_3: &str = "restore-drill-seed-three-0123456789abcdefghijklmno";

fn seed_settings(secret: &str) -> SeedSettings {
    let vars: HashMap<&str, String> = [
        ("APIKEYS_SEED_SECRET_ID", secret.to_owned()),
        ("APIKEYS_KDF_ITERATIONS", MIN_KDF_ITERATIONS.to_string()),
    ]
    .into();
    SeedSettings::from_lookup(&|k| vars.get(k).cloned()).expect("the seed settings")
}

/// A function over `table` with the seed of `secret`, as a fresh cold start reads it.
fn function(stack: &Stack, table: &str, secret: &str) -> SealingState {
    let state = State::new(
        stack.dynamodb.clone(),
        ServiceSettings {
            table_name: table.to_owned(),
            ..ServiceSettings::default()
        },
    );
    SealingState::new(
        state,
        KeyMaterial::new(seed_settings(secret), &stack.sdk),
        apikeys::keytest::KeyTester::new(apikeys::keytest::KeyTestSettings::default()),
    )
}

async fn scan_all(stack: &Stack, table: &str) -> Vec<Item> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = stack
            .dynamodb
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        items.extend(page.items.unwrap_or_default());
        match page.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return items,
        }
    }
}

async fn table_stats(stack: &Stack, table: &str, secret: &str) -> Stats {
    let keyring = SeedFetcher::new(&stack.sdk)
        .keyring(&seed_settings(secret))
        .await
        .expect("the operator's keyring");
    let repo = KeyTable::new(stack.dynamodb.clone(), table);
    stats(
        &repo,
        Some(&KnownKeys::of(&keyring)),
        OffsetDateTime::now_utc(),
        Duration::days(90),
        Duration::days(30),
    )
    .await
    .expect("stats")
}

/// What use-key hands out for each (user, provider): the key, or the answer.
async fn every_key(sealing: &SealingState, users: &[(String, &str, String)]) -> Vec<Value> {
    let mut answers = Vec::new();
    for (user, provider, _) in users {
        let answer = apikeys::invoke::handle(
            sealing,
            &json!({"userId": user, "provider": provider}),
            "req-drill",
        )
        .await;
        answers.push(answer);
    }
    answers
}

fn all_open(answers: &[Value], users: &[(String, &str, String)]) -> bool {
    answers
        .iter()
        .zip(users)
        .all(|(a, (_, _, key))| a["found"] == true && a["apiKey"] == key.as_str())
}

#[tokio::test]
async fn export_wipe_restore_and_a_restore_from_before_two_rotations() {
    let _ = emulator_endpoint();
    let stack = Stack::new().await;
    let sm = aws_sdk_secretsmanager::Client::new(&stack.sdk);
    let secret = unique("drill-seed");
    let v1 = sm
        .create_secret()
        .name(&secret)
        .secret_string(SEED_1)
        .send()
        .await
        .expect("the seed secret")
        .version_id
        .expect("its version");
    let live = function(&stack, &stack.table, &secret);
    let calls = Calls {
        state: &live.base,
        sealing: &live,
    };

    // Keys of four users and two providers, some used.
    let mut users = Vec::new();
    for i in 0..4 {
        let user = unique(&format!("drill-{i}"));
        for (provider, key) in [
            (
                "openai",
                format!("sk-proj-Drill{i}Key0123456789abcdefghijklmnop"),
            ),
            (
                "anthropic",
                format!("sk-ant-api03-Drill{i}Key0123456789abcdefghijklmn"),
            ),
        ] {
            let (status, body) = calls.store(&user, provider, &key, Value::Null).await;
            assert_eq!(status, 201, "{body}");
            users.push((user.clone(), provider, key));
        }
    }
    assert!(all_open(&every_key(&live, &users).await, &users));
    let before = table_stats(&stack, &stack.table, &secret).await;
    assert_eq!(before.active, 8);

    // Export (what a point-in-time backup holds), then wipe.
    let exported = scan_all(&stack, &stack.table).await;
    assert_eq!(exported.len(), 8);
    for item in &exported {
        let key: Item = ["pk", "sk"]
            .iter()
            .filter_map(|k| item.get(*k).map(|v| ((*k).to_owned(), v.clone())))
            .collect();
        stack
            .dynamodb
            .batch_write_item()
            .request_items(
                &stack.table,
                vec![WriteRequest::builder()
                    .delete_request(DeleteRequest::builder().set_key(Some(key)).build().unwrap())
                    .build()],
            )
            .send()
            .await
            .expect("wipe");
    }
    assert!(scan_all(&stack, &stack.table).await.is_empty());
    assert!(every_key(&live, &users)
        .await
        .iter()
        .all(|a| a["found"] == false));

    // Restore into a new table, as a point-in-time restore does.
    let restored = unique("drill-restored");
    apikeys_admin::provision_table(&stack.dynamodb, &restored)
        .await
        .expect("the restored table");
    for item in &exported {
        stack
            .dynamodb
            .put_item()
            .table_name(&restored)
            .set_item(Some(item.clone()))
            .send()
            .await
            .expect("restore an item");
    }
    let after = table_stats(&stack, &restored, &secret).await;
    assert_eq!(after.by_key_id, before.by_key_id, "counts by key id");
    assert_eq!((after.total, after.active), (before.total, before.active));
    let on_restored = function(&stack, &restored, &secret);
    assert!(all_open(&every_key(&on_restored, &users).await, &users));

    // One rotation later, the restored keys (sealed under SEED_1) still open:
    // AWSPREVIOUS is SEED_1.
    let v2 = sm
        .put_secret_value()
        .secret_id(&secret)
        .secret_string(SEED_2)
        .send()
        .await
        .expect("rotate")
        .version_id
        .expect("its version");
    let after_one = function(&stack, &restored, &secret);
    assert!(all_open(&every_key(&after_one, &users).await, &users));

    // Two rotations later, no staged version holds SEED_1: nothing opens, and
    // nothing but an opaque error is answered.
    sm.put_secret_value()
        .secret_id(&secret)
        .secret_string(SEED_3)
        .send()
        .await
        .expect("rotate again");
    let after_two = function(&stack, &restored, &secret);
    let answers = every_key(&after_two, &users).await;
    for answer in &answers {
        assert!(answer.get("apiKey").is_none(), "{answer}");
        assert!(answer.get("error").is_some(), "{answer}");
    }

    // The remedy: stage the old version as AWSPREVIOUS again, rewrap the restored
    // table under today's seed, and put the label back.
    sm.update_secret_version_stage()
        .secret_id(&secret)
        .version_stage("AWSPREVIOUS")
        .move_to_version_id(&v1)
        .remove_from_version_id(&v2)
        .send()
        .await
        .expect("stage SEED_1 as AWSPREVIOUS");
    let keyring = SeedFetcher::new(&stack.sdk)
        .keyring(&seed_settings(&secret))
        .await
        .expect("the operator's keyring");
    let repo = KeyTable::new(stack.dynamodb.clone(), &restored);
    let report = apikeys_admin::rewrap::rewrap(&repo, &keyring, None, |_| {})
        .await
        .expect("rewrap");
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(report.rewrapped, 8, "{report:?}");
    sm.update_secret_version_stage()
        .secret_id(&secret)
        .version_stage("AWSPREVIOUS")
        .move_to_version_id(&v2)
        .remove_from_version_id(&v1)
        .send()
        .await
        .expect("put the label back");
    let healed = function(&stack, &restored, &secret);
    assert!(all_open(&every_key(&healed, &users).await, &users));
    let last = table_stats(&stack, &restored, &secret).await;
    assert_eq!(last.not_current, Some(0), "{last:?}");
}
