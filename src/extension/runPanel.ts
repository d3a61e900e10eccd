/**
 * The host side of the run view (src/protocol/webview.ts): one WebviewPanel per run, strict CSP
 * page from host/webviewHtml.ts, resources only from dist/ and media/ (plus the run image's
 * folder, so the image itself can be shown), every incoming message validated, data sent only
 * after the view said `ready`, and a serializer so panels come back after a reload.
 */
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import * as vscode from 'vscode';
import type { GroundingResult, RewardSet } from '../protocol/run.js';
import {
  parseViewMessage,
  type DepthMapData,
  type FlipBoxMessage,
  type HostMessage,
  type OverrideMessage,
  type UpdateMessage,
} from '../protocol/webview.js';
import { webviewHtml } from '../host/webviewHtml.js';
import { RUN_VIEW_TYPE } from './commandIds.js';
import type { StoredRun } from './resultsStore.js';
import type { ExtensionLog } from './extensionLog.js';

/** What the panel asks the rest of the extension to do for it. */
export interface PanelActions {
  revealLine(run: StoredRun, programLine: number): Promise<void>;
  override(run: StoredRun, msg: OverrideMessage): Promise<RewardSet | undefined>;
  flipBox(run: StoredRun, msg: FlipBoxMessage): Promise<GroundingResult[] | undefined>;
  depthMap(run: StoredRun, signal: AbortSignal): Promise<DepthMapData>;
  /** Runs "Fix with the Model" on the run's document. */
  fixWithModel(run: StoredRun): Promise<void>;
  /** Finds a run by id (restoring a panel after a reload). */
  findRun(runId: string): Promise<StoredRun | undefined>;
}

interface Entry {
  panel: vscode.WebviewPanel;
  run: StoredRun;
  ready: boolean;
  disposables: vscode.Disposable[];
}

export class RunPanels implements vscode.Disposable {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly log: ExtensionLog,
    private readonly actions: PanelActions,
  ) {}

  /** Opens (or reveals) the panel of a run beside the editor. */
  show(run: StoredRun, column: vscode.ViewColumn = vscode.ViewColumn.Beside): vscode.WebviewPanel {
    const existing = this.entries.get(run.record.id);
    if (existing) {
      existing.run = run;
      existing.panel.reveal(column, true);
      this.post(existing, this.initMessage(existing));
      return existing.panel;
    }
    const panel = vscode.window.createWebviewPanel(RUN_VIEW_TYPE, panelTitle(run), { viewColumn: column, preserveFocus: true }, this.options(run));
    this.attach(panel, run);
    return panel;
  }

  /** Sends new results to the run's panel, if it is open and ready. */
  update(runId: string, msg: Omit<UpdateMessage, 'type'>, run?: StoredRun): void {
    const e = this.entries.get(runId);
    if (!e) return;
    if (run) e.run = run;
    this.post(e, { type: 'update', ...msg });
  }

  isOpen(runId: string): boolean {
    return this.entries.has(runId);
  }

  serializer(): vscode.WebviewPanelSerializer {
    return {
      deserializeWebviewPanel: async (panel: vscode.WebviewPanel, state: unknown) => {
        const runId = typeof state === 'object' && state !== null && typeof (state as { runId?: unknown }).runId === 'string' ? (state as { runId: string }).runId : null;
        const run = runId ? await this.actions.findRun(runId).catch(() => undefined) : undefined;
        if (!run) {
          panel.webview.options = { enableScripts: false, localResourceRoots: [] };
          panel.webview.html = goneHtml(runId);
          return;
        }
        panel.webview.options = this.options(run);
        panel.title = panelTitle(run);
        this.attach(panel, run);
      },
    };
  }

  private options(run: StoredRun): vscode.WebviewPanelOptions & vscode.WebviewOptions {
    const roots = [vscode.Uri.joinPath(this.extensionUri, 'dist'), vscode.Uri.joinPath(this.extensionUri, 'media')];
    // The run's image lives in the workspace: allow its folder only, nothing wider.
    if (run.record.image.path && existsSync(run.record.image.path)) roots.push(vscode.Uri.file(dirname(run.record.image.path)));
    return { enableScripts: true, localResourceRoots: roots, retainContextWhenHidden: false, enableFindWidget: false };
  }

  private attach(panel: vscode.WebviewPanel, run: StoredRun): void {
    const entry: Entry = { panel, run, ready: false, disposables: [] };
    this.entries.set(run.record.id, entry);
    panel.iconPath = vscode.Uri.joinPath(this.extensionUri, 'media', 'vprog-file.svg');
    const w = panel.webview;
    w.html = webviewHtml({
      cspSource: w.cspSource,
      scriptUri: w.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, 'dist', 'webview', 'main.js')).toString(),
      styleUri: w.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, 'media', 'webview.css')).toString(),
      title: panelTitle(run),
    });
    entry.disposables.push(
      w.onDidReceiveMessage((data: unknown) => void this.receive(entry, data)),
      panel.onDidDispose(() => {
        for (const d of entry.disposables) d.dispose();
        if (this.entries.get(entry.run.record.id) === entry) this.entries.delete(entry.run.record.id);
      }),
    );
  }

  private initMessage(e: Entry): HostMessage {
    const img = e.run.record.image.path;
    const imageUri = img && existsSync(img) ? e.panel.webview.asWebviewUri(vscode.Uri.file(img)).toString() : null;
    return { type: 'init', run: e.run.record, imageUri, pending: [] };
  }

  private post(e: Entry, msg: HostMessage): void {
    // Before `ready` the view cannot take data; its `ready` gets an init with everything current.
    if (!e.ready) return;
    void Promise.resolve(e.panel.webview.postMessage(msg)).then(undefined, (err: unknown) => this.log.warn(`run view: could not post ${msg.type}: ${String(err)}`));
  }

  /** Handles one message from the view. Never throws: a bad message is logged and ignored. */
  async receive(e: Entry, data: unknown): Promise<void> {
    const parsed = parseViewMessage(data);
    if (!parsed.ok) {
      this.log.warn(`run view sent a message that is not valid, ignored: ${parsed.error}`);
      return;
    }
    const msg = parsed.message;
    if (msg.type !== 'ready' && msg.type !== 'error' && msg.runId !== e.run.record.id) {
      this.log.warn(`run view sent ${msg.type} for run ${msg.runId}, but shows ${e.run.record.id}: ignored`);
      return;
    }
    try {
      switch (msg.type) {
        case 'ready':
          e.ready = true;
          this.post(e, this.initMessage(e));
          return;
        case 'error':
          this.log.warn(`run view: ${msg.message}${msg.detail ? ` (${msg.detail})` : ''}`);
          return;
        case 'revealLine':
          await this.actions.revealLine(e.run, msg.line);
          return;
        case 'override': {
          const rewards = await this.actions.override(e.run, msg);
          if (rewards) this.post(e, { type: 'update', rewards });
          return;
        }
        case 'flipBox': {
          const grounding = await this.actions.flipBox(e.run, msg);
          if (grounding) this.post(e, { type: 'update', grounding });
          return;
        }
        case 'fixWithModel':
          await this.actions.fixWithModel(e.run);
          return;
        case 'requestDepthMap': {
          const ac = new AbortController();
          const sub = e.panel.onDidDispose(() => ac.abort());
          try {
            const map = await this.actions.depthMap(e.run, ac.signal);
            this.post(e, { type: 'depthMap', runId: e.run.record.id, map });
          } finally {
            sub.dispose();
          }
          return;
        }
      }
    } catch (err) {
      const text = err instanceof Error ? err.message : String(err);
      this.log.warn(`run view: ${msg.type} failed: ${text}`);
      this.post(e, { type: 'error', message: text, request: msg.type });
    }
  }

  dispose(): void {
    for (const e of [...this.entries.values()]) e.panel.dispose();
    this.entries.clear();
  }
}

export function panelTitle(run: StoredRun): string {
  const q = run.record.query.replace(/\s+/g, ' ').trim();
  return `VALOR: ${q.length > 40 ? `${q.slice(0, 40)}…` : q || run.record.id}`;
}

function goneHtml(runId: string | null): string {
  const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c);
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="default-src 'none'"></head><body><p>The run ${esc(
    runId ?? '',
  )} is no longer in the workspace's .valor/runs folder, so this view cannot be restored. Close it and open another run from the VALOR Runs view.</p></body></html>`;
}
