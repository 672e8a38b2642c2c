"""The official OpenAI Python SDK calling the vault's proxy with a user's token: chat,
streamed chat (with and without stream_options), embeddings, the proxy's receipt
headers, a stream the client closes, and (proxy only) the fallback to a second key
when the primary is rate-limited. The upstream behind the proxy is
infra/emulators/fake_provider.py; README.md beside this file says how to run it.

    python test_openai_python.py     # with the pinned openai of requirements.txt

A plain script: it runs every check, prints each one's outcome and a closing
"N passed, N failed" line, and exits 1 when any failed.
"""

import json
import os
import sys
import time
import traceback
import urllib.request

import openai

PHRASE = "Hello from the fake provider"
PIECES = 5  # fake_provider.py sends the phrase in five pieces
FAKE_GOOD_KEY = "sk-proj-G00dKey0123456789abcdefghijklmnopQRST"  # fake_provider.py's default
RECEIPT = ["x-apikeys-key-id", "x-apikeys-key-hint", "x-apikeys-attempts", "x-apikeys-key-source"]

MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Say hello to the vault"},
]
PROMPT_TOKENS = sum(len(m["content"].split()) for m in MESSAGES)


class Skip(Exception):
    pass


def settings() -> dict:
    env = os.environ
    fake = env.get("APIKEYS_FAKE_PROVIDER", "").strip().rstrip("/")
    if env.get("APIKEYS_DIRECT") == "1":
        if not fake:
            sys.exit("APIKEYS_DIRECT=1 calls the fake provider itself: set APIKEYS_FAKE_PROVIDER "
                     "to its base URL (http://127.0.0.1:PORT)")
        return {"direct": True, "fake": fake, "token": env.get("APIKEYS_TOKEN") or FAKE_GOOD_KEY,
                "base": f"{fake}/v1", "where": f"the fake provider at {fake}"}
    proxy = env.get("APIKEYS_PROXY_BASE", "").strip().rstrip("/")
    if not proxy or not env.get("APIKEYS_TOKEN"):
        sys.exit("set APIKEYS_PROXY_BASE (the proxy's base, e.g. http://127.0.0.1:3000/proxy) and "
                 "APIKEYS_TOKEN (a user's JWT), or APIKEYS_DIRECT=1 with APIKEYS_FAKE_PROVIDER to call "
                 "the fake provider directly")
    return {"direct": False, "fake": fake, "token": env["APIKEYS_TOKEN"],
            "base": f"{proxy}/openai/v1", "where": f"the proxy at {proxy}"}


S = settings()
# The proxy-only check of a fallback: a user whose primary the fake rate-limits, with a
# second key it accepts (README.md); skipped without all three.
FALLBACK = {name: os.environ.get(f"APIKEYS_FALLBACK_{name.upper()}", "") for name in ("token", "primary_id", "second_id")}
if any(FALLBACK.values()) and not all(FALLBACK.values()):
    sys.exit("the fallback check needs all of APIKEYS_FALLBACK_TOKEN, APIKEYS_FALLBACK_PRIMARY_ID and "
             "APIKEYS_FALLBACK_SECOND_ID")


def client_for(api_key: str) -> openai.OpenAI:
    # No retries: a retried 429 or 5xx would hide what the proxy answered first.
    return openai.OpenAI(base_url=S["base"], api_key=api_key, max_retries=0, timeout=30.0)


client = client_for(S["token"])


def expecting(what: str, call):
    """Runs `call`; a failure says what was expected and what came instead."""
    try:
        return call()
    except openai.APIStatusError as e:
        raise AssertionError(f"expected {what} from {S['where']}; got HTTP {e.status_code}: {e.message}") from e
    except openai.APIConnectionError as e:
        raise AssertionError(f"expected {what} from {S['where']}; got no answer: {e.__cause__ or e}") from e


def check_receipt(headers, what: str) -> None:
    """The proxy's receipt headers; the fake provider alone sends none."""
    if S["direct"]:
        return
    for name in RECEIPT:
        assert name in headers, f"{what}: expected the proxy's receipt header {name}; got {sorted(headers.keys())}"
    assert headers["x-apikeys-key-id"], f"{what}: expected a non-empty x-apikeys-key-id"
    assert headers["x-apikeys-key-hint"], f"{what}: expected a non-empty x-apikeys-key-hint"
    assert headers["x-apikeys-key-source"] == "user", \
        f"{what}: expected x-apikeys-key-source: user; got {headers['x-apikeys-key-source']!r}"
    attempts = headers["x-apikeys-attempts"]
    for attempt in attempts.split(",") if attempts else []:
        key_id, _, reason = attempt.partition(":")
        assert key_id and reason and ":" not in reason, \
            f"{what}: expected x-apikeys-attempts to be empty or keyId:reason,…; got {attempts!r}"


def fake_streams() -> dict:
    url = f"{S['fake']}/__fake/streams"
    try:
        with urllib.request.urlopen(url, timeout=5) as res:
            return json.load(res)
    except OSError as e:
        raise AssertionError(f"expected the fake provider's stream counters at {url}; got {e}") from e


def test_chat() -> None:
    raw = expecting("a chat.completion", lambda: client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES))
    check_receipt(raw.headers, "chat")
    data = raw.parse()
    assert data.object == "chat.completion"
    assert data.choices[0].message.content == PHRASE, data.choices[0].message.content
    assert data.usage is not None, "expected usage"
    assert (data.usage.prompt_tokens, data.usage.completion_tokens, data.usage.total_tokens) == (
        PROMPT_TOKENS, PIECES, PROMPT_TOKENS + PIECES), f"expected the upstream usage unchanged; got {data.usage}"


def read_stream(stream_options, sdk: openai.OpenAI = client) -> tuple:
    extra = {"stream_options": stream_options} if stream_options else {}
    raw = expecting("a streamed chat (text/event-stream)", lambda: sdk.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, **extra))
    assert raw.headers.get("content-type", "").startswith("text/event-stream"), "expected an event stream"
    check_receipt(raw.headers, "streamed chat")
    text, pieces, usage, usage_chunk = "", 0, None, None
    with raw.parse() as stream:
        for chunk in stream:
            assert chunk.object == "chat.completion.chunk"
            delta = chunk.choices[0].delta.content if chunk.choices else None
            if delta:
                text += delta
                pieces += 1
            if chunk.usage is not None:
                usage, usage_chunk = chunk.usage, chunk
    assert text == PHRASE, f"expected the streamed pieces to make the whole answer; got {text!r}"
    assert pieces == PIECES, f"expected one piece per chunk; got {pieces}"
    return usage, usage_chunk, raw.headers


def test_chat_stream_with_include_usage() -> None:
    usage, chunk, _ = read_stream({"include_usage": True})
    assert usage is not None, "expected a chunk with usage when the client asks for it"
    assert chunk.choices == [], "expected usage in a chunk with choices: []"
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (
        PROMPT_TOKENS, PIECES, PROMPT_TOKENS + PIECES), f"got {usage}"


def test_chat_stream_without_stream_options() -> None:
    usage, _, _ = read_stream(None)
    if S["direct"]:
        # The fake, like OpenAI, sends no usage unless asked: so the proxy's answer having
        # it shows that the proxy added stream_options.include_usage.
        assert usage is None, "direct mode: expected no usage chunk when the client does not ask for one"
        return
    assert usage is not None, "expected the proxy to add stream_options.include_usage, so a last chunk carries usage"
    assert (usage.prompt_tokens, usage.completion_tokens) == (PROMPT_TOKENS, PIECES), f"got {usage}"


def test_embeddings() -> None:
    raw = expecting("an embedding list", lambda: client.embeddings.with_raw_response.create(
        model="text-embedding-3-small", input=["hello vault", "again"]))
    check_receipt(raw.headers, "embeddings")
    data = raw.parse()
    assert [d.index for d in data.data] == [0, 1]
    assert all(len(d.embedding) == 8 for d in data.data), "expected the fake provider's 8 dimensions"
    assert (data.usage.prompt_tokens, data.usage.total_tokens) == (3, 3), f"got {data.usage}"
    floats = expecting("an embedding list as floats", lambda: client.embeddings.create(
        model="text-embedding-3-small", input="hello vault", encoding_format="float", dimensions=4))
    assert floats.data[0].embedding == data.data[0].embedding[:4], "expected the same vector either way"


def test_client_disconnect_closes_upstream() -> None:
    if not S["fake"]:
        raise Skip("APIKEYS_FAKE_PROVIDER is not set: the fake provider's stream counters cannot be read")
    before = fake_streams()
    started = time.monotonic()
    stream = expecting("a streamed chat of the slow-stream model", lambda: client.chat.completions.create(
        model="slow-stream", messages=MESSAGES, stream=True))
    chunks = 0
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            chunks += 1
        if chunks == 2:
            break
    stream.close()  # closes the HTTP response mid-body, and so its connection
    took = time.monotonic() - started
    # slow-stream sends a piece every 200 ms: two pieces in a few seconds show the
    # chunks pass through as they come rather than after the whole answer (60 s).
    assert took < 5, f"expected the first two pieces within 5 s; took {took:.1f} s"
    deadline = time.monotonic() + 10
    now = fake_streams()
    while now["disconnected"] <= before["disconnected"] and time.monotonic() < deadline:
        time.sleep(0.1)
        now = fake_streams()
    assert now["started"] > before["started"], f"expected a slow stream to have started: {before} → {now}"
    assert now["disconnected"] > before["disconnected"], \
        f"expected the upstream slow stream to be cut within 10 s of the close: {before} → {now}"


def test_fallback_when_the_primary_is_rate_limited() -> None:
    if S["direct"]:
        raise Skip("direct mode: no proxy, so no second key to fall back to")
    if not FALLBACK["token"]:
        raise Skip("set APIKEYS_FALLBACK_TOKEN, APIKEYS_FALLBACK_PRIMARY_ID and APIKEYS_FALLBACK_SECOND_ID")
    sdk = client_for(FALLBACK["token"])
    # The whole text in its five pieces (read_stream checks both) shows the refusal was
    # dropped before anything reached the client.
    usage, _, headers = read_stream({"include_usage": True}, sdk)
    assert headers["x-apikeys-attempts"] == f"{FALLBACK['primary_id']}:rate_limited", \
        f"expected x-apikeys-attempts to name the primary as rate_limited; got {headers['x-apikeys-attempts']!r}"
    assert headers["x-apikeys-key-id"] == FALLBACK["second_id"], \
        f"expected the answer from the second key {FALLBACK['second_id']}; got {headers['x-apikeys-key-id']!r}"
    assert usage is not None, "expected usage from the second key's answer"
    # The primary is now marked until its Retry-After: straight to the second key.
    _, _, headers = read_stream(None, sdk)
    assert headers["x-apikeys-attempts"] == "", \
        f"expected no key skipped once the primary is marked; got {headers['x-apikeys-attempts']!r}"
    assert headers["x-apikeys-key-id"] == FALLBACK["second_id"]


def main() -> int:
    tests = [test_chat, test_chat_stream_with_include_usage, test_chat_stream_without_stream_options,
             test_embeddings, test_client_disconnect_closes_upstream, test_fallback_when_the_primary_is_rate_limited]
    print(f"openai {openai.__version__} against {S['where']}" + (" (direct: receipt headers not checked)"
                                                                   if S["direct"] else ""))
    passed = failed = skipped = 0
    for t in tests:
        try:
            t()
        except Skip as e:
            skipped += 1
            print(f"skip {t.__name__}: {e}")
        except Exception as e:  # noqa: BLE001 (every failure is reported, then the next check runs)
            failed += 1
            print(f"FAIL {t.__name__}")
            # The last exception only: `expecting` has put what came instead in its message.
            traceback.print_exception(e, chain=False, file=sys.stdout)
        else:
            passed += 1
            print(f"ok   {t.__name__}")
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
