"""Load on the local stack (infra/scripts/local-api-test.sh runs it; `make load` for the
full run): simulated users each act as one of the seeded app users, mixing the key
manager's list, a settings update, a store, a key test and the app's servers taking the
key from use-key (Lambda Invoke, with the user's token).

At the end it prints requests per second, p50/p95/p99 per route and errors by status,
and fails (exit code 1) when any answer is an error other than the key-test limiter's
429, or when the usage counts differ from the successful uses.

Environment: APIKEYS_BASE_URL (the local API), APIKEYS_INVOKE_URL (the watcher's invoke
API), APIKEYS_LOAD_USERS_FILE (JSON: [{"user", "token"}]), APIKEYS_LOAD_KEY (the OpenAI
key every seeded user stores, one the fake provider accepts).
"""

import itertools
import json
import os
import random
import secrets
import subprocess
import time
from collections import Counter

import gevent

import boto3
from botocore.config import Config
from locust import HttpUser, between, events, task

SEEDED = json.load(open(os.environ["APIKEYS_LOAD_USERS_FILE"]))
OPENAI_KEY = os.environ["APIKEYS_LOAD_KEY"]
ANTHROPIC_KEY = "sk-ant-api03-LoadTestKey0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ-AA"
NEXT = itertools.count()
# An API Gateway (HTTP API, payload 2.0) event for the hello-world baseline.
HELLO_EVENT = json.dumps({
    "version": "2.0",
    "routeKey": "GET /hello",
    "rawPath": "/hello",
    "rawQueryString": "",
    "headers": {"host": "localhost"},
    "requestContext": {
        "accountId": "123456789012",
        "apiId": "load",
        "domainName": "localhost",
        "http": {"method": "GET", "path": "/hello", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "load"},
        "requestId": "load",
        "routeKey": "GET /hello",
        "stage": "$default",
        "time": "07/Dec/2026:00:00:00 +0000",
        "timeEpoch": 1796601600000,
    },
    "isBase64Encoded": False,
}).encode()
USES = Counter()  # successful uses, by user
STATUSES = Counter()  # (route, status) of every answer
LAMBDA = boto3.client(
    "lambda",
    endpoint_url=os.environ["APIKEYS_INVOKE_URL"],
    region_name=os.environ.get("AWS_REGION", "us-east-1"),
    aws_access_key_id="load",
    aws_secret_access_key="load",
    # No retry: a resent use would be a second use, and the counts are compared.
    config=Config(retries={"max_attempts": 1}, read_timeout=120, max_pool_connections=64),
)


def seed_all(base):
    """Every seeded user stores the OpenAI key once, before the load."""
    import urllib.request

    for seeded in SEEDED:
        request = urllib.request.Request(
            base + "/api/provider-configs",
            method="POST",
            data=json.dumps({"provider": "openai", "apiKey": OPENAI_KEY}).encode(),
            headers={"authorization": f"Bearer {seeded['token']}", "content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            assert response.status in (200, 201), response.status


ROTATION = {"asked": bool(os.environ.get("APIKEYS_LOAD_ROTATE_SECRET")), "done": False, "error": None}


def rotate_midway():
    """A third of the way in: a new seed version (AWSCURRENT), then, once every
    function's keyring has read it (its max age), `apikeys-admin rewrap` of the table."""
    try:
        gevent.sleep(float(os.environ["APIKEYS_LOAD_SECONDS"]) / 3)
        boto3.client(
            "secretsmanager",
            endpoint_url=os.environ["AWS_ENDPOINT_URL"],
            region_name=os.environ.get("AWS_REGION", "us-east-1"),
        ).put_secret_value(
            SecretId=os.environ["APIKEYS_LOAD_ROTATE_SECRET"], SecretString=secrets.token_urlsafe(48)
        )
        print("load: the seed was rotated")
        gevent.sleep(float(os.environ["APIKEYS_LOAD_MAX_AGE"]) + 2)
        done = subprocess.run(
            [os.environ["APIKEYS_LOAD_ADMIN"], "rewrap", "--table", os.environ["APIKEYS_LOAD_TABLE"]],
            env={**os.environ, "APIKEYS_SEED_SECRET_ID": os.environ["APIKEYS_LOAD_ROTATE_SECRET"]},
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            ROTATION["error"] = f"rewrap exited {done.returncode}: {done.stderr[-500:]}"
        else:
            print("load: rewrap done:", " ".join(done.stdout.split())[:300])
            ROTATION["done"] = True
    except Exception as e:  # reported at the end
        ROTATION["error"] = repr(e)


@events.test_start.add_listener
def on_test_start(environment, **_):
    seed_all(environment.host)
    if ROTATION["asked"]:
        ROTATION["greenlet"] = gevent.spawn(rotate_midway)


class AppUser(HttpUser):
    wait_time = between(0.05, 0.2)

    def on_start(self):
        seeded = SEEDED[next(NEXT) % len(SEEDED)]
        self.user_id = seeded["user"]
        self.token = seeded["token"]
        self.headers = {"authorization": f"Bearer {self.token}", "content-type": "application/json"}

    def call(self, method, path, name, body=None, allowed=()):
        with self.client.request(
            method, path, name=name, headers=self.headers, json=body, catch_response=True
        ) as response:
            STATUSES[(name, response.status_code)] += 1
            if response.status_code < 400 or response.status_code in allowed:
                response.success()
            else:
                response.failure(f"status {response.status_code}")

    @task(5)
    def list_configs(self):
        self.call("GET", "/api/provider-configs", "GET /api/provider-configs")

    @task(2)
    def update_settings(self):
        body = {"provider": "openai", "settings": {"temperature": round(random.random(), 2)}}
        self.call("PUT", "/api/provider-configs", "PUT /api/provider-configs", body)

    @task(1)
    def store(self):
        body = {"provider": "anthropic", "apiKey": ANTHROPIC_KEY}
        self.call("POST", "/api/provider-configs", "POST /api/provider-configs", body)

    @task(1)
    def test_key(self):
        # The limiter (10 tests a minute per user) answers 429: the one error allowed.
        self.call("POST", "/api/test-api-key", "POST /api/test-api-key", {"provider": "openai"}, allowed=(429,))

    def invoke(self, name, function, payload, judge):
        """One Lambda Invoke, timed and counted as a request of route `name`: `judge`
        reads the answer and returns the status to count it under, and an exception
        when it is an error."""
        started = time.perf_counter()
        length = 0
        try:
            out = LAMBDA.invoke(FunctionName=function, Payload=payload)
            raw = out["Payload"].read()
            length = len(raw)
            answer = json.loads(raw)
            if out.get("FunctionError"):
                status, exception = "function error", RuntimeError(f"{function} failed: {answer}")
            else:
                status, exception = judge(answer)
        except Exception as e:  # a transport error counts as an error of the route
            status, exception = type(e).__name__, e
        STATUSES[(name, status)] += 1
        self.environment.events.request.fire(
            request_type="INVOKE",
            name=name,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=length,
            exception=exception,
            context={},
        )

    @task(1)
    def hello(self):
        # The baseline: a hello-world function behind the same watcher, invoked the
        # same way, so the figures of the vault's routes can be read against it.
        def judge(answer):
            status = answer.get("statusCode")
            return status, None if status == 200 else RuntimeError(f"hello answered {answer}")

        self.invoke("hello (baseline)", "hello", HELLO_EVENT, judge)

    @task(3)
    def use_key(self):
        def judge(answer):
            if "error" in answer:
                status = answer.get("status", 500)
                return status, RuntimeError(f"use-key error {status}")
            if answer.get("found") is True and answer.get("apiKey") == OPENAI_KEY:
                USES[self.user_id] += 1
                return 200, None
            return "not found", RuntimeError(f"use-key found nothing: {answer.get('reason')}")

        payload = json.dumps({"userToken": self.token, "provider": "openai"}).encode()
        self.invoke("use-key", "use-key", payload, judge)


@events.quitting.add_listener
def on_quitting(environment, **_):
    import urllib.request

    stats = environment.stats
    elapsed = max(time.time() - stats.total.start_time, 1e-9)
    print()
    print(f"| route | requests | req/s | p50 ms | p95 ms | p99 ms | failures |")
    print(f"|---|---:|---:|---:|---:|---:|---:|")
    for (name, method), entry in sorted(stats.entries.items()):
        print(
            f"| {name} | {entry.num_requests} | {entry.num_requests / elapsed:.1f} | "
            f"{entry.get_response_time_percentile(0.5):.0f} | {entry.get_response_time_percentile(0.95):.0f} | "
            f"{entry.get_response_time_percentile(0.99):.0f} | {entry.num_failures} |"
        )
    total = stats.total
    print(f"| all | {total.num_requests} | {total.num_requests / elapsed:.1f} | "
          f"{total.get_response_time_percentile(0.5):.0f} | {total.get_response_time_percentile(0.95):.0f} | "
          f"{total.get_response_time_percentile(0.99):.0f} | {total.num_failures} |")
    print()
    print("answers by route and status:", dict(sorted((f"{k[0]} {k[1]}", v) for k, v in STATUSES.items())))

    problems = []
    if ROTATION.get("greenlet") is not None:
        # A short run may end before the rewrap does: wait for it, then judge.
        ROTATION["greenlet"].join(timeout=120)
    if ROTATION["asked"] and not ROTATION["done"]:
        problems.append(f"the rotation and rewrap did not finish: {ROTATION['error']}")
    if total.num_failures:
        problems.append(f"{total.num_failures} answers were errors other than the key test's 429")
    # Usage counts equal the successful uses, user by user.
    for seeded in SEEDED:
        request = urllib.request.Request(
            environment.host + "/api/provider-configs",
            headers={"authorization": f"Bearer {seeded['token']}"},
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            configs = json.loads(response.read())["configs"]
        openai = next(c for c in configs if c["provider"] == "openai")
        if openai["usageCount"] != USES[seeded["user"]]:
            problems.append(
                f"{seeded['user']}: usageCount {openai['usageCount']}, successful uses {USES[seeded['user']]}"
            )
    print(f"successful uses: {sum(USES.values())}; usage counts checked for {len(SEEDED)} users")
    for problem in problems:
        print("LOAD PROBLEM:", problem)
    environment.process_exit_code = 1 if problems else 0
