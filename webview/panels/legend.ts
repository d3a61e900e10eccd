/** The depth heat map's legend under the stage: the colour ramp with the map's near and far values. */
import type { DepthMapData } from '../../src/protocol/webview.js';
import { formatMetres, paintRampBar } from '../depth.js';
import { h, setChildren } from '../dom.js';
import type { Panel } from '../panelSlot.js';

export interface LegendInputs {
  /** The heat-map layer is on. */
  on: boolean;
  /** The map painted on the stage (null: none yet). */
  painted: DepthMapData | null;
  requested: boolean;
}

export class LegendPanel implements Panel<LegendInputs> {
  readonly el = h('div', { class: 'legend', attrs: { hidden: true } });

  render(i: LegendInputs): void {
    this.el.hidden = !i.on;
    if (!i.on) return;
    const m = i.painted;
    if (!m) {
      setChildren(this.el, [h('span', { class: 'muted', text: i.requested ? 'Loading the depth map…' : 'No depth map.' })]);
      return;
    }
    const bar = h('canvas', { class: 'legend-bar', attrs: { 'aria-hidden': 'true' } });
    paintRampBar(bar);
    setChildren(this.el, [
      h('span', { class: 'legend-title', text: 'depth' }),
      h('span', { class: 'legend-min', text: formatMetres(m.min), attrs: { 'data-value': m.min } }),
      bar,
      h('span', { class: 'legend-max', text: formatMetres(m.max), attrs: { 'data-value': m.max } }),
      h('span', { class: 'muted', text: `near → far${m.model ? ` · ${m.model}` : ''}` }),
    ]);
  }
}
