/**
 * Judged items on disk for the review queue's tests and bench: an eval output folder
 * (`summary.json` + `runs/*.json`, the layout `valor eval --score` writes) with N scored run
 * records, each a distinct reply (so each has its own audit subject), two detections on a
 * shared scene image, and judge verdicts drawn from a seeded generator.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { recordName, recordRelPath } from '../../src/core/eval/records.js';
import { writeRunRecord } from '../../src/core/runStore.js';
import { RunRecord, type RewardName, type Verdict } from '../../src/protocol/run.js';
import { rng } from './rng.js';

export const REVIEW_REWARDS: RewardName[] = ['format', 'syntax', 'spatial', 'attribute', 'logic', 'adherence'];

export interface ReviewFixtureOptions {
  /** Probability that a judge verdict is a pass. Default 0.7. */
  passRate?: number;
  seed?: number;
  /** Item indices whose adherence judge failed. */
  judgeErrorsAt?: number[];
  /** Path of the image every record points at (written by the caller). */
  imagePath: string;
  imageSize?: { width: number; height: number };
}

export function reviewRecord(i: number, values: Record<RewardName, number | null>, o: ReviewFixtureOptions): RunRecord {
  const verdicts: Verdict[] = REVIEW_REWARDS.map((r) => {
    const v = values[r];
    return {
      reward: r,
      state: v === null ? 'error' : v >= 1 ? 'pass' : 'fail',
      value: v,
      rationale: v === null ? '' : `${r} judge on item ${i}: ${v >= 1 ? 'the plan handles it' : 'a step is missing'}`,
      judge: r === 'format' ? 'parser' : r === 'syntax' ? 'runner' : 'judge-m',
      ...(v === null ? { error: 'the adherence judge timed out' } : {}),
    };
  });
  const program = `dets = gd_detect(img_pth, "mug, laptop")\nfinal_answer = "yes" if dets else "no"  # item ${i}`;
  const size = o.imageSize ?? { width: 800, height: 600 };
  return RunRecord.parse({
    version: 1,
    id: `q${i}`,
    created: '2026-01-02T03:04:05.000Z',
    query: `Is the mug to the left of the laptop? (item ${i})`,
    image: { path: o.imagePath, sha256: 'b'.repeat(64), width: size.width, height: size.height },
    generator: null,
    tools: { url: 'http://127.0.0.1:9' },
    reply: `<plan>\n1. Detect the mug and the laptop (item ${i}).\n2. Compare x centres.\n</plan>\n<answer>\n${program}\n</answer>`,
    plan: `1. Detect the mug and the laptop (item ${i}).\n2. Compare x centres.`,
    program,
    format: { score: 1, diagnostics: [] },
    trace: [
      {
        index: 0,
        tool: 'gd_detect',
        line: 1,
        variable: 'dets',
        args: { img_pth: o.imagePath, prompt: 'mug, laptop' },
        result: [
          { bbox: [100, 100, 220, 260], label: 'mug', score: 0.61 },
          { bbox: [480, 300, 740, 520], label: 'laptop', score: 0.55 },
        ],
        ms: 10,
      },
    ],
    final_answer: 'yes',
    error: null,
    timings: { total_ms: 100 },
    rewards: { verdicts, total: null, incomplete: true, weights: { logic: 0.3, syntax: 0.1, attribute: 0.2, spatial: 0.2, adherence: 0.2 } },
  });
}

/** Writes an eval output folder of `n` judged items; returns the judge values per item. */
export async function writeReviewEval(dir: string, n: number, o: ReviewFixtureOptions): Promise<Array<Record<RewardName, number | null>>> {
  const rand = rng(o.seed ?? 7);
  const pass = o.passRate ?? 0.7;
  const runs = join(dir, 'runs');
  await mkdir(runs, { recursive: true });
  const all: Array<Record<RewardName, number | null>> = [];
  const results: unknown[] = [];
  for (let i = 0; i < n; i++) {
    const values = Object.fromEntries(REVIEW_REWARDS.map((r) => [r, r === 'format' ? 1 : rand() < pass ? 1 : 0])) as Record<RewardName, number | null>;
    if (o.judgeErrorsAt?.includes(i)) values.adherence = null;
    all.push(values);
    const rec = reviewRecord(i, values, o);
    await writeRunRecord(runs, { ...rec, id: recordName(rec.id) });
    const rel = recordRelPath(rec.id);
    results.push({ id: rec.id, line: i + 1, type: 'yesno', question: rec.query, image: o.imagePath, record: rel, rewards: { total: null, values } });
  }
  await writeFile(join(dir, 'summary.json'), `${JSON.stringify({ results })}\n`);
  return all;
}
