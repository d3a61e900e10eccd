/** Cohen's kappa: agreement between two raters beyond chance (judge vs person, judge vs judge). */

/** Cohen's kappa over categorical values (0/1, and 0.5 for format). */
export function cohensKappa(pairs: ReadonlyArray<readonly [number, number]>): { kappa: number | null; note?: string } {
  const n = pairs.length;
  if (n === 0) return { kappa: null, note: 'nothing to compare' };
  const cats = new Set<number>();
  for (const [a, b] of pairs) {
    cats.add(a);
    cats.add(b);
  }
  let po = 0;
  for (const [a, b] of pairs) if (a === b) po++;
  po /= n;
  let pe = 0;
  for (const c of cats) {
    const pa = pairs.filter(([a]) => a === c).length / n;
    const pb = pairs.filter(([, b]) => b === c).length / n;
    pe += pa * pb;
  }
  if (Math.abs(1 - pe) < 1e-12) {
    return { kappa: null, note: `undefined: judge and person both gave one value (${[...cats].join('/')}) to every item, so chance agreement is 100%` };
  }
  return { kappa: (po - pe) / (1 - pe) };
}
