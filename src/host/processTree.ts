/**
 * Stopping a child and everything it started: its process group is signalled (SIGTERM, then
 * SIGKILL after a grace period), so a grandchild that ignores SIGTERM does not outlive it. On
 * Windows, `taskkill /T /F`. The child must have been spawned detached (its own group).
 */
import { spawnSync, type ChildProcess } from 'node:child_process';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Signals the child's whole process group (or tree on Windows), escalating to SIGKILL. */
export async function killTree(child: ChildProcess, graceMs: number): Promise<void> {
  const pid = child.pid;
  if (pid === undefined) return;
  const exited = child.exitCode !== null || child.signalCode !== null;
  if (process.platform === 'win32') {
    spawnSync('taskkill', ['/pid', String(pid), '/T', '/F'], { windowsHide: true });
    return;
  }
  const signalGroup = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      // Group already gone.
    }
  };
  signalGroup('SIGTERM');
  if (!exited) {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, graceMs);
      child.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }
  // Grandchildren may ignore SIGTERM or outlive the leader: make sure the group is gone.
  signalGroup('SIGKILL');
  if (alive(pid) && !exited) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
