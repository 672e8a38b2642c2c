//! `apikeys-admin migrate-keys`: a table of the single-key layout (key `pk` alone)
//! into the layout of several keys per provider, on the emulator. Nothing may be
//! lost or changed, a stopped run resumes, a rerun writes nothing, and a newer write
//! in either table wins.

use std::collections::HashMap;

use apikeys::crypto::KeyContext;
use apikeys::invoke::handle;
use apikeys::repo::{Item, KeyTable};
use apikeys_admin::migrate::{check_layouts, migrate, MigrateReport};
use apikeys_integration_tests::Stack;
use aws_sdk_dynamodb::types::AttributeValue;
use secrecy::SecretString;
use serde_json::json;

use super::import_keyring;

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A table as the single-key version provisioned it: `pk` (HASH) alone.
async fn single_key_table(stack: &Stack) -> String {
    stack.single_key_table(&[]).await.table().to_owned()
}

/// The items the single-key functions wrote, one of each shape: active keys with
/// settings, an endpoint, an expiry, use tokens and an unavailability mark; a
/// deleted one; a rate-limit counter. `users` active OpenAI keys in all.
fn single_key_items(users: usize) -> Vec<Item> {
    let keyring = import_keyring(&[]);
    let mut items = Vec::new();
    for i in 0..users {
        let user = format!("user{i:04}");
        let envelope = keyring
            .seal(
                &KeyContext::new(&user, "openai"),
                &SecretString::from(format!("sk-proj-Migrated{i:04}abcdefghijklmnopqrstuvwx")),
            )
            .unwrap();
        let mut item = HashMap::from([
            ("pk".to_owned(), s(&format!("{user}#openai"))),
            ("userId".to_owned(), s(&user)),
            ("provider".to_owned(), s("openai")),
            ("id".to_owned(), s(&format!("id-{i}"))),
            ("apiKey".to_owned(), s(&envelope)),
            ("keyHint".to_owned(), s("sk-p…uvwx")),
            ("isActive".to_owned(), AttributeValue::Bool(true)),
            ("createdAt".to_owned(), s("2025-03-01T10:00:00.000Z")),
            ("updatedAt".to_owned(), s("2025-03-02T10:00:00.000Z")),
            ("keyStoredAt".to_owned(), s("2025-03-01T10:00:00.000Z")),
            ("usageCount".to_owned(), n(i as i64)),
            ("version".to_owned(), n(3)),
            (
                "settings".to_owned(),
                AttributeValue::M(HashMap::from([
                    ("model".to_owned(), s("gpt-4o-mini")),
                    ("temperature".to_owned(), AttributeValue::N("0.7".into())),
                ])),
            ),
            ("lastUsedAt".to_owned(), AttributeValue::Null(true)),
        ]);
        match i % 4 {
            1 => {
                item.insert("keyExpiresAt".into(), s("2099-01-01T00:00:00.000Z"));
                item.insert("u0".into(), s("3f2a"));
                item.insert("u1".into(), s("-"));
            }
            2 => {
                item.insert("unavailableReason".into(), s("rate_limited"));
                item.insert("unavailableUntil".into(), n(1_700_000_000_000));
            }
            _ => {}
        }
        items.push(item);
    }
    items.push(HashMap::from([
        ("pk".to_owned(), s("gone#anthropic")),
        ("userId".to_owned(), s("gone")),
        ("provider".to_owned(), s("anthropic")),
        ("isActive".to_owned(), AttributeValue::Bool(false)),
        ("deletedId".to_owned(), s("old-id")),
        ("deletedCreatedAt".to_owned(), s("2025-01-01T00:00:00.000Z")),
        ("deletedAt".to_owned(), s("2025-02-01T00:00:00.000Z")),
        ("updatedAt".to_owned(), s("2025-02-01T00:00:00.000Z")),
        ("expiresAt".to_owned(), n(1_900_000_000)),
        ("version".to_owned(), n(7)),
    ]));
    items.push(HashMap::from([
        ("pk".to_owned(), s("ratelimit#key-test#user0001")),
        ("t0".to_owned(), n(0)),
        ("t1".to_owned(), n(1_700_000_000_000)),
        ("expiresAt".to_owned(), n(1_900_000_000)),
    ]));
    items
}

async fn put_all(stack: &Stack, table: &str, items: &[Item]) {
    for item in items {
        stack
            .dynamodb
            .put_item()
            .table_name(table)
            .set_item(Some(item.clone()))
            .send()
            .await
            .expect("put a single-key item");
    }
}

/// Every item of `table` by (pk, sk), read with a consistent scan.
async fn all_items(repo: &KeyTable) -> HashMap<(String, Option<String>), Item> {
    let mut out = HashMap::new();
    let mut start = None;
    loop {
        let page = repo.raw_page(start).await.unwrap();
        for item in page.items {
            let key = |name: &str| match item.get(name) {
                Some(AttributeValue::S(v)) => Some(v.clone()),
                _ => None,
            };
            out.insert((key("pk").unwrap(), key("sk")), item);
        }
        match page.next {
            Some(next) => start = Some(next),
            None => return out,
        }
    }
}

/// What the source item becomes: itself with its slot.
fn expected(item: &Item) -> Item {
    let mut want = item.clone();
    let Some(AttributeValue::S(pk)) = item.get("pk") else {
        panic!("no pk")
    };
    want.insert("sk".into(), s(apikeys::repo::single_key_slot(pk)));
    // Stamped as the migration's own copy, with the version it copied.
    let version = match item.get("version") {
        Some(v) => v.clone(),
        None => n(0),
    };
    want.insert(apikeys::repo::MIGRATED_VERSION.into(), version);
    want
}

#[tokio::test]
async fn a_single_key_table_moves_without_losing_or_changing_an_item_and_resumes() {
    const USERS: usize = 300;
    // Given a single-key table of 300 keys (two scan pages), a tombstone and a counter
    let stack = Stack::new().await;
    let source_table = single_key_table(&stack).await;
    let items = single_key_items(USERS);
    put_all(&stack, &source_table, &items).await;
    let source = KeyTable::new(stack.dynamodb.clone(), &source_table);
    let target = stack.state.repo.clone();

    // When a run stops after 120 items, and the next resumes where it said
    let first = migrate(&source, &target, None, Some(120), |_| {})
        .await
        .unwrap();
    assert!(first.stopped_early, "{first:?}");
    assert_eq!((first.scanned, first.copied), (120, 120), "{first:?}");
    let resume = first.last_pk.clone().expect("where to resume");
    assert!(first
        .render()
        .contains(&format!("--start-after '{resume}'")));
    let second = migrate(&source, &target, Some(&resume), None, |_| {})
        .await
        .unwrap();

    // Then every item is in the new table exactly once, unchanged but for its slot
    assert_eq!(second.copied as usize, items.len() - 120, "{second:?}");
    assert!(!second.stopped_early);
    let moved = all_items(&target).await;
    assert_eq!(moved.len(), items.len());
    for item in &items {
        let want = expected(item);
        let Some(AttributeValue::S(pk)) = want.get("pk") else {
            unreachable!()
        };
        let Some(AttributeValue::S(sk)) = want.get("sk") else {
            unreachable!()
        };
        let got = moved
            .get(&(pk.clone(), Some(sk.clone())))
            .unwrap_or_else(|| panic!("{pk} was not copied"));
        assert_eq!(got, &want, "{pk} changed on the way");
    }
    // And the source is left as it was
    assert_eq!(all_items(&source).await.len(), items.len());

    // And a rerun from the start writes nothing
    let again = migrate(&source, &target, None, None, |_| {}).await.unwrap();
    assert_eq!(
        again,
        MigrateReport {
            scanned: items.len() as u64,
            already_copied: items.len() as u64,
            last_pk: again.last_pk.clone(),
            ..MigrateReport::default()
        }
    );

    // And a migrated key opens and is handed out by use-key, its use recorded
    let answer = handle(
        &stack.sealing,
        &json!({"userId": "user0003", "provider": "openai"}),
        "req-migrated",
    )
    .await;
    assert_eq!(answer["found"], true, "{answer}");
    assert_eq!(answer["keyId"], "id-3");
    assert_eq!(
        answer["apiKey"],
        "sk-proj-Migrated0003abcdefghijklmnopqrstuvwx"
    );
}

#[tokio::test]
async fn the_newer_write_wins_when_a_migration_runs_again() {
    // Given a migrated table
    let stack = Stack::new().await;
    let source_table = single_key_table(&stack).await;
    let items = single_key_items(3);
    put_all(&stack, &source_table, &items).await;
    let source = KeyTable::new(stack.dynamodb.clone(), &source_table);
    let target = stack.state.repo.clone();
    migrate(&source, &target, None, None, |_| {}).await.unwrap();

    // When the functions write user0000 in the new table (a newer version there),
    // and someone writes user0001 in the old one (a newer version there)
    stack
        .set_attribute("user0000#openai", "version", n(4))
        .await;
    stack
        .set_attribute("user0000#openai", "keyHint", s("sk-p…new0"))
        .await;
    let mut newer = items[1].clone();
    newer.insert("version".into(), n(9));
    newer.insert("usageCount".into(), n(42));
    put_all(&stack, &source_table, std::slice::from_ref(&newer)).await;
    let report = migrate(&source, &target, None, None, |_| {}).await.unwrap();

    // Then the new table keeps its own newer item and takes the old table's newer one
    assert_eq!((report.kept_newer, report.updated), (1, 1), "{report:?}");
    let kept = stack.item("user0000#openai").await.unwrap();
    assert_eq!(kept.get("keyHint"), Some(&s("sk-p…new0")));
    let updated = stack.item("user0001#openai").await.unwrap();
    assert_eq!(updated, expected(&newer));
}

#[tokio::test]
async fn a_migration_refuses_tables_of_the_wrong_layout() {
    let stack = Stack::new().await;
    let single = single_key_table(&stack).await;
    // The right way round passes the check; the wrong way round is refused before
    // any write, naming the table.
    check_layouts(&stack.dynamodb, &single, &stack.table)
        .await
        .expect("single-key source, two-key target");
    let err = check_layouts(&stack.dynamodb, &stack.table, &single)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&stack.table) && err.contains("keyed pk"),
        "{err}"
    );
    // And the copy of one item refuses an item that has a slot already.
    let mut item = single_key_items(1).remove(0);
    item.insert("sk".into(), s("primary"));
    let err = stack
        .state
        .repo
        .copy_single_key_item(item)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not a single-key table"), "{err}");
}
