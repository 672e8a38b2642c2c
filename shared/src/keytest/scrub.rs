//! Keeping keys out of messages: whatever a provider says is scrubbed before a
//! person or a log line sees it.

use crate::provider::ProviderId;

/// Longest provider reason quoted in a message.
const MAX_REASON_CHARS: usize = 200;

/// Removes anything that looks like a key from a message: the key itself, tokens
/// with a known key prefix, masked keys (`sk-***abc`), and long mixed tokens.
pub fn scrub(message: &str, key: &str) -> String {
    let mut text = if key.len() >= 4 {
        message.replace(key, "[redacted]")
    } else {
        message.to_owned()
    };
    let looks_secret = |token: &str| {
        let has_digit = token.bytes().any(|b| b.is_ascii_digit());
        let has_alpha = token.bytes().any(|b| b.is_ascii_alphabetic());
        token.contains('*')
            || (token.len() >= 16 && has_digit && has_alpha)
            || ProviderId::ALL
                .iter()
                .flat_map(|p| p.key_prefixes())
                .any(|prefix| token.starts_with(prefix) && token.len() > prefix.len() + 3)
    };
    let mut out = String::with_capacity(text.len());
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        if !token.is_empty() {
            out.push_str(if looks_secret(token) {
                "[redacted]"
            } else {
                token
            });
            token.clear();
        }
    };
    for ch in text.chars() {
        if ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '*') {
            token.push(ch);
        } else {
            flush(&mut token, &mut out);
            out.push(ch);
        }
    }
    flush(&mut token, &mut out);
    text = out;
    if text.chars().count() > MAX_REASON_CHARS * 2 {
        text = text.chars().take(MAX_REASON_CHARS * 2).collect::<String>() + "…";
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_keys_masked_keys_and_long_tokens() {
        let key = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWx0123";
        let text = format!(
            "Incorrect API key provided: {key}. Also sk-ant-api03-zzzzzzzz, xa***********Ab and tok_9f8e7d6c5b4a39281706."
        );
        let clean = scrub(&text, key);
        assert!(!clean.contains(key));
        assert!(!clean.contains("sk-ant-api03-zzzz"));
        assert!(!clean.contains("xa***"));
        assert!(!clean.contains("9f8e7d6c5b4a"));
        assert!(clean.starts_with("Incorrect API key provided: [redacted]."));
    }

    #[test]
    fn scrub_knows_the_prefixes_of_every_provider_and_keeps_plain_words() {
        let text = "Keys like gsk_abcdEFGH, pplx-abcdefgh and fw_abcdefgh leak; plain words stay.";
        let clean = scrub(text, "unrelated-key");
        assert!(!clean.contains("gsk_abcd"), "{clean}");
        assert!(!clean.contains("pplx-abcd"), "{clean}");
        assert!(!clean.contains("fw_abcd"), "{clean}");
        assert!(clean.contains("plain words stay"), "{clean}");
    }
}
