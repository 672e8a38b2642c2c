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
    /// Trims pasted ASCII whitespace around the key and checks what is left: between
    /// [`API_KEY_MIN_CHARS`] and [`API_KEY_MAX_CHARS`] printable ASCII characters
    /// (`!` to `~`), as every provider issues them. Anything else inside (a space,
    /// a control character, an emoji, an invisible zero-width, byte-order or
    /// direction mark, a no-break space) is refused. The reason never quotes the key.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let key = raw.trim_matches(|c: char| c.is_ascii_whitespace());
        if let Some((position, c)) = key.chars().enumerate().find(|(_, c)| !c.is_ascii_graphic()) {
            return Err(format!(
                "must be printable ASCII without spaces, but has {} at character {}",
                describe(c),
                position + 1
            ));
        }
        // Only ASCII is left, so bytes are characters.
        if key.len() < API_KEY_MIN_CHARS {
            return Err(format!(
                "must be at least {API_KEY_MIN_CHARS} characters after trimming"
            ));
        }
        if key.len() > API_KEY_MAX_CHARS {
            return Err(format!("must be at most {API_KEY_MAX_CHARS} characters"));
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

/// Names a character that no key holds, without quoting the key: such a character
/// is never part of a real key, so its code point says nothing secret.
fn describe(c: char) -> String {
    match c {
        ' ' => "a space".to_owned(),
        '\u{a0}' => "a no-break space (U+00A0)".to_owned(),
        c if c.is_ascii_whitespace() => format!("whitespace (U+{:04X})", u32::from(c)),
        c if c.is_control() => format!("a control character (U+{:04X})", u32::from(c)),
        c => format!("the non-ASCII character U+{:04X}", u32::from(c)),
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
    fn only_printable_ascii_is_a_key() {
        let inside = [
            ("an emoji", "\u{1F511}"),
            ("a zero-width space", "\u{200B}"),
            ("a byte-order mark", "\u{FEFF}"),
            ("a right-to-left override", "\u{202E}"),
            ("a left-to-right isolate", "\u{2066}"),
            ("a no-break space", "\u{A0}"),
            ("a space", " "),
            ("a tab", "\t"),
            ("a delete", "\u{7F}"),
            ("a full-width letter", "\u{FF41}"),
        ];
        for (what, c) in inside {
            let key = format!("sk-proj-abcdef{c}ghijklmnop");
            let reason = ApiKey::parse(&key).expect_err(what);
            assert!(reason.contains("printable ASCII"), "{what}: {reason}");
            assert!(
                !reason.contains("abcdef"),
                "{what}: the reason quotes the key"
            );
        }
        // Surrounding no-break spaces or byte-order marks are not pasted whitespace.
        assert!(ApiKey::parse("\u{FEFF}sk-proj-abcdefghijklmnop").is_err());
        assert!(ApiKey::parse("sk-proj-abcdefghijklmnop\u{A0}").is_err());
        assert!(ApiKey::parse(&"\u{1F511}".repeat(20)).is_err());
        // Every printable ASCII character is accepted.
        let all: String = ('!'..='~').collect();
        assert_eq!(
            ApiKey::parse(&format!("\r\n {all}\t\n")).map(|k| k.secret().expose_secret().len()),
            Ok(94)
        );
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
