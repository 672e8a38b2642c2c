"""How a chat backend written in Python takes a user's key from the vault: the
use-key function, through the Lambda Invoke API, with boto3. This file is what
README.md shows; test_use_key.py runs it against the local stack."""

import json


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
