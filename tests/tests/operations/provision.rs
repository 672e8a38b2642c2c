//! Provisioning against the local AWS emulator (`infra/scripts/local-aws.sh start`).

use std::collections::BTreeSet;

use apikeys_admin::{
    provision_seed, provision_table, Outcome, ProvisionError, BY_USER_INDEX, BY_USER_PROJECTED,
    SEED_LENGTH, TABLE_TTL_ATTRIBUTE,
};
use apikeys_integration_tests::{emulator_config, unique};
use aws_sdk_dynamodb::types::{
    AttributeValue, BillingMode, KeyType, ProjectionType, TimeToLiveStatus,
};

async fn dynamodb() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&emulator_config().await)
}

async fn seed_clients() -> (aws_sdk_kms::Client, aws_sdk_secretsmanager::Client) {
    let config = emulator_config().await;
    (
        aws_sdk_kms::Client::new(&config),
        aws_sdk_secretsmanager::Client::new(&config),
    )
}

fn key_schema(schema: &[aws_sdk_dynamodb::types::KeySchemaElement]) -> Vec<(&str, KeyType)> {
    schema
        .iter()
        .map(|k| (k.attribute_name(), k.key_type().clone()))
        .collect()
}

async fn seed_value(sm: &aws_sdk_secretsmanager::Client, name: &str) -> String {
    sm.get_secret_value()
        .secret_id(name)
        .send()
        .await
        .expect("get the seed")
        .secret_string()
        .expect("a string secret")
        .to_owned()
}

/// dynalite, the strict local DynamoDB, implements no `UpdateTimeToLive`.
async fn assert_has_no_ttl_operations(client: &aws_sdk_dynamodb::Client, table: &str) {
    let spec = aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
        .enabled(true)
        .attribute_name(TABLE_TTL_ATTRIBUTE)
        .build()
        .unwrap();
    let refused = client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(spec)
        .send()
        .await
        .expect_err("provisioning reported no TTL, yet the endpoint enables it");
    assert_eq!(
        aws_sdk_dynamodb::error::ProvideErrorMetadata::code(&refused),
        Some("UnknownOperationException")
    );
}

#[tokio::test]
async fn a_new_table_is_on_demand_with_key_pk_and_sk() {
    let client = dynamodb().await;
    let table = unique("admin-table");

    let provisioned = provision_table(&client, &table).await.unwrap();

    assert_eq!(provisioned.outcome, Outcome::Created);
    let described = client
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let described = described.table().unwrap();
    assert_eq!(provisioned.table_arn, described.table_arn().unwrap());
    assert_eq!(
        key_schema(described.key_schema()),
        [("pk", KeyType::Hash), ("sk", KeyType::Range)]
    );
    assert_eq!(
        described
            .billing_mode_summary()
            .and_then(|b| b.billing_mode()),
        Some(&BillingMode::PayPerRequest)
    );
}

#[tokio::test]
async fn the_by_user_index_lists_by_user_and_provider_without_ciphertext() {
    let client = dynamodb().await;
    let table = unique("admin-table");

    provision_table(&client, &table).await.unwrap();

    let described = client
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let indexes = described.table().unwrap().global_secondary_indexes();
    assert_eq!(indexes.len(), 1);
    let index = &indexes[0];
    assert_eq!(index.index_name(), Some(BY_USER_INDEX));
    assert_eq!(
        key_schema(index.key_schema()),
        [("userId", KeyType::Hash), ("provider", KeyType::Range)]
    );
    let projection = index.projection().unwrap();
    assert_eq!(projection.projection_type(), Some(&ProjectionType::Include));
    let projected: BTreeSet<&str> = projection
        .non_key_attributes()
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(projected, BY_USER_PROJECTED.iter().copied().collect());
    assert!(!projected.contains("apiKey"));
}

#[tokio::test]
async fn a_query_on_by_user_returns_no_ciphertext() {
    let client = dynamodb().await;
    let table = unique("admin-table");
    provision_table(&client, &table).await.unwrap();
    let s = |v: &str| AttributeValue::S(v.to_owned());
    client
        .put_item()
        .table_name(&table)
        .item("pk", s("user-1#openai"))
        .item("sk", s("primary"))
        .item("userId", s("user-1"))
        .item("provider", s("openai"))
        .item("apiKey", s("akv1.ciphertext"))
        .item("keyHint", s("sk-…abcd"))
        .send()
        .await
        .unwrap();

    let listed = client
        .query()
        .table_name(&table)
        .index_name(BY_USER_INDEX)
        .key_condition_expression("userId = :u")
        .expression_attribute_values(":u", s("user-1"))
        .send()
        .await
        .unwrap();

    let items = listed.items();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].get("keyHint"), Some(&s("sk-…abcd")));
    assert!(!items[0].contains_key("apiKey"));
}

#[tokio::test]
async fn a_new_table_expires_items_by_expires_at() {
    let client = dynamodb().await;
    let table = unique("admin-table");

    let provisioned = provision_table(&client, &table).await.unwrap();

    let Some(ttl) = provisioned.ttl else {
        // Provisioning went on without TTL: only right where the endpoint has none.
        assert_has_no_ttl_operations(&client, &table).await;
        return;
    };
    assert_eq!(ttl, Outcome::Created);
    let ttl = client
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
    assert_eq!(ttl.attribute_name(), Some(TABLE_TTL_ATTRIBUTE));
}

#[tokio::test]
async fn provisioning_a_table_again_reports_it_already_present() {
    let client = dynamodb().await;
    let table = unique("admin-table");
    let first = provision_table(&client, &table).await.unwrap();

    let second = provision_table(&client, &table).await.unwrap();

    assert_eq!(second.outcome, Outcome::AlreadyPresent);
    assert_eq!(second.ttl, first.ttl.map(|_| Outcome::AlreadyPresent));
    assert_eq!(second.table_arn, first.table_arn);
}

#[tokio::test]
async fn an_existing_table_without_the_by_user_index_is_refused() {
    let client = dynamodb().await;
    let table = unique("admin-table");
    create_bare_table(&client, &table, &["pk", "sk"]).await;

    let refused = provision_table(&client, &table).await.unwrap_err();

    assert!(
        matches!(&refused, ProvisionError::TableMismatch { reason, .. } if reason.contains(BY_USER_INDEX)),
        "{refused}"
    );
}

#[tokio::test]
async fn an_existing_single_key_table_is_refused_with_the_way_to_migrate_it() {
    let client = dynamodb().await;
    let table = unique("admin-table");
    create_bare_table(&client, &table, &["pk"]).await;

    let refused = provision_table(&client, &table).await.unwrap_err();

    assert!(
        matches!(&refused, ProvisionError::TableMismatch { reason, .. }
            if reason.contains("migrate-keys --from") && reason.contains("sk (RANGE)")),
        "{refused}"
    );
}

/// A table keyed by `keys` (HASH, then RANGE), without index or TTL.
async fn create_bare_table(client: &aws_sdk_dynamodb::Client, table: &str, keys: &[&str]) {
    use aws_sdk_dynamodb::types::{AttributeDefinition, KeySchemaElement, ScalarAttributeType};
    let mut request = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest);
    for (i, name) in keys.iter().enumerate() {
        request = request
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(*name)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(*name)
                    .key_type(if i == 0 {
                        KeyType::Hash
                    } else {
                        KeyType::Range
                    })
                    .build()
                    .unwrap(),
            );
    }
    request.send().await.unwrap();
}

#[tokio::test]
async fn a_new_seed_secret_holds_64_characters_under_the_new_key() {
    let (kms, sm) = seed_clients().await;
    let secret = unique("admin-seed");
    let alias = format!("alias/{}", unique("admin-key"));

    let provisioned = provision_seed(&kms, &sm, &secret, &alias).await.unwrap();

    assert_eq!(provisioned.key, Outcome::Created);
    assert_eq!(provisioned.secret, Outcome::Created);
    let behind_alias = kms.describe_key().key_id(&alias).send().await.unwrap();
    let behind_alias = behind_alias.key_metadata().unwrap();
    assert_eq!(behind_alias.key_id(), provisioned.key_id);
    assert_eq!(behind_alias.arn(), Some(provisioned.key_arn.as_str()));
    let described = sm
        .describe_secret()
        .secret_id(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(described.arn(), Some(provisioned.secret_arn.as_str()));
    let kms_key_id = described.kms_key_id().unwrap();
    assert!(
        kms_key_id == provisioned.key_arn || kms_key_id == provisioned.key_id,
        "secret encrypted under {kms_key_id}, not {}",
        provisioned.key_arn
    );
    assert!(provisioned.secret_under_key());
    assert_eq!(seed_value(&sm, &secret).await.len(), SEED_LENGTH);
    assert_eq!(SEED_LENGTH, 64);
}

#[tokio::test]
async fn provisioning_the_seed_again_keeps_the_key_and_the_seed() {
    let (kms, sm) = seed_clients().await;
    let secret = unique("admin-seed");
    let alias = format!("alias/{}", unique("admin-key"));
    let first = provision_seed(&kms, &sm, &secret, &alias).await.unwrap();
    let seed_before = seed_value(&sm, &secret).await;

    let second = provision_seed(&kms, &sm, &secret, &alias).await.unwrap();

    assert_eq!(second.key, Outcome::AlreadyPresent);
    assert_eq!(second.secret, Outcome::AlreadyPresent);
    assert_eq!(second.key_arn, first.key_arn);
    assert_eq!(second.secret_arn, first.secret_arn);
    // Compared without printing: a seed never goes into a test's output.
    assert!(
        seed_value(&sm, &secret).await == seed_before,
        "the second provisioning replaced the seed"
    );
}

#[tokio::test]
async fn seeds_of_two_secrets_differ() {
    let (kms, sm) = seed_clients().await;
    let alias = format!("alias/{}", unique("admin-key"));
    let (one, two) = (unique("admin-seed"), unique("admin-seed"));

    provision_seed(&kms, &sm, &one, &alias).await.unwrap();
    let reused = provision_seed(&kms, &sm, &two, &alias).await.unwrap();

    assert_eq!(reused.key, Outcome::AlreadyPresent);
    assert_eq!(reused.secret, Outcome::Created);
    assert!(seed_value(&sm, &one).await != seed_value(&sm, &two).await);
}

#[tokio::test]
async fn a_seed_secret_scheduled_for_deletion_is_reported_not_reused() {
    let (kms, sm) = seed_clients().await;
    let secret = unique("admin-seed");
    let alias = format!("alias/{}", unique("admin-key"));
    provision_seed(&kms, &sm, &secret, &alias).await.unwrap();
    sm.delete_secret().secret_id(&secret).send().await.unwrap();

    let refused = provision_seed(&kms, &sm, &secret, &alias)
        .await
        .unwrap_err();

    assert!(
        matches!(refused, ProvisionError::SecretScheduledForDeletion { .. }),
        "{refused}"
    );
}

#[tokio::test]
async fn an_alias_without_the_alias_prefix_is_refused_before_any_call() {
    let (kms, sm) = seed_clients().await;
    let secret = unique("admin-seed");

    let refused = provision_seed(&kms, &sm, &secret, "apikeys-local")
        .await
        .unwrap_err();

    assert!(
        matches!(refused, ProvisionError::InvalidAlias { .. }),
        "{refused}"
    );
    let looked_up = sm.describe_secret().secret_id(&secret).send().await;
    assert!(looked_up.is_err(), "no secret may be created");
}
