/**
 * The webview host's API (`acquireVsCodeApi`, injected by VS Code before our script runs; the
 * browser tests inject an equivalent). It may be acquired once per page.
 */
export interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare global {
  // Provided by the host page, not by us.
  function acquireVsCodeApi(): VsCodeApi;
}

/** The host API, or a stand-in that keeps the view usable (and says so) outside a webview. */
export function hostApi(): { api: VsCodeApi; real: boolean } {
  if (typeof acquireVsCodeApi === 'function') return { api: acquireVsCodeApi(), real: true };
  let state: unknown;
  return {
    api: {
      postMessage: () => undefined,
      getState: () => state,
      setState: (s: unknown) => {
        state = s;
      },
    },
    real: false,
  };
}
