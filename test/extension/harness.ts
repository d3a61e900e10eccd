/**
 * Activates the real extension (src/extension/main.ts) against the vscode stub, in a fresh
 * temporary workspace folder, and cleans up afterwards. Also watches for unhandled rejections,
 * which the extension must never produce.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { addWorkspaceFolder, createExtensionContext, resetStub, stub, Uri, window, workspace, type TextDocument } from '../helpers/vscodeStub.js';
import { activate, deactivate, type ValorExtensionApi } from '../../src/extension/main.js';

export const ROOT = join(__dirname, '..', '..');
export const FIXTURE_IMAGE = join(ROOT, 'test', 'fixtures', 'images', 'scene-320x240.png');

export interface Harness {
  api: ValorExtensionApi;
  ctx: ReturnType<typeof createExtensionContext>;
  folder: string;
  /** Writes a file in the workspace folder and returns its path. */
  write(name: string, text: string | Buffer): string;
  /** Opens a workspace file in an editor (the active one). */
  open(name: string): Promise<TextDocument>;
  stop(): Promise<void>;
}

export interface HarnessOptions {
  config?: Record<string, unknown>;
  trusted?: boolean;
  /** A script to install as the extension's dist/server.js (the embedded tool server). */
  serverScript?: string;
  /** Secrets present before activation (`valor.apiKey.<role>`). */
  secrets?: Record<string, string>;
}

export async function startExtension(t: TestContext, opts: HarnessOptions = {}): Promise<Harness> {
  resetStub();
  const folder = mkdtempSync(join(tmpdir(), 'valor-ws-'));
  addWorkspaceFolder(folder);
  let extDir = ROOT;
  if (opts.serverScript) {
    extDir = mkdtempSync(join(tmpdir(), 'valor-ext-'));
    mkdirSync(join(extDir, 'dist'), { recursive: true });
    copyFileSync(opts.serverScript, join(extDir, 'dist', 'server.js'));
  }
  for (const [k, v] of Object.entries(opts.config ?? {})) stub.config.set(k, v);
  stub.trusted = opts.trusted ?? true;
  const ctx = createExtensionContext(extDir);
  for (const [k, v] of Object.entries(opts.secrets ?? {})) ctx.secrets.data.set(k, v);
  const api = await activate(ctx as never);
  let stopped = false;
  const h: Harness = {
    api,
    ctx,
    folder,
    write(name, text) {
      const p = join(folder, name);
      writeFileSync(p, text);
      return p;
    },
    async open(name) {
      const doc = await workspace.openTextDocument(Uri.file(join(folder, name)));
      await window.showTextDocument(doc);
      return doc;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await ctx.disposeAll();
      await deactivate();
      rmSync(folder, { recursive: true, force: true });
      if (extDir !== ROOT) rmSync(extDir, { recursive: true, force: true });
      rmSync(ctx.globalStorageUri.fsPath, { recursive: true, force: true });
    },
  };
  t.after(() => h.stop());
  return h;
}

/** Collects unhandled rejections for the duration of the test. */
export function watchRejections(t: TestContext): unknown[] {
  const seen: unknown[] = [];
  const on = (reason: unknown) => seen.push(reason);
  process.on('unhandledRejection', on);
  t.after(() => {
    process.off('unhandledRejection', on);
  });
  return seen;
}

/** Waits until `cond` holds (polling; generous deadline for a shared machine). */
export async function until(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Lets pending promise callbacks and timers run. */
export function settle(ms = 30): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export { stub };
