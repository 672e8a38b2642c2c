// The original app's client, unchanged, against the local API: the only thing it is
// given is a `fetch` that resolves its relative paths against the base URL and adds
// the bearer token, as the app's own origin and session would.

import assert from 'node:assert/strict';
import { test } from 'node:test';

const base = process.env.APIKEYS_BASE_URL;
const token = process.env.APIKEYS_TOKEN;
if (!base || !token) {
  throw new Error('APIKEYS_BASE_URL and APIKEYS_TOKEN must be set (infra/scripts/seed-client.sh does)');
}

const platformFetch = globalThis.fetch;
globalThis.fetch = (input: string | URL | Request, init: RequestInit = {}) => {
  const url = new URL(String(input), base);
  const headers = new Headers(init.headers);
  headers.set('Authorization', `Bearer ${token}`);
  return platformFetch(url, { ...init, headers });
};

const client = await import('./providerConfigs.js');

// The fake OpenAI of the test stack accepts this key and refuses any other.
const GOOD_KEY = 'sk-proj-G00dKey0123456789abcdefghijklmnopQRST';
const BAD_KEY = 'sk-proj-BadKey0123456789abcdefghijklmnopqrWXYZ';

test('testApiKey says a refused key is not valid (200, valid false)', async () => {
  const result = await client.testApiKey('openai', BAD_KEY);
  assert.equal(result.valid, false);
  assert.equal(typeof result.message, 'string');
});

test('testApiKey says an accepted key is valid', async () => {
  const result = await client.testApiKey('openai', GOOD_KEY);
  assert.equal(result.valid, true, result.message);
});

test('the key form: save after a valid test, list, update settings', async () => {
  const saved = await client.saveProviderConfig({
    provider: 'openai',
    apiKey: GOOD_KEY,
    settings: { model: 'gpt-4o-mini' },
  });
  assert.equal(saved.provider, 'openai');
  assert.equal(saved.isActive, true);
  assert.deepEqual(saved.settings, { model: 'gpt-4o-mini' });
  assert.ok(Date.parse(saved.createdAt) > 0 && Date.parse(saved.updatedAt) > 0);
  assert.ok(!JSON.stringify(saved).includes(GOOD_KEY), 'the key never comes back');

  const configs = await client.getProviderConfigs();
  const listed = configs.find((c) => c.provider === 'openai');
  assert.ok(listed, 'the saved config is listed');
  assert.equal(listed.id, saved.id);

  const updated = await client.updateProviderSettings('openai', { model: 'gpt-4o', temperature: 0.2 });
  assert.equal(updated.id, saved.id);
  assert.deepEqual(updated.settings, { model: 'gpt-4o', temperature: 0.2 });
});

test('updateProviderSettings throws on the 404 of a provider without a config', async () => {
  await assert.rejects(client.updateProviderSettings('claude', { model: 'x' }), /404/);
});

test('without the token every call is refused', async () => {
  const response = await platformFetch(new URL('/api/provider-configs', base));
  assert.equal(response.status, 401);
  assert.deepEqual(await response.json(), { message: 'Unauthorized' });
});
