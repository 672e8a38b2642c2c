use super::*;
use serde_json::json;

fn fields(errors: &[EndpointFieldError]) -> Vec<&'static str> {
    errors.iter().map(|e| e.field).collect()
}

#[test]
fn an_azure_endpoint_parses_and_round_trips() {
    let value =
        json!({"endpoint": "https://my-resource.openai.azure.com/", "apiVersion": "2024-10-21"});
    let endpoint = Endpoint::parse(ProviderId::AzureOpenAi, &value, false).unwrap();
    assert_eq!(
        endpoint,
        Endpoint::Azure {
            endpoint: "https://my-resource.openai.azure.com".into(),
            api_version: "2024-10-21".into(),
            deployment: None,
        }
    );
    assert_eq!(endpoint.url_field(), "endpoint.endpoint");
    let again = Endpoint::parse(ProviderId::AzureOpenAi, &endpoint.to_json(), false).unwrap();
    assert_eq!(again, endpoint);
    let with_deployment = json!({"endpoint": "https://r.openai.azure.com", "apiVersion": "2025-01-01-preview", "deployment": "gpt-4o"});
    let parsed = Endpoint::parse(ProviderId::AzureOpenAi, &with_deployment, false).unwrap();
    assert_eq!(parsed.to_json(), with_deployment);
}

#[test]
fn a_base_url_keeps_its_path_without_the_trailing_slash() {
    let value = json!({"baseUrl": "https://llm.example.com/v1/"});
    let endpoint = Endpoint::parse(ProviderId::OpenAiCompatible, &value, false).unwrap();
    assert_eq!(endpoint.url(), "https://llm.example.com/v1");
    assert_eq!(endpoint.url_field(), "endpoint.baseUrl");
    assert_eq!(
        serde_json::to_value(&endpoint).unwrap(),
        json!({"baseUrl": "https://llm.example.com/v1"})
    );
}

#[test]
fn plain_http_needs_the_opt_in_and_a_loopback_host() {
    let at = |url: &str| json!({ "baseUrl": url });
    let p = ProviderId::OpenAiCompatible;
    for url in [
        "http://localhost:11434/v1",
        "http://127.0.0.1:8000/v1",
        "http://[::1]:1234/v1",
        "http://models.localhost/v1",
    ] {
        assert!(Endpoint::parse(p, &at(url), true).is_ok(), "{url}");
        let refused = Endpoint::parse(p, &at(url), false).unwrap_err();
        assert_eq!(refused[0].message, "must be https", "{url}");
    }
    let remote = Endpoint::parse(p, &at("http://llm.example.com/v1"), true).unwrap_err();
    assert_eq!(remote[0].field, "endpoint.baseUrl");
    assert!(remote[0].message.contains("http only on loopback"));
    for url in ["ftp://llm.example.com", "file:///etc/passwd", "not a url"] {
        assert!(Endpoint::parse(p, &at(url), true).is_err(), "{url}");
    }
}

#[test]
fn credentials_queries_and_fragments_are_refused() {
    let p = ProviderId::OpenAiCompatible;
    for (url, message) in [
        (
            "https://user:secret@llm.example.com/v1",
            "must not carry credentials",
        ),
        (
            "https://user@llm.example.com/v1",
            "must not carry credentials",
        ),
        (
            "https://llm.example.com/v1?key=abc",
            "must not have a query or fragment",
        ),
        (
            "https://llm.example.com/v1#x",
            "must not have a query or fragment",
        ),
    ] {
        let errors = Endpoint::parse(p, &json!({ "baseUrl": url }), false).unwrap_err();
        assert_eq!(errors[0].message, message, "{url}");
        assert!(!errors[0].message.contains("secret"));
    }
    let long = format!("https://llm.example.com/{}", "a".repeat(3000));
    assert!(Endpoint::parse(p, &json!({ "baseUrl": long }), false).is_err());
}

#[test]
fn every_bad_field_is_named_at_once() {
    let value = json!({"endpoint": "http://r.openai.azure.com", "apiVersion": "latest", "deployment": "a b"});
    let errors = Endpoint::parse(ProviderId::AzureOpenAi, &value, false).unwrap_err();
    assert_eq!(
        fields(&errors),
        [
            "endpoint.endpoint",
            "endpoint.apiVersion",
            "endpoint.deployment"
        ]
    );
    let missing = Endpoint::parse(ProviderId::AzureOpenAi, &json!({}), false).unwrap_err();
    assert_eq!(
        fields(&missing),
        ["endpoint.endpoint", "endpoint.apiVersion"]
    );
    assert_eq!(missing[0].message, "is required");
}

#[test]
fn the_object_and_the_provider_must_fit() {
    let extra = json!({"baseUrl": "https://llm.example.com/v1", "apiKey": "x"});
    let errors = Endpoint::parse(ProviderId::OpenAiCompatible, &extra, false).unwrap_err();
    assert_eq!(fields(&errors), ["endpoint"]);
    let not_object = Endpoint::parse(ProviderId::OpenAiCompatible, &json!("https://x"), false);
    assert_eq!(fields(&not_object.unwrap_err()), ["endpoint"]);
    let openai = Endpoint::parse(ProviderId::OpenAi, &json!({"baseUrl": "https://x"}), false);
    let errors = openai.unwrap_err();
    assert_eq!(errors[0].field, "endpoint");
    assert!(errors[0].message.contains("OpenAI"));
}
