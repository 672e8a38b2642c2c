//! A ring of the last few request tokens on an item, kept by the same update that
//! does the work: every slot moves down one place and the newest token goes last,
//! which needs no knowledge of the item, so the write stays one round trip. The
//! write's condition refuses a token the ring already holds: an SDK retry of a write
//! that was applied but whose answer was lost. The refusal's copy of the item shows
//! the token, and the caller counts that request as done, once.
//!
//! Used by the key-test allowance (`t0..`); recorded key uses kept one (`u0..`) before
//! their list of use tokens (see `use_tokens`).

use aws_sdk_dynamodb::types::AttributeValue;

use super::Item;

/// Slots `{prefix}0 .. {prefix}{slots-1}`, oldest first.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ring {
    prefix: &'static str,
    slots: usize,
}

impl Ring {
    /// A ring of `slots` (at least one) attributes named `{prefix}{i}`.
    pub(crate) const fn new(prefix: &'static str, slots: usize) -> Self {
        Self {
            prefix,
            slots: if slots == 0 { 1 } else { slots },
        }
    }

    /// The name of slot `i`.
    pub(crate) fn slot(&self, i: usize) -> String {
        format!("{}{i}", self.prefix)
    }

    /// The SET clauses that shift every slot down and put `token` (a placeholder)
    /// last; an empty slot moves down as `empty` (a placeholder).
    pub(crate) fn push(&self, token: &str, empty: &str) -> Vec<String> {
        let last = self.slots - 1;
        let mut set: Vec<String> = (0..last)
            .map(|i| {
                format!(
                    "{} = if_not_exists({}, {empty})",
                    self.slot(i),
                    self.slot(i + 1)
                )
            })
            .collect();
        set.push(format!("{} = {token}", self.slot(last)));
        set
    }

    /// The condition that no slot holds `token` (a placeholder).
    pub(crate) fn lacks(&self, token: &str) -> String {
        let ours: Vec<String> = (0..self.slots)
            .map(|i| format!("{} = {token}", self.slot(i)))
            .collect();
        format!("NOT ({})", ours.join(" OR "))
    }

    /// Whether a slot of `item` holds `token`.
    pub(crate) fn holds(&self, item: &Item, token: &AttributeValue) -> bool {
        (0..self.slots).any(|i| item.get(&self.slot(i)) == Some(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_push_shifts_every_slot_and_the_condition_names_each() {
        let ring = Ring::new("u", 3);
        assert_eq!(
            ring.push(":tok", ":none").join(", "),
            "u0 = if_not_exists(u1, :none), u1 = if_not_exists(u2, :none), u2 = :tok"
        );
        assert_eq!(
            ring.lacks(":tok"),
            "NOT (u0 = :tok OR u1 = :tok OR u2 = :tok)"
        );
        assert_eq!(Ring::new("t", 1).push(":g", ":z"), ["t0 = :g"]);
    }

    #[test]
    fn holds_finds_a_token_in_any_slot_and_only_that_token() {
        let ring = Ring::new("u", 2);
        let ours = AttributeValue::S("a".into());
        let item = Item::from([("u1".to_owned(), ours.clone())]);
        assert!(ring.holds(&item, &ours));
        assert!(!ring.holds(&item, &AttributeValue::S("b".into())));
        assert!(!Ring::new("t", 2).holds(&item, &ours));
    }
}
