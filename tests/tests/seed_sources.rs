//! Seed loading against the local AWS emulator: KMS blobs, Secrets Manager stages,
//! missing secrets, unreachable endpoints, and the once-per-process cache.

use std::collections::HashMap;
use std::time::Duration;

use apikeys::aws::AwsTimeouts;
use apikeys::crypto::{KdfParams, KeyId, Keyring, Seed, MIN_KDF_ITERATIONS};
use apikeys::seed::{KeyMaterial, KeyMaterialError, SeedConfigError, SeedSettings};
use apikeys_integration_tests::{emulator_config, sdk_config_for, unique};
use aws_sdk_kms::primitives::Blob;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

const SEED_1: &str = "seed-one-0123456789abcdefghijklmnopqrstuvwxyz";
const SEED_2: &str = "seed-two-0123456789abcdefghijklmnopqrstuvwxyz";

fn config(vars: &[(&str, &str)]) -> SeedSettings {
    let mut map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    map.entry("APIKEYS_KDF_ITERATIONS".into())
        .or_insert(MIN_KDF_ITERATIONS.to_string());
    SeedSettings::from_lookup(&|k| map.get(k).cloned()).expect("valid configuration")
}

fn key_id_of(seed: &str) -> KeyId {
    let params = KdfParams::new(apikeys::crypto::DEFAULT_KDF_SALT, MIN_KDF_ITERATIONS).unwrap();
    Keyring::derive(&Seed::new(seed.as_bytes().to_vec()).unwrap(), &[], &params).current_key_id()
}

async fn kms_blob(
    kms: &aws_sdk_kms::Client,
    key_id: &str,
    seed: &str,
    context: &[(&str, &str)],
) -> String {
    let out = kms
        .encrypt()
        .key_id(key_id)
        .plaintext(Blob::new(seed.as_bytes()))
        .set_encryption_context(Some(
            context
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ))
        .send()
        .await
        .expect("kms encrypt");
    STANDARD.encode(out.ciphertext_blob().unwrap().as_ref())
}

async fn kms_key(kms: &aws_sdk_kms::Client) -> String {
    kms.create_key()
        .send()
        .await
        .expect("create kms key")
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned()
}

#[tokio::test]
async fn kms_blob_with_the_right_context_opens() {
    // Given a seed encrypted under KMS with the default context
    let sdk = emulator_config().await;
    let kms = aws_sdk_kms::Client::new(&sdk);
    let key = kms_key(&kms).await;
    let blob = kms_blob(&kms, &key, SEED_1, &[("purpose", "apikeys-seed")]).await;

    // When the key material is loaded from it
    let material = KeyMaterial::new(config(&[("APIKEYS_SEED_CIPHERTEXT", &blob)]), &sdk);
    let keyring = material.keyring().await.expect("keyring from KMS");

    // Then the keyring is the one derived from that seed
    assert_eq!(keyring.current_key_id(), key_id_of(SEED_1));
}

#[tokio::test]
async fn kms_blob_with_a_wrong_context_is_refused() {
    let sdk = emulator_config().await;
    let kms = aws_sdk_kms::Client::new(&sdk);
    let key = kms_key(&kms).await;
    let blob = kms_blob(&kms, &key, SEED_1, &[("purpose", "something-else")]).await;

    let material = KeyMaterial::new(config(&[("APIKEYS_SEED_CIPHERTEXT", &blob)]), &sdk);
    let err = material
        .keyring()
        .await
        .expect_err("wrong context must fail");

    assert!(
        matches!(err, KeyMaterialError::Unusable { service: "kms", ref reason } if reason == "InvalidCiphertextException"),
        "unexpected error: {err:?}"
    );
    assert!(!err.to_string().contains(SEED_1));
}

#[tokio::test]
async fn older_kms_blobs_only_open() {
    let sdk = emulator_config().await;
    let kms = aws_sdk_kms::Client::new(&sdk);
    let key = kms_key(&kms).await;
    let ctx = [("app", "apikeys"), ("stage", "test")];
    let current = kms_blob(&kms, &key, SEED_2, &ctx).await;
    let previous = kms_blob(&kms, &key, SEED_1, &ctx).await;

    let material = KeyMaterial::new(
        config(&[
            ("APIKEYS_SEED_CIPHERTEXT", &current),
            ("APIKEYS_SEED_PREVIOUS_CIPHERTEXTS", &previous),
            ("APIKEYS_SEED_KMS_CONTEXT", "app=apikeys, stage=test"),
        ]),
        &sdk,
    );
    let keyring = material.keyring().await.expect("keyring");

    assert_eq!(keyring.current_key_id(), key_id_of(SEED_2));
    assert_eq!(
        keyring.key_ids(),
        vec![key_id_of(SEED_2), key_id_of(SEED_1)]
    );
}

#[tokio::test]
async fn secrets_manager_current_and_previous_both_reach_the_keyring() {
    // Given a secret rotated once: SEED_2 is AWSCURRENT, SEED_1 AWSPREVIOUS
    let sdk = emulator_config().await;
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let name = unique("seed");
    sm.create_secret()
        .name(&name)
        .secret_string(SEED_1)
        .send()
        .await
        .expect("create secret");
    sm.put_secret_value()
        .secret_id(&name)
        .secret_string(SEED_2)
        .send()
        .await
        .expect("rotate secret");

    let material = KeyMaterial::new(config(&[("APIKEYS_SEED_SECRET_ID", &name)]), &sdk);
    let keyring = material.keyring().await.expect("keyring");

    // Then the current version seals and the previous one still opens
    assert_eq!(keyring.current_key_id(), key_id_of(SEED_2));
    assert_eq!(
        keyring.key_ids(),
        vec![key_id_of(SEED_2), key_id_of(SEED_1)]
    );
}

#[tokio::test]
async fn a_secret_with_one_version_gives_a_one_key_ring() {
    let sdk = emulator_config().await;
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let name = unique("seed");
    sm.create_secret()
        .name(&name)
        .secret_string(SEED_1)
        .send()
        .await
        .expect("create secret");

    let material = KeyMaterial::new(config(&[("APIKEYS_SEED_SECRET_ID", &name)]), &sdk);
    let keyring = material.keyring().await.expect("keyring");

    assert_eq!(keyring.key_ids(), vec![key_id_of(SEED_1)]);
}

#[tokio::test]
async fn a_missing_secret_is_a_clear_error() {
    let sdk = emulator_config().await;
    let name = unique("absent");
    let material = KeyMaterial::new(config(&[("APIKEYS_SEED_SECRET_ID", &name)]), &sdk);

    let err = material.keyring().await.expect_err("no such secret");

    assert_eq!(
        err,
        KeyMaterialError::SecretNotFound {
            secret_id: name.clone()
        }
    );
    assert!(err.to_string().contains(&name));
}

#[tokio::test]
async fn a_secret_shorter_than_the_minimum_is_unusable() {
    let sdk = emulator_config().await;
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let name = unique("short");
    sm.create_secret()
        .name(&name)
        .secret_string("too-short-seed")
        .send()
        .await
        .expect("create secret");

    let material = KeyMaterial::new(config(&[("APIKEYS_SEED_SECRET_ID", &name)]), &sdk);
    let err = material.keyring().await.expect_err("short seed");

    assert!(matches!(err, KeyMaterialError::Unusable { .. }), "{err:?}");
    assert!(!err.to_string().contains("too-short-seed"));
}

fn fast_timeouts() -> AwsTimeouts {
    AwsTimeouts {
        connect: Duration::from_millis(300),
        attempt: Duration::from_millis(400),
        operation: Duration::from_millis(1_000),
        max_attempts: 2,
        ..AwsTimeouts::default()
    }
}

#[tokio::test]
async fn a_closed_port_gives_the_typed_unavailable_error() {
    // Given an endpoint where nothing listens
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let sdk = sdk_config_for(&format!("http://127.0.0.1:{port}"), fast_timeouts()).await;
    let material = KeyMaterial::new(config(&[("APIKEYS_SEED_SECRET_ID", "any")]), &sdk);

    // When the keyring is asked for (the outer timeout only guards against a hang)
    let result = tokio::time::timeout(Duration::from_secs(20), material.keyring())
        .await
        .expect("the configured SDK timeouts must end the call");

    // Then it is the typed unavailable error
    assert!(
        matches!(
            result,
            Err(KeyMaterialError::Unavailable {
                service: "secretsmanager",
                ..
            })
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn an_endpoint_that_never_answers_times_out_as_unavailable() {
    // Given a server that accepts connections and never answers
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let sdk = sdk_config_for(&format!("http://{addr}"), fast_timeouts()).await;
    let material = KeyMaterial::new(config(&[("APIKEYS_SEED_SECRET_ID", "any")]), &sdk);

    let result = tokio::time::timeout(Duration::from_secs(20), material.keyring())
        .await
        .expect("the configured SDK timeouts must end the call");
    hold.abort();

    assert!(
        matches!(
            result,
            Err(KeyMaterialError::Unavailable {
                service: "secretsmanager",
                ..
            })
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn racing_first_requests_share_one_fetch() {
    let sdk = emulator_config().await;
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let name = unique("seed");
    sm.create_secret()
        .name(&name)
        .secret_string(SEED_1)
        .send()
        .await
        .unwrap();
    let material = KeyMaterial::new(config(&[("APIKEYS_SEED_SECRET_ID", &name)]), &sdk);

    let (a, b, c) = tokio::join!(material.keyring(), material.keyring(), material.keyring());

    assert_eq!(material.fetch_count(), 1);
    let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
    assert!(std::sync::Arc::ptr_eq(&a, &b) && std::sync::Arc::ptr_eq(&b, &c));
}

#[tokio::test]
async fn a_failed_fetch_is_not_cached() {
    // Given a secret that does not exist yet
    let sdk = emulator_config().await;
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let name = unique("late");
    let material = KeyMaterial::new(config(&[("APIKEYS_SEED_SECRET_ID", &name)]), &sdk);
    assert!(material.keyring().await.is_err());

    // When it appears
    sm.create_secret()
        .name(&name)
        .secret_string(SEED_1)
        .send()
        .await
        .unwrap();

    // Then the next request fetches again and succeeds
    let keyring = material.keyring().await.expect("second fetch");
    assert_eq!(keyring.current_key_id(), key_id_of(SEED_1));
    assert_eq!(material.fetch_count(), 2);
}

#[tokio::test]
async fn a_plain_seed_needs_no_aws_at_all() {
    // The plain development seed never calls AWS: a closed port is fine.
    let sdk = sdk_config_for("http://127.0.0.1:9", fast_timeouts()).await;
    let material = KeyMaterial::new(config(&[("APIKEYS_SEED", SEED_1)]), &sdk);

    let keyring = material.keyring().await.expect("plain seed");

    assert_eq!(keyring.current_key_id(), key_id_of(SEED_1));
}

#[test]
fn a_short_plain_seed_is_refused_by_name_not_value() {
    let map: HashMap<&str, &str> = [("APIKEYS_SEED", "short-dev-seed")].into();
    let err =
        SeedSettings::from_lookup(&|k| map.get(k).map(|v| v.to_string())).expect_err("short seed");

    assert!(matches!(err, SeedConfigError::Invalid { ref name, .. } if name == "APIKEYS_SEED"));
    assert!(!err.to_string().contains("short-dev-seed"));
}

#[test]
fn two_seed_sources_are_ambiguous() {
    let map: HashMap<&str, &str> =
        [("APIKEYS_SEED", SEED_1), ("APIKEYS_SEED_SECRET_ID", "x")].into();
    let err =
        SeedSettings::from_lookup(&|k| map.get(k).map(|v| v.to_string())).expect_err("ambiguous");

    assert!(matches!(err, SeedConfigError::Ambiguous(..)), "{err:?}");
}

#[test]
fn debug_output_of_the_configuration_hides_the_plain_seed() {
    let cfg = config(&[("APIKEYS_SEED", SEED_1)]);
    assert!(!format!("{cfg:?}").contains(SEED_1));
}

#[tokio::test]
async fn no_configured_source_is_not_configured() {
    let sdk = sdk_config_for("http://127.0.0.1:9", fast_timeouts()).await;
    let material = KeyMaterial::new(config(&[]), &sdk);
    assert_eq!(
        material.keyring().await.unwrap_err(),
        KeyMaterialError::NotConfigured
    );
}

#[test]
fn the_keyring_max_age_defaults_to_five_minutes_and_refuses_nonsense() {
    assert_eq!(
        config(&[("APIKEYS_SEED", SEED_1)]).keyring_max_age,
        apikeys::seed::DEFAULT_KEYRING_MAX_AGE
    );
    assert_eq!(
        apikeys::seed::DEFAULT_KEYRING_MAX_AGE,
        Duration::from_secs(300)
    );
    assert_eq!(
        config(&[("APIKEYS_KEYRING_MAX_AGE_SECONDS", " 42 ")]).keyring_max_age,
        Duration::from_secs(42)
    );
    for bad in ["0", "-5", "1.5", "five"] {
        let map: HashMap<&str, &str> = [("APIKEYS_KEYRING_MAX_AGE_SECONDS", bad)].into();
        let err = SeedSettings::from_lookup(&|k| map.get(k).map(|v| v.to_string())).expect_err(bad);
        assert!(
            matches!(err, SeedConfigError::Invalid { ref name, .. } if name == "APIKEYS_KEYRING_MAX_AGE_SECONDS"),
            "{bad}: {err:?}"
        );
    }
}
