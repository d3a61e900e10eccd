/**
 * Every command of the extension (ids in commandIds.ts), and the run view's actions. Handlers
 * are thin: they find the document, check trust and inputs, convert the cancellation token to
 * an AbortSignal, and call core functions (pipeline, rewards, grounding, audit, run store).
 * Each is wrapped by `guarded`, so a failure becomes a message with an action and never an
 * unhandled rejection.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, sep } from 'node:path';
import * as vscode from 'vscode';
import { shownLine, type GroundingResult, type Override, type RewardName, type RewardSet, type RunRecord, type Verdict } from '../protocol/run.js';
import type { DepthMapData, FlipBoxMessage, OverrideMessage } from '../protocol/webview.js';
import { DEFAULT_AUDIT_PATH, applyBoxOverrides, applyRewardOverrides, boxSubject, readAuditLog, rewardSubject } from '../core/audit.js';
import { programLineToDocumentLine, replaceVprogReply, type VprogDocument } from '../core/vprog.js';
import { COMMANDS, LANGUAGE_ID, type CommandKey } from './commandIds.js';
import type { ValorConfig } from './config.js';
import type { LayoutCache } from './documentLayout.js';
import { isVprog, workspaceRoots } from './editorFeatures.js';
import { ActionableError } from './errors.js';
import { headerImageRef, isImagePath, newDocumentPath, newDocumentText, resolveDocumentImage, IMAGE_EXTENSIONS } from './imagePaths.js';
import type { ResultsStore, StoredRun, StoredScores } from './resultsStore.js';
import type { PanelActions, RunPanels } from './runPanel.js';
import { RUNS_SUBDIR, answerText, type RunsTreeProvider } from './runsTree.js';
import { KEY_ROLES, KEY_ROLE_LABELS, type ApiKeys, type KeyRole } from './secrets.js';
import type { Services } from './services.js';
import type { ToolServerSupervisor } from './toolServerSupervisor.js';
import { guarded, withCancellableProgress, withRole, type ExtensionLog, type Report } from './ui.js';

export interface CommandDeps {
  context: vscode.ExtensionContext;
  log: ExtensionLog;
  config: () => ValorConfig;
  keys: ApiKeys;
  supervisor: ToolServerSupervisor;
  services: Services;
  store: ResultsStore;
  layouts: LayoutCache;
  panels: RunPanels;
  runsTree: RunsTreeProvider;
  /** Re-reads which server the status bar should show (embedded or remote). */
  refreshServerStatus: () => void;
}

// ------------------------------------------------------------------ places

function folderOf(uri: vscode.Uri | undefined): string | undefined {
  const f = uri ? vscode.workspace.getWorkspaceFolder(uri) : undefined;
  if (f && f.uri.scheme === 'file') return f.uri.fsPath;
  return workspaceRoots()[0];
}

/** The generation prompt and judge set the settings name (relative paths from the workspace folder). */
async function promptSettings(d: CommandDeps, uri: vscode.Uri) {
  const cfg = d.config();
  const base = folderOf(uri) ?? dirname(uri.fsPath);
  const { resolveGenerationPrompt } = await import('../core/promptSource.js');
  const { loadReferenceJudgeSet } = await import('../core/rewards/judgeSet.js');
  const named = async <T>(key: string, load: () => Promise<T>): Promise<T> => {
    try {
      return await load();
    } catch (err) {
      throw new ActionableError(`setting valor.${key}: ${(err as Error).message}`);
    }
  };
  return {
    prompt: () => named('generator.systemPromptFile', () => resolveGenerationPrompt(cfg.generator.systemPromptFile, base)),
    judgeSet: () => (cfg.judge.promptsDir ? named('judge.promptsDir', () => loadReferenceJudgeSet(cfg.judge.promptsDir, base)) : Promise.resolve(undefined)),
  };
}

function storageDir(d: CommandDeps): string {
  return d.context.globalStorageUri.fsPath;
}

export function runsDirFor(d: CommandDeps, uri: vscode.Uri | undefined): string {
  const folder = folderOf(uri);
  return folder ? join(folder, RUNS_SUBDIR) : join(storageDir(d), 'runs');
}

export function auditPathFor(d: CommandDeps, uri: vscode.Uri | undefined): string {
  const folder = folderOf(uri);
  return folder ? join(folder, DEFAULT_AUDIT_PATH) : join(storageDir(d), 'audits.jsonl');
}

/** How a run record names its document: relative to the workspace folder when inside one. */
export function documentRef(doc: vscode.TextDocument): string | null {
  if (doc.uri.scheme !== 'file') return null;
  const folder = vscode.workspace.getWorkspaceFolder(doc.uri);
  if (!folder) return doc.uri.fsPath;
  return relative(folder.uri.fsPath, doc.uri.fsPath).split(sep).join('/');
}

function documentUriOfRecord(d: CommandDeps, record: RunRecord, runPath?: string): vscode.Uri | undefined {
  if (!record.document) return undefined;
  if (isAbsolute(record.document)) return vscode.Uri.file(record.document);
  // Relative to the folder whose .valor/runs holds the record.
  const folder = runPath ? dirname(dirname(dirname(runPath))) : workspaceRoots()[0];
  return folder ? vscode.Uri.file(join(folder, record.document)) : undefined;
}

// ------------------------------------------------------------------ documents and checks

async function targetDocument(arg: unknown): Promise<vscode.TextDocument> {
  let uri: vscode.Uri | undefined;
  if (arg instanceof vscode.Uri) uri = arg;
  else if (typeof arg === 'string' && arg) uri = arg.includes(':') && !/^[A-Za-z]:[\\/]/.test(arg) ? vscode.Uri.parse(arg) : vscode.Uri.file(arg);
  else if (arg && typeof arg === 'object' && 'uri' in arg) {
    const u = (arg as { uri: unknown }).uri;
    if (u instanceof vscode.Uri) uri = u;
    else if (typeof u === 'string') uri = vscode.Uri.parse(u);
  }
  if (uri) {
    const key = uri.toString();
    const doc = vscode.workspace.textDocuments.find((x) => x.uri.toString() === key) ?? (await vscode.workspace.openTextDocument(uri));
    if (doc.languageId !== LANGUAGE_ID) throw new ActionableError(`${basename(doc.uri.fsPath || doc.uri.path)} is not a .vprog document`);
    return doc;
  }
  const active = vscode.window.activeTextEditor?.document;
  if (isVprog(active)) return active;
  throw new ActionableError('no .vprog document is active: open one, or start one from an image', [
    { kind: 'command', command: COMMANDS.newQuery, label: 'New Query from Image…' },
  ]);
}

function requireTrust(what: string): void {
  if (!vscode.workspace.isTrusted) {
    throw new ActionableError(
      `this workspace is not trusted, so VALOR Studio does not ${what}: the program in a .vprog document is Python code that would run on this machine. Trust the workspace to allow it.`,
      [{ kind: 'manageTrust' }],
      'warning',
    );
  }
}

interface Inputs {
  query: string;
  imagePath: string;
  vprog: VprogDocument;
}

function requireInputs(doc: vscode.TextDocument, vprog: VprogDocument): Inputs {
  const name = basename(doc.uri.fsPath || doc.uri.path);
  const problems = { kind: 'command' as const, command: 'workbench.actions.view.problems', label: 'Show Problems' };
  if (!vprog.query || !vprog.image) {
    const missing = [!vprog.image && "'# image: <path>'", !vprog.query && "'# query: <question>'"].filter(Boolean).join(' and ');
    throw new ActionableError(`${name} has no ${missing} line: a .vprog document starts with the image and the question, e.g. "# image: kitchen.jpg" and "# query: Is the mug left of the laptop?"`, [problems]);
  }
  if (!isImagePath(vprog.image)) {
    throw new ActionableError(`the image '${vprog.image}' in ${name} is not an image file (expected ${IMAGE_EXTENSIONS.join(', ')}): fix the '# image:' line`, [problems]);
  }
  const imagePath = resolveDocumentImage(doc.uri.scheme === 'file' ? doc.uri.fsPath : null, vprog.image, workspaceRoots());
  if (!imagePath || !existsSync(imagePath)) {
    throw new ActionableError(
      `the image ${imagePath ?? vprog.image} named in ${name} does not exist: fix the '# image:' line (a path relative to the document's folder, or absolute)`,
      [problems],
    );
  }
  return { query: vprog.query, imagePath, vprog };
}

function requireProgram(doc: vscode.TextDocument, vprog: VprogDocument): void {
  if (vprog.parsed.program === null || vprog.parsed.program.trim() === '') {
    throw new ActionableError('the document holds no program (no <answer> block, or an empty one): generate the plan and program first', [
      { kind: 'command', command: COMMANDS.generate, label: 'Generate', args: [doc.uri] },
    ]);
  }
}

function stripScored(s: RewardSet): RewardSet {
  return { verdicts: s.verdicts, total: s.total, incomplete: s.incomplete, weights: s.weights, ...(s.overridden ? { overridden: s.overridden } : {}) };
}

function toolServerTrouble(record: RunRecord): boolean {
  const texts = [record.error?.message ?? '', ...record.trace.map((t) => t.error?.message ?? '')];
  return texts.some((t) => /tool server/i.test(t));
}

// ------------------------------------------------------------------ streaming into a document

/** Appends streamed text to the end of a document, coalescing deltas into few edits. */
class DocumentStreamer {
  private pending = '';
  private chain: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private failed: Error | undefined;

  constructor(private readonly doc: vscode.TextDocument) {}

  push(delta: string): void {
    if (this.failed) throw this.failed;
    this.pending += delta;
    if (this.pending.length > 4096) this.kick();
    else this.timer ??= setTimeout(() => this.kick(), 60);
  }

  private kick(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const text = this.pending;
    this.pending = '';
    if (!text) return;
    this.chain = this.chain.then(async () => {
      if (this.failed) return;
      if (this.doc.isClosed) {
        this.failed = new ActionableError('the document was closed while the reply was being written into it');
        return;
      }
      const end = this.doc.positionAt(this.doc.getText().length);
      const edit = new vscode.WorkspaceEdit();
      edit.insert(this.doc.uri, end, text);
      if (!(await vscode.workspace.applyEdit(edit))) this.failed = new ActionableError('VS Code refused to edit the document while streaming the reply into it');
    });
  }

  async flush(): Promise<void> {
    this.kick();
    await this.chain;
    if (this.failed) throw this.failed;
  }
}

async function replaceWholeText(doc: vscode.TextDocument, text: string): Promise<void> {
  if (doc.getText() === text) return;
  const edit = new vscode.WorkspaceEdit();
  edit.replace(doc.uri, new vscode.Range(doc.positionAt(0), doc.positionAt(doc.getText().length)), text);
  if (!(await vscode.workspace.applyEdit(edit))) throw new ActionableError('VS Code refused to edit the document');
}

// ------------------------------------------------------------------ the work


/** The weaker isolation is pointed out once per session, on the first run that uses it. */
let warnedWeakIsolation = false;
export class Actions implements PanelActions {
  constructor(private readonly d: CommandDeps) {}

  /** Streams a fresh reply into the document (replacing the old one). */
  async generate(doc: vscode.TextDocument, signal: AbortSignal, report: Report, fresh: boolean): Promise<void> {
    const vprog = this.d.layouts.vprog(doc);
    if (!vprog.query) {
      throw new ActionableError("the document has no '# query: <question>' line, so there is nothing to generate a program for: add it at the top");
    }
    const generator = await this.d.services.chat('generator', { noCache: fresh });
    const prompt = await (await promptSettings(this.d, doc.uri)).prompt();
    await replaceWholeText(doc, replaceVprogReply(doc.getText(), ''));
    const streamer = new DocumentStreamer(doc);
    const { generateReply } = await import('../core/pipeline.js');
    report(`asking ${generator.model}…`);
    let chars = 0;
    const res = await withRole(
      'generator',
      generateReply(generator, vprog.query, {
        sampling: { max_tokens: this.d.config().generator.maxTokens },
        prompt,
        noCache: fresh,
        signal,
        onDelta: (delta) => {
          chars += delta.length;
          streamer.push(delta);
          if (chars % 200 < delta.length) report(`writing… ${chars} characters`);
        },
      }),
    );
    await streamer.flush();
    // The final text is the reply exactly (a cached reply arrives without deltas).
    await replaceWholeText(doc, replaceVprogReply(doc.getText(), res.reply));
    this.d.log.info(`generated a reply with ${res.model} in ${Math.round(res.ms)} ms${res.cached ? ' (cached)' : ''}`);
    if (!doc.isUntitled) await doc.save();
  }

  async run(doc: vscode.TextDocument, signal: AbortSignal, report: Report): Promise<StoredRun | undefined> {
    requireTrust('run programs');
    const vprog = this.d.layouts.vprog(doc);
    const { query, imagePath } = requireInputs(doc, vprog);
    requireProgram(doc, vprog);
    const cfg = this.d.config();
    report(cfg.toolServer.url ? 'connecting to the tool server…' : 'starting the tool server…');
    const t = await this.d.services.tools(signal);
    const runner = await this.d.services.runner();
    report('running the program…');
    const { runQuery } = await import('../core/pipeline.js');
    const record = await runQuery({
      query,
      imagePath,
      reply: vprog.reply,
      tools: t.tools,
      toolsUrl: t.url,
      runner,
      timeoutMs: cfg.run.timeoutMs,
      memoryMB: cfg.run.memoryMB,
      document: documentRef(doc),
      programDocumentLine: programLineToDocumentLine(vprog, 1),
      signal,
    });
    if (signal.aborted) return undefined;
    const { writeRunRecord } = await import('../core/runStore.js');
    const path = await writeRunRecord(runsDirFor(this.d, doc.uri), record);
    const stored: StoredRun = { record, path };
    this.d.store.setRun(doc.uri.toString(), stored);
    this.d.runsTree.refresh();
    this.d.log.info(`run ${record.id}: ${record.error ? `${record.error.type}: ${record.error.message}` : `answer ${answerText(record)}`} (${record.trace.length} tool calls, isolation ${record.isolation ?? 'unknown'})`);
    if (record.isolation === 'process' && !warnedWeakIsolation) {
      warnedWeakIsolation = true;
      void vscode.window.showWarningMessage('VALOR runs programs without the OS sandbox (valor.run.isolation is "process"): a hostile program could read your files and reach the network. See docs/threat-model.md.');
    }
    return stored;
  }

  /**
   * Re-runs the document's program (as it is now, edited or not) against its last run's record:
   * no tool server, no model (src/core/replay.ts). Calls the record has no result for fail in the
   * program with NoRecordedResult and are listed in the new record.
   */
  async replay(doc: vscode.TextDocument, signal: AbortSignal, report: Report): Promise<StoredRun | undefined> {
    requireTrust('replay programs');
    const last = await this.lastRun(doc);
    if (!last) {
      throw new ActionableError('replay needs a run of this document to take the tool results from: run it first', [
        { kind: 'command', command: COMMANDS.runProgram, label: 'Run', args: [doc.uri] },
      ]);
    }
    const vprog = this.d.layouts.vprog(doc);
    requireProgram(doc, vprog);
    const runner = await this.d.services.runner();
    report('replaying the program against the recorded tool results…');
    const { replayRecord } = await import('../core/replay.js');
    const { record, missing } = await replayRecord(last.record, { runner, reply: vprog.reply, source: last.path ?? last.record.id, timeoutMs: this.d.config().run.timeoutMs, signal });
    if (signal.aborted) return undefined;
    const replayed: RunRecord = { ...record, document: documentRef(doc) };
    const { writeRunRecord } = await import('../core/runStore.js');
    const path = await writeRunRecord(runsDirFor(this.d, doc.uri), replayed);
    const stored: StoredRun = { record: replayed, path };
    this.d.store.setRun(doc.uri.toString(), stored);
    this.d.runsTree.refresh();
    this.d.log.info(`replay ${replayed.id} of ${last.record.id}: ${replayed.error ? `${replayed.error.type}: ${replayed.error.message}` : `answer ${answerText(replayed)}`}; ${missing.length} call(s) without a recorded result`);
    if (missing.length > 0) {
      const list = missing.map((m) => `${m.tool}(${JSON.stringify(m.args)})${m.line ? ` on program line ${m.line}` : ''}`).join('; ');
      void vscode.window.showWarningMessage(`Replay: ${missing.length} call(s) had no recorded result: ${list}. Run the program against the tools to get them.`);
    }
    return stored;
  }

  async score(doc: vscode.TextDocument, signal: AbortSignal, report: Report): Promise<StoredScores> {
    requireTrust('score programs (the syntax reward runs the program)');
    const vprog = this.d.layouts.vprog(doc);
    const { query, imagePath } = requireInputs(doc, vprog);
    const cfg = this.d.config();
    const judge = await this.d.services.chat('judge');
    const runner = await this.d.services.runner();
    const judgeSet = await (await promptSettings(this.d, doc.uri)).judgeSet();
    const audit = await readAuditLog(auditPathFor(this.d, doc.uri));
    report(`asking ${judge.model}…`);
    const { scoreReply } = await import('../core/rewards/score.js');
    const scored = await withRole(
      'judge',
      scoreReply({
        query,
        reply: vprog.reply,
        imagePath,
        judge,
        runner,
        weights: cfg.rewards.weights,
        overrides: audit.overrides,
        judgeSet,
        judgeTimeoutMs: cfg.judge.timeoutMs,
        signal,
      }),
    );
    const scores: StoredScores = { set: stripScored(scored), subject: scored.subject, query, reply: vprog.reply, program: vprog.parsed.program };
    this.d.store.setScores(doc.uri.toString(), scores);
    await this.attachRewards(doc.uri, scores);
    return scores;
  }

  /** Stores the scores in the last run's record when that run is of the same reply. */
  private async attachRewards(uri: vscode.Uri, scores: StoredScores): Promise<void> {
    const run = this.d.store.get(uri.toString()).run;
    if (!run || run.record.reply !== scores.reply) return;
    const record: RunRecord = { ...run.record, rewards: scores.set };
    const stored: StoredRun = { ...run, record };
    if (run.path) {
      const { writeRunRecord } = await import('../core/runStore.js');
      await writeRunRecord(dirname(run.path), record);
    }
    // setRun keeps the scores (the record now carries them).
    this.d.store.setRun(uri.toString(), stored);
    this.d.panels.update(record.id, { rewards: scores.set }, stored);
    this.d.runsTree.refresh();
  }

  async verify(doc: vscode.TextDocument, signal: AbortSignal, report: Report): Promise<GroundingResult[]> {
    requireTrust('verify boxes');
    const run = await this.lastRun(doc);
    if (!run) {
      throw new ActionableError('verifying boxes needs a run of this document (its gd_detect calls): run it first', [
        { kind: 'command', command: COMMANDS.runProgram, label: 'Run', args: [doc.uri] },
      ]);
    }
    const prompts = [...new Set(run.record.trace.filter((t) => t.tool === 'gd_detect' && typeof t.args.prompt === 'string').map((t) => String(t.args.prompt)))];
    if (prompts.length === 0) throw new ActionableError('the last run made no gd_detect calls, so there are no boxes to verify');
    const vlm = await this.d.services.chat('vision');
    const t = await this.d.services.tools(signal);
    const audit = await readAuditLog(auditPathFor(this.d, doc.uri));
    const { verifyBoxes } = await import('../core/grounding/verifier.js');
    const results: GroundingResult[] = [];
    for (const [i, prompt] of prompts.entries()) {
      report(`"${prompt}" (${i + 1} of ${prompts.length})`);
      const r = await withRole(
        'vision',
        verifyBoxes({
          imagePath: run.record.image.path,
          prompt,
          detect: async (thresholds, s) => (await t.client.detect(run.record.image.path, prompt, thresholds, s)).detections,
          vlm,
          signal,
          onStage: (stage, info) => report(`"${prompt}": ${stage}${info.remaining ? ` (${info.remaining} left)` : ''}`),
        }),
      );
      const { transcript: _t, ...result } = r;
      results.push(applyBoxOverrides(result, audit.overrides));
    }
    await this.saveGrounding(doc.uri, run, results);
    return results;
  }

  private async saveGrounding(uri: vscode.Uri | undefined, run: StoredRun, grounding: GroundingResult[]): Promise<StoredRun> {
    const record: RunRecord = { ...run.record, grounding };
    const stored: StoredRun = { ...run, record };
    if (run.path) {
      const { writeRunRecord } = await import('../core/runStore.js');
      await writeRunRecord(dirname(run.path), record);
    }
    if (uri) this.d.store.setRun(uri.toString(), stored);
    for (const u of this.d.store.documentsOfRun(record.id)) this.d.store.setRun(u, stored);
    this.d.panels.update(record.id, { grounding }, stored);
    return stored;
  }

  /** The last run of a document: this session's, else the newest record naming it. */
  async lastRun(doc: vscode.TextDocument): Promise<StoredRun | undefined> {
    const mine = this.d.store.get(doc.uri.toString()).run;
    if (mine) return mine;
    const ref = documentRef(doc);
    if (!ref) return undefined;
    const { listRunRecords } = await import('../core/runStore.js');
    const found = (await listRunRecords(runsDirFor(this.d, doc.uri))).find((l) => l.record?.document === ref);
    if (!found?.record) return undefined;
    const stored: StoredRun = { record: found.record, path: found.path };
    this.d.store.setRun(doc.uri.toString(), stored);
    return stored;
  }

  /** Records a person's verdict on one reward, and shows it everywhere at once. */
  async recordOverride(uri: vscode.Uri, scores: StoredScores, reward: RewardName, value: 0 | 1, note: string): Promise<StoredScores> {
    const verdict = scores.set.verdicts.find((v) => v.reward === reward);
    if (!verdict) throw new ActionableError(`there is no ${reward} verdict to override: score the document first`);
    const machine = scores.set.overridden?.[reward]?.machine_value ?? verdict.value;
    const override: Override = {
      kind: 'reward',
      subject: scores.subject || rewardSubject(scores.query, scores.reply),
      target: reward,
      value,
      machine_value: machine,
      note,
      author: safeUser(),
      at: new Date().toISOString(),
    };
    const { appendOverride } = await import('../core/audit.js');
    await appendOverride(auditPathFor(this.d, uri), override);
    const next: StoredScores = { ...scores, set: applyRewardOverrides(scores.set, override.subject, [override]) };
    this.d.store.setScores(uri.toString(), next);
    await this.attachRewards(uri, next);
    return next;
  }

  /** Asks the judge (or the runner, for syntax) again for one reward, bypassing caches. */
  async rejudge(doc: vscode.TextDocument, reward: RewardName, signal: AbortSignal): Promise<StoredScores> {
    const scores = this.d.store.get(doc.uri.toString()).scores;
    if (!scores) throw new ActionableError('there are no scores to re-judge: score the document first', [{ kind: 'command', command: COMMANDS.score, label: 'Score', args: [doc.uri] }]);
    if (reward === 'format') throw new ActionableError('the format reward comes from the parser, not a judge: edit the document and score it again');
    const vprog = this.d.layouts.vprog(doc);
    if (vprog.reply !== scores.reply) {
      throw new ActionableError('the document changed since it was scored: score it again instead', [{ kind: 'command', command: COMMANDS.score, label: 'Score', args: [doc.uri] }]);
    }
    let verdict: Verdict;
    if (reward === 'syntax') {
      requireTrust('run the syntax check');
      const { syntaxVerdict } = await import('../core/rewards/syntax.js');
      const { PlaceholderTools } = await import('../core/placeholderTools.js');
      verdict = await syntaxVerdict({ program: vprog.parsed.program, runner: await this.d.services.runner(), tools: new PlaceholderTools(), signal });
    } else {
      const judge = await this.d.services.chat('judge', { noCache: true });
      const { runJudge, createVerdictCache } = await import('../core/rewards/judge.js');
      verdict = await withRole(
        'judge',
        runJudge({
          reward,
          material: { query: scores.query, plan: vprog.parsed.plan ?? '', program: vprog.parsed.program ?? '' },
          client: judge,
          cache: createVerdictCache(),
          timeoutMs: this.d.config().judge.timeoutMs,
          signal,
        }),
      );
    }
    const { computeTotal, resolveWeights } = await import('../core/rewards/total.js');
    const verdicts = scores.set.verdicts.map((v) => (v.reward === reward ? verdict : v));
    const { overridden: _o, ...rest } = scores.set;
    let set: RewardSet = { ...rest, verdicts, ...computeTotal(verdicts, resolveWeights(scores.set.weights), scores.set.total_rule) };
    const audit = await readAuditLog(auditPathFor(this.d, doc.uri));
    set = applyRewardOverrides(set, scores.subject, audit.overrides);
    const next: StoredScores = { ...scores, set };
    this.d.store.setScores(doc.uri.toString(), next);
    await this.attachRewards(doc.uri, next);
    return next;
  }

  // -------------------------------------------------------------- run view actions

  async revealLine(run: StoredRun, programLine: number): Promise<void> {
    const docs = this.d.store.documentsOfRun(run.record.id).map((u) => vscode.Uri.parse(u));
    const uri = docs[0] ?? documentUriOfRecord(this.d, run.record, run.path);
    if (!uri) throw new ActionableError('this run was not made from a document, so there is no line to show');
    const doc = await vscode.workspace.openTextDocument(uri);
    const vprog = this.d.layouts.vprog(doc);
    if (vprog.parsed.program !== run.record.program) {
      this.d.log.warn(`run view: ${basename(uri.fsPath)} changed since run ${run.record.id}; program line ${programLine} may have moved`);
    }
    const layout = this.d.layouts.get(doc);
    const line = layout.programLineToDocLine(programLine) ?? layout.answerLine ?? 0;
    const range = doc.lineAt(Math.min(line, doc.lineCount - 1)).range;
    const visible = vscode.window.visibleTextEditors.find((e) => e.document.uri.toString() === doc.uri.toString());
    const editor = await vscode.window.showTextDocument(doc, { viewColumn: visible?.viewColumn ?? vscode.ViewColumn.One, preserveFocus: true, selection: range });
    editor.revealRange(range, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
  }

  async override(run: StoredRun, msg: OverrideMessage): Promise<RewardSet | undefined> {
    const uriText = this.d.store.documentsOfRun(run.record.id)[0];
    const uri = uriText ? vscode.Uri.parse(uriText) : documentUriOfRecord(this.d, run.record, run.path);
    const scores: StoredScores | undefined = (uriText ? this.d.store.get(uriText).scores : undefined) ??
      (run.record.rewards ? { set: run.record.rewards, subject: rewardSubject(run.record.query, run.record.reply), query: run.record.query, reply: run.record.reply, program: run.record.program } : undefined);
    if (!scores) throw new ActionableError('this run has no scores to override: score its document first');
    const note = await askNote(msg.reward, msg.value);
    if (note === undefined) return undefined;
    const key = uri ?? vscode.Uri.parse(`valor-run:${run.record.id}`);
    const next = await this.recordOverride(key, scores, msg.reward, msg.value, note);
    return next.set;
  }

  async flipBox(run: StoredRun, msg: FlipBoxMessage): Promise<GroundingResult[] | undefined> {
    const g = run.record.grounding?.[msg.grounding];
    const box = g?.boxes.find((b) => b.index === msg.box);
    if (!g || !box) throw new ActionableError(`the run has no grounding box ${msg.grounding}/${msg.box}`);
    const note = await vscode.window.showInputBox({
      title: `${msg.kept ? 'Keep' : 'Drop'} box ${msg.box} (${box.label})`,
      prompt: 'Why? (saved in .valor/audits.jsonl with your decision)',
      ignoreFocusOut: true,
    });
    if (note === undefined) return undefined;
    const uri = documentUriOfRecord(this.d, run.record, run.path);
    const override: Override = {
      kind: 'box',
      subject: boxSubject(g.image.sha256, g.prompt),
      target: String(msg.box),
      value: msg.kept ? 1 : 0,
      machine_value: msg.machineKept ? 1 : 0,
      note,
      author: safeUser(),
      at: new Date().toISOString(),
    };
    const { appendOverride } = await import('../core/audit.js');
    await appendOverride(auditPathFor(this.d, uri), override);
    const grounding = (run.record.grounding ?? []).map((r) => applyBoxOverrides(r, [override]));
    await this.saveGrounding(undefined, run, grounding);
    return grounding;
  }

  async depthMap(run: StoredRun, signal: AbortSignal): Promise<DepthMapData> {
    const t = await this.d.services.tools(signal);
    return t.client.depthMap(run.record.image.path, 1024, signal);
  }

  async findRun(runId: string): Promise<StoredRun | undefined> {
    const { readRunRecord } = await import('../core/runStore.js');
    for (const root of workspaceRoots()) {
      const path = join(root, RUNS_SUBDIR, `${runId}.json`);
      if (existsSync(path)) return { record: await readRunRecord(path), path };
    }
    const path = join(storageDir(this.d), 'runs', `${runId}.json`);
    return existsSync(path) ? { record: await readRunRecord(path), path } : undefined;
  }
}

function safeUser(): string | undefined {
  try {
    return userInfo().username || undefined;
  } catch {
    return undefined;
  }
}

async function askNote(reward: string, value: number): Promise<string | undefined> {
  return vscode.window.showInputBox({
    title: `Override ${reward}: ${value === 1 ? 'pass' : 'fail'}`,
    prompt: 'Why? (saved in .valor/audits.jsonl with your verdict)',
    placeHolder: 'e.g. the plan does resolve "left of" with box x-coordinates in step 3',
    ignoreFocusOut: true,
  });
}

// ------------------------------------------------------------------ registration

export function registerCommands(d: CommandDeps, actions: Actions): vscode.Disposable[] {
  const { log } = d;
  const handlers: Record<CommandKey, (...args: never[]) => Promise<unknown> | unknown> = {
    newQuery: (arg?: unknown) => newQuery(d, actions, arg),

    generate: async (arg?: unknown) => {
      const doc = await targetDocument(arg);
      const hasReply = d.layouts.vprog(doc).reply.trim() !== '';
      if (hasReply) {
        const ok = await vscode.window.showWarningMessage('Replace the plan and program in this document with a newly generated one?', { modal: true }, 'Replace');
        if (ok !== 'Replace') return;
      }
      await withCancellableProgress('VALOR: generating the plan and program', (signal, report) => actions.generate(doc, signal, report, hasReply));
    },

    runProgram: async (arg?: unknown) => {
      const doc = await targetDocument(arg);
      const stored = await withCancellableProgress('VALOR: running the program', (signal, report) => actions.run(doc, signal, report));
      if (stored) afterRun(d, stored);
    },

    replayRun: async (arg?: unknown) => {
      const doc = await targetDocument(arg);
      const stored = await withCancellableProgress('VALOR: replaying the last run', (signal, report) => actions.replay(doc, signal, report));
      if (stored) afterRun(d, stored);
    },

    score: async (arg?: unknown) => {
      const doc = await targetDocument(arg);
      const scores = await withCancellableProgress('VALOR: scoring (six rewards)', (signal, report) => actions.score(doc, signal, report));
      afterScore(d, scores);
    },

    verifyBoxes: async (arg?: unknown) => {
      const doc = await targetDocument(arg);
      const results = await withCancellableProgress('VALOR: verifying boxes', (signal, report) => actions.verify(doc, signal, report));
      const all = results.flatMap((r) => r.boxes);
      void notify(d, `Grounding verifier: kept ${all.filter((b) => b.kept).length} of ${all.length} candidate boxes.`);
      const run = await actions.lastRun(doc);
      if (run) d.panels.show(run);
    },

    openRunView: async (arg?: unknown) => {
      const doc = await targetDocument(arg);
      const run = await actions.lastRun(doc);
      if (!run) {
        throw new ActionableError('this document has no run yet: run it first', [{ kind: 'command', command: COMMANDS.runProgram, label: 'Run', args: [doc.uri] }], 'warning');
      }
      d.panels.show(run);
    },

    openRun: async (arg?: unknown) => {
      const { readRunRecord, listRunRecords } = await import('../core/runStore.js');
      let path: string | undefined;
      if (typeof arg === 'string') path = arg;
      else if (arg instanceof vscode.Uri) path = arg.fsPath;
      else if (arg && typeof arg === 'object' && 'listing' in arg) path = (arg as { listing: { path: string } }).listing.path;
      if (!path) {
        const listings = (await Promise.all(workspaceRoots().map((r) => listRunRecords(join(r, RUNS_SUBDIR))))).flat();
        const items = listings
          .filter((l) => l.record)
          .map((l) => ({ label: l.record!.query, description: `→ ${answerText(l.record!)}`, detail: l.record!.created, path: l.path }));
        if (items.length === 0) throw new ActionableError('there are no runs in this workspace yet (.valor/runs is empty)', [], 'warning');
        const pick = await vscode.window.showQuickPick(items, { title: 'Open a past run', matchOnDescription: true });
        if (!pick) return;
        path = pick.path;
      }
      const record = await readRunRecord(path);
      const stored: StoredRun = { record, path };
      const docUri = documentUriOfRecord(d, record, path);
      const open = docUri && vscode.workspace.textDocuments.find((x) => x.uri.toString() === docUri.toString());
      if (open) d.store.setRun(open.uri.toString(), stored);
      d.panels.show(stored);
    },

    overrideVerdict: async (arg?: unknown) => {
      const doc = await targetDocument(arg);
      const scores = d.store.get(doc.uri.toString()).scores;
      if (!scores) {
        throw new ActionableError('this document has no scores to override yet: score it first', [{ kind: 'command', command: COMMANDS.score, label: 'Score', args: [doc.uri] }], 'warning');
      }
      let reward = rewardArg(arg);
      if (!reward) {
        const pick = await vscode.window.showQuickPick(
          scores.set.verdicts.map((v) => ({
            label: v.reward,
            description: `${scores.set.overridden?.[v.reward] ? 'overridden: ' : ''}${v.state}${v.value !== null ? ` (${v.value})` : ''}`,
            detail: (v.rationale || v.error || '').slice(0, 200),
            reward: v.reward,
          })),
          { title: 'Override which verdict?' },
        );
        if (!pick) return;
        reward = pick.reward;
      }
      const verdict = await vscode.window.showQuickPick(
        [
          { label: '$(pass) Pass', description: 'the reward is earned (1)', value: 1 as const },
          { label: '$(error) Fail', description: 'the reward is not earned (0)', value: 0 as const },
        ],
        { title: `Your verdict for ${reward}` },
      );
      if (!verdict) return;
      const note = await askNote(reward, verdict.value);
      if (note === undefined) return;
      const next = await actions.recordOverride(doc.uri, scores, reward, verdict.value, note);
      const total = next.set.total === null ? 'incomplete' : next.set.total.toFixed(2);
      void notify(d, `Recorded your verdict: ${reward} = ${verdict.value === 1 ? 'pass' : 'fail'}. Total now ${total}.`);
    },

    rejudgeReward: async (arg?: unknown) => {
      const doc = await targetDocument(arg);
      let reward = rewardArg(arg);
      if (!reward) {
        const pick = await vscode.window.showQuickPick(
          (['syntax', 'spatial', 'attribute', 'logic', 'adherence'] as const).map((r) => ({ label: r })),
          { title: 'Re-judge which reward?' },
        );
        if (!pick) return;
        reward = pick.label;
      }
      const r = reward;
      const next = await withCancellableProgress(`VALOR: re-judging ${r}`, (signal) => actions.rejudge(doc, r, signal));
      const v = next.set.verdicts.find((x) => x.reward === r);
      void notify(d, `${r}: ${v?.state ?? 'no verdict'}${v?.error ? ` (${v.error})` : ''}.`);
    },

    showAgreement: async () => {
      const path = auditPathFor(d, vscode.window.activeTextEditor?.document.uri);
      const { agreementStats } = await import('../core/audit.js');
      const audit = await readAuditLog(path);
      const doc = await vscode.workspace.openTextDocument({ language: 'markdown', content: agreementMarkdown(path, audit.overrides, agreementStats(audit.overrides), audit.warnings.length) });
      await vscode.window.showTextDocument(doc, { preview: true });
    },

    startToolServer: async () => {
      if (d.config().toolServer.url) {
        throw new ActionableError(`a remote tool server is configured (${d.config().toolServer.url}); clear valor.toolServer.url to use the embedded one`, [
          { kind: 'openSettings', query: 'valor.toolServer.url' },
        ], 'warning');
      }
      await withCancellableProgress('VALOR: starting the tool server', (signal) => d.supervisor.ensureStarted(signal));
    },

    stopToolServer: () => d.supervisor.stop(),

    restartToolServer: async () => {
      if (d.config().toolServer.url) {
        d.refreshServerStatus();
        void notify(d, `Using the remote tool server at ${d.config().toolServer.url}; there is no embedded server to restart.`);
        return;
      }
      await withCancellableProgress('VALOR: restarting the tool server', (signal) => d.supervisor.restart(signal));
    },

    showLogs: () => log.show(),

    setApiKey: async (arg?: unknown) => {
      const role = await pickRole(arg, 'Set the API key for…');
      if (!role) return;
      const value = await vscode.window.showInputBox({
        title: `API key: ${KEY_ROLE_LABELS[role].label}`,
        prompt: `${KEY_ROLE_LABELS[role].detail}. Stored in VS Code's secret storage, never in settings or logs.`,
        password: true,
        ignoreFocusOut: true,
        validateInput: (v) => (v.trim() ? undefined : 'Enter a key (use "Forget API Key" to remove one)'),
      });
      if (value === undefined) return;
      await d.keys.set(role, value);
      void notify(d, `Saved the key for ${KEY_ROLE_LABELS[role].label} in VS Code's secret storage.`);
    },

    clearApiKey: async (arg?: unknown) => {
      const role = await pickRole(arg, 'Forget the API key of…');
      if (!role) return;
      await d.keys.clear(role);
      void notify(d, `Forgot the key for ${KEY_ROLE_LABELS[role].label}.`);
    },

    refreshRuns: () => d.runsTree.refresh(),

    openSettings: (arg?: unknown) => vscode.commands.executeCommand('workbench.action.openSettings', typeof arg === 'string' ? arg : 'valor'),

    openReviewQueue: async (arg?: unknown) => {
      const { openReviewQueue } = await import('./reviewCommand.js');
      await openReviewQueue({ extensionUri: d.context.extensionUri, log, auditPath: (uri) => auditPathFor(d, uri) }, arg);
    },

    rolloutGroup: async (arg?: unknown) => {
      const doc = await targetDocument(arg);
      requireTrust('score a rollout group (the syntax reward runs the programs)');
      const { query, imagePath } = requireInputs(doc, d.layouts.vprog(doc));
      const { showRolloutGroup } = await import('./rolloutCommand.js');
      await withCancellableProgress('VALOR: rollout group (5 replies, six rewards each)', (signal, report) =>
        showRolloutGroup({ services: d.services, config: d.config }, query, imagePath, auditPathFor(d, doc.uri), signal, report),
      );
    },
  };

  const titles: Record<CommandKey, string> = {
    newQuery: 'Starting a new query',
    generate: 'Generating the plan and program',
    runProgram: 'Running the program',
    replayRun: 'Replaying the last run',
    score: 'Scoring',
    verifyBoxes: 'Verifying boxes',
    openRunView: 'Opening the run view',
    openRun: 'Opening the run',
    overrideVerdict: 'Recording the override',
    rejudgeReward: 'Re-judging',
    showAgreement: 'Computing judge agreement',
    startToolServer: 'Starting the tool server',
    stopToolServer: 'Stopping the tool server',
    restartToolServer: 'Restarting the tool server',
    showLogs: 'Showing the log',
    setApiKey: 'Saving the API key',
    clearApiKey: 'Forgetting the API key',
    refreshRuns: 'Refreshing runs',
    openSettings: 'Opening settings',
    openReviewQueue: 'Opening the review queue',
    rolloutGroup: 'Scoring the rollout group',
  };

  return (Object.keys(COMMANDS) as CommandKey[]).map((k) =>
    vscode.commands.registerCommand(COMMANDS[k], guarded(titles[k], log, handlers[k] as (...args: unknown[]) => Promise<unknown> | unknown)),
  );
}

/** Shows an information (or warning) message; its text passes the secret redactor first. */
function notify(d: Pick<CommandDeps, 'log'>, text: string, severity: 'info' | 'warning' = 'info'): Thenable<string | undefined> {
  const safe = d.log.redact(text);
  return severity === 'warning' ? vscode.window.showWarningMessage(safe) : vscode.window.showInformationMessage(safe);
}

function rewardArg(arg: unknown): RewardName | undefined {
  const r = arg && typeof arg === 'object' && 'reward' in arg ? (arg as { reward: unknown }).reward : undefined;
  return typeof r === 'string' && ['format', 'syntax', 'spatial', 'attribute', 'logic', 'adherence'].includes(r) ? (r as RewardName) : undefined;
}

async function pickRole(arg: unknown, title: string): Promise<KeyRole | undefined> {
  if (typeof arg === 'string' && (KEY_ROLES as readonly string[]).includes(arg)) return arg as KeyRole;
  const pick = await vscode.window.showQuickPick(
    KEY_ROLES.map((r) => ({ label: KEY_ROLE_LABELS[r].label, detail: KEY_ROLE_LABELS[r].detail, role: r })),
    { title },
  );
  return pick?.role;
}

function afterRun(d: CommandDeps, stored: StoredRun): void {
  const r = stored.record;
  if (d.config().run.openViewAfterRun) d.panels.show(stored);
  if (r.error) {
    if (toolServerTrouble(r)) {
      throw new ActionableError(`the tool server failed during the run (${r.error.message}). Restart it and run again.`, [
        { kind: 'restartServer' },
        { kind: 'showLogs' },
        { kind: 'openSettings', query: 'valor.toolServer' },
      ]);
    }
    const where = r.error.line === null ? '' : r.program_document_line ? ` on line ${shownLine(r, r.error.line)}${r.document ? ` of ${basename(r.document)}` : ''}` : ` on program line ${r.error.line}`;
    void notify(d, `The program failed${where}: ${r.error.type}: ${r.error.message}`, 'warning');
    return;
  }
  void notify(d, `Answer: ${answerText(r)}`);
}

function afterScore(d: Pick<CommandDeps, 'log'>, scores: StoredScores): void {
  const s = scores.set;
  const failed = s.verdicts.filter((v) => v.state === 'error');
  if (failed.length > 0) {
    throw new ActionableError(
      `${failed.length} judge${failed.length === 1 ? '' : 's'} failed (${failed.map((v) => `${v.reward}: ${v.error ?? 'no verdict'}`).join('; ')}); the total is incomplete. Check the judge endpoint, or re-judge from the hover.`,
      [{ kind: 'openSettings', query: 'valor.judge' }, { kind: 'showLogs' }],
      'warning',
    );
  }
  void notify(d, `VALOR total ${s.total === null ? 'incomplete' : s.total.toFixed(2)} (${s.verdicts.map((v) => `${v.reward} ${v.value ?? '?'}`).join(', ')})`);
}

export function agreementMarkdown(
  path: string,
  overrides: readonly Override[],
  report: { rewards: Record<string, { audited: number; compared: number; agree: number; agreement: number | null; kappa: number | null; kappa_note?: string }>; boxes: { audited: number; compared: number; agree: number; agreement: number | null; kappa: number | null; kappa_note?: string } },
  warnings: number,
): string {
  const pct = (x: number | null) => (x === null ? 'n/a' : `${(100 * x).toFixed(1)}%`);
  const k = (x: number | null, note?: string) => (x === null ? `n/a${note ? ` (${note})` : ''}` : x.toFixed(3));
  const rows = Object.entries(report.rewards).map(([name, s]) => `| ${name} | ${s.audited} | ${s.compared} | ${s.agree} | ${pct(s.agreement)} | ${k(s.kappa, s.kappa_note)} |`);
  const b = report.boxes;
  return [
    '# Judge agreement',
    '',
    `From ${overrides.length} audit record${overrides.length === 1 ? '' : 's'} in \`${path}\` (the latest decision per item counts)${warnings ? `; ${warnings} unreadable line${warnings === 1 ? '' : 's'} skipped` : ''}.`,
    '',
    '| reward | audited | compared | agree | agreement | Cohen\'s κ |',
    '|---|---:|---:|---:|---:|---:|',
    ...(rows.length ? rows : ['| (no reward audits yet) | 0 | 0 | 0 | n/a | n/a |']),
    `| boxes | ${b.audited} | ${b.compared} | ${b.agree} | ${pct(b.agreement)} | ${k(b.kappa, b.kappa_note)} |`,
    '',
  ].join('\n');
}

// ------------------------------------------------------------------ new query

async function newQuery(d: CommandDeps, actions: Actions, arg: unknown): Promise<void> {
  let image = arg instanceof vscode.Uri ? arg : undefined;
  if (!image) {
    const picked = await vscode.window.showOpenDialog({
      canSelectMany: false,
      openLabel: 'Ask about this image',
      filters: { Images: IMAGE_EXTENSIONS.map((e) => e.slice(1)) },
      defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
    });
    image = picked?.[0];
    if (!image) return;
  }
  if (image.scheme !== 'file') throw new ActionableError(`the image must be a file on this machine (got ${image.toString()})`);
  const imagePath = image.fsPath;
  if (!isImagePath(imagePath)) {
    throw new ActionableError(`${basename(imagePath)} is not an image file (expected ${IMAGE_EXTENSIONS.join(', ')}): pick a photo to ask about`);
  }
  if (!existsSync(imagePath)) throw new ActionableError(`the image ${imagePath} does not exist`);
  const question = await vscode.window.showInputBox({
    title: `New VALOR query about ${basename(imagePath)}`,
    prompt: 'Your question about the image (one line)',
    placeHolder: 'e.g. Is the red mug to the left of the laptop?',
    ignoreFocusOut: true,
    validateInput: (v) => (v.trim() ? undefined : 'Write a question about the image'),
  });
  if (question === undefined) return;

  const docPath = newDocumentPath(imagePath);
  let doc: vscode.TextDocument;
  try {
    await writeFile(docPath, newDocumentText(headerImageRef(dirname(docPath), imagePath), question), { flag: 'wx' });
    doc = await vscode.workspace.openTextDocument(vscode.Uri.file(docPath));
  } catch (err) {
    // The image's folder may be read-only: keep the work in an untitled document instead.
    d.log.warn(`could not create ${docPath} (${(err as Error).message}); using an untitled document`);
    doc = await vscode.workspace.openTextDocument({ language: 'vprog', content: newDocumentText(imagePath, question) });
  }
  await vscode.window.showTextDocument(doc, { preview: false });

  const outcome = await withCancellableProgress('VALOR: new query', async (signal, report) => {
    await actions.generate(doc, signal, (m) => report(`generating: ${m}`), false);
    if (!vscode.workspace.isTrusted || signal.aborted) return { stored: undefined, scores: undefined };
    const stored = await actions.run(doc, signal, (m) => report(`running: ${m}`));
    if (!stored || signal.aborted) return { stored, scores: undefined };
    const cfg = d.config();
    // Scoring needs a judge endpoint; without one the query is still complete, just unscored.
    const scores = cfg.judge.baseUrl && cfg.judge.model ? await actions.score(doc, signal, (m) => report(`scoring: ${m}`)) : undefined;
    return { stored, scores };
  });
  if (!vscode.workspace.isTrusted) {
    void vscode.window.showWarningMessage('The plan and program are written. This workspace is not trusted, so the program was not run.', 'Manage Workspace Trust').then((p) =>
      p ? vscode.commands.executeCommand('workbench.trust.manage') : undefined,
    );
    return;
  }
  if (outcome.stored) afterRun(d, outcome.stored);
  if (outcome.scores) afterScore(d, outcome.scores);
}
