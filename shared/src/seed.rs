//! Where the keyring's seed comes from, and the lazy, once-per-process loading of
//! the keyring in the functions that need it.
//!
//! | variable | source |
//! |---|---|
//! | `API_KEY_ENCRYPTION_SEED_SECRET_ID` | Secrets Manager: `AWSCURRENT` seals, `AWSPREVIOUS` (if any) still opens |
//! | `API_KEY_ENCRYPTION_SEED_CIPHERTEXT` | a KMS ciphertext blob (base64) opened with `kms:Decrypt` under `API_KEY_ENCRYPTION_SEED_KMS_CONTEXT`; older blobs in `API_KEY_ENCRYPTION_SEED_PREVIOUS_CIPHERTEXTS` (comma-separated) only open |
//! | `API_KEY_ENCRYPTION_SEED` | a plain seed, for local development only (at least 32 characters) |
//!
//! The legacy RealMultiLLM seed has the same three sources under `API_KEY_LEGACY_SEED…`
//! and is used only with `API_KEY_LEGACY_POLICY=allow`. The master key derivation
//! reads `API_KEY_KDF_SALT` and `API_KEY_KDF_ITERATIONS`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use aws_config::SdkConfig;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::OnceCell;

use crate::aws::running_in_aws_lambda;
use crate::crypto::{
    CryptoError, KdfParams, Keyring, LegacyPolicy, Seed, DEFAULT_KDF_ITERATIONS, DEFAULT_KDF_SALT,
    MIN_SEED_LEN,
};

/// The encryption context a KMS-encrypted seed blob is opened under by default.
pub const DEFAULT_KMS_CONTEXT: &str = "purpose=apikeys-seed";

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

/// The key material configuration of a deployment.
#[derive(Debug, Clone)]
pub struct KeyMaterialConfig {
    /// The seed that seals (and its predecessors); `None` where none is configured.
    pub current: Option<SeedSource>,
    /// The RealMultiLLM seed, for reading legacy values.
    pub legacy: Option<SeedSource>,
    /// Whether legacy values may be opened.
    pub legacy_policy: LegacyPolicy,
    /// Master key derivation parameters.
    pub kdf: KdfParams,
}

impl KeyMaterialConfig {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, SeedConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `get` (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, SeedConfigError> {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let current = source_from(&get, "API_KEY_ENCRYPTION_SEED", Some(MIN_SEED_LEN))?;
        let legacy = source_from(&get, "API_KEY_LEGACY_SEED", None)?;
        let legacy_policy = match get("API_KEY_LEGACY_POLICY").as_deref().map(str::trim) {
            None | Some("forbid") => LegacyPolicy::Forbid,
            Some("allow") => LegacyPolicy::Allow,
            Some(_) => {
                return Err(SeedConfigError::Invalid {
                    name: "API_KEY_LEGACY_POLICY".into(),
                    reason: "must be `allow` or `forbid`".into(),
                })
            }
        };
        let iterations = match get("API_KEY_KDF_ITERATIONS") {
            None => DEFAULT_KDF_ITERATIONS,
            Some(v) => v.trim().parse().map_err(|_| SeedConfigError::Invalid {
                name: "API_KEY_KDF_ITERATIONS".into(),
                reason: "must be a whole number".into(),
            })?,
        };
        let salt = get("API_KEY_KDF_SALT").unwrap_or_else(|| DEFAULT_KDF_SALT.to_owned());
        let kdf = KdfParams::new(salt, iterations).map_err(|e| SeedConfigError::Invalid {
            name: "API_KEY_KDF_ITERATIONS".into(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            current,
            legacy,
            legacy_policy,
            kdf,
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

/// Why the key material could not be had. Every variant means "try again later"
/// to an API client (503); none carries a seed or a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyMaterialError {
    /// No seed source is configured.
    #[error("no seed source is configured: set API_KEY_ENCRYPTION_SEED_SECRET_ID, API_KEY_ENCRYPTION_SEED_CIPHERTEXT or (local development) API_KEY_ENCRYPTION_SEED")]
    NotConfigured,
    /// The configured secret does not exist.
    #[error("the seed secret {secret_id} was not found")]
    SecretNotFound {
        /// Name or ARN of the secret.
        secret_id: String,
    },
    /// The service did not answer in time, or answered with a failure.
    #[error("the seed could not be fetched from {service}: {reason}")]
    Unavailable {
        /// `secretsmanager` or `kms`.
        service: &'static str,
        /// The service's error code or the transport failure.
        reason: String,
    },
    /// The service answered, but what it gave cannot be used as a seed.
    #[error("the seed from {service} is unusable: {reason}")]
    Unusable {
        /// Where the seed came from.
        service: &'static str,
        /// Why, without the value.
        reason: String,
    },
}

fn sdk_reason<E: ProvideErrorMetadata + std::error::Error + 'static>(
    err: &aws_sdk_secretsmanager::error::SdkError<E>,
) -> String {
    match err.code() {
        Some(code) => code.to_owned(),
        None => aws_sdk_secretsmanager::error::DisplayErrorContext(err).to_string(),
    }
}

/// The seeds of one role: the first seals, the rest only open.
struct Seeds {
    current: Seed,
    previous: Vec<Seed>,
}

/// Fetches seeds from their sources with the SDK clients built once per process.
#[derive(Debug, Clone)]
pub struct SeedFetcher {
    kms: aws_sdk_kms::Client,
    secrets: aws_sdk_secretsmanager::Client,
}

impl SeedFetcher {
    /// Builds the clients from a shared SDK configuration.
    pub fn new(sdk: &SdkConfig) -> Self {
        Self {
            kms: aws_sdk_kms::Client::new(sdk),
            secrets: aws_sdk_secretsmanager::Client::new(sdk),
        }
    }

    async fn fetch(&self, source: &SeedSource, strict: bool) -> Result<Seeds, KeyMaterialError> {
        let make = |bytes: Vec<u8>, service: &'static str| -> Result<Seed, KeyMaterialError> {
            if strict {
                Seed::new(bytes).map_err(|e: CryptoError| KeyMaterialError::Unusable {
                    service,
                    reason: e.to_string(),
                })
            } else {
                Ok(Seed::legacy(bytes))
            }
        };
        match source {
            SeedSource::Plain { seed } => {
                if running_in_aws_lambda() {
                    tracing::error!(
                        event = "seed.plain_in_lambda",
                        "a plain development seed is in use inside AWS Lambda: configure API_KEY_ENCRYPTION_SEED_SECRET_ID instead"
                    );
                }
                Ok(Seeds {
                    current: make(seed.expose_secret().as_bytes().to_vec(), "environment")?,
                    previous: Vec::new(),
                })
            }
            SeedSource::SecretsManager { secret_id } => {
                let current = self
                    .secret_version(secret_id, "AWSCURRENT")
                    .await?
                    .ok_or_else(|| KeyMaterialError::SecretNotFound {
                        secret_id: secret_id.clone(),
                    })?;
                let previous = self.secret_version(secret_id, "AWSPREVIOUS").await?;
                Ok(Seeds {
                    current: make(current, "secretsmanager")?,
                    previous: previous
                        .map(|p| make(p, "secretsmanager"))
                        .transpose()?
                        .into_iter()
                        .collect(),
                })
            }
            SeedSource::Kms {
                current,
                previous,
                context,
            } => {
                let current = make(self.kms_decrypt(current, context).await?, "kms")?;
                let mut older = Vec::with_capacity(previous.len());
                for blob in previous {
                    older.push(make(self.kms_decrypt(blob, context).await?, "kms")?);
                }
                Ok(Seeds {
                    current,
                    previous: older,
                })
            }
        }
    }

    /// One staged version of a secret; `None` when the secret or the stage is absent.
    async fn secret_version(
        &self,
        secret_id: &str,
        stage: &str,
    ) -> Result<Option<Vec<u8>>, KeyMaterialError> {
        let result = self
            .secrets
            .get_secret_value()
            .secret_id(secret_id)
            .version_stage(stage)
            .send()
            .await;
        match result {
            Ok(out) => {
                if let Some(text) = out.secret_string() {
                    Ok(Some(text.as_bytes().to_vec()))
                } else if let Some(blob) = out.secret_binary() {
                    Ok(Some(blob.as_ref().to_vec()))
                } else {
                    Err(KeyMaterialError::Unusable {
                        service: "secretsmanager",
                        reason: "the secret version holds no value".into(),
                    })
                }
            }
            Err(err) if err.code() == Some("ResourceNotFoundException") => Ok(None),
            Err(err) => Err(KeyMaterialError::Unavailable {
                service: "secretsmanager",
                reason: sdk_reason(&err),
            }),
        }
    }

    async fn kms_decrypt(
        &self,
        blob_b64: &str,
        context: &BTreeMap<String, String>,
    ) -> Result<Vec<u8>, KeyMaterialError> {
        let blob = STANDARD
            .decode(blob_b64)
            .map_err(|_| KeyMaterialError::Unusable {
                service: "kms",
                reason: "the seed ciphertext is not valid base64".into(),
            })?;
        let out = self
            .kms
            .decrypt()
            .ciphertext_blob(Blob::new(blob))
            .set_encryption_context(Some(context.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|err| {
                let code = err.code().unwrap_or_default().to_owned();
                // A refused blob (wrong context, wrong key) will not get better by retrying.
                if matches!(
                    code.as_str(),
                    "InvalidCiphertextException"
                        | "IncorrectKeyException"
                        | "AccessDeniedException"
                ) {
                    KeyMaterialError::Unusable {
                        service: "kms",
                        reason: code,
                    }
                } else {
                    KeyMaterialError::Unavailable {
                        service: "kms",
                        reason: match err.code() {
                            Some(c) => c.to_owned(),
                            None => aws_sdk_kms::error::DisplayErrorContext(&err).to_string(),
                        },
                    }
                }
            })?;
        out.plaintext()
            .map(|p| p.as_ref().to_vec())
            .ok_or(KeyMaterialError::Unusable {
                service: "kms",
                reason: "the decrypt answer holds no plaintext".into(),
            })
    }

    /// Fetches every configured seed and derives the keyring (PBKDF2 runs on a
    /// blocking thread). Nothing is cached here.
    pub async fn keyring(&self, config: &KeyMaterialConfig) -> Result<Keyring, KeyMaterialError> {
        let source = config
            .current
            .as_ref()
            .ok_or(KeyMaterialError::NotConfigured)?;
        let seeds = self.fetch(source, true).await?;
        let legacy = match (&config.legacy, config.legacy_policy) {
            (Some(source), LegacyPolicy::Allow) => {
                let s = self.fetch(source, false).await?;
                std::iter::once(s.current).chain(s.previous).collect()
            }
            _ => Vec::new(),
        };
        let kdf = config.kdf.clone();
        let policy = config.legacy_policy;
        tokio::task::spawn_blocking(move || {
            Keyring::derive(&seeds.current, &seeds.previous, &kdf).with_legacy(&legacy, policy)
        })
        .await
        .map_err(|_| KeyMaterialError::Unusable {
            service: "kdf",
            reason: "the key derivation task failed".into(),
        })
    }
}

/// The keyring of a process, fetched on first use and kept for the life of the
/// process (one Lambda cold start). Concurrent first uses share one fetch; a failed
/// fetch is not kept, so the next request tries again.
pub struct KeyMaterial {
    config: KeyMaterialConfig,
    fetcher: SeedFetcher,
    keyring: OnceCell<Arc<Keyring>>,
    fetches: AtomicU32,
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("config", &self.config)
            .field("loaded", &self.keyring.initialized())
            .finish()
    }
}

impl KeyMaterial {
    /// Key material from `config`, fetched through clients built from `sdk`.
    pub fn new(config: KeyMaterialConfig, sdk: &SdkConfig) -> Self {
        Self {
            config,
            fetcher: SeedFetcher::new(sdk),
            keyring: OnceCell::new(),
            fetches: AtomicU32::new(0),
        }
    }

    /// The keyring, fetched and derived on first use.
    pub async fn keyring(&self) -> Result<Arc<Keyring>, KeyMaterialError> {
        self.keyring
            .get_or_try_init(|| async {
                self.fetches.fetch_add(1, Ordering::Relaxed);
                let keyring = self.fetcher.keyring(&self.config).await.inspect_err(|e| {
                    tracing::error!(event = "seed.fetch_failed", error = %e, "key material unavailable");
                })?;
                tracing::info!(
                    event = "seed.loaded",
                    current_key_id = %keyring.current_key_id(),
                    keys = keyring.key_ids().len(),
                    "keyring ready"
                );
                Ok(Arc::new(keyring))
            })
            .await
            .cloned()
    }

    /// How many times the seed has been fetched (successfully or not).
    pub fn fetch_count(&self) -> u32 {
        self.fetches.load(Ordering::Relaxed)
    }
}
