//! A provider's answer to a check and what it means for the key.

use serde_json::Value;

/// The answer of a provider to a check call, as the registry's readers see it.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    /// The HTTP status.
    pub status: u16,
    /// The body as JSON (`Null` when it is not JSON).
    pub body: &'a Value,
    /// The response headers, names in lower case.
    pub headers: &'a [(String, String)],
}

/// What an answer says about the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// The provider accepted the key.
    Valid,
    /// The provider refused the key (wrong, revoked, disabled).
    Invalid,
    /// The key authenticates, but its account has no credit or quota left.
    QuotaExceeded,
    /// The provider is rate limiting the key.
    RateLimited,
    /// The provider failed for now; asking again may help.
    Overloaded,
    /// The server has no such check path: the user's base URL is likely wrong.
    WrongEndpoint,
    /// An answer the provider does not document for this call.
    Unexpected,
}

impl Reading {
    /// The rules every provider shares: 2xx valid, 401/403 refused, 429 rate
    /// limited, 5xx failing for now, anything else unexpected.
    pub fn common(status: u16) -> Self {
        match status {
            200..=299 => Self::Valid,
            401 | 403 => Self::Invalid,
            429 => Self::RateLimited,
            500..=599 => Self::Overloaded,
            _ => Self::Unexpected,
        }
    }
}

impl Answer<'_> {
    /// What the provider's own reading says, else the common rules.
    pub fn read_with(&self, read: fn(&Answer<'_>) -> Option<Reading>) -> Reading {
        read(self).unwrap_or_else(|| Reading::common(self.status))
    }

    /// A response header by its lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.trim())
    }

    /// The provider's own words from an error body, if it has any: `error.message`,
    /// `error` as a string, `message` or `detail`.
    pub fn reason(&self) -> Option<&str> {
        let error = self.body.get("error");
        error
            .and_then(|e| e.get("message"))
            .and_then(Value::as_str)
            .or_else(|| error.and_then(Value::as_str))
            .or_else(|| self.body.get("message").and_then(Value::as_str))
            .or_else(|| self.body.get("detail").and_then(Value::as_str))
    }

    /// Whether the body carries this machine-readable error code (OpenAI-style
    /// `code`/`type`, Google `status` and `details[].reason`).
    pub fn has_code(&self, wanted: &str) -> bool {
        let error = self.body.get("error").unwrap_or(self.body);
        let direct = ["code", "type", "status"]
            .iter()
            .filter_map(|f| error.get(*f).and_then(Value::as_str))
            .any(|c| c == wanted);
        direct
            || error
                .get("details")
                .and_then(Value::as_array)
                .is_some_and(|details| {
                    details
                        .iter()
                        .filter_map(|d| d.get("reason").and_then(Value::as_str))
                        .any(|c| c == wanted)
                })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(status: u16, body: &Value) -> Answer<'_> {
        Answer {
            status,
            body,
            headers: &[],
        }
    }

    #[test]
    fn common_rules_cover_the_usual_statuses() {
        let cases = [
            (200, Reading::Valid),
            (204, Reading::Valid),
            (401, Reading::Invalid),
            (403, Reading::Invalid),
            (429, Reading::RateLimited),
            (500, Reading::Overloaded),
            (529, Reading::Overloaded),
            (400, Reading::Unexpected),
            (404, Reading::Unexpected),
        ];
        for (status, reading) in cases {
            assert_eq!(Reading::common(status), reading, "{status}");
        }
    }

    #[test]
    fn reasons_and_codes_are_found_where_providers_put_them() {
        let openai = json!({"error": {"message": "Incorrect API key", "code": "invalid_api_key"}});
        assert_eq!(answer(401, &openai).reason(), Some("Incorrect API key"));
        assert!(answer(401, &openai).has_code("invalid_api_key"));
        let mistral = json!({"detail": "Unauthorized"});
        assert_eq!(answer(401, &mistral).reason(), Some("Unauthorized"));
        let google = json!({"error": {"details": [{"reason": "API_KEY_INVALID"}]}});
        assert!(answer(400, &google).has_code("API_KEY_INVALID"));
        assert!(!answer(400, &google).has_code("OTHER"));
    }
}
