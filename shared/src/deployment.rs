//! The deployment's own provider keys (the original app's "server-side fallback API
//! keys"), off by default. With `APIKEYS_DEPLOYMENT_KEY_FALLBACK=true` and a Secrets
//! Manager secret in `APIKEYS_DEPLOYMENT_KEYS_SECRET_ID` (a JSON object of provider →
//! key), the proxy calls a provider with the deployment's key only when the user has
//! no usable key of that provider, says so in the receipt (`x-apikeys-key-source:
//! deployment`), and counts the tokens against the user's monthly allowance
//! (`APIKEYS_DEPLOYMENT_MONTHLY_TOKENS`); a spent allowance is a 402, never a silent
//! call. use-key hands the key to the app's servers on the same terms
//! (`source: "deployment"`), and the app reports each call's tokens. The keys are held as secrets in memory (never printed, wiped when dropped)
//! and read again after [`KEYS_MAX_AGE`], so a rotated secret reaches warm functions.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::provider::{EndpointKind, ProviderId};
use crate::repo::{KeyTable, RepoError};
use crate::settings::{lookup, positive, SettingsError};

/// What the deployment offers a user who has no usable key of a provider.
pub enum StandIn {
    /// Its key, and the tokens left of the user's allowance this month.
    Key {
        /// The deployment's key for the provider.
        key: SecretString,
        /// The allowance left.
        tokens_left: u64,
    },
    /// Nothing: the user's allowance for the month is spent.
    AllowanceSpent,
}

/// Why the deployment's key could not be looked at (try again, or a fault).
#[derive(Debug, thiserror::Error)]
pub enum StandInError {
    /// The secret could not be read.
    #[error(transparent)]
    Keys(#[from] DeploymentKeysError),
    /// The allowance counter could not be read.
    #[error(transparent)]
    Repo(#[from] RepoError),
}

/// `APIKEYS_DEPLOYMENT_MONTHLY_TOKENS` when unset.
pub const DEFAULT_DEPLOYMENT_MONTHLY_TOKENS: u64 = 100_000;

/// After this long the next call reads the secret again.
pub const KEYS_MAX_AGE: Duration = Duration::from_secs(300);

/// Whether and how the deployment's keys stand in for a user's.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeploymentSettings {
    /// The secret that holds them, if any.
    pub secret_id: Option<String>,
    /// Whether the proxy may use them at all.
    pub fallback: bool,
    /// Tokens a user may spend on them in a month.
    pub monthly_tokens: u64,
}

impl DeploymentSettings {
    /// Reads the section from the process environment (use-key's cold start; the
    /// proxy reads it with the rest of its settings).
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(&|name: &str| std::env::var(name).ok())
    }

    /// Reads the section through `get`; fallback without a secret cannot work and is
    /// refused at start-up.
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let fallback = match lookup(get, "APIKEYS_DEPLOYMENT_KEY_FALLBACK").as_deref() {
            None => false,
            Some(v) if v.trim().eq_ignore_ascii_case("true") => true,
            Some(v) if v.trim().eq_ignore_ascii_case("false") => false,
            Some(_) => {
                return Err(SettingsError::new(
                    "APIKEYS_DEPLOYMENT_KEY_FALLBACK",
                    "must be true or false",
                ))
            }
        };
        let secret_id =
            lookup(get, "APIKEYS_DEPLOYMENT_KEYS_SECRET_ID").map(|s| s.trim().to_owned());
        if fallback && secret_id.is_none() {
            return Err(SettingsError::new(
                "APIKEYS_DEPLOYMENT_KEY_FALLBACK",
                "is true but APIKEYS_DEPLOYMENT_KEYS_SECRET_ID names no secret",
            ));
        }
        Ok(Self {
            secret_id,
            fallback,
            monthly_tokens: positive(
                get,
                "APIKEYS_DEPLOYMENT_MONTHLY_TOKENS",
                DEFAULT_DEPLOYMENT_MONTHLY_TOKENS,
            )?,
        })
    }
}

/// Why the deployment's keys could not be read (try again).
#[derive(Debug, thiserror::Error)]
#[error("the deployment keys secret could not be read: {0}")]
pub struct DeploymentKeysError(String);

struct Loaded {
    at: Instant,
    keys: HashMap<ProviderId, SecretString>,
}

/// The deployment's keys, read from Secrets Manager on first use.
pub struct DeploymentKeys {
    settings: DeploymentSettings,
    client: Option<aws_sdk_secretsmanager::Client>,
    loaded: tokio::sync::Mutex<Option<Loaded>>,
}

impl std::fmt::Debug for DeploymentKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeploymentKeys")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl DeploymentKeys {
    /// The keys the settings describe, read through `sdk`'s Secrets Manager.
    pub fn new(settings: DeploymentSettings, sdk: &aws_types::SdkConfig) -> Self {
        let client = settings
            .fallback
            .then(|| aws_sdk_secretsmanager::Client::new(sdk));
        Self {
            settings,
            client,
            loaded: tokio::sync::Mutex::new(None),
        }
    }

    /// No deployment keys (the default).
    pub fn off() -> Self {
        Self {
            settings: DeploymentSettings::default(),
            client: None,
            loaded: tokio::sync::Mutex::new(None),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &DeploymentSettings {
        &self.settings
    }

    /// What stands in for `user_id`'s keys of `provider` (the proxy's and use-key's
    /// rule): `None` when no deployment key applies (the fallback is off, the secret
    /// has none for it, or the provider is called at an endpoint of the user's).
    pub async fn stand_in(
        &self,
        repo: &KeyTable,
        user_id: &str,
        provider: ProviderId,
        now: time::OffsetDateTime,
    ) -> Result<Option<StandIn>, StandInError> {
        if !self.settings.fallback || provider.entry().endpoint != EndpointKind::None {
            return Ok(None);
        }
        let Some(key) = self.key(provider).await? else {
            return Ok(None);
        };
        let spent = repo
            .deployment_tokens(user_id, &crate::repo::month_of(now))
            .await?;
        Ok(Some(
            match self.settings.monthly_tokens.checked_sub(spent) {
                Some(tokens_left) if tokens_left > 0 => StandIn::Key { key, tokens_left },
                _ => StandIn::AllowanceSpent,
            },
        ))
    }

    /// The deployment's key for `provider`, when the fallback is on and the secret
    /// has one.
    pub async fn key(
        &self,
        provider: ProviderId,
    ) -> Result<Option<SecretString>, DeploymentKeysError> {
        let (Some(client), Some(secret_id)) = (&self.client, &self.settings.secret_id) else {
            return Ok(None);
        };
        let mut loaded = self.loaded.lock().await;
        if loaded
            .as_ref()
            .is_none_or(|l| l.at.elapsed() >= KEYS_MAX_AGE)
        {
            let out = client
                .get_secret_value()
                .secret_id(secret_id)
                .send()
                .await
                .map_err(|e| {
                    DeploymentKeysError(
                        aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
                    )
                })?;
            let text = Zeroizing::new(out.secret_string().unwrap_or_default().to_owned());
            drop(out);
            *loaded = Some(Loaded {
                at: Instant::now(),
                keys: parse(&text)?,
            });
        }
        Ok(loaded
            .as_ref()
            .and_then(|l| l.keys.get(&provider))
            .map(|k| SecretString::from(k.expose_secret().to_owned())))
    }
}

/// The secret's JSON object of provider → key (provider ids or their aliases). Names
/// that are no provider are skipped with a warning that counts them.
fn parse(text: &str) -> Result<HashMap<ProviderId, SecretString>, DeploymentKeysError> {
    let Ok(Value::Object(mut object)) = serde_json::from_str::<Value>(text) else {
        return Err(DeploymentKeysError(
            "the secret is not a JSON object of provider to key".into(),
        ));
    };
    let mut keys = HashMap::new();
    let mut unknown = 0;
    for (name, value) in object.iter_mut() {
        let Some(provider) = ProviderId::parse(name) else {
            // Counted, never named: a secret written the wrong way round would put a
            // key where a name goes.
            unknown += 1;
            continue;
        };
        if let Value::String(key) = value {
            let key = Zeroizing::new(std::mem::take(key));
            if !key.trim().is_empty() {
                keys.insert(provider, SecretString::from(key.trim().to_owned()));
            }
        }
    }
    if unknown > 0 {
        tracing::warn!(
            event = "deployment_keys.unknown_providers",
            count = unknown,
            "names in the deployment keys secret that are no provider were skipped"
        );
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_names_providers_by_id_or_alias() {
        let keys =
            parse(r#"{"openai": "sk-a", "anthropic": "sk-b", "nobody": "x", "groq": 5}"#).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[&ProviderId::OpenAi].expose_secret(), "sk-a");
        assert_eq!(keys[&ProviderId::Claude].expose_secret(), "sk-b");
        let e = parse("[1]").unwrap_err().to_string();
        assert!(!e.contains('1'), "{e}");
    }

    #[test]
    fn fallback_needs_a_secret_and_is_off_by_default() {
        let none = DeploymentSettings::from_lookup(&|_: &str| None).unwrap();
        assert!(!none.fallback);
        assert_eq!(none.monthly_tokens, DEFAULT_DEPLOYMENT_MONTHLY_TOKENS);
        let e = DeploymentSettings::from_lookup(&|n: &str| {
            (n == "APIKEYS_DEPLOYMENT_KEY_FALLBACK").then(|| "true".to_owned())
        })
        .unwrap_err();
        assert_eq!(e.name, "APIKEYS_DEPLOYMENT_KEY_FALLBACK");
    }
}
