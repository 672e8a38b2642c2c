//! What the code that opens keys reads and writes: the sealed key of an active
//! configuration, a reported outcome, a recorded key test (a recorded use is in
//! `uses`).

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use time::OffsetDateTime;

use super::schema::{extra_slot, PRIMARY_SLOT, SORT_KEY, TABLE_KEY};
use super::{
    active, decode_sealed, epoch_ms, is_active, n, s, KeyTable, RepoError, SealedConfig, Written,
};
use crate::domain::timestamp;
use crate::provider::ProviderId;
use crate::repo::KeyRow;

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

/// What recording a report did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reported {
    /// The key's mark is set (or cleared).
    Recorded,
    /// The key was replaced or tested again after the lease was handed out: the
    /// report is about a key that is no longer there, and marks nothing.
    Stale,
    /// The provider has no active key of that id.
    NotFound,
}

impl Reported {
    /// The `reason` of an answer that recorded nothing.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            Self::Recorded => None,
            Self::Stale => Some("stale"),
            Self::NotFound => Some("none"),
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
             REMOVE unavailableReason, unavailableUntil ADD version :one, keyRevision :one"
        }
        "invalid" | "quota_exceeded" => {
            "SET lastValidatedAt = :at, lastValidationStatus = :st, unavailableReason = :st \
             REMOVE unavailableUntil ADD version :one, keyRevision :one"
        }
        _ => {
            "SET lastValidatedAt = :at, lastValidationStatus = :st \
             ADD version :one, keyRevision :one"
        }
    }
}

impl KeyTable {
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
            .key(TABLE_KEY, s(KeyRow::key(user_id, provider)))
            .key(SORT_KEY, s(PRIMARY_SLOT))
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

    /// Records what a provider answered the app's server for a key: `rate_limited`
    /// marks it unavailable until `until`, `invalid` and `quota_exceeded` until it
    /// is replaced or tested again (and become its last known status), `ok` clears
    /// the mark. With a `lease` (the key revision use-key handed out), only the key
    /// as it was then: a key replaced or tested since is [`Reported::Stale`]. One
    /// round trip (two requests at once), and one read more for a refusal on a
    /// backend that sends no item with it.
    pub async fn report_outcome(
        &self,
        user_id: &str,
        provider: ProviderId,
        key_id: &str,
        outcome: ReportedOutcome,
        lease: Option<u64>,
        now: OffsetDateTime,
    ) -> Result<Reported, RepoError> {
        // The primary and the key's own slot at once (one round trip): the id is
        // one of them, never both, so at most one write applies.
        let pk = KeyRow::key(user_id, provider);
        let other = extra_slot(key_id);
        let (primary, other_written) = tokio::join!(
            self.report_at(&pk, PRIMARY_SLOT, key_id, outcome, lease, now),
            self.report_at(&pk, &other, key_id, outcome, lease, now),
        );
        let answers = [(PRIMARY_SLOT, primary?), (other.as_str(), other_written?)];
        if answers
            .iter()
            .any(|(_, w)| matches!(w, Written::Applied(_)))
        {
            return Ok(Reported::Recorded);
        }
        if lease.is_none() {
            return Ok(Reported::NotFound);
        }
        // Refused: the key is gone, or it is there under another revision.
        for (sk, written) in answers {
            let found = match written {
                Written::Refused(Some(item)) => Some(item),
                Written::Refused(None) => self.read_item("report outcome", &pk, sk).await?,
                Written::Applied(_) => None,
            };
            if found.is_some_and(|item| {
                is_active(&item)
                    && matches!(item.get("id"), Some(AttributeValue::S(v)) if v == key_id)
            }) {
                return Ok(Reported::Stale);
            }
        }
        Ok(Reported::NotFound)
    }

    async fn report_at(
        &self,
        pk: &str,
        sk: &str,
        key_id: &str,
        outcome: ReportedOutcome,
        lease: Option<u64>,
        now: OffsetDateTime,
    ) -> Result<Written, RepoError> {
        let expression = match outcome {
            ReportedOutcome::RateLimited { .. } => {
                "SET unavailableReason = :r, unavailableUntil = :until ADD version :one"
            }
            ReportedOutcome::Invalid | ReportedOutcome::QuotaExceeded => {
                "SET unavailableReason = :r, lastValidationStatus = :r, lastValidatedAt = :now \
                 REMOVE unavailableUntil ADD version :one"
            }
            ReportedOutcome::Ok => "REMOVE unavailableReason, unavailableUntil ADD version :one",
        };
        let condition = match lease {
            None => "isActive = :t AND id = :k",
            // Items written before revisions were counted are at revision 0.
            Some(0) => "isActive = :t AND id = :k AND attribute_not_exists(keyRevision)",
            Some(_) => "isActive = :t AND id = :k AND keyRevision = :rev",
        };
        self.update("report outcome", pk, sk, |u| {
            let u = u
                .update_expression(expression)
                .condition_expression(condition)
                .expression_attribute_values(":t", active())
                .expression_attribute_values(":k", s(key_id))
                .expression_attribute_values(":one", n(1))
                .return_values(ReturnValue::None)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                );
            let u = match lease {
                Some(rev) if rev > 0 => u.expression_attribute_values(":rev", n(rev)),
                _ => u,
            };
            match outcome {
                ReportedOutcome::RateLimited { until } => u
                    .expression_attribute_values(":r", s(outcome.as_str()))
                    .expression_attribute_values(":until", n(epoch_ms(until))),
                ReportedOutcome::Invalid | ReportedOutcome::QuotaExceeded => u
                    .expression_attribute_values(":r", s(outcome.as_str()))
                    .expression_attribute_values(":now", s(timestamp(now))),
                ReportedOutcome::Ok => u,
            }
        })
        .await
    }

    /// One active key of the provider with its sealed key: the primary without
    /// `key_id`, else the key of that id (the primary tried first, then its own slot).
    pub async fn get_sealed_key(
        &self,
        user_id: &str,
        provider: ProviderId,
        key_id: Option<&str>,
    ) -> Result<Option<SealedConfig>, RepoError> {
        let Some(id) = key_id else {
            return self.get_sealed(user_id, provider).await;
        };
        let pk = KeyRow::key(user_id, provider);
        for sk in [PRIMARY_SLOT.to_owned(), extra_slot(id)] {
            match self.read_item("get", &pk, &sk).await? {
                Some(item)
                    if is_active(&item)
                        && item.contains_key("apiKey")
                        && matches!(item.get("id"), Some(AttributeValue::S(v)) if v == id) =>
                {
                    return decode_sealed("get", item).map(Some);
                }
                _ => {}
            }
        }
        Ok(None)
    }

    /// Records a key test on the key at `slot` (its sort key), only if it still holds
    /// the tested envelope (a key replaced meanwhile keeps its own status). False
    /// when it did not.
    pub async fn record_validation(
        &self,
        user_id: &str,
        provider: ProviderId,
        slot: &str,
        envelope: &str,
        at: &str,
        status: &str,
    ) -> Result<bool, RepoError> {
        let written = self
            .update(
                "record validation",
                KeyRow::key(user_id, provider),
                slot,
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
