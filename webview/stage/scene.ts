/** What the stage draws and what it tells its owner (the app). */
import type { GroundingResult } from '../../src/protocol/run.js';
import type { CallView, ViewBox } from '../model.js';
import type { Layers } from '../state.js';

export interface StageScene {
  calls: CallView[];
  grounding: GroundingResult[];
  thresholds: Record<string, number>;
  selectedCall: number | null;
  layers: Layers;
  focusedBox: [number, number] | null;
}

export interface StageEvents {
  /** The box under the pointer changed (null: none). */
  hoverBox(box: ViewBox | null): void;
  /** A box was clicked. */
  clickBox(box: ViewBox): void;
  /** Zoom or pan changed (for the saved state). */
  viewChanged(zoom: number, center: [number, number] | null): void;
}

/** Details of one drawn frame, also dispatched as the window event `valor-frame` (used by the benchmark). */
export interface FrameInfo {
  /** Milliseconds spent drawing this frame (all dirty canvases). */
  ms: number;
  /** Detection boxes drawn. */
  boxes: number;
  imageReady: boolean;
  canvases: string[];
}
