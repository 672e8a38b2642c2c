//! CORS as an HTTP API's `CorsConfiguration` does it: API Gateway answers preflight
//! requests itself (no OPTIONS route needed), adds the configured headers to every
//! answer for an allowed origin, and ignores CORS headers from the integration.
//! <https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-cors.html>

use axum::http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_METHOD, ORIGIN,
};
use axum::http::{HeaderMap, HeaderValue, Method};

/// The API's CORS configuration (the template's `CorsConfiguration`, evaluated).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsConfig {
    /// Allowed origins: exact, `*`, or a scheme wildcard such as `https://*`.
    pub allow_origins: Vec<String>,
    /// Allowed methods (`*` for any).
    pub allow_methods: Vec<String>,
    /// Allowed request headers (`*` for any).
    pub allow_headers: Vec<String>,
    /// Response headers a browser script may read.
    pub expose_headers: Vec<String>,
    /// Seconds a browser may cache a preflight answer.
    pub max_age: Option<u64>,
    /// Whether credentials (cookies) may be sent.
    pub allow_credentials: bool,
}

impl CorsConfig {
    /// Whether `origin` is one the configuration allows.
    pub fn allows(&self, origin: &str) -> bool {
        self.allow_origins.iter().any(|allowed| {
            allowed == "*"
                || allowed.eq_ignore_ascii_case(origin)
                || allowed
                    .strip_suffix('*')
                    .is_some_and(|prefix| prefix.ends_with("://") && origin.starts_with(prefix))
        })
    }

    /// A preflight request: OPTIONS with both `Origin` and
    /// `Access-Control-Request-Method` (only those get API Gateway's own answer).
    pub fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
        method == Method::OPTIONS
            && headers.contains_key(ORIGIN)
            && headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD)
    }

    /// The headers of the answer to a preflight request (empty for an origin that is
    /// not allowed, which the browser then refuses).
    pub fn preflight_headers(&self, request: &HeaderMap) -> HeaderMap {
        let mut out = HeaderMap::new();
        let Some(origin) = self.allowed_origin(request) else {
            return out;
        };
        out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        insert_list(&mut out, ACCESS_CONTROL_ALLOW_METHODS, &self.allow_methods);
        insert_list(&mut out, ACCESS_CONTROL_ALLOW_HEADERS, &self.allow_headers);
        if let Some(max_age) = self.max_age {
            out.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from(max_age));
        }
        if self.allow_credentials {
            out.insert(
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        out
    }

    /// Replaces whatever CORS headers an answer carries with the configured ones.
    pub fn decorate(&self, request: &HeaderMap, response: &mut HeaderMap) {
        let integration_cors: Vec<_> = response
            .keys()
            .filter(|name| name.as_str().starts_with("access-control-"))
            .cloned()
            .collect();
        for name in integration_cors {
            response.remove(name);
        }
        let Some(origin) = self.allowed_origin(request) else {
            return;
        };
        response.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        insert_list(
            response,
            ACCESS_CONTROL_EXPOSE_HEADERS,
            &self.expose_headers,
        );
        if self.allow_credentials {
            response.insert(
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
    }

    fn allowed_origin(&self, request: &HeaderMap) -> Option<HeaderValue> {
        let origin = request.get(ORIGIN)?;
        let text = origin.to_str().ok()?;
        if !self.allows(text) {
            return None;
        }
        // `*` is echoed as `*` unless credentials are allowed (browsers refuse `*` then).
        if self.allow_origins.iter().any(|o| o == "*") && !self.allow_credentials {
            return Some(HeaderValue::from_static("*"));
        }
        Some(origin.clone())
    }
}

fn insert_list(headers: &mut HeaderMap, name: axum::http::HeaderName, items: &[String]) {
    if items.is_empty() {
        return;
    }
    if let Ok(value) = HeaderValue::from_str(&items.join(",")) {
        headers.insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> CorsConfig {
        CorsConfig {
            allow_origins: vec!["https://app.example".into(), "http://*".into()],
            allow_methods: vec!["GET".into(), "POST".into()],
            allow_headers: vec!["authorization".into(), "content-type".into()],
            max_age: Some(600),
            ..CorsConfig::default()
        }
    }

    fn request(origin: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ORIGIN, HeaderValue::from_str(origin).unwrap());
        headers.insert(
            ACCESS_CONTROL_REQUEST_METHOD,
            HeaderValue::from_static("POST"),
        );
        headers
    }

    #[test]
    fn an_allowed_origin_gets_the_configured_preflight_headers() {
        let headers = config().preflight_headers(&request("https://app.example"));
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example");
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_METHODS], "GET,POST");
        assert_eq!(
            headers[ACCESS_CONTROL_ALLOW_HEADERS],
            "authorization,content-type"
        );
        assert_eq!(headers[ACCESS_CONTROL_MAX_AGE], "600");
    }

    #[test]
    fn another_origin_gets_no_cors_headers() {
        let config = config();
        assert!(config
            .preflight_headers(&request("https://evil.example"))
            .is_empty());
        let mut response = HeaderMap::new();
        response.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        config.decorate(&request("https://evil.example"), &mut response);
        assert!(response.is_empty(), "the integration's CORS header must go");
    }

    #[test]
    fn a_scheme_wildcard_allows_any_origin_of_that_scheme() {
        let config = config();
        assert!(config.allows("http://127.0.0.1:8080"));
        assert!(!config.allows("https://other.example"));
    }

    #[test]
    fn preflight_needs_origin_and_requested_method() {
        let mut headers = request("https://app.example");
        assert!(CorsConfig::is_preflight(&Method::OPTIONS, &headers));
        assert!(!CorsConfig::is_preflight(&Method::GET, &headers));
        headers.remove(ACCESS_CONTROL_REQUEST_METHOD);
        assert!(!CorsConfig::is_preflight(&Method::OPTIONS, &headers));
    }
}
