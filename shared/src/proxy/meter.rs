//! Usage read from the provider's own answer as it streams past, without keeping
//! it: server-sent events are read line by line (one line at most is held), a JSON
//! answer is held up to a cap and read at its end. A JSON answer past the cap (a
//! large batch of embeddings) keeps only its last [`TAIL`] bytes, where each
//! provider puts its usage object, and that object is read from there.
//!
//! Where each provider puts it:
//! - OpenAI chat completions: `usage.prompt_tokens` / `completion_tokens`, in a
//!   stream on the last chunk when `stream_options.include_usage` is set
//!   (<https://platform.openai.com/docs/api-reference/chat/create>); embeddings:
//!   `usage.prompt_tokens`; Responses: `usage.input_tokens` / `output_tokens`, in a
//!   stream on the `response.completed` event's `response`
//!   (<https://platform.openai.com/docs/api-reference/responses-streaming>).
//! - Anthropic Messages: `message_start` carries `message.usage.input_tokens`,
//!   `message_delta` the cumulative `usage.output_tokens`
//!   (<https://docs.anthropic.com/en/docs/build-with-claude/streaming>); the input
//!   is `input_tokens` plus `cache_creation_input_tokens` and
//!   `cache_read_input_tokens`, which prompt caching reports beside it
//!   (<https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching>).
//! - Gemini: `usageMetadata.promptTokenCount` (with `toolUsePromptTokenCount`) /
//!   `candidatesTokenCount` (with `thoughtsTokenCount`, a thinking model's
//!   thoughts, which `totalTokenCount` counts beside the candidates)
//!   (<https://ai.google.dev/api/generate-content#UsageMetadata>).
//!
//! OpenAI's `prompt_tokens` already holds its cached tokens and `completion_tokens`
//! its reasoning tokens, so their details add nothing.
//!
//! Counts are cumulative where they repeat, so the largest seen is kept.

use serde_json::Value;

/// The longest SSE line, or JSON answer, read for usage.
const MAX_HELD: usize = 1024 * 1024;

/// The end of a JSON answer past [`MAX_HELD`] kept to read its usage from.
pub const TAIL: usize = 64 * 1024;

/// Tokens found so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    /// Input (prompt) tokens.
    pub input: u64,
    /// Output (completion) tokens.
    pub output: u64,
}

/// Reads usage from an answer's bytes as they pass.
#[derive(Debug)]
pub struct Meter {
    sse: bool,
    held: Vec<u8>,
    overflow: bool,
    tokens: Tokens,
}

impl Meter {
    /// A meter for an answer of this content type.
    pub fn new(content_type: Option<&str>) -> Self {
        let sse = content_type.is_some_and(|t| t.trim().starts_with("text/event-stream"));
        Self {
            sse,
            held: Vec::new(),
            overflow: false,
            tokens: Tokens::default(),
        }
    }

    /// Reads a chunk.
    pub fn feed(&mut self, chunk: &[u8]) {
        if !self.sse {
            self.held.extend_from_slice(chunk);
            if self.overflow || self.held.len() > MAX_HELD {
                // Past the cap: only the end is kept.
                self.overflow = true;
                let cut = self.held.len().saturating_sub(TAIL);
                self.held.drain(..cut);
            }
            return;
        }
        let mut rest = chunk;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            if !self.overflow {
                self.held.extend_from_slice(&rest[..end]);
                let line = std::mem::take(&mut self.held);
                self.line(&line);
            }
            self.overflow = false;
            self.held.clear();
            rest = &rest[end + 1..];
        }
        if self.held.len() + rest.len() > MAX_HELD {
            self.overflow = true;
            self.held = Vec::new();
        } else if !self.overflow {
            self.held.extend_from_slice(rest);
        }
    }

    /// The tokens of the whole answer, once it has ended.
    pub fn finish(&mut self) -> Tokens {
        let held = std::mem::take(&mut self.held);
        if self.sse {
            if !self.overflow {
                self.line(&held);
            }
        } else if !self.overflow {
            if let Ok(value) = serde_json::from_slice::<Value>(&held) {
                self.value(&value);
            }
        } else {
            self.tail(&held);
        }
        self.tokens
    }

    /// The usage object nearest the end of a JSON answer's `tail`: the last
    /// `"usage":` or `"usageMetadata":` key (in the answer's JSON a quote inside a
    /// string is escaped, so these bytes are a key) and the object after it.
    fn tail(&mut self, tail: &[u8]) {
        for name in ["usage", "usageMetadata"] {
            let key = format!("\"{name}\"");
            let key = key.as_bytes();
            let Some(at) = tail.windows(key.len()).rposition(|w| w == key) else {
                continue;
            };
            let rest = tail[at + key.len()..].trim_ascii_start();
            let Some(rest) = rest.strip_prefix(b":") else {
                continue;
            };
            let mut values = serde_json::Deserializer::from_slice(rest).into_iter::<Value>();
            if let Some(Ok(usage @ Value::Object(_))) = values.next() {
                self.value(&serde_json::json!({ name: usage }));
            }
        }
    }

    /// The tokens seen so far (an answer cut short).
    pub fn so_far(&self) -> Tokens {
        self.tokens
    }

    fn line(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(data) = line.strip_prefix(b"data:") else {
            return;
        };
        // Only an event that names usage is parsed: content chunks pass unread.
        if !data.windows(4).any(|w| w == b"sage") {
            return;
        }
        if let Ok(value) = serde_json::from_slice::<Value>(data) {
            self.value(&value);
        }
    }

    fn value(&mut self, value: &Value) {
        // A Gemini answer without `alt=sse` is a JSON array of responses.
        if let Value::Array(items) = value {
            for item in items {
                self.value(item);
            }
            return;
        }
        let places = [
            value.get("usage"),
            value.get("message").and_then(|m| m.get("usage")),
            value.get("response").and_then(|r| r.get("usage")),
            value.get("usageMetadata"),
        ];
        for usage in places.into_iter().flatten() {
            let count = |names: &[&str]| {
                names
                    .iter()
                    .find_map(|n| usage.get(*n).and_then(Value::as_u64))
            };
            // What is reported beside the main count and billed with it.
            let beside = |names: &[&str]| -> u64 {
                names
                    .iter()
                    .filter_map(|n| usage.get(*n).and_then(Value::as_u64))
                    .fold(0, u64::saturating_add)
            };
            if let Some(input) = count(&["prompt_tokens", "input_tokens", "promptTokenCount"]) {
                let input = input.saturating_add(beside(&[
                    "cache_creation_input_tokens",
                    "cache_read_input_tokens",
                    "toolUsePromptTokenCount",
                ]));
                self.tokens.input = self.tokens.input.max(input);
            }
            if let Some(output) =
                count(&["completion_tokens", "output_tokens", "candidatesTokenCount"])
            {
                let output = output.saturating_add(beside(&["thoughtsTokenCount"]));
                self.tokens.output = self.tokens.output.max(output);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metered(content_type: &str, chunks: &[&str]) -> Tokens {
        let mut m = Meter::new(Some(content_type));
        for c in chunks {
            m.feed(c.as_bytes());
        }
        m.finish()
    }

    #[test]
    fn openai_stream_usage_on_the_last_chunk_split_anywhere() {
        let stream = "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n\
                      data: {\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":7}}\n\n\
                      data: [DONE]\n\n";
        for split in 0..stream.len() {
            let (a, b) = stream.split_at(split);
            assert_eq!(
                metered("text/event-stream; charset=utf-8", &[a, b]),
                Tokens {
                    input: 11,
                    output: 7
                },
                "split at {split}"
            );
        }
    }

    #[test]
    fn anthropic_counts_come_from_start_and_the_last_delta() {
        let stream = "event: message_start\r\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\r\n\r\n\
                      event: message_delta\r\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":15}}\r\n\r\n";
        assert_eq!(
            metered("text/event-stream", &[stream]),
            Tokens {
                input: 25,
                output: 15
            }
        );
    }

    #[test]
    fn gemini_json_openai_json_and_responses_events() {
        let gemini = r#"{"candidates":[],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":9,"totalTokenCount":13}}"#;
        assert_eq!(
            metered("application/json", &[gemini]),
            Tokens {
                input: 4,
                output: 9
            }
        );
        let array = format!("[{gemini},{gemini}]");
        assert_eq!(metered("application/json", &[&array]).output, 9);
        let responses = "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":3,\"output_tokens\":5}}}\n\n";
        assert_eq!(
            metered("text/event-stream", &[responses]),
            Tokens {
                input: 3,
                output: 5
            }
        );
        assert_eq!(
            metered("application/json", &["not json"]),
            Tokens::default()
        );
    }

    #[test]
    fn a_huge_answer_is_not_held() {
        let mut m = Meter::new(Some("application/json"));
        let chunk = vec![b' '; 64 * 1024];
        for _ in 0..40 {
            m.feed(&chunk);
        }
        assert!(m.held.len() <= TAIL);
        assert_eq!(m.finish(), Tokens::default());
        let mut m = Meter::new(Some("text/event-stream"));
        for _ in 0..40 {
            m.feed(&chunk);
        }
        assert!(m.held.len() <= MAX_HELD);
    }

    #[test]
    fn cached_input_and_thoughts_count_with_what_they_are_reported_beside() {
        let anthropic = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":5,\"cache_creation_input_tokens\":200,\"cache_read_input_tokens\":1000,\"output_tokens\":1}}}\n\n\
                         event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":40}}\n\n";
        assert_eq!(
            metered("text/event-stream", &[anthropic]),
            Tokens {
                input: 1205,
                output: 40
            }
        );
        let gemini = r#"{"usageMetadata":{"promptTokenCount":10,"toolUsePromptTokenCount":3,"candidatesTokenCount":20,"thoughtsTokenCount":300,"totalTokenCount":333}}"#;
        assert_eq!(
            metered("application/json", &[gemini]),
            Tokens {
                input: 13,
                output: 320
            }
        );
        // OpenAI's details are parts of its counts, not beside them
        let openai = r#"{"usage":{"prompt_tokens":50,"completion_tokens":70,"prompt_tokens_details":{"cached_tokens":40},"completion_tokens_details":{"reasoning_tokens":60}}}"#;
        assert_eq!(
            metered("application/json", &[openai]),
            Tokens {
                input: 50,
                output: 70
            }
        );
    }

    #[test]
    fn a_json_answer_past_the_cap_is_counted_from_its_usage_at_the_end() {
        // An embeddings answer of about 3 MB (OpenAI puts `usage` last), fed in
        // uneven chunks, with the word "usage" quoted inside a string before it
        let vector = vec!["0.0123456789"; 1536].join(",");
        let data: Vec<String> = (0..160)
            .map(|i| format!(r#"{{"object":"embedding","index":{i},"embedding":[{vector}]}}"#))
            .collect();
        let answer = format!(
            r#"{{"object":"list","note":"the "usage": {{"prompt_tokens": 999}}","data":[{}],"model":"text-embedding-3-small","usage":{{"prompt_tokens":1280,"total_tokens":1280}}}}"#,
            data.join(",")
        );
        assert!(answer.len() > 2 * MAX_HELD);
        let mut m = Meter::new(Some("application/json"));
        for chunk in answer.as_bytes().chunks(7_777) {
            m.feed(chunk);
            assert!(m.held.len() <= MAX_HELD + 7_777);
        }
        assert_eq!(
            m.finish(),
            Tokens {
                input: 1280,
                output: 0
            }
        );
        // And Gemini's `usageMetadata`, last in its answer too
        let text = "x".repeat(2 * MAX_HELD);
        let gemini = format!(
            r#"{{"candidates":[{{"content":{{"parts":[{{"text":"{text}"}}]}}}}],"usageMetadata" : {{"promptTokenCount":4,"candidatesTokenCount":900000}}}}"#
        );
        assert_eq!(
            metered(
                "application/json",
                &[&gemini[..MAX_HELD], &gemini[MAX_HELD..]]
            ),
            Tokens {
                input: 4,
                output: 900_000
            }
        );
    }
}
