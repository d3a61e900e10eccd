/**
 * The set-up command (`npm ci`) on the npm of this machine: no warnings about unknown project
 * settings, onnxruntime-node's CUDA download denied through package.json `allowScripts` (the
 * policy npm keeps, unlike an unknown `.npmrc` key), every other install script reviewed, and
 * the GPU path (`npm run install:cuda`) still reaching onnxruntime-node's own installer.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { REPO } from '../helpers/cli.js';

const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean>; scripts: Record<string, string> };
const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as { packages: Record<string, { hasInstallScript?: boolean }> };

describe('npm set-up', () => {
  it('.npmrc holds only settings npm knows (npm warns about, and will drop, any other)', () => {
    const r = spawnSync('npm', ['pkg', 'get', 'name'], { cwd: REPO, encoding: 'utf8', env: { ...process.env, npm_config_loglevel: 'warn' } });
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /Unknown (project|user|env) config/, r.stderr);
    const keys = readFileSync(join(REPO, '.npmrc'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')).map((l) => l.split('=')[0]);
    assert.ok(!keys.includes('onnxruntime-node-install'), 'onnxruntime-node-install is not an npm setting');
  });

  it('allowScripts denies onnxruntime-node and reviews every other dependency with install scripts', () => {
    const policy = pkg.allowScripts ?? {};
    assert.equal(policy['onnxruntime-node'], false);
    const withScripts = Object.entries(lock.packages)
      .filter(([path, p]) => path.startsWith('node_modules/') && p.hasInstallScript)
      .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length));
    assert.ok(withScripts.includes('onnxruntime-node'));
    for (const name of withScripts) assert.ok(name in policy, `${name} has install scripts but no allowScripts entry: review it and add true or false`);
  });

  it('the GPU path runs onnxruntime-node\'s installer asking for the CUDA 12 provider', () => {
    const script = pkg.scripts['install:cuda'] ?? '';
    assert.match(script, /node_modules\/onnxruntime-node\/script\/install(\.js)? --onnxruntime-node-install=cuda12/);
    // The installer reads that flag itself, whatever npm does with its own settings.
    const installer = readFileSync(join(REPO, 'node_modules', 'onnxruntime-node', 'script', 'install-utils.js'), 'utf8');
    assert.match(installer, /startsWith\('--onnxruntime-node-install='\)/);
    assert.match(installer, /ONNXRUNTIME_NODE_INSTALL/);
  });
});
