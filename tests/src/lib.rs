//! Helpers of the integration tests, all in this crate: the local AWS emulator, a
//! provisioned table per test, requests parsed from `events/`, a DynamoDB request
//! counter, a log capture, and (in [`template`]) `template.yaml` and
//! `infra/contract/openapi.yaml` read as JSON.
//!
//! The test binaries: `api` (HTTP-level: handlers judged by what a client sees),
//! `operations` (provision, import, rewrap, usage, maintenance, stats), and the
//! checks of the template, key checks and seed sources.

pub mod calls;
pub mod fake_llm;
pub mod faults;
pub mod pause;
pub mod proxy_rig;
pub mod template;

use std::collections::HashMap;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apikeys::crypto::MIN_KDF_ITERATIONS;
use apikeys::seed::{KeyMaterial, SeedSettings};
use apikeys::settings::ServiceSettings;
use apikeys::{SealingState, State};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_kms::config::Credentials;
use aws_types::origin::Origin;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};
use lambda_http::{Body, Request, Response};
use serde_json::Value;

/// How to start the emulator, for the failure message of a test that needs it.
pub const START_HINT: &str = "start it with `infra/scripts/local-aws.sh start` and \
    `eval \"$(infra/scripts/local-aws.sh env)\"`, or run the whole suite with `make test`";

/// The plain seed the test stacks use: never expected in a log line or response.
pub const TEST_SEED: &str = "integration-test-seed-0123456789-abcdefghijklmnop";

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
    assert!(
        answers(&endpoint),
        "the local AWS emulator does not answer at {endpoint}: {START_HINT}"
    );
    // The SDK sends DynamoDB calls to AWS_ENDPOINT_URL_DYNAMODB when it is set, even
    // over an explicit endpoint (the second run of `make test`: dynalite).
    if let Ok(dynamodb) = std::env::var("AWS_ENDPOINT_URL_DYNAMODB") {
        assert!(
            answers(&dynamodb),
            "the local DynamoDB emulator (AWS_ENDPOINT_URL_DYNAMODB) does not answer at \
             {dynamodb}: start it with `infra/scripts/local-aws.sh start dynalite` and \
             `eval \"$(infra/scripts/local-aws.sh env dynalite)\"`, or run the whole suite with `make test`"
        );
    }
    endpoint
}

/// Whether something accepts a connection at `endpoint` (`http://host:port`).
fn answers(endpoint: &str) -> bool {
    let authority = endpoint
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches('/');
    authority
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .is_some_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok())
}

/// An SDK configuration that talks to the emulator with test credentials and
/// [`emulator_timeouts`].
pub async fn emulator_config() -> SdkConfig {
    sdk_config_for(&emulator_endpoint(), emulator_timeouts()).await
}

/// The timeouts of clients of the emulator: long attempts. The emulator is local and
/// serves one request at a time, so a slow answer means a busy machine, not a lost
/// request, and retrying a write that did arrive would apply it twice (a usage
/// count of 92 for 50 uses was seen with the functions' 2-second attempts).
pub fn emulator_timeouts() -> apikeys::aws::AwsTimeouts {
    apikeys::aws::AwsTimeouts {
        attempt: Duration::from_secs(30),
        operation: Duration::from_secs(90),
        ..Default::default()
    }
}

/// An SDK configuration for any endpoint, with the given timeouts. DynamoDB goes to
/// `AWS_ENDPOINT_URL_DYNAMODB` instead where that is set, as with the functions'
/// configuration from the environment.
pub async fn sdk_config_for(endpoint: &str, timeouts: apikeys::aws::AwsTimeouts) -> SdkConfig {
    let sdk = timeouts
        .apply(aws_config::defaults(BehaviorVersion::latest()))
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .endpoint_url(endpoint)
        .load()
        .await;
    let Ok(dynamodb) = std::env::var("AWS_ENDPOINT_URL_DYNAMODB") else {
        return sdk;
    };
    // An endpoint set in code wins over every per-service setting; one that counts as
    // from the environment lets each client ask the service config first.
    let mut builder = sdk
        .into_builder()
        .service_config(DynamoDbEndpoint(dynamodb));
    builder.insert_origin("endpoint_url", Origin::shared_environment_variable());
    builder.build()
}

/// The per-service endpoints of the test configurations: DynamoDB's alone.
#[derive(Debug)]
struct DynamoDbEndpoint(String);

impl LoadServiceConfig for DynamoDbEndpoint {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        (key.service_id() == "DynamoDB" && key.env() == "AWS_ENDPOINT_URL").then(|| self.0.clone())
    }
}

/// A name unique to one test run, so tests can share one emulator.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Counts the HTTP requests a DynamoDB client sends (every attempt).
#[derive(Debug, Clone, Default)]
pub struct RequestCounter(Arc<AtomicUsize>);

impl RequestCounter {
    /// Requests sent since the last [`RequestCounter::take`].
    pub fn take(&self) -> usize {
        self.0.swap(0, Ordering::SeqCst)
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// A DynamoDB item: every attribute by name.
pub type Item = HashMap<String, AttributeValue>;

/// The string attribute `name` of an item.
pub fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(value)) => Some(value),
        _ => None,
    }
}

/// The number attribute `name` of an item.
pub fn number(item: &Item, name: &str) -> Option<i64> {
    match item.get(name) {
        Some(AttributeValue::N(value)) => value.parse().ok(),
        _ => None,
    }
}

/// A provisioned table of its own and the states of the functions over it.
pub struct Stack {
    /// The SDK configuration of the emulator.
    pub sdk: SdkConfig,
    /// A plain DynamoDB client, for checking stored items.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// Counts the requests of the functions' DynamoDB client.
    pub counter: RequestCounter,
    /// The state of get-configs, update-settings and delete-config: no key material.
    pub state: State,
    /// The state of store (and test-key): a plain test seed.
    pub sealing: SealingState,
    /// The table name.
    pub table: String,
}

impl Stack {
    /// Provisions a fresh table with the project's own code and builds the states.
    pub async fn new() -> Self {
        Self::with_service_config(|_| None).await
    }

    /// Like [`Stack::new`], with extra service variables read through `get`.
    pub async fn with_service_config(get: impl Fn(&str) -> Option<String>) -> Self {
        let sdk = emulator_config().await;
        let table = unique("configs");
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        apikeys_admin::provision_table(&dynamodb, &table)
            .await
            .expect("provision the table");
        let counter = RequestCounter::default();
        let counted = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&sdk)
                .interceptor(counter.clone())
                .build(),
        );
        let config = ServiceSettings::from_lookup(&|name: &str| match name {
            "APIKEYS_TABLE_NAME" => Some(table.clone()),
            other => get(other),
        })
        .expect("the service settings");
        let state = State::new(counted, config);
        // The default tester points at the real hosts: tests of key checks replace
        // it with one pointed at fake providers on loopback.
        let sealing = SealingState::new(
            state.clone(),
            test_key_material(&sdk),
            apikeys::keytest::KeyTester::new(apikeys::keytest::KeyTestSettings::default()),
        );
        Self {
            sdk,
            dynamodb,
            counter,
            state,
            sealing,
            table,
        }
    }

    /// The states of the functions over this table, with `pause` on their DynamoDB
    /// client: for deterministic races (see [`pause`]).
    pub fn paused(&self, pause: &pause::PauseBefore) -> (State, SealingState) {
        let client = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&self.sdk)
                .interceptor(pause.clone())
                .build(),
        );
        self.states_over(client, &self.sdk)
    }

    /// The functions' states over this stack's table through `client`, the seed
    /// reached through `sdk`.
    fn states_over(
        &self,
        client: aws_sdk_dynamodb::Client,
        sdk: &SdkConfig,
    ) -> (State, SealingState) {
        let state = State::new(client, self.state.settings.clone());
        let sealing = SealingState::new(
            state.clone(),
            test_key_material(sdk),
            apikeys::keytest::KeyTester::new(apikeys::keytest::KeyTestSettings::default()),
        );
        (state, sealing)
    }

    /// The functions' states over this stack's table, with DynamoDB reached through
    /// `faults` and the functions' own timeouts (short ones here: `timeouts`), as
    /// deployed functions meet a throttling or failing table.
    ///
    /// The DynamoDB client gets a retry partition of its own: the SDK keeps one
    /// retry token bucket per partition for the whole process (as a Lambda sandbox
    /// would), and the tests that fault every call would otherwise spend the
    /// retries of the tests running beside them.
    pub async fn faulty(
        &self,
        faults: &faults::FaultyClient,
        timeouts: apikeys::aws::AwsTimeouts,
    ) -> (State, SealingState) {
        let sdk = sdk_config_for(&emulator_endpoint(), timeouts)
            .await
            .into_builder()
            .http_client(faults.clone())
            .build();
        let dynamodb = aws_sdk_dynamodb::config::Builder::from(&sdk)
            .retry_partition(aws_sdk_dynamodb::config::retry::RetryPartition::new(
                unique("faulty"),
            ))
            .build();
        self.states_over(aws_sdk_dynamodb::Client::from_conf(dynamodb), &sdk)
    }

    /// A `State` over a table that does not exist: every DynamoDB call fails, so the
    /// functions answer 500.
    pub fn state_over_missing_table(&self) -> State {
        let table = unique("missing");
        State::new(
            aws_sdk_dynamodb::Client::new(&self.sdk),
            ServiceSettings {
                table_name: table,
                ..ServiceSettings::default()
            },
        )
    }

    /// Store's state with a seed secret that does not exist in Secrets Manager: the
    /// key material is unavailable, so store answers 503.
    pub fn sealing_without_seed(&self) -> SealingState {
        let secret_id = unique("missing-seed");
        let config = SeedSettings::from_lookup(&|name| match name {
            "APIKEYS_SEED_SECRET_ID" => Some(secret_id.clone()),
            "APIKEYS_KDF_ITERATIONS" => Some(MIN_KDF_ITERATIONS.to_string()),
            _ => None,
        })
        .expect("key material configuration");
        SealingState::new(
            self.state.clone(),
            KeyMaterial::new(config, &self.sdk),
            apikeys::keytest::KeyTester::new(apikeys::keytest::KeyTestSettings::default()),
        )
    }

    /// Overwrites one attribute of a stored item directly, as an operator (or an
    /// attacker with write access to the table) could.
    pub async fn set_attribute(&self, pk: &str, name: &str, value: AttributeValue) {
        self.dynamodb
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.to_owned()))
            .key("sk", AttributeValue::S("primary".to_owned()))
            .update_expression("SET #a = :v")
            .expression_attribute_names("#a", name)
            .expression_attribute_values(":v", value)
            .send()
            .await
            .expect("update item");
    }

    /// Every item of the partition `pk` (a user's provider), read strongly
    /// consistent, every attribute.
    pub async fn partition(&self, pk: &str) -> Vec<Item> {
        self.dynamodb
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
            .send()
            .await
            .expect("query a partition")
            .items
            .unwrap_or_default()
    }

    /// The ids of the active keys of the partition `pk`, as the table holds them.
    pub async fn active_ids(&self, pk: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .partition(pk)
            .await
            .iter()
            .filter(|i| matches!(i.get("isActive"), Some(AttributeValue::Bool(true))))
            .filter_map(|i| text(i, "id").map(str::to_owned))
            .collect();
        ids.sort();
        ids
    }

    /// A table as the single-key version provisioned it (`pk` alone) holding
    /// `items`: the source of a migration.
    pub async fn single_key_table(&self, items: &[Value]) -> apikeys::repo::KeyTable {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        };
        let table = unique("single-key");
        self.dynamodb
            .create_table()
            .table_name(&table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("pk")
                    .key_type(KeyType::Hash)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("create the single-key table");
        // dynalite makes a table ACTIVE a moment after it answers the create.
        for _ in 0..100 {
            let status = self
                .dynamodb
                .describe_table()
                .table_name(&table)
                .send()
                .await
                .expect("describe the single-key table")
                .table
                .and_then(|t| t.table_status);
            if status == Some(aws_sdk_dynamodb::types::TableStatus::Active) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for item in items {
            self.put_json(&table, item).await;
        }
        apikeys::repo::KeyTable::new(self.dynamodb.clone(), table)
    }

    /// Writes `item` (JSON, as serde_dynamo maps it) into `table`, over anything.
    pub async fn put_json(&self, table: &str, item: &Value) {
        self.dynamodb
            .put_item()
            .table_name(table)
            .set_item(Some(serde_dynamo::to_item(item).expect("an item")))
            .send()
            .await
            .expect("put an item");
    }

    /// An active OpenAI key of the single-key layout for `user` at `version`, its
    /// id `old-{user}`, sealing `plaintext` under the test seed.
    pub async fn single_key_item(&self, user: &str, plaintext: &str, version: u64) -> Value {
        let keyring = self.sealing.keys.keyring().await.expect("the test keyring");
        let envelope = keyring
            .seal(
                &apikeys::crypto::KeyContext::new(user, "openai"),
                &secrecy::SecretString::from(plaintext.to_owned()),
            )
            .expect("seal");
        serde_json::json!({
            "pk": format!("{user}#openai"), "userId": user, "provider": "openai",
            "id": format!("old-{user}"), "apiKey": envelope, "keyHint": "sk-p…old0",
            "isActive": true, "createdAt": "2025-01-01T00:00:00.000Z",
            "updatedAt": "2025-01-02T00:00:00.000Z", "keyStoredAt": "2025-01-01T00:00:00.000Z",
            "settings": {}, "usageCount": 3, "version": version
        })
    }

    /// The primary key's item of `pk`, read strongly consistent, every attribute.
    pub async fn item(&self, pk: &str) -> Option<Item> {
        self.item_at(pk, "primary").await
    }

    /// The item under (`pk`, `sk`), read strongly consistent, every attribute.
    pub async fn item_at(&self, pk: &str, sk: &str) -> Option<Item> {
        self.dynamodb
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.to_owned()))
            .key("sk", AttributeValue::S(sk.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .expect("get item")
            .item
    }
}

/// Key material from [`TEST_SEED`] at the lowest accepted iteration count.
pub fn test_key_material(sdk: &SdkConfig) -> KeyMaterial {
    let config = SeedSettings::from_lookup(&|name| match name {
        "APIKEYS_SEED" => Some(TEST_SEED.to_owned()),
        "APIKEYS_KDF_ITERATIONS" => Some(MIN_KDF_ITERATIONS.to_string()),
        // A long run (the model-based test's) may shorten it, to reload often.
        "APIKEYS_KEYRING_MAX_AGE_SECONDS" => std::env::var(name).ok(),
        _ => None,
    })
    .expect("test key material configuration");
    KeyMaterial::new(config, sdk)
}

/// The folder of the API Gateway events.
pub fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events")
}

/// An event of `events/` as JSON, to adjust before [`request`].
pub fn event_json(name: &str) -> Value {
    let path = events_dir().join(name);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// An event as the Lambda runtime hands it to a function.
pub fn request(event: &Value) -> Request {
    lambda_http::request::from_str(&event.to_string()).expect("an API Gateway event")
}

/// An event of `events/` with its JWT `sub` claim set to `user` (or removed).
pub fn event_for(name: &str, user: Option<&str>) -> Value {
    let mut event = event_json(name);
    set_user(&mut event, user);
    event
}

/// Sets (or removes) the JWT `sub` claim of an HTTP API event.
pub fn set_user(event: &mut Value, user: Option<&str>) {
    let ctx = &mut event["requestContext"];
    match user {
        Some(user) => {
            ctx["authorizer"]["jwt"]["claims"]["sub"] = Value::String(user.to_owned());
        }
        None => {
            if let Some(map) = ctx.as_object_mut() {
                map.remove("authorizer");
            }
        }
    }
}

/// The `requestContext.requestId` of an event: what its error bodies and log lines
/// must name.
pub fn request_id_of(event: &Value) -> String {
    event["requestContext"]["requestId"]
        .as_str()
        .expect("the event has a request id")
        .to_owned()
}

/// Gives an event a fresh request id and returns it.
pub fn set_unique_request_id(event: &mut Value) -> String {
    let id = unique("req");
    event["requestContext"]["requestId"] = Value::String(id.clone());
    id
}

/// Sets a header of an event (HTTP API events have single-valued headers).
pub fn set_header(event: &mut Value, name: &str, value: &str) {
    event["headers"][name] = Value::String(value.to_owned());
}

/// Replaces the body of an event with `body` serialized.
pub fn set_body(event: &mut Value, body: &Value) {
    event["body"] = Value::String(body.to_string());
}

/// The status, headers and JSON body (Null when empty) of a response.
pub fn parts(response: Response<Body>) -> (u16, lambda_http::http::HeaderMap, Value) {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = match response.body() {
        Body::Empty => Value::Null,
        Body::Text(text) => serde_json::from_str(text).expect("JSON body"),
        Body::Binary(bytes) => serde_json::from_slice(bytes).expect("JSON body"),
        _ => Value::Null,
    };
    (status, headers, body)
}

/// A `MakeWriter` into a shared buffer: what a function would print to its log.
#[derive(Debug, Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// A key of the right shape for each provider, for tests of key checks: the
/// registry's made-up example key.
pub fn provider_test_key(provider: apikeys::provider::ProviderId) -> &'static str {
    provider.entry().example_key
}

/// A resolver of one name, which a test moves between addresses (a name that
/// resolved to one place at store and leads elsewhere at use); every other name
/// resolves to nothing.
#[derive(Debug)]
pub struct MovingName {
    name: &'static str,
    address: std::sync::Mutex<String>,
}

impl MovingName {
    /// `name`, resolving to `address` until moved.
    pub fn new(name: &'static str, address: &str) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self {
            name,
            address: std::sync::Mutex::new(address.to_owned()),
        })
    }

    /// From now on the name resolves to `address`.
    pub fn move_to(&self, address: &str) {
        *self.address.lock().expect("the address") = address.to_owned();
    }
}

impl apikeys::keytest::HostResolver for MovingName {
    fn resolve<'a>(&'a self, host: &'a str) -> apikeys::keytest::Resolution<'a> {
        let address = self.address.lock().expect("the address").clone();
        let known = host == self.name;
        Box::pin(async move {
            match known {
                true => Ok(vec![address.parse().expect("an address")]),
                false => Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such name",
                )),
            }
        })
    }
}

/// A resolver for the example endpoints of `events/` and the docs
/// (`*.example.com`, `*.openai.azure.com`): each resolves to one public address,
/// every other name to nothing. The machine that runs the tests has no DNS, and a
/// store refuses an endpoint whose name does not resolve; nothing connects there.
#[derive(Debug, Default, Clone, Copy)]
pub struct ExampleNames;

/// The public address [`ExampleNames`] answers (example.com's).
pub const EXAMPLE_ADDRESS: &str = "93.184.215.14";

impl apikeys::keytest::HostResolver for ExampleNames {
    fn resolve<'a>(&'a self, host: &'a str) -> apikeys::keytest::Resolution<'a> {
        let known = [".example.com", ".openai.azure.com"]
            .iter()
            .any(|suffix| host.trim_end_matches('.').ends_with(suffix));
        Box::pin(async move {
            if known {
                Ok(vec![EXAMPLE_ADDRESS.parse().expect("an address")])
            } else {
                Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such name",
                ))
            }
        })
    }
}

/// A key tester with `settings` whose user-given endpoints resolve through
/// [`ExampleNames`].
pub fn example_tester(settings: apikeys::keytest::KeyTestSettings) -> apikeys::keytest::KeyTester {
    apikeys::keytest::KeyTester::with_resolver(settings, Arc::new(ExampleNames))
}
