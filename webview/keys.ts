/**
 * The run view's keyboard: j/k and the arrows walk the calls, Escape clears the selection, the
 * layer keys toggle layers, + - 0 zoom, arrows on the stage pan; on a grounding box ↑↓ move and
 * a / r keep or drop the focused box. Keys typed into a slider, select or text field are theirs.
 */
import { LAYERS } from './panels/toolbar.js';
import type { LayerName, ViewState } from './state.js';

export interface KeyActions {
  readonly state: ViewState;
  /** The stage's element (arrow keys pan only when it has focus). */
  readonly stageEl: HTMLElement;
  stepCall(delta: 1 | -1): void;
  selectCall(index: number | null, reveal: boolean): void;
  decideBox(grounding: number, box: number, kept: boolean): void;
  moveBoxFocus(from: HTMLElement, delta: 1 | -1): void;
  toggleLayer(name: LayerName): void;
  zoomBy(factor: number): void;
  fit(): void;
  panBy(dx: number, dy: number): void;
}

/** Handles one keydown; returns whether the key was used (the caller then prevents its default). */
export function handleKey(ev: KeyboardEvent, a: KeyActions): boolean {
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return false;
  const t = ev.target;
  if (t instanceof HTMLInputElement || t instanceof HTMLSelectElement || t instanceof HTMLTextAreaElement) return false;
  const key = ev.key;
  if (t instanceof HTMLElement && t.classList.contains('gbox') && (key === 'ArrowDown' || key === 'ArrowUp')) {
    a.moveBoxFocus(t, key === 'ArrowDown' ? 1 : -1);
    return true;
  }
  const f = a.state.focusedBox;
  if ((key === 'a' || key === 'r') && f) {
    a.decideBox(f[0], f[1], key === 'a');
    return true;
  }
  const layer = LAYERS.find((l) => l.key === key);
  if (layer) {
    a.toggleLayer(layer.name);
    return true;
  }
  switch (key) {
    case 'j':
    case 'ArrowDown':
      a.stepCall(1);
      return true;
    case 'k':
    case 'ArrowUp':
      a.stepCall(-1);
      return true;
    case 'Escape':
      a.selectCall(null, false);
      return true;
    case '+':
    case '=':
      a.zoomBy(1.25);
      return true;
    case '-':
      a.zoomBy(1 / 1.25);
      return true;
    case '0':
      a.fit();
      return true;
    default:
      if (t === a.stageEl && key.startsWith('Arrow')) {
        const step = 40;
        a.panBy(key === 'ArrowLeft' ? step : key === 'ArrowRight' ? -step : 0, 0);
        return true;
      }
      return false;
  }
}
