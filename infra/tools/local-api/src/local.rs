//! What the local API serves besides the template's routes: the local issuer's key
//! set (`GET /.well-known/jwks.json`), development tokens for the key manager page's
//! sign-in button (`POST /local/dev-token {"user"}`), both only while the local issuer
//! is the one in use, and the page's static files at `/`.

use std::time::Duration;

use apikeys_admin::issuer::LocalIssuer;
use axum::body::Body;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, HOST};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use tower_http::services::ServeDir;

use crate::app::App;

/// The lifetime of a development token.
pub const DEV_TOKEN_TTL: Duration = Duration::from_secs(3600);
/// The largest dev-token request body.
const MAX_DEV_TOKEN_BODY: usize = 4096;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DevTokenRequest {
    user: String,
}

/// The answer to a request no route took, or `None` (then it is API Gateway's 404).
pub async fn respond(app: &App, parts: &Parts, body: Body) -> Option<Response<Body>> {
    match (parts.method.clone(), parts.uri.path()) {
        (Method::GET | Method::HEAD, "/.well-known/jwks.json") => {
            let issuer = app.local_issuer.as_ref()?;
            Some(json_answer(StatusCode::OK, issuer.jwks()))
        }
        (Method::POST, "/local/dev-token") => {
            let issuer = app.local_issuer.as_ref()?;
            Some(dev_token(issuer, parts, body).await)
        }
        (Method::GET | Method::HEAD, _) => static_file(app, parts).await,
        _ => None,
    }
}

async fn dev_token(issuer: &LocalIssuer, parts: &Parts, body: Body) -> Response<Body> {
    // A page of another site that rebinds its name to 127.0.0.1 would be "same
    // origin"; its Host header still names that site, so only loopback names pass.
    if !loopback_host(parts.headers.get(HOST)) {
        return message(StatusCode::FORBIDDEN, "Forbidden");
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_DEV_TOKEN_BODY).await else {
        return message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
    };
    let Ok(request) = serde_json::from_slice::<DevTokenRequest>(&bytes) else {
        return message(
            StatusCode::BAD_REQUEST,
            "the body must be {\"user\": \"<user id>\"}",
        );
    };
    match issuer.token(&request.user, DEV_TOKEN_TTL) {
        Ok(token) => json_answer(
            StatusCode::OK,
            &json!({
                "token": token,
                "tokenType": "Bearer",
                "expiresIn": DEV_TOKEN_TTL.as_secs(),
                "user": request.user.trim(),
            }),
        ),
        Err(error) => message(StatusCode::BAD_REQUEST, &error.to_string()),
    }
}

fn loopback_host(host: Option<&HeaderValue>) -> bool {
    let Some(host) = host.and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

async fn static_file(app: &App, parts: &Parts) -> Option<Response<Body>> {
    let dir = app.web_dir.as_ref()?;
    let mut request = Request::new(Body::empty());
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = parts.uri.clone();
    let response = ServeDir::new(dir)
        .append_index_html_on_directories(true)
        .try_call(request)
        .await
        .ok()?;
    if response.status() == StatusCode::NOT_FOUND {
        return None;
    }
    let mut response = response.map(Body::new);
    page_headers(response.headers_mut());
    Some(response)
}

/// The page's own protections: scripts and styles from the page's origin only, no
/// framing, no referrer, and no caching of anything that might hold a key.
fn page_headers(headers: &mut axum::http::HeaderMap) {
    let fixed = [
        (
            "content-security-policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self' https: http://127.0.0.1:* http://localhost:*; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

fn json_answer(status: StatusCode, value: &Value) -> Response<Body> {
    let mut response = Response::new(Body::from(value.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn message(status: StatusCode, text: &str) -> Response<Body> {
    json_answer(status, &json!({ "message": text }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_hosts_pass() {
        let ok = |h: &str| loopback_host(Some(&HeaderValue::from_str(h).unwrap()));
        assert!(ok("127.0.0.1:3000"));
        assert!(ok("localhost:3000"));
        assert!(ok("[::1]:3000"));
        assert!(ok("localhost"));
        assert!(!ok("evil.example:3000"));
        assert!(!ok("127.0.0.1.evil.example"));
        assert!(!loopback_host(None));
    }
}
