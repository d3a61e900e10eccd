/**
 * What the editor features need to know about a `.vprog` document (`DocLayout`: where its
 * header, `<plan>` and `<answer>` lines are, and how program lines map to document lines), built
 * from the core parser's result and cached per document version: every editor feature asks for
 * the layout on each refresh, and parsing a 5 MB document once per edit is enough. The pure
 * feature modules (scores, hover, diagnostics, code lenses) depend on the `DocLayout` shape only,
 * so they are tested without a parser or an editor.
 */
import type { FormatResult } from '../protocol/run.js';
import { parseVprog, programLineToDocumentLine, replyLineToDocumentLine, type VprogDocument } from '../core/vprog.js';
import { programPositionToReply } from '../core/replyLines.js';

export interface DocLayout {
  /** The header's fields; null when the header lacks them. */
  image: string | null;
  query: string | null;
  /** 0-based document line of the first header line; null without a header. */
  headerLine: number | null;
  imageLine: number | null;
  queryLine: number | null;
  /** 0-based document lines of the first `<plan>` / `<answer>` opening tags. */
  planLine: number | null;
  answerLine: number | null;
  /** The reply: the document after the header (what the model wrote). */
  reply: string;
  plan: string | null;
  program: string | null;
  format: FormatResult;
  /** Problems of the document itself (missing or empty header lines), 0-based lines. */
  problems: Array<{ line: number; column: number; severity: 'error' | 'warning' | 'info'; message: string; code: string }>;
  /** 0-based document line of reply line `n` (1-based). */
  replyLineToDocLine(n: number): number;
  /** 0-based document line of program line `n` (1-based); null outside the program. */
  programLineToDocLine(n: number): number | null;
  /** Program column (1-based) on program line `n` -> 0-based document column. */
  programColumnToDocColumn(n: number, column: number): number;
}

export interface TextSource {
  uri: { toString(): string };
  version: number;
  getText(): string;
}

export function layoutFromVprog(doc: VprogDocument): DocLayout {
  const header = doc.headerLines;
  const line0 = (n: number | null | undefined) => (n === null || n === undefined ? null : n - 1);
  return {
    image: doc.image ?? null,
    query: doc.query ?? null,
    headerLine: header.length > 0 ? Math.min(...header.map((h) => h.line)) - 1 : null,
    imageLine: line0(header.find((h) => h.key === 'image')?.line),
    queryLine: line0(header.find((h) => h.key === 'query')?.line),
    planLine: line0(doc.planLine),
    answerLine: line0(doc.answerLine),
    reply: doc.reply,
    plan: doc.parsed.plan,
    program: doc.parsed.program,
    format: doc.parsed.format,
    problems: doc.problems.map((p) => ({ line: p.line - 1, column: Math.max(0, p.column - 1), severity: p.severity, message: p.message, code: p.code })),
    replyLineToDocLine: (n) => replyLineToDocumentLine(doc, n) - 1,
    programLineToDocLine: (n) => line0(programLineToDocumentLine(doc, n)),
    programColumnToDocColumn: (n, column) => {
      const pos = programPositionToReply(doc.parsed, n, column);
      return pos ? pos.column - 1 : Math.max(0, column - 1);
    },
  };
}

/** Parses once per (document, version). */
export class LayoutCache {
  private readonly cache = new Map<string, { version: number; layout: DocLayout; vprog: VprogDocument }>();

  get(doc: TextSource): DocLayout {
    return this.entry(doc).layout;
  }

  vprog(doc: TextSource): VprogDocument {
    return this.entry(doc).vprog;
  }

  forget(uri: string): void {
    this.cache.delete(uri);
  }

  private entry(doc: TextSource) {
    const key = doc.uri.toString();
    const hit = this.cache.get(key);
    if (hit && hit.version === doc.version) return hit;
    const vprog = parseVprog(doc.getText());
    const e = { version: doc.version, layout: layoutFromVprog(vprog), vprog };
    this.cache.set(key, e);
    return e;
  }
}
