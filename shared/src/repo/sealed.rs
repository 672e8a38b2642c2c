//! What the code that opens keys reads and writes: the sealed key of an active
//! configuration, a recorded use, a recorded key test.

use aws_sdk_dynamodb::types::ReturnValue;

use super::schema::TABLE_KEY;
use super::{active, decode_sealed, is_active, n, s, ConfigRepository, RepoError, SealedConfig};
use crate::config::ConfigItem;
use crate::provider::ProviderId;

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

    /// Records one use of an active key (`usageCount` + 1, `lastUsedAt`) and
    /// returns the item with its sealed key, in one round trip; `None` when there
    /// is no active key.
    pub async fn record_use(
        &self,
        user_id: &str,
        provider: ProviderId,
        now: &str,
    ) -> Result<Option<SealedConfig>, RepoError> {
        let written = self
            .update("record use", ConfigItem::key(user_id, provider), |u| {
                u.update_expression("SET lastUsedAt = :now ADD usageCount :one")
                    .condition_expression("isActive = :t AND attribute_exists(apiKey)")
                    .expression_attribute_values(":now", s(now))
                    .expression_attribute_values(":one", n(1))
                    .expression_attribute_values(":t", active())
                    .return_values(ReturnValue::AllNew)
            })
            .await?;
        written
            .applied()
            .map(|item| decode_sealed("record use", item))
            .transpose()
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
                    u.update_expression(
                        "SET lastValidatedAt = :at, lastValidationStatus = :st ADD version :one",
                    )
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
