//! `apikeys-admin rewrap`: every key under the current seed after a rotation.

use apikeys::config::{timestamp, ConfigItem};
use apikeys::crypto::{KeyContext, Keyring, StoredFormat, MIN_KDF_ITERATIONS};
use apikeys::provider::ProviderId;
use apikeys::seed::{KeyMaterial, KeyMaterialConfig};
use apikeys_admin::rewrap::{rewrap, rewrap_item, ItemOutcome};
use apikeys_integration_tests::{event_for, parts, request, set_body, unique, Stack};
use futures::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use time::OffsetDateTime;

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
                    sk: "primary".to_owned(),
                    user_id: user.clone(),
                    provider: "openai".into(),
                    id: format!("id-{i}"),
                    key_hint: Some("sk-proj-…wxyz".into()),
                    settings: Default::default(),
                    endpoint: None,
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
                    key_expires_at: None,
                    label: None,
                    priority: None,
                    key_count: None,
                    unavailable_reason: None,
                    unavailable_until: None,
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
