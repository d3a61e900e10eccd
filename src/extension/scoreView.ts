/**
 * How scores look in the editor, as plain data: which line gets which inline badge (format and
 * total on the header; spatial, attribute, logic on `<plan>`; syntax and adherence on
 * `<answer>`), in which state (pass, fail, error, overridden by a person), and the hover text
 * with the judge's rationale and command links. decorations.ts and hover.ts turn this into
 * VS Code objects; tests check it directly.
 */
import type { Override, RewardName, RewardSet, Verdict } from '../protocol/run.js';
import { describeCites } from '../core/rewards/cites.js';
import { COMMANDS } from './commandIds.js';
import type { DocLayout } from './vprogLayout.js';

export type BadgeKind = 'pass' | 'fail' | 'error' | 'overridden';

export interface Badge {
  reward: RewardName | 'total';
  kind: BadgeKind;
  /** The after-text, e.g. `✓ spatial`. */
  text: string;
}

export interface LineBadges {
  /** 0-based document line. */
  line: number;
  /** Which anchor the line is: header, plan or answer. */
  anchor: 'header' | 'plan' | 'answer';
  rewards: RewardName[];
  badges: Badge[];
}

/** Which rewards sit on which line (docs/architecture.md "Scores appear inline"). */
export const ANCHORS: ReadonlyArray<{ anchor: LineBadges['anchor']; rewards: RewardName[] }> = [
  { anchor: 'header', rewards: ['format'] },
  { anchor: 'plan', rewards: ['spatial', 'attribute', 'logic'] },
  { anchor: 'answer', rewards: ['syntax', 'adherence'] },
];

const MARK: Record<BadgeKind, string> = { pass: '✓', fail: '✗', error: '⚠', overridden: '✎' };

export function badgeKind(v: Verdict, overridden: Override | undefined): BadgeKind {
  if (overridden) return 'overridden';
  if (v.state === 'error') return 'error';
  return v.state === 'pass' ? 'pass' : 'fail';
}

function valueText(v: Verdict): string {
  if (v.value === null) return '';
  // format's 0.5 (a repeated tag) is the only non-binary value; show it.
  return v.value === 0.5 ? ' 0.5' : '';
}

export function verdictBadge(v: Verdict, overridden: Override | undefined): Badge {
  const kind = badgeKind(v, overridden);
  const what = kind === 'error' ? `${v.reward} (judge failed)` : `${v.reward}${valueText(v)}`;
  return { reward: v.reward, kind, text: `${MARK[kind]} ${what}` };
}

export function totalBadge(set: RewardSet): Badge {
  if (set.total === null) {
    return { reward: 'total', kind: 'error', text: `total: incomplete` };
  }
  const anyOverride = set.overridden && Object.keys(set.overridden).length > 0;
  const kind: BadgeKind = anyOverride ? 'overridden' : set.total >= 1 ? 'pass' : 'fail';
  return { reward: 'total', kind, text: `total ${set.total.toFixed(2)}` };
}

function anchorLine(layout: DocLayout, anchor: LineBadges['anchor']): number | null {
  if (anchor === 'header') return layout.headerLine ?? 0;
  return anchor === 'plan' ? layout.planLine : layout.answerLine;
}

/**
 * The badges per line for a reward set. A reward whose anchor line is missing (no `<plan>`)
 * moves to the header line, so every verdict stays visible.
 */
export function scoreBadges(layout: DocLayout, set: RewardSet): LineBadges[] {
  const byReward = new Map(set.verdicts.map((v) => [v.reward, v]));
  const lines = new Map<number, LineBadges>();
  const headerLine = layout.headerLine ?? 0;
  const at = (line: number, anchor: LineBadges['anchor']) => {
    let l = lines.get(line);
    if (!l) lines.set(line, (l = { line, anchor, rewards: [], badges: [] }));
    return l;
  };
  for (const { anchor, rewards } of ANCHORS) {
    const line = anchorLine(layout, anchor);
    const target = at(line ?? headerLine, line === null ? 'header' : anchor);
    for (const r of rewards) {
      const v = byReward.get(r);
      if (!v) continue;
      target.rewards.push(r);
      target.badges.push(verdictBadge(v, set.overridden?.[r]));
    }
    if (anchor === 'header') target.badges.push(totalBadge(set));
  }
  return [...lines.values()].filter((l) => l.badges.length > 0).sort((a, b) => a.line - b.line);
}

/** Escapes text for a Markdown hover (judge output is untrusted: no links, no HTML). */
export function escapeMarkdown(s: string): string {
  return s.replace(/[\\`*_{}[\]()#+\-.!|<>~]/g, (c) => `\\${c}`);
}

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** Arguments of the hover's command links (serialised into `command:` URIs). */
export interface RewardCommandArgs {
  uri: string;
  reward: RewardName;
}

export function commandLink(title: string, command: string, args: RewardCommandArgs, tooltip: string): string {
  return `[${title}](command:${command}?${encodeURIComponent(JSON.stringify([args]))} "${tooltip}")`;
}

/**
 * What a verdict cites, for the hover: `Cites: plan steps 2, 3; program line 5 (document line 14)`.
 * `programLineToDocLine` is the layout's (0-based document lines); without it program lines are shown alone.
 */
export function citesText(v: Verdict, programLineToDocLine?: (n: number) => number | null): string | null {
  if (!v.cites) return null;
  const text = describeCites(v.cites, (n) => {
    const d = programLineToDocLine?.(n);
    return d === null || d === undefined ? `${n}` : `${n} (document line ${d + 1})`;
  });
  return text === '' ? null : `Cites: ${text}`;
}

/** The hover for the rewards on one anchor line. */
export function hoverMarkdown(
  set: RewardSet,
  rewards: readonly RewardName[],
  documentUri: string,
  includeTotal: boolean,
  programLineToDocLine?: (n: number) => number | null,
): string {
  const parts: string[] = [];
  if (includeTotal) {
    const weights = Object.entries(set.weights)
      .map(([k, w]) => `${k} ${w}`)
      .join(', ');
    const total = set.total === null ? 'incomplete (a judge failed; re-judge it or override it)' : set.total.toFixed(2);
    parts.push(`**VALOR total:** ${total}  \nformat × (${escapeMarkdown(weights)})`);
  }
  for (const r of rewards) {
    const v = set.verdicts.find((x) => x.reward === r);
    if (!v) continue;
    const o = set.overridden?.[r];
    const kind = badgeKind(v, o);
    const state = kind === 'error' ? 'judge failed' : kind === 'overridden' ? `overridden by a person: ${v.value === 1 ? 'pass' : 'fail'}` : v.state;
    const facts = [
      `judge: \`${v.judge.replace(/`/g, "'")}\``,
      v.ms !== undefined ? `${Math.round(v.ms)} ms` : null,
      v.cached ? 'cached' : null,
      v.saw_image ? 'saw the image' : null,
    ].filter(Boolean);
    const lines = [`**${r}** ${MARK[kind]} ${state}${v.value !== null && kind !== 'error' ? ` (${v.value})` : ''}`, facts.join(' · ')];
    if (o) {
      lines.push(
        `Machine verdict: ${o.machine_value ?? 'none'}; note: ${o.note ? escapeMarkdown(clip(o.note, 300)) : '(none)'}${o.author ? ` (${escapeMarkdown(o.author)})` : ''}`,
      );
    }
    if (v.error) lines.push(`Error: ${escapeMarkdown(clip(v.error, 600))}`);
    if (v.rationale) lines.push(`> ${escapeMarkdown(clip(v.rationale, 1500)).replace(/\n/g, '\n> ')}`);
    const cites = o ? null : citesText(v, programLineToDocLine);
    if (cites) lines.push(escapeMarkdown(cites));
    const args = { uri: documentUri, reward: r };
    const links = [commandLink('Override…', COMMANDS.overrideVerdict, args, `Record your own verdict for ${r}`)];
    if (r !== 'format') links.push(commandLink('Re-judge', COMMANDS.rejudgeReward, args, `Ask the judge again for ${r}, bypassing caches`));
    lines.push(links.join(' · '));
    parts.push(lines.filter((l) => l !== '').join('\n\n'));
  }
  return parts.join('\n\n---\n\n');
}
