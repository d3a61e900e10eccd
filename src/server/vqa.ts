/**
 * `vqa(img_pth, bbox, prompt)`: the crop VALOR shows a vision-language model (the box padded by
 * 25% of its width and height on each side, clamped; the whole image for `bbox: null`), sent with
 * our own short-answer instruction to an OpenAI-compatible endpoint, and the answer normalised
 * the way programs expect (lowercase, no trailing `.` or `,`).
 */
import sharp from 'sharp';
import type { ChatClient, ChatMessage } from '../core/chat.js';
import type { BBox } from '../protocol/tools.js';
import { checkBox, paddedCrop } from './boxes.js';
import type { DecodedImage } from './images.js';

/** Our instruction (docs/valor.md §2 lists what it must say; the words are ours). */
export const VQA_INSTRUCTION = [
  'Look at the image and answer the question that follows.',
  'Reply with the answer only: a single word or a short phrase, no sentence and no explanation.',
  'Write numbers with digits, without units. Give decimal values exactly as you estimate them; do not round them.',
  'If the question offers options, reply with exactly one of those options, spelled as given.',
].join(' ');

/** Long side of the picture actually sent; larger crops are downscaled (the model sees no more detail anyway). */
export const VQA_MAX_SIDE = 1536;

export interface VqaCrop {
  crop: BBox;
  /** Size of the picture sent (after any downscale). */
  sentWidth: number;
  sentHeight: number;
  dataUrl: string;
}

/** The region sent for `bbox` (validated and clipped like depth's boxes). */
export function vqaRegion(bbox: BBox | null, width: number, height: number): BBox {
  if (bbox === null) return [0, 0, width, height];
  return paddedCrop(checkBox(bbox, width, height), width, height, 0.25);
}

/** Encodes the crop as a data URL: PNG when small (lossless), JPEG otherwise (smaller upload). */
export async function encodeCrop(img: DecodedImage, crop: BBox, maxSide = VQA_MAX_SIDE): Promise<VqaCrop> {
  const [x1, y1, x2, y2] = crop;
  const w = x2 - x1;
  const h = y2 - y1;
  let pipeline = sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).extract({ left: x1, top: y1, width: w, height: h });
  let sentWidth = w;
  let sentHeight = h;
  if (Math.max(w, h) > maxSide) {
    const s = maxSide / Math.max(w, h);
    sentWidth = Math.max(1, Math.round(w * s));
    sentHeight = Math.max(1, Math.round(h * s));
    pipeline = pipeline.resize(sentWidth, sentHeight, { fit: 'fill' });
  }
  const small = sentWidth * sentHeight <= 512 * 512;
  const buf = small ? await pipeline.png().toBuffer() : await pipeline.jpeg({ quality: 90 }).toBuffer();
  return { crop, sentWidth, sentHeight, dataUrl: `data:image/${small ? 'png' : 'jpeg'};base64,${buf.toString('base64')}` };
}

export function vqaMessages(prompt: string, dataUrl: string): ChatMessage[] {
  return [
    {
      role: 'user',
      content: [
        { type: 'text', text: `${VQA_INSTRUCTION}\n\nQuestion: ${prompt.trim()}` },
        { type: 'image_url', image_url: { url: dataUrl } },
      ],
    },
  ];
}

/** Lowercase, trimmed, trailing periods/commas removed (as VALOR's programs compare answers). */
export function normalizeAnswer(text: string): string {
  return text.trim().toLowerCase().replace(/[.,\s]+$/u, '').trim();
}

export async function askVlm(chat: ChatClient, prompt: string, dataUrl: string, signal?: AbortSignal): Promise<{ answer: string; model: string }> {
  const res = await chat.complete({ messages: vqaMessages(prompt, dataUrl), noCache: true }, signal);
  return { answer: normalizeAnswer(res.text), model: res.model || chat.model };
}
