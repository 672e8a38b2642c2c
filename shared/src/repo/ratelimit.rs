//! The per-user allowance of key tests: at most `limit` in any 60-second window,
//! taken in one conditional write that a retry of the same request cannot take
//! twice.
//!
//! The counter item (`ratelimit#key-test#{user}`, no `userId` attribute, so it
//! stays out of `byUser`; purged by TTL) holds the last `limit` grants, oldest
//! first, in `t0..t{limit-1}` (a [`Ring`]). A grant is its time in epoch milliseconds with a
//! random fraction of the millisecond appended: the integer part orders grants
//! exactly to the millisecond, and the whole number is the request's own token. A
//! test is granted when the oldest of those grants lies 60 seconds or more in the
//! past: then the window ending now holds fewer than `limit`. Granting shifts every
//! slot down by one and puts the new grant last, an update that needs no knowledge
//! of the item, so it is one round trip. The condition also refuses a request whose
//! token is already there: an SDK retry of a write that was applied but whose answer
//! was lost. The refusal's copy of the item (`ReturnValuesOnConditionCheckFailure`)
//! shows the token, and that request counts as granted, once.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use time::OffsetDateTime;

use super::ring::Ring;
use super::schema::COUNTER_SLOT;
use super::{epoch_ms, n, Item, KeyTable, RepoError, Written};

/// The largest limit the counter holds exactly: every allowed test takes an
/// attribute and a clause of the update and of the condition (DynamoDB allows 4 KB
/// for each). A higher configured limit is held at this one.
pub const MAX_KEY_TESTS_PER_MINUTE: u32 = 40;

/// The window the limit holds over.
const WINDOW_MS: i128 = 60_000;

/// How long a counter outlives its last grant: past the window it means nothing.
const COUNTER_TTL_SECS: i64 = 120;

/// Random digits of a grant's fraction of a millisecond: with 13 digits of
/// milliseconds they stay within DynamoDB's 38 significant digits.
const TOKEN_DIGITS: usize = 23;

/// The answer of the rate limiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowance {
    /// Go ahead.
    Granted,
    /// The limit is reached until the oldest grant of the window leaves it.
    Exhausted {
        /// Seconds until the next test is allowed.
        retry_after_secs: u64,
    },
}

/// The counter's grants, oldest first.
fn ring(slots: usize) -> Ring {
    Ring::new("t", slots)
}

/// The update and the condition of a take from a counter of `slots` grants.
fn expressions(slots: usize) -> (String, String) {
    let ring = ring(slots);
    let mut set = ring.push(":grant", ":zero");
    set.push("expiresAt = :exp".to_owned());
    let condition = format!(
        "(attribute_not_exists(t0) OR t0 < :edge) AND {}",
        ring.lacks(":grant")
    );
    (format!("SET {}", set.join(", ")), condition)
}

/// A grant at `now_ms`: the time, then random digits ending in a non-zero one, so
/// that DynamoDB stores (and answers) the number exactly as written.
fn grant(now_ms: i128) -> String {
    // A v4 UUID: 122 random bits from the OS generator, and a dependency every
    // function has (no RNG crate in the functions that never seal).
    let random = uuid::Uuid::new_v4().as_u128();
    let digits = random % 10u128.pow(TOKEN_DIGITS as u32);
    let last = 1 + (random >> 100) % 9;
    format!("{now_ms}.{digits:0width$}{last}", width = TOKEN_DIGITS)
}

/// The millisecond of a stored grant.
fn grant_ms(item: &Item, slot: &str) -> Option<i128> {
    match item.get(slot) {
        Some(AttributeValue::N(v)) => v.split('.').next()?.parse().ok(),
        _ => None,
    }
}

fn holds(item: &Item, slots: usize, grant: &str) -> bool {
    ring(slots).holds(item, &n(grant))
}

impl KeyTable {
    /// Takes one key test from the user's allowance of `limit` per 60-second
    /// window (at most [`MAX_KEY_TESTS_PER_MINUTE`]) at `now`.
    pub async fn take_key_test(
        &self,
        user_id: &str,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Allowance, RepoError> {
        let slots = limit.clamp(1, MAX_KEY_TESTS_PER_MINUTE) as usize;
        let pk = format!("ratelimit#key-test#{user_id}");
        let now_ms = epoch_ms(now);
        let grant = grant(now_ms);
        let (update, condition) = expressions(slots);
        let written = self
            .update("rate limit", pk.as_str(), COUNTER_SLOT, |u| {
                u.update_expression(update)
                    .condition_expression(condition)
                    .expression_attribute_values(":grant", n(&grant))
                    // Below it: a grant made 60 s ago or earlier, to the millisecond.
                    .expression_attribute_values(":edge", n(now_ms - WINDOW_MS + 1))
                    .expression_attribute_values(":zero", n(0))
                    .expression_attribute_values(":exp", n(now.unix_timestamp() + COUNTER_TTL_SECS))
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    )
            })
            .await?;
        let counter = match written {
            Written::Applied(_) => return Ok(Allowance::Granted),
            Written::Refused(Some(item)) => Some(item),
            // A backend that does not send the item with a refusal (dynalite).
            Written::Refused(None) => self.read_item("rate limit", &pk, COUNTER_SLOT).await?,
        };
        Ok(match counter {
            Some(item) if holds(&item, slots, &grant) => Allowance::Granted,
            Some(item) => {
                let oldest = grant_ms(&item, "t0").unwrap_or(now_ms);
                let wait_ms = (oldest + WINDOW_MS - now_ms).max(1);
                Allowance::Exhausted {
                    retry_after_secs: u64::try_from((wait_ms + 999) / 1000).unwrap_or(60),
                }
            }
            None => Allowance::Exhausted {
                retry_after_secs: 60,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_update_shifts_every_slot_and_the_condition_refuses_a_known_grant() {
        let (update, condition) = expressions(3);
        assert_eq!(
            update,
            "SET t0 = if_not_exists(t1, :zero), t1 = if_not_exists(t2, :zero), \
             t2 = :grant, expiresAt = :exp"
        );
        assert_eq!(
            condition,
            "(attribute_not_exists(t0) OR t0 < :edge) AND NOT (t0 = :grant OR t1 = :grant OR t2 = :grant)"
        );
        let (update, condition) = expressions(1);
        assert_eq!(update, "SET t0 = :grant, expiresAt = :exp");
        assert!(condition.ends_with("NOT (t0 = :grant)"));
    }

    #[test]
    fn a_grant_is_its_millisecond_and_a_token_dynamodb_keeps_as_written() {
        let a = grant(1_700_000_039_500);
        let b = grant(1_700_000_039_500);
        assert_ne!(a, b);
        let (ms, fraction) = a.split_once('.').unwrap();
        assert_eq!(ms, "1700000039500");
        assert_eq!(fraction.len(), TOKEN_DIGITS + 1);
        assert!(!fraction.ends_with('0'));
        assert!(ms.len() + fraction.len() <= 38, "DynamoDB's precision");
        let item = Item::from([("t0".to_owned(), n(&a))]);
        assert_eq!(grant_ms(&item, "t0"), Some(1_700_000_039_500));
        assert!(holds(&item, 1, &a) && !holds(&item, 1, &b));
    }

    #[test]
    fn the_largest_limit_fits_the_expression_limit() {
        let (update, condition) = expressions(MAX_KEY_TESTS_PER_MINUTE as usize);
        // DynamoDB's limit for each expression is 4 KB.
        assert!(update.len() < 4096 && condition.len() < 4096);
    }
}
