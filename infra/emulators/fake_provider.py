"""A fake LLM provider for the local stack's tests: a real HTTP server on 127.0.0.1 that
speaks the OpenAI, Anthropic and Gemini surfaces, streaming included, with Python's
standard library only. It answers the vault's key checks (infra/scripts/local-api-test.sh)
and is the upstream of the vault's proxy in its end-to-end tests (infra/e2e/proxy-sdks/).

    python3 infra/emulators/fake_provider.py --port-file FILE [--good-key KEY]...
        [--rate-limited-key KEY]... [--quota-key KEY]...

It listens on a free port of 127.0.0.1 and writes the port to FILE (through a temporary
file, so a reader never sees half a number). Without any --good-key it accepts
`sk-proj-G00dKey0123456789abcdefghijklmnopQRST`. It never prints a key: it logs nothing.

Routes (HTTP/1.1; a stream is sent with chunked transfer encoding, one chunk written
and flushed per event, or until the connection closes for an HTTP/1.0 client):

- `GET /v1/models`: OpenAI's model list with `Authorization: Bearer KEY`
  (https://platform.openai.com/docs/api-reference/models/list), or Anthropic's when the
  request has `anthropic-version` or `x-api-key` (https://docs.anthropic.com/en/api/models-list).
  Anthropic's key is read from `x-api-key` or else from `Authorization: Bearer`, which
  @anthropic-ai/sdk sends from its 1.0 on (with `anthropic-version: 2026-10-21`).
- `GET /openai/models?api-version=…`: an Azure OpenAI resource's, key in `api-key`
  (https://learn.microsoft.com/en-us/rest/api/azureopenai/models/list); good key or 401.
- `GET /v1beta/models`: Gemini's model list, key in `x-goog-api-key`.
- `POST /v1/chat/completions` (Bearer): a `chat.completion`, or with `"stream": true`
  `data: {chat.completion.chunk}` events (a role chunk, one chunk per piece of content,
  a `finish_reason: "stop"` chunk), then, only when `stream_options.include_usage` is
  true, a chunk with `choices: []` and `usage`, then `data: [DONE]`
  (https://platform.openai.com/docs/api-reference/chat/create,
  https://platform.openai.com/docs/api-reference/chat-streaming).
- `POST /v1/embeddings` (Bearer): one vector per input (`dimensions`, default 8),
  floats or, with `encoding_format: "base64"` as the SDKs ask, little-endian float32
  (https://platform.openai.com/docs/api-reference/embeddings/create).
- `POST /v1/messages` (`x-api-key` or Bearer; `anthropic-version` is required, its value
  unchecked, and so is `max_tokens`): an Anthropic `message`, or with `"stream": true`
  the events `message_start` (`message.usage.input_tokens`), `content_block_start`,
  `ping`, `content_block_delta` (`text_delta`) per piece, `content_block_stop`,
  `message_delta` (`usage.output_tokens`), `message_stop`
  (https://docs.anthropic.com/en/api/messages, https://docs.anthropic.com/en/api/messages-streaming).
- `POST /v1beta/models/{model}:generateContent` and `:streamGenerateContent`
  (`x-goog-api-key`): a `GenerateContentResponse`; streamed as SSE `data:` events
  separated by CRLF CRLF, as Gemini does, with `?alt=sse`, else as one JSON array
  written piece by piece. Each streamed event carries `usageMetadata`, as Gemini's do;
  the last one has the full counts `promptTokenCount`, `candidatesTokenCount`,
  `totalTokenCount` (https://ai.google.dev/api/generate-content).
- `GET /__fake/streams`: `{"started": n, "finished": n, "disconnected": n}` for the
  `slow-stream` streams, on any surface; `disconnected` counts those whose write failed
  because the client had gone away, which shows that a proxy closed its upstream
  connection when its own client left.

The answer's text is "Hello from the fake provider" in five pieces ("Hello", " from", …),
one per stream event. Token counts: the prompt's are the whitespace-separated words of
every message's text (OpenAI `messages[].content`, Anthropic `system` and
`messages[].content`, Gemini `systemInstruction` and `contents[].parts[].text`); the
completion's are the number of pieces of content. Two model names behave differently:

- `slow-stream`: one piece every 200 ms for up to 60 s (300 pieces) when streamed.
- `big-stream`: about `"bytes": N` bytes of content (a field of the request's JSON,
  default 65536) in pieces of 4096 bytes, written as fast as the client reads.

Keys: a good key gets the answers above. A `--rate-limited-key` gets 429 with
`Retry-After: 30` and the surface's own body (OpenAI `rate_limit_exceeded`, Anthropic
`rate_limit_error`, Gemini `RESOURCE_EXHAUSTED` with a `RetryInfo`). A `--quota-key`
gets the surface's out-of-credit answer: OpenAI 429 `insufficient_quota`, Anthropic 400
"Your credit balance is too low", Gemini 429 `RESOURCE_EXHAUSTED` with a
`QuotaFailure` (no Retry-After). Any other key gets the surface's wrong-key answer:
OpenAI 401 `invalid_api_key`, Anthropic 401 `authentication_error`, Gemini 400
`API_KEY_INVALID` (Gemini refuses a wrong key with 400, not 401).
"""

import argparse
import base64
import hashlib
import http.server
import json
import os
import re
import struct
import threading
import time
import urllib.parse

GOOD_KEY = "sk-proj-G00dKey0123456789abcdefghijklmnopQRST"

PIECES = ["Hello", " from", " the", " fake", " provider"]
SLOW_INTERVAL = 0.2
SLOW_PIECES = 300  # 60 s at one piece every 200 ms
BIG_DEFAULT = 65536
BIG_PIECE = 4096
BIG_MAX = 1 << 30
MAX_DIMENSIONS = 4096
MAX_BODY = 32 << 20

GEMINI_PATH = re.compile(r"^/v1beta/models/([^/:]+):(generateContent|streamGenerateContent)$")


class Counters:
    """The `slow-stream` streams: started, finished, and those whose client left."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.values = {"started": 0, "finished": 0, "disconnected": 0}

    def add(self, name: str) -> None:
        with self.lock:
            self.values[name] += 1

    def snapshot(self) -> dict:
        with self.lock:
            return dict(self.values)


class ClientGone(Exception):
    """A write to the client failed: it closed the connection."""


def words(text: str) -> int:
    return len(text.split())


def text_of(content) -> str:
    """The text of an OpenAI or Anthropic message content: a string or a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def gemini_text(content) -> str:
    if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
        return ""
    return " ".join(p["text"] for p in content["parts"] if isinstance(p, dict) and isinstance(p.get("text"), str))


def pieces(model: str, body: dict, streamed: bool):
    """The answer's content, piece by piece, each with the pause before it."""
    if model == "slow-stream" and streamed:
        for i in range(SLOW_PIECES):
            yield (SLOW_INTERVAL if i else 0.0), PIECES[i % len(PIECES)]
        return
    if model == "big-stream":
        size = body.get("bytes", BIG_DEFAULT)
        size = max(0, min(int(size), BIG_MAX)) if isinstance(size, (int, float)) else BIG_DEFAULT
        line = ("0123456789abcdefghijklmnopqrstuvwxyz" * (BIG_PIECE // 36 + 1))[:BIG_PIECE]
        while size > 0:
            yield 0.0, line[: min(size, BIG_PIECE)]
            size -= BIG_PIECE
        return
    for piece in PIECES:
        yield 0.0, piece


def model_in(raw: bytes) -> str:
    """The `model` of a request body, for an error message; OpenAI's default when none."""
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        body = None
    model = body.get("model") if isinstance(body, dict) else None
    return model if isinstance(model, str) and model else "gpt-4o-mini"


def vector(item, dimensions: int) -> list:
    """A deterministic vector for one embedding input."""
    seed = json.dumps(item, sort_keys=True).encode()
    out: list = []
    block = hashlib.sha256(seed).digest()
    while len(out) < dimensions:
        out.extend((b - 128) / 128 for b in block)
        block = hashlib.sha256(block).digest()
    return out[:dimensions]


# The surfaces' error answers: (status, body, extra headers), as Handler.answer takes them.

RETRY = {"Retry-After": "30"}


def openai_error(kind: str, model: str = "gpt-4o-mini"):
    if kind == "rate":
        return 429, {"error": {
            "message": f"Rate limit reached for {model} in organization org-fake on requests per min (RPM): "
                       "Limit 3, Used 3, Requested 1. Please try again in 30s.",
            "type": "requests", "param": None, "code": "rate_limit_exceeded"}}, RETRY
    if kind == "quota":
        return 429, {"error": {
            "message": "You exceeded your current quota, please check your plan and billing details.",
            "type": "insufficient_quota", "param": None, "code": "insufficient_quota"}}, {}
    return 401, {"error": {
        "message": "Incorrect API key provided.",
        "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}}, {}


def anthropic_error(kind: str):
    if kind == "rate":
        return 429, {"type": "error", "error": {
            "type": "rate_limit_error",
            "message": "This request would exceed the rate limit for your organization of 50 requests per minute."}}, RETRY
    if kind == "quota":
        return 400, {"type": "error", "error": {
            "type": "invalid_request_error",
            "message": "Your credit balance is too low to access the Anthropic API. "
                       "Please go to Plans & Billing to upgrade or purchase credits."}}, {}
    return 401, {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}, {}


def gemini_error(kind: str):
    if kind == "rate":
        return 429, {"error": {
            "code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "30s"}]}}, RETRY
    if kind == "quota":
        return 429, {"error": {
            "code": 429, "status": "RESOURCE_EXHAUSTED",
            "message": "You exceeded your current quota, please check your plan and billing details.",
            "details": [{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{
                "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]}]}}, {}
    return 400, {"error": {
        "code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT",
        "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                     "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}]}}, {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--good-key", action="append", default=[])
    parser.add_argument("--rate-limited-key", action="append", default=[])
    parser.add_argument("--quota-key", action="append", default=[])
    args = parser.parse_args()
    good = set(args.good_key or [GOOD_KEY])
    rate_limited = set(args.rate_limited_key)
    quota = set(args.quota_key)
    counters = Counters()
    serial = iter(range(1, 1 << 62))
    serial_lock = threading.Lock()

    def next_id() -> int:
        with serial_lock:
            return next(serial)

    def key_kind(key: str) -> str:
        if key and key in rate_limited:
            return "rate"
        if key and key in quota:
            return "quota"
        if key and key in good:
            return "good"
        return "bad"

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        # --- routing ---

        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            path = urllib.parse.urlsplit(self.path).path
            if path == "/__fake/streams":
                return self.answer(200, counters.snapshot())
            if path == "/openai/models" and "api-version=" in self.path:
                if self.headers.get("api-key", "") in good:
                    return self.answer(200, {"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]})
                return self.answer(401, {"error": {
                    "code": "401",
                    "message": "Access denied due to invalid subscription key or wrong API endpoint.",
                }})
            if path == "/v1/models":
                if self.headers.get("anthropic-version") or self.headers.get("x-api-key") is not None:
                    kind = key_kind(self.anthropic_key())
                    if kind != "good":
                        return self.answer(*anthropic_error(kind))
                    return self.answer(200, {"data": [{
                        "type": "model", "id": "claude-sonnet-5-5", "display_name": "Claude Sonnet 5.5",
                        "created_at": "2026-06-01T00:00:00Z"}],
                        "has_more": False, "first_id": "claude-sonnet-5-5", "last_id": "claude-sonnet-5-5"})
                kind = key_kind(self.bearer())
                if kind != "good":
                    return self.answer(*openai_error(kind))
                return self.answer(200, {"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]})
            if path == "/v1beta/models":
                kind = key_kind(self.headers.get("x-goog-api-key", ""))
                if kind != "good":
                    return self.answer(*gemini_error(kind))
                return self.answer(200, {"models": [{
                    "name": "models/gemini-2.5-flash", "displayName": "Gemini 2.5 Flash",
                    "supportedGenerationMethods": ["generateContent", "countTokens"]}]})
            return self.not_found()

        def do_POST(self) -> None:  # noqa: N802
            try:
                raw = self.read_body()
            except ValueError as e:
                self.close_connection = True
                return self.answer(400, {"error": {"message": str(e), "type": "invalid_request_error"}})
            parts = urllib.parse.urlsplit(self.path)
            path = parts.path
            if path in ("/v1/chat/completions", "/v1/embeddings"):
                kind = key_kind(self.bearer())
                if kind != "good":
                    return self.answer(*openai_error(kind, model_in(raw)))
                body = self.parse(raw, lambda m: (400, {"error": {
                    "message": m, "type": "invalid_request_error", "param": None, "code": None}}))
                if body is None:
                    return None
                return self.chat(body) if path == "/v1/chat/completions" else self.embeddings(body)
            if path == "/v1/messages":
                kind = key_kind(self.anthropic_key())
                if kind != "good":
                    return self.answer(*anthropic_error(kind))
                bad = lambda m: (400, {"type": "error", "error": {"type": "invalid_request_error", "message": m}}, {})  # noqa: E731
                if not self.headers.get("anthropic-version"):
                    return self.answer(*bad("anthropic-version: header is required"))
                body = self.parse(raw, bad)
                if body is None:
                    return None
                if not isinstance(body.get("max_tokens"), int):
                    return self.answer(*bad("max_tokens: Field required"))
                if not isinstance(body.get("messages"), list):
                    return self.answer(*bad("messages: Field required"))
                return self.messages(body)
            match = GEMINI_PATH.match(path)
            if match:
                kind = key_kind(self.headers.get("x-goog-api-key", ""))
                if kind != "good":
                    return self.answer(*gemini_error(kind))
                body = self.parse(raw, lambda m: (400, {"error": {
                    "code": 400, "message": m, "status": "INVALID_ARGUMENT"}}))
                if body is None:
                    return None
                model = urllib.parse.unquote(match.group(1))
                streamed = match.group(2) == "streamGenerateContent"
                sse = urllib.parse.parse_qs(parts.query).get("alt") == ["sse"]
                return self.generate(model, body, streamed, sse)
            return self.not_found()

        # --- OpenAI ---

        def chat(self, body: dict) -> None:
            model = str(body.get("model") or "gpt-4o-mini")
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages:
                return self.answer(400, {"error": {
                    "message": "'messages' is a required property", "type": "invalid_request_error",
                    "param": "messages", "code": None}})
            prompt = sum(words(text_of(m.get("content"))) for m in messages if isinstance(m, dict))
            ident = f"chatcmpl-fake{next_id()}"
            created = int(time.time())
            if not body.get("stream"):
                content = [p for _, p in pieces(model, body, False)]
                return self.answer(200, {
                    "id": ident, "object": "chat.completion", "created": created, "model": model,
                    "system_fingerprint": None,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(content),
                                                         "refusal": None},
                                 "logprobs": None, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": prompt, "completion_tokens": len(content),
                              "total_tokens": prompt + len(content)},
                })
            options = body.get("stream_options")
            include_usage = isinstance(options, dict) and options.get("include_usage") is True

            def chunk(choices: list, usage=None) -> bytes:
                event = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                         "system_fingerprint": None, "choices": choices}
                if include_usage:
                    event["usage"] = usage
                return b"data: " + json.dumps(event).encode() + b"\n\n"

            def events():
                yield 0.0, chunk([{"index": 0, "delta": {"role": "assistant", "content": ""},
                                   "logprobs": None, "finish_reason": None}])
                count = 0
                for pause, piece in pieces(model, body, True):
                    count += 1
                    yield pause, chunk([{"index": 0, "delta": {"content": piece},
                                         "logprobs": None, "finish_reason": None}])
                yield 0.0, chunk([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}])
                if include_usage:
                    yield 0.0, chunk([], {"prompt_tokens": prompt, "completion_tokens": count,
                                          "total_tokens": prompt + count})
                yield 0.0, b"data: [DONE]\n\n"

            self.stream(model, "text/event-stream; charset=utf-8", events())

        def embeddings(self, body: dict) -> None:
            model = str(body.get("model") or "text-embedding-3-small")
            given = body.get("input")
            if isinstance(given, str) or (isinstance(given, list) and given and isinstance(given[0], int)):
                items = [given]
            elif isinstance(given, list) and given:
                items = given
            else:
                return self.answer(400, {"error": {
                    "message": "'input' is a required property", "type": "invalid_request_error",
                    "param": "input", "code": None}})
            dims = body.get("dimensions", 8)
            dims = max(1, min(dims, MAX_DIMENSIONS)) if isinstance(dims, int) else 8
            as_base64 = body.get("encoding_format") == "base64"
            data, tokens = [], 0
            for i, item in enumerate(items):
                tokens += words(item) if isinstance(item, str) else len(item) if isinstance(item, list) else 1
                values = vector(item, dims)
                encoded = base64.b64encode(struct.pack(f"<{dims}f", *values)).decode() if as_base64 else values
                data.append({"object": "embedding", "index": i, "embedding": encoded})
            return self.answer(200, {"object": "list", "data": data, "model": model,
                                     "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

        # --- Anthropic ---

        def messages(self, body: dict) -> None:
            model = str(body.get("model") or "claude-sonnet-5-5")
            prompt = words(text_of(body.get("system"))) + sum(
                words(text_of(m.get("content"))) for m in body["messages"] if isinstance(m, dict))
            ident = f"msg_fake{next_id():020d}"
            if not body.get("stream"):
                content = [p for _, p in pieces(model, body, False)]
                return self.answer(200, {
                    "id": ident, "type": "message", "role": "assistant", "model": model,
                    "content": [{"type": "text", "text": "".join(content)}],
                    "stop_reason": "end_turn", "stop_sequence": None,
                    "usage": {"input_tokens": prompt, "output_tokens": len(content)},
                }, {"request-id": f"req_fake{next_id()}"})

            def event(name: str, data: dict) -> bytes:
                return f"event: {name}\ndata: ".encode() + json.dumps(data).encode() + b"\n\n"

            def events():
                yield 0.0, event("message_start", {"type": "message_start", "message": {
                    "id": ident, "type": "message", "role": "assistant", "model": model, "content": [],
                    "stop_reason": None, "stop_sequence": None,
                    "usage": {"input_tokens": prompt, "output_tokens": 1}}})
                yield 0.0, event("content_block_start", {"type": "content_block_start", "index": 0,
                                                         "content_block": {"type": "text", "text": ""}})
                yield 0.0, event("ping", {"type": "ping"})
                count = 0
                for pause, piece in pieces(model, body, True):
                    count += 1
                    yield pause, event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                               "delta": {"type": "text_delta", "text": piece}})
                yield 0.0, event("content_block_stop", {"type": "content_block_stop", "index": 0})
                yield 0.0, event("message_delta", {"type": "message_delta",
                                                   "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                                   "usage": {"output_tokens": count}})
                yield 0.0, event("message_stop", {"type": "message_stop"})

            self.stream(model, "text/event-stream; charset=utf-8", events(), {"request-id": f"req_fake{next_id()}"})

        # --- Gemini ---

        def generate(self, model: str, body: dict, streamed: bool, sse: bool) -> None:
            contents = body.get("contents")
            if not isinstance(contents, list) or not contents:
                return self.answer(400, {"error": {
                    "code": 400, "message": "* GenerateContentRequest.contents: contents is not specified\n",
                    "status": "INVALID_ARGUMENT"}})
            prompt = words(gemini_text(body.get("systemInstruction") or body.get("system_instruction"))) + sum(
                words(gemini_text(c)) for c in contents)
            ident = f"fake{next_id()}"

            def response(text: str, finished: bool, count: int) -> dict:
                candidate = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
                usage = {"promptTokenCount": prompt, "totalTokenCount": prompt}
                if finished:
                    candidate["finishReason"] = "STOP"
                    usage = {"promptTokenCount": prompt, "candidatesTokenCount": count,
                             "totalTokenCount": prompt + count}
                return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": model,
                        "responseId": ident}

            if not streamed:
                content = [p for _, p in pieces(model, body, False)]
                return self.answer(200, response("".join(content), True, len(content)))

            def events():
                count = 0
                previous = None
                for pause, piece in pieces(model, body, True):
                    if previous is not None:
                        yield previous[0], frame(response(previous[1], False, count), count == 1)
                    count += 1
                    previous = (pause, piece)
                last = response(previous[1] if previous else "", True, count)
                yield (previous[0] if previous else 0.0), frame(last, count <= 1)
                if not sse:
                    yield 0.0, b"]"

            def frame(data: dict, first: bool) -> bytes:
                text = json.dumps(data).encode()
                if sse:
                    return b"data: " + text + b"\r\n\r\n"
                return (b"[" if first else b",\r\n") + text

            kind = "text/event-stream" if sse else "application/json; charset=UTF-8"
            self.stream(model, kind, events())

        # --- plumbing ---

        def bearer(self) -> str:
            auth = self.headers.get("Authorization", "")
            return auth[len("Bearer "):] if auth.startswith("Bearer ") else ""

        def anthropic_key(self) -> str:
            """`x-api-key`, or `Authorization: Bearer` as @anthropic-ai/sdk 1.x sends it."""
            key = self.headers.get("x-api-key")
            return key if key is not None else self.bearer()

        def read_body(self) -> bytes:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                out = bytearray()
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return bytes(out)
                    if len(out) + size > MAX_BODY:
                        raise ValueError("request body too large")
                    out += self.rfile.read(size)
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                raise ValueError("request body too large")
            return self.rfile.read(length) if length > 0 else b""

        def parse(self, raw: bytes, bad):
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                body = None
            if not isinstance(body, dict):
                self.answer(*bad("The request body is not valid JSON."))
                return None
            return body

        def answer(self, status: int, body: dict, headers: dict | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()

        def not_found(self) -> None:
            self.answer(404, {"error": {"message": "Not found", "type": "invalid_request_error"}})

        def stream(self, model: str, content_type: str, events, headers: dict | None = None) -> None:
            """Writes each event as it comes, flushed; counts the `slow-stream` ones."""
            counted = model == "slow-stream"
            chunked = self.request_version != "HTTP/1.0"
            if counted:
                counters.add("started")
            try:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Cache-Control", "no-cache")
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                for pause, data in events:
                    if pause:
                        time.sleep(pause)
                    self.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
                if chunked:
                    self.write(b"0\r\n\r\n")
            except (ClientGone, OSError):  # OSError: the headers' write failed
                self.close_connection = True
                if counted:
                    counters.add("disconnected")
                return
            if counted:
                counters.add("finished")

        def write(self, data: bytes) -> None:
            try:
                self.wfile.write(data)
                self.wfile.flush()
            except OSError as e:  # BrokenPipeError, ConnectionResetError, …
                raise ClientGone from e

        def log_message(self, *_args) -> None:
            pass  # request lines carry no key, but the server has nothing to say

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(tmp, args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
