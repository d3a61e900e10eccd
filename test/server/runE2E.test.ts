// `valor run FILE.vprog --json` against `valor serve` with the fixture models (the issue's
// end-to-end check): the built CLI twice, a real python3 program, real ONNX models, and VQA
// behind the local OpenAI-compatible test server. Also the embedded default: no VALOR_TOOLS_URL.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { parseReadyLine } from '../../src/protocol/tools.js';
import { CLI, cleanEnv, ensureBuilt, runCli } from '../helpers/cli.js';
import { startOpenAIServer, type OpenAIServer } from '../helpers/openaiServer.js';
import { FIXTURES } from '../helpers/toolServer.js';

const MODELS = join(FIXTURES, 'models');

const PROGRAM_DOC = `# image: scene.jpg
# query: How far away is the mug, and what colour is it?

<plan>
1. Detect mugs at VALOR's thresholds, and ask for candidates too.
2. If there is none, answer with vqa on the whole image.
3. Otherwise read the depth of the first mug and ask its colour.
</plan>
<answer>
mugs = gd_detect(img_pth, "mug, laptop")
if not mugs:
    final_answer = vqa(img_pth, None, "What colour is the mug?")
    return
d = depth(img_pth, mugs[0]["bbox"])
colour = vqa(img_pth, mugs[0]["bbox"], "What colour is it?")
final_answer = f"{colour} {d:.3f}"
</answer>
`;

interface RunJson {
  final_answer: unknown;
  error: unknown;
  trace: Array<{ tool: string; line: number | null; result: unknown }>;
}

describe('valor run against valor serve', () => {
  let vlm: OpenAIServer;
  let serve: ChildProcess;
  let url = '';
  let token = '';
  let work: string;

  before(async () => {
    ensureBuilt();
    work = mkdtempSync(join(tmpdir(), 'valor-e2e-'));
    copyFileSync(join(FIXTURES, 'images', 'scene-640x480.jpg'), join(work, 'scene.jpg'));
    writeFileSync(join(work, 'mug.vprog'), PROGRAM_DOC);
    vlm = await startOpenAIServer();
    vlm.setHandler(() => ({ text: 'Red.' }));
    serve = spawn(process.execPath, [CLI, 'serve', '--detector', join(MODELS, 'grounding-dino-tiny'), '--depth', join(MODELS, 'depth-anything-tiny')], {
      env: cleanEnv({ VALOR_VLM_BASE_URL: vlm.url, VALOR_VLM_MODEL: 'vision-test' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    serve.stderr?.resume();
    const line = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('valor serve printed no ready line')), 60_000);
      createInterface({ input: serve.stdout! }).once('line', (l) => {
        clearTimeout(t);
        resolve(l);
      });
    });
    const ready = parseReadyLine(line);
    assert.ok(ready, line);
    url = ready.url;
    token = ready.token;
  });

  after(async () => {
    if (serve && serve.exitCode === null) {
      const exited = new Promise((r) => serve.once('exit', r));
      serve.kill('SIGTERM');
      await exited;
    }
    await vlm?.close();
    rmSync(work, { recursive: true, force: true });
  });

  const check = (out: RunJson): void => {
    assert.equal(out.error, null, JSON.stringify(out.error));
    const tools = out.trace.map((t) => t.tool);
    assert.equal(tools[0], 'gd_detect');
    const dets = out.trace[0]?.result as Array<{ bbox: number[]; label: string; score: number }>;
    for (const d of dets) {
      assert.ok(['mug', 'laptop'].includes(d.label));
      assert.ok(d.bbox.every(Number.isInteger) && d.score > 0.35);
    }
    if (dets.length === 0) {
      assert.deepEqual(tools, ['gd_detect', 'vqa']);
      assert.equal(out.final_answer, 'red');
    } else {
      assert.deepEqual(tools, ['gd_detect', 'depth', 'vqa']);
      assert.ok(typeof out.trace[1]?.result === 'number' && (out.trace[1]?.result as number) > 0);
      assert.match(String(out.final_answer), /^red \d+\.\d{3}$/);
    }
  };

  it('runs a .vprog with the tools of a running valor serve', async () => {
    const r = await runCli(['run', join(work, 'mug.vprog'), '--json', '--no-record'], {
      env: cleanEnv({ VALOR_TOOLS_URL: url, VALOR_TOOLS_TOKEN: token }),
      cwd: work,
      timeoutMs: 120_000,
    });
    assert.equal(r.code, 0, r.stderr);
    check(JSON.parse(r.stdout) as RunJson);
  });

  it('a recorded run replays to the same answer with no tool server, and its what-if report comes from the recorded candidates', async () => {
    const runs = join(work, 'runs');
    const r = await runCli(['run', join(work, 'mug.vprog'), '--json', '--out', runs], {
      env: cleanEnv({ VALOR_TOOLS_URL: url, VALOR_TOOLS_TOKEN: token }),
      cwd: work,
      timeoutMs: 120_000,
    });
    assert.equal(r.code, 0, r.stderr);
    const recorded = JSON.parse(r.stdout) as RunJson & { record: string; trace: Array<{ detail?: { candidates?: unknown[] } }> };
    assert.ok(Array.isArray(recorded.trace[0]?.detail?.candidates), 'the tool server recorded candidates');
    // Nothing listens on port 9: a replay that reached for a tool server would fail.
    const rp = await runCli(['run', '--replay', recorded.record, '--sensitivity', '--json', '--no-record'], {
      env: cleanEnv({ VALOR_TOOLS_URL: 'http://127.0.0.1:9' }),
      cwd: work,
      timeoutMs: 120_000,
    });
    assert.equal(rp.code, 0, rp.stderr);
    const replayed = JSON.parse(rp.stdout) as RunJson & { replay: { missing: unknown[] }; sensitivity: { detect: Array<{ threshold: number; stable: { from: number; to: number } | null }> } };
    assert.deepEqual(replayed.final_answer, recorded.final_answer);
    assert.deepEqual(replayed.replay.missing, []);
    const d = replayed.sensitivity.detect[0]!;
    assert.equal(d.threshold, 0.35);
    assert.ok(d.stable && d.stable.from <= 0.35 && 0.35 < d.stable.to, JSON.stringify(d));
  });

  it('starts its own tool server when VALOR_TOOLS_URL is unset', async () => {
    const models = mkdtempSync(join(tmpdir(), 'valor-e2e-models-'));
    try {
      // The embedded server reads --models DIR/{grounding-dino,depth}.
      cpSync(join(MODELS, 'grounding-dino-tiny'), join(models, 'grounding-dino'), { recursive: true });
      cpSync(join(MODELS, 'depth-anything-tiny'), join(models, 'depth'), { recursive: true });
      const r = await runCli(['run', join(work, 'mug.vprog'), '--json', '--no-record'], {
        env: cleanEnv({ VALOR_MODELS_DIR: models, VALOR_VLM_BASE_URL: vlm.url, VALOR_VLM_MODEL: 'vision-test' }),
        cwd: work,
        timeoutMs: 120_000,
      });
      assert.equal(r.code, 0, r.stderr);
      check(JSON.parse(r.stdout) as RunJson);
    } finally {
      rmSync(models, { recursive: true, force: true });
    }
  });
});
