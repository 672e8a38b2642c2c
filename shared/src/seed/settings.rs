//! The key material configuration, read from the environment once per cold start.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use secrecy::SecretString;

use crate::crypto::{
    KdfParams, LegacyPolicy, DEFAULT_KDF_ITERATIONS, DEFAULT_KDF_SALT, MIN_SEED_LEN,
};

/// The encryption context a KMS-encrypted seed blob is opened under by default.
pub const DEFAULT_KMS_CONTEXT: &str = "purpose=apikeys-seed";

/// How long a loaded keyring is used before the seed versions are read again,
/// when `APIKEYS_KEYRING_MAX_AGE_SECONDS` is unset.
pub const DEFAULT_KEYRING_MAX_AGE: Duration = Duration::from_secs(300);

/// Where a seed is read from.
#[derive(Clone)]
pub enum SeedSource {
    /// A Secrets Manager secret: `AWSCURRENT` seals, `AWSPREVIOUS` opens.
    SecretsManager {
        /// Name or ARN of the secret.
        secret_id: String,
    },
    /// KMS ciphertext blobs (base64): the first seals, the others only open.
    Kms {
        /// The current blob.
        current: String,
        /// Older blobs, decrypt-only.
        previous: Vec<String>,
        /// The encryption context the blobs were made under.
        context: BTreeMap<String, String>,
    },
    /// A plain seed from the environment: for local development only.
    Plain {
        /// The seed text; `Debug` never shows it.
        seed: SecretString,
    },
}

impl fmt::Debug for SeedSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SecretsManager { secret_id } => f
                .debug_struct("SecretsManager")
                .field("secret_id", secret_id)
                .finish(),
            Self::Kms {
                previous, context, ..
            } => f
                .debug_struct("Kms")
                .field("previous_blobs", &previous.len())
                .field("context", context)
                .finish(),
            Self::Plain { .. } => f.write_str("Plain([REDACTED])"),
        }
    }
}

impl From<SeedConfigError> for crate::settings::SettingsError {
    fn from(err: SeedConfigError) -> Self {
        match &err {
            SeedConfigError::Ambiguous(first, _) => Self::new(first.clone(), err.to_string()),
            SeedConfigError::Invalid { name, reason } => Self::new(name.clone(), reason.clone()),
        }
    }
}

/// A configuration error: the deployment's variables contradict each other or
/// hold a value that cannot work. Names the variable, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeedConfigError {
    /// Two seed sources for one role.
    #[error("{0} and {1} are both set: configure exactly one seed source")]
    Ambiguous(String, String),
    /// A variable with a value that cannot work.
    #[error("{name} is invalid: {reason}")]
    Invalid {
        /// The variable.
        name: String,
        /// Why, without the value.
        reason: String,
    },
}

/// Where a deployment's seed comes from and how the master key is derived: the
/// seed section of [`crate::settings::Settings`].
#[derive(Debug, Clone)]
pub struct SeedSettings {
    /// The seed that seals (and its predecessors); `None` where none is configured.
    pub current: Option<SeedSource>,
    /// The RealMultiLLM seed, for reading legacy values.
    pub legacy: Option<SeedSource>,
    /// Whether legacy values may be opened.
    pub legacy_policy: LegacyPolicy,
    /// Master key derivation parameters.
    pub kdf: KdfParams,
    /// `APIKEYS_KEYRING_MAX_AGE_SECONDS`: after this long the next use reads the
    /// seed versions again, so a rotation reaches warm instances.
    pub keyring_max_age: Duration,
}

impl SeedSettings {
    /// Reads the section through `get` (the environment, or a map in tests), names
    /// and aliases as [`crate::settings::VARIABLES`] lists them.
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, SeedConfigError> {
        let get = |name: &str| crate::settings::lookup(get, name);
        let current = source_from(&get, "APIKEYS_SEED", Some(MIN_SEED_LEN))?;
        let legacy = source_from(&get, "APIKEYS_LEGACY_SEED", None)?;
        let legacy_policy = match get("APIKEYS_LEGACY_POLICY").as_deref().map(str::trim) {
            None | Some("forbid") => LegacyPolicy::Forbid,
            Some("allow") => LegacyPolicy::Allow,
            Some(_) => {
                return Err(SeedConfigError::Invalid {
                    name: "APIKEYS_LEGACY_POLICY".into(),
                    reason: "must be `allow` or `forbid`".into(),
                })
            }
        };
        let iterations = match get("APIKEYS_KDF_ITERATIONS") {
            None => DEFAULT_KDF_ITERATIONS,
            Some(v) => v.trim().parse().map_err(|_| SeedConfigError::Invalid {
                name: "APIKEYS_KDF_ITERATIONS".into(),
                reason: "must be a whole number".into(),
            })?,
        };
        let salt = get("APIKEYS_KDF_SALT").unwrap_or_else(|| DEFAULT_KDF_SALT.to_owned());
        let kdf = KdfParams::new(salt, iterations).map_err(|e| SeedConfigError::Invalid {
            name: "APIKEYS_KDF_ITERATIONS".into(),
            reason: e.to_string(),
        })?;
        let keyring_max_age = match get("APIKEYS_KEYRING_MAX_AGE_SECONDS") {
            None => DEFAULT_KEYRING_MAX_AGE,
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|secs| *secs > 0)
                .map(Duration::from_secs)
                .ok_or_else(|| SeedConfigError::Invalid {
                    name: "APIKEYS_KEYRING_MAX_AGE_SECONDS".into(),
                    reason: "must be a whole number of seconds, at least 1".into(),
                })?,
        };
        Ok(Self {
            current,
            legacy,
            legacy_policy,
            kdf,
            keyring_max_age,
        })
    }
}

fn source_from(
    get: &impl Fn(&str) -> Option<String>,
    prefix: &str,
    min_plain_len: Option<usize>,
) -> Result<Option<SeedSource>, SeedConfigError> {
    let names = [
        format!("{prefix}_SECRET_ID"),
        format!("{prefix}_CIPHERTEXT"),
        prefix.to_owned(),
    ];
    let set: Vec<&String> = names.iter().filter(|n| get(n).is_some()).collect();
    if set.len() > 1 {
        return Err(SeedConfigError::Ambiguous(set[0].clone(), set[1].clone()));
    }
    let Some(name) = set.first() else {
        return Ok(None);
    };
    let value = get(name).unwrap_or_default();
    Ok(Some(if *name == &names[0] {
        SeedSource::SecretsManager {
            secret_id: value.trim().to_owned(),
        }
    } else if *name == &names[1] {
        let context_name = format!("{prefix}_KMS_CONTEXT");
        let context =
            parse_context(&get(&context_name).unwrap_or_else(|| DEFAULT_KMS_CONTEXT.into()))
                .ok_or_else(|| SeedConfigError::Invalid {
                    name: context_name,
                    reason: "must be comma-separated name=value pairs".into(),
                })?;
        SeedSource::Kms {
            current: value.trim().to_owned(),
            previous: get(&format!("{prefix}_PREVIOUS_CIPHERTEXTS"))
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            context,
        }
    } else {
        if let Some(min) = min_plain_len {
            if value.chars().count() < min {
                return Err(SeedConfigError::Invalid {
                    name: name.to_string(),
                    reason: format!("a seed needs at least {min} characters"),
                });
            }
        }
        SeedSource::Plain {
            seed: SecretString::from(value),
        }
    }))
}

/// Parses `a=1,b=2` into a map; `None` when a pair has no `=` or an empty name.
fn parse_context(text: &str) -> Option<BTreeMap<String, String>> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=')?;
            let k = k.trim();
            (!k.is_empty()).then(|| (k.to_owned(), v.trim().to_owned()))
        })
        .collect()
}
