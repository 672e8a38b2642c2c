//! The writes of the operator tools (rewrap, import), compiled only where the
//! `operator` feature is on (`apikeys-admin` and the tests): no function links them.
//! Each is conditional on what it read, and none replaces an item the functions
//! wrote.

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};

use super::schema::{CIPHERTEXT_ATTRIBUTE, SORT_KEY, TABLE_KEY};
use super::{is_condition_failure, n, s, KeyRow, KeyTable, RepoError};

impl KeyTable {
    /// Replaces the envelope of an item only if the item is unchanged since it was
    /// read (same envelope, same version): a user's concurrent store always wins.
    /// False when the item changed meanwhile.
    pub async fn replace_envelope(
        &self,
        item: &KeyRow,
        old_envelope: &str,
        new_envelope: &str,
    ) -> Result<bool, RepoError> {
        let written = self
            .update("replace envelope", item.pk.as_str(), &item.sk, |u| {
                u.update_expression("SET apiKey = :new ADD version :one")
                    .condition_expression("apiKey = :old AND version = :v")
                    .expression_attribute_values(":new", s(new_envelope))
                    .expression_attribute_values(":old", s(old_envelope))
                    .expression_attribute_values(":v", n(item.version))
                    .expression_attribute_values(":one", n(1))
            })
            .await?;
        Ok(written.applied().is_some())
    }

    /// Writes a whole item only where none exists under its key (imports never
    /// overwrite). False when an item was already there; true also when the item
    /// there is this very write, applied by an attempt whose answer was lost.
    pub async fn put_new(&self, item: &KeyRow, envelope: Option<&str>) -> Result<bool, RepoError> {
        let mut attrs = super::row_of(item)?;
        if let Some(envelope) = envelope {
            attrs.insert(CIPHERTEXT_ATTRIBUTE.into(), s(envelope));
        }
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(attrs.clone()))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => {
                let found = match e.into_service_error() {
                    PutItemError::ConditionalCheckFailedException(e) => e.item,
                    _ => None,
                };
                // An endpoint that does not return the item on a failed condition
                // (dynalite) costs one consistent read, on a conflict only.
                let found = match found {
                    Some(found) => Some(found),
                    None => self.read_item("put", &item.pk, &item.sk).await?,
                };
                Ok(found == Some(attrs))
            }
            Err(e) => Err(RepoError::sdk("put", e)),
        }
    }

    /// The `id` of the item under (`pk`, `sk`), when there is one (a strongly
    /// consistent read of the id only); `Some("")` for an item without an id.
    pub async fn id_at(&self, pk: &str, sk: &str) -> Result<Option<String>, RepoError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(TABLE_KEY, s(pk))
            .key(SORT_KEY, s(sk))
            .projection_expression("id, deletedId")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| RepoError::sdk("get", e))?;
        Ok(out.item.map(|item| {
            ["id", "deletedId"]
                .iter()
                .find_map(|name| match item.get(*name) {
                    Some(AttributeValue::S(id)) => Some(id.clone()),
                    _ => None,
                })
                .unwrap_or_default()
        }))
    }

    /// Whether an item exists under (`pk`, `sk`) (a strongly consistent read of the
    /// key only).
    pub async fn exists(&self, pk: &str, sk: &str) -> Result<bool, RepoError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(TABLE_KEY, s(pk))
            .key(SORT_KEY, s(sk))
            .projection_expression(TABLE_KEY)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| RepoError::sdk("get", e))?;
        Ok(out.item.is_some())
    }
}
