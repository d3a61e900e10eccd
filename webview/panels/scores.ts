/**
 * The six rewards: each verdict with its badge, value, weight, the judge's rationale and what it
 * cites (plan steps, program lines), and the override buttons (posted as `override`; the host
 * records them and sends the new reward set).
 */
import type { RewardName, RewardSet, Verdict } from '../../src/protocol/run.js';
import { RewardName as RewardNames, shownLine } from '../../src/protocol/run.js';
import { h, setChildren } from '../dom.js';
import type { Panel } from '../panelSlot.js';
import type { ViewContext } from '../viewContext.js';

export interface ScoresInputs {
  runId: string;
  /** Where the program starts in its `.vprog` document (cited program lines are also shown as document lines). */
  programDocumentLine: number | null | undefined;
  rewards: RewardSet | undefined;
  scoring: boolean;
}

/** What a judge's verdict rests on (issue #15); absent on older records. */
type Cites = NonNullable<Verdict['cites']>;

function citesOf(v: Verdict): Cites | null {
  const c = v.cites;
  return c && (c.plan_steps.length > 0 || c.program_lines.length > 0) ? c : null;
}

/** `[2, 3]` -> "2, 3"; `[5, 6, 7]` -> "5–7": runs of three or more as a range. */
export function numberList(ns: readonly number[]): string {
  const sorted = [...new Set(ns)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    if (j - i >= 2) parts.push(`${sorted[i]}–${sorted[j]}`);
    else for (let k = i; k <= j; k++) parts.push(String(sorted[k]));
    i = j + 1;
  }
  return parts.join(', ');
}

/**
 * "cites plan steps 2, 3 · program lines 5–7" (either part may be missing); with the program's
 * first document line, also the document's lines: "program lines 5–7 (document lines 12–14)".
 */
export function citesText(c: Cites, programDocumentLine?: number | null): string {
  const parts: string[] = [];
  const s = (n: number) => (n === 1 ? '' : 's');
  if (c.plan_steps.length) parts.push(`plan step${s(c.plan_steps.length)} ${numberList(c.plan_steps)}`);
  if (c.program_lines.length) {
    const doc = c.program_lines.map((n) => shownLine({ program_document_line: programDocumentLine }, n));
    const shown = doc.some((d, i) => d !== c.program_lines[i]) ? ` (document line${s(doc.length)} ${numberList(doc)})` : '';
    parts.push(`program line${s(c.program_lines.length)} ${numberList(c.program_lines)}${shown}`);
  }
  return `cites ${parts.join(' · ')}`;
}

function firstLine(s: string): string {
  const line = s.split('\n').find((l) => l.trim()) ?? '';
  return line.length > 120 ? `${line.slice(0, 119)}…` : line;
}

export class ScoresPanel implements Panel<ScoresInputs> {
  readonly el = h('div', { class: 'scores' });

  constructor(private readonly ctx: ViewContext) {}

  render(i: ScoresInputs): void {
    const rewards = i.rewards;
    if (!rewards) {
      setChildren(this.el, [h('div', { class: 'muted', text: i.scoring ? 'Scoring…' : 'Not scored yet.' })]);
      return;
    }
    const byName = new Map<RewardName, Verdict>(rewards.verdicts.map((v) => [v.reward, v]));
    const rows = RewardNames.options.map((name) => this.row(i, rewards, name, byName.get(name)));
    setChildren(this.el, [i.scoring ? h('div', { class: 'working', text: 'Scoring…' }) : null, h('div', { class: 'score-list' }, rows)]);
  }

  private row(i: ScoresInputs, rewards: RewardSet, name: RewardName, v: Verdict | undefined): HTMLElement {
    const runId = i.runId;
    const ov = rewards.overridden?.[name];
    const shown = ov ? (ov.value >= 1 ? 'pass' : 'fail') : v?.state;
    const badge = h('span', { class: `badge badge-${shown ?? 'none'}`, text: shown ?? 'not scored' });
    const weight = rewards.weights[name];
    const override = (value: 0 | 1): HTMLButtonElement =>
      h('button', {
        class: 'override',
        text: value === 1 ? 'Mark pass' : 'Mark fail',
        title: `Override the ${name} verdict (recorded in the audit log)`,
        attrs: { 'data-reward': name, 'data-value': value },
        on: { click: () => this.ctx.post({ type: 'override', runId, reward: name, value, machineValue: v?.value ?? null }) },
      });
    const current = ov ? ov.value : v?.value;
    const buttons: HTMLElement[] = [];
    if (v) {
      if (current !== 1) buttons.push(override(1));
      if (current !== 0) buttons.push(override(0));
    }
    const cites = v ? citesOf(v) : null;
    return h('div', { class: `reward reward-${name}${ov ? ' overridden' : ''}`, attrs: { 'data-reward': name } }, [
      h('div', { class: 'reward-head' }, [
        h('span', { class: 'reward-name', text: name }),
        badge,
        ov ? h('span', { class: 'badge badge-human', text: 'human', title: ov.note }) : null,
        h('span', { class: 'reward-value', text: v?.value === null || v?.value === undefined ? '—' : String(v.value) }),
        weight !== undefined ? h('span', { class: 'muted', text: `×${weight}` }) : null,
        h('span', { class: 'reward-actions' }, buttons),
      ]),
      cites ? h('div', { class: 'reward-cites muted', text: citesText(cites, i.programDocumentLine) }) : null,
      v
        ? h('details', { class: 'reward-why' }, [
            h('summary', { text: v.state === 'error' ? `judge failed: ${v.error ?? v.rationale}` : firstLine(v.rationale) || '(no rationale)' }),
            h('div', { class: 'muted', text: `${v.judge}${v.ms !== undefined ? ` · ${Math.round(v.ms)} ms` : ''}${v.cached ? ' · cached' : ''}${v.saw_image ? ' · saw the image' : ''}` }),
            h('pre', { text: v.rationale }),
          ])
        : null,
    ]);
  }
}
