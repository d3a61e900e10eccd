/**
 * Which human override counts (docs/architecture.md "Audits"): the latest standing one per
 * (kind, subject, target), in file order; an undo (`retracts: true`) withdraws the latest one of
 * its key. Used by the audit log's readers and by the reward scorer, which applies overrides.
 */
import type { Override } from '../protocol/run.js';

export function overrideKey(kind: Override['kind'], subject: string, target: string): string {
  return `${kind}\u0000${subject}\u0000${target}`;
}

/**
 * The latest standing override per (kind, subject, target). A record with `retracts: true` (an
 * undo) withdraws the latest standing one of its key, so the one before it stands again.
 */
export class OverrideIndex {
  /** Standing overrides per key, oldest first (the last one counts). */
  private readonly stackByKey = new Map<string, Override[]>();
  private readonly bySubject = new Map<string, Map<string, Override>>();

  constructor(overrides: Iterable<Override> = []) {
    for (const o of overrides) this.add(o);
  }

  add(o: Override): void {
    const key = overrideKey(o.kind, o.subject, o.target);
    let stack = this.stackByKey.get(key);
    if (!stack) this.stackByKey.set(key, (stack = []));
    if (o.retracts) stack.pop();
    else stack.push(o);
    const sk = `${o.kind}\u0000${o.subject}`;
    let m = this.bySubject.get(sk);
    if (!m) this.bySubject.set(sk, (m = new Map()));
    const top = stack[stack.length - 1];
    if (top) m.set(o.target, top);
    else m.delete(o.target);
  }

  get(kind: Override['kind'], subject: string, target: string): Override | undefined {
    const stack = this.stackByKey.get(overrideKey(kind, subject, target));
    return stack?.[stack.length - 1];
  }

  /** Latest overrides of one subject, by target. */
  forSubject(kind: Override['kind'], subject: string): ReadonlyMap<string, Override> {
    return this.bySubject.get(`${kind}\u0000${subject}`) ?? new Map();
  }

  /** Every latest standing override, in the order their keys first appeared. */
  latest(): Override[] {
    const out: Override[] = [];
    for (const stack of this.stackByKey.values()) {
      const top = stack[stack.length - 1];
      if (top) out.push(top);
    }
    return out;
  }
}

/** `overrides` as an index (built when given a list). */
export function asIndex(overrides: OverrideIndex | readonly Override[]): OverrideIndex {
  return overrides instanceof OverrideIndex ? overrides : new OverrideIndex(overrides);
}
