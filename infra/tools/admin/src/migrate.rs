//! `apikeys-admin migrate-keys`: copies a table of the single-key layout (key `pk`
//! alone, before several keys per provider) into a table of this layout (`pk` +
//! `sk`), every item as stored, each at its slot (`primary`). Nothing is opened:
//! no seed is needed. Every write is conditional (see `apikeys::repo` `migrate`), so
//! a run is idempotent and resumable: run it again, from the start or from the
//! `--start-after` it printed, and it ends with every item copied once.

use std::process::ExitCode;

use apikeys::repo::{schema, Copied, Item, KeyTable, RepoError};
use aws_sdk_dynamodb::types::AttributeValue;
use clap::Args;
use serde::Serialize;

use crate::context::{exit_code, print_json, sdk_config, TableArg};
use crate::AdminError;

/// The arguments of `migrate-keys`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The table of the single-key layout to copy from (left as it is).
    #[arg(long)]
    from: String,
    /// The table to copy into (made by `provision`).
    #[command(flatten)]
    table: TableArg,
    /// Start after this `pk` of the source (what an interrupted run printed last).
    #[arg(long)]
    start_after: Option<String>,
    /// Stop after this many source items (a rerun goes on).
    #[arg(long)]
    limit: Option<u64>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// The counts of a migration run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrateReport {
    /// Source items read.
    pub scanned: u64,
    /// Written where the target had nothing.
    pub copied: u64,
    /// Already in the target, identical.
    pub already_copied: u64,
    /// In the target at an older version: replaced by the source's.
    pub updated: u64,
    /// In the target at the same or a newer version (written there since): kept.
    pub kept_newer: u64,
    /// The last source `pk` handled: where `--start-after` resumes.
    pub last_pk: Option<String>,
    /// True when `--limit` stopped the run before the end of the source.
    pub stopped_early: bool,
}

impl MigrateReport {
    /// The report as the command prints it.
    pub fn render(&self) -> String {
        let mut out = format!(
            "scanned              {}\n\
             copied               {}\n\
             already copied       {}\n\
             updated (newer)      {}\n\
             kept (target newer)  {}\n",
            self.scanned, self.copied, self.already_copied, self.updated, self.kept_newer
        );
        if self.stopped_early {
            if let Some(pk) = &self.last_pk {
                out.push_str(&format!(
                    "stopped at --limit; go on with --start-after '{pk}'\n"
                ));
            }
        }
        out
    }
}

/// Runs `migrate-keys`: progress on stderr after every page, the report on stdout.
pub async fn run(args: MigrateArgs) -> Result<ExitCode, AdminError> {
    let sdk = sdk_config().await?;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let source = KeyTable::new(client.clone(), &args.from);
    let target = args.table.repository(&sdk);
    check_layouts(&client, &args.from, target.table()).await?;
    eprintln!("copying {} into {}", args.from, target.table());
    let report = migrate(
        &source,
        &target,
        args.start_after.as_deref(),
        args.limit,
        |r| {
            eprintln!(
                "  scanned {}, copied {}, already copied {}, updated {}, kept {} (last pk {})",
                r.scanned,
                r.copied,
                r.already_copied,
                r.updated,
                r.kept_newer,
                r.last_pk.as_deref().unwrap_or("-")
            );
        },
    )
    .await?;
    if args.json {
        print_json(&report)?;
    } else {
        print!("{}", report.render());
    }
    Ok(exit_code(true))
}

/// The source must have the single-key layout and the target this one: copying
/// the wrong way round, or twice into the same table, is refused before a write.
pub async fn check_layouts(
    client: &aws_sdk_dynamodb::Client,
    source: &str,
    target: &str,
) -> Result<(), AdminError> {
    for (table, want) in [(source, 1usize), (target, 2usize)] {
        let described = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| AdminError::aws("DescribeTable", table, e))?;
        let keys = described
            .table()
            .map(|t| t.key_schema().len())
            .unwrap_or_default();
        if keys != want {
            return Err(AdminError::TableMismatch {
                table: table.to_owned(),
                reason: format!(
                    "has {keys} key attribute(s): the source of a migration is keyed {} \
                     alone, its target {} and {} (as provision makes it)",
                    schema::TABLE_KEY,
                    schema::TABLE_KEY,
                    schema::SORT_KEY
                ),
            });
        }
    }
    Ok(())
}

/// Copies `source` into `target`, after `start_after` when given, stopping after
/// `limit` items when given. `progress` is called after every page.
pub async fn migrate(
    source: &KeyTable,
    target: &KeyTable,
    start_after: Option<&str>,
    limit: Option<u64>,
    mut progress: impl FnMut(&MigrateReport),
) -> Result<MigrateReport, RepoError> {
    let mut report = MigrateReport::default();
    let mut start: Option<Item> = start_after.map(|pk| {
        Item::from([(
            schema::TABLE_KEY.to_owned(),
            AttributeValue::S(pk.to_owned()),
        )])
    });
    loop {
        let page = source.raw_page(start).await?;
        for item in page.items {
            if limit.is_some_and(|l| report.scanned >= l) {
                report.stopped_early = true;
                return Ok(report);
            }
            let pk = match item.get(schema::TABLE_KEY) {
                Some(AttributeValue::S(pk)) => pk.clone(),
                _ => String::new(),
            };
            report.scanned += 1;
            match target.copy_single_key_item(item).await? {
                Copied::Written => report.copied += 1,
                Copied::Identical => report.already_copied += 1,
                Copied::Updated => report.updated += 1,
                Copied::KeptNewer => report.kept_newer += 1,
            }
            report.last_pk = Some(pk);
        }
        progress(&report);
        match page.next {
            Some(next) => start = Some(next),
            None => return Ok(report),
        }
    }
}
