//! What the code that opens keys reads and writes: the sealed key of an active
//! configuration, a recorded use, a recorded key test.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use time::OffsetDateTime;

use super::ring::Ring;
use super::schema::TABLE_KEY;
use super::{
    active, decode_sealed, epoch_ms, is_active, n, number, s, ConfigRepository, Item, RepoError,
    SealedConfig, Written,
};
use crate::config::{timestamp, ConfigItem};
use crate::provider::ProviderId;

/// The recent use tokens an item keeps (`u0..`): a resent use is recognised as
/// long as fewer than this many other uses of the key came between.
pub const USE_TOKENS: usize = 32;

fn use_ring() -> Ring {
    Ring::new("u", USE_TOKENS)
}

/// What recording a use found.
#[derive(Debug)]
pub enum UseRecord {
    /// Recorded: the item after this use, with its sealed key.
    Used(Box<SealedConfig>),
    /// No configuration (or none under the id named).
    None,
    /// The configuration was deleted.
    Inactive,
    /// The key's expiry has passed.
    Expired,
    /// The key is marked unavailable.
    Unavailable {
        /// What the provider said: `rate_limited`, `invalid` or `quota_exceeded`.
        reason: String,
        /// Until when (epoch milliseconds); `None` until it is replaced or tested again.
        until_ms: Option<i128>,
    },
}

/// What a provider answered the app's server, as reported to the vault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportedOutcome {
    /// 429: unavailable until the time given.
    RateLimited {
        /// When the key may be used again.
        until: OffsetDateTime,
    },
    /// The provider refused the key.
    Invalid,
    /// The account has no credit left.
    QuotaExceeded,
    /// The key worked: any mark is cleared.
    Ok,
}

impl ReportedOutcome {
    /// The wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::RateLimited { .. } => "rate_limited",
            Self::Invalid => "invalid",
            Self::QuotaExceeded => "quota_exceeded",
            Self::Ok => "ok",
        }
    }
}

/// A recorded key test also settles the use mark (see [`ReportedOutcome`]): a
/// valid key is usable again, a refused one stays unusable until it is replaced
/// or tested again; any other answer leaves the mark as it is.
fn validation_expression(status: &str) -> &'static str {
    match status {
        "valid" => {
            "SET lastValidatedAt = :at, lastValidationStatus = :st \
             REMOVE unavailableReason, unavailableUntil ADD version :one"
        }
        "invalid" | "quota_exceeded" => {
            "SET lastValidatedAt = :at, lastValidationStatus = :st, unavailableReason = :st \
             REMOVE unavailableUntil ADD version :one"
        }
        _ => "SET lastValidatedAt = :at, lastValidationStatus = :st ADD version :one",
    }
}

/// Writes a use makes before giving up on an item that changes under it.
const USE_ATTEMPTS: usize = 3;

/// Why a use was refused, from the item as it is; `None` when nothing in it
/// refuses the use (it changed after the refusal).
fn refusal(item: &Item, key_id: Option<&str>, now: OffsetDateTime) -> Option<UseRecord> {
    let id = match item.get("id") {
        Some(AttributeValue::S(id)) => Some(id.as_str()),
        _ => None,
    };
    if key_id.is_some_and(|k| id != Some(k)) {
        return Some(UseRecord::None);
    }
    if !is_active(item) || !item.contains_key("apiKey") {
        return Some(UseRecord::Inactive);
    }
    if let Some(AttributeValue::S(at)) = item.get("keyExpiresAt") {
        if at.as_str() <= timestamp(now).as_str() {
            return Some(UseRecord::Expired);
        }
    }
    let Some(AttributeValue::S(reason)) = item.get("unavailableReason") else {
        return None;
    };
    let until_ms = number::<i128>(item, "unavailableUntil");
    if until_ms.is_some_and(|t| t <= epoch_ms(now)) {
        return None;
    }
    Some(UseRecord::Unavailable {
        reason: reason.clone(),
        until_ms,
    })
}

impl ConfigRepository {
    /// An active configuration with its sealed key (a strongly consistent read);
    /// `None` when there is none.
    pub async fn get_sealed(
        &self,
        user_id: &str,
        provider: ProviderId,
    ) -> Result<Option<SealedConfig>, RepoError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(TABLE_KEY, s(ConfigItem::key(user_id, provider)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| RepoError::sdk("get", e))?;
        match out.item {
            Some(item) if is_active(&item) && item.contains_key("apiKey") => {
                decode_sealed("get", item).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// Records one use of an active, usable key (`usageCount` + 1, `lastUsedAt`)
    /// and returns the item with its sealed key, in one round trip; with `key_id`,
    /// only the configuration of that id. A refusal says why from the item it
    /// found (a second read only on a backend that does not send it).
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
        let pk = ConfigItem::key(user_id, provider);
        let token = s(uuid::Uuid::new_v4().simple().to_string());
        for _ in 0..USE_ATTEMPTS {
            let found = match self.use_once(&pk, key_id, &token, now).await? {
                Written::Applied(item) => {
                    return decode_sealed("record use", item).map(|c| UseRecord::Used(Box::new(c)));
                }
                Written::Refused(Some(item)) => Some(item),
                // A backend that does not send the item with a refusal (dynalite).
                Written::Refused(None) => self.read_item("record use", &pk).await?,
            };
            let Some(item) = found else {
                return Ok(UseRecord::None);
            };
            if use_ring().holds(&item, &token) {
                // This write's own earlier attempt: the use is recorded, once.
                return decode_sealed("record use", item).map(|c| UseRecord::Used(Box::new(c)));
            }
            if let Some(refused) = refusal(&item, key_id, now) {
                return Ok(refused);
            }
            // The item changed between the refusal and the read: try again.
        }
        Err(RepoError::new(
            "record use",
            "the item changed under every attempt",
        ))
    }

    async fn use_once(
        &self,
        pk: &str,
        key_id: Option<&str>,
        token: &AttributeValue,
        now: OffsetDateTime,
    ) -> Result<Written, RepoError> {
        let ring = use_ring();
        let mut set = vec!["lastUsedAt = :now".to_owned()];
        set.extend(ring.push(":tok", ":none"));
        let mut condition = format!(
            "isActive = :t AND attribute_exists(apiKey) AND \
             (attribute_not_exists(keyExpiresAt) OR attribute_type(keyExpiresAt, :nul) \
              OR keyExpiresAt > :now) AND \
             (attribute_not_exists(unavailableReason) OR unavailableUntil <= :nowms) AND {}",
            ring.lacks(":tok")
        );
        if key_id.is_some() {
            condition.push_str(" AND id = :k");
        }
        self.update("record use", pk, |u| {
            let u = match key_id {
                Some(k) => u.expression_attribute_values(":k", s(k)),
                None => u,
            };
            u.update_expression(format!("SET {} ADD usageCount :one", set.join(", ")))
                .condition_expression(condition)
                .expression_attribute_values(":now", s(timestamp(now)))
                .expression_attribute_values(":nowms", n(epoch_ms(now)))
                .expression_attribute_values(":tok", token.clone())
                .expression_attribute_values(":none", s("-"))
                // The type name: an expiry written as NULL (by a settings update) is none.
                .expression_attribute_values(":nul", s("NULL"))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":t", active())
                .return_values(ReturnValue::AllNew)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
        })
        .await
    }

    /// Records what a provider answered the app's server for a key: `rate_limited`
    /// marks it unavailable until `until`, `invalid` and `quota_exceeded` until it
    /// is replaced or tested again (and become its last known status), `ok` clears
    /// the mark. One round trip; false when no active configuration has that id.
    pub async fn report_outcome(
        &self,
        user_id: &str,
        provider: ProviderId,
        key_id: &str,
        outcome: ReportedOutcome,
        now: OffsetDateTime,
    ) -> Result<bool, RepoError> {
        let expression = match outcome {
            ReportedOutcome::RateLimited { .. } => {
                "SET unavailableReason = :r, unavailableUntil = :until"
            }
            ReportedOutcome::Invalid | ReportedOutcome::QuotaExceeded => {
                "SET unavailableReason = :r, lastValidationStatus = :r, lastValidatedAt = :now \
                 REMOVE unavailableUntil ADD version :one"
            }
            ReportedOutcome::Ok => "REMOVE unavailableReason, unavailableUntil",
        };
        let written = self
            .update("report outcome", ConfigItem::key(user_id, provider), |u| {
                let u = u
                    .update_expression(expression)
                    .condition_expression("isActive = :t AND id = :k")
                    .expression_attribute_values(":t", active())
                    .expression_attribute_values(":k", s(key_id))
                    .return_values(ReturnValue::None);
                match outcome {
                    ReportedOutcome::RateLimited { until } => u
                        .expression_attribute_values(":r", s(outcome.as_str()))
                        .expression_attribute_values(":until", n(epoch_ms(until))),
                    ReportedOutcome::Invalid | ReportedOutcome::QuotaExceeded => u
                        .expression_attribute_values(":r", s(outcome.as_str()))
                        .expression_attribute_values(":now", s(timestamp(now)))
                        .expression_attribute_values(":one", n(1)),
                    ReportedOutcome::Ok => u,
                }
            })
            .await?;
        Ok(written.applied().is_some())
    }

    /// Records a key test on the item, only if it still holds the tested envelope
    /// (a key replaced meanwhile keeps its own status). False when it did not.
    pub async fn record_validation(
        &self,
        user_id: &str,
        provider: ProviderId,
        envelope: &str,
        at: &str,
        status: &str,
    ) -> Result<bool, RepoError> {
        let written = self
            .update(
                "record validation",
                ConfigItem::key(user_id, provider),
                |u| {
                    u.update_expression(validation_expression(status))
                        .condition_expression("isActive = :t AND apiKey = :k")
                        .expression_attribute_values(":at", s(at))
                        .expression_attribute_values(":st", s(status))
                        .expression_attribute_values(":t", active())
                        .expression_attribute_values(":k", s(envelope))
                        .expression_attribute_values(":one", n(1))
                        .return_values(ReturnValue::None)
                },
            )
            .await?;
        Ok(written.applied().is_some())
    }
}
