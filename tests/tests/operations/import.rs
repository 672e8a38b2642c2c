//! `apikeys-admin import`: a RealMultiLLM export into `akv1` items.

use apikeys::provider::ProviderId;
use apikeys::usage::{use_key, UsedKey};
use apikeys_admin::import::{import, ExportRow};
use apikeys_integration_tests::Stack;
use aws_sdk_dynamodb::types::AttributeValue;
use secrecy::ExposeSecret;
use serde_json::json;

use super::{import_keyring, vector};

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
        row("r8", "u4", "mistral", Some(plain_d)),
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
