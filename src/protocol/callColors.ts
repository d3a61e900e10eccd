/**
 * Per-call colours, shared by the run view (webview/) and the annotated images the CLI writes
 * (src/core/runAnnotation.ts), so a call has the same colour on screen and in a saved picture.
 * Saturated mid-to-light hues so a 2-pixel box edge stands out on photographs and the swatches
 * stay visible on light, dark and high-contrast backgrounds. Neighbouring entries differ in hue
 * so consecutive detection calls are easy to tell apart.
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

/** Overlay colours that are not per call. */
export const OVERLAY = {
  depth: '#ffffff',
  crop: '#ffe119',
  kept: '#3cb44b',
  dropped: '#e6194b',
  halo: 'rgba(0,0,0,0.75)',
} as const;
