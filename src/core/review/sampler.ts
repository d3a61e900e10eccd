/**
 * Choosing and ordering the items of a review queue from a source's index (./source.ts):
 *
 * - order: `source` (as the source lists them) or `random` (a seeded shuffle: the same seed
 *   gives the same queue, so two people can split one sample, or one can come back to it);
 * - only: `disagreements` (the two judges gave different values on a reward, or one failed and
 *   the other did not), `failures` (a verdict was 0 or its judge failed);
 * - reward: look at one reward only (for the filters, and the view shows only that verdict);
 * - limit: the first N after filtering and ordering.
 */
import type { RewardName } from '../../protocol/run.js';
import { seededRandom } from '../seededRandom.js';
import type { ReviewEntry } from './source.js';

export interface SampleOptions {
  order?: 'source' | 'random';
  seed?: number;
  only?: 'disagreements' | 'failures';
  reward?: RewardName;
  limit?: number;
}

function disagrees(e: ReviewEntry, reward?: RewardName): boolean {
  if (!e.second) return false;
  const names = reward ? [reward] : (Object.keys(e.values) as RewardName[]);
  return names.some((r) => {
    const a = e.values[r];
    const b = e.second?.[r];
    if (a === undefined || b === undefined) return false;
    return a !== b;
  });
}

function fails(e: ReviewEntry, reward?: RewardName): boolean {
  const names = reward ? [reward] : (Object.keys(e.values) as RewardName[]);
  return names.some((r) => e.values[r] === null || e.values[r] === 0);
}

/** Positions (into `entries`) of the queue, in review order. */
export function sampleQueue(entries: readonly ReviewEntry[], o: SampleOptions = {}): number[] {
  let idx = entries.map((_, i) => i);
  if (o.reward) idx = idx.filter((i) => entries[i]!.values[o.reward!] !== undefined);
  if (o.only === 'disagreements') idx = idx.filter((i) => disagrees(entries[i]!, o.reward));
  if (o.only === 'failures') idx = idx.filter((i) => fails(entries[i]!, o.reward));
  if (o.order === 'random') {
    const rand = seededRandom(o.seed ?? 1);
    for (let i = idx.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [idx[i], idx[j]] = [idx[j]!, idx[i]!];
    }
  }
  if (o.limit !== undefined && o.limit >= 0) idx = idx.slice(0, o.limit);
  return idx;
}

export function describeSample(o: SampleOptions, total: number, source: string): string {
  const parts = [source];
  if (o.only === 'disagreements') parts.push('only where the two judges disagree');
  if (o.only === 'failures') parts.push('only failed verdicts (0 or judge error)');
  if (o.reward) parts.push(`reward ${o.reward} only`);
  if (o.order === 'random') parts.push(`random order, seed ${o.seed ?? 1}`);
  if (o.limit !== undefined) parts.push(`first ${o.limit}`);
  return `${parts.join(', ')}: ${total} item${total === 1 ? '' : 's'}`;
}
