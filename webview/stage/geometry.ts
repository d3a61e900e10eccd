/**
 * Where the image sits in the stage: the scale that fits it, the zoom and the image point at the
 * panel's centre give one transform from image pixels to CSS pixels. Pure arithmetic.
 */
import type { BBox } from '../../src/protocol/tools.js';

export const MIN_ZOOM = 0.25;
export const MAX_ZOOM = 64;

export interface Geometry {
  imageW: number;
  imageH: number;
  /** The stage's size in CSS pixels. */
  cssW: number;
  cssH: number;
  /** Relative to "fit the panel". */
  zoom: number;
  /** Image point at the panel's centre; null = the image's centre. */
  center: [number, number] | null;
}

/** Image pixel (x, y) -> CSS pixel (ox + x·s, oy + y·s); `fit` is the scale at zoom 1. */
export interface Transform {
  fit: number;
  s: number;
  ox: number;
  oy: number;
}

export function clampZoom(zoom: number): number {
  return Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, zoom));
}

export function transformOf(g: Geometry): Transform {
  const fit = Math.min(g.cssW / g.imageW, g.cssH / g.imageH) || 1;
  const s = fit * g.zoom;
  const c = g.center ?? [g.imageW / 2, g.imageH / 2];
  return { fit, s, ox: g.cssW / 2 - c[0] * s, oy: g.cssH / 2 - c[1] * s };
}

export function clampCenter(g: Geometry, cx: number, cy: number): [number, number] {
  return [Math.min(g.imageW, Math.max(0, cx)), Math.min(g.imageH, Math.max(0, cy))];
}

/** Zoom by `factor` keeping the image point under CSS pixel `at` (default: the centre) fixed. */
export function zoomAbout(g: Geometry, factor: number, at?: { x: number; y: number }): { zoom: number; center: [number, number] } {
  const t = transformOf(g);
  const px = at ?? { x: g.cssW / 2, y: g.cssH / 2 };
  const ix = (px.x - t.ox) / t.s;
  const iy = (px.y - t.oy) / t.s;
  const zoom = clampZoom(g.zoom * factor);
  const s = t.fit * zoom;
  return { zoom, center: clampCenter(g, ix - (px.x - g.cssW / 2) / s, iy - (px.y - g.cssH / 2) / s) };
}

/** The centre after moving the image by (dx, dy) CSS pixels from centre `from`. */
export function pannedCenter(g: Geometry, from: [number, number], dx: number, dy: number): [number, number] {
  const t = transformOf(g);
  return clampCenter(g, from[0] - dx / t.s, from[1] - dy / t.s);
}

/** Device-pixel rectangle [x, y, w, h] of an image box, snapped so 2-pixel strokes cover whole pixels. */
export function deviceRect(t: Transform, dpr: number, b: BBox): [number, number, number, number] {
  const x1 = Math.round((t.ox + b[0] * t.s) * dpr);
  const y1 = Math.round((t.oy + b[1] * t.s) * dpr);
  const x2 = Math.round((t.ox + b[2] * t.s) * dpr);
  const y2 = Math.round((t.oy + b[3] * t.s) * dpr);
  return [x1, y1, Math.max(1, x2 - x1), Math.max(1, y2 - y1)];
}
