//! The recent use tokens of a key's item: one list attribute, `useTokens`, newest
//! last. A use's write appends its own token under the condition that the list does
//! not hold it yet and has room, so an SDK retry of a write that applied but whose
//! answer was lost is refused, and the refusal's item shows the token: the use is
//! answered as the one it already was, counted once.
//!
//! One `SET` clause and one `contains` per write. The ring this replaces (`u0..u31`,
//! every slot shifted down by each write) cost 31 clauses and a 32-way condition on
//! every use, which the emulators evaluate clause by clause: about 5 ms of each use
//! on dynalite and 70 ms on moto, where the list costs about 1 ms and 11 ms
//! (docs/benchmarks.md). The list holds up to twice [`USE_TOKENS`]. When it is full
//! the append is refused; the next write puts back the newest [`USE_TOKENS`]` - 1`
//! tokens and its own, on the condition that the list is still the one it read (same
//! length, same oldest token), and drops the ring's attributes of items written
//! before. So a token stays in the list at least until [`USE_TOKENS`] uses came after
//! it, as in the ring, and one use in [`USE_TOKENS`] takes a round trip more. A token
//! is 16 random bytes, so the list is no larger than the ring was.

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;

use super::ring::Ring;
use super::Item;

/// The recent use tokens an item keeps: a resent use is recognised as long as
/// fewer than this many other uses of the key came between.
pub const USE_TOKENS: usize = 32;

/// The attribute holding them.
pub(super) const USE_TOKEN_LIST: &str = "useTokens";

/// How many tokens the list holds before a write makes room.
const LIST_CAPACITY: usize = 2 * USE_TOKENS;

/// A new use's token.
pub(super) fn new_token() -> AttributeValue {
    AttributeValue::B(Blob::new(uuid::Uuid::new_v4().as_bytes().to_vec()))
}

/// The ring of use tokens of items written before the list (`u0..u31`): removed
/// when a write makes room in the list.
fn former_ring() -> Ring {
    Ring::new("u", USE_TOKENS)
}

/// The tokens of `item`'s list.
fn tokens(item: &Item) -> &[AttributeValue] {
    match item.get(USE_TOKEN_LIST) {
        Some(AttributeValue::L(list)) => list,
        _ => &[],
    }
}

/// Whether `item`'s list holds `token`.
pub(super) fn holds(item: &Item, token: &AttributeValue) -> bool {
    tokens(item).contains(token)
}

/// Where `item`'s list holds `token`.
pub(super) fn position(item: &Item, token: &AttributeValue) -> Option<usize> {
    tokens(item).iter().position(|t| t == token)
}

/// What a withdrawn use leaves where its token was: no use's token (those are 16
/// bytes; this is 17), so a resent withdrawal finds nothing to take back, and
/// unique, so two lists that differ never look alike to the write making room.
pub(super) fn withdrawn() -> AttributeValue {
    let mut bytes = vec![b'w'];
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    AttributeValue::B(Blob::new(bytes))
}

/// Whether `item`'s list has no room for another token.
pub(super) fn full(item: &Item) -> bool {
    tokens(item).len() >= LIST_CAPACITY
}

/// How a use's write records its token: the update clauses, the condition, and the
/// values they name (`#ut` is [`USE_TOKEN_LIST`]).
pub(super) struct TokenWrite {
    /// The `SET` clause.
    pub set: String,
    /// The `REMOVE` clause, if any.
    pub remove: Option<String>,
    /// The condition (to be joined with `AND`).
    pub condition: String,
    /// The expression values.
    pub values: Vec<(&'static str, AttributeValue)>,
}

impl TokenWrite {
    /// Appends `token` to the list, which must not hold it and must have room.
    pub(super) fn append(token: &AttributeValue) -> Self {
        Self {
            set: "#ut = list_append(if_not_exists(#ut, :notokens), :tokl)".to_owned(),
            remove: None,
            condition:
                "(attribute_not_exists(#ut) OR (NOT contains(#ut, :tok) AND size(#ut) < :tokcap))"
                    .to_owned(),
            values: vec![
                (":tok", token.clone()),
                (":tokl", AttributeValue::L(vec![token.clone()])),
                (":notokens", AttributeValue::L(Vec::new())),
                (":tokcap", AttributeValue::N(LIST_CAPACITY.to_string())),
            ],
        }
    }

    /// Makes room in `seen`'s full list: its newest tokens and `token`, written only
    /// over the list that was read (same length, same oldest token: a full list
    /// changes only by such a write, which drops its oldest token).
    pub(super) fn make_room(seen: &Item, token: &AttributeValue) -> Self {
        let old = tokens(seen);
        let keep = old.len().saturating_sub(USE_TOKENS - 1);
        let mut kept = old[keep..].to_vec();
        kept.push(token.clone());
        let first = old.first().cloned().unwrap_or(AttributeValue::Null(true));
        let ring = former_ring();
        let former: Vec<String> = (0..USE_TOKENS).map(|i| ring.slot(i)).collect();
        Self {
            set: "#ut = :kept".to_owned(),
            remove: Some(former.join(", ")),
            condition: "size(#ut) = :toklen AND #ut[0] = :tokfirst".to_owned(),
            values: vec![
                (":kept", AttributeValue::L(kept)),
                (":toklen", AttributeValue::N(old.len().to_string())),
                (":tokfirst", first),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(i: usize) -> AttributeValue {
        AttributeValue::S(format!("t{i}"))
    }

    fn item_with(n: usize) -> Item {
        Item::from([(
            USE_TOKEN_LIST.to_owned(),
            AttributeValue::L((0..n).map(tok).collect()),
        )])
    }

    #[test]
    fn holds_and_full_read_the_list() {
        let item = item_with(3);
        assert!(holds(&item, &tok(2)));
        assert!(!holds(&item, &tok(3)));
        assert!(!full(&item));
        assert!(!full(&item_with(USE_TOKENS)));
        assert!(full(&item_with(LIST_CAPACITY)));
        assert!(!holds(&Item::new(), &tok(0)));
    }

    #[test]
    fn making_room_keeps_the_newest_tokens_and_pins_the_list_it_read() {
        let seen = item_with(LIST_CAPACITY);
        let write = TokenWrite::make_room(&seen, &tok(999));
        let kept = write
            .values
            .iter()
            .find(|(name, _)| *name == ":kept")
            .map(|(_, v)| v.clone());
        let mut want: Vec<AttributeValue> = (LIST_CAPACITY - USE_TOKENS + 1..LIST_CAPACITY)
            .map(tok)
            .collect();
        want.push(tok(999));
        assert_eq!(want.len(), USE_TOKENS);
        assert_eq!(kept, Some(AttributeValue::L(want)));
        assert!(write.values.contains(&(":tokfirst", tok(0))));
        assert!(write
            .values
            .contains(&(":toklen", AttributeValue::N(LIST_CAPACITY.to_string()))));
        let remove = write.remove.unwrap();
        assert!(
            remove.starts_with("u0, u1,") && remove.ends_with("u31"),
            "{remove}"
        );
    }

    #[test]
    fn an_append_refuses_a_token_the_list_holds_and_a_full_list() {
        let write = TokenWrite::append(&tok(1));
        assert!(write.condition.contains("NOT contains(#ut, :tok)"));
        assert!(write.condition.contains("size(#ut) < :tokcap"));
        assert!(write
            .values
            .contains(&(":tokcap", AttributeValue::N(LIST_CAPACITY.to_string()))));
        assert!(matches!(new_token(), AttributeValue::B(b) if b.as_ref().len() == 16));
    }
}
