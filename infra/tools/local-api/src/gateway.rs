//! One request through the local API, in API Gateway's order: CORS preflight, route
//! (else the local endpoints and the page, else 404), body limit, JWT authorizer,
//! payload 2.0 event, invocation, the function's answer back as HTTP. One log line
//! per request, like the access log of the template: no body, no header, no token.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::json;
use time::OffsetDateTime;

use crate::answer::{self, Answer};
use crate::app::App;
use crate::authorizer::Refusal;
use crate::cors::CorsConfig;
use crate::event::{self, Authorization, Incoming};
use crate::invoke::InvokeError;
use crate::local;

/// The largest request body API Gateway's HTTP APIs take (10 MB).
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// The axum handler every request goes to.
pub async fn dispatch(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response<Body> {
    let started = Instant::now();
    let request_id = request_id();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let (response, outcome) = respond(&app, peer, request, &request_id).await;
    tracing::info!(
        event = "request",
        request_id = %request_id,
        method = %method,
        route = outcome.route.as_deref().unwrap_or("-"),
        // The path only when no route matched (a route key says it for the others).
        path = if outcome.route.is_none() { path.as_str() } else { "-" },
        status = response.status().as_u16(),
        user = outcome.user.as_deref().unwrap_or("-"),
        refusal = outcome.refusal.as_deref().unwrap_or("-"),
        latency_ms = started.elapsed().as_millis() as u64,
    );
    response
}

#[derive(Default)]
struct Outcome {
    route: Option<String>,
    user: Option<String>,
    refusal: Option<String>,
}

async fn respond(
    app: &App,
    peer: SocketAddr,
    request: Request<Body>,
    request_id: &str,
) -> (Response<Body>, Outcome) {
    let mut outcome = Outcome::default();
    let (parts, body) = request.into_parts();
    if let Some(cors) = &app.cors {
        if CorsConfig::is_preflight(&parts.method, &parts.headers) {
            let mut response = gateway_answer(StatusCode::NO_CONTENT, None, request_id);
            response
                .headers_mut()
                .extend(cors.preflight_headers(&parts.headers));
            return (response, outcome);
        }
    }
    let path = parts.uri.path();
    if let Some(function) = app
        .streaming_urls
        .iter()
        .find(|f| path.starts_with(&format!("/{f}/")))
    {
        outcome.route = Some(format!("function URL {function}"));
        let response = streamed(app, peer, &parts, body, function, request_id).await;
        return (response, outcome);
    }
    let Some(matched) = app.routes.find(parts.method.as_str(), path) else {
        if let Some(response) = local::respond(app, &parts, body).await {
            return (response, outcome);
        }
        return (
            with_cors(app, &parts.headers, not_found(request_id)),
            outcome,
        );
    };
    outcome.route = Some(matched.route.route_key());

    let Ok(body) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        let response = gateway_answer(
            StatusCode::PAYLOAD_TOO_LARGE,
            Some("Request Entity Too Large"),
            request_id,
        );
        return (with_cors(app, &parts.headers, response), outcome);
    };

    let authorization = if matched.route.authorized {
        let identity = parts
            .headers
            .get(&app.identity_header)
            .and_then(|v| v.to_str().ok());
        match app.authorizer.verify(identity).await {
            Ok(claims) => {
                outcome.user = claims
                    .get("sub")
                    .and_then(|s| s.as_str())
                    .map(str::to_owned);
                Some(Authorization::from_claims(&claims))
            }
            Err(refusal) => {
                outcome.refusal = Some(refusal.to_string());
                let response = unauthorized(&refusal, request_id);
                return (with_cors(app, &parts.headers, response), outcome);
            }
        }
    } else {
        None
    };

    let incoming = Incoming {
        method: &parts.method,
        raw_path: path,
        raw_query: parts.uri.query().unwrap_or_default(),
        headers: &parts.headers,
        body: &body,
        source_ip: peer.ip(),
    };
    let event = event::build(
        &incoming,
        &matched,
        authorization.as_ref(),
        request_id,
        OffsetDateTime::now_utc(),
    );
    let response = match app.invoker.invoke(&matched.route.function, &event).await {
        Ok(output) => match answer::from_output(&output) {
            Ok(answer) => into_response(answer, request_id),
            Err(error) => {
                tracing::error!(event = "answer.malformed", request_id, function = %matched.route.function, error = %error, "the function's answer is not a payload 2.0 response");
                internal_error(request_id)
            }
        },
        Err(error) => {
            tracing::error!(event = "invoke.failed", request_id, function = %matched.route.function, error = %error, "invocation failed");
            match error {
                InvokeError::Timeout(_) => gateway_answer(
                    StatusCode::SERVICE_UNAVAILABLE,
                    Some("Service Unavailable"),
                    request_id,
                ),
                _ => internal_error(request_id),
            }
        }
    };
    (with_cors(app, &parts.headers, response), outcome)
}

/// A request to a function behind a streaming function URL: a payload 2.0 event as
/// a function URL sends it (route `$default`, no authorizer: the function checks its
/// callers), and the function's answer streamed back as it writes it.
async fn streamed(
    app: &App,
    peer: SocketAddr,
    parts: &axum::http::request::Parts,
    body: Body,
    function: &str,
    request_id: &str,
) -> Response<Body> {
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return gateway_answer(
            StatusCode::PAYLOAD_TOO_LARGE,
            Some("Request Entity Too Large"),
            request_id,
        );
    };
    let route = crate::routes::Route {
        method: "ANY".into(),
        path: "$default".into(),
        function: function.to_owned(),
        authorized: false,
    };
    let matched = crate::routes::Matched {
        route: &route,
        params: Default::default(),
    };
    let incoming = Incoming {
        method: &parts.method,
        raw_path: parts.uri.path(),
        raw_query: parts.uri.query().unwrap_or_default(),
        headers: &parts.headers,
        body: &body,
        source_ip: peer.ip(),
    };
    let mut event = event::build(
        &incoming,
        &matched,
        None,
        request_id,
        OffsetDateTime::now_utc(),
    );
    event["routeKey"] = json!("$default");
    event["requestContext"]["routeKey"] = json!("$default");
    let answer = match app.invoker.invoke_streaming(function, &event).await {
        Ok(answer) => answer,
        Err(error) => {
            tracing::error!(event = "invoke.failed", request_id, function, error = %error, "invocation failed");
            return internal_error(request_id);
        }
    };
    let status = answer.status();
    let mut headers = HeaderMap::new();
    for (name, value) in answer.headers() {
        // The watcher's own framing stays behind, as Lambda's does.
        if matches!(
            name.as_str(),
            "transfer-encoding"
                | "connection"
                | "content-length"
                | "date"
                | "lambda-runtime-function-response-mode"
                | "x-amzn-remapped-content-length"
        ) {
            continue;
        }
        headers.append(name.clone(), value.clone());
    }
    let chunks = futures_util::stream::unfold(answer, |mut answer| async move {
        match answer.chunk().await {
            Ok(Some(chunk)) => Some((Ok::<_, std::io::Error>(chunk), answer)),
            Ok(None) => None,
            Err(e) => Some((Err(std::io::Error::other(e)), answer)),
        }
    });
    let mut response = Response::new(Body::from_stream(chunks));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    insert_request_id(response.headers_mut(), request_id);
    response
}

/// API Gateway's answers of its own: `{"message": ...}` and its request id header.
pub fn gateway_answer(
    status: StatusCode,
    message: Option<&str>,
    request_id: &str,
) -> Response<Body> {
    let body = message.map_or_else(Body::empty, |m| {
        Body::from(json!({ "message": m }).to_string())
    });
    let mut response = Response::new(body);
    *response.status_mut() = status;
    if message.is_some() {
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    insert_request_id(response.headers_mut(), request_id);
    response
}

/// 404 `{"message":"Not Found"}`, API Gateway's answer for a request no route takes.
pub fn not_found(request_id: &str) -> Response<Body> {
    gateway_answer(StatusCode::NOT_FOUND, Some("Not Found"), request_id)
}

fn internal_error(request_id: &str) -> Response<Body> {
    gateway_answer(
        StatusCode::INTERNAL_SERVER_ERROR,
        Some("Internal Server Error"),
        request_id,
    )
}

fn unauthorized(refusal: &Refusal, request_id: &str) -> Response<Body> {
    let mut response = gateway_answer(StatusCode::UNAUTHORIZED, Some("Unauthorized"), request_id);
    // As API Gateway does: https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-troubleshooting-jwt.html
    let challenge = match refusal {
        Refusal::NoToken => "Bearer".to_owned(),
        Refusal::Invalid(why) => {
            format!("Bearer scope=\"\" error=\"invalid_token\" error_description=\"{why}\"")
        }
    };
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(WWW_AUTHENTICATE, value);
    }
    response
}

fn into_response(answer: Answer, request_id: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = answer.status;
    *response.headers_mut() = answer.headers;
    insert_request_id(response.headers_mut(), request_id);
    response
}

fn with_cors(app: &App, request: &HeaderMap, mut response: Response<Body>) -> Response<Body> {
    if let Some(cors) = &app.cors {
        cors.decorate(request, response.headers_mut());
    }
    response
}

fn insert_request_id(headers: &mut HeaderMap, request_id: &str) {
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert("apigw-requestid", value);
    }
}

/// A request id of API Gateway's shape (`Mc7UVioPPHcEKPA=`): 11 random bytes, base64.
fn request_id() -> String {
    STANDARD.encode(&uuid::Uuid::new_v4().as_bytes()[..11])
}
