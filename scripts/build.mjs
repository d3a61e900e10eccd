// One build for the four bundles (docs/architecture.md): extension (node/cjs, `vscode` external), the `valor`
// CLI, the tool server entry, and the webview (browser). Native and heavy runtime packages stay
// external: they are resolved from node_modules at run time (and shipped in the VSIX).
import * as esbuild from 'esbuild';
import { chmodSync, existsSync, mkdirSync } from 'node:fs';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');
const nodeExternal = ['vscode', 'onnxruntime-node', 'sharp', '@huggingface/transformers'];
const common = { bundle: true, sourcemap: !production, minify: production, logLevel: 'warning' };

const targets = [
  { entryPoints: ['src/extension/main.ts'], outfile: 'dist/extension.js', platform: 'node', format: 'cjs', target: 'node20', external: nodeExternal },
  { entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli.js', platform: 'node', format: 'cjs', target: 'node20', external: nodeExternal, banner: { js: '#!/usr/bin/env node' } },
  { entryPoints: ['src/server/main.ts'], outfile: 'dist/server.js', platform: 'node', format: 'cjs', target: 'node20', external: nodeExternal },
  { entryPoints: ['webview/main.ts'], outfile: 'dist/webview/main.js', platform: 'browser', format: 'iife', target: 'es2022' },
  { entryPoints: ['webview/review/main.ts'], outfile: 'dist/webview/review.js', platform: 'browser', format: 'iife', target: 'es2022' },
].filter((t) => existsSync(t.entryPoints[0]));

mkdirSync('dist', { recursive: true });
if (watch) {
  for (const t of targets) (await esbuild.context({ ...common, ...t })).watch();
} else {
  await Promise.all(targets.map((t) => esbuild.build({ ...common, ...t })));
  if (existsSync('dist/cli.js')) chmodSync('dist/cli.js', 0o755);
}
