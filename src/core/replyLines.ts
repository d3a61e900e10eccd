/**
 * Where a program's lines and columns sit in the reply they came from, and back: program line N is
 * reply line `programStartLine + N - 1` (reply.ts never adds or removes lines inside the program),
 * which is how tracebacks, tool calls and judges' cited lines land on the right line of the
 * document.
 */
import type { ParsedReply } from './reply.js';

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
