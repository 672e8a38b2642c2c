//! One settings tree, read once in each `main` (and by `apikeys-admin`) from the
//! environment: every variable the vault reads, under one prefix, with its default
//! beside it in [`VARIABLES`], and a parse error that names the variable at start-up.
//!
//! The sections parse their own values ([`ServiceSettings`] here, the AWS timeouts
//! in `aws`, the seed in `seed`, the key tests in `keytest`); this module holds the
//! tree, the list of variables and the one lookup they all read through, which
//! also accepts the documented aliases (the original app's `API_KEY_ENCRYPTION_SEED`
//! and the `API_KEY_*` names of earlier releases).

use time::Duration;

use crate::aws::AwsTimeouts;

/// One variable the vault reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variable {
    /// Its name (`APIKEYS_…`).
    pub name: &'static str,
    /// Other names it is accepted under, read only when `name` is unset.
    pub aliases: &'static [&'static str],
    /// Its default, as README shows it.
    pub default: &'static str,
    /// What it sets.
    pub about: &'static str,
}

const fn var(
    name: &'static str,
    aliases: &'static [&'static str],
    default: &'static str,
    about: &'static str,
) -> Variable {
    Variable {
        name,
        aliases,
        default,
        about,
    }
}

/// The pattern of the per-provider base URLs: one variable per provider of the
/// registry (`APIKEYS_OPENAI_BASE_URL`, `APIKEYS_GOOGLE_AI_BASE_URL`, …).
pub const BASE_URL_PATTERN: &str = "APIKEYS_<PROVIDER>_BASE_URL";

/// Every variable of the settings tree, in README's order.
pub const VARIABLES: &[Variable] = &[
    var(
        "APIKEYS_TABLE_NAME",
        &[],
        DEFAULT_TABLE_NAME,
        "the DynamoDB table",
    ),
    var(
        "APIKEYS_ROTATION_DAYS",
        &[],
        "90",
        "days after which a key is reported due for rotation",
    ),
    var(
        "APIKEYS_DELETE_GRACE_DAYS",
        &[],
        "30",
        "days a deleted configuration is kept before DynamoDB's TTL purges it",
    ),
    var(
        "APIKEYS_UNUSED_DAYS",
        &[],
        "30",
        "days without use before maintenance reports a key",
    ),
    var(
        "APIKEYS_KEY_TESTS_PER_MINUTE",
        &[],
        "10",
        "key tests a user may run per minute",
    ),
    var(
        "APIKEYS_AWS_CONNECT_TIMEOUT_MS",
        &[],
        "1000",
        "time to open a connection to an AWS service",
    ),
    var(
        "APIKEYS_AWS_ATTEMPT_TIMEOUT_MS",
        &[],
        "2000",
        "time for one attempt of an AWS call",
    ),
    var(
        "APIKEYS_AWS_OPERATION_TIMEOUT_MS",
        &[],
        "5000",
        "time for an AWS call, retries included",
    ),
    var(
        "APIKEYS_AWS_MAX_ATTEMPTS",
        &[],
        "3",
        "attempts per AWS call, the first included",
    ),
    var(
        "APIKEYS_AWS_TRUST_STORE",
        &[],
        "amazon",
        "roots the AWS calls trust: amazon (the five Amazon Trust Services roots, built in) or system",
    ),
    var(
        "APIKEYS_SEED_SECRET_ID",
        &["API_KEY_ENCRYPTION_SEED_SECRET_ID"],
        "(none)",
        "the seed: a Secrets Manager secret (AWSCURRENT seals, AWSPREVIOUS still opens)",
    ),
    var(
        "APIKEYS_SEED_CIPHERTEXT",
        &["API_KEY_ENCRYPTION_SEED_CIPHERTEXT"],
        "(none)",
        "the seed: a KMS ciphertext blob (base64) that kms:Decrypt opens",
    ),
    var(
        "APIKEYS_SEED_KMS_CONTEXT",
        &["API_KEY_ENCRYPTION_SEED_KMS_CONTEXT"],
        "purpose=apikeys-seed",
        "the KMS encryption context of the seed's ciphertexts",
    ),
    var(
        "APIKEYS_SEED_PREVIOUS_CIPHERTEXTS",
        &["API_KEY_ENCRYPTION_SEED_PREVIOUS_CIPHERTEXTS"],
        "(none)",
        "older KMS seed blobs, comma-separated, that still open",
    ),
    var(
        "APIKEYS_SEED",
        &["API_KEY_ENCRYPTION_SEED"],
        "(none)",
        "the seed in plain text, for local development only (32 characters at least)",
    ),
    var(
        "APIKEYS_LEGACY_SEED_SECRET_ID",
        &["API_KEY_LEGACY_SEED_SECRET_ID"],
        "(none)",
        "the RealMultiLLM seed (Secrets Manager), for reading legacy values",
    ),
    var(
        "APIKEYS_LEGACY_SEED_CIPHERTEXT",
        &["API_KEY_LEGACY_SEED_CIPHERTEXT"],
        "(none)",
        "the RealMultiLLM seed (KMS ciphertext)",
    ),
    var(
        "APIKEYS_LEGACY_SEED_KMS_CONTEXT",
        &["API_KEY_LEGACY_SEED_KMS_CONTEXT"],
        "purpose=apikeys-seed",
        "the KMS encryption context of the legacy seed",
    ),
    var(
        "APIKEYS_LEGACY_SEED_PREVIOUS_CIPHERTEXTS",
        &["API_KEY_LEGACY_SEED_PREVIOUS_CIPHERTEXTS"],
        "(none)",
        "older legacy seed blobs",
    ),
    var(
        "APIKEYS_LEGACY_SEED",
        &["API_KEY_LEGACY_SEED"],
        "(none)",
        "the RealMultiLLM seed in plain text (local development)",
    ),
    var(
        "APIKEYS_LEGACY_POLICY",
        &["API_KEY_LEGACY_POLICY"],
        "forbid",
        "apikeys-admin only: whether legacy values may be opened (the functions never open one)",
    ),
    var(
        "APIKEYS_KDF_ITERATIONS",
        &["API_KEY_KDF_ITERATIONS"],
        "100000",
        "PBKDF2 iterations of the master key",
    ),
    var(
        "APIKEYS_KDF_SALT",
        &["API_KEY_KDF_SALT"],
        "apikeys/v1/deployment-salt",
        "the deployment's PBKDF2 salt",
    ),
    var(
        "APIKEYS_KEYRING_MAX_AGE_SECONDS",
        &[],
        "300",
        "after this long the next use reads the seed versions again",
    ),
    var(
        "APIKEYS_KEY_TEST_CONNECT_TIMEOUT_MS",
        &[],
        "3000",
        "connect timeout of a key test's call",
    ),
    var(
        "APIKEYS_KEY_TEST_TIMEOUT_MS",
        &[],
        "10000",
        "time budget of a key test, retries included",
    ),
    var(
        "APIKEYS_ALLOW_LOOPBACK_ENDPOINTS",
        &[],
        "false",
        "whether user-given endpoints may be on loopback (local model servers; never deployed)",
    ),
    var(
        "APIKEYS_USE_KEY_REQUIRE_USER_TOKEN",
        &[],
        "false",
        "use-key releases a key only with its user's own token (userToken), checked against the issuer below",
    ),
    var(
        "APIKEYS_JWT_ISSUER",
        &[],
        "(none)",
        "the issuer of users' tokens use-key and the proxy check (the local API's, when set there)",
    ),
    var(
        "APIKEYS_JWT_AUDIENCE",
        &[],
        "(none)",
        "its audiences (app client ids), comma-separated; required with an issuer",
    ),
    var(
        "APIKEYS_JWT_JWKS_URL",
        &[],
        "(discovery)",
        "its JWKS URL; else the jwks_uri of {issuer}/.well-known/openid-configuration",
    ),
    var(
        "APIKEYS_PROXY_IDLE_TIMEOUT_SECONDS",
        &[],
        "60",
        "the proxy ends a stream whose provider sends nothing for this long (and waits this long for the first byte)",
    ),
    var(
        "APIKEYS_PROXY_MAX_BODY_BYTES",
        &[],
        "4194304",
        "the largest request body the proxy forwards (larger: 413)",
    ),
    var(
        "APIKEYS_DEPLOYMENT_KEY_FALLBACK",
        &[],
        "false",
        "the proxy calls with, and use-key hands out, the deployment's own key when a user has no usable key of the provider",
    ),
    var(
        "APIKEYS_DEPLOYMENT_KEYS_SECRET_ID",
        &[],
        "(none)",
        "the Secrets Manager secret of the deployment's keys: a JSON object of provider to key",
    ),
    var(
        "APIKEYS_DEPLOYMENT_MONTHLY_TOKENS",
        &[],
        "100000",
        "tokens a user may spend on the deployment's keys in a month (then the proxy's 402, and use-key hands none out)",
    ),
    var(
        BASE_URL_PATTERN,
        &[],
        "the provider's API",
        "where a provider's key tests and proxied calls go (https, or http on loopback)",
    ),
];

/// The table name when `APIKEYS_TABLE_NAME` is unset (the local stack's).
pub const DEFAULT_TABLE_NAME: &str = "apikeys-local";
/// Days after which a stored key is reported as due for rotation, by default.
pub const DEFAULT_ROTATION_DAYS: i64 = 90;
/// Days a soft-deleted item is kept before DynamoDB's TTL purges it, by default.
pub const DEFAULT_DELETE_GRACE_DAYS: i64 = 30;
/// Days without use before maintenance reports a key, by default.
pub const DEFAULT_UNUSED_DAYS: i64 = 30;
/// Key tests a user may run per minute, by default.
pub const DEFAULT_KEY_TESTS_PER_MINUTE: u32 = 10;

/// A variable whose value cannot work, found at start-up: names the variable,
/// never quotes the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {reason}")]
pub struct SettingsError {
    /// The variable.
    pub name: String,
    /// Why.
    pub reason: String,
}

impl SettingsError {
    /// An error of `name`.
    pub fn new(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            reason: reason.into(),
        }
    }
}

/// Whether `name` is a variable of the tree (or a provider's base URL).
pub fn is_known(name: &str) -> bool {
    if VARIABLES.iter().any(|v| v.name == name) {
        return true;
    }
    // A plain loop, as in `api::routes::providers`: no closure over the registry.
    for provider in crate::provider::ProviderId::ALL {
        if provider.entry().base_url_variable == name {
            return true;
        }
    }
    false
}

/// Reads `name` through `get`, then its aliases; an empty value is unset.
///
/// # Panics
/// In debug builds, when `name` is not in [`VARIABLES`]: a variable read but not
/// documented fails every test that reads it.
pub fn lookup(get: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    debug_assert!(is_known(name), "{name} is read but not listed in VARIABLES");
    let aliases = VARIABLES
        .iter()
        .find(|v| v.name == name)
        .map_or(&[][..], |v| v.aliases);
    std::iter::once(name)
        .chain(aliases.iter().copied())
        .find_map(|n| get(n).filter(|v| !v.trim().is_empty()))
}

/// The service's own settings (table, retention, limits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSettings {
    /// `APIKEYS_TABLE_NAME`.
    pub table_name: String,
    /// `APIKEYS_ROTATION_DAYS`.
    pub rotation_after: Duration,
    /// `APIKEYS_DELETE_GRACE_DAYS`.
    pub delete_grace: Duration,
    /// `APIKEYS_UNUSED_DAYS`: how long without use before maintenance reports a key.
    pub unused_after: Duration,
    /// `APIKEYS_KEY_TESTS_PER_MINUTE`.
    pub key_tests_per_minute: u32,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        Self {
            table_name: DEFAULT_TABLE_NAME.to_owned(),
            rotation_after: Duration::days(DEFAULT_ROTATION_DAYS),
            delete_grace: Duration::days(DEFAULT_DELETE_GRACE_DAYS),
            unused_after: Duration::days(DEFAULT_UNUSED_DAYS),
            key_tests_per_minute: DEFAULT_KEY_TESTS_PER_MINUTE,
        }
    }
}

/// A whole number of at least 1 in `name`, or `default` when it is unset.
pub(crate) fn positive<T: std::str::FromStr + PartialOrd + From<u8>>(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: T,
) -> Result<T, SettingsError> {
    match lookup(get, name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse::<T>()
            .ok()
            .filter(|n| *n >= T::from(1))
            .ok_or_else(|| SettingsError::new(name, "must be a whole number, at least 1")),
    }
}

impl ServiceSettings {
    /// Reads the section through `get`.
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let d = Self::default();
        let days = |name: &str, default: Duration| {
            positive(get, name, default.whole_days()).map(Duration::days)
        };
        Ok(Self {
            table_name: lookup(get, "APIKEYS_TABLE_NAME")
                .map(|t| t.trim().to_owned())
                .unwrap_or(d.table_name),
            rotation_after: days("APIKEYS_ROTATION_DAYS", d.rotation_after)?,
            delete_grace: days("APIKEYS_DELETE_GRACE_DAYS", d.delete_grace)?,
            unused_after: days("APIKEYS_UNUSED_DAYS", d.unused_after)?,
            key_tests_per_minute: positive(
                get,
                "APIKEYS_KEY_TESTS_PER_MINUTE",
                d.key_tests_per_minute,
            )?,
        })
    }
}

/// The whole tree: what a function's `main` reads once.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Table, retention, limits.
    pub service: ServiceSettings,
    /// Timeouts and retries of every AWS call.
    pub aws: AwsTimeouts,
    /// Where the seed comes from and how the master key is derived.
    #[cfg(feature = "sealing")]
    pub seed: crate::seed::SeedSettings,
    /// Timeouts, base URLs and the endpoint policy of the key tests.
    #[cfg(feature = "keytest")]
    pub key_tests: crate::keytest::KeyTestSettings,
    /// Whether use-key requires the user's own token, and whose tokens pass.
    #[cfg(feature = "usertoken")]
    pub user_tokens: crate::usertoken::UserTokenSettings,
    /// The streaming proxy's limits.
    #[cfg(feature = "proxy")]
    pub proxy: crate::proxy::ProxySettings,
}

impl Settings {
    /// Reads the tree from the process environment.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the tree through `get` (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        Ok(Self {
            service: ServiceSettings::from_lookup(&get)?,
            aws: AwsTimeouts::from_lookup(&get)?,
            #[cfg(feature = "sealing")]
            seed: crate::seed::SeedSettings::from_lookup(&get)?,
            #[cfg(feature = "keytest")]
            key_tests: crate::keytest::KeyTestSettings::from_lookup(&get)?,
            #[cfg(feature = "usertoken")]
            user_tokens: crate::usertoken::UserTokenSettings::from_lookup(&get)?,
            #[cfg(feature = "proxy")]
            proxy: crate::proxy::ProxySettings::from_lookup(&get)?,
        })
    }
}

#[cfg(test)]
mod tests;
