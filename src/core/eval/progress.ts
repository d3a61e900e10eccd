/**
 * Progress of an eval run: a redrawn bar on a terminal, plain lines otherwise (CI logs, files),
 * where a line every few percent or every few seconds keeps logs short but shows the run is alive.
 */
import type { EvalEvent } from './context.js';

export interface ProgressOptions {
  out: NodeJS.WritableStream;
  tty: boolean;
  /** Plain mode: at most one line per this many ms (default 10 s), besides every 10%. */
  intervalMs?: number;
  now?: () => number;
}

export interface Progress {
  onEvent(e: EvalEvent): void;
  /** Ends the bar's line (terminal) so later output starts on a fresh line. */
  finish(): void;
}

function duration(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return '?';
  if (sec < 60) return `${Math.round(sec)}s`;
  if (sec < 3600) return `${Math.floor(sec / 60)}m${String(Math.round(sec % 60)).padStart(2, '0')}s`;
  return `${Math.floor(sec / 3600)}h${String(Math.floor((sec % 3600) / 60)).padStart(2, '0')}m`;
}

export function createProgress(o: ProgressOptions): Progress {
  const now = o.now ?? (() => performance.now());
  const interval = o.intervalMs ?? 10_000;
  let t0 = now();
  let reused = 0;
  let selected = 0;
  let lastDraw = -Infinity;
  let lastLine = -Infinity;
  let lastDecile = -1;
  let drawn = false;
  let state = { done: 0, correct: 0, failed: 0 };

  const text = (): string => {
    const ranNow = state.done - reused;
    const sec = (now() - t0) / 1000;
    const rate = ranNow > 0 && sec > 0 ? ranNow / sec : 0;
    const left = selected - state.done;
    const eta = rate > 0 ? duration(left / rate) : '?';
    return `${state.done}/${selected} done, ${state.correct} correct, ${state.failed} failed, ${rate.toFixed(2)} q/s, eta ${eta}`;
  };

  const draw = (force: boolean): void => {
    const t = now();
    if (o.tty) {
      if (!force && t - lastDraw < 100) return;
      lastDraw = t;
      const width = 28;
      const frac = selected === 0 ? 1 : state.done / selected;
      const fill = Math.round(frac * width);
      o.out.write(`\r\x1b[2K[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${(frac * 100).toFixed(0).padStart(3)}% ${text()}`);
      drawn = true;
      return;
    }
    const decile = selected === 0 ? 10 : Math.floor((state.done / selected) * 10);
    if (force || decile > lastDecile || t - lastLine >= interval) {
      lastDecile = Math.max(lastDecile, decile);
      lastLine = t;
      o.out.write(`eval: ${text()}\n`);
    }
  };

  return {
    onEvent(e) {
      if (e.kind === 'start') {
        t0 = now();
        selected = e.selected;
        reused = e.reused;
        state = { done: e.reused, correct: 0, failed: 0 };
        const parts = [`${e.selected} questions`];
        if (e.reused) parts.push(`${e.reused} already done`);
        if (e.retrying) parts.push(`${e.retrying} to retry after an outage`);
        parts.push(`${e.todo} to run`);
        if (drawn) o.out.write('\n');
        o.out.write(`eval: ${parts.join(', ')}\n`);
        lastDecile = selected === 0 ? 10 : Math.floor((e.reused / selected) * 10);
        lastLine = t0;
        drawn = false;
        return;
      }
      if (e.kind === 'warn') {
        if (o.tty && drawn) o.out.write('\r\x1b[2K');
        o.out.write(`eval: warning: ${e.message}\n`);
        if (o.tty && drawn) draw(true);
        return;
      }
      state = { done: e.done, correct: e.correct, failed: e.failed };
      draw(e.done === selected);
    },
    finish() {
      if (o.tty && drawn) o.out.write('\n');
      drawn = false;
    },
  };
}
