/**
 * ODVG export (docs/valor.md §5): the boxes the grounding verifier kept, after human overrides, as
 * Open-GroundingDino detection records plus `label_map.json`.
 *
 * Files in the output folder: `odvg.jsonl` (one JSON object per image) and `label_map.json`
 * (`{"0": "sofa", ...}`). Both are replaced atomically (temp file + rename), label map first, so a
 * reader never sees a record whose label is missing from the map.
 *
 * Incremental and idempotent:
 * - A record is identified by its `filename`. Exporting a grounding result for an image that is
 *   already there replaces that image's instances of the categories the result covers (the
 *   phrases of its prompt and its boxes' labels) and leaves the image's other categories alone,
 *   so results for different prompts of one image accumulate, and a re-export after an override
 *   updates the boxes rather than stacking old and new.
 * - Identical instances (same category and box) are written once.
 * - Label ids are never renumbered: new categories get the next free id.
 * - When nothing changes, nothing is written: running the same export twice adds nothing.
 * Categories are normalised: lower case, hyphens to spaces, whitespace collapsed.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { isAbsolute, join, relative } from 'node:path';
import type { GroundingResult, Override } from '../../protocol/run.js';
import type { BBox } from '../../protocol/tools.js';
import { applyBoxOverrides, OverrideIndex } from '../audit.js';
import { writeFileAtomic } from '../runStore.js';

export const ODVG_RECORDS_FILE = 'odvg.jsonl';
export const LABEL_MAP_FILE = 'label_map.json';

export interface OdvgInstance {
  bbox: BBox;
  label: number;
  category: string;
}

export interface OdvgRecord {
  filename: string;
  height: number;
  width: number;
  detection: { instances: OdvgInstance[] };
}

export type LabelMap = Record<string, string>;

export function normaliseCategory(s: string): string {
  return s.toLowerCase().replace(/-/g, ' ').replace(/\s+/g, ' ').trim();
}

/** The prompt's phrases as categories (comma-separated, as gd_detect reads them). */
export function promptCategories(prompt: string): string[] {
  return prompt.split(',').map(normaliseCategory).filter((c) => c.length > 0);
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

function clipBox(b: BBox, w: number, h: number): BBox | undefined {
  const x1 = round2(Math.max(0, Math.min(w, b[0])));
  const y1 = round2(Math.max(0, Math.min(h, b[1])));
  const x2 = round2(Math.max(0, Math.min(w, b[2])));
  const y2 = round2(Math.max(0, Math.min(h, b[3])));
  return x2 > x1 && y2 > y1 ? [x1, y1, x2, y2] : undefined;
}

function instanceKey(category: string, b: readonly number[]): string {
  return `${category}|${b.join(',')}`;
}

function compareInstances(a: { category: string; bbox: BBox }, b: { category: string; bbox: BBox }): number {
  return a.category.localeCompare(b.category) || a.bbox[0] - b.bbox[0] || a.bbox[1] - b.bbox[1] || a.bbox[2] - b.bbox[2] || a.bbox[3] - b.bbox[3];
}

async function readJsonl(path: string): Promise<OdvgRecord[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const records: OdvgRecord[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      records.push(JSON.parse(line) as OdvgRecord);
    } catch {
      throw new Error(`${path} line ${i + 1} is not JSON: fix or remove that line (or export into a fresh folder)`);
    }
  });
  return records;
}

async function readLabelMap(path: string): Promise<LabelMap> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw err;
  }
  const raw: unknown = JSON.parse(text);
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${path} is not a JSON object mapping label ids to category names`);
  const out: LabelMap = {};
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (!/^\d+$/.test(k) || typeof v !== 'string') throw new Error(`${path}: entry ${JSON.stringify(k)}: ${JSON.stringify(v)} is not "<integer id>": "<category>"`);
    out[k] = v;
  }
  return out;
}

export interface OdvgExportOptions {
  results: readonly GroundingResult[];
  outDir: string;
  /** Human overrides; the latest per box is applied before export. */
  overrides?: OverrideIndex | readonly Override[];
  /** When set, filenames are written relative to it (Open-GroundingDino's dataset `root`). */
  imageRoot?: string;
}

export interface OdvgExportSummary {
  recordsPath: string;
  labelMapPath: string;
  /** Images newly added, updated, left as they were, and removed (all their boxes dropped). */
  added: number;
  updated: number;
  unchanged: number;
  removed: number;
  labelsAdded: string[];
  instances: number;
  /** Whether any file was written. */
  wrote: boolean;
  warnings: string[];
}

export async function exportOdvg(o: OdvgExportOptions): Promise<OdvgExportSummary> {
  const recordsPath = join(o.outDir, ODVG_RECORDS_FILE);
  const labelMapPath = join(o.outDir, LABEL_MAP_FILE);
  const warnings: string[] = [];
  const existing = await readJsonl(recordsPath);
  const labelMap = await readLabelMap(labelMapPath);
  const idOf = new Map<string, number>(Object.entries(labelMap).map(([id, name]) => [name, Number(id)]));
  let nextId = Math.max(-1, ...[...idOf.values()]) + 1;
  const labelsAdded: string[] = [];
  const labelFor = (category: string): number => {
    let id = idOf.get(category);
    if (id === undefined) {
      id = nextId++;
      idOf.set(category, id);
      labelMap[String(id)] = category;
      labelsAdded.push(category);
    }
    return id;
  };

  const index = o.overrides instanceof OverrideIndex ? o.overrides : new OverrideIndex(o.overrides ?? []);
  // Gather, per image, the categories covered and the kept boxes of this export.
  interface Incoming {
    filename: string;
    width: number;
    height: number;
    covered: Set<string>;
    instances: Map<string, { category: string; bbox: BBox }>;
  }
  const incoming = new Map<string, Incoming>();
  for (const raw of o.results) {
    const r = applyBoxOverrides(raw, index);
    let filename = r.image.path;
    if (o.imageRoot) {
      const rel = relative(o.imageRoot, r.image.path);
      if (rel.startsWith('..') || isAbsolute(rel)) warnings.push(`${r.image.path} is outside the image root ${o.imageRoot}; its absolute path was written`);
      else filename = rel.split('\\').join('/');
    }
    let inc = incoming.get(filename);
    if (!inc) incoming.set(filename, (inc = { filename, width: r.image.width, height: r.image.height, covered: new Set(), instances: new Map() }));
    for (const c of promptCategories(r.prompt)) inc.covered.add(c);
    for (const b of r.boxes) {
      const category = normaliseCategory(b.label);
      if (!category) continue;
      inc.covered.add(category);
      if (!b.kept) continue;
      const bbox = clipBox(b.bbox, r.image.width, r.image.height);
      if (!bbox) {
        warnings.push(`box ${b.index} (${b.label}) of ${filename} has no area inside the image; skipped`);
        continue;
      }
      inc.instances.set(instanceKey(category, bbox), { category, bbox });
    }
  }

  // Each image comes once in `incoming`, so a record added below is never looked up again.
  const byFilename = new Map(existing.map((r, i) => [r.filename, i]));
  const out: Array<OdvgRecord | undefined> = [...existing];
  let added = 0;
  let updated = 0;
  let unchanged = 0;
  let removed = 0;
  for (const inc of incoming.values()) {
    const at = byFilename.get(inc.filename);
    const old = at === undefined ? undefined : existing[at];
    const kept = (old?.detection?.instances ?? []).filter((i) => !inc.covered.has(i.category));
    const keptKeys = new Set(kept.map((i) => instanceKey(i.category, i.bbox)));
    const fresh = [...inc.instances.values()].filter((i) => !keptKeys.has(instanceKey(i.category, i.bbox))).sort(compareInstances);
    const instances: OdvgInstance[] = [...kept, ...fresh.map((i) => ({ bbox: i.bbox, label: labelFor(i.category), category: i.category }))];
    const record: OdvgRecord = { filename: inc.filename, height: inc.height, width: inc.width, detection: { instances } };
    if (old === undefined) {
      if (instances.length === 0) continue; // an image with no kept box teaches nothing
      out.push(record);
      added++;
    } else if (JSON.stringify(old) === JSON.stringify(record)) {
      unchanged++;
    } else if (instances.length === 0) {
      out[at!] = undefined;
      removed++;
    } else {
      out[at!] = record;
      updated++;
    }
  }

  const finalRecords = out.filter((r): r is OdvgRecord => r !== undefined);
  const wrote = added + updated + removed > 0 || labelsAdded.length > 0;
  if (wrote) {
    await mkdir(o.outDir, { recursive: true });
    const sortedMap: LabelMap = {};
    for (const id of Object.keys(labelMap).map(Number).sort((a, b) => a - b)) sortedMap[String(id)] = labelMap[String(id)]!;
    await writeFileAtomic(labelMapPath, `${JSON.stringify(sortedMap, null, 2)}\n`);
    await writeFileAtomic(recordsPath, finalRecords.map((r) => `${JSON.stringify(r)}\n`).join(''));
  }
  return {
    recordsPath,
    labelMapPath,
    added,
    updated,
    unchanged,
    removed,
    labelsAdded,
    instances: finalRecords.reduce((s, r) => s + r.detection.instances.length, 0),
    wrote,
    warnings,
  };
}

export interface OdvgValidation {
  records: OdvgRecord[];
  labelMap: LabelMap;
  problems: string[];
}

/**
 * Re-reads an export the way Open-GroundingDino's ODVG loader uses it and lists every problem:
 * each line a JSON object with filename, positive integer height/width and instances; every box
 * four numbers inside the image with positive area; every label an id of the map whose name is
 * the instance's category; filenames unique.
 */
export async function validateOdvg(dir: string): Promise<OdvgValidation> {
  const problems: string[] = [];
  const recordsPath = join(dir, ODVG_RECORDS_FILE);
  const labelMapPath = join(dir, LABEL_MAP_FILE);
  let labelMap: LabelMap = {};
  try {
    labelMap = await readLabelMap(labelMapPath);
  } catch (err) {
    problems.push(`${labelMapPath}: ${(err as Error).message}`);
  }
  const names = Object.values(labelMap);
  if (new Set(names).size !== names.length) problems.push(`${labelMapPath}: a category has more than one id`);
  let text = '';
  try {
    text = await readFile(recordsPath, 'utf8');
  } catch (err) {
    problems.push(`${recordsPath}: ${(err as Error).message}`);
  }
  if (text.length > 0 && !text.endsWith('\n')) problems.push(`${recordsPath}: the last line is not terminated`);
  const records: OdvgRecord[] = [];
  const seen = new Set<string>();
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `${recordsPath} line ${i + 1}`;
    let r: OdvgRecord;
    try {
      r = JSON.parse(line) as OdvgRecord;
    } catch {
      problems.push(`${where}: not JSON`);
      return;
    }
    records.push(r);
    if (typeof r.filename !== 'string' || r.filename === '') problems.push(`${where}: no filename`);
    else if (seen.has(r.filename)) problems.push(`${where}: ${r.filename} appears twice`);
    else seen.add(r.filename);
    if (!Number.isInteger(r.width) || r.width <= 0 || !Number.isInteger(r.height) || r.height <= 0) problems.push(`${where}: width/height must be positive integers`);
    const inst = r.detection?.instances;
    if (!Array.isArray(inst)) {
      problems.push(`${where}: detection.instances is not a list`);
      return;
    }
    const keys = new Set<string>();
    inst.forEach((x, j) => {
      const b = x.bbox;
      if (!Array.isArray(b) || b.length !== 4 || !b.every((n) => typeof n === 'number' && Number.isFinite(n))) {
        problems.push(`${where} instance ${j}: bbox must be four numbers`);
        return;
      }
      const [x1, y1, x2, y2] = b;
      if (!(x1 >= 0 && y1 >= 0 && x2 <= r.width && y2 <= r.height && x2 > x1 && y2 > y1)) problems.push(`${where} instance ${j}: bbox ${JSON.stringify(b)} is not inside the ${r.width}x${r.height} image with positive area`);
      const name = labelMap[String(x.label)];
      if (!Number.isInteger(x.label) || name === undefined) problems.push(`${where} instance ${j}: label ${JSON.stringify(x.label)} is not in ${LABEL_MAP_FILE}`);
      else if (name !== x.category) problems.push(`${where} instance ${j}: category "${x.category}" differs from the label map's "${name}" for id ${x.label}`);
      if (x.category !== normaliseCategory(String(x.category))) problems.push(`${where} instance ${j}: category "${x.category}" is not normalised`);
      const k = instanceKey(x.category, b);
      if (keys.has(k)) problems.push(`${where} instance ${j}: duplicate of an earlier instance`);
      keys.add(k);
    });
  });
  return { records, labelMap, problems };
}
