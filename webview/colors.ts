/**
 * Per-call colours. Saturated mid-to-light hues so a 2-pixel box edge stands out on photographs
 * and the swatches stay visible on light, dark and high-contrast panel backgrounds (each swatch
 * also gets a border in the theme's foreground colour). Neighbouring entries differ in hue so
 * consecutive detection calls are easy to tell apart.
 */
export const PALETTE: readonly string[] = [
  '#e6194b', // red
  '#3cb44b', // green
  '#4363d8', // blue
  '#f58231', // orange
  '#911eb4', // purple
  '#42d4f4', // cyan
  '#f032e6', // magenta
  '#bfef45', // lime
  '#469990', // teal
  '#ffe119', // yellow
  '#9a6324', // brown
  '#dcbeff', // lavender
];

/** Colour of the n-th detection call (cycles past the palette's end). */
export function callColor(ordinal: number): string {
  return PALETTE[((ordinal % PALETTE.length) + PALETTE.length) % PALETTE.length] ?? '#e6194b';
}

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

/** Overlay colours that are not per call. */
export const OVERLAY = {
  depth: '#ffffff',
  crop: '#ffe119',
  kept: '#3cb44b',
  dropped: '#e6194b',
  halo: 'rgba(0,0,0,0.75)',
} as const;
