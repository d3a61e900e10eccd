/**
 * A small benchmark for `valor eval` tests: images drawn with sharp, a JSONL file with questions
 * of every answer type (and two unreadable lines), a tool-server scene, and a generator handler
 * that answers each question with a program whose answer is known. The expected metrics are
 * worked out by hand in EXPECTED below (not computed by the code under test).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import type { SceneObject } from './protocolToolServer.js';
import { lastUserText, type RecordedRequest, type Reply } from './openaiServer.js';
import type { EvalSummary } from '../../src/core/eval/summary.js';

export interface BenchQuestion {
  id: string;
  /** What goes into the JSONL line (field names vary on purpose). */
  line: Record<string, unknown>;
  /** The reply the generator sends for this question; undefined: never asked (bad image). */
  reply?: string;
}

const OPTIONS = ['red mug', 'blue mug', 'green mug'];

const answer = (plan: string, program: string): string => `<plan>\n${plan}\n</plan>\n<answer>\n\`\`\`python\n${program}\n\`\`\`\n</answer>`;
const constant = (expr: string): string => answer('1. Answer directly.', `final_answer = ${expr}`);

/** The text an HTML report must escape: it comes from the model. */
export const HOSTILE_PLAN = '1. <script>alert("pwned")</script> & look';
export const HOSTILE_ERROR = '<b>bold</b> & co';

export const QUESTIONS: BenchQuestion[] = [
  { id: 'yn-1', line: { id: 'yn-1', question: 'Is it red? [yn-1]', image: 'red.png', answer: 'Yes', answer_type: 'yes/no' }, reply: answer('1. Ask vqa.', 'final_answer = vqa(img_pth, None, "yes or no: is it red?")') },
  { id: 'yn-2', line: { question_id: 'yn-2', query: 'Is it blue? [yn-2]', image_path: 'red.png', gt: 'no', type: 'yes/no' }, reply: constant('""') },
  { id: 'yn-3', line: { idx: 'yn-3', problem: 'Is one more than two? [yn-3]', img: 'blue.png', ground_truth: false }, reply: constant('1 > 2') },
  { id: 'mc-1', line: { id: 'mc-1', question: 'Which mug? [mc-1]', image: 'red.png', answer: 'B', answer_type: 'multiple choice', options: OPTIONS }, reply: constant('"(b)"') },
  { id: 'mc-2', line: { id: 'mc-2', question: 'Which mug now? [mc-2]', image: 'red.png', answer: 'red mug', answer_type: 'option', choices: OPTIONS }, reply: constant('"Blue mug."') },
  { id: 'mc-3', line: { id: 'mc-3', question: 'Which mug then? [mc-3]', image: 'blue.png', label: '(C)', category: 'Multi-choice spatial', options: OPTIONS }, reply: constant('"green mug"') },
  { id: 'cnt-1', line: { id: 'cnt-1', question: 'How many mugs? [cnt-1]', image: 'red.png', answer: 2, answer_type: 'count' }, reply: answer('1. Detect mugs.\n2. Count them.', 'dets = gd_detect(img_pth, "mug")\nfinal_answer = len(dets)') },
  { id: 'cnt-2', line: { id: 'cnt-2', question: 'How many cups? [cnt-2]', image: 'red.png', answer: 3, answer_type: 'count' }, reply: constant('None') },
  { id: 'cnt-3', line: { id: 'cnt-3', question: 'How many plates? [cnt-3]', image: 'blue.png', answer: '3', answer_type: 'int' }, reply: constant('"three"') },
  { id: 'cnt-4', line: { id: 'cnt-4', question: 'How many forks? [cnt-4]', image: 'blue.png', answer: 2, answer_type: 'count' }, reply: answer('1. Divide.', 'x = 0\nfinal_answer = 1 / x') },
  { id: 'flt-1', line: { id: 'flt-1', question: 'How tall? [flt-1]', image: 'red.png', answer: 4, answer_type: 'float' }, reply: constant('5.8') },
  { id: 'flt-2', line: { id: 'flt-2', question: 'How far apart? [flt-2]', image: 'red.png', answer: 0, answer_type: 'float' }, reply: constant('0.0') },
  { id: 'flt-3', line: { id: 'flt-3', question: 'How far apart now? [flt-3]', image: 'red.png', answer: 0.0, answer_type: 'float' }, reply: constant('0.5') },
  { id: 'flt-4', line: { id: 'flt-4', question: 'How deep is the box? [flt-4]', image: 'red.png', answer: 10, answer_type: 'float' }, reply: answer('1. Detect the box.\n2. Read its depth.', 'b = gd_detect(img_pth, "box")[0]["bbox"]\nfinal_answer = depth(img_pth, b)') },
  { id: 'flt-5', line: { id: 'flt-5', question: 'How wide? [flt-5]', image: 'red.png', answer: '2.5', answer_type: 'float' }, reply: constant('"nan"') },
  { id: 'txt-1', line: { id: 'txt-1', question: 'What colour? [txt-1]', image: 'red.png', answer: 'red', answer_type: 'str' }, reply: 'I cannot write a program for this.' },
  { id: 'img-1', line: { id: 'img-1', question: 'Is it there? [img-1]', image: 'missing.png', answer: 'yes', answer_type: 'yes/no' } },
  {
    id: 'esc-1',
    line: { id: 'esc-1', question: 'Is <it> & "that" there? [esc-1]', image: 'blue.png', answer: 'yes', answer_type: 'yes/no' },
    reply: answer(HOSTILE_PLAN, `raise ValueError("${HOSTILE_ERROR}")`),
  },
];

/** Lines that cannot be read, and where they go in the file (1-based line numbers). */
export const BAD_LINES = [
  { after: 3, text: 'this is not json' },
  { after: 9, text: JSON.stringify({ id: 'no-answer', question: 'q?', image: 'red.png' }) },
];

/** Hand-computed from the table above. */
export const EXPECTED = {
  selected: 18,
  correct: 7,
  failed: 4,
  invalid: 3,
  by_type: {
    yesno: { n: 5, correct: 2, score: 0.4 },
    option: { n: 3, correct: 2, score: 0.666666666667 },
    count: { n: 4, correct: 2, score: 0.5 },
    float: { n: 5, correct: 1, score: 0.4 },
    text: { n: 1, correct: 0, score: 0 },
  },
  overall: 0.444444444444,
  macro: 0.393333333333,
  by_kind: { program: 2, no_program: 1, image: 1 },
  program_types: { ValueError: 1, ZeroDivisionError: 1 },
  scores: {
    'yn-1': 1, 'yn-2': 0, 'yn-3': 1, 'mc-1': 1, 'mc-2': 0, 'mc-3': 1, 'cnt-1': 1, 'cnt-2': 0, 'cnt-3': 1, 'cnt-4': 0,
    'flt-1': 0.1, 'flt-2': 1, 'flt-3': 0, 'flt-4': 0.9, 'flt-5': 0, 'txt-1': 0, 'img-1': 0, 'esc-1': 0,
  } as Record<string, number>,
};

/** Objects the protocol tool server reports: two mugs and a box 10.5 m away. */
export const SCENE: SceneObject[] = [
  { label: 'mug', bbox: [4, 4, 20, 20], score: 0.9, depth: 2 },
  { label: 'mug', bbox: [30, 4, 46, 20], score: 0.8, depth: 3 },
  { label: 'box', bbox: [6, 28, 26, 44], score: 0.9, depth: 10.5 },
];

export const vqaAnswer = (prompt: string): string => (prompt.includes('yes or no') ? 'yes' : 'unknown');

/** Writes the images and the JSONL file into `dir`; returns the file's path. */
export async function writeBenchmark(dir: string, questions: BenchQuestion[] = QUESTIONS, badLines = BAD_LINES): Promise<string> {
  await mkdir(dir, { recursive: true });
  await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 220, g: 30, b: 30 } } }).png().toFile(join(dir, 'red.png'));
  await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 30, g: 30, b: 220 } } }).png().toFile(join(dir, 'blue.png'));
  const lines: string[] = [];
  questions.forEach((q, i) => {
    lines.push(JSON.stringify(q.line));
    for (const b of badLines) if (b.after === i + 1) lines.push(b.text);
  });
  const file = join(dir, 'bench.jsonl');
  await writeFile(file, `${lines.join('\n')}\n`);
  return file;
}

/** Generator handler: finds the `[id]` marker in the question and sends that question's reply. */
export function benchHandler(questions: BenchQuestion[] = QUESTIONS, delayMs = 0): (req: RecordedRequest) => Reply {
  const byId = new Map(questions.map((q) => [q.id, q.reply]));
  return (req) => {
    const m = /\[([a-z]+-\d+)\]/.exec(lastUserText(req));
    const reply = m ? byId.get(m[1] as string) : undefined;
    const r: Reply = reply === undefined ? { status: 400, body: { error: { message: `unknown question in ${lastUserText(req).slice(-80)}` } } } : { text: reply };
    return delayMs > 0 ? { delayMs, then: r } : r;
  };
}

/** `n` simple questions for load tests: each answered with one vqa call. */
export function manyQuestions(n: number): BenchQuestion[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `q-${i}`,
    line: { id: `q-${i}`, question: `Is it red? [q-${i}]`, image: i % 2 ? 'red.png' : 'blue.png', answer: i % 3 ? 'yes' : 'no', answer_type: 'yes/no' },
    reply: answer('1. Ask vqa.', 'final_answer = vqa(img_pth, None, "yes or no: is it red?")'),
  }));
}

/** The parts of a summary that must not depend on concurrency, resume or sharding. */
export function comparable(s: EvalSummary): unknown {
  return {
    complete: s.complete,
    input: s.input,
    counts: s.counts,
    metrics: s.metrics,
    errors: s.errors,
    rewards: s.rewards,
    results: s.results.map(({ record: _r, ms: _m, ...rest }) => rest),
  };
}
