/**
 * A line diff (Myers' O(ND) shortest edit script) between an old and a new program, for showing a
 * proposed repair as a diff a person accepts or rejects. The common prefix and suffix are taken
 * off first; only the middle is searched, and a middle whose edit distance passes `MAX_EDITS`
 * (or whose search would keep more than ~16 MB of trace) is shown as all-deleted then
 * all-inserted: still a correct diff, just not the shortest.
 */

export type DiffOp = 'equal' | 'delete' | 'insert';

export interface DiffLine {
  op: DiffOp;
  text: string;
  /** 1-based line in the old text (equal and delete). */
  oldLine?: number;
  /** 1-based line in the new text (equal and insert). */
  newLine?: number;
}

const MAX_EDITS = 2000;

function linesOf(text: string): string[] {
  if (text === '') return [];
  return text.replace(/\r\n?/g, '\n').replace(/\n$/, '').split('\n');
}

/** The shortest edit script of `a` into `b` over the middle ranges, as ops (Myers 1986). */
function myers(a: readonly string[], b: readonly string[]): DiffOp[] | null {
  const n = a.length;
  const m = b.length;
  const max = n + m;
  const offset = max + 1;
  const v = new Int32Array(2 * max + 3);
  const trace: Int32Array[] = [];
  const limit = Math.min(max, MAX_EDITS, Math.floor(4_000_000 / v.length));
  for (let d = 0; d <= limit; d++) {
    trace.push(v.slice());
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[offset + k - 1]! < v[offset + k + 1]!) ? v[offset + k + 1]! : v[offset + k - 1]! + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      v[offset + k] = x;
      if (x >= n && y >= m) return backtrack(trace, n, m, offset);
    }
  }
  return null;
}

function backtrack(trace: Int32Array[], n: number, m: number, offset: number): DiffOp[] {
  const ops: DiffOp[] = [];
  let x = n;
  let y = m;
  for (let d = trace.length - 1; d >= 0; d--) {
    const v = trace[d]!;
    const k = x - y;
    const prevK = k === -d || (k !== d && v[offset + k - 1]! < v[offset + k + 1]!) ? k + 1 : k - 1;
    const prevX = d === 0 ? 0 : v[offset + prevK]!;
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      ops.push('equal');
      x--;
      y--;
    }
    if (d === 0) break;
    ops.push(x === prevX ? 'insert' : 'delete');
    x = prevX;
    y = prevY;
  }
  while (x > 0 && y > 0) {
    ops.push('equal');
    x--;
    y--;
  }
  return ops.reverse();
}

/** The line diff of `oldText` into `newText` (line endings normalised, one final newline ignored). */
export function lineDiff(oldText: string, newText: string): DiffLine[] {
  const a = linesOf(oldText);
  const b = linesOf(newText);
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf]) suf++;
  const midA = a.slice(pre, a.length - suf);
  const midB = b.slice(pre, b.length - suf);
  const ops: DiffOp[] = [
    ...Array<DiffOp>(pre).fill('equal'),
    ...(myers(midA, midB) ?? [...Array<DiffOp>(midA.length).fill('delete'), ...Array<DiffOp>(midB.length).fill('insert')]),
    ...Array<DiffOp>(suf).fill('equal'),
  ];
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  for (const op of ops) {
    if (op === 'equal') out.push({ op, text: a[i]!, oldLine: ++i, newLine: ++j });
    else if (op === 'delete') out.push({ op, text: a[i]!, oldLine: ++i });
    else out.push({ op, text: b[j]!, newLine: ++j });
  }
  return out;
}

/** How many lines the diff keeps, deletes and inserts. */
export function diffStats(diff: readonly DiffLine[]): { equal: number; deleted: number; inserted: number } {
  let equal = 0;
  let deleted = 0;
  let inserted = 0;
  for (const d of diff) {
    if (d.op === 'equal') equal++;
    else if (d.op === 'delete') deleted++;
    else inserted++;
  }
  return { equal, deleted, inserted };
}

/** The diff as text, one line each: `  ` kept, `- ` deleted, `+ ` inserted. */
export function formatLineDiff(diff: readonly DiffLine[]): string {
  return diff.map((d) => `${d.op === 'equal' ? ' ' : d.op === 'delete' ? '-' : '+'} ${d.text}`).join('\n');
}

/** Applies a diff's new side: the new text (a check that the diff is complete). */
export function newSide(diff: readonly DiffLine[]): string {
  return diff.filter((d) => d.op !== 'delete').map((d) => d.text).join('\n');
}

/** The diff's old side: the old text. */
export function oldSide(diff: readonly DiffLine[]): string {
  return diff.filter((d) => d.op !== 'insert').map((d) => d.text).join('\n');
}
