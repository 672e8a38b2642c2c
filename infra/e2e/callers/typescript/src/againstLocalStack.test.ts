// The TypeScript caller against the local stack: a key stored through the HTTP API
// comes back from use-key, its use is counted, and a rate-limited key is skipped
// until its wait is over. Environment (set by infra/scripts/local-api-test.sh):
// APIKEYS_BASE_URL, APIKEYS_TOKEN (a token for APIKEYS_USER), APIKEYS_USER,
// APIKEYS_INVOKE_URL (cargo lambda watch's Invoke API). The local use-key releases a key
// only with its user's own token, as with UseKeyRequireUserToken=true.
import assert from "node:assert/strict";
import { test } from "node:test";
import { LambdaClient } from "@aws-sdk/client-lambda";
import { Vault } from "./vault.js";

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run infra/scripts/local-api-test.sh`);
  return value;
};
const base = env("APIKEYS_BASE_URL");
const token = env("APIKEYS_TOKEN");
const user = env("APIKEYS_USER");
const key = "sk-proj-TypeScriptCaller0123456789abcdefghij";

const vault = new Vault(
  new LambdaClient({
    endpoint: env("APIKEYS_INVOKE_URL"),
    region: process.env.AWS_REGION ?? "us-east-1",
    credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
    maxAttempts: 1,
  }),
  "use-key",
);

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

test("a key stored through the API comes back from use-key, its use counted once", async () => {
  const stored = await api("POST", "/api/provider-configs", { provider: "openai", apiKey: key });
  assert.equal(stored.status, 201, JSON.stringify(stored.json));

  const used = await vault.getUserApiKey(user, "openai", { userToken: token });
  assert.equal(used.found, true, JSON.stringify(used));
  if (!used.found) return;
  assert.equal(used.apiKey, key);
  assert.equal(used.keyId, stored.json.config.id);
  assert.ok(!String(used.keyHint).includes("TypeScriptCaller"));

  const listed = await api("GET", "/api/provider-configs");
  const openai = listed.json.configs.find((c: any) => c.provider === "openai");
  assert.equal(openai.usageCount, 1);
});

test("a rate-limited key is skipped until its wait is over", async () => {
  const first = await vault.getUserApiKey(user, "openai", { userToken: token });
  assert.ok(first.found);
  if (!first.found) return;
  assert.equal(await vault.reportOutcome(user, "openai", first.keyId, "rate_limited", 1, undefined, token), true);

  const skipped = await vault.getUserApiKey(user, "openai", { userToken: token });
  assert.deepEqual(
    { found: skipped.found, reason: !skipped.found && skipped.reason },
    { found: false, reason: "all_unavailable" },
  );

  await new Promise((resolve) => setTimeout(resolve, 1500));
  const back = await vault.getUserApiKey(user, "openai", { keyId: first.keyId, userToken: token });
  assert.equal(back.found && back.apiKey, key);
});

test("without the user's token, or for another user, nothing is released; a bad payload names its field", async () => {
  await assert.rejects(vault.getUserApiKey(user, "openai"), /"field":"userToken".*"status":403/);
  await assert.rejects(
    vault.getUserApiKey(`${user}-stranger`, "openai", { userToken: token }),
    /"field":"userId".*"status":403/,
  );
  await assert.rejects(vault.getUserApiKey(user, "no-such-provider", { userToken: token }), /"field":"provider"/);
});

test("a rate-limited primary falls back to the user's next key and comes back after its wait", async () => {
  const spare = "sk-proj-TypeScriptSpare0123456789abcdefghijk";
  const added = await api("POST", "/api/provider-configs/openai/keys", { apiKey: spare, label: "spare" });
  assert.equal(added.status, 201, JSON.stringify(added.json));
  const primary = await vault.getUserApiKey(user, "openai", { userToken: token });
  assert.ok(primary.found && primary.apiKey === key, JSON.stringify(primary));
  if (!primary.found) return;
  assert.equal(await vault.reportOutcome(user, "openai", primary.keyId, "rate_limited", 1, undefined, token), true);

  const fallback = await vault.getUserApiKey(user, "openai", { userToken: token });
  assert.equal(fallback.found && fallback.apiKey, spare);
  assert.equal(fallback.found && fallback.keyId, added.json.key.id);

  await new Promise((resolve) => setTimeout(resolve, 1500));
  const back = await vault.getUserApiKey(user, "openai", { userToken: token });
  assert.equal(back.found && back.apiKey, key);
  const keys = await api("GET", "/api/provider-configs/openai/keys");
  assert.deepEqual(
    keys.json.keys.map((k: any) => [k.primary, k.label, k.usageCount]),
    [
      [true, null, 5],
      [false, "spare", 1],
    ],
  );
});
