/**
 * The "VALOR Runs" view: the run records under `.valor/runs/` of every workspace folder, newest
 * first, with their answer and total. Selecting one opens it in the run view.
 */
import { basename, join } from 'node:path';
import * as vscode from 'vscode';
import type { RunRecord } from '../protocol/run.js';
import { WORKSPACE_RUNS_DIR, listRunRecords, type RunListing } from '../core/runStore.js';
import { COMMANDS } from './commandIds.js';


export class RunTreeItem extends vscode.TreeItem {
  constructor(
    readonly listing: RunListing,
    readonly folder: string,
  ) {
    super(runLabel(listing), vscode.TreeItemCollapsibleState.None);
    const r = listing.record;
    this.id = listing.path;
    this.resourceUri = vscode.Uri.file(listing.path);
    if (r) {
      this.description = runDescription(r);
      this.tooltip = new vscode.MarkdownString(runTooltip(r));
      this.iconPath = new vscode.ThemeIcon(r.error ? 'error' : 'pass', new vscode.ThemeColor(r.error ? 'testing.iconFailed' : 'testing.iconPassed'));
      this.contextValue = 'valor.run';
      this.command = { command: COMMANDS.openRun, title: 'Open Run', arguments: [listing.path] };
    } else {
      this.description = 'unreadable';
      this.tooltip = listing.problem ?? 'this run record cannot be read';
      this.iconPath = new vscode.ThemeIcon('warning');
      this.contextValue = 'valor.badRun';
      this.command = { command: 'vscode.open', title: 'Open File', arguments: [vscode.Uri.file(listing.path)] };
    }
  }
}

function clip(s: string, n: number): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > n ? `${one.slice(0, n)}…` : one;
}

export function answerText(r: Pick<RunRecord, 'final_answer' | 'error'>): string {
  if (r.error) return `${r.error.type}${r.error.line !== null ? ` (line ${r.error.line})` : ''}`;
  const a = r.final_answer;
  return typeof a === 'string' ? a : JSON.stringify(a) ?? 'None';
}

export function runLabel(l: RunListing): string {
  return l.record ? clip(l.record.query, 60) || l.record.id : basename(l.path);
}

export function runDescription(r: RunRecord): string {
  const total = r.rewards ? (r.rewards.total === null ? ' · total incomplete' : ` · total ${r.rewards.total.toFixed(2)}`) : '';
  return `→ ${clip(answerText(r), 40)}${total}`;
}

function runTooltip(r: RunRecord): string {
  const esc = (s: string) => s.replace(/[\\`*_[\]<>]/g, (c) => `\\${c}`);
  const lines = [
    `**${esc(clip(r.query, 200))}**`,
    `Answer: ${esc(clip(answerText(r), 200))}`,
    r.rewards ? `Total: ${r.rewards.total === null ? 'incomplete' : r.rewards.total.toFixed(2)}` : 'Not scored',
    `Image: ${esc(r.image.path)}`,
    r.document ? `Document: ${esc(r.document)}` : '',
    `${r.trace.length} tool call${r.trace.length === 1 ? '' : 's'} · ${new Date(r.created).toLocaleString()}`,
  ];
  return lines.filter(Boolean).join('\n\n');
}

export class RunsTreeProvider implements vscode.TreeDataProvider<RunTreeItem>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly subs: vscode.Disposable[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly roots: () => string[]) {
    const watcher = vscode.workspace.createFileSystemWatcher('**/.valor/runs/*.json');
    this.subs.push(
      watcher,
      watcher.onDidCreate(() => this.refreshSoon()),
      watcher.onDidChange(() => this.refreshSoon()),
      watcher.onDidDelete(() => this.refreshSoon()),
      vscode.workspace.onDidChangeWorkspaceFolders(() => this.refresh()),
    );
  }

  refresh(): void {
    this.changed.fire();
  }

  private refreshSoon(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refresh(), 300);
  }

  getTreeItem(item: RunTreeItem): vscode.TreeItem {
    return item;
  }

  async getChildren(parent?: RunTreeItem): Promise<RunTreeItem[]> {
    if (parent) return [];
    const items: RunTreeItem[] = [];
    for (const root of this.roots()) {
      try {
        for (const l of await listRunRecords(join(root, WORKSPACE_RUNS_DIR))) items.push(new RunTreeItem(l, root));
      } catch {
        // A folder we cannot read has no runs to show.
      }
    }
    // Newest first across folders (ids start with a UTC timestamp).
    return items.sort((a, b) => basename(b.listing.path).localeCompare(basename(a.listing.path)));
  }

  dispose(): void {
    clearTimeout(this.timer);
    for (const s of this.subs) s.dispose();
    this.changed.dispose();
  }
}
