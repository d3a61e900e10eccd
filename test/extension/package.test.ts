/**
 * `vsce package --target linux-x64` on the repository, then the VSIX is checked: the bundles,
 * the manifest and the grammar are in; sources, tests and other platforms' binaries are out;
 * and, unpacked, the runtime packages the bundles keep external really load (onnxruntime's
 * native binding, sharp with libvips, transformers.js) and the CLI runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { extractZip } from '../helpers/zip.js';
import { ROOT } from './harness.js';

const BUNDLES = ['dist/extension.js', 'dist/cli.js', 'dist/server.js', 'dist/webview/main.js', 'dist/webview/review.js'];

function run(cmd: string, args: string[], cwd: string, timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, npm_config_loglevel: 'error' } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

test('the linux-x64 VSIX holds the bundles and only linux-x64 binaries, and its external packages load', { timeout: 300_000 }, async (t) => {
  if (!BUNDLES.every((b) => existsSync(join(ROOT, b)))) {
    // `npm test` builds first; a lone run of this file builds the missing bundles itself.
    const b = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(b.status, 0, b.stderr);
  }
  const dir = mkdtempSync(join(tmpdir(), 'valor-vsix-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const vsix = join(dir, 'valor.vsix');
  const vsce = join(ROOT, 'node_modules', '@vscode', 'vsce', 'vsce');
  const r = await run(process.execPath, [vsce, 'package', '--target', 'linux-x64', '--no-rewrite-relative-links', '--out', vsix], ROOT, 240_000);
  assert.equal(r.code, 0, r.out);
  const size = statSync(vsix).size;
  t.diagnostic(`VSIX size: ${(size / 1024 / 1024).toFixed(1)} MiB`);

  const unpacked = join(dir, 'x');
  const entries = extractZip(vsix, unpacked).map((e) => e.name);
  const has = (p: string) => entries.includes(`extension/${p}`);
  for (const p of [...BUNDLES, 'package.json', 'syntaxes/vprog.tmLanguage.json', 'syntaxes/vprog-tools.injection.tmLanguage.json', 'language-configuration.json', 'snippets/vprog.json', 'media/icon.png', 'media/vprog-file.svg', 'media/webview.css', 'media/review.css']) {
    assert.ok(has(p), `${p} is in the VSIX`);
  }
  // The program runner reads its Python side from <extension>/python/ at run time.
  assert.ok(has('python/valor_worker/worker.py'), 'the Python worker is in the VSIX');
  assert.ok(has('python/valor_worker/sandbox.py'), 'its OS sandbox is in the VSIX');
  // ...with every module it imports (worker.py imports its parent, child, program and sandbox modules).
  for (const name of readdirSync(join(ROOT, 'python', 'valor_worker')).filter((n) => n.endsWith('.py'))) {
    assert.ok(has(`python/valor_worker/${name}`), `python/valor_worker/${name} is in the VSIX`);
  }
  assert.ok(has('node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node'));
  assert.ok(has('node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1'));
  assert.ok(entries.some((e) => e.startsWith('extension/node_modules/@img/sharp-linux-x64/')));
  assert.ok(entries.some((e) => e.startsWith('extension/node_modules/@img/sharp-libvips-linux-x64/')));
  const forbidden = entries.filter(
    (e) =>
      /^extension\/(src|test|webview|scripts|bench)\//.test(e) ||
      /\/(darwin|win32)\//.test(e) ||
      /napi-v6\/linux\/arm64/.test(e) ||
      /@img\/sharp-(?!linux-x64|libvips-linux-x64)/.test(e) ||
      /node_modules\/(onnxruntime-web|openai|zod|typescript|esbuild|playwright-core)\//.test(e) ||
      /\.(ts|map)$/.test(e) && !e.endsWith('.d.ts'),
  );
  assert.deepEqual(forbidden, [], 'no sources, tests, maps, other platforms or bundled-in packages');
  assert.ok(entries.includes('extension.vsixmanifest'));

  // Unpacked, the externals resolve from the extension folder and work.
  const ext = join(unpacked, 'extension');
  const probe = await run(
    process.execPath,
    [
      '-e',
      `require('onnxruntime-node');
       const tf = require('@huggingface/transformers');
       if (typeof tf.pipeline !== 'function') throw new Error('transformers did not load');
       require('sharp')({ create: { width: 4, height: 3, channels: 3, background: 'red' } }).png().toBuffer()
         .then((b) => console.log('ok', b.length), (e) => { console.error(e); process.exit(1); });`,
    ],
    ext,
    60_000,
  );
  assert.equal(probe.code, 0, probe.out);
  assert.match(probe.out, /^ok \d+/m);
  const cli = await run(process.execPath, ['dist/cli.js', '--help'], ext, 60_000);
  assert.equal(cli.code, 0, cli.out);
  assert.match(cli.out, /valor: VALOR Studio on the command line/);
});
