/**
 * Degenerate text: what every judge would score 0 (docs/valor.md §3), decided by rule so no judge
 * call is spent on it and the verdict cannot be talked up by a lenient judge.
 *
 * Decision: only unmistakable cases are caught here; anything that might be a real plan goes to
 * the judge. Caught: missing or blank text; text with fewer than three letters or digits; text
 * that is mostly one line repeated (a looping generation); long text with very few distinct words.
 */

export interface Degeneracy {
  degenerate: boolean;
  reason?: string;
}

export function checkDegenerate(text: string | null | undefined, what: string): Degeneracy {
  if (text === null || text === undefined) return { degenerate: true, reason: `there is no ${what}` };
  const t = text.trim();
  if (t.length === 0) return { degenerate: true, reason: `the ${what} is empty` };
  const alnum = t.match(/[\p{L}\p{N}]/gu)?.length ?? 0;
  if (alnum < 3) return { degenerate: true, reason: `the ${what} holds no words` };

  const lines = t
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  if (lines.length >= 6) {
    const counts = new Map<string, number>();
    for (const l of lines) counts.set(l, (counts.get(l) ?? 0) + 1);
    const top = Math.max(...counts.values());
    if (top >= 5 && top / lines.length > 0.5) return { degenerate: true, reason: `the ${what} repeats one line ${top} times` };
  }
  const words = t.toLowerCase().match(/[\p{L}\p{N}_]+/gu) ?? [];
  if (words.length >= 40) {
    const distinct = new Set(words).size;
    if (distinct / words.length < 0.08) return { degenerate: true, reason: `the ${what} repeats a handful of words (${distinct} distinct in ${words.length})` };
  }
  return { degenerate: false };
}
