// The TypeScript caller against the local stack: a key stored through the HTTP API
// comes back from use-key, its use is counted, and a rate-limited key is skipped
// until its wait is over. Environment (set by infra/scripts/local-api-test.sh):
// APIKEYS_BASE_URL, APIKEYS_TOKEN (a token for APIKEYS_USER), APIKEYS_USER,
// APIKEYS_INVOKE_URL (cargo lambda watch's Invoke API). The local use-key releases a key
// only with its user's own token, as with UseKeyRequireUserToken=true.
import assert from "node:assert/strict";
import { test } from "node:test";
import { LambdaClient } from "@aws-sdk/client-lambda";
import http from "node:http";
import { pinnedLookup, Vault } from "./vault.js";

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

test("a key's own endpoint is called only at the addresses use-key checked", async () => {
  // An OpenAI-compatible server of the user's (the fake provider, by a name that
  // resolves to loopback), with a key it accepts.
  const port = new URL(env("APIKEYS_PROVIDER_URL")).port;
  const good = "sk-proj-AnotherG00dKey0123456789abcdefghijQR";
  const stored = await api("POST", "/api/provider-configs", {
    provider: "openai-compatible",
    apiKey: good,
    endpoint: { baseUrl: `http://localhost:${port}/v1` },
  });
  assert.equal(stored.status, 201, JSON.stringify(stored.json));
  const used = await vault.getUserApiKey(user, "openai-compatible", { userToken: token });
  assert.ok(used.found && used.endpointAddresses?.includes("127.0.0.1"), JSON.stringify(used));
  if (!used.found) return;

  const get = (answer: typeof used, host: string) =>
    new Promise<number>((resolve, reject) => {
      const lookup = pinnedLookup(answer);
      assert.ok(lookup);
      const req = http.get(
        {
          host,
          port,
          path: "/v1/models",
          headers: { authorization: `Bearer ${answer.found ? answer.apiKey : ""}` },
          agent: new http.Agent({ lookup: lookup as any }),
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
    });
  // Through the checked addresses, the server answers the key.
  assert.equal(await get(used, "localhost"), 200);
  // The addresses, not a second DNS answer, decide where the call goes: pinned to a
  // loopback address where nothing listens, the same name is refused a connection.
  await assert.rejects(get({ ...used, endpointAddresses: ["127.0.0.9"] }, "localhost"), /ECONNREFUSED/);
  // And no other host is reachable through it.
  await assert.rejects(get(used, "example.com"), /not the key's checked endpoint/);
});

test("with no key of their own, the user gets the deployment's, and what the app reports counts against the allowance", async () => {
  // The local stack's use-key holds a deployment key for Mistral only, 1000 tokens a
  // month per user (infra/scripts/local-api-test.sh); this user has no Mistral key.
  const first = await vault.getUserApiKey(user, "mistral", { userToken: token });
  assert.ok(first.found && first.source === "deployment", JSON.stringify(first));
  if (!first.found || first.source !== "deployment") return;
  assert.equal(first.apiKey, env("APIKEYS_DEPLOYMENT_KEY"));
  assert.equal(first.keyId, "deployment");
  assert.equal(first.allowanceTokensLeft, 1000);

  const recorded = await vault.reportDeploymentUsage(
    user,
    "mistral",
    "ok",
    { inputTokens: 120, outputTokens: 30 },
    token,
  );
  assert.equal(recorded, true);
  const second = await vault.getUserApiKey(user, "mistral", { userToken: token });
  assert.ok(second.found && second.source === "deployment", JSON.stringify(second));
  if (!second.found || second.source !== "deployment") return;
  assert.equal(second.allowanceTokensLeft, 850);

  // Spent: the user's own refusal, and that the allowance is spent.
  await vault.reportDeploymentUsage(user, "mistral", "ok", { inputTokens: 850, outputTokens: 0 }, token);
  const spent = await vault.getUserApiKey(user, "mistral", { userToken: token });
  assert.equal(spent.found, false, JSON.stringify(spent));
  assert.equal((spent as { deploymentAllowance?: string }).deploymentAllowance, "exhausted");
});
