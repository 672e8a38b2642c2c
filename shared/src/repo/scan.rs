//! The whole table, page by page (maintenance, stats, rewrap). The writes of the
//! operator tools are in `operator`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::schema::{view_attributes, CIPHERTEXT_ATTRIBUTE};
use super::{decode, Item, KeyTable, RepoError};
use crate::repo::KeyRow;

/// Items a scan reads per request: small pages keep each call short (the admin
/// tools and the maintenance sweep print progress between them).
pub const SCAN_PAGE_ITEMS: i32 = 250;

/// One page of a table scan: items with their envelope (when asked for and
/// present), and where the next page starts.
#[derive(Debug)]
pub struct ScanPage {
    /// The items.
    pub items: Vec<(KeyRow, Option<String>)>,
    /// The key to continue from; `None` on the last page.
    pub next: Option<HashMap<String, AttributeValue>>,
}

/// The configuration items of the whole table, one page at a time:
///
/// ```no_run
/// # async fn sweep(repo: &apikeys::repo::KeyTable) -> Result<(), apikeys::repo::RepoError> {
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
    repo: &'a KeyTable,
    with_envelope: bool,
    /// Where the next page starts; `None` once the last page was read.
    start: Option<Option<Item>>,
}

impl Pages<'_> {
    /// The next page's items; `None` after the last page. A page may be empty
    /// while more follow (DynamoDB filters after reading).
    pub async fn next(&mut self) -> Result<Option<Vec<(KeyRow, Option<String>)>>, RepoError> {
        let Some(start) = self.start.take() else {
            return Ok(None);
        };
        let page = self.repo.scan_page(start, self.with_envelope).await?;
        self.start = page.next.map(Some);
        Ok(Some(page.items))
    }
}

impl KeyTable {
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
}
