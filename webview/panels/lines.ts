/** The program read line by line with its values (webview/lineView.ts); a line selects the call whose boxes it used. */
import type { ViewRunRecord } from '../../src/protocol/webview.js';
import { setChildren, h } from '../dom.js';
import { renderLineView } from '../lineView.js';
import type { Panel } from '../panelSlot.js';
import type { ViewContext } from '../viewContext.js';
import { sectionBox } from './section.js';

export interface LinesInputs {
  runId: string;
  program: ViewRunRecord['program'];
  lineTrace: ViewRunRecord['line_trace'];
  calls: ViewRunRecord['trace'];
  error: ViewRunRecord['error'];
}

export class LinesPanel implements Panel<LinesInputs> {
  readonly el = h('div', { class: 'lines-box' });
  /** Hidden while the record has no line trace. */
  readonly section = sectionBox('Program lines', this.el, 'section-lines');
  private selected: number | null = null;
  private last: LinesInputs | null = null;

  constructor(private readonly ctx: ViewContext) {
    this.section.hidden = true;
  }

  render(i: LinesInputs): void {
    this.last = i;
    const trace = i.lineTrace;
    const program = i.program;
    this.section.hidden = !trace || !program;
    if (!trace || !program) return;
    const list = renderLineView(
      { program, trace, calls: i.calls ?? [], errorLine: i.error?.line ?? null, errorText: i.error ? `${i.error.type}: ${i.error.message}` : null },
      this.selected,
      (line, call) => {
        this.selected = line;
        if (this.last) this.render(this.last);
        if (call !== null) this.ctx.selectCall(call, false);
        this.ctx.post({ type: 'revealLine', runId: i.runId, line, ...(call !== null ? { callIndex: call } : {}) });
      },
    );
    setChildren(this.el, [list]);
  }
}
