//! `apikeys-admin stats`: the state of the vault without opening a single key.
//!
//! Keys are counted by the key id their envelope names, each marked by what the
//! operator's keyring makes of it, so that after a seed rotation and `rewrap` the
//! operator sees when no key is left under an older seed (and only then rotates
//! again: a seed that loses its `AWSPREVIOUS` label no longer opens anything).

use std::collections::BTreeMap;
use std::process::ExitCode;

use apikeys::crypto::{KeyId, Keyring, StoredFormat};
use apikeys::keytest::KeyStatus;
use apikeys::maintenance::{findings, Finding, DEFAULT_UNUSED_DAYS};
use apikeys::provider::ProviderId;
use apikeys::repo::{KeyTable, RepoError};
use apikeys::settings::DEFAULT_ROTATION_DAYS;
use clap::Args;
use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::context::{optional_keyring, print_json, sdk_config, TableArg};
use crate::AdminError;

/// The arguments of `stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    #[command(flatten)]
    table: TableArg,
    /// Days after which a key is due for rotation.
    #[arg(long, env = "APIKEYS_ROTATION_DAYS", default_value_t = DEFAULT_ROTATION_DAYS)]
    rotation_days: i64,
    /// Days without use after which a key counts as unused.
    #[arg(long, env = "APIKEYS_UNUSED_DAYS", default_value_t = DEFAULT_UNUSED_DAYS)]
    unused_days: i64,
    /// Print the counts as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `stats` and prints the counts. With a seed configured (the functions'
/// variables) the current key id is marked; without one, keys are counted all the same.
pub async fn run(args: StatsArgs) -> Result<ExitCode, AdminError> {
    let sdk = sdk_config().await?;
    let known = optional_keyring(&sdk).await?.as_ref().map(KnownKeys::of);
    let repo = args.table.repository(&sdk);
    let stats = stats(
        &repo,
        known.as_ref(),
        OffsetDateTime::now_utc(),
        Duration::days(args.rotation_days),
        Duration::days(args.unused_days),
    )
    .await?;
    if args.json {
        print_json(&stats)?;
    } else {
        print!("{}", stats.render(args.rotation_days, args.unused_days));
    }
    Ok(ExitCode::SUCCESS)
}

/// The key ids the operator's keyring knows: the one it seals under and the older
/// ones it still opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownKeys {
    /// The key id new keys are sealed under.
    pub current: KeyId,
    /// Key ids of older seeds that still open.
    pub previous: Vec<KeyId>,
}

impl KnownKeys {
    /// The key ids of a keyring.
    pub fn of(keyring: &Keyring) -> Self {
        let current = keyring.current_key_id();
        Self {
            current,
            previous: keyring
                .key_ids()
                .into_iter()
                .filter(|id| *id != current)
                .collect(),
        }
    }
}

/// What a group of stored keys is sealed under, as the operator's keyring sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SealedUnder {
    /// The current key: nothing to do.
    Current,
    /// An older seed that still opens: `rewrap` seals these again.
    Previous,
    /// A key id no configured seed opens.
    Unknown,
    /// An `akv1` key id, not checked: no seed is configured.
    Unchecked,
    /// A legacy RealMultiLLM format: `rewrap` converts these.
    Legacy,
    /// Not a value any format reads.
    Malformed,
}

impl SealedUnder {
    fn note(self) -> &'static str {
        match self {
            Self::Current => "current",
            Self::Previous => "previous seed, still opens: run rewrap",
            Self::Unknown => "no configured seed opens these",
            Self::Unchecked => "",
            Self::Legacy => "legacy: run rewrap",
            Self::Malformed => "malformed: does not open",
        }
    }
}

/// The keys stored under one key id (or legacy format).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyIdCount {
    /// How many.
    pub count: u64,
    /// What they are sealed under.
    pub sealed_under: SealedUnder,
}

/// Counts over the whole table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Configuration items.
    pub total: u64,
    /// Active ones.
    pub active: u64,
    /// Deleted ones.
    pub inactive: u64,
    /// Stored keys by the key id (hex) of their `akv1` envelope, by format name for
    /// a legacy value, or under `malformed`.
    pub by_key_id: BTreeMap<String, KeyIdCount>,
    /// The key id new keys are sealed under; `None` without a configured seed.
    pub current_key_id: Option<String>,
    /// Stored keys not under the current key id, what `rewrap` has left to do: zero
    /// means no key is left under an older seed. `None` without a configured seed.
    pub not_current: Option<u64>,
    /// Active keys marked `format_invalid` (by a key test, or by an import of a
    /// value that breaks today's key rules): their users should replace them.
    pub format_invalid: u64,
    /// Active keys older than the rotation period.
    pub rotation_due: u64,
    /// Active keys not used within the unused period.
    pub unused: u64,
    /// Active keys that expire within a week (`maintenance::EXPIRY_NOTICE_DAYS`).
    pub expiring: u64,
    /// Active keys whose expiry has passed: never handed out.
    pub expired: u64,
    /// Active configurations per provider of the registry, in its order (zeros
    /// included), by canonical id; an item naming no known provider counts as `unknown`.
    pub by_provider: Vec<(String, u64)>,
}

/// The name a stored value is counted under, and what it is sealed under.
pub fn classify(envelope: &str, known: Option<&KnownKeys>) -> (String, SealedUnder) {
    match Keyring::format_of(envelope) {
        Ok(StoredFormat::Akv1(id)) => {
            let sealed_under = match known {
                None => SealedUnder::Unchecked,
                Some(k) if k.current == id => SealedUnder::Current,
                Some(k) if k.previous.contains(&id) => SealedUnder::Previous,
                Some(_) => SealedUnder::Unknown,
            };
            (id.to_string(), sealed_under)
        }
        Ok(StoredFormat::Legacy(format)) => (format.to_string(), SealedUnder::Legacy),
        Err(_) => ("malformed".to_owned(), SealedUnder::Malformed),
    }
}

impl Stats {
    /// The counts as the command prints them, with the periods they were taken over.
    pub fn render(&self, rotation_days: i64, unused_days: i64) -> String {
        let mut out = format!(
            "configurations       {}\n\
             active               {}\n\
             inactive             {}\n\
             format invalid       {} (to be replaced by their users)\n\
             rotation due         {} (older than {rotation_days} days)\n\
             unused               {} (not used for {unused_days} days)\n\
             expiring             {} (within {} days)\n\
             expired              {} (never handed out)\n",
            self.total,
            self.active,
            self.inactive,
            self.format_invalid,
            self.rotation_due,
            self.unused,
            self.expiring,
            apikeys::maintenance::EXPIRY_NOTICE_DAYS,
            self.expired
        );
        out.push_str("active by provider:\n");
        for (provider, count) in &self.by_provider {
            out.push_str(&format!("  {provider:<19}{count}\n"));
        }
        match &self.current_key_id {
            Some(id) => out.push_str(&format!("keys by key id (current {id}):\n")),
            None => out.push_str("keys by key id (current unknown: no seed configured):\n"),
        }
        for (name, c) in &self.by_key_id {
            let line = format!("  {name:<19}{:<8}{}", c.count, c.sealed_under.note());
            out.push_str(line.trim_end());
            out.push('\n');
        }
        match self.not_current {
            Some(0) => out.push_str(
                "every key is under the current key id: none is left under an older seed\n",
            ),
            Some(n) => out.push_str(&format!(
                "{n} not under the current key id: run rewrap, then stats again\n"
            )),
            None => {}
        }
        out
    }

    fn count_provider(&mut self, provider: &str) {
        let name = ProviderId::parse(provider).map_or("unknown", ProviderId::as_str);
        match self.by_provider.iter_mut().find(|(p, _)| p == name) {
            Some((_, n)) => *n += 1,
            None => self.by_provider.push((name.to_owned(), 1)),
        }
    }

    fn count(&mut self, envelope: &str, known: Option<&KnownKeys>) {
        let (name, sealed_under) = classify(envelope, known);
        self.by_key_id
            .entry(name)
            .or_insert(KeyIdCount {
                count: 0,
                sealed_under,
            })
            .count += 1;
        if let Some(not_current) = self.not_current.as_mut() {
            *not_current += u64::from(sealed_under != SealedUnder::Current);
        }
    }
}

/// Scans the table and counts; `known` marks the key ids (see [`SealedUnder`]).
pub async fn stats(
    repo: &KeyTable,
    known: Option<&KnownKeys>,
    now: OffsetDateTime,
    rotation_after: Duration,
    unused_after: Duration,
) -> Result<Stats, RepoError> {
    let mut stats = Stats {
        current_key_id: known.map(|k| k.current.to_string()),
        not_current: known.map(|_| 0),
        by_provider: ProviderId::ALL
            .iter()
            .map(|p| (p.as_str().to_owned(), 0))
            .collect(),
        ..Stats::default()
    };
    let mut start = None;
    loop {
        let page = repo.scan_page(start, true).await?;
        for (item, envelope) in &page.items {
            stats.total += 1;
            if item.is_active {
                stats.active += 1;
                stats.count_provider(&item.provider);
                if item.last_validation_status.as_deref() == Some(KeyStatus::FormatInvalid.as_str())
                {
                    stats.format_invalid += 1;
                }
            } else {
                stats.inactive += 1;
            }
            if let Some(envelope) = envelope {
                stats.count(envelope, known);
            }
            let key = apikeys::domain::ProviderKey::from(item.clone());
            for finding in findings(&key, now, rotation_after, unused_after) {
                match finding {
                    Finding::RotationDue => stats.rotation_due += 1,
                    Finding::Unused => stats.unused += 1,
                    Finding::Expiring => stats.expiring += 1,
                    Finding::Expired => stats.expired += 1,
                }
            }
        }
        match page.next {
            Some(next) => start = Some(next),
            None => return Ok(stats),
        }
    }
}

#[cfg(test)]
mod tests;
