//! The answer's body as it streams from the provider: each chunk passed on as it
//! arrives (never the whole answer held), read for usage on the way, ended with an
//! error event when the provider stalls longer than the idle timeout, and the
//! call's spending written once when it ends. A caller that goes away drops the
//! body, which drops the provider's answer and so closes its connection; what was
//! counted until then is still written.

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use http::{HeaderValue, Response};
use http_body::Frame;
use http_body_util::StreamBody;
use time::OffsetDateTime;

use super::meter::{Meter, Tokens};
use super::{headers, CallInfo, Receipt};
use crate::domain::KeyBudget;
use crate::repo::{month_of, KeyTable, MonthTotal, Spent};

/// An error that ends a streamed body.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The frames of an answer's body.
pub type Frames = Pin<Box<dyn Stream<Item = Result<Frame<Bytes>, BoxError>> + Send>>;

/// The body of every proxy answer: streamed.
pub type ProxyBody = StreamBody<Frames>;

/// A body of these bytes, in one frame.
pub fn whole(bytes: Bytes) -> ProxyBody {
    StreamBody::new(Box::pin(futures_util::stream::once(async move {
        Ok(Frame::data(bytes))
    })))
}

/// The bytes of a body that is ready (the proxy's own answers), for tests.
#[cfg(test)]
pub(crate) fn whole_bytes(body: ProxyBody) -> Bytes {
    use futures_util::FutureExt;
    use http_body_util::BodyExt;
    body.collect()
        .now_or_never()
        .expect("a ready body")
        .expect("no error")
        .to_bytes()
}

/// What is written when the call ends.
/// Where a call's spending is counted.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Spend {
    /// On the user's key (the receipt's), against its budget if it has one.
    Key {
        /// The key's budget.
        budget: Option<KeyBudget>,
    },
    /// On the deployment's key: against the user's monthly allowance.
    Deployment,
}

struct End {
    repo: KeyTable,
    receipt: Receipt,
    info: CallInfo,
    status: u16,
    spend: Spend,
}

impl End {
    async fn finish(self, outcome: &str, tokens: Tokens) {
        if let Spend::Deployment = self.spend {
            let month = month_of(OffsetDateTime::now_utc());
            if let Err(e) = self
                .repo
                .add_deployment_tokens(
                    &self.info.user,
                    &month,
                    tokens.input.saturating_add(tokens.output),
                )
                .await
            {
                tracing::error!(
                    request_id = self.info.request_id.as_str(),
                    error = %e,
                    "a call on the deployment's key could not be counted"
                );
            }
        } else if let Some(key_id) = &self.receipt.key_id {
            let spent = Spent {
                requests: 1,
                input_tokens: tokens.input,
                output_tokens: tokens.output,
            };
            let month = month_of(OffsetDateTime::now_utc());
            match self
                .repo
                .record_spending(&self.info.user, self.info.provider, key_id, &month, spent)
                .await
            {
                Ok(Some(total)) => self.alert(key_id, &total).await,
                Ok(None) => {}
                Err(e) => tracing::error!(
                    request_id = self.info.request_id.as_str(),
                    error = %e,
                    "a proxied call's usage could not be recorded"
                ),
            }
        }
        self.info.audit(
            outcome,
            self.status,
            &self.receipt,
            tokens.input,
            tokens.output,
        );
    }
}

impl End {
    /// The budget alert, once a month, when this call took the key's month to its
    /// `alertAt` share.
    async fn alert(&self, key_id: &str, total: &MonthTotal) {
        let Spend::Key {
            budget: Some(budget),
        } = self.spend
        else {
            return;
        };
        // Less a hair: 100 × 0.07 is 7.000000000000001 in floating point.
        let threshold = (budget.monthly_tokens as f64 * budget.alert_at - 1e-9).ceil() as u64;
        if total.spent.tokens() < threshold {
            return;
        }
        match self
            .repo
            .note_budget_alert(&self.info.user, self.info.provider, key_id, &total.month)
            .await
        {
            Ok(true) => tracing::info!(
                target: "apikeys::audit",
                event = "api_key.budget_alert",
                outcome = "success",
                user_id = self.info.user.as_str(),
                provider = self.info.provider.as_str(),
                key_id,
                month = total.month.as_str(),
                tokens = total.spent.tokens(),
                monthly_tokens = budget.monthly_tokens,
                alert_at = budget.alert_at,
                request_id = self.info.request_id.as_str(),
            ),
            Ok(false) => {}
            Err(e) => tracing::error!(
                request_id = self.info.request_id.as_str(),
                error = %e,
                "a budget alert could not be noted"
            ),
        }
    }
}

struct Relay {
    answer: reqwest::Response,
    idle: Duration,
    meter: Meter,
    sse: bool,
    end: Option<End>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        // The caller went away before the end: the provider's connection closes with
        // `answer`; what was counted is written in the background.
        if let Some(end) = self.end.take() {
            let tokens = self.meter.so_far();
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(end.finish("client_disconnected", tokens));
            } else {
                end.info.audit(
                    "client_disconnected",
                    end.status,
                    &end.receipt,
                    tokens.input,
                    tokens.output,
                );
            }
        }
    }
}

/// The error event that ends a stream the provider broke off or stalled.
fn error_event(message: &str) -> Bytes {
    let data = serde_json::json!({
        "type": "error",
        "error": {"type": "apikeys_upstream_error", "message": message},
    });
    Bytes::from(format!("event: error\ndata: {data}\n\n"))
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Broken(&'static str);

/// The answer to the caller: the provider's status and headers (less those that
/// stay behind), the receipt, and the body streamed.
pub(crate) fn stream(
    answer: reqwest::Response,
    repo: KeyTable,
    idle: Duration,
    receipt: Receipt,
    info: CallInfo,
    spend: Spend,
) -> Response<ProxyBody> {
    let status = answer.status();
    let mut out_headers = headers::to_caller(answer.headers());
    receipt.write(&mut out_headers);
    let content_type = answer
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let meter = Meter::new(content_type);
    let sse = content_type.is_some_and(|t| t.trim().starts_with("text/event-stream"));
    if sse {
        // Intermediaries must not buffer an event stream.
        out_headers.insert("cache-control", HeaderValue::from_static("no-cache"));
    }
    let relay = Relay {
        answer,
        idle,
        meter,
        sse,
        end: Some(End {
            repo,
            receipt,
            info,
            status: status.as_u16(),
            spend,
        }),
    };
    let frames = futures_util::stream::unfold(relay, |mut relay| async move {
        relay.end.as_ref()?;
        let broken = match tokio::time::timeout(relay.idle, relay.answer.chunk()).await {
            Ok(Ok(Some(chunk))) => {
                relay.meter.feed(&chunk);
                return Some((Ok(Frame::data(chunk)), relay));
            }
            Ok(Ok(None)) => {
                let tokens = relay.meter.finish();
                if let Some(end) = relay.end.take() {
                    // Spawned, then awaited: a caller that leaves now cannot cut the
                    // write short.
                    let _ = tokio::spawn(end.finish("completed", tokens)).await;
                }
                return None;
            }
            Ok(Err(_)) => ("upstream_broken", "the provider's answer broke off"),
            Err(_) => (
                "upstream_idle_timeout",
                "the provider sent nothing for longer than the proxy waits",
            ),
        };
        let tokens = relay.meter.so_far();
        if let Some(end) = relay.end.take() {
            // As at the end: a caller that leaves now cannot cut the write short.
            let _ = tokio::spawn(end.finish(broken.0, tokens)).await;
        }
        let item = if relay.sse {
            Ok(Frame::data(error_event(broken.1)))
        } else {
            Err(Box::new(Broken(broken.1)) as BoxError)
        };
        Some((item, relay))
    });
    let mut out = Response::new(StreamBody::new(Box::pin(frames) as Frames));
    *out.status_mut() = status;
    *out.headers_mut() = out_headers;
    out
}
