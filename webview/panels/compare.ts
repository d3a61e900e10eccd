/** Two runs of the same document side by side: answers, totals, verdicts, program and calls, with what differs marked. */
import type { RewardName } from '../../src/protocol/run.js';
import { RewardName as RewardNames } from '../../src/protocol/run.js';
import type { ViewRunRecord } from '../../src/protocol/webview.js';
import { h, setChildren } from '../dom.js';
import type { CallView } from '../model.js';
import { buildCalls, diffCalls, preview, stableJson } from '../model.js';
import type { Panel } from '../panelSlot.js';
import { sectionBox } from './section.js';

/** The parts of this run the table shows (each its own input, so e.g. new rewards re-render it). */
export type CompareSide = Pick<ViewRunRecord, 'id' | 'error' | 'final_answer' | 'rewards' | 'program'>;

export interface CompareInputs {
  id: string;
  error: ViewRunRecord['error'];
  finalAnswer: unknown;
  rewards: ViewRunRecord['rewards'];
  program: ViewRunRecord['program'];
  calls: CallView[];
  other: ViewRunRecord | null;
}

const answer = (r: CompareSide): string => (r.error ? `error: ${r.error.type}: ${r.error.message}` : r.final_answer === undefined ? '—' : typeof r.final_answer === 'string' ? r.final_answer : preview(r.final_answer));
const total = (r: CompareSide): string => (r.rewards?.total === null || r.rewards?.total === undefined ? '—' : r.rewards.total.toFixed(2));
const verdict = (r: CompareSide, name: RewardName): string => {
  const ov = r.rewards?.overridden?.[name];
  if (ov) return `${ov.value >= 1 ? 'pass' : 'fail'} (human)`;
  return r.rewards?.verdicts.find((v) => v.reward === name)?.state ?? '—';
};
const callText = (c: CallView | null): string =>
  c
    ? `${c.tool}(${Object.entries(c.args)
        .filter(([k]) => k !== 'img_pth')
        .map(([k, v]) => `${k}=${preview(v, 40)}`)
        .join(', ')}) → ${c.error ? `${c.error.type}` : preview(c.result, 60)}`
    : '—';

function row(label: string, x: string, y: string, cls = ''): HTMLTableRowElement {
  return h('tr', { class: `${cls}${x !== y ? ' differs' : ''}`, attrs: { 'data-differs': x !== y ? 'true' : 'false' } }, [h('th', { text: label, attrs: { scope: 'row' } }), h('td', { text: x }), h('td', { text: y })]);
}

export class ComparePanel implements Panel<CompareInputs> {
  readonly el = h('div', { class: 'compare' });
  /** Hidden while there is no run to compare with. */
  readonly section = sectionBox('Compare runs', this.el, 'section-compare');

  constructor() {
    this.section.hidden = true;
  }

  render(i: CompareInputs): void {
    const b = i.other;
    this.section.hidden = !b;
    if (!b) {
      setChildren(this.el, []);
      return;
    }
    const a: CompareSide = { id: i.id, error: i.error, final_answer: i.finalAnswer, rewards: i.rewards, program: i.program };
    const diffs = diffCalls(i.calls, buildCalls(b));
    const differing = diffs.filter((d) => d.differs).length;
    const lines = (r: CompareSide): string => (r.program ? `${r.program.split('\n').length} lines` : '—');
    setChildren(this.el, [
      h('table', { class: 'compare-table' }, [
        h('thead', {}, [h('tr', {}, [h('th', { text: '' }), h('th', { text: `this run ${a.id}` }), h('th', { text: `other run ${b.id}` })])]),
        h('tbody', {}, [
          row('answer', answer(a), answer(b), 'compare-answer'),
          row('reward', total(a), total(b), 'compare-total'),
          ...RewardNames.options.map((n) => row(n, verdict(a, n), verdict(b, n), 'compare-reward')),
          row('program', lines(a), lines(b), stableJson(a.program) !== stableJson(b.program) ? 'compare-program program-differs' : 'compare-program'),
        ]),
      ]),
      h('div', { class: 'compare-calls-head', text: `${differing} of ${diffs.length} calls differ` }),
      h(
        'table',
        { class: 'compare-table compare-calls' },
        diffs.map((d) =>
          h('tr', { class: d.differs ? 'differs' : '', attrs: { 'data-differs': d.differs ? 'true' : 'false', title: d.what.join(', ') } }, [
            h('th', { text: `#${d.index}`, attrs: { scope: 'row' } }),
            h('td', { text: callText(d.a) }),
            h('td', { text: callText(d.b) }),
          ]),
        ),
      ),
    ]);
  }
}
