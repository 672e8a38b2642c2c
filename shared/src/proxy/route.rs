//! The paths the proxy serves, as data: per provider family, the operations an
//! official SDK calls, and nothing else. A path that is not one of them is 404 and
//! never forwarded.

use http::Method;

use crate::provider::{ApiFamily, ProviderId};

/// Where every proxied path starts.
pub const PREFIX: &str = "/proxy/";

/// An operation of a provider's API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// OpenAI `POST /v1/chat/completions`.
    ChatCompletions,
    /// OpenAI `POST /v1/embeddings`.
    Embeddings,
    /// OpenAI `GET /v1/models`.
    Models,
    /// OpenAI `POST /v1/responses`.
    Responses,
    /// Anthropic `POST /v1/messages`.
    Messages,
    /// Gemini `POST /v1beta/models/{model}:generateContent`.
    GenerateContent,
    /// Gemini `POST /v1beta/models/{model}:streamGenerateContent`.
    StreamGenerateContent,
}

impl Operation {
    /// The method the operation takes.
    pub fn method(self) -> Method {
        match self {
            Self::Models => Method::GET,
            _ => Method::POST,
        }
    }

    /// Its name in the audit line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ChatCompletions => "chat.completions",
            Self::Embeddings => "embeddings",
            Self::Models => "models",
            Self::Responses => "responses",
            Self::Messages => "messages",
            Self::GenerateContent => "generateContent",
            Self::StreamGenerateContent => "streamGenerateContent",
        }
    }

    /// The OpenAI-family path after the API's prefix.
    pub(crate) fn openai_path(self) -> &'static str {
        match self {
            Self::ChatCompletions => "chat/completions",
            Self::Embeddings => "embeddings",
            Self::Models => "models",
            Self::Responses => "responses",
            Self::Messages => "messages",
            Self::GenerateContent => "generateContent",
            Self::StreamGenerateContent => "streamGenerateContent",
        }
    }
}

/// A request the proxy serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyRoute {
    /// Whose API.
    pub provider: ProviderId,
    /// Which operation.
    pub operation: Operation,
    /// Gemini: the model of the path.
    pub model: Option<String>,
    /// Gemini: `alt=sse` (server-sent events rather than a JSON array).
    pub sse: bool,
}

/// Why a request is not served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteError {
    /// No such path: 404.
    NotFound,
    /// The path exists with another method: 405.
    MethodNotAllowed,
}

/// The route of `method` and `path` (as received) with its query.
pub fn parse(method: &Method, path: &str, query: Option<&str>) -> Result<ProxyRoute, RouteError> {
    let rest = path.strip_prefix(PREFIX).ok_or(RouteError::NotFound)?;
    let (provider, rest) = rest.split_once('/').ok_or(RouteError::NotFound)?;
    // Canonical ids only: the path is part of a base URL people copy.
    let provider = ProviderId::ALL
        .into_iter()
        .find(|p| p.as_str() == provider)
        .ok_or(RouteError::NotFound)?;
    let api = provider.entry().api;
    let (operation, model) = match api.family {
        ApiFamily::OpenAi => {
            let operation = match rest {
                "v1/chat/completions" => Operation::ChatCompletions,
                "v1/embeddings" => Operation::Embeddings,
                "v1/models" => Operation::Models,
                "v1/responses" if api.responses => Operation::Responses,
                _ => return Err(RouteError::NotFound),
            };
            (operation, None)
        }
        ApiFamily::Anthropic => match rest {
            "v1/messages" => (Operation::Messages, None),
            _ => return Err(RouteError::NotFound),
        },
        ApiFamily::Gemini => {
            let call = rest
                .strip_prefix("v1beta/models/")
                .ok_or(RouteError::NotFound)?;
            let (model, method) = call.rsplit_once(':').ok_or(RouteError::NotFound)?;
            let operation = match method {
                "generateContent" => Operation::GenerateContent,
                "streamGenerateContent" => Operation::StreamGenerateContent,
                _ => return Err(RouteError::NotFound),
            };
            if !is_model_name(model) {
                return Err(RouteError::NotFound);
            }
            (operation, Some(model.to_owned()))
        }
    };
    if method != operation.method() {
        return Err(RouteError::MethodNotAllowed);
    }
    let sse = query
        .unwrap_or_default()
        .split('&')
        .any(|pair| pair == "alt=sse");
    Ok(ProxyRoute {
        provider,
        operation,
        model,
        sse,
    })
}

/// A model name as it may stand in a Gemini path: letters, digits, `.`, `-`, `_`.
fn is_model_name(model: &str) -> bool {
    (1..=128).contains(&model.len())
        && model
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: Method, path: &str) -> Result<ProxyRoute, RouteError> {
        parse(&method, path, None)
    }

    #[test]
    fn every_openai_compatible_provider_serves_the_three_operations() {
        for provider in ProviderId::ALL {
            if provider.entry().api.family != ApiFamily::OpenAi {
                continue;
            }
            let base = format!("/proxy/{}/v1", provider.as_str());
            let chat = route(Method::POST, &format!("{base}/chat/completions")).unwrap();
            assert_eq!(chat.operation, Operation::ChatCompletions);
            assert_eq!(chat.provider, provider);
            let models = route(Method::GET, &format!("{base}/models")).unwrap();
            assert_eq!(models.operation, Operation::Models);
            assert_eq!(
                route(Method::POST, &format!("{base}/embeddings"))
                    .unwrap()
                    .operation,
                Operation::Embeddings
            );
            let responses = route(Method::POST, &format!("{base}/responses"));
            assert_eq!(responses.is_ok(), provider == ProviderId::OpenAi);
        }
    }

    #[test]
    fn anthropic_and_gemini_have_their_own_paths() {
        assert_eq!(
            route(Method::POST, "/proxy/claude/v1/messages")
                .unwrap()
                .operation,
            Operation::Messages
        );
        assert_eq!(
            route(Method::POST, "/proxy/claude/v1/chat/completions"),
            Err(RouteError::NotFound)
        );
        let gemini = parse(
            &Method::POST,
            "/proxy/google-ai/v1beta/models/gemini-2.0-flash:streamGenerateContent",
            Some("alt=sse"),
        )
        .unwrap();
        assert_eq!(gemini.operation, Operation::StreamGenerateContent);
        assert_eq!(gemini.model.as_deref(), Some("gemini-2.0-flash"));
        assert!(gemini.sse);
        assert_eq!(
            route(
                Method::POST,
                "/proxy/google-ai/v1beta/models/gemini:countTokens"
            ),
            Err(RouteError::NotFound)
        );
    }

    #[test]
    fn anything_else_is_not_found_and_a_wrong_method_is_named() {
        for path in [
            "/proxy/openai/v1/files",
            "/proxy/openai/v1/chat/completions/x",
            "/proxy/openai/../v1/models",
            "/proxy/open-ai/v1/models",
            "/proxy/unknown/v1/models",
            "/proxy/openai",
            "/v1/models",
            "/proxy/google-ai/v1beta/models/../../x:generateContent",
            "/proxy/google-ai/v1beta/models/a%2Fb:generateContent",
        ] {
            assert!(
                matches!(
                    route(Method::POST, path).or(route(Method::GET, path)),
                    Err(RouteError::NotFound)
                ),
                "{path}"
            );
        }
        assert_eq!(
            route(Method::GET, "/proxy/openai/v1/chat/completions"),
            Err(RouteError::MethodNotAllowed)
        );
        assert_eq!(
            route(Method::DELETE, "/proxy/openai/v1/models"),
            Err(RouteError::MethodNotAllowed)
        );
    }
}
