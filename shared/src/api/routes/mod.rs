//! One file per route; each function's table (`api::store` and the others) names
//! which of these serves which (method, path).

pub(crate) mod delete_config;
pub(crate) mod keys;
pub(crate) mod list_configs;
pub(crate) mod providers;
pub(crate) mod update_settings;

#[cfg(all(feature = "sealing", feature = "keytest"))]
pub(crate) mod add_key;
#[cfg(all(feature = "sealing", feature = "keytest"))]
mod allowance;
#[cfg(all(feature = "sealing", feature = "keytest"))]
mod key_fields;
#[cfg(all(feature = "sealing", feature = "keytest"))]
mod store_checks;
#[cfg(all(feature = "sealing", feature = "keytest"))]
pub(crate) mod store_config;
#[cfg(all(feature = "sealing", feature = "keytest"))]
pub(crate) mod test_key;
#[cfg(all(feature = "sealing", feature = "keytest"))]
pub(crate) mod update_key;
