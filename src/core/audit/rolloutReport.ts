/**
 * A rollout group (./rolloutGroup.ts) as a Markdown document: what the extension's
 * "VALOR: Score Rollout Group" opens. Model text (replies, rationales, errors) is put in code spans
 * or fenced blocks, so it cannot turn into links or markup.
 */
import type { RolloutGroup } from './rolloutGroup.js';
import { REWARD_ORDER } from './rolloutGroup.js';

function code(s: string): string {
  const t = s.replace(/\s+/g, ' ').trim();
  const ticks = t.includes('`') ? '``' : '`';
  return `${ticks}${t.replace(/\|/g, '\\|')}${ticks}`;
}

function num(x: number | null, digits = 3): string {
  return x === null ? '—' : String(Number(x.toFixed(digits)));
}

function fence(s: string): string {
  let f = '```';
  while (s.includes(f)) f += '`';
  return `${f}\n${s}\n${f}`;
}

export function rolloutMarkdown(g: RolloutGroup): string {
  const out: string[] = [];
  out.push(`# Rollout group: ${g.n} replies`, '', `Query: ${code(g.query)}${g.image ? `  \nImage: ${code(g.image)}` : ''}`, '');
  out.push(`| rank | sample | ${REWARD_ORDER.join(' | ')} | total | advantage |`, `|${' --- |'.repeat(REWARD_ORDER.length + 4)}`);
  for (const m of g.members) {
    const cells = REWARD_ORDER.map((r) => (m.errors[r] ? '**ERROR**' : m.reply === null ? '—' : num(m.components[r])));
    const adv = m.advantage === null ? 'none' : `${m.advantage > 0 ? '+' : ''}${m.advantage.toFixed(3)}`;
    out.push(`| ${m.rank ?? '—'} | #${m.index + 1} | ${cells.join(' | ')} | ${m.total === null ? 'none' : num(m.total)} | ${adv} |`);
  }
  const a = g.advantage;
  out.push(
    '',
    `Group: ${a.counted} of ${g.n} counted, mean ${num(a.mean, 4)}, std ${num(a.std, 4)} (unbiased, n − 1, as \`torch.std\`); advantage = (total − mean) / (std + ${a.epsilon}), as verl's GRPO computes it.`,
  );
  if (a.note) out.push('', `Note: ${a.note}.`);
  if (g.best !== null && g.worst !== null) {
    const parts = g.separating.map((s) => `${s.reward} (${s.best} vs ${s.worst}${s.weight === null ? ', the format gate' : `, weight ${s.weight}`})`);
    out.push('', `Best #${g.best + 1} vs worst #${g.worst + 1}: ${parts.length ? `separated by ${parts.join(', ')}` : 'no single component differs'}.`);
  }
  out.push('', `Time: drawing ${(g.timings.generate_ms / 1000).toFixed(1)} s, scoring ${(g.timings.score_ms / 1000).toFixed(1)} s (the judges' latencies add up to ${(g.timings.judge_ms_sum / 1000).toFixed(1)} s).`);
  for (const m of g.members) {
    out.push('', `## #${m.index + 1}${m.rank ? ` (rank ${m.rank})` : ''}`);
    if (m.generation_error) out.push('', `Generation failed: ${code(m.generation_error)}`);
    for (const v of m.verdicts) {
      const text = v.state === 'error' ? `judge failed: ${v.error ?? 'no verdict'}` : v.rationale;
      out.push(`- **${v.reward}** ${v.state === 'error' ? 'ERROR' : v.value}: ${text ? code(text) : ''}`);
    }
    if (m.reply !== null) out.push('', fence(m.reply));
  }
  return `${out.join('\n')}\n`;
}
