//! What the functions that seal or open keys (store, test-key) build once per cold
//! start: the plain [`State`] plus the key material and the key tester.

use crate::keytest::{KeyTestConfigError, KeyTestSettings, KeyTester};
use crate::seed::{KeyMaterial, KeyMaterialConfig, SeedConfigError};
use crate::service_config::ServiceConfig;
use crate::state::State;

/// The state of the functions that seal or open keys (store, test-key): [`State`]
/// plus the key material, fetched on first use rather than at cold start, and the
/// key tester, whose HTTP client is also built on first use.
#[derive(Debug)]
pub struct SealingState {
    /// Table and settings.
    pub base: State,
    /// The lazily loaded keyring.
    pub keys: KeyMaterial,
    /// Provider checks of keys.
    pub tester: KeyTester,
}

/// A configuration that cannot work, found at cold start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The key material variables.
    #[error(transparent)]
    Seed(#[from] SeedConfigError),
    /// The key test variables.
    #[error(transparent)]
    KeyTest(#[from] KeyTestConfigError),
}

impl SealingState {
    /// Sealing state from its parts.
    pub fn new(base: State, keys: KeyMaterial, tester: KeyTester) -> Self {
        Self { base, keys, tester }
    }

    /// Sealing state from the process environment: the cold start of a function.
    /// A configuration that cannot work is an error here, so a misconfigured
    /// deployment fails loudly at once.
    pub async fn from_env() -> Result<Self, StartupError> {
        let sdk = crate::aws::load_sdk_config().await;
        let keys = KeyMaterial::new(KeyMaterialConfig::from_env()?, &sdk);
        let tester = KeyTester::new(KeyTestSettings::from_lookup(|n| std::env::var(n).ok())?);
        Ok(Self::new(
            State::from_sdk(&sdk, ServiceConfig::from_env()),
            keys,
            tester,
        ))
    }
}
