/** Plain-text rendering of run pieces for the terminal (shared by `run`, `eval` and `score`). */
import { describeCites } from '../core/rewards/cites.js';
import type { TraceEntry, Verdict } from '../protocol/run.js';

function short(value: unknown, max = 160): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value ?? null);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** `L3  boxes = gd_detect(prompt="red mug") -> 2 boxes  (41 ms)` */
export function formatTraceEntry(t: TraceEntry): string {
  const args = Object.entries(t.args)
    .filter(([k]) => k !== 'img_pth')
    .map(([k, v]) => `${k}=${short(v, 60)}`)
    .join(', ');
  const lhs = t.variable ? `${t.variable} = ` : '';
  let result: string;
  if (t.error) result = `error ${t.error.type}: ${t.error.message}`;
  else if (t.tool === 'gd_detect' && Array.isArray(t.result)) {
    const boxes = t.result as { label?: string; score?: number; bbox?: number[] }[];
    result = `${boxes.length} box${boxes.length === 1 ? '' : 'es'}${boxes.length ? `: ${boxes.slice(0, 4).map((b) => `${b.label}@[${b.bbox?.join(',')}]${typeof b.score === 'number' ? ` ${b.score.toFixed(2)}` : ''}`).join('; ')}${boxes.length > 4 ? '; …' : ''}` : ''}`;
  } else if (t.tool === 'depth' && typeof t.result === 'number') {
    // Metric depth in metres (docs/valor.md §2): the unit travels with the number.
    result = `${Number(t.result.toFixed(3))} m`;
  } else result = short(t.result);
  const line = t.line === null ? 'L?' : `L${t.line}`;
  return `${line.padEnd(4)} ${lhs}${t.tool}(${args}) -> ${result}  (${Math.round(t.ms)} ms)`;
}

/**
 * `cites plan step 2; program lines 5 (document line 14)` for a failing verdict that cites
 * something, else null. `documentLine` maps a program line to the line a person sees (a .vprog
 * document's), when there is one.
 */
export function formatFailingCites(v: Pick<Verdict, 'state' | 'cites'>, documentLine?: (programLine: number) => number | null): string | null {
  if (v.state !== 'fail' || !v.cites) return null;
  const text = describeCites(v.cites, (n) => {
    const d = documentLine?.(n);
    return d === null || d === undefined || d === n ? String(n) : `${n} (document line ${d})`;
  });
  return text === '' ? null : `cites ${text}`;
}
