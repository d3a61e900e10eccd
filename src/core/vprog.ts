/**
 * The `.vprog` document (docs/architecture.md "The .vprog document"): a few `# key: value` header lines naming the image and the
 * question, a blank line, then the model's reply in VALOR's format.
 *
 *     # image: images/kitchen.jpg
 *     # query: Is the red mug to the left of the laptop?
 *
 *     <plan>
 *     ...
 *
 * Parsing is tolerant (BOM, CRLF or lone CR, leading blank lines, unknown header keys kept, `#`
 * comment lines without a key ignored) and reports problems with the line to fix instead of
 * failing. Everything is in document lines (1-based) so the extension can place CodeLens, inline
 * scores and diagnostics directly, and the reply is kept with its own line numbers mapped
 * through `replyStartLine` (the reply is the document's tail with line endings normalised to
 * `\n`, so reply line N is document line `replyStartLine + N - 1`).
 */
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseReply, type ParsedReply } from './reply.js';
import { programLineToReplyLine, replyLineToProgramLine } from './replyLines.js';

/** A problem located in the document (1-based line and column). Same shape as TextDiagnostic, positioned in the document. */
export interface VprogProblem {
  severity: 'error' | 'warning' | 'info';
  message: string;
  line: number;
  column: number;
  code: string;
}

export interface VprogHeaderLine {
  /** Key as written, lower-cased (`image`, `query`, ...). */
  key: string;
  value: string;
  /** 1-based document line. */
  line: number;
  /** 1-based column where the value starts (for edits and hovers). */
  valueColumn: number;
}

export interface VprogDocument {
  image?: string;
  query?: string;
  /** Every `# key: value` header, first occurrence of each key (keys lower-cased). */
  headers: Record<string, string>;
  headerLines: VprogHeaderLine[];
  /** The reply body (line endings normalised to `\n`, one final newline removed). */
  reply: string;
  /** Document line (1-based) of reply line 1. */
  replyStartLine: number;
  problems: VprogProblem[];
  /** The reply parsed (format score, plan, program, reply-relative positions). */
  parsed: ParsedReply;
  /** Document line of the first `<plan>` / `<answer>` opening tag (where scores go), when present. */
  planLine: number | null;
  answerLine: number | null;
  /** Line ending the document used most (kept when editing). */
  eol: '\n' | '\r\n';
  bom: boolean;
}

const HEADER_RE = /^#[ \t]*([A-Za-z][\w-]*)[ \t]*:[ \t]?(.*)$/;

/** Normalises \r\n and lone \r to \n; reports the dominant line ending. */
function normaliseEol(text: string): { normalised: string; eol: '\n' | '\r\n' } {
  let crlf = 0;
  let lf = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) {
    if (i > 0 && text.charCodeAt(i - 1) === 13) crlf++;
    else lf++;
  }
  const normalised = text.includes('\r') ? text.replace(/\r\n?/g, '\n') : text;
  return { normalised, eol: crlf > lf ? '\r\n' : '\n' };
}

export function parseVprog(input: string): VprogDocument {
  let text = typeof input === 'string' ? input : String(input ?? '');
  const bom = text.charCodeAt(0) === 0xfeff;
  if (bom) text = text.slice(1);
  const { normalised, eol } = normaliseEol(text);
  const problems: VprogProblem[] = [];
  const headers: Record<string, string> = {};
  const headerLines: VprogHeaderLine[] = [];

  // Walk the header line by line with offsets only: a large body is never split into lines here.
  let lineNo = 1;
  let off = 0;
  const lineAt = (o: number): string => {
    const e = normalised.indexOf('\n', o);
    return normalised.slice(o, e === -1 ? normalised.length : e);
  };
  const next = (o: number): number => {
    const e = normalised.indexOf('\n', o);
    return e === -1 ? normalised.length + 1 : e + 1;
  };
  while (off < normalised.length && lineAt(off).trim() === '') {
    off = next(off);
    lineNo++;
  }
  const headerStartLine = lineNo;
  for (; off < normalised.length; off = next(off), lineNo++) {
    const raw = lineAt(off);
    if (!raw.startsWith('#')) break;
    const m = HEADER_RE.exec(raw);
    if (!m) continue; // a plain comment line in the header: allowed, ignored
    const key = (m[1] ?? '').toLowerCase();
    const rawValue = m[2] ?? '';
    const value = rawValue.trim();
    const valueColumn = raw.length - rawValue.length + (rawValue.length - rawValue.trimStart().length) + 1;
    if (key in headers) {
      problems.push({ severity: 'warning', code: 'duplicate-header', line: lineNo, column: 1, message: `'# ${key}:' is given twice; the first one (line ${headerLines.find((h) => h.key === key)?.line}) is used: delete one` });
      continue;
    }
    headers[key] = value;
    headerLines.push({ key, value, line: lineNo, valueColumn });
    if (value === '' && (key === 'image' || key === 'query')) {
      problems.push({ severity: 'error', code: `empty-${key}`, line: lineNo, column: 1, message: key === 'image' ? `'# image:' is empty: write the image path after it (relative to this file's folder)` : `'# query:' is empty: write the question after it, on the same line` });
    }
  }
  // One blank separator line belongs to the header.
  if (lineNo > headerStartLine && off < normalised.length && lineAt(off).trim() === '') {
    off = next(off);
    lineNo++;
  }
  const replyStartLine = lineNo;
  let reply = off >= normalised.length ? '' : normalised.slice(off);
  if (reply.endsWith('\n')) reply = reply.slice(0, -1);

  const top = headerStartLine;

  const image = headers.image || undefined;
  const query = headers.query || undefined;
  if (!('image' in headers)) {
    problems.push({ severity: 'error', code: 'missing-image', line: top, column: 1, message: `the document has no '# image: <path>' line: add one at the top naming the image (a path relative to this file, or absolute)` });
  }
  if (!('query' in headers)) {
    problems.push({ severity: 'error', code: 'missing-query', line: top, column: 1, message: `the document has no '# query: <question>' line: add one at the top with the question, on one line` });
  }
  // Header-looking lines after the body started are probably misplaced headers.
  const misplaced = reply.slice(0, 4000).split('\n').slice(0, 50).findIndex((l) => /^#[ \t]*(image|query)[ \t]*:/i.test(l));
  if (misplaced !== -1 && !(image && query)) {
    const ln = replyStartLine + misplaced;
    problems.push({ severity: 'warning', code: 'misplaced-header', line: ln, column: 1, message: `line ${ln} looks like a header but comes after the body started: move the '# image:' / '# query:' lines to the top, before the first blank line` });
  }

  const parsed = parseReply(reply);
  const toDoc = (replyLine: number): number => replyStartLine + replyLine - 1;
  return {
    image,
    query,
    headers,
    headerLines,
    reply,
    replyStartLine,
    problems,
    parsed,
    planLine: parsed.planBlocks[0] ? toDoc(parsed.planBlocks[0].open.line) : null,
    answerLine: parsed.answerBlocks[0] ? toDoc(parsed.answerBlocks[0].open.line) : null,
    eol,
    bom,
  };
}

/** Keeps a header value on one line. */
function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ').trim();
}

/** The document text for an image, a question and a reply; `headers` adds other `# key: value` lines after them. */
export function serializeVprog(doc: { image: string; query: string; reply: string; headers?: Record<string, string>; eol?: '\n' | '\r\n' }): string {
  const lines = [`# image: ${oneLine(doc.image)}`, `# query: ${oneLine(doc.query)}`];
  for (const [k, v] of Object.entries(doc.headers ?? {})) {
    const key = k.toLowerCase();
    if (key === 'image' || key === 'query' || !/^[A-Za-z][\w-]*$/.test(k)) continue;
    lines.push(`# ${key}: ${oneLine(v)}`);
  }
  const body = `${lines.join('\n')}\n\n${doc.reply}\n`;
  return doc.eol === '\r\n' ? body.replace(/\r?\n/g, '\r\n') : body;
}

/** Document line of reply line `replyLine` (both 1-based). */
export function replyLineToDocumentLine(doc: Pick<VprogDocument, 'replyStartLine'>, replyLine: number): number {
  return doc.replyStartLine + replyLine - 1;
}

/** Document line (1-based) of program line `programLine`; null when the document has no such program line. */
export function programLineToDocumentLine(doc: Pick<VprogDocument, 'replyStartLine' | 'parsed'>, programLine: number): number | null {
  const r = programLineToReplyLine(doc.parsed, programLine);
  return r === null ? null : replyLineToDocumentLine(doc, r);
}

/** Program line shown on document line `documentLine`; null outside the program. */
export function documentLineToProgramLine(doc: Pick<VprogDocument, 'replyStartLine' | 'parsed'>, documentLine: number): number | null {
  return replyLineToProgramLine(doc.parsed, documentLine - doc.replyStartLine + 1);
}

/** The header line for `key` (e.g. to put the format score on `# image:`), if present. */
export function headerLine(doc: Pick<VprogDocument, 'headerLines'>, key: string): VprogHeaderLine | undefined {
  const k = key.toLowerCase();
  return doc.headerLines.find((h) => h.key === k);
}

/**
 * The image's absolute path: `image` as written in the document, relative to the document's
 * folder unless absolute; `~/` means the home folder; `file://` URLs are accepted.
 */
export type VprogHeaderKey = 'image' | 'query';

const HEADER_SHAPES: Record<VprogHeaderKey, string> = { image: "'# image: <path>'", query: "'# query: <question>'" };

/** The header lines of `need` that `doc` lacks (an empty one counts as missing), image first. */
export function missingHeaders(doc: Pick<VprogDocument, 'image' | 'query'>, need: readonly VprogHeaderKey[]): VprogHeaderKey[] {
  return (['image', 'query'] as const).filter((k) => need.includes(k) && !doc[k]);
}

/**
 * The one input check every front end makes before a job that needs the header: null when
 * nothing is missing, else "`name` has no '# image: <path>' and '# query: <question>' line"
 * (each front end adds the advice that fits it).
 */
export function missingHeadersMessage(name: string, doc: Pick<VprogDocument, 'image' | 'query'>, need: readonly VprogHeaderKey[]): string | null {
  const missing = missingHeaders(doc, need);
  return missing.length === 0 ? null : `${name} has no ${missing.map((k) => HEADER_SHAPES[k]).join(' and ')} line`;
}

export function resolveImagePath(docPath: string, image: string): string {
  const img = image.trim();
  if (img.startsWith('file://')) return fileURLToPath(img);
  if (img === '~' || img.startsWith('~/')) return join(homedir(), img.slice(1));
  if (isAbsolute(img)) return resolve(img);
  return resolve(dirname(resolve(docPath)), img);
}

/** The document text with the reply replaced and the header (and line endings, BOM) kept. */
export function replaceVprogReply(text: string, reply: string): string {
  const doc = parseVprog(text);
  const { normalised } = normaliseEol(doc.bom ? text.slice(1) : text);
  const head: string[] = [];
  for (let o = 0; head.length < doc.replyStartLine - 1 && o <= normalised.length; ) {
    const e = normalised.indexOf('\n', o);
    head.push(normalised.slice(o, e === -1 ? normalised.length : e));
    if (e === -1) break;
    o = e + 1;
  }
  if (head.length > 0 && (head[head.length - 1] ?? '').trim() !== '') head.push('');
  let out = `${head.join('\n')}${head.length > 0 ? '\n' : ''}${reply}\n`;
  if (doc.eol === '\r\n') out = out.replace(/\r?\n/g, '\r\n');
  return (doc.bom ? '\ufeff' : '') + out;
}
