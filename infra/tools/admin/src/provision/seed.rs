//! The seed behind the keyring: a customer-managed KMS key under an alias, and a
//! Secrets Manager secret encrypted under it whose value is a fresh random seed.

use aws_sdk_kms::types::{KeyMetadata, KeySpec, KeyState, KeyUsageType};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use super::Outcome;
use crate::AdminError;

/// Random bytes behind a new seed.
const SEED_BYTES: usize = 48;

/// Characters of a new seed: 48 random bytes, base64url without padding.
pub const SEED_LENGTH: usize = SEED_BYTES / 3 * 4;

/// Days a KMS key made by a losing concurrent run waits before deletion (the minimum).
const ORPHAN_KEY_DELETION_DAYS: i32 = 7;

/// What [`provision_seed`] found or made. Holds names and ARNs, never the seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedProvisioned {
    /// The KMS alias, `alias/…`.
    pub key_alias: String,
    /// The id of the key behind the alias.
    pub key_id: String,
    /// The ARN of the key behind the alias.
    pub key_arn: String,
    /// Whether this call created the key and its alias.
    pub key: Outcome,
    /// The secret name.
    pub secret_name: String,
    /// The secret ARN.
    pub secret_arn: String,
    /// Whether this call created the secret.
    pub secret: Outcome,
    /// The KMS key the secret is encrypted under, as Secrets Manager reports it
    /// (`None`: the account's default `aws/secretsmanager` key). For a secret found
    /// in place it may be another key than [`Self::key_arn`].
    pub secret_kms_key_id: Option<String>,
}

impl SeedProvisioned {
    /// True when Secrets Manager reports the secret under the provisioned key (by
    /// its ARN, id or alias).
    pub fn secret_under_key(&self) -> bool {
        self.secret_kms_key_id.as_deref().is_some_and(|k| {
            k == self.key_arn
                || k == self.key_id
                || k == self.key_alias
                || k.ends_with(&format!(":{}", self.key_alias))
        })
    }
}

/// Creates, where absent, the KMS key behind `key_alias` (which includes the
/// `alias/` prefix) and the secret `secret_name` holding a fresh random seed of
/// [`SEED_LENGTH`] characters, encrypted under that key.
///
/// Idempotent: an existing key or secret is left alone (the seed of an existing
/// secret is never read or replaced). The seed is never printed or logged.
pub async fn provision_seed(
    kms: &aws_sdk_kms::Client,
    sm: &aws_sdk_secretsmanager::Client,
    secret_name: &str,
    key_alias: &str,
) -> Result<SeedProvisioned, AdminError> {
    check_alias(key_alias)?;
    let (key_meta, key) = match describe_key(kms, key_alias).await? {
        Some(meta) => (meta, Outcome::AlreadyPresent),
        None => create_key(kms, key_alias).await?,
    };
    let key_id = key_meta.key_id().to_owned();
    let key_arn = key_meta
        .arn()
        .ok_or_else(|| AdminError::IncompleteAnswer {
            operation: "DescribeKey",
            resource: key_alias.to_owned(),
            field: "Arn",
        })?
        .to_owned();
    if key_meta.key_state() != Some(&KeyState::Enabled) {
        return Err(AdminError::KeyUnusable {
            alias: key_alias.to_owned(),
            key_id,
            state: key_meta
                .key_state()
                .map_or_else(|| "without state".to_owned(), |s| s.to_string()),
        });
    }

    let (secret_arn, secret_kms_key_id, secret) = match describe_secret(sm, secret_name).await? {
        Some(found) => (found.0, found.1, Outcome::AlreadyPresent),
        None => create_secret(sm, secret_name, &key_arn).await?,
    };

    Ok(SeedProvisioned {
        key_alias: key_alias.to_owned(),
        key_id,
        key_arn,
        key,
        secret_name: secret_name.to_owned(),
        secret_arn,
        secret,
        secret_kms_key_id,
    })
}

/// Refuses a KMS alias this tool may not create or use: it must start with `alias/`,
/// name something, and stay out of the `alias/aws/` namespace of AWS managed keys.
pub fn check_alias(alias: &str) -> Result<(), AdminError> {
    let reason = if !alias.starts_with("alias/") {
        Some("it must start with alias/")
    } else if alias.starts_with("alias/aws/") {
        Some("alias/aws/ is reserved for AWS managed keys")
    } else if alias.len() == "alias/".len() {
        Some("the name after alias/ is empty")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(AdminError::InvalidAlias {
            alias: alias.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

async fn describe_key(
    kms: &aws_sdk_kms::Client,
    alias: &str,
) -> Result<Option<KeyMetadata>, AdminError> {
    match kms.describe_key().key_id(alias).send().await {
        Ok(out) => out
            .key_metadata
            .map(Some)
            .ok_or_else(|| AdminError::IncompleteAnswer {
                operation: "DescribeKey",
                resource: alias.to_owned(),
                field: "KeyMetadata",
            }),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(err) => Err(AdminError::aws("DescribeKey", alias, err)),
    }
}

async fn create_key(
    kms: &aws_sdk_kms::Client,
    alias: &str,
) -> Result<(KeyMetadata, Outcome), AdminError> {
    let created = kms
        .create_key()
        .description(format!("apikeys: encrypts the seed secret ({alias})"))
        .key_usage(KeyUsageType::EncryptDecrypt)
        .key_spec(KeySpec::SymmetricDefault)
        .send()
        .await
        .map_err(|e| AdminError::aws("CreateKey", alias, e))?
        .key_metadata
        .ok_or_else(|| AdminError::IncompleteAnswer {
            operation: "CreateKey",
            resource: alias.to_owned(),
            field: "KeyMetadata",
        })?;
    match kms
        .create_alias()
        .alias_name(alias)
        .target_key_id(created.key_id())
        .send()
        .await
    {
        Ok(_) => Ok((created, Outcome::Created)),
        // Another run won the alias: retire our key and use the one behind the alias.
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_already_exists_exception()) =>
        {
            kms.schedule_key_deletion()
                .key_id(created.key_id())
                .pending_window_in_days(ORPHAN_KEY_DELETION_DAYS)
                .send()
                .await
                .map_err(|e| AdminError::aws("ScheduleKeyDeletion", created.key_id(), e))?;
            let found =
                describe_key(kms, alias)
                    .await?
                    .ok_or_else(|| AdminError::IncompleteAnswer {
                        operation: "DescribeKey",
                        resource: alias.to_owned(),
                        field: "KeyMetadata",
                    })?;
            Ok((found, Outcome::AlreadyPresent))
        }
        Err(err) => Err(AdminError::aws("CreateAlias", alias, err)),
    }
}

/// The ARN and KMS key id of an existing secret, or `None` when there is none.
async fn describe_secret(
    sm: &aws_sdk_secretsmanager::Client,
    name: &str,
) -> Result<Option<(String, Option<String>)>, AdminError> {
    let out = match sm.describe_secret().secret_id(name).send().await {
        Ok(out) => out,
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            return Ok(None)
        }
        Err(err) => return Err(AdminError::aws("DescribeSecret", name, err)),
    };
    if out.deleted_date().is_some() {
        return Err(AdminError::SecretScheduledForDeletion {
            name: name.to_owned(),
        });
    }
    let arn = out
        .arn()
        .ok_or_else(|| AdminError::IncompleteAnswer {
            operation: "DescribeSecret",
            resource: name.to_owned(),
            field: "ARN",
        })?
        .to_owned();
    Ok(Some((arn, out.kms_key_id().map(str::to_owned))))
}

async fn create_secret(
    sm: &aws_sdk_secretsmanager::Client,
    name: &str,
    key_arn: &str,
) -> Result<(String, Option<String>, Outcome), AdminError> {
    let seed = fresh_seed()?;
    let created = sm
        .create_secret()
        .name(name)
        .description("apikeys: the seed the master key of the keyring is derived from")
        .kms_key_id(key_arn)
        .secret_string(seed.expose_secret())
        .send()
        .await;
    match created {
        Ok(out) => {
            let arn = out.arn().ok_or_else(|| AdminError::IncompleteAnswer {
                operation: "CreateSecret",
                resource: name.to_owned(),
                field: "ARN",
            })?;
            Ok((arn.to_owned(), Some(key_arn.to_owned()), Outcome::Created))
        }
        // Another run created it since our describe: keep its seed, not ours.
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_exists_exception()) =>
        {
            let (arn, kms_key_id) =
                describe_secret(sm, name)
                    .await?
                    .ok_or_else(|| AdminError::IncompleteAnswer {
                        operation: "DescribeSecret",
                        resource: name.to_owned(),
                        field: "ARN",
                    })?;
            Ok((arn, kms_key_id, Outcome::AlreadyPresent))
        }
        Err(err) => Err(AdminError::aws("CreateSecret", name, err)),
    }
}

/// A new seed: [`SEED_BYTES`] bytes from the operating system, base64url.
fn fresh_seed() -> Result<SecretString, AdminError> {
    let mut bytes = Zeroizing::new([0u8; SEED_BYTES]);
    getrandom::fill(bytes.as_mut()).map_err(|e| AdminError::Random(e.to_string()))?;
    Ok(SecretString::from(URL_SAFE_NO_PAD.encode(bytes.as_ref())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_seed_is_64_url_safe_characters() {
        let seed = fresh_seed().unwrap();
        let seed = seed.expose_secret();
        assert_eq!(seed.len(), SEED_LENGTH);
        assert_eq!(SEED_LENGTH, 64);
        assert!(seed
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }

    #[test]
    fn two_fresh_seeds_differ() {
        assert_ne!(
            fresh_seed().unwrap().expose_secret(),
            fresh_seed().unwrap().expose_secret()
        );
    }

    #[test]
    fn aliases_without_prefix_or_under_aws_are_refused() {
        for alias in [
            "apikeys-local",
            "alias/",
            "alias/aws/secretsmanager",
            "ALIAS/x",
        ] {
            assert!(
                matches!(check_alias(alias), Err(AdminError::InvalidAlias { .. })),
                "{alias}"
            );
        }
        assert!(check_alias("alias/apikeys-local").is_ok());
    }
}
