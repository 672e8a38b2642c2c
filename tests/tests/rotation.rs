//! Seed rotation reaching warm instances, against the emulator's Secrets Manager:
//! the keyring's max age, one derivation per seed, a failed reload that keeps
//! serving, the reload on an unknown key id and its rate limit, one consistent
//! view of the secret's versions, and a rotation followed by `rewrap` through the
//! store and test-key handlers.

use std::collections::HashMap;
use std::time::Duration;

use apikeys::crypto::{
    KdfParams, KeyContext, KeyId, Keyring, Seed, StoredFormat, DEFAULT_KDF_SALT, MIN_KDF_ITERATIONS,
};
use apikeys::keytest::{KeyTestSettings, KeyTester};
use apikeys::provider::ProviderId;
use apikeys::repo::KeyTable;
use apikeys::seed::{KeyMaterial, KeyMaterialError, SealingError, SeedFetcher, SeedSettings};
use apikeys::SealingState;
use apikeys_integration_tests::{
    emulator_config, event_for, parts, request, sdk_config_for, set_body, text, unique, LogCapture,
    Stack,
};
use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SEED_1: &str = "rotation-seed-one-0123456789abcdefghijklmnopqrstuvwxyz";
const SEED_2: &str = "rotation-seed-two-0123456789abcdefghijklmnopqrstuvwxyz";
const SEED_3: &str = "rotation-seed-three-0123456789abcdefghijklmnopqrstuvwx";
const KEY: &str = "sk-proj-R0tationKey0123456789abcdefghijklmnOPQR";

/// Key material over the secret `secret_id`, read again after `max_age_secs`.
fn config(secret_id: &str, max_age_secs: u64) -> SeedSettings {
    let vars: HashMap<&str, String> = [
        ("APIKEYS_SEED_SECRET_ID", secret_id.to_owned()),
        ("APIKEYS_KDF_ITERATIONS", MIN_KDF_ITERATIONS.to_string()),
        ("APIKEYS_KEYRING_MAX_AGE_SECONDS", max_age_secs.to_string()),
    ]
    .into();
    SeedSettings::from_lookup(&|k| vars.get(k).cloned()).expect("valid configuration")
}

/// The smallest max age, so that tests can outlive it.
const SHORT: u64 = 1;
/// Far longer than any test: the keyring is never read again because of its age.
const LONG: u64 = 3_600;

/// Sleeps past [`SHORT`] with a margin: not a timing assertion, only a wait.
async fn outlive_short_max_age() {
    tokio::time::sleep(Duration::from_millis(1_500)).await;
}

fn key_id_of(seed: &str) -> KeyId {
    let params = KdfParams::new(DEFAULT_KDF_SALT, MIN_KDF_ITERATIONS).unwrap();
    Keyring::derive(&Seed::new(seed.as_bytes().to_vec()).unwrap(), &[], &params).current_key_id()
}

fn sealed_under(envelope: &str) -> KeyId {
    match Keyring::format_of(envelope) {
        Ok(StoredFormat::Akv1(id)) => id,
        other => panic!("not an akv1 envelope: {other:?}"),
    }
}

async fn new_secret(sdk: &SdkConfig, seed: &str) -> String {
    let name = unique("rotation-seed");
    aws_sdk_secretsmanager::Client::new(sdk)
        .create_secret()
        .name(&name)
        .secret_string(seed)
        .send()
        .await
        .expect("create secret");
    name
}

/// What `aws secretsmanager put-secret-value` does: a new `AWSCURRENT`, the old
/// one becomes `AWSPREVIOUS`.
async fn rotate(sdk: &SdkConfig, name: &str, seed: &str) {
    aws_sdk_secretsmanager::Client::new(sdk)
        .put_secret_value()
        .secret_id(name)
        .secret_string(seed)
        .send()
        .await
        .expect("rotate secret");
}

fn ctx() -> KeyContext<'static> {
    KeyContext::new("rotation-user", "openai")
}

fn key() -> SecretString {
    SecretString::from(KEY)
}

#[tokio::test]
async fn after_the_max_age_a_rotated_seed_seals() {
    // Given a warm keyring over a secret that is then rotated
    let sdk = emulator_config().await;
    let name = new_secret(&sdk, SEED_1).await;
    let material = KeyMaterial::new(config(&name, SHORT), &sdk);
    assert_eq!(
        sealed_under(&material.seal(&ctx(), &key()).await.unwrap()),
        key_id_of(SEED_1)
    );
    rotate(&sdk, &name, SEED_2).await;

    // When the max age has passed
    outlive_short_max_age().await;
    let envelope = material.seal(&ctx(), &key()).await.expect("seal");

    // Then the new seed seals, and the old one still opens
    assert_eq!(sealed_under(&envelope), key_id_of(SEED_2));
    let keyring = material.keyring().await.unwrap();
    assert_eq!(
        keyring.key_ids(),
        vec![key_id_of(SEED_2), key_id_of(SEED_1)]
    );
    let opened = material.open(&ctx(), &envelope).await.expect("open");
    assert_eq!(opened.secret.expose_secret(), KEY);
}

#[tokio::test]
async fn an_unchanged_seed_is_not_derived_again() {
    // Given a loaded keyring (one seed, one derivation)
    let sdk = emulator_config().await;
    let name = new_secret(&sdk, SEED_1).await;
    let material = KeyMaterial::new(config(&name, SHORT), &sdk);
    let first = material.keyring().await.unwrap();
    assert_eq!(
        (material.fetch_count(), material.derivation_count()),
        (1, 1)
    );

    // When it is read again after the max age, with the secret unchanged
    outlive_short_max_age().await;
    let second = material.keyring().await.unwrap();

    // Then the versions were read again, but nothing was derived
    assert_eq!(
        (material.fetch_count(), material.derivation_count()),
        (2, 1)
    );
    assert_eq!(second.key_ids(), first.key_ids());

    // And after a rotation only the new seed is derived
    rotate(&sdk, &name, SEED_2).await;
    outlive_short_max_age().await;
    let third = material.keyring().await.unwrap();
    assert_eq!(material.derivation_count(), 2);
    assert_eq!(third.key_ids(), vec![key_id_of(SEED_2), key_id_of(SEED_1)]);
}

#[tokio::test]
async fn racing_uses_after_the_max_age_share_one_reload() {
    let sdk = emulator_config().await;
    let name = new_secret(&sdk, SEED_1).await;
    let material = KeyMaterial::new(config(&name, SHORT), &sdk);
    material.keyring().await.unwrap();
    rotate(&sdk, &name, SEED_2).await;
    outlive_short_max_age().await;

    let (a, b, c) = tokio::join!(material.keyring(), material.keyring(), material.keyring());

    assert_eq!(material.fetch_count(), 2);
    let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
    assert!(std::sync::Arc::ptr_eq(&a, &b) && std::sync::Arc::ptr_eq(&b, &c));
    assert_eq!(a.current_key_id(), key_id_of(SEED_2));
}

#[tokio::test]
async fn a_failed_reload_keeps_serving_the_keyring_in_hand() {
    let capture = LogCapture::default();
    let _log =
        tracing::subscriber::set_default(apikeys::telemetry::json_subscriber(capture.clone()));
    // Given a loaded keyring whose secret then disappears
    let sdk = emulator_config().await;
    let name = new_secret(&sdk, SEED_1).await;
    let material = KeyMaterial::new(config(&name, SHORT), &sdk);
    material.keyring().await.unwrap();
    aws_sdk_secretsmanager::Client::new(&sdk)
        .delete_secret()
        .secret_id(&name)
        .force_delete_without_recovery(true)
        .send()
        .await
        .expect("delete secret");

    // When the max age has passed and the reload fails
    outlive_short_max_age().await;
    let envelope = material.seal(&ctx(), &key()).await.expect("still seals");

    // Then the keyring in hand still seals and opens, and the log says why
    assert_eq!(material.fetch_count(), 2);
    assert_eq!(sealed_under(&envelope), key_id_of(SEED_1));
    assert!(material.open(&ctx(), &envelope).await.is_ok());
    let log = capture.text();
    assert!(log.contains("seed.reload_failed"), "{log}");
    assert!(log.contains("\"level\":\"WARN\""), "{log}");
    assert!(!log.contains(SEED_1) && !log.contains(KEY), "{log}");
}

#[tokio::test]
async fn an_unknown_key_id_reloads_and_opens_what_a_fresh_instance_sealed() {
    // Given a warm instance, a rotation, and a fresh instance sealing under the new seed
    let sdk = emulator_config().await;
    let name = new_secret(&sdk, SEED_1).await;
    let warm = KeyMaterial::new(config(&name, LONG), &sdk);
    warm.keyring().await.unwrap();
    rotate(&sdk, &name, SEED_2).await;
    let fresh = KeyMaterial::new(config(&name, LONG), &sdk);
    let envelope = fresh.seal(&ctx(), &key()).await.unwrap();
    assert_eq!(sealed_under(&envelope), key_id_of(SEED_2));

    // When the warm instance opens it, long before its keyring's max age
    let opened = warm.open(&ctx(), &envelope).await.expect("reload and open");

    // Then it reloaded once and now seals under the new seed too
    assert_eq!(opened.secret.expose_secret(), KEY);
    assert_eq!(warm.fetch_count(), 2);
    assert_eq!(
        sealed_under(&warm.seal(&ctx(), &key()).await.unwrap()),
        key_id_of(SEED_2)
    );
}

#[tokio::test]
async fn the_unknown_key_reload_is_rate_limited_and_answers_unavailable() {
    // Given a warm instance and two envelopes under a seed it will never hold
    let sdk = emulator_config().await;
    let name = new_secret(&sdk, SEED_1).await;
    let warm = KeyMaterial::new(config(&name, LONG), &sdk);
    warm.keyring().await.unwrap();
    let params = KdfParams::new(DEFAULT_KDF_SALT, MIN_KDF_ITERATIONS).unwrap();
    let stranger = Keyring::derive(&Seed::new(SEED_3.into()).unwrap(), &[], &params);
    let first = stranger.seal(&ctx(), &key()).unwrap();
    let second = stranger.seal(&ctx(), &key()).unwrap();

    // When both are opened
    let a = warm.open(&ctx(), &first).await.expect_err("unknown key");
    let b = warm.open(&ctx(), &second).await.expect_err("unknown key");

    // Then each is "try again later", and only the first caused a reload
    let expected = SealingError::Unavailable(KeyMaterialError::KeyNotLoaded {
        key_id: key_id_of(SEED_3),
    });
    assert_eq!((a, b), (expected.clone(), expected));
    assert_eq!(warm.fetch_count(), 2);

    // And within the interval even a real rotation waits for the max age
    rotate(&sdk, &name, SEED_2).await;
    let fresh = KeyMaterial::new(config(&name, LONG), &sdk);
    let rotated = fresh.seal(&ctx(), &key()).await.unwrap();
    assert!(matches!(
        warm.open(&ctx(), &rotated).await,
        Err(SealingError::Unavailable(
            KeyMaterialError::KeyNotLoaded { .. }
        ))
    ));
    assert_eq!(warm.fetch_count(), 2);
}

#[tokio::test]
async fn both_stages_reach_the_keyring_from_one_listing() {
    // Given a secret rotated once: SEED_2 is AWSCURRENT, SEED_1 AWSPREVIOUS
    let sdk = emulator_config().await;
    let name = new_secret(&sdk, SEED_1).await;
    rotate(&sdk, &name, SEED_2).await;

    // When the tools' fetcher (one listing, then each version by id) reads it
    let keyring = SeedFetcher::new(&sdk)
        .keyring(&config(&name, LONG))
        .await
        .expect("keyring");

    // Then both versions are in it, current first
    assert_eq!(
        keyring.key_ids(),
        vec![key_id_of(SEED_2), key_id_of(SEED_1)]
    );
}

// ---------------------------------------------------------------------------
// The calls themselves, seen by a Secrets Manager on loopback that records them
// ---------------------------------------------------------------------------

const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:seed-AbCdEf";

/// A Secrets Manager whose listing says v-2 is current and v-1 previous, while
/// asking by stage would see a rotation that landed after the listing (SEED_3).
async fn secrets_manager_mid_rotation() -> MockServer {
    let server = MockServer::start().await;
    let answer = |body: Value| {
        ResponseTemplate::new(200)
            .insert_header("content-type", "application/x-amz-json-1.1")
            .set_body_json(body)
    };
    let target = |op: &str| header("x-amz-target", format!("secretsmanager.{op}").as_str());
    Mock::given(method("POST"))
        .and(path("/"))
        .and(target("DescribeSecret"))
        .respond_with(answer(json!({
            "ARN": ARN,
            "Name": "seed",
            "VersionIdsToStages": {"v-1": ["AWSPREVIOUS"], "v-2": ["AWSCURRENT"]},
        })))
        .mount(&server)
        .await;
    for (version, seed) in [("v-1", SEED_1), ("v-2", SEED_2)] {
        Mock::given(method("POST"))
            .and(target("GetSecretValue"))
            .and(body_partial_json(json!({"VersionId": version})))
            .respond_with(answer(
                json!({"ARN": ARN, "Name": "seed", "VersionId": version, "SecretString": seed}),
            ))
            .with_priority(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("POST"))
        .and(target("GetSecretValue"))
        .respond_with(answer(
            json!({"ARN": ARN, "Name": "seed", "VersionId": "v-3", "SecretString": SEED_3}),
        ))
        .mount(&server)
        .await;
    server
}

/// The operations received, in order, with the version asked for.
async fn received(server: &MockServer) -> Vec<(String, Option<String>)> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| {
            let op = r
                .headers
                .get("x-amz-target")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .trim_start_matches("secretsmanager.")
                .to_owned();
            let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
            let version = body["VersionId"].as_str().map(str::to_owned);
            (op, version)
        })
        .collect()
}

#[tokio::test]
async fn the_versions_come_from_one_view_even_while_labels_move() {
    let server = secrets_manager_mid_rotation().await;
    let sdk = sdk_config_for(&server.uri(), Default::default()).await;
    let material = KeyMaterial::new(config("seed", LONG), &sdk);

    let keyring = material.keyring().await.expect("keyring");

    // The keyring is the listing's view, not the later rotation's
    assert_eq!(
        keyring.key_ids(),
        vec![key_id_of(SEED_2), key_id_of(SEED_1)]
    );
    let mut calls = received(&server).await;
    calls[1..].sort();
    assert_eq!(
        calls,
        vec![
            ("DescribeSecret".to_owned(), None),
            ("GetSecretValue".to_owned(), Some("v-1".to_owned())),
            ("GetSecretValue".to_owned(), Some("v-2".to_owned())),
        ]
    );
}

#[tokio::test]
async fn an_unchanged_seed_costs_one_secrets_manager_call() {
    let server = secrets_manager_mid_rotation().await;
    let sdk = sdk_config_for(&server.uri(), Default::default()).await;
    let material = KeyMaterial::new(config("seed", SHORT), &sdk);
    material.keyring().await.expect("keyring");
    let before = received(&server).await.len();

    outlive_short_max_age().await;
    material.keyring().await.expect("keyring");

    let calls = received(&server).await;
    assert_eq!(calls[before..], [("DescribeSecret".to_owned(), None)]);
    assert_eq!(material.derivation_count(), 2);
}

// ---------------------------------------------------------------------------
// Through the handlers: rotate, wait out the max age, rewrap
// ---------------------------------------------------------------------------

/// A fake OpenAI that accepts every key, so stored keys test valid.
async fn fake_openai() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": []})))
        .mount(&server)
        .await;
    server
}

/// A store/test-key instance over the stack's table and the seed secret.
fn instance(stack: &Stack, secret: &str, provider: &MockServer) -> SealingState {
    let mut settings = KeyTestSettings::default();
    settings
        .set_base_url(ProviderId::OpenAi, &provider.uri())
        .unwrap();
    SealingState::new(
        stack.state.clone(),
        KeyMaterial::new(config(secret, SHORT), &stack.sdk),
        KeyTester::new(settings),
    )
}

async fn store(state: &SealingState, user: &str) -> u16 {
    let mut event = event_for("store.json", Some(user));
    set_body(&mut event, &json!({"provider": "openai", "apiKey": KEY}));
    parts(apikeys::api::store::handle(state, request(&event)).await).0
}

async fn test_stored(state: &SealingState, user: &str) -> (u16, Value) {
    let mut event = event_for("test-key-stored.json", Some(user));
    set_body(&mut event, &json!({"provider": "openai"}));
    let (status, _, body) = parts(apikeys::api::test_key::handle(state, request(&event)).await);
    (status, body)
}

/// The key id of every stored envelope, by item key.
async fn stored_key_ids(stack: &Stack) -> HashMap<String, KeyId> {
    let page = stack
        .dynamodb
        .scan()
        .table_name(&stack.table)
        .consistent_read(true)
        .send()
        .await
        .expect("scan");
    page.items()
        .iter()
        .filter_map(|item| {
            let envelope = text(item, "apiKey")?;
            Some((text(item, "pk")?.to_owned(), sealed_under(envelope)))
        })
        .collect()
}

#[tokio::test]
async fn a_rotation_then_rewrap_leaves_no_500_and_nothing_under_the_old_seed() {
    // Given warm store/test-key instances with keys stored under SEED_1
    let provider = fake_openai().await;
    let stack = Stack::new().await;
    let secret = new_secret(&stack.sdk, SEED_1).await;
    let warm_a = instance(&stack, &secret, &provider);
    let warm_b = instance(&stack, &secret, &provider);
    for user in ["ana", "ben"] {
        assert_eq!(store(&warm_a, user).await, 201);
    }
    assert_eq!(store(&warm_b, "cai").await, 201);

    // When the seed is rotated, a fresh instance stores under the new seed and a
    // warm one tests that key within its max age,
    rotate(&stack.sdk, &secret, SEED_2).await;
    let fresh = instance(&stack, &secret, &provider);
    assert_eq!(store(&fresh, "dan").await, 201);
    let (status, body) = test_stored(&warm_a, "dan").await;
    assert_eq!(
        (status, body["valid"].clone()),
        (200, json!(true)),
        "{body}"
    );
    // while the other warm one may still seal under the old seed,
    assert_eq!(store(&warm_b, "eve").await, 201);

    // and, once the max age has passed, the operator runs rewrap
    outlive_short_max_age().await;
    let keyring = SeedFetcher::new(&stack.sdk)
        .keyring(&config(&secret, LONG))
        .await
        .expect("the tools' keyring");
    assert_eq!(keyring.current_key_id(), key_id_of(SEED_2));
    let repo = KeyTable::new(stack.dynamodb.clone(), &stack.table);
    let report = apikeys_admin::rewrap::rewrap(&repo, &keyring, None, |_| {})
        .await
        .expect("rewrap");
    assert!(report.failed.is_empty(), "{report:?}");

    // Then every later write is under the new seed, every stored key tests
    // without a 500 from every instance, and nothing is left under the old seed
    assert_eq!(store(&warm_b, "ana").await, 200);
    assert_eq!(store(&warm_b, "fay").await, 201);
    assert_eq!(store(&warm_a, "gus").await, 201);
    for user in ["ana", "ben", "cai", "dan", "eve", "fay", "gus"] {
        for state in [&warm_a, &warm_b, &fresh] {
            let (status, body) = test_stored(state, user).await;
            assert_eq!(
                (status, body["valid"].clone()),
                (200, json!(true)),
                "{user}: {body}"
            );
        }
    }
    let stored = stored_key_ids(&stack).await;
    assert_eq!(stored.len(), 7, "{stored:?}");
    assert!(
        stored.values().all(|id| *id == key_id_of(SEED_2)),
        "{stored:?}"
    );
}

#[tokio::test]
async fn a_stored_key_under_a_seed_no_version_holds_is_a_503_with_retry_after() {
    // Given a stored key whose envelope was sealed under a seed the secret never had
    let provider = fake_openai().await;
    let stack = Stack::new().await;
    let secret = new_secret(&stack.sdk, SEED_1).await;
    let state = instance(&stack, &secret, &provider);
    assert_eq!(store(&state, "hal").await, 201);
    let params = KdfParams::new(DEFAULT_KDF_SALT, MIN_KDF_ITERATIONS).unwrap();
    let stranger = Keyring::derive(&Seed::new(SEED_3.into()).unwrap(), &[], &params);
    let envelope = stranger
        .seal(&KeyContext::new("hal", "openai"), &key())
        .unwrap();
    stack
        .set_attribute("hal#openai", "apiKey", AttributeValue::S(envelope))
        .await;

    // When the stored key is tested
    let mut event = event_for("test-key-stored.json", Some("hal"));
    set_body(&mut event, &json!({"provider": "openai"}));
    let (status, headers, body) =
        parts(apikeys::api::test_key::handle(&state, request(&event)).await);

    // Then the client is asked to retry, never told of an internal error
    assert_eq!(status, 503, "{body}");
    assert!(headers.contains_key("retry-after"), "{headers:?}");
    assert!(!body.to_string().contains(KEY));
}
