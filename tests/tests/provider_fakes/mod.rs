//! Fake providers for key-check tests: real HTTP servers on loopback (wiremock)
//! that answer only the right check call, and the assertions that go with them.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use apikeys::keytest::ssrf::Resolution;
use apikeys::keytest::{HostResolver, KeyTestResult, KeyTestSettings, KeyTester};
use apikeys::provider::ProviderId;
use secrecy::SecretString;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

pub use apikeys_integration_tests::provider_test_key as key_for;

/// The check call each provider must receive: (path, auth header, header value).
/// Written out here, apart from the registry, so that a wrong entry fails a test.
pub fn check_call(provider: ProviderId) -> (&'static str, &'static str, String) {
    let key = key_for(provider);
    let bearer = ("authorization", format!("Bearer {key}"));
    let named = |name| (name, key.to_owned());
    let (route, (name, value)) = match provider {
        ProviderId::OpenAi => ("/v1/models", bearer),
        ProviderId::Claude => ("/v1/models", named("x-api-key")),
        ProviderId::GoogleAi => ("/v1beta/models", named("x-goog-api-key")),
        ProviderId::OpenRouter => ("/api/v1/key", bearer),
        ProviderId::Grok => ("/v1/api-key", bearer),
        ProviderId::Github => ("/user", bearer),
        ProviderId::Mistral => ("/v1/models", bearer),
        ProviderId::Groq => ("/openai/v1/models", bearer),
        ProviderId::DeepSeek => ("/user/balance", bearer),
        ProviderId::Together => ("/v1/models", bearer),
        ProviderId::Cohere => ("/v1/models", bearer),
        ProviderId::Perplexity => ("/async/chat/completions", bearer),
        ProviderId::Fireworks => ("/inference/v1/models", bearer),
        ProviderId::AzureOpenAi => ("/openai/models", named("api-key")),
        ProviderId::OpenAiCompatible => ("/models", bearer),
    };
    (route, name, value)
}

/// Settings that point `provider`'s checks at `server`, with short waits.
pub fn settings_for(server: &MockServer, provider: ProviderId, total: Duration) -> KeyTestSettings {
    let mut settings = KeyTestSettings::default();
    settings.total_timeout = total;
    settings.connect_timeout = Duration::from_millis(500);
    settings.backoff = Duration::from_millis(20);
    settings.set_base_url(provider, &server.uri()).unwrap();
    settings
}

/// A tester whose `provider` checks go to `server`.
pub fn tester_for(server: &MockServer, provider: ProviderId, total: Duration) -> KeyTester {
    KeyTester::new(settings_for(server, provider, total))
}

/// Mounts `response` for exactly the right check call of `provider`.
pub async fn mount_check(server: &MockServer, provider: ProviderId, response: ResponseTemplate) {
    let (route, name, value) = check_call(provider);
    Mock::given(method("GET"))
        .and(path(route))
        .and(header(name, value.as_str()))
        .respond_with(response)
        .mount(server)
        .await;
}

/// Given a fake provider answering `response` to the right check call, runs a
/// test within `total`.
pub async fn answer_within(
    provider: ProviderId,
    response: ResponseTemplate,
    total: Duration,
) -> (KeyTestResult, Vec<Request>) {
    let server = MockServer::start().await;
    mount_check(&server, provider, response).await;
    let tester = tester_for(&server, provider, total);
    let result = tester
        .test(provider, &SecretString::from(key_for(provider)))
        .await;
    let requests = server.received_requests().await.unwrap_or_default();
    (result, requests)
}

/// [`answer_within`] with a budget no test reaches.
pub async fn answer(
    provider: ProviderId,
    response: ResponseTemplate,
) -> (KeyTestResult, Vec<Request>) {
    answer_within(provider, response, Duration::from_secs(5)).await
}

/// The key went in its header only: not in the URL, not in any other header, and
/// the query string holds nothing but Azure's `api-version`.
pub fn assert_key_only_in_its_header(provider: ProviderId, requests: &[Request]) {
    let key = key_for(provider);
    let (_, auth, _) = check_call(provider);
    for r in requests {
        assert!(!r.url.as_str().contains(key), "{provider}: key in URL");
        match provider {
            ProviderId::AzureOpenAi => {
                assert_eq!(r.url.query(), Some("api-version=2024-10-21"), "{provider}")
            }
            _ => assert_eq!(r.url.query(), None, "{provider}: no query string"),
        }
        for (name, value) in r.headers.iter() {
            if name.as_str() != auth {
                assert!(
                    !value.to_str().unwrap_or_default().contains(key),
                    "{provider}: key in header {name}"
                );
            }
        }
    }
}

/// A resolver that answers from a table and counts every call.
#[derive(Debug, Default)]
pub struct Table {
    names: HashMap<String, Vec<IpAddr>>,
    calls: AtomicUsize,
}

impl Table {
    /// A table of (name, address) pairs; a name may appear more than once.
    pub fn with(entries: &[(&str, &str)]) -> Arc<Self> {
        let mut table = Self::default();
        for (name, ip) in entries {
            table
                .names
                .entry((*name).to_owned())
                .or_default()
                .push(ip.parse().unwrap());
        }
        Arc::new(table)
    }

    /// How many times a name was resolved.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl HostResolver for Table {
    fn resolve<'a>(&'a self, host: &'a str) -> Resolution<'a> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let found = self.names.get(host).cloned();
        Box::pin(async move { found.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, host)) })
    }
}
