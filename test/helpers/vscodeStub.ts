/**
 * A hand-written stand-in for the `vscode` module, covering the API subset src/extension uses,
 * so the extension glue runs under plain `node --test`. Importing this file registers it: from
 * then on `require('vscode')` (what the extension's compiled imports do) returns this module.
 *
 * It records what the extension does, for tests to assert on: registered commands and
 * providers, shown messages (answered by `stub.answers`), quick picks and input boxes (scripted),
 * decorations per editor, diagnostics, the status bar item, output channel text, progress
 * notifications, webview panels and the messages they got. Documents are real text with real
 * line arithmetic (CRLF included); edits through `workspace.applyEdit` change them.
 *
 *     import { stub, resetStub, createExtensionContext } from '../helpers/vscodeStub.js';
 *     import { activate } from '../../src/extension/main.js';
 *     const ctx = createExtensionContext(root);
 *     await activate(ctx as never);
 *     await stub.executeCommand('valor.runProgram');
 *     assert.match(stub.messages.at(-1)!.message, /not trusted/);
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, extname, join, posix, resolve as resolvePath } from 'node:path';
import Module from 'node:module';

// ------------------------------------------------------------------ basics

export class Disposable {
  private fn: (() => unknown) | undefined;
  constructor(fn: () => unknown) {
    this.fn = fn;
  }
  static from(...items: Array<{ dispose(): unknown }>): Disposable {
    return new Disposable(() => items.forEach((i) => i.dispose()));
  }
  dispose(): void {
    const f = this.fn;
    this.fn = undefined;
    f?.();
  }
}

export type Event<T> = (listener: (e: T) => unknown, thisArg?: unknown, disposables?: Disposable[]) => Disposable;

export class EventEmitter<T> {
  private readonly listeners = new Set<(e: T) => unknown>();
  readonly event: Event<T> = (listener, thisArg, disposables) => {
    const bound = thisArg ? listener.bind(thisArg) : listener;
    this.listeners.add(bound);
    const d = new Disposable(() => this.listeners.delete(bound));
    disposables?.push(d);
    return d;
  };
  fire(e: T): void {
    for (const l of [...this.listeners]) l(e);
  }
  get listenerCount(): number {
    return this.listeners.size;
  }
  dispose(): void {
    this.listeners.clear();
  }
}

export class CancellationTokenSource {
  private readonly emitter = new EventEmitter<void>();
  readonly token = {
    isCancellationRequested: false,
    onCancellationRequested: this.emitter.event,
  };
  cancel(): void {
    if (this.token.isCancellationRequested) return;
    this.token.isCancellationRequested = true;
    this.emitter.fire();
  }
  dispose(): void {
    this.emitter.dispose();
  }
}

export class Uri {
  private constructor(
    readonly scheme: string,
    readonly authority: string,
    readonly path: string,
    readonly query: string,
    readonly fragment: string,
  ) {}
  static file(p: string): Uri {
    const abs = resolvePath(p).replace(/\\/g, '/');
    return new Uri('file', '', abs.startsWith('/') ? abs : `/${abs}`, '', '');
  }
  static parse(s: string): Uri {
    const m = /^([a-zA-Z][\w+.-]*):(?:\/\/([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?$/.exec(s);
    if (!m) throw new Error(`stub Uri.parse: cannot parse ${s}`);
    return new Uri(m[1]!, m[2] ?? '', decodeURIComponent(m[3] ?? ''), m[4] ?? '', m[5] ?? '');
  }
  static joinPath(base: Uri, ...parts: string[]): Uri {
    return base.with({ path: posix.join(base.path, ...parts) });
  }
  get fsPath(): string {
    return this.path;
  }
  with(change: { scheme?: string; path?: string; query?: string; fragment?: string }): Uri {
    return new Uri(change.scheme ?? this.scheme, this.authority, change.path ?? this.path, change.query ?? this.query, change.fragment ?? this.fragment);
  }
  toString(): string {
    const auth = this.scheme === 'file' || this.authority ? `//${this.authority}` : '';
    return `${this.scheme}:${auth}${this.path}${this.query ? `?${this.query}` : ''}${this.fragment ? `#${this.fragment}` : ''}`;
  }
  toJSON(): unknown {
    return { scheme: this.scheme, path: this.path };
  }
}

export class Position {
  constructor(
    readonly line: number,
    readonly character: number,
  ) {}
  isEqual(o: Position): boolean {
    return o.line === this.line && o.character === this.character;
  }
  isBefore(o: Position): boolean {
    return this.line < o.line || (this.line === o.line && this.character < o.character);
  }
  translate(dl = 0, dc = 0): Position {
    return new Position(this.line + dl, this.character + dc);
  }
}

export class Range {
  readonly start: Position;
  readonly end: Position;
  constructor(a: Position | number, b: Position | number, c?: number, d?: number) {
    if (typeof a === 'number') {
      this.start = new Position(a, b as number);
      this.end = new Position(c as number, d as number);
    } else {
      this.start = a;
      this.end = b as Position;
    }
  }
  get isEmpty(): boolean {
    return this.start.isEqual(this.end);
  }
  contains(p: Position): boolean {
    return !p.isBefore(this.start) && !this.end.isBefore(p);
  }
}

export class Selection extends Range {
  constructor(anchor: Position, active: Position) {
    super(anchor, active);
  }
}

export class TabInputTextDiff {
  constructor(
    readonly original: Uri,
    readonly modified: Uri,
  ) {}
}

export class ThemeColor {
  constructor(readonly id: string) {}
}

export class ThemeIcon {
  constructor(
    readonly id: string,
    readonly color?: ThemeColor,
  ) {}
}

export class MarkdownString {
  isTrusted: boolean | { enabledCommands: string[] } = false;
  supportHtml = false;
  supportThemeIcons = false;
  constructor(public value = '') {}
  appendMarkdown(s: string): this {
    this.value += s;
    return this;
  }
  appendText(s: string): this {
    this.value += s;
    return this;
  }
}

export class CodeLens {
  constructor(
    readonly range: Range,
    public command?: { title: string; command: string; arguments?: unknown[]; tooltip?: string },
  ) {}
}

export class Hover {
  readonly contents: MarkdownString[];
  constructor(
    contents: MarkdownString | MarkdownString[],
    readonly range?: Range,
  ) {
    this.contents = Array.isArray(contents) ? contents : [contents];
  }
}

export enum DiagnosticSeverity {
  Error = 0,
  Warning = 1,
  Information = 2,
  Hint = 3,
}

export class Diagnostic {
  source?: string;
  code?: string | number;
  constructor(
    readonly range: Range,
    readonly message: string,
    readonly severity: DiagnosticSeverity = DiagnosticSeverity.Error,
  ) {}
}

export enum StatusBarAlignment {
  Left = 1,
  Right = 2,
}
export enum ProgressLocation {
  SourceControl = 1,
  Window = 10,
  Notification = 15,
}
export enum TreeItemCollapsibleState {
  None = 0,
  Collapsed = 1,
  Expanded = 2,
}
export enum ViewColumn {
  Active = -1,
  Beside = -2,
  One = 1,
  Two = 2,
}
export enum TextEditorRevealType {
  Default = 0,
  InCenter = 1,
  InCenterIfOutsideViewport = 2,
  AtTop = 3,
}
export enum DecorationRangeBehavior {
  OpenOpen = 0,
  ClosedClosed = 1,
}
export enum EndOfLine {
  LF = 1,
  CRLF = 2,
}
export enum ConfigurationTarget {
  Global = 1,
  Workspace = 2,
  WorkspaceFolder = 3,
}
export enum ExtensionMode {
  Production = 1,
  Development = 2,
  Test = 3,
}

export class TreeItem {
  id?: string;
  description?: string;
  tooltip?: unknown;
  iconPath?: unknown;
  contextValue?: string;
  command?: unknown;
  resourceUri?: Uri;
  constructor(
    public label: string,
    public collapsibleState: TreeItemCollapsibleState = TreeItemCollapsibleState.None,
  ) {}
}

export class RelativePattern {
  constructor(
    readonly base: unknown,
    readonly pattern: string,
  ) {}
}

// ------------------------------------------------------------------ documents

export class TextLine {
  constructor(
    readonly lineNumber: number,
    readonly text: string,
  ) {}
  get range(): Range {
    return new Range(this.lineNumber, 0, this.lineNumber, this.text.length);
  }
  get isEmptyOrWhitespace(): boolean {
    return this.text.trim() === '';
  }
}

export class TextDocument {
  version = 1;
  isClosed = false;
  isDirty = false;
  constructor(
    readonly uri: Uri,
    public languageId: string,
    private text: string,
  ) {}
  get fileName(): string {
    return this.uri.fsPath;
  }
  get isUntitled(): boolean {
    return this.uri.scheme === 'untitled';
  }
  get eol(): EndOfLine {
    return this.text.includes('\r\n') ? EndOfLine.CRLF : EndOfLine.LF;
  }
  private lineStarts(): number[] {
    const starts = [0];
    for (let i = 0; i < this.text.length; i++) {
      const c = this.text.charCodeAt(i);
      if (c === 13 && this.text.charCodeAt(i + 1) === 10) {
        starts.push(i + 2);
        i++;
      } else if (c === 10 || c === 13) starts.push(i + 1);
    }
    return starts;
  }
  get lineCount(): number {
    return this.lineStarts().length;
  }
  lineAt(line: number | Position): TextLine {
    const n = typeof line === 'number' ? line : line.line;
    const starts = this.lineStarts();
    if (n < 0 || n >= starts.length) throw new Error(`stub lineAt: line ${n} out of range (0..${starts.length - 1})`);
    const start = starts[n]!;
    const next = starts[n + 1] ?? this.text.length;
    return new TextLine(n, this.text.slice(start, next).replace(/\r?\n$|\r$/, ''));
  }
  getText(range?: Range): string {
    if (!range) return this.text;
    return this.text.slice(this.offsetAt(range.start), this.offsetAt(range.end));
  }
  offsetAt(p: Position): number {
    const starts = this.lineStarts();
    const line = Math.min(Math.max(0, p.line), starts.length - 1);
    const len = this.lineAt(line).text.length;
    return starts[line]! + Math.min(Math.max(0, p.character), len);
  }
  positionAt(offset: number): Position {
    const o = Math.min(Math.max(0, offset), this.text.length);
    const starts = this.lineStarts();
    let line = 0;
    while (line + 1 < starts.length && starts[line + 1]! <= o) line++;
    return new Position(line, Math.min(o - starts[line]!, this.lineAt(line).text.length));
  }
  async save(): Promise<boolean> {
    if (this.uri.scheme === 'file') writeFileSync(this.uri.fsPath, this.text);
    this.isDirty = false;
    stub.saved.push(this.uri.toString());
    return true;
  }
  /** Test/edit hook: replace [start, end) offsets. VS Code normalises inserted EOLs to the document's. */
  _edit(start: number, end: number, insert: string): void {
    const eol = this.eol === EndOfLine.CRLF ? '\r\n' : '\n';
    const normalised = insert.replace(/\r\n|\r|\n/g, eol);
    this.text = this.text.slice(0, start) + normalised + this.text.slice(end);
    this.version++;
    this.isDirty = true;
    const change = { document: this, contentChanges: [{ text: normalised }], reason: undefined };
    workspaceEvents.change.fire(change);
  }
}

export class WorkspaceEdit {
  readonly edits: Array<{ uri: Uri; range: Range; text: string }> = [];
  insert(uri: Uri, pos: Position, text: string): void {
    this.edits.push({ uri, range: new Range(pos, pos), text });
  }
  replace(uri: Uri, range: Range, text: string): void {
    this.edits.push({ uri, range, text });
  }
  delete(uri: Uri, range: Range): void {
    this.edits.push({ uri, range, text: '' });
  }
}

// ------------------------------------------------------------------ recordings

export interface ShownMessage {
  severity: 'info' | 'warning' | 'error';
  message: string;
  items: string[];
  modal: boolean;
}

export interface StubEditor {
  document: TextDocument;
  viewColumn: ViewColumn;
  selection: Selection;
  decorations: Map<unknown, Array<{ range: Range; renderOptions?: { after?: { contentText?: string } } }>>;
  revealed: Range[];
  setDecorations(type: unknown, options: Array<Range | { range: Range }>): void;
  revealRange(r: Range): void;
}

export interface StubPanel {
  viewType: string;
  title: string;
  options: unknown;
  iconPath?: unknown;
  disposed: boolean;
  webview: {
    html: string;
    options: unknown;
    cspSource: string;
    posted: unknown[];
    asWebviewUri(u: Uri): Uri;
    postMessage(m: unknown): Promise<boolean>;
    onDidReceiveMessage: Event<unknown>;
    /** Test hook: deliver a message from the view to the host. */
    _receive(m: unknown): void;
  };
  onDidDispose: Event<void>;
  reveal(): void;
  dispose(): void;
}

type Answer = string | undefined | ((message: string, items: string[]) => string | undefined);

const workspaceEvents = {
  change: new EventEmitter<{ document: TextDocument; contentChanges: unknown[]; reason: unknown }>(),
  open: new EventEmitter<TextDocument>(),
  close: new EventEmitter<TextDocument>(),
  config: new EventEmitter<{ affectsConfiguration(section: string): boolean }>(),
  trust: new EventEmitter<void>(),
  folders: new EventEmitter<unknown>(),
};
const windowEvents = {
  active: new EventEmitter<StubEditor | undefined>(),
  visible: new EventEmitter<StubEditor[]>(),
};

function freshState() {
  return {
    commands: new Map<string, (...args: unknown[]) => unknown>(),
    /** Commands executed that are not ours (setContext, workbench.*), with their arguments. */
    executed: [] as Array<{ command: string; args: unknown[] }>,
    /** Editor tabs `vscode.diff` opened (the stub opens no other tabs); `window.tabGroups.close` removes them. */
    tabs: [] as Array<{ label: string; input: unknown }>,
    context: new Map<string, unknown>(),
    messages: [] as ShownMessage[],
    /** What a shown message answers: a fixed item, undefined (dismissed) or a function. */
    answers: undefined as Answer,
    quickPicks: [] as Array<(items: Array<{ label: string }>) => unknown>,
    inputBoxes: [] as Array<string | undefined>,
    openDialog: undefined as Uri[] | undefined,
    shownQuickPicks: [] as Array<{ items: Array<{ label: string }>; title?: string }>,
    shownInputBoxes: [] as Array<{ title?: string; prompt?: string; password?: boolean }>,
    progress: [] as Array<{ title: string; reports: string[]; cancellable: boolean; token: CancellationTokenSource }>,
    /** When set, every progress is cancelled right after it starts reporting this often. */
    cancelProgressAfterReports: undefined as number | undefined,
    output: new Map<string, string[]>(),
    statusItems: [] as Array<{ id: string; text: string; tooltip: unknown; command: unknown; backgroundColor?: ThemeColor; visible: boolean }>,
    decorationTypes: [] as Array<{ options: unknown; disposed: boolean }>,
    diagnostics: new Map<string, Map<string, Diagnostic[]>>(),
    codeLensProviders: [] as Array<{ selector: unknown; provider: { provideCodeLenses(d: TextDocument, t: unknown): unknown; onDidChangeCodeLenses?: Event<void> } }>,
    hoverProviders: [] as Array<{ selector: unknown; provider: { provideHover(d: TextDocument, p: Position, t: unknown): unknown } }>,
    treeProviders: new Map<string, { getChildren(e?: unknown): unknown; getTreeItem(e: unknown): unknown; onDidChangeTreeData?: Event<unknown> }>(),
    serializers: new Map<string, { deserializeWebviewPanel(p: StubPanel, state: unknown): Promise<void> | void }>(),
    panels: [] as StubPanel[],
    documents: [] as TextDocument[],
    editors: [] as StubEditor[],
    activeEditor: undefined as StubEditor | undefined,
    config: new Map<string, unknown>(),
    trusted: true,
    folders: [] as Array<{ uri: Uri; name: string; index: number }>,
    saved: [] as string[],
    watchers: [] as Array<{ pattern: unknown; create: EventEmitter<Uri>; change: EventEmitter<Uri>; del: EventEmitter<Uri> }>,
    /** Text document content providers by scheme (virtual documents). */
    contentProviders: new Map<string, { provideTextDocumentContent(uri: Uri, token: unknown): string | undefined | Promise<string | undefined> }>(),
    untitledCounter: 0,
  };
}

export type StubState = ReturnType<typeof freshState> & {
  executeCommand(id: string, ...args: unknown[]): Promise<unknown>;
  setConfig(key: string, value: unknown): void;
  setTrusted(trusted: boolean): void;
  outputText(name?: string): string;
  diagnosticsFor(uri: Uri | string): Diagnostic[];
};

export const stub = freshState() as StubState;

/** Clears every recording and registration (call between tests that activate the extension). */
export function resetStub(): void {
  const s = freshState();
  for (const k of Object.keys(s) as Array<keyof typeof s>) (stub as unknown as Record<string, unknown>)[k] = s[k];
}

stub.executeCommand = (id: string, ...args: unknown[]) => commands.executeCommand(id, ...args);
stub.setConfig = (key: string, value: unknown) => {
  stub.config.set(key, value);
  workspaceEvents.config.fire({ affectsConfiguration: (section: string) => key === section || key.startsWith(`${section}.`) });
};
stub.setTrusted = (trusted: boolean) => {
  stub.trusted = trusted;
  if (trusted) workspaceEvents.trust.fire();
};
stub.outputText = (name?: string) => [...stub.output.entries()].filter(([n]) => !name || n === name).flatMap(([, lines]) => lines).join('\n');
stub.diagnosticsFor = (uri: Uri | string) => {
  const key = typeof uri === 'string' ? uri : uri.toString();
  return [...stub.diagnostics.values()].flatMap((m) => m.get(key) ?? []);
};

// ------------------------------------------------------------------ namespaces

function answerFor(message: string, items: string[]): string | undefined {
  const a = stub.answers;
  return typeof a === 'function' ? a(message, items) : a !== undefined && items.includes(a) ? a : undefined;
}

function showMessage(severity: ShownMessage['severity']) {
  return async (message: string, ...rest: unknown[]): Promise<string | undefined> => {
    let modal = false;
    if (rest.length > 0 && typeof rest[0] === 'object' && rest[0] !== null && !('title' in (rest[0] as object))) {
      modal = Boolean((rest.shift() as { modal?: boolean }).modal);
    }
    const items = rest.map((r) => (typeof r === 'string' ? r : String((r as { title?: string }).title)));
    stub.messages.push({ severity, message, items, modal });
    return answerFor(message, items);
  };
}

function makeEditor(document: TextDocument, viewColumn: ViewColumn): StubEditor {
  const editor: StubEditor = {
    document,
    viewColumn,
    selection: new Selection(new Position(0, 0), new Position(0, 0)),
    decorations: new Map(),
    revealed: [],
    setDecorations(type, options) {
      editor.decorations.set(
        type,
        options.map((o) => (o instanceof Range ? { range: o } : (o as { range: Range }))),
      );
    },
    revealRange(r) {
      editor.revealed.push(r);
    },
  };
  return editor;
}

function matchesSelector(selector: unknown, doc: TextDocument): boolean {
  if (typeof selector === 'string') return selector === doc.languageId;
  if (Array.isArray(selector)) return selector.some((s) => matchesSelector(s, doc));
  const s = selector as { language?: string };
  return !s.language || s.language === doc.languageId;
}

export const window = {
  get activeTextEditor(): StubEditor | undefined {
    return stub.activeEditor;
  },
  get visibleTextEditors(): StubEditor[] {
    return stub.editors;
  },
  onDidChangeActiveTextEditor: windowEvents.active.event,
  onDidChangeVisibleTextEditors: windowEvents.visible.event,
  tabGroups: {
    get all(): Array<{ tabs: Array<{ label: string; input: unknown }> }> {
      return [{ tabs: [...stub.tabs] }];
    },
    async close(tabs: { label: string; input: unknown } | Array<{ label: string; input: unknown }>): Promise<boolean> {
      for (const t of Array.isArray(tabs) ? tabs : [tabs]) stub.tabs = stub.tabs.filter((x) => x !== t);
      return true;
    },
  },
  showInformationMessage: showMessage('info'),
  showWarningMessage: showMessage('warning'),
  showErrorMessage: showMessage('error'),
  async showQuickPick<T extends { label: string }>(items: T[] | Promise<T[]>, options?: { title?: string }): Promise<T | undefined> {
    const list = await items;
    stub.shownQuickPicks.push({ items: list, title: options?.title });
    const next = stub.quickPicks.shift();
    if (!next) return undefined;
    return next(list) as T | undefined;
  },
  async showInputBox(options?: { title?: string; prompt?: string; password?: boolean; validateInput?(v: string): unknown }): Promise<string | undefined> {
    stub.shownInputBoxes.push({ title: options?.title, prompt: options?.prompt, password: options?.password });
    const v = stub.inputBoxes.shift();
    if (v !== undefined && options?.validateInput) {
      const problem = await options.validateInput(v);
      if (problem) throw new Error(`stub showInputBox: scripted value ${JSON.stringify(v)} fails validation: ${String(problem)}`);
    }
    return v;
  },
  async showOpenDialog(): Promise<Uri[] | undefined> {
    return stub.openDialog;
  },
  async showTextDocument(docOrUri: TextDocument | Uri, opts?: { viewColumn?: ViewColumn; selection?: Range }): Promise<StubEditor> {
    const doc = docOrUri instanceof TextDocument ? docOrUri : await workspace.openTextDocument(docOrUri);
    let editor = stub.editors.find((e) => e.document === doc);
    if (!editor) {
      editor = makeEditor(doc, opts?.viewColumn && opts.viewColumn > 0 ? opts.viewColumn : ViewColumn.One);
      stub.editors.push(editor);
      windowEvents.visible.fire(stub.editors);
    }
    if (opts?.selection) editor.selection = new Selection(opts.selection.start, opts.selection.end);
    stub.activeEditor = editor;
    windowEvents.active.fire(editor);
    return editor;
  },
  createOutputChannel(name: string, _opts?: unknown) {
    const lines: string[] = [];
    stub.output.set(name, lines);
    const add = (level: string) => (text: string) => lines.push(`[${level}] ${text}`);
    return {
      name,
      append: (t: string) => lines.push(t),
      appendLine: (t: string) => lines.push(t),
      trace: add('trace'),
      debug: add('debug'),
      info: add('info'),
      warn: add('warning'),
      error: (t: string | Error) => lines.push(`[error] ${t instanceof Error ? t.message : t}`),
      show: () => stub.executed.push({ command: '<show output>', args: [name] }),
      hide: () => undefined,
      clear: () => lines.splice(0),
      replace: (t: string) => lines.splice(0, lines.length, t),
      dispose: () => undefined,
      logLevel: 2,
      onDidChangeLogLevel: new EventEmitter<number>().event,
    };
  },
  createStatusBarItem(id: string, _alignment?: StatusBarAlignment, _priority?: number) {
    const item = { id, name: '', text: '', tooltip: undefined as unknown, command: undefined as unknown, backgroundColor: undefined as ThemeColor | undefined, visible: false };
    stub.statusItems.push(item);
    return Object.assign(item, {
      show: () => {
        item.visible = true;
      },
      hide: () => {
        item.visible = false;
      },
      dispose: () => {
        item.visible = false;
      },
    });
  },
  createTextEditorDecorationType(options: unknown) {
    const t = { options, disposed: false, key: `decoration-${stub.decorationTypes.length}`, dispose: () => (t.disposed = true) };
    stub.decorationTypes.push(t);
    return t;
  },
  async withProgress<R>(options: { title?: string; cancellable?: boolean }, task: (p: { report(v: { message?: string }): void }, t: unknown) => Promise<R>): Promise<R> {
    const source = new CancellationTokenSource();
    const rec = { title: options.title ?? '', reports: [] as string[], cancellable: Boolean(options.cancellable), token: source };
    stub.progress.push(rec);
    return task(
      {
        report: (v) => {
          if (v.message) rec.reports.push(v.message);
          if (stub.cancelProgressAfterReports !== undefined && rec.reports.length >= stub.cancelProgressAfterReports) source.cancel();
        },
      },
      source.token,
    );
  },
  registerTreeDataProvider(id: string, provider: { getChildren(e?: unknown): unknown; getTreeItem(e: unknown): unknown }) {
    stub.treeProviders.set(id, provider);
    return new Disposable(() => stub.treeProviders.delete(id));
  },
  registerWebviewPanelSerializer(viewType: string, serializer: { deserializeWebviewPanel(p: StubPanel, s: unknown): Promise<void> }) {
    stub.serializers.set(viewType, serializer);
    return new Disposable(() => stub.serializers.delete(viewType));
  },
  createWebviewPanel(viewType: string, title: string, _column: unknown, options: unknown): StubPanel {
    return makePanel(viewType, title, options);
  },
};

/** A panel as VS Code would hand to a serializer after a reload (tests call the serializer with it). */
export function makePanel(viewType: string, title: string, options: unknown): StubPanel {
  const received = new EventEmitter<unknown>();
  const disposed = new EventEmitter<void>();
  const panel: StubPanel = {
    viewType,
    title,
    options,
    disposed: false,
    webview: {
      html: '',
      options,
      cspSource: 'https://stub.vscode-cdn.net',
      posted: [],
      asWebviewUri: (u: Uri) => Uri.parse(`https://file%2B.vscode-resource.vscode-cdn.net${u.path}`),
      postMessage: async (m: unknown) => {
        panel.webview.posted.push(structuredClone(m));
        return true;
      },
      onDidReceiveMessage: received.event,
      _receive: (m: unknown) => received.fire(m),
    },
    onDidDispose: disposed.event,
    reveal: () => undefined,
    dispose: () => {
      if (panel.disposed) return;
      panel.disposed = true;
      disposed.fire();
    },
  };
  stub.panels.push(panel);
  return panel;
}

export const commands = {
  registerCommand(id: string, fn: (...args: unknown[]) => unknown) {
    if (stub.commands.has(id)) throw new Error(`stub: command ${id} already registered`);
    stub.commands.set(id, fn);
    return new Disposable(() => stub.commands.delete(id));
  },
  async executeCommand(id: string, ...args: unknown[]): Promise<unknown> {
    const fn = stub.commands.get(id);
    if (fn) return fn(...args);
    stub.executed.push({ command: id, args });
    if (id === 'setContext') stub.context.set(String(args[0]), args[1]);
    if (id === 'vscode.diff') stub.tabs.push({ label: String(args[2] ?? ''), input: new TabInputTextDiff(args[0] as Uri, args[1] as Uri) });
    return undefined;
  },
  async getCommands(): Promise<string[]> {
    return [...stub.commands.keys()];
  },
};

function languageOf(path: string): string {
  const ext = extname(path).toLowerCase();
  return ext === '.vprog' ? 'vprog' : ext === '.md' ? 'markdown' : ext === '.py' ? 'python' : 'plaintext';
}

export const workspace = {
  get isTrusted(): boolean {
    return stub.trusted;
  },
  get workspaceFolders() {
    return stub.folders.length > 0 ? stub.folders : undefined;
  },
  get textDocuments(): TextDocument[] {
    return stub.documents.filter((d) => !d.isClosed);
  },
  onDidOpenTextDocument: workspaceEvents.open.event,
  onDidCloseTextDocument: workspaceEvents.close.event,
  onDidChangeTextDocument: workspaceEvents.change.event,
  onDidSaveTextDocument: new EventEmitter<TextDocument>().event,
  onDidChangeConfiguration: workspaceEvents.config.event,
  onDidGrantWorkspaceTrust: workspaceEvents.trust.event,
  onDidChangeWorkspaceFolders: workspaceEvents.folders.event,
  getWorkspaceFolder(uri: Uri) {
    return stub.folders.find((f) => uri.scheme === 'file' && (uri.path === f.uri.path || uri.path.startsWith(`${f.uri.path}/`)));
  },
  getConfiguration(section?: string) {
    const prefix = section ? `${section}.` : '';
    return {
      get<T>(key: string, dflt?: T): T | undefined {
        const full = `${prefix}${key}`;
        return stub.config.has(full) ? (stub.config.get(full) as T) : dflt;
      },
      has: (key: string) => stub.config.has(`${prefix}${key}`),
      update: async (key: string, value: unknown) => stub.setConfig(`${prefix}${key}`, value),
      inspect: () => undefined,
    };
  },
  async openTextDocument(arg: Uri | string | { content?: string; language?: string }): Promise<TextDocument> {
    if (arg instanceof Uri || typeof arg === 'string') {
      const uri = typeof arg === 'string' ? Uri.file(arg) : arg;
      const open = stub.documents.find((d) => !d.isClosed && d.uri.toString() === uri.toString());
      if (open) return open;
      const provider = stub.contentProviders.get(uri.scheme);
      const text = provider ? ((await provider.provideTextDocumentContent(uri, new CancellationTokenSource().token)) ?? '') : readFileSync(uri.fsPath, 'utf8');
      const doc = new TextDocument(uri, languageOf(uri.fsPath), text);
      stub.documents.push(doc);
      workspaceEvents.open.fire(doc);
      return doc;
    }
    const doc = new TextDocument(Uri.parse(`untitled:Untitled-${++stub.untitledCounter}`), arg.language ?? 'plaintext', arg.content ?? '');
    stub.documents.push(doc);
    workspaceEvents.open.fire(doc);
    return doc;
  },
  async applyEdit(edit: WorkspaceEdit): Promise<boolean> {
    for (const e of edit.edits) {
      const doc = stub.documents.find((d) => !d.isClosed && d.uri.toString() === e.uri.toString());
      if (!doc) return false;
      doc._edit(doc.offsetAt(e.range.start), doc.offsetAt(e.range.end), e.text);
    }
    return true;
  },
  /** Virtual documents: opened through the provider; its onDidChange makes open documents read it again (not dirty, as in VS Code). */
  registerTextDocumentContentProvider(
    scheme: string,
    provider: { provideTextDocumentContent(uri: Uri, token: unknown): string | undefined | Promise<string | undefined>; onDidChange?: Event<Uri> },
  ) {
    stub.contentProviders.set(scheme, provider);
    const sub = provider.onDidChange?.((uri) => {
      void (async () => {
        const doc = stub.documents.find((d) => !d.isClosed && d.uri.toString() === uri.toString());
        if (!doc) return;
        const text = (await provider.provideTextDocumentContent(uri, new CancellationTokenSource().token)) ?? '';
        doc._edit(0, doc.getText().length, text);
        doc.isDirty = false;
      })();
    });
    return new Disposable(() => {
      sub?.dispose();
      if (stub.contentProviders.get(scheme) === provider) stub.contentProviders.delete(scheme);
    });
  },
  createFileSystemWatcher(pattern: unknown) {
    const w = { pattern, create: new EventEmitter<Uri>(), change: new EventEmitter<Uri>(), del: new EventEmitter<Uri>() };
    stub.watchers.push(w);
    return { onDidCreate: w.create.event, onDidChange: w.change.event, onDidDelete: w.del.event, dispose: () => undefined };
  },
};

/** Test hook: close a document as the editor would. */
export function closeDocument(doc: TextDocument): void {
  doc.isClosed = true;
  stub.editors = stub.editors.filter((e) => e.document !== doc);
  if (stub.activeEditor?.document === doc) stub.activeEditor = undefined;
  workspaceEvents.close.fire(doc);
}

export const languages = {
  registerCodeLensProvider(selector: unknown, provider: StubState['codeLensProviders'][number]['provider']) {
    const entry = { selector, provider };
    stub.codeLensProviders.push(entry);
    return new Disposable(() => stub.codeLensProviders.splice(stub.codeLensProviders.indexOf(entry), 1));
  },
  registerHoverProvider(selector: unknown, provider: StubState['hoverProviders'][number]['provider']) {
    const entry = { selector, provider };
    stub.hoverProviders.push(entry);
    return new Disposable(() => stub.hoverProviders.splice(stub.hoverProviders.indexOf(entry), 1));
  },
  createDiagnosticCollection(name = 'default') {
    const map = new Map<string, Diagnostic[]>();
    stub.diagnostics.set(name, map);
    return {
      name,
      set: (uri: Uri, diags: Diagnostic[] | undefined) => {
        if (diags) map.set(uri.toString(), diags);
        else map.delete(uri.toString());
      },
      delete: (uri: Uri) => map.delete(uri.toString()),
      clear: () => map.clear(),
      get: (uri: Uri) => map.get(uri.toString()),
      dispose: () => map.clear(),
    };
  },
};

/** The CodeLenses every registered provider gives for a document. */
export async function codeLensesOf(doc: TextDocument): Promise<CodeLens[]> {
  const out: CodeLens[] = [];
  for (const { selector, provider } of stub.codeLensProviders) {
    if (matchesSelector(selector, doc)) out.push(...(((await provider.provideCodeLenses(doc, new CancellationTokenSource().token)) as CodeLens[]) ?? []));
  }
  return out;
}

/** The hovers every registered provider gives at a position. */
export async function hoversAt(doc: TextDocument, pos: Position): Promise<Hover[]> {
  const out: Hover[] = [];
  for (const { selector, provider } of stub.hoverProviders) {
    if (!matchesSelector(selector, doc)) continue;
    const h = (await provider.provideHover(doc, pos, new CancellationTokenSource().token)) as Hover | undefined;
    if (h) out.push(h);
  }
  return out;
}

export const env = { appName: 'Visual Studio Code (stub)', language: 'en', machineId: 'stub', uiKind: 1 };
export const extensions = { getExtension: () => undefined, all: [] };
export const l10n = { t: (s: string) => s };

// ------------------------------------------------------------------ extension context

class Memento {
  private readonly data = new Map<string, unknown>();
  get<T>(key: string, dflt?: T): T | undefined {
    return this.data.has(key) ? (this.data.get(key) as T) : dflt;
  }
  async update(key: string, value: unknown): Promise<void> {
    this.data.set(key, value);
  }
  keys(): string[] {
    return [...this.data.keys()];
  }
}

/** An ExtensionContext for `activate`, rooted at the repository (for dist/ and media/). */
export function createExtensionContext(extensionPath: string) {
  const storage = mkdtempSync(join(tmpdir(), 'valor-ext-storage-'));
  const secretData = new Map<string, string>();
  const secretChange = new EventEmitter<{ key: string }>();
  return {
    subscriptions: [] as Array<{ dispose(): unknown }>,
    extensionPath,
    extensionUri: Uri.file(extensionPath),
    globalStorageUri: Uri.file(storage),
    storageUri: Uri.file(join(storage, 'workspace')),
    logUri: Uri.file(join(storage, 'logs')),
    extensionMode: ExtensionMode.Test,
    workspaceState: new Memento(),
    globalState: Object.assign(new Memento(), { setKeysForSync: () => undefined }),
    asAbsolutePath: (p: string) => join(extensionPath, p),
    secrets: {
      data: secretData,
      get: async (k: string) => secretData.get(k),
      store: async (k: string, v: string) => {
        secretData.set(k, v);
        secretChange.fire({ key: k });
      },
      delete: async (k: string) => {
        secretData.delete(k);
        secretChange.fire({ key: k });
      },
      onDidChange: secretChange.event,
    },
    /** Test hook: dispose everything the extension registered. */
    async disposeAll(): Promise<void> {
      for (const s of this.subscriptions.splice(0).reverse()) await s.dispose();
    },
  };
}

export function addWorkspaceFolder(path: string): void {
  stub.folders.push({ uri: Uri.file(path), name: basename(path), index: stub.folders.length });
  workspaceEvents.folders.fire({ added: [], removed: [] });
}

// ------------------------------------------------------------------ registration as `vscode`

const STUB_FILE = __filename;
type ResolveFn = (request: string, ...rest: unknown[]) => string;
const M = Module as unknown as { _resolveFilename: ResolveFn & { __valorVscodeStub?: boolean } };
if (!M._resolveFilename.__valorVscodeStub) {
  const original = M._resolveFilename;
  const patched = function (this: unknown, request: string, ...rest: unknown[]): string {
    if (request === 'vscode') return STUB_FILE;
    return original.call(this, request, ...rest);
  } as ResolveFn & { __valorVscodeStub?: boolean };
  patched.__valorVscodeStub = true;
  M._resolveFilename = patched;
}
