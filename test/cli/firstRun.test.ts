/**
 * The README's first commands, as a new user meets them: `node dist/cli.js run examples/desk.vprog`
 * in a fresh copy of the repository's tracked files, with no models downloaded, no endpoints
 * and no VALOR_* settings. The embedded tool server must find the example models beside the
 * document; without them, the error must name every way to give it models.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleanEnv, REPO, runCli } from '../helpers/cli.js';

const hasGit = existsSync(join(REPO, '.git'));

/** Tracked files under `paths`, copied to `dest` as git would check them out (links stay links). */
function copyTracked(dest: string, paths: string[]): void {
  const files = execFileSync('git', ['ls-files', '-z', '--', ...paths], { cwd: REPO, encoding: 'utf8' }).split('\0').filter(Boolean);
  for (const f of files) {
    mkdirSync(dirname(join(dest, f)), { recursive: true });
    cpSync(join(REPO, f), join(dest, f), { verbatimSymlinks: true, dereference: false });
  }
}

describe('first run on a fresh copy (README main job)', { skip: hasGit ? false : 'needs a git checkout to list the tracked files' }, () => {
  let copy: string;
  let home: string;
  before(() => {
    copy = mkdtempSync(join(tmpdir(), 'valor-fresh-'));
    home = mkdtempSync(join(tmpdir(), 'valor-home-'));
    copyTracked(copy, ['examples', 'test/fixtures/models/grounding-dino-tiny', 'test/fixtures/models/depth-anything-tiny']);
  });
  after(() => {
    rmSync(copy, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  });
  // No downloaded models, no cache, no endpoints: what a fresh machine has.
  const freshEnv = () => cleanEnv({ HOME: home, XDG_CACHE_HOME: join(home, '.cache') });

  it('examples/models are symbolic links in git to tracked fixture model folders', () => {
    const listed = execFileSync('git', ['ls-files', '-s', '--', 'examples/models'], { cwd: REPO, encoding: 'utf8' }).trim().split('\n');
    assert.equal(listed.length, 2, listed.join('\n'));
    for (const line of listed) {
      const [mode, sha, , path] = line.split(/\s+/);
      assert.equal(mode, '120000', `${path} must be stored as a link so a clone keeps it`);
      const target = execFileSync('git', ['cat-file', '-p', sha as string], { cwd: REPO, encoding: 'utf8' });
      const resolved = posix.normalize(posix.join(posix.dirname(path as string), target));
      const tracked = execFileSync('git', ['ls-files', '--', `${resolved}/model.onnx`, `${resolved}/onnx/model.onnx`], { cwd: REPO, encoding: 'utf8' }).trim();
      assert.ok(tracked, `${path} -> ${target}: no tracked model.onnx there`);
    }
  });

  it('the copy keeps the links and they resolve', () => {
    assert.match(readlinkSync(join(copy, 'examples', 'models', 'grounding-dino')), /test\/fixtures\/models\/grounding-dino-tiny$/);
    assert.ok(statSync(join(copy, 'examples', 'models', 'depth')).isDirectory());
  });

  it('`valor run examples/desk.vprog` answers with the models beside the document, offline', async () => {
    const r = await runCli(['run', 'examples/desk.vprog'], { cwd: copy, env: freshEnv(), timeoutMs: 180_000 });
    assert.equal(r.code, 0, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    assert.match(r.stdout, /^answer: "(yes|no)"$/m);
    assert.match(r.stdout, /gd_detect\(prompt="red box"\) -> \d+ box/);
    assert.match(r.stdout, /box_depth = depth\(bbox=\[[\d,]+\]\) -> \d+(\.\d+)? m {2}\(/, 'depth carries its unit');
    assert.match(r.stderr, /using the models in .*examples[/\\]models \(the models\/ folder beside the document\)/);
    assert.ok(existsSync(join(copy, '.valor', 'runs')), 'the run record is written under the working folder');
  });

  it('a models/ folder in the working folder is used for a document elsewhere; --html carries the real depth map', async () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'valor-doc-'));
    try {
      cpSync(join(copy, 'examples', 'desk.vprog'), join(elsewhere, 'desk.vprog'));
      cpSync(join(copy, 'examples', 'desk.png'), join(elsewhere, 'desk.png'));
      const html = join(elsewhere, 'view.html');
      const r = await runCli(['run', join(elsewhere, 'desk.vprog'), '--no-record', '--html', html], { cwd: join(copy, 'examples'), env: freshEnv(), timeoutMs: 180_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /the models\/ folder in the working folder/);
      // The depth map of the real (tiny) depth model, at the image's size, travels in the page.
      assert.match(readFileSync(html, 'utf8'), /"depthMap":\{"width":320,"height":240,/);
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  it('without any models, the error names every way out, including the example models', async () => {
    const bare = mkdtempSync(join(tmpdir(), 'valor-bare-'));
    try {
      cpSync(join(copy, 'examples', 'desk.vprog'), join(bare, 'desk.vprog'));
      cpSync(join(copy, 'examples', 'desk.png'), join(bare, 'desk.png'));
      const r = await runCli(['run', 'desk.vprog', '--no-record'], { cwd: bare, env: freshEnv(), timeoutMs: 180_000 });
      assert.equal(r.code, 2, 'missing models are a configuration problem (exit 2)');
      assert.match(r.stderr, /^valor run: configuration: /m);
      const text = r.stdout + r.stderr;
      assert.match(text, /valor models pull/);
      assert.match(text, /--models DIR or VALOR_MODELS_DIR/);
      assert.match(text, /models\/ folder beside the \.vprog document or in the working folder/);
      assert.match(text, /small random-weight test models: VALOR_MODELS_DIR=\S*examples[/\\]models/);
    } finally {
      rmSync(bare, { recursive: true, force: true });
    }
  });
});
