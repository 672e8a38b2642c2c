//! The table as data: key, index, attribute names and what each function may touch.
//! `apikeys-admin provision` builds the table from these definitions and the template
//! test compares `template.yaml` (table and IAM conditions) with them.
//!
//! The IAM conditions follow
//! <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html>:
//! with `dynamodb:Attributes`, an UpdateItem may only answer `ReturnValues` NONE,
//! UPDATED_OLD or UPDATED_NEW (ALL_OLD and ALL_NEW would read attributes outside the
//! list), and the list must name every key attribute of the table and its indexes.

use aws_sdk_dynamodb::error::BuildError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};

/// The partition key of the table: `{userId}#{provider}` (or a rate-limit counter key).
pub const TABLE_KEY: &str = "pk";

/// The sort key of the table: which of the provider's keys an item holds. One
/// `Query` of a partition returns every key of a user's provider.
pub const SORT_KEY: &str = "sk";

/// The sort key of a provider's primary key: the item the single-key routes
/// (`POST`, `PUT`, `DELETE /api/provider-configs`) and the app's default use read
/// and write, at a place known without a read. Items migrated from the single-key
/// table land here.
pub const PRIMARY_SLOT: &str = "primary";

/// The sort key of a rate-limit counter.
pub const COUNTER_SLOT: &str = "counter";

/// The prefix of the sort key of every other key of a provider: `key#{id}`.
pub const EXTRA_SLOT_PREFIX: &str = "key#";

/// The sort key of the non-primary key `id`.
pub fn extra_slot(id: &str) -> String {
    format!("{EXTRA_SLOT_PREFIX}{id}")
}

/// The attribute that stamps an item as a copy `migrate-keys` made (the source's
/// version): only such a copy, untouched since, may be replaced by a newer one.
/// Every write of the functions removes it or raises `version` past it.
pub const MIGRATED_VERSION: &str = "migratedVersion";

/// What a delete reads of a provider's keys before it deletes them, conditional on
/// what it read: where each key is and its version, never more (delete-config's IAM
/// policy allows these alone for its Query).
pub const SLOT_ATTRIBUTES: &[&str] = &[TABLE_KEY, SORT_KEY, "id", "isActive", "version"];

/// The name of the index that lists a user's configurations without ciphertext.
pub const BY_USER_INDEX: &str = "byUser";

/// The partition key of [`BY_USER_INDEX`].
pub const BY_USER_HASH_KEY: &str = "userId";

/// The sort key of [`BY_USER_INDEX`].
pub const BY_USER_RANGE_KEY: &str = "provider";

/// The attribute DynamoDB expires items by: soft-deleted configurations and
/// rate-limit counters carry it.
pub const TTL_ATTRIBUTE: &str = "expiresAt";

/// The attribute that holds the sealed key: never projected into [`BY_USER_INDEX`],
/// never in an answer to get-configs, update-settings or delete-config.
pub const CIPHERTEXT_ATTRIBUTE: &str = "apiKey";

/// The key attributes of the table and of [`BY_USER_INDEX`] (all strings).
pub const KEY_ATTRIBUTES: &[&str] = &[TABLE_KEY, SORT_KEY, BY_USER_HASH_KEY, BY_USER_RANGE_KEY];

/// Every attribute of a configuration item except `apiKey` and the key attributes
/// (`pk`, `sk`, and the `byUser` keys `userId`, `provider`, which an index always
/// projects and DynamoDB refuses in `NonKeyAttributes`): what `byUser` projects
/// and, with the keys, what a scan that must not read ciphertext asks for.
pub const NON_KEY_VIEW_ATTRIBUTES: &[&str] = &[
    "id",
    "keyHint",
    "settings",
    "endpoint",
    "keyExpiresAt",
    "label",
    "priority",
    "keyCount",
    "unavailableReason",
    "unavailableUntil",
    "isActive",
    "createdAt",
    "updatedAt",
    "keyStoredAt",
    "lastUsedAt",
    "lastValidatedAt",
    "lastValidationStatus",
    "deletedAt",
    "usageCount",
    "monthUsage",
    "budget",
    "budgetAlertMonth",
    "version",
    TTL_ATTRIBUTE,
];

/// Where a deleted configuration keeps its former id and creation time: under
/// other names than `id` and `createdAt`, so that a later store, which keeps those
/// with `if_not_exists`, starts a new configuration. Listing never needs them (it
/// shows active configurations only), so the index does not project them.
pub const TOMBSTONE_ATTRIBUTES: &[&str] = &["deletedId", "deletedCreatedAt"];

/// The attributes delete-config reads or writes: the view and the ciphertext,
/// which the delete removes (IAM wants every key attribute of the table and its
/// indexes named, and the view holds them). Its IAM policy pins `ReturnValues` to
/// NONE, so no answer can carry the ciphertext.
pub fn delete_attributes() -> Vec<&'static str> {
    let mut names = view_attributes();
    names.insert(KEY_ATTRIBUTES.len(), CIPHERTEXT_ATTRIBUTE);
    names
}

/// Every attribute of a configuration except the ciphertext: what get-configs,
/// update-settings and maintenance may read or write. Their IAM policies allow
/// exactly these (`ForAllValues:StringEquals` on `dynamodb:Attributes`).
pub fn view_attributes() -> Vec<&'static str> {
    KEY_ATTRIBUTES
        .iter()
        .chain(NON_KEY_VIEW_ATTRIBUTES)
        .chain(TOMBSTONE_ATTRIBUTES)
        .copied()
        .collect()
}

/// The key schema of the table: `pk` (HASH), `sk` (RANGE).
pub fn table_key_schema() -> Result<Vec<KeySchemaElement>, BuildError> {
    Ok(vec![
        key(TABLE_KEY, KeyType::Hash)?,
        key(SORT_KEY, KeyType::Range)?,
    ])
}

/// The attribute definitions of the table: its key and the index keys, all strings.
pub fn attribute_definitions() -> Result<Vec<AttributeDefinition>, BuildError> {
    KEY_ATTRIBUTES
        .iter()
        .map(|name| {
            AttributeDefinition::builder()
                .attribute_name(*name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        })
        .collect()
}

/// The key schema of [`BY_USER_INDEX`]: `userId` (HASH), `provider` (RANGE).
pub fn by_user_key_schema() -> Result<Vec<KeySchemaElement>, BuildError> {
    Ok(vec![
        key(BY_USER_HASH_KEY, KeyType::Hash)?,
        key(BY_USER_RANGE_KEY, KeyType::Range)?,
    ])
}

/// The `byUser` index: keys `userId`/`provider`, projecting
/// [`NON_KEY_VIEW_ATTRIBUTES`] and so never the ciphertext.
pub fn by_user_index() -> Result<GlobalSecondaryIndex, BuildError> {
    GlobalSecondaryIndex::builder()
        .index_name(BY_USER_INDEX)
        .set_key_schema(Some(by_user_key_schema()?))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::Include)
                .set_non_key_attributes(Some(
                    NON_KEY_VIEW_ATTRIBUTES
                        .iter()
                        .map(|a| (*a).to_owned())
                        .collect(),
                ))
                .build(),
        )
        .build()
}

fn key(name: &str, key_type: KeyType) -> Result<KeySchemaElement, BuildError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_view_holds_the_ciphertext_and_none_repeats_a_name() {
        let list = view_attributes();
        assert!(!list.contains(&CIPHERTEXT_ATTRIBUTE), "{list:?}");
        let mut sorted = list.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), list.len(), "{list:?}");
        // Delete touches the ciphertext (to remove it) and otherwise only the view.
        let delete = delete_attributes();
        assert!(delete.contains(&CIPHERTEXT_ATTRIBUTE));
        assert_eq!(delete.len(), list.len() + 1);
        assert!(delete
            .iter()
            .all(|a| *a == CIPHERTEXT_ATTRIBUTE || list.contains(a)));
    }

    #[test]
    fn the_index_projects_exactly_the_non_key_view() {
        let index = by_user_index().unwrap();
        let projected = index.projection().unwrap().non_key_attributes();
        assert_eq!(projected, NON_KEY_VIEW_ATTRIBUTES);
        assert!(KEY_ATTRIBUTES
            .iter()
            .all(|k| !NON_KEY_VIEW_ATTRIBUTES.contains(k)));
    }
}
