//! Zero-token checks of provider keys: per provider, one call that really
//! authenticates and costs nothing, read into a typed outcome a person can act on.
//! What to call and how to read the answer come from the provider registry.
//!
//! - [`tester`]: [`KeyTester`]: the shape check, the target, the guard; `retry`: the
//!   attempts inside one time budget.
//! - [`outcome`]: [`KeyStatus`], [`KeyTestResult`] and the reading of answers.
//! - [`settings`]: [`KeyTestSettings`] from the environment.
//! - [`endpoint`]: user-given endpoints ([`Endpoint`]) and their validation.
//! - [`ssrf`]: the guard that resolves and checks a user-given host before a call.
//! - [`scrub`](mod@scrub): keys out of messages.
//!
//! A request's `endpoint` object goes through [`KeyTester::parse_endpoint`] (field
//! errors such as `endpoint.baseUrl`, for a 400); [`Endpoint::to_json`] is what is
//! stored and returned, and parsing it again reads it back. [`KeyTester::test_with`]
//! takes the optional key and endpoint; its [`EndpointError`] (an endpoint the guard
//! refuses, or one the provider needs and nobody gave) is a 400 naming its field.

pub mod endpoint;
pub mod outcome;
mod request;
mod retry;
pub mod scrub;
pub mod settings;
pub mod ssrf;
pub mod tester;

pub use endpoint::{Endpoint, EndpointFieldError};
pub use outcome::{KeyStatus, KeyTestResult, MAX_HONOURED_RETRY_AFTER};
pub use scrub::scrub;
pub use settings::{
    base_url_variable, KeyTestConfigError, KeyTestSettings, ALLOW_LOOPBACK_ENDPOINTS,
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_TOTAL_TIMEOUT,
};
pub use ssrf::{HostResolver, Resolution, SystemResolver};
pub use tester::KeyTester;

/// Retries after the first attempt, for connection errors, timeouts and 5xx.
pub const MAX_RETRIES: u32 = 2;
/// Largest provider answer read.
const MAX_ANSWER_BYTES: usize = 16 * 1024;
/// The Azure OpenAI API version used with an operator-configured Azure endpoint
/// (`APIKEYS_AZURE_OPENAI_BASE_URL`) when the user gives none.
pub const DEFAULT_AZURE_API_VERSION: &str = "2024-10-21";

/// A user-given endpoint that cannot be used, or a missing one the provider needs:
/// a 400 naming the field, decided before any connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {reason}")]
pub struct EndpointError {
    /// The request field, e.g. `endpoint.baseUrl`.
    pub field: &'static str,
    /// Why, without the URL or what it resolved to.
    pub reason: String,
}
