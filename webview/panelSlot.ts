/**
 * The router's per-panel "did its inputs change?" check. Each panel declares the data it shows as
 * one flat inputs object; the app computes every panel's inputs after each message and a slot
 * re-renders its panel only when some input differs from the last render (by identity: the app
 * keeps unchanged parts of a record as the same objects, see `keepUnchanged` in model.ts).
 */

/** One part of the run view: its element, and a render from its inputs. */
export interface Panel<I extends object> {
  readonly el: HTMLElement;
  render(input: I): void;
}

/** Same keys, each value the same (`Object.is`): the panel would draw the same thing. */
export function sameInputs(a: object, b: object): boolean {
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  const rb = b as Record<string, unknown>;
  const ra = a as Record<string, unknown>;
  return ka.every((k) => k in rb && Object.is(ra[k], rb[k]));
}

/** The inputs type of a panel. */
export type InputsOf<P> = P extends Panel<infer I> ? I : never;

export class PanelSlot<P extends Panel<never>, I extends object = InputsOf<P>> {
  private last: I | null = null;
  /** Renders so far (also on the element as `data-renders`, for the browser tests). */
  renders = 0;

  constructor(readonly panel: P) {}

  /** Renders when the inputs changed since the last render; returns whether it rendered. */
  update(input: I): boolean {
    if (this.last !== null && sameInputs(this.last, input)) return false;
    this.render(input);
    return true;
  }

  /** Renders again with the last inputs (state the inputs do not hold changed, e.g. a selection). */
  refresh(): void {
    if (this.last !== null) this.render(this.last);
  }

  private render(input: I): void {
    this.last = input;
    this.renders++;
    this.panel.el.setAttribute('data-renders', String(this.renders));
    (this.panel as Panel<I>).render(input);
  }
}
