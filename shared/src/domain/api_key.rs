//! The provider API key as the user pasted it, and the masked hint shown instead.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use crate::provider::ProviderId;

/// Shortest API key accepted, after trimming.
pub const API_KEY_MIN_CHARS: usize = 10;
/// Longest API key accepted, after trimming.
pub const API_KEY_MAX_CHARS: usize = 500;

/// A provider API key as the user pasted it, trimmed and checked. Never printed.
pub struct ApiKey(SecretString);

impl ApiKey {
    /// Trims pasted whitespace and checks length and characters. The reason for a
    /// refusal never quotes the key.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let key = raw.trim();
        let chars = key.chars().count();
        if chars < API_KEY_MIN_CHARS {
            return Err(format!(
                "must be at least {API_KEY_MIN_CHARS} characters after trimming"
            ));
        }
        if chars > API_KEY_MAX_CHARS {
            return Err(format!("must be at most {API_KEY_MAX_CHARS} characters"));
        }
        if key.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(Self(SecretString::from(key.to_owned())))
    }

    /// The key, for sealing or for the provider's check call.
    pub fn secret(&self) -> &SecretString {
        &self.0
    }

    /// The masked form shown to people: the provider's public key prefix (when the
    /// key is long enough to keep a secret part), `…`, and the last four characters.
    pub fn hint(&self, provider: ProviderId) -> KeyHint {
        KeyHint::of(self.0.expose_secret(), provider)
    }
}

impl From<SecretString> for ApiKey {
    fn from(secret: SecretString) -> Self {
        Self(secret)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey([REDACTED])")
    }
}

/// The masked form of a key: prefix + `…` + last four characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyHint(String);

impl KeyHint {
    fn of(key: &str, provider: ProviderId) -> Self {
        let chars: Vec<char> = key.chars().collect();
        let last4: String = chars[chars.len().saturating_sub(4)..].iter().collect();
        // Show the prefix only when at least eight characters stay hidden.
        let prefix = provider
            .key_prefixes()
            .iter()
            .find(|p| key.starts_with(**p) && chars.len() >= p.chars().count() + 4 + 8)
            .copied()
            .unwrap_or("");
        Self(format!("{prefix}…{last4}"))
    }

    /// The hint text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_is_trimmed_and_bounded() {
        assert!(ApiKey::parse("  sk-proj-abcdefgh1234 \n").is_ok());
        assert!(ApiKey::parse("short").is_err());
        assert!(ApiKey::parse(&"a".repeat(501)).is_err());
        assert!(ApiKey::parse(&"a".repeat(500)).is_ok());
        assert!(ApiKey::parse("sk-proj-abc\u{7}defgh").is_err());
    }

    #[test]
    fn hint_shows_prefix_and_last_four_only() {
        let key = ApiKey::parse("sk-proj-abcdefghijklmnopWXYZ").unwrap();
        assert_eq!(key.hint(ProviderId::OpenAi).as_str(), "sk-proj-…WXYZ");
        let key = ApiKey::parse("sk-ant-api03-0123456789abcdef-9876").unwrap();
        assert_eq!(key.hint(ProviderId::Claude).as_str(), "sk-ant-api03-…9876");
        // Too short to show the prefix and keep eight characters hidden.
        let key = ApiKey::parse("sk-proj-abcd12").unwrap();
        assert_eq!(key.hint(ProviderId::OpenAi).as_str(), "…cd12");
    }
}
