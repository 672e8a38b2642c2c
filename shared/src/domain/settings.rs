//! The user's settings for a provider: a JSON object of bounded size and depth whose
//! numbers DynamoDB can store.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::json_path::JsonPath;
use super::number::check_number_value;

/// Largest settings object, serialized.
pub const SETTINGS_MAX_BYTES: usize = 4 * 1024;
/// Deepest nesting of the settings object (the object itself is depth 1).
pub const SETTINGS_MAX_DEPTH: usize = 8;

/// A user's settings for a provider: a JSON object of bounded size and depth.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Settings(Map<String, Value>);

/// Why settings were refused, and where: `settings` itself or a value inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    /// Where, e.g. `settings` or `settings.a[2].b`.
    pub path: String,
    /// What is wrong there; never repeats the value.
    pub message: String,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.path, self.message)
    }
}

impl std::error::Error for SettingsError {}

impl Settings {
    /// Checks that `value` is an object within [`SETTINGS_MAX_BYTES`] and
    /// [`SETTINGS_MAX_DEPTH`] whose numbers fit DynamoDB's number type.
    pub fn parse(value: Value) -> Result<Self, SettingsError> {
        let root = JsonPath::member("settings");
        let whole = |message: String| SettingsError {
            path: root.to_string(),
            message,
        };
        let Value::Object(map) = value else {
            return Err(whole("must be a JSON object".into()));
        };
        let depth = 1 + map.values().map(depth_of).max().unwrap_or(0);
        if depth > SETTINGS_MAX_DEPTH {
            return Err(whole(format!(
                "must be nested at most {SETTINGS_MAX_DEPTH} levels deep"
            )));
        }
        let size = serde_json::to_vec(&map)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > SETTINGS_MAX_BYTES {
            return Err(whole(format!(
                "must be at most {SETTINGS_MAX_BYTES} bytes serialized"
            )));
        }
        for (name, value) in &map {
            unstorable_number(value, root.key(name))?;
        }
        Ok(Self(map))
    }

    /// The settings object.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }
}

fn depth_of(value: &Value) -> usize {
    match value {
        Value::Object(map) => 1 + map.values().map(depth_of).max().unwrap_or(0),
        Value::Array(items) => 1 + items.iter().map(depth_of).max().unwrap_or(0),
        _ => 0,
    }
}

/// The first number under `value` that DynamoDB would refuse once written.
fn unstorable_number(value: &Value, path: JsonPath) -> Result<(), SettingsError> {
    match value {
        // Integers that fit 64 bits are always storable; other numbers became `f64`.
        Value::Number(n) => match n.as_f64() {
            Some(float) if n.is_f64() => {
                check_number_value(float).map_err(|problem| SettingsError {
                    path: path.into_string(),
                    message: problem.message().to_owned(),
                })
            }
            _ => Ok(()),
        },
        Value::Object(map) => map
            .iter()
            .try_for_each(|(name, v)| unstorable_number(v, path.key(name))),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| unstorable_number(v, path.index(i))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn settings_are_bounded_in_size_and_depth() {
        assert!(Settings::parse(json!({"model": "gpt-4o", "temperature": 0.2})).is_ok());
        assert!(Settings::parse(json!([1, 2])).is_err());
        assert!(Settings::parse(json!({"a": "x".repeat(4100)})).is_err());
        let mut deep = json!(1);
        for _ in 0..8 {
            deep = json!({ "n": deep });
        }
        assert!(Settings::parse(deep.clone()).is_ok());
        assert!(Settings::parse(json!({ "n": deep })).is_err());
    }

    #[test]
    fn a_number_dynamodb_refuses_is_named_by_its_path() {
        let refused = |value: Value| Settings::parse(value).unwrap_err().path;
        assert_eq!(refused(json!({"t": 1e200})), "settings.t");
        assert_eq!(refused(json!({"t": -1e-200})), "settings.t");
        assert_eq!(
            refused(json!({"a": [0, 1, {"b": 1e126}]})),
            "settings.a[2].b"
        );
        assert!(Settings::parse(json!({"t": 9.99e125, "u": 1e-130, "v": u64::MAX})).is_ok());
    }
}
