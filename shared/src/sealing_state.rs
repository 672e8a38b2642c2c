//! What the functions that seal or open keys (store, test-key, use-key) build once
//! per cold start: the plain [`State`] plus the key material and the key tester.

use crate::keytest::KeyTester;
use crate::seed::KeyMaterial;
use crate::settings::Settings;
use crate::state::State;

/// The state of the functions that seal or open keys: [`State`] plus the key
/// material, fetched on first use rather than at cold start, and the key tester,
/// whose HTTP client is also built on first use.
#[derive(Debug)]
pub struct SealingState {
    /// Table and settings.
    pub base: State,
    /// The lazily loaded keyring.
    pub keys: KeyMaterial,
    /// Provider checks of keys.
    pub tester: KeyTester,
}

impl SealingState {
    /// Sealing state from its parts.
    pub fn new(base: State, keys: KeyMaterial, tester: KeyTester) -> Self {
        Self { base, keys, tester }
    }

    /// The cold start of a function: the settings read once in its `main` (a
    /// configuration that cannot work failed there, loudly, naming the variable).
    ///
    /// A function never opens a legacy value, whatever the legacy settings say: the
    /// legacy formats carry no associated data, so a value copied into another
    /// user's row would open for that user. Only `apikeys-admin` (import, rewrap)
    /// reads them, converting each to `akv1` under its own row's user and provider;
    /// a function answers a legacy value like any value that does not open.
    pub async fn from_settings(settings: &Settings) -> Self {
        let started = std::time::Instant::now();
        let sdk = crate::aws::sdk_config(&settings.aws).await;
        let loaded = started.elapsed();
        let mut seed = settings.seed.clone();
        seed.legacy = None;
        seed.legacy_policy = crate::crypto::LegacyPolicy::Forbid;
        let state = Self::new(
            State::from_sdk(&sdk, settings.service.clone()),
            KeyMaterial::new(seed, &sdk),
            KeyTester::new(settings.key_tests.clone()),
        );
        tracing::info!(
            event = "cold_start",
            sdk_config_us = loaded.as_micros() as u64,
            clients_us = (started.elapsed() - loaded).as_micros() as u64,
        );
        state
    }
}
