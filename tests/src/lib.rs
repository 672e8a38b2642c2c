//! Helpers of the integration tests: the local AWS emulator, and names that do not
//! collide between tests that share it.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_kms::config::Credentials;

/// How to start the emulator, for the failure message of a test that needs it.
pub const START_HINT: &str = "start it with `infra/local-aws.sh start` and \
    `eval \"$(infra/local-aws.sh env)\"`, or run the whole suite with `make test`";

/// The emulator's endpoint, from `APIKEYS_TEST_AWS_ENDPOINT` (or `AWS_ENDPOINT_URL`).
///
/// Panics with a message that says how to start the emulator when the variable is
/// missing or nothing answers there: an integration test never passes by skipping.
pub fn emulator_endpoint() -> String {
    let endpoint = std::env::var("APIKEYS_TEST_AWS_ENDPOINT")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
        .unwrap_or_else(|_| {
            panic!("the local AWS emulator is not configured (APIKEYS_TEST_AWS_ENDPOINT is unset): {START_HINT}")
        });
    let authority = endpoint
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches('/');
    let reachable = authority
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .is_some_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok());
    assert!(
        reachable,
        "the local AWS emulator does not answer at {endpoint}: {START_HINT}"
    );
    endpoint
}

/// An SDK configuration that talks to the emulator with test credentials.
pub async fn emulator_config() -> SdkConfig {
    sdk_config_for(&emulator_endpoint(), Default::default()).await
}

/// An SDK configuration for any endpoint, with the given timeouts.
pub async fn sdk_config_for(endpoint: &str, timeouts: apikeys::aws::AwsTimeouts) -> SdkConfig {
    timeouts
        .apply(aws_config::defaults(BehaviorVersion::latest()))
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .endpoint_url(endpoint)
        .load()
        .await
}

/// A name unique to one test run, so tests can share one emulator.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}
