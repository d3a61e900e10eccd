/**
 * A small benchmark for `valor eval --repair` tests: four questions over the eval-bench scene,
 * from two benchmarks. `rep-2` raises NameError and its repair (the program with the name
 * fixed) answers 2, the ground truth; `rep-4` divides by zero and every repair of it divides by
 * zero again; `rep-1` is right and `rep-3` is wrong without failing, so neither is repaired.
 * Hand-worked figures in REPAIR_EXPECTED.
 */
import type { BenchQuestion } from './evalBench.js';
import type { RecordedRequest, Reply } from './openaiServer.js';

const answer = (plan: string, program: string): string => `<plan>\n${plan}\n</plan>\n<answer>\n\`\`\`python\n${program}\n\`\`\`\n</answer>`;

export const BROKEN_COUNT = answer('1. Detect the mugs.\n2. Count them.', 'dets = gd_detect(img_pth, "mug")\nfinal_answer = len(det)');
export const FIXED_COUNT = answer('1. Detect the mugs.\n2. Count them.', 'dets = gd_detect(img_pth, "mug")\nfinal_answer = len(dets)');
export const ALWAYS_BROKEN = answer('1. Divide.', 'x = 0\nfinal_answer = 1 / x');

export const REPAIR_QUESTIONS: BenchQuestion[] = [
  { id: 'rep-1', line: { id: 'rep-1', question: 'Is it red? [rep-1]', image: 'red.png', answer: 'yes', answer_type: 'yes/no', benchmark: 'alpha' }, reply: answer('1. Ask vqa.', 'final_answer = vqa(img_pth, None, "yes or no: is it red?")') },
  { id: 'rep-2', line: { id: 'rep-2', question: 'How many mugs? [rep-2]', image: 'red.png', answer: 2, answer_type: 'count', benchmark: 'beta' }, reply: BROKEN_COUNT },
  { id: 'rep-3', line: { id: 'rep-3', question: 'How many forks? [rep-3]', image: 'blue.png', answer: 2, answer_type: 'count', benchmark: 'beta' }, reply: answer('1. Guess.', 'final_answer = 3') },
  { id: 'rep-4', line: { id: 'rep-4', question: 'How many plates? [rep-4]', image: 'blue.png', answer: 1, answer_type: 'count', benchmark: 'alpha' }, reply: ALWAYS_BROKEN },
];

/** What the repair of each question answers (the same for every repair of it). */
const REPAIRS: Record<string, string> = { 'rep-2': FIXED_COUNT, 'rep-4': ALWAYS_BROKEN };

/** Whether a request is a repair request: the generation conversation continued past the reply. */
export function isRepairRequest(req: RecordedRequest): boolean {
  const msgs = (req.json?.messages ?? []) as Array<{ role: string }>;
  return msgs.some((m) => m.role === 'assistant');
}

/** The generator: the question's reply, or for a repair request its repair. */
export function repairBenchHandler(): (req: RecordedRequest) => Reply {
  const byId = new Map(REPAIR_QUESTIONS.map((q) => [q.id, q.reply]));
  return (req) => {
    const first = String(((req.json?.messages ?? []) as Array<{ content: string }>)[0]?.content ?? '');
    const id = /\[(rep-\d+)\]/.exec(first)?.[1];
    const reply = id ? (isRepairRequest(req) ? REPAIRS[id] : byId.get(id)) : undefined;
    return reply === undefined ? { status: 400, body: { error: { message: `no scripted reply for ${id ?? 'this request'}` } } } : { text: reply };
  };
}

/**
 * Hand-worked: without repair rep-1 is right (1), rep-2 and rep-4 fail (0), rep-3 is wrong (0):
 * 1/4. With --repair 2, rep-2 passes after one repair and answers 2 (1); rep-4 is repaired twice
 * in vain: 2/4. Per benchmark: alpha (rep-1, rep-4) 1/2 → 1/2; beta (rep-2, rep-3) 0/2 → 1/2.
 */
export const REPAIR_EXPECTED = {
  without: 0.25,
  with: 0.5,
  needed: 2,
  repaired: 1,
  attempts: 3,
  by_benchmark: { alpha: { n: 2, without: 0.5, with: 0.5, repaired: 0 }, beta: { n: 2, without: 0, with: 0.5, repaired: 1 } },
};
