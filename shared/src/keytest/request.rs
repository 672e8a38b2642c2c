//! The check call of a registry entry as an HTTP request: the key in the header
//! the entry names, never in the URL.

use reqwest::header::{HeaderName, HeaderValue, AUTHORIZATION};
use reqwest::{Client, Method as HttpMethod, Request, Url};

use crate::provider::{Auth, CheckQuery, Method, Provider};

/// The URL of `provider`'s check against `base` (no trailing `/`).
pub(crate) fn check_url(provider: &Provider, base: &str, api_version: Option<&str>) -> Option<Url> {
    let mut url = Url::parse(&format!("{base}{}", provider.check.path)).ok()?;
    match provider.check.query {
        CheckQuery::None => {}
        CheckQuery::ApiVersion => {
            url.query_pairs_mut()
                .append_pair("api-version", api_version?);
        }
    }
    Some(url)
}

/// A header value the client never logs or prints.
fn sensitive(value: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(value).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// The check request; `None` when the key cannot be a header value.
pub(crate) fn check_request(
    client: &Client,
    provider: &Provider,
    url: Url,
    key: Option<&str>,
) -> Option<Request> {
    let method = match provider.check.method {
        Method::Get => HttpMethod::GET,
    };
    let mut request = client.request(method, url);
    for (name, value) in provider.check.headers {
        request = request.header(*name, *value);
    }
    if let Some(key) = key {
        request = match provider.check.auth {
            Auth::Bearer => request.header(AUTHORIZATION, sensitive(&format!("Bearer {key}"))?),
            Auth::Header(name) => request.header(HeaderName::from_static(name), sensitive(key)?),
        };
    }
    request.build().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::REGISTRY;

    #[test]
    fn every_entry_sends_its_key_in_the_right_header_and_never_in_the_url() {
        let client = Client::new();
        for p in REGISTRY {
            let key = p.example_key;
            let url = check_url(p, "https://provider.example.com/base", Some("2024-10-21"))
                .expect("a check URL");
            let request = check_request(&client, p, url, Some(key)).expect("a request");

            assert_eq!(request.method(), HttpMethod::GET, "{}", p.canonical);
            let url = request.url().as_str();
            assert!(!url.contains(key), "{}: key in the URL", p.canonical);
            assert!(
                url.starts_with(&format!(
                    "https://provider.example.com/base{}",
                    p.check.path
                )),
                "{url}"
            );
            match p.check.query {
                CheckQuery::None => assert_eq!(request.url().query(), None, "{url}"),
                CheckQuery::ApiVersion => {
                    assert_eq!(request.url().query(), Some("api-version=2024-10-21"))
                }
            }
            let (name, expected) = match p.check.auth {
                Auth::Bearer => ("authorization", format!("Bearer {key}")),
                Auth::Header(name) => (name, key.to_owned()),
            };
            let sent = request.headers().get(name).expect("the auth header");
            assert_eq!(sent.to_str().unwrap(), expected, "{}", p.canonical);
            assert!(sent.is_sensitive(), "{}: marked sensitive", p.canonical);
            let carrying: Vec<_> = request
                .headers()
                .iter()
                .filter(|(_, v)| v.to_str().is_ok_and(|v| v.contains(key)))
                .map(|(n, _)| n.as_str())
                .collect();
            assert_eq!(
                carrying,
                [name],
                "{}: the key in one header only",
                p.canonical
            );
            for (header, value) in p.check.headers {
                assert_eq!(request.headers().get(*header).unwrap(), value);
            }
        }
    }

    #[test]
    fn a_check_without_a_key_sends_no_auth_header() {
        let client = Client::new();
        let p = crate::provider::ProviderId::OpenAiCompatible.entry();
        let url = check_url(p, "http://127.0.0.1:1/v1", None).unwrap();
        let request = check_request(&client, p, url, None).unwrap();
        assert_eq!(request.url().as_str(), "http://127.0.0.1:1/v1/models");
        assert!(request.headers().get("authorization").is_none());
    }

    #[test]
    fn a_key_that_cannot_be_a_header_builds_no_request() {
        let client = Client::new();
        let p = crate::provider::ProviderId::OpenAi.entry();
        let url = check_url(p, "https://api.openai.com", None).unwrap();
        assert!(check_request(&client, p, url, Some("sk-bad\nkey")).is_none());
    }
}
