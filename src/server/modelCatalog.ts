/**
 * What a models folder holds, for `valor models`: each slot's folder, the files its layout needs,
 * which model it is (from what `valor models pull` / `valor models convert` recorded there), and
 * whether the two together are VALOR's configuration (its verifier-trained GroundingDINO and
 * MoGe-2 ViT-L, the tools the paper's numbers come from).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { depthFilesFor } from './depthBackend.js';
import { DETECTOR_FILES } from './grounding.js';
import { DEPTH_CHOICES, DEFAULT_DEPTH, VALOR_DETECTOR_CHECKPOINT } from './hubPull.js';
import { isMoGeFolder } from './mogeDepth.js';
import { MODEL_SUBDIRS } from './options.js';

/** Written by `valor models convert` into the detector folder it makes. */
export const CONVERT_RECORD = 'valor-source.json';

export interface ConvertRecord {
  source: string;
  sha256: string;
  config: string;
  size: number;
  converted_at: string;
}

export interface SlotReport {
  slot: 'detector' | 'depth';
  dir: string;
  missing: string[];
  /** What the folder holds, in words (`MoGe-2 (Ruicheng/moge-2-vitl-normal-onnx)`). */
  model: string;
  /** Whether it is VALOR's model for this slot. */
  valor: boolean;
}

function pulledRepo(dir: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(dir, '.valor-pull.json'), 'utf8')) as { repo?: string }).repo;
  } catch {
    return undefined;
  }
}

export function convertRecord(dir: string): ConvertRecord | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, CONVERT_RECORD), 'utf8')) as ConvertRecord;
  } catch {
    return undefined;
  }
}

export function describeSlots(modelsDir: string): SlotReport[] {
  const det = join(modelsDir, MODEL_SUBDIRS.detector);
  const dep = join(modelsDir, MODEL_SUBDIRS.depth);
  const missing = (dir: string, files: readonly string[]): string[] => files.filter((f) => !existsSync(join(dir, f)));
  const conv = convertRecord(det);
  const detRepo = pulledRepo(det);
  const detector: SlotReport = {
    slot: 'detector',
    dir: det,
    missing: missing(det, DETECTOR_FILES),
    model: conv ? `VALOR-GroundingDINO (converted from ${conv.source}, sha256 ${conv.sha256.slice(0, 12)}…)` : detRepo ? `GroundingDINO (${detRepo})` : existsSync(det) ? 'GroundingDINO (copied by hand)' : 'none',
    valor: Boolean(conv),
  };
  const depRepo = pulledRepo(dep);
  const moge = existsSync(dep) && isMoGeFolder(dep);
  const valorRepo = DEPTH_CHOICES[DEFAULT_DEPTH]?.repo;
  const depth: SlotReport = {
    slot: 'depth',
    dir: dep,
    missing: missing(dep, depthFilesFor(existsSync(dep) ? dep : undefined)),
    model: !existsSync(dep) ? 'none' : `${moge ? 'MoGe-2' : 'transformers-layout depth model'}${depRepo ? ` (${depRepo})` : ' (copied by hand)'}`,
    valor: moge && depRepo === valorRepo,
  };
  return [detector, depth];
}

/** The lines of `valor models`' "VALOR configuration" block. */
export function valorConfigurationLines(slots: SlotReport[]): string[] {
  const [det, dep] = slots as [SlotReport, SlotReport];
  const mark = (s: SlotReport): string => (s.valor && s.missing.length === 0 ? 'installed' : 'not installed');
  return [
    'The VALOR configuration (the tools VALOR\'s results come from):',
    `  detector  VALOR-GroundingDINO, Swin-T (${VALOR_DETECTOR_CHECKPOINT.repo}, original checkpoint converted to ONNX): ${mark(det)}`,
    `  depth     MoGe-2 ViT-L (${DEPTH_CHOICES[DEFAULT_DEPTH]?.repo}, with infer's post-processing): ${mark(dep)}`,
    ...(det.valor && dep.valor && det.missing.length + dep.missing.length === 0 ? [] : ['  get it with: valor models pull --valor && valor models convert']),
  ];
}
