//! A fake LLM provider on loopback for the proxy's tests: a real HTTP server that
//! speaks the three API families the proxy forwards (OpenAI chat completions and
//! embeddings, Anthropic Messages, Gemini generateContent), streams server-sent
//! events chunk by chunk, and records what reached it.
//!
//! Shapes follow the providers' references:
//! <https://platform.openai.com/docs/api-reference/chat-streaming>,
//! <https://docs.anthropic.com/en/docs/build-with-claude/streaming>,
//! <https://ai.google.dev/api/generate-content>.
//!
//! Keys decide the answer: [`RATE_LIMITED`] gets a 429 with `Retry-After: 30`,
//! [`NO_QUOTA`] OpenAI's 429 `insufficient_quota`, [`REFUSED`] a 401; any other key
//! is good. Models decide the pace: `slow` sends a chunk every 50 ms for a minute
//! (the server notes when its caller went away), `stall` one chunk and then nothing
//! for a minute, `big-<bytes>` about that many bytes in 16 KiB chunks.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

/// An OpenAI key the fake answers 429 with `Retry-After: 30`.
pub const RATE_LIMITED: &str = "sk-proj-RateLimitedKey0123456789abcdefghijklm";
/// An OpenAI key the fake answers 429 `insufficient_quota`.
pub const NO_QUOTA: &str = "sk-proj-NoQuotaLeftKey0123456789abcdefghijklm";
/// A key the fake refuses with 401.
pub const REFUSED: &str = "sk-proj-RefusedByProvider0123456789abcdefghij";

/// The words every answer says, one per chunk.
pub const WORDS: [&str; 5] = ["Hello", " from", " the", " fake", " provider"];

/// One request that reached the fake.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The path.
    pub path: String,
    /// The headers.
    pub headers: HeaderMap,
    /// The body, parsed (Null when empty or not JSON).
    pub body: Value,
}

#[derive(Default)]
struct Shared {
    seen: Mutex<Vec<Seen>>,
    streams_gone: AtomicUsize,
}

/// A running fake provider.
#[derive(Clone)]
pub struct FakeLlm {
    /// `http://127.0.0.1:{port}`.
    pub url: String,
    shared: Arc<Shared>,
}

impl FakeLlm {
    /// Starts one on a free loopback port.
    pub async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .route("/v1/embeddings", post(embeddings))
            .route("/v1/models", get(models))
            .route("/v1/messages", post(messages))
            .route("/v1beta/models/{call}", post(gemini))
            // An Azure OpenAI resource's deployment (key in `api-key`).
            .route(
                "/openai/deployments/{deployment}/chat/completions",
                post(chat),
            )
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, shared }
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// Streams whose caller went away before the end.
    pub fn streams_gone(&self) -> usize {
        self.shared.streams_gone.load(Ordering::SeqCst)
    }
}

fn record(shared: &Shared, path: &str, headers: &HeaderMap, body: &Bytes) -> Value {
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    shared.seen.lock().unwrap().push(Seen {
        path: path.to_owned(),
        headers: headers.clone(),
        body: body.clone(),
    });
    body
}

fn key_of(headers: &HeaderMap) -> String {
    for name in ["authorization", "x-api-key", "x-goog-api-key", "api-key"] {
        if let Some(v) = headers.get(name).and_then(|v| v.to_str().ok()) {
            return v.strip_prefix("Bearer ").unwrap_or(v).to_owned();
        }
    }
    String::new()
}

fn json_answer(status: u16, body: Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

/// The refusal a key gets, in the family's shape, if any.
fn refusal(headers: &HeaderMap, family: &str) -> Option<Response> {
    let key = key_of(headers);
    // OpenAI's own 401 quotes the key, masked: the proxy must not pass that on.
    let masked = format!(
        "Incorrect API key provided: {}…{}",
        key.get(..10).unwrap_or_default(),
        key.get(key.len().saturating_sub(4)..).unwrap_or_default()
    );
    let (status, code, message) = match key.as_str() {
        RATE_LIMITED => (429, "rate_limit_exceeded", "Rate limit reached"),
        NO_QUOTA => (429, "insufficient_quota", "You exceeded your current quota"),
        REFUSED | "" => (401, "invalid_api_key", masked.as_str()),
        _ => return None,
    };
    let body = match family {
        "anthropic" => {
            json!({"type": "error", "error": {"type": "rate_limit_error", "message": message}})
        }
        "gemini" => {
            json!({"error": {"code": status, "message": message, "status": "RESOURCE_EXHAUSTED"}})
        }
        _ => json!({"error": {"message": message, "type": code, "code": code, "param": null}}),
    };
    let mut answer = json_answer(status, body);
    answer
        .headers_mut()
        .insert("retry-after", "30".parse().unwrap());
    Some(answer)
}

fn words_in(body: &Value) -> u64 {
    let mut count = 0;
    let mut walk = vec![body];
    while let Some(v) = walk.pop() {
        match v {
            Value::String(s) => count += s.split_whitespace().count() as u64,
            Value::Array(a) => walk.extend(a),
            Value::Object(o) => {
                for (k, v) in o {
                    if matches!(
                        k.as_str(),
                        "content" | "messages" | "contents" | "parts" | "text" | "input"
                    ) {
                        walk.push(v);
                    }
                }
            }
            _ => {}
        }
    }
    count
}

/// Notes a stream that ends before it is done.
struct Watch {
    shared: Arc<Shared>,
    done: bool,
}

impl Watch {
    fn finish(&mut self) {
        self.done = true;
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if !self.done {
            self.shared.streams_gone.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// The events of one answer at the model's pace.
fn events(shared: Arc<Shared>, model: &str, chunks: Vec<Bytes>, tail: Vec<Bytes>) -> Response {
    let (pace, repeat): (Duration, usize) = match model {
        "slow" => (Duration::from_millis(50), 1200),
        "stall" => (Duration::from_secs(60), 1),
        _ => (Duration::ZERO, 1),
    };
    let stream = async_stream(shared, chunks, tail, pace, repeat, model == "stall");
    Response::builder()
        .status(200)
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(stream))
        .unwrap()
}

fn async_stream(
    shared: Arc<Shared>,
    chunks: Vec<Bytes>,
    tail: Vec<Bytes>,
    pace: Duration,
    repeat: usize,
    stall: bool,
) -> impl futures::Stream<Item = Result<Bytes, Infallible>> + Send {
    let mut all: Vec<Bytes> = Vec::new();
    for _ in 0..repeat {
        all.extend(chunks.iter().cloned());
    }
    all.extend(tail);
    let watch = Watch {
        shared,
        done: false,
    };
    futures::stream::unfold(
        (all.into_iter(), watch, 0usize),
        move |(mut it, mut watch, n)| async move {
            if n > 0 && (!stall || n == 1) && !pace.is_zero() {
                tokio::time::sleep(pace).await;
            }
            match it.next() {
                Some(chunk) => Some((Ok(chunk), (it, watch, n + 1))),
                None => {
                    watch.finish();
                    None
                }
            }
        },
    )
}

fn sse(data: &Value) -> Bytes {
    Bytes::from(format!("data: {data}\n\n"))
}

fn named(event: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}

fn big_chunks(model: &str) -> Option<Vec<Bytes>> {
    let total: usize = model.strip_prefix("big-")?.parse().ok()?;
    let text = "x".repeat(16 * 1024 - 64);
    let chunk = sse(&json!({"choices": [{"index": 0, "delta": {"content": text}}]}));
    Some(vec![chunk; total.div_ceil(16 * 1024).max(1)])
}

async fn chat(
    State(shared): State<Arc<Shared>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = record(&shared, uri.path(), &headers, &body);
    if let Some(refused) = refusal(&headers, "openai") {
        return refused;
    }
    let model = body["model"].as_str().unwrap_or("gpt").to_owned();
    if model == "no-access" {
        // What OpenAI answers for a model the project may not use: about the model,
        // not the key.
        return json_answer(
            403,
            json!({"error": {"message": "You do not have access to the model no-access.", "type": "invalid_request_error", "code": "model_not_found", "param": null}}),
        );
    }
    let usage = json!({"prompt_tokens": words_in(&body["messages"]), "completion_tokens": WORDS.len(), "total_tokens": words_in(&body["messages"]) + WORDS.len() as u64});
    if body["stream"] != Value::Bool(true) {
        return json_answer(
            200,
            json!({
                "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": WORDS.concat()}, "finish_reason": "stop"}],
                "usage": usage,
            }),
        );
    }
    let chunks = big_chunks(&model).unwrap_or_else(|| {
        WORDS
            .iter()
            .map(|w| sse(&json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model, "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": null}]})))
            .collect()
    });
    let mut tail = Vec::new();
    if body["stream_options"]["include_usage"] == Value::Bool(true) {
        tail.push(sse(&json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model, "choices": [], "usage": usage})));
    }
    tail.push(Bytes::from_static(b"data: [DONE]\n\n"));
    events(shared.clone(), &model, chunks, tail)
}

async fn embeddings(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = record(&shared, "/v1/embeddings", &headers, &body);
    if let Some(refused) = refusal(&headers, "openai") {
        return refused;
    }
    let n = words_in(&body);
    json_answer(
        200,
        json!({"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}], "model": body["model"], "usage": {"prompt_tokens": n, "total_tokens": n}}),
    )
}

async fn models(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    record(&shared, "/v1/models", &headers, &Bytes::new());
    if let Some(refused) = refusal(&headers, "openai") {
        return refused;
    }
    json_answer(
        200,
        json!({"object": "list", "data": [{"id": "gpt-fake", "object": "model"}]}),
    )
}

async fn messages(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let body = record(&shared, "/v1/messages", &headers, &body);
    if let Some(refused) = refusal(&headers, "anthropic") {
        return refused;
    }
    let model = body["model"].as_str().unwrap_or("claude").to_owned();
    let input = words_in(&body["messages"]);
    if body["stream"] != Value::Bool(true) {
        return json_answer(
            200,
            json!({
                "id": "msg_fake", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": WORDS.concat()}],
                "stop_reason": "end_turn", "stop_sequence": null,
                "usage": {"input_tokens": input, "output_tokens": WORDS.len()},
            }),
        );
    }
    let mut chunks = vec![
        named(
            "message_start",
            &json!({"type": "message_start", "message": {"id": "msg_fake", "type": "message", "role": "assistant", "model": model, "content": [], "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": input, "output_tokens": 1}}}),
        ),
        named(
            "content_block_start",
            &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
    ];
    for w in WORDS {
        chunks.push(named("content_block_delta", &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}})));
    }
    let tail = vec![
        named(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": 0}),
        ),
        named(
            "message_delta",
            &json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": WORDS.len()}}),
        ),
        named("message_stop", &json!({"type": "message_stop"})),
    ];
    events(shared.clone(), &model, chunks, tail)
}

async fn gemini(
    State(shared): State<Arc<Shared>>,
    Path(call): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = record(&shared, &format!("/v1beta/models/{call}"), &headers, &body);
    if let Some(refused) = refusal(&headers, "gemini") {
        return refused;
    }
    let (model, method) = call.rsplit_once(':').unwrap_or((&call, ""));
    let input = words_in(&body["contents"]);
    let part = |text: &str, last: bool| {
        let mut v = json!({"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}], "modelVersion": model});
        if last {
            v["usageMetadata"] = json!({"promptTokenCount": input, "candidatesTokenCount": WORDS.len(), "totalTokenCount": input + WORDS.len() as u64});
        }
        v
    };
    match method {
        "generateContent" => json_answer(200, part(&WORDS.concat(), true)),
        "streamGenerateContent" => {
            let chunks = WORDS
                .iter()
                .enumerate()
                .map(|(i, w)| sse(&part(w, i + 1 == WORDS.len())))
                .collect();
            events(shared.clone(), model, chunks, Vec::new())
        }
        _ => json_answer(
            404,
            json!({"error": {"code": 404, "message": "no such method", "status": "NOT_FOUND"}}),
        ),
    }
}

/// How long a test waits for something the fake notes in the background.
pub const SETTLE: Duration = Duration::from_secs(10);

/// Waits until `check` holds (or [`SETTLE`] has passed); whether it held.
pub async fn eventually(check: impl Fn() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + SETTLE;
    while tokio::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check()
}
