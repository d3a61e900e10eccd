/**
 * What the editor features need to know about a `.vprog` document: where its header, `<plan>`
 * and `<answer>` lines are, and how program lines map to document lines. Built from the core
 * parser's result by documentLayout.ts; the pure feature modules (scores, hover, diagnostics,
 * code lenses) depend on this shape only, so they are tested without a parser or an editor.
 */
import type { FormatResult } from '../protocol/run.js';

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
