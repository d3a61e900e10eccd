// The language-model client against the real local test server (real sockets, the real `openai`
// package), plus the pure helpers it exports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChatError, VALOR_SAMPLING, type ChatMessage } from '../../src/core/chat.js';
import { buildChatBody, createChatClient, resolveApiKeyFromEnv } from '../../src/core/llmClient.js';
import { parseRetryAfterMs } from '../../src/core/llmFailures.js';
import { defaultLlmCacheDir, llmCacheKey } from '../../src/core/llmReplyCache.js';
import { closedPortUrl } from '../helpers/closedPort.js';
import { startOpenAIServer } from '../helpers/openaiServer.js';

const MSGS: ChatMessage[] = [{ role: 'user', content: 'Is the mug left of the laptop?' }];

async function isChatError(p: Promise<unknown>, kind: string, re?: RegExp): Promise<ChatError> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ChatError, `expected ChatError, got ${String(caught)}`);
  assert.equal(caught.kind, kind, caught.message);
  if (re) assert.match(caught.message, re);
  return caught;
}

test('sends exactly the model, messages and VALOR sampling (top_k/min_p/chat_template_kwargs as body fields)', async (t) => {
  const srv = await startOpenAIServer();
  t.after(() => srv.close());
  srv.script({ text: 'reply one', model: 'served-name' });
  const client = createChatClient({ baseUrl: srv.url, model: 'Qwen3-8B', cacheDir: false });
  const res = await client.complete({ messages: MSGS, sampling: VALOR_SAMPLING });
  assert.equal(res.text, 'reply one');
  assert.equal(res.model, 'served-name');
  assert.equal(res.cached, false);
  assert.equal(res.finish_reason, 'stop');
  const rec = srv.requests[0]!;
  assert.equal(rec.path, '/v1/chat/completions');
  const expected = {
    model: 'Qwen3-8B',
    messages: MSGS,
    temperature: 0.7,
    top_p: 0.8,
    top_k: 20,
    min_p: 0,
    chat_template_kwargs: { enable_thinking: false },
  };
  assert.equal(rec.body, JSON.stringify(expected));
  assert.equal(rec.headers['content-type'], 'application/json');
  assert.equal(rec.headers.authorization, undefined, 'no key configured: no Authorization header');
});

test('unset sampling fields are not sent; response_format passes through; overrides win', async (t) => {
  const srv = await startOpenAIServer({ handler: () => ({ text: '{}' }) });
  t.after(() => srv.close());
  const client = createChatClient({ baseUrl: `${srv.url}/`, model: 'm', cacheDir: false });
  const rf = { type: 'json_schema' as const, json_schema: { name: 'v', schema: { type: 'object' }, strict: true } };
  await client.complete({ messages: MSGS, sampling: { temperature: 0, max_tokens: 50, seed: 7 }, response_format: rf });
  await client.complete({ messages: MSGS });
  assert.deepEqual(srv.requests[0]!.json, { model: 'm', messages: MSGS, temperature: 0, max_tokens: 50, seed: 7, response_format: rf });
  assert.deepEqual(srv.requests[1]!.json, { model: 'm', messages: MSGS });
  assert.equal(client.baseUrl, srv.url);
  // extra_body cannot replace the request's identity
  assert.deepEqual(buildChatBody('m', { messages: MSGS, sampling: { extra_body: { model: 'x', foo: 1 } } }, false), { model: 'm', messages: MSGS, foo: 1 });
});

test('Authorization is sent only when a key is set, and resolved per call', async (t) => {
  const srv = await startOpenAIServer({ handler: () => ({ text: 'ok' }) });
  t.after(() => srv.close());
  let key: string | undefined = 'sk-test-123';
  const client = createChatClient({ baseUrl: srv.url, model: 'm', cacheDir: false, apiKey: () => key });
  await client.complete({ messages: MSGS });
  key = '  ';
  await client.complete({ messages: MSGS });
  key = 'sk-other';
  await client.complete({ messages: MSGS });
  assert.equal(srv.requests[0]!.headers.authorization, 'Bearer sk-test-123');
  assert.equal(srv.requests[1]!.headers.authorization, undefined);
  assert.equal(srv.requests[2]!.headers.authorization, 'Bearer sk-other');
});

test('env OPENAI_ADMIN_KEY / OPENAI_ORG_ID never leak into requests', async (t) => {
  const srv = await startOpenAIServer({ handler: () => ({ text: 'ok' }) });
  const saved = { a: process.env.OPENAI_ADMIN_KEY, o: process.env.OPENAI_ORG_ID };
  process.env.OPENAI_ADMIN_KEY = 'admin-secret';
  process.env.OPENAI_ORG_ID = 'org-x';
  t.after(async () => {
    for (const [k, v] of [['OPENAI_ADMIN_KEY', saved.a], ['OPENAI_ORG_ID', saved.o]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await srv.close();
  });
  const client = createChatClient({ baseUrl: srv.url, model: 'm', cacheDir: false });
  await client.complete({ messages: MSGS });
  const h = srv.requests[0]!.headers;
  assert.equal(h.authorization, undefined);
  assert.equal(h['openai-organization'], undefined);
  assert.ok(!srv.requests[0]!.body.includes('admin-secret'));
});

test('429 three times (Retry-After honoured) then 200 succeeds', async (t) => {
  const srv = await startOpenAIServer();
  t.after(() => srv.close());
  const r429 = { status: 429, headers: { 'retry-after': '0' } };
  srv.script(r429, r429, r429, { text: 'finally' });
  const client = createChatClient({ baseUrl: srv.url, model: 'm', cacheDir: false, retryBaseMs: 1 });
  const res = await client.complete({ messages: MSGS });
  assert.equal(res.text, 'finally');
  assert.equal(srv.requests.length, 4);
  assert.deepEqual(srv.requests.map((r) => r.status), [429, 429, 429, 200]);
});

test('500s exhaust the retries -> ChatError server, attempts = maxRetries + 1', async (t) => {
  const srv = await startOpenAIServer({ handler: () => ({ status: 500, body: { error: { message: 'CUDA out of memory' } } }) });
  t.after(() => srv.close());
  const client = createChatClient({ baseUrl: srv.url, model: 'm', cacheDir: false, retryBaseMs: 1, maxRetries: 2 });
  const e = await isChatError(client.complete({ messages: MSGS }), 'server', /answered 500.*CUDA out of memory.*3 attempts/s);
  assert.equal(e.status, 500);
  assert.equal(srv.requests.length, 3);
});

test('4xx are not retried; 401 names the fix and never the key', async (t) => {
  const srv = await startOpenAIServer({ apiKey: 'right-key' });
  t.after(() => srv.close());
  const client = createChatClient({ baseUrl: srv.url, model: 'm', cacheDir: false, retryBaseMs: 1, apiKey: () => 'wrong-key-abcdef' });
  const e = await isChatError(client.complete({ messages: MSGS }), 'auth', /401.*VALOR_LLM_API_KEY/s);
  assert.ok(!e.message.includes('wrong-key-abcdef'));
  assert.ok(e.message.includes(srv.url));
  assert.equal(srv.requests.length, 1);
  srv.script({ status: 400, body: { error: { message: 'top_k not supported' } } });
  const ok = createChatClient({ baseUrl: srv.url, model: 'm', cacheDir: false, retryBaseMs: 1, apiKey: () => 'right-key', keyHint: 'run VALOR: Set API Key' });
  await isChatError(ok.complete({ messages: MSGS }), 'bad_request', /400.*top_k not supported/);
  assert.equal(srv.requests.length, 2);
  const noKey = createChatClient({ baseUrl: srv.url, model: 'm', cacheDir: false, keyHint: 'run VALOR: Set API Key' });
  await isChatError(noKey.complete({ messages: MSGS }), 'auth', /no API key was sent: run VALOR: Set API Key/);
});

test('an endpoint that never answers -> timeout error, and the server sees the request abandoned', async (t) => {
  const srv = await startOpenAIServer({ handler: () => ({ hang: true }) });
  t.after(() => srv.close());
  const client = createChatClient({ baseUrl: srv.url, model: 'm', cacheDir: false, timeoutMs: 300 });
  await isChatError(client.complete({ messages: MSGS }), 'timeout', /within 300 ms/);
  assert.equal(srv.requests.length, 1, 'a timeout is the deadline for the whole call, not retried past it');
  const rec = await srv.waitForEnd(0);
  assert.equal(rec.aborted, true);
});

test('abort mid-request -> prompt cancellation; a pre-aborted signal sends nothing', async (t) => {
  const srv = await startOpenAIServer({ handler: () => ({ hang: true }) });
  t.after(() => srv.close());
  const client = createChatClient({ baseUrl: srv.url, model: 'm', cacheDir: false, timeoutMs: 60_000 });
  const ac = new AbortController();
  const p = client.complete({ messages: MSGS }, ac.signal);
  await srv.waitForRequests(1);
  ac.abort();
  await isChatError(p, 'cancelled');
  const rec = await srv.waitForEnd(0);
  assert.equal(rec.aborted, true, 'the in-flight HTTP request was dropped');
  await isChatError(client.complete({ messages: MSGS }, AbortSignal.abort()), 'cancelled');
  assert.equal(srv.requests.length, 1);
});

test('abort during a backoff wait stops the wait', async (t) => {
  const srv = await startOpenAIServer({ handler: () => ({ status: 503, headers: { 'retry-after': '3600' } }) });
  t.after(() => srv.close());
  const client = createChatClient({ baseUrl: srv.url, model: 'm', cacheDir: false, timeoutMs: 7_200_000, retryMaxMs: 3_600_000 });
  const ac = new AbortController();
  const p = client.complete({ messages: MSGS }, ac.signal);
  await srv.waitForEnd(0);
  ac.abort();
  await isChatError(p, 'cancelled');
  assert.equal(srv.requests.length, 1);
});

test('a Retry-After beyond the deadline gives up at once with the server error', async (t) => {
  const srv = await startOpenAIServer({ handler: () => ({ status: 429, headers: { 'retry-after': '3600' } }) });
  t.after(() => srv.close());
  const client = createChatClient({ baseUrl: srv.url, model: 'm', cacheDir: false, timeoutMs: 10_000, retryMaxMs: 3_600_000 });
  await isChatError(client.complete({ messages: MSGS }), 'rate_limit', /429.*would pass the 10000 ms timeout/s);
  assert.equal(srv.requests.length, 1);
});

test('streaming: deltas arrive in order and the result holds the whole text', async (t) => {
  const srv = await startOpenAIServer();
  t.after(() => srv.close());
  srv.script({ text: '<plan>1. a</plan>\n<answer>x = 1</answer>', chunks: ['<plan>1. a</pl', 'an>\n<answer>', 'x = 1</answer>'] });
  const client = createChatClient({ baseUrl: srv.url, model: 'm', cacheDir: false });
  const deltas: string[] = [];
  const res = await client.stream({ messages: MSGS, sampling: VALOR_SAMPLING }, (d) => deltas.push(d));
  assert.deepEqual(deltas, ['<plan>1. a</pl', 'an>\n<answer>', 'x = 1</answer>']);
  assert.equal(res.text, '<plan>1. a</plan>\n<answer>x = 1</answer>');
  assert.equal(res.finish_reason, 'stop');
  assert.equal(srv.requests[0]!.json.stream, true);
  assert.equal(srv.requests[0]!.json.top_k, 20);
});

test('streaming: 429 before any delta is retried; abort mid-stream cancels', async (t) => {
  const srv = await startOpenAIServer();
  t.after(() => srv.close());
  srv.script({ status: 429, headers: { 'retry-after': '0' } }, { text: 'ok!' }, { text: 'abc', chunks: ['a'], streamEnd: 'hang' });
  const client = createChatClient({ baseUrl: srv.url, model: 'm', cacheDir: false, retryBaseMs: 1 });
  const res = await client.stream({ messages: MSGS }, () => undefined);
  assert.equal(res.text, 'ok!');
  const ac = new AbortController();
  const got: string[] = [];
  const p = client.stream({ messages: MSGS }, (d) => {
    got.push(d);
    ac.abort();
  }, ac.signal);
  await isChatError(p, 'cancelled');
  assert.deepEqual(got, ['a']);
  assert.equal((await srv.waitForEnd(2)).aborted, true);
});

test('cache: a second identical call makes no request; noCache and different sampling do', async (t) => {
  const srv = await startOpenAIServer({ handler: (r) => ({ text: `reply #${r.index}` }) });
  const dir = await mkdtemp(join(tmpdir(), 'valor-llm-cache-'));
  t.after(async () => {
    await srv.close();
    await rm(dir, { recursive: true, force: true });
  });
  const client = createChatClient({ baseUrl: srv.url, model: 'm', cacheDir: dir, apiKey: () => 'k1' });
  const a = await client.complete({ messages: MSGS, sampling: VALOR_SAMPLING });
  const b = await client.complete({ messages: MSGS, sampling: { ...VALOR_SAMPLING } });
  assert.equal(a.cached, false);
  assert.equal(b.cached, true);
  assert.equal(b.text, a.text);
  assert.equal(srv.requests.length, 1);
  // The key is not part of the cache key (a rotated key still hits), and never stored.
  const other = createChatClient({ baseUrl: srv.url, model: 'm', cacheDir: dir, apiKey: () => 'k2' });
  assert.equal((await other.complete({ messages: MSGS, sampling: VALOR_SAMPLING })).cached, true);
  const c = await client.complete({ messages: MSGS, sampling: VALOR_SAMPLING, noCache: true });
  assert.equal(c.cached, false);
  const d = await client.complete({ messages: MSGS, sampling: { ...VALOR_SAMPLING, temperature: 0 } });
  assert.equal(d.cached, false);
  assert.equal(srv.requests.length, 3);
  // a streamed call hits the same cache and reports the text as one delta
  const deltas: string[] = [];
  const s = await client.stream({ messages: MSGS, sampling: VALOR_SAMPLING }, (x) => deltas.push(x));
  assert.equal(s.cached, true);
  assert.deepEqual(deltas, [a.text]);
  assert.equal(srv.requests.length, 3);
  const sub = await readdir(dir);
  assert.ok(sub.length > 0);
  assert.notEqual(llmCacheKey(srv.url, 'm', { messages: MSGS }), llmCacheKey(srv.url, 'm2', { messages: MSGS }));
});

test('connection refused -> network error naming the URL, after retries', async () => {
  const url = await closedPortUrl('/v1');
  const client = createChatClient({ baseUrl: url, model: 'm', cacheDir: false, retryBaseMs: 1, maxRetries: 1 });
  await isChatError(client.complete({ messages: MSGS }), 'network', new RegExp(`${url.replace(/[.]/g, '\\.')}.*ECONNREFUSED.*start the server`, 's'));
});

test('a dropped socket is retried as a network error', async (t) => {
  const srv = await startOpenAIServer();
  t.after(() => srv.close());
  srv.script({ destroy: true }, { text: 'second time lucky' });
  const client = createChatClient({ baseUrl: srv.url, model: 'm', cacheDir: false, retryBaseMs: 1 });
  assert.equal((await client.complete({ messages: MSGS })).text, 'second time lucky');
  assert.equal(srv.requests.length, 2);
});

test('injected fetch sees the exact request without any network or key', async () => {
  const seen: Array<{ url: string; body: string; auth: string | null }> = [];
  const fakeFetch: typeof fetch = async (input, init) => {
    const headers = new Headers(init?.headers);
    seen.push({ url: String(input), body: String(init?.body), auth: headers.get('authorization') });
    return new Response(JSON.stringify({ id: 'x', object: 'chat.completion', created: 0, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }] }), {
      status: 200,
      headers: { 'content-type': 'application/json' },
    });
  };
  const client = createChatClient({ baseUrl: 'http://llm.invalid:9/v1', model: 'm', cacheDir: false, fetch: fakeFetch });
  const res = await client.complete({ messages: MSGS, sampling: { top_k: 20 } });
  assert.equal(res.text, 'hi');
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.url, 'http://llm.invalid:9/v1/chat/completions');
  assert.equal(seen[0]!.body, JSON.stringify({ model: 'm', messages: MSGS, top_k: 20 }));
  assert.equal(seen[0]!.auth, null);
});

test('concurrent calls run in parallel (overlapping on the server)', async (t) => {
  const srv = await startOpenAIServer();
  t.after(() => srv.close());
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  srv.setHandler(async () => {
    await gate;
    return { text: 'ok' };
  });
  const client = createChatClient({ baseUrl: srv.url, model: 'm', cacheDir: false });
  const calls = [client.complete({ messages: MSGS }), client.complete({ messages: [{ role: 'user', content: 'other' }] })];
  await srv.waitForRequests(2);
  release();
  await Promise.all(calls);
});

test('configuration errors are ChatError config with the variable to set', () => {
  assert.throws(() => createChatClient({ baseUrl: '', model: 'm' }), (e: ChatError) => e.kind === 'config' && /VALOR_LLM_BASE_URL/.test(e.message));
  assert.throws(() => createChatClient({ baseUrl: 'ftp://x', model: 'm' }), (e: ChatError) => e.kind === 'config' && /http/.test(e.message));
  assert.throws(() => createChatClient({ baseUrl: 'http://x/v1', model: ' ' }), (e: ChatError) => e.kind === 'config' && /VALOR_LLM_MODEL/.test(e.message));
  assert.throws(() => createChatClient({ baseUrl: 'http://user:pw@x:1/v1', model: '' }), (e: ChatError) => !e.message.includes('pw'));
});

test('helpers: resolveApiKeyFromEnv, parseRetryAfterMs, defaultLlmCacheDir', () => {
  assert.equal(resolveApiKeyFromEnv({ VALOR_LLM_API_KEY: 'a', OPENAI_API_KEY: 'b' }), 'a');
  assert.equal(resolveApiKeyFromEnv({ VALOR_LLM_API_KEY: ' ', OPENAI_API_KEY: 'b' }), 'b');
  assert.equal(resolveApiKeyFromEnv({}, 'VALOR_JUDGE_API_KEY'), undefined);
  assert.equal(resolveApiKeyFromEnv({ VALOR_JUDGE_API_KEY: 'j' }, 'VALOR_JUDGE_API_KEY', []), 'j');
  assert.equal(parseRetryAfterMs(new Headers({ 'retry-after': '2' })), 2000);
  assert.equal(parseRetryAfterMs(new Headers({ 'retry-after-ms': '150', 'retry-after': '9' })), 150);
  assert.equal(parseRetryAfterMs(new Headers({ 'retry-after': new Date(10_000).toUTCString() }), 4_000), 6_000);
  assert.equal(parseRetryAfterMs(new Headers({ 'retry-after': 'soon' })), undefined);
  assert.equal(parseRetryAfterMs(undefined), undefined);
  assert.equal(defaultLlmCacheDir({ VALOR_CACHE_DIR: '/c' }), join('/c', 'llm'));
  assert.equal(defaultLlmCacheDir({ XDG_CACHE_HOME: '/x' }), join('/x', 'valor-studio', 'llm'));
});
