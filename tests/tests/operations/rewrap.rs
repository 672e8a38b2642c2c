//! `apikeys-admin rewrap`: every key under the current seed after a rotation.

use apikeys::crypto::{KeyContext, Keyring, StoredFormat, MIN_KDF_ITERATIONS};
use apikeys::domain::timestamp;
use apikeys::provider::ProviderId;
use apikeys::repo::KeyRow;
use apikeys::seed::{KeyMaterial, SeedSettings};
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
    let config = SeedSettings::from_lookup(&|k| match k {
        "APIKEYS_SEED_SECRET_ID" => Some(name.to_owned()),
        "APIKEYS_KDF_ITERATIONS" => Some(MIN_KDF_ITERATIONS.to_string()),
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
                let item = KeyRow {
                    pk: KeyRow::key(&user, ProviderId::OpenAi),
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
                    key_revision: 1,
                    expires_at: None,
                    key_expires_at: None,
                    label: None,
                    priority: None,
                    key_count: None,
                    unavailable_reason: None,
                    unavailable_until: None,
                    month_usage: None,
                    budget: None,
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
            SeedSettings::from_lookup(&|k| match k {
                "APIKEYS_SEED_SECRET_ID" => Some(secret.clone()),
                "APIKEYS_KDF_ITERATIONS" => Some(MIN_KDF_ITERATIONS.to_string()),
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
async fn several_keys_a_rewrap_reaches_every_key_of_a_provider() {
    use apikeys::crypto::{KdfParams, Seed, DEFAULT_KDF_SALT};
    // Given a primary and another key of one provider, under the stack's seed
    let stack = Stack::new().await;
    let user = unique("rewrap-keys");
    let store = |path: &str, body: serde_json::Value| {
        let mut event = event_for("store.json", Some(&user));
        event["rawPath"] = json!(path);
        event["requestContext"]["http"]["path"] = json!(path);
        event["pathParameters"] = json!({"provider": "openai"});
        set_body(&mut event, &body);
        event
    };
    let first = "sk-proj-RewrapPrimary0123456789abcdefghijklm";
    let second = "sk-proj-RewrapSecond0123456789abcdefghijklmn";
    let e = store(
        "/api/provider-configs",
        json!({"provider": "openai", "apiKey": first}),
    );
    assert_eq!(
        parts(apikeys::api::store::handle(&stack.sealing, request(&e)).await).0,
        201
    );
    let e = store(
        "/api/provider-configs/openai/keys",
        json!({"apiKey": second}),
    );
    let (status, _, added) = parts(apikeys::api::store::handle(&stack.sealing, request(&e)).await);
    assert_eq!(status, 201, "{added}");
    let second_id = added["key"]["id"].as_str().unwrap().to_owned();

    // When the seed rotates and rewrap runs
    let params = KdfParams::new(DEFAULT_KDF_SALT, MIN_KDF_ITERATIONS).unwrap();
    let old = Seed::new(apikeys_integration_tests::TEST_SEED.as_bytes().to_vec()).unwrap();
    let ring_2 = Keyring::derive(
        &Seed::new(b"the-seed-after-rotation-0123456789abcdefghij".to_vec()).unwrap(),
        &[old],
        &params,
    );
    let report = rewrap(&stack.state.repo, &ring_2, None, |_| {})
        .await
        .unwrap();

    // Then both keys are under the new seed and open to their own plaintext
    assert_eq!((report.rewrapped, report.scanned), (2, 2), "{report:?}");
    let pk = format!("{user}#openai");
    for (sk, plaintext) in [
        ("primary".to_owned(), first),
        (format!("key#{second_id}"), second),
    ] {
        let item = stack.item_at(&pk, &sk).await.unwrap();
        let envelope = apikeys_integration_tests::text(&item, "apiKey").unwrap();
        let opened = ring_2
            .open(&KeyContext::new(&user, "openai"), envelope)
            .unwrap();
        assert_eq!(
            opened.format,
            StoredFormat::Akv1(ring_2.current_key_id()),
            "{sk}"
        );
        assert_eq!(opened.secret.expose_secret(), plaintext, "{sk}");
    }
}
