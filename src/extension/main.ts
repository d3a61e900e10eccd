/**
 * The extension's entry (built to dist/extension.js). Activation is lazy (a `.vprog` document,
 * one of our commands, the runs view or a restored run view) and cheap: it wires the pieces
 * together; the language-model client, the runner, the rewards and the verifier load on first use.
 */
import { join } from 'node:path';
import { findModelsDir } from '../core/modelsDir.js';
import * as vscode from 'vscode';
import type { CommandDeps } from './commands/commandDeps.js';
import { registerCommands } from './commands/registry.js';
import { LANGUAGE_ID, OUTPUT_CHANNEL_NAME, RUNS_VIEW_ID, RUN_VIEW_TYPE } from './commandIds.js';
import { changeNeedsRestart, readConfig, type SettingKey, type ValorConfig } from './config.js';
import { LayoutCache } from './vprogLayout.js';
import { ScoreDecorations, ScoreHoverProvider, VprogCodeLensProvider, VprogDiagnostics, isVprog, workspaceRoots } from './editorFeatures.js';
import { LineValueDecorations, LineValueHoverProvider } from './lineValues.js';
import { CitedLineDecorations } from './citedLines.js';
import { ResultsStore } from './resultsStore.js';
import { lastRunOf } from './documentResults.js';
import { RunPanels } from './runPanel.js';
import { RunViewActions } from './runViewActions.js';
import { RunsTreeProvider } from './runsTree.js';
import { ApiKeys } from './secrets.js';
import { CoreClients } from './coreClients.js';
import { ServerStatusItem } from './statusBar.js';
import { ToolServerSupervisor, type ServerCommand } from './toolServerSupervisor.js';
import { reportFailure } from './commandGuard.js';
import { ExtensionLog } from './extensionLog.js';

/** What activate returns: handles for the integration tests (not a public API). */
export interface ValorExtensionApi {
  supervisor: ToolServerSupervisor;
  keys: ApiKeys;
  store: ResultsStore;
  config: () => ValorConfig;
  log: ExtensionLog;
}

let active: { dispose(): Promise<void> } | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<ValorExtensionApi> {
  const channel = vscode.window.createOutputChannel(OUTPUT_CHANNEL_NAME, { log: true });
  context.subscriptions.push(channel);
  const keys = new ApiKeys(context.secrets);
  const log = new ExtensionLog(channel, () => keys.known());
  try {
    return await setup(context, keys, log);
  } catch (err) {
    // Activation errors are shown, not swallowed (a half-activated extension is confusing).
    await reportFailure(err, { doing: 'Activating VALOR Studio' }, log);
    throw err;
  }
}

async function setup(context: vscode.ExtensionContext, keys: ApiKeys, log: ExtensionLog): Promise<ValorExtensionApi> {
  // Known keys feed the log's redactor before anything is logged.
  await keys.preload();

  let config = loadConfig(log);
  const getConfig = () => config;

  const supervisor = new ToolServerSupervisor({
    command: () => embeddedServerCommand(context, getConfig(), keys),
    log: (line) => log.server(line),
    maxRestarts: () => getConfig().toolServer.maxRestarts,
  });
  const status = new ServerStatusItem();
  const refreshServerStatus = () =>
    status.show(getConfig().toolServer.url ? { kind: 'remote', url: getConfig().toolServer.url } : supervisor.current, getConfig().run.isolation);
  supervisor.onDidChangeState(() => refreshServerStatus());
  refreshServerStatus();

  const store = new ResultsStore();
  const layouts = new LayoutCache();
  const layoutOf = (doc: vscode.TextDocument) => layouts.get(doc);
  const clients = new CoreClients({ config: getConfig, keys, supervisor, storageDir: context.globalStorageUri.fsPath });
  const runsTree = new RunsTreeProvider(workspaceRoots);

  // The run view and its actions need each other (the panel calls back into them); the deps object closes the loop.
  const deps = { context, log, config: getConfig, keys, supervisor, clients, store, layouts, runsTree, refreshServerStatus } as Omit<CommandDeps, 'panels'> & {
    panels?: RunPanels;
  };
  const panels = new RunPanels(context.extensionUri, log, new RunViewActions(deps as CommandDeps));
  deps.panels = panels;

  const selector: vscode.DocumentSelector = { language: LANGUAGE_ID };
  const codeLenses = new VprogCodeLensProvider(store, layoutOf);
  context.subscriptions.push(
    status,
    panels,
    runsTree,
    codeLenses,
    new ScoreDecorations(store, layoutOf),
    new LineValueDecorations(store, layoutOf),
    new CitedLineDecorations(store, layoutOf),
    new VprogDiagnostics(store, layoutOf),
    vscode.languages.registerCodeLensProvider(selector, codeLenses),
    vscode.languages.registerHoverProvider(selector, new ScoreHoverProvider(store, layoutOf)),
    vscode.languages.registerHoverProvider(selector, new LineValueHoverProvider(store, layoutOf)),
    vscode.window.registerTreeDataProvider(RUNS_VIEW_ID, runsTree),
    vscode.window.registerWebviewPanelSerializer(RUN_VIEW_TYPE, panels.serializer()),
    ...registerCommands(deps as CommandDeps),
    vscode.workspace.onDidCloseTextDocument((d) => layouts.forget(d.uri.toString())),
    // A document opened later shows the scores of its last recorded run.
    vscode.workspace.onDidOpenTextDocument((d) => {
      if (isVprog(d)) void lastRunOf(deps, d).catch(() => undefined);
    }),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (!e.affectsConfiguration('valor')) return;
      const before = config;
      config = loadConfig(log);
      refreshServerStatus();
      if (before.toolServer.url !== config.toolServer.url && config.toolServer.url) {
        // Switched to a remote server: the embedded one is no longer needed.
        void supervisor.stop();
        return;
      }
      if (changeNeedsRestart((s) => e.affectsConfiguration(s)) && supervisor.current.kind !== 'stopped' && !config.toolServer.url) {
        log.info('settings the tool server reads at start changed: restarting it');
        void supervisor.restart().catch((err: unknown) => reportFailure(err, { doing: 'Restarting the tool server for the new settings' }, log));
      }
    }),
    keys.onDidChange((role) => {
      // The embedded server reads the vision key at start.
      if (role === 'vision' && supervisor.current.kind === 'ready' && !config.toolServer.url) {
        log.info('the vision key changed: restarting the tool server');
        void supervisor.restart().catch((err: unknown) => reportFailure(err, { doing: 'Restarting the tool server for the new key' }, log));
      }
    }),
    vscode.workspace.onDidGrantWorkspaceTrust(() => log.info('workspace trusted: programs may run')),
  );
  for (const d of vscode.workspace.textDocuments) if (isVprog(d)) void lastRunOf(deps, d).catch(() => undefined);

  active = {
    dispose: async () => {
      await Promise.allSettled([supervisor.dispose(), clients.dispose()]);
    },
  };
  log.info(`VALOR Studio activated (${vscode.workspace.isTrusted ? 'trusted' : 'untrusted'} workspace)`);
  return { supervisor, keys, store, config: getConfig, log };
}

function loadConfig(log: ExtensionLog): ValorConfig {
  const section = vscode.workspace.getConfiguration('valor');
  const { config, problems } = readConfig((key: SettingKey) => section.get(key));
  for (const p of problems) {
    log.warn(p.message);
    void vscode.window.showWarningMessage(p.message, 'Open Settings').then((pick) =>
      pick ? vscode.commands.executeCommand('workbench.action.openSettings', p.key) : undefined,
    );
  }
  return config;
}

/** How the embedded tool server is started: dist/server.js on VS Code's own runtime. */
export async function embeddedServerCommand(context: vscode.ExtensionContext, cfg: ValorConfig, keys: ApiKeys): Promise<ServerCommand> {
  const script = join(context.extensionPath, 'dist', 'server.js');
  const args = [script, '--exit-with-stdin', '--port', '0', '--device', cfg.toolServer.device];
  // An empty setting: VALOR_MODELS_DIR, else a models/ folder in the workspace, else the pull cache.
  const root = workspaceRoots()[0];
  const models = cfg.toolServer.modelsPath ? { dir: cfg.toolServer.modelsPath } : root ? findModelsDir({ env: process.env, cwd: root }) : { dir: undefined };
  if (models.dir) args.push('--models', models.dir);
  for (const root of workspaceRoots()) args.push('--allow-root', root);
  if (cfg.vision.baseUrl) args.push('--vlm-base-url', cfg.vision.baseUrl);
  if (cfg.vision.model) args.push('--vlm-model', cfg.vision.model);
  const env: NodeJS.ProcessEnv = { ...process.env, ELECTRON_RUN_AS_NODE: '1' };
  // Secrets travel in the environment, never on the command line (which is logged).
  delete env.VALOR_TOOLS_TOKEN;
  const visionKey = await keys.get('vision');
  if (visionKey) env.VALOR_VLM_API_KEY = visionKey;
  return { executable: process.execPath, args, env, cwd: workspaceRoots()[0] ?? context.extensionPath };
}

export async function deactivate(): Promise<void> {
  const a = active;
  active = undefined;
  await a?.dispose();
}
