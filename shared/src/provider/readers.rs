//! The provider-specific readings of check answers, named by the registry entries.
//! Each one speaks only of the cases its provider documents differently from the
//! common rules (2xx valid, 401/403 invalid, 429 rate limited, 5xx retry).

use serde_json::Value;

use super::answer::{Answer, Reading};

/// No provider-specific case: the common rules decide.
pub fn common(_: &Answer<'_>) -> Option<Reading> {
    None
}

/// OpenAI answers 429 both for rate limits and for an exhausted quota; the code
/// `insufficient_quota` tells them apart.
pub fn openai(a: &Answer<'_>) -> Option<Reading> {
    (a.status == 429 && a.has_code("insufficient_quota")).then_some(Reading::QuotaExceeded)
}

/// Gemini refuses a wrong key with 400 `API_KEY_INVALID`, not 401.
pub fn gemini(a: &Answer<'_>) -> Option<Reading> {
    let invalid = a.has_code("API_KEY_INVALID")
        || a.reason().is_some_and(|r| r.contains("API key not valid"));
    (a.status == 400 && invalid).then_some(Reading::Invalid)
}

/// xAI refuses a wrong key with 400.
pub fn xai(a: &Answer<'_>) -> Option<Reading> {
    (a.status == 400).then_some(Reading::Invalid)
}

/// 402 Payment Required means the account has no credit left (OpenRouter,
/// Mistral, Together, Cohere).
pub fn payment_required(a: &Answer<'_>) -> Option<Reading> {
    (a.status == 402).then_some(Reading::QuotaExceeded)
}

/// GitHub answers 403 (or 429) to a valid token whose rate limit is used up, and
/// says so with `x-ratelimit-remaining: 0`; any other 403 stays a refusal.
pub fn github(a: &Answer<'_>) -> Option<Reading> {
    let exhausted = a.header("x-ratelimit-remaining") == Some("0");
    (matches!(a.status, 403 | 429) && exhausted).then_some(Reading::RateLimited)
}

/// DeepSeek's balance call answers 200 to any valid key; `is_available: false` or
/// a zero balance means the key cannot be used. 402 is "Insufficient Balance".
pub fn deepseek(a: &Answer<'_>) -> Option<Reading> {
    if a.status == 402 {
        return Some(Reading::QuotaExceeded);
    }
    if !(200..300).contains(&a.status) {
        return None;
    }
    if a.body.get("is_available").and_then(Value::as_bool) == Some(false) {
        return Some(Reading::QuotaExceeded);
    }
    let balances: Vec<f64> = a
        .body
        .get("balance_infos")
        .and_then(Value::as_array)
        .map(|infos| {
            infos
                .iter()
                .filter_map(|i| i.get("total_balance"))
                .filter_map(|b| match b {
                    Value::String(s) => s.trim().parse::<f64>().ok(),
                    other => other.as_f64(),
                })
                .collect()
        })
        .unwrap_or_default();
    (!balances.is_empty() && balances.iter().all(|b| *b <= 0.0)).then_some(Reading::QuotaExceeded)
}

/// Fireworks: 402 when the account is not paid up or over its limits; 412 when the
/// account is suspended, which no retry fixes.
pub fn fireworks(a: &Answer<'_>) -> Option<Reading> {
    match a.status {
        402 => Some(Reading::QuotaExceeded),
        412 => Some(Reading::Invalid),
        _ => None,
    }
}

/// A user-given server without the check path (404) most likely has a base URL
/// that misses its `/v1`, or an Azure endpoint that is not an OpenAI resource.
pub fn user_endpoint(a: &Answer<'_>) -> Option<Reading> {
    (a.status == 404).then_some(Reading::WrongEndpoint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(f: fn(&Answer<'_>) -> Option<Reading>, status: u16, body: Value) -> Reading {
        Answer {
            status,
            body: &body,
            headers: &[],
        }
        .read_with(f)
    }

    #[test]
    fn deepseek_balance_decides_between_valid_and_quota() {
        let rich = json!({"is_available": true, "balance_infos": [{"currency": "CNY", "total_balance": "110.00"}]});
        let empty = json!({"is_available": true, "balance_infos": [{"currency": "USD", "total_balance": "0.00"}]});
        let blocked = json!({"is_available": false, "balance_infos": []});
        assert_eq!(read(deepseek, 200, rich), Reading::Valid);
        assert_eq!(read(deepseek, 200, empty), Reading::QuotaExceeded);
        assert_eq!(read(deepseek, 200, blocked), Reading::QuotaExceeded);
        assert_eq!(read(deepseek, 402, json!({})), Reading::QuotaExceeded);
        assert_eq!(read(deepseek, 401, json!({})), Reading::Invalid);
    }

    #[test]
    fn github_403_is_a_rate_limit_only_when_the_limit_is_used_up() {
        let headers = [("x-ratelimit-remaining".to_owned(), "0".to_owned())];
        let exhausted = Answer {
            status: 403,
            body: &Value::Null,
            headers: &headers,
        };
        assert_eq!(exhausted.read_with(github), Reading::RateLimited);
        assert_eq!(read(github, 403, Value::Null), Reading::Invalid);
    }
}
