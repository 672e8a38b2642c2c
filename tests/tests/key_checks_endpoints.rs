//! Key tests against user-given endpoints (an OpenAI-compatible base URL, an Azure
//! OpenAI resource): the guard decides from a resolver the test controls, the call
//! goes to the checked address only, and refusals name the field before any
//! connection.

use std::time::Duration;

use apikeys::keytest::{Endpoint, EndpointError, KeyStatus, KeyTestSettings, KeyTester};
use apikeys::provider::ProviderId;
use secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

mod provider_fakes;

use provider_fakes::{key_for, Table};

fn settings(allow_loopback: bool) -> KeyTestSettings {
    let mut settings = KeyTestSettings::default();
    settings.total_timeout = Duration::from_secs(5);
    settings.connect_timeout = Duration::from_millis(500);
    settings.backoff = Duration::from_millis(20);
    settings.allow_loopback_endpoints = allow_loopback;
    settings
}

/// A fake server on 127.0.0.2, which no name resolves to unless our resolver says
/// so: a call that reaches it went to the checked address.
async fn server_on_127_0_0_2() -> MockServer {
    let listener = std::net::TcpListener::bind("127.0.0.2:0").expect("127.0.0.2 is loopback");
    MockServer::builder().listener(listener).start().await
}

fn port(server: &MockServer) -> u16 {
    server.address().port()
}

fn endpoint(tester: &KeyTester, provider: ProviderId, value: serde_json::Value) -> Endpoint {
    tester
        .parse_endpoint(provider, &value)
        .expect("a valid endpoint")
}

fn key(provider: ProviderId) -> SecretString {
    SecretString::from(key_for(provider))
}

#[tokio::test]
async fn a_base_url_is_called_at_the_checked_address_without_a_second_resolution() {
    let server = server_on_127_0_0_2().await;
    let p = ProviderId::OpenAiCompatible;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .and(header(
            "authorization",
            format!("Bearer {}", key_for(p)).as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": []})))
        .mount(&server)
        .await;
    let host = "llm.vault-test.localhost";
    let resolver = Table::with(&[(host, "127.0.0.2")]);
    let tester = KeyTester::with_resolver(settings(true), resolver.clone());
    let at = endpoint(
        &tester,
        p,
        json!({"baseUrl": format!("http://{host}:{}/v1/", port(&server))}),
    );

    let result = tester.test_with(p, Some(&key(p)), Some(&at)).await.unwrap();

    assert_eq!(result.status, KeyStatus::Valid, "{}", result.message);
    assert_eq!(resolver.calls(), 1, "resolved once, by the guard");
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let sent_host = requests[0].headers.get("host").unwrap().to_str().unwrap();
    assert_eq!(sent_host, format!("{host}:{}", port(&server)));
}

#[tokio::test]
async fn an_azure_endpoint_gets_its_api_version_and_the_api_key_header() {
    let server = server_on_127_0_0_2().await;
    let p = ProviderId::AzureOpenAi;
    Mock::given(method("GET"))
        .and(path("/openai/models"))
        .and(query_param("api-version", "2025-01-01-preview"))
        .and(header("api-key", key_for(p)))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"data": [], "object": "list"})),
        )
        .mount(&server)
        .await;
    let host = "my-resource.vault-test.localhost";
    let tester = KeyTester::with_resolver(settings(true), Table::with(&[(host, "127.0.0.2")]));
    let at = endpoint(
        &tester,
        p,
        json!({"endpoint": format!("http://{host}:{}", port(&server)), "apiVersion": "2025-01-01-preview", "deployment": "gpt-4o"}),
    );

    let result = tester.test_with(p, Some(&key(p)), Some(&at)).await.unwrap();

    assert_eq!(result.status, KeyStatus::Valid, "{}", result.message);
    let requests = server.received_requests().await.unwrap();
    assert!(!requests[0].url.as_str().contains(key_for(p)));
    assert!(requests[0].headers.get("authorization").is_none());
}

#[tokio::test]
async fn names_that_lead_inside_are_refused_before_any_connection() {
    let server = server_on_127_0_0_2().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let p = ProviderId::OpenAiCompatible;
    let resolver = Table::with(&[
        ("metadata.example.com", "169.254.169.254"),
        ("mapped-metadata.example.com", "::ffff:169.254.169.254"),
        ("mapped-private.example.com", "::ffff:10.0.0.1"),
        ("private.example.com", "192.168.1.20"),
        ("cgnat.example.com", "100.64.0.7"),
        ("mixed.example.com", "8.8.8.8"),
        ("mixed.example.com", "172.16.0.1"),
        // Our own fake server: loopback, refused without the opt-in.
        ("loopback.example.com", "127.0.0.2"),
    ]);
    let tester = KeyTester::with_resolver(settings(false), resolver.clone());
    let port = port(&server);
    for url in [
        "https://metadata.example.com/latest".to_owned(),
        "https://mapped-metadata.example.com/v1".to_owned(),
        "https://mapped-private.example.com/v1".to_owned(),
        "https://private.example.com/v1".to_owned(),
        "https://cgnat.example.com/v1".to_owned(),
        "https://mixed.example.com/v1".to_owned(),
        format!("https://loopback.example.com:{port}/v1"),
        format!("https://[::1]:{port}/v1"),
        "https://169.254.169.254/latest/meta-data".to_owned(),
        "https://[::ffff:a9fe:a9fe]/".to_owned(),
    ] {
        let at = endpoint(&tester, p, json!({ "baseUrl": url }));
        let refused = tester.test_with(p, Some(&key(p)), Some(&at)).await;
        let EndpointError { field, reason } = refused.expect_err(&url);
        assert_eq!(field, "endpoint.baseUrl", "{url}");
        assert!(reason.contains("never call"), "{url}: {reason}");
        assert!(!reason.contains("169.254") && !reason.contains("example.com"));
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn loopback_endpoints_work_only_with_the_operator_opt_in() {
    let server = server_on_127_0_0_2().await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let p = ProviderId::OpenAiCompatible;
    let host = "ollama.vault-test.localhost";
    let url = json!({"baseUrl": format!("https://{host}:{}/v1", port(&server))});
    let closed = KeyTester::with_resolver(settings(false), Table::with(&[(host, "127.0.0.2")]));
    let at = endpoint(&closed, p, url.clone());
    assert!(closed.test_with(p, None, Some(&at)).await.is_err());
    assert!(closed
        .parse_endpoint(p, &json!({"baseUrl": format!("http://{host}/v1")}))
        .is_err());

    let open = KeyTester::with_resolver(settings(true), Table::with(&[(host, "127.0.0.2")]));
    let plain = endpoint(
        &open,
        p,
        json!({"baseUrl": format!("http://{host}:{}/v1", port(&server))}),
    );
    let result = open.test_with(p, None, Some(&plain)).await.unwrap();
    assert_eq!(result.status, KeyStatus::Valid, "{}", result.message);
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    assert!(
        requests[0].headers.get("authorization").is_none(),
        "no key, no header"
    );
}

#[tokio::test]
async fn missing_or_misplaced_endpoints_name_the_field() {
    let tester = KeyTester::with_resolver(settings(false), Table::with(&[]));
    let azure = tester
        .test_with(
            ProviderId::AzureOpenAi,
            Some(&key(ProviderId::AzureOpenAi)),
            None,
        )
        .await;
    assert_eq!(azure.unwrap_err().field, "endpoint.endpoint");
    let compatible = tester
        .test_with(ProviderId::OpenAiCompatible, None, None)
        .await;
    assert_eq!(compatible.unwrap_err().field, "endpoint.baseUrl");
    let base = endpoint(
        &tester,
        ProviderId::OpenAiCompatible,
        json!({"baseUrl": "https://llm.example.com/v1"}),
    );
    let misplaced = tester
        .test_with(
            ProviderId::OpenAi,
            Some(&key(ProviderId::OpenAi)),
            Some(&base),
        )
        .await;
    assert_eq!(misplaced.unwrap_err().field, "endpoint");
    // The old entry point answers with a status instead of failing.
    let old = tester
        .test(ProviderId::AzureOpenAi, &key(ProviderId::AzureOpenAi))
        .await;
    assert_eq!(old.status, KeyStatus::ProviderError);
    assert!(old.message.contains("endpoint.endpoint"), "{}", old.message);
}

#[tokio::test]
async fn an_unresolvable_name_is_unreachable_and_a_missing_path_says_so() {
    let server = server_on_127_0_0_2().await;
    let p = ProviderId::OpenAiCompatible;
    let host = "gateway.vault-test.localhost";
    let tester = KeyTester::with_resolver(settings(true), Table::with(&[(host, "127.0.0.2")]));
    let nowhere = endpoint(
        &tester,
        p,
        json!({"baseUrl": "https://nowhere.example.com/v1"}),
    );
    let result = tester.test_with(p, None, Some(&nowhere)).await.unwrap();
    assert_eq!(result.status, KeyStatus::Unreachable);

    // Nothing mounted: the server answers 404, as a base URL without /v1 would.
    let at = endpoint(
        &tester,
        p,
        json!({"baseUrl": format!("http://{host}:{}", port(&server))}),
    );
    let result = tester.test_with(p, None, Some(&at)).await.unwrap();
    assert_eq!(result.status, KeyStatus::ProviderError);
    assert!(result.message.contains("/v1"), "{}", result.message);
}

#[tokio::test]
async fn redirects_are_not_followed_and_big_answers_are_cut() {
    let server = server_on_127_0_0_2().await;
    let p = ProviderId::OpenAiCompatible;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(
            ResponseTemplate::new(302).insert_header("location", "http://169.254.169.254/latest"),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/big/models"))
        .respond_with(ResponseTemplate::new(401).set_body_string("x".repeat(4 * 1024 * 1024)))
        .mount(&server)
        .await;
    let host = "redirect.vault-test.localhost";
    let tester = KeyTester::with_resolver(settings(true), Table::with(&[(host, "127.0.0.2")]));
    let at = endpoint(
        &tester,
        p,
        json!({"baseUrl": format!("http://{host}:{}/v1", port(&server))}),
    );
    let result = tester.test_with(p, None, Some(&at)).await.unwrap();
    assert_eq!(
        result.status,
        KeyStatus::ProviderError,
        "{}",
        result.message
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 1);

    let big = endpoint(
        &tester,
        p,
        json!({"baseUrl": format!("http://{host}:{}/big", port(&server))}),
    );
    let result = tester.test_with(p, None, Some(&big)).await.unwrap();
    assert_eq!(result.status, KeyStatus::Invalid);
    assert!(
        result.message.len() < 1000,
        "{} bytes",
        result.message.len()
    );
}

#[tokio::test]
async fn an_unusual_key_length_is_tested_and_warned_about() {
    let server = MockServer::start().await;
    let p = ProviderId::Groq;
    let short = "gsk_T3stKeyGroq0123456789abcdefghij";
    Mock::given(method("GET"))
        .and(path("/openai/v1/models"))
        .and(header("authorization", format!("Bearer {short}").as_str()))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let mut settings = settings(false);
    settings.set_base_url(p, &server.uri()).unwrap();
    let tester = KeyTester::new(settings);

    let result = tester.test(p, &SecretString::from(short)).await;

    assert_eq!(result.status, KeyStatus::Valid, "{}", result.message);
    assert_eq!(result.warnings.len(), 1, "{:?}", result.warnings);
    assert!(
        result.warnings[0].contains("48–52"),
        "{}",
        result.warnings[0]
    );
    let json = serde_json::to_value(&result).unwrap();
    assert_eq!(json["warnings"][0], result.warnings[0].as_str());
    assert!(!json.to_string().contains(short));

    let fitting = tester.test(p, &key(p)).await;
    let json = serde_json::to_value(&fitting).unwrap();
    assert!(
        json.get("warnings").is_none(),
        "no warnings field when there are none"
    );
}

#[tokio::test]
async fn an_endpoint_whose_name_does_not_resolve_is_refused_where_it_is_stored() {
    // Given a resolver that knows one name only
    let host = "known.vault-test.localhost";
    let tester = KeyTester::with_resolver(settings(true), Table::with(&[(host, "127.0.0.2")]));
    // When the store's guard looks at an endpoint of a name it does not know
    let nowhere = endpoint(
        &tester,
        ProviderId::OpenAiCompatible,
        json!({"baseUrl": "http://unknown.vault-test.localhost:8080/v1"}),
    );
    let refused = tester
        .guard_endpoint(ProviderId::OpenAiCompatible, &nowhere)
        .await
        .unwrap_err();
    // Then it is refused, naming the field; the known name passes
    assert_eq!(refused.field, "endpoint.baseUrl");
    assert!(
        refused.reason.contains("does not resolve"),
        "{}",
        refused.reason
    );
    let known = endpoint(
        &tester,
        ProviderId::OpenAiCompatible,
        json!({"baseUrl": format!("http://{host}:8080/v1")}),
    );
    assert!(tester
        .guard_endpoint(ProviderId::OpenAiCompatible, &known)
        .await
        .is_ok());
}
