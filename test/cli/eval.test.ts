/**
 * `valor eval` and `valor eval merge` as a user runs them: the CLI as a child process (bundled
 * from the current sources), the generator behind the local OpenAI-compatible server, tools
 * behind a protocol-speaking HTTP server, programs in real python3 children. Covers metrics end
 * to end, shard + merge equal to the unsharded run, resume after SIGKILL (counting the requests
 * the generator receives), cancellation, and usage errors.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { EvalSummary } from '../../src/core/eval/summary.js';
import { cleanEnv, type CliResult } from '../helpers/cli.js';
import { benchHandler, comparable, EXPECTED, manyQuestions, QUESTIONS, SCENE, vqaAnswer, writeBenchmark } from '../helpers/evalBench.js';
import { freshCli } from '../helpers/freshCli.js';
import { reportData, scriptTags } from '../helpers/reportData.js';
import { startOpenAIServer, type OpenAIServer } from '../helpers/openaiServer.js';
import { startProtocolToolServer, type ProtocolToolServer } from '../helpers/protocolToolServer.js';

const readSummary = async (dir: string): Promise<EvalSummary> => JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8')) as EvalSummary;
const recordCount = async (dir: string): Promise<number> => {
  try {
    return (await readdir(join(dir, 'runs'))).filter((n) => n.endsWith('.json')).length;
  } catch {
    return 0;
  }
};

/** Polls until `check` holds (a condition, not a fixed sleep), failing after `timeoutMs`. */
async function until(check: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('valor eval (CLI)', () => {
  let llm: OpenAIServer;
  let tools: ProtocolToolServer;
  let work: string;
  let cli: string;
  let file: string;
  const children = new Set<ChildProcess>();

  before(async () => {
    cli = await freshCli();
    llm = await startOpenAIServer({ handler: benchHandler() });
    tools = await startProtocolToolServer({ objects: SCENE, vqa: vqaAnswer, width: 64, height: 48 });
    work = await mkdtemp(join(tmpdir(), 'valor-evalcli-'));
    file = await writeBenchmark(join(work, 'bench'));
  });
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await llm.close();
    await tools.close();
    await rm(work, { recursive: true, force: true });
  });

  const env = (url = llm.url): NodeJS.ProcessEnv =>
    cleanEnv({
      VALOR_LLM_BASE_URL: url,
      VALOR_LLM_MODEL: 'valor-policy',
      VALOR_TOOLS_URL: tools.url,
      VALOR_TOOLS_TOKEN: tools.token,
      VALOR_NO_CACHE: '1',
    });

  const start = (args: string[], e: NodeJS.ProcessEnv = env()): { child: ChildProcess; done: Promise<CliResult> } => {
    const child = spawn(process.execPath, [cli, ...args], { cwd: work, env: e, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const done = new Promise<CliResult>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => {
        children.delete(child);
        resolve({ code, signal, stdout, stderr });
      });
    });
    return { child, done };
  };
  const run = async (args: string[], e?: NodeJS.ProcessEnv): Promise<CliResult> => {
    const { child, done } = start(args, e);
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    try {
      return await done;
    } finally {
      clearTimeout(timer);
    }
  };

  let whole: EvalSummary;

  it('evaluates the benchmark end to end: metrics, skipped lines, progress lines, report', async () => {
    const out = join(work, 'whole');
    const r = await run(['eval', file, '--images', join(work, 'bench'), '--out', out, '--concurrency', '3']);
    assert.equal(r.code, 0, r.stderr);
    whole = await readSummary(out);
    assert.equal(whole.complete, true);
    assert.equal(whole.counts.correct, EXPECTED.correct);
    assert.equal(whole.metrics.overall.score, EXPECTED.overall);
    assert.equal(whole.metrics.by_type.float?.score, EXPECTED.by_type.float.score);
    assert.deepEqual(whole.results.map((x) => x.id), QUESTIONS.map((q) => q.id));
    // Unreadable lines are named with their line numbers, skipped and counted.
    assert.match(r.stderr, /bench\.jsonl:4: not valid JSON/);
    assert.match(r.stderr, /bench\.jsonl:11: no ground-truth answer/);
    assert.match(r.stderr, /skipping 2 unreadable line/);
    // Not a terminal: plain progress lines, no carriage returns.
    assert.match(r.stderr, /eval: 18 questions, 18 to run/);
    assert.match(r.stderr, /eval: 18\/18 done/);
    assert.ok(!r.stderr.includes('\r'));
    assert.match(r.stdout, /overall: 44\.4%/);
    assert.doesNotMatch(r.stdout, /incomplete/);
    assert.match(r.stdout, /report: .*report\.html/);
    // The program's own answer is kept next to the option it was mapped to.
    const mc3 = whole.results.find((x) => x.id === 'mc-3');
    assert.equal(mc3?.answer, 'green mug');
    assert.notEqual(mc3?.prediction, 'green mug');
    const html = await readFile(join(out, 'report.html'), 'utf8');
    assert.equal(reportData(html).rows.find((x) => x.id === 'mc-3')?.ans, 'green mug', 'the report carries what the program answered');
    assert.ok(html.startsWith('<!doctype html>'));
    assert.equal(scriptTags(html), 2);
  });

  it('the generator down: incomplete, exit 1, N questions not evaluated, the exact --resume command', async () => {
    const down = await startOpenAIServer({ handler: () => ({ status: 503 }) });
    try {
      const out = join(work, 'down');
      const r = await run(['eval', file, '--images', join(work, 'bench'), '--out', out, '--limit', '4'], env(down.url));
      assert.equal(r.code, 1, r.stdout + r.stderr);
      const s = await readSummary(out);
      assert.equal(s.complete, false);
      assert.equal(s.counts.not_evaluated, 4);
      assert.equal(s.metrics.overall.score, null, 'nothing evaluated: no accuracy, not 0%');
      const resume = `valor eval ${file} --images ${join(work, 'bench')} --out ${out} --limit 4 --resume`;
      assert.equal(s.resume_command, resume);
      assert.ok(r.stdout.includes(`incomplete: 4 questions not evaluated (endpoint_outage 4); run them with: ${resume}`), r.stdout);
      assert.match(r.stdout, /^overall over the 0 evaluated questions: -/m);
      assert.doesNotMatch(r.stdout, /0\.0%/);
      assert.ok(r.stderr.includes(`run them again with: ${resume}`), r.stderr);
      const html = await readFile(join(out, 'report.html'), 'utf8');
      assert.match(html, /incomplete: 4 questions not evaluated \(endpoint_outage 4\)/);
      assert.ok(html.includes(resume.replace(/'/g, '&#39;')));
      assert.match(html, /<h2>Metrics over the 0 evaluated questions<\/h2>/);

      // The generator back: --resume evaluates them; the run is complete.
      const again = await run(['eval', file, '--images', join(work, 'bench'), '--out', out, '--limit', '4', '--resume']);
      assert.equal(again.code, 0, again.stderr);
      const s2 = await readSummary(out);
      assert.equal(s2.complete, true);
      assert.equal(s2.counts.not_evaluated, 0);
      assert.equal(s2.resume_command, undefined);
    } finally {
      await down.close();
    }
  });

  it('a tool server that refuses the token stops the run as a configuration error (exit 2)', async () => {
    const out = join(work, 'badtoken');
    const e = { ...env(), VALOR_TOOLS_TOKEN: 'not-the-right-token' };
    const r = await run(['eval', file, '--images', join(work, 'bench'), '--out', out, '--limit', '3'], e);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /valor eval: stopped: the tool server refused the token/);
    assert.match(r.stderr, /continue with: valor eval .* --resume/);
  });

  it('shard 0/2 + shard 1/2, merged, equal the unsharded run', async () => {
    const [a, b] = await Promise.all([
      run(['eval', file, '--images', join(work, 'bench'), '--out', join(work, 's0'), '--shard', '0/2', '--concurrency', '2']),
      run(['eval', file, '--images', join(work, 'bench'), '--out', join(work, 's1'), '--shard', '1/2', '--concurrency', '2']),
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const s0 = await readSummary(join(work, 's0'));
    const s1 = await readSummary(join(work, 's1'));
    assert.equal(s0.counts.done + s1.counts.done, EXPECTED.selected);
    assert.ok(s0.counts.done > 0 && s1.counts.done > 0, 'both shards hold questions');

    const m = await run(['eval', 'merge', join(work, 's1'), join(work, 's0'), '--out', join(work, 'merged')]);
    assert.equal(m.code, 0, m.stderr);
    const merged = await readSummary(join(work, 'merged'));
    assert.deepEqual(comparable(merged), comparable(whole));
    assert.equal(merged.merged_from?.length, 2);
    // Records stay in the shard folders; the merged summary and report point at them.
    const first = merged.results[0];
    assert.ok(first && /^\.\.\/s[01]\/runs\//.test(first.record), first?.record);
    const html = await readFile(join(work, 'merged', 'report.html'), 'utf8');
    assert.ok(reportData(html).rows.some((x) => x.rec === first.record), 'the merged report links the shard records');

    // A missing shard is refused unless asked for.
    const partial = await run(['eval', 'merge', join(work, 's0'), '--out', join(work, 'merged-partial')]);
    assert.equal(partial.code, 2);
    assert.match(partial.stderr, /shard\(s\) 1\/2 missing.*--allow-partial/);
    const allowed = await run(['eval', 'merge', join(work, 's0'), '--out', join(work, 'merged-partial'), '--allow-partial']);
    assert.equal(allowed.code, 1);
    assert.equal((await readSummary(join(work, 'merged-partial'))).complete, false);
    // Merging a shard with the whole run is refused (shard counts differ).
    const mixed = await run(['eval', 'merge', join(work, 's0'), join(work, 'whole'), '--out', join(work, 'merged-mixed')]);
    assert.equal(mixed.code, 2);
  });

  it('resumes after SIGKILL: the second run asks only for the questions without a record', async () => {
    const qs = manyQuestions(16);
    const dir = join(work, 'kill');
    const f = await writeBenchmark(dir, qs, []);
    const slow = await startOpenAIServer({ handler: benchHandler(qs, 150) });
    try {
      const out = join(dir, 'out');
      const args = ['eval', f, '--out', out, '--concurrency', '2'];
      const { child, done } = start(args, env(slow.url));
      await until(async () => (await recordCount(out)) >= 4, 'four records before the kill');
      child.kill('SIGKILL');
      const killed = await done;
      assert.equal(killed.signal, 'SIGKILL');
      const kept = await recordCount(out);
      assert.ok(kept >= 4 && kept < 16, `records kept after the kill: ${kept}`);

      const before = slow.chatRequests().length;
      const r = await run([...args, '--resume'], env(slow.url));
      assert.equal(r.code, 0, r.stderr);
      assert.equal(slow.chatRequests().length - before, 16 - kept, 'only the questions without a record are generated again');
      assert.match(r.stderr, new RegExp(`${kept} already done, ${16 - kept} to run`));
      const s = await readSummary(out);
      assert.equal(s.complete, true);
      assert.equal(s.counts.done, 16);
      assert.deepEqual(s.results.map((x) => x.id), qs.map((q) => q.id));
      assert.equal(s.counts.correct, qs.filter((q) => q.line.answer === 'yes').length);

      // Resuming a finished run does nothing but rewrite the summary, and says so.
      const again = await run([...args, '--resume'], env(slow.url));
      assert.equal(again.code, 0, again.stderr);
      assert.equal(slow.chatRequests().length - before, 16 - kept);
      assert.match(again.stdout, /nothing to do: all 16 questions already have records; summary rewritten/);
    } finally {
      await slow.close();
    }
  });

  it('an interrupted run (SIGINT) keeps its records, exits 1 and says how to resume', async () => {
    const qs = manyQuestions(10);
    const dir = join(work, 'int');
    const f = await writeBenchmark(dir, qs, []);
    const slow = await startOpenAIServer({ handler: benchHandler(qs, 200) });
    try {
      const out = join(dir, 'out');
      const { child, done } = start(['eval', f, '--out', out, '--concurrency', '2'], env(slow.url));
      await until(async () => (await recordCount(out)) >= 2, 'two records before the interrupt');
      child.kill('SIGINT');
      const r = await done;
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /interrupted: \d+ of 10 questions done; the records are kept\. Continue with: valor eval .* --resume/);
      const s = await readSummary(out);
      assert.equal(s.complete, false);
      assert.equal(s.interrupted, true);
      assert.equal(s.counts.done, await recordCount(out));
    } finally {
      await slow.close();
    }
  });

  it('a generator that rejects the key stops the run early (not one failure per question) and says how to resume', async () => {
    const locked = await startOpenAIServer({ apiKey: 'the-right-key', handler: benchHandler() });
    try {
      const out = join(work, 'locked');
      const r = await run(['eval', file, '--images', join(work, 'bench'), '--out', out, '--concurrency', '2'], { ...env(locked.url), VALOR_LLM_API_KEY: 'wrong' });
      assert.equal(r.code, 2, r.stderr); // a refused key is configuration, as for valor run
      assert.match(r.stderr, /stopped: the generator endpoint refused the request/);
      assert.match(r.stderr, /--resume/);
      assert.ok(locked.requests.length <= 4, `requests after the refusal: ${locked.requests.length}`);
      const s = await readSummary(out);
      assert.equal(s.complete, false);
    } finally {
      await locked.close();
    }
  });

  it('usage and configuration errors exit 2 before anything runs', async () => {
    const before = llm.chatRequests().length;
    const noOut = await run(['eval', file]);
    assert.equal(noOut.code, 2);
    assert.match(noOut.stderr, /--out DIR is required/);
    const badShard = await run(['eval', file, '--out', join(work, 'x'), '--shard', '2/2']);
    assert.equal(badShard.code, 2);
    assert.match(badShard.stderr, /0-based/);
    const missing = await run(['eval', join(work, 'nope.jsonl'), '--out', join(work, 'x')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read the benchmark file/);
    const strict = await run(['eval', file, '--out', join(work, 'x'), '--strict']);
    assert.equal(strict.code, 2);
    assert.match(strict.stderr, /2 line\(s\) .* cannot be read/);
    const noEndpoint = await run(['eval', file, '--out', join(work, 'x')], cleanEnv({ VALOR_TOOLS_URL: tools.url }));
    assert.equal(noEndpoint.code, 2);
    assert.match(noEndpoint.stderr, /VALOR_LLM_BASE_URL/);
    const again = await run(['eval', file, '--images', join(work, 'bench'), '--out', join(work, 'whole')]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /already holds an eval run.*--resume/);
    assert.equal(llm.chatRequests().length, before, 'no generation for a refused command');
  });
});
