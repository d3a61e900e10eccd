/**
 * The run image's whole depth map behind the heat-map layer: asked of the host the first time the
 * layer is shown, painted onto the stage's depth canvas once per map.
 */
import type { DepthMapData } from '../src/protocol/webview.js';
import { decodeDepth, paintDepth } from './depth.js';

export class DepthMapLayer {
  private map: DepthMapData | null = null;
  /** The map on the canvas (null: none yet). */
  painted: DepthMapData | null = null;
  /** Asked of the host and not answered yet. */
  requested = false;

  constructor(private readonly canvas: HTMLCanvasElement) {}

  /** Another run is shown: what was painted or asked no longer applies. */
  reset(): void {
    this.painted = null;
    this.requested = false;
  }

  set(map: DepthMapData | null): void {
    this.map = map;
  }

  requestFailed(): void {
    this.requested = false;
  }

  /**
   * With the layer on: asks for the map (`request`) when there is none, paints a new one. A map
   * that cannot be decoded is dropped and reported through `fail`. Returns whether a map is shown.
   */
  refresh(on: boolean, request: () => void, fail: (message: string) => void): boolean {
    if (on && !this.map && !this.requested) {
      this.requested = true;
      request();
    }
    if (on && this.map && this.painted !== this.map) {
      try {
        paintDepth(this.canvas, this.map, decodeDepth(this.map));
        this.painted = this.map;
      } catch (err) {
        this.map = null;
        fail(`The depth map could not be shown: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    return on && this.painted !== null;
  }
}
