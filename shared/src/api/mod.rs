//! The HTTP API, in three parts:
//!
//! - [`edge`]: what every route shares — the wrapper that gives each the request id,
//!   identity check, audit line and error answer (`serve`), the body reader, the
//!   typed requests, the one error type and the responses with the security
//!   headers, and the router that matches a request against a route table.
//! - `routes`: one file per route, read top to bottom.
//! - one module per function ([`get_configs`], [`update_settings`],
//!   [`delete_config`], [`store`], [`test_key`]): its route table, which its `main`
//!   serves. The table is the one place that says which code serves which route.

pub mod edge;
mod routes;

pub mod delete_config;
pub mod get_configs;
#[cfg(all(feature = "sealing", feature = "keytest"))]
pub mod store;
#[cfg(all(feature = "sealing", feature = "keytest"))]
pub mod test_key;
pub mod update_settings;

pub use edge::body::MAX_BODY_BYTES;
pub use edge::error::ApiError;
#[cfg(feature = "sealing")]
pub(crate) use edge::error::KEY_MATERIAL_RETRY_AFTER_SECS;
pub use edge::error::TABLE_RETRY_AFTER_SECS;
pub use edge::field_error::FieldError;
pub use edge::identity::UserId;
pub use edge::request::UpdateSettingsRequest;
#[cfg(all(feature = "sealing", feature = "keytest"))]
pub use edge::request::{KeyToTest, StoreRequest, TestKeyRequest};
pub use edge::respond::{empty_response, json_response};
pub use edge::router::{KeyPath, PathParams, ProviderPath, Route};
pub use edge::serve::RequestMeta;

/// Every route of every function: (function, method, pattern), in table order. The
/// template test holds these against `template.yaml`, `infra/contract/openapi.yaml` and the
/// local API.
pub fn route_tables() -> Vec<(&'static str, String, &'static str)> {
    fn rows<S>(
        function: &'static str,
        table: &'static [Route<S>],
    ) -> Vec<(&'static str, String, &'static str)> {
        table
            .iter()
            .map(|r| (function, r.method.to_string(), r.pattern))
            .collect()
    }
    let mut all = Vec::new();
    all.extend(rows("get-configs", get_configs::ROUTES));
    all.extend(rows("update-settings", update_settings::ROUTES));
    all.extend(rows("delete-config", delete_config::ROUTES));
    #[cfg(all(feature = "sealing", feature = "keytest"))]
    {
        all.extend(rows("store", store::ROUTES));
        all.extend(rows("test-key", test_key::ROUTES));
    }
    all
}
