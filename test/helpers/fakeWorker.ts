/**
 * For tests of the runner's launchers (src/core/runner/pool.ts): a "python" that runs
 * test/fixtures/runner/fakeWorker.mjs, a stand-in that speaks the worker's process protocol and
 * misbehaves on cue (FAKE_WORKER, or a `fake` field in a run's request), and a recording double
 * of the run side (the five members of ActiveRun that a launcher uses).
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ActiveRun } from '../../src/core/runner/activeRun.js';
import { WarmLauncher } from '../../src/core/runner/pool.js';

const FAKE = resolve(__dirname, '..', 'fixtures', 'runner', 'fakeWorker.mjs');

/** The advice every set-up error ends with. */
export const SETUP_HINT = "Set the runner's `python` option or the VALOR_PYTHON environment variable to a Python 3.8+ executable with numpy installed.";

export type Told = ['started', number] | ['exit', number | null, number | null] | ['failed', string, string] | ['died', string];

/** What a launcher may call on a run, recorded in order. */
export class RecordingRun {
  static count = 0;
  readonly id = `fake-run-${++RecordingRun.count}`;
  pid: number | null = null;
  exited = false;
  readonly told: Told[] = [];
  private waiters: (() => void)[] = [];
  constructor(readonly workDir: string) {}
  private tell(t: Told): void {
    this.told.push(t);
    for (const w of this.waiters.splice(0)) w();
  }
  onStarted(pid: number): void {
    this.pid = pid;
    this.tell(['started', pid]);
  }
  onExit(code: number | null, sig: number | null): void {
    this.exited = true;
    this.tell(['exit', code, sig]);
  }
  onLaunchFailed(err: Error): void {
    this.exited = true;
    this.tell(['failed', err.name, err.message]);
  }
  onWorkerDied(description: string): void {
    this.exited = true;
    this.tell(['died', description]);
  }
  /** Resolves once the run has been told `n` things. */
  async heard(n: number, what = `${n} calls`): Promise<Told[]> {
    const deadline = Date.now() + 30_000;
    while (this.told.length < n) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; heard ${JSON.stringify(this.told)}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
    return this.told;
  }
  /** A request as ActiveRun makes one: it carries the run's id, which the worker's events name. */
  request(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return { id: this.id, ...extra };
  }
  asRun(): ActiveRun {
    return this as unknown as ActiveRun;
  }
}

/** A scratch folder with the fake "python" in it, its log, and the pids it was started as. */
export class FakePython {
  /** Program processes a test left running on purpose: killed (as groups) by `cleanup`. */
  readonly stray: number[] = [];
  readonly path: string;
  private readonly logFile: string;
  private readonly launchedFile: string;

  constructor(readonly dir = mkdtempSync(join(tmpdir(), 'valor-pool-'))) {
    this.path = join(dir, 'fake-python');
    this.logFile = join(dir, 'log.jsonl');
    // The script notes its pid first (exec keeps it), so a worker killed before node is up is still seen.
    this.launchedFile = join(dir, 'launched.txt');
    writeFileSync(this.path, `#!/bin/sh\necho $$ >> "${this.launchedFile}"\nexec "${process.execPath}" "${FAKE}" "$@"\n`);
    chmodSync(this.path, 0o755);
  }

  env(behaviour = 'ok'): Record<string, string> {
    return { PATH: process.env.PATH ?? '/usr/bin:/bin', FAKE_WORKER: behaviour, FAKE_LOG: this.logFile };
  }

  /** The lines the fake workers logged (a start, a request seen, a program started), from `from` on. */
  logged(from = 0): Record<string, unknown>[] {
    if (!existsSync(this.logFile)) return [];
    return readFileSync(this.logFile, 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean)
      .slice(from)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  logLength(): number {
    return this.logged().length;
  }

  /** The pids of the "python" processes started so far. */
  launched(): number[] {
    if (!existsSync(this.launchedFile)) return [];
    return readFileSync(this.launchedFile, 'utf8').trim().split('\n').filter(Boolean).map(Number);
  }

  /** A start timeout that a fake worker meets on this machine now (4 times its start, at least 1.5 s). */
  async startTimeout(): Promise<number> {
    const w = new WarmLauncher(this.path, this.env(), 'process', async () => this.dir, 60_000);
    const t0 = Date.now();
    await w.acquire();
    const ms = Date.now() - t0;
    await w.dispose();
    return Math.max(1500, 4 * ms);
  }

  cleanup(): void {
    for (const pid of this.stray) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
