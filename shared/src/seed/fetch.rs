//! The AWS calls behind a seed: which versions a source holds now, and the value
//! of one version.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use super::error::KeyMaterialError;
use super::settings::SeedSource;
use crate::aws::running_in_aws_lambda;
use crate::crypto::{CryptoError, Seed};

const STAGE_CURRENT: &str = "AWSCURRENT";
const STAGE_PREVIOUS: &str = "AWSPREVIOUS";

/// One version of a seed, named without its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SeedVersion {
    /// What keys derived from it are cached by: the Secrets Manager version id,
    /// the SHA-256 of a KMS blob, or the environment variable. Never the seed.
    pub(crate) id: String,
    locator: Locator,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Locator {
    SecretVersion(String),
    /// The index of the blob: 0 is the current one, then the previous ones.
    KmsBlob(usize),
    Environment,
}

/// The versions of one source as one view: the first seals, the rest only open.
#[derive(Debug, Clone)]
pub(crate) struct SeedVersions {
    pub(crate) current: SeedVersion,
    pub(crate) previous: Vec<SeedVersion>,
}

impl SeedVersions {
    /// Every version, current first, each id once.
    pub(crate) fn all(&self) -> Vec<&SeedVersion> {
        let mut all: Vec<&SeedVersion> = Vec::with_capacity(1 + self.previous.len());
        for version in std::iter::once(&self.current).chain(&self.previous) {
            if all.iter().all(|v| v.id != version.id) {
                all.push(version);
            }
        }
        all
    }
}

fn sdk_reason<E: ProvideErrorMetadata + std::error::Error + 'static>(
    err: &aws_sdk_secretsmanager::error::SdkError<E>,
) -> String {
    match err.code() {
        Some(code) => code.to_owned(),
        None => aws_sdk_secretsmanager::error::DisplayErrorContext(err).to_string(),
    }
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

    /// The versions a source holds now. For Secrets Manager this is one
    /// `DescribeSecret` call, so `AWSCURRENT` and `AWSPREVIOUS` come from one view
    /// even while a rotation moves the labels
    /// (<https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DescribeSecret.html>).
    /// KMS blobs and the plain seed are configuration: no call at all.
    pub(crate) async fn versions(
        &self,
        source: &SeedSource,
    ) -> Result<SeedVersions, KeyMaterialError> {
        match source {
            SeedSource::Plain { .. } => Ok(SeedVersions {
                current: SeedVersion {
                    id: "environment".into(),
                    locator: Locator::Environment,
                },
                previous: Vec::new(),
            }),
            SeedSource::Kms {
                current, previous, ..
            } => {
                let version = |index: usize, blob: &str| SeedVersion {
                    id: format!("kms/{}", hex_sha256(blob.trim().as_bytes())),
                    locator: Locator::KmsBlob(index),
                };
                Ok(SeedVersions {
                    current: version(0, current),
                    previous: previous
                        .iter()
                        .enumerate()
                        .map(|(i, blob)| version(i + 1, blob))
                        .collect(),
                })
            }
            SeedSource::SecretsManager { secret_id } => self.secret_versions(secret_id).await,
        }
    }

    async fn secret_versions(&self, secret_id: &str) -> Result<SeedVersions, KeyMaterialError> {
        let not_found = || KeyMaterialError::SecretNotFound {
            secret_id: secret_id.to_owned(),
        };
        let out = match self
            .secrets
            .describe_secret()
            .secret_id(secret_id)
            .send()
            .await
        {
            Ok(out) => out,
            Err(err) if err.code() == Some("ResourceNotFoundException") => return Err(not_found()),
            Err(err) => {
                return Err(KeyMaterialError::Unavailable {
                    service: "secretsmanager",
                    reason: sdk_reason(&err),
                })
            }
        };
        let staged = |stage: &str| -> Option<SeedVersion> {
            let stages = out.version_ids_to_stages()?;
            // Sorted, so that a (malformed) map naming a stage twice is read the
            // same way every time.
            let mut ids: Vec<&String> = stages
                .iter()
                .filter(|(_, labels)| labels.iter().any(|l| l == stage))
                .map(|(id, _)| id)
                .collect();
            ids.sort();
            ids.first().map(|version_id| SeedVersion {
                id: format!("secretsmanager/{secret_id}/{version_id}"),
                locator: Locator::SecretVersion((*version_id).clone()),
            })
        };
        let current = staged(STAGE_CURRENT).ok_or_else(not_found)?;
        Ok(SeedVersions {
            current,
            previous: staged(STAGE_PREVIOUS).into_iter().collect(),
        })
    }

    /// The seed of one version. `strict` applies the keyring's length rule; the
    /// legacy seeds had none.
    pub(crate) async fn seed(
        &self,
        source: &SeedSource,
        version: &SeedVersion,
        strict: bool,
    ) -> Result<Seed, KeyMaterialError> {
        let (bytes, service) = match (source, &version.locator) {
            (SeedSource::Plain { seed }, Locator::Environment) => {
                if running_in_aws_lambda() {
                    tracing::error!(
                        event = "seed.plain_in_lambda",
                        "a plain development seed is in use inside AWS Lambda: configure APIKEYS_SEED_SECRET_ID instead"
                    );
                }
                (seed.expose_secret().as_bytes().to_vec(), "environment")
            }
            (SeedSource::SecretsManager { secret_id }, Locator::SecretVersion(version_id)) => (
                self.secret_value(secret_id, version_id).await?,
                "secretsmanager",
            ),
            (
                SeedSource::Kms {
                    current,
                    previous,
                    context,
                },
                Locator::KmsBlob(index),
            ) => {
                let blob = match index {
                    0 => Some(current),
                    i => previous.get(i - 1),
                };
                let blob = blob.ok_or_else(|| mismatch("kms"))?;
                (self.kms_decrypt(blob, context).await?, "kms")
            }
            _ => return Err(mismatch("configuration")),
        };
        if strict {
            Seed::new(bytes).map_err(|e: CryptoError| KeyMaterialError::Unusable {
                service,
                reason: e.to_string(),
            })
        } else {
            Ok(Seed::legacy(bytes))
        }
    }

    /// One version of a secret, by its id: the label may have moved on since the
    /// listing, the version has not.
    async fn secret_value(
        &self,
        secret_id: &str,
        version_id: &str,
    ) -> Result<Vec<u8>, KeyMaterialError> {
        let out = self
            .secrets
            .get_secret_value()
            .secret_id(secret_id)
            .version_id(version_id)
            .send()
            .await
            .map_err(|err| KeyMaterialError::Unavailable {
                service: "secretsmanager",
                reason: sdk_reason(&err),
            })?;
        if let Some(text) = out.secret_string() {
            Ok(text.as_bytes().to_vec())
        } else if let Some(blob) = out.secret_binary() {
            Ok(blob.as_ref().to_vec())
        } else {
            Err(KeyMaterialError::Unusable {
                service: "secretsmanager",
                reason: "the secret version holds no value".into(),
            })
        }
    }

    async fn kms_decrypt(
        &self,
        blob_b64: &str,
        context: &BTreeMap<String, String>,
    ) -> Result<Vec<u8>, KeyMaterialError> {
        let blob = STANDARD
            .decode(blob_b64.trim())
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
}

/// A version that does not belong to the source it is asked of: a bug, reported
/// as unusable rather than a panic.
fn mismatch(service: &'static str) -> KeyMaterialError {
    KeyMaterialError::Unusable {
        service,
        reason: "the seed version does not belong to this source".into(),
    }
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
