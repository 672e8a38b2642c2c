//! The local API over HTTP, with a stand-in for the watcher's invoke API (wiremock):
//! what a function receives for a request, and what the client gets back.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const HOUR: Duration = Duration::from_secs(3600);

/// A watcher stand-in whose every function answers `answer`.
async fn watcher(answer: Value) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer))
        .mount(&server)
        .await;
    server
}

fn ok_answer() -> Value {
    json!({
        "statusCode": 200,
        "headers": {"content-type": "application/json", "cache-control": "no-store"},
        "multiValueHeaders": {},
        "body": "{\"configs\":[]}",
        "isBase64Encoded": false,
        "cookies": []
    })
}

/// The one event the watcher received, and the function it was for.
async fn received(server: &MockServer) -> (String, Value) {
    let requests: Vec<Request> = server.received_requests().await.expect("recording");
    assert_eq!(requests.len(), 1, "exactly one invocation");
    let function = requests[0]
        .url
        .path()
        .trim_start_matches("/2015-03-31/functions/")
        .trim_end_matches("/invocations")
        .to_owned();
    (
        function,
        serde_json::from_slice(&requests[0].body).expect("a JSON event"),
    )
}

struct Stack {
    api: support::Running,
    watcher: MockServer,
    issuer: apikeys_admin::issuer::LocalIssuer,
}

async fn stack(answer: Value, extra: &[(&str, String)]) -> Stack {
    let watcher = watcher(answer).await;
    let (issuer, dir) = support::issuer("gateway");
    let mut vars = vec![
        ("APIKEYS_INVOKE_URL", watcher.uri()),
        ("APIKEYS_LOCAL_ISSUER_DIR", dir.display().to_string()),
    ];
    vars.extend(extra.iter().cloned());
    let api = support::start(&vars).await;
    Stack {
        api,
        watcher,
        issuer,
    }
}

#[tokio::test]
async fn a_request_with_a_token_reaches_its_function_with_the_claims() {
    let s = stack(ok_answer(), &[]).await;
    let token = s.issuer.token("alice", HOUR).unwrap();
    let response = support::client()
        .get(format!("{}/api/provider-configs?x=1", s.api.base))
        .bearer_auth(&token)
        .header("x-apikeys-local-user", "mallory")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(response.headers().contains_key("apigw-requestid"));
    assert_eq!(response.text().await.unwrap(), "{\"configs\":[]}");

    let (function, event) = received(&s.watcher).await;
    assert_eq!(function, "get-configs");
    assert_eq!(event["routeKey"], "GET /api/provider-configs");
    assert_eq!(
        event["requestContext"]["routeKey"],
        "GET /api/provider-configs"
    );
    assert_eq!(event["queryStringParameters"]["x"], "1");
    let claims = &event["requestContext"]["authorizer"]["jwt"]["claims"];
    assert_eq!(claims["sub"], "alice");
    assert!(
        claims["exp"].is_string(),
        "claims are strings, as API Gateway passes them"
    );
    assert!(event["headers"].get("x-apikeys-local-user").is_none());
    assert!(event["headers"]["authorization"].is_string());
}

#[tokio::test]
async fn without_a_valid_token_no_function_runs() {
    let s = stack(ok_answer(), &[]).await;
    let client = support::client();
    for auth in [None, Some("Bearer nonsense"), Some("Basic YWxpY2U6")] {
        let mut request = client
            .post(format!("{}/api/provider-configs", s.api.base))
            .header("x-apikeys-local-user", "alice")
            .body("{}");
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{auth:?}");
        assert!(response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer"));
        let body: Value = support::json(response).await;
        assert_eq!(body, json!({"message": "Unauthorized"}));
    }
    assert!(s.watcher.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn unknown_routes_get_api_gateways_404() {
    let s = stack(ok_answer(), &[]).await;
    let token = s.issuer.token("alice", HOUR).unwrap();
    let client = support::client();
    for (verb, route) in [
        ("GET", "/api/nope"),
        ("PATCH", "/api/provider-configs"),
        ("GET", "/api/provider-configs/openai"),
        ("DELETE", "/api/provider-configs/"),
        ("OPTIONS", "/api/provider-configs"),
        ("GET", "/"),
    ] {
        let response = client
            .request(verb.parse().unwrap(), format!("{}{route}", s.api.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{verb} {route}");
        let body: Value = support::json(response).await;
        assert_eq!(body, json!({"message": "Not Found"}), "{verb} {route}");
    }
    assert!(s.watcher.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn path_parameters_and_binary_bodies_arrive_as_api_gateway_sends_them() {
    let s = stack(json!({"statusCode": 204, "headers": {}}), &[]).await;
    let token = s.issuer.token("alice", HOUR).unwrap();
    let response = support::client()
        .delete(format!("{}/api/provider-configs/open%2Dai", s.api.base))
        .bearer_auth(&token)
        .header("content-type", "application/octet-stream")
        .body(vec![0xff_u8, 0xfe, 0x00])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let (function, event) = received(&s.watcher).await;
    assert_eq!(function, "delete-config");
    assert_eq!(event["pathParameters"]["provider"], "open-ai");
    assert_eq!(event["rawPath"], "/api/provider-configs/open%2Dai");
    assert_eq!(event["isBase64Encoded"], true);
    assert_eq!(event["body"], "//4A");
}

#[tokio::test]
async fn a_failing_function_is_an_opaque_500() {
    let watcher = MockServer::start().await;
    Mock::given(path("/2015-03-31/functions/store/invocations"))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_json(json!({"errorType": "&str", "errorMessage": "secret detail"})),
        )
        .mount(&watcher)
        .await;
    let (issuer, dir) = support::issuer("failing");
    let api = support::start(&[
        ("APIKEYS_INVOKE_URL", watcher.uri()),
        ("APIKEYS_LOCAL_ISSUER_DIR", dir.display().to_string()),
    ])
    .await;
    let response = support::client()
        .post(format!("{}/api/provider-configs", api.base))
        .bearer_auth(issuer.token("alice", HOUR).unwrap())
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    let body: Value = support::json(response).await;
    assert_eq!(body, json!({"message": "Internal Server Error"}));
}

#[tokio::test]
async fn cors_follows_the_template_with_the_origins_parameter() {
    let origin = "http://127.0.0.1:8080";
    let s = stack(
        ok_answer(),
        &[("APIKEYS_CORS_ALLOWED_ORIGINS", origin.to_owned())],
    )
    .await;
    let client = support::client();
    let preflight = client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/provider-configs", s.api.base),
        )
        .header("origin", origin)
        .header("access-control-request-method", "PUT")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    let h = preflight.headers();
    assert_eq!(h["access-control-allow-origin"], origin);
    let allowed = h["access-control-allow-headers"].to_str().unwrap();
    assert!(allowed.contains("authorization") && allowed.contains("content-type"));
    assert!(h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("PUT"));

    let response = client
        .get(format!("{}/api/provider-configs", s.api.base))
        .header("origin", origin)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        401,
        "a preflight passes without a token, a request does not"
    );
    assert_eq!(response.headers()["access-control-allow-origin"], origin);

    let other = client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/provider-configs", s.api.base),
        )
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(!other.headers().contains_key("access-control-allow-origin"));
    assert!(s.watcher.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn without_the_parameter_there_is_no_cors() {
    let s = stack(ok_answer(), &[]).await;
    let response = support::client()
        .get(format!("{}/api/provider-configs", s.api.base))
        .header("origin", "http://127.0.0.1:8080")
        .bearer_auth(s.issuer.token("alice", HOUR).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(!response
        .headers()
        .contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn the_local_issuer_serves_its_keys_and_development_tokens() {
    let s = stack(ok_answer(), &[]).await;
    let client = support::client();
    let jwks = support::json(
        client
            .get(format!("{}/.well-known/jwks.json", s.api.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(jwks["keys"][0]["kid"], s.issuer.info().kid.as_str());
    assert!(jwks["keys"][0].get("d").is_none(), "never the private key");

    let minted = client
        .post(format!("{}/local/dev-token", s.api.base))
        .header("content-type", "application/json")
        .body(json!({"user": "bob"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(minted.status(), 200);
    let minted = support::json(minted).await;
    assert_eq!(minted["tokenType"], "Bearer");
    let token = minted["token"].as_str().unwrap();
    let response = client
        .get(format!("{}/api/provider-configs", s.api.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (_, event) = received(&s.watcher).await;
    assert_eq!(
        event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"],
        "bob"
    );

    let refused = client
        .post(format!("{}/local/dev-token", s.api.base))
        .header("content-type", "application/json")
        .body(json!({"name": "bob"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let rebound = client
        .post(format!("{}/local/dev-token", s.api.base))
        .header("host", "evil.example")
        .header("content-type", "application/json")
        .body(json!({"user": "bob"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), 403);
}

#[tokio::test]
async fn another_issuer_is_one_setting_and_then_no_dev_tokens() {
    // The first local API publishes its issuer's keys; the second trusts that issuer
    // through its JWKS URL, as it would a Cognito pool's.
    let first = stack(ok_answer(), &[]).await;
    let info = first.issuer.info().clone();
    let second_watcher = watcher(ok_answer()).await;
    let second = support::start(&[
        ("APIKEYS_INVOKE_URL", second_watcher.uri()),
        ("APIKEYS_JWT_ISSUER", info.issuer.clone()),
        (
            "APIKEYS_JWT_AUDIENCE",
            format!("other-client,{}", info.audience),
        ),
        (
            "APIKEYS_JWT_JWKS_URL",
            format!("{}/.well-known/jwks.json", first.api.base),
        ),
    ])
    .await;
    let client = support::client();
    let response = client
        .get(format!("{}/api/provider-configs", second.base))
        .bearer_auth(first.issuer.token("carol", HOUR).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (_, event) = received(&second_watcher).await;
    assert_eq!(
        event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"],
        "carol"
    );

    let (stranger, _) = support::issuer("stranger");
    let response = client
        .get(format!("{}/api/provider-configs", second.base))
        .bearer_auth(stranger.token("carol", HOUR).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    for (verb, route) in [
        ("POST", "/local/dev-token"),
        ("GET", "/.well-known/jwks.json"),
    ] {
        let response = client
            .request(verb.parse().unwrap(), format!("{}{route}", second.base))
            .header("content-type", "application/json")
            .body(json!({"user": "carol"}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{verb} {route}");
    }
}

#[tokio::test]
async fn the_page_is_served_at_the_root_with_its_protections() {
    let web = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../web").to_owned();
    let s = stack(ok_answer(), &[("APIKEYS_WEB_DIR", web)]).await;
    let client = support::client();
    let page = client.get(format!("{}/", s.api.base)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let h = page.headers();
    assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(h["cache-control"], "no-store");
    assert!(page.text().await.unwrap().contains("app.js"));

    let script = client
        .get(format!("{}/app.js", s.api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
    assert!(script.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("javascript"));

    let missing = client
        .get(format!("{}/nope.js", s.api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        support::json(missing).await,
        json!({"message": "Not Found"})
    );
    let outside = client
        .get(format!("{}/../Cargo.toml", s.api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(outside.status(), 404);
}
