/**
 * Colour helpers of the run view. The per-call palette lives in src/protocol/callColors.ts, shared
 * with the annotated images the CLI writes, so a call has one colour everywhere.
 */
export { callColor, OVERLAY, PALETTE } from '../src/protocol/callColors.js';

/** `#rrggbb` -> [r, g, b] in 0..255. */
export function hexToRgb(hex: string): [number, number, number] {
  const m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex.trim());
  if (!m) return [0, 0, 0];
  return [parseInt(m[1] ?? '0', 16), parseInt(m[2] ?? '0', 16), parseInt(m[3] ?? '0', 16)];
}

/** Black or white, whichever reads better on the given background (WCAG relative luminance). */
export function textOn(hex: string): '#000000' | '#ffffff' {
  const lin = (c: number): number => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  const [r, g, b] = hexToRgb(hex);
  const l = 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  // Contrast with black is (l+0.05)/0.05, with white 1.05/(l+0.05); equal at l ~ 0.179.
  return l > 0.179 ? '#000000' : '#ffffff';
}
