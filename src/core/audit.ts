/**
 * Human overrides and the audit log (docs/architecture.md "Audits").
 *
 * The log is JSONL, one `Override` a line, append-only and never rewritten. Each append opens the
 * file for appending, writes one whole line in a single write call and fsyncs before returning,
 * so a crash can at worst leave the last line torn. A torn (or otherwise unreadable) line is
 * skipped and reported with its line number; the next append first ends that line, so the new
 * record always starts on a fresh line.
 *
 * Which override counts: the latest one in file order for each (kind, subject, target). File
 * order rather than the `at` timestamps, so clocks that disagree between machines cannot
 * reorder a person's decisions. An undo is a record with `retracts: true`: it withdraws the
 * latest standing override of its key, and the one before it (if any) counts again.
 *
 * Subject keys (stable, content-derived, so an override follows the content, not a file name):
 * - rewards: `rewardSubject(query, reply)` = sha256 of the stable JSON {kind, query, reply}; the
 *   target is the reward name.
 * - boxes: `boxSubject(imageSha256, prompt)` = `<image sha256>|<prompt, whitespace-collapsed>`;
 *   the target is the candidate's index in the low-threshold detection list (deterministic for
 *   the same image, prompt, detector and thresholds).
 */
import { closeSync, fstatSync, fsyncSync, mkdirSync, openSync, readSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Override, type GroundingResult } from '../protocol/run.js';
import { cohensKappa } from './kappa.js';
import { asIndex, OverrideIndex } from './overrideIndex.js';

// Moved out so that rewards/ never imports this file (the reward scorer applies overrides too):
// the override index, Cohen's kappa, and the reward subject with the reward-set override.
export { cohensKappa } from './kappa.js';
export { OverrideIndex, overrideKey } from './overrideIndex.js';
export { applyRewardOverrides, rewardSubject } from './rewards/overrides.js';

/** Default log location, relative to the workspace (or current directory headless). */
export const DEFAULT_AUDIT_PATH = join('.valor', 'audits.jsonl');

export function boxSubject(imageSha256: string, prompt: string): string {
  return `${imageSha256}|${prompt.trim().replace(/\s+/g, ' ')}`;
}

export interface AuditWarning {
  /** 1-based line number in the log. */
  line: number;
  message: string;
}

export interface AuditLog {
  /** Every readable record, in file order. */
  overrides: Override[];
  warnings: AuditWarning[];
}

/** Reads the log; a missing file is an empty log. Unreadable lines become warnings, never errors. */
export async function readAuditLog(path: string): Promise<AuditLog> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { overrides: [], warnings: [] };
    throw err;
  }
  const overrides: Override[] = [];
  const warnings: AuditWarning[] = [];
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line.length === 0) return;
    // Only a file that does not end with a newline has a non-blank piece after its last newline,
    // so a bad last line here is one whose write was cut short.
    const isLast = i === lines.length - 1;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      warnings.push({
        line: i + 1,
        message:
          isLast
            ? `line ${i + 1} of ${path} is incomplete (a write was cut short, e.g. by a crash); it was ignored`
            : `line ${i + 1} of ${path} is not JSON; it was ignored`,
      });
      return;
    }
    const parsed = Override.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      warnings.push({ line: i + 1, message: `line ${i + 1} of ${path} is not an override record (${issue?.path.join('.') || 'record'}: ${issue?.message}); it was ignored` });
      return;
    }
    overrides.push(parsed.data);
  });
  return { overrides, warnings };
}

/** Checks an override before it is written: the values a person can give. */
export function validateOverride(o: Override): Override {
  const v = Override.parse(o);
  if (v.subject.trim() === '' || v.target.trim() === '') throw new RangeError('an override needs a subject and a target');
  const allowed = v.kind === 'box' ? [0, 1] : v.target === 'format' ? [0, 0.5, 1] : [0, 1];
  if (!allowed.includes(v.value)) throw new RangeError(`override value ${v.value} is not allowed for ${v.kind} ${v.target}: use ${allowed.join(' or ')}`);
  return v;
}

/**
 * Appends one override as one line, durably (written in one call, then fsync). Synchronous file
 * calls inside keep two appends from the same process from interleaving.
 */
export async function appendOverride(path: string, override: Override): Promise<void> {
  const record = validateOverride(override);
  mkdirSync(dirname(path), { recursive: true });
  const fd = openSync(path, 'a+');
  try {
    const size = fstatSync(fd).size;
    let prefix = '';
    if (size > 0) {
      const last = Buffer.alloc(1);
      readSync(fd, last, 0, 1, size - 1);
      if (last[0] !== 0x0a) prefix = '\n'; // end a torn line so this record starts fresh
    }
    writeSync(fd, Buffer.from(`${prefix}${JSON.stringify(record)}\n`, 'utf8'));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** A copy of `result` with the latest box overrides applied (kept or dropped by a person). */
export function applyBoxOverrides(result: GroundingResult, overrides: OverrideIndex | readonly Override[]): GroundingResult {
  const mine = asIndex(overrides).forSubject('box', boxSubject(result.image.sha256, result.prompt));
  if (mine.size === 0) return result;
  return {
    ...result,
    boxes: result.boxes.map((b) => {
      const o = mine.get(String(b.index));
      if (!o) return b;
      const keep = o.value >= 1;
      const note = o.note ? `: ${o.note}` : '';
      if (keep) {
        const was = b.kept ? '' : ` (the verifier had dropped it at ${b.dropped_at ?? 'an unknown stage'}${b.reason ? `: ${b.reason}` : ''})`;
        const { dropped_at: _d, ...rest } = b;
        return { ...rest, kept: true, overridden: true, reason: `kept by a person${note}${was}` };
      }
      return { ...b, kept: false, overridden: true, reason: `dropped by a person${note}${b.reason ? ` (verifier: ${b.reason})` : ''}` };
    }),
  };
}

export interface AgreementStat {
  /** Latest overrides (audits) counted, confirmations included. */
  audited: number;
  /** Audits that carry the machine's value, so agreement can be measured. */
  compared: number;
  agree: number;
  /** agree / compared; null when nothing was compared. */
  agreement: number | null;
  /** Cohen's kappa between machine and person; null when undefined (see `kappa_note`). */
  kappa: number | null;
  kappa_note?: string;
}

function statOf(overrides: readonly Override[]): AgreementStat {
  const pairs = overrides.filter((o) => o.machine_value !== null).map((o) => [o.machine_value as number, o.value] as const);
  const agree = pairs.filter(([a, b]) => a === b).length;
  const k = cohensKappa(pairs);
  return {
    audited: overrides.length,
    compared: pairs.length,
    agree,
    agreement: pairs.length > 0 ? agree / pairs.length : null,
    kappa: k.kappa,
    ...(k.note ? { kappa_note: k.note } : {}),
  };
}

export interface AgreementReport {
  /** Per reward name, in a fixed order; rewards never audited are absent. */
  rewards: Record<string, AgreementStat>;
  boxes: AgreementStat;
}

/** Agreement between machine and person, from the latest override per key. */
export function agreementStats(overrides: OverrideIndex | readonly Override[]): AgreementReport {
  const latest = asIndex(overrides).latest();
  const rewards: Record<string, AgreementStat> = {};
  const order = ['format', 'syntax', 'spatial', 'attribute', 'logic', 'adherence'];
  const rewardOverrides = latest.filter((o) => o.kind === 'reward');
  const names = [...new Set(rewardOverrides.map((o) => o.target))].sort((a, b) => {
    const ia = order.indexOf(a);
    const ib = order.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
  });
  for (const name of names) rewards[name] = statOf(rewardOverrides.filter((o) => o.target === name));
  return { rewards, boxes: statOf(latest.filter((o) => o.kind === 'box')) };
}
