//! The audit trail of one request: filled in by the route as it learns who and
//! what, written once by `serve` with the outcome.

use super::identity::UserId;
use crate::provider::ProviderId;

/// Who did what to which provider's key, and how it ended.
#[derive(Debug)]
pub(crate) struct Audit {
    event: &'static str,
    user_id: Option<String>,
    provider: Option<ProviderId>,
    key_status: Option<&'static str>,
}

impl Audit {
    /// A trail that starts as `event` (what was asked, e.g. `api_key.store`).
    pub(crate) fn new(event: &'static str) -> Self {
        Self {
            event,
            user_id: None,
            provider: None,
            key_status: None,
        }
    }

    /// What happened, once known (e.g. `api_key.stored`).
    pub(crate) fn event(&mut self, event: &'static str) {
        self.event = event;
    }

    /// The authenticated user.
    pub(crate) fn user(&mut self, user: &UserId) {
        self.user_id = Some(user.as_str().to_owned());
    }

    /// The provider the request is about.
    pub(crate) fn provider(&mut self, provider: ProviderId) {
        self.provider = Some(provider);
    }

    /// The outcome of a key test.
    #[cfg(all(feature = "sealing", feature = "keytest"))]
    pub(crate) fn key_status(&mut self, status: &'static str) {
        self.key_status = Some(status);
    }

    /// Writes the audit line of a request that was answered `status`.
    pub(crate) fn write(&self, status: u16, request_id: &str) {
        let outcome = if status < 400 { "success" } else { "failure" };
        tracing::info!(
            target: "apikeys::audit",
            event = self.event,
            outcome,
            status,
            user_id = self.user_id.as_deref().unwrap_or(""),
            provider = self.provider.map(ProviderId::as_str).unwrap_or(""),
            key_status = self.key_status.unwrap_or(""),
            request_id,
        );
    }
}
