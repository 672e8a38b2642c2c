//! How a place inside a JSON body is named to a client: `settings.a[2].b`.

use std::fmt;

/// A path from the body's root to one value, as a client reads it: `.name` for a
/// member whose name is a plain identifier, `["odd name"]` otherwise, `[i]` for an
/// array element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath(String);

impl JsonPath {
    /// The top-level member `name` (e.g. `settings`).
    pub fn member(name: &str) -> Self {
        Self(name.to_owned())
    }

    /// The member `name` of the object at this path.
    pub fn key(&self, name: &str) -> Self {
        let plain = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if plain {
            Self(format!("{}.{name}", self.0))
        } else {
            let quoted = serde_json::to_string(name).unwrap_or_else(|_| "\"?\"".to_owned());
            Self(format!("{}[{quoted}]", self.0))
        }
    }

    /// The element `index` of the array at this path.
    pub fn index(&self, index: usize) -> Self {
        Self(format!("{}[{index}]", self.0))
    }

    /// The path as text.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_as_a_client_writes_them() {
        let settings = JsonPath::member("settings");
        assert_eq!(settings.key("t").to_string(), "settings.t");
        assert_eq!(
            settings.key("a").index(2).key("b").to_string(),
            "settings.a[2].b"
        );
        assert_eq!(
            settings.key("odd name").to_string(),
            "settings[\"odd name\"]"
        );
        assert_eq!(settings.key("").to_string(), "settings[\"\"]");
    }
}
