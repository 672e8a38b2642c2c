//! Where a proxied call goes and what it carries: the provider's own API (or the
//! key's checked endpoint), the operation's path, the caller's allowed headers and
//! body, and the key in the header the provider documents, never in the URL.

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use serde_json::Value;

use super::route::{Operation, ProxyRoute};
use crate::domain::ProviderKey;
use crate::keytest::{Endpoint, DEFAULT_AZURE_API_VERSION};
use crate::provider::{ApiFamily, Auth, EndpointKind, ProviderId};
use crate::sealing_state::SealingState;

/// The request body as forwarded, and the model it names (for the audit line and
/// an Azure deployment).
pub(crate) struct Body {
    pub(crate) bytes: Bytes,
    pub(crate) model: String,
}

/// The longest model name kept for the audit line.
const MAX_MODEL_CHARS: usize = 128;

/// Reads the body of a call: a JSON object for every operation that takes one.
/// An OpenAI stream is asked to end with its usage where the provider documents
/// `stream_options.include_usage`.
pub(crate) fn prepare_body(route: &ProxyRoute, body: Bytes) -> Result<Body, &'static str> {
    if route.operation == Operation::Models {
        return Ok(Body {
            bytes: Bytes::new(),
            model: String::new(),
        });
    }
    let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(&body) else {
        return Err("the request body must be a JSON object");
    };
    let model = route
        .model
        .clone()
        .or_else(|| {
            object
                .get("model")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_default()
        .chars()
        .take(MAX_MODEL_CHARS)
        .collect();
    let asks_usage = route.operation == Operation::ChatCompletions
        && route.provider.entry().api.stream_usage_option
        && object.get("stream") == Some(&Value::Bool(true));
    if !asks_usage {
        return Ok(Body { bytes: body, model });
    }
    let options = object
        .entry("stream_options")
        .or_insert_with(|| Value::Object(Default::default()));
    if let Value::Object(options) = options {
        options.insert("include_usage".into(), Value::Bool(true));
    } else {
        return Err("stream_options must be an object");
    }
    let bytes = serde_json::to_vec(&Value::Object(object))
        .map_err(|_| "the request body must be a JSON object")?;
    Ok(Body {
        bytes: Bytes::from(bytes),
        model,
    })
}

/// The URL of the call with this key, and the user's endpoint when the call must go
/// through a client pinned to its checked addresses.
pub(crate) fn target(
    state: &SealingState,
    route: &ProxyRoute,
    key: &ProviderKey,
    model: &str,
) -> Result<(reqwest::Url, Option<Endpoint>), ()> {
    let provider = route.provider;
    let entry = provider.entry();
    let endpoint = match key.endpoint.as_ref().filter(|v| !v.is_null()) {
        Some(value) => Some(
            state
                .tester
                .parse_endpoint(provider, value)
                .map_err(|_| ())?,
        ),
        None => None,
    };
    let text = match (entry.endpoint, &endpoint) {
        (
            EndpointKind::Azure,
            Some(Endpoint::Azure {
                endpoint: base,
                api_version,
                deployment,
            }),
        ) => azure_url(
            route.operation,
            base,
            api_version,
            deployment.as_deref().unwrap_or(model),
        )?,
        (EndpointKind::Azure, _) => {
            let base = state.tester.settings().base_url(provider).ok_or(())?;
            azure_url(route.operation, base, DEFAULT_AZURE_API_VERSION, model)?
        }
        (EndpointKind::BaseUrl, Some(Endpoint::BaseUrl(base))) => {
            format!("{base}/{}", route.operation.openai_path())
        }
        (EndpointKind::BaseUrl, _) => {
            let base = state.tester.settings().base_url(provider).ok_or(())?;
            format!("{base}/{}", route.operation.openai_path())
        }
        (EndpointKind::None, _) => provider_url(state, route, provider),
    };
    let url = reqwest::Url::parse(&text).map_err(|_| ())?;
    Ok((url, endpoint))
}

/// The URL of a call with the deployment's own key: the provider's own API.
pub(crate) fn deployment_url(state: &SealingState, route: &ProxyRoute) -> Result<reqwest::Url, ()> {
    reqwest::Url::parse(&provider_url(state, route, route.provider)).map_err(|_| ())
}

/// The provider's own API: a configured `APIKEYS_<ID>_BASE_URL` wins, then the
/// API's own host where it differs from the checks', then the default base URL.
fn provider_url(state: &SealingState, route: &ProxyRoute, provider: ProviderId) -> String {
    let entry = provider.entry();
    let configured = state
        .tester
        .settings()
        .base_url(provider)
        .filter(|b| Some(*b) != entry.default_base_url);
    let base = configured
        .or(entry.api.host)
        .or(entry.default_base_url)
        .unwrap_or_default()
        .trim_end_matches('/');
    let prefix = entry.api.prefix;
    match entry.api.family {
        ApiFamily::OpenAi => format!("{base}{prefix}/{}", route.operation.openai_path()),
        ApiFamily::Anthropic => format!("{base}{prefix}/messages"),
        ApiFamily::Gemini => {
            let method = route.operation.openai_path();
            let model = route.model.as_deref().unwrap_or_default();
            let sse = if route.sse { "?alt=sse" } else { "" };
            format!("{base}{prefix}/models/{model}:{method}{sse}")
        }
    }
}

/// An Azure OpenAI resource's URL: the deployment's operation, or the models list.
fn azure_url(
    operation: Operation,
    base: &str,
    version: &str,
    deployment: &str,
) -> Result<String, ()> {
    let base = base.trim_end_matches('/');
    let version: String = url_component(version);
    Ok(match operation {
        Operation::Models => format!("{base}/openai/models?api-version={version}"),
        Operation::ChatCompletions | Operation::Embeddings => {
            // `.` and `..` would be path segments once decoded: never a deployment.
            if deployment.is_empty() || deployment.chars().all(|c| c == '.') {
                return Err(());
            }
            format!(
                "{base}/openai/deployments/{}/{}?api-version={version}",
                url_component(deployment),
                operation.openai_path()
            )
        }
        _ => return Err(()),
    })
}

/// What stays as it is in a path segment or a query value: RFC 3986's unreserved
/// characters; everything else is percent-encoded.
const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn url_component(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, COMPONENT).to_string()
}

/// A header value the client never logs or prints.
fn sensitive(value: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(value).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// The call: the caller's allowed headers, the API's fixed headers where the
/// caller sent none, and the key in its header. `None` when the key cannot be a
/// header value.
pub(crate) fn request(
    client: &reqwest::Client,
    route: &ProxyRoute,
    url: reqwest::Url,
    key: &str,
    forwarded: &HeaderMap,
    body: Bytes,
) -> Option<reqwest::Request> {
    let api = route.provider.entry().api;
    let mut headers = forwarded.clone();
    for (name, value) in api.headers {
        if !headers.contains_key(*name) {
            headers.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
    }
    let post = route.operation.method() == http::Method::POST;
    if post && !headers.contains_key(CONTENT_TYPE) {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    if !key.is_empty() {
        match api.auth {
            Auth::Bearer => {
                headers.insert(AUTHORIZATION, sensitive(&format!("Bearer {key}"))?);
            }
            Auth::Header(name) => {
                headers.insert(HeaderName::from_static(name), sensitive(key)?);
            }
        }
    }
    let mut request = client
        .request(route.operation.method(), url)
        .headers(headers);
    if post {
        request = request.body(body);
    }
    request.build().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::route::parse;

    fn route(path: &str) -> ProxyRoute {
        let method = if path.ends_with("/models") {
            http::Method::GET
        } else {
            http::Method::POST
        };
        parse(&method, path, None).unwrap()
    }

    #[test]
    fn an_openai_stream_is_asked_for_its_usage() {
        let r = route("/proxy/openai/v1/chat/completions");
        let body = prepare_body(
            &r,
            Bytes::from_static(br#"{"model":"gpt-4o-mini","stream":true,"messages":[]}"#),
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&body.bytes).unwrap();
        assert_eq!(v["stream_options"]["include_usage"], Value::Bool(true));
        assert_eq!(body.model, "gpt-4o-mini");
        // Not a stream, or a provider that does not document the option: as sent.
        let sent = Bytes::from_static(br#"{"model":"m","messages":[]}"#);
        assert_eq!(prepare_body(&r, sent.clone()).unwrap().bytes, sent);
        let groq = route("/proxy/groq/v1/chat/completions");
        let sent = Bytes::from_static(br#"{"model":"m","stream":true}"#);
        assert_eq!(prepare_body(&groq, sent.clone()).unwrap().bytes, sent);
        assert!(prepare_body(&r, Bytes::from_static(b"[1]")).is_err());
        assert!(prepare_body(
            &r,
            Bytes::from_static(br#"{"stream":true,"stream_options":1}"#)
        )
        .is_err());
    }

    #[test]
    fn the_key_goes_in_the_documented_header_only() {
        let client = reqwest::Client::new();
        let forwarded = super::super::headers::to_provider(&{
            let mut h = HeaderMap::new();
            h.insert("authorization", HeaderValue::from_static("Bearer user-jwt"));
            h.insert("content-type", HeaderValue::from_static("application/json"));
            h
        });
        for (path, header, value) in [
            (
                "/proxy/openai/v1/chat/completions",
                "authorization",
                "Bearer sk-test",
            ),
            ("/proxy/claude/v1/messages", "x-api-key", "sk-test"),
            (
                "/proxy/google-ai/v1beta/models/gemini-2.0-flash:generateContent",
                "x-goog-api-key",
                "sk-test",
            ),
        ] {
            let r = route(path);
            let url = reqwest::Url::parse("https://provider.example/x").unwrap();
            let request = request(
                &client,
                &r,
                url,
                "sk-test",
                &forwarded,
                Bytes::from_static(b"{}"),
            )
            .unwrap();
            assert_eq!(request.headers()[header], value, "{path}");
            assert!(request.headers()[header].is_sensitive());
            let carrying: Vec<_> = request
                .headers()
                .iter()
                .filter(|(_, v)| {
                    v.to_str()
                        .is_ok_and(|v| v.contains("sk-test") || v.contains("user-jwt"))
                })
                .map(|(n, _)| n.as_str())
                .collect();
            assert_eq!(carrying, [header], "{path}");
            assert!(!request.url().as_str().contains("sk-test"));
        }
        let claude = request(
            &client,
            &route("/proxy/claude/v1/messages"),
            reqwest::Url::parse("https://a.example/").unwrap(),
            "k",
            &HeaderMap::new(),
            Bytes::new(),
        )
        .unwrap();
        assert_eq!(claude.headers()["anthropic-version"], "2023-06-01");
    }

    #[test]
    fn azure_calls_name_the_deployment_and_version() {
        assert_eq!(
            azure_url(Operation::ChatCompletions, "https://r.openai.azure.com/", "2024-10-21", "gpt 4o").unwrap(),
            "https://r.openai.azure.com/openai/deployments/gpt%204o/chat/completions?api-version=2024-10-21"
        );
        assert!(azure_url(Operation::ChatCompletions, "https://r", "v", "").is_err());
        assert!(azure_url(Operation::ChatCompletions, "https://r", "v", "..").is_err());
        assert!(azure_url(Operation::ChatCompletions, "https://r", "v", ".").is_err());
        assert!(azure_url(Operation::Responses, "https://r", "v", "d").is_err());
    }
}
