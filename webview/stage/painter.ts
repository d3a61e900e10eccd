/**
 * Drawing the overlays at device pixels: the base canvas (grounding boxes, detection boxes with
 * their labels, depth regions, VQA crops; other calls dimmed while one is selected) and the
 * highlight canvas (the hovered call and box, the focused grounding box).
 */
import type { BBox } from '../../src/protocol/tools.js';
import { OVERLAY, textOn } from '../colors.js';
import { formatMetres } from '../depth.js';
import type { ViewBox } from '../model.js';
import { visibleBoxes } from '../model.js';
import { deviceRect, type Transform } from './geometry.js';
import type { StageScene } from './scene.js';

export const LABEL_FONT_PX = 11;

export class Painter {
  /** Device pixels per CSS pixel, and the label font (set by the stage's layout). */
  dpr = 1;
  font = `${LABEL_FONT_PX}px sans-serif`;
  private t: Transform = { fit: 1, s: 1, ox: 0, oy: 0 };
  private readonly textWidths = new Map<string, number>();

  /** The canvases were resized: measured label widths no longer hold. */
  resized(): void {
    this.textWidths.clear();
  }

  /** Draws the base layer; returns how many detection boxes it drew. */
  drawBase(ctx: CanvasRenderingContext2D, s: StageScene, t: Transform): number {
    this.t = t;
    const d = this.dpr;
    let drawn = 0;
    this.setFont(ctx);
    const dim = s.selectedCall !== null;

    if (s.layers.grounding) {
      ctx.lineWidth = 2 * d;
      for (const g of s.grounding) {
        for (const b of g.boxes) {
          ctx.strokeStyle = b.kept ? OVERLAY.kept : OVERLAY.dropped;
          ctx.setLineDash(b.kept ? [] : [6 * d, 4 * d]);
          ctx.strokeRect(...this.rect(b.bbox));
        }
      }
      ctx.setLineDash([]);
    }

    for (const call of s.calls) {
      const selected = s.selectedCall === call.index;
      ctx.globalAlpha = dim && !selected ? 0.35 : 1;
      if (call.tool === 'gd_detect' && s.layers.boxes && call.color) {
        const boxes = visibleBoxes(call, s.thresholds);
        drawn += boxes.length;
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
    return drawn;
  }

  /** Draws the highlight layer: the hovered call's boxes, the box under the pointer, the focused grounding box. */
  drawHi(ctx: CanvasRenderingContext2D, s: StageScene, t: Transform, hoverCall: number | null, hoverBox: ViewBox | null): void {
    this.t = t;
    const d = this.dpr;
    const call = s.calls.find((c) => c.index === hoverCall);
    if (call && call.tool === 'gd_detect' && s.layers.boxes && call.color) {
      ctx.beginPath();
      for (const b of visibleBoxes(call, s.thresholds)) ctx.rect(...this.rect(b.bbox));
      ctx.lineWidth = 6 * d;
      ctx.strokeStyle = OVERLAY.halo;
      ctx.stroke();
      ctx.lineWidth = 3 * d;
      ctx.strokeStyle = call.color;
      ctx.stroke();
    }
    if (hoverBox) {
      ctx.lineWidth = 2 * d;
      ctx.strokeStyle = '#ffffff';
      ctx.setLineDash([4 * d, 3 * d]);
      const r = this.rect(hoverBox.bbox);
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
        this.setFont(ctx);
        this.chip(ctx, `#${box.index} ${box.label} ${box.kept ? 'kept' : `dropped (${box.dropped_at ?? '?'})`}`, r[0], r[1], box.kept ? OVERLAY.kept : OVERLAY.dropped);
      }
    }
  }

  private setFont(ctx: CanvasRenderingContext2D): void {
    ctx.font = this.font.replace(`${LABEL_FONT_PX}px`, `${LABEL_FONT_PX * this.dpr}px`);
    ctx.textBaseline = 'middle';
  }

  private rect(b: BBox): [number, number, number, number] {
    return deviceRect(this.t, this.dpr, b);
  }

  private textWidth(ctx: CanvasRenderingContext2D, text: string): number {
    let w = this.textWidths.get(text);
    if (w === undefined) {
      w = ctx.measureText(text).width;
      this.textWidths.set(text, w);
    }
    return w;
  }

  /** A label on a coloured chip, above the box when there is room, else just inside its top edge. */
  private chip(ctx: CanvasRenderingContext2D, text: string, x: number, y: number, bg: string): void {
    const d = this.dpr;
    const w = this.textWidth(ctx, text) + 6 * d;
    const hgt = (LABEL_FONT_PX + 4) * d;
    const top = y - hgt >= 0 ? y - hgt : y;
    ctx.fillStyle = bg;
    ctx.fillRect(x, top, w, hgt);
    ctx.fillStyle = textOn(bg);
    ctx.fillText(text, x + 3 * d, top + hgt / 2);
  }

  /** A dashed region with a halo, so it reads on any image. */
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
}
