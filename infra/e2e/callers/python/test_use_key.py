"""The Python caller against the local stack (infra/scripts/callers.sh sets the
environment): a key stored through the HTTP API comes back from use-key through
boto3, its use is counted, a rate-limited key is skipped until its wait is over."""

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request

import boto3
import pytest
from botocore.config import Config

from vault import UseKeyError, Vault, pinned_opener

KEY = "sk-proj-PythonCaller0123456789abcdefghijklmno"


def env(name):
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: run infra/scripts/local-api-test.sh")
    return value


USER = env("APIKEYS_USER")
# The local use-key releases a key only with its user's own token, as a deployment
# with UseKeyRequireUserToken=true does.
TOKEN = env("APIKEYS_TOKEN")


@pytest.fixture(scope="module")
def vault():
    client = boto3.client(
        "lambda",
        endpoint_url=env("APIKEYS_INVOKE_URL"),
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, read_timeout=60),
    )
    return Vault(client)


def api(method, path, body=None):
    request = urllib.request.Request(
        env("APIKEYS_BASE_URL") + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"authorization": f"Bearer {env('APIKEYS_TOKEN')}", "content-type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        return response.status, json.loads(response.read() or b"null")


def test_a_stored_key_comes_back_and_its_use_is_counted_once(vault):
    status, stored = api("POST", "/api/provider-configs", {"provider": "openai", "apiKey": KEY})
    assert status == 201, stored

    used = vault.get_user_api_key(USER, "openai", user_token=TOKEN)

    assert used["found"] is True
    assert used["apiKey"] == KEY
    assert used["keyId"] == stored["config"]["id"]
    assert "PythonCaller" not in (used["keyHint"] or "")
    _, listed = api("GET", "/api/provider-configs")
    openai = next(c for c in listed["configs"] if c["provider"] == "openai")
    assert openai["usageCount"] == 1


def test_a_rate_limited_key_is_skipped_until_its_wait_is_over(vault):
    first = vault.get_user_api_key(USER, "openai", user_token=TOKEN)
    assert vault.report_outcome(USER, "openai", first["keyId"], "rate_limited", 1, user_token=TOKEN) is True

    skipped = vault.get_user_api_key(USER, "openai", user_token=TOKEN)
    assert skipped["found"] is False and skipped["reason"] == "all_unavailable", skipped
    assert skipped["availableAt"]

    time.sleep(1.5)
    assert vault.get_user_api_key(USER, "openai", first["keyId"], user_token=TOKEN)["apiKey"] == KEY


def test_without_the_users_token_or_for_another_user_nothing_is_released(vault):
    with pytest.raises(UseKeyError, match='"status": 403') as refused:
        vault.get_user_api_key(USER, "openai")
    assert '"field": "userToken"' in str(refused.value)
    with pytest.raises(UseKeyError, match='"field": "userId"') as refused:
        vault.get_user_api_key(USER + "-stranger", "openai", user_token=TOKEN)
    assert "PythonCaller" not in str(refused.value)
    with pytest.raises(UseKeyError, match='"field": "provider"'):
        vault.get_user_api_key(USER, "no-such-provider", user_token=TOKEN)


def test_a_rate_limited_primary_falls_back_to_the_next_key_and_comes_back(vault):
    spare = "sk-proj-PythonSpareKey0123456789abcdefghijkl"
    status, added = api("POST", "/api/provider-configs/openai/keys", {"apiKey": spare, "label": "spare"})
    assert status == 201, added
    primary = vault.get_user_api_key(USER, "openai", user_token=TOKEN)
    assert primary["apiKey"] == KEY, primary
    assert vault.report_outcome(USER, "openai", primary["keyId"], "rate_limited", 1, user_token=TOKEN) is True

    fallback = vault.get_user_api_key(USER, "openai", user_token=TOKEN)
    assert (fallback["apiKey"], fallback["keyId"]) == (spare, added["key"]["id"])

    time.sleep(1.5)
    assert vault.get_user_api_key(USER, "openai", user_token=TOKEN)["apiKey"] == KEY
    _, keys = api("GET", "/api/provider-configs/openai/keys")
    assert [(k["primary"], k["label"]) for k in keys["keys"]] == [(True, None), (False, "spare")]


def test_a_keys_own_endpoint_is_called_only_at_the_addresses_use_key_checked(vault):
    # An OpenAI-compatible server of the user's (the fake provider, by a name that
    # resolves to loopback), with a key it accepts.
    port = urllib.parse.urlsplit(env("APIKEYS_PROVIDER_URL")).port
    good = "sk-proj-AnotherG00dKey0123456789abcdefghijQR"
    status, stored = api(
        "POST",
        "/api/provider-configs",
        {"provider": "openai-compatible", "apiKey": good, "endpoint": {"baseUrl": f"http://localhost:{port}/v1"}},
    )
    assert status == 201, stored
    used = vault.get_user_api_key(USER, "openai-compatible", user_token=TOKEN)
    assert used["found"] and "127.0.0.1" in used["endpointAddresses"], used

    def get(answer, host):
        request = urllib.request.Request(
            f"http://{host}:{port}/v1/models", headers={"authorization": f"Bearer {answer['apiKey']}"}
        )
        with pinned_opener(answer).open(request, timeout=10) as response:
            return response.status

    # Through the checked addresses, the server answers the key.
    assert get(used, "localhost") == 200
    # The addresses, not a second DNS answer, decide where the call goes: pinned to a
    # loopback address where nothing listens, the same name is refused a connection.
    with pytest.raises(urllib.error.URLError, match="refused"):
        get({**used, "endpointAddresses": ["127.0.0.9"]}, "localhost")
    # And no other host is reachable through it.
    with pytest.raises(urllib.error.URLError, match="not the key's checked endpoint"):
        get(used, "example.com")


def test_with_no_key_of_their_own_the_user_gets_the_deployments_and_reports_count(vault):
    # The local stack's use-key holds a deployment key for Mistral only, 1000 tokens a
    # month per user (infra/scripts/local-api-test.sh); this user has no Mistral key.
    first = vault.get_user_api_key(USER, "mistral", user_token=TOKEN)
    assert first["found"] and first["source"] == "deployment", first
    assert first["apiKey"] == env("APIKEYS_DEPLOYMENT_KEY")
    assert first["keyId"] == "deployment"
    assert first["allowanceTokensLeft"] == 1000

    assert vault.report_deployment_usage(USER, "mistral", "ok", 120, 30, user_token=TOKEN) is True
    second = vault.get_user_api_key(USER, "mistral", user_token=TOKEN)
    assert second["source"] == "deployment", second
    assert second["allowanceTokensLeft"] == 850

    # Spent: the user's own refusal, and that the allowance is spent.
    vault.report_deployment_usage(USER, "mistral", "ok", 850, 0, user_token=TOKEN)
    spent = vault.get_user_api_key(USER, "mistral", user_token=TOKEN)
    assert spent["found"] is False, spent
    assert spent["deploymentAllowance"] == "exhausted"
