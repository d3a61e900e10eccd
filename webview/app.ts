/**
 * The run view: owns the data the host sent, the view state, and the panels around the stage.
 * Host messages are validated first (`parseHostMessage`); a bad one is reported back and shown
 * in a banner, and the view keeps what it had.
 */
import type { GroundingResult, RewardName, RewardSet, Verdict } from '../src/protocol/run.js';
import { RewardName as RewardNames, shownLine } from '../src/protocol/run.js';
import type { DepthMapData, HostMessage, PendingPart, ViewMessage, ViewRunRecord } from '../src/protocol/webview.js';
import { WEBVIEW_PROTOCOL_VERSION, parseHostMessage } from '../src/protocol/webview.js';
import { decodeDepth, formatMetres, paintDepth, paintRampBar } from './depth.js';
import { h, setChildren } from './dom.js';
import { renderLineView } from './lineView.js';
import type { CallView, GroundingFilter } from './model.js';
import {
  buildCalls,
  diffCalls,
  effectiveThreshold,
  extentOf,
  groundingCounts,
  groundingMatches,
  preview,
  recordedImageSize,
  stableJson,
  visibleCount,
} from './model.js';
import { Stage } from './stage.js';
import type { LayerName, ViewState } from './state.js';
import { defaultState, readState } from './state.js';
import type { VsCodeApi } from './vscodeApi.js';

const LAYERS: ReadonlyArray<{ name: LayerName; label: string; key: string; help: string }> = [
  { name: 'boxes', label: 'Boxes', key: 'b', help: 'detection boxes' },
  { name: 'labels', label: 'Labels', key: 'l', help: 'box labels and scores' },
  { name: 'depthRegions', label: 'Depth', key: 'd', help: 'regions sampled by depth calls' },
  { name: 'crops', label: 'Crops', key: 'c', help: 'crops sent to VQA' },
  { name: 'depthMap', label: 'Heat map', key: 'h', help: 'the depth map as a heat map' },
  { name: 'grounding', label: 'Grounding', key: 'g', help: 'grounding verifier boxes (kept solid, dropped dashed)' },
];

const STAGE_FILTERS: ReadonlyArray<{ value: GroundingFilter; label: string }> = [
  { value: 'all', label: 'All boxes' },
  { value: 'kept', label: 'Kept' },
  { value: 'coarse', label: 'Dropped: coarse filter' },
  { value: 'crop', label: 'Dropped: crop check' },
  { value: 'dedup', label: 'Dropped: deduplication' },
];

interface CallRow {
  call: CallView;
  row: HTMLLIElement;
  count?: HTMLSpanElement;
  slider?: HTMLInputElement;
  value?: HTMLSpanElement;
  crop?: HTMLCanvasElement;
}

export class App {
  private run: ViewRunRecord | null = null;
  private compare: ViewRunRecord | null = null;
  private calls: CallView[] = [];
  private pending = new Set<PendingPart>();
  private depthMap: DepthMapData | null = null;
  private depthPainted: DepthMapData | null = null;
  private depthRequested = false;
  private state: ViewState;
  private saveTimer: ReturnType<typeof setTimeout> | null = null;
  private rows: CallRow[] = [];

  private readonly stage: Stage;
  private readonly banner = h('div', { class: 'banners', attrs: { 'aria-live': 'polite' } });
  private readonly header = h('header', { class: 'run-header' });
  private readonly toolbar = h('div', { class: 'toolbar', attrs: { role: 'toolbar', 'aria-label': 'layers and zoom' } });
  private readonly zoomLabel = h('span', { class: 'zoom-label', attrs: { 'aria-live': 'off' } });
  private readonly legend = h('div', { class: 'legend', attrs: { hidden: true } });
  private readonly answerBox = h('div', { class: 'answer' });
  private readonly traceList = h('ol', { class: 'trace', attrs: { 'aria-label': 'tool calls in program order' } });
  private readonly traceSummary = h('span', { class: 'section-note' });
  private readonly planBox = h('div', { class: 'plan' });
  private readonly linesBox = h('div', { class: 'lines-box' });
  private readonly linesSection: HTMLDetailsElement;
  private selectedLine: number | null = null;
  private readonly scoresBox = h('div', { class: 'scores' });
  private readonly groundingBox = h('div', { class: 'grounding' });
  private readonly groundingSection: HTMLDetailsElement;
  private readonly compareBox = h('div', { class: 'compare' });
  private readonly compareSection: HTMLDetailsElement;
  private readonly toggles = new Map<LayerName, HTMLButtonElement>();

  constructor(
    private readonly root: HTMLElement,
    private readonly vscode: VsCodeApi,
    realHost: boolean,
  ) {
    this.state = readState(vscode.getState()) ?? defaultState();
    this.stage = new Stage({
      hoverBox: (box) => {
        this.stage.setHoverCall(box ? box.call : null);
        this.markHoverRow(box ? box.call : null);
      },
      clickBox: (box) => this.selectCall(box.call, true),
      viewChanged: (zoom, center) => {
        this.state.zoom = zoom;
        this.state.center = center;
        this.updateZoomLabel();
        this.saveState();
      },
    });
    this.stage.setView(this.state.zoom, this.state.center);
    this.buildToolbar();

    const section = (title: string, body: HTMLElement, note?: HTMLElement, cls = ''): HTMLDetailsElement =>
      h('details', { class: `section ${cls}`, attrs: { open: true } }, [h('summary', {}, [h('span', { class: 'section-title', text: title }), note ?? null]), body]);
    this.groundingSection = section('Grounding verifier', this.groundingBox, undefined, 'section-grounding');
    this.compareSection = section('Compare runs', this.compareBox, undefined, 'section-compare');
    this.groundingSection.hidden = true;
    this.linesSection = section('Program lines', this.linesBox, undefined, 'section-lines');
    this.linesSection.hidden = true;
    this.compareSection.hidden = true;

    const side = h('aside', { class: 'side' }, [
      section('Answer', this.answerBox, undefined, 'section-answer'),
      section('Program trace', this.traceList, this.traceSummary, 'section-trace'),
      this.linesSection,
      section('Scores', this.scoresBox, undefined, 'section-scores'),
      section('Plan', this.planBox, undefined, 'section-plan'),
      this.groundingSection,
      this.compareSection,
    ]);
    const main = h('div', { class: 'main' }, [h('div', { class: 'view' }, [this.toolbar, this.stage.root, this.legend]), side]);
    setChildren(root, [this.banner, this.header, main]);
    root.classList.add('ready');

    window.addEventListener('message', (ev: MessageEvent<unknown>) => this.onMessage(ev.data));
    document.addEventListener('keydown', (ev) => this.onKey(ev));
    if (!realHost) this.showBanner('No VS Code webview host: this page only shows data posted to it.', 'info');
    this.post({ type: 'ready', protocol: WEBVIEW_PROTOCOL_VERSION });
  }

  // ------------------------------------------------------------------ messages

  private post(message: ViewMessage): void {
    this.vscode.postMessage(message);
  }

  private onMessage(data: unknown): void {
    const parsed = parseHostMessage(data);
    if (!parsed.ok) {
      this.showBanner(`Ignored a malformed message from the extension: ${parsed.error}`, 'error');
      this.post({ type: 'error', message: 'The run view ignored a message that did not validate.', detail: parsed.error });
      return;
    }
    try {
      this.handle(parsed.message);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.showBanner(`Could not show the ${parsed.message.type} message: ${message}`, 'error');
      this.post({ type: 'error', message: `The run view failed on a ${parsed.message.type} message.`, detail: message });
    }
  }

  private handle(msg: HostMessage): void {
    switch (msg.type) {
      case 'init':
        this.setRun(msg.run, msg.imageUri);
        this.compare = msg.compare ?? null;
        this.depthMap = msg.depthMap ?? null;
        this.pending = new Set(msg.pending ?? []);
        this.renderAll();
        break;
      case 'update': {
        if (msg.run) {
          if (!this.run || msg.run.id !== this.run.id) this.setRun(msg.run, msg.imageUri ?? null);
          else this.run = msg.run;
        }
        if (!this.run) throw new Error('an update arrived before init; the host must send init after ready');
        if (msg.rewards !== undefined) this.run = { ...this.run, rewards: msg.rewards ?? undefined };
        if (msg.grounding !== undefined) this.run = { ...this.run, grounding: msg.grounding };
        if (msg.compare !== undefined) this.compare = msg.compare;
        if (msg.pending) this.pending = new Set(msg.pending);
        this.calls = buildCalls(this.run);
        if (msg.imageUri !== undefined) void this.loadImage(msg.imageUri);
        this.renderAll();
        break;
      }
      case 'depthMap':
        if (!this.run || msg.runId !== this.run.id) return;
        this.depthMap = msg.map;
        this.refreshDepth();
        break;
      case 'error':
        if (msg.request === 'requestDepthMap') {
          this.depthRequested = false;
          this.renderLegend();
        }
        this.showBanner(msg.message, 'error');
        break;
    }
  }

  private setRun(run: ViewRunRecord, imageUri: string | null): void {
    const same = this.state.runId === run.id;
    if (!same) {
      this.state = defaultState(run.id);
      this.stage.setView(1, null);
    }
    this.run = run;
    this.calls = buildCalls(run);
    this.depthPainted = null;
    this.depthRequested = false;
    if (this.state.selectedCall !== null && !this.calls.some((c) => c.index === this.state.selectedCall)) this.state.selectedCall = null;
    void this.loadImage(imageUri);
    this.saveState();
  }

  private async loadImage(uri: string | null): Promise<void> {
    if (!this.run) return;
    const size = recordedImageSize(this.run) ?? extentOf(this.calls);
    await this.stage.setImage(uri, size);
    // Crop previews need the decoded image.
    for (const r of this.rows) if (r.crop) this.paintCrop(r);
  }

  // ------------------------------------------------------------------ state

  private saveState(): void {
    // Zoom and sliders change at frame rate; the host only needs the latest state.
    if (this.saveTimer !== null) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = null;
      this.vscode.setState(this.state);
    }, 100);
  }

  private sceneChanged(): void {
    this.stage.setScene({
      calls: this.calls,
      grounding: this.run?.grounding ?? [],
      thresholds: this.state.thresholds,
      selectedCall: this.state.selectedCall,
      layers: this.state.layers,
      focusedBox: this.state.focusedBox,
    });
  }

  // ------------------------------------------------------------------ rendering

  private renderAll(): void {
    this.renderHeader();
    this.renderAnswer();
    this.renderTrace();
    this.renderLines();
    this.renderScores();
    this.renderPlan();
    this.renderGrounding();
    this.renderCompare();
    this.syncToggles();
    this.refreshDepth();
    this.sceneChanged();
    this.updateZoomLabel();
  }

  private renderHeader(): void {
    const run = this.run;
    if (!run) return;
    const meta: string[] = [];
    if (run.image?.path) meta.push(run.image.path);
    const size = this.stage.imageSize;
    if (run.image?.width && run.image.height) meta.push(`${run.image.width}×${run.image.height}`);
    else if (size.ready) meta.push(`${size.width}×${size.height}`);
    if (run.generator?.model) meta.push(run.generator.model);
    if (run.created) meta.push(run.created);
    if (run.timings) meta.push(`${Math.round(run.timings.total_ms)} ms`);
    setChildren(this.header, [
      h('h1', { class: 'query', text: run.query ?? '(no query recorded)' }),
      h('div', { class: 'meta', text: meta.join(' · ') }),
      isolationLabel(run.isolation),
      this.pending.has('run') ? h('div', { class: 'working', text: 'Running the program…' }) : null,
    ]);
  }

  private renderAnswer(): void {
    const run = this.run;
    if (!run) return;
    const parts: HTMLElement[] = [];
    if (run.error) {
      const e = run.error;
      parts.push(
        h('div', { class: 'answer-error', attrs: { role: 'status' } }, [
          h('span', { class: 'badge badge-error', text: 'error' }),
          h('span', { class: 'answer-text', text: `${e.type}: ${e.message}` }),
          e.line !== null
            ? h('button', {
                class: 'link error-line',
                text: `line ${shownLine(run, e.line)}`,
                title: 'Show the line in the editor',
                on: { click: () => e.line !== null && this.post({ type: 'revealLine', runId: run.id, line: e.line }) },
              })
            : null,
        ]),
      );
      if (e.traceback) parts.push(h('details', { class: 'traceback' }, [h('summary', { text: 'Traceback' }), h('pre', { text: e.traceback })]));
    } else if ('final_answer' in run && run.final_answer !== undefined) {
      const a = run.final_answer;
      parts.push(h('div', { class: 'answer-value' }, [h('span', { class: 'answer-label', text: 'final_answer = ' }), h('code', { class: 'answer-text', text: typeof a === 'string' ? a : preview(a, 400) })]));
    } else {
      parts.push(h('div', { class: 'muted', text: this.pending.has('run') ? 'Running…' : 'No answer recorded.' }));
    }
    const total = run.rewards?.total;
    if (run.rewards) {
      parts.push(
        h('div', { class: 'total' }, [
          h('span', { text: 'Reward ' }),
          h('strong', { class: 'total-value', text: total === null || total === undefined ? '—' : total.toFixed(2) }),
          run.rewards.incomplete ? h('span', { class: 'muted', text: ' (incomplete: a judge failed)' }) : null,
        ]),
      );
    }
    if (run.stdout) parts.push(h('details', { class: 'stdout' }, [h('summary', { text: 'Program output' }), h('pre', { text: run.stdout })]));
    setChildren(this.answerBox, parts);
  }

  private renderTrace(): void {
    const run = this.run;
    if (!run) return;
    this.rows = this.calls.map((call) => this.callRow(call));
    setChildren(this.traceList, this.rows.map((r) => r.row));
    if (this.calls.length === 0) {
      this.traceList.append(h('li', { class: 'muted', text: this.pending.has('run') ? 'Running…' : run.error ? 'The program made no tool calls before it failed.' : 'No tool calls.' }));
    }
    const detect = this.calls.filter((c) => c.tool === 'gd_detect').length;
    this.traceSummary.textContent = ` ${this.calls.length} call${this.calls.length === 1 ? '' : 's'}${detect ? `, ${detect} detection` : ''}`;
    this.markSelectedRow(false);
  }

  /** The line-by-line trace (webview/lineView.ts); a line selects the call whose boxes it used. */
  private renderLines(): void {
    const run = this.run;
    const trace = run?.line_trace;
    this.linesSection.hidden = !trace || !run?.program;
    if (!run || !trace || !run.program) return;
    const list = renderLineView(
      { program: run.program, trace, calls: run.trace ?? [], errorLine: run.error?.line ?? null, errorText: run.error ? `${run.error.type}: ${run.error.message}` : null },
      this.selectedLine,
      (line, call) => {
        this.selectedLine = line;
        this.renderLines();
        if (call !== null) this.selectCall(call, false);
        this.post({ type: 'revealLine', runId: run.id, line, ...(call !== null ? { callIndex: call } : {}) });
      },
    );
    setChildren(this.linesBox, [list]);
  }

  private callRow(call: CallView): CallRow {
    const r: Partial<CallRow> = { call };
    const argText = Object.entries(call.args)
      .filter(([k]) => k !== 'img_pth')
      .map(([k, v]) => `${k}=${preview(v, 80)}`)
      .join(', ');
    const swatch = h('span', { class: 'swatch', attrs: { 'aria-hidden': 'true' } });
    if (call.color) {
      swatch.style.backgroundColor = call.color;
      swatch.dataset['color'] = call.color;
    } else swatch.classList.add(`swatch-${call.tool}`);
    const head = h('div', { class: 'call-head' }, [
      swatch,
      h('span', { class: 'call-index', text: `#${call.index}` }),
      h('span', { class: 'call-line', text: call.shownLine !== null ? `line ${call.shownLine}` : 'line ?' }),
      h('code', { class: 'call-code', text: `${call.variable ? `${call.variable} = ` : ''}${call.tool}(${argText})` }),
      h('span', { class: 'call-ms', text: `${Math.round(call.ms)} ms${call.cached ? ' · cached' : ''}` }),
    ]);
    const body: Array<HTMLElement | null> = [];
    if (call.error) {
      body.push(h('div', { class: 'call-error', text: `${call.error.type}: ${call.error.message}` }));
    } else if (call.tool === 'gd_detect') {
      const program = call.boxes.filter((b) => b.resultIndex !== null).length;
      body.push(h('div', { class: 'call-result', text: `→ ${program} box${program === 1 ? '' : 'es'}${call.hasCandidates ? ` (of ${call.boxes.length} candidates)` : ''}` }));
      if (call.hasCandidates) {
        const t = effectiveThreshold(call, this.state.thresholds) ?? 0;
        const min = Math.max(0, Math.floor(call.minScore * 100) / 100);
        const slider = h('input', {
          class: 'threshold',
          attrs: { type: 'range', min: String(min), max: '1', step: '0.01', 'aria-label': `box threshold of call #${call.index}` },
        });
        slider.value = String(t);
        const value = h('span', { class: 'threshold-value' });
        const count = h('span', { class: 'threshold-count' });
        slider.addEventListener('input', () => this.onThreshold(r as CallRow));
        // The slider lives inside a clickable row: keep its clicks and keys to itself.
        slider.addEventListener('click', (ev) => ev.stopPropagation());
        const reset = h('button', {
          class: 'link threshold-reset',
          text: 'reset',
          title: `Back to the program's threshold (${(call.threshold ?? 0).toFixed(2)})`,
          on: {
            click: (ev) => {
              ev.stopPropagation();
              delete this.state.thresholds[String(call.index)];
              slider.value = String(call.threshold ?? 0);
              this.onThreshold(r as CallRow);
            },
          },
        });
        body.push(h('div', { class: 'threshold-row' }, [h('span', { class: 'muted', text: 'threshold' }), slider, value, count, reset]));
        Object.assign(r, { slider, value, count });
      } else if (call.boxes.length) {
        body.push(h('div', { class: 'muted', text: 'No low-threshold candidates recorded: the threshold cannot be changed here.' }));
      }
    } else if (call.tool === 'depth') {
      body.push(h('div', { class: 'call-result', text: call.depth !== null ? `→ ${formatMetres(call.depth)}` : `→ ${preview(call.result)}` }));
      if (call.region) body.push(h('div', { class: 'muted', text: `sampled region [${call.region.map((v) => Math.round(v)).join(', ')}]` }));
    } else {
      const crop = h('canvas', { class: 'crop-preview', attrs: { 'aria-label': 'the image region sent to the VQA model' } });
      body.push(
        h('div', { class: 'vqa' }, [
          crop,
          h('div', { class: 'vqa-text' }, [
            h('div', { class: 'muted', text: call.wholeImage ? 'whole image' : `crop sent [${(call.crop ?? []).map((v) => Math.round(v)).join(', ')}]` }),
            h('div', { class: 'vqa-q', text: `Q: ${call.question ?? '?'}` }),
            h('div', { class: 'vqa-a', text: `A: ${call.answer ?? '—'}` }),
          ]),
        ]),
      );
      r.crop = crop;
    }
    const row = h(
      'li',
      {
        class: `call call-${call.tool}${call.error ? ' call-failed' : ''}`,
        attrs: { 'data-index': call.index, 'data-line': call.line ?? '', tabindex: '-1', 'aria-selected': 'false' },
        on: {
          click: () => this.selectCall(call.index, true),
          mouseenter: () => this.stage.setHoverCall(call.index),
          mouseleave: () => this.stage.setHoverCall(null),
        },
      },
      [head, ...body],
    );
    r.row = row;
    const full = r as CallRow;
    if (full.slider) this.updateCount(full);
    if (full.crop) this.paintCrop(full);
    return full;
  }

  private onThreshold(r: CallRow): void {
    if (!r.slider) return;
    const t = Math.round(Number(r.slider.value) * 100) / 100;
    if (Math.abs(t - (r.call.threshold ?? -1)) < 1e-9) delete this.state.thresholds[String(r.call.index)];
    else this.state.thresholds[String(r.call.index)] = t;
    this.updateCount(r);
    this.sceneChanged();
    this.saveState();
  }

  private updateCount(r: CallRow): void {
    const t = effectiveThreshold(r.call, this.state.thresholds);
    const n = visibleCount(r.call, t);
    if (r.value) r.value.textContent = `≥ ${(t ?? 0).toFixed(2)}`;
    if (r.count) {
      r.count.textContent = `${n} of ${r.call.boxes.length} boxes`;
      r.count.dataset['visible'] = String(n);
    }
    r.row.classList.toggle('threshold-changed', String(r.call.index) in this.state.thresholds);
  }

  private paintCrop(r: CallRow): void {
    const canvas = r.crop;
    const img = this.root.querySelector<HTMLImageElement>('.stage-image');
    const size = this.stage.imageSize;
    if (!canvas || !img || !size.ready) return;
    const [x1, y1, x2, y2] = r.call.crop ?? [0, 0, size.width, size.height];
    const w = Math.max(1, x2 - x1);
    const hh = Math.max(1, y2 - y1);
    const scale = Math.min(160 / w, 120 / hh);
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.max(1, Math.round(w * scale * dpr));
    canvas.height = Math.max(1, Math.round(hh * scale * dpr));
    canvas.style.width = `${Math.round(w * scale)}px`;
    canvas.style.height = `${Math.round(hh * scale)}px`;
    const ctx = canvas.getContext('2d');
    ctx?.drawImage(img, x1, y1, w, hh, 0, 0, canvas.width, canvas.height);
  }

  private renderScores(): void {
    const run = this.run;
    if (!run) return;
    const rewards: RewardSet | undefined = run.rewards;
    if (!rewards) {
      setChildren(this.scoresBox, [h('div', { class: 'muted', text: this.pending.has('rewards') ? 'Scoring…' : 'Not scored yet.' })]);
      return;
    }
    const byName = new Map<RewardName, Verdict>(rewards.verdicts.map((v) => [v.reward, v]));
    const rows = RewardNames.options.map((name) => {
      const v = byName.get(name);
      const ov = rewards.overridden?.[name];
      const shown = ov ? (ov.value >= 1 ? 'pass' : 'fail') : v?.state;
      const badge = h('span', { class: `badge badge-${shown ?? 'none'}`, text: shown ?? 'not scored' });
      const weight = rewards.weights[name];
      const override = (value: 0 | 1): HTMLButtonElement =>
        h('button', {
          class: 'override',
          text: value === 1 ? 'Mark pass' : 'Mark fail',
          title: `Override the ${name} verdict (recorded in the audit log)`,
          attrs: { 'data-reward': name, 'data-value': value },
          on: { click: () => this.post({ type: 'override', runId: run.id, reward: name, value, machineValue: v?.value ?? null }) },
        });
      const current = ov ? ov.value : v?.value;
      const buttons: HTMLElement[] = [];
      if (v) {
        if (current !== 1) buttons.push(override(1));
        if (current !== 0) buttons.push(override(0));
      }
      return h('div', { class: `reward reward-${name}${ov ? ' overridden' : ''}`, attrs: { 'data-reward': name } }, [
        h('div', { class: 'reward-head' }, [
          h('span', { class: 'reward-name', text: name }),
          badge,
          ov ? h('span', { class: 'badge badge-human', text: 'human', title: ov.note }) : null,
          h('span', { class: 'reward-value', text: v?.value === null || v?.value === undefined ? '—' : String(v.value) }),
          weight !== undefined ? h('span', { class: 'muted', text: `×${weight}` }) : null,
          h('span', { class: 'reward-actions' }, buttons),
        ]),
        v
          ? h('details', { class: 'reward-why' }, [
              h('summary', { text: v.state === 'error' ? `judge failed: ${v.error ?? v.rationale}` : firstLine(v.rationale) || '(no rationale)' }),
              h('div', { class: 'muted', text: `${v.judge}${v.ms !== undefined ? ` · ${Math.round(v.ms)} ms` : ''}${v.cached ? ' · cached' : ''}${v.saw_image ? ' · saw the image' : ''}` }),
              h('pre', { text: v.rationale }),
            ])
          : null,
      ]);
    });
    setChildren(this.scoresBox, [
      this.pending.has('rewards') ? h('div', { class: 'working', text: 'Scoring…' }) : null,
      h('div', { class: 'score-list' }, rows),
    ]);
  }

  private renderPlan(): void {
    const run = this.run;
    if (!run) return;
    setChildren(this.planBox, [run.plan ? h('pre', { class: 'plan-text', text: run.plan }) : h('div', { class: 'muted', text: 'No plan in the reply.' })]);
  }

  private renderGrounding(): void {
    const run = this.run;
    const results: GroundingResult[] = run?.grounding ?? [];
    this.groundingSection.hidden = results.length === 0 && !this.pending.has('grounding');
    if (!run) return;
    const filter = h('select', {
      class: 'grounding-filter',
      attrs: { 'aria-label': 'show boxes by stage' },
      on: {
        change: () => {
          this.state.groundingFilter = filter.value as GroundingFilter;
          this.saveState();
          this.renderGrounding();
        },
      },
    });
    const totals = { all: 0, kept: 0, coarse: 0, crop: 0, dedup: 0 };
    for (const g of results) {
      const c = groundingCounts(g);
      totals.all += c.total;
      totals.kept += c.kept;
      totals.coarse += c.coarse;
      totals.crop += c.crop;
      totals.dedup += c.dedup;
    }
    for (const f of STAGE_FILTERS) filter.append(h('option', { text: `${f.label} (${totals[f.value]})`, attrs: { value: f.value } }));
    filter.value = this.state.groundingFilter;
    const groups = results.map((g, gi) => {
      const c = groundingCounts(g);
      const rows = g.boxes
        .filter((b) => groundingMatches(b, this.state.groundingFilter))
        .map((b) => {
          const focused = this.state.focusedBox?.[0] === gi && this.state.focusedBox[1] === b.index;
          const fate = b.kept ? 'kept' : `dropped at ${b.dropped_at ?? '?'}${b.reason ? `: ${b.reason}` : ''}`;
          const li = h(
            'li',
            {
              class: `gbox ${b.kept ? 'gbox-kept' : 'gbox-dropped'}${b.overridden ? ' gbox-overridden' : ''}`,
              attrs: { role: 'option', tabindex: focused || (!this.state.focusedBox && gi === 0 && b === g.boxes.find((x) => groundingMatches(x, this.state.groundingFilter))) ? '0' : '-1', 'aria-selected': focused ? 'true' : 'false', 'data-grounding': gi, 'data-box': b.index, 'data-kept': b.kept ? 'true' : 'false', 'data-stage': b.kept ? 'kept' : (b.dropped_at ?? '') },
              on: {
                focus: () => this.focusBox(gi, b.index),
                click: () => this.focusBox(gi, b.index),
              },
            },
            [
              // Numbered from 1, as the verifier saw them (drawn labels, its lists and replies).
              h('span', { class: 'gbox-index', text: `#${b.index + 1}` }),
              h('span', { class: 'gbox-label', text: `${b.label} ${b.score.toFixed(2)}` }),
              h('span', { class: `badge ${b.kept ? 'badge-pass' : 'badge-fail'}`, text: b.kept ? 'kept' : 'dropped' }),
              h('span', { class: 'gbox-fate', text: fate }),
              b.overridden ? h('span', { class: 'badge badge-human', text: 'human' }) : null,
              h('button', {
                class: 'flip',
                text: b.kept ? 'Drop' : 'Keep',
                title: `${b.kept ? 'Drop' : 'Keep'} this box (a to keep, r to drop; recorded as an override)`,
                attrs: { tabindex: '-1' },
                on: {
                  click: (ev) => {
                    ev.stopPropagation();
                    this.decideBox(gi, b.index, !b.kept);
                  },
                },
              }),
            ],
          );
          return li;
        });
      return h('div', { class: 'grounding-group' }, [
        h('div', { class: 'grounding-head' }, [
          h('strong', { text: `“${g.prompt}”` }),
          h('span', { class: 'muted', text: ` ${c.kept} kept of ${c.total} · coarse −${c.coarse} · crop −${c.crop} · dedup −${c.dedup} · ${g.verifier_model}` }),
        ]),
        rows.length
          ? h('ul', { class: 'gbox-list', attrs: { role: 'listbox', 'aria-label': `boxes for ${g.prompt}` } }, rows)
          : h('div', { class: 'muted', text: 'No boxes at this stage.' }),
      ]);
    });
    const active = document.activeElement;
    const refocus = active instanceof HTMLElement && active.classList.contains('gbox');
    setChildren(this.groundingBox, [
      this.pending.has('grounding') ? h('div', { class: 'working', text: 'Verifying boxes…' }) : null,
      results.length ? h('div', { class: 'grounding-tools' }, [filter, h('span', { class: 'muted', text: ' a keep · r drop · ↑↓ move' })]) : null,
      ...groups,
    ]);
    if (refocus && this.state.focusedBox) this.focusedRow()?.focus();
  }

  private focusedRow(): HTMLElement | null {
    const f = this.state.focusedBox;
    if (!f) return null;
    return this.groundingBox.querySelector<HTMLElement>(`li.gbox[data-grounding="${f[0]}"][data-box="${f[1]}"]`);
  }

  private focusBox(gi: number, index: number): void {
    const f = this.state.focusedBox;
    if (f && f[0] === gi && f[1] === index) return;
    this.state.focusedBox = [gi, index];
    for (const li of this.groundingBox.querySelectorAll<HTMLElement>('li.gbox')) {
      const on = li.dataset['grounding'] === String(gi) && li.dataset['box'] === String(index);
      li.setAttribute('aria-selected', on ? 'true' : 'false');
      li.tabIndex = on ? 0 : -1;
    }
    this.sceneChanged();
    this.saveState();
  }

  /** Keep (true) or drop (false) a grounding box; posts flipBox when that changes the decision. */
  private decideBox(gi: number, index: number, kept: boolean): void {
    const run = this.run;
    const g = run?.grounding?.[gi];
    const box = g?.boxes.find((b) => b.index === index);
    if (!run || !g || !box || !run.grounding) return;
    this.focusBox(gi, index);
    if (box.kept === kept) return;
    this.post({ type: 'flipBox', runId: run.id, grounding: gi, box: index, kept, machineKept: box.kept });
    // Show the decision at once; the host's update (with the recorded override) replaces it.
    const boxes = g.boxes.map((b) => (b.index === index ? { ...b, kept, overridden: true } : b));
    const grounding = run.grounding.map((x, i) => (i === gi ? { ...x, boxes } : x));
    this.run = { ...run, grounding };
    this.renderGrounding();
    this.sceneChanged();
    this.focusedRow()?.focus();
  }

  private renderCompare(): void {
    const a = this.run;
    const b = this.compare;
    this.compareSection.hidden = !b;
    if (!a || !b) {
      setChildren(this.compareBox, []);
      return;
    }
    const answer = (r: ViewRunRecord): string => (r.error ? `error: ${r.error.type}: ${r.error.message}` : r.final_answer === undefined ? '—' : typeof r.final_answer === 'string' ? r.final_answer : preview(r.final_answer));
    const total = (r: ViewRunRecord): string => (r.rewards?.total === null || r.rewards?.total === undefined ? '—' : r.rewards.total.toFixed(2));
    const verdict = (r: ViewRunRecord, name: RewardName): string => {
      const ov = r.rewards?.overridden?.[name];
      if (ov) return `${ov.value >= 1 ? 'pass' : 'fail'} (human)`;
      return r.rewards?.verdicts.find((v) => v.reward === name)?.state ?? '—';
    };
    const row = (label: string, x: string, y: string, cls = ''): HTMLTableRowElement =>
      h('tr', { class: `${cls}${x !== y ? ' differs' : ''}`, attrs: { 'data-differs': x !== y ? 'true' : 'false' } }, [
        h('th', { text: label, attrs: { scope: 'row' } }),
        h('td', { text: x }),
        h('td', { text: y }),
      ]);
    const callText = (c: CallView | null): string => (c ? `${c.tool}(${Object.entries(c.args).filter(([k]) => k !== 'img_pth').map(([k, v]) => `${k}=${preview(v, 40)}`).join(', ')}) → ${c.error ? `${c.error.type}` : preview(c.result, 60)}` : '—');
    const diffs = diffCalls(this.calls, buildCalls(b));
    const differing = diffs.filter((d) => d.differs).length;
    setChildren(this.compareBox, [
      h('table', { class: 'compare-table' }, [
        h('thead', {}, [h('tr', {}, [h('th', { text: '' }), h('th', { text: `this run ${a.id}` }), h('th', { text: `other run ${b.id}` })])]),
        h('tbody', {}, [
          row('answer', answer(a), answer(b), 'compare-answer'),
          row('reward', total(a), total(b), 'compare-total'),
          ...RewardNames.options.map((n) => row(n, verdict(a, n), verdict(b, n), 'compare-reward')),
          row('program', a.program ? `${a.program.split('\n').length} lines` : '—', b.program ? `${b.program.split('\n').length} lines` : '—', stableJson(a.program) !== stableJson(b.program) ? 'compare-program program-differs' : 'compare-program'),
        ]),
      ]),
      h('div', { class: 'compare-calls-head', text: `${differing} of ${diffs.length} calls differ` }),
      h(
        'table',
        { class: 'compare-table compare-calls' },
        diffs.map((d) =>
          h('tr', { class: d.differs ? 'differs' : '', attrs: { 'data-differs': d.differs ? 'true' : 'false', title: d.what.join(', ') } }, [
            h('th', { text: `#${d.index}`, attrs: { scope: 'row' } }),
            h('td', { text: callText(d.a) }),
            h('td', { text: callText(d.b) }),
          ]),
        ),
      ),
    ]);
  }

  // ------------------------------------------------------------------ depth

  private refreshDepth(): void {
    const on = this.state.layers.depthMap;
    if (on && !this.depthMap && !this.depthRequested && this.run) {
      this.depthRequested = true;
      this.post({ type: 'requestDepthMap', runId: this.run.id });
    }
    if (on && this.depthMap && this.depthPainted !== this.depthMap) {
      try {
        paintDepth(this.stage.depthLayer, this.depthMap, decodeDepth(this.depthMap));
        this.depthPainted = this.depthMap;
      } catch (err) {
        this.depthMap = null;
        this.showBanner(`The depth map could not be shown: ${err instanceof Error ? err.message : String(err)}`, 'error');
      }
    }
    this.stage.setDepthVisible(on && this.depthPainted !== null);
    this.renderLegend();
  }

  private renderLegend(): void {
    const on = this.state.layers.depthMap;
    this.legend.hidden = !on;
    if (!on) return;
    const m = this.depthPainted;
    if (!m) {
      setChildren(this.legend, [h('span', { class: 'muted', text: this.depthRequested ? 'Loading the depth map…' : 'No depth map.' })]);
      return;
    }
    const bar = h('canvas', { class: 'legend-bar', attrs: { 'aria-hidden': 'true' } });
    paintRampBar(bar);
    setChildren(this.legend, [
      h('span', { class: 'legend-title', text: 'depth' }),
      h('span', { class: 'legend-min', text: formatMetres(m.min), attrs: { 'data-value': m.min } }),
      bar,
      h('span', { class: 'legend-max', text: formatMetres(m.max), attrs: { 'data-value': m.max } }),
      h('span', { class: 'muted', text: `near → far${m.model ? ` · ${m.model}` : ''}` }),
    ]);
  }

  // ------------------------------------------------------------------ toolbar, selection, keys

  private buildToolbar(): void {
    const buttons: HTMLElement[] = LAYERS.map((l) => {
      const b = h('button', {
        class: 'toggle',
        text: l.label,
        title: `Show or hide ${l.help} (${l.key})`,
        attrs: { 'data-layer': l.name, 'aria-pressed': 'false', 'aria-keyshortcuts': l.key },
        on: { click: () => this.toggleLayer(l.name) },
      });
      this.toggles.set(l.name, b);
      return b;
    });
    setChildren(this.toolbar, [
      h('div', { class: 'toggles' }, buttons),
      h('div', { class: 'zoom' }, [
        h('button', { class: 'zoom-out', text: '−', title: 'Zoom out (-)', on: { click: () => this.stage.zoomBy(1 / 1.25) } }),
        this.zoomLabel,
        h('button', { class: 'zoom-in', text: '+', title: 'Zoom in (+)', on: { click: () => this.stage.zoomBy(1.25) } }),
        h('button', { class: 'zoom-fit', text: 'Fit', title: 'Fit the image (0)', on: { click: () => this.stage.fit() } }),
      ]),
    ]);
  }

  private syncToggles(): void {
    for (const [name, b] of this.toggles) b.setAttribute('aria-pressed', this.state.layers[name] ? 'true' : 'false');
  }

  private updateZoomLabel(): void {
    this.zoomLabel.textContent = `${Math.round(this.stage.zoomLevel * 100)}%`;
  }

  toggleLayer(name: LayerName): void {
    this.state.layers[name] = !this.state.layers[name];
    this.syncToggles();
    if (name === 'depthMap') this.refreshDepth();
    this.sceneChanged();
    this.saveState();
  }

  private selectCall(index: number | null, reveal: boolean): void {
    this.state.selectedCall = index;
    this.markSelectedRow(true);
    this.sceneChanged();
    this.saveState();
    const call = this.calls.find((c) => c.index === index);
    if (reveal && call && call.line !== null && this.run) this.post({ type: 'revealLine', runId: this.run.id, line: call.line, callIndex: call.index });
  }

  private markSelectedRow(scroll: boolean): void {
    for (const r of this.rows) {
      const on = r.call.index === this.state.selectedCall;
      r.row.setAttribute('aria-selected', on ? 'true' : 'false');
      r.row.classList.toggle('selected', on);
      if (on && scroll) r.row.scrollIntoView({ block: 'nearest' });
    }
  }

  private markHoverRow(index: number | null): void {
    for (const r of this.rows) r.row.classList.toggle('hovered', r.call.index === index);
  }

  private stepCall(delta: number): void {
    if (this.calls.length === 0) return;
    const pos = this.calls.findIndex((c) => c.index === this.state.selectedCall);
    const next = pos < 0 ? (delta > 0 ? 0 : this.calls.length - 1) : Math.min(this.calls.length - 1, Math.max(0, pos + delta));
    const call = this.calls[next];
    if (call) this.selectCall(call.index, true);
  }

  private onKey(ev: KeyboardEvent): void {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const t = ev.target;
    if (t instanceof HTMLInputElement || t instanceof HTMLSelectElement || t instanceof HTMLTextAreaElement) return;
    const inGrounding = t instanceof HTMLElement && t.classList.contains('gbox');
    if (inGrounding && (ev.key === 'ArrowDown' || ev.key === 'ArrowUp')) {
      const rows = [...this.groundingBox.querySelectorAll<HTMLElement>('li.gbox')];
      const i = rows.indexOf(t);
      const next = rows[Math.min(rows.length - 1, Math.max(0, i + (ev.key === 'ArrowDown' ? 1 : -1)))];
      next?.focus();
      ev.preventDefault();
      return;
    }
    const f = this.state.focusedBox;
    const key = ev.key;
    if ((key === 'a' || key === 'r') && f) {
      this.decideBox(f[0], f[1], key === 'a');
      ev.preventDefault();
      return;
    }
    const layer = LAYERS.find((l) => l.key === key);
    if (layer) {
      this.toggleLayer(layer.name);
      ev.preventDefault();
      return;
    }
    switch (key) {
      case 'j':
      case 'ArrowDown':
        this.stepCall(1);
        break;
      case 'k':
      case 'ArrowUp':
        this.stepCall(-1);
        break;
      case 'Escape':
        this.selectCall(null, false);
        break;
      case '+':
      case '=':
        this.stage.zoomBy(1.25);
        break;
      case '-':
        this.stage.zoomBy(1 / 1.25);
        break;
      case '0':
        this.stage.fit();
        break;
      default:
        if (t === this.stage.root && key.startsWith('Arrow')) {
          const step = 40;
          this.stage.panBy(key === 'ArrowLeft' ? step : key === 'ArrowRight' ? -step : 0, 0);
          break;
        }
        return;
    }
    ev.preventDefault();
  }

  // ------------------------------------------------------------------ banners

  private showBanner(text: string, kind: 'error' | 'info'): void {
    const close = h('button', { class: 'banner-close', text: '×', title: 'Dismiss', attrs: { 'aria-label': 'dismiss' } });
    const b = h('div', { class: `banner banner-${kind}`, attrs: { role: kind === 'error' ? 'alert' : 'status' } }, [h('span', { class: 'banner-text', text }), close]);
    close.addEventListener('click', () => b.remove());
    this.banner.append(b);
    // Keep the last few: a host in a loop must not bury the view under banners.
    while (this.banner.children.length > 3) this.banner.firstElementChild?.remove();
  }
}

function firstLine(s: string): string {
  const line = s.split('\n').find((l) => l.trim()) ?? '';
  return line.length > 120 ? `${line.slice(0, 119)}…` : line;
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
