//! `apikeys-admin provision`: creates what is missing of the table (with its
//! `byUser` index and TTL), the KMS key and the seed secret, and leaves what exists
//! alone, reporting it as already present. The local stack (`make run`) and the
//! integration tests provision through the same functions.

mod seed;
mod table;

use std::process::ExitCode;

use apikeys::settings::DEFAULT_TABLE_NAME;
use clap::Args;

pub use seed::{check_alias, provision_seed, SeedProvisioned, SEED_LENGTH};
pub use table::{
    provision_table, Provisioned, BY_USER_INDEX, BY_USER_PROJECTED, TABLE_TTL_ATTRIBUTE,
};

use crate::context::{endpoint, sdk_config, TableArg};
use crate::AdminError;

/// The arguments of `provision`.
#[derive(Debug, Args)]
pub struct ProvisionArgs {
    #[command(flatten)]
    table: TableArg,
    /// The Secrets Manager secret that holds the seed.
    #[arg(long, env = "APIKEYS_SEED_SECRET_ID", default_value_t = default_seed_secret())]
    secret: String,
    /// The alias of the KMS key the secret is encrypted under.
    #[arg(long, env = "APIKEYS_KMS_ALIAS", default_value_t = default_kms_alias())]
    kms_alias: String,
    #[command(flatten)]
    issuer: crate::issuer::IssuerDirArg,
}

/// The local stack's seed secret, named after its table.
pub fn default_seed_secret() -> String {
    format!("{DEFAULT_TABLE_NAME}/seed")
}

/// The local stack's KMS alias, named after its table.
pub fn default_kms_alias() -> String {
    format!("alias/{DEFAULT_TABLE_NAME}")
}

/// Whether a provisioning call made a resource or found it there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// This call created it.
    Created,
    /// It existed already and was left alone.
    AlreadyPresent,
}

impl Outcome {
    /// True when this call created the resource.
    pub fn created(self) -> bool {
        self == Self::Created
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Created => "created",
            Self::AlreadyPresent => "already present",
        })
    }
}

/// Runs `provision` and prints what it found or made (names and ARNs, never the seed).
pub async fn run(args: ProvisionArgs) -> Result<ExitCode, AdminError> {
    // Refuse a bad alias before anything is created.
    check_alias(&args.kms_alias)?;
    let sdk = sdk_config().await?;
    if let Some(endpoint) = endpoint() {
        println!("endpoint  {endpoint}");
    }

    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let table = provision_table(&dynamodb, &args.table.table).await?;
    print_table(&table);

    let kms = aws_sdk_kms::Client::new(&sdk);
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let seed = provision_seed(&kms, &sm, &args.secret, &args.kms_alias).await?;
    print_seed(&seed);
    crate::issuer::provision_command(&args.issuer).map_err(AdminError::Issuer)?;
    Ok(ExitCode::SUCCESS)
}

fn print_table(table: &Provisioned) {
    println!(
        "table     {}: {} ({})",
        table.table, table.outcome, table.table_arn
    );
    println!("          index {BY_USER_INDEX} (userId, provider), ciphertext not projected");
    let ttl = match table.ttl {
        Some(outcome) if outcome.created() => "enabled now",
        Some(_) => "already enabled",
        None => "not enabled: this endpoint has no TTL operations (dynalite); going on",
    };
    println!("          TTL on {TABLE_TTL_ATTRIBUTE}: {ttl}");
}

fn print_seed(seed: &SeedProvisioned) {
    println!(
        "kms key   {}: {} ({})",
        seed.key_alias, seed.key, seed.key_arn
    );
    println!(
        "secret    {}: {} ({})",
        seed.secret_name, seed.secret, seed.secret_arn
    );
    if seed.secret.created() {
        println!(
            "          holds a fresh random seed (not shown), encrypted under {}",
            seed.key_alias
        );
    } else if !seed.secret_under_key() {
        let under = seed
            .secret_kms_key_id
            .as_deref()
            .unwrap_or("the default aws/secretsmanager key");
        println!(
            "          warning: encrypted under {under}, not {}; left as it is",
            seed.key_alias
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_defaults_are_named_after_the_local_table() {
        assert_eq!(default_seed_secret(), "apikeys-local/seed");
        assert_eq!(default_kms_alias(), "alias/apikeys-local");
        assert!(check_alias(&default_kms_alias()).is_ok());
    }
}
