//! The provider configuration table in DynamoDB. Every operation is one round trip.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_dynamodb::Client;
use serde_json::{Map, Value};

use crate::config::ConfigItem;
use crate::provider::ProviderId;

/// Items a scan reads per request: small pages keep each call short (the admin
/// tools and the maintenance sweep print progress between them).
pub const SCAN_PAGE_ITEMS: i32 = 250;

/// Every attribute of a configuration item except `apiKey` and the key attributes
/// (`pk`, and the `byUser` keys `userId`, `provider`, which an index always
/// projects and DynamoDB refuses in `NonKeyAttributes`): what `byUser` projects
/// and, with the keys, what a scan that must not read ciphertext asks for.
pub const NON_KEY_VIEW_ATTRIBUTES: &[&str] = &[
    "id",
    "keyHint",
    "settings",
    "endpoint",
    "isActive",
    "createdAt",
    "updatedAt",
    "keyStoredAt",
    "lastUsedAt",
    "lastValidatedAt",
    "lastValidationStatus",
    "deletedAt",
    "usageCount",
    "version",
    "expiresAt",
];

/// The name of the index that lists a user's configurations without ciphertext.
pub const BY_USER_INDEX: &str = "byUser";

/// A failure of the table that no client input explains (throttling, network,
/// a malformed item): the API answers 500 and logs the cause.
#[derive(Debug, thiserror::Error)]
#[error("dynamodb {operation}: {reason}")]
pub struct RepoError {
    operation: &'static str,
    reason: String,
}

impl RepoError {
    fn new(operation: &'static str, reason: impl Into<String>) -> Self {
        Self {
            operation,
            reason: reason.into(),
        }
    }

    fn sdk<E: ProvideErrorMetadata + std::error::Error + 'static>(
        operation: &'static str,
        err: SdkError<E>,
    ) -> Self {
        let reason = match (err.code(), err.message()) {
            (Some(code), Some(msg)) => format!("{code}: {msg}"),
            (Some(code), None) => code.to_owned(),
            _ => aws_sdk_dynamodb::error::DisplayErrorContext(&err).to_string(),
        };
        Self::new(operation, reason)
    }
}

/// The answer of a conditional write: `None` when its condition failed (an
/// expected outcome: absent, inactive, changed meanwhile, over the limit).
fn unless_condition_failed<T, E: ProvideErrorMetadata + std::error::Error + 'static>(
    operation: &'static str,
    result: Result<T, SdkError<E>>,
) -> Result<Option<T>, RepoError> {
    match result {
        Ok(out) => Ok(Some(out)),
        Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(None),
        Err(e) => Err(RepoError::sdk(operation, e)),
    }
}

/// What a store writes besides the item key.
pub struct StoreWrite<'a> {
    /// The owner.
    pub user_id: &'a str,
    /// The provider.
    pub provider: ProviderId,
    /// The `akv1` envelope.
    pub envelope: &'a str,
    /// The masked key; `None` when no key was given (a provider whose key is optional).
    pub key_hint: Option<&'a str>,
    /// The endpoint that belongs to the key (`Endpoint::to_json`); `None` removes
    /// a stored one.
    pub endpoint: Option<&'a Value>,
    /// New settings; `None` keeps the stored ones.
    pub settings: Option<&'a Map<String, Value>>,
    /// A key test made before storing: (time, status).
    pub validation: Option<(&'a str, &'a str)>,
    /// The write time.
    pub now: &'a str,
    /// The id a new item gets.
    pub new_id: &'a str,
}

/// What a store did.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// The item as it is now.
    pub item: ConfigItem,
    /// True when no active configuration existed before.
    pub created: bool,
}

/// A configuration together with its sealed key, for the code that opens keys.
#[derive(Debug, Clone, PartialEq)]
pub struct SealedConfig {
    /// The item.
    pub item: ConfigItem,
    /// The stored `apiKey`: an `akv1` envelope (or a legacy value before rewrap).
    pub envelope: String,
}

fn parse_sealed(
    operation: &'static str,
    mut item: HashMap<String, AttributeValue>,
) -> Result<SealedConfig, RepoError> {
    let envelope = match item.remove("apiKey") {
        Some(AttributeValue::S(envelope)) => envelope,
        _ => return Err(RepoError::new(operation, "the item holds no apiKey string")),
    };
    Ok(SealedConfig {
        item: parse_item(operation, item)?,
        envelope,
    })
}

/// Read and write access to the provider configuration table.
#[derive(Debug, Clone)]
pub struct ConfigRepository {
    client: Client,
    table: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn settings_value(settings: &Map<String, Value>) -> Result<AttributeValue, RepoError> {
    serde_dynamo::to_attribute_value(settings)
        .map_err(|e| RepoError::new("encode settings", e.to_string()))
}

fn parse_item(
    operation: &'static str,
    mut item: HashMap<String, AttributeValue>,
) -> Result<ConfigItem, RepoError> {
    item.remove("apiKey");
    serde_dynamo::from_item(item).map_err(|e| RepoError::new(operation, e.to_string()))
}

impl ConfigRepository {
    /// A repository over `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The DynamoDB client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Creates or replaces a user's key for a provider in one upsert. `id`,
    /// `createdAt` and `usageCount` of an existing item are kept; `version` counts
    /// every write.
    pub async fn store(&self, w: StoreWrite<'_>) -> Result<Stored, RepoError> {
        let mut set = vec![
            "userId = :u",
            "provider = :p",
            "apiKey = :k",
            "isActive = :t",
            "updatedAt = :now",
            "keyStoredAt = :now",
            "createdAt = if_not_exists(createdAt, :now)",
            "id = if_not_exists(id, :id)",
            "usageCount = if_not_exists(usageCount, :zero)",
        ];
        let mut remove = vec!["deletedAt", "expiresAt"];
        let mut values = HashMap::from([
            (":u".to_owned(), s(w.user_id)),
            (":p".to_owned(), s(w.provider.as_str())),
            (":k".to_owned(), s(w.envelope)),
            (":t".to_owned(), AttributeValue::Bool(true)),
            (":now".to_owned(), s(w.now)),
            (":id".to_owned(), s(w.new_id)),
            (":zero".to_owned(), n(0)),
            (":one".to_owned(), n(1)),
        ]);
        if let Some(hint) = w.key_hint {
            set.push("keyHint = :h");
            values.insert(":h".into(), s(hint));
        } else {
            remove.push("keyHint");
        }
        if let Some(endpoint) = w.endpoint {
            set.push("#ep = :e");
            values.insert(
                ":e".into(),
                serde_dynamo::to_attribute_value(endpoint)
                    .map_err(|e| RepoError::new("encode endpoint", e.to_string()))?,
            );
        } else {
            remove.push("#ep");
        }
        match w.settings {
            Some(settings) => {
                set.push("settings = :s");
                values.insert(":s".into(), settings_value(settings)?);
            }
            None => {
                set.push("settings = if_not_exists(settings, :s)");
                values.insert(":s".into(), AttributeValue::M(HashMap::new()));
            }
        }
        // A new key has no test result yet unless one was made just now.
        match w.validation {
            Some((at, status)) => {
                set.push("lastValidatedAt = :vat");
                set.push("lastValidationStatus = :vs");
                values.insert(":vat".into(), s(at));
                values.insert(":vs".into(), s(status));
            }
            None => remove.extend(["lastValidatedAt", "lastValidationStatus"]),
        }
        let expression = format!(
            "SET {} REMOVE {} ADD version :one",
            set.join(", "),
            remove.join(", ")
        );
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(ConfigItem::key(w.user_id, w.provider)))
            .update_expression(expression)
            // An alias, so the attribute name never collides with a reserved word.
            .expression_attribute_names("#ep", "endpoint")
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| RepoError::sdk("store", e))?;

        let old = match out.attributes {
            Some(attrs) if !attrs.is_empty() => Some(parse_item("store", attrs)?),
            _ => None,
        };
        let created = !old.as_ref().is_some_and(|o| o.is_active);
        let (id, created_at, usage_count, version, last_used_at, settings) = match old {
            Some(o) => (
                o.id,
                o.created_at,
                o.usage_count,
                o.version + 1,
                o.last_used_at,
                w.settings.cloned().unwrap_or(o.settings),
            ),
            None => (
                w.new_id.to_owned(),
                w.now.to_owned(),
                0,
                1,
                None,
                w.settings.cloned().unwrap_or_default(),
            ),
        };
        let item = ConfigItem {
            pk: ConfigItem::key(w.user_id, w.provider),
            user_id: w.user_id.to_owned(),
            provider: w.provider.as_str().to_owned(),
            id,
            key_hint: w.key_hint.map(str::to_owned),
            settings,
            endpoint: w.endpoint.cloned(),
            is_active: true,
            created_at,
            updated_at: w.now.to_owned(),
            key_stored_at: Some(w.now.to_owned()),
            last_used_at,
            last_validated_at: w.validation.map(|(at, _)| at.to_owned()),
            last_validation_status: w.validation.map(|(_, st)| st.to_owned()),
            deleted_at: None,
            usage_count,
            version,
            expires_at: None,
        };
        Ok(Stored { item, created })
    }

    /// A user's active configurations, by provider, from the `byUser` index
    /// (which holds no ciphertext).
    pub async fn list(&self, user_id: &str) -> Result<Vec<ConfigItem>, RepoError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(BY_USER_INDEX)
                .key_condition_expression("userId = :u")
                .filter_expression("isActive = :t")
                .expression_attribute_values(":u", s(user_id))
                .expression_attribute_values(":t", AttributeValue::Bool(true))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| RepoError::sdk("list", e))?;
            for item in out.items.unwrap_or_default() {
                items.push(parse_item("list", item)?);
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        Ok(items)
    }

    /// Replaces the settings of an active configuration; `None` when there is none.
    ///
    /// One conditional update answering `ALL_NEW`. That answer carries the `apiKey`
    /// attribute too (DynamoDB has no projection for update answers, and emulators
    /// differ on what `UPDATED_NEW` returns for unchanged attributes); it is dropped
    /// unread in `parse_item` before anything else sees the item.
    pub async fn update_settings(
        &self,
        user_id: &str,
        provider: ProviderId,
        settings: &Map<String, Value>,
        now: &str,
    ) -> Result<Option<ConfigItem>, RepoError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(ConfigItem::key(user_id, provider)))
            .update_expression("SET settings = :s, updatedAt = :now ADD version :one")
            .condition_expression("isActive = :t")
            .expression_attribute_values(":s", settings_value(settings)?)
            .expression_attribute_values(":now", s(now))
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        unless_condition_failed("update settings", result)?
            .map(|out| parse_item("update settings", out.attributes.unwrap_or_default()))
            .transpose()
    }

    /// Soft-deletes an active configuration: the ciphertext and hint are removed,
    /// `deletedAt` and the purge time `expiresAt` set. False when none was active.
    pub async fn delete(
        &self,
        user_id: &str,
        provider: ProviderId,
        now: &str,
        expires_at: i64,
    ) -> Result<bool, RepoError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(ConfigItem::key(user_id, provider)))
            .update_expression(
                "SET isActive = :f, deletedAt = :now, updatedAt = :now, expiresAt = :exp \
                 REMOVE apiKey, keyHint ADD version :one",
            )
            .condition_expression("isActive = :t")
            .expression_attribute_values(":f", AttributeValue::Bool(false))
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":now", s(now))
            .expression_attribute_values(":exp", AttributeValue::N(expires_at.to_string()))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::None)
            .send()
            .await;
        Ok(unless_condition_failed("delete", result)?.is_some())
    }

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
            .key("pk", s(ConfigItem::key(user_id, provider)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| RepoError::sdk("get", e))?;
        match out.item {
            Some(item)
                if matches!(item.get("isActive"), Some(AttributeValue::Bool(true)))
                    && item.contains_key("apiKey") =>
            {
                parse_sealed("get", item).map(Some)
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
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(ConfigItem::key(user_id, provider)))
            .update_expression("SET lastUsedAt = :now ADD usageCount :one")
            .condition_expression("isActive = :t AND attribute_exists(apiKey)")
            .expression_attribute_values(":now", s(now))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        unless_condition_failed("record use", result)?
            .map(|out| parse_sealed("record use", out.attributes.unwrap_or_default()))
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
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(ConfigItem::key(user_id, provider)))
            .update_expression(
                "SET lastValidatedAt = :at, lastValidationStatus = :st ADD version :one",
            )
            .condition_expression("isActive = :t AND apiKey = :k")
            .expression_attribute_values(":at", s(at))
            .expression_attribute_values(":st", s(status))
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":k", s(envelope))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::None)
            .send()
            .await;
        Ok(unless_condition_failed("record validation", result)?.is_some())
    }

    /// One page of a full scan of the configuration items (rate-limit counters are
    /// left out). With `with_envelope` false the ciphertext is not read at all.
    pub async fn scan_page(
        &self,
        start: Option<HashMap<String, AttributeValue>>,
        with_envelope: bool,
    ) -> Result<ScanPage, RepoError> {
        let mut request = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("attribute_exists(userId)")
            .limit(SCAN_PAGE_ITEMS)
            .set_exclusive_start_key(start);
        if !with_envelope {
            let mut names = HashMap::new();
            let mut projection = Vec::new();
            let keys = ["pk", "userId", "provider"];
            for (i, attr) in keys.iter().chain(NON_KEY_VIEW_ATTRIBUTES).enumerate() {
                names.insert(format!("#a{i}"), (*attr).to_owned());
                projection.push(format!("#a{i}"));
            }
            request = request
                .projection_expression(projection.join(", "))
                .set_expression_attribute_names(Some(names));
        }
        let out = request
            .send()
            .await
            .map_err(|e| RepoError::sdk("scan", e))?;
        let mut items = Vec::new();
        for mut raw in out.items.unwrap_or_default() {
            let envelope = match raw.remove("apiKey") {
                Some(AttributeValue::S(e)) => Some(e),
                _ => None,
            };
            items.push((parse_item("scan", raw)?, envelope));
        }
        Ok(ScanPage {
            items,
            next: out.last_evaluated_key.filter(|k| !k.is_empty()),
        })
    }

    /// Replaces the envelope of an item only if the item is unchanged since it was
    /// read (same envelope, same version): a user's concurrent store always wins.
    /// False when the item changed meanwhile.
    pub async fn replace_envelope(
        &self,
        item: &ConfigItem,
        old_envelope: &str,
        new_envelope: &str,
    ) -> Result<bool, RepoError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&item.pk))
            .update_expression("SET apiKey = :new ADD version :one")
            .condition_expression("apiKey = :old AND version = :v")
            .expression_attribute_values(":new", s(new_envelope))
            .expression_attribute_values(":old", s(old_envelope))
            .expression_attribute_values(":v", n(item.version))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::None)
            .send()
            .await;
        Ok(unless_condition_failed("replace envelope", result)?.is_some())
    }

    /// Writes a whole item only where none exists under its key (imports never
    /// overwrite). False when an item was already there.
    pub async fn put_new(
        &self,
        item: &ConfigItem,
        envelope: Option<&str>,
    ) -> Result<bool, RepoError> {
        let mut attrs: HashMap<String, AttributeValue> = serde_dynamo::to_item(item)
            .map_err(|e| RepoError::new("encode item", e.to_string()))?;
        attrs.retain(|_, v| !matches!(v, AttributeValue::Null(_)));
        if let Some(envelope) = envelope {
            attrs.insert("apiKey".into(), s(envelope));
        }
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(attrs))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        Ok(unless_condition_failed("put", result)?.is_some())
    }

    /// Whether an item exists under `pk` (a strongly consistent read of the key only).
    pub async fn exists(&self, pk: &str) -> Result<bool, RepoError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .projection_expression("pk")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| RepoError::sdk("get", e))?;
        Ok(out.item.is_some())
    }

    /// Takes one key test from the user's allowance of `limit` per minute: a
    /// fixed-window counter item (`ratelimit#key-test#{user}#{minute}`, no `userId`
    /// attribute, so it stays out of `byUser`) incremented only while under the
    /// limit, in one conditional update. Purged by TTL.
    pub async fn take_key_test(
        &self,
        user_id: &str,
        now_epoch_secs: i64,
        limit: u32,
    ) -> Result<Allowance, RepoError> {
        let window = now_epoch_secs.div_euclid(60);
        let window_end = (window + 1) * 60;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("ratelimit#key-test#{user_id}#{window}")))
            .update_expression("SET expiresAt = :exp ADD #count :one")
            .condition_expression("attribute_not_exists(#count) OR #count < :limit")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":exp", AttributeValue::N((window_end + 60).to_string()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(u64::from(limit)))
            .return_values(ReturnValue::None)
            .send()
            .await;
        Ok(match unless_condition_failed("rate limit", result)? {
            Some(_) => Allowance::Granted,
            None => Allowance::Exhausted {
                retry_after_secs: (window_end - now_epoch_secs).max(1) as u64,
            },
        })
    }
}

/// The answer of the rate limiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowance {
    /// Go ahead.
    Granted,
    /// The limit is reached until the window ends.
    Exhausted {
        /// Seconds until the next window.
        retry_after_secs: u64,
    },
}

/// One page of a table scan: items with their envelope (when asked for and
/// present), and where the next page starts.
#[derive(Debug)]
pub struct ScanPage {
    /// The items.
    pub items: Vec<(ConfigItem, Option<String>)>,
    /// The key to continue from; `None` on the last page.
    pub next: Option<HashMap<String, AttributeValue>>,
}
