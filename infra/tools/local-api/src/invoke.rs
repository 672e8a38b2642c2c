//! Invoking a function that `cargo lambda watch` serves, through the Lambda `Invoke`
//! API it emulates: `POST {base}/2015-03-31/functions/{name}/invocations` with the
//! event as body; the body of a 200 is the function's output.

use std::time::Duration;

use serde_json::Value;

/// Why an invocation produced no output.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// Nothing answers at the invoke address (the watcher is not running).
    #[error("nothing answers at {0}; is `cargo lambda watch` running there?")]
    Unreachable(String),
    /// No answer in time.
    #[error("the function did not answer within {0:?}")]
    Timeout(Duration),
    /// The function failed (an error instead of an output), or the watcher refused.
    #[error("the invocation failed with status {status}: {detail}")]
    Failed {
        /// The status of the invoke answer.
        status: u16,
        /// What the watcher said (its error type or first bytes).
        detail: String,
    },
}

/// A client of the watcher's invoke API.
#[derive(Debug, Clone)]
pub struct Invoker {
    client: reqwest::Client,
    base: String,
    timeout: Duration,
}

impl Invoker {
    /// Invokes at `base` (e.g. `http://127.0.0.1:9000`), waiting up to `timeout` (the
    /// watcher builds a function on its first invocation).
    pub fn new(client: reqwest::Client, base: &str, timeout: Duration) -> Self {
        Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
            timeout,
        }
    }

    /// The invoke address.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Invokes `function` with `event`; its output.
    pub async fn invoke(&self, function: &str, event: &Value) -> Result<Vec<u8>, InvokeError> {
        let url = format!("{}/2015-03-31/functions/{function}/invocations", self.base);
        let response = self
            .client
            .post(&url)
            .timeout(self.timeout)
            .header("content-type", "application/json")
            .body(event.to_string())
            .send()
            .await
            .map_err(|e| self.transport(&e))?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|e| self.transport(&e))?;
        if status != 200 {
            return Err(InvokeError::Failed {
                status,
                detail: detail(&body),
            });
        }
        Ok(body.to_vec())
    }

    /// Invokes `function`, a function that streams its answer, with `event`: the
    /// watcher's answer with the function's status and headers (from its streaming
    /// prelude) and its body still streaming. No overall timeout: an answer streams
    /// for as long as the function writes (the function bounds its own waits).
    pub async fn invoke_streaming(
        &self,
        function: &str,
        event: &Value,
    ) -> Result<reqwest::Response, InvokeError> {
        let url = format!("{}/2015-03-31/functions/{function}/invocations", self.base);
        let response = self
            .client
            .post(&url)
            .header("content-type", "application/json")
            .body(event.to_string())
            .send()
            .await
            .map_err(|e| self.transport(&e))?;
        let streamed = response
            .headers()
            .get("lambda-runtime-function-response-mode")
            .is_some_and(|v| v == "streaming");
        if !streamed {
            let status = response.status().as_u16();
            let body = response.bytes().await.map_err(|e| self.transport(&e))?;
            return Err(InvokeError::Failed {
                status,
                detail: detail(&body),
            });
        }
        Ok(response)
    }

    fn transport(&self, error: &reqwest::Error) -> InvokeError {
        if error.is_timeout() {
            InvokeError::Timeout(self.timeout)
        } else {
            InvokeError::Unreachable(self.base.clone())
        }
    }
}

/// The error type of a Lambda error answer, or its first bytes: enough to find it in
/// the watcher's log, short enough for a log line.
fn detail(body: &[u8]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    if let Some(kind) = parsed
        .as_ref()
        .and_then(|v| v.get("errorType").or_else(|| v.get("title")))
        .and_then(Value::as_str)
    {
        return kind.to_owned();
    }
    String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned()
}
