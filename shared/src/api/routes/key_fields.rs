//! The members of a key's body that the key routes share: `label` and `priority`.

use serde_json::Value;

use crate::api::edge::field_error::FieldError;

/// The most characters of a key's label.
pub const LABEL_MAX_CHARS: usize = 64;

/// The highest priority number accepted.
pub const PRIORITY_MAX: u32 = 1000;

/// A key's `label`: a string of at most [`LABEL_MAX_CHARS`] characters, no control
/// characters.
pub(crate) fn label(value: Option<&Value>) -> Result<Option<String>, FieldError> {
    match value {
        None => Ok(None),
        Some(Value::String(s))
            if s.chars().count() <= LABEL_MAX_CHARS && !s.chars().any(char::is_control) =>
        {
            Ok(Some(s.trim().to_owned()).filter(|s| !s.is_empty()))
        }
        Some(_) => Err(FieldError::new(
            "label",
            format!(
                "must be a string of at most {LABEL_MAX_CHARS} characters, no control characters"
            ),
        )),
    }
}

/// A key's `priority`: an integer from 0 to [`PRIORITY_MAX`]; 0 when absent.
pub(crate) fn priority(value: Option<&Value>) -> Result<u32, FieldError> {
    match value {
        None => Ok(0),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n <= PRIORITY_MAX)
            .ok_or_else(priority_rule),
        Some(_) => Err(priority_rule()),
    }
}

fn priority_rule() -> FieldError {
    FieldError::new(
        "priority",
        format!("must be an integer from 0 to {PRIORITY_MAX} (lower is tried first)"),
    )
}
