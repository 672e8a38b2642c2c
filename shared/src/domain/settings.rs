//! The user's settings for a provider: a JSON object of bounded size and depth.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Largest settings object, serialized.
pub const SETTINGS_MAX_BYTES: usize = 4 * 1024;
/// Deepest nesting of the settings object (the object itself is depth 1).
pub const SETTINGS_MAX_DEPTH: usize = 8;

/// A user's settings for a provider: a JSON object of bounded size and depth.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Settings(Map<String, Value>);

impl Settings {
    /// Checks that `value` is an object within [`SETTINGS_MAX_BYTES`] and
    /// [`SETTINGS_MAX_DEPTH`].
    pub fn parse(value: Value) -> Result<Self, String> {
        let Value::Object(map) = value else {
            return Err("must be a JSON object".into());
        };
        let depth = 1 + map.values().map(depth_of).max().unwrap_or(0);
        if depth > SETTINGS_MAX_DEPTH {
            return Err(format!(
                "must be nested at most {SETTINGS_MAX_DEPTH} levels deep"
            ));
        }
        let size = serde_json::to_vec(&map)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > SETTINGS_MAX_BYTES {
            return Err(format!(
                "must be at most {SETTINGS_MAX_BYTES} bytes serialized"
            ));
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
}
