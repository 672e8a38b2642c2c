//! What the proxy tells of a call: the receipt headers every answer carries (the key
//! used, the keys skipped and why, whose key it was) and the one audit line.

use std::time::Instant;

use http::{HeaderMap, HeaderValue};

use super::{headers, Operation};
use crate::provider::ProviderId;

/// A key skipped, and why.
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    pub(crate) key_id: String,
    pub(crate) reason: &'static str,
}

/// What the proxy says of a call's keys.
#[derive(Debug, Clone, Default)]
pub(crate) struct Receipt {
    pub(crate) key_id: Option<String>,
    pub(crate) key_hint: Option<String>,
    pub(crate) attempts: Vec<Attempt>,
    /// `deployment` when the deployment's own key made the call.
    pub(crate) deployment: bool,
}

impl Receipt {
    pub(crate) fn attempts_text(&self) -> String {
        self.attempts
            .iter()
            .map(|a| format!("{}:{}", a.key_id, a.reason))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub(crate) fn write(&self, headers: &mut HeaderMap) {
        let value = |v: &str| headers::text_value(v);
        headers.insert(
            "x-apikeys-key-id",
            value(self.key_id.as_deref().unwrap_or("")),
        );
        headers.insert(
            "x-apikeys-key-hint",
            value(self.key_hint.as_deref().unwrap_or("")),
        );
        headers.insert("x-apikeys-attempts", value(&self.attempts_text()));
        headers.insert(
            "x-apikeys-key-source",
            HeaderValue::from_static(self.source()),
        );
    }

    pub(crate) fn source(&self) -> &'static str {
        if self.deployment {
            "deployment"
        } else {
            "user"
        }
    }
}

/// What one call is about, for the audit line.
pub(crate) struct CallInfo {
    pub(crate) user: String,
    pub(crate) provider: ProviderId,
    pub(crate) operation: Operation,
    pub(crate) model: String,
    pub(crate) request_id: String,
    pub(crate) started: Instant,
    /// When the key to call with was in hand (opened), then when the provider's
    /// answer began: where a call's time to first byte goes.
    pub(crate) key_ready: Option<Instant>,
    pub(crate) upstream_began: Option<Instant>,
}

impl CallInfo {
    /// A copy for what follows once the call has been handed to the body.
    pub(crate) fn again(&self) -> Self {
        Self {
            user: self.user.clone(),
            provider: self.provider,
            operation: self.operation,
            model: self.model.clone(),
            request_id: self.request_id.clone(),
            started: self.started,
            key_ready: self.key_ready,
            upstream_began: self.upstream_began,
        }
    }

    /// The one audit line of a call (never a prompt, a completion or a key).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn audit(
        &self,
        outcome: &str,
        status: u16,
        receipt: &Receipt,
        input_tokens: u64,
        output_tokens: u64,
    ) {
        tracing::info!(
            target: "apikeys::audit",
            event = "proxy.call",
            outcome,
            user_id = self.user.as_str(),
            provider = self.provider.as_str(),
            operation = self.operation.as_str(),
            model = self.model.as_str(),
            key_id = receipt.key_id.as_deref().unwrap_or(""),
            key_source = receipt.source(),
            status,
            input_tokens,
            output_tokens,
            attempts = receipt.attempts_text().as_str(),
            latency_ms = self.started.elapsed().as_millis() as u64,
            key_us = self.key_ready.map_or(0, |t| (t - self.started).as_micros() as u64),
            first_byte_us = self
                .upstream_began
                .map_or(0, |t| (t - self.started).as_micros() as u64),
            request_id = self.request_id.as_str(),
        );
    }
}
