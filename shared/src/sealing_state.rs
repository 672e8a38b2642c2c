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
    pub async fn from_settings(settings: &Settings) -> Self {
        let sdk = crate::aws::sdk_config(&settings.aws).await;
        Self::new(
            State::from_sdk(&sdk, settings.service.clone()),
            KeyMaterial::new(settings.seed.clone(), &sdk),
            KeyTester::new(settings.key_tests.clone()),
        )
    }
}
