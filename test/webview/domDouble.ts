/**
 * A tiny hand-written stand-in for the few DOM and canvas features the stage's modules touch, so
 * their logic (what is listed, where a tooltip goes, which pointer gesture does what, what is
 * drawn where) runs in-process under node, where the mutation run can see it. It is a stub on
 * purpose and only for that: the real look and feel is tested in a real browser
 * (render.test.ts, interaction.test.ts, screenshots.test.ts), which this does not replace.
 *
 * Only what the modules use is here: elements with attributes, children, text, `hidden`,
 * `style`, `dataset`, `classList`, listeners, a settable size and client rectangle; `<img>` with a
 * `decode()` the test settles; `<canvas>` whose 2-D context records every call with the drawing
 * state at that moment; `document.createElement`, `window` (devicePixelRatio, matchMedia, events),
 * `ResizeObserver`, `requestAnimationFrame` (frames run when the test says) and `getComputedStyle`.
 */
import { afterEach, beforeEach, mock } from 'node:test';

type Listener = { fn: (ev: unknown) => void; options: unknown };

export class FakeElement {
  readonly tagName: string;
  className = '';
  title = '';
  children: Array<FakeElement | string> = [];
  readonly attributes = new Map<string, string>();
  readonly style: Record<string, string> = {};
  readonly dataset: Record<string, string> = {};
  readonly listeners = new Map<string, Listener[]>();
  readonly captured: number[] = [];
  offsetWidth = 0;
  offsetHeight = 0;
  clientWidth = 0;
  clientHeight = 0;
  rect = { left: 0, top: 0, width: 0, height: 0 };
  private readonly classes = new Set<string>();

  constructor(tag: string) {
    this.tagName = tag.toUpperCase();
  }

  get hidden(): boolean {
    return this.attributes.has('hidden');
  }
  set hidden(v: boolean) {
    if (v) this.attributes.set('hidden', '');
    else this.attributes.delete('hidden');
  }

  get textContent(): string {
    return this.children.map((c) => (typeof c === 'string' ? c : c.textContent)).join('');
  }
  set textContent(v: string) {
    this.children = v === '' ? [] : [v];
  }

  get classList(): { toggle(name: string, force?: boolean): boolean; contains(name: string): boolean } {
    return {
      toggle: (name, force) => {
        const on = force ?? !this.classes.has(name);
        if (on) this.classes.add(name);
        else this.classes.delete(name);
        return on;
      },
      contains: (name) => this.classes.has(name) || this.className.split(' ').includes(name),
    };
  }

  setAttribute(name: string, value: string): void {
    this.attributes.set(name, value);
  }
  getAttribute(name: string): string | null {
    return this.attributes.get(name) ?? null;
  }
  append(...nodes: Array<FakeElement | string>): void {
    this.children.push(...nodes);
  }
  replaceChildren(...nodes: Array<FakeElement | string>): void {
    this.children = [...nodes];
  }
  addEventListener(type: string, fn: (ev: unknown) => void, options?: unknown): void {
    const list = this.listeners.get(type) ?? [];
    list.push({ fn, options });
    this.listeners.set(type, list);
  }
  /** Calls the listeners of `type` with `ev` (what the browser would do on that event). */
  fire(type: string, ev: Record<string, unknown> = {}): void {
    for (const l of this.listeners.get(type) ?? []) l.fn(ev);
  }
  getBoundingClientRect(): { left: number; top: number; width: number; height: number } {
    return this.rect;
  }
  setPointerCapture(id: number): void {
    this.captured.push(id);
  }
  /** The element children (not text). */
  get elements(): FakeElement[] {
    return this.children.filter((c): c is FakeElement => typeof c !== 'string');
  }
}

export class FakeImage extends FakeElement {
  src = '';
  naturalWidth = 0;
  naturalHeight = 0;
  /** The `decode()` calls not yet settled, oldest first. */
  private readonly pending: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  decodes = 0;
  constructor() {
    super('img');
  }
  decode(): Promise<void> {
    this.decodes++;
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ resolve, reject });
    });
  }
  /** Settles the `which`-th pending `decode()` (default the oldest): loaded with the given natural size, or failed. */
  finishDecode(size: { width: number; height: number } | 'fail', which = 0): void {
    const s = this.pending.splice(which, 1)[0];
    if (!s) throw new Error('no decode in progress');
    if (size === 'fail') s.reject(new Error('EncodingError'));
    else {
      this.naturalWidth = size.width;
      this.naturalHeight = size.height;
      s.resolve();
    }
  }
}

/** One recorded canvas call with the drawing state when it was made. */
export interface CanvasCall {
  op: string;
  args: unknown[];
  strokeStyle: string;
  fillStyle: string;
  lineWidth: number;
  lineDash: number[];
  globalAlpha: number;
  font: string;
  textBaseline: string;
}

/** A 2-D context that records what is drawn; text is 7 device pixels a character wide. */
export class FakeContext {
  strokeStyle = '#000000';
  fillStyle = '#000000';
  lineWidth = 1;
  globalAlpha = 1;
  font = '10px sans-serif';
  textBaseline = 'alphabetic';
  private dash: number[] = [];
  readonly calls: CanvasCall[] = [];
  measured: string[] = [];

  private record(op: string, args: unknown[]): void {
    this.calls.push({
      op,
      args,
      strokeStyle: this.strokeStyle,
      fillStyle: this.fillStyle,
      lineWidth: this.lineWidth,
      lineDash: [...this.dash],
      globalAlpha: this.globalAlpha,
      font: this.font,
      textBaseline: this.textBaseline,
    });
  }
  setLineDash(d: number[]): void {
    this.dash = [...d];
  }
  measureText(text: string): { width: number } {
    this.measured.push(text);
    return { width: text.length * 7 };
  }
  strokeRect(...a: number[]): void {
    this.record('strokeRect', a);
  }
  fillRect(...a: number[]): void {
    this.record('fillRect', a);
  }
  fillText(...a: unknown[]): void {
    this.record('fillText', a);
  }
  rect(...a: number[]): void {
    this.record('rect', a);
  }
  beginPath(): void {
    this.record('beginPath', []);
  }
  stroke(): void {
    this.record('stroke', []);
  }
  setTransform(...a: number[]): void {
    this.record('setTransform', a);
  }
  clearRect(...a: number[]): void {
    this.record('clearRect', a);
  }
  /** The calls named `op`. */
  ops(op: string): CanvasCall[] {
    return this.calls.filter((c) => c.op === op);
  }
}

export class FakeCanvas extends FakeElement {
  width = 300;
  height = 150;
  ctx: FakeContext | null = new FakeContext();
  constructor() {
    super('canvas');
  }
  getContext(kind: string): FakeContext | null {
    return kind === '2d' ? this.ctx : null;
  }
}

export interface FakeWindow {
  devicePixelRatio: number;
  queries: string[];
  mediaListeners: Array<{ type: string; fn: () => void; options: unknown }>;
  events: Array<{ type: string; detail: unknown }>;
  frames: Array<() => void>;
  fontFamily: string;
  resizeObserved: unknown[];
  /** What the stage's ResizeObserver calls when its element changes size. */
  resizeCallbacks: Array<() => void>;
  /** Runs the animation frames requested so far (and only those). */
  runFrames(): number;
}

/** Installs the doubles as globals (document, window, ResizeObserver, ...); returns the window and an undo. */
export function installDom(): { win: FakeWindow; restore: () => void } {
  const g = globalThis as Record<string, unknown>;
  const names = ['document', 'window', 'ResizeObserver', 'requestAnimationFrame', 'getComputedStyle'];
  const saved = new Map(names.map((n) => [n, g[n]]));
  const win: FakeWindow = {
    devicePixelRatio: 1,
    queries: [],
    mediaListeners: [],
    events: [],
    frames: [],
    fontFamily: '',
    resizeObserved: [],
    resizeCallbacks: [],
    runFrames() {
      const now = win.frames;
      win.frames = [];
      for (const f of now) f();
      return now.length;
    },
  };
  g['document'] = {
    createElement: (tag: string) => (tag === 'img' ? new FakeImage() : tag === 'canvas' ? new FakeCanvas() : new FakeElement(tag)),
  };
  g['window'] = {
    get devicePixelRatio() {
      return win.devicePixelRatio;
    },
    matchMedia: (q: string) => {
      win.queries.push(q);
      return { addEventListener: (type: string, fn: () => void, options: unknown) => win.mediaListeners.push({ type, fn, options }) };
    },
    dispatchEvent: (ev: { type: string; detail: unknown }) => {
      win.events.push({ type: ev.type, detail: ev.detail });
      return true;
    },
  };
  g['ResizeObserver'] = class {
    constructor(private readonly cb: () => void) {}
    observe(el: unknown): void {
      win.resizeObserved.push(el);
      win.resizeCallbacks.push(this.cb);
    }
  };
  g['requestAnimationFrame'] = (f: () => void) => {
    win.frames.push(f);
    return win.frames.length;
  };
  g['getComputedStyle'] = () => ({ fontFamily: win.fontFamily });
  return {
    win,
    restore: () => {
      for (const [n, v] of saved) {
        if (v === undefined) delete g[n];
        else g[n] = v;
      }
    },
  };
}

/**
 * For a test file of the stage: a fresh DOM double before each test (given to `onInstall`),
 * removed after it, with `setTimeout` mocked: the box list is rebuilt on a timer, so none fires
 * after its test's DOM is gone (`mock.timers.tick` runs them).
 */
export function useDomDouble(onInstall: (win: FakeWindow) => void): void {
  let restore: () => void = () => {};
  beforeEach(() => {
    const installed = installDom();
    restore = installed.restore;
    onInstall(installed.win);
    mock.timers.enable({ apis: ['setTimeout'] });
  });
  afterEach(() => {
    mock.timers.reset();
    restore();
  });
}
