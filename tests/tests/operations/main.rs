//! Operations against the emulator: provisioning, import from RealMultiLLM, rewrap
//! after a seed rotation, the usage function, the maintenance sweep and stats.
//!
//! - [`provision`]: the table, the KMS key and the seed secret.
//! - [`import`]: a RealMultiLLM export into `akv1` items.
//! - [`rewrap`]: every key under the current seed after a rotation.
//! - [`usage`]: the usage function the app's servers call.
//! - [`maintenance`]: the daily sweep's findings.
//! - [`migrate`]: the single-key table into the layout of several keys per provider.
//! - [`stats`]: the operator's counts.

mod import;
mod maintenance;
mod migrate;
mod provision;
mod rewrap;
mod stats;
mod usage;

use apikeys::crypto::{
    KdfParams, Keyring, LegacyPolicy, Seed, DEFAULT_KDF_SALT, MIN_KDF_ITERATIONS,
};
use apikeys::domain::timestamp;
use apikeys::provider::ProviderId;
use apikeys::repo::KeyRow;
use apikeys_integration_tests::TEST_SEED;
use serde_json::Value;
use time::{Duration, OffsetDateTime};

/// The legacy RealMultiLLM vectors (a byte copy of the shared ones).
fn vectors() -> Value {
    let text = include_str!("../../../shared/tests/data/legacy-realmultillm.json");
    serde_json::from_str(text).unwrap()
}

/// The (seed, plaintext, stored) of one vector.
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

/// The stack's derivation parameters.
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

/// An item as the functions write it, its key stored `key_age_days` ago.
fn seeded_item(user: &str, key_age_days: i64, last_used_days: Option<i64>, active: bool) -> KeyRow {
    let now = OffsetDateTime::now_utc();
    let at = |days: i64| timestamp(now - Duration::days(days));
    KeyRow {
        pk: KeyRow::key(user, ProviderId::OpenAi),
        sk: "primary".to_owned(),
        user_id: user.to_owned(),
        provider: "openai".into(),
        id: format!("id-{user}"),
        key_hint: active.then(|| "sk-…abcd".to_owned()),
        settings: Default::default(),
        endpoint: None,
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
    }
}
