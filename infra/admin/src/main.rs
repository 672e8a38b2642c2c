//! `apikeys-admin`: operator commands of the apikeys vault.
//!
//! The AWS SDK is configured from the environment like the functions are
//! (`AWS_ENDPOINT_URL` points it at the local emulator).

use std::process::ExitCode;

use apikeys_admin::{
    check_alias, provision_seed, provision_table, ProvisionError, BY_USER_INDEX,
    TABLE_TTL_ATTRIBUTE,
};
use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "apikeys-admin",
    version,
    about = "Operator commands of the apikeys vault"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create what is missing of the table, the KMS key and the seed secret; leave
    /// what exists alone.
    Provision(ProvisionArgs),
}

#[derive(Debug, Args)]
struct ProvisionArgs {
    /// The DynamoDB table.
    #[arg(long, env = "APIKEYS_TABLE_NAME", default_value = "apikeys-local")]
    table: String,
    /// The Secrets Manager secret that holds the seed.
    #[arg(
        long,
        env = "API_KEY_ENCRYPTION_SEED_SECRET_ID",
        default_value = "apikeys-local/seed"
    )]
    secret: String,
    /// The alias of the KMS key the secret is encrypted under.
    #[arg(long, env = "APIKEYS_KMS_ALIAS", default_value = "alias/apikeys-local")]
    kms_alias: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Provision(args) => provision(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("apikeys-admin: error: {err}");
            if let Some(hint) = hint(&err) {
                eprintln!("apikeys-admin: {hint}");
            }
            ExitCode::FAILURE
        }
    }
}

fn endpoint() -> Option<String> {
    std::env::var("AWS_ENDPOINT_URL")
        .ok()
        .filter(|e| !e.is_empty())
}

/// What to try next when nothing answered at a local endpoint.
fn hint(err: &ProvisionError) -> Option<String> {
    let unreachable = matches!(err.aws_code(), Some("DispatchFailure" | "Timeout"));
    let endpoint = endpoint()?;
    unreachable.then(|| {
        format!("nothing answers at {endpoint}; start the emulator with `infra/local-aws.sh start`")
    })
}

async fn provision(args: ProvisionArgs) -> Result<(), ProvisionError> {
    // Refuse a bad alias before anything is created.
    check_alias(&args.kms_alias)?;
    let config = apikeys::aws::load_sdk_config().await;
    if let Some(endpoint) = endpoint() {
        println!("endpoint  {endpoint}");
    }

    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let table = provision_table(&dynamodb, &args.table).await?;
    println!(
        "table     {}: {} ({})",
        table.table, table.outcome, table.table_arn
    );
    println!("          index {BY_USER_INDEX} (userId, provider), ciphertext not projected");
    let ttl = if table.ttl.created() {
        "enabled now"
    } else {
        "already enabled"
    };
    println!("          TTL on {TABLE_TTL_ATTRIBUTE}: {ttl}");

    let kms = aws_sdk_kms::Client::new(&config);
    let sm = aws_sdk_secretsmanager::Client::new(&config);
    let seed = provision_seed(&kms, &sm, &args.secret, &args.kms_alias).await?;
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
    Ok(())
}
