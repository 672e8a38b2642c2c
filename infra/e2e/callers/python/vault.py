"""How a chat backend written in Python takes a user's key from the vault: the
use-key function, through the Lambda Invoke API, with boto3. This file is what
README.md shows; test_use_key.py runs it against the local stack."""

import http.client
import json
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request


class UseKeyError(Exception):
    """use-key refused the call (the answer names a field, never key material)."""


class Vault:
    def __init__(self, lambda_client, function_name="use-key"):
        self._lambda = lambda_client
        self._function = function_name

    def _invoke(self, payload):
        out = self._lambda.invoke(FunctionName=self._function, Payload=json.dumps(payload).encode())
        if out.get("FunctionError"):
            raise UseKeyError(f"use-key failed: {out['FunctionError']}")
        answer = json.loads(out["Payload"].read())
        if "error" in answer:
            # {"error": {"field", "message"}, "status"?}: 403 when the user's token is
            # missing or does not pass.
            raise UseKeyError(json.dumps(answer))
        return answer

    def get_user_api_key(self, user_id, provider, key_id=None, user_token=None):
        """The user's key for a provider (its use recorded), or why there is none.

        `user_token` is the user's own JWT, as the app received it from its client:
        with it the vault releases the key of that token's user only (and a deployment
        with UseKeyRequireUserToken=true releases none without it)."""
        payload = {"userId": user_id, "provider": provider}
        if key_id:
            payload["keyId"] = key_id
        if user_token:
            payload["userToken"] = user_token
        return self._invoke(payload)

    def report_outcome(
        self, user_id, provider, key_id, outcome, retry_after_seconds=None, lease=None, user_token=None
    ):
        """What the provider answered: rate_limited, invalid, quota_exceeded or ok.

        `lease` is the one the key came with: a report about a key replaced or tested
        since is then stale and marks nothing (without it, the report applies to the
        key as it is now, as for callers before leases)."""
        payload = {"userId": user_id, "provider": provider, "keyId": key_id, "outcome": outcome}
        if retry_after_seconds:
            payload["retryAfterSeconds"] = retry_after_seconds
        if lease:
            payload["lease"] = lease
        if user_token:
            payload["userToken"] = user_token
        return self._invoke(payload)["recorded"]

    def report_deployment_usage(self, user_id, provider, outcome, input_tokens, output_tokens, user_token=None):
        """Counts a call made with the deployment's own key (an answer with
        `source: "deployment"`) against the user's monthly allowance. Every such call
        must be reported: nothing else counts it."""
        payload = {
            "userId": user_id,
            "provider": provider,
            "keyId": "deployment",
            "outcome": outcome,
            "usage": {"inputTokens": input_tokens, "outputTokens": output_tokens},
        }
        if user_token:
            payload["userToken"] = user_token
        return self._invoke(payload)["recorded"]


def endpoint_host(endpoint):
    """The host of a key's own endpoint (`baseUrl` of an OpenAI-compatible server, the
    Azure OpenAI resource's `endpoint`), or None for a provider's own API."""
    url = (endpoint or {}).get("baseUrl") or (endpoint or {}).get("endpoint")
    return urllib.parse.urlsplit(url).hostname if url else None


def pinned_opener(answer):
    """A urllib opener that reaches the key's endpoint host only at the addresses
    use-key checked at this use (`endpointAddresses`), IPv4 first, keeping the name
    for the Host header and TLS; no second DNS answer can lead the call elsewhere
    (DNS rebinding). Other hosts are refused. None when the key has no endpoint."""
    if not answer.get("found") or not answer.get("endpointAddresses"):
        return None
    host = endpoint_host(answer.get("endpoint"))
    addresses = sorted(answer["endpointAddresses"], key=lambda a: ":" in a)

    def connect(conn):
        if conn.host != host:
            raise urllib.error.URLError(f"{conn.host} is not the key's checked endpoint")
        last = None
        for address in addresses:
            try:
                return socket.create_connection((address, conn.port), conn.timeout)
            except OSError as e:
                last = e
        raise last

    class PinnedHTTPConnection(http.client.HTTPConnection):
        def connect(self):
            self.sock = connect(self)

    class PinnedHTTPSConnection(http.client.HTTPSConnection):
        def connect(self):
            sock = connect(self)
            context = ssl.create_default_context()
            self.sock = context.wrap_socket(sock, server_hostname=self.host)

    class Handler(urllib.request.HTTPHandler, urllib.request.HTTPSHandler):
        def http_open(self, req):
            return self.do_open(PinnedHTTPConnection, req)

        def https_open(self, req):
            return self.do_open(PinnedHTTPSConnection, req)

    return urllib.request.build_opener(Handler)
