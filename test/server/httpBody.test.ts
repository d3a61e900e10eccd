// The tool server's HTTP helpers in-process (src/server/http.ts) on a real loopback server: the
// body limit over a whole chunked upload, the bearer token check, field-naming error messages.
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import { HttpError } from '../../src/server/errors.js';
import { describeIssues, parseJson, readBody, sendError, sendJson, tokenMatches } from '../../src/server/http.js';

const LIMIT = 1000;

/** Sends `chunks` as a chunked body (no content-length), each written separately. */
function sendChunked(port: number, chunks: Buffer[], headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers: { 'transfer-encoding': 'chunked', ...headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    const writeNext = (i: number): void => {
      if (i === chunks.length) {
        req.end();
        return;
      }
      req.write(chunks[i], () => setTimeout(() => writeNext(i + 1), 5));
    };
    writeNext(0);
  });
}

describe('readBody', () => {
  let srv: Server;
  let port: number;
  const failures: Error[] = [];
  before(async () => {
    srv = createServer((req, res) => {
      readBody(req, LIMIT, 'the test body').catch((e: Error) => {
        failures.push(e);
        throw e;
      }).then(
        (buf) => {
          res.writeHead(200);
          res.end(`got ${buf.length} ${buf.toString('utf8').slice(0, 3)}`);
        },
        (err: unknown) => {
          const e = err as HttpError;
          res.writeHead(e instanceof HttpError ? e.status : 500, { connection: 'close' });
          res.end(`${e instanceof HttpError ? e.code : 'other'}: ${e.message}`);
        },
      );
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    port = (srv.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((r) => srv.close(() => r())));

  it('accepts a chunked body up to the limit, all of it', async () => {
    const r = await sendChunked(port, [Buffer.from('abc'), Buffer.alloc(497, 'x'), Buffer.alloc(500, 'y')]);
    assert.equal(r.status, 200);
    assert.equal(r.body, 'got 1000 abc');
  });

  it('refuses a chunked body over the limit although every chunk is under it', async () => {
    const chunk = Buffer.alloc(300, 'z');
    const r = await sendChunked(port, [chunk, chunk, chunk, chunk]);
    assert.equal(r.status, 413);
    assert.match(r.body, /^body_too_large: the test body exceeds 1000 bytes/);
  });

  it('accepts a declared content-length of exactly the limit', async () => {
    const r = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers: { 'content-length': String(LIMIT) } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString('utf8')));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end(Buffer.alloc(LIMIT, 'k'));
    });
    assert.deepEqual(r, { status: 200, body: 'got 1000 kkk' });
  });

  it('rejects with an AbortError when the client goes away mid-body', async () => {
    const n = failures.length;
    await new Promise<void>((resolve) => {
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers: { 'transfer-encoding': 'chunked' } });
      req.on('error', () => resolve());
      req.write(Buffer.alloc(10, 'a'), () => setTimeout(() => req.destroy(), 50));
    });
    for (let i = 0; i < 100 && failures.length === n; i++) await new Promise((r) => setTimeout(r, 20));
    const e = failures[n];
    assert.ok(e, 'readBody settled');
    assert.equal(e.name, 'AbortError');
    assert.match(e.message, /client went away while sending the body/);
  });

  it('refuses a declared content-length over the limit before reading', async () => {
    const r = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers: { 'content-length': String(LIMIT + 1) } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString('utf8')));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end(Buffer.alloc(LIMIT + 1, 'q'));
    });
    assert.equal(r.status, 413);
    assert.match(r.body, /^body_too_large: the test body is 1001 bytes; the server accepts at most 1000 bytes/);
  });
});

describe('readBody on a failing stream', () => {
  it('rejects with the stream\'s own error', async () => {
    const s = Object.assign(new PassThrough(), { headers: {} });
    const p = readBody(s as never, 100, 'x');
    s.write(Buffer.from('abc'));
    s.emit('error', new Error('disk went away'));
    await assert.rejects(p, /^Error: disk went away$/);
  });
});

describe('sendJson and sendError', () => {
  it('send the JSON with its length, type and no-store, and errors in the protocol shape', async () => {
    const srv = createServer((req, res) => {
      if (req.url === '/ok') sendJson(res, 201, { a: 'é' });
      else if (req.url === '/twice') {
        sendJson(res, 200, { first: true });
        sendError(res, new HttpError(500, 'late', 'too late'), { 'x-late': '1' });
      } else {
        sendError(res, new HttpError(429, 'busy', 'try later'), { 'retry-after': '3' });
        sendJson(res, 200, { second: true });
      }
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
    try {
      const ok = await fetch(`${base}/ok`);
      assert.equal(ok.status, 201);
      assert.equal(ok.headers.get('content-type'), 'application/json; charset=utf-8');
      assert.equal(ok.headers.get('content-length'), '10', 'bytes, not characters');
      assert.equal(ok.headers.get('cache-control'), 'no-store');
      assert.equal(await ok.text(), '{"a":"é"}');
      const err = await fetch(`${base}/err`);
      assert.equal(err.status, 429);
      assert.equal(err.headers.get('retry-after'), '3');
      assert.deepEqual(await err.json(), { error: { code: 'busy', message: 'try later' } }, 'a second reply after the first is dropped');
      const twice = await fetch(`${base}/twice`);
      assert.equal(twice.status, 200);
      assert.equal(twice.headers.get('x-late'), null);
      assert.deepEqual(await twice.json(), { first: true }, 'an error after the reply is dropped, headers and all');
    } finally {
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });
});

describe('tokenMatches', () => {
  it('accepts exactly the token, after Bearer in any case', () => {
    assert.equal(tokenMatches('Bearer s3cret', 's3cret'), true);
    assert.equal(tokenMatches('bearer   s3cret  ', 's3cret'), true);
  });
  it('refuses anything else', () => {
    for (const h of [undefined, '', 's3cret', 'xBearer s3cret', 'Token Bearer s3cret', 'Bearer s3cre', 'Bearer s3cretx', 'Basic s3cret', 'Bearer ']) assert.equal(tokenMatches(h, 's3cret'), false, String(h));
    assert.equal(tokenMatches('Bearer ', ''), false, 'an empty token never matches');
  });
});

describe('describeIssues and parseJson', () => {
  const Schema = z.object({ bbox: z.array(z.number()).length(4), image: z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/) }), n: z.number().optional() });
  const issues = (body: unknown): string => {
    const r = Schema.safeParse(body);
    assert.equal(r.success, false);
    return describeIssues(r.error?.issues ?? [], body);
  };
  it('spells out the box format and shows what came', () => {
    assert.match(issues({ bbox: [1, 2, 3], image: { sha256: 'a'.repeat(64) } }), /^bbox must be 4 numbers \[x1, y1, x2, y2\] in pixels .*; got \[1,2,3\]$/);
    assert.match(issues({ image: { sha256: 'a'.repeat(64) } }), /got nothing$/);
  });
  it('names at most five problems, each once, and cuts a long box short', () => {
    const Many = z.object({ a: z.string(), b: z.string(), c: z.string(), d: z.string(), e: z.string(), f: z.string() });
    const text = describeIssues(Many.safeParse({}).error?.issues ?? [], {});
    assert.deepEqual(text.split('; ').map((p) => p.split(':')[0]), ['a', 'b', 'c', 'd', 'e']);
    const long = { bbox: Array.from({ length: 60 }, () => 'xx'), image: { sha256: 'a'.repeat(64) } };
    const boxText = issues(long);
    assert.equal((boxText.match(/bbox must be/g) ?? []).length, 1, 'the same box message once');
    assert.ok(boxText.endsWith(`got ${JSON.stringify(long.bbox).slice(0, 100)}`), boxText);
    // Four wrong elements are four issues at bbox.0 ... bbox.3: one box message.
    assert.equal(issues({ bbox: ['a', 'b', 'c', 'd'], image: { sha256: 'a'.repeat(64) } }), 'bbox must be 4 numbers [x1, y1, x2, y2] in pixels (or null for the whole image in vqa); got ["a","b","c","d"]');
  });
  it('spells out the image reference', () => {
    assert.match(issues({ bbox: [1, 2, 3, 4], image: { sha256: 'abc' } }), /^image must be \{"sha256": "<64 hex digits>"\} or \{"path": "<file on the server>"\}; image\.sha256: /);
    assert.match(issues({ bbox: [1, 2, 3, 4] }), /^image must be \{"sha256": .*; image: /);
  });
  it('names any other field, and the body itself', () => {
    assert.match(issues({ bbox: [1, 2, 3, 4], image: { sha256: 'a'.repeat(64) }, n: 'x' }), /^n: /);
    assert.match(describeIssues(z.object({}).safeParse(5).error?.issues ?? [], 5), /^\(body\): /);
  });
  it('parseJson names the route for bad JSON and for schema errors', () => {
    assert.throws(() => parseJson(Schema, Buffer.from('{"bbox": '), 'POST /v1/x'), (e: unknown) => e instanceof HttpError && e.status === 400 && e.code === 'invalid_json' && /the body of POST \/v1\/x is not valid JSON/.test(e.message));
    assert.throws(() => parseJson(Schema, Buffer.from('{"bbox": [1]}'), 'POST /v1/x'), (e: unknown) => e instanceof HttpError && e.code === 'invalid_request' && /^POST \/v1\/x: bbox must be/.test(e.message));
    assert.deepEqual(parseJson(Schema, Buffer.from(`{"bbox":[1,2,3,4],"image":{"sha256":"${'b'.repeat(64)}"}}`), 'r'), { bbox: [1, 2, 3, 4], image: { sha256: 'b'.repeat(64) } });
  });
});
