/**
 * The side panels and the router that feeds them: after every change the app hands over what it
 * holds (`ViewData`) and each panel gets its own inputs, picked from it field by field; its slot
 * re-renders it only when one of them changed (webview/panelSlot.ts).
 */
import { NOT_REPAIRABLE_ERRORS } from '../src/protocol/run.js';
import type { DepthMapData, PendingPart, ViewRunRecord } from '../src/protocol/webview.js';
import { h } from './dom.js';
import type { CallView } from './model.js';
import { PanelSlot } from './panelSlot.js';
import { AnswerPanel } from './panels/answer.js';
import { ComparePanel } from './panels/compare.js';
import { GroundingPanel } from './panels/grounding.js';
import { HeaderPanel } from './panels/header.js';
import { LegendPanel } from './panels/legend.js';
import { LinesPanel } from './panels/lines.js';
import { PlanPanel } from './panels/plan.js';
import { ScoresPanel } from './panels/scores.js';
import { sectionBox } from './panels/section.js';
import { TracePanel } from './panels/trace.js';
import type { ViewState } from './state.js';
import type { ViewContext } from './viewContext.js';

/** Everything the panels show, as the app holds it. */
export interface ViewData {
  run: ViewRunRecord;
  calls: CallView[];
  compare: ViewRunRecord | null;
  pending: ReadonlySet<PendingPart>;
  state: ViewState;
  image: { width: number; height: number; ready: boolean };
  depth: { painted: DepthMapData | null; requested: boolean };
}

export class PanelRouter {
  readonly header = new PanelSlot(new HeaderPanel());
  readonly answer: PanelSlot<AnswerPanel>;
  readonly trace: PanelSlot<TracePanel>;
  readonly lines: PanelSlot<LinesPanel>;
  readonly scores: PanelSlot<ScoresPanel>;
  readonly plan = new PanelSlot(new PlanPanel());
  readonly grounding: PanelSlot<GroundingPanel>;
  readonly compare = new PanelSlot(new ComparePanel());
  readonly legend = new PanelSlot(new LegendPanel());
  /** The side column with every section, in reading order. */
  readonly side: HTMLElement;

  constructor(ctx: ViewContext) {
    this.answer = new PanelSlot(new AnswerPanel(ctx));
    this.trace = new PanelSlot(new TracePanel(ctx));
    this.lines = new PanelSlot(new LinesPanel(ctx));
    this.scores = new PanelSlot(new ScoresPanel(ctx));
    this.grounding = new PanelSlot(new GroundingPanel(ctx));
    this.side = h('aside', { class: 'side' }, [
      sectionBox('Answer', this.answer.panel.el, 'section-answer'),
      sectionBox('Program trace', this.trace.panel.el, 'section-trace', this.trace.panel.summary),
      this.lines.panel.section,
      sectionBox('Scores', this.scores.panel.el, 'section-scores'),
      sectionBox('Plan', this.plan.panel.el, 'section-plan'),
      this.grounding.panel.section,
      this.compare.panel.section,
    ]);
  }

  /** Gives every panel its inputs; each re-renders only if they changed. */
  route(d: ViewData): void {
    const run = d.run;
    const running = d.pending.has('run');
    this.header.update({
      query: run.query,
      image: run.image,
      model: run.generator?.model,
      created: run.created,
      timings: run.timings,
      isolation: run.isolation,
      imageWidth: d.image.width,
      imageHeight: d.image.height,
      imageReady: d.image.ready,
      running,
    });
    this.answer.update({
      runId: run.id,
      programDocumentLine: run.program_document_line,
      error: run.error,
      hasAnswer: 'final_answer' in run,
      answer: run.final_answer,
      rewards: run.rewards,
      stdout: run.stdout,
      running,
      // The program's own failure, not the tool server's or the runner's: the fix can help.
      fixable: Boolean(run.error) && !NOT_REPAIRABLE_ERRORS.has(run.error?.type ?? '') && !(run.trace ?? []).some((t) => t.error?.tool_server === true),
    });
    this.trace.update({ calls: d.calls, running, failed: Boolean(run.error), sensitivity: run.sensitivity });
    this.lines.update({ runId: run.id, program: run.program, lineTrace: run.line_trace, calls: run.trace, error: run.error });
    this.scores.update({ runId: run.id, programDocumentLine: run.program_document_line, rewards: run.rewards, scoring: d.pending.has('rewards') });
    this.plan.update({ plan: run.plan });
    this.grounding.update({ results: run.grounding ?? [], verifying: d.pending.has('grounding'), filter: d.state.groundingFilter });
    this.compare.update({ id: run.id, error: run.error, finalAnswer: run.final_answer, rewards: run.rewards, program: run.program, calls: d.calls, other: d.compare });
    this.legend.update({ on: d.state.layers.depthMap, painted: d.depth.painted, requested: d.depth.requested });
  }
}
