//! The move from the single-key table (key `pk` alone) to this one (`pk` + `sk`).
//!
//! Items are copied as stored, every attribute byte for byte, the ciphertext
//! included (it is bound to the user and provider, not to the item key, so it opens
//! unchanged): nothing is opened or decoded. Each item lands at its slot, `primary`
//! (a rate-limit counter at `counter`), with a conditional write:
//!
//! - absent here: written, stamped with the source's version ([`MIGRATED_VERSION`]);
//! - here and identical: nothing to do (a rerun, or a retry of a lost answer);
//! - here and different: replaced only when it is this tool's own copy, untouched
//!   since (its stamp equals its `version`, which every write of the functions
//!   raises), and the source's `version` is higher (the source changed since an
//!   earlier run). Anything the functions wrote here — a key stored after the
//!   switch, a key added beside a copy, a delete — is left alone, whatever the
//!   versions say: the two tables count versions apart.
//!
//! So a run can stop anywhere and be run again, from the start or from where it
//! stopped, and the target ends with every source item.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};

use super::schema::{COUNTER_SLOT, MIGRATED_VERSION, PRIMARY_SLOT, SORT_KEY, TABLE_KEY};
use super::{is_condition_failure, n, number, s, Item, KeyTable, RepoError, SCAN_PAGE_ITEMS};

/// One page of a raw scan: every attribute of every item, as stored.
#[derive(Debug, Default)]
pub struct RawPage {
    /// The items.
    pub items: Vec<Item>,
    /// Where the next page starts; `None` after the last.
    pub next: Option<Item>,
}

/// What copying one item did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Copied {
    /// Written where there was nothing.
    Written,
    /// The same item was there already.
    Identical,
    /// A copy of an older version was there and is replaced.
    Updated,
    /// Something the functions wrote (or a copy as new as the source) was there:
    /// left alone.
    KeptNewer,
}

/// The slot a single-key item lands at.
pub fn single_key_slot(pk: &str) -> &'static str {
    if pk.starts_with("ratelimit#") {
        COUNTER_SLOT
    } else {
        PRIMARY_SLOT
    }
}

impl KeyTable {
    /// One page of a scan of every item, every attribute as stored (the
    /// ciphertext included): what a migration copies.
    pub async fn raw_page(&self, start: Option<Item>) -> Result<RawPage, RepoError> {
        let out = self
            .client
            .scan()
            .table_name(&self.table)
            .consistent_read(true)
            .limit(SCAN_PAGE_ITEMS)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| RepoError::sdk("scan", e))?;
        Ok(RawPage {
            items: out.items.unwrap_or_default(),
            next: out.last_evaluated_key.filter(|k| !k.is_empty()),
        })
    }

    /// Copies one item of a single-key table here, at its slot (see the module).
    pub async fn copy_single_key_item(&self, mut item: Item) -> Result<Copied, RepoError> {
        let pk = match item.get(TABLE_KEY) {
            Some(AttributeValue::S(pk)) => pk.clone(),
            _ => return Err(RepoError::new("migrate", "an item without a string pk")),
        };
        if item.contains_key(SORT_KEY) {
            return Err(RepoError::new(
                "migrate",
                "the source item has an sk already: not a single-key table",
            ));
        }
        let sk = single_key_slot(&pk);
        item.insert(SORT_KEY.to_owned(), s(sk));
        let version = number::<u64>(&item, "version");
        item.insert(MIGRATED_VERSION.to_owned(), n(version.unwrap_or(0)));
        if self.put_if(&item, "attribute_not_exists(pk)", &[]).await? {
            return Ok(Copied::Written);
        }
        let Some(here) = self.read_item("migrate", &pk, sk).await? else {
            // Gone between the write and the read (a purge): copy it next run.
            return Ok(Copied::KeptNewer);
        };
        if here == item {
            return Ok(Copied::Identical);
        }
        let (Some(version), Some(here_version)) = (version, number::<u64>(&here, "version")) else {
            return Ok(Copied::KeptNewer);
        };
        let own_copy = number::<u64>(&here, MIGRATED_VERSION) == Some(here_version);
        if !own_copy || here_version >= version {
            return Ok(Copied::KeptNewer);
        }
        // Conditional on the copy as it was read: a function's write since wins.
        let replaced = self
            .put_if(
                &item,
                "version = :here AND migratedVersion = :here",
                &[(":here", here_version)],
            )
            .await?;
        Ok(if replaced {
            Copied::Updated
        } else {
            Copied::KeptNewer
        })
    }

    /// One conditional PutItem of the whole item; false when the condition failed.
    async fn put_if(
        &self,
        item: &Item,
        condition: &str,
        numbers: &[(&str, u64)],
    ) -> Result<bool, RepoError> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item.clone()))
            .condition_expression(condition)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::None);
        for (name, value) in numbers {
            request = request.expression_attribute_values(*name, n(value));
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(RepoError::sdk("migrate put", e)),
        }
    }
}
