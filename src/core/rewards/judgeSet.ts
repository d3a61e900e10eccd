/**
 * Judge sets: which prompts the four language-model judges get.
 *
 * - `ours` (the default): our rubrics (./rubrics.ts), JSON-schema output where the endpoint takes
 *   it, strict parsing (./verdictParse.ts).
 * - `reference`: prompt files laid out like VALOR's `valor/prompts/` (the user's own copy; we do
 *   not ship that text): `spatial_reward.txt`, `attribute_reward.txt`, `logic_reward.txt` and
 *   `code_prompt.txt` (adherence), each a Python `str.format` template with three positional
 *   fields, plus `api_prompt.txt` (the tool API text, inserted as it is). Filling, as VALOR's
 *   reference code does (docs/valor.md says what was verified):
 *       spatial / attribute / logic:  template.format(query, plan, api)
 *       adherence (code_prompt.txt):  template.format(plan, program, api)
 *   The filled text is the one user message; no system message, plain-text output (no JSON
 *   schema). The reply holds the score inside `<answer>` tags, optionally after an explanation.
 *
 * Our rules stay where the reference's are wrong: a reply whose `<answer>` is missing or not 0/1
 * is re-asked once and then an error (never a silent 0), transport failures are retried by the
 * chat client, verdicts are cached by the exact request, and degenerate plans/programs are 0 by
 * rule without a call.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ChatMessage } from '../chat.js';
import { sha256Hex } from '../contentHash.js';
import { fieldsUsed, fillPyFormat, parsePyFormat, TemplateError } from './pyFormat.js';
import type { JudgeMaterial, JudgeReward } from './rubrics.js';

/** The template file of each judge in a VALOR-shaped prompts folder. */
export const REFERENCE_TEMPLATE_FILES: Readonly<Record<JudgeReward, string>> = Object.freeze({
  spatial: 'spatial_reward.txt',
  attribute: 'attribute_reward.txt',
  logic: 'logic_reward.txt',
  adherence: 'code_prompt.txt',
});
export const REFERENCE_API_FILE = 'api_prompt.txt';

/** What each template's three positional fields receive, in order. */
export const REFERENCE_ARGUMENTS: Readonly<Record<JudgeReward, readonly [string, string, string]>> = Object.freeze({
  spatial: ['query', 'plan', 'api'],
  attribute: ['query', 'plan', 'api'],
  logic: ['query', 'plan', 'api'],
  adherence: ['plan', 'program', 'api'],
});

export class JudgeSetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JudgeSetError';
  }
}

export interface ReferenceJudgeSet {
  kind: 'reference';
  /** Absolute path of the prompts folder. */
  dir: string;
  api: string;
  templates: Record<JudgeReward, ReturnType<typeof parsePyFormat>>;
  /** sha256 over the five files' bytes (names included), to tell sets apart in records. */
  sha256: string;
}

/** What records and score output carry about the judge set. */
export interface JudgeSetRef {
  kind: 'ours' | 'reference';
  dir?: string;
  sha256?: string;
}

export const OURS: JudgeSetRef = Object.freeze({ kind: 'ours' });

export function judgeSetRef(set: ReferenceJudgeSet | undefined): JudgeSetRef {
  return set ? { kind: 'reference', dir: set.dir, sha256: set.sha256 } : OURS;
}

export function describeJudgeSet(ref: JudgeSetRef): string {
  return ref.kind === 'ours' ? 'ours (built-in rubrics)' : `reference prompts from ${ref.dir} (sha256 ${ref.sha256?.slice(0, 12)})`;
}

async function readPromptFile(dir: string, name: string, role: string): Promise<string> {
  const path = join(dir, name);
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new JudgeSetError(
      code === 'ENOENT'
        ? `${path} is missing: a reference judge folder (laid out like VALOR's valor/prompts/) needs ${Object.values(REFERENCE_TEMPLATE_FILES).join(', ')} and ${REFERENCE_API_FILE}; it is ${role}`
        : `cannot read ${path}: ${(err as Error).message}`,
    );
  }
}

/** Loads and checks a VALOR-shaped prompts folder; errors name the file and what it must hold. */
export async function loadReferenceJudgeSet(dir: string, cwd = process.cwd()): Promise<ReferenceJudgeSet> {
  const abs = resolve(cwd, dir);
  const api = await readPromptFile(abs, REFERENCE_API_FILE, 'the tool API text given to every judge');
  if (api.trim() === '') throw new JudgeSetError(`${join(abs, REFERENCE_API_FILE)} is empty: it must hold the tool API text the judges read`);
  const hash = sha256Hex(`${REFERENCE_API_FILE}\u0000${api}`);
  const h: string[] = [hash];
  const templates = {} as ReferenceJudgeSet['templates'];
  for (const reward of Object.keys(REFERENCE_TEMPLATE_FILES) as JudgeReward[]) {
    const name = REFERENCE_TEMPLATE_FILES[reward];
    const path = join(abs, name);
    const args = REFERENCE_ARGUMENTS[reward];
    const expect = `3 positional placeholders ({} {} {} or {0} {1} {2}) filled with (${args.join(', ')})`;
    const text = await readPromptFile(abs, name, `the ${reward} judge's template, which must hold ${expect}`);
    let pieces;
    try {
      pieces = parsePyFormat(text, path);
    } catch (err) {
      if (err instanceof TemplateError) throw new JudgeSetError(`${err.message}; expected ${expect}`);
      throw err;
    }
    const used = fieldsUsed(pieces).sort((a, b) => a - b);
    if (used.length !== 3 || used.some((v, i) => v !== i)) {
      throw new JudgeSetError(
        `${path} has ${used.length === 0 ? 'no placeholders' : `placeholders for argument${used.length === 1 ? '' : 's'} ${used.map((i) => `{${i}}`).join(' ')}`}; expected ${expect}`,
      );
    }
    templates[reward] = pieces;
    h.push(sha256Hex(`${name}\u0000${text}`));
  }
  return { kind: 'reference', dir: abs, api, templates, sha256: sha256Hex(h.join('\n')) };
}

/** The one user message of a reference judge, filled exactly as the reference fills it. */
export function referenceJudgeMessages(set: ReferenceJudgeSet, reward: JudgeReward, m: JudgeMaterial): ChatMessage[] {
  const values: Record<string, string> = { query: m.query, plan: m.plan, program: m.program, api: set.api };
  const args = REFERENCE_ARGUMENTS[reward].map((k) => values[k] ?? '');
  const content = fillPyFormat(set.templates[reward], args, join(set.dir, REFERENCE_TEMPLATE_FILES[reward]));
  return [{ role: 'user', content }];
}

/** The re-ask after an unusable reference reply (our rule; the reference has none). */
export function referenceCorrection(problem: string): string {
  return `Your reply could not be used: ${problem}. Judge the same material again and end your reply with the score, 0 or 1, inside <answer></answer> tags.`;
}

export type ReferenceVerdict = { ok: true; score: 0 | 1; rationale: string } | { ok: false; problem: string };

/**
 * Reads a reference judge's reply: the score is what the `<answer>` tags hold, the text before
 * them is the rationale. `<think>` blocks are ignored. Where the reference turns anything it
 * cannot read into 0, we return a problem instead: no `<answer>` tag, an empty one, a value other
 * than 0 or 1 (`1.0` and `0.0` are read as 1 and 0), or several tags that disagree.
 */
export function parseReferenceReply(reply: string): ReferenceVerdict {
  const text = reply.replace(/<think>[\s\S]*?<\/think>/gi, '').replace(/^[\s\S]*?<\/think>/i, '').trim();
  if (text === '') return { ok: false, problem: 'the reply was empty' };
  const tags = [...text.matchAll(/<answer>([\s\S]*?)<\/answer>/gi)].map((m) => (m[1] ?? '').trim());
  if (tags.length === 0) return { ok: false, problem: 'the reply has no <answer>...</answer> tags holding the score' };
  const values = tags.map((t) => (/^[01](\.0+)?$/.test(t) ? Number(t) : NaN));
  const badIndex = values.findIndex((v) => Number.isNaN(v));
  if (badIndex >= 0) return { ok: false, problem: `the <answer> tags held ${JSON.stringify(tags[badIndex])}; they must hold 0 or 1` };
  if (new Set(values).size > 1) return { ok: false, problem: 'the reply has several <answer> tags that disagree; give exactly one score' };
  const rationale = text.slice(0, text.search(/<answer>/i)).trim();
  return { ok: true, score: values[0] === 1 ? 1 : 0, rationale };
}
