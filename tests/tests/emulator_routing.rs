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

/// The functions' own configuration (`apikeys::aws::sdk_config`, built from the
/// variables Lambda sets when they are there) sends each service where the SDK's
/// endpoint variables say: a table made through it is at the DynamoDB endpoint, and
/// KMS and Secrets Manager answer through it at the general one.
#[tokio::test]
async fn the_functions_configuration_follows_the_endpoint_variables() {
    for name in ["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
        assert!(
            std::env::var(name).is_ok_and(|v| !v.is_empty()),
            "{name} is not set: run the suite through `make test`, or export \
             `infra/scripts/local-aws.sh env moto` first"
        );
    }
    let timeouts = apikeys_integration_tests::emulator_timeouts();
    let lean = apikeys::aws::from_lambda_environment(&timeouts, &|n| std::env::var(n).ok())
        .expect("the suite's environment is a Lambda-like one");
    let table = unique("lean-routing");
    apikeys_admin::provision_table(&aws_sdk_dynamodb::Client::new(&lean), &table)
        .await
        .expect("provision the table through the functions' configuration");
    let reference = emulator_config().await;
    let at = Builder::from(&reference)
        .endpoint_url(dynamodb_endpoint())
        .build();
    aws_sdk_dynamodb::Client::from_conf(at)
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap_or_else(|e| panic!("the table is not at {}: {e:?}", dynamodb_endpoint()));
    aws_sdk_kms::Client::new(&lean)
        .list_keys()
        .send()
        .await
        .expect("KMS answers through the functions' configuration");
    aws_sdk_secretsmanager::Client::new(&lean)
        .list_secrets()
        .max_results(1)
        .send()
        .await
        .expect("Secrets Manager answers through the functions' configuration");
}
