/** The answer section: the final answer or the error (with its line), the total reward, stdout. */
import { shownLine } from '../../src/protocol/run.js';
import type { ViewRunRecord } from '../../src/protocol/webview.js';
import { h, setChildren } from '../dom.js';
import { preview } from '../model.js';
import type { Panel } from '../panelSlot.js';
import type { ViewContext } from '../viewContext.js';

export interface AnswerInputs {
  runId: string;
  programDocumentLine: ViewRunRecord['program_document_line'];
  error: ViewRunRecord['error'];
  /** Whether the record has a `final_answer` key at all (null is an answer). */
  hasAnswer: boolean;
  answer: unknown;
  rewards: ViewRunRecord['rewards'];
  stdout: ViewRunRecord['stdout'];
  running: boolean;
  /** Whether the error is the program's, so "Fix with the model" is offered (the host checks again). */
  fixable: boolean;
}

export class AnswerPanel implements Panel<AnswerInputs> {
  readonly el = h('div', { class: 'answer' });

  constructor(private readonly ctx: ViewContext) {}

  render(i: AnswerInputs): void {
    const parts: HTMLElement[] = [];
    if (i.error) {
      const e = i.error;
      parts.push(
        h('div', { class: 'answer-error', attrs: { role: 'status' } }, [
          h('span', { class: 'badge badge-error', text: 'error' }),
          h('span', { class: 'answer-text', text: `${e.type}: ${e.message}` }),
          e.line !== null
            ? h('button', {
                class: 'link error-line',
                text: `line ${shownLine({ program_document_line: i.programDocumentLine }, e.line)}`,
                title: 'Show the line in the editor',
                on: { click: () => e.line !== null && this.ctx.post({ type: 'revealLine', runId: i.runId, line: e.line }) },
              })
            : null,
          i.fixable && !i.running
            ? h('button', {
                class: 'link fix-with-model',
                text: 'Fix with the model…',
                title: "Ask the generator to fix the program, and review its fix as a diff in the editor",
                on: { click: () => this.ctx.post({ type: 'fixWithModel', runId: i.runId }) },
              })
            : null,
        ]),
      );
      if (e.traceback) parts.push(h('details', { class: 'traceback' }, [h('summary', { text: 'Traceback' }), h('pre', { text: e.traceback })]));
    } else if (i.hasAnswer && i.answer !== undefined) {
      const a = i.answer;
      parts.push(h('div', { class: 'answer-value' }, [h('span', { class: 'answer-label', text: 'final_answer = ' }), h('code', { class: 'answer-text', text: typeof a === 'string' ? a : preview(a, 400) })]));
    } else {
      parts.push(h('div', { class: 'muted', text: i.running ? 'Running…' : 'No answer recorded.' }));
    }
    const total = i.rewards?.total;
    if (i.rewards) {
      parts.push(
        h('div', { class: 'total' }, [
          h('span', { text: 'Reward ' }),
          h('strong', { class: 'total-value', text: total === null || total === undefined ? '—' : total.toFixed(2) }),
          i.rewards.incomplete ? h('span', { class: 'muted', text: ' (incomplete: a judge failed)' }) : null,
        ]),
      );
    }
    if (i.stdout) parts.push(h('details', { class: 'stdout' }, [h('summary', { text: 'Program output' }), h('pre', { text: i.stdout })]));
    setChildren(this.el, parts);
  }
}
