//! Deterministic races: an SDK interceptor that holds one DynamoDB request of a
//! chosen operation just before it is sent, until the test lets it go. The test
//! starts an operation, waits until it is held between its read and its write, runs
//! a second operation to the end, then releases the first.
//!
//! Interceptors are synchronous, so the held request blocks its thread: run such
//! tests on a multi-threaded runtime (`#[tokio::test(flavor = "multi_thread")]`)
//! and spawn the operation that is held.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;

/// The longest a request is held: a test that forgets to release fails instead of
/// hanging.
const HOLD_AT_MOST: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
struct Gate {
    /// The operation to hold and how many of its requests pass first.
    armed: Option<(String, usize)>,
    /// A request is held now.
    held: bool,
    /// The test let it go.
    released: bool,
}

/// Holds the n-th request of one DynamoDB operation (see the module).
#[derive(Debug, Clone, Default)]
pub struct PauseBefore(Arc<(Mutex<Gate>, Condvar)>);

impl PauseBefore {
    /// Holds the request of `operation` (`"TransactWriteItems"`, `"UpdateItem"`, …)
    /// that comes after `skip` others of it.
    pub fn arm(&self, operation: &str, skip: usize) {
        let mut gate = self.0 .0.lock().unwrap();
        *gate = Gate {
            armed: Some((operation.to_owned(), skip)),
            ..Gate::default()
        };
    }

    /// Waits until a request is held; panics after a minute.
    pub async fn reached(&self) {
        for _ in 0..6000 {
            if self.0 .0.lock().unwrap().held {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no request reached the pause");
    }

    /// Lets the held request (and every later one) go.
    pub fn release(&self) {
        let (lock, wake) = &*self.0;
        lock.lock().unwrap().released = true;
        wake.notify_all();
    }
}

impl Intercept for PauseBefore {
    fn name(&self) -> &'static str {
        "PauseBefore"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (_, operation) =
            crate::faults::target_of(context.request().headers().get("x-amz-target"));
        let (lock, wake) = &*self.0;
        let mut gate = lock.lock().unwrap();
        match &mut gate.armed {
            Some((name, skip)) if *name == operation => {
                if *skip > 0 {
                    *skip -= 1;
                    return Ok(());
                }
                gate.armed = None;
            }
            _ => return Ok(()),
        }
        gate.held = true;
        let wait = move || {
            let (gate, timeout) = wake
                .wait_timeout_while(gate, HOLD_AT_MOST, |g| !g.released)
                .unwrap();
            drop(gate);
            timeout.timed_out()
        };
        // Blocking a runtime worker would strand the tasks queued on it (the shared
        // HTTP client's connections among them): hand them to another thread first.
        let multi_threaded = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        let timed_out = if multi_threaded {
            tokio::task::block_in_place(wait)
        } else {
            wait()
        };
        if timed_out {
            return Err("a paused request was never released".into());
        }
        Ok(())
    }
}
