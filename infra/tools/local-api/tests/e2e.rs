//! The local API in front of the real functions (served by `cargo lambda watch`, over
//! the AWS emulator, with a fake OpenAI): what a client of the one base URL sees.
//!
//! These need that stack, which `infra/scripts/local-api-test.sh` starts (it is part of
//! `make test`) and then runs them with `--ignored`; it passes the base URL in
//! `APIKEYS_TEST_LOCAL_API_URL` and the local issuer in `APIKEYS_LOCAL_ISSUER_DIR`.

mod support;

use std::time::Duration;

use apikeys_admin::issuer::LocalIssuer;
use serde_json::{json, Value};

/// The key the fake OpenAI accepts (infra/emulators/fake_provider.py).
const GOOD_KEY: &str = "sk-proj-G00dKey0123456789abcdefghijklmnopQRST";
const BAD_KEY: &str = "sk-proj-BadKey0123456789abcdefghijklmnopqrWXYZ";
const HOUR: Duration = Duration::from_secs(3600);

struct Stack {
    base: String,
    issuer: LocalIssuer,
    client: reqwest::Client,
}

fn stack() -> Stack {
    let hint = "run infra/scripts/local-api-test.sh (part of make test), which starts the stack";
    let base = std::env::var("APIKEYS_TEST_LOCAL_API_URL")
        .unwrap_or_else(|_| panic!("APIKEYS_TEST_LOCAL_API_URL is unset: {hint}"));
    let dir = std::env::var("APIKEYS_LOCAL_ISSUER_DIR")
        .unwrap_or_else(|_| panic!("APIKEYS_LOCAL_ISSUER_DIR is unset: {hint}"));
    let issuer = LocalIssuer::load(dir.as_ref()).expect("the stack's local issuer");
    Stack {
        base,
        issuer,
        client: support::client(),
    }
}

/// A user of its own for each test (the key-test allowance is per user).
fn user(name: &str) -> String {
    format!("e2e-{name}-{}", uuid::Uuid::new_v4().simple())
}

impl Stack {
    fn token(&self, user: &str) -> String {
        self.issuer.token(user, HOUR).expect("a token")
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method.parse().unwrap(), format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("the local API answers");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("a body");
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("a JSON body")
        };
        (status, value)
    }
}

#[tokio::test]
#[ignore = "needs the local stack: infra/scripts/local-api-test.sh"]
async fn a_user_stores_lists_updates_tests_and_deletes_a_key() {
    let s = stack();
    let token = s.token(&user("flow"));
    let t = Some(token.as_str());

    let (status, body) = s.call("GET", "/api/provider-configs", t, None).await;
    assert_eq!((status, body), (200, json!({"configs": []})));

    let (status, body) = s
        .call(
            "POST",
            "/api/test-api-key",
            t,
            Some(json!({"provider": "openai", "apiKey": BAD_KEY})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["valid"], false);
    assert_eq!(body["status"], "invalid");

    let store = json!({"provider": "openai", "apiKey": GOOD_KEY, "settings": {"model": "gpt-4o-mini"}, "validate": true});
    let (status, body) = s
        .call("POST", "/api/provider-configs", t, Some(store))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["config"]["provider"], "openai");
    assert_eq!(body["config"]["keyHint"], "sk-proj-…QRST");
    assert!(
        !body.to_string().contains(GOOD_KEY),
        "the key never comes back"
    );

    let (status, body) = s
        .call(
            "PUT",
            "/api/provider-configs",
            t,
            Some(json!({"provider": "openai", "settings": {"model": "gpt-4o"}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["config"]["settings"], json!({"model": "gpt-4o"}));

    let (status, body) = s
        .call(
            "POST",
            "/api/test-api-key",
            t,
            Some(json!({"provider": "openai"})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "valid", "the stored key is tested: {body}");

    let (status, _) = s
        .call("DELETE", "/api/provider-configs/openai", t, None)
        .await;
    assert_eq!(status, 204);
    let (status, body) = s
        .call("DELETE", "/api/provider-configs/openai", t, None)
        .await;
    assert_eq!(status, 404);
    assert!(
        body["requestId"].is_string(),
        "the function's own 404: {body}"
    );
}

#[tokio::test]
#[ignore = "needs the local stack: infra/scripts/local-api-test.sh"]
async fn no_token_no_function_and_no_identity_from_headers() {
    let s = stack();
    let alice = user("alice");
    let token = s.token(&alice);
    // alice has a key; someone naming her in a header gets nothing.
    let store = json!({"provider": "openai", "apiKey": GOOD_KEY});
    let (status, _) = s
        .call("POST", "/api/provider-configs", Some(&token), Some(store))
        .await;
    assert_eq!(status, 201);

    for header in [
        "x-apikeys-local-user",
        "x-user-id",
        "x-forwarded-user",
        "x-amzn-oidc-identity",
    ] {
        let response = s
            .client
            .get(format!("{}/api/provider-configs", s.base))
            .header(header, &alice)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{header}");
        assert_eq!(
            support::json(response).await,
            json!({"message": "Unauthorized"})
        );

        // With another user's token, the header changes nothing either.
        let response = s
            .client
            .get(format!("{}/api/provider-configs", s.base))
            .bearer_auth(s.token(&user("bob")))
            .header(header, &alice)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            support::json(response).await,
            json!({"configs": []}),
            "{header}"
        );
    }
}

#[tokio::test]
#[ignore = "needs the local stack: infra/scripts/local-api-test.sh"]
async fn a_valid_token_without_sub_reaches_the_function_which_refuses_it() {
    let s = stack();
    let mut claims = s.issuer.claims("someone", HOUR).unwrap();
    claims.as_object_mut().unwrap().remove("sub");
    let token = s.issuer.token_with(&claims).unwrap();
    let (status, body) = s
        .call("GET", "/api/provider-configs", Some(&token), None)
        .await;
    assert_eq!(status, 401);
    assert!(
        body["requestId"].is_string(),
        "the function's 401, not the gateway's: {body}"
    );
    assert!(body.get("message").is_none());
}

#[tokio::test]
#[ignore = "needs the local stack: infra/scripts/local-api-test.sh"]
async fn unknown_routes_and_bad_bodies() {
    let s = stack();
    let token = s.token(&user("edges"));
    let t = Some(token.as_str());
    let (status, body) = s.call("GET", "/api/does-not-exist", t, None).await;
    assert_eq!((status, body), (404, json!({"message": "Not Found"})));

    // A path parameter the function does not know: its 400, naming the provider.
    let (status, body) = s
        .call("DELETE", "/api/provider-configs/no-such-provider", t, None)
        .await;
    assert_eq!(status, 400, "{body}");

    // Not UTF-8: base64 in the event, and the function's 400 rather than a 500.
    let response = s
        .client
        .post(format!("{}/api/provider-configs", s.base))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(vec![0xff_u8, 0xfe, 0xfd])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body = support::json(response).await;
    assert!(body["requestId"].is_string(), "{body}");

    let (status, body) = s
        .call(
            "PUT",
            "/api/provider-configs",
            t,
            Some(json!({"provider": "claude", "settings": {}})),
        )
        .await;
    assert_eq!(status, 404, "no claude config yet: {body}");
}

#[tokio::test]
#[ignore = "needs the local stack: infra/scripts/local-api-test.sh"]
async fn every_answer_carries_the_security_headers() {
    let s = stack();
    let response = s
        .client
        .get(format!("{}/api/provider-configs", s.base))
        .bearer_auth(s.token(&user("headers")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let h = response.headers();
    for name in [
        "cache-control",
        "x-content-type-options",
        "x-frame-options",
        "strict-transport-security",
        "referrer-policy",
        "apigw-requestid",
    ] {
        assert!(h.contains_key(name), "{name} is missing");
    }
}
