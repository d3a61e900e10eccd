/** Tool calls of a program: checked arguments, the tool called, its answer shaped as the program receives it. */
import { z } from 'zod';
import type { TraceEntry } from '../../protocol/run.js';
import { Detection } from '../../protocol/tools.js';
import { ToolError, type BBox, type ToolResult, type Tools } from '../tools.js';

function describeValue(v: unknown): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return `a list of ${v.length} item${v.length === 1 ? '' : 's'}`;
  if (typeof v === 'object') return `a dict with keys ${Object.keys(v as object).join(', ') || '(none)'}`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}...` : v)}`;
  return `${typeof v === 'number' ? 'the number' : typeof v} ${String(v)}`;
}

function checkBBox(tool: string, v: unknown, allowNone: boolean): BBox | null {
  if (v === null && allowNone) return null;
  if (Array.isArray(v) && v.length === 4 && v.every((x) => typeof x === 'number' && Number.isFinite(x))) return v as BBox;
  let hint = '';
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && 'bbox' in v) hint = "; this looks like a whole detection: pass its box, e.g. det['bbox']";
  throw new ToolError(
    `${tool}: bbox must be a list of 4 numbers [x1, y1, x2, y2]${allowNone ? ' or None (whole image)' : ''}, got ${describeValue(v)}${hint}`,
    'TypeError',
  );
}

function checkString(tool: string, param: string, v: unknown): string {
  if (typeof v === 'string') return v;
  throw new ToolError(`${tool}: ${param} must be a string, got ${describeValue(v)}`, 'TypeError');
}

export interface Dispatched {
  value: unknown;
  detail?: TraceEntry['detail'];
}

/** Calls the tool with checked arguments and shapes its answer as the program receives it. */
export async function dispatch(tools: Tools, tool: 'gd_detect' | 'depth' | 'vqa', args: Record<string, unknown>, signal: AbortSignal, runImage: string): Promise<Dispatched> {
  const img = checkString(tool, 'img_pth', args.img_pth);
  // The tools read files on the host: a program may only name the image it was given.
  if (img !== runImage) {
    throw new ToolError(
      `${tool}: img_pth must be the run's own image, passed as given (the img_pth variable); got ${describeValue(img)}. Tools read no other file`,
      'ToolError',
    );
  }
  let res: ToolResult<unknown>;
  if (tool === 'gd_detect') {
    const prompt = checkString(tool, 'prompt', args.prompt);
    const r = await tools.gd_detect(img, prompt, signal);
    const parsed = z.array(Detection).safeParse(r.value);
    if (!parsed.success) throw new ToolError('gd_detect: the tool returned detections of the wrong shape (expected a list of {bbox, label, score})', 'ToolError');
    // Programs see integer pixel boxes (docs/valor.md §2).
    res = { value: parsed.data.map((d) => ({ bbox: d.bbox.map((x) => Math.round(x)), label: d.label, score: d.score })), detail: r.detail };
  } else if (tool === 'depth') {
    const bbox = checkBBox(tool, args.bbox, false) as BBox;
    const r = await tools.depth(img, bbox, signal);
    if (typeof r.value !== 'number' || !Number.isFinite(r.value)) throw new ToolError(`depth: the tool returned ${describeValue(r.value)} instead of a finite number`, 'ToolError');
    res = r;
  } else {
    const bbox = checkBBox(tool, args.bbox, true);
    const prompt = checkString(tool, 'prompt', args.prompt);
    const r = await tools.vqa(img, bbox, prompt, signal);
    if (typeof r.value !== 'string') throw new ToolError(`vqa: the tool returned ${describeValue(r.value)} instead of a string`, 'ToolError');
    res = r;
  }
  return { value: res.value, ...(res.detail !== undefined ? { detail: res.detail } : {}) };
}
