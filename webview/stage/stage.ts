/**
 * The image with its overlays. Layers, bottom to top:
 *   <img>            the run image, placed and scaled by CSS (never redrawn by us, so re-filtering
 *                    boxes never reloads or re-decodes a 4000x3000 image);
 *   depth <canvas>   the heat map at the map's own resolution, scaled by CSS, shown on demand;
 *   base <canvas>    boxes, labels, depth regions, crops, grounding boxes: vector drawing at
 *                    device pixels over the visible panel, so edges stay crisp at any zoom;
 *   hi <canvas>      the highlight (hovered call, focused grounding box): redrawn alone on hover.
 * Redraws are coalesced into one animation frame and only the dirty canvases are redrawn.
 * By job: geometry.ts (where the image sits), painter.ts (drawing), hitTest.ts (the box under a
 * point), pointer.ts (drag, wheel, clicks), tooltip.ts, boxList.ts (the screen-reader list).
 */
import { h } from '../dom.js';
import { BoxList } from './boxList.js';
import { clampZoom, pannedCenter, transformOf, zoomAbout, type Geometry, type Transform } from './geometry.js';
import { boxAt } from './hitTest.js';
import { LABEL_FONT_PX, Painter } from './painter.js';
import { bindPointer } from './pointer.js';
import type { FrameInfo, StageEvents, StageScene } from './scene.js';
import { Tooltip } from './tooltip.js';
import type { ViewBox } from '../model.js';

export type { FrameInfo, StageEvents, StageScene } from './scene.js';

export class Stage {
  readonly root: HTMLDivElement;
  private readonly img: HTMLImageElement;
  private readonly depthCanvas: HTMLCanvasElement;
  private readonly base: HTMLCanvasElement;
  private readonly hi: HTMLCanvasElement;
  private readonly tooltip = new Tooltip();
  private readonly boxList = new BoxList();
  private readonly status: HTMLDivElement;
  private readonly painter = new Painter();

  private readonly g: Geometry = { imageW: 1, imageH: 1, cssW: 1, cssH: 1, zoom: 1, center: null };
  private imageReady = false;
  /** undefined until the first setImage, so a first `null` is still shown as "no image". */
  private imageUri: string | null | undefined = undefined;
  private scene: StageScene | null = null;
  private hoverCall: number | null = null;
  private hoverBox: ViewBox | null = null;
  private depthVisible = false;
  private dirty = new Set<'base' | 'hi' | 'layout'>();
  private frameRequested = false;
  private drawnBoxes = 0;

  constructor(private readonly events: StageEvents) {
    this.img = h('img', { class: 'stage-image', attrs: { alt: 'run image', draggable: 'false' } });
    this.depthCanvas = h('canvas', { class: 'stage-depth', attrs: { 'aria-hidden': 'true' } });
    this.base = h('canvas', { class: 'stage-canvas', attrs: { role: 'img', 'aria-label': 'detections drawn on the image' } }, [this.boxList.el]);
    this.hi = h('canvas', { class: 'stage-canvas stage-hi', attrs: { 'aria-hidden': 'true' } });
    this.status = h('div', { class: 'stage-status', attrs: { hidden: true } });
    this.root = h('div', { class: 'stage', attrs: { tabindex: '0', 'aria-label': 'image with detections; drag or left and right arrows pan, wheel or + and - zoom, 0 fits' } }, [
      this.img,
      this.depthCanvas,
      this.base,
      this.hi,
      this.tooltip.el,
      this.status,
    ]);
    bindPointer(this.root, {
      boxAt: (x, y) => boxAt(this.scene, this.transform(), x, y),
      hover: (box, x, y) => this.hover(box, x, y),
      click: (box) => this.events.clickBox(box),
      center: () => this.g.center ?? [this.g.imageW / 2, this.g.imageH / 2],
      dragTo: (from, dx, dy) => {
        this.g.center = pannedCenter(this.g, from, dx, dy);
        this.invalidate('layout');
      },
      dragEnded: () => this.events.viewChanged(this.g.zoom, this.g.center),
      zoomAt: (factor, at) => this.zoomBy(factor, at),
      fit: () => this.fit(),
    });
    new ResizeObserver(() => this.invalidate('layout')).observe(this.root);
    this.watchDpr();
  }

  // ------------------------------------------------------------------ inputs

  /** Loads the image (or, with null, draws on an empty canvas of `fallback` size). */
  async setImage(uri: string | null, fallback: { width: number; height: number }): Promise<void> {
    if (uri === this.imageUri && (this.imageReady || uri === null)) return;
    this.imageUri = uri;
    this.imageReady = false;
    this.g.imageW = fallback.width;
    this.g.imageH = fallback.height;
    this.img.hidden = uri === null;
    this.invalidate('layout');
    if (uri === null) {
      this.showStatus('The image is not available: boxes are drawn on an empty canvas of the recorded size.');
      return;
    }
    this.showStatus(null);
    this.img.src = uri;
    try {
      await this.img.decode();
    } catch {
      if (this.imageUri !== uri) return;
      this.img.hidden = true;
      this.showStatus(`The image could not be loaded (${uri}). Boxes are drawn on an empty canvas.`);
      this.invalidate('layout');
      return;
    }
    if (this.imageUri !== uri) return;
    this.g.imageW = this.img.naturalWidth || fallback.width;
    this.g.imageH = this.img.naturalHeight || fallback.height;
    this.imageReady = true;
    this.invalidate('layout');
  }

  get imageSize(): { width: number; height: number; ready: boolean } {
    return { width: this.g.imageW, height: this.g.imageH, ready: this.imageReady };
  }

  /** The run image element (decoded once `imageSize.ready`), e.g. for crop previews. */
  get image(): HTMLImageElement {
    return this.img;
  }

  setScene(scene: StageScene): void {
    const depthChanged = this.scene?.layers.depthMap !== scene.layers.depthMap;
    this.scene = scene;
    if (depthChanged) this.invalidate('layout');
    this.invalidate('base');
    this.invalidate('hi');
  }

  /** The call whose boxes are highlighted (hover over a trace row or a box). */
  setHoverCall(call: number | null): void {
    if (call === this.hoverCall) return;
    this.hoverCall = call;
    this.invalidate('hi');
  }

  /** Depth heat map canvas (painted by the caller) and whether it is shown. */
  get depthLayer(): HTMLCanvasElement {
    return this.depthCanvas;
  }

  setDepthVisible(visible: boolean): void {
    this.depthVisible = visible;
    this.invalidate('layout');
  }

  setView(zoom: number, center: [number, number] | null): void {
    this.g.zoom = clampZoom(zoom);
    this.g.center = center;
    this.invalidate('layout');
  }

  get zoomLevel(): number {
    return this.g.zoom;
  }

  zoomBy(factor: number, at?: { x: number; y: number }): void {
    const z = zoomAbout(this.g, factor, at);
    this.g.zoom = z.zoom;
    this.g.center = z.center;
    this.invalidate('layout');
    this.events.viewChanged(this.g.zoom, this.g.center);
  }

  panBy(dx: number, dy: number): void {
    this.g.center = pannedCenter(this.g, this.g.center ?? [this.g.imageW / 2, this.g.imageH / 2], dx, dy);
    this.invalidate('layout');
    this.events.viewChanged(this.g.zoom, this.g.center);
  }

  fit(): void {
    this.g.zoom = 1;
    this.g.center = null;
    this.invalidate('layout');
    this.events.viewChanged(this.g.zoom, this.g.center);
  }

  /** Image pixel -> CSS pixel in the stage (for tests and hit testing). */
  toScreen(x: number, y: number): { x: number; y: number } {
    const t = this.transform();
    return { x: t.ox + x * t.s, y: t.oy + y * t.s };
  }

  private transform(): Transform {
    return transformOf(this.g);
  }

  private hover(box: ViewBox | null, x: number, y: number): void {
    if (box !== this.hoverBox) {
      this.hoverBox = box;
      this.tooltip.show(box, this.scene?.calls ?? null, x, y, this.g.cssW, this.g.cssH);
      this.events.hoverBox(box);
      this.invalidate('hi');
    } else if (box) {
      this.tooltip.move(x, y, this.g.cssW, this.g.cssH);
    }
  }

  private watchDpr(): void {
    const mq = window.matchMedia(`(resolution: ${window.devicePixelRatio}dppx)`);
    mq.addEventListener(
      'change',
      () => {
        this.invalidate('layout');
        this.watchDpr();
      },
      { once: true },
    );
  }

  // ------------------------------------------------------------------ frames

  invalidate(what: 'base' | 'hi' | 'layout'): void {
    this.dirty.add(what);
    if (this.frameRequested) return;
    this.frameRequested = true;
    requestAnimationFrame(() => this.frame());
  }

  private frame(): void {
    this.frameRequested = false;
    const t0 = performance.now();
    const dirty = this.dirty;
    this.dirty = new Set();
    if (dirty.has('layout')) {
      this.layout();
      dirty.add('base');
      dirty.add('hi');
    }
    if (dirty.has('base')) this.drawBase();
    if (dirty.has('hi')) this.drawHi();
    const info: FrameInfo = { ms: performance.now() - t0, boxes: this.drawnBoxes, imageReady: this.imageReady, canvases: [...dirty] };
    window.dispatchEvent(new CustomEvent<FrameInfo>('valor-frame', { detail: info }));
  }

  private layout(): void {
    this.g.cssW = Math.max(1, this.root.clientWidth);
    this.g.cssH = Math.max(1, this.root.clientHeight);
    const dpr = window.devicePixelRatio || 1;
    this.painter.dpr = dpr;
    const font = getComputedStyle(this.root).fontFamily || 'sans-serif';
    this.painter.font = `${LABEL_FONT_PX}px ${font}`;
    for (const c of [this.base, this.hi]) {
      const w = Math.round(this.g.cssW * dpr);
      const hgt = Math.round(this.g.cssH * dpr);
      if (c.width !== w || c.height !== hgt) {
        c.width = w;
        c.height = hgt;
        this.painter.resized();
      }
    }
    const t = this.transform();
    const place = (el: HTMLElement): void => {
      el.style.left = `${t.ox}px`;
      el.style.top = `${t.oy}px`;
      el.style.width = `${this.g.imageW * t.s}px`;
      el.style.height = `${this.g.imageH * t.s}px`;
    };
    place(this.img);
    place(this.depthCanvas);
    this.img.classList.toggle('pixelated', t.s >= 3);
    this.depthCanvas.hidden = !this.depthVisible;
    this.root.dataset['zoom'] = this.g.zoom.toFixed(3);
  }

  private context(c: HTMLCanvasElement): CanvasRenderingContext2D | null {
    const ctx = c.getContext('2d');
    if (!ctx) return null;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, c.width, c.height);
    return ctx;
  }

  private drawBase(): void {
    const ctx = this.context(this.base);
    const s = this.scene;
    this.drawnBoxes = 0;
    if (!ctx || !s) return;
    this.drawnBoxes = this.painter.drawBase(ctx, s, this.transform());
    this.base.dataset['drawn'] = String(this.drawnBoxes);
    this.boxList.schedule(
      () => this.scene,
      (n) => {
        this.base.dataset['listed'] = String(n);
      },
    );
  }

  private drawHi(): void {
    const ctx = this.context(this.hi);
    const s = this.scene;
    if (!ctx || !s) return;
    this.painter.drawHi(ctx, s, this.transform(), this.hoverCall, this.hoverBox);
  }

  private showStatus(text: string | null): void {
    this.status.hidden = text === null;
    this.status.textContent = text ?? '';
  }
}
