/**
 * The real VS Code suite, from the normal test run: it needs a VS Code binary (named by
 * VSCODE_EXECUTABLE or VALOR_VSCODE_PATH) and reports itself skipped, with the reason, without one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { vscodeExecutable } from './runElectron.js';

const ROOT = join(__dirname, '..', '..');

test('the @vscode/test-electron suite passes in a real VS Code', { timeout: 600_000 }, async (t) => {
  if (!vscodeExecutable()) {
    t.skip('no VS Code executable: set VSCODE_EXECUTABLE to run the real suite');
    return;
  }
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'runElectron.ts')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0, out.slice(-6000));
  assert.match(out, /ok - running the document against the fixture tool server/);
});
