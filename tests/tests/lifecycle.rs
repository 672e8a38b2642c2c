//! Lifecycle and operations against the emulator: import from RealMultiLLM, rewrap
//! after a seed rotation, the usage function, maintenance and stats.

use std::collections::HashMap;

use apikeys::config::{timestamp, ConfigItem};
use apikeys::crypto::{
    KdfParams, KeyContext, Keyring, LegacyPolicy, Seed, StoredFormat, DEFAULT_KDF_SALT,
    MIN_KDF_ITERATIONS,
};
use apikeys::maintenance::sweep;
use apikeys::provider::ProviderId;
use apikeys::seed::{KeyMaterial, KeyMaterialConfig};
use apikeys::usage::{use_key, UsedKey};
use apikeys_admin::import::{import, ExportRow};
use apikeys_admin::rewrap::{rewrap, rewrap_item, ItemOutcome};
use apikeys_integration_tests::{event_for, parts, request, set_body, unique, Stack, TEST_SEED};
use aws_sdk_dynamodb::types::AttributeValue;
use futures::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};

fn vectors() -> Value {
    let text = include_str!("../../shared/tests/data/legacy-realmultillm.json");
    serde_json::from_str(text).unwrap()
}

fn vector(format: &str, id: &str) -> (String, String, String) {
    let v = vectors()[format]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == id)
        .unwrap()
        .clone();
    let s = |k: &str| v[k].as_str().unwrap().to_owned();
    (s("seed"), s("plaintext"), s("stored"))
}

fn params() -> KdfParams {
    KdfParams::new(DEFAULT_KDF_SALT, MIN_KDF_ITERATIONS).unwrap()
}

/// The stack's keyring (same seed and parameters) with the legacy seeds of the vectors used.
fn import_keyring(legacy_seeds: &[&str]) -> Keyring {
    let legacy: Vec<Seed> = legacy_seeds
        .iter()
        .map(|s| Seed::legacy(s.as_bytes().to_vec()))
        .collect();
    Keyring::derive(
        &Seed::new(TEST_SEED.as_bytes().to_vec()).unwrap(),
        &[],
        &params(),
    )
    .with_legacy(&legacy, LegacyPolicy::Allow)
}

fn row(id: &str, user: &str, provider: &str, key: Option<&str>) -> ExportRow {
    serde_json::from_value(json!({
        "id": id, "userId": user, "provider": provider, "apiKey": key,
        "settings": "{\"model\":\"m-1\",\"temperature\":0.5}",
        "isActive": true, "lastUsedAt": "2025-01-02T03:04:05.000Z", "usageCount": 7,
        "createdAt": "2024-06-01T10:00:00.000Z", "updatedAt": "2024-07-01T10:00:00.000Z",
    }))
    .unwrap()
}

#[tokio::test]
async fn an_export_with_both_legacy_formats_imports_and_a_rerun_changes_nothing() {
    // Given an export with both legacy formats, plaintext, null, inactive and bad rows
    let stack = Stack::new().await;
    let (seed_a, plain_a, stored_a) = vector("pbkdf2-json", "shared-0");
    let (seed_b, plain_b, stored_b) = vector("pbkdf2-json", "shared-1");
    let (seed_c, plain_c, stored_c) = vector("sha256-v2gcm", "shared-v2gcm-0");
    let plain_d = "AIzaSyImp0rtPlainGoogleKey0123456789abc";
    let mut broken = stored_c.clone();
    broken.replace_range(
        10..12,
        if &stored_c[10..12] == "AA" {
            "BB"
        } else {
            "AA"
        },
    );
    let mut inactive = row("r6", "u3", "claude", Some(&stored_b));
    inactive.is_active = false;
    let rows = vec![
        row("r1", "u1", "openai", Some(&stored_a)),
        row("r2", "u1", "anthropic", Some(&stored_b)),
        row("r3", "u2", "openai", Some(&stored_c)),
        row("r4", "u2", "gemini", Some(plain_d)),
        row("r5", "u3", "openai", None),
        inactive,
        row("r7", "u4", "openai", Some(&broken)),
        row("r8", "u4", "acme-ai", Some(plain_d)),
    ];
    let keyring = import_keyring(&[&seed_a, &seed_b, &seed_c]);

    // When it is imported
    let report = import(&stack.state.repo, &keyring, &rows, false)
        .await
        .unwrap();

    // Then the counts say what happened and the bad rows are named
    assert_eq!(report.rows, 8);
    assert_eq!(report.imported, 6);
    assert_eq!(report.legacy_converted, 3);
    assert_eq!(report.plaintext_encrypted, 1);
    assert_eq!(report.no_key, 1);
    assert_eq!(report.inactive, 1);
    let failed: Vec<&str> = report.failed.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(failed, vec!["r7", "r8"]);
    assert!(!serde_json::to_string(&report).unwrap().contains(&plain_a));

    // And every importable key opens through the usage function to its plaintext
    for (user, provider, plain) in [
        ("u1", ProviderId::OpenAi, &plain_a),
        ("u1", ProviderId::Claude, &plain_b),
        ("u2", ProviderId::OpenAi, &plain_c),
        ("u2", ProviderId::GoogleAi, &plain_d.to_owned()),
    ] {
        match use_key(&stack.sealing, user, provider).await.unwrap() {
            UsedKey::Active { key, config } => {
                assert_eq!(key.expose_secret(), plain.as_str(), "{user} {provider}");
                assert_eq!(config.usage_count, 8, "7 imported + this use");
                assert_eq!(config.created_at, "2024-06-01T10:00:00.000Z");
                assert_eq!(config.settings["model"], "m-1");
            }
            UsedKey::None => panic!("{user} {provider} not usable"),
        }
    }
    let item = stack.item("u1#openai").await.unwrap();
    assert_eq!(item["id"], AttributeValue::S("r1".into()));
    assert!(matches!(&item["apiKey"], AttributeValue::S(e) if e.starts_with("akv1.")));
    // The row without a key and the inactive row are there, inactive, without a key.
    for pk in ["u3#openai", "u3#claude"] {
        let item = stack.item(pk).await.unwrap();
        assert_eq!(item["isActive"], AttributeValue::Bool(false), "{pk}");
        assert!(!item.contains_key("apiKey"), "{pk}");
    }
    assert!(
        stack.item("u4#openai").await.is_none(),
        "the bad row wrote nothing"
    );

    // When the import runs again, nothing changes
    let before = stack.item("u2#openai").await.unwrap();
    let again = import(&stack.state.repo, &keyring, &rows, false)
        .await
        .unwrap();
    assert_eq!(again.imported, 0);
    assert_eq!(again.already_present, 6);
    assert_eq!(again.failed.len(), 2);
    let after = stack.item("u2#openai").await.unwrap();
    assert_eq!(before["apiKey"], after["apiKey"]);
    assert_eq!(before["version"], after["version"]);
}

#[tokio::test]
async fn a_dry_run_counts_and_writes_nothing() {
    let stack = Stack::new().await;
    let (seed, _, stored) = vector("sha256-v2gcm", "shared-v2gcm-1");
    let rows = vec![row("r1", "u1", "openrouter", Some(&stored))];

    let report = import(&stack.state.repo, &import_keyring(&[&seed]), &rows, true)
        .await
        .unwrap();

    assert_eq!(report.imported, 1);
    assert_eq!(report.legacy_converted, 1);
    assert!(stack.item("u1#openrouter").await.is_none());
}

async fn create_secret(sdk: &aws_config::SdkConfig, value: &str) -> String {
    let name = unique("rotating-seed");
    aws_sdk_secretsmanager::Client::new(sdk)
        .create_secret()
        .name(&name)
        .secret_string(value)
        .send()
        .await
        .unwrap();
    name
}

async fn keyring_from_secret(sdk: &aws_config::SdkConfig, name: &str) -> std::sync::Arc<Keyring> {
    let config = KeyMaterialConfig::from_lookup(|k| match k {
        "API_KEY_ENCRYPTION_SEED_SECRET_ID" => Some(name.to_owned()),
        "API_KEY_KDF_ITERATIONS" => Some(MIN_KDF_ITERATIONS.to_string()),
        _ => None,
    })
    .unwrap();
    KeyMaterial::new(config, sdk).keyring().await.unwrap()
}

fn plaintext(i: usize) -> String {
    format!("sk-proj-rotation{i:05}abcdefghijklmnopqrstuvwxyz")
}

#[tokio::test]
async fn rotation_then_an_interrupted_rewrap_loses_nothing() {
    const ITEMS: usize = 2_000;
    // Given 2,000 items sealed under seed 1 from Secrets Manager
    let stack = Stack::new().await;
    let seed_1 = "rotation-seed-one-0123456789abcdefghijklmnop";
    let seed_2 = "rotation-seed-two-0123456789abcdefghijklmnop";
    let secret = create_secret(&stack.sdk, seed_1).await;
    let ring_1 = keyring_from_secret(&stack.sdk, &secret).await;
    let now = timestamp(OffsetDateTime::now_utc());
    let repo = &stack.state.repo;
    futures::stream::iter(0..ITEMS)
        .for_each_concurrent(16, |i| {
            let ring_1 = ring_1.clone();
            let now = now.clone();
            async move {
                let user = format!("user{i:05}");
                let ctx = KeyContext::new(&user, "openai");
                let envelope = ring_1
                    .seal(&ctx, &SecretString::from(plaintext(i)))
                    .unwrap();
                let item = ConfigItem {
                    pk: ConfigItem::key(&user, ProviderId::OpenAi),
                    user_id: user.clone(),
                    provider: "openai".into(),
                    id: format!("id-{i}"),
                    key_hint: Some("sk-proj-…wxyz".into()),
                    settings: Default::default(),
                    is_active: true,
                    created_at: now.clone(),
                    updated_at: now.clone(),
                    key_stored_at: Some(now.clone()),
                    last_used_at: None,
                    last_validated_at: None,
                    last_validation_status: None,
                    deleted_at: None,
                    usage_count: 0,
                    version: 1,
                    expires_at: None,
                };
                assert!(repo.put_new(&item, Some(&envelope)).await.unwrap());
            }
        })
        .await;

    // When the secret is rotated (seed 2 AWSCURRENT, seed 1 AWSPREVIOUS)
    aws_sdk_secretsmanager::Client::new(&stack.sdk)
        .put_secret_value()
        .secret_id(&secret)
        .secret_string(seed_2)
        .send()
        .await
        .unwrap();
    let ring_2 = keyring_from_secret(&stack.sdk, &secret).await;
    assert_eq!(
        ring_2.key_ids(),
        vec![ring_2.current_key_id(), ring_1.current_key_id()]
    );

    // And a rewrap is interrupted midway
    let first = rewrap(repo, &ring_2, Some(1_000), |_| {}).await.unwrap();
    assert!(first.stopped_early);
    assert_eq!(first.rewrapped, 1_000);

    // And meanwhile a user stores a new key into an item still under seed 1, and
    // another item changes after a (simulated) rewrap read it
    let mut still_old = Vec::new();
    let mut start = None;
    loop {
        let page = repo.scan_page(start, true).await.unwrap();
        for (item, envelope) in page.items {
            let envelope = envelope.unwrap();
            if Keyring::format_of(&envelope).unwrap() == StoredFormat::Akv1(ring_1.current_key_id())
            {
                still_old.push((item, envelope));
            }
        }
        match page.next {
            Some(next) => start = Some(next),
            None => break,
        }
    }
    assert_eq!(still_old.len(), ITEMS - 1_000);
    let (stored_user, raced) = (&still_old[0].0, &still_old[1]);
    let new_key = "sk-proj-UserStoredMeanwhile0123456789abcdefgh";
    let rotated_sealing = apikeys::SealingState::new(
        stack.state.clone(),
        KeyMaterial::new(
            KeyMaterialConfig::from_lookup(|k| match k {
                "API_KEY_ENCRYPTION_SEED_SECRET_ID" => Some(secret.clone()),
                "API_KEY_KDF_ITERATIONS" => Some(MIN_KDF_ITERATIONS.to_string()),
                _ => None,
            })
            .unwrap(),
            &stack.sdk,
        ),
        apikeys::keytest::KeyTester::new(Default::default()),
    );
    for user in [&stored_user.user_id, &raced.0.user_id] {
        let mut event = event_for("store.json", Some(user));
        set_body(
            &mut event,
            &json!({"provider": "openai", "apiKey": new_key}),
        );
        let (status, _, _) =
            parts(apikeys::api::store::handle(&rotated_sealing, request(&event)).await);
        assert_eq!(status, 200);
    }
    let stale = rewrap_item(repo, &ring_2, &raced.0, &raced.1)
        .await
        .unwrap();
    assert_eq!(
        stale,
        ItemOutcome::Changed,
        "a stale read must not be written"
    );

    // When the rewrap runs again
    let second = rewrap(repo, &ring_2, None, |_| {}).await.unwrap();
    assert!(!second.stopped_early);
    assert_eq!(second.rewrapped, (ITEMS - 1_000 - 2) as u64);
    assert!(second.failed.is_empty());

    // Then every item is under seed 2 and opens to its plaintext; the user's stores stand
    let mut seen = 0;
    let mut start = None;
    loop {
        let page = repo.scan_page(start, true).await.unwrap();
        for (item, envelope) in page.items {
            let envelope = envelope.unwrap();
            let opened = ring_2
                .open(&KeyContext::new(&item.user_id, "openai"), &envelope)
                .unwrap();
            assert_eq!(opened.format, StoredFormat::Akv1(ring_2.current_key_id()));
            let i: usize = item.user_id.trim_start_matches("user").parse().unwrap();
            let expected = if item.user_id == stored_user.user_id || item.user_id == raced.0.user_id
            {
                new_key.to_owned()
            } else {
                plaintext(i)
            };
            assert_eq!(opened.secret.expose_secret(), expected, "{}", item.user_id);
            seen += 1;
        }
        match page.next {
            Some(next) => start = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, ITEMS, "none lost");
    let third = rewrap(repo, &ring_2, None, |_| {}).await.unwrap();
    assert_eq!(
        (third.rewrapped, third.current),
        (0, ITEMS as u64),
        "idempotent"
    );
}

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

fn seeded_item(
    user: &str,
    key_age_days: i64,
    last_used_days: Option<i64>,
    active: bool,
) -> ConfigItem {
    let now = OffsetDateTime::now_utc();
    let at = |days: i64| timestamp(now - Duration::days(days));
    ConfigItem {
        pk: ConfigItem::key(user, ProviderId::OpenAi),
        user_id: user.to_owned(),
        provider: "openai".into(),
        id: format!("id-{user}"),
        key_hint: active.then(|| "sk-…abcd".to_owned()),
        settings: Default::default(),
        is_active: active,
        created_at: at(key_age_days),
        updated_at: at(key_age_days),
        key_stored_at: Some(at(key_age_days)),
        last_used_at: last_used_days.map(at),
        last_validated_at: None,
        last_validation_status: None,
        deleted_at: (!active).then(|| at(1)),
        usage_count: 0,
        version: 1,
        expires_at: None,
    }
}

#[tokio::test]
async fn maintenance_finds_exactly_the_due_and_unused_keys() {
    // Given fresh, old-but-used, stored-and-never-used, old-and-unused and deleted items
    let stack = Stack::new().await;
    let items = [
        seeded_item("fresh", 1, Some(1), true),
        seeded_item("old-used", 100, Some(2), true),
        seeded_item("never-used", 40, None, true),
        seeded_item("old-unused", 120, Some(60), true),
        seeded_item("deleted", 200, None, false),
    ];
    for item in &items {
        stack
            .state
            .repo
            .put_new(item, Some("akv1.placeholder"))
            .await
            .unwrap();
    }

    // When the sweep runs
    let summary = sweep(
        &stack.state.repo,
        OffsetDateTime::now_utc(),
        Duration::days(90),
        Duration::days(30),
    )
    .await
    .unwrap();

    // Then it counts exactly the seeded findings
    assert_eq!(summary.scanned, 5);
    assert_eq!(summary.active, 4);
    assert_eq!(summary.rotation_due, 2, "old-used and old-unused");
    assert_eq!(summary.unused, 2, "never-used and old-unused");
}

#[tokio::test]
async fn stats_count_by_key_id_and_format() {
    let stack = Stack::new().await;
    let keyring = stack.sealing.keys.keyring().await.unwrap();
    let (_, _, legacy) = vector("sha256-v2gcm", "shared-v2gcm-0");
    let mut envelopes: HashMap<&str, String> = HashMap::new();
    for user in ["a", "b"] {
        envelopes.insert(
            user,
            keyring
                .seal(
                    &KeyContext::new(user, "openai"),
                    &SecretString::from("sk-proj-stats0123456789abcdefghij"),
                )
                .unwrap(),
        );
    }
    envelopes.insert("c", legacy);
    for (user, envelope) in &envelopes {
        stack
            .state
            .repo
            .put_new(&seeded_item(user, 100, Some(1), true), Some(envelope))
            .await
            .unwrap();
    }
    stack
        .state
        .repo
        .put_new(&seeded_item("d", 5, None, false), None)
        .await
        .unwrap();

    let stats = apikeys_admin::stats::stats(
        &stack.state.repo,
        OffsetDateTime::now_utc(),
        Duration::days(90),
        Duration::days(30),
    )
    .await
    .unwrap();

    assert_eq!((stats.total, stats.active, stats.inactive), (4, 3, 1));
    assert_eq!(
        stats.by_format[&format!("akv1/{}", keyring.current_key_id())],
        2
    );
    assert_eq!(stats.by_format["legacy/sha256-v2gcm"], 1);
    assert_eq!(stats.rotation_due, 3);
    assert_eq!(stats.unused, 0);
}
