//! The HTTP edge: who asks, what they sent (typed requests), one error type and one
//! place that turns results into responses with the security headers.
//!
//! Each route is one file that reads top to bottom; one wrapper (`serve`) gives
//! every route the same request id, identity check, audit line and error answer.

#[cfg(all(feature = "sealing", feature = "keytest"))]
mod allowance;
mod audit;
mod body;
mod error;
mod field_error;
mod identity;
mod json_numbers;
#[cfg(all(feature = "sealing", feature = "keytest"))]
mod key_fields;
mod request;
mod respond;
mod serve;
#[cfg(all(feature = "sealing", feature = "keytest"))]
mod store_checks;

#[cfg(all(feature = "sealing", feature = "keytest"))]
pub mod add_key;
pub mod delete_config;
pub mod get_configs;
pub mod keys;
#[cfg(all(feature = "sealing", feature = "keytest"))]
pub mod store;
#[cfg(all(feature = "sealing", feature = "keytest"))]
pub mod test_key;
#[cfg(all(feature = "sealing", feature = "keytest"))]
pub mod update_key;
pub mod update_settings;

pub use body::MAX_BODY_BYTES;
pub use error::ApiError;
#[cfg(feature = "sealing")]
pub(crate) use error::KEY_MATERIAL_RETRY_AFTER_SECS;
pub use field_error::FieldError;
pub use identity::UserId;
pub use request::{DeleteConfigRequest, UpdateSettingsRequest};
#[cfg(all(feature = "sealing", feature = "keytest"))]
pub use request::{KeyToTest, StoreRequest, TestKeyRequest};
pub use respond::{empty_response, json_response};
pub use serve::RequestMeta;
