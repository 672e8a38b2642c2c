//! The members of a key's body that the key routes share: `label`, `priority` and
//! `budget`.

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

/// The largest monthly token budget accepted (a trillion).
pub const BUDGET_MAX_TOKENS: u64 = 1_000_000_000_000;

/// A key's `budget`: `null` (none) or `{monthlyTokens, alertAt?}`, `monthlyTokens` an
/// integer from 1 to [`BUDGET_MAX_TOKENS`], `alertAt` a number above 0 and at most 1
/// (0.8 when absent). The member at fault is named.
pub(crate) fn budget(
    value: Option<&Value>,
) -> Result<Option<crate::domain::KeyBudget>, FieldError> {
    let object = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(object)) => object,
        Some(_) => {
            return Err(FieldError::new(
                "budget",
                "must be an object {monthlyTokens, alertAt?} or null",
            ))
        }
    };
    if let Some(other) = object
        .keys()
        .find(|k| !matches!(k.as_str(), "monthlyTokens" | "alertAt"))
    {
        return Err(FieldError::new(
            "budget",
            format!("has an unknown member {other:?}: only monthlyTokens and alertAt"),
        ));
    }
    let monthly_tokens = object
        .get("monthlyTokens")
        .and_then(Value::as_u64)
        .filter(|n| (1..=BUDGET_MAX_TOKENS).contains(n))
        .ok_or_else(|| {
            FieldError::new(
                "budget.monthlyTokens",
                format!("must be an integer from 1 to {BUDGET_MAX_TOKENS}"),
            )
        })?;
    let alert_at = match object.get("alertAt") {
        None | Some(Value::Null) => crate::domain::DEFAULT_BUDGET_ALERT_AT,
        Some(v) => v
            .as_f64()
            .filter(|a| *a > 0.0 && *a <= 1.0)
            .ok_or_else(|| {
                FieldError::new("budget.alertAt", "must be a number above 0 and at most 1")
            })?,
    };
    Ok(Some(crate::domain::KeyBudget {
        monthly_tokens,
        alert_at,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_budget_is_checked_member_by_member() {
        let b = budget(Some(&json!({"monthlyTokens": 1000})))
            .unwrap()
            .unwrap();
        assert_eq!(b.monthly_tokens, 1000);
        assert_eq!(b.alert_at, 0.8);
        assert_eq!(budget(Some(&Value::Null)).unwrap(), None);
        for (value, field) in [
            (json!(5), "budget"),
            (json!({"monthlyTokens": 0}), "budget.monthlyTokens"),
            (json!({"monthlyTokens": 1.5}), "budget.monthlyTokens"),
            (json!({"monthlyTokens": 10, "alertAt": 0}), "budget.alertAt"),
            (
                json!({"monthlyTokens": 10, "alertAt": 1.5}),
                "budget.alertAt",
            ),
            (json!({"monthlyTokens": 10, "tokens": 1}), "budget"),
        ] {
            assert_eq!(budget(Some(&value)).unwrap_err().field, field, "{value}");
        }
    }
}
