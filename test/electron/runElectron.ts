/**
 * Runs the real VS Code integration suite (test/electron/suite.ts) with @vscode/test-electron,
 * in the VS Code binary named by VSCODE_EXECUTABLE (or VALOR_VSCODE_PATH); nothing is downloaded.
 * On a machine without a display, run it under `xvfb-run -a`.
 *
 *     VSCODE_EXECUTABLE=/path/to/code npm run test:electron
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { runTests } from '@vscode/test-electron';

const ROOT = join(__dirname, '..', '..');

export function vscodeExecutable(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.VSCODE_EXECUTABLE?.trim() || env.VALOR_VSCODE_PATH?.trim() || undefined;
}

async function main(): Promise<number> {
  const exe = vscodeExecutable();
  if (!exe) {
    console.error('no VS Code executable: set VSCODE_EXECUTABLE (or VALOR_VSCODE_PATH) to a VS Code binary to run the real suite');
    return 2;
  }
  // The suite runs inside VS Code's extension host, which loads plain JavaScript.
  const suite = join(ROOT, 'out', 'electron', 'suite', 'index.js');
  await esbuild.build({
    entryPoints: [join(__dirname, 'suite.ts')],
    outfile: suite,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode'],
    logLevel: 'warning',
  });
  const workspace = mkdtempSync(join(tmpdir(), 'valor-e2e-ws-'));
  const userData = mkdtempSync(join(tmpdir(), 'valor-e2e-user-'));
  copyFileSync(join(ROOT, 'test', 'fixtures', 'images', 'scene-320x240.png'), join(workspace, 'scene.png'));
  try {
    return await runTests({
      vscodeExecutablePath: exe,
      extensionDevelopmentPath: ROOT,
      extensionTestsPath: suite,
      extensionTestsEnv: { VALOR_E2E_WORKSPACE: workspace },
      launchArgs: [
        workspace,
        '--disable-extensions',
        '--disable-workspace-trust',
        '--disable-gpu',
        '--no-sandbox',
        '--skip-welcome',
        '--skip-release-notes',
        `--user-data-dir=${userData}`,
      ],
    });
  } finally {
    rmSync(workspace, { recursive: true, force: true });
    rmSync(userData, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
