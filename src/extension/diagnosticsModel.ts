/**
 * Problems of a `.vprog` document as plain data, located on document lines: format problems of
 * the reply (live, from the parser), the syntax reward's failure, and the last run's runtime
 * error, both on the program line they concern. diagnostics.ts turns them into VS Code
 * Diagnostics.
 *
 * Run and score results are shown only while the program they came from is still the one in
 * the document: after an edit their line numbers would point at the wrong code.
 */
import type { ProgramError, RewardSet, TextDiagnostic } from '../protocol/run.js';
import type { DocLayout } from './vprogLayout.js';

export interface DocProblem {
  /** 0-based document line and columns. */
  line: number;
  startColumn: number;
  /** Exclusive; null = to the end of the line. */
  endColumn: number | null;
  severity: 'error' | 'warning' | 'info';
  message: string;
  code: string;
  source: 'valor';
}

function fromText(layout: DocLayout, d: TextDiagnostic): DocProblem {
  let line = layout.headerLine ?? 0;
  let col = 0;
  if (d.line !== undefined) {
    if (d.in === 'program') {
      line = layout.programLineToDocLine(d.line) ?? layout.answerLine ?? line;
      col = d.column !== undefined ? layout.programColumnToDocColumn(d.line, d.column) : 0;
    } else {
      line = layout.replyLineToDocLine(d.line);
      col = d.column !== undefined ? d.column - 1 : 0;
    }
  }
  return { line, startColumn: Math.max(0, col), endColumn: null, severity: d.severity, message: d.message, code: d.code ?? 'format', source: 'valor' };
}

function errorProblem(layout: DocLayout, err: ProgramError): DocProblem {
  const where = err.line !== null ? layout.programLineToDocLine(err.line) : null;
  const line = where ?? layout.answerLine ?? layout.headerLine ?? 0;
  const located = where !== null ? '' : err.line !== null ? ` (program line ${err.line})` : '';
  return {
    line,
    startColumn: 0,
    endColumn: null,
    severity: 'error',
    message: `${err.type}: ${err.message}${located} [last run]`,
    code: 'runtime',
    source: 'valor',
  };
}

export interface ProblemInputs {
  layout: DocLayout;
  /** The last run of this document, when its program is known. */
  run?: { program: string | null; error: ProgramError | null } | null;
  /** The last scores, with the program they were computed for. */
  rewards?: { program: string | null; set: RewardSet } | null;
  /** Header problems found by the caller (missing image file, not an image). */
  header?: Array<{ line: number; message: string; severity: 'error' | 'warning' }>;
}

export function documentProblems(inp: ProblemInputs): DocProblem[] {
  const { layout } = inp;
  const out: DocProblem[] = [];
  for (const p of layout.problems) {
    out.push({ line: p.line, startColumn: p.column, endColumn: null, severity: p.severity, message: p.message, code: p.code, source: 'valor' });
  }
  for (const h of inp.header ?? []) out.push({ line: h.line, startColumn: 0, endColumn: null, severity: h.severity, message: h.message, code: 'header', source: 'valor' });
  for (const d of layout.format.diagnostics) out.push(fromText(layout, d));

  const current = layout.program;
  if (inp.run && inp.run.error && inp.run.program === current && inp.run.error.type !== 'NoProgram') {
    out.push(errorProblem(layout, inp.run.error));
  }
  if (inp.rewards && inp.rewards.program === current) {
    const syntax = inp.rewards.set.verdicts.find((v) => v.reward === 'syntax');
    if (syntax && syntax.state === 'fail' && !inp.rewards.set.overridden?.syntax) {
      const line = typeof syntax.line === 'number' ? layout.programLineToDocLine(syntax.line) : null;
      out.push({
        line: line ?? layout.answerLine ?? layout.headerLine ?? 0,
        startColumn: 0,
        endColumn: null,
        severity: 'warning',
        message: `Syntax reward 0: ${syntax.rationale}`,
        code: 'syntax-reward',
        source: 'valor',
      });
    }
  }
  return out;
}
