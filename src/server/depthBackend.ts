/**
 * Which depth model a folder holds, and loading it: MoGe-2 (VALOR's model; the authors' ONNX
 * export, post-processed in mogePost.ts) or a transformers-layout model (Depth Anything V2
 * metric, Depth Pro; depth.ts).
 */
import { DEPTH_FILES, DepthModel } from './depth.js';
import { isMoGeFolder, mogeGraphFile, MoGeDepthModel } from './mogeDepth.js';
import type { Device, SessionThreads } from './onnx.js';

export type DepthBackend = DepthModel | MoGeDepthModel;

/** The files the folder must hold (MoGe-2: its graph; others: config, processor, graph). */
export function depthFilesFor(dir: string | undefined): readonly string[] {
  if (dir && isMoGeFolder(dir)) return [mogeGraphFile(dir) ?? 'model.onnx'];
  return DEPTH_FILES;
}

export async function loadDepthModel(dir: string, device: Device, warn: (line: string) => void, threads?: SessionThreads): Promise<DepthBackend> {
  return isMoGeFolder(dir) ? MoGeDepthModel.load(dir, device, warn, threads) : DepthModel.load(dir, device, warn, threads);
}
