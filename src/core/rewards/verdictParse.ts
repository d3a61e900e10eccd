/**
 * Reading a judge's verdict out of its reply, strictly.
 *
 * Two shapes are accepted, whichever mode the request was sent in (a model asked for JSON
 * sometimes answers with tags and the reverse):
 *   - a JSON object `{"rationale": string, "score": 0 | 1}`, bare, in a code fence, or embedded
 *     in prose (the outermost braces are tried);
 *   - a rationale in prose followed by `<answer>0</answer>` or `<answer>1</answer>`.
 *
 * Decisions (documented in docs/training.md too):
 *   - Extra JSON keys are tolerated (some servers add `confidence` or similar) but reported in
 *     `extraKeys`; `rationale` and `score` are both required.
 *   - `score` must be the number 0 or 1. `2`, `0.5`, `"1"`, `true` are problems, not guesses.
 *   - Several `<answer>` tags must all agree; a disagreement is a problem.
 *   - `<think>...</think>` blocks (reasoning models) are ignored.
 *   - What the verdict rests on (./cites.ts), when given: the JSON `cites` object, or a
 *     `<cites>plan: 2; program: 5</cites>` block before the `<answer>` tag. Optional in both shapes
 *     and never a problem: a malformed one is ignored. Returned raw; judge.ts bounds it.
 * A problem is returned as text the re-ask message quotes back to the model.
 */

import { citesFromJson, citesFromTags, withoutCites, type RawCites } from './cites.js';

export type ParsedVerdict =
  | { ok: true; score: 0 | 1; rationale: string; extraKeys: string[]; shape: 'json' | 'tagged'; cites?: RawCites }
  | { ok: false; problem: string };

function stripThinking(text: string): string {
  return text.replace(/<think>[\s\S]*?<\/think>/gi, '').replace(/^[\s\S]*?<\/think>/i, '');
}

function jsonCandidates(text: string): string[] {
  const out: string[] = [text];
  const fence = /```(?:json)?\s*([\s\S]*?)```/gi;
  for (let m = fence.exec(text); m; m = fence.exec(text)) if (m[1]) out.push(m[1]);
  const first = text.indexOf('{');
  const last = text.lastIndexOf('}');
  if (first >= 0 && last > first) out.push(text.slice(first, last + 1));
  return out;
}

function describe(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

function fromObject(obj: Record<string, unknown>): ParsedVerdict {
  if (!('score' in obj)) return { ok: false, problem: 'the JSON object has no "score" key' };
  const score = obj.score;
  if (typeof score !== 'number' || (score !== 0 && score !== 1)) {
    return { ok: false, problem: `"score" was ${describe(score)}; it must be the number 0 or 1` };
  }
  if (typeof obj.rationale !== 'string') {
    return { ok: false, problem: '"rationale" is missing or not a string; give a short rationale as a string' };
  }
  const extraKeys = Object.keys(obj).filter((k) => k !== 'score' && k !== 'rationale' && k !== 'cites');
  const cites = citesFromJson(obj.cites);
  return { ok: true, score, rationale: obj.rationale.trim(), extraKeys, shape: 'json', ...(cites ? { cites } : {}) };
}

export function parseJudgeReply(reply: string): ParsedVerdict {
  const text = stripThinking(reply).trim();
  if (text.length === 0) return { ok: false, problem: 'the reply was empty' };

  let jsonProblem: string | undefined;
  for (const candidate of jsonCandidates(text)) {
    let value: unknown;
    try {
      value = JSON.parse(candidate.trim());
    } catch {
      continue;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) continue;
    const parsed = fromObject(value as Record<string, unknown>);
    if (parsed.ok) return parsed;
    jsonProblem ??= parsed.problem;
  }

  const tags = [...text.matchAll(/<answer>\s*([\s\S]*?)\s*<\/answer>/gi)].map((m) => (m[1] ?? '').trim());
  if (tags.length > 0) {
    const bad = tags.find((t) => t !== '0' && t !== '1');
    if (bad !== undefined) return { ok: false, problem: `the <answer> tag held ${JSON.stringify(bad)}; it must hold 0 or 1` };
    if (new Set(tags).size > 1) return { ok: false, problem: 'the reply has several <answer> tags that disagree; give exactly one verdict' };
    const before = text.slice(0, text.search(/<answer>/i));
    const rationale = withoutCites(before).replace(/<\/?rationale>/gi, '').trim();
    const cites = citesFromTags(before);
    return { ok: true, score: tags[0] === '1' ? 1 : 0, rationale, extraKeys: [], shape: 'tagged', ...(cites ? { cites } : {}) };
  }
  if (jsonProblem) return { ok: false, problem: jsonProblem };
  return {
    ok: false,
    problem: 'no verdict was found: expected a JSON object {"rationale": ..., "score": 0 or 1}, or <answer>0</answer> / <answer>1</answer> at the end',
  };
}
