//! The whole table, page by page (maintenance, stats, rewrap), and the writes of the
//! admin tools (rewrap, import).

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};

use super::schema::{view_attributes, CIPHERTEXT_ATTRIBUTE, SORT_KEY, TABLE_KEY};
use super::{decode, is_condition_failure, n, s, ConfigRepository, Item, RepoError};
use crate::config::ConfigItem;

/// Items a scan reads per request: small pages keep each call short (the admin
/// tools and the maintenance sweep print progress between them).
pub const SCAN_PAGE_ITEMS: i32 = 250;

/// One page of a table scan: items with their envelope (when asked for and
/// present), and where the next page starts.
#[derive(Debug)]
pub struct ScanPage {
    /// The items.
    pub items: Vec<(ConfigItem, Option<String>)>,
    /// The key to continue from; `None` on the last page.
    pub next: Option<HashMap<String, AttributeValue>>,
}

/// The configuration items of the whole table, one page at a time:
///
/// ```no_run
/// # async fn sweep(repo: &apikeys::repo::ConfigRepository) -> Result<(), apikeys::repo::RepoError> {
/// let mut pages = repo.pages(false);
/// while let Some(items) = pages.next().await? {
///     for (item, _envelope) in &items {
///         println!("{}", item.pk);
///     }
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Pages<'a> {
    repo: &'a ConfigRepository,
    with_envelope: bool,
    /// Where the next page starts; `None` once the last page was read.
    start: Option<Option<Item>>,
}

impl Pages<'_> {
    /// The next page's items; `None` after the last page. A page may be empty
    /// while more follow (DynamoDB filters after reading).
    pub async fn next(&mut self) -> Result<Option<Vec<(ConfigItem, Option<String>)>>, RepoError> {
        let Some(start) = self.start.take() else {
            return Ok(None);
        };
        let page = self.repo.scan_page(start, self.with_envelope).await?;
        self.start = page.next.map(Some);
        Ok(Some(page.items))
    }
}

impl ConfigRepository {
    /// Every configuration item (rate-limit counters are left out), one page per
    /// [`Pages::next`]. With `with_envelope` false the ciphertext is not read at all.
    pub fn pages(&self, with_envelope: bool) -> Pages<'_> {
        Pages {
            repo: self,
            with_envelope,
            start: Some(None),
        }
    }

    /// One page of a full scan of the configuration items (rate-limit counters are
    /// left out). With `with_envelope` false the ciphertext is not read at all.
    pub async fn scan_page(
        &self,
        start: Option<Item>,
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
            for (i, attr) in view_attributes().into_iter().enumerate() {
                names.insert(format!("#a{i}"), attr.to_owned());
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
            let envelope = match raw.remove(CIPHERTEXT_ATTRIBUTE) {
                Some(AttributeValue::S(e)) => Some(e),
                _ => None,
            };
            items.push((decode("scan", raw)?, envelope));
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
    pub async fn put_new(
        &self,
        item: &ConfigItem,
        envelope: Option<&str>,
    ) -> Result<bool, RepoError> {
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
