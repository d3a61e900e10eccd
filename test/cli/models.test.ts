// `valor models` (what each folder holds, the VALOR configuration) and `valor models convert`'s
// checks, in-process with real folders and real child processes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, describe, it } from 'node:test';
import { main } from '../../src/cli/main.js';
import { FIXTURES } from '../helpers/toolServer.js';

async function run(argv: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (d) => (stdout += d));
  err.on('data', (d) => (stderr += d));
  const code = await main(argv, { stdout: out, stderr: err, env: { PATH: process.env.PATH }, cwd, signal: new AbortController().signal, isTTY: false });
  return { code, stdout, stderr };
}

describe('valor models', () => {
  const dirs: string[] = [];
  const tmp = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'valor-models-'));
    dirs.push(d);
    return d;
  };
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('says what is missing and how to get the VALOR configuration in two commands', async () => {
    const dir = tmp();
    const r = await run(['models', '--dir', dir], dir);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /grounding-dino\/ {2}missing config\.json/);
    assert.match(r.stdout, /depth\/ {2}missing/);
    assert.match(r.stdout, /The VALOR configuration/);
    assert.match(r.stdout, /detector {2}VALOR-GroundingDINO.*: not installed/);
    assert.match(r.stdout, /depth {5}MoGe-2 ViT-L \(Ruicheng\/moge-2-vitl-normal-onnx.*: not installed/);
    assert.match(r.stdout, /valor models pull --valor && valor models convert/);
  });

  it('recognises a converted VALOR detector and a pulled MoGe-2 ViT-L as the VALOR configuration', async () => {
    const dir = tmp();
    symlinkSync(join(FIXTURES, 'models', 'grounding-dino-valor-tiny'), join(dir, 'grounding-dino'));
    mkdirSync(join(dir, 'depth'));
    symlinkSync(join(FIXTURES, 'models', 'moge-2-tiny', 'model.onnx'), join(dir, 'depth', 'model.onnx'));
    writeFileSync(join(dir, 'depth', '.valor-pull.json'), JSON.stringify({ repo: 'Ruicheng/moge-2-vitl-normal-onnx', revision: 'main', files: {} }));
    const r = await run(['models', '--dir', dir], dir);
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /grounding-dino\/ {2}complete {2}VALOR-GroundingDINO \(converted from checkpoint\.pth, sha256 [0-9a-f]{12}…\) \[VALOR\]/);
    assert.match(r.stdout, /depth\/ {2}complete {2}MoGe-2 \(Ruicheng\/moge-2-vitl-normal-onnx\) \[VALOR\]/);
    assert.match(r.stdout, /VALOR-GroundingDINO.*: installed/);
    assert.match(r.stdout, /MoGe-2 ViT-L.*: installed/);
    assert.doesNotMatch(r.stdout, /get it with/);
    // The stock detector with MoGe-2 ViT-B is not VALOR's configuration.
    writeFileSync(join(dir, 'depth', '.valor-pull.json'), JSON.stringify({ repo: 'Ruicheng/moge-2-vitb-normal-onnx', revision: 'main', files: {} }));
    const b = await run(['models', '--dir', dir], dir);
    assert.match(b.stdout, /MoGe-2 ViT-L.*: not installed/);
  });

  it('models convert refuses a missing checkpoint and a Python without PyTorch, naming what to do', async () => {
    const dir = tmp();
    const none = await run(['models', 'convert', '--dir', dir], dir);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no checkpoint at .*VALOR-GroundingDINO\.pth: fetch it with 'valor models pull --valor'/);
    const ckpt = join(dir, 'VALOR-GroundingDINO.pth');
    writeFileSync(ckpt, 'not a checkpoint');
    const noPython = await run(['models', 'convert', '--dir', dir, '--checkpoint', ckpt, '--python', join(dir, 'no-such-python')], dir);
    assert.equal(noPython.code, 1);
    assert.match(noPython.stderr, /cannot run '.*no-such-python'.*--python PY or set VALOR_PYTHON/);
    const hasTorch = spawnSync('python3', ['-c', 'import torch, transformers, onnx, onnxruntime']).status === 0;
    const sys = await run(['models', 'convert', '--dir', dir, '--checkpoint', ckpt, '--python', 'python3'], dir);
    assert.equal(sys.code, 1);
    if (hasTorch) assert.match(sys.stderr, /cannot read it as a PyTorch checkpoint/);
    else assert.match(sys.stderr, /'python3' lacks .*torch.*pip install/);
    const badSize = await run(['models', 'convert', '--dir', dir, '--checkpoint', ckpt, '--size', '100'], dir);
    assert.equal(badSize.code, 2);
  });
});
