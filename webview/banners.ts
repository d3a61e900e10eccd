/** The banners above the view: a bad host message, a failed depth map, no VS Code host. */
import { h } from './dom.js';

export class Banners {
  readonly el = h('div', { class: 'banners', attrs: { 'aria-live': 'polite' } });

  show(text: string, kind: 'error' | 'info'): void {
    const close = h('button', { class: 'banner-close', text: '×', title: 'Dismiss', attrs: { 'aria-label': 'dismiss' } });
    const b = h('div', { class: `banner banner-${kind}`, attrs: { role: kind === 'error' ? 'alert' : 'status' } }, [h('span', { class: 'banner-text', text }), close]);
    close.addEventListener('click', () => b.remove());
    this.el.append(b);
    // Keep the last few: a host in a loop must not bury the view under banners.
    while (this.el.children.length > 3) this.el.firstElementChild?.remove();
  }
}
