/**
 * A detection call's box-threshold slider: re-filters the recorded low-threshold candidates
 * without re-running, shows how many boxes pass, and, when the record holds a sensitivity report,
 * the answer each slider position would give (bands along the track, the answer at the current
 * position beside it; webview/sensitivityBands.ts).
 */
import type { DetectSensitivity } from '../../src/protocol/sensitivity.js';
import { h } from '../dom.js';
import type { CallView } from '../model.js';
import { effectiveThreshold, visibleCount } from '../model.js';
import { answerAt, sliderBands } from '../sensitivityBands.js';
import type { ViewContext } from '../viewContext.js';

export interface SliderSensitivity {
  detect: DetectSensitivity;
  /** The recorded run's outcome key. */
  recorded: string;
}

export class ThresholdSlider {
  readonly el: HTMLElement;
  private readonly slider: HTMLInputElement;
  private readonly value = h('span', { class: 'threshold-value' });
  private readonly count = h('span', { class: 'threshold-count' });
  private readonly answer: HTMLElement | null;
  private row: HTMLElement | null = null;

  constructor(
    private readonly call: CallView,
    private readonly ctx: ViewContext,
    private readonly sens: SliderSensitivity | null,
  ) {
    const min = Math.max(0, Math.floor(call.minScore * 100) / 100);
    this.slider = h('input', {
      class: 'threshold',
      attrs: { type: 'range', min: String(min), max: '1', step: '0.01', 'aria-label': `box threshold of call #${call.index}` },
    });
    this.slider.value = String(effectiveThreshold(call, ctx.state.thresholds) ?? 0);
    this.slider.addEventListener('input', () => this.onInput());
    // The slider lives inside a clickable row: keep its clicks and keys to itself.
    this.slider.addEventListener('click', (ev) => ev.stopPropagation());
    const reset = h('button', {
      class: 'link threshold-reset',
      text: 'reset',
      title: `Back to the program's threshold (${(call.threshold ?? 0).toFixed(2)})`,
      on: {
        click: (ev) => {
          ev.stopPropagation();
          delete this.ctx.state.thresholds[String(call.index)];
          this.slider.value = String(call.threshold ?? 0);
          this.onInput();
        },
      },
    });
    this.answer = sens ? h('span', { class: 'threshold-answer', attrs: { 'aria-live': 'polite' } }) : null;
    const track = sens ? h('div', { class: 'threshold-track' }, [this.slider, this.bands(sens, min)]) : this.slider;
    this.el = h('div', { class: 'threshold-row' }, [h('span', { class: 'muted', text: 'threshold' }), track, this.value, this.count, this.answer, reset]);
  }

  /** The call's row, marked while the threshold differs from the program's. */
  bindRow(row: HTMLElement): void {
    this.row = row;
    this.update();
  }

  private bands(s: SliderSensitivity, min: number): HTMLElement {
    const span = Math.max(1e-9, 1 - min);
    const bands = sliderBands(s.detect, s.recorded, min).map((b) => {
      const el = h('span', {
        class: `band band-${b.kind}`,
        text: b.label,
        title: `box threshold ${b.from.toFixed(2)}–${b.to.toFixed(2)}: ${b.kind === 'same' ? 'the recorded answer' : b.kind === 'unknown' ? 'unknown (a replay needed a call the record lacks)' : 'a different answer'}: ${b.label}`,
        attrs: { 'data-from': b.from, 'data-to': b.to, 'data-kind': b.kind, 'data-answer': b.label },
      });
      // Placed by the CSS object model (allowed by the CSP), not by a style attribute.
      el.style.left = `${((b.from - min) / span) * 100}%`;
      el.style.width = `${((b.to - b.from) / span) * 100}%`;
      return el;
    });
    return h('div', { class: 'threshold-bands', attrs: { 'aria-label': `answers by box threshold for call #${this.call.index}${s.detect.partial ? ' (only a window around the threshold was analysed)' : ''}` } }, bands);
  }

  private onInput(): void {
    const t = Math.round(Number(this.slider.value) * 100) / 100;
    const key = String(this.call.index);
    if (Math.abs(t - (this.call.threshold ?? -1)) < 1e-9) delete this.ctx.state.thresholds[key];
    else this.ctx.state.thresholds[key] = t;
    this.update();
    this.ctx.thresholdChanged();
  }

  private update(): void {
    const t = effectiveThreshold(this.call, this.ctx.state.thresholds);
    const n = visibleCount(this.call, t);
    this.value.textContent = `≥ ${(t ?? 0).toFixed(2)}`;
    this.count.textContent = `${n} of ${this.call.boxes.length} boxes`;
    this.count.dataset['visible'] = String(n);
    if (this.answer && this.sens) {
      const a = answerAt(this.sens.detect, this.sens.recorded, t ?? 0);
      this.answer.textContent = `→ ${a.label}`;
      this.answer.dataset['kind'] = a.kind;
      this.answer.title = a.kind === 'same' ? 'the recorded answer' : a.kind === 'changed' ? 'a different answer than the recorded one' : a.kind === 'unknown' ? 'unknown: a replay needed a call the record lacks' : 'this threshold was not analysed';
    }
    this.row?.classList.toggle('threshold-changed', String(this.call.index) in this.ctx.state.thresholds);
  }
}
