//! A recorded use of a key by the app's servers: which of a provider's keys, and the
//! one conditional update that counts the use and returns the key.
//!
//! Without a key id: first the primary's update on its own, one round trip. Its
//! condition holds exactly when the use order would pick the primary (active, not
//! expired, not marked, budget not spent: the primary always comes first), so when
//! it applies the use is the one the order names. When it is refused (no primary,
//! or not usable now), one consistent `Query` of the provider's partition (every
//! key, at most five), then the update of the first usable key in order — the
//! primary, then the others by `priority` (lower first), then by age. With a key id: the
//! primary (under the condition `id = :k`) and the key's own slot are written at
//! once: one round trip, two requests, of which at most one applies (an id is the
//! primary's or another key's, never both); the primary's refusal carries the
//! provider's settings for another key.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use time::OffsetDateTime;

use super::schema::{extra_slot, PRIMARY_SLOT, SORT_KEY};
use super::use_tokens::{self, TokenWrite, USE_TOKEN_LIST};
use super::{
    active, decode, decode_sealed, epoch_ms, n, s, Item, KeyRow, KeyTable, RepoError, SealedConfig,
    Written,
};
use crate::domain::{timestamp, ProviderKey, Refusal};
use crate::provider::ProviderId;

pub use super::use_tokens::USE_TOKENS;

/// What recording a use found.
#[derive(Debug)]
pub enum UseRecord {
    /// Recorded: the item after this use, with its sealed key (and the provider's
    /// settings, which the primary holds).
    Used(Box<SealedConfig>),
    /// No configuration (or none under the id named).
    None,
    /// The configuration was deleted.
    Inactive,
    /// Every key's expiry has passed.
    Expired,
    /// Every usable key is marked unavailable.
    Unavailable {
        /// What the provider said of the key that is usable soonest:
        /// `rate_limited`, `invalid` or `quota_exceeded`.
        reason: String,
        /// Until when (epoch milliseconds); `None` until it is replaced or tested again.
        until_ms: Option<i128>,
    },
}

/// Where a recorded use left its token in its key's list: what taking the use back
/// names ([`KeyTable::withdraw_use`]).
#[derive(Debug, Clone, PartialEq)]
pub struct UseMark {
    sk: String,
    id: String,
    index: usize,
    token: AttributeValue,
}

/// Writes a use makes on one key before giving up on an item that changes under it.
const USE_ATTEMPTS: usize = 3;

/// Why a use of `item` is refused at `now`; `None` when nothing in it refuses it.
/// The rule is the domain's ([`ProviderKey::refusal`]); here only what the row
/// adds: the id asked for, and an envelope to open.
fn refusal(
    item: &Item,
    key_id: Option<&str>,
    now: OffsetDateTime,
) -> Result<Option<UseRecord>, RepoError> {
    let id = match item.get("id") {
        Some(AttributeValue::S(id)) => Some(id.as_str()),
        _ => None,
    };
    if key_id.is_some_and(|k| id != Some(k)) {
        return Ok(Some(UseRecord::None));
    }
    if !item.contains_key("apiKey") {
        return Ok(Some(UseRecord::Inactive));
    }
    let key = ProviderKey::from(decode("record use", item.clone())?);
    Ok(key.refusal(now).map(|why| match why {
        Refusal::Inactive => UseRecord::Inactive,
        Refusal::Expired => UseRecord::Expired,
        Refusal::Unavailable { reason, until_ms } => UseRecord::Unavailable { reason, until_ms },
    }))
}

/// The answer when no key could be used, from why each was refused: unavailable
/// wins over expired over inactive; of the unavailable ones, the one usable soonest
/// (a wait that ends before one that lasts until the key is replaced).
fn combined(refusals: Vec<UseRecord>) -> UseRecord {
    let mut best = UseRecord::None;
    for r in refusals {
        let rank = |r: &UseRecord| match r {
            UseRecord::None | UseRecord::Used(_) => 0,
            UseRecord::Inactive => 1,
            UseRecord::Expired => 2,
            UseRecord::Unavailable { .. } => 3,
        };
        let sooner = match (&r, &best) {
            (
                UseRecord::Unavailable { until_ms: a, .. },
                UseRecord::Unavailable { until_ms: b, .. },
            ) => matches!((a, b), (Some(_), None)) || matches!((a, b), (Some(a), Some(b)) if a < b),
            _ => rank(&r) > rank(&best),
        };
        if sooner {
            best = r;
        }
    }
    best
}

/// The use recorded on `item` by the write that carried `token`.
fn used(item: Item, token: &AttributeValue) -> Result<UseRecord, RepoError> {
    let index = use_tokens::position(&item, token);
    decode_sealed("record use", item).map(|mut c| {
        c.use_mark = index.map(|index| UseMark {
            sk: c.item.sk.clone(),
            id: c.item.id.clone(),
            index,
            token: token.clone(),
        });
        UseRecord::Used(Box::new(c))
    })
}

/// A use recorded on `item`, as one attempt's outcome.
fn used_slot(item: Item, token: &AttributeValue) -> Result<Settled, RepoError> {
    used(item, token).map(|record| Settled::Done(SlotUse { record, seen: None }))
}

/// What the item a use's write was refused on says of that use.
fn judge(
    item: Item,
    key_id: Option<&str>,
    token: &AttributeValue,
    now: OffsetDateTime,
) -> Result<Settled, RepoError> {
    if use_tokens::holds(&item, token) {
        // This write's own earlier attempt: the use is recorded, once.
        return used_slot(item, token);
    }
    Ok(match refusal(&item, key_id, now)? {
        Some(refused) => Settled::Done(SlotUse {
            record: refused,
            seen: Some(item),
        }),
        None => Settled::Usable(item),
    })
}

/// The order keys are tried in: the domain's use order ([`ProviderKey::use_rank`]).
fn use_order(items: Vec<Item>) -> Result<Vec<Item>, RepoError> {
    let mut ranked = items
        .into_iter()
        .map(|item| Ok((ProviderKey::from(decode("record use", item.clone())?), item)))
        .collect::<Result<Vec<_>, RepoError>>()?;
    ranked.sort_by(|(a, _), (b, _)| a.use_rank().cmp(&b.use_rank()));
    Ok(ranked.into_iter().map(|(_, item)| item).collect())
}

/// How a use's write holds the key to its budget for the month (`YYYY-MM`) it names.
#[derive(Debug, Clone)]
enum Budget<'a> {
    /// Nothing was read before the write, which decides alone: a month total it
    /// cannot know (a map written before `totalTokens` was kept) refuses it, and the
    /// refusal's item is read as the domain reads it.
    Unread(&'a str),
    /// The item was read and its budget found unspent: the write holds a known total
    /// to the budget (spending that landed since the read refuses it) and lets an
    /// unknown one pass, as the read judged it. The item read also tells whether
    /// the write must make room in its list of use tokens.
    Read(&'a str, Item),
}

impl<'a> Budget<'a> {
    fn month(&self) -> &'a str {
        match self {
            Budget::Unread(month) | Budget::Read(month, _) => month,
        }
    }
}

/// What one attempt on one key found: the record, and the item the refusal showed.
struct SlotUse {
    record: UseRecord,
    seen: Option<Item>,
}

/// What a refused write came to, from the item it showed (or that was read).
enum Settled {
    /// The use is recorded, or the key is refused for a reason.
    Done(SlotUse),
    /// The item shows the key usable: it changed between the write and the read, or
    /// its list of use tokens is full. Write again, as after reading this item.
    Usable(Item),
}

impl KeyTable {
    /// Records one use of an active, usable key of the provider (`usageCount` + 1,
    /// `lastUsedAt`) and returns it with its sealed key; with `key_id`, only that key
    /// (see the module for the round trips). A refusal says why from the items it saw.
    ///
    /// Retry-safe: the write carries a token of its own, kept in the last
    /// [`USE_TOKENS`] slots of the item, and a resent write that finds its token
    /// there is refused and answered as the use it already was. So a use counts
    /// once unless more than that many other uses of the key land between an
    /// attempt and its retry.
    pub async fn record_use(
        &self,
        user_id: &str,
        provider: ProviderId,
        key_id: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<UseRecord, RepoError> {
        self.record_use_in(user_id, provider, key_id, &[], now)
            .await
    }

    /// As [`Self::record_use`] without a key id, passing over the keys in `skip`
    /// (those a call already tried): the provider's keys are read first, and a
    /// key is written only under its own id, so a skipped key moved into another
    /// slot meanwhile is not taken. With every usable key skipped: `None`; with
    /// none to skip, the plain use.
    pub async fn record_use_skipping(
        &self,
        user_id: &str,
        provider: ProviderId,
        skip: &[String],
        now: OffsetDateTime,
    ) -> Result<UseRecord, RepoError> {
        self.record_use_in(user_id, provider, None, skip, now).await
    }

    async fn record_use_in(
        &self,
        user_id: &str,
        provider: ProviderId,
        key_id: Option<&str>,
        skip: &[String],
        now: OffsetDateTime,
    ) -> Result<UseRecord, RepoError> {
        let pk = KeyRow::key(user_id, provider);
        let token = use_tokens::new_token();
        let month = crate::domain::month_of(now);
        if let Some(id) = key_id {
            // Both places at once, one round trip: the id is the primary's or it is
            // at its own slot, never both, so at most one write applies.
            // The other place's refusal is looked into only when the id is not the
            // primary's (a read where a refusal carries no item).
            let other_slot = extra_slot(id);
            let unread = Budget::Unread(&month);
            let (primary, other) = tokio::join!(
                self.use_slot(
                    &pk,
                    PRIMARY_SLOT,
                    Some(id),
                    Budget::Unread(&month),
                    &token,
                    now
                ),
                self.use_once(&pk, &other_slot, Some(id), &unread, &token, now),
            );
            let (primary, other) = (primary?, other?);
            if !matches!(primary.record, UseRecord::None) {
                return Ok(primary.record);
            }
            let other = match self
                .settle(&pk, &other_slot, Some(id), &token, now, other)
                .await?
            {
                Settled::Done(settled) => settled,
                Settled::Usable(item) => {
                    self.use_slot(
                        &pk,
                        &other_slot,
                        Some(id),
                        Budget::Read(&month, item),
                        &token,
                        now,
                    )
                    .await?
                }
            };
            return Ok(with_settings(other.record, primary.seen.as_ref()));
        }
        if !skip.is_empty() {
            return self.use_in_order(&pk, skip, &token, &month, now).await;
        }
        // The primary first, alone: usable, it is the key the order names.
        let direct = self
            .use_once(
                &pk,
                PRIMARY_SLOT,
                None,
                &Budget::Unread(&month),
                &token,
                now,
            )
            .await?;
        match direct {
            Written::Applied(item) => return used(item, &token),
            // The refusal's item, judged as any attempt's (a backend that sends none,
            // dynalite, goes on to the partition below).
            Written::Refused(Some(item)) => match judge(item, None, &token, now)? {
                // An SDK retry of this write whose first answer was lost: it had applied.
                Settled::Done(SlotUse {
                    record: record @ UseRecord::Used(_),
                    ..
                }) => return Ok(record),
                Settled::Done(_) => {}
                // Still usable, so still the key the order names: write again, as
                // after a read (see `use_slot`).
                Settled::Usable(item) => {
                    let attempt = self
                        .use_slot(
                            &pk,
                            PRIMARY_SLOT,
                            None,
                            Budget::Read(&month, item),
                            &token,
                            now,
                        )
                        .await?;
                    if let UseRecord::Used(_) = attempt.record {
                        return Ok(attempt.record);
                    }
                }
            },
            Written::Refused(None) => {}
        }
        // Refused: the partition, in order (a refused primary is read there again).
        self.use_in_order(&pk, &[], &token, &month, now).await
    }

    /// The provider's keys read, then the first usable one in order written (but
    /// none of `skip`, and then each only under its own id).
    async fn use_in_order(
        &self,
        pk: &str,
        skip: &[String],
        token: &AttributeValue,
        month: &str,
        now: OffsetDateTime,
    ) -> Result<UseRecord, RepoError> {
        let items = self.partition("record use", pk).await?;
        // A backend that sends no item with a refusal (dynalite): a retried write's
        // token shows here instead.
        if let Some(item) = items.iter().find(|i| use_tokens::holds(i, token)) {
            return used(item.clone(), token);
        }
        let primary = items
            .iter()
            .find(|i| matches!(i.get(SORT_KEY), Some(AttributeValue::S(sk)) if sk == PRIMARY_SLOT))
            .cloned();
        let mut refusals = Vec::new();
        for item in use_order(items)? {
            let id = match item.get("id") {
                Some(AttributeValue::S(id)) => Some(id.clone()),
                _ => None,
            };
            if id.as_ref().is_some_and(|id| skip.contains(id)) {
                continue;
            }
            if let Some(refused) = refusal(&item, None, now)? {
                refusals.push(refused);
                continue;
            }
            let Some(AttributeValue::S(sk)) = item.get(SORT_KEY) else {
                continue;
            };
            let sk = sk.clone();
            let pinned = if skip.is_empty() { None } else { id.as_deref() };
            let attempt = self
                .use_slot(pk, &sk, pinned, Budget::Read(month, item), token, now)
                .await?;
            match attempt.record {
                used @ UseRecord::Used(_) => return Ok(with_settings(used, primary.as_ref())),
                refused => refusals.push(refused),
            }
        }
        Ok(combined(refusals))
    }

    /// Takes back a use recorded by [`Self::record_use`] whose key was then not
    /// sent (its endpoint refused at this use): `usageCount` - 1, and the use's token
    /// replaced where it was, only while the list still holds it there and the item
    /// is still that key, active, with the use counted. So a resent withdrawal takes
    /// nothing back twice, a list rewritten since (by a write making room) keeps the
    /// use counted, and a key deleted or replaced since is left as it is.
    /// `lastUsedAt` stays. `true` when the use was taken back.
    pub async fn withdraw_use(
        &self,
        user_id: &str,
        provider: ProviderId,
        mark: &UseMark,
    ) -> Result<bool, RepoError> {
        let pk = KeyRow::key(user_id, provider);
        let at = format!("#ut[{}]", mark.index);
        let written = self
            .update("withdraw use", pk, &mark.sk, |u| {
                u.update_expression(format!(
                    "SET {at} = :gone ADD usageCount :minus, version :one"
                ))
                .condition_expression(format!(
                    "{at} = :tok AND isActive = :t AND id = :k AND usageCount > :zero"
                ))
                .expression_attribute_names("#ut", USE_TOKEN_LIST)
                .expression_attribute_values(":gone", use_tokens::withdrawn())
                .expression_attribute_values(":tok", mark.token.clone())
                .expression_attribute_values(":t", active())
                .expression_attribute_values(":k", s(&mark.id))
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":minus", n(-1))
                .expression_attribute_values(":one", n(1))
            })
            .await?;
        Ok(matches!(written, Written::Applied(_)))
    }

    /// Records a use of the key at (`pk`, `sk`), retrying while the item changes
    /// under the write. The first write holds the budget as `budget` says; a retry
    /// follows a read that found the key usable.
    async fn use_slot(
        &self,
        pk: &str,
        sk: &str,
        key_id: Option<&str>,
        budget: Budget<'_>,
        token: &AttributeValue,
        now: OffsetDateTime,
    ) -> Result<SlotUse, RepoError> {
        let mut budget = budget;
        for _ in 0..USE_ATTEMPTS {
            let written = self.use_once(pk, sk, key_id, &budget, token, now).await?;
            match self.settle(pk, sk, key_id, token, now, written).await? {
                Settled::Done(settled) => return Ok(settled),
                // The item read after the refusal shows the key usable: it changed
                // between the two, its month total is one the write cannot know, or
                // its list of use tokens is full. Try again, as after a read.
                Settled::Usable(item) => budget = Budget::Read(budget.month(), item),
            }
        }
        Err(RepoError::unavailable(
            "record use",
            "the item changed under every attempt",
        ))
    }

    /// What one attempt on (`pk`, `sk`) came to.
    async fn settle(
        &self,
        pk: &str,
        sk: &str,
        key_id: Option<&str>,
        token: &AttributeValue,
        now: OffsetDateTime,
        written: Written,
    ) -> Result<Settled, RepoError> {
        let found = match written {
            Written::Applied(item) => return used_slot(item, token),
            Written::Refused(Some(item)) => Some(item),
            // A backend that does not send the item with a refusal (dynalite).
            Written::Refused(None) => self.read_item("record use", pk, sk).await?,
        };
        match found {
            Some(item) => judge(item, key_id, token, now),
            None => Ok(Settled::Done(SlotUse {
                record: UseRecord::None,
                seen: None,
            })),
        }
    }

    /// One conditional update counting a use of the key at (`pk`, `sk`). The
    /// condition holds the key to everything the use order asks of it, its budget
    /// included, as [`ProviderKey::budget_spent`] reads it: no budget, no spending
    /// this month, or this month's `totalTokens` below it. A month total the write
    /// cannot know (see [`Budget`]) refuses an unread write and passes a read one.
    async fn use_once(
        &self,
        pk: &str,
        sk: &str,
        key_id: Option<&str>,
        budget: &Budget<'_>,
        token: &AttributeValue,
        now: OffsetDateTime,
    ) -> Result<Written, RepoError> {
        let tokens = match budget {
            Budget::Read(_, seen) if use_tokens::full(seen) => TokenWrite::make_room(seen, token),
            _ => TokenWrite::append(token),
        };
        let mut condition = format!(
            "isActive = :t AND attribute_exists(apiKey) AND \
             (attribute_not_exists(keyExpiresAt) OR attribute_type(keyExpiresAt, :nul) \
              OR keyExpiresAt > :now) AND \
             (attribute_not_exists(unavailableReason) OR unavailableUntil <= :nowms) AND {}",
            tokens.condition
        );
        if key_id.is_some() {
            condition.push_str(" AND id = :k");
        }
        let month = budget.month();
        let unknown_passes = match budget {
            Budget::Unread(_) => "",
            Budget::Read(..) => " OR attribute_not_exists(#u.#tt) OR #u.#tt >= :unknown",
        };
        condition.push_str(&format!(
            " AND (attribute_not_exists(#b) OR attribute_not_exists(#u) OR #u.#m <> :month \
             OR #u.#tt < #b.monthlyTokens{unknown_passes})"
        ));
        self.update("record use", pk, sk, |u| {
            let u = match key_id {
                Some(k) => u.expression_attribute_values(":k", s(k)),
                None => u,
            };
            let u = match budget {
                Budget::Read(..) => {
                    u.expression_attribute_values(":unknown", n(super::tokens::UNKNOWN_TOTAL))
                }
                Budget::Unread(_) => u,
            };
            let u = tokens.values.iter().fold(u, |u, (name, value)| {
                u.expression_attribute_values(*name, value.clone())
            });
            let remove = match &tokens.remove {
                Some(names) => format!(" REMOVE {names}"),
                None => String::new(),
            };
            u.update_expression(format!(
                "SET lastUsedAt = :now, {} ADD usageCount :one, version :one{remove}",
                tokens.set
            ))
            .condition_expression(condition)
            .expression_attribute_names("#ut", USE_TOKEN_LIST)
            .expression_attribute_names("#b", "budget")
            .expression_attribute_names("#u", super::tokens::MONTH_USAGE)
            .expression_attribute_names("#m", "month")
            .expression_attribute_names("#tt", super::tokens::TOTAL_TOKENS)
            .expression_attribute_values(":month", s(month))
            .expression_attribute_values(":now", s(timestamp(now)))
            .expression_attribute_values(":nowms", n(epoch_ms(now)))
            // The type name: an expiry written as NULL (by a settings update) is none.
            .expression_attribute_values(":nul", s("NULL"))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":t", active())
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        })
        .await
    }
}

/// A key other than the primary holds no settings of its own: the provider's are
/// the primary's.
fn with_settings(record: UseRecord, primary: Option<&Item>) -> UseRecord {
    match (record, primary) {
        (UseRecord::Used(mut used), Some(primary)) if used.item.sk != PRIMARY_SLOT => {
            if let Some(settings) = primary
                .get("settings")
                .and_then(|v| super::settings_of(v).ok())
            {
                used.item.settings = settings;
            }
            UseRecord::Used(used)
        }
        (record, _) => record,
    }
}

#[cfg(test)]
mod tests;
