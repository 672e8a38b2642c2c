//! `apikeys-admin import`: a RealMultiLLM export into `akv1` items.

use apikeys::keytest::{KeyTestSettings, KeyTester};
use apikeys::provider::ProviderId;
use apikeys::usage::{use_key, UsedKey};
use apikeys_admin::import::{import, ExportRow};
use apikeys_admin::stats::stats;
use apikeys_integration_tests::{event_for, parts, request, set_body, text, Stack};
use aws_sdk_dynamodb::types::AttributeValue;
use secrecy::ExposeSecret;
use serde_json::json;
use time::{Duration, OffsetDateTime};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

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
        match use_key(&stack.sealing, user, provider, None).await.unwrap() {
            UsedKey::Active { key, stored, .. } => {
                assert_eq!(key.expose_secret(), plain.as_str(), "{user} {provider}");
                assert_eq!(stored.usage_count, 8, "7 imported + this use");
                assert_eq!(stored.created_at, "2024-06-01T10:00:00.000Z");
                assert_eq!(stored.settings["model"], "m-1");
            }
            UsedKey::Refused(_) => panic!("{user} {provider} not usable"),
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

/// A tester whose every provider is a fake on loopback that refuses every key, so
/// a check that reached a provider would answer `invalid`, never `format_invalid`.
async fn refusing_providers(stack: &mut Stack) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    let mut settings = KeyTestSettings::default();
    for provider in ProviderId::ALL {
        settings.set_base_url(provider, &server.uri()).unwrap();
    }
    stack.sealing.tester = KeyTester::new(settings);
    server
}

#[tokio::test]
async fn values_that_break_todays_key_rules_are_imported_and_marked_format_invalid() {
    // Given legacy values that open to an empty key, a non-ASCII key, a short key
    // with a space, and a good key
    let mut stack = Stack::new().await;
    let provider_fake = refusing_providers(&mut stack).await;
    let (seed_e, plain_e, stored_e) = vector("pbkdf2-json", "shared-3");
    let (seed_u, plain_u, stored_u) = vector("pbkdf2-json", "shared-4");
    let (seed_s, plain_s, stored_s) = vector("sha256-v2gcm", "shared-v2gcm-3");
    let (seed_g, plain_g, stored_g) = vector("pbkdf2-json", "shared-0");
    assert_eq!((plain_e.as_str(), plain_u.as_str()), ("", "ключ-🔑-4"));
    let rows = vec![
        row("f1", "u1", "openai", Some(&stored_e)),
        row("f2", "u1", "anthropic", Some(&stored_u)),
        row("f3", "u2", "grok", Some(&stored_s)),
        row("f4", "u2", "openai", Some(&stored_g)),
    ];
    let keyring = import_keyring(&[&seed_e, &seed_u, &seed_s, &seed_g]);

    // When the export is imported
    let report = import(&stack.state.repo, &keyring, &rows, false)
        .await
        .unwrap();

    // Then nothing is lost: every value is imported
    assert_eq!(report.imported, 4);
    assert_eq!(report.legacy_converted, 4);
    assert!(report.failed.is_empty(), "{:?}", report.failed);

    // And each opens, for the app's servers, to exactly what the legacy app held
    let marked = [
        ("u1", ProviderId::OpenAi, &plain_e),
        ("u1", ProviderId::Claude, &plain_u),
        ("u2", ProviderId::Grok, &plain_s),
    ];
    for (user, provider, plain) in marked.iter().chain([&("u2", ProviderId::OpenAi, &plain_g)]) {
        match use_key(&stack.sealing, user, *provider, None)
            .await
            .unwrap()
        {
            UsedKey::Active { key, .. } => {
                assert_eq!(key.expose_secret(), plain.as_str(), "{user} {provider}")
            }
            UsedKey::Refused(_) => panic!("{user} {provider} was not imported"),
        }
    }

    // And the three are counted and named apart, by user and provider, never by key
    let named: Vec<(&str, &str, &str)> = report
        .format_invalid
        .iter()
        .map(|r| (r.id.as_str(), r.user_id.as_str(), r.provider.as_str()))
        .collect();
    assert_eq!(
        named,
        [
            ("f1", "u1", "openai"),
            ("f2", "u1", "claude"),
            ("f3", "u2", "grok")
        ]
    );
    let printed = report.render(false);
    assert!(printed.contains("user u1, provider claude"), "{printed}");
    let json = serde_json::to_string(&report).unwrap();
    for plain in [&plain_u, &plain_s, &plain_g] {
        assert!(!json.contains(plain.as_str()) && !printed.contains(plain.as_str()));
    }

    // And the items are marked, with a hint that shows none of the key
    for (user, provider, _) in &marked {
        let item = stack.item(&format!("{user}#{provider}")).await.unwrap();
        assert_eq!(text(&item, "lastValidationStatus"), Some("format_invalid"));
        assert!(text(&item, "lastValidatedAt").is_some());
        assert_eq!(text(&item, "keyHint"), Some("…"));
        assert_eq!(item["isActive"], AttributeValue::Bool(true));
    }
    let good = stack.item("u2#openai").await.unwrap();
    assert_eq!(text(&good, "lastValidationStatus"), None);

    // And stats count them
    let stats = stats(
        &stack.state.repo,
        None,
        OffsetDateTime::now_utc(),
        Duration::days(90),
        Duration::days(30),
    )
    .await
    .unwrap();
    assert_eq!((stats.active, stats.format_invalid), (4, 3));

    // And the key test of a stored one says format_invalid without asking a provider
    for (user, provider) in [("u1", "openai"), ("u1", "claude")] {
        let mut event = event_for("test-key.json", Some(user));
        set_body(&mut event, &json!({ "provider": provider }));
        let (status, _, body) =
            parts(apikeys::api::test_key::handle(&stack.sealing, request(&event)).await);
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["status"], "format_invalid",
            "{user} {provider}: {body}"
        );
    }
    assert!(provider_fake.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn several_keys_a_second_row_of_a_users_provider_imports_as_another_key() {
    // Given an export with two OpenAI rows for one user (and a plaintext key each)
    let stack = Stack::new().await;
    let first = "sk-proj-ImportFirst0123456789abcdefghijklmnop";
    let second = "sk-proj-ImportSecond0123456789abcdefghijklmno";
    let rows = vec![
        row("k1", "multi", "openai", Some(first)),
        row("k2", "multi", "openai", Some(second)),
    ];
    let keyring = import_keyring(&[]);

    // When it is imported, twice
    let report = import(&stack.state.repo, &keyring, &rows, false)
        .await
        .unwrap();
    let again = import(&stack.state.repo, &keyring, &rows, false)
        .await
        .unwrap();

    // Then the first row is the primary and the second another key, counted by it,
    // and the rerun changes nothing
    assert_eq!((report.imported, report.other_keys), (2, 1), "{report:?}");
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!((again.imported, again.already_present), (0, 2), "{again:?}");
    let keys = stack
        .state
        .repo
        .provider_keys("multi", ProviderId::OpenAi)
        .await
        .unwrap();
    let ids: Vec<(&str, bool)> = keys.iter().map(|k| (k.id.as_str(), k.primary)).collect();
    assert_eq!(ids, [("k1", true), ("k2", false)]);
    assert_eq!(
        apikeys_integration_tests::number(&stack.item("multi#openai").await.unwrap(), "keyCount"),
        Some(1)
    );
    assert!(stack.item_at("multi#openai", "key#k2").await.is_some());
    assert_eq!(keys[1].usage_count, 7);
    // And use-key hands out the second when the first is unavailable
    stack
        .set_attribute(
            "multi#openai",
            "unavailableReason",
            AttributeValue::S("invalid".into()),
        )
        .await;
    let answer = apikeys::invoke::handle(
        &stack.sealing,
        &json!({"userId": "multi", "provider": "openai"}),
        "req-import",
    )
    .await;
    assert_eq!(answer["apiKey"], second, "{answer}");
    assert_eq!(answer["settings"]["model"], "m-1");
}
