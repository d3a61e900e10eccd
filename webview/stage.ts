/**
 * The image with its overlays. Layers, bottom to top:
 *   <img>            the run image, placed and scaled by CSS (never redrawn by us, so re-filtering
 *                    boxes never reloads or re-decodes a 4000x3000 image);
 *   depth <canvas>   the heat map at the map's own resolution, scaled by CSS, shown on demand;
 *   base <canvas>    boxes, labels, depth regions, crops, grounding boxes: vector drawing at
 *                    device pixels over the visible panel, so edges stay crisp at any zoom;
 *   hi <canvas>      the highlight (hovered call, focused grounding box): redrawn alone on hover.
 * Redraws are coalesced into one animation frame and only the dirty canvases are redrawn.
 */
import type { BBox } from '../src/protocol/tools.js';
import type { GroundingResult } from '../src/protocol/run.js';
import { OVERLAY, textOn } from './colors.js';
import { formatMetres } from './depth.js';
import { h } from './dom.js';
import type { CallView, ViewBox } from './model.js';
import { effectiveThreshold, visibleCount } from './model.js';
import type { Layers } from './state.js';

export interface StageScene {
  calls: CallView[];
  grounding: GroundingResult[];
  thresholds: Record<string, number>;
  selectedCall: number | null;
  layers: Layers;
  focusedBox: [number, number] | null;
}

export interface StageEvents {
  /** The box under the pointer changed (null: none). */
  hoverBox(box: ViewBox | null): void;
  /** A box was clicked. */
  clickBox(box: ViewBox): void;
  /** Zoom or pan changed (for the saved state). */
  viewChanged(zoom: number, center: [number, number] | null): void;
}

/** Details of one drawn frame, also dispatched as the window event `valor-frame` (used by the benchmark). */
export interface FrameInfo {
  /** Milliseconds spent drawing this frame (all dirty canvases). */
  ms: number;
  /** Detection boxes drawn. */
  boxes: number;
  imageReady: boolean;
  canvases: string[];
}

const MIN_ZOOM = 0.25;
const MAX_ZOOM = 64;
const LABEL_FONT_PX = 11;

export class Stage {
  readonly root: HTMLDivElement;
  private readonly img: HTMLImageElement;
  private readonly depthCanvas: HTMLCanvasElement;
  private readonly base: HTMLCanvasElement;
  private readonly hi: HTMLCanvasElement;
  private readonly tooltip: HTMLDivElement;
  private readonly boxList: HTMLUListElement;
  private readonly status: HTMLDivElement;

  private imageW = 1;
  private imageH = 1;
  private imageReady = false;
  /** undefined until the first setImage, so a first `null` is still shown as "no image". */
  private imageUri: string | null | undefined = undefined;
  private cssW = 1;
  private cssH = 1;
  private dpr = 1;
  private zoom = 1;
  private center: [number, number] | null = null;
  private scene: StageScene | null = null;
  private hoverCall: number | null = null;
  private hoverBox: ViewBox | null = null;
  private depthVisible = false;
  private dirty = new Set<'base' | 'hi' | 'layout'>();
  private frameRequested = false;
  private listTimer: ReturnType<typeof setTimeout> | null = null;
  private drawnBoxes = 0;
  private readonly textWidths = new Map<string, number>();
  private font = `${LABEL_FONT_PX}px sans-serif`;
  private drag: { id: number; x: number; y: number; cx: number; cy: number; moved: boolean } | null = null;

  constructor(private readonly events: StageEvents) {
    this.img = h('img', { class: 'stage-image', attrs: { alt: 'run image', draggable: 'false' } });
    this.depthCanvas = h('canvas', { class: 'stage-depth', attrs: { 'aria-hidden': 'true' } });
    this.boxList = h('ul', { class: 'box-list' });
    this.base = h('canvas', { class: 'stage-canvas', attrs: { role: 'img', 'aria-label': 'detections drawn on the image' } }, [this.boxList]);
    this.hi = h('canvas', { class: 'stage-canvas stage-hi', attrs: { 'aria-hidden': 'true' } });
    this.tooltip = h('div', { class: 'stage-tooltip', attrs: { role: 'tooltip', hidden: true } });
    this.status = h('div', { class: 'stage-status', attrs: { hidden: true } });
    this.root = h('div', { class: 'stage', attrs: { tabindex: '0', 'aria-label': 'image with detections; drag or left and right arrows pan, wheel or + and - zoom, 0 fits' } }, [
      this.img,
      this.depthCanvas,
      this.base,
      this.hi,
      this.tooltip,
      this.status,
    ]);
    this.bindPointer();
    new ResizeObserver(() => this.invalidate('layout')).observe(this.root);
    this.watchDpr();
  }

  // ------------------------------------------------------------------ inputs

  /** Loads the image (or, with null, draws on an empty canvas of `fallback` size). */
  async setImage(uri: string | null, fallback: { width: number; height: number }): Promise<void> {
    if (uri === this.imageUri && (this.imageReady || uri === null)) return;
    this.imageUri = uri;
    this.imageReady = false;
    this.imageW = fallback.width;
    this.imageH = fallback.height;
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
    this.imageW = this.img.naturalWidth || fallback.width;
    this.imageH = this.img.naturalHeight || fallback.height;
    this.imageReady = true;
    this.invalidate('layout');
  }

  get imageSize(): { width: number; height: number; ready: boolean } {
    return { width: this.imageW, height: this.imageH, ready: this.imageReady };
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
    this.zoom = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, zoom));
    this.center = center;
    this.invalidate('layout');
  }

  get zoomLevel(): number {
    return this.zoom;
  }

  zoomBy(factor: number, at?: { x: number; y: number }): void {
    const t = this.transform();
    const px = at ?? { x: this.cssW / 2, y: this.cssH / 2 };
    // Keep the image point under `px` fixed while the scale changes.
    const ix = (px.x - t.ox) / t.s;
    const iy = (px.y - t.oy) / t.s;
    const zoom = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, this.zoom * factor));
    const s = t.fit * zoom;
    const cx = ix - (px.x - this.cssW / 2) / s;
    const cy = iy - (px.y - this.cssH / 2) / s;
    this.zoom = zoom;
    this.center = this.clampCenter(cx, cy);
    this.invalidate('layout');
    this.events.viewChanged(this.zoom, this.center);
  }

  panBy(dx: number, dy: number): void {
    const t = this.transform();
    const c = this.center ?? [this.imageW / 2, this.imageH / 2];
    this.center = this.clampCenter(c[0] - dx / t.s, c[1] - dy / t.s);
    this.invalidate('layout');
    this.events.viewChanged(this.zoom, this.center);
  }

  fit(): void {
    this.zoom = 1;
    this.center = null;
    this.invalidate('layout');
    this.events.viewChanged(this.zoom, this.center);
  }

  /** Image pixel -> CSS pixel in the stage (for tests and hit testing). */
  toScreen(x: number, y: number): { x: number; y: number } {
    const t = this.transform();
    return { x: t.ox + x * t.s, y: t.oy + y * t.s };
  }

  // ------------------------------------------------------------------ geometry

  private transform(): { fit: number; s: number; ox: number; oy: number } {
    const fit = Math.min(this.cssW / this.imageW, this.cssH / this.imageH) || 1;
    const s = fit * this.zoom;
    const c = this.center ?? [this.imageW / 2, this.imageH / 2];
    return { fit, s, ox: this.cssW / 2 - c[0] * s, oy: this.cssH / 2 - c[1] * s };
  }

  private clampCenter(cx: number, cy: number): [number, number] {
    return [Math.min(this.imageW, Math.max(0, cx)), Math.min(this.imageH, Math.max(0, cy))];
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
    this.cssW = Math.max(1, this.root.clientWidth);
    this.cssH = Math.max(1, this.root.clientHeight);
    this.dpr = window.devicePixelRatio || 1;
    const font = getComputedStyle(this.root).fontFamily || 'sans-serif';
    this.font = `${LABEL_FONT_PX}px ${font}`;
    for (const c of [this.base, this.hi]) {
      const w = Math.round(this.cssW * this.dpr);
      const hgt = Math.round(this.cssH * this.dpr);
      if (c.width !== w || c.height !== hgt) {
        c.width = w;
        c.height = hgt;
        this.textWidths.clear();
      }
    }
    const t = this.transform();
    const place = (el: HTMLElement): void => {
      el.style.left = `${t.ox}px`;
      el.style.top = `${t.oy}px`;
      el.style.width = `${this.imageW * t.s}px`;
      el.style.height = `${this.imageH * t.s}px`;
    };
    place(this.img);
    place(this.depthCanvas);
    this.img.classList.toggle('pixelated', t.s >= 3);
    this.depthCanvas.hidden = !this.depthVisible;
    this.root.dataset['zoom'] = this.zoom.toFixed(3);
  }

  private context(c: HTMLCanvasElement): CanvasRenderingContext2D | null {
    const ctx = c.getContext('2d');
    if (!ctx) return null;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, c.width, c.height);
    return ctx;
  }

  /** Device-pixel rectangle of an image box, snapped so 2-pixel strokes cover whole pixels. */
  private rect(b: BBox): [number, number, number, number] {
    const t = this.transform();
    const d = this.dpr;
    const x1 = Math.round((t.ox + b[0] * t.s) * d);
    const y1 = Math.round((t.oy + b[1] * t.s) * d);
    const x2 = Math.round((t.ox + b[2] * t.s) * d);
    const y2 = Math.round((t.oy + b[3] * t.s) * d);
    return [x1, y1, Math.max(1, x2 - x1), Math.max(1, y2 - y1)];
  }

  private textWidth(ctx: CanvasRenderingContext2D, text: string): number {
    let w = this.textWidths.get(text);
    if (w === undefined) {
      w = ctx.measureText(text).width;
      this.textWidths.set(text, w);
    }
    return w;
  }

  private chip(ctx: CanvasRenderingContext2D, text: string, x: number, y: number, bg: string): void {
    const d = this.dpr;
    const w = this.textWidth(ctx, text) + 6 * d;
    const hgt = (LABEL_FONT_PX + 4) * d;
    // Above the box when there is room, else just inside its top edge.
    const top = y - hgt >= 0 ? y - hgt : y;
    ctx.fillStyle = bg;
    ctx.fillRect(x, top, w, hgt);
    ctx.fillStyle = textOn(bg);
    ctx.fillText(text, x + 3 * d, top + hgt / 2);
  }

  private visible(call: CallView): ViewBox[] {
    const s = this.scene;
    if (!s) return [];
    const n = visibleCount(call, effectiveThreshold(call, s.thresholds));
    return call.boxes.slice(0, n);
  }

  private drawBase(): void {
    const ctx = this.context(this.base);
    const s = this.scene;
    this.drawnBoxes = 0;
    if (!ctx || !s) return;
    const d = this.dpr;
    ctx.font = this.font.replace(`${LABEL_FONT_PX}px`, `${LABEL_FONT_PX * d}px`);
    ctx.textBaseline = 'middle';
    const dim = s.selectedCall !== null;

    if (s.layers.grounding) {
      ctx.lineWidth = 2 * d;
      s.grounding.forEach((g) => {
        for (const b of g.boxes) {
          const [x, y, w, hh] = this.rect(b.bbox);
          ctx.strokeStyle = b.kept ? OVERLAY.kept : OVERLAY.dropped;
          ctx.setLineDash(b.kept ? [] : [6 * d, 4 * d]);
          ctx.strokeRect(x, y, w, hh);
        }
      });
      ctx.setLineDash([]);
    }

    for (const call of s.calls) {
      const selected = s.selectedCall === call.index;
      ctx.globalAlpha = dim && !selected ? 0.35 : 1;
      if (call.tool === 'gd_detect' && s.layers.boxes && call.color) {
        const boxes = this.visible(call);
        this.drawnBoxes += boxes.length;
        ctx.strokeStyle = call.color;
        ctx.lineWidth = (selected ? 3 : 2) * d;
        ctx.beginPath();
        for (const b of boxes) ctx.rect(...this.rect(b.bbox));
        ctx.stroke();
        if (s.layers.labels) {
          for (const b of boxes) {
            const [x, y] = this.rect(b.bbox);
            this.chip(ctx, b.text, x - ctx.lineWidth / 2, y - ctx.lineWidth / 2, call.color);
          }
        }
      } else if (call.tool === 'depth' && s.layers.depthRegions && call.region) {
        this.dashed(ctx, call.region, OVERLAY.depth, selected);
        if (call.depth !== null) {
          const [x, y] = this.rect(call.region);
          this.chip(ctx, `${call.variable ?? 'depth'} ${formatMetres(call.depth)}`, x, y, OVERLAY.depth);
        }
      } else if (call.tool === 'vqa' && s.layers.crops && call.crop) {
        this.dashed(ctx, call.crop, OVERLAY.crop, selected);
        const [x, y] = this.rect(call.crop);
        this.chip(ctx, `vqa: ${call.answer ?? '?'}`, x, y, OVERLAY.crop);
      }
    }
    ctx.globalAlpha = 1;
    this.base.dataset['drawn'] = String(this.drawnBoxes);
    this.scheduleBoxList();
  }

  private dashed(ctx: CanvasRenderingContext2D, b: BBox, color: string, selected: boolean): void {
    const d = this.dpr;
    const r = this.rect(b);
    ctx.setLineDash([6 * d, 4 * d]);
    ctx.lineWidth = (selected ? 4 : 3) * d;
    ctx.strokeStyle = OVERLAY.halo;
    ctx.strokeRect(...r);
    ctx.lineWidth = (selected ? 2 : 1.5) * d;
    ctx.strokeStyle = color;
    ctx.strokeRect(...r);
    ctx.setLineDash([]);
  }

  private drawHi(): void {
    const ctx = this.context(this.hi);
    const s = this.scene;
    if (!ctx || !s) return;
    const d = this.dpr;
    const call = s.calls.find((c) => c.index === this.hoverCall);
    if (call && call.tool === 'gd_detect' && s.layers.boxes && call.color) {
      const boxes = this.visible(call);
      ctx.beginPath();
      for (const b of boxes) ctx.rect(...this.rect(b.bbox));
      ctx.lineWidth = 6 * d;
      ctx.strokeStyle = OVERLAY.halo;
      ctx.stroke();
      ctx.lineWidth = 3 * d;
      ctx.strokeStyle = call.color;
      ctx.stroke();
    }
    if (this.hoverBox) {
      ctx.lineWidth = 2 * d;
      ctx.strokeStyle = '#ffffff';
      ctx.setLineDash([4 * d, 3 * d]);
      const r = this.rect(this.hoverBox.bbox);
      ctx.strokeRect(r[0] - 4 * d, r[1] - 4 * d, r[2] + 8 * d, r[3] + 8 * d);
      ctx.setLineDash([]);
    }
    if (s.focusedBox) {
      const [gi, bi] = s.focusedBox;
      const box = s.grounding[gi]?.boxes.find((b) => b.index === bi);
      if (box) {
        const r = this.rect(box.bbox);
        ctx.lineWidth = 5 * d;
        ctx.strokeStyle = OVERLAY.halo;
        ctx.strokeRect(...r);
        ctx.lineWidth = 2.5 * d;
        ctx.strokeStyle = box.kept ? OVERLAY.kept : OVERLAY.dropped;
        ctx.setLineDash(box.kept ? [] : [6 * d, 4 * d]);
        ctx.strokeRect(...r);
        ctx.setLineDash([]);
        ctx.font = this.font.replace(`${LABEL_FONT_PX}px`, `${LABEL_FONT_PX * d}px`);
        ctx.textBaseline = 'middle';
        this.chip(ctx, `#${box.index} ${box.label} ${box.kept ? 'kept' : `dropped (${box.dropped_at ?? '?'})`}`, r[0], r[1], box.kept ? OVERLAY.kept : OVERLAY.dropped);
      }
    }
  }

  /**
   * The canvas's fallback content lists what is drawn, for screen readers (and tests). It lags a
   * little behind the drawing so dragging a slider does not rebuild hundreds of list items a frame.
   */
  private scheduleBoxList(): void {
    if (this.listTimer !== null) clearTimeout(this.listTimer);
    this.listTimer = setTimeout(() => {
      this.listTimer = null;
      this.renderBoxList();
    }, 120);
  }

  private renderBoxList(): void {
    const s = this.scene;
    const items: HTMLLIElement[] = [];
    if (s && s.layers.boxes) {
      for (const call of s.calls) {
        if (call.tool !== 'gd_detect') continue;
        for (const b of this.visible(call)) {
          items.push(h('li', { text: `call ${call.index}: ${b.text}`, attrs: { 'data-call': call.index, 'data-color': call.color } }));
        }
      }
    }
    this.boxList.replaceChildren(...items);
    this.base.dataset['listed'] = String(items.length);
  }

  // ------------------------------------------------------------------ pointer

  private boxAt(px: number, py: number): ViewBox | null {
    const s = this.scene;
    if (!s || !s.layers.boxes) return null;
    const t = this.transform();
    const x = (px - t.ox) / t.s;
    const y = (py - t.oy) / t.s;
    let best: ViewBox | null = null;
    let bestArea = Infinity;
    for (const call of s.calls) {
      if (call.tool !== 'gd_detect') continue;
      for (const b of this.visible(call)) {
        const [x1, y1, x2, y2] = b.bbox;
        if (x >= x1 && x <= x2 && y >= y1 && y <= y2) {
          const area = (x2 - x1) * (y2 - y1);
          // The smallest box under the pointer is the one a person means among nested boxes.
          if (area < bestArea) {
            best = b;
            bestArea = area;
          }
        }
      }
    }
    return best;
  }

  private bindPointer(): void {
    const r = this.root;
    r.addEventListener('pointermove', (ev) => {
      const rect = r.getBoundingClientRect();
      const x = ev.clientX - rect.left;
      const y = ev.clientY - rect.top;
      if (this.drag && this.drag.id === ev.pointerId) {
        const dx = ev.clientX - this.drag.x;
        const dy = ev.clientY - this.drag.y;
        if (Math.abs(dx) + Math.abs(dy) > 3) this.drag.moved = true;
        if (this.drag.moved) {
          const t = this.transform();
          this.center = this.clampCenter(this.drag.cx - dx / t.s, this.drag.cy - dy / t.s);
          this.invalidate('layout');
        }
        return;
      }
      const box = this.boxAt(x, y);
      if (box !== this.hoverBox) {
        this.hoverBox = box;
        this.showTooltip(box, x, y);
        this.events.hoverBox(box);
        this.invalidate('hi');
      } else if (box) {
        this.moveTooltip(x, y);
      }
    });
    r.addEventListener('pointerleave', () => {
      if (this.hoverBox) {
        this.hoverBox = null;
        this.showTooltip(null, 0, 0);
        this.events.hoverBox(null);
        this.invalidate('hi');
      }
    });
    r.addEventListener('pointerdown', (ev) => {
      if (ev.button !== 0) return;
      const c = this.center ?? [this.imageW / 2, this.imageH / 2];
      this.drag = { id: ev.pointerId, x: ev.clientX, y: ev.clientY, cx: c[0], cy: c[1], moved: false };
      r.setPointerCapture(ev.pointerId);
    });
    const end = (ev: PointerEvent): void => {
      if (!this.drag || this.drag.id !== ev.pointerId) return;
      const moved = this.drag.moved;
      this.drag = null;
      if (moved) this.events.viewChanged(this.zoom, this.center);
      else {
        const rect = r.getBoundingClientRect();
        const box = this.boxAt(ev.clientX - rect.left, ev.clientY - rect.top);
        if (box) this.events.clickBox(box);
      }
    };
    r.addEventListener('pointerup', end);
    r.addEventListener('pointercancel', end);
    r.addEventListener(
      'wheel',
      (ev) => {
        ev.preventDefault();
        const rect = r.getBoundingClientRect();
        this.zoomBy(Math.exp(-ev.deltaY * 0.0015), { x: ev.clientX - rect.left, y: ev.clientY - rect.top });
      },
      { passive: false },
    );
    r.addEventListener('dblclick', () => this.fit());
  }

  private showTooltip(box: ViewBox | null, x: number, y: number): void {
    if (!box || !this.scene) {
      this.tooltip.hidden = true;
      return;
    }
    const call = this.scene.calls.find((c) => c.index === box.call);
    const where = call
      ? `gd_detect call #${call.index}${call.shownLine !== null ? `, line ${call.shownLine}` : ''}`
      : `call #${box.call}`;
    const variable =
      call?.variable && box.resultIndex !== null
        ? `${call.variable}[${box.resultIndex}]`
        : box.resultIndex === null
          ? 'candidate below the program\u2019s threshold (the program did not see it)'
          : `result[${box.resultIndex}]`;
    this.tooltip.replaceChildren(h('strong', { text: box.text }), h('br'), where, h('br'), variable);
    this.tooltip.hidden = false;
    this.moveTooltip(x, y);
  }

  private moveTooltip(x: number, y: number): void {
    const w = this.tooltip.offsetWidth;
    const left = x + 14 + w > this.cssW ? Math.max(0, x - 14 - w) : x + 14;
    this.tooltip.style.left = `${left}px`;
    this.tooltip.style.top = `${Math.min(Math.max(0, this.cssH - this.tooltip.offsetHeight), y + 14)}px`;
  }

  private showStatus(text: string | null): void {
    this.status.hidden = text === null;
    this.status.textContent = text ?? '';
  }
}
