/**
 * The stage's pointer: hover (which box is under it), click (a box), drag to pan, wheel to zoom
 * about the pointer, double-click to fit. A press that moves less than 3 pixels is a click.
 */
import type { ViewBox } from '../model.js';

export interface PointerHost {
  boxAt(x: number, y: number): ViewBox | null;
  /** The box under the pointer (null: none, or the pointer left), on every move. */
  hover(box: ViewBox | null, x: number, y: number): void;
  click(box: ViewBox): void;
  /** The image centre when a drag starts. */
  center(): [number, number];
  /** Drag in progress: the image moved by (dx, dy) CSS pixels from where the drag started at `from`. */
  dragTo(from: [number, number], dx: number, dy: number): void;
  dragEnded(): void;
  zoomAt(factor: number, at: { x: number; y: number }): void;
  fit(): void;
}

export function bindPointer(r: HTMLElement, host: PointerHost): void {
  let drag: { id: number; x: number; y: number; from: [number, number]; moved: boolean } | null = null;
  const local = (ev: { clientX: number; clientY: number }) => {
    const rect = r.getBoundingClientRect();
    return { x: ev.clientX - rect.left, y: ev.clientY - rect.top };
  };
  r.addEventListener('pointermove', (ev) => {
    if (drag && drag.id === ev.pointerId) {
      const dx = ev.clientX - drag.x;
      const dy = ev.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
      if (drag.moved) host.dragTo(drag.from, dx, dy);
      return;
    }
    const p = local(ev);
    host.hover(host.boxAt(p.x, p.y), p.x, p.y);
  });
  r.addEventListener('pointerleave', () => host.hover(null, 0, 0));
  r.addEventListener('pointerdown', (ev) => {
    if (ev.button !== 0) return;
    drag = { id: ev.pointerId, x: ev.clientX, y: ev.clientY, from: host.center(), moved: false };
    r.setPointerCapture(ev.pointerId);
  });
  const end = (ev: PointerEvent): void => {
    if (!drag || drag.id !== ev.pointerId) return;
    const moved = drag.moved;
    drag = null;
    if (moved) host.dragEnded();
    else {
      const p = local(ev);
      const box = host.boxAt(p.x, p.y);
      if (box) host.click(box);
    }
  };
  r.addEventListener('pointerup', end);
  r.addEventListener('pointercancel', end);
  r.addEventListener(
    'wheel',
    (ev) => {
      ev.preventDefault();
      host.zoomAt(Math.exp(-ev.deltaY * 0.0015), local(ev));
    },
    { passive: false },
  );
  r.addEventListener('dblclick', () => host.fit());
}
