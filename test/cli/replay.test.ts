/**
 * `valor run --replay` and `--sensitivity` end to end: the built CLI as a child process, a run
 * record made against scripted tools, and no tool server reachable (VALOR_TOOLS_URL points at a
 * closed port, so any call that tried to reach one would fail the run).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runQuery } from '../../src/core/pipeline.js';
import { ProgramRunner } from '../../src/core/runner/index.js';
import { RunRecord } from '../../src/protocol/run.js';
import type { Detection } from '../../src/protocol/tools.js';
import { cleanEnv, REPO, runCli } from '../helpers/cli.js';
import { ScriptedTools } from '../helpers/scriptedTools.js';

const IMAGE = join(REPO, 'test', 'fixtures', 'images', 'scene-320x240.png');
const CANDIDATES: Detection[] = [
  { bbox: [10, 10, 50, 50], label: 'mug', score: 0.8 },
  { bbox: [60, 10, 100, 50], label: 'mug', score: 0.3 },
];
const PROGRAM = ['mugs = gd_detect(img_pth, "mug")', 'n = len(mugs)', 'final_answer = "one" if n == 1 else "several"'].join('\n');
const reply = (program: string) => `<plan>\n1. Count mugs.\n</plan>\n<answer>\n\`\`\`python\n${program}\n\`\`\`\n</answer>`;

describe('valor run --replay', () => {
  let work: string;
  let recordPath: string;
  const env = cleanEnv({ VALOR_TOOLS_URL: 'http://127.0.0.1:9' });

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'valor-replay-'));
    const runner = new ProgramRunner();
    try {
      const tools = new ScriptedTools({ gd_detect: () => ({ value: [CANDIDATES[0]!], detail: { candidates: CANDIDATES, box_threshold: 0.35 } }) });
      const record = await runQuery({ query: 'How many mugs?', imagePath: IMAGE, reply: reply(PROGRAM), tools, toolsUrl: 'scripted', runner });
      assert.equal(record.final_answer, 'one');
      recordPath = join(work, 'rec.json');
      await writeFile(recordPath, JSON.stringify(record));
    } finally {
      await runner.dispose();
    }
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('reproduces the recorded answer with no tool server, and prints the line values', async () => {
    const r = await runCli(['run', '--replay', recordPath, '--no-record', '--lines'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /answer: "one"/);
    assert.match(r.stdout, /replayed: .*rec\.json/);
    assert.match(r.stdout, /every call had a recorded result/);
    assert.match(r.stdout, / {2}2 {2}n = len\(mugs\) +│ n = 1/);
  });

  it('an edited .vprog names the call with no recorded result and fails', async () => {
    const doc = join(work, 'edited.vprog');
    await writeFile(doc, `# image: ${IMAGE}\n# query: How many mugs?\n${reply('cups = gd_detect(img_pth, "cup")\nfinal_answer = len(cups)')}\n`);
    const r = await runCli(['run', '--replay', recordPath, doc, '--json', '--no-record'], { env });
    assert.equal(r.code, 1, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.error.type, 'NoRecordedResult');
    assert.deepEqual(out.replay.missing, [{ tool: 'gd_detect', args: { prompt: 'cup' }, line: 1 }]);
  });

  it('--sensitivity reports where the answer holds over the box threshold', async () => {
    const r = await runCli(['run', '--replay', recordPath, '--sensitivity', '--no-record'], { env });
    assert.equal(r.code, 0, r.stderr);
    // Kept: both for t < 0.3 ("several"), the 0.8 one for 0.3 ≤ t < 0.8 ("one"), none above ("several").
    assert.match(r.stdout, /gd_detect #0 "mug" \(line 1\), threshold 0.35, 2 candidates: stable for 0.30–0.80; at < 0.30 → "several"; at ≥ 0.80 → "several"/);
  });

  it('--sensitivity keeps the report in the run record it writes (what the run view\'s slider shows)', async () => {
    const r = await runCli(['run', '--replay', recordPath, '--sensitivity', '--json', '--out', join(work, 'runs')], { env });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    const stored = RunRecord.parse(JSON.parse(await readFile(out.record, 'utf8')));
    assert.deepEqual(stored.sensitivity, out.sensitivity);
    assert.deepEqual(stored.sensitivity?.detect[0]?.intervals.map((i) => [i.from, i.to, i.outcome]), [
      [0, 0.3, 'answer:"several"'],
      [0.3, 0.8, 'answer:"one"'],
      [0.8, 1, 'answer:"several"'],
    ]);
  });

  it('a file that is not a run record is a usage error', async () => {
    const bad = join(work, 'bad.json');
    await writeFile(bad, '{"version": 1}');
    const r = await runCli(['run', '--replay', bad], { env });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /run record .*bad\.json is not valid/);
  });
});
