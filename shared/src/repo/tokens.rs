//! What a proxied call spent on a key, per calendar month: requests and the input
//! and output tokens the provider's usage fields named, in one map attribute,
//! `monthUsage = {month, requests, inputTokens, outputTokens}`, written once per
//! call. The month turns by itself: the first call of a new month replaces the map.
//!
//! Two requests at once (the primary slot and the key's own, as a report does: the
//! id is one of them, never both), each conditional on the key's id and on the
//! month it adds to.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::schema::{extra_slot, COUNTER_SLOT, PRIMARY_SLOT, TTL_ATTRIBUTE};
use super::{active, n, s, Item, KeyRow, KeyTable, RepoError, Written};
use crate::provider::ProviderId;

/// The attribute that holds a key's spending this month.
pub const MONTH_USAGE: &str = "monthUsage";

/// The month map's input and output tokens together, kept beside them so that a
/// use's condition can hold the key to its budget (`totalTokens < budget.monthlyTokens`;
/// an expression cannot add two attributes).
pub const TOTAL_TOKENS: &str = "totalTokens";

/// What a month map without `totalTokens` (written before it was kept) starts its
/// total from: above any budget, so a use's budget condition fails on it and the
/// use reads the item, which counts input and output tokens itself. The next month
/// starts a fresh map with a true total.
pub(super) const UNKNOWN_TOTAL: u64 = 1 << 62;

/// One call's spending, or a month's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Spent {
    /// Calls.
    pub requests: u64,
    /// Input (prompt) tokens.
    pub input_tokens: u64,
    /// Output (completion) tokens.
    pub output_tokens: u64,
}

impl Spent {
    /// Input and output together.
    pub fn tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }
}

/// A key's month total after a call was added, as the table holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthTotal {
    /// `YYYY-MM` (UTC).
    pub month: String,
    /// The totals.
    pub spent: Spent,
}

pub use crate::domain::month_of;

/// Reads a stored `monthUsage` map.
pub fn month_total(value: &AttributeValue) -> Option<MonthTotal> {
    let AttributeValue::M(map) = value else {
        return None;
    };
    let number = |name: &str| match map.get(name) {
        Some(AttributeValue::N(v)) => v.parse::<u64>().ok(),
        _ => None,
    };
    let month = match map.get("month") {
        Some(AttributeValue::S(m)) => m.clone(),
        _ => return None,
    };
    Some(MonthTotal {
        month,
        spent: Spent {
            requests: number("requests").unwrap_or(0),
            input_tokens: number("inputTokens").unwrap_or(0),
            output_tokens: number("outputTokens").unwrap_or(0),
        },
    })
}

impl KeyTable {
    /// Adds one call's spending to key `key_id` for the month `month` (`YYYY-MM`);
    /// the key's total for that month afterwards, or `None` when the key is gone
    /// (deleted or replaced under another id since the call began).
    pub async fn record_spending(
        &self,
        user_id: &str,
        provider: ProviderId,
        key_id: &str,
        month: &str,
        spent: Spent,
    ) -> Result<Option<MonthTotal>, RepoError> {
        let pk = KeyRow::key(user_id, provider);
        let other = extra_slot(key_id);
        // Same month first (the common case), then a new month (only over an older
        // one: a late write of last month never resets this month's); a race with
        // another call that turned the month between the two is settled by one more add.
        for step in [Step::Add, Step::Start, Step::Add] {
            let (primary, own) = tokio::join!(
                self.spend_at(&pk, PRIMARY_SLOT, key_id, month, spent, step),
                self.spend_at(&pk, &other, key_id, month, spent, step),
            );
            for written in [primary?, own?] {
                if let Written::Applied(item) = written {
                    return Ok(item.get(MONTH_USAGE).and_then(month_total));
                }
            }
        }
        Ok(None)
    }

    /// Notes that key `key_id` reached its budget's alert in `month`: `true` the
    /// first time in that month (then the alert is raised), `false` after.
    pub async fn note_budget_alert(
        &self,
        user_id: &str,
        provider: ProviderId,
        key_id: &str,
        month: &str,
    ) -> Result<bool, RepoError> {
        let pk = KeyRow::key(user_id, provider);
        let other = extra_slot(key_id);
        let note = |sk: String| {
            let pk = pk.clone();
            async move {
                self.update("note budget alert", pk, &sk, |u| {
                    u.update_expression("SET budgetAlertMonth = :month")
                        .condition_expression(
                            "isActive = :t AND id = :k AND \
                             (attribute_not_exists(budgetAlertMonth) OR budgetAlertMonth <> :month)",
                        )
                        .expression_attribute_values(":t", active())
                        .expression_attribute_values(":k", s(key_id))
                        .expression_attribute_values(":month", s(month))
                        .return_values(ReturnValue::None)
                })
                .await
            }
        };
        let (primary, own) = tokio::join!(note(PRIMARY_SLOT.to_owned()), note(other));
        Ok([primary?, own?]
            .iter()
            .any(|w| matches!(w, Written::Applied(_))))
    }

    async fn spend_at(
        &self,
        pk: &str,
        sk: &str,
        key_id: &str,
        month: &str,
        spent: Spent,
        step: Step,
    ) -> Result<Written, RepoError> {
        let (expression, condition) = match step {
            Step::Add => (
                "SET #u.requests = #u.requests + :r, #u.inputTokens = #u.inputTokens + :i, \
                 #u.outputTokens = #u.outputTokens + :o, \
                 #u.#tt = if_not_exists(#u.#tt, :unknown) + :tt",
                "isActive = :t AND id = :k AND #u.#m = :month",
            ),
            Step::Start => (
                "SET #u = :fresh",
                "isActive = :t AND id = :k AND (attribute_not_exists(#u) OR #u.#m < :month)",
            ),
        };
        self.update("record spending", pk, sk, |u| {
            let u = u
                .update_expression(expression)
                .condition_expression(condition)
                .expression_attribute_names("#u", MONTH_USAGE)
                .expression_attribute_names("#m", "month")
                .expression_attribute_values(":t", active())
                .expression_attribute_values(":k", s(key_id))
                .expression_attribute_values(":month", s(month))
                // The whole map back (UPDATED_NEW would answer only the paths set).
                .return_values(ReturnValue::AllNew);
            match step {
                Step::Add => u
                    .expression_attribute_names("#tt", TOTAL_TOKENS)
                    .expression_attribute_values(":unknown", n(UNKNOWN_TOTAL))
                    .expression_attribute_values(":tt", n(spent.tokens()))
                    .expression_attribute_values(":r", n(spent.requests))
                    .expression_attribute_values(":i", n(spent.input_tokens))
                    .expression_attribute_values(":o", n(spent.output_tokens)),
                Step::Start => u.expression_attribute_values(":fresh", fresh(month, spent)),
            }
        })
        .await
    }
}

/// The item that counts a user's tokens on the deployment's keys in a month:
/// under a key of its own (`deployment#{month}#{userId}`; the month never holds a
/// `#`), with no `userId` attribute, so it stays out of `byUser`, and a TTL.
fn allowance_key(user_id: &str, month: &str) -> String {
    format!("deployment#{month}#{user_id}")
}

/// How long an allowance counter outlives its month (DynamoDB's TTL removes it).
const ALLOWANCE_KEPT_SECS: i64 = 62 * 86_400;

impl KeyTable {
    /// The tokens user `user_id` spent on the deployment's keys in `month`.
    pub async fn deployment_tokens(&self, user_id: &str, month: &str) -> Result<u64, RepoError> {
        let item = self
            .read_item(
                "deployment allowance",
                &allowance_key(user_id, month),
                COUNTER_SLOT,
            )
            .await?;
        Ok(match item.as_ref().and_then(|i| i.get("tokens")) {
            Some(AttributeValue::N(v)) => v.parse().unwrap_or(0),
            _ => 0,
        })
    }

    /// Adds one call on the deployment's keys to user `user_id`'s `month`.
    pub async fn add_deployment_tokens(
        &self,
        user_id: &str,
        month: &str,
        tokens: u64,
    ) -> Result<(), RepoError> {
        let expires = time::OffsetDateTime::now_utc().unix_timestamp() + ALLOWANCE_KEPT_SECS;
        self.update(
            "deployment allowance",
            allowance_key(user_id, month),
            COUNTER_SLOT,
            |u| {
                u.update_expression(
                    "ADD tokens :t, requests :one SET #ttl = if_not_exists(#ttl, :ttl)",
                )
                .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
                .expression_attribute_values(":t", n(tokens))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":ttl", n(expires))
                .return_values(ReturnValue::None)
            },
        )
        .await
        .map(|_| ())
    }
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Add,
    Start,
}

fn fresh(month: &str, spent: Spent) -> AttributeValue {
    let map: Item = [
        ("month".to_owned(), s(month)),
        ("requests".to_owned(), n(spent.requests)),
        ("inputTokens".to_owned(), n(spent.input_tokens)),
        ("outputTokens".to_owned(), n(spent.output_tokens)),
        (TOTAL_TOKENS.to_owned(), n(spent.tokens())),
    ]
    .into_iter()
    .collect();
    AttributeValue::M(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_month_is_utc() {
        assert_eq!(month_of(datetime!(2026-12-31 23:30 -02:00)), "2027-01");
        assert_eq!(month_of(datetime!(2026-02-01 00:00 UTC)), "2026-02");
    }

    #[test]
    fn a_stored_map_reads_back() {
        let total = month_total(&fresh(
            "2026-12",
            Spent {
                requests: 1,
                input_tokens: 7,
                output_tokens: 9,
            },
        ))
        .unwrap();
        assert_eq!(total.month, "2026-12");
        assert_eq!(total.spent.tokens(), 16);
        assert_eq!(month_total(&s("x")), None);
    }
}
