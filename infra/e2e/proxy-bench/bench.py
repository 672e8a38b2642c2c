"""The proxy's figures (infra/scripts/proxy-bench.sh starts what it measures):

1. time to first byte, warm: the proxy against a bare pass-through function served
   the same way (both streamed through `cargo lambda watch`'s Invoke API, the same
   fake provider behind), in pairs, the order alternating;
2. the whole path: a chat through the local API's /proxy/ against the same chat sent
   to the fake provider directly;
3. a 10 MB streamed answer's total time, proxy against pass-through;
4. the proxy process's peak RSS (VmHWM) while it streams 100 MB.

Standard library only; every address is 127.0.0.1. Prints a Markdown table.
"""

import http.client
import json
import os
import statistics
import sys
import time
import urllib.parse

INVOKE = urllib.parse.urlsplit(os.environ["BENCH_INVOKE_URL"])
LOCAL = urllib.parse.urlsplit(os.environ["BENCH_LOCAL_API"])
FAKE = urllib.parse.urlsplit(os.environ["BENCH_FAKE"])
TOKEN = os.environ["BENCH_TOKEN"]
KEY = os.environ["BENCH_KEY"]
PROXY_PID = int(os.environ["BENCH_PROXY_PID"])
RUNS = int(os.environ.get("BENCH_RUNS", "200"))
CHAT = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "Hello there"}]}


def event(body: dict) -> bytes:
    """A function URL's payload 2.0 event for a chat through the proxy."""
    path = "/proxy/openai/v1/chat/completions"
    return json.dumps({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
        "headers": {"content-type": "application/json", "authorization": f"Bearer {TOKEN}",
                    "host": "127.0.0.1"},
        "requestContext": {"http": {"method": "POST", "path": path, "protocol": "HTTP/1.1",
                                    "sourceIp": "127.0.0.1", "userAgent": "bench"},
                           "requestId": "bench", "routeKey": "$default", "stage": "$default",
                           "accountId": "anonymous", "apiId": "bench", "domainName": "127.0.0.1",
                           "time": "07/Dec/2026:00:00:00 +0000", "timeEpoch": 0},
        "body": json.dumps(body), "isBase64Encoded": False,
    }).encode()


def timed(url, path: str, body: bytes, headers: dict, sink=None):
    """(time to the first body byte, total time, bytes) of one POST."""
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
    started = time.perf_counter()
    conn.request("POST", path, body=body, headers=headers)
    answer = conn.getresponse()
    if answer.status != 200:
        raise SystemExit(f"{path}: status {answer.status}: {answer.read()[:300]!r}")
    first = answer.read1(65536)
    ttfb = time.perf_counter() - started
    size = len(first)
    while True:
        chunk = answer.read1(1 << 20)
        if not chunk:
            break
        size += len(chunk)
        if sink:
            sink()
    total = time.perf_counter() - started
    conn.close()
    return ttfb, total, size


def invoke(function: str, body: dict, sink=None):
    return timed(INVOKE, f"/2015-03-31/functions/{function}/invocations", event(body),
                 {"content-type": "application/json"}, sink)


def through_local_api(body: dict):
    return timed(LOCAL, "/proxy/openai/v1/chat/completions", json.dumps(body).encode(),
                 {"content-type": "application/json", "authorization": f"Bearer {TOKEN}"})


def direct(body: dict):
    return timed(FAKE, "/v1/chat/completions", json.dumps(body).encode(),
                 {"content-type": "application/json", "authorization": f"Bearer {KEY}"})


def pct(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def ms(seconds):
    return f"{seconds * 1000:.2f}"


def vm(field: str) -> int:
    with open(f"/proc/{PROXY_PID}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])  # kB
    return 0


def main() -> int:
    # Warm both functions, their clients and the table.
    for _ in range(20):
        invoke("proxy", CHAT)
        invoke("passthrough", CHAT)
        through_local_api(CHAT)
        direct(CHAT)
    pairs = {"proxy": [], "passthrough": [], "local": [], "direct": []}
    for i in range(RUNS):
        order = ("proxy", "passthrough") if i % 2 == 0 else ("passthrough", "proxy")
        for name in order:
            pairs[name].append(invoke(name, CHAT)[0])
        order = (("local", through_local_api), ("direct", direct))
        for name, call in (order if i % 2 == 0 else order[::-1]):
            pairs[name].append(call(CHAT)[0])
    added = [p - b for p, b in zip(pairs["proxy"], pairs["passthrough"])]
    path_added = [p - b for p, b in zip(pairs["local"], pairs["direct"])]

    big = {"model": "big-stream", "stream": True, "bytes": 10 * 1024 * 1024,
           "messages": [{"role": "user", "content": "big"}]}
    totals = {"proxy": [], "passthrough": []}
    for i in range(7):
        for name in (("proxy", "passthrough") if i % 2 == 0 else ("passthrough", "proxy")):
            totals[name].append(invoke(name, big)[1])

    huge = dict(big, bytes=100 * 1024 * 1024)
    peak_rss = [vm("VmRSS")]
    before = vm("VmHWM")
    _, huge_total, huge_size = invoke("proxy", huge, sink=lambda: peak_rss.append(vm("VmRSS")))
    after = vm("VmHWM")

    med = statistics.median
    print(f"Runs: {RUNS} warm pairs (after 20 warm-ups), alternating order; 10 MB: 7 each.\n")
    print("| figure | proxy | baseline | added / ratio | budget |")
    print("|---|---:|---:|---:|---|")
    print(f"| time to first byte, median (ms) | {ms(med(pairs['proxy']))} | {ms(med(pairs['passthrough']))} (pass-through) | +{ms(med(added))} | ≤ 3 ms: {'met' if med(added) <= 0.003 else 'missed'} |")
    print(f"| time to first byte, p99 (ms) | {ms(pct(pairs['proxy'], 99))} | {ms(pct(pairs['passthrough'], 99))} (pass-through) | +{ms(pct(added, 99))} | ≤ 10 ms: {'met' if pct(added, 99) <= 0.010 else 'missed'} |")
    print(f"| whole path, first byte, median (ms) | {ms(med(pairs['local']))} (local API /proxy/) | {ms(med(pairs['direct']))} (fake provider direct) | +{ms(med(path_added))} | (reported) |")
    print(f"| whole path, first byte, p99 (ms) | {ms(pct(pairs['local'], 99))} | {ms(pct(pairs['direct'], 99))} | +{ms(pct(path_added, 99))} | (reported) |")
    ratio = med(totals["proxy"]) / med(totals["passthrough"])
    print(f"| 10 MB streamed, total, median (ms) | {ms(med(totals['proxy']))} | {ms(med(totals['passthrough']))} (pass-through) | ×{ratio:.3f} | ≤ 1.1×: {'met' if ratio <= 1.1 else 'missed'} |")
    peak = max(after, max(peak_rss)) / 1024
    print(f"| peak RSS streaming {huge_size / 1e6:.0f} MB (MiB) | {peak:.1f} (VmHWM {before / 1024:.1f} before, {after / 1024:.1f} after; {huge_total:.1f} s) | | | < 48 MiB: {'met' if peak < 48 else 'missed'} |")
    # Where the proxy's own time goes, from its audit lines (`proxy.call`): until the
    # key is opened (token, the use recorded in the table, the envelope opened), and
    # until the provider's answer began.
    key_us, first_us = [], []
    with open(os.environ["BENCH_PROXY_LOG"]) as log:
        for line in log:
            if '"proxy.call"' not in line:
                continue
            fields = json.loads(line)
            if fields.get("model") == "gpt-4o-mini" and fields.get("key_us"):
                key_us.append(fields["key_us"] / 1e6)
                first_us.append(fields["first_byte_us"] / 1e6)
    if key_us:
        print(f"\nInside the proxy ({len(key_us)} chats): the key in hand after {ms(med(key_us))} ms "
              f"(median; p99 {ms(pct(key_us, 99))}), the provider's answer begun after "
              f"{ms(med(first_us))} ms (p99 {ms(pct(first_us, 99))}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
