//! The one registry of providers: ids, aliases, display names and key prefixes.

use std::fmt;

/// A provider whose API keys the vault holds. Parsed once from user input through
/// [`ProviderId::parse`], which also accepts the aliases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProviderId {
    /// OpenAI.
    OpenAi,
    /// Anthropic Claude.
    Claude,
    /// Google AI Studio (Gemini).
    GoogleAi,
    /// OpenRouter.
    OpenRouter,
    /// xAI Grok.
    Grok,
    /// GitHub (Models / Copilot tokens).
    Github,
}

impl ProviderId {
    /// Every provider, in display order.
    pub const ALL: [ProviderId; 6] = [
        Self::OpenAi,
        Self::Claude,
        Self::GoogleAi,
        Self::OpenRouter,
        Self::Grok,
        Self::Github,
    ];

    /// Parses a provider id or alias, case-insensitively, after trimming.
    pub fn parse(input: &str) -> Option<Self> {
        let id = input.trim().to_ascii_lowercase();
        Some(match id.as_str() {
            "openai" | "open-ai" | "chatgpt" => Self::OpenAi,
            "claude" | "anthropic" => Self::Claude,
            "google-ai" | "google" | "gemini" | "googleai" | "google_ai" => Self::GoogleAi,
            "openrouter" | "open-router" => Self::OpenRouter,
            "grok" | "xai" | "x-ai" => Self::Grok,
            "github" | "github-models" => Self::Github,
            _ => return None,
        })
    }

    /// The canonical id, as stored and returned.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Claude => "claude",
            Self::GoogleAi => "google-ai",
            Self::OpenRouter => "openrouter",
            Self::Grok => "grok",
            Self::Github => "github",
        }
    }

    /// The provider's name for people.
    pub fn display_name(self) -> &'static str {
        match self {
            Self::OpenAi => "OpenAI",
            Self::Claude => "Anthropic",
            Self::GoogleAi => "Google AI",
            Self::OpenRouter => "OpenRouter",
            Self::Grok => "xAI",
            Self::Github => "GitHub",
        }
    }

    /// The prefixes the provider's keys start with, longest first, so a key hint
    /// can show the (public) prefix.
    pub fn key_prefixes(self) -> &'static [&'static str] {
        match self {
            Self::OpenAi => &["sk-svcacct-", "sk-admin-", "sk-proj-", "sk-"],
            Self::Claude => &["sk-ant-admin01-", "sk-ant-api03-", "sk-ant-"],
            Self::GoogleAi => &["AIza"],
            Self::OpenRouter => &["sk-or-v1-", "sk-or-"],
            Self::Grok => &["xai-"],
            Self::Github => &["github_pat_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
        }
    }

    /// Whether `key` has a shape this provider issues today. Checked before any
    /// network call: a key of the wrong shape cannot authenticate.
    pub fn accepts_key_shape(self, key: &str) -> bool {
        let token = |s: &str, min: usize| {
            s.len() >= min
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        let alnum =
            |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_alphanumeric());
        match self {
            Self::OpenAi => {
                // Project, service account, admin and legacy user keys; never the
                // prefixes of Anthropic or OpenRouter keys.
                !key.starts_with("sk-ant-")
                    && !key.starts_with("sk-or-")
                    && ["sk-proj-", "sk-svcacct-", "sk-admin-", "sk-"]
                        .iter()
                        .find_map(|p| key.strip_prefix(p))
                        .is_some_and(|rest| token(rest, 20))
            }
            Self::Claude => ["sk-ant-api03-", "sk-ant-admin01-"]
                .iter()
                .find_map(|p| key.strip_prefix(p))
                .is_some_and(|rest| token(rest, 20)),
            Self::GoogleAi => {
                key.len() == 39 && key.strip_prefix("AIza").is_some_and(|r| token(r, 35))
            }
            Self::OpenRouter => key
                .strip_prefix("sk-or-v1-")
                .is_some_and(|rest| token(rest, 20)),
            Self::Grok => key.strip_prefix("xai-").is_some_and(|rest| token(rest, 20)),
            Self::Github => {
                ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]
                    .iter()
                    .find_map(|p| key.strip_prefix(p))
                    .is_some_and(|rest| alnum(rest, 36))
                    || key
                        .strip_prefix("github_pat_")
                        .is_some_and(|rest| token(rest, 22))
            }
        }
    }

    /// The provider whose key shape `key` has, if any (most specific first).
    pub fn guess_from_key(key: &str) -> Option<Self> {
        [
            Self::Claude,
            Self::OpenRouter,
            Self::Grok,
            Self::GoogleAi,
            Self::Github,
            Self::OpenAi,
        ]
        .into_iter()
        .find(|p| p.accepts_key_shape(key))
    }

    /// The ids and aliases [`ProviderId::parse`] accepts, for error messages.
    pub fn accepted_ids() -> &'static str {
        "openai, claude (anthropic), google-ai (gemini), openrouter, grok (xai), github"
    }
}

impl fmt::Display for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_aliases_parse_to_one_provider() {
        for (input, id) in [
            ("openai", ProviderId::OpenAi),
            (" OpenAI ", ProviderId::OpenAi),
            ("anthropic", ProviderId::Claude),
            ("claude", ProviderId::Claude),
            ("gemini", ProviderId::GoogleAi),
            ("google-ai", ProviderId::GoogleAi),
            ("xai", ProviderId::Grok),
            ("grok", ProviderId::Grok),
            ("openrouter", ProviderId::OpenRouter),
            ("github", ProviderId::Github),
        ] {
            assert_eq!(ProviderId::parse(input), Some(id), "{input}");
        }
        assert_eq!(ProviderId::parse("mistral"), None);
        assert_eq!(ProviderId::parse("open#ai"), None);
    }

    #[test]
    fn key_shapes_accept_what_providers_issue_today() {
        let cases = [
            (
                ProviderId::OpenAi,
                "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz_0123-4567",
            ),
            (ProviderId::OpenAi, "sk-svcacct-AbCdEfGhIjKlMnOpQrStUvWx"),
            (ProviderId::OpenAi, "sk-admin-AbCdEfGhIjKlMnOpQrStUvWx"),
            (
                ProviderId::OpenAi,
                "sk-AbCdEfGhIjKlMnOpQrStUvWxYz012345678901234567",
            ),
            (
                ProviderId::Claude,
                "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz-0123_AA",
            ),
            (
                ProviderId::GoogleAi,
                "AIzaSyA-1234567890abcdefghijklmnopqrstu",
            ),
            (
                ProviderId::OpenRouter,
                "sk-or-v1-0123456789abcdef0123456789abcdef",
            ),
            (ProviderId::Grok, "xai-AbCdEfGhIjKlMnOpQrStUvWxYz0123"),
            (
                ProviderId::Github,
                "ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
            ),
            (
                ProviderId::Github,
                "github_pat_11ABCDEFG0123456789_abcdefghijklmnop",
            ),
        ];
        for (provider, key) in cases {
            assert!(
                provider.accepts_key_shape(key),
                "{provider} should accept {key}"
            );
            assert_eq!(ProviderId::guess_from_key(key), Some(provider), "{key}");
        }
    }

    #[test]
    fn misfiled_keys_are_refused_and_recognised() {
        let anthropic = "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz-0123_AA";
        assert!(!ProviderId::OpenAi.accepts_key_shape(anthropic));
        assert!(!ProviderId::OpenAi.accepts_key_shape("sk-or-v1-0123456789abcdef0123456789"));
        assert!(!ProviderId::GoogleAi.accepts_key_shape("AIzaTooShort"));
        assert!(!ProviderId::Github.accepts_key_shape("ghp_short"));
        assert_eq!(ProviderId::guess_from_key("not a key at all"), None);
    }

    #[test]
    fn canonical_ids_round_trip_and_hold_no_hash() {
        for p in ProviderId::ALL {
            assert_eq!(ProviderId::parse(p.as_str()), Some(p));
            assert!(!p.as_str().contains('#'));
        }
    }
}
