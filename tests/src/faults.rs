//! Faults of the AWS services, injected where the SDK meets the wire: an HTTP client
//! that answers chosen calls itself (a throttle, a 5xx, a transaction cancelled by a
//! conflict), fails the connection, or answers after the attempt timeout, and sends
//! every other call to the emulator. The SDK sees what it would see from AWS, so its
//! retries, its timeouts and the functions' error answers are what is under test.
//! Faulted calls never reach the emulator: nothing a throttled call carried is applied.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;

/// What a faulted call gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 400 `ProvisionedThroughputExceededException` (DynamoDB) /
    /// `ThrottlingException` (Secrets Manager, KMS).
    Throttled,
    /// 400 `ThrottlingException` (DynamoDB's account-level throttle).
    Throttling,
    /// 500 `InternalServerError`.
    ServerError,
    /// 503 `ServiceUnavailable`.
    Unavailable,
    /// The connection is reset before an answer.
    Reset,
    /// The answer comes after the attempt timeout.
    Slow,
    /// 400 `TransactionCanceledException` with a `TransactionConflict` reason
    /// (TransactWriteItems only; other calls pass).
    Conflict,
}

impl Fault {
    /// Every kind, for a matrix.
    pub const ALL: [Fault; 7] = [
        Fault::Throttled,
        Fault::Throttling,
        Fault::ServerError,
        Fault::Unavailable,
        Fault::Reset,
        Fault::Slow,
        Fault::Conflict,
    ];

    fn answer(self, service: Service) -> Option<(u16, String)> {
        let (status, kind) = match (self, service) {
            (Fault::Throttled, Service::DynamoDb) => {
                (400, "ProvisionedThroughputExceededException")
            }
            (Fault::Throttled | Fault::Throttling, _) => (400, "ThrottlingException"),
            (Fault::ServerError, Service::Kms) => (500, "KMSInternalException"),
            (Fault::ServerError, Service::SecretsManager) => (500, "InternalServiceError"),
            (Fault::ServerError, _) => (500, "InternalServerError"),
            (Fault::Unavailable, _) => (503, "ServiceUnavailable"),
            (Fault::Conflict, _) => {
                let body = serde_json::json!({
                    "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                    "message": "Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict]",
                    "CancellationReasons": [{"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}],
                });
                return Some((400, body.to_string()));
            }
            (Fault::Reset | Fault::Slow, _) => return None,
        };
        let body = serde_json::json!({"__type": format!("com.amazonaws#{kind}"), "message": "injected fault"});
        Some((status, body.to_string()))
    }
}

/// The service a call goes to, from its `x-amz-target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// `DynamoDB_20120810.*`
    DynamoDb,
    /// `secretsmanager.*`
    SecretsManager,
    /// `TrentService.*`
    Kms,
    /// Anything else.
    Other,
}

/// The service and operation named by an `x-amz-target` header: the JSON protocols
/// of DynamoDB, Secrets Manager and KMS name the operation there
/// (`DynamoDB_20120810.UpdateItem`). Every interceptor of the tests reads it here.
pub fn target_of(target: Option<&str>) -> (Service, String) {
    let Some((prefix, operation)) = target.and_then(|t| t.split_once('.')) else {
        return (Service::Other, String::new());
    };
    let service = match prefix {
        "DynamoDB_20120810" => Service::DynamoDb,
        "secretsmanager" => Service::SecretsManager,
        "TrentService" => Service::Kms,
        _ => Service::Other,
    };
    (service, operation.to_owned())
}

/// Which calls fault.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The fault.
    pub fault: Fault,
    /// The service whose calls fault.
    pub service: Service,
    /// Only these operations (empty: every operation of the service).
    pub operations: Vec<String>,
    /// How many matching calls fault before the rest pass (`usize::MAX`: all).
    pub times: usize,
    /// Fault one matching call in this many (1: every one).
    pub one_in: usize,
    seen: usize,
}

impl Plan {
    /// Every call of `service` faults.
    pub fn always(fault: Fault, service: Service) -> Self {
        Self {
            fault,
            service,
            operations: Vec::new(),
            times: usize::MAX,
            one_in: 1,
            seen: 0,
        }
    }

    /// One call of `service` in `one_in` faults (the first, then every `one_in`-th).
    pub fn rate(fault: Fault, service: Service, one_in: usize) -> Self {
        Self {
            one_in: one_in.max(1),
            ..Self::always(fault, service)
        }
    }

    /// The first `times` calls of `service` fault, then the calls pass.
    pub fn first(fault: Fault, service: Service, times: usize) -> Self {
        Self {
            times,
            ..Self::always(fault, service)
        }
    }
}

/// The client: faults per the plan, everything else to `inner`.
#[derive(Clone)]
pub struct FaultyClient {
    inner: SharedHttpClient,
    plan: Arc<Mutex<Option<Plan>>>,
    faulted: Arc<AtomicUsize>,
    calls: Arc<Mutex<Vec<String>>>,
    /// How long a `Slow` answer takes.
    pub slow: Duration,
}

impl fmt::Debug for FaultyClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultyClient").finish_non_exhaustive()
    }
}

impl Default for FaultyClient {
    fn default() -> Self {
        Self::new()
    }
}

impl FaultyClient {
    /// A client of plain HTTP (the emulator's) with no fault planned.
    pub fn new() -> Self {
        Self {
            inner: aws_smithy_http_client::Builder::new().build_http(),
            plan: Arc::new(Mutex::new(None)),
            faulted: Arc::new(AtomicUsize::new(0)),
            calls: Arc::new(Mutex::new(Vec::new())),
            slow: Duration::from_secs(3),
        }
    }

    /// From now on, calls fault per `plan`.
    pub fn set(&self, plan: Plan) {
        *self.plan.lock().unwrap() = Some(plan);
        self.faulted.store(0, Ordering::SeqCst);
    }

    /// No more faults.
    pub fn clear(&self) {
        *self.plan.lock().unwrap() = None;
    }

    /// How many calls faulted since the plan was set.
    pub fn faulted(&self) -> usize {
        self.faulted.load(Ordering::SeqCst)
    }

    /// The operations sent since the last call (`DynamoDB_20120810.Query` →
    /// `Query`), every attempt, faulted or not.
    pub fn take_calls(&self) -> Vec<String> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }

    /// The fault for this call, when the plan has one left for it.
    fn fault_for(&self, request: &HttpRequest) -> Option<(Fault, Service)> {
        let (service, operation) = target_of(request.headers().get("x-amz-target"));
        self.calls.lock().unwrap().push(operation.clone());
        let mut plan = self.plan.lock().unwrap();
        let current = plan.as_mut()?;
        if service != current.service
            || (!current.operations.is_empty() && !current.operations.contains(&operation))
            || (current.fault == Fault::Conflict && operation != "TransactWriteItems")
            || current.times == 0
        {
            return None;
        }
        current.seen += 1;
        if (current.seen - 1) % current.one_in != 0 {
            return None;
        }
        current.times = current.times.saturating_sub(1);
        self.faulted.fetch_add(1, Ordering::SeqCst);
        Some((current.fault, service))
    }
}

impl HttpClient for FaultyClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(FaultyConnector {
            client: self.clone(),
            inner: self.inner.http_connector(settings, components),
        })
    }
}

#[derive(Debug)]
struct FaultyConnector {
    client: FaultyClient,
    inner: SharedHttpConnector,
}

impl HttpConnector for FaultyConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let Some((fault, service)) = self.client.fault_for(&request) else {
            return self.inner.call(request);
        };
        match fault {
            Fault::Reset => HttpConnectorFuture::ready(Err(ConnectorError::io(
                std::io::Error::from(std::io::ErrorKind::ConnectionReset).into(),
            ))),
            Fault::Slow => {
                // Held past the attempt timeout: the SDK gives up on this attempt.
                let slow = self.client.slow;
                let inner = self.inner.clone();
                HttpConnectorFuture::new(async move {
                    tokio::time::sleep(slow).await;
                    inner.call(request).await
                })
            }
            _ => {
                let (status, body) = fault.answer(service).expect("a fault with an answer");
                let mut response = Response::new(
                    StatusCode::try_from(status).expect("a status"),
                    SdkBody::from(body),
                );
                response
                    .headers_mut()
                    .insert("content-type", "application/x-amz-json-1.0");
                HttpConnectorFuture::ready(Ok(response))
            }
        }
    }
}
