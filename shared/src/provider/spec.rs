//! What one registry entry says about a provider: the types of its fields.
//!
//! Plain data and function pointers only (no HTTP client types), so that parsing a
//! provider id never links the code that calls providers.

use super::answer::{Answer, Reading};
use super::ProviderId;

/// A provider's whole definition, kept together as one registry entry.
#[derive(Debug)]
pub struct Provider {
    /// The id callers name it by.
    pub id: ProviderId,
    /// The canonical id, as stored and returned (never contains `#`).
    pub canonical: &'static str,
    /// Other names [`ProviderId::parse`] accepts (lower case).
    pub aliases: &'static [&'static str],
    /// The provider's name for people.
    pub display_name: &'static str,
    /// "a" or "an" before the display name, as it is said aloud.
    pub article: &'static str,
    /// Whether a key is needed at all.
    pub key: KeyRequirement,
    /// The shapes of the keys it issues today; empty when anything goes.
    pub shapes: &'static [KeyShape],
    /// A made-up key of the usual shape: what a form can show as a placeholder,
    /// and what the tests send to fake providers.
    pub example_key: &'static str,
    /// The variable that points the checks elsewhere, `APIKEYS_<ID>_BASE_URL`.
    pub base_url_variable: &'static str,
    /// Where the checks go by default; `None` when the user's endpoint decides.
    pub default_base_url: Option<&'static str>,
    /// Which user-given endpoint belongs to the key, if any.
    pub endpoint: EndpointKind,
    /// The zero-token call that checks a key, and how to read its answer.
    pub check: Check,
    /// The API the proxy forwards to with the user's key.
    pub api: Api,
}

/// The provider's own API as the proxy reaches it: which family of requests it
/// speaks, where, and with the key in which header.
#[derive(Debug, Clone, Copy)]
pub struct Api {
    /// OpenAI-compatible, Anthropic Messages or Gemini.
    pub family: ApiFamily,
    /// Where the API lives when not at the checks' default base URL (GitHub Models,
    /// Cohere's compatibility API); a configured `APIKEYS_<ID>_BASE_URL` wins.
    pub host: Option<&'static str>,
    /// What comes between the base URL and an operation such as
    /// `chat/completions`: `/v1`, `/openai/v1`, ... (empty where the user's base
    /// URL already ends in it).
    pub prefix: &'static str,
    /// How the key is sent.
    pub auth: Auth,
    /// Fixed headers the API wants when the client sends none (never secrets).
    pub headers: &'static [(&'static str, &'static str)],
    /// Whether the provider documents `stream_options.include_usage`, which the
    /// proxy then asks for on every stream so that usage can be counted.
    pub stream_usage_option: bool,
    /// Whether it serves OpenAI's Responses API (`/v1/responses`).
    pub responses: bool,
}

/// The request shapes a provider's API takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiFamily {
    /// `chat/completions`, `embeddings`, `models`.
    OpenAi,
    /// Anthropic Messages: `v1/messages`.
    Anthropic,
    /// Gemini: `v1beta/models/{model}:generateContent` / `:streamGenerateContent`.
    Gemini,
}

impl Api {
    /// An OpenAI-compatible API under `prefix`, key as a Bearer token.
    pub const fn openai(prefix: &'static str) -> Self {
        Self {
            family: ApiFamily::OpenAi,
            host: None,
            prefix,
            auth: Auth::Bearer,
            headers: &[],
            stream_usage_option: false,
            responses: false,
        }
    }
}

/// Whether the provider needs a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRequirement {
    /// Every check sends a key.
    Required,
    /// Servers of this kind may run without keys; a check without one sends none.
    Optional,
}

/// The user-given connection settings that belong to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointKind {
    /// The provider's own API; nothing to give.
    None,
    /// `{"baseUrl"}`: any OpenAI-compatible server.
    BaseUrl,
    /// `{"endpoint", "apiVersion", "deployment"?}`: an Azure OpenAI resource.
    Azure,
}

/// The characters after a key's prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// `0-9a-f` (either case).
    Hex,
    /// Letters and digits.
    Alnum,
    /// Letters, digits, `-` and `_`.
    Token,
}

impl Charset {
    fn admits(self, b: u8) -> bool {
        match self {
            Self::Hex => b.is_ascii_hexdigit(),
            Self::Alnum => b.is_ascii_alphanumeric(),
            Self::Token => b.is_ascii_alphanumeric() || b == b'-' || b == b'_',
        }
    }

    /// How narrow the set is, for choosing the most specific shape.
    pub(crate) fn narrowness(self) -> u8 {
        match self {
            Self::Hex => 2,
            Self::Alnum => 1,
            Self::Token => 0,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Hex => "hexadecimal characters",
            Self::Alnum => "letters and digits",
            Self::Token => "letters, digits, - or _",
        }
    }
}

/// One shape of key: a prefix, then `min..=max` characters of a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyShape {
    /// What the key starts with; empty for keys without a prefix.
    pub prefix: &'static str,
    /// The characters after the prefix.
    pub rest: Charset,
    /// Fewest characters after the prefix.
    pub min: usize,
    /// Most characters after the prefix (`usize::MAX`: no upper bound).
    pub max: usize,
}

impl KeyShape {
    /// `prefix` and then exactly `len` characters of `rest`.
    pub const fn exactly(prefix: &'static str, rest: Charset, len: usize) -> Self {
        Self {
            prefix,
            rest,
            min: len,
            max: len,
        }
    }

    /// `prefix` and then `min..=max` characters of `rest`.
    pub const fn between(prefix: &'static str, rest: Charset, min: usize, max: usize) -> Self {
        Self {
            prefix,
            rest,
            min,
            max,
        }
    }

    /// `prefix` and then at least `min` characters of `rest`.
    pub const fn at_least(prefix: &'static str, rest: Charset, min: usize) -> Self {
        Self::between(prefix, rest, min, usize::MAX)
    }

    /// Whether `key` starts with this shape's prefix (always, for no prefix).
    pub fn prefix_matches(&self, key: &str) -> bool {
        key.starts_with(self.prefix)
    }

    /// Whether `key` has exactly this shape.
    pub fn fits(&self, key: &str) -> bool {
        key.strip_prefix(self.prefix).is_some_and(|rest| {
            (self.min..=self.max).contains(&rest.len()) && rest.bytes().all(|b| self.rest.admits(b))
        })
    }

    /// Whether the length is fixed, which makes a shape specific enough to guess by.
    pub(crate) fn is_exact(&self) -> bool {
        self.min == self.max
    }

    /// The shape in words, e.g. "48–52 letters and digits after gsk_".
    pub fn describe(&self) -> String {
        let count = match (self.min, self.max) {
            (min, max) if min == max => format!("{min}"),
            (min, usize::MAX) => format!("at least {min}"),
            (min, max) => format!("{min}–{max}"),
        };
        let what = self.rest.describe();
        if self.prefix.is_empty() {
            format!("{count} {what}")
        } else {
            format!("{count} {what} after {}", self.prefix)
        }
    }
}

/// The request method of a check. Every check reads and never writes, so that it
/// cannot spend tokens or change anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
}

/// Where the key goes: always a header, never the URL (URLs end up in logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Bearer <key>`.
    Bearer,
    /// The key as the whole value of this header (e.g. `x-api-key`).
    Header(&'static str),
}

/// What the check adds to its URL besides the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckQuery {
    /// Nothing.
    None,
    /// `?api-version=<the endpoint's apiVersion>` (Azure OpenAI).
    ApiVersion,
}

/// The zero-token call that checks a key and how to read its answer.
#[derive(Debug, Clone, Copy)]
pub struct Check {
    /// The method (always GET).
    pub method: Method,
    /// Appended to the base URL.
    pub path: &'static str,
    /// How the key is sent.
    pub auth: Auth,
    /// Further fixed headers the provider wants (never secrets).
    pub headers: &'static [(&'static str, &'static str)],
    /// What goes into the query string (never the key).
    pub query: CheckQuery,
    /// The provider's own reading of an answer, consulted before the common rules
    /// of [`Reading::common`]; `None` leaves the answer to them.
    pub read: fn(&Answer<'_>) -> Option<Reading>,
}
