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
        ("mistral", ProviderId::Mistral),
        ("Mistral-AI", ProviderId::Mistral),
        ("groq", ProviderId::Groq),
        ("deepseek", ProviderId::DeepSeek),
        ("together.ai", ProviderId::Together),
        ("cohere", ProviderId::Cohere),
        ("pplx", ProviderId::Perplexity),
        ("fireworks-ai", ProviderId::Fireworks),
        ("azure", ProviderId::AzureOpenAi),
        ("azure-openai", ProviderId::AzureOpenAi),
        ("openai-compatible", ProviderId::OpenAiCompatible),
    ] {
        assert_eq!(ProviderId::parse(input), Some(id), "{input}");
    }
    assert_eq!(ProviderId::parse("bedrock"), None);
    assert_eq!(ProviderId::parse("open#ai"), None);
}

#[test]
fn every_entry_is_complete_and_consistent() {
    assert_eq!(ProviderId::ALL.len(), 15);
    let mut names = std::collections::HashSet::new();
    for (i, p) in REGISTRY.iter().enumerate() {
        let id = p.id;
        assert_eq!(ProviderId::ALL[i], id);
        assert_eq!(ProviderId::parse(id.as_str()), Some(id));
        assert!(
            !id.as_str().contains('#'),
            "{id}: `#` splits the partition key"
        );
        for name in std::iter::once(p.canonical).chain(p.aliases.iter().copied()) {
            assert_eq!(name, name.to_ascii_lowercase(), "{id}: lower case");
            assert!(names.insert(name), "{name} names two providers");
            assert_eq!(ProviderId::parse(name), Some(id), "{name}");
        }
        assert_eq!(
            p.base_url_variable,
            format!(
                "APIKEYS_{}_BASE_URL",
                id.as_str().to_ascii_uppercase().replace('-', "_")
            )
        );
        assert!(matches!(p.article, "a" | "an"), "{id}");
        assert!(p.check.path.starts_with('/'), "{id}");
        assert_eq!(p.check.method, Method::Get, "{id}: checks only read");
        if let Auth::Header(name) = p.check.auth {
            assert_eq!(name, name.to_ascii_lowercase(), "{id}");
        }
        for (name, value) in p.check.headers {
            assert_eq!(*name, name.to_ascii_lowercase(), "{id}");
            assert!(!value.is_empty(), "{id}");
        }
        match p.default_base_url {
            Some(url) => assert!(url.starts_with("https://"), "{id}: {url}"),
            None => assert_ne!(p.endpoint, EndpointKind::None, "{id}: no way to reach it"),
        }
        assert!(
            id.accepts_key_shape(p.example_key),
            "{id}: its example key fits its own shape"
        );
    }
}

#[test]
fn example_keys_are_recognised_as_their_provider() {
    for p in REGISTRY {
        let guessable = p
            .shapes
            .iter()
            .any(|s| (!s.prefix.is_empty() || s.is_exact()) && s.fits(p.example_key));
        if guessable {
            assert_eq!(
                ProviderId::guess_from_key(p.example_key),
                Some(p.id),
                "{}",
                p.example_key
            );
        }
    }
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
        (ProviderId::Mistral, "aBcDeFgHiJkLmNoPqRsTuVwXyZ012345"),
        (
            ProviderId::Groq,
            "gsk_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKl",
        ),
        (ProviderId::DeepSeek, "sk-0123456789abcdef0123456789abcdef"),
        (
            ProviderId::Cohere,
            "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCd",
        ),
        (
            ProviderId::Perplexity,
            "pplx-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKl",
        ),
        (ProviderId::Fireworks, "fw_AbCdEfGhIjKlMnOpQrSt"),
        (ProviderId::AzureOpenAi, "0123456789abcdef0123456789ABCDEF"),
    ];
    for (provider, key) in cases {
        assert!(
            provider.accepts_key_shape(key),
            "{provider} should accept {key}"
        );
        assert_eq!(ProviderId::guess_from_key(key), Some(provider), "{key}");
    }
    let azure_84 = "A".repeat(84);
    assert!(ProviderId::AzureOpenAi.accepts_key_shape(&azure_84));
}

#[test]
fn misfiled_keys_are_refused_and_recognised() {
    let anthropic = "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz-0123_AA";
    assert!(!ProviderId::OpenAi.accepts_key_shape(anthropic));
    assert!(!ProviderId::OpenAi.accepts_key_shape("sk-or-v1-0123456789abcdef0123456789"));
    assert!(!ProviderId::GoogleAi.accepts_key_shape("AIzaTooShort"));
    assert!(!ProviderId::Github.accepts_key_shape("ghp_short"));
    assert_eq!(ProviderId::guess_from_key("not a key at all"), None);
    assert_eq!(
        ProviderId::OpenAi.inspect_key(anthropic),
        KeyFit::OtherProvider(ProviderId::Claude)
    );
    assert_eq!(
        ProviderId::DeepSeek.inspect_key("sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz_0123-4567"),
        KeyFit::OtherProvider(ProviderId::OpenAi)
    );
    assert_eq!(
        ProviderId::Mistral.inspect_key("gsk_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKl"),
        KeyFit::OtherProvider(ProviderId::Groq)
    );
    assert_eq!(
        ProviderId::OpenAi.inspect_key("not-a-key-at-all-really"),
        KeyFit::WrongPrefix
    );
}

#[test]
fn an_unusual_length_is_a_warning_not_a_refusal() {
    let short_groq = "gsk_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";
    let KeyFit::Unusual(warning) = ProviderId::Groq.inspect_key(short_groq) else {
        panic!("a short Groq key is tested with a warning");
    };
    assert!(
        warning.contains("48–52 letters and digits after gsk_"),
        "{warning}"
    );
    assert!(warning.contains("36 characters after gsk_"), "{warning}");
    assert!(!warning.contains(short_groq));
    // A legacy OpenAI key (sk- and 48) is no DeepSeek key, but not refused either.
    let legacy = "sk-AbCdEfGhIjKlMnOpQrStUvWxYz01234567890123456789AbCd";
    assert!(matches!(
        ProviderId::DeepSeek.inspect_key(legacy),
        KeyFit::Unusual(_)
    ));
    assert!(matches!(
        ProviderId::AzureOpenAi.inspect_key("0123456789abcdef"),
        KeyFit::Unusual(w) if w.contains("32 hexadecimal characters or 84 letters and digits")
    ));
    // A random key without prefix that happens to start like Google's is kept.
    assert_eq!(
        ProviderId::Mistral.inspect_key("AIzaBcDeFgHiJkLmNoPqRsTuVwXyZ012"),
        KeyFit::Fits
    );
    assert_eq!(
        ProviderId::OpenAiCompatible.inspect_key("anything goes"),
        KeyFit::Fits
    );
}

#[test]
fn key_prefixes_are_longest_first_and_never_empty() {
    assert_eq!(
        ProviderId::OpenAi.key_prefixes(),
        &["sk-svcacct-", "sk-admin-", "sk-proj-", "sk-"]
    );
    assert_eq!(ProviderId::Mistral.key_prefixes(), &[] as &[&str]);
    for p in ProviderId::ALL {
        assert!(p.key_prefixes().iter().all(|x| !x.is_empty()), "{p}");
    }
}

#[test]
fn accepted_ids_name_every_provider() {
    let ids = ProviderId::accepted_ids();
    for p in ProviderId::ALL {
        assert!(ids.contains(p.as_str()), "{ids}");
    }
    assert!(ids.contains("claude (anthropic)"), "{ids}");
    assert!(ids.contains("google-ai (gemini)"), "{ids}");
}
