//! The provider configuration table: on-demand, key `pk` + `sk`, the `byUser` index that
//! projects everything except the ciphertext, and TTL on `expiresAt`.

use std::time::{Duration, Instant};

use apikeys::repo::schema;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    BillingMode, IndexStatus, KeySchemaElement, ProjectionType, TableDescription, TableStatus,
    TimeToLiveSpecification, TimeToLiveStatus,
};
use aws_sdk_dynamodb::Client;

use crate::{Outcome, ProvisionError};

/// The partition key of the table: `{userId}#{provider}`.
pub const TABLE_KEY: &str = schema::TABLE_KEY;

/// The attribute DynamoDB expires items by (rate-limit counters carry it).
pub const TABLE_TTL_ATTRIBUTE: &str = schema::TTL_ATTRIBUTE;

/// The index that lists a user's configurations without reading ciphertext.
pub const BY_USER_INDEX: &str = schema::BY_USER_INDEX;

/// The non-key attributes `byUser` projects: every attribute of a configuration
/// except `apiKey`, so listing never reads the envelope. (`userId` and `provider`
/// are the index keys and always projected.)
pub const BY_USER_PROJECTED: &[&str] = schema::NON_KEY_VIEW_ATTRIBUTES;

/// The attribute `byUser` must never project.
const CIPHERTEXT_ATTRIBUTE: &str = schema::CIPHERTEXT_ATTRIBUTE;

/// How long to wait for a new table and its index to become ACTIVE. AWS usually
/// needs seconds to a minute; the emulator answers ACTIVE at once.
const ACTIVE_WAIT: Duration = Duration::from_secs(180);
const FIRST_POLL: Duration = Duration::from_millis(200);
const MAX_POLL: Duration = Duration::from_secs(5);

/// What [`provision_table`] found or made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioned {
    /// The table name.
    pub table: String,
    /// The table ARN.
    pub table_arn: String,
    /// Whether this call created the table.
    pub outcome: Outcome,
    /// Whether this call enabled TTL on [`TABLE_TTL_ATTRIBUTE`] (`AlreadyPresent`:
    /// it was enabled before); `None` when the endpoint has no TTL operations (the
    /// dynalite emulator): the table works, expired counters just stay.
    pub ttl: Option<Outcome>,
}

/// Creates the table `table` if it is absent, waits until it and its index are
/// ACTIVE, and enables TTL on [`TABLE_TTL_ATTRIBUTE`].
///
/// An existing table is left alone and reported as already present; it is checked
/// (key, `byUser` keys and projection, TTL attribute) and a mismatch is an error,
/// because the functions would fail on it later in less obvious ways. TTL is enabled
/// on an existing table too when it is off, so a run that stopped half way is
/// finished by the next one.
pub async fn provision_table(client: &Client, table: &str) -> Result<Provisioned, ProvisionError> {
    let outcome = match describe(client, table).await? {
        Some(_) => Outcome::AlreadyPresent,
        None => create(client, table).await?,
    };
    let description = wait_until_active(client, table).await?;
    if outcome == Outcome::AlreadyPresent {
        check_existing(table, &description)?;
    }
    let ttl = enable_ttl(client, table).await?;
    let table_arn = description
        .table_arn()
        .ok_or_else(|| ProvisionError::IncompleteAnswer {
            operation: "DescribeTable",
            resource: table.to_owned(),
            field: "TableArn",
        })?
        .to_owned();
    Ok(Provisioned {
        table: table.to_owned(),
        table_arn,
        outcome,
        ttl,
    })
}

async fn describe(
    client: &Client,
    table: &str,
) -> Result<Option<TableDescription>, ProvisionError> {
    match client.describe_table().table_name(table).send().await {
        Ok(out) => Ok(out.table),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(err) => Err(ProvisionError::aws("DescribeTable", table, err)),
    }
}

async fn create(client: &Client, table: &str) -> Result<Outcome, ProvisionError> {
    let request = |e| ProvisionError::request("CreateTable", e);
    let created = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(schema::attribute_definitions().map_err(request)?))
        .set_key_schema(Some(schema::table_key_schema().map_err(request)?))
        .global_secondary_indexes(schema::by_user_index().map_err(request)?)
        .send()
        .await;
    match created {
        Ok(_) => Ok(Outcome::Created),
        // Another run created it between our describe and create.
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            Ok(Outcome::AlreadyPresent)
        }
        Err(err) => Err(ProvisionError::aws("CreateTable", table, err)),
    }
}

/// Polls until the table and every index are ACTIVE, at most [`ACTIVE_WAIT`].
async fn wait_until_active(
    client: &Client,
    table: &str,
) -> Result<TableDescription, ProvisionError> {
    let started = Instant::now();
    let mut pause = FIRST_POLL;
    loop {
        let description =
            describe(client, table)
                .await?
                .ok_or_else(|| ProvisionError::TableNotActive {
                    table: table.to_owned(),
                    status: "gone (deleted while provisioning)".to_owned(),
                    waited: started.elapsed(),
                })?;
        let status = description.table_status().cloned();
        let pending_index = description
            .global_secondary_indexes()
            .iter()
            .find(|i| i.index_status() != Some(&IndexStatus::Active));
        match (&status, pending_index) {
            (Some(TableStatus::Active), None) => return Ok(description),
            (Some(TableStatus::Creating | TableStatus::Updating), _)
            | (Some(TableStatus::Active), Some(_))
                if started.elapsed() < ACTIVE_WAIT => {}
            _ => {
                let mut status =
                    status.map_or_else(|| "without status".to_owned(), |s| s.to_string());
                if let Some(index) = pending_index {
                    status += &format!(
                        ", index {} {}",
                        index.index_name().unwrap_or("?"),
                        index
                            .index_status()
                            .map_or("without status", |s| s.as_str())
                    );
                }
                return Err(ProvisionError::TableNotActive {
                    table: table.to_owned(),
                    status,
                    waited: started.elapsed(),
                });
            }
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_POLL);
    }
}

/// The checks of a table this call did not create.
fn check_existing(table: &str, description: &TableDescription) -> Result<(), ProvisionError> {
    let mismatch = |reason: String| ProvisionError::TableMismatch {
        table: table.to_owned(),
        reason,
    };
    let keys = |schema: &[KeySchemaElement]| -> Vec<(String, String)> {
        schema
            .iter()
            .map(|k| {
                (
                    k.attribute_name().to_owned(),
                    k.key_type().as_str().to_owned(),
                )
            })
            .collect()
    };
    let want_key = vec![
        (TABLE_KEY.to_owned(), "HASH".to_owned()),
        (schema::SORT_KEY.to_owned(), "RANGE".to_owned()),
    ];
    if keys(description.key_schema()) != want_key {
        return Err(mismatch(format!(
            "its key is {:?}, not {TABLE_KEY} (HASH), {} (RANGE){}",
            keys(description.key_schema()),
            schema::SORT_KEY,
            // The single-key table of before: its items move with `migrate-keys`.
            if keys(description.key_schema()).len() == 1 {
                "; a table of the single-key layout moves to a new table with \
                 `apikeys-admin migrate-keys --from <this table> --table <new table>`"
            } else {
                ""
            }
        )));
    }
    let index = description
        .global_secondary_indexes()
        .iter()
        .find(|i| i.index_name() == Some(BY_USER_INDEX))
        .ok_or_else(|| mismatch(format!("has no index {BY_USER_INDEX}")))?;
    let want_index_key = vec![
        (schema::BY_USER_HASH_KEY.to_owned(), "HASH".to_owned()),
        (schema::BY_USER_RANGE_KEY.to_owned(), "RANGE".to_owned()),
    ];
    if keys(index.key_schema()) != want_index_key {
        return Err(mismatch(format!(
            "index {BY_USER_INDEX} has key {:?}, not {want_index_key:?}",
            keys(index.key_schema())
        )));
    }
    let projection = index.projection();
    let projected = projection.map_or(&[][..], |p| p.non_key_attributes());
    if projection.and_then(|p| p.projection_type()) != Some(&ProjectionType::Include)
        || projected.iter().any(|a| a == CIPHERTEXT_ATTRIBUTE)
    {
        return Err(mismatch(format!(
            "index {BY_USER_INDEX} projects the ciphertext attribute {CIPHERTEXT_ATTRIBUTE}"
        )));
    }
    let missing: Vec<&str> = BY_USER_PROJECTED
        .iter()
        .copied()
        .filter(|a| !projected.iter().any(|p| p == a))
        .collect();
    if !missing.is_empty() {
        return Err(mismatch(format!(
            "index {BY_USER_INDEX} does not project {missing:?}"
        )));
    }
    Ok(())
}

/// Enables TTL on [`TABLE_TTL_ATTRIBUTE`] unless it is on already; `None` when the
/// endpoint does not know `UpdateTimeToLive`.
async fn enable_ttl(client: &Client, table: &str) -> Result<Option<Outcome>, ProvisionError> {
    let current = client
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .map_err(|e| ProvisionError::aws("DescribeTimeToLive", table, e))?;
    let current = current.time_to_live_description();
    let status = current.and_then(|d| d.time_to_live_status());
    let attribute = current.and_then(|d| d.attribute_name());
    match status {
        Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling) => {
            return if attribute == Some(TABLE_TTL_ATTRIBUTE) {
                Ok(Some(Outcome::AlreadyPresent))
            } else {
                Err(ProvisionError::TableMismatch {
                    table: table.to_owned(),
                    reason: format!(
                        "its TTL is on {}, not {TABLE_TTL_ATTRIBUTE}",
                        attribute.unwrap_or("an unnamed attribute")
                    ),
                })
            };
        }
        Some(TimeToLiveStatus::Disabled) | None => {}
        // DISABLING: AWS refuses a change until it is done (up to an hour).
        Some(other) => {
            return Err(ProvisionError::TableMismatch {
                table: table.to_owned(),
                reason: format!("its TTL is {other}; provision again once that is done"),
            })
        }
    }
    let spec = TimeToLiveSpecification::builder()
        .enabled(true)
        .attribute_name(TABLE_TTL_ATTRIBUTE)
        .build()
        .map_err(|e| ProvisionError::request("UpdateTimeToLive", e))?;
    match client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(spec)
        .send()
        .await
    {
        Ok(_) => Ok(Some(Outcome::Created)),
        // AWS answers so when another run enabled it since our describe (moto accepts).
        Err(err)
            if err.code() == Some("ValidationException")
                && err.message().is_some_and(|m| m.contains("already enabled")) =>
        {
            Ok(Some(Outcome::AlreadyPresent))
        }
        // dynalite, the strict local DynamoDB, implements no TTL update; AWS always does.
        Err(err) if err.code() == Some("UnknownOperationException") => Ok(None),
        Err(err) => Err(ProvisionError::aws("UpdateTimeToLive", table, err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_user_projects_no_ciphertext_and_no_duplicates() {
        assert!(!BY_USER_PROJECTED.contains(&CIPHERTEXT_ATTRIBUTE));
        let mut sorted = BY_USER_PROJECTED.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), BY_USER_PROJECTED.len());
    }
}
