// The shared test server itself, exercised with plain fetch (no client of ours in the way), so a
// broken helper shows up here rather than as a confusing failure in someone else's test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startOpenAIServer, lastUserText } from '../helpers/openaiServer.js';

const post = (url: string, body: unknown, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Response> =>
  fetch(`${url}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body), signal });

test('non-streaming reply, recorded exactly', async (t) => {
  const srv = await startOpenAIServer();
  t.after(() => srv.close());
  assert.match(srv.url, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
  srv.script({ text: 'hello there', finish_reason: 'length' });
  const body = { model: 'm1', messages: [{ role: 'user', content: 'hi ü' }] };
  const res = await post(srv.url, body, { authorization: 'Bearer k1' });
  assert.equal(res.status, 200);
  const json = (await res.json()) as { model: string; choices: Array<{ message: { content: string }; finish_reason: string }> };
  assert.equal(json.model, 'm1');
  assert.equal(json.choices[0]?.message.content, 'hello there');
  assert.equal(json.choices[0]?.finish_reason, 'length');
  const rec = (await srv.waitForEnd(0));
  assert.equal(rec.body, JSON.stringify(body));
  assert.deepEqual(rec.json, body);
  assert.equal(rec.headers.authorization, 'Bearer k1');
  assert.equal(rec.method, 'POST');
  assert.equal(rec.path, '/v1/chat/completions');
  assert.equal(rec.aborted, false);
  assert.ok(rec.endMs !== undefined && rec.endMs >= rec.startMs);
  assert.equal(lastUserText(rec), 'hi ü');
});

test('streaming reply: SSE chunks concatenate to the text and end with [DONE]', async (t) => {
  const srv = await startOpenAIServer();
  t.after(() => srv.close());
  srv.script({ text: '<plan>1. a</plan><answer>x = 1</answer>' }, { text: 'abc', chunks: ['a', 'bc'] });
  for (const [expected, expectedChunks] of [
    ['<plan>1. a</plan><answer>x = 1</answer>', undefined],
    ['abc', ['a', 'bc']],
  ] as const) {
    const res = await post(srv.url, { model: 'm', messages: [], stream: true });
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    const raw = await res.text();
    const events = raw.split('\n\n').filter((e) => e.length > 0);
    assert.equal(events.at(-1), 'data: [DONE]');
    const deltas = events
      .slice(0, -1)
      .map((e) => JSON.parse(e.slice('data: '.length)) as { choices: Array<{ delta: { content?: string }; finish_reason: string | null }> })
      .map((c) => c.choices[0]?.delta.content ?? '')
      .filter((d) => d.length > 0);
    assert.equal(deltas.join(''), expected);
    assert.ok(deltas.length > 1);
    if (expectedChunks) assert.deepEqual(deltas, expectedChunks);
  }
});

test('status replies, queue then handler, unscripted 409, models and 404', async (t) => {
  const srv = await startOpenAIServer({ models: ['a', 'b'] });
  t.after(() => srv.close());
  srv.script({ status: 429, headers: { 'retry-after': '3' } });
  srv.setHandler((req) => ({ text: `echo:${lastUserText(req)}` }));
  const r1 = await post(srv.url, { model: 'm', messages: [{ role: 'user', content: 'q' }] });
  assert.equal(r1.status, 429);
  assert.equal(r1.headers.get('retry-after'), '3');
  const e1 = (await r1.json()) as { error: { message: string } };
  assert.match(e1.error.message, /429/);
  const r2 = await post(srv.url, { model: 'm', messages: [{ role: 'user', content: 'q2' }] });
  const j2 = (await r2.json()) as { choices: Array<{ message: { content: string } }> };
  assert.equal(j2.choices[0]?.message.content, 'echo:q2');
  srv.setHandler(undefined);
  const r3 = await post(srv.url, { model: 'm', messages: [] });
  assert.equal(r3.status, 409);
  assert.match(await r3.text(), /no scripted reply/);
  const models = (await (await fetch(`${srv.url}/models`)).json()) as { data: Array<{ id: string }> };
  assert.deepEqual(models.data.map((m) => m.id), ['a', 'b']);
  assert.equal((await fetch(`${srv.origin}/nope`)).status, 404);
  assert.equal(srv.requests.length, 5);
  assert.equal(srv.chatRequests().length, 3);
});

test('apiKey option rejects a missing or wrong bearer token with 401', async (t) => {
  const srv = await startOpenAIServer({ apiKey: 'sekrit', handler: () => ({ text: 'ok' }) });
  t.after(() => srv.close());
  assert.equal((await post(srv.url, { model: 'm', messages: [] })).status, 401);
  assert.equal((await post(srv.url, { model: 'm', messages: [] }, { authorization: 'Bearer nope' })).status, 401);
  assert.equal((await post(srv.url, { model: 'm', messages: [] }, { authorization: 'Bearer sekrit' })).status, 200);
});

test('hang until the client aborts; the request is recorded as aborted', async (t) => {
  const srv = await startOpenAIServer();
  t.after(() => srv.close());
  srv.script({ hang: true });
  const ac = new AbortController();
  const pending = post(srv.url, { model: 'm', messages: [] }, {}, ac.signal);
  await srv.waitForRequests(1);
  ac.abort();
  await assert.rejects(pending, (e: Error) => e.name === 'AbortError');
  const rec = await srv.waitForEnd(0);
  assert.equal(rec.aborted, true);
  assert.equal(rec.outcome, 'hang');
});

test('destroy drops the socket (network error) and delay answers later', async (t) => {
  const srv = await startOpenAIServer();
  t.after(() => srv.close());
  srv.script({ destroy: true }, { delayMs: 30, then: { text: 'late' } });
  await assert.rejects(post(srv.url, { model: 'm', messages: [] }), TypeError);
  const res = await post(srv.url, { model: 'm', messages: [] });
  const j = (await res.json()) as { choices: Array<{ message: { content: string } }> };
  assert.equal(j.choices[0]?.message.content, 'late');
});

test('concurrent requests overlap in the recorded timestamps', async (t) => {
  const srv = await startOpenAIServer();
  t.after(() => srv.close());
  // A gate instead of a sleep: both requests are held until both have arrived.
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  srv.setHandler(async () => {
    await gate;
    return { text: 'ok' };
  });
  const a = post(srv.url, { model: 'm', messages: [] });
  const b = post(srv.url, { model: 'm', messages: [] });
  await srv.waitForRequests(2);
  release();
  await Promise.all([a, b]);
  const [r0, r1] = [await srv.waitForEnd(0), await srv.waitForEnd(1)];
  assert.ok(r0.startMs < (r1.endMs ?? 0) && r1.startMs < (r0.endMs ?? 0));
});

test('close() ends hanging requests and is idempotent', async (t) => {
  const srv = await startOpenAIServer({ replies: [{ hang: true }] });
  const pending = post(srv.url, { model: 'm', messages: [] });
  await srv.waitForRequests(1);
  await srv.close();
  await srv.close();
  await assert.rejects(pending);
  t.diagnostic('closed');
});
