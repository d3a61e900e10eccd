/**
 * The run view's owner: it holds the data the host sent and the view state, routes host messages,
 * and gives each panel (webview/panels/) its inputs after every change; a panel re-renders only
 * when its inputs changed (webview/panelSlot.ts). Host messages are validated first
 * (`parseHostMessage`); a bad one is reported back and shown in a banner, and the view keeps what
 * it had. The stage (webview/stage/) draws the image and its overlays.
 */
import type { HostMessage, PendingPart, ViewMessage, ViewRunRecord } from '../src/protocol/webview.js';
import { WEBVIEW_PROTOCOL_VERSION, parseHostMessage } from '../src/protocol/webview.js';
import { Banners } from './banners.js';
import { DepthMapLayer } from './depthMapLayer.js';
import { h, setChildren } from './dom.js';
import { handleKey, type KeyActions } from './keys.js';
import type { CallView, GroundingFilter } from './model.js';
import { buildCalls, extentOf, keepUnchanged, recordedImageSize } from './model.js';
import { PanelRouter } from './panelRouter.js';
import { Toolbar } from './panels/toolbar.js';
import { Stage } from './stage/stage.js';
import type { LayerName, ViewState } from './state.js';
import { defaultState, readState } from './state.js';
import type { ViewContext } from './viewContext.js';
import type { VsCodeApi } from './vscodeApi.js';

export class App implements ViewContext, KeyActions {
  private run: ViewRunRecord | null = null;
  private compare: ViewRunRecord | null = null;
  private callViews: CallView[] = [];
  private callsOf: { trace: ViewRunRecord['trace']; first: ViewRunRecord['program_document_line'] } | null = null;
  private pending = new Set<PendingPart>();
  private viewState: ViewState;
  private saveTimer: ReturnType<typeof setTimeout> | null = null;

  readonly stage: Stage;
  private readonly depth: DepthMapLayer;
  private readonly banners = new Banners();
  private readonly toolbar: Toolbar;
  private readonly panels = new PanelRouter(this);

  constructor(
    root: HTMLElement,
    private readonly vscode: VsCodeApi,
    realHost: boolean,
  ) {
    this.viewState = readState(vscode.getState()) ?? defaultState();
    this.stage = new Stage({
      hoverBox: (box) => {
        this.stage.setHoverCall(box ? box.call : null);
        this.panels.trace.panel.markHover(box ? box.call : null);
      },
      clickBox: (box) => this.selectCall(box.call, true),
      viewChanged: (zoom, center) => {
        this.viewState.zoom = zoom;
        this.viewState.center = center;
        this.toolbar.showZoom(this.stage.zoomLevel);
        this.saveState();
      },
    });
    this.stage.setView(this.viewState.zoom, this.viewState.center);
    this.depth = new DepthMapLayer(this.stage.depthLayer);
    this.toolbar = new Toolbar({ toggleLayer: (n) => this.toggleLayer(n), zoomBy: (f) => this.stage.zoomBy(f), fit: () => this.stage.fit() });

    const main = h('div', { class: 'main' }, [h('div', { class: 'view' }, [this.toolbar.el, this.stage.root, this.panels.legend.panel.el]), this.panels.side]);
    setChildren(root, [this.banners.el, this.panels.header.panel.el, main]);
    root.classList.add('ready');

    window.addEventListener('message', (ev: MessageEvent<unknown>) => this.onMessage(ev.data));
    document.addEventListener('keydown', (ev) => {
      if (handleKey(ev, this)) ev.preventDefault();
    });
    if (!realHost) this.banners.show('No VS Code webview host: this page only shows data posted to it.', 'info');
    this.post({ type: 'ready', protocol: WEBVIEW_PROTOCOL_VERSION });
  }

  get state(): ViewState {
    return this.viewState;
  }

  // ------------------------------------------------------------------ messages

  post(message: ViewMessage): void {
    this.vscode.postMessage(message);
  }

  private onMessage(data: unknown): void {
    const parsed = parseHostMessage(data);
    if (!parsed.ok) {
      this.banners.show(`Ignored a malformed message from the extension: ${parsed.error}`, 'error');
      this.post({ type: 'error', message: 'The run view ignored a message that did not validate.', detail: parsed.error });
      return;
    }
    try {
      this.handle(parsed.message);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.banners.show(`Could not show the ${parsed.message.type} message: ${message}`, 'error');
      this.post({ type: 'error', message: `The run view failed on a ${parsed.message.type} message.`, detail: message });
    }
  }

  private handle(msg: HostMessage): void {
    switch (msg.type) {
      case 'init':
        this.setRun(msg.run, msg.imageUri);
        this.compare = msg.compare ?? null;
        this.depth.set(msg.depthMap ?? null);
        this.pending = new Set(msg.pending ?? []);
        this.route();
        break;
      case 'update': {
        if (msg.run) {
          if (!this.run || msg.run.id !== this.run.id) this.setRun(msg.run, msg.imageUri ?? null);
          else this.run = keepUnchanged(this.run, msg.run);
        }
        if (!this.run) throw new Error('an update arrived before init; the host must send init after ready');
        if (msg.rewards !== undefined) this.run = { ...this.run, rewards: msg.rewards ?? undefined };
        if (msg.grounding !== undefined) this.run = { ...this.run, grounding: msg.grounding };
        if (msg.compare !== undefined) this.compare = msg.compare;
        if (msg.pending) this.pending = new Set(msg.pending);
        if (msg.imageUri !== undefined) void this.loadImage(msg.imageUri);
        this.route();
        break;
      }
      case 'depthMap':
        if (!this.run || msg.runId !== this.run.id) return;
        this.depth.set(msg.map);
        this.refreshDepth();
        break;
      case 'error':
        if (msg.request === 'requestDepthMap') {
          this.depth.requestFailed();
          this.routePanels();
        }
        this.banners.show(msg.message, 'error');
        break;
    }
  }

  private setRun(run: ViewRunRecord, imageUri: string | null): void {
    const same = this.viewState.runId === run.id;
    if (!same) {
      this.viewState = defaultState(run.id);
      this.stage.setView(1, null);
    }
    this.run = this.run && this.run.id === run.id ? keepUnchanged(this.run, run) : run;
    this.rebuildCalls();
    this.depth.reset();
    if (this.viewState.selectedCall !== null && !this.callViews.some((c) => c.index === this.viewState.selectedCall)) this.viewState.selectedCall = null;
    void this.loadImage(imageUri);
    this.saveState();
  }

  /** The calls are derived from the trace (and the document line offset): rebuilt only when those change. */
  private rebuildCalls(): void {
    const run = this.run;
    if (!run) return;
    if (this.callsOf && this.callsOf.trace === run.trace && this.callsOf.first === run.program_document_line) return;
    this.callViews = buildCalls(run);
    this.callsOf = { trace: run.trace, first: run.program_document_line };
  }

  private async loadImage(uri: string | null): Promise<void> {
    if (!this.run) return;
    const size = recordedImageSize(this.run) ?? extentOf(this.callViews);
    await this.stage.setImage(uri, size);
    // Crop previews need the decoded image; the header shows its size.
    this.panels.trace.panel.paintCrops();
    this.routePanels();
  }

  // ------------------------------------------------------------------ routing

  /** Hands the panels what the view holds (each re-renders only if its inputs changed), then the toolbar, depth and stage. */
  private route(): void {
    const run = this.run;
    if (!run) return;
    this.rebuildCalls();
    this.routePanels();
    this.toolbar.syncLayers(this.viewState.layers);
    this.refreshDepth();
    this.sceneChanged();
    this.toolbar.showZoom(this.stage.zoomLevel);
  }

  private routePanels(): void {
    if (!this.run) return;
    this.panels.route({
      run: this.run,
      calls: this.callViews,
      compare: this.compare,
      pending: this.pending,
      state: this.viewState,
      image: this.stage.imageSize,
      depth: { painted: this.depth.painted, requested: this.depth.requested },
    });
  }

  // ------------------------------------------------------------------ state

  private saveState(): void {
    // Zoom and sliders change at frame rate; the host only needs the latest state.
    if (this.saveTimer !== null) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = null;
      this.vscode.setState(this.viewState);
    }, 100);
  }

  private sceneChanged(): void {
    this.stage.setScene({
      calls: this.callViews,
      grounding: this.run?.grounding ?? [],
      thresholds: this.viewState.thresholds,
      selectedCall: this.viewState.selectedCall,
      layers: this.viewState.layers,
      focusedBox: this.viewState.focusedBox,
    });
  }

  private refreshDepth(): void {
    const run = this.run;
    const request = () => run && this.post({ type: 'requestDepthMap', runId: run.id });
    const shown = this.depth.refresh(this.viewState.layers.depthMap && run !== null, request, (m) => this.banners.show(m, 'error'));
    this.stage.setDepthVisible(shown);
    this.routePanels();
  }

  // ------------------------------------------------------------------ actions (ViewContext)

  toggleLayer(name: LayerName): void {
    this.viewState.layers[name] = !this.viewState.layers[name];
    this.toolbar.syncLayers(this.viewState.layers);
    if (name === 'depthMap') this.refreshDepth();
    this.sceneChanged();
    this.saveState();
  }

  selectCall(index: number | null, reveal: boolean): void {
    this.viewState.selectedCall = index;
    this.panels.trace.panel.markSelected(true);
    this.sceneChanged();
    this.saveState();
    const call = this.callViews.find((c) => c.index === index);
    if (reveal && call && call.line !== null && this.run) this.post({ type: 'revealLine', runId: this.run.id, line: call.line, callIndex: call.index });
  }

  hoverCall(index: number | null): void {
    this.stage.setHoverCall(index);
  }

  thresholdChanged(): void {
    this.sceneChanged();
    this.saveState();
  }

  focusBox(gi: number, index: number): void {
    const f = this.viewState.focusedBox;
    if (f && f[0] === gi && f[1] === index) return;
    this.viewState.focusedBox = [gi, index];
    this.panels.grounding.panel.markFocus();
    this.sceneChanged();
    this.saveState();
  }

  /** Keep (true) or drop (false) a grounding box; posts flipBox when that changes the decision. */
  decideBox(gi: number, index: number, kept: boolean): void {
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
    this.routePanels();
    this.sceneChanged();
    this.panels.grounding.panel.focusedRow()?.focus();
  }

  setGroundingFilter(filter: GroundingFilter): void {
    this.viewState.groundingFilter = filter;
    this.saveState();
    this.routePanels();
  }

  calls(): readonly CallView[] {
    return this.callViews;
  }

  moveBoxFocus(from: HTMLElement, delta: 1 | -1): void {
    this.panels.grounding.panel.moveFocus(from, delta);
  }

  cropSource(): { img: HTMLImageElement; width: number; height: number } | null {
    const size = this.stage.imageSize;
    return size.ready ? { img: this.stage.image, width: size.width, height: size.height } : null;
  }


}
