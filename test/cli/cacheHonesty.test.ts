/**
 * Only validated verdicts are cached. A judge or verifier reply that cannot be read must not be
 * stored and replayed: running `valor score` or `valor verify-boxes` again asks again. Each run
 * here is the built CLI in its own process, so nothing is shared in memory between runs; the
 * cache on disk is a fresh folder.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleanEnv, REPO, runCli } from '../helpers/cli.js';
import { GOOD_QUERY, GOOD_REPLY, jsonVerdict } from '../helpers/judgeReplies.js';
import { startOpenAIServer, type OpenAIServer } from '../helpers/openaiServer.js';
import { startProtocolToolServer, type ProtocolToolServer } from '../helpers/protocolToolServer.js';

describe('failed verdicts are never cached', () => {
  let srv: OpenAIServer;
  let tools: ProtocolToolServer;
  let work: string;
  let cache: string;
  before(async () => {
    srv = await startOpenAIServer();
    tools = await startProtocolToolServer({
      objects: [
        { label: 'mug', bbox: [20, 100, 60, 140], score: 0.8 },
        { label: 'mug', bbox: [22, 101, 61, 141], score: 0.3 },
        { label: 'laptop', bbox: [150, 80, 300, 200], score: 0.9 },
      ],
    });
    work = mkdtempSync(join(tmpdir(), 'valor-cache-honesty-'));
    cache = join(work, 'cache');
    writeFileSync(join(work, 'mug.vprog'), `# query: ${GOOD_QUERY}\n\n${GOOD_REPLY}\n`);
    copyFileSync(join(REPO, 'test', 'fixtures', 'images', 'scene-320x240.png'), join(work, 'scene.png'));
  });
  after(async () => {
    await srv.close();
    await tools.close();
    rmSync(work, { recursive: true, force: true });
  });
  const env = (extra: Record<string, string> = {}) =>
    cleanEnv({
      VALOR_CACHE_DIR: cache,
      VALOR_JUDGE_BASE_URL: srv.url,
      VALOR_JUDGE_MODEL: 'judge-m',
      VALOR_VLM_BASE_URL: srv.url,
      VALOR_VLM_MODEL: 'vlm-m',
      VALOR_TOOLS_URL: tools.url,
      VALOR_TOOLS_TOKEN: tools.token,
      ...extra,
    });
  const asked = async (args: string[], extra: Record<string, string> = {}) => {
    const before = srv.chatRequests().length;
    const r = await runCli(args, { cwd: work, env: env(extra), timeoutMs: 120_000 });
    return { ...r, requests: srv.chatRequests().length - before };
  };

  it('score: an unreadable judge reply is asked again on the next run, and the error says so', async () => {
    srv.setHandler(() => ({ text: 'It looks fine to me, I suppose.' }));
    const first = await asked(['score', 'mug.vprog']);
    assert.equal(first.code, 1, first.stderr);
    assert.equal(first.requests, 8, 'four judges, each re-asked once');
    assert.match(first.stdout, /ERROR .*nothing of this failure was cached: score again to ask the judge again/);
    assert.match(first.stderr, /nothing of them was cached: run the same command again to ask again/);
    const second = await asked(['score', 'mug.vprog']);
    assert.equal(second.code, 1);
    assert.equal(second.requests, 8, 'the failures were not replayed from the cache');
  });

  it('score: a valid verdict is cached; --refresh asks again, --rejudge only the judges named; --no-cache neither reads nor writes', async () => {
    srv.setHandler(() => ({ text: jsonVerdict(1) }));
    const fresh = await asked(['score', 'mug.vprog']);
    assert.equal(fresh.code, 0, fresh.stderr);
    assert.equal(fresh.requests, 4);
    const replay = await asked(['score', 'mug.vprog']);
    assert.equal(replay.code, 0);
    assert.equal(replay.requests, 0, 'validated verdicts come from the cache');
    assert.match(replay.stdout, /judge-m, cached/);
    const refresh = await asked(['score', 'mug.vprog', '--refresh']);
    assert.equal(refresh.requests, 4);
    // --rejudge asks only the judges named; the others answer from the cache.
    const before = srv.chatRequests().length;
    const one = await asked(['score', 'mug.vprog', '--rejudge', 'logic']);
    assert.equal(one.code, 0, one.stderr);
    assert.equal(one.requests, 1);
    assert.match(String(srv.chatRequests()[before]!.json.messages[0].content), /logic/i, 'the one request is the logic judge');
    assert.match(one.stdout, /^ {2}logic +1 +\[judge-m, \d/m, 'logic answered afresh');
    for (const r of ['spatial', 'attribute', 'adherence']) assert.match(one.stdout, new RegExp(`^  ${r} +1 +\\[judge-m, cached`, 'm'));
    const two = await asked(['score', 'mug.vprog', '--rejudge', 'spatial, adherence,spatial']);
    assert.equal(two.requests, 2);
    for (const [arg, why] of [
      ['format', /comes from the parser/],
      ['syntax', /never cached/],
      ['logics', /unknown reward 'logics'; the judges are spatial, attribute, logic, adherence/],
      [',', /needs one or more of/],
    ] as const) {
      const bad = await asked(['score', 'mug.vprog', '--rejudge', arg]);
      assert.deepEqual([bad.code, bad.requests], [2, 0], arg);
      assert.match(bad.stderr, why);
    }
    const both = await asked(['score', 'mug.vprog', '--rejudge', 'logic', '--refresh']);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /give --refresh or --rejudge, not both/);
    const other = join(work, 'other-cache');
    const off = await asked(['score', 'mug.vprog', '--no-cache'], { VALOR_CACHE_DIR: other });
    assert.equal(off.code, 0);
    assert.equal(off.requests, 4);
    assert.ok(!existsSync(other), '--no-cache wrote nothing');
  });

  it('verify-boxes: an unreadable verifier reply is asked again; a good run saves its annotated images', async () => {
    srv.setHandler(() => ({ text: 'Most of them look right.' }));
    const out = join(work, 'g', 'mug.json');
    const first = await asked(['verify-boxes', '--image', 'scene.png', '--prompt', 'mug', '--out', out]);
    assert.equal(first.code, 1, first.stderr);
    assert.equal(first.requests, 2);
    assert.match(first.stderr, /nothing of this failure was cached: run it again to ask again/);
    const second = await asked(['verify-boxes', '--image', 'scene.png', '--prompt', 'mug', '--out', out]);
    assert.equal(second.requests, 2, 'the unreadable reply was not replayed');

    srv.setHandler((req) => {
      const sys = String(req.json.messages[0].content);
      if (sys.startsWith('You review')) return { text: JSON.stringify({ keep: [1, 2], drop: [] }) };
      if (sys.startsWith('You check one')) return { text: JSON.stringify({ keep: true, reason: 'clear' }) };
      return { text: JSON.stringify({ keep: [1], drop: [{ index: 2, duplicate_of: 1, note: 'same mug' }] }) };
    });
    const good = await asked(['verify-boxes', '--image', 'scene.png', '--prompt', 'mug', '--out', out]);
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /#1 +mug .* kept/);
    assert.match(good.stdout, /#2 +mug .* dropped at dedup: duplicate of box 1/);
    const pngs = readdirSync(join(work, 'g')).filter((f) => f.endsWith('.png')).sort();
    assert.deepEqual(pngs, ['mug.coarse-1.png', 'mug.dedup-1.png']);
    for (const p of pngs) assert.deepEqual([...readFileSync(join(work, 'g', p)).subarray(1, 4)].map((c) => String.fromCharCode(c)).join(''), 'PNG');
    const again = await asked(['verify-boxes', '--image', 'scene.png', '--prompt', 'mug', '--out', out]);
    assert.equal(again.requests, 0, 'valid verifier replies are cached');
  });
});
