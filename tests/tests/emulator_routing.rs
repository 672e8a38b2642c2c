//! `make test` runs the suite a second time with DynamoDB served by dynalite,
//! routed by the SDK's `AWS_ENDPOINT_URL_DYNAMODB`. These tests check that the
//! helpers really send DynamoDB there and KMS and Secrets Manager still to the
//! emulator, so that run cannot quietly test the same backend twice.

use apikeys_integration_tests::{emulator_config, emulator_endpoint, unique};
use aws_sdk_dynamodb::config::Builder;

/// Where DynamoDB calls of the test helpers must land.
fn dynamodb_endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap_or_else(|_| emulator_endpoint())
}

#[tokio::test]
async fn a_provisioned_table_lives_at_the_dynamodb_endpoint_only() {
    let sdk = emulator_config().await;
    let table = unique("routing");
    apikeys_admin::provision_table(&aws_sdk_dynamodb::Client::new(&sdk), &table)
        .await
        .expect("provision the table");
    let at = |endpoint: &str| {
        aws_sdk_dynamodb::Client::from_conf(Builder::from(&sdk).endpoint_url(endpoint).build())
    };

    let there = at(&dynamodb_endpoint())
        .describe_table()
        .table_name(&table)
        .send()
        .await;
    assert!(
        there.is_ok(),
        "the table is not at {}: {there:?}",
        dynamodb_endpoint()
    );
    if dynamodb_endpoint() != emulator_endpoint() {
        let elsewhere = at(&emulator_endpoint())
            .describe_table()
            .table_name(&table)
            .send()
            .await
            .expect_err("the table was made at the general endpoint too");
        assert!(elsewhere
            .as_service_error()
            .is_some_and(|e| e.is_resource_not_found_exception()));
    }
}

#[tokio::test]
async fn kms_and_secrets_manager_stay_at_the_general_endpoint() {
    let sdk = emulator_config().await;

    // dynalite knows neither service: these answer only where the emulator serves them.
    aws_sdk_kms::Client::new(&sdk)
        .list_keys()
        .send()
        .await
        .expect("KMS answers at the emulator");
    aws_sdk_secretsmanager::Client::new(&sdk)
        .list_secrets()
        .max_results(1)
        .send()
        .await
        .expect("Secrets Manager answers at the emulator");
}
