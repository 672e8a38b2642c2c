//! What the vault stores and shows, in the product's words: the API key as pasted,
//! its masked hint, the user's settings, the stored item and the `config` view.
//!
//! Nothing here knows HTTP or DynamoDB clients: the API parses requests into these
//! types, the repository hands back [`ProviderKey`]s built from its rows, and the
//! rules of which key is used first live here, for storage to call.

mod api_key;
mod json_path;
mod key;
mod number;
mod settings;
mod timestamp;
mod view;

pub use api_key::{ApiKey, KeyHint, API_KEY_MAX_CHARS, API_KEY_MIN_CHARS};
pub use json_path::JsonPath;
pub use key::{
    month_of, next_month_ms, sort_keys, KeyBudget, MonthUsage, ProviderKey, Refusal,
    BUDGET_EXHAUSTED, DEFAULT_BUDGET_ALERT_AT,
};
pub use number::{check_number_text, check_number_value, NumberProblem, NUMBER_MAX_DIGITS};
pub use settings::{Settings, SettingsError, SETTINGS_MAX_BYTES, SETTINGS_MAX_DEPTH};
pub use timestamp::timestamp;
pub use view::{KeySummary, KeyView, ProviderConfig};
