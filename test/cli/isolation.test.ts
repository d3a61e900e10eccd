/**
 * The isolation mode from the command line: `valor run` records and prints the mode in force,
 * `--isolation process` is the opt-out, and a bad value is a usage error (exit 2) before anything
 * starts. The same flag exists on every command that runs programs.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RunRecord } from '../../src/protocol/run.js';
import { cleanEnv, REPO, runCli } from '../helpers/cli.js';
import { startProtocolToolServer, type ProtocolToolServer } from '../helpers/protocolToolServer.js';

const IMAGE = join(REPO, 'test', 'fixtures', 'images', 'scene-320x240.png');
const DOC = `# image: scene.png
# query: How many cups?
<plan>
1. Count the cups.
</plan>
<answer>
\`\`\`python
cups = gd_detect(img_pth, "cup")
final_answer = len(cups)
\`\`\`
</answer>
`;

describe('valor run --isolation', () => {
  let tools: ProtocolToolServer;
  let work: string;
  before(async () => {
    tools = await startProtocolToolServer({ objects: [{ label: 'cup', bbox: [10, 10, 50, 50], score: 0.9, depth: 1 }] });
    work = await mkdtemp(join(tmpdir(), 'valor-iso-'));
    await copyFile(IMAGE, join(work, 'scene.png'));
    await writeFile(join(work, 'q.vprog'), DOC);
  });
  after(async () => {
    await tools.close();
    await rm(work, { recursive: true, force: true });
  });
  const env = (extra: Record<string, string> = {}) => cleanEnv({ VALOR_TOOLS_URL: tools.url, VALOR_TOOLS_TOKEN: tools.token, VALOR_NO_CACHE: '1', ...extra });

  it('records and prints the sandbox by default, and process when asked', async () => {
    const r = await runCli(['run', 'q.vprog', '--json'], { env: env(), cwd: work });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.final_answer, 1);
    assert.equal(out.isolation, 'sandbox');
    assert.equal(RunRecord.parse(JSON.parse(await readFile(out.record, 'utf8'))).isolation, 'sandbox');

    const human = await runCli(['run', 'q.vprog', '--isolation', 'process', '--no-record'], { env: env(), cwd: work });
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^isolation: process \(no OS sandbox: see docs\/threat-model\.md\)$/m);

    const viaEnv = await runCli(['run', 'q.vprog', '--json', '--no-record'], { env: env({ VALOR_ISOLATION: 'process' }), cwd: work });
    assert.equal(JSON.parse(viaEnv.stdout).isolation, 'process');
  });

  it('a bad mode is a usage error naming the choices, on every command that runs programs', async () => {
    const r = await runCli(['run', 'q.vprog', '--isolation', 'none'], { env: env(), cwd: work });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--isolation must be "sandbox" or "process", got "none"/);
    const e = await runCli(['run', 'q.vprog'], { env: env({ VALOR_ISOLATION: 'off' }), cwd: work });
    assert.equal(e.code, 2);
    assert.match(e.stderr, /VALOR_ISOLATION must be "sandbox" or "process", got "off"/);
    for (const cmd of ['run', 'score', 'eval', 'serve-rewards']) {
      const help = await runCli([cmd, '--help'], { env: env(), cwd: work });
      assert.match(help.stdout + help.stderr, /--isolation MODE/, cmd);
    }
  });
});
