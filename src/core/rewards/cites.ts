/**
 * What a judge's verdict rests on: the plan steps and program lines it cites (issue #15,
 * "Verdicts that point"). Our judges are asked for them (./rubrics.ts); this file reads them out
 * of a reply, keeps only numbers that exist in the material judged, and locates them in a reply.
 *
 * Numbering, as the judges are told:
 *   - plan steps: the plan's numbered items (`1.`, `2)`, `Step 3:`), counted from 1 in the order
 *     they appear; a line that starts no item belongs to the item above it. A plan without any
 *     numbered item has one step per non-empty line.
 *   - program lines: the lines of the program text (the `<answer>` body, fences removed), from 1;
 *     the adherence judge sees them numbered (`programWithLineNumbers`).
 *
 * Cites are auxiliary: a malformed `cites` never makes a verdict unusable. Entries that are not
 * whole numbers are ignored, numbers outside the plan or program are dropped, the rest are
 * de-duplicated and sorted.
 */
import { parseReply } from '../reply.js';

export interface Cites {
  plan_steps: number[];
  program_lines: number[];
}

/** What a reply said before bounding: possibly out of range, unsorted, repeated. */
export type RawCites = Cites;

export interface PlanStep {
  /** 1-based step number (order of appearance). */
  step: number;
  /** 1-based first and last line of the step in the plan text. */
  startLine: number;
  endLine: number;
}

const STEP_START = /^\s*(?:step\s*)?\d{1,3}\s*[.):](?=\s|$)/i;

/** The plan's steps (see the header for the rule). */
export function planSteps(plan: string | null | undefined): PlanStep[] {
  if (!plan) return [];
  const lines = plan.split('\n');
  const starts = lines.map((l, i) => (STEP_START.test(l) ? i : -1)).filter((i) => i >= 0);
  if (starts.length === 0) {
    const out: PlanStep[] = [];
    lines.forEach((l, i) => {
      if (l.trim() !== '') out.push({ step: out.length + 1, startLine: i + 1, endLine: i + 1 });
    });
    return out;
  }
  return starts.map((s, k) => {
    let end = (starts[k + 1] ?? lines.length) - 1;
    while (end > s && (lines[end] ?? '').trim() === '') end--;
    return { step: k + 1, startLine: s + 1, endLine: end + 1 };
  });
}

/** The program as the adherence judge sees it: each line after its number and `| `. */
export function programWithLineNumbers(program: string): string {
  const lines = program.replace(/\s+$/, '').split('\n');
  const width = String(lines.length).length;
  return lines.map((l, i) => `${String(i + 1).padStart(width)}| ${l}`.trimEnd()).join('\n');
}

const MAX_CITES = 200;

function wholeNumbers(v: unknown): number[] {
  if (!Array.isArray(v)) return [];
  return v.filter((x): x is number => typeof x === 'number' && Number.isInteger(x)).slice(0, MAX_CITES);
}

/** Cites from a JSON verdict's `cites` value; undefined when it is absent or not an object. */
export function citesFromJson(v: unknown): RawCites | undefined {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  return { plan_steps: wholeNumbers(o.plan_steps), program_lines: wholeNumbers(o.program_lines) };
}

function numbersIn(text: string): number[] {
  const out: number[] = [];
  for (const m of text.matchAll(/(\d{1,6})(?:\s*[-–]\s*(\d{1,6}))?/g)) {
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    for (let n = a; n <= Math.min(b, a + MAX_CITES); n++) {
      out.push(n);
      if (out.length >= MAX_CITES) return out;
    }
  }
  return out;
}

/**
 * Cites from a tagged reply's last `<cites>` block (`<cites>plan: 2, 3; program: 5, 7-9</cites>`,
 * either part optional); undefined when there is none.
 */
export function citesFromTags(text: string): RawCites | undefined {
  const blocks = [...text.matchAll(/<cites>([\s\S]*?)<\/cites>/gi)];
  const body = blocks.at(-1)?.[1];
  if (body === undefined) return undefined;
  const cites: RawCites = { plan_steps: [], program_lines: [] };
  for (const part of body.split(/[;\n]/)) {
    const m = /^\s*(plan|program)\b[^\d]*(.*)$/i.exec(part);
    if (!m) continue;
    const nums = numbersIn(m[2] ?? '');
    if ((m[1] ?? '').toLowerCase() === 'plan') cites.plan_steps.push(...nums);
    else cites.program_lines.push(...nums);
  }
  return cites;
}

/** Text with `<cites>` blocks removed (so they do not end up in the rationale). */
export function withoutCites(text: string): string {
  return text.replace(/<cites>[\s\S]*?<\/cites>/gi, '');
}

function bounded(ns: readonly number[], max: number): number[] {
  return [...new Set(ns.filter((n) => n >= 1 && n <= max))].sort((a, b) => a - b);
}

/** The material's size: how many plan steps and program lines there are to cite. */
export function citeBounds(material: { plan: string; program: string }): { planSteps: number; programLines: number } {
  const program = material.program.replace(/\s+$/, '');
  return { planSteps: planSteps(material.plan).length, programLines: program === '' ? 0 : program.split('\n').length };
}

/** Keeps the cites that exist in the material, de-duplicated and sorted. */
export function boundCites(raw: RawCites, bounds: { planSteps: number; programLines: number }): Cites {
  return { plan_steps: bounded(raw.plan_steps, bounds.planSteps), program_lines: bounded(raw.program_lines, bounds.programLines) };
}

/** Reply lines (1-based) of each plan step's first line, by step number, for the reply's first `<plan>` block. */
export function planStepReplyLines(reply: string): Map<number, number> {
  const parsed = parseReply(reply);
  const block = parsed.planBlocks[0];
  const out = new Map<number, number>();
  if (!block || parsed.plan === null) return out;
  // The plan is the block's content trimmed: its line 1 is the line of the first non-blank character.
  const content = reply.slice(block.contentStart, block.contentEnd);
  const lead = content.length - content.trimStart().length;
  const before = reply.slice(0, block.contentStart + lead);
  let firstLine = 1;
  for (let i = before.indexOf('\n'); i !== -1; i = before.indexOf('\n', i + 1)) firstLine++;
  for (const s of planSteps(parsed.plan)) out.set(s.step, firstLine + s.startLine - 1);
  return out;
}

/** "plan steps 2, 3; program lines 5, 7" (program lines through `line`, e.g. to document lines). */
export function describeCites(c: Cites, line: (programLine: number) => string = String): string {
  const parts: string[] = [];
  if (c.plan_steps.length > 0) parts.push(`plan step${c.plan_steps.length === 1 ? '' : 's'} ${c.plan_steps.join(', ')}`);
  if (c.program_lines.length > 0) parts.push(`program line${c.program_lines.length === 1 ? '' : 's'} ${c.program_lines.map(line).join(', ')}`);
  return parts.join('; ');
}
