//! The streaming proxy against the emulator's table and a fake provider on loopback:
//! streamed and whole answers arrive intact, chunk by chunk; a refusal before the
//! first byte moves to the next key and is recorded on the refused one; a caller
//! that goes away closes the provider's connection; a stalled provider ends the
//! stream with an error event; usage per key per month comes from the provider's
//! usage fields; and nothing of the conversation, the key or the token is logged.

use std::sync::Arc;
use std::time::Duration;

use apikeys::keytest::{HostResolver, KeyTestSettings, KeyTester};
use apikeys::proxy::{Proxy, ProxyBody, ProxySettings};
use apikeys::sealing_state::SealingState;
use apikeys::usertoken::{JwtAuthorizer, KeySet, KeySource};
use apikeys_admin::issuer::LocalIssuer;
use apikeys_integration_tests::fake_llm::{self, FakeLlm, RATE_LIMITED, REFUSED, WORDS};
use apikeys_integration_tests::proxy_rig::{ProxyRig, RemoveOnDrop};
use apikeys_integration_tests::{
    calls::Calls, emulator_endpoint, unique, LogCapture, MovingName, Stack,
};
use aws_sdk_dynamodb::types::AttributeValue;
use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::{json, Value};

const HOUR: Duration = Duration::from_secs(3600);
const OPENAI_KEY: &str = "sk-proj-ProxyGoodKey0123456789abcdefghijklmnop";
const SECOND_KEY: &str = "sk-proj-ProxySecondKey0123456789abcdefghijklm";
const CLAUDE_KEY: &str = "sk-ant-api03-ProxyClaudeKey0123456789abcdefghij-AB";
const GEMINI_KEY: &str = "AIzaSyProxyGeminiKey0123456789abcdefghi";
const PROMPT: &str = "a confidential prompt about the quarterly numbers";

struct Rig {
    stack: Stack,
    fake: FakeLlm,
    proxy: Arc<Proxy>,
    issuer: LocalIssuer,
    _dir: RemoveOnDrop,
}

async fn rig_with(settings: ProxySettings) -> Rig {
    rig_resolving(settings, None).await
}

async fn rig_resolving(settings: ProxySettings, resolver: Option<Arc<dyn HostResolver>>) -> Rig {
    let _ = emulator_endpoint();
    let stack = Stack::new().await;
    let ProxyRig {
        proxy,
        fake,
        issuer,
        dir,
    } = ProxyRig::resolving(&stack, settings, resolver).await;
    Rig {
        stack,
        fake,
        proxy,
        issuer,
        _dir: dir,
    }
}

async fn rig() -> Rig {
    rig_with(ProxySettings::default()).await
}

impl Rig {
    fn token(&self, user: &str) -> String {
        self.issuer.token(user, HOUR).expect("a token")
    }

    async fn store(&self, user: &str, provider: &str, key: &str) -> String {
        let (status, body) = Calls::of(&self.stack)
            .store(user, provider, key, Value::Null)
            .await;
        assert_eq!(status, 201, "{body}");
        body["config"]["id"].as_str().expect("an id").to_owned()
    }

    async fn add_key(&self, user: &str, provider: &str, key: &str) -> String {
        let (status, body) = Calls::of(&self.stack)
            .add_key(user, provider, json!({"apiKey": key, "label": "second"}))
            .await;
        assert_eq!(status, 201, "{body}");
        body["key"]["id"].as_str().expect("an id").to_owned()
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        auth: Option<(&str, String)>,
        body: &Value,
    ) -> http::Response<ProxyBody> {
        let mut request = http::Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json");
        if let Some((name, value)) = auth {
            request = request.header(name, value);
        }
        let body = if body.is_null() {
            Bytes::new()
        } else {
            Bytes::from(body.to_string())
        };
        self.proxy
            .handle(request.body(body).unwrap(), &unique("req"))
            .await
    }

    /// Stores `user`'s OpenAI-compatible key for their own server at
    /// `http://llm.localhost:{the fake's port}/v1` (through the proxy's own state,
    /// so with its resolver), and returns the configuration's id.
    async fn store_at_own_server(&self, user: &str, key: &str) -> String {
        let port = self.fake.url.rsplit(':').next().unwrap().to_owned();
        let mut event = apikeys_integration_tests::event_for("store.json", Some(user));
        apikeys_integration_tests::set_body(
            &mut event,
            &json!({"provider": "openai-compatible", "apiKey": key,
                    "endpoint": {"baseUrl": format!("http://llm.localhost:{port}/v1")}}),
        );
        let request = apikeys_integration_tests::request(&event);
        let (status, _, body) = apikeys_integration_tests::parts(
            apikeys::api::store::handle(self.proxy.state(), request).await,
        );
        assert_eq!(status, 201, "{body}");
        body["config"]["id"].as_str().expect("an id").to_owned()
    }

    async fn month_usage(&self, user: &str, provider: &str, sk: &str) -> Option<Value> {
        let item = self
            .stack
            .item_at(&format!("{user}#{provider}"), sk)
            .await?;
        let AttributeValue::M(map) = item.get("monthUsage")? else {
            return None;
        };
        let n = |k: &str| match map.get(k) {
            Some(AttributeValue::N(v)) => v.parse::<u64>().unwrap(),
            _ => 0,
        };
        Some(json!({
            "requests": n("requests"),
            "inputTokens": n("inputTokens"),
            "outputTokens": n("outputTokens"),
        }))
    }
}

fn bearer(token: &str) -> Option<(&'static str, String)> {
    Some(("authorization", format!("Bearer {token}")))
}

/// Every frame of a body, as it came.
async fn read_frames(body: ProxyBody) -> Vec<Bytes> {
    let mut body = body;
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.expect("a frame").into_data() {
            out.push(data);
        }
    }
    out
}

fn header(response: &http::Response<ProxyBody>, name: &str) -> String {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no {name} in {:?}", response.headers()))
}

/// The text of OpenAI chat chunks.
fn chat_text(frames: &[Bytes]) -> String {
    let all: Vec<u8> = frames.concat();
    String::from_utf8(all)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

fn chat(stream: bool, model: &str) -> Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": PROMPT}]})
}

#[tokio::test]
async fn an_openai_stream_passes_chunk_by_chunk_with_usage_counted_and_a_receipt() {
    let rig = rig().await;
    let user = unique("alice");
    let id = rig.store(&user, "openai", OPENAI_KEY).await;

    let response = rig
        .call(
            "POST",
            "/proxy/openai/v1/chat/completions",
            bearer(&rig.token(&user)),
            &chat(true, "gpt-fake"),
        )
        .await;

    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), "text/event-stream");
    assert_eq!(header(&response, "x-apikeys-key-id"), id);
    assert_eq!(header(&response, "x-apikeys-key-source"), "user");
    assert_eq!(header(&response, "x-apikeys-attempts"), "");
    assert!(header(&response, "x-apikeys-key-hint").ends_with("mnop"));
    let frames = read_frames(response.into_body()).await;
    // One frame per event the provider sent (5 words, usage, [DONE]): passed on as
    // they came, never gathered into one.
    assert!(frames.len() >= WORDS.len() + 2, "{} frames", frames.len());
    assert_eq!(chat_text(&frames), WORDS.concat());
    let seen = rig.fake.seen();
    assert_eq!(seen.len(), 1);
    // The provider got the user's key, not the user's token, and was asked for usage.
    assert_eq!(
        seen[0].headers["authorization"],
        format!("Bearer {OPENAI_KEY}")
    );
    assert_eq!(seen[0].body["stream_options"]["include_usage"], true);
    assert_eq!(seen[0].body["messages"][0]["content"], PROMPT);
    let usage = rig.month_usage(&user, "openai", "primary").await;
    assert_eq!(
        usage,
        Some(json!({"requests": 1, "inputTokens": 7, "outputTokens": 5}))
    );

    // A second call adds to the month.
    let response = rig
        .call(
            "POST",
            "/proxy/openai/v1/chat/completions",
            bearer(&rig.token(&user)),
            &chat(false, "gpt-fake"),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value =
        serde_json::from_slice(&read_frames(response.into_body()).await.concat()).unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], WORDS.concat());
    let usage = rig.month_usage(&user, "openai", "primary").await;
    assert_eq!(
        usage,
        Some(json!({"requests": 2, "inputTokens": 14, "outputTokens": 10}))
    );
    // and the key's view shows it.
    let (status, keys) = Calls::of(&rig.stack).keys(&user, "openai").await;
    assert_eq!(status, 200, "{keys}");
    let month = apikeys::domain::month_of(time::OffsetDateTime::now_utc());
    assert_eq!(keys["keys"][0]["monthUsage"]["month"], month, "{keys}");
    assert_eq!(keys["keys"][0]["monthUsage"]["outputTokens"], 10, "{keys}");
}

#[tokio::test]
async fn several_keys_a_rate_limited_primary_falls_back_before_the_first_byte() {
    let rig = rig().await;
    let user = unique("bob");
    let first = rig.store(&user, "openai", RATE_LIMITED).await;
    let second = rig.add_key(&user, "openai", SECOND_KEY).await;

    let response = rig
        .call(
            "POST",
            "/proxy/openai/v1/chat/completions",
            bearer(&rig.token(&user)),
            &chat(true, "gpt-fake"),
        )
        .await;

    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-apikeys-key-id"), second);
    assert_eq!(
        header(&response, "x-apikeys-attempts"),
        format!("{first}:rate_limited")
    );
    assert_eq!(
        chat_text(&read_frames(response.into_body()).await),
        WORDS.concat()
    );
    // The refused key is marked as a report would mark it, until its Retry-After,
    let primary = rig
        .stack
        .item_at(&format!("{user}#openai"), "primary")
        .await
        .unwrap();
    assert_eq!(
        primary.get("unavailableReason"),
        Some(&AttributeValue::S("rate_limited".into()))
    );
    // so the next call goes straight to the second key.
    let response = rig
        .call(
            "POST",
            "/proxy/openai/v1/chat/completions",
            bearer(&rig.token(&user)),
            &chat(false, "gpt-fake"),
        )
        .await;
    assert_eq!(header(&response, "x-apikeys-key-id"), second);
    assert_eq!(header(&response, "x-apikeys-attempts"), "");
    let keys: Vec<String> = rig
        .fake
        .seen()
        .iter()
        .map(|s| s.headers["authorization"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        keys,
        [
            format!("Bearer {RATE_LIMITED}"),
            format!("Bearer {SECOND_KEY}"),
            format!("Bearer {SECOND_KEY}")
        ]
    );
}

#[tokio::test]
async fn several_keys_with_every_key_refused_the_provider_s_own_refusal_is_the_answer() {
    let rig = rig().await;
    let user = unique("carol");
    let first = rig.store(&user, "openai", REFUSED).await;
    let second = rig.add_key(&user, "openai", fake_llm::NO_QUOTA).await;

    let response = rig
        .call(
            "POST",
            "/proxy/openai/v1/chat/completions",
            bearer(&rig.token(&user)),
            &chat(false, "gpt-fake"),
        )
        .await;

    assert_eq!(response.status(), 429);
    assert_eq!(
        header(&response, "x-apikeys-attempts"),
        format!("{first}:invalid,{second}:quota_exceeded")
    );
    let body: Value =
        serde_json::from_slice(&read_frames(response.into_body()).await.concat()).unwrap();
    assert_eq!(body["error"]["code"], "insufficient_quota");
    // Both marked: the next call does not reach the provider at all.
    let response = rig
        .call(
            "POST",
            "/proxy/openai/v1/chat/completions",
            bearer(&rig.token(&user)),
            &chat(false, "gpt-fake"),
        )
        .await;
    assert_eq!(
        response.status(),
        401,
        "every key marked; the primary's mark is invalid"
    );
    assert_eq!(rig.fake.seen().len(), 2);
}

#[tokio::test]
async fn anthropic_and_gemini_stream_in_their_own_shapes_with_usage() {
    let rig = rig().await;
    let user = unique("dana");
    rig.store(&user, "claude", CLAUDE_KEY).await;
    rig.store(&user, "google-ai", GEMINI_KEY).await;
    let token = rig.token(&user);

    let messages = json!({"model": "claude-fake", "max_tokens": 64, "stream": true, "messages": [{"role": "user", "content": PROMPT}]});
    let response = rig
        .call(
            "POST",
            "/proxy/claude/v1/messages",
            Some(("x-api-key", token.clone())),
            &messages,
        )
        .await;
    assert_eq!(response.status(), 200);
    let text = String::from_utf8(read_frames(response.into_body()).await.concat()).unwrap();
    assert!(text.contains("event: message_stop"), "{text}");
    let seen = rig.fake.seen();
    assert_eq!(seen[0].headers["x-api-key"], CLAUDE_KEY);
    assert_eq!(seen[0].headers["anthropic-version"], "2023-06-01");
    assert!(seen[0].headers.get("authorization").is_none());
    assert_eq!(
        rig.month_usage(&user, "claude", "primary").await,
        Some(json!({"requests": 1, "inputTokens": 7, "outputTokens": 5}))
    );

    let contents = json!({"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]});
    let response = rig
        .call(
            "POST",
            "/proxy/google-ai/v1beta/models/gemini-fake:streamGenerateContent?alt=sse",
            Some(("x-goog-api-key", token.clone())),
            &contents,
        )
        .await;
    assert_eq!(response.status(), 200);
    let frames = read_frames(response.into_body()).await;
    assert!(frames.len() >= WORDS.len(), "{} frames", frames.len());
    let seen = rig.fake.seen();
    assert_eq!(
        seen[1].path,
        "/v1beta/models/gemini-fake:streamGenerateContent"
    );
    assert_eq!(seen[1].headers["x-goog-api-key"], GEMINI_KEY);
    assert_eq!(
        rig.month_usage(&user, "google-ai", "primary").await,
        Some(json!({"requests": 1, "inputTokens": 7, "outputTokens": 5}))
    );
}

#[tokio::test]
async fn a_caller_that_goes_away_closes_the_provider_s_connection() {
    let rig = rig().await;
    let user = unique("erin");
    rig.store(&user, "openai", OPENAI_KEY).await;
    let response = rig
        .call(
            "POST",
            "/proxy/openai/v1/chat/completions",
            bearer(&rig.token(&user)),
            &chat(true, "slow"),
        )
        .await;
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    for _ in 0..2 {
        body.frame().await.expect("a frame").expect("no error");
    }
    assert_eq!(rig.fake.streams_gone(), 0);

    drop(body);

    assert!(
        fake_llm::eventually(|| rig.fake.streams_gone() == 1).await,
        "the provider's stream was not closed after the caller went away"
    );
    // What was counted until then is written: the call counts as a request.
    let mut usage = None;
    for _ in 0..100 {
        usage = rig.month_usage(&user, "openai", "primary").await;
        if usage.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(usage.expect("usage written")["requests"], 1);
}

#[tokio::test]
async fn a_provider_that_stalls_ends_the_stream_with_an_error_event() {
    let rig = rig_with(ProxySettings {
        idle_timeout: Duration::from_secs(1),
        ..ProxySettings::default()
    })
    .await;
    let user = unique("fay");
    rig.store(&user, "openai", OPENAI_KEY).await;
    let response = rig
        .call(
            "POST",
            "/proxy/openai/v1/chat/completions",
            bearer(&rig.token(&user)),
            &chat(true, "stall"),
        )
        .await;
    assert_eq!(response.status(), 200);
    let frames = read_frames(response.into_body()).await;
    let last = String::from_utf8(frames.last().unwrap().to_vec()).unwrap();
    assert!(last.starts_with("event: error\n"), "{last}");
    assert!(last.contains("apikeys_upstream_error"), "{last}");
    assert_eq!(chat_text(&frames), WORDS[0]);
}

#[tokio::test]
async fn unknown_paths_bad_tokens_and_big_bodies_never_reach_the_provider() {
    let rig = rig_with(ProxySettings {
        max_body_bytes: 1024,
        ..ProxySettings::default()
    })
    .await;
    let user = unique("gus");
    rig.store(&user, "openai", OPENAI_KEY).await;
    let token = rig.token(&user);

    let answer = rig
        .call("POST", "/proxy/openai/v1/files", bearer(&token), &json!({}))
        .await;
    assert_eq!(answer.status(), 404);
    let answer = rig
        .call(
            "GET",
            "/proxy/openai/v1/chat/completions",
            bearer(&token),
            &Value::Null,
        )
        .await;
    assert_eq!(answer.status(), 405);
    let big = json!({"model": "m", "messages": [{"role": "user", "content": "x".repeat(2000)}]});
    let answer = rig
        .call(
            "POST",
            "/proxy/openai/v1/chat/completions",
            bearer(&token),
            &big,
        )
        .await;
    assert_eq!(answer.status(), 413);
    let answer = rig
        .call(
            "POST",
            "/proxy/openai/v1/chat/completions",
            None,
            &chat(false, "m"),
        )
        .await;
    assert_eq!(answer.status(), 401);
    // A token of another issuer (signed by a fresh local issuer).
    let dir = std::env::temp_dir().join(unique("apikeys-other-issuer"));
    let (other, _) = LocalIssuer::provision(&dir).unwrap();
    let forged = other.token(&user, HOUR).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let answer = rig
        .call(
            "POST",
            "/proxy/openai/v1/chat/completions",
            bearer(&forged),
            &chat(false, "m"),
        )
        .await;
    assert_eq!(answer.status(), 401);
    let body: Value =
        serde_json::from_slice(&read_frames(answer.into_body()).await.concat()).unwrap();
    assert_eq!(body["error"]["code"], "invalid_token");
    // Another user's own token reaches that user's keys only (none here).
    let answer = rig
        .call(
            "POST",
            "/proxy/openai/v1/chat/completions",
            bearer(&rig.token(&unique("hal"))),
            &chat(false, "m"),
        )
        .await;
    assert_eq!(answer.status(), 404);
    assert!(rig.fake.seen().is_empty(), "{:?}", rig.fake.seen());
}

/// The log of this test binary, as the function prints it at `RUST_LOG=trace`
/// (one global subscriber: thread-local ones miss events whose call sites other
/// tests' threads registered first).
fn capture() -> &'static LogCapture {
    static CAPTURE: std::sync::OnceLock<LogCapture> = std::sync::OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture = LogCapture::default();
        tracing::subscriber::set_global_default(apikeys::telemetry::json_subscriber_for(
            Some("trace"),
            capture.clone(),
        ))
        .expect("the only subscriber of this test binary");
        capture
    })
}

#[tokio::test]
async fn nothing_of_the_conversation_the_key_or_the_token_is_logged_at_trace() {
    let rig = rig().await;
    let user = unique("ida");
    rig.store(&user, "openai", OPENAI_KEY).await;
    let token = rig.token(&user);
    let capture = capture();

    for stream in [true, false] {
        let response = rig
            .call(
                "POST",
                "/proxy/openai/v1/chat/completions",
                bearer(&token),
                &chat(stream, "gpt-fake"),
            )
            .await;
        assert_eq!(response.status(), 200);
        read_frames(response.into_body()).await;
    }

    let logged = capture.text();
    let audit: Vec<Value> = logged
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == "proxy.call" && v["user_id"] == user.as_str())
        .collect();
    assert_eq!(audit.len(), 2, "one audit line per call:\n{logged}");
    assert_eq!(audit[0]["outcome"], "completed");
    assert_eq!(audit[0]["input_tokens"], 7);
    assert_eq!(audit[0]["model"], "gpt-fake");
    let completion = WORDS.concat();
    for secret in [
        OPENAI_KEY,
        "ProxyGoodKey",
        token.as_str(),
        PROMPT,
        "quarterly",
        &completion,
        "\" fake\"",
    ] {
        assert!(
            !logged.contains(secret),
            "{secret:?} is in the log:\n{logged}"
        );
    }
}

#[tokio::test]
async fn a_spent_budget_stops_the_key_until_the_month_turns_after_one_alert() {
    let capture = capture();
    let rig = rig().await;
    let user = unique("jo");
    let id = rig.store(&user, "openai", OPENAI_KEY).await;
    let budget = json!({"monthlyTokens": 30, "alertAt": 0.7});
    let (status, body) = Calls::of(&rig.stack)
        .update_key(&user, "openai", &id, json!({ "budget": budget }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["key"]["budget"], budget);
    let (status, body) = Calls::of(&rig.stack)
        .update_key(
            &user,
            "openai",
            &id,
            json!({"budget": {"monthlyTokens": 0}}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("budget.monthlyTokens"), "{body}");

    // Each call spends 12 tokens (7 in, 5 out): the second reaches the alert (21,
    // on a month the first call started), the third the budget (30).
    for _ in 0..3 {
        let response = rig
            .call(
                "POST",
                "/proxy/openai/v1/chat/completions",
                bearer(&rig.token(&user)),
                &chat(true, "gpt-fake"),
            )
            .await;
        assert_eq!(response.status(), 200);
        read_frames(response.into_body()).await;
    }
    let response = rig
        .call(
            "POST",
            "/proxy/openai/v1/chat/completions",
            bearer(&rig.token(&user)),
            &chat(false, "gpt-fake"),
        )
        .await;

    assert_eq!(response.status(), 402);
    let body: Value =
        serde_json::from_slice(&read_frames(response.into_body()).await.concat()).unwrap();
    assert_eq!(body["error"], "budget_exhausted", "{body}");
    assert_eq!(
        rig.fake.seen().len(),
        3,
        "the spent key reached no provider"
    );
    // The key's view says why, and until the month turns.
    let (_, keys) = Calls::of(&rig.stack).keys(&user, "openai").await;
    assert_eq!(keys["keys"][0]["unavailable"], "budget_exhausted", "{keys}");
    assert_eq!(keys["keys"][0]["monthUsage"]["inputTokens"], 21, "{keys}");
    // The refused call counted no use: the use's own condition holds the key to its
    // budget, so the one-round-trip use of the primary did not apply.
    assert_eq!(keys["keys"][0]["usageCount"], 3, "{keys}");
    let available = keys["keys"][0]["availableAt"]
        .as_str()
        .expect("a time")
        .to_owned();
    assert!(available.ends_with("-01T00:00:00.000Z"), "{available}");
    // use-key skips it too.
    let used = apikeys::invoke::handle(
        rig.proxy.state(),
        &json!({"userId": user, "provider": "openai"}),
        "req-budget",
    )
    .await;
    assert_eq!(used["found"], false, "{used}");
    assert_eq!(used["unavailable"], "budget_exhausted", "{used}");
    // Named by its id too: every use's write holds the key to its budget.
    let used = apikeys::invoke::handle(
        rig.proxy.state(),
        &json!({"userId": user, "provider": "openai", "keyId": id}),
        "req-budget-id",
    )
    .await;
    assert_eq!(used["found"], false, "{used}");
    assert_eq!(used["unavailable"], "budget_exhausted", "{used}");
    assert!(used.get("apiKey").is_none(), "{used}");
    let (_, keys) = Calls::of(&rig.stack).keys(&user, "openai").await;
    assert_eq!(keys["keys"][0]["usageCount"], 3, "{keys}");
    // One alert in the month, not one per call.
    let alerts = capture
        .text()
        .lines()
        .filter(|l| l.contains("api_key.budget_alert") && l.contains(&id))
        .count();
    assert_eq!(alerts, 1);

    // A larger budget makes it usable again at once.
    let (status, _) = Calls::of(&rig.stack)
        .update_key(
            &user,
            "openai",
            &id,
            json!({"budget": {"monthlyTokens": 1000}}),
        )
        .await;
    assert_eq!(status, 200);
    let response = rig
        .call(
            "POST",
            "/proxy/openai/v1/chat/completions",
            bearer(&rig.token(&user)),
            &chat(false, "gpt-fake"),
        )
        .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_function_url_event_reaches_the_proxy_and_a_forged_token_reaches_nothing() {
    let rig = rig().await;
    let event = apikeys_integration_tests::event_json("proxy.json");
    let response = rig
        .proxy
        .handle_lambda(apikeys_integration_tests::request(&event))
        .await;
    assert_eq!(response.status(), 401);
    let body: Value =
        serde_json::from_slice(&read_frames(response.into_body()).await.concat()).unwrap();
    assert_eq!(body["error"]["code"], "invalid_token", "{body}");
    assert!(rig.fake.seen().is_empty());

    // The same event with a real token of the user: the call goes through.
    let user = unique("kim");
    rig.store(&user, "openai", OPENAI_KEY).await;
    let mut event = event;
    event["headers"]["authorization"] = json!(format!("Bearer {}", rig.token(&user)));
    let response = rig
        .proxy
        .handle_lambda(apikeys_integration_tests::request(&event))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        chat_text(&read_frames(response.into_body()).await),
        WORDS.concat()
    );
    assert_eq!(rig.fake.seen()[0].path, "/v1/chat/completions");
}

/// The deployment's own OpenAI key.
const DEPLOYMENT_KEY: &str = "sk-proj-DeploymentOwnKey0123456789abcdefghijk";

/// A Secrets Manager secret of the deployment's keys (OpenAI's only): its name.
async fn deployment_keys_secret(stack: &Stack) -> String {
    let secret_id = unique("apikeys-deployment-keys");
    aws_sdk_secretsmanager::Client::new(&stack.sdk)
        .create_secret()
        .name(&secret_id)
        .secret_string(json!({ "openai": DEPLOYMENT_KEY }).to_string())
        .send()
        .await
        .expect("the deployment keys secret");
    secret_id
}

#[tokio::test]
async fn the_deployment_key_stands_in_only_where_the_user_has_none_and_within_the_allowance() {
    let rig = rig().await;
    let secret_id = deployment_keys_secret(&rig.stack).await;
    let settings = ProxySettings::from_lookup(&|name: &str| match name {
        "APIKEYS_DEPLOYMENT_KEY_FALLBACK" => Some("true".into()),
        "APIKEYS_DEPLOYMENT_KEYS_SECRET_ID" => Some(secret_id.clone()),
        "APIKEYS_DEPLOYMENT_MONTHLY_TOKENS" => Some("20".into()),
        _ => None,
    })
    .unwrap();
    let keys = apikeys::proxy::deployment::DeploymentKeys::new(
        settings.deployment.clone(),
        &rig.stack.sdk,
    );
    let proxy = Arc::new(
        Proxy::new(
            SealingState::new(
                rig.proxy.state().base.clone(),
                apikeys_integration_tests::test_key_material(&rig.stack.sdk),
                KeyTester::new(
                    KeyTestSettings::from_lookup(&|n: &str| {
                        (n == "APIKEYS_OPENAI_BASE_URL").then(|| rig.fake.url.clone())
                    })
                    .unwrap(),
                ),
            ),
            Some(JwtAuthorizer::new(
                rig.issuer.info().issuer.clone(),
                vec![rig.issuer.info().audience.clone()],
                KeySource::Fixed(KeySet::from_jwks(rig.issuer.jwks())),
            )),
            settings,
        )
        .with_deployment_keys(keys),
    );
    let call = |user: &str| {
        let request = http::Request::builder()
            .method("POST")
            .uri("/proxy/openai/v1/chat/completions")
            .header("authorization", format!("Bearer {}", rig.token(user)))
            .body(Bytes::from(chat(false, "gpt-fake").to_string()))
            .unwrap();
        let proxy = Arc::clone(&proxy);
        async move { proxy.handle(request, "req-deployment").await }
    };

    // A user with a key of their own: theirs, as always.
    let owner = unique("lee");
    rig.store(&owner, "openai", OPENAI_KEY).await;
    let response = call(&owner).await;
    assert_eq!(header(&response, "x-apikeys-key-source"), "user");
    read_frames(response.into_body()).await;

    // A user without one: the deployment's, said in the receipt, counted (12 tokens a call).
    let guest = unique("max");
    let response = call(&guest).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-apikeys-key-source"), "deployment");
    assert_eq!(header(&response, "x-apikeys-key-id"), "deployment");
    read_frames(response.into_body()).await;
    let response = call(&guest).await;
    assert_eq!(response.status(), 200, "12 of 20 tokens spent before it");
    read_frames(response.into_body()).await;
    // Then the allowance (20) is spent: a 402 that says so, and no call.
    let response = call(&guest).await;
    assert_eq!(response.status(), 402);
    assert_eq!(header(&response, "x-apikeys-key-source"), "deployment");
    let body: Value =
        serde_json::from_slice(&read_frames(response.into_body()).await.concat()).unwrap();
    assert_eq!(body["error"], "deployment_allowance_exhausted");
    let used: Vec<String> = rig
        .fake
        .seen()
        .iter()
        .map(|s| s.headers["authorization"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        used,
        [
            format!("Bearer {OPENAI_KEY}"),
            format!("Bearer {DEPLOYMENT_KEY}"),
            format!("Bearer {DEPLOYMENT_KEY}")
        ]
    );
    // With the fallback off (the default), the same guest gets the plain refusal.
    let response = rig
        .call(
            "POST",
            "/proxy/openai/v1/chat/completions",
            bearer(&rig.token(&guest)),
            &chat(false, "m"),
        )
        .await;
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn a_key_s_own_endpoint_is_called_at_its_checked_address() {
    let rig = rig().await;
    let user = unique("ned");
    // Stored through store with the same endpoint policy as the proxy's (loopback
    // allowed here, as on a developer's machine; never deployed).
    let store = |body: Value| {
        let mut event = apikeys_integration_tests::event_for("store.json", Some(&user));
        apikeys_integration_tests::set_body(&mut event, &body);
        let sealing = rig.proxy.state();
        async move {
            apikeys_integration_tests::parts(
                apikeys::api::store::handle(sealing, apikeys_integration_tests::request(&event))
                    .await,
            )
        }
    };
    let (status, _, body) = store(json!({
        "provider": "openai-compatible",
        "apiKey": "sk-OwnServerKey0123456789abcdefghij",
        "endpoint": {"baseUrl": format!("{}/v1", rig.fake.url)},
    }))
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, _, body) = store(json!({
        "provider": "azure-openai",
        "apiKey": "cafef00ddeadbeef0123456789abcdef",
        "endpoint": {"endpoint": rig.fake.url, "apiVersion": "2024-10-21", "deployment": "gpt-dep"},
    }))
    .await;
    assert_eq!(status, 201, "{body}");
    let token = rig.token(&user);

    let response = rig
        .call(
            "POST",
            "/proxy/openai-compatible/v1/chat/completions",
            bearer(&token),
            &chat(false, "local-model"),
        )
        .await;
    assert_eq!(response.status(), 200);
    read_frames(response.into_body()).await;
    let response = rig
        .call(
            "POST",
            "/proxy/azure-openai/v1/chat/completions",
            bearer(&token),
            &chat(true, "gpt-4o"),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        chat_text(&read_frames(response.into_body()).await),
        WORDS.concat()
    );

    let seen = rig.fake.seen();
    assert_eq!(seen[0].path, "/v1/chat/completions");
    assert_eq!(
        seen[0].headers["authorization"],
        "Bearer sk-OwnServerKey0123456789abcdefghij"
    );
    assert_eq!(seen[1].path, "/openai/deployments/gpt-dep/chat/completions");
    assert_eq!(
        seen[1].headers["api-key"],
        "cafef00ddeadbeef0123456789abcdef"
    );
    assert!(seen[1].headers.get("authorization").is_none());
}

#[tokio::test]
async fn an_endpoint_that_moved_inside_is_refused_before_any_call_and_the_use_is_not_counted() {
    // Given a key of the user's own OpenAI-compatible server, stored while its name
    // led to the fake provider (on loopback, which the rig allows)
    let resolver = MovingName::new("llm.localhost", "127.0.0.1");
    let rig = rig_resolving(ProxySettings::default(), Some(resolver.clone())).await;
    let user = unique("nia");
    rig.store_at_own_server(&user, "sk-OwnServerKey0123456789abcdefghij")
        .await;
    let token = rig.token(&user);
    let path = "/proxy/openai-compatible/v1/chat/completions";
    let response = rig
        .call("POST", path, bearer(&token), &chat(false, "local-model"))
        .await;
    assert_eq!(response.status(), 200);
    read_frames(response.into_body()).await;
    assert_eq!(rig.fake.seen().len(), 1);

    // When its name leads inside the network and the user calls again
    resolver.move_to("10.0.3.7");
    let response = rig
        .call("POST", path, bearer(&token), &chat(false, "local-model"))
        .await;

    // Then the call is refused at once, says why, and reaches nothing
    assert_eq!(response.status(), 502);
    let attempts = header(&response, "x-apikeys-attempts");
    assert!(attempts.contains("endpoint_refused"), "{attempts}");
    let body = String::from_utf8(read_frames(response.into_body()).await.concat()).unwrap();
    assert!(body.contains("endpoint_refused"), "{body}");
    assert!(!body.contains("OwnServerKey"), "{body}");
    assert_eq!(rig.fake.seen().len(), 1, "no request left the vault");
    // And the key counts only the use that was sent
    let item = rig.stack.item(&format!("{user}#openai-compatible")).await;
    let item = item.expect("the key's item");
    assert_eq!(
        apikeys_integration_tests::number(&item, "usageCount"),
        Some(1)
    );
}

#[tokio::test]
async fn several_keys_a_primary_whose_endpoint_moved_inside_is_passed_over_for_the_next_key() {
    // Given two keys of the user's own OpenAI-compatible servers: the primary's
    // name now leads inside the network, the second key's server is the fake
    let resolver = MovingName::new("llm.localhost", "127.0.0.1");
    let rig = rig_resolving(ProxySettings::default(), Some(resolver.clone())).await;
    let calls = Calls {
        state: &rig.stack.state,
        sealing: rig.proxy.state(),
    };
    let user = unique("ola");
    let primary = rig
        .store_at_own_server(&user, "sk-MovedServerKey0123456789abcdefgh")
        .await;
    let (status, body) = calls
        .add_key(
            &user,
            "openai-compatible",
            json!({"apiKey": "sk-SecondServerKey0123456789abcdefg", "label": "second",
                   "endpoint": {"baseUrl": format!("{}/v1", rig.fake.url)}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let second = body["key"]["id"].as_str().unwrap().to_owned();
    resolver.move_to("10.0.3.7");

    // When the user calls through the proxy
    let response = rig
        .call(
            "POST",
            "/proxy/openai-compatible/v1/chat/completions",
            bearer(&rig.token(&user)),
            &chat(false, "local-model"),
        )
        .await;

    // Then the second key answers, the receipt says why the primary was passed
    // over, and only the second key left the vault
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-apikeys-key-id"), second);
    assert_eq!(
        header(&response, "x-apikeys-attempts"),
        format!("{primary}:endpoint_refused")
    );
    read_frames(response.into_body()).await;
    let seen = rig.fake.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].headers["authorization"],
        "Bearer sk-SecondServerKey0123456789abcdefg"
    );
    // And only the key that was sent counts a use
    let (status, keys) = calls.keys(&user, "openai-compatible").await;
    assert_eq!(status, 200, "{keys}");
    let uses = |id: &str| {
        keys["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == id)
            .map(|k| k["usageCount"].clone())
    };
    assert_eq!(uses(&primary), Some(json!(0)), "{keys}");
    assert_eq!(uses(&second), Some(json!(1)), "{keys}");
}

#[tokio::test]
async fn a_provider_s_own_errors_pass_scrubbed_and_a_403_about_the_model_marks_nothing() {
    let rig = rig().await;
    let user = unique("ola");
    let id = rig.store(&user, "openai", REFUSED).await;
    let response = rig
        .call(
            "POST",
            "/proxy/openai/v1/chat/completions",
            bearer(&rig.token(&user)),
            &chat(false, "m"),
        )
        .await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        header(&response, "x-apikeys-attempts"),
        format!("{id}:invalid")
    );
    let text = String::from_utf8(read_frames(response.into_body()).await.concat()).unwrap();
    let body: Value = serde_json::from_str(&text).expect("still the provider's JSON");
    assert_eq!(body["error"]["code"], "invalid_api_key");
    assert!(
        !text.contains("sk-proj-Re"),
        "the masked key passed: {text}"
    );

    let other = unique("pia");
    rig.store(&other, "openai", OPENAI_KEY).await;
    for _ in 0..2 {
        let response = rig
            .call(
                "POST",
                "/proxy/openai/v1/chat/completions",
                bearer(&rig.token(&other)),
                &chat(false, "no-access"),
            )
            .await;
        assert_eq!(response.status(), 403);
        assert_eq!(header(&response, "x-apikeys-attempts"), "");
    }
    let primary = rig
        .stack
        .item_at(&format!("{other}#openai"), "primary")
        .await
        .unwrap();
    assert!(!primary.contains_key("unavailableReason"), "{primary:?}");
}

#[tokio::test]
async fn a_late_write_of_last_month_never_resets_this_month() {
    let rig = rig().await;
    let user = unique("quin");
    let id = rig.store(&user, "openai", OPENAI_KEY).await;
    let repo = &rig.stack.state.repo;
    let spent = apikeys::repo::Spent {
        requests: 1,
        input_tokens: 5,
        output_tokens: 5,
    };
    let provider = apikeys::provider::ProviderId::OpenAi;
    let feb = repo
        .record_spending(&user, provider, &id, "2099-02", spent)
        .await
        .unwrap();
    assert_eq!(feb.unwrap().spent.tokens(), 10);
    let again = repo
        .record_spending(&user, provider, &id, "2099-02", spent)
        .await
        .unwrap();
    assert_eq!(
        again.unwrap().spent.tokens(),
        20,
        "the add step answers the whole month"
    );
    let late = repo
        .record_spending(&user, provider, &id, "2099-01", spent)
        .await
        .unwrap();
    assert_eq!(late, None, "January's write is refused once February began");
    let usage = rig.month_usage(&user, "openai", "primary").await.unwrap();
    assert_eq!(usage["inputTokens"], 10);
}

#[tokio::test]
async fn use_key_hands_out_the_deployment_key_on_the_same_terms_and_counts_what_the_app_reports() {
    let rig = rig().await;
    let secret_id = deployment_keys_secret(&rig.stack).await;
    let settings = apikeys::deployment::DeploymentSettings::from_lookup(&|name: &str| match name {
        "APIKEYS_DEPLOYMENT_KEY_FALLBACK" => Some("true".into()),
        "APIKEYS_DEPLOYMENT_KEYS_SECRET_ID" => Some(secret_id.clone()),
        "APIKEYS_DEPLOYMENT_MONTHLY_TOKENS" => Some("20".into()),
        _ => None,
    })
    .unwrap();
    let keys = apikeys::deployment::DeploymentKeys::new(settings, &rig.stack.sdk);
    let gate = apikeys::invoke::UserTokenGate::default();
    let state = rig.proxy.state();
    let invoke = |payload: Value| {
        let (keys, gate) = (&keys, &gate);
        async move { apikeys::invoke::handle_with(state, gate, keys, &payload, "req-dk").await }
    };

    // A user with a key of their own gets theirs, and the answer says so.
    let owner = unique("lee");
    rig.store(&owner, "openai", OPENAI_KEY).await;
    let used = invoke(json!({"userId": owner, "provider": "openai"})).await;
    assert_eq!(
        (&used["source"], &used["apiKey"]),
        (&json!("user"), &json!(OPENAI_KEY))
    );

    // A user without one gets the deployment's, said as such, with the allowance left.
    let guest = unique("max");
    let used = invoke(json!({"userId": guest, "provider": "openai"})).await;
    assert_eq!(used["found"], true, "{used}");
    assert_eq!(used["source"], "deployment");
    assert_eq!(used["keyId"], "deployment");
    assert_eq!(used["apiKey"], DEPLOYMENT_KEY);
    assert_eq!(used["allowanceTokensLeft"], 20);
    assert_eq!(used["userKeys"], "none");
    assert!(used.get("lease").is_none(), "{used}");
    // Not when a key id is named, and not from a use-key without the keys.
    let named = invoke(json!({"userId": guest, "provider": "openai", "keyId": "k-1"})).await;
    assert_eq!(named["found"], false, "{named}");
    let plain = Calls::of(&rig.stack).use_key(&guest, "openai").await;
    assert_eq!(plain, json!({"found": false, "reason": "none"}));

    // A report of the call must say what it spent, and then counts it.
    let report =
        json!({"userId": guest, "provider": "openai", "keyId": "deployment", "outcome": "ok"});
    let refused = invoke(report.clone()).await;
    assert_eq!(refused["error"]["field"], "usage", "{refused}");
    let mut counted = report.clone();
    counted["usage"] = json!({"inputTokens": 15, "outputTokens": 5});
    assert_eq!(invoke(counted).await, json!({"recorded": true}));
    let mut wrong = report;
    wrong["usage"] = json!({"inputTokens": -1});
    assert_eq!(invoke(wrong).await["error"]["field"], "usage.inputTokens");
    // Usage belongs to the deployment's key only.
    let own = json!({
        "userId": owner, "provider": "openai", "keyId": "some-key-id", "outcome": "ok",
        "usage": {"inputTokens": 1},
    });
    assert_eq!(invoke(own).await["error"]["field"], "usage");

    // Spent (20 of 20): the user's refusal, and that the allowance is spent.
    let used = invoke(json!({"userId": guest, "provider": "openai"})).await;
    assert_eq!(
        used,
        json!({"found": false, "reason": "none", "deploymentAllowance": "exhausted"})
    );
    // The allowance is one per user and month, whichever way the key was used.
    let month = apikeys::repo::month_of(time::OffsetDateTime::now_utc());
    let spent = state
        .base
        .repo
        .deployment_tokens(&guest, &month)
        .await
        .unwrap();
    assert_eq!(spent, 20);
}
