/**
 * Reading a model reply: the plan, the program and VALOR's format score (docs/valor.md §1, §3).
 *
 * Score: a block is an opening tag with the first matching closing tag after it (the same pairing
 * a non-greedy `<plan>(.*?)</plan>` search makes). Exactly one `<plan>` block and one `<answer>`
 * block: 1; either one repeated: 0.5; either one missing (or never closed): 0. Only the exact
 * lower-case tags count; look-alikes (`<Plan>`, `< answer >`) get a warning, not credit.
 *
 * The program is the first `<answer>` block's content with Markdown code fences removed, leading
 * blank lines and trailing whitespace dropped, and a common indentation removed. Lines are never
 * added or removed inside it, so program line N is reply line `programStartLine + N - 1`
 * (see `programLineToReplyLine`), which is how tracebacks and tool calls land on the right line
 * of the document.
 *
 * `parseReply` never throws: it is the first thing that touches untrusted model output, and
 * every later step (rewards, the editor, records) relies on getting a result. Everything here is
 * linear in the reply's length (no backtracking regular expressions over the whole text).
 */
import type { FormatResult, TextDiagnostic } from '../protocol/run.js';

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

function isBlank(s: string): boolean {
  return s.trim().length === 0;
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

interface Extracted {
  program: string;
  lineCount: number;
  /** Offset in the reply where program line 1 starts. */
  start: number;
  indent: number;
  fence: { language: string } | null;
  warnings: Array<{ code: string; message: string; at: number }>;
}

const FENCE_OPEN_RE = /^[ \t]*```[ \t]*([\w+.#-]*)[ \t]*\r?$/;
const FENCE_CLOSE_RE = /^[ \t]*```[ \t]*\r?$/;

/** Lines of text[from, to) with their start offsets (no newline characters). */
function linesIn(text: string, from: number, to: number): Array<{ start: number; text: string }> {
  const out: Array<{ start: number; text: string }> = [];
  let s = from;
  while (s <= to) {
    let e = text.indexOf('\n', s);
    if (e === -1 || e > to) e = to;
    out.push({ start: s, text: text.slice(s, e) });
    if (e >= to) break;
    s = e + 1;
  }
  return out;
}

function extractProgram(text: string, from: number, to: number): Extracted {
  const warnings: Extracted['warnings'] = [];
  let lines = linesIn(text, from, to);
  let fence: Extracted['fence'] = null;

  const openIdx = lines.findIndex((l) => FENCE_OPEN_RE.test(l.text));
  if (openIdx !== -1) {
    const opener = lines[openIdx]!;
    fence = { language: FENCE_OPEN_RE.exec(opener.text)?.[1] ?? '' };
    let closeIdx = -1;
    for (let i = openIdx + 1; i < lines.length; i++) {
      if (FENCE_CLOSE_RE.test(lines[i]!.text)) {
        closeIdx = i;
        break;
      }
    }
    const before = lines.slice(0, openIdx).map((l) => l.text).join('\n');
    if (!isBlank(before)) {
      const at = lines.find((l) => !isBlank(l.text))?.start ?? from;
      warnings.push({ code: 'fence-text', at, message: `text before the code fence inside <answer> (%AT%) is ignored: put only the program inside <answer>` });
    }
    if (closeIdx === -1) {
      warnings.push({ code: 'fence-unclosed', at: opener.start, message: 'the code fence opened at %AT% is never closed with ```: the rest of <answer> is taken as the program' });
      lines = lines.slice(openIdx + 1);
    } else {
      const after = lines.slice(closeIdx + 1);
      const stray = after.find((l) => !isBlank(l.text));
      if (stray) {
        const more = after.some((l) => FENCE_OPEN_RE.test(l.text));
        warnings.push({
          code: more ? 'fence-multiple' : 'fence-text',
          at: stray.start + (stray.text.length - stray.text.trimStart().length),
          message: more
            ? 'a second code block inside <answer> (%AT%) is ignored: put the whole program in one block'
            : 'text after the code fence inside <answer> (%AT%) is ignored: put only the program inside <answer>',
        });
      }
      lines = lines.slice(openIdx + 1, closeIdx);
    }
  } else if (lines.length > 0) {
    // Same-line fence ("<answer>```python x = 1```"): rare, but handle it rather than run backticks.
    const first = lines[0]!;
    const m = /^[ \t]*```([\w+.#-]*)[ \t]?/.exec(first.text);
    if (m) {
      fence = { language: m[1] ?? '' };
      lines[0] = { start: first.start + m[0].length, text: first.text.slice(m[0].length) };
      const li = lines.length - 1;
      const last = lines[li]!;
      const ci = last.text.lastIndexOf('```');
      if (ci !== -1 && isBlank(last.text.slice(ci + 3))) lines[li] = { start: last.start, text: last.text.slice(0, ci) };
    }
  }

  // Drop leading blank lines and trailing blank lines / whitespace.
  while (lines.length > 0 && isBlank(lines[0]!.text)) lines.shift();
  while (lines.length > 0 && isBlank(lines[lines.length - 1]!.text)) lines.pop();
  if (lines.length === 0) return { program: '', lineCount: 0, start: to, indent: 0, fence, warnings };

  const firstMidLine = lines[0]!.start > 0 && text[lines[0]!.start - 1] !== '\n';
  if (firstMidLine) {
    // Program begins on the tag's own line: skip the spaces after the tag, never dedent.
    const f = lines[0]!;
    const lead = f.text.length - f.text.trimStart().length;
    lines[0] = { start: f.start + lead, text: f.text.slice(lead) };
  }
  let indent = '';
  if (!firstMidLine) {
    let common: string | null = null;
    for (const l of lines) {
      if (isBlank(l.text)) continue;
      const ws = /^[ \t]*/.exec(l.text)?.[0] ?? '';
      if (common === null) common = ws;
      else {
        let k = 0;
        while (k < common.length && k < ws.length && common[k] === ws[k]) k++;
        common = common.slice(0, k);
      }
      if (common.length === 0) break;
    }
    indent = common ?? '';
  }
  const out = lines.map((l) => {
    let t = l.text.endsWith('\r') ? l.text.slice(0, -1) : l.text;
    if (indent.length > 0) t = t.startsWith(indent) ? t.slice(indent.length) : t.trimStart();
    return t;
  });
  out[out.length - 1] = out[out.length - 1]!.trimEnd();
  return { program: out.join('\n'), lineCount: out.length, start: lines[0]!.start + indent.length, indent: indent.length, fence, warnings };
}

/** Reply line (1-based) of program line `programLine` (1-based); null when out of range or no program. */
export function programLineToReplyLine(parsed: Pick<ParsedReply, 'programStartLine' | 'programLineCount'>, programLine: number): number | null {
  if (parsed.programStartLine === null || !Number.isInteger(programLine)) return null;
  if (programLine < 1 || programLine > parsed.programLineCount) return null;
  return parsed.programStartLine + programLine - 1;
}

/** Program line (1-based) shown on reply line `replyLine`; null when that line is not part of the program. */
export function replyLineToProgramLine(parsed: Pick<ParsedReply, 'programStartLine' | 'programLineCount'>, replyLine: number): number | null {
  if (parsed.programStartLine === null || !Number.isInteger(replyLine)) return null;
  const n = replyLine - parsed.programStartLine + 1;
  return n >= 1 && n <= parsed.programLineCount ? n : null;
}

/** Reply position of a program position (both 1-based), accounting for removed indentation. */
export function programPositionToReply(
  parsed: Pick<ParsedReply, 'programStartLine' | 'programLineCount' | 'programStartColumn' | 'programIndent'>,
  programLine: number,
  programColumn: number,
): { line: number; column: number } | null {
  const line = programLineToReplyLine(parsed, programLine);
  if (line === null || parsed.programStartColumn === null) return null;
  const column = programLine === 1 ? parsed.programStartColumn + programColumn - 1 : parsed.programIndent + programColumn;
  return { line, column };
}

/** Alias kept for callers that think in offsets: how many reply lines precede program line 1. */
export function programLineOffset(parsed: Pick<ParsedReply, 'programStartLine'>): number | null {
  return parsed.programStartLine === null ? null : parsed.programStartLine - 1;
}
