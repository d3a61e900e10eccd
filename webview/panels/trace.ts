/**
 * The program trace: one row per tool call in program order, with its line, code, time and
 * result (boxes with a threshold slider, the depth read, the VQA crop with question and answer).
 * A row selects its call (click, or j/k in the app); hovering highlights the call's boxes.
 */
import type { SensitivityReport } from '../../src/protocol/sensitivity.js';
import { formatMetres } from '../depth.js';
import { h, setChildren } from '../dom.js';
import type { CallView } from '../model.js';
import { preview } from '../model.js';
import type { Panel } from '../panelSlot.js';
import { detectSensitivityOf } from '../sensitivityBands.js';
import type { ViewContext } from '../viewContext.js';
import { ThresholdSlider } from './thresholdSlider.js';

export interface TraceInputs {
  calls: CallView[];
  running: boolean;
  failed: boolean;
  sensitivity: SensitivityReport | undefined;
}

interface CallRow {
  call: CallView;
  row: HTMLLIElement;
  crop?: HTMLCanvasElement;
}

export class TracePanel implements Panel<TraceInputs> {
  readonly el = h('ol', { class: 'trace', attrs: { 'aria-label': 'tool calls in program order' } });
  /** The call count beside the section title. */
  readonly summary = h('span', { class: 'section-note' });
  private rows: CallRow[] = [];

  constructor(private readonly ctx: ViewContext) {}

  render(i: TraceInputs): void {
    this.rows = i.calls.map((call) => this.callRow(call, i.sensitivity));
    setChildren(this.el, this.rows.map((r) => r.row));
    if (i.calls.length === 0) {
      this.el.append(h('li', { class: 'muted', text: i.running ? 'Running…' : i.failed ? 'The program made no tool calls before it failed.' : 'No tool calls.' }));
    }
    const detect = i.calls.filter((c) => c.tool === 'gd_detect').length;
    this.summary.textContent = ` ${i.calls.length} call${i.calls.length === 1 ? '' : 's'}${detect ? `, ${detect} detection` : ''}`;
    this.markSelected(false);
  }

  /** Marks the row of `state.selectedCall` (and scrolls it into view when asked). */
  markSelected(scroll: boolean): void {
    for (const r of this.rows) {
      const on = r.call.index === this.ctx.state.selectedCall;
      r.row.setAttribute('aria-selected', on ? 'true' : 'false');
      r.row.classList.toggle('selected', on);
      if (on && scroll) r.row.scrollIntoView({ block: 'nearest' });
    }
  }

  markHover(index: number | null): void {
    for (const r of this.rows) r.row.classList.toggle('hovered', r.call.index === index);
  }

  /** Paints the VQA crop previews (again once the image is decoded). */
  paintCrops(): void {
    for (const r of this.rows) if (r.crop) this.paintCrop(r);
  }

  private callRow(call: CallView, sensitivity: SensitivityReport | undefined): CallRow {
    const argText = Object.entries(call.args)
      .filter(([k]) => k !== 'img_pth')
      .map(([k, v]) => `${k}=${preview(v, 80)}`)
      .join(', ');
    const swatch = h('span', { class: 'swatch', attrs: { 'aria-hidden': 'true' } });
    if (call.color) {
      swatch.style.backgroundColor = call.color;
      swatch.dataset['color'] = call.color;
    } else swatch.classList.add(`swatch-${call.tool}`);
    const head = h('div', { class: 'call-head' }, [
      swatch,
      h('span', { class: 'call-index', text: `#${call.index}` }),
      h('span', { class: 'call-line', text: call.shownLine !== null ? `line ${call.shownLine}` : 'line ?' }),
      h('code', { class: 'call-code', text: `${call.variable ? `${call.variable} = ` : ''}${call.tool}(${argText})` }),
      h('span', { class: 'call-ms', text: `${Math.round(call.ms)} ms${call.cached ? ' · cached' : ''}` }),
    ]);
    const body: Array<HTMLElement | null> = [];
    let slider: ThresholdSlider | null = null;
    let crop: HTMLCanvasElement | undefined;
    if (call.error) {
      body.push(h('div', { class: 'call-error', text: `${call.error.type}: ${call.error.message}` }));
    } else if (call.tool === 'gd_detect') {
      const program = call.boxes.filter((b) => b.resultIndex !== null).length;
      body.push(h('div', { class: 'call-result', text: `→ ${program} box${program === 1 ? '' : 'es'}${call.hasCandidates ? ` (of ${call.boxes.length} candidates)` : ''}` }));
      if (call.hasCandidates) {
        const detect = detectSensitivityOf(sensitivity, call.index);
        slider = new ThresholdSlider(call, this.ctx, detect && sensitivity ? { detect, recorded: sensitivity.outcome } : null);
        body.push(slider.el);
      } else if (call.boxes.length) {
        body.push(h('div', { class: 'muted', text: 'No low-threshold candidates recorded: the threshold cannot be changed here.' }));
      }
    } else if (call.tool === 'depth') {
      body.push(h('div', { class: 'call-result', text: call.depth !== null ? `→ ${formatMetres(call.depth)}` : `→ ${preview(call.result)}` }));
      if (call.region) body.push(h('div', { class: 'muted', text: `sampled region [${call.region.map((v) => Math.round(v)).join(', ')}]` }));
    } else {
      crop = h('canvas', { class: 'crop-preview', attrs: { 'aria-label': 'the image region sent to the VQA model' } });
      body.push(
        h('div', { class: 'vqa' }, [
          crop,
          h('div', { class: 'vqa-text' }, [
            h('div', { class: 'muted', text: call.wholeImage ? 'whole image' : `crop sent [${(call.crop ?? []).map((v) => Math.round(v)).join(', ')}]` }),
            h('div', { class: 'vqa-q', text: `Q: ${call.question ?? '?'}` }),
            h('div', { class: 'vqa-a', text: `A: ${call.answer ?? '—'}` }),
          ]),
        ]),
      );
    }
    const row = h(
      'li',
      {
        class: `call call-${call.tool}${call.error ? ' call-failed' : ''}`,
        attrs: { 'data-index': call.index, 'data-line': call.line ?? '', tabindex: '-1', 'aria-selected': 'false' },
        on: {
          click: () => this.ctx.selectCall(call.index, true),
          mouseenter: () => this.ctx.hoverCall(call.index),
          mouseleave: () => this.ctx.hoverCall(null),
        },
      },
      [head, ...body],
    );
    slider?.bindRow(row);
    const r: CallRow = { call, row, ...(crop ? { crop } : {}) };
    if (crop) this.paintCrop(r);
    return r;
  }

  private paintCrop(r: CallRow): void {
    const canvas = r.crop;
    const src = this.ctx.cropSource();
    if (!canvas || !src) return;
    const [x1, y1, x2, y2] = r.call.crop ?? [0, 0, src.width, src.height];
    const w = Math.max(1, x2 - x1);
    const hh = Math.max(1, y2 - y1);
    const scale = Math.min(160 / w, 120 / hh);
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.max(1, Math.round(w * scale * dpr));
    canvas.height = Math.max(1, Math.round(hh * scale * dpr));
    canvas.style.width = `${Math.round(w * scale)}px`;
    canvas.style.height = `${Math.round(hh * scale)}px`;
    const ctx = canvas.getContext('2d');
    ctx?.drawImage(src.img, x1, y1, w, hh, 0, 0, canvas.width, canvas.height);
  }
}
