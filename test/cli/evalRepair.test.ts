/**
 * `valor eval --repair N` as a user runs it: the CLI as a child process (bundled from the current
 * sources), the scripted generator answering repair requests with a fix (test/helpers/
 * repairBench.ts), a protocol tool server, real python3 programs. `--repair 0` (the default)
 * keeps the failure and prints no repair lines; `--repair 2` prints both figures and writes them
 * to summary.json and report.html; a bad N is a usage error (exit 2) before anything runs.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { EvalSummary } from '../../src/core/eval/summary.js';
import { cleanEnv, type CliResult } from '../helpers/cli.js';
import { SCENE, vqaAnswer, writeBenchmark } from '../helpers/evalBench.js';
import { freshCli } from '../helpers/freshCli.js';
import { startOpenAIServer, type OpenAIServer } from '../helpers/openaiServer.js';
import { startProtocolToolServer, type ProtocolToolServer } from '../helpers/protocolToolServer.js';
import { isRepairRequest, REPAIR_EXPECTED, REPAIR_QUESTIONS, repairBenchHandler } from '../helpers/repairBench.js';

describe('valor eval --repair (CLI)', () => {
  let llm: OpenAIServer;
  let tools: ProtocolToolServer;
  let work: string;
  let cli: string;
  let file: string;

  before(async () => {
    cli = await freshCli();
    llm = await startOpenAIServer({ handler: repairBenchHandler() });
    tools = await startProtocolToolServer({ objects: SCENE, vqa: vqaAnswer, width: 64, height: 48 });
    work = await mkdtemp(join(tmpdir(), 'valor-evalrepaircli-'));
    file = await writeBenchmark(join(work, 'bench'), REPAIR_QUESTIONS, []);
  });
  after(async () => {
    await llm.close();
    await tools.close();
    await rm(work, { recursive: true, force: true });
  });

  const run = (args: string[]): Promise<CliResult> =>
    new Promise((resolve, reject) => {
      const env = cleanEnv({ VALOR_LLM_BASE_URL: llm.url, VALOR_LLM_MODEL: 'valor-policy', VALOR_TOOLS_URL: tools.url, VALOR_TOOLS_TOKEN: tools.token, VALOR_NO_CACHE: '1' });
      const child = spawn(process.execPath, [cli, ...args], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
      child.on('error', reject);
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout, stderr });
      });
    });
  const summaryOf = async (out: string): Promise<EvalSummary> => JSON.parse(await readFile(join(out, 'summary.json'), 'utf8')) as EvalSummary;

  it('--repair 0 (the default) keeps the failure: no repair request, no repair lines or section', async () => {
    const out = join(work, 'zero');
    const n = llm.requests.length;
    const r = await run(['eval', file, '--out', out, '--repair', '0']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!llm.requests.slice(n).some(isRepairRequest));
    assert.doesNotMatch(r.stdout, /^ *(repair|without repair)/m);
    const s = await summaryOf(out);
    assert.equal(s.repair, undefined);
    assert.equal(s.metrics.overall.score, REPAIR_EXPECTED.without);
    assert.equal(s.results.find((x) => x.id === 'rep-2')?.error_type, 'NameError');
    assert.doesNotMatch(await readFile(join(out, 'report.html'), 'utf8'), /<h2>Repair/);
  });

  it('--repair 2 prints and writes the results with and without repair', async () => {
    const out = join(work, 'two');
    const r = await run(['eval', file, '--out', out, '--repair', '2', '--concurrency', '2']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^overall: 50\.0%/m);
    assert.match(r.stdout, /^repair \(--repair 2\): 1 of 2 failed questions repaired \(1 after 1\); 3 repairs asked$/m);
    assert.match(r.stdout, /^ {2}without repair 25\.0% \(1 correct\) {2}with repair 50\.0% \(2 correct\)$/m);
    assert.match(r.stdout, /^ {2}alpha +n=2 without 50\.0% {2}with 50\.0% {2}repaired 0$/m);
    assert.match(r.stdout, /^ {2}beta +n=2 without 0\.0% {2}with 50\.0% {2}repaired 1$/m);
    const s = await summaryOf(out);
    assert.equal(s.settings.repair, 2);
    assert.equal(s.repair?.without.overall.score, REPAIR_EXPECTED.without);
    assert.equal(s.repair?.with.overall.score, REPAIR_EXPECTED.with);
    assert.deepEqual(s.repair?.by_benchmark, REPAIR_EXPECTED.by_benchmark);
    assert.match(await readFile(join(out, 'report.html'), 'utf8'), /<h2>Repair \(--repair 2\)<\/h2>/);
  });

  it('a bad N is a usage error before anything runs', async () => {
    for (const [n, why] of [
      ['-1', /--repair must be an integer of at least 0, got '-1'/],
      ['two', /--repair must be an integer of at least 0, got 'two'/],
      ['1.5', /--repair must be an integer of at least 0, got '1\.5'/],
      ['21', /--repair must be at most 20 .*got '21'/],
    ] as const) {
      const out = join(work, `bad-${n}`);
      const before = llm.requests.length;
      const r = await run(['eval', file, '--out', out, `--repair=${n}`]);
      assert.equal(r.code, 2, `--repair ${n}: ${r.stderr}`);
      assert.match(r.stderr, why);
      assert.equal(llm.requests.length, before, 'nothing was asked');
      await assert.rejects(stat(out), 'no output folder');
    }
    const r = await run(['eval', file, '--out', join(work, 'bad-none'), '--repair']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--repair/);
  });
});
