/**
 * The grounding verifier's results: per prompt the candidate boxes with their fate (kept, or the
 * stage that dropped them and why), filtered by stage; a box is focused by click or arrows and
 * kept or dropped with its button or a / r (the app posts `flipBox`).
 */
import type { BoxFate, GroundingResult } from '../../src/protocol/run.js';
import { h, setChildren } from '../dom.js';
import type { GroundingFilter } from '../model.js';
import { groundingCounts, groundingMatches } from '../model.js';
import type { Panel } from '../panelSlot.js';
import type { ViewContext } from '../viewContext.js';
import { sectionBox } from './section.js';

export interface GroundingInputs {
  results: GroundingResult[];
  verifying: boolean;
  filter: GroundingFilter;
}

const STAGE_FILTERS: ReadonlyArray<{ value: GroundingFilter; label: string }> = [
  { value: 'all', label: 'All boxes' },
  { value: 'kept', label: 'Kept' },
  { value: 'coarse', label: 'Dropped: coarse filter' },
  { value: 'crop', label: 'Dropped: crop check' },
  { value: 'dedup', label: 'Dropped: deduplication' },
];

export class GroundingPanel implements Panel<GroundingInputs> {
  readonly el = h('div', { class: 'grounding' });
  /** Hidden while there are no results and none are coming. */
  readonly section = sectionBox('Grounding verifier', this.el, 'section-grounding');

  constructor(private readonly ctx: ViewContext) {
    this.section.hidden = true;
  }

  render(i: GroundingInputs): void {
    this.section.hidden = i.results.length === 0 && !i.verifying;
    const filter = h('select', {
      class: 'grounding-filter',
      attrs: { 'aria-label': 'show boxes by stage' },
      on: { change: () => this.ctx.setGroundingFilter(filter.value as GroundingFilter) },
    });
    const totals = { all: 0, kept: 0, coarse: 0, crop: 0, dedup: 0 };
    for (const g of i.results) {
      const c = groundingCounts(g);
      totals.all += c.total;
      totals.kept += c.kept;
      totals.coarse += c.coarse;
      totals.crop += c.crop;
      totals.dedup += c.dedup;
    }
    for (const f of STAGE_FILTERS) filter.append(h('option', { text: `${f.label} (${totals[f.value]})`, attrs: { value: f.value } }));
    filter.value = i.filter;
    const groups = i.results.map((g, gi) => this.group(g, gi, i.filter));
    const active = document.activeElement;
    const refocus = active instanceof HTMLElement && active.classList.contains('gbox');
    setChildren(this.el, [
      i.verifying ? h('div', { class: 'working', text: 'Verifying boxes…' }) : null,
      i.results.length ? h('div', { class: 'grounding-tools' }, [filter, h('span', { class: 'muted', text: ' a keep · r drop · ↑↓ move' })]) : null,
      ...groups,
    ]);
    if (refocus && this.ctx.state.focusedBox) this.focusedRow()?.focus();
  }

  private group(g: GroundingResult, gi: number, filter: GroundingFilter): HTMLElement {
    const c = groundingCounts(g);
    const first = g.boxes.find((x) => groundingMatches(x, filter));
    const rows = g.boxes.filter((b) => groundingMatches(b, filter)).map((b) => this.boxRow(b, gi, gi === 0 && b === first));
    return h('div', { class: 'grounding-group' }, [
      h('div', { class: 'grounding-head' }, [
        h('strong', { text: `“${g.prompt}”` }),
        h('span', { class: 'muted', text: ` ${c.kept} kept of ${c.total} · coarse −${c.coarse} · crop −${c.crop} · dedup −${c.dedup} · ${g.verifier_model}` }),
      ]),
      rows.length ? h('ul', { class: 'gbox-list', attrs: { role: 'listbox', 'aria-label': `boxes for ${g.prompt}` } }, rows) : h('div', { class: 'muted', text: 'No boxes at this stage.' }),
    ]);
  }

  private boxRow(b: BoxFate, gi: number, firstShown: boolean): HTMLLIElement {
    const f = this.ctx.state.focusedBox;
    const focused = f?.[0] === gi && f[1] === b.index;
    const fate = b.kept ? 'kept' : `dropped at ${b.dropped_at ?? '?'}${b.reason ? `: ${b.reason}` : ''}`;
    return h(
      'li',
      {
        class: `gbox ${b.kept ? 'gbox-kept' : 'gbox-dropped'}${b.overridden ? ' gbox-overridden' : ''}`,
        attrs: {
          role: 'option',
          tabindex: focused || (!f && firstShown) ? '0' : '-1',
          'aria-selected': focused ? 'true' : 'false',
          'data-grounding': gi,
          'data-box': b.index,
          'data-kept': b.kept ? 'true' : 'false',
          'data-stage': b.kept ? 'kept' : (b.dropped_at ?? ''),
        },
        on: {
          focus: () => this.ctx.focusBox(gi, b.index),
          click: () => this.ctx.focusBox(gi, b.index),
        },
      },
      [
        // Numbered from 1, as the verifier saw them (drawn labels, its lists and replies).
        h('span', { class: 'gbox-index', text: `#${b.index + 1}` }),
        h('span', { class: 'gbox-label', text: `${b.label} ${b.score.toFixed(2)}` }),
        h('span', { class: `badge ${b.kept ? 'badge-pass' : 'badge-fail'}`, text: b.kept ? 'kept' : 'dropped' }),
        h('span', { class: 'gbox-fate', text: fate }),
        b.overridden ? h('span', { class: 'badge badge-human', text: 'human' }) : null,
        h('button', {
          class: 'flip',
          text: b.kept ? 'Drop' : 'Keep',
          title: `${b.kept ? 'Drop' : 'Keep'} this box (a to keep, r to drop; recorded as an override)`,
          attrs: { tabindex: '-1' },
          on: {
            click: (ev) => {
              ev.stopPropagation();
              this.ctx.decideBox(gi, b.index, !b.kept);
            },
          },
        }),
      ],
    );
  }

  /** The row of the focused box, if it is shown. */
  focusedRow(): HTMLElement | null {
    const f = this.ctx.state.focusedBox;
    if (!f) return null;
    return this.el.querySelector<HTMLElement>(`li.gbox[data-grounding="${f[0]}"][data-box="${f[1]}"]`);
  }

  /** Marks the focused box's row (state.focusedBox) without rebuilding the list. */
  markFocus(): void {
    const f = this.ctx.state.focusedBox;
    for (const li of this.el.querySelectorAll<HTMLElement>('li.gbox')) {
      const on = f !== null && li.dataset['grounding'] === String(f[0]) && li.dataset['box'] === String(f[1]);
      li.setAttribute('aria-selected', on ? 'true' : 'false');
      li.tabIndex = on ? 0 : -1;
    }
  }

  /** Moves keyboard focus to the next (+1) or previous (-1) box row from `from`. */
  moveFocus(from: HTMLElement, delta: 1 | -1): void {
    const rows = [...this.el.querySelectorAll<HTMLElement>('li.gbox')];
    const i = rows.indexOf(from);
    rows[Math.min(rows.length - 1, Math.max(0, i + delta))]?.focus();
  }
}
