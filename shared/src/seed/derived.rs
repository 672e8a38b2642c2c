//! Keys derived from seeds, kept by seed version so that PBKDF2 runs once per
//! distinct seed, and the keyring assembled from them.

use std::collections::HashMap;
use std::sync::Arc;

use super::error::KeyMaterialError;
use super::fetch::{SeedFetcher, SeedVersions};
use super::settings::SeedSettings;
use crate::crypto::{KdfParams, Keyring, LegacyPolicy, LegacySeedKeys, MasterKey, Seed};

/// The master keys and legacy keys derived so far, by [seed version
/// id](super::fetch::SeedVersion::id). Only versions of the last successful
/// load are kept: older keys are dropped, and wiped.
#[derive(Default)]
pub(crate) struct DerivedKeys {
    master: HashMap<String, Arc<MasterKey>>,
    legacy: HashMap<String, Arc<LegacySeedKeys>>,
}

/// Seeds fetched for versions not seen before, waiting for their derivation.
#[derive(Default)]
struct NewSeeds {
    master: Vec<(String, Seed)>,
    legacy: Vec<(String, Seed)>,
}

impl NewSeeds {
    fn count(&self) -> u32 {
        (self.master.len() + self.legacy.len()) as u32
    }
}

type Derived = (
    Vec<(String, Arc<MasterKey>)>,
    Vec<(String, Arc<LegacySeedKeys>)>,
);

impl SeedFetcher {
    /// Fetches every configured seed and derives the keyring (PBKDF2 runs on a
    /// blocking thread). Nothing is cached: this is for tools that run once. (Here
    /// rather than beside the fetching, which knows nothing of derivation.)
    pub async fn keyring(&self, settings: &SeedSettings) -> Result<Keyring, KeyMaterialError> {
        let (keyring, _derived) = DerivedKeys::default().load(self, settings).await?;
        Ok(keyring)
    }
}

impl DerivedKeys {
    /// Reads the versions of every configured source, fetches and derives only
    /// the versions not seen before, and assembles the keyring. Returns it with
    /// the number of seeds derived. On an error nothing changes.
    pub(crate) async fn load(
        &mut self,
        fetcher: &SeedFetcher,
        settings: &SeedSettings,
    ) -> Result<(Keyring, u32), KeyMaterialError> {
        let source = settings
            .current
            .as_ref()
            .ok_or(KeyMaterialError::NotConfigured)?;
        let versions = fetcher.versions(source).await?;
        let legacy = match (&settings.legacy, settings.legacy_policy) {
            (Some(source), LegacyPolicy::Allow) => Some((source, fetcher.versions(source).await?)),
            _ => None,
        };

        let mut new = NewSeeds::default();
        for version in versions.all() {
            if !self.master.contains_key(&version.id) {
                let seed = fetcher.seed(source, version, true).await?;
                new.master.push((version.id.clone(), seed));
            }
        }
        if let Some((source, versions)) = &legacy {
            for version in versions.all() {
                if !self.legacy.contains_key(&version.id) {
                    let seed = fetcher.seed(source, version, false).await?;
                    new.legacy.push((version.id.clone(), seed));
                }
            }
        }
        let count = new.count();
        if count > 0 {
            let (master, legacy_keys) = derive(new, settings.kdf.clone()).await?;
            self.master.extend(master);
            self.legacy.extend(legacy_keys);
        }

        let listed = |v: &SeedVersions, id: &str| v.all().iter().any(|x| x.id == id);
        self.master.retain(|id, _| listed(&versions, id));
        match &legacy {
            Some((_, versions)) => self.legacy.retain(|id, _| listed(versions, id)),
            None => self.legacy.clear(),
        }
        let keyring = self.keyring(&versions, legacy.as_ref().map(|(_, v)| v), settings)?;
        Ok((keyring, count))
    }

    fn keyring(
        &self,
        versions: &SeedVersions,
        legacy: Option<&SeedVersions>,
        settings: &SeedSettings,
    ) -> Result<Keyring, KeyMaterialError> {
        // Every listed version was derived above or before, so these lookups do
        // not miss; a miss would be a bug, answered as unusable, not a panic.
        let missing = || KeyMaterialError::Unusable {
            service: "kdf",
            reason: "a seed version was not derived".into(),
        };
        let master = |id: &str| self.master.get(id).cloned().ok_or_else(missing);
        let previous = versions
            .previous
            .iter()
            .map(|v| master(&v.id))
            .collect::<Result<Vec<_>, _>>()?;
        let keyring = Keyring::from_keys(master(&versions.current.id)?, previous);
        let legacy_keys = match legacy {
            Some(versions) => versions
                .all()
                .iter()
                .map(|v| self.legacy.get(&v.id).cloned().ok_or_else(missing))
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        Ok(keyring.with_legacy_keys(legacy_keys, settings.legacy_policy))
    }
}

/// Runs PBKDF2 for every new seed on a blocking thread: tens of milliseconds each
/// would stall the runtime's workers.
async fn derive(new: NewSeeds, kdf: KdfParams) -> Result<Derived, KeyMaterialError> {
    tokio::task::spawn_blocking(move || {
        let master = new
            .master
            .into_iter()
            .map(|(id, seed)| (id, Arc::new(MasterKey::derive(&seed, &kdf))))
            .collect();
        let legacy = new
            .legacy
            .into_iter()
            .map(|(id, seed)| (id, Arc::new(LegacySeedKeys::derive(&seed))))
            .collect();
        (master, legacy)
    })
    .await
    .map_err(|_| KeyMaterialError::Unusable {
        service: "kdf",
        reason: "the key derivation task failed".into(),
    })
}
