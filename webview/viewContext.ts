/**
 * What a panel may ask of the run view's owner (webview/app.ts): the view state, the host, and
 * the few actions that change more than the panel itself (selection, focus, thresholds). Panels
 * never hold the run record or talk to each other; the app routes.
 */
import type { ViewMessage } from '../src/protocol/webview.js';
import type { GroundingFilter } from './model.js';
import type { LayerName, ViewState } from './state.js';

export interface ViewContext {
  /** The live view state; replaced when another run is shown, so read it when an event fires. */
  readonly state: ViewState;
  post(message: ViewMessage): void;
  /** The person chose a call (`reveal`: also show its line in the editor). */
  selectCall(index: number | null, reveal: boolean): void;
  /** The pointer is over a call's row (null: none). */
  hoverCall(index: number | null): void;
  /** A call's threshold in `state.thresholds` changed: redraw and save. */
  thresholdChanged(): void;
  focusBox(grounding: number, box: number): void;
  /** Keep (true) or drop (false) a grounding verifier box. */
  decideBox(grounding: number, box: number, kept: boolean): void;
  setGroundingFilter(filter: GroundingFilter): void;
  toggleLayer(name: LayerName): void;
  /** The decoded run image for crop previews (null until it is ready). */
  cropSource(): { img: HTMLImageElement; width: number; height: number } | null;
}
