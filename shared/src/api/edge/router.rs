//! Which code serves which route: each function's table of `(method, path pattern)
//! → route`, and the one place that matches a request against it, once.
//!
//! A pattern is the route as `template.yaml` and `infra/contract/openapi.yaml` write it
//! (`/api/provider-configs/{provider}/keys/{keyId}`). The match reads the request's
//! path from the end, so a stage prefix before `/api` does not matter, and hands
//! the route its typed path ([`ProviderPath`], [`KeyPath`]): no route parses the
//! path again, and none asks whether it is really its route.

use std::future::Future;
use std::pin::Pin;

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

use super::error::ApiError;
use super::field_error::FieldError;
use super::serve::RequestMeta;
use crate::provider::ProviderId;

/// The answer a route's future gives.
pub type Answer<'a> = Pin<Box<dyn Future<Output = Response<Body>> + Send + 'a>>;

/// One row of a function's route table.
pub struct Route<S: 'static> {
    /// The HTTP method.
    pub method: Method,
    /// The path pattern, `{name}` for a parameter.
    pub pattern: &'static str,
    /// What serves it: the state, the request and the parameters the match found.
    pub serve: for<'a> fn(&'a S, Request, PathParams) -> Answer<'a>,
}

/// The parameters of a matched path, by name, as sent (percent-decoded).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathParams(Vec<(&'static str, String)>);

impl PathParams {
    /// The parameter `name`, when the pattern has it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `/{provider}`: a canonical provider id, from an id or an alias.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderPath {
    /// The provider.
    pub provider: ProviderId,
}

/// `/{provider}/keys/{keyId}`: the provider and one of its key ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPath {
    /// The provider.
    pub provider: ProviderId,
    /// A key id (a uuid's characters, at most 64).
    pub key_id: String,
}

impl ProviderPath {
    /// The typed path of `params`; a 400 naming `provider` when it is none.
    pub fn of(params: &PathParams) -> Result<Self, ApiError> {
        let raw = params.get("provider").unwrap_or_default();
        let provider = ProviderId::parse(raw).ok_or_else(|| {
            ApiError::Invalid(vec![FieldError::new(
                "provider",
                format!(
                    "unsupported provider; use one of {}",
                    ProviderId::accepted_ids()
                ),
            )])
        })?;
        Ok(Self { provider })
    }
}

impl KeyPath {
    /// The typed path of `params`; a 400 naming the parameter that is wrong.
    pub fn of(params: &PathParams) -> Result<Self, ApiError> {
        let ProviderPath { provider } = ProviderPath::of(params)?;
        match params.get("keyId") {
            Some(id) if is_key_id(id) => Ok(Self {
                provider,
                key_id: id.to_owned(),
            }),
            _ => Err(ApiError::Invalid(vec![FieldError::new(
                "keyId",
                "must be the id of one of the provider's keys",
            )])),
        }
    }
}

/// Whether `id` has the form of a key id: a uuid's characters, at most 64.
pub(crate) fn is_key_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The parameters of `path` under `pattern`, when it matches: segment by segment
/// from the end (a stage before the pattern is left over at the front).
pub fn match_path(pattern: &'static str, path: &str) -> Option<PathParams> {
    let wanted: Vec<&'static str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    let given: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if given.len() < wanted.len() {
        return None;
    }
    let tail = &given[given.len() - wanted.len()..];
    let mut params = Vec::new();
    for (want, got) in wanted.iter().zip(tail) {
        match want.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
            Some(name) => {
                let value = percent_encoding::percent_decode_str(got)
                    .decode_utf8()
                    .ok()?
                    .into_owned();
                params.push((name, value));
            }
            None if want == got => {}
            None => return None,
        }
    }
    Some(PathParams(params))
}

/// Serves `req` with the route of `table` that matches its method and path; 404
/// when no pattern matches, 405 when one does for another method.
pub async fn serve_table<S>(table: &'static [Route<S>], state: &S, req: Request) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let mut other_method = false;
    for route in table {
        let Some(params) = match_path(route.pattern, &path) else {
            continue;
        };
        if route.method != req.method() {
            other_method = true;
            continue;
        }
        return (route.serve)(state, req, params).await;
    }
    let meta = RequestMeta::of(&req);
    let err = if other_method {
        ApiError::MethodNotAllowed
    } else {
        ApiError::NoRoute
    };
    err.into_response(&meta.request_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pattern_matches_from_the_end_and_names_its_parameters() {
        let keys = "/api/provider-configs/{provider}/keys/{keyId}";
        let params = match_path(keys, "/prod/api/provider-configs/openai/keys/k-1").unwrap();
        assert_eq!(params.get("provider"), Some("openai"));
        assert_eq!(params.get("keyId"), Some("k-1"));
        assert!(match_path(keys, "/api/provider-configs/openai/keys").is_none());
        assert!(match_path(keys, "/api/provider-configs/openai/other/k-1").is_none());
        assert!(match_path("/api/provider-configs", "/api/provider-configs/").is_some());
        assert!(match_path("/api/provider-configs", "/api/test-api-key").is_none());
        let decoded = match_path(
            "/api/provider-configs/{provider}",
            "/api/provider-configs/open%61i",
        );
        assert_eq!(decoded.unwrap().get("provider"), Some("openai"));
    }

    #[test]
    fn typed_paths_name_the_parameter_that_is_wrong() {
        let params = |p: &str, k: &str| {
            match_path(
                "/api/provider-configs/{provider}/keys/{keyId}",
                &format!("/api/provider-configs/{p}/keys/{k}"),
            )
            .unwrap()
        };
        let ok = KeyPath::of(&params("anthropic", "k-1")).unwrap();
        assert_eq!(ok.provider, ProviderId::Claude);
        let field = |err: ApiError| match err {
            ApiError::Invalid(details) => details[0].field.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(KeyPath::of(&params("nope", "k-1")).unwrap_err()),
            "provider"
        );
        assert_eq!(
            field(KeyPath::of(&params("openai", "a%20b")).unwrap_err()),
            "keyId"
        );
    }
}
