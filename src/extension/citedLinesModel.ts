/**
 * Which `.vprog` lines a failing verdict points at (issue #15, "Verdicts that point"), without an
 * editor: each failing judge's cited plan steps (the step's first line) and program lines, mapped
 * to document lines, with the hover text for each marked line.
 *
 * Cites are located in the reply the verdicts were made for (program lines through the reply
 * parser's program-to-reply mapping, plan steps through src/core/rewards/cites.ts), then placed
 * through the current layout. Edits clear what no longer applies: a mark stays only while every
 * reply line up to and including its own is unchanged (so it is still the same text at the same
 * place); editing the cited line, or anything above it, removes it until the next scoring.
 * A verdict a person overrode is not marked: the cites were the machine's reasons.
 */
import { planStepReplyLines } from '../core/rewards/cites.js';
import { parseReply } from '../core/reply.js';
import { programLineToReplyLine } from '../core/replyLines.js';
import type { RewardSet } from '../protocol/run.js';
import type { DocLayout } from './vprogLayout.js';

export interface CitedLineMark {
  /** 0-based document line. */
  line: number;
  /** One entry per failing verdict that cites this line. */
  cites: Array<{ reward: string; what: string; rationale: string }>;
}

/** What the marks are computed from: the shown reward set and the reply it was made for. */
export interface CitedScores {
  set: RewardSet;
  reply: string;
}

/** Number of leading lines two texts share. */
function sharedLeadingLines(a: string, b: string): number {
  if (a === b) return Number.POSITIVE_INFINITY;
  const x = a.split('\n');
  const y = b.split('\n');
  let n = 0;
  while (n < x.length && n < y.length && x[n] === y[n]) n++;
  return n;
}

export function citedLineMarks(layout: DocLayout, scores: CitedScores | undefined): CitedLineMark[] {
  if (!scores) return [];
  const failing = scores.set.verdicts.filter((v) => v.state === 'fail' && v.cites && !scores.set.overridden?.[v.reward]);
  if (failing.length === 0) return [];
  const recorded = scores.reply;
  const parsed = parseReply(recorded);
  const stepLines = planStepReplyLines(recorded);
  const unchanged = sharedLeadingLines(recorded, layout.reply);
  const byLine = new Map<number, CitedLineMark>();
  const mark = (replyLine: number | null | undefined, reward: string, what: string, rationale: string) => {
    if (replyLine === null || replyLine === undefined || replyLine > unchanged) return;
    const line = layout.replyLineToDocLine(replyLine);
    let m = byLine.get(line);
    if (!m) byLine.set(line, (m = { line, cites: [] }));
    m.cites.push({ reward, what, rationale });
  };
  for (const v of failing) {
    for (const step of v.cites!.plan_steps) mark(stepLines.get(step), v.reward, `plan step ${step}`, v.rationale);
    for (const n of v.cites!.program_lines) mark(programLineToReplyLine(parsed, n), v.reward, `program line ${n}`, v.rationale);
  }
  return [...byLine.values()].sort((a, b) => a.line - b.line);
}

function clip(s: string, max: number): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max)}…` : one;
}

/** The hover of a marked line, as plain text (judge output is untrusted: never Markdown). */
export function citedLineHover(mark: CitedLineMark): string {
  return mark.cites.map((c) => `${c.reward} judge: fail — cites this line (${c.what})${c.rationale ? `\n  ${clip(c.rationale, 300)}` : ''}`).join('\n');
}
