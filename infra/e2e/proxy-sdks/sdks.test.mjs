// The official SDKs calling the vault's proxy with a user's token, as an app would:
// OpenAI (chat, streamed chat, embeddings), Anthropic (messages, streamed, with both the
// current SDK and the last 0.x one, which authenticate differently) and Gemini's REST
// API through fetch; and, through the proxy only, the fallback to a second key when the
// primary is rate-limited and a monthly token budget that stops a key (402).
// The upstream behind the proxy is infra/emulators/fake_provider.py.
// README.md beside this file says how to run it and with which environment.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import Anthropic from '@anthropic-ai/sdk';
import AnthropicV0 from 'anthropic-sdk-v0';
import OpenAI from 'openai';

const PHRASE = 'Hello from the fake provider';
const PIECES = 5; // fake_provider.py sends the phrase in five pieces
const FAKE_GOOD_KEY = 'sk-proj-G00dKey0123456789abcdefghijklmnopQRST'; // fake_provider.py's default
const RECEIPT = ['x-apikeys-key-id', 'x-apikeys-key-hint', 'x-apikeys-attempts', 'x-apikeys-key-source'];

const settings = readSettings(process.env);
const { direct, token, fake } = settings;
const extras = readExtras(process.env);

function readSettings(env) {
  const strip = (url) => (url ?? '').trim().replace(/\/+$/, '');
  const fake = strip(env.APIKEYS_FAKE_PROVIDER);
  if (env.APIKEYS_DIRECT === '1') {
    if (!fake) {
      throw new Error('APIKEYS_DIRECT=1 calls the fake provider itself: set APIKEYS_FAKE_PROVIDER to its base URL (http://127.0.0.1:PORT)');
    }
    return {
      direct: true,
      fake,
      token: env.APIKEYS_TOKEN || FAKE_GOOD_KEY,
      openai: `${fake}/v1`,
      claude: fake,
      gemini: `${fake}/v1beta`,
      where: `the fake provider at ${fake}`,
    };
  }
  const proxy = strip(env.APIKEYS_PROXY_BASE);
  if (!proxy || !env.APIKEYS_TOKEN) {
    throw new Error(
      'set APIKEYS_PROXY_BASE (the proxy\'s base, e.g. http://127.0.0.1:3000/proxy) and APIKEYS_TOKEN (a user\'s JWT), ' +
        'or APIKEYS_DIRECT=1 with APIKEYS_FAKE_PROVIDER to call the fake provider directly',
    );
  }
  return {
    direct: false,
    fake,
    token: env.APIKEYS_TOKEN,
    openai: `${proxy}/openai/v1`,
    claude: `${proxy}/claude`,
    gemini: `${proxy}/google-ai/v1beta`,
    where: `the proxy at ${proxy}`,
  };
}

/**
 * The proxy-only checks' users, each with keys the local stack stored for it (README.md):
 * a user whose primary the fake rate-limits, and a user whose key gets a small budget.
 * Each is optional: its check is skipped without it.
 */
function readExtras(env) {
  const strip = (url) => (url ?? '').trim().replace(/\/+$/, '');
  const fallback = {
    token: env.APIKEYS_FALLBACK_TOKEN ?? '',
    primaryId: env.APIKEYS_FALLBACK_PRIMARY_ID ?? '',
    secondId: env.APIKEYS_FALLBACK_SECOND_ID ?? '',
  };
  const given = Object.values(fallback).filter(Boolean).length;
  if (given && given < 3) {
    throw new Error('the fallback check needs all of APIKEYS_FALLBACK_TOKEN, APIKEYS_FALLBACK_PRIMARY_ID and APIKEYS_FALLBACK_SECOND_ID');
  }
  return {
    api: strip(env.APIKEYS_API_BASE),
    fallback: given ? fallback : null,
    budgetToken: env.APIKEYS_BUDGET_TOKEN ?? '',
  };
}

// No retries: a retried 429 or 5xx would hide what the proxy answered first.
const openaiFor = (apiKey) => new OpenAI({ baseURL: settings.openai, apiKey, maxRetries: 0, timeout: 30_000 });
const openai = openaiFor(token);
const anthropics = [
  // 1.x sends the key as `Authorization: Bearer`, with anthropic-version 2026-10-21;
  // 0.x as `x-api-key`, with anthropic-version 2023-06-01.
  ['@anthropic-ai/sdk 1.x', new Anthropic({ baseURL: settings.claude, apiKey: token, maxRetries: 0, timeout: 30_000 })],
  ['@anthropic-ai/sdk 0.x', new AnthropicV0({ baseURL: settings.claude, apiKey: token, maxRetries: 0, timeout: 30_000 })],
];

const words = (text) => text.split(/\s+/).filter(Boolean).length;

/** Runs `call`; a failure says what was expected and what came instead. */
async function expecting(what, call) {
  try {
    return await call();
  } catch (err) {
    throw new Error(`expected ${what} from ${settings.where}; got ${describe(err)}`, { cause: err });
  }
}

function describe(err) {
  if (err?.status) {
    return `HTTP ${err.status}: ${err.message}`;
  }
  const cause = err?.cause?.cause ?? err?.cause;
  return cause ? `${err.message} (${cause.code ?? cause.message ?? cause})` : String(err?.message ?? err);
}

/** The proxy's receipt headers on an answer; the fake provider alone sends none. */
function checkReceipt(t, headers, what) {
  if (direct) {
    t.diagnostic(`direct mode: ${what}: no receipt headers to check`);
    return;
  }
  for (const name of RECEIPT) {
    assert.ok(headers.has(name), `${what}: expected the proxy's receipt header ${name}; got ${[...headers.keys()].join(', ')}`);
  }
  assert.ok(headers.get('x-apikeys-key-id'), `${what}: expected a non-empty x-apikeys-key-id`);
  assert.ok(headers.get('x-apikeys-key-hint'), `${what}: expected a non-empty x-apikeys-key-hint`);
  assert.equal(headers.get('x-apikeys-key-source'), 'user', `${what}: expected x-apikeys-key-source: user`);
  const attempts = headers.get('x-apikeys-attempts');
  assert.match(attempts, /^$|^[^:,]+:[^:,]+(,[^:,]+:[^:,]+)*$/, `${what}: expected x-apikeys-attempts to be empty or keyId:reason,…`);
}

async function fakeStreams() {
  const res = await expecting(`the fake provider's stream counters at ${fake}/__fake/streams`, () => fetch(`${fake}/__fake/streams`));
  assert.equal(res.status, 200, `expected 200 from ${fake}/__fake/streams`);
  return res.json();
}

// --- OpenAI ---

const chatMessages = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Say hello to the vault' },
];
const chatPromptTokens = chatMessages.reduce((n, m) => n + words(m.content), 0);

test('OpenAI chat: the answer and its usage', async (t) => {
  const { data, response } = await expecting('a chat.completion', () =>
    openai.chat.completions.create({ model: 'gpt-4o-mini', messages: chatMessages }).withResponse(),
  );
  assert.equal(data.object, 'chat.completion');
  assert.equal(data.choices[0].message.content, PHRASE);
  assert.equal(data.choices[0].finish_reason, 'stop');
  assert.deepEqual(data.usage && { ...data.usage }, {
    prompt_tokens: chatPromptTokens,
    completion_tokens: PIECES,
    total_tokens: chatPromptTokens + PIECES,
  }, 'expected the upstream usage unchanged');
  checkReceipt(t, response.headers, 'chat');
});

async function readChatStream(t, streamOptions, client = openai) {
  const body = { model: 'gpt-4o-mini', messages: chatMessages, stream: true };
  if (streamOptions) body.stream_options = streamOptions;
  const { data: stream, response } = await expecting('a streamed chat (text/event-stream)', () =>
    client.chat.completions.create(body).withResponse(),
  );
  assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/, 'expected an event stream');
  checkReceipt(t, response.headers, 'streamed chat');
  let text = '';
  let pieces = 0;
  let usage = null;
  let usageChunk = null;
  await expecting('chat.completion.chunk events up to [DONE]', async () => {
    for await (const chunk of stream) {
      assert.equal(chunk.object, 'chat.completion.chunk');
      const delta = chunk.choices[0]?.delta?.content;
      if (delta) {
        text += delta;
        pieces += 1;
      }
      if (chunk.usage) {
        usage = chunk.usage;
        usageChunk = chunk;
      }
    }
  });
  assert.equal(text, PHRASE, 'expected the streamed pieces to make the whole answer');
  assert.equal(pieces, PIECES, 'expected one piece per chunk, as the fake provider sends them');
  return { usage, usageChunk, response };
}

test('OpenAI chat stream with include_usage: the pieces, then usage in a last chunk', async (t) => {
  const { usage, usageChunk } = await readChatStream(t, { include_usage: true });
  assert.ok(usage, 'expected a chunk with usage when the client asks for it');
  assert.deepEqual(usageChunk.choices, [], 'expected usage in a chunk with choices: []');
  assert.equal(usage.prompt_tokens, chatPromptTokens);
  assert.equal(usage.completion_tokens, PIECES);
  assert.equal(usage.total_tokens, chatPromptTokens + PIECES);
});

test('OpenAI chat stream without stream_options: the proxy asks for usage itself', async (t) => {
  const { usage } = await readChatStream(t, null);
  if (direct) {
    // The fake, like OpenAI, sends no usage unless asked: so the proxy's answer having
    // it shows that the proxy added stream_options.include_usage.
    assert.equal(usage, null, 'direct mode: expected no usage chunk when the client does not ask for one');
    return;
  }
  assert.ok(usage, 'expected the proxy to add stream_options.include_usage, so a last chunk carries usage');
  assert.equal(usage.prompt_tokens, chatPromptTokens);
  assert.equal(usage.completion_tokens, PIECES);
});

test('OpenAI embeddings: one vector per input, and usage', async (t) => {
  // The SDK asks for base64 unless told otherwise and decodes it; then floats as asked.
  const { data, response } = await expecting('an embedding list', () =>
    openai.embeddings.create({ model: 'text-embedding-3-small', input: ['hello vault', 'again'] }).withResponse(),
  );
  assert.equal(data.data.length, 2);
  for (const [i, item] of data.data.entries()) {
    assert.equal(item.index, i);
    assert.equal(item.embedding.length, 8, 'expected the fake provider\'s 8 dimensions');
    assert.ok(item.embedding.every((x) => typeof x === 'number' && Number.isFinite(x)), 'expected numbers');
  }
  assert.equal(data.usage.prompt_tokens, 3);
  assert.equal(data.usage.total_tokens, 3);
  checkReceipt(t, response.headers, 'embeddings');
  const floats = await expecting('an embedding list as floats', () =>
    openai.embeddings.create({ model: 'text-embedding-3-small', input: 'hello vault', encoding_format: 'float', dimensions: 4 }),
  );
  assert.equal(floats.data[0].embedding.length, 4);
  assert.deepEqual(floats.data[0].embedding, data.data[0].embedding.slice(0, 4), 'expected the same vector either way');
});

// --- Anthropic ---

const claudeRequest = {
  model: 'claude-sonnet-5-5',
  max_tokens: 64,
  system: 'You are terse.',
  messages: [{ role: 'user', content: 'Say hello to the vault' }],
};
const claudeInputTokens = words(claudeRequest.system) + words(claudeRequest.messages[0].content);

for (const [name, client] of anthropics) {
  test(`Anthropic messages (${name}): the message and its usage`, async (t) => {
    const { data, response } = await expecting('an Anthropic message', () => client.messages.create(claudeRequest).withResponse());
    assert.equal(data.type, 'message');
    assert.equal(data.content[0].type, 'text');
    assert.equal(data.content[0].text, PHRASE);
    assert.equal(data.stop_reason, 'end_turn');
    assert.equal(data.usage.input_tokens, claudeInputTokens);
    assert.equal(data.usage.output_tokens, PIECES);
    checkReceipt(t, response.headers, `messages (${name})`);
  });

  test(`Anthropic messages stream (${name}): text deltas, then the final message's usage`, async (t) => {
    const stream = client.messages.stream(claudeRequest);
    const deltas = [];
    stream.on('text', (delta) => deltas.push(delta));
    const { response } = await expecting('a streamed Anthropic message', () => stream.withResponse());
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/, 'expected an event stream');
    checkReceipt(t, response.headers, `streamed messages (${name})`);
    const final = await expecting('message_start … message_stop events', () => stream.finalMessage());
    assert.equal(deltas.join(''), PHRASE, 'expected the text deltas to make the whole answer');
    assert.equal(deltas.length, PIECES);
    assert.equal(final.content[0].text, PHRASE);
    assert.equal(final.stop_reason, 'end_turn');
    assert.equal(final.usage.input_tokens, claudeInputTokens, 'expected message_start\'s input_tokens');
    assert.equal(final.usage.output_tokens, PIECES, 'expected message_delta\'s output_tokens');
  });
}

// --- Gemini (REST through fetch; the key header is x-goog-api-key) ---

const geminiRequest = {
  systemInstruction: { parts: [{ text: 'You are terse.' }] },
  contents: [{ role: 'user', parts: [{ text: 'Say hello to the vault' }] }],
};
const geminiPromptTokens = 3 + 5;

async function gemini(method, query = '') {
  const url = `${settings.gemini}/models/gemini-2.5-flash:${method}${query}`;
  const res = await expecting(`an answer to POST ${url}`, () =>
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-goog-api-key': token },
      body: JSON.stringify(geminiRequest),
    }),
  );
  if (res.status !== 200) {
    throw new Error(`expected 200 from POST ${url}; got ${res.status}: ${await res.text()}`);
  }
  return res;
}

const candidateText = (answer) => (answer.candidates?.[0]?.content?.parts ?? []).map((p) => p.text ?? '').join('');

test('Gemini generateContent: the answer and usageMetadata', async (t) => {
  const res = await gemini('generateContent');
  checkReceipt(t, res.headers, 'generateContent');
  const answer = await res.json();
  assert.equal(candidateText(answer), PHRASE);
  assert.equal(answer.candidates[0].finishReason, 'STOP');
  assert.deepEqual(answer.usageMetadata, {
    promptTokenCount: geminiPromptTokens,
    candidatesTokenCount: PIECES,
    totalTokenCount: geminiPromptTokens + PIECES,
  });
});

test('Gemini streamGenerateContent?alt=sse: the pieces, then usageMetadata in the last event', async (t) => {
  const res = await gemini('streamGenerateContent', '?alt=sse');
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/, 'expected an event stream');
  checkReceipt(t, res.headers, 'streamGenerateContent');
  const events = [];
  let buffer = '';
  const decoder = new TextDecoder();
  const take = (block) => {
    const data = block.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
    if (data) events.push(JSON.parse(data));
  };
  await expecting('SSE data: events', async () => {
    for await (const bytes of res.body) {
      buffer += decoder.decode(bytes, { stream: true });
      const blocks = buffer.split(/\r?\n\r?\n/);
      buffer = blocks.pop();
      blocks.forEach(take);
    }
    take(buffer + decoder.decode());
  });
  assert.equal(events.length, PIECES, 'expected one event per piece');
  assert.equal(events.map(candidateText).join(''), PHRASE);
  const last = events.at(-1);
  assert.equal(last.candidates[0].finishReason, 'STOP');
  assert.deepEqual(last.usageMetadata, {
    promptTokenCount: geminiPromptTokens,
    candidatesTokenCount: PIECES,
    totalTokenCount: geminiPromptTokens + PIECES,
  });
});

// --- A client that goes away ---

test('a client that aborts a stream closes the upstream stream too', { timeout: 30_000 }, async (t) => {
  if (!fake) {
    t.skip('APIKEYS_FAKE_PROVIDER is not set: the fake provider\'s stream counters cannot be read');
    return;
  }
  const before = await fakeStreams();
  const controller = new AbortController();
  const started = Date.now();
  const stream = await expecting('a streamed chat of the slow-stream model', () =>
    openai.chat.completions.create(
      { model: 'slow-stream', messages: chatMessages, stream: true },
      { signal: controller.signal },
    ),
  );
  let chunks = 0;
  try {
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta?.content) chunks += 1;
      if (chunks === 2) {
        controller.abort();
        break;
      }
    }
  } catch (err) {
    // The SDK ends the iteration quietly on an abort; a runtime may raise it instead.
    if (!(err instanceof OpenAI.APIUserAbortError || err?.name === 'AbortError')) throw err;
  }
  assert.equal(chunks, 2, 'expected two pieces of the slow stream before the abort');
  // slow-stream sends a piece every 200 ms: two pieces in a few seconds show the
  // chunks pass through as they come rather than after the whole answer (60 s).
  assert.ok(Date.now() - started < 5_000, `expected the first two pieces within 5 s; took ${Date.now() - started} ms`);
  const deadline = Date.now() + 10_000;
  let now = await fakeStreams();
  while (now.disconnected <= before.disconnected && Date.now() < deadline) {
    await sleep(100);
    now = await fakeStreams();
  }
  assert.ok(now.started > before.started, `expected the fake provider to have started a slow stream: ${JSON.stringify({ before, now })}`);
  assert.ok(
    now.disconnected > before.disconnected,
    `expected the upstream slow stream to be cut within 10 s of the abort: ${JSON.stringify({ before, now })}`,
  );
});

// --- Fallback and budgets (proxy only: the fake alone has one key per call) ---

/** A call to the vault's API (APIKEYS_API_BASE) as the given user. */
async function vaultApi(method, path, userToken, body) {
  const url = `${extras.api}${path}`;
  let res;
  try {
    res = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${userToken}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch (err) {
    throw new Error(`expected an answer to ${method} ${url}; got ${describe(err)}`, { cause: err });
  }
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // left null: the assertion on it shows the text
  }
  return { status: res.status, json, text, what: `${method} ${url}` };
}

/** The user's OpenAI keys as the key view shows them. */
async function openaiKeys(userToken) {
  const answer = await vaultApi('GET', '/api/provider-configs/openai/keys', userToken);
  assert.equal(answer.status, 200, `expected 200 from ${answer.what}; got ${answer.status}: ${answer.text}`);
  assert.ok(Array.isArray(answer.json?.keys), `expected {keys: [...]} from ${answer.what}; got ${answer.text}`);
  return answer.json.keys;
}

test('OpenAI streamed chat: a 429 on the primary falls back to the second key before the first byte', async (t) => {
  if (direct) {
    t.skip('direct mode: no proxy, so no second key to fall back to');
    return;
  }
  if (!extras.fallback) {
    t.skip('set APIKEYS_FALLBACK_TOKEN, APIKEYS_FALLBACK_PRIMARY_ID and APIKEYS_FALLBACK_SECOND_ID (README.md)');
    return;
  }
  const { token: userToken, primaryId, secondId } = extras.fallback;
  const client = openaiFor(userToken);
  // The whole text in its five pieces (readChatStream checks both) shows the refusal
  // was dropped before anything reached the client, not spliced into the answer.
  const first = await readChatStream(t, { include_usage: true }, client);
  const headers = first.response.headers;
  assert.equal(
    headers.get('x-apikeys-attempts'),
    `${primaryId}:rate_limited`,
    'expected x-apikeys-attempts to name the primary, skipped as rate_limited (the fake answered it 429)',
  );
  assert.equal(headers.get('x-apikeys-key-id'), secondId, 'expected the answer to come from the second key');
  assert.ok(first.usage, 'expected usage from the second key\'s answer');

  // The primary is marked until its Retry-After (30 s): the next call goes straight to
  // the second key, and nothing is skipped on the way.
  const again = await readChatStream(t, null, client);
  assert.equal(again.response.headers.get('x-apikeys-attempts'), '', 'expected no key skipped once the primary is marked');
  assert.equal(again.response.headers.get('x-apikeys-key-id'), secondId);
  if (extras.api) {
    const keys = await openaiKeys(userToken);
    const primary = keys.find((k) => k.id === primaryId);
    assert.ok(primary, `expected the primary ${primaryId} in the key view; got ${JSON.stringify(keys)}`);
    assert.equal(primary.unavailable, 'rate_limited', 'expected the key view to show the primary as rate_limited');
    assert.ok(primary.availableAt, 'expected the key view to say when the primary is usable again');
  }
});

const BUDGET_TOKENS = 30; // a chat here spends 8 + 5 = 13: the third call reaches it

test('a spent budget stops the key: the SDK gets 402 budget_exhausted, and monthUsage is what the calls reported', async (t) => {
  if (direct) {
    t.skip('direct mode: no proxy, so no budget');
    return;
  }
  if (!extras.budgetToken || !extras.api) {
    t.skip('set APIKEYS_BUDGET_TOKEN and APIKEYS_API_BASE (README.md)');
    return;
  }
  const userToken = extras.budgetToken;
  const key = (await openaiKeys(userToken)).find((k) => k.primary);
  assert.ok(key, 'expected the budget user to have an OpenAI key');
  assert.equal(key.monthUsage, null, 'expected a fresh key: no proxied call on it this month yet');
  const put = await vaultApi('PUT', `/api/provider-configs/openai/keys/${encodeURIComponent(key.id)}`, userToken, {
    budget: { monthlyTokens: BUDGET_TOKENS, alertAt: 0.5 },
  });
  assert.equal(put.status, 200, `expected 200 from ${put.what}; got ${put.status}: ${put.text}`);
  assert.equal(put.json?.key?.budget?.monthlyTokens, BUDGET_TOKENS, `expected the budget in the answer; got ${put.text}`);

  const client = openaiFor(userToken);
  const spent = { requests: 0, inputTokens: 0, outputTokens: 0 };
  let lastTokens = 0;
  let refusal = null;
  // Plain and streamed chats by turns (the streamed ones ask for no usage: the proxy
  // does), until the proxy refuses; far more calls than the budget allows.
  for (let i = 0; i < 10; i += 1) {
    const streamed = i % 2 === 1;
    let answer;
    try {
      answer = await client.chat.completions
        .create({ model: 'gpt-4o-mini', messages: chatMessages, ...(streamed ? { stream: true } : {}) })
        .withResponse();
    } catch (err) {
      if (err instanceof OpenAI.APIError && err.status) {
        refusal = err;
        break;
      }
      throw new Error(`expected an answer or an HTTP error from ${settings.where}; got ${describe(err)}`, { cause: err });
    }
    assert.equal(answer.response.headers.get('x-apikeys-key-id'), key.id, 'expected the budget user\'s key');
    let text = '';
    let usage = null;
    if (streamed) {
      for await (const chunk of answer.data) {
        text += chunk.choices[0]?.delta?.content ?? '';
        if (chunk.usage) usage = chunk.usage;
      }
    } else {
      text = answer.data.choices[0].message.content;
      usage = answer.data.usage;
    }
    assert.equal(text, PHRASE, `call ${i + 1}: expected the whole answer`);
    assert.ok(usage, `call ${i + 1}: expected usage in the answer`);
    spent.requests += 1;
    spent.inputTokens += usage.prompt_tokens;
    spent.outputTokens += usage.completion_tokens;
    lastTokens = usage.prompt_tokens + usage.completion_tokens;
  }
  const tokens = spent.inputTokens + spent.outputTokens;
  assert.ok(refusal, `expected the proxy to refuse once ${BUDGET_TOKENS} tokens were spent; ${spent.requests} calls spent ${tokens}`);
  assert.equal(refusal.status, 402, `expected HTTP 402 once the budget was spent; got ${describe(refusal)}`);
  // The SDK keeps the body's `error` member: here the string the proxy sent.
  assert.equal(refusal.error, 'budget_exhausted', `expected the body's error to be budget_exhausted; got ${describe(refusal)}`);
  assert.ok(tokens >= BUDGET_TOKENS, `expected the refusal only once the budget was reached; ${tokens} of ${BUDGET_TOKENS} tokens spent`);
  assert.ok(
    tokens - lastTokens < BUDGET_TOKENS,
    `expected the key stopped right after the call that reached the budget; ${spent.requests} calls, ${tokens} tokens`,
  );
  t.diagnostic(`${spent.requests} calls spent ${tokens} of ${BUDGET_TOKENS} tokens, then HTTP 402`);
  // A streamed call is refused the same way, before any stream starts.
  await assert.rejects(
    client.chat.completions.create({ model: 'gpt-4o-mini', messages: chatMessages, stream: true }),
    (err) => err instanceof OpenAI.APIError && err.status === 402 && err.error === 'budget_exhausted',
    'expected a streamed chat to get 402 budget_exhausted too',
  );

  // The key view counts what the SDK was told, call for call and token for token.
  // (The proxy writes a call's usage before its answer ends; the wait is only a margin.)
  const deadline = Date.now() + 5_000;
  let view = (await openaiKeys(userToken)).find((k) => k.id === key.id);
  while ((view?.monthUsage?.requests ?? 0) < spent.requests && Date.now() < deadline) {
    await sleep(200);
    view = (await openaiKeys(userToken)).find((k) => k.id === key.id);
  }
  assert.deepEqual(view.monthUsage, { month: new Date().toISOString().slice(0, 7), ...spent },
    'expected monthUsage to be the sum of the usage the SDK calls reported');
  assert.equal(view.unavailable, 'budget_exhausted', 'expected the key view to show the key as budget_exhausted');
});
