/** The tooltip over the box under the pointer: its label and score, its call and line, the program's name for it. */
import { h } from '../dom.js';
import type { CallView, ViewBox } from '../model.js';

export class Tooltip {
  readonly el = h('div', { class: 'stage-tooltip', attrs: { role: 'tooltip', hidden: true } });

  /** Shows `box` at (x, y) in a stage `width` × `height` CSS pixels; null hides it. */
  show(box: ViewBox | null, calls: readonly CallView[] | null, x: number, y: number, width: number, height: number): void {
    if (!box || !calls) {
      this.el.hidden = true;
      return;
    }
    const call = calls.find((c) => c.index === box.call);
    const where = call ? `gd_detect call #${call.index}${call.shownLine !== null ? `, line ${call.shownLine}` : ''}` : `call #${box.call}`;
    const variable =
      call?.variable && box.resultIndex !== null
        ? `${call.variable}[${box.resultIndex}]`
        : box.resultIndex === null
          ? 'candidate below the program\u2019s threshold (the program did not see it)'
          : `result[${box.resultIndex}]`;
    this.el.replaceChildren(h('strong', { text: box.text }), h('br'), where, h('br'), variable);
    this.el.hidden = false;
    this.move(x, y, width, height);
  }

  /** Follows the pointer, flipping to its left near the right edge and staying inside the stage. */
  move(x: number, y: number, width: number, height: number): void {
    const w = this.el.offsetWidth;
    const left = x + 14 + w > width ? Math.max(0, x - 14 - w) : x + 14;
    this.el.style.left = `${left}px`;
    this.el.style.top = `${Math.min(Math.max(0, height - this.el.offsetHeight), y + 14)}px`;
  }
}
