/**
 * Reading a model reply: the plan, the program and VALOR's format score (docs/valor.md §1, §3).
 *
 * Score: a block is an opening tag with the first matching closing tag after it (the same pairing
 * a non-greedy `<plan>(.*?)</plan>` search makes). Exactly one `<plan>` block and one `<answer>`
 * block: 1; either one repeated: 0.5; either one missing (or never closed): 0. Only the exact
 * lower-case tags count; look-alikes (`<Plan>`, `< answer >`) get a warning, not credit.
 *
 * The program is the first `<answer>` block's content with Markdown code fences removed, leading
 * blank lines and trailing whitespace dropped, and a common indentation removed (replyProgram.ts).
 * Lines are never added or removed inside it, so program line N is reply line
 * `programStartLine + N - 1` (replyLines.ts maps between the two), which is how tracebacks and
 * tool calls land on the right line of the document.
 *
 * `parseReply` never throws: it is the first thing that touches untrusted model output, and
 * every later step (rewards, the editor, records) relies on getting a result. Everything here is
 * linear in the reply's length (no backtracking regular expressions over the whole text).
 */
import type { FormatResult, TextDiagnostic } from '../protocol/run.js';
import { extractProgram, isBlank } from './replyProgram.js';

export interface ReplyPosition {
  /** 0-based UTF-16 offset into the reply. */
  offset: number;
  /** 1-based line. */
  line: number;
  /** 1-based column (UTF-16 code units). */
  column: number;
}

/** One complete `<tag>...</tag>` block. */
export interface ReplyBlock {
  /** Where the opening tag starts. */
  open: ReplyPosition;
  /** Where the closing tag starts. */
  close: ReplyPosition;
  /** Offsets of the content between the tags, [contentStart, contentEnd). */
  contentStart: number;
  contentEnd: number;
}

export interface ParsedReply {
  /** First plan block's content, trimmed; null when there is no complete `<plan>` block. */
  plan: string | null;
  /** The program to run; null when there is no complete `<answer>` block. May be '' (see diagnostics). */
  program: string | null;
  format: FormatResult;
  /** Complete blocks found per tag. */
  counts: { plan: number; answer: number };
  /** Every complete block, in order. The first of each is the one used. */
  planBlocks: ReplyBlock[];
  answerBlocks: ReplyBlock[];
  /** Reply line (1-based) holding program line 1; null without a program. */
  programStartLine: number | null;
  /** Reply column (1-based) where program line 1 starts. */
  programStartColumn: number | null;
  /** Characters of indentation removed from the start of every program line after the first line (and the first, when it starts a line). */
  programIndent: number;
  /** Whether a Markdown code fence was removed, and its info string (`python`). */
  fence: { language: string } | null;
  /** Lines in `program` (0 without a program or for an empty one). */
  programLineCount: number;
}

const TAG_RE = /<(\/?)[ \t]*(plan|answer)[ \t]*>/gi;
/** Repeated problems of one kind are reported this many times, then summarised. */
const MAX_OUTSIDE_DIAGNOSTICS = 3;

function lineStartsOf(text: string): number[] {
  const starts = [0];
  let i = text.indexOf('\n');
  while (i !== -1) {
    starts.push(i + 1);
    i = text.indexOf('\n', i + 1);
  }
  return starts;
}

function positionAt(starts: number[], offset: number): ReplyPosition {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((starts[mid] ?? 0) <= offset) lo = mid;
    else hi = mid - 1;
  }
  return { offset, line: lo + 1, column: offset - (starts[lo] ?? 0) + 1 };
}

/** VALOR's rule from block counts. */
export function formatScore(counts: { plan: number; answer: number }): 0 | 0.5 | 1 {
  if (counts.plan === 0 || counts.answer === 0) return 0;
  if (counts.plan > 1 || counts.answer > 1) return 0.5;
  return 1;
}

interface Token {
  name: 'plan' | 'answer';
  closing: boolean;
  start: number;
  end: number;
}

/** Removes `<think>...</think>` spans with indexOf (linear even for adversarial input). */
function stripThink(s: string): string {
  let out = '';
  let i = 0;
  while (i < s.length) {
    const a = s.indexOf('<think>', i);
    if (a === -1) break;
    const b = s.indexOf('</think>', a + 7);
    if (b === -1) break;
    out += s.slice(i, a);
    i = b + 8;
  }
  return out + s.slice(i);
}

function snippet(s: string): string {
  const one = s.trimStart().slice(0, 200).trim().replace(/\s+/g, ' ');
  return one.length > 40 ? `${one.slice(0, 40)}…` : one;
}

export function parseReply(text: string): ParsedReply {
  try {
    return parseReplyUnsafe(typeof text === 'string' ? text : String(text ?? ''));
  } catch (e) {
    // Defensive: a bug here must not take down a run; report it as a format failure.
    return {
      plan: null,
      program: null,
      format: { score: 0, diagnostics: [{ severity: 'error', message: `the reply could not be read (${String(e)}); this is a bug in VALOR Studio, please report it`, in: 'reply', code: 'internal' }] },
      counts: { plan: 0, answer: 0 },
      planBlocks: [],
      answerBlocks: [],
      programStartLine: null,
      programStartColumn: null,
      programIndent: 0,
      fence: null,
      programLineCount: 0,
    };
  }
}

function parseReplyUnsafe(text: string): ParsedReply {
  const starts = lineStartsOf(text);
  const pos = (o: number): ReplyPosition => positionAt(starts, o);
  const diags: TextDiagnostic[] = [];
  const diag = (severity: TextDiagnostic['severity'], code: string, message: string, at?: number): void => {
    const d: TextDiagnostic = { severity, message, in: 'reply', code };
    if (at !== undefined) {
      const p = pos(at);
      d.line = p.line;
      d.column = p.column;
    }
    diags.push(d);
  };
  const where = (o: number): string => {
    const p = pos(o);
    return `line ${p.line}, column ${p.column}`;
  };

  const tokens: Token[] = [];
  let lookalikes = 0;
  for (const m of text.matchAll(TAG_RE)) {
    const closing = m[1] === '/';
    const name = (m[2] ?? '').toLowerCase() as 'plan' | 'answer';
    const start = m.index ?? 0;
    const exact = `<${closing ? '/' : ''}${name}>`;
    if (m[0] !== exact) {
      if (lookalikes++ < MAX_OUTSIDE_DIAGNOSTICS) {
        diag('warning', 'tag-spelling', `"${m[0]}" at ${where(start)} is not counted as a VALOR tag: write it exactly as ${exact} (lower case, no spaces)`, start);
      }
      continue;
    }
    tokens.push({ name, closing, start, end: start + m[0].length });
  }

  const pair = (name: 'plan' | 'answer'): ReplyBlock[] => {
    const blocks: ReplyBlock[] = [];
    let open: Token | null = null;
    let nested = 0;
    let stray = 0;
    for (const t of tokens) {
      if (t.name !== name) continue;
      if (!t.closing) {
        if (open === null) open = t;
        else if (nested++ < MAX_OUTSIDE_DIAGNOSTICS) diag('warning', `nested-${name}`, `<${name}> at ${where(t.start)} opens while the <${name}> at ${where(open.start)} is still open: close the first block with </${name}> before starting another`, t.start);
        continue;
      }
      if (open === null) {
        if (stray++ < MAX_OUTSIDE_DIAGNOSTICS) diag('warning', `stray-close-${name}`, `</${name}> at ${where(t.start)} closes nothing: there is no <${name}> open before it`, t.start);
        continue;
      }
      blocks.push({ open: pos(open.start), close: pos(t.start), contentStart: open.end, contentEnd: t.start });
      open = null;
    }
    if (nested > MAX_OUTSIDE_DIAGNOSTICS) diag('warning', `nested-${name}`, `${nested - MAX_OUTSIDE_DIAGNOSTICS} more <${name}> tags open inside an unclosed <${name}>`);
    if (stray > MAX_OUTSIDE_DIAGNOSTICS) diag('warning', `stray-close-${name}`, `${stray - MAX_OUTSIDE_DIAGNOSTICS} more </${name}> tags close nothing`);
    if (open !== null) {
      diag('error', `unclosed-${name}`, `<${name}> at ${where(open.start)} is never closed: add </${name}> after the ${name === 'plan' ? 'plan' : 'program'}${name === 'answer' ? ' (a reply cut off by the token limit ends like this)' : ''}`, open.start);
    }
    return blocks;
  };
  const planBlocks = pair('plan');
  const answerBlocks = pair('answer');
  const counts = { plan: planBlocks.length, answer: answerBlocks.length };
  const score = formatScore(counts);

  const describe = (name: 'plan' | 'answer'): string =>
    name === 'plan' ? 'the numbered plan inside <plan>...</plan>' : 'the Python program inside <answer>...</answer>';
  for (const name of ['plan', 'answer'] as const) {
    const blocks = name === 'plan' ? planBlocks : answerBlocks;
    if (blocks.length === 0 && !diags.some((d) => d.code === `unclosed-${name}`)) {
      diag('error', `missing-${name}`, `the reply has no <${name}> block: a VALOR reply holds ${describe(name)}${name === 'answer' ? ', after the plan' : ', before the program'}`);
    }
    if (blocks.length > 1) {
      const second = blocks[1]!;
      diag('warning', `repeated-${name}`, `the reply has ${blocks.length} <${name}> blocks (the next one at ${where(second.open.offset)}); VALOR expects exactly one, so the format score is 0.5. The first one is used`, second.open.offset);
    }
  }

  const plan0 = planBlocks[0];
  const answer0 = answerBlocks[0];
  if (plan0 && answer0) {
    if (answer0.open.offset < plan0.open.offset) {
      diag('warning', 'order', `the <answer> block (${where(answer0.open.offset)}) comes before the <plan> block (${where(plan0.open.offset)}): write the plan first, then the program that follows it`, answer0.open.offset);
    }
    const overlaps = plan0.open.offset < answer0.contentEnd && answer0.open.offset < plan0.contentEnd;
    if (overlaps) {
      diag('warning', 'overlap', `the <plan> and <answer> blocks overlap (one opens inside the other): close </plan> before <answer>`, Math.max(plan0.open.offset, answer0.open.offset));
    }
  }

  // Text outside every complete block.
  const covered = [...planBlocks, ...answerBlocks]
    .map((b) => [b.open.offset, b.contentEnd + (text.startsWith('</plan>', b.contentEnd) ? 7 : 9)] as [number, number])
    .sort((a, b) => a[0] - b[0]);
  let cursor = 0;
  const gaps: Array<[number, number]> = [];
  for (const [s, e] of covered) {
    if (s > cursor) gaps.push([cursor, s]);
    cursor = Math.max(cursor, e);
  }
  if (cursor < text.length) gaps.push([cursor, text.length]);
  let outsideCount = 0;
  for (const [s, e] of gaps) {
    const region = text.slice(s, e);
    if (isBlank(region)) continue;
    const firstNonWs = s + (region.length - region.trimStart().length);
    const withoutThink = stripThink(region);
    if (withoutThink.length !== region.length && isBlank(withoutThink)) {
      diag('info', 'think-block', `a <think> block at ${where(firstNonWs)} is outside the tags and ignored`, firstNonWs);
      continue;
    }
    if (covered.length === 0) break; // the missing-tag errors already say everything
    if (outsideCount++ < MAX_OUTSIDE_DIAGNOSTICS) {
      diag('warning', 'outside-text', `text outside the <plan> and <answer> blocks at ${where(firstNonWs)} is ignored ("${snippet(region)}"): keep everything inside the two blocks`, firstNonWs);
    }
  }
  if (outsideCount > MAX_OUTSIDE_DIAGNOSTICS) {
    diag('warning', 'outside-text', `${outsideCount - MAX_OUTSIDE_DIAGNOSTICS} more stretches of text outside the blocks are ignored`);
  }

  let plan: string | null = null;
  if (plan0) {
    plan = text.slice(plan0.contentStart, plan0.contentEnd).trim();
    if (plan.length === 0) diag('warning', 'empty-plan', `the <plan> block at ${where(plan0.open.offset)} is empty: write numbered steps that say how the tools answer the question`, plan0.open.offset);
  }

  let program: string | null = null;
  let programStartLine: number | null = null;
  let programStartColumn: number | null = null;
  let programIndent = 0;
  let fence: { language: string } | null = null;
  let exLines = 0;
  if (answer0) {
    const ex = extractProgram(text, answer0.contentStart, answer0.contentEnd);
    fence = ex.fence;
    for (const w of ex.warnings) diag('warning', w.code, w.message.replace('%AT%', where(w.at)), w.at);
    program = ex.program;
    programIndent = ex.indent;
    if (program.length === 0) {
      diag('error', 'empty-program', `the <answer> block at ${where(answer0.open.offset)} holds no program: put the Python code that sets final_answer inside it`, answer0.open.offset);
    } else {
      const p = pos(ex.start);
      programStartLine = p.line;
      programStartColumn = p.column;
      exLines = ex.lineCount;
    }
  }

  return {
    plan,
    program,
    format: { score, diagnostics: diags },
    counts,
    planBlocks,
    answerBlocks,
    programStartLine,
    programStartColumn,
    programIndent,
    fence,
    programLineCount: exLines,
  };
}
