/**
 * Images for the vision-language verifier, drawn by us with sharp: numbered boxes with labels on
 * the image, padded crops of one box, and images encoded as data URLs at a bounded size.
 *
 * Legibility at any size: the stroke width and the font size scale with the image's long side
 * (with floors, so small images still get readable labels), every label sits on a filled
 * background in its box's colour with black or white text chosen for contrast, and a dark halo
 * under each box keeps it visible on backgrounds of the same colour. Labels use a monospace
 * font so their width is known in advance and the background fits the text.
 *
 * Everything works on the upright image (EXIF orientation applied), the frame the detector's
 * pixel coordinates refer to.
 */
import sharp from 'sharp';
import type { BBox } from '../../protocol/tools.js';

export interface DrawBox {
  /** The number printed on the image and used in the list the model sees. */
  number: number;
  bbox: BBox;
  label: string;
  /** Box colour (default: picked by `number`). */
  colour?: string;
  /** The label text drawn (default: `number label`). */
  text?: string;
  /** A dashed outline (regions and crops, as opposed to detections). */
  dashed?: boolean;
}

export interface AnnotationStyle {
  stroke: number;
  fontSize: number;
  /** Height of a label's background bar. */
  labelHeight: number;
}

/** Stroke and font scaled to the image: about 1/250 and 1/45 of the long side, with floors. */
export function annotationStyle(width: number, height: number): AnnotationStyle {
  const long = Math.max(width, height);
  const stroke = Math.max(2, Math.round(long / 250));
  const fontSize = Math.max(12, Math.round(long / 45));
  return { stroke, fontSize, labelHeight: Math.round(fontSize * 1.35) };
}

/** Distinct saturated colours; a box's colour is picked by its number. */
export const BOX_COLOURS: readonly string[] = [
  '#ff2d2d', '#1e90ff', '#00c853', '#ffb300', '#d500f9', '#00e5ff', '#ff6d00', '#76ff03',
  '#f50057', '#2979ff', '#ffd600', '#00bfa5', '#aa00ff', '#c6ff00', '#ff1744', '#651fff',
];

export function colourFor(n: number): string {
  return BOX_COLOURS[((n % BOX_COLOURS.length) + BOX_COLOURS.length) % BOX_COLOURS.length] ?? '#ff2d2d';
}

export function textColourOn(hex: string): string {
  const r = parseInt(hex.slice(1, 3), 16);
  const g = parseInt(hex.slice(3, 5), 16);
  const b = parseInt(hex.slice(5, 7), 16);
  return 0.299 * r + 0.587 * g + 0.114 * b > 150 ? '#000000' : '#ffffff';
}

function xmlEscape(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] ?? c);
}

export interface RawImage {
  data: Buffer;
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
}

/** Decodes to upright raw pixels once, so the drawing and cropping steps agree on the frame. */
export async function loadUpright(input: string | Buffer): Promise<RawImage> {
  const { data, info } = await sharp(input, { limitInputPixels: false }).rotate().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

function fromRaw(img: RawImage): sharp.Sharp {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels } });
}

/** The SVG overlay for `boxes` on a `width`×`height` image (exported for tests and viewers). */
export function overlaySvg(width: number, height: number, boxes: readonly DrawBox[]): string {
  const st = annotationStyle(width, height);
  const charW = st.fontSize * 0.6; // monospace advance
  const padX = Math.round(st.fontSize * 0.3);
  const parts: string[] = [];
  for (const b of boxes) {
    const [x1, y1, x2, y2] = b.bbox;
    const c = b.colour ?? colourFor(b.number);
    const w = Math.max(1, x2 - x1);
    const h = Math.max(1, y2 - y1);
    const dash = b.dashed ? ` stroke-dasharray="${st.stroke * 3} ${st.stroke * 2}"` : '';
    parts.push(`<rect x="${x1}" y="${y1}" width="${w}" height="${h}" fill="none" stroke="#000000" stroke-opacity="0.55" stroke-width="${st.stroke + 2}"/>`);
    parts.push(`<rect x="${x1}" y="${y1}" width="${w}" height="${h}" fill="none" stroke="${c}" stroke-width="${st.stroke}"${dash}/>`);
  }
  // Labels after all boxes so no box line crosses a label.
  for (const b of boxes) {
    const [x1, y1] = b.bbox;
    const c = b.colour ?? colourFor(b.number);
    const text = b.text ?? `${b.number} ${b.label}`;
    const lw = Math.min(width, Math.ceil(text.length * charW + 2 * padX));
    const lh = st.labelHeight;
    const lx = Math.max(0, Math.min(Math.round(x1), width - lw));
    const above = Math.round(y1) - lh;
    const ly = above >= 0 ? above : Math.max(0, Math.min(Math.round(y1), height - lh));
    parts.push(`<rect x="${lx}" y="${ly}" width="${lw}" height="${lh}" fill="${c}"/>`);
    parts.push(
      `<text x="${lx + padX}" y="${ly + Math.round(lh * 0.78)}" font-family="DejaVu Sans Mono, Liberation Mono, Menlo, Consolas, monospace" font-weight="bold" font-size="${st.fontSize}" fill="${textColourOn(c)}">${xmlEscape(text)}</text>`,
    );
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${parts.join('')}</svg>`;
}

export interface Drawn {
  data: Buffer;
  width: number;
  height: number;
  style: AnnotationStyle;
}

/** The image with `boxes` drawn on it, as PNG (lossless, so tests can check pixels). */
export async function drawBoxes(input: string | Buffer | RawImage, boxes: readonly DrawBox[]): Promise<Drawn> {
  const img = typeof input === 'string' || Buffer.isBuffer(input) ? await loadUpright(input) : input;
  const svg = overlaySvg(img.width, img.height, boxes);
  const data = await fromRaw(img)
    .composite([{ input: Buffer.from(svg), top: 0, left: 0 }])
    .png()
    .toBuffer();
  return { data, width: img.width, height: img.height, style: annotationStyle(img.width, img.height) };
}

/** The box grown by `padding` of its width/height on each side, clamped, in whole pixels. */
export function paddedRegion(bbox: BBox, width: number, height: number, padding = 0.1): BBox {
  const [x1, y1, x2, y2] = bbox;
  const bw = Math.max(0, x2 - x1);
  const bh = Math.max(0, y2 - y1);
  const left = Math.max(0, Math.floor(x1 - bw * padding));
  const top = Math.max(0, Math.floor(y1 - bh * padding));
  const right = Math.min(width, Math.ceil(x2 + bw * padding));
  const bottom = Math.min(height, Math.ceil(y2 + bh * padding));
  // At least one pixel, inside the image, even for degenerate boxes.
  const l = Math.min(left, width - 1);
  const t = Math.min(top, height - 1);
  return [l, t, Math.max(l + 1, right), Math.max(t + 1, bottom)];
}

export interface Crop {
  data: Buffer;
  /** The region cut out, in image pixels. */
  region: BBox;
  width: number;
  height: number;
}

/** The box with 10% padding, resized so its long side is `longSide` (640 by default), as JPEG. */
export async function cropBox(input: string | Buffer | RawImage, bbox: BBox, opts: { padding?: number; longSide?: number } = {}): Promise<Crop> {
  const img = typeof input === 'string' || Buffer.isBuffer(input) ? await loadUpright(input) : input;
  const region = paddedRegion(bbox, img.width, img.height, opts.padding ?? 0.1);
  const long = opts.longSide ?? 640;
  const { data, info } = await fromRaw(img)
    .extract({ left: region[0], top: region[1], width: region[2] - region[0], height: region[3] - region[1] })
    .resize({ width: long, height: long, fit: 'inside', kernel: 'lanczos3' })
    .flatten({ background: '#ffffff' })
    .jpeg({ quality: 90 })
    .toBuffer({ resolveWithObject: true });
  return { data, region, width: info.width, height: info.height };
}

export interface EncodedImage {
  dataUrl: string;
  width: number;
  height: number;
  bytes: number;
}

/** JPEG data URL with the long side at most `maxSide` (never enlarged). */
export async function encodeImage(input: string | Buffer | RawImage, maxSide: number): Promise<EncodedImage> {
  const s = typeof input === 'string' || Buffer.isBuffer(input) ? sharp(input, { limitInputPixels: false }).rotate() : fromRaw(input);
  const { data, info } = await s
    .resize({ width: maxSide, height: maxSide, fit: 'inside', withoutEnlargement: true })
    .flatten({ background: '#ffffff' })
    .jpeg({ quality: 88 })
    .toBuffer({ resolveWithObject: true });
  return { dataUrl: `data:image/jpeg;base64,${data.toString('base64')}`, width: info.width, height: info.height, bytes: data.length };
}
