//! The registry: one entry per provider, in the order of [`ProviderId`]'s variants
//! (checked when compiling). Adding a provider is a variant, one entry here and its
//! tests; nothing else in the code names providers one by one.

use super::readers;
use super::spec::{
    Api, ApiFamily, Auth, Charset, Check, CheckQuery, EndpointKind, KeyRequirement, KeyShape,
    Method, Provider,
};
use super::ProviderId;

const BEARER_GET: Check = Check {
    method: Method::Get,
    path: "/v1/models",
    auth: Auth::Bearer,
    headers: &[],
    query: CheckQuery::None,
    read: readers::common,
};

/// Every provider the vault knows, in display order.
pub const REGISTRY: &[Provider] = &[
    Provider {
        id: ProviderId::OpenAi,
        canonical: "openai",
        aliases: &["open-ai", "chatgpt"],
        display_name: "OpenAI",
        article: "an",
        key: KeyRequirement::Required,
        // Project, service account, admin and legacy user keys.
        shapes: &[
            KeyShape::at_least("sk-svcacct-", Charset::Token, 20),
            KeyShape::at_least("sk-admin-", Charset::Token, 20),
            KeyShape::at_least("sk-proj-", Charset::Token, 20),
            KeyShape::at_least("sk-", Charset::Token, 20),
        ],
        example_key: "sk-proj-T3stKeyOpenAI0123456789abcdefghijKLMN",
        base_url_variable: "APIKEYS_OPENAI_BASE_URL",
        default_base_url: Some("https://api.openai.com"),
        endpoint: EndpointKind::None,
        check: Check {
            read: readers::openai,
            ..BEARER_GET
        },
        // https://platform.openai.com/docs/api-reference/chat/create (POST /v1/chat/completions,
        // Bearer; `stream_options.include_usage`), /v1/embeddings, /v1/models and
        // https://platform.openai.com/docs/api-reference/responses (POST /v1/responses).
        api: Api {
            stream_usage_option: true,
            responses: true,
            ..Api::openai("/v1")
        },
    },
    Provider {
        id: ProviderId::Claude,
        canonical: "claude",
        aliases: &["anthropic"],
        display_name: "Anthropic",
        article: "an",
        key: KeyRequirement::Required,
        shapes: &[
            KeyShape::at_least("sk-ant-admin01-", Charset::Token, 20),
            KeyShape::at_least("sk-ant-api03-", Charset::Token, 20),
            KeyShape::at_least("sk-ant-", Charset::Token, 20),
        ],
        example_key: "sk-ant-api03-T3stKeyClaude0123456789abcdefghij-KLMN_AA",
        base_url_variable: "APIKEYS_CLAUDE_BASE_URL",
        default_base_url: Some("https://api.anthropic.com"),
        endpoint: EndpointKind::None,
        // 529 "overloaded" is one of the 5xx the common rules retry.
        check: Check {
            auth: Auth::Header("x-api-key"),
            headers: &[("anthropic-version", "2023-06-01")],
            ..BEARER_GET
        },
        // https://docs.anthropic.com/en/api/messages (POST /v1/messages, `x-api-key`,
        // `anthropic-version`).
        api: Api {
            family: ApiFamily::Anthropic,
            auth: Auth::Header("x-api-key"),
            headers: &[("anthropic-version", "2023-06-01")],
            ..Api::openai("/v1")
        },
    },
    Provider {
        id: ProviderId::GoogleAi,
        canonical: "google-ai",
        aliases: &["gemini", "google", "googleai", "google_ai"],
        display_name: "Google AI",
        article: "a",
        key: KeyRequirement::Required,
        shapes: &[KeyShape::exactly("AIza", Charset::Token, 35)],
        example_key: "AIzaSyT3stKeyGoogle0123456789abcdefghij",
        base_url_variable: "APIKEYS_GOOGLE_AI_BASE_URL",
        default_base_url: Some("https://generativelanguage.googleapis.com"),
        endpoint: EndpointKind::None,
        // The key goes in a header, never in `?key=`: URLs end up in logs.
        check: Check {
            path: "/v1beta/models",
            auth: Auth::Header("x-goog-api-key"),
            read: readers::gemini,
            ..BEARER_GET
        },
        // https://ai.google.dev/api/generate-content (POST
        // /v1beta/models/{model}:generateContent and :streamGenerateContent?alt=sse,
        // key in `x-goog-api-key`).
        api: Api {
            family: ApiFamily::Gemini,
            auth: Auth::Header("x-goog-api-key"),
            ..Api::openai("/v1beta")
        },
    },
    Provider {
        id: ProviderId::OpenRouter,
        canonical: "openrouter",
        aliases: &["open-router"],
        display_name: "OpenRouter",
        article: "an",
        key: KeyRequirement::Required,
        shapes: &[
            KeyShape::at_least("sk-or-v1-", Charset::Token, 20),
            KeyShape::at_least("sk-or-", Charset::Token, 20),
        ],
        example_key: "sk-or-v1-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        base_url_variable: "APIKEYS_OPENROUTER_BASE_URL",
        default_base_url: Some("https://openrouter.ai"),
        endpoint: EndpointKind::None,
        // `/api/v1/models` needs no key at all; `/api/v1/key` authenticates.
        check: Check {
            path: "/api/v1/key",
            read: readers::payment_required,
            ..BEARER_GET
        },
        // https://openrouter.ai/docs/api-reference/overview (base https://openrouter.ai/api/v1).
        api: Api::openai("/api/v1"),
    },
    Provider {
        id: ProviderId::Grok,
        canonical: "grok",
        aliases: &["xai", "x-ai"],
        display_name: "xAI",
        article: "an",
        key: KeyRequirement::Required,
        shapes: &[KeyShape::at_least("xai-", Charset::Token, 20)],
        example_key: "xai-T3stKeyGrok0123456789abcdefghijKLMNOPQR",
        base_url_variable: "APIKEYS_GROK_BASE_URL",
        default_base_url: Some("https://api.x.ai"),
        endpoint: EndpointKind::None,
        check: Check {
            path: "/v1/api-key",
            read: readers::xai,
            ..BEARER_GET
        },
        // https://docs.x.ai/api/integrations (OpenAI SDKs with base https://api.x.ai/v1).
        api: Api::openai("/v1"),
    },
    Provider {
        id: ProviderId::Github,
        canonical: "github",
        aliases: &["github-models"],
        display_name: "GitHub",
        article: "a",
        key: KeyRequirement::Required,
        shapes: &[
            KeyShape::at_least("github_pat_", Charset::Token, 22),
            KeyShape::exactly("ghp_", Charset::Alnum, 36),
            KeyShape::exactly("gho_", Charset::Alnum, 36),
            KeyShape::exactly("ghu_", Charset::Alnum, 36),
            KeyShape::exactly("ghs_", Charset::Alnum, 36),
            KeyShape::exactly("ghr_", Charset::Alnum, 36),
        ],
        example_key: "ghp_T3stKeyGithub0123456789abcdefghijKLM",
        base_url_variable: "APIKEYS_GITHUB_BASE_URL",
        default_base_url: Some("https://api.github.com"),
        endpoint: EndpointKind::None,
        // GitHub refuses requests without a User-Agent; the client sends one.
        check: Check {
            path: "/user",
            headers: &[
                ("accept", "application/vnd.github+json"),
                ("x-github-api-version", "2022-11-28"),
            ],
            read: readers::github,
            ..BEARER_GET
        },
        // https://docs.github.com/en/github-models/quickstart: POST
        // https://models.github.ai/inference/chat/completions with the PAT as a Bearer token.
        api: Api {
            host: Some("https://models.github.ai"),
            ..Api::openai("/inference")
        },
    },
    // https://docs.mistral.ai/api/endpoint/models (GET /v1/models, Bearer);
    // https://docs.mistral.ai/resources/error-glossary (401 wrong key, 402 billing,
    // 429 rate limit). Keys: 32 letters and digits, no prefix.
    Provider {
        id: ProviderId::Mistral,
        canonical: "mistral",
        aliases: &["mistral-ai", "mistralai"],
        display_name: "Mistral AI",
        article: "a",
        key: KeyRequirement::Required,
        shapes: &[KeyShape::exactly("", Charset::Alnum, 32)],
        example_key: "T3stKeyMistral0123456789abcdefgh",
        base_url_variable: "APIKEYS_MISTRAL_BASE_URL",
        default_base_url: Some("https://api.mistral.ai"),
        endpoint: EndpointKind::None,
        check: Check {
            read: readers::payment_required,
            ..BEARER_GET
        },
        // https://docs.mistral.ai/api/ (POST /v1/chat/completions, /v1/embeddings, GET /v1/models; Bearer).
        api: Api::openai("/v1"),
    },
    // https://console.groq.com/docs/models (GET /openai/v1/models, Bearer);
    // https://console.groq.com/docs/errors (401 invalid key, 429 rate limit).
    Provider {
        id: ProviderId::Groq,
        canonical: "groq",
        aliases: &["groqcloud", "groq-cloud"],
        display_name: "Groq",
        article: "a",
        key: KeyRequirement::Required,
        shapes: &[KeyShape::between("gsk_", Charset::Alnum, 48, 52)],
        example_key: "gsk_T3stKeyGroq0123456789abcdefghijKLMNOPQRSTUVWXYZab",
        base_url_variable: "APIKEYS_GROQ_BASE_URL",
        default_base_url: Some("https://api.groq.com"),
        endpoint: EndpointKind::None,
        check: Check {
            path: "/openai/v1/models",
            ..BEARER_GET
        },
        // https://console.groq.com/docs/openai (base https://api.groq.com/openai/v1).
        api: Api::openai("/openai/v1"),
    },
    // https://api-docs.deepseek.com/api/get-user-balance (GET /user/balance,
    // Bearer; `is_available`, `balance_infos[].total_balance`);
    // https://api-docs.deepseek.com/quick_start/error_codes (401 wrong key,
    // 402 insufficient balance, 429 rate limit, 500/503).
    Provider {
        id: ProviderId::DeepSeek,
        canonical: "deepseek",
        aliases: &["deep-seek"],
        display_name: "DeepSeek",
        article: "a",
        key: KeyRequirement::Required,
        shapes: &[KeyShape::exactly("sk-", Charset::Hex, 32)],
        example_key: "sk-d33b5eeddeadbeef0123456789abcdef",
        base_url_variable: "APIKEYS_DEEPSEEK_BASE_URL",
        default_base_url: Some("https://api.deepseek.com"),
        endpoint: EndpointKind::None,
        check: Check {
            path: "/user/balance",
            read: readers::deepseek,
            ..BEARER_GET
        },
        // https://api-docs.deepseek.com/ (POST https://api.deepseek.com/chat/completions, Bearer).
        api: Api::openai(""),
    },
    // https://docs.together.ai/reference/models (GET /v1/models, Bearer);
    // https://docs.together.ai/docs/error-codes (401 invalid key, 402 spending
    // limit reached, 429 rate limit). No stable key prefix, so any token goes.
    Provider {
        id: ProviderId::Together,
        canonical: "together",
        aliases: &["together-ai", "togetherai", "together.ai"],
        display_name: "Together AI",
        article: "a",
        key: KeyRequirement::Required,
        shapes: &[KeyShape::between("", Charset::Token, 20, 200)],
        example_key: "T3stKeyTogether0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLM",
        base_url_variable: "APIKEYS_TOGETHER_BASE_URL",
        default_base_url: Some("https://api.together.xyz"),
        endpoint: EndpointKind::None,
        check: Check {
            read: readers::payment_required,
            ..BEARER_GET
        },
        // https://docs.together.ai/docs/inference/openai-compatibility (base https://api.together.ai/v1).
        api: Api {
            host: Some("https://api.together.ai"),
            ..Api::openai("/v1")
        },
    },
    // https://docs.cohere.com/v1/reference/list-models documents
    // GET https://api.cohere.com/v1/models with a Bearer key; no v2 listing is
    // documented, so the documented v1 path is used.
    // https://docs.cohere.com/v1/reference/errors (401 "invalid api token",
    // 402 billing limit, 429 trial-key limits).
    Provider {
        id: ProviderId::Cohere,
        canonical: "cohere",
        aliases: &["cohere-ai"],
        display_name: "Cohere",
        article: "a",
        key: KeyRequirement::Required,
        shapes: &[KeyShape::exactly("", Charset::Alnum, 40)],
        example_key: "T3stKeyCohere0123456789abcdefghijklmnopq",
        base_url_variable: "APIKEYS_COHERE_BASE_URL",
        default_base_url: Some("https://api.cohere.com"),
        endpoint: EndpointKind::None,
        check: Check {
            read: readers::payment_required,
            ..BEARER_GET
        },
        // https://docs.cohere.com/docs/compatibility-api (base
        // https://api.cohere.ai/compatibility/v1: chat completions and embeddings).
        api: Api {
            host: Some("https://api.cohere.ai"),
            ..Api::openai("/compatibility/v1")
        },
    },
    // https://docs.perplexity.ai/api-reference/async-chat-completions-get: listing
    // the caller's async jobs (GET /async/chat/completions, Bearer) authenticates
    // and generates nothing. Newer reference pages list the same operation as
    // GET /v1/async/sonar. https://docs.perplexity.ai/guides/perplexity-sdk-error-handling
    // (401 authentication, 403, 429 rate limit, 5xx). No quota status is documented.
    Provider {
        id: ProviderId::Perplexity,
        canonical: "perplexity",
        aliases: &["pplx", "perplexity-ai"],
        display_name: "Perplexity",
        article: "a",
        key: KeyRequirement::Required,
        shapes: &[KeyShape::exactly("pplx-", Charset::Alnum, 48)],
        example_key: "pplx-T3stKeyPerplexity0123456789abcdefghijklmnopqrstu",
        base_url_variable: "APIKEYS_PERPLEXITY_BASE_URL",
        default_base_url: Some("https://api.perplexity.ai"),
        endpoint: EndpointKind::None,
        check: Check {
            path: "/async/chat/completions",
            ..BEARER_GET
        },
        // https://docs.perplexity.ai/docs/sonar/openai-compatibility (base https://api.perplexity.ai, no /v1).
        api: Api::openai(""),
    },
    // https://docs.fireworks.ai/tools-sdks/openai-compatibility (OpenAI-compatible
    // base https://api.fireworks.ai/inference/v1, Bearer key; its /models is the
    // OpenAI listing, not on a page of its own);
    // https://docs.fireworks.ai/guides/inference-error-codes (401 invalid key,
    // 402 not paid up or over limits, 412 account suspended, 429 rate limit).
    Provider {
        id: ProviderId::Fireworks,
        canonical: "fireworks",
        aliases: &["fireworks-ai", "fireworksai"],
        display_name: "Fireworks AI",
        article: "a",
        key: KeyRequirement::Required,
        shapes: &[KeyShape::between("fw_", Charset::Token, 16, 200)],
        example_key: "fw_T3stKeyFireworks0123456789abcd",
        base_url_variable: "APIKEYS_FIREWORKS_BASE_URL",
        default_base_url: Some("https://api.fireworks.ai"),
        endpoint: EndpointKind::None,
        check: Check {
            path: "/inference/v1/models",
            read: readers::fireworks,
            ..BEARER_GET
        },
        // https://docs.fireworks.ai/tools-sdks/openai-compatibility (base /inference/v1).
        api: Api::openai("/inference/v1"),
    },
    // https://learn.microsoft.com/en-us/rest/api/azureopenai/models/list?view=rest-azureopenai-2024-10-21:
    // GET {endpoint}/openai/models?api-version=..., key in the `api-key` header;
    // 401 for a wrong key or endpoint, 429 rate limit. Keys: 32 hex or 84 characters.
    Provider {
        id: ProviderId::AzureOpenAi,
        canonical: "azure-openai",
        aliases: &["azure", "azure_openai", "azureopenai"],
        display_name: "Azure OpenAI",
        article: "an",
        key: KeyRequirement::Required,
        shapes: &[
            KeyShape::exactly("", Charset::Hex, 32),
            KeyShape::exactly("", Charset::Alnum, 84),
        ],
        example_key: "cafef00ddeadbeef0123456789abcdef",
        base_url_variable: "APIKEYS_AZURE_OPENAI_BASE_URL",
        default_base_url: None,
        endpoint: EndpointKind::Azure,
        check: Check {
            path: "/openai/models",
            auth: Auth::Header("api-key"),
            query: CheckQuery::ApiVersion,
            read: readers::user_endpoint,
            ..BEARER_GET
        },
        // https://learn.microsoft.com/en-us/azure/ai-services/openai/reference:
        // {endpoint}/openai/deployments/{deployment}/chat/completions?api-version=...
        // (and /embeddings), key in `api-key`.
        api: Api {
            auth: Auth::Header("api-key"),
            ..Api::openai("/openai")
        },
    },
    // Any server speaking OpenAI's API (Ollama, vLLM, LM Studio, a gateway): the
    // base URL includes its `/v1`, as OpenAI's SDKs expect, and the check is the
    // models listing, GET {baseUrl}/models
    // (https://developers.openai.com/api/reference/cli/resources/models/methods/list).
    // Its key is optional and of any shape.
    Provider {
        id: ProviderId::OpenAiCompatible,
        canonical: "openai-compatible",
        aliases: &["openai_compatible", "custom"],
        display_name: "OpenAI-compatible server",
        article: "an",
        key: KeyRequirement::Optional,
        shapes: &[],
        example_key: "sk-T3stKeyCompatible0123456789abcdefghij",
        base_url_variable: "APIKEYS_OPENAI_COMPATIBLE_BASE_URL",
        default_base_url: None,
        endpoint: EndpointKind::BaseUrl,
        check: Check {
            path: "/models",
            read: readers::user_endpoint,
            ..BEARER_GET
        },
        // The user's base URL already ends in its `/v1`, as OpenAI's SDKs expect.
        api: Api::openai(""),
    },
];

// The registry is indexed by the variant: entry `i` must describe variant `i`.
const _: () = {
    let mut i = 0;
    while i < REGISTRY.len() {
        assert!(
            REGISTRY[i].id as usize == i,
            "registry out of variant order"
        );
        i += 1;
    }
};
