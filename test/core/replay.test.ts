// Replay and what-if sensitivity with a real python3 child: a run recorded against scripted
// tools is replayed with no tools at all (the scripted tools are never called again), an edited
// program says which calls had no recorded result, and the threshold and depth sensitivity of
// constructed runs match intervals computed by hand.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runQuery } from '../../src/core/pipeline.js';
import { replayRecord } from '../../src/core/replay.js';
import { ProgramRunner } from '../../src/core/runner/index.js';
import { flipShare, formatSensitivity, sensitivity } from '../../src/core/sensitivity.js';
import { ToolError } from '../../src/core/tools.js';
import type { Detection } from '../../src/protocol/tools.js';
import { RunRecord } from '../../src/protocol/run.js';
import { REPO } from '../helpers/cli.js';
import { ScriptedTools } from '../helpers/scriptedTools.js';

const IMAGE = join(REPO, 'test', 'fixtures', 'images', 'scene-320x240.png');
let runner: ProgramRunner;
before(() => {
  runner = new ProgramRunner({ timeoutMs: 30_000 });
});
after(async () => {
  await runner.dispose();
});

const reply = (program: string) => `<plan>\n1. Do it.\n</plan>\n<answer>\n\`\`\`python\n${program}\n\`\`\`\n</answer>`;

// Candidates at the detector's low threshold; the program got those above 0.35.
const CANDIDATES: Detection[] = [
  { bbox: [10, 10, 50, 50], label: 'mug', score: 0.9 },
  { bbox: [60, 10, 100, 50], label: 'mug', score: 0.45 },
  { bbox: [110, 10, 150, 50], label: 'mug', score: 0.31 },
  { bbox: [160, 10, 200, 50], label: 'mug', score: 0.2 },
];
const detectTools = () => new ScriptedTools({
  gd_detect: () => ({ value: CANDIDATES.filter((c) => c.score > 0.35), detail: { candidates: CANDIDATES, box_threshold: 0.35, text_threshold: 0.25 } }),
  depth: (_i, b) => 1 + b[0] / 100,
  vqa: () => 'blue',
});

async function record(program: string, tools: ScriptedTools): Promise<RunRecord> {
  const r = await runQuery({ query: 'q?', imagePath: IMAGE, reply: reply(program), tools, toolsUrl: 'scripted', runner });
  return RunRecord.parse(JSON.parse(JSON.stringify(r)));
}

describe('replay', () => {
  test('reproduces a recorded run\'s answer with no tools, and changes with an edited program', async () => {
    const program = [
      'mugs = gd_detect(img_pth, "mug")',
      'd = depth(img_pth, mugs[0]["bbox"])',
      'c = vqa(img_pth, mugs[1]["bbox"], "colour?")',
      'final_answer = f"{c} {d:.2f} {len(mugs)}"',
    ].join('\n');
    const tools = detectTools();
    const rec = await record(program, tools);
    assert.equal(rec.final_answer, 'blue 1.10 2');
    const callsBefore = tools.calls.length;
    const r = await replayRecord(rec, { runner, source: 'rec.json' });
    assert.equal(tools.calls.length, callsBefore, 'the replay called no tool');
    assert.equal(r.record.final_answer, 'blue 1.10 2');
    assert.equal(r.changed, false);
    assert.deepEqual(r.missing, []);
    assert.equal(r.record.replay?.of, 'rec.json');
    assert.ok(r.record.line_trace, 'the replay has its own line trace');
    RunRecord.parse(r.record);

    // Edited: one call is the same, one is new (no recorded result), one is gone.
    const edited = reply(['mugs = gd_detect(img_pth, "mug")', 'd = depth(img_pth, mugs[1]["bbox"])', 'final_answer = d'].join('\n'));
    const e = await replayRecord(rec, { runner, reply: edited });
    assert.equal(e.record.error?.type, 'NoRecordedResult');
    assert.equal(e.record.error?.line, 2);
    assert.deepEqual(e.missing, [{ tool: 'depth', args: { bbox: [60, 10, 100, 50] }, line: 2 }]);
    assert.equal(e.changed, true);
  });

  test('a recorded tool error is raised again in the replay', async () => {
    const rec = await record('try:\n    x = depth(img_pth, [0, 0, 5, 5])\nexcept ValueError as e:\n    x = str(e)\nfinal_answer = x', new ScriptedTools({
      depth: () => {
        throw new ToolError('box too small', 'ValueError');
      },
    }));
    assert.equal(rec.final_answer, 'box too small');
    const r = await replayRecord(rec, { runner });
    assert.equal(r.record.final_answer, 'box too small');
  });
});

describe('sensitivity', () => {
  test('gd_detect: intervals where the answer holds match the hand-computed ones', async () => {
    // Kept at t: score > t. 4 kept for t < 0.2, 3 for 0.2 ≤ t < 0.31, 2 for 0.31 ≤ t < 0.45, 1 for 0.45 ≤ t < 0.9, 0 above.
    const rec = await record('mugs = gd_detect(img_pth, "mug")\nfinal_answer = "yes" if len(mugs) == 2 else "no"', detectTools());
    assert.equal(rec.final_answer, 'yes');
    const rep = await sensitivity(rec, { runner });
    assert.equal(rep.detect.length, 1);
    const d = rep.detect[0]!;
    assert.deepEqual(d.intervals.map((i) => [i.from, i.to, i.outcome]), [
      [0, 0.31, 'answer:"no"'],
      [0.31, 0.45, 'answer:"yes"'],
      [0.45, 1, 'answer:"no"'],
    ]);
    assert.deepEqual(d.stable, { from: 0.31, to: 0.45 });
    assert.equal(d.summary, 'stable for 0.31–0.45; at < 0.31 → "no"; at ≥ 0.45 → "no"');
    assert.equal(rep.replays, 5, 'one replay per interval between candidate scores');
    assert.match(formatSensitivity(rep), /gd_detect #0 "mug" \(line 1\), threshold 0.35, 4 candidates: stable for 0.31–0.45/);
  });

  test('gd_detect: an interval needing a call the record lacks is unknown, and says which', async () => {
    const rec = await record('mugs = gd_detect(img_pth, "mug")\nfinal_answer = depth(img_pth, mugs[-1]["bbox"]) > 1.5', detectTools());
    // The last kept box is x1 = 60 → depth 1.6 > 1.5. Other thresholds keep other last boxes,
    // whose depth was never measured, except when nothing is kept (an IndexError).
    assert.equal(rec.final_answer, true);
    const d = (await sensitivity(rec, { runner })).detect[0]!;
    assert.deepEqual(d.intervals.map((i) => [i.from, i.to, i.outcome]), [
      [0, 0.2, null],
      [0.2, 0.31, null],
      [0.31, 0.45, 'answer:true'],
      [0.45, 0.9, null],
      [0.9, 1, 'error:IndexError'],
    ]);
    assert.deepEqual(d.intervals[0]!.missing, ['depth({"bbox":[160,10,200,50]})']);
    assert.deepEqual(d.intervals[3]!.missing, ['depth({"bbox":[10,10,50,50]})']);
    assert.match(d.summary, /^stable for 0.31–0.45; at < 0.20 → unknown; /);
  });

  test('eval flip share: answers that change within ±0.05 of the threshold', async () => {
    // Window 0.30–0.40 meets [0.2, 0.31) and [0.31, 0.45): 3 and 2 boxes kept.
    const flips = await record('mugs = gd_detect(img_pth, "mug")\nfinal_answer = len(mugs) == 2', detectTools()); // 3 kept → False: flips
    const holds = await record('mugs = gd_detect(img_pth, "mug")\nfinal_answer = len(mugs) >= 2', detectTools()); // 3 or 2 → True: holds
    const failed = await record('mugs = gd_detect(img_pth, "mug")\nfinal_answer = mugs[9]', detectTools());
    const share = await flipShare([flips, holds, failed], { runner, window: 0.05 });
    assert.deepEqual({ ...share, replays: undefined }, { window: 0.05, analysed: 2, flipped: 1, unknown: 0, share: 0.5, skipped: 1, replays: undefined });
    assert.equal(share.replays, 4, 'two intervals per analysed answer, no depth analysis');
  });

  test('depth: the smallest relative change that flips the answer, up and down', async () => {
    const tools = new ScriptedTools({ depth: (_i, b) => (b[0] < 100 ? 2.0 : 2.5) });
    const rec = await record(
      'a = gd_detect(img_pth, "a, b")\nfinal_answer = "yes" if depth(img_pth, a[0]["bbox"]) < depth(img_pth, a[1]["bbox"]) else "no"',
      tools,
    );
    assert.equal(rec.final_answer, 'yes');
    const rep = await sensitivity(rec, { runner });
    assert.equal(rep.detect.length, 0, 'no candidates recorded: nothing to vary');
    const [a, b] = rep.depth;
    // 2.0·(1+r) < 2.5 stops holding at r = 0.25; 2.5·(1−r) > 2.0 stops at r = 0.2.
    assert.ok(Math.abs(a!.up!.relative - 0.25) < 0.001, String(a!.up!.relative));
    assert.equal(a!.up!.outcome, 'answer:"no"');
    assert.equal(a!.down, null);
    assert.equal(b!.up, null);
    assert.ok(Math.abs(b!.down!.relative - 0.2) < 0.001, String(b!.down!.relative));
  });
});
