//! The providers whose keys the vault holds, as data: one [`registry`] entry per
//! provider with its id, aliases, display name, key shapes, base URL and the
//! zero-token check with the reading of its answer.
//!
//! - [`spec`]: the fields of an entry.
//! - [`registry`]: the entries.
//! - [`readers`]: the provider-specific readings of answers the entries name.
//! - [`answer`]: a provider's answer and what it means ([`Reading`]).
//! - [`shape`]: what a key's shape says before any call.

pub mod answer;
pub mod readers;
pub mod registry;
pub mod shape;
pub mod spec;

use std::fmt;
use std::sync::OnceLock;

pub use answer::{Answer, Reading};
pub use registry::REGISTRY;
pub use shape::KeyFit;
pub use spec::{
    Api, ApiFamily, Auth, Charset, Check, CheckQuery, EndpointKind, KeyRequirement, KeyShape,
    Method, Provider,
};

/// A provider whose API keys the vault holds. Parsed once from user input through
/// [`ProviderId::parse`], which also accepts the aliases. Its registry entry is
/// [`ProviderId::entry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
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
    /// Mistral AI.
    Mistral,
    /// Groq.
    Groq,
    /// DeepSeek.
    DeepSeek,
    /// Together AI.
    Together,
    /// Cohere.
    Cohere,
    /// Perplexity.
    Perplexity,
    /// Fireworks AI.
    Fireworks,
    /// Azure OpenAI: the key belongs to a resource endpoint.
    AzureOpenAi,
    /// Any OpenAI-compatible server at a user-given base URL; its key is optional.
    OpenAiCompatible,
}

const fn all_ids() -> [ProviderId; REGISTRY.len()] {
    let mut ids = [ProviderId::OpenAi; REGISTRY.len()];
    let mut i = 0;
    while i < REGISTRY.len() {
        ids[i] = REGISTRY[i].id;
        i += 1;
    }
    ids
}

impl ProviderId {
    /// Every provider, in display order (the registry's order).
    pub const ALL: [ProviderId; REGISTRY.len()] = all_ids();

    /// The provider's registry entry.
    pub fn entry(self) -> &'static Provider {
        &REGISTRY[self as usize]
    }

    /// Parses a provider id or alias, case-insensitively, after trimming.
    pub fn parse(input: &str) -> Option<Self> {
        let id = input.trim().to_ascii_lowercase();
        REGISTRY
            .iter()
            .find(|p| p.canonical == id || p.aliases.contains(&id.as_str()))
            .map(|p| p.id)
    }

    /// The canonical id, as stored and returned.
    pub fn as_str(self) -> &'static str {
        self.entry().canonical
    }

    /// The provider's name for people.
    pub fn display_name(self) -> &'static str {
        self.entry().display_name
    }

    /// "a" or "an" before the display name.
    pub fn article(self) -> &'static str {
        self.entry().article
    }

    /// The prefixes the provider's keys start with, longest first, so a key hint
    /// can show the (public) prefix.
    pub fn key_prefixes(self) -> &'static [&'static str] {
        static PREFIXES: OnceLock<Vec<Vec<&'static str>>> = OnceLock::new();
        let all = PREFIXES.get_or_init(|| {
            REGISTRY
                .iter()
                .map(|p| {
                    let mut prefixes: Vec<&'static str> = p
                        .shapes
                        .iter()
                        .map(|s| s.prefix)
                        .filter(|prefix| !prefix.is_empty())
                        .collect();
                    prefixes.sort_by_key(|prefix| std::cmp::Reverse(prefix.len()));
                    prefixes.dedup();
                    prefixes
                })
                .collect()
        });
        &all[self as usize]
    }

    /// What `key`'s shape says for this provider, before any call.
    pub fn inspect_key(self, key: &str) -> KeyFit {
        shape::inspect(self.entry(), key)
    }

    /// Whether `key` has a shape this provider issues today.
    pub fn accepts_key_shape(self, key: &str) -> bool {
        self.inspect_key(key) == KeyFit::Fits
    }

    /// The provider whose key shape `key` has, if any (most specific first).
    pub fn guess_from_key(key: &str) -> Option<Self> {
        shape::guess(key)
    }

    /// The ids and aliases [`ProviderId::parse`] accepts, for error messages.
    pub fn accepted_ids() -> &'static str {
        static IDS: OnceLock<String> = OnceLock::new();
        IDS.get_or_init(|| {
            REGISTRY
                .iter()
                .map(|p| {
                    // The first alias that is more than the id respelled or suffixed.
                    let bare = |s: &str| s.replace(['-', '_', '.'], "");
                    let id = bare(p.canonical);
                    match p.aliases.iter().find(|a| !bare(a).starts_with(&id)) {
                        Some(alias) => format!("{} ({alias})", p.canonical),
                        None => p.canonical.to_owned(),
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
    }
}

impl fmt::Display for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests;
