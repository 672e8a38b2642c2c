//! `apikeys-admin`: operator commands of the apikeys vault. Parses the command line
//! and hands it to the command's module.

use std::process::ExitCode;

use apikeys_admin::{import, migrate, provision, rewrap, stats};
use clap::{Parser, Subcommand};

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
    Provision(provision::ProvisionArgs),
    /// Import a RealMultiLLM ProviderConfig export (JSON array) as akv1 items.
    Import(import::ImportArgs),
    /// Copy a table of the single-key layout (key pk alone) into one keyed pk + sk,
    /// every item as stored (idempotent, resumable).
    MigrateKeys(migrate::MigrateArgs),
    /// Seal every key that is not under the current seed again under it.
    Rewrap(rewrap::RewrapArgs),
    /// Count keys by key id (marking the current one), active and inactive, rotation
    /// due, unused.
    Stats(stats::StatsArgs),
    /// Print a token of the local issuer (made by `provision`) for the local API.
    Token(apikeys_admin::issuer::TokenArgs),
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Provision(args) => provision::run(args).await,
        Command::Import(args) => import::run(args).await,
        Command::MigrateKeys(args) => migrate::run(args).await,
        Command::Rewrap(args) => rewrap::run(args).await,
        Command::Stats(args) => stats::run(args).await,
        Command::Token(args) => {
            apikeys_admin::issuer::token_command(args).map_err(apikeys_admin::AdminError::Issuer)
        }
    };
    result.unwrap_or_else(|err| {
        eprintln!("apikeys-admin: error: {err}");
        if let Some(hint) = err.hint() {
            eprintln!("apikeys-admin: {hint}");
        }
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
