/**
 * The canvas's fallback content: a list of what is drawn, for screen readers (and tests). It lags
 * a little behind the drawing so dragging a slider does not rebuild hundreds of items a frame.
 */
import { h } from '../dom.js';
import { visibleBoxes } from '../model.js';
import type { StageScene } from './scene.js';

export class BoxList {
  readonly el = h('ul', { class: 'box-list' });
  private timer: ReturnType<typeof setTimeout> | null = null;

  /** Rebuilds the list soon; `listed(n)` is told how many items it holds. */
  schedule(scene: () => StageScene | null, listed: (n: number) => void): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      listed(this.render(scene()));
    }, 120);
  }

  private render(s: StageScene | null): number {
    const items: HTMLLIElement[] = [];
    if (s && s.layers.boxes) {
      for (const call of s.calls) {
        if (call.tool !== 'gd_detect') continue;
        for (const b of visibleBoxes(call, s.thresholds)) {
          items.push(h('li', { text: `call ${call.index}: ${b.text}`, attrs: { 'data-call': call.index, 'data-color': call.color } }));
        }
      }
    }
    this.el.replaceChildren(...items);
    return items.length;
  }
}
