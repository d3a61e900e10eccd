/** The run's header: the query, what it ran on (image, size, model, time) and how it was confined. */
import type { ViewRunRecord } from '../../src/protocol/webview.js';
import { h, setChildren } from '../dom.js';
import type { Panel } from '../panelSlot.js';

export interface HeaderInputs {
  query: ViewRunRecord['query'];
  image: ViewRunRecord['image'];
  model: string | undefined;
  created: ViewRunRecord['created'];
  timings: ViewRunRecord['timings'];
  isolation: ViewRunRecord['isolation'];
  /** The decoded image's size (used when the record does not say). */
  imageWidth: number;
  imageHeight: number;
  imageReady: boolean;
  running: boolean;
}

export class HeaderPanel implements Panel<HeaderInputs> {
  readonly el = h('header', { class: 'run-header' });

  render(i: HeaderInputs): void {
    const meta: string[] = [];
    if (i.image?.path) meta.push(i.image.path);
    if (i.image?.width && i.image.height) meta.push(`${i.image.width}×${i.image.height}`);
    else if (i.imageReady) meta.push(`${i.imageWidth}×${i.imageHeight}`);
    if (i.model) meta.push(i.model);
    if (i.created) meta.push(i.created);
    if (i.timings) meta.push(`${Math.round(i.timings.total_ms)} ms`);
    setChildren(this.el, [
      h('h1', { class: 'query', text: i.query ?? '(no query recorded)' }),
      h('div', { class: 'meta', text: meta.join(' · ') }),
      isolationLabel(i.isolation),
      i.running ? h('div', { class: 'working', text: 'Running the program…' }) : null,
    ]);
  }
}

/** How the program's process was confined, as the user sees it; nothing for records that do not say. */
function isolationLabel(mode: ViewRunRecord['isolation']): HTMLElement | null {
  if (mode === 'sandbox') return h('div', { class: 'isolation isolation-sandbox', text: 'sandbox: OS (Landlock + seccomp)', title: 'The program ran in the OS sandbox: no file, network or process access beyond Python itself (docs/threat-model.md).' });
  if (mode === 'process')
    return h('div', {
      class: 'isolation isolation-process',
      text: 'no OS sandbox (isolation: process)',
      title: 'The program ran as a plain python3 process with limits: a hostile program could read your files and reach the network. Set valor.run.isolation to "sandbox" (docs/threat-model.md).',
      attrs: { role: 'note' },
    });
  return null;
}
