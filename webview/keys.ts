/**
 * The run view's keyboard: j/k and the arrows walk the calls, Escape clears the selection, the
 * layer keys toggle layers, + - 0 zoom, arrows on the stage pan; on a grounding box ↑↓ move and
 * a / r keep or drop the focused box. Keys typed into a slider, select or text field are theirs.
 */
import type { CallView } from './model.js';
import { LAYERS } from './panels/toolbar.js';
import type { LayerName, ViewState } from './state.js';

export interface KeyActions {
  readonly state: ViewState;
  /** The stage (arrow keys pan only while its element has focus). */
  readonly stage: { readonly root: HTMLElement; zoomBy(factor: number): void; fit(): void; panBy(dx: number, dy: number): void };
  calls(): readonly CallView[];
  selectCall(index: number | null, reveal: boolean): void;
  decideBox(grounding: number, box: number, kept: boolean): void;
  moveBoxFocus(from: HTMLElement, delta: 1 | -1): void;
  toggleLayer(name: LayerName): void;
}

/** The call after (+1) or before (-1) the selected one, staying at the ends; the first or last when none is selected. */
export function steppedCall(calls: readonly CallView[], selected: number | null, delta: 1 | -1): CallView | undefined {
  if (calls.length === 0) return undefined;
  const pos = calls.findIndex((c) => c.index === selected);
  return calls[pos < 0 ? (delta > 0 ? 0 : calls.length - 1) : Math.min(calls.length - 1, Math.max(0, pos + delta))];
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
    case 'k':
    case 'ArrowUp': {
      const call = steppedCall(a.calls(), a.state.selectedCall, key === 'j' || key === 'ArrowDown' ? 1 : -1);
      if (call) a.selectCall(call.index, true);
      return true;
    }
    case 'Escape':
      a.selectCall(null, false);
      return true;
    case '+':
    case '=':
      a.stage.zoomBy(1.25);
      return true;
    case '-':
      a.stage.zoomBy(1 / 1.25);
      return true;
    case '0':
      a.stage.fit();
      return true;
    default:
      if (t === a.stage.root && key.startsWith('Arrow')) {
        const step = 40;
        a.stage.panBy(key === 'ArrowLeft' ? step : key === 'ArrowRight' ? -step : 0, 0);
        return true;
      }
      return false;
  }
}
