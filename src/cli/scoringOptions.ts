/**
 * The options every `valor` command that scores replies shares (`score`, `rollouts`): `--json`,
 * `--weights SPEC`, `--vision-judge`, `--audit FILE` / `--no-audit`, declared once, with the
 * reading of the weights and of the audit log's overrides.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_AUDIT_PATH, OverrideIndex, readAuditLog } from '../core/audit.js';
import { parseWeights } from '../core/rewards/total.js';
import { type CliIO, UsageError } from './command.js';

export const SCORING_OPTIONS = {
  json: { type: 'boolean' },
  weights: { type: 'string' },
  'vision-judge': { type: 'boolean' },
  audit: { type: 'string' },
  'no-audit': { type: 'boolean' },
} as const;

/** `--weights SPEC` (undefined: VALOR's weights); a bad spec is a usage error naming the problem. */
export function weightsFrom(values: { weights?: string }): ReturnType<typeof parseWeights> | undefined {
  try {
    return values.weights ? parseWeights(values.weights) : undefined;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** The overrides to apply: `--audit FILE`, else `.valor/audits.jsonl` when it exists; none with `--no-audit`. */
export async function loadOverrides(values: { audit?: string; 'no-audit'?: boolean }, io: CliIO): Promise<OverrideIndex | undefined> {
  if (values['no-audit']) return undefined;
  const path = resolve(io.cwd, values.audit ?? DEFAULT_AUDIT_PATH);
  if (!values.audit && !existsSync(path)) return undefined;
  const log = await readAuditLog(path);
  for (const w of log.warnings) io.stderr.write(`warning: ${w.message}\n`);
  return new OverrideIndex(log.overrides);
}
