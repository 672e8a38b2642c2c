//! use-key bound to a live user (`APIKEYS_USE_KEY_REQUIRE_USER_TOKEN=true`): the
//! payload carries the user's own token, checked against the configured issuer as
//! the local API checks it, and the user is the token's `sub`. A server without a
//! token, with another user's token or with a forged one gets 403 and no key.

use std::time::Duration;

use apikeys::invoke::{handle, handle_gated, UserTokenGate};
use apikeys::settings::Settings;
use apikeys::usertoken::{JwtAuthorizer, KeySet, KeySource};
use apikeys_admin::issuer::LocalIssuer;
use apikeys_integration_tests::{calls::Calls, emulator_endpoint, unique, Stack};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const HOUR: Duration = Duration::from_secs(3600);
const ALICE_KEY: &str = "sk-proj-AliceOwnKey0123456789abcdefghijklmn";
const BOB_KEY: &str = "sk-proj-BobOwnKey0123456789abcdefghijklmnopq";

/// A local issuer in a fresh directory (removed when the guard drops).
fn new_issuer(name: &str) -> (LocalIssuer, RemoveOnDrop) {
    let dir = std::env::temp_dir().join(unique(&format!("apikeys-user-token-{name}")));
    let (issuer, _) = LocalIssuer::provision(&dir).expect("a local issuer");
    (issuer, RemoveOnDrop(dir))
}

struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn gate_of(issuer: &LocalIssuer, required: bool) -> UserTokenGate {
    let info = issuer.info();
    UserTokenGate::with_verifier(
        JwtAuthorizer::new(
            info.issuer.clone(),
            vec![info.audience.clone()],
            KeySource::Fixed(KeySet::from_jwks(issuer.jwks())),
        ),
        required,
    )
}

/// A stack where alice and bob each stored an OpenAI key.
async fn two_users() -> (Stack, String, String) {
    let _ = emulator_endpoint();
    let stack = Stack::new().await;
    let (alice, bob) = (unique("alice"), unique("bob"));
    let calls = Calls::of(&stack);
    for (user, key) in [(&alice, ALICE_KEY), (&bob, BOB_KEY)] {
        let (status, _) = calls.store(user, "openai", key, Value::Null).await;
        assert_eq!(status, 201);
    }
    (stack, alice, bob)
}

fn refused(answer: &Value, status: u64, field: &str) {
    assert_eq!(answer["status"], status, "{answer}");
    assert_eq!(answer["error"]["field"], field, "{answer}");
    let text = answer.to_string();
    assert!(
        !text.contains("AliceOwnKey") && !text.contains("BobOwnKey"),
        "{text}"
    );
}

#[tokio::test]
async fn with_tokens_required_the_user_is_the_tokens_and_nobody_elses() {
    let (stack, alice, bob) = two_users().await;
    let (issuer, _dir) = new_issuer("issuer");
    let gate = gate_of(&issuer, true);
    let alice_token = issuer.token(&alice, HOUR).unwrap();
    let call = |payload: Value| {
        let gate = &gate;
        let stack = &stack;
        async move { handle_gated(&stack.sealing, gate, &payload, "req-token").await }
    };

    // A server without the user's token gets nothing.
    let answer = call(json!({"userId": alice, "provider": "openai"})).await;
    refused(&answer, 403, "userToken");

    // With alice's token, alice's key; the userId may be left out.
    let answer = call(json!({"userToken": alice_token, "provider": "openai"})).await;
    assert_eq!(answer["found"], true, "{answer}");
    assert_eq!(answer["apiKey"], ALICE_KEY);
    let answer =
        call(json!({"userToken": alice_token, "userId": alice, "provider": "openai"})).await;
    assert_eq!(answer["apiKey"], ALICE_KEY);

    // alice's token does not release bob's key, whatever userId says.
    let answer = call(json!({"userToken": alice_token, "userId": bob, "provider": "openai"})).await;
    refused(&answer, 403, "userId");

    // A report is bound the same way.
    let lease = call(json!({"userToken": alice_token, "provider": "openai"})).await;
    let report = json!({
        "userToken": alice_token, "provider": "openai",
        "keyId": lease["keyId"], "lease": lease["lease"], "outcome": "ok",
    });
    assert_eq!(call(report).await, json!({"recorded": true}));
    let report = json!({
        "userId": alice, "provider": "openai",
        "keyId": lease["keyId"], "outcome": "invalid",
    });
    refused(&call(report).await, 403, "userToken");

    // Tokens that do not pass: expired, another issuer's, tampered, not a JWT.
    let mut claims = issuer.claims(&alice, HOUR).unwrap();
    claims["exp"] = json!(1_000);
    claims["iat"] = json!(900);
    let expired = issuer.token_with(&claims).unwrap();
    let (stranger, _dir2) = new_issuer("stranger");
    let foreign = stranger.token(&alice, HOUR).unwrap();
    let mut parts: Vec<String> = alice_token.split('.').map(str::to_owned).collect();
    parts[1] = {
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut body: Value = serde_json::from_slice(&engine.decode(&parts[1]).unwrap()).unwrap();
        body["sub"] = json!(bob);
        engine.encode(body.to_string())
    };
    let tampered = parts.join(".");
    for token in [expired, foreign, tampered, "not-a-jwt".to_owned()] {
        let answer = call(json!({"userToken": token, "provider": "openai"})).await;
        refused(&answer, 403, "userToken");
        assert!(
            !answer.to_string().contains(&token),
            "the token is quoted: {answer}"
        );
    }
    let answer = call(json!({"userToken": 42, "userId": alice, "provider": "openai"})).await;
    assert_eq!(answer["error"]["field"], "userToken");
    assert!(answer.get("apiKey").is_none());
}

#[tokio::test]
async fn background_jobs_opt_out_and_an_unchecked_token_is_refused() {
    let (stack, alice, _bob) = two_users().await;
    let (issuer, _dir) = new_issuer("issuer");
    let alice_token = issuer.token(&alice, HOUR).unwrap();

    // Tokens checked but not required: a server naming the user still gets the key
    // (the documented opt-out for jobs with no user present); a token still binds.
    let gate = gate_of(&issuer, false);
    let answer = handle_gated(
        &stack.sealing,
        &gate,
        &json!({"userId": alice, "provider": "openai"}),
        "req-job",
    )
    .await;
    assert_eq!(answer["apiKey"], ALICE_KEY);
    let answer = handle_gated(
        &stack.sealing,
        &gate,
        &json!({"userToken": issuer.token("mallory", HOUR).unwrap(), "userId": alice, "provider": "openai"}),
        "req-job",
    )
    .await;
    refused(&answer, 403, "userId");

    // A deployment that checks no tokens does not pretend to: a token is refused.
    let answer = handle(
        &stack.sealing,
        &json!({"userToken": alice_token, "userId": alice, "provider": "openai"}),
        "req-unchecked",
    )
    .await;
    assert_eq!(answer["error"]["field"], "userToken", "{answer}");
    assert!(answer.get("apiKey").is_none());
}

#[tokio::test]
async fn the_settings_gate_fetches_the_issuers_keys_and_requiring_needs_an_issuer() {
    let (stack, alice, _bob) = two_users().await;
    let (issuer, _dir) = new_issuer("issuer");
    let jwks = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/jwks.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(issuer.jwks()))
        .expect(1)
        .mount(&jwks)
        .await;
    let info = issuer.info().clone();
    let jwks_url = format!("{}/jwks.json", jwks.uri());
    let settings = Settings::from_lookup(|name| match name {
        "APIKEYS_USE_KEY_REQUIRE_USER_TOKEN" => Some("true".into()),
        "APIKEYS_JWT_ISSUER" => Some(info.issuer.clone()),
        "APIKEYS_JWT_AUDIENCE" => Some(info.audience.clone()),
        "APIKEYS_JWT_JWKS_URL" => Some(jwks_url.clone()),
        _ => None,
    })
    .expect("the settings");
    let gate = UserTokenGate::from_settings(&settings.user_tokens);
    for _ in 0..2 {
        let answer = handle_gated(
            &stack.sealing,
            &gate,
            &json!({"userToken": issuer.token(&alice, HOUR).unwrap(), "provider": "openai"}),
            "req-settings",
        )
        .await;
        assert_eq!(answer["apiKey"], ALICE_KEY, "{answer}");
    }

    let err = Settings::from_lookup(|name| {
        (name == "APIKEYS_USE_KEY_REQUIRE_USER_TOKEN").then(|| "true".to_owned())
    })
    .unwrap_err();
    assert_eq!(err.name, "APIKEYS_USE_KEY_REQUIRE_USER_TOKEN");
    let err = Settings::from_lookup(|name| {
        (name == "APIKEYS_USE_KEY_REQUIRE_USER_TOKEN").then(|| "yes".to_owned())
    })
    .unwrap_err();
    assert_eq!(err.name, "APIKEYS_USE_KEY_REQUIRE_USER_TOKEN");
}
