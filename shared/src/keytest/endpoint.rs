//! User-given endpoints that belong to a key: `{"baseUrl"}` for an OpenAI-compatible
//! server, `{"endpoint", "apiVersion", "deployment"?}` for Azure OpenAI. They are not
//! secrets; they are stored beside the key and returned in configs. Parsing checks
//! their form; where they resolve to is checked before every call (`ssrf`).

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use super::settings::is_loopback_host;
use crate::provider::{EndpointKind, ProviderId};

/// Longest URL accepted in an endpoint.
pub const MAX_ENDPOINT_URL_CHARS: usize = 2048;

/// A validated endpoint. URLs are kept without a trailing `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// The base URL of an OpenAI-compatible server, e.g. `https://llm.example.com/v1`.
    BaseUrl(String),
    /// An Azure OpenAI resource.
    Azure {
        /// The resource endpoint, e.g. `https://my-resource.openai.azure.com`.
        endpoint: String,
        /// The data-plane API version, e.g. `2024-10-21`.
        api_version: String,
        /// The deployment the app calls; kept for the app, not needed by the check.
        deployment: Option<String>,
    },
}

/// A problem with one field of an endpoint, for a 400 that names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointFieldError {
    /// The field, e.g. `endpoint.baseUrl`.
    pub field: &'static str,
    /// What is wrong, without quoting the value.
    pub message: String,
}

fn fail(field: &'static str, message: impl Into<String>) -> EndpointFieldError {
    EndpointFieldError {
        field,
        message: message.into(),
    }
}

/// Checks a user-given URL: absolute, https (http only on loopback when the
/// operator allows local endpoints), no credentials, no query or fragment.
fn url(
    field: &'static str,
    value: Option<&Value>,
    allow_loopback: bool,
) -> Result<String, EndpointFieldError> {
    let raw = match value {
        Some(Value::String(s)) => s.trim(),
        None | Some(Value::Null) => return Err(fail(field, "is required")),
        Some(_) => return Err(fail(field, "must be a string")),
    };
    if raw.chars().count() > MAX_ENDPOINT_URL_CHARS {
        return Err(fail(
            field,
            format!("must be at most {MAX_ENDPOINT_URL_CHARS} characters"),
        ));
    }
    let parsed = reqwest::Url::parse(raw).map_err(|_| fail(field, "must be an absolute URL"))?;
    let host = parsed.host_str().unwrap_or_default();
    match parsed.scheme() {
        "https" => {}
        "http" if allow_loopback && is_loopback_host(host) => {}
        "http" if allow_loopback => {
            return Err(fail(field, "must be https (http only on loopback)"))
        }
        _ => return Err(fail(field, "must be https")),
    }
    if host.is_empty() {
        return Err(fail(field, "must name a host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(fail(field, "must not carry credentials"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(fail(field, "must not have a query or fragment"));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_owned())
}

fn api_version(value: Option<&Value>) -> Result<String, EndpointFieldError> {
    const FIELD: &str = "endpoint.apiVersion";
    let Some(Value::String(raw)) = value else {
        return Err(fail(
            FIELD,
            match value {
                None | Some(Value::Null) => "is required",
                Some(_) => "must be a string",
            },
        ));
    };
    let raw = raw.trim();
    let date = raw.strip_suffix("-preview").unwrap_or(raw);
    let b = date.as_bytes();
    let shaped = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    if !shaped {
        return Err(fail(FIELD, "must be an API version such as 2024-10-21"));
    }
    Ok(raw.to_owned())
}

fn deployment(value: Option<&Value>) -> Result<Option<String>, EndpointFieldError> {
    const FIELD: &str = "endpoint.deployment";
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(raw)) => {
            let name = raw.trim();
            let ok = (1..=64).contains(&name.len())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
            if ok {
                Ok(Some(name.to_owned()))
            } else {
                Err(fail(
                    FIELD,
                    "must be 1 to 64 letters, digits, '-', '_' or '.'",
                ))
            }
        }
        Some(_) => Err(fail(FIELD, "must be a string")),
    }
}

fn unknown_fields(
    object: &Map<String, Value>,
    known: &[&str],
    errors: &mut Vec<EndpointFieldError>,
) {
    if object.keys().any(|k| !known.contains(&k.as_str())) {
        errors.push(fail(
            "endpoint",
            format!("has unknown fields; the fields are {}", known.join(", ")),
        ));
    }
}

impl Endpoint {
    /// Parses the `endpoint` object of a request (or a stored item) for `provider`.
    /// `allow_loopback` is the operator's `APIKEYS_ALLOW_LOOPBACK_ENDPOINTS`.
    pub fn parse(
        provider: ProviderId,
        value: &Value,
        allow_loopback: bool,
    ) -> Result<Self, Vec<EndpointFieldError>> {
        let kind = provider.entry().endpoint;
        if kind == EndpointKind::None {
            return Err(vec![fail(
                "endpoint",
                format!("is not used by {}", provider.display_name()),
            )]);
        }
        let Value::Object(object) = value else {
            return Err(vec![fail("endpoint", "must be an object")]);
        };
        let mut errors = Vec::new();
        let endpoint = match kind {
            EndpointKind::BaseUrl => {
                unknown_fields(object, &["baseUrl"], &mut errors);
                url("endpoint.baseUrl", object.get("baseUrl"), allow_loopback)
                    .map_err(|e| errors.push(e))
                    .ok()
                    .map(Endpoint::BaseUrl)
            }
            _ => {
                unknown_fields(
                    object,
                    &["endpoint", "apiVersion", "deployment"],
                    &mut errors,
                );
                let endpoint = url("endpoint.endpoint", object.get("endpoint"), allow_loopback)
                    .map_err(|e| errors.push(e))
                    .ok();
                let api_version = api_version(object.get("apiVersion"))
                    .map_err(|e| errors.push(e))
                    .ok();
                let deployment = deployment(object.get("deployment"))
                    .map_err(|e| errors.push(e))
                    .ok();
                match (endpoint, api_version, deployment) {
                    (Some(endpoint), Some(api_version), Some(deployment)) => {
                        Some(Endpoint::Azure {
                            endpoint,
                            api_version,
                            deployment,
                        })
                    }
                    _ => None,
                }
            }
        };
        match endpoint {
            Some(endpoint) if errors.is_empty() => Ok(endpoint),
            _ => Err(errors),
        }
    }

    /// The kind of provider this endpoint belongs to.
    pub fn kind(&self) -> EndpointKind {
        match self {
            Self::BaseUrl(_) => EndpointKind::BaseUrl,
            Self::Azure { .. } => EndpointKind::Azure,
        }
    }

    /// The field that holds the URL, for errors about where it leads.
    pub fn url_field(&self) -> &'static str {
        match self {
            Self::BaseUrl(_) => "endpoint.baseUrl",
            Self::Azure { .. } => "endpoint.endpoint",
        }
    }

    /// The URL the check path is appended to.
    pub fn url(&self) -> &str {
        match self {
            Self::BaseUrl(url) | Self::Azure { endpoint: url, .. } => url,
        }
    }

    /// The Azure API version, if any.
    pub fn api_version(&self) -> Option<&str> {
        match self {
            Self::BaseUrl(_) => None,
            Self::Azure { api_version, .. } => Some(api_version),
        }
    }

    /// The endpoint as stored and returned: `{"baseUrl"}` or
    /// `{"endpoint", "apiVersion", "deployment"?}`.
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        match self {
            Self::BaseUrl(url) => {
                object.insert("baseUrl".into(), url.as_str().into());
            }
            Self::Azure {
                endpoint,
                api_version,
                deployment,
            } => {
                object.insert("endpoint".into(), endpoint.as_str().into());
                object.insert("apiVersion".into(), api_version.as_str().into());
                if let Some(d) = deployment {
                    object.insert("deployment".into(), d.as_str().into());
                }
            }
        }
        Value::Object(object)
    }
}

impl Serialize for Endpoint {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

#[cfg(test)]
mod tests;
