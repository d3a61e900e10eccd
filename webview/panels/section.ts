/** A collapsible side-panel section: a `<details>` with a title (and an optional note) over the body. */
import { h } from '../dom.js';

export function sectionBox(title: string, body: HTMLElement, cls: string, note?: HTMLElement): HTMLDetailsElement {
  return h('details', { class: `section ${cls}`, attrs: { open: true } }, [h('summary', {}, [h('span', { class: 'section-title', text: title }), note ?? null]), body]);
}
