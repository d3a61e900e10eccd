/** The stage's toolbar: one toggle per drawing layer (with its key) and the zoom buttons. */
import { h, setChildren } from '../dom.js';
import type { LayerName, Layers } from '../state.js';

export const LAYERS: ReadonlyArray<{ name: LayerName; label: string; key: string; help: string }> = [
  { name: 'boxes', label: 'Boxes', key: 'b', help: 'detection boxes' },
  { name: 'labels', label: 'Labels', key: 'l', help: 'box labels and scores' },
  { name: 'depthRegions', label: 'Depth', key: 'd', help: 'regions sampled by depth calls' },
  { name: 'crops', label: 'Crops', key: 'c', help: 'crops sent to VQA' },
  { name: 'depthMap', label: 'Heat map', key: 'h', help: 'the depth map as a heat map' },
  { name: 'grounding', label: 'Grounding', key: 'g', help: 'grounding verifier boxes (kept solid, dropped dashed)' },
];

export interface ToolbarActions {
  toggleLayer(name: LayerName): void;
  zoomBy(factor: number): void;
  fit(): void;
}

export class Toolbar {
  readonly el = h('div', { class: 'toolbar', attrs: { role: 'toolbar', 'aria-label': 'layers and zoom' } });
  private readonly zoomLabel = h('span', { class: 'zoom-label', attrs: { 'aria-live': 'off' } });
  private readonly toggles = new Map<LayerName, HTMLButtonElement>();

  constructor(actions: ToolbarActions) {
    const buttons: HTMLElement[] = LAYERS.map((l) => {
      const b = h('button', {
        class: 'toggle',
        text: l.label,
        title: `Show or hide ${l.help} (${l.key})`,
        attrs: { 'data-layer': l.name, 'aria-pressed': 'false', 'aria-keyshortcuts': l.key },
        on: { click: () => actions.toggleLayer(l.name) },
      });
      this.toggles.set(l.name, b);
      return b;
    });
    setChildren(this.el, [
      h('div', { class: 'toggles' }, buttons),
      h('div', { class: 'zoom' }, [
        h('button', { class: 'zoom-out', text: '−', title: 'Zoom out (-)', on: { click: () => actions.zoomBy(1 / 1.25) } }),
        this.zoomLabel,
        h('button', { class: 'zoom-in', text: '+', title: 'Zoom in (+)', on: { click: () => actions.zoomBy(1.25) } }),
        h('button', { class: 'zoom-fit', text: 'Fit', title: 'Fit the image (0)', on: { click: () => actions.fit() } }),
      ]),
    ]);
  }

  /** Pressed state of the toggles (attributes only: nothing is rebuilt). */
  syncLayers(layers: Layers): void {
    for (const [name, b] of this.toggles) b.setAttribute('aria-pressed', layers[name] ? 'true' : 'false');
  }

  showZoom(zoom: number): void {
    this.zoomLabel.textContent = `${Math.round(zoom * 100)}%`;
  }
}
