//! `apikeys-admin`: operator commands of the apikeys vault.
//!
//! The AWS SDK is configured from the environment like the functions are
//! (`AWS_ENDPOINT_URL` points it at the local emulator).

use std::process::ExitCode;

use apikeys::crypto::{Keyring, LegacyPolicy};
use apikeys::repo::ConfigRepository;
use apikeys::seed::{KeyMaterialConfig, SeedFetcher};
use apikeys_admin::import::ExportRow;
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
    /// Import a RealMultiLLM ProviderConfig export (JSON array) as akv1 items.
    Import(ImportArgs),
    /// Seal every key that is not under the current seed again under it.
    Rewrap(RewrapArgs),
    /// Count keys by key id and format, active and inactive, rotation due, unused.
    Stats(StatsArgs),
    /// Print a token of the local issuer (made by `provision`) for the local API.
    Token(apikeys_admin::issuer::TokenArgs),
}

#[derive(Debug, Args)]
struct TableArg {
    /// The DynamoDB table.
    #[arg(long, env = "APIKEYS_TABLE_NAME", default_value = "apikeys-local")]
    table: String,
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// The export: a JSON array of ProviderConfig rows.
    file: std::path::PathBuf,
    #[command(flatten)]
    table: TableArg,
    /// Check every row and print the counts without writing anything.
    #[arg(long)]
    dry_run: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct RewrapArgs {
    #[command(flatten)]
    table: TableArg,
    /// Stop after this many writes (a rerun goes on where it stopped).
    #[arg(long)]
    limit: Option<u64>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct StatsArgs {
    #[command(flatten)]
    table: TableArg,
    /// Days after which a key is due for rotation.
    #[arg(long, env = "APIKEYS_ROTATION_DAYS", default_value_t = 90)]
    rotation_days: i64,
    /// Days without use after which a key counts as unused.
    #[arg(long, env = "APIKEYS_UNUSED_DAYS", default_value_t = 30)]
    unused_days: i64,
    /// Print the counts as JSON.
    #[arg(long)]
    json: bool,
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
    #[command(flatten)]
    issuer: apikeys_admin::issuer::IssuerDirArg,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Provision(args) => provision(args).await.map_err(|err| {
            let hint = hint(&err);
            let mut message = err.to_string();
            if let Some(hint) = hint {
                message.push_str(&format!("\napikeys-admin: {hint}"));
            }
            message
        }),
        Command::Import(args) => import(args).await,
        Command::Rewrap(args) => rewrap(args).await,
        Command::Stats(args) => stats(args).await,
        Command::Token(args) => apikeys_admin::issuer::token_command(args),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("apikeys-admin: error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The keyring of the operator tools: the current seed and, when a legacy seed is
/// configured, legacy reading allowed whatever the functions' policy says.
async fn keyring(sdk: &aws_config::SdkConfig) -> Result<Keyring, String> {
    let mut config = KeyMaterialConfig::from_env().map_err(|e| e.to_string())?;
    if config.legacy.is_some() {
        config.legacy_policy = LegacyPolicy::Allow;
    }
    SeedFetcher::new(sdk)
        .keyring(&config)
        .await
        .map_err(|e| e.to_string())
}

fn print_json(value: &impl serde::Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

async fn import(args: ImportArgs) -> Result<ExitCode, String> {
    let text = std::fs::read_to_string(&args.file)
        .map_err(|e| format!("cannot read {}: {e}", args.file.display()))?;
    let rows: Vec<ExportRow> = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not an export: {e}", args.file.display()))?;
    let sdk = apikeys::aws::load_sdk_config().await;
    let keyring = keyring(&sdk).await?;
    let repo = ConfigRepository::new(aws_sdk_dynamodb::Client::new(&sdk), &args.table.table);
    let report = apikeys_admin::import::import(&repo, &keyring, &rows, args.dry_run)
        .await
        .map_err(|e| e.to_string())?;
    if args.json {
        print_json(&report);
    } else {
        let verb = if args.dry_run {
            "would import"
        } else {
            "imported"
        };
        println!("rows                 {}", report.rows);
        println!("{verb:<21}{}", report.imported);
        println!("already present      {}", report.already_present);
        println!("plaintext encrypted  {}", report.plaintext_encrypted);
        println!("legacy converted     {}", report.legacy_converted);
        println!("inactive             {}", report.inactive);
        println!("active without key   {}", report.no_key);
        println!("failed               {}", report.failed.len());
        for f in &report.failed {
            println!("  row {}: {}", f.id, f.reason);
        }
        for id in &report.settings_reset {
            println!("  row {id}: settings were not a JSON object; imported as {{}}");
        }
    }
    Ok(if report.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

async fn rewrap(args: RewrapArgs) -> Result<ExitCode, String> {
    let sdk = apikeys::aws::load_sdk_config().await;
    let keyring = keyring(&sdk).await?;
    let repo = ConfigRepository::new(aws_sdk_dynamodb::Client::new(&sdk), &args.table.table);
    eprintln!("rewrapping under key {}", keyring.current_key_id());
    let report = apikeys_admin::rewrap::rewrap(&repo, &keyring, args.limit, |r| {
        eprintln!(
            "  scanned {}, rewrapped {}, legacy converted {}, current {}, changed meanwhile {}, failed {}",
            r.scanned,
            r.rewrapped,
            r.legacy_converted,
            r.current,
            r.changed_concurrently,
            r.failed.len()
        );
    })
    .await
    .map_err(|e| e.to_string())?;
    if args.json {
        print_json(&report);
    } else {
        println!("scanned              {}", report.scanned);
        println!("already current      {}", report.current);
        println!("rewrapped            {}", report.rewrapped);
        println!("legacy converted     {}", report.legacy_converted);
        println!("changed meanwhile    {}", report.changed_concurrently);
        println!("without key          {}", report.no_key);
        println!("failed               {}", report.failed.len());
        for f in &report.failed {
            println!("  {}: {}", f.pk, f.reason);
        }
        if report.stopped_early {
            println!("stopped at --limit; run again to go on");
        }
    }
    Ok(if report.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

async fn stats(args: StatsArgs) -> Result<ExitCode, String> {
    let sdk = apikeys::aws::load_sdk_config().await;
    let repo = ConfigRepository::new(aws_sdk_dynamodb::Client::new(&sdk), &args.table.table);
    let stats = apikeys_admin::stats::stats(
        &repo,
        time::OffsetDateTime::now_utc(),
        time::Duration::days(args.rotation_days),
        time::Duration::days(args.unused_days),
    )
    .await
    .map_err(|e| e.to_string())?;
    if args.json {
        print_json(&stats);
    } else {
        println!("configurations       {}", stats.total);
        println!("active               {}", stats.active);
        println!("inactive             {}", stats.inactive);
        println!(
            "rotation due         {} (older than {} days)",
            stats.rotation_due, args.rotation_days
        );
        println!(
            "unused               {} (not used for {} days)",
            stats.unused, args.unused_days
        );
        println!("keys by format:");
        for (format, count) in &stats.by_format {
            println!("  {format:<19}{count}");
        }
    }
    Ok(ExitCode::SUCCESS)
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

async fn provision(args: ProvisionArgs) -> Result<ExitCode, ProvisionError> {
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
    if let Err(message) = apikeys_admin::issuer::provision_command(&args.issuer) {
        eprintln!("apikeys-admin: error: {message}");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
