/**
 * DocLayout from the core `.vprog` parser, cached per document version: every editor feature
 * asks for the layout on each refresh, and parsing a 5 MB document once per edit is enough.
 */
import { parseVprog, programLineToDocumentLine, replyLineToDocumentLine, type VprogDocument } from '../core/vprog.js';
import { programPositionToReply } from '../core/reply.js';
import type { DocLayout } from './layout.js';

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
