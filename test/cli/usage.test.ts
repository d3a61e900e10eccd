/**
 * What `valor` says and returns when the command line or the set-up is wrong: usage hints with
 * a "did you mean" for near misses, help for command groups, exit 2 (configuration) for a tool
 * server that refuses the token or cannot be reached, and image-not-found messages that say
 * where a relative path was resolved from.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { closedPortUrl } from '../helpers/closedPort.js';
import { cleanEnv, REPO, runCli } from '../helpers/cli.js';
import { startProtocolToolServer, type ProtocolToolServer } from '../helpers/protocolToolServer.js';

const DOC = `# image: desk.png
# query: Is there a box?

<plan>
1. Detect boxes.
2. Answer yes if any.
</plan>
<answer>
boxes = gd_detect(img_pth, "box")
final_answer = "yes" if boxes else "no"
</answer>
`;

describe('valor usage and configuration errors', () => {
  let work: string;
  let tools: ProtocolToolServer;
  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'valor-usage-'));
    copyFileSync(join(REPO, 'examples', 'desk.png'), join(work, 'desk.png'));
    writeFileSync(join(work, 'doc.vprog'), DOC);
    tools = await startProtocolToolServer({ objects: [{ label: 'box', bbox: [10, 10, 50, 50], score: 0.9 }] });
  });
  after(async () => {
    await tools.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('an unknown flag prints the command usage and a did-you-mean, not the parser text', async () => {
    const r = await runCli(['run', 'doc.vprog', '--no-recrod'], { cwd: work });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^valor run: unknown option '--no-recrod' \(did you mean '--no-record'\?\)$/m);
    assert.match(r.stderr, /Usage:\n {2}valor run --image IMG --query TEXT/);
    assert.doesNotMatch(r.stderr, /positional argument starting with/);
  });

  it('a flag that is far from every option gets no guess', async () => {
    const r = await runCli(['score', 'doc.vprog', '--zzzzzzzz'], { cwd: work });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown option '--zzzzzzzz'\n/);
  });

  it('a missing value and a value on a switch are named', async () => {
    const missing = await runCli(['eval', 'x.jsonl', '--out'], { cwd: work });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /valor eval: --out needs a value/);
    const sw = await runCli(['run', 'doc.vprog', '--json=yes'], { cwd: work });
    assert.equal(sw.code, 2);
    assert.match(sw.stderr, /--json is a switch and takes no value/);
  });

  it('valor audit --help lists the audit commands; a typo of a command gets a guess', async () => {
    const r = await runCli(['audit', '--help'], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /audit stats/);
    assert.match(r.stdout, /audit override/);
    const bare = await runCli(['export'], { cwd: work });
    assert.equal(bare.code, 2);
    assert.match(bare.stderr, /export odvg[\s\S]*export verl/);
    const typo = await runCli(['verify-box'], { cwd: work });
    assert.equal(typo.code, 2);
    assert.match(typo.stderr, /did you mean 'verify-boxes'\?/);
  });

  it('valor audit override on a .vprog without its question says which header line to add (the one core wording)', async () => {
    writeFileSync(join(work, 'noquery.vprog'), DOC.replace(/^# query:.*\n/m, ''));
    const r = await runCli(['audit', 'override', '--kind', 'reward', '--target', 'spatial', '--value', '1', '--vprog', 'noquery.vprog'], { cwd: work });
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /noquery\.vprog has no '# query: <question>' line: add it at the top, the question on one line/);
  });

  it('a wrong tool-server token is a configuration error (exit 2)', async () => {
    const r = await runCli(['run', 'doc.vprog', '--no-record'], { cwd: work, env: cleanEnv({ VALOR_TOOLS_URL: tools.url, VALOR_TOOLS_TOKEN: 'not-the-token' }) });
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /valor run: configuration: .*refused the token.*VALOR_TOOLS_TOKEN/);
  });

  it('an unreachable tool server is a configuration error (exit 2)', async () => {
    const url = await closedPortUrl();
    const r = await runCli(['run', 'doc.vprog', '--no-record'], { cwd: work, env: cleanEnv({ VALOR_TOOLS_URL: url, VALOR_TOOLS_TOKEN: 'whatever-token' }) });
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /valor run: configuration: cannot reach the tool server at/);
  });

  it('the right token still answers (exit 0)', async () => {
    const r = await runCli(['run', 'doc.vprog', '--no-record'], { cwd: work, env: cleanEnv({ VALOR_TOOLS_URL: tools.url, VALOR_TOOLS_TOKEN: tools.token }) });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /answer: "yes"/);
  });

  it('a missing image named by a .vprog header is said to be resolved from the document folder', async () => {
    mkdirSync(join(work, 'sub'), { recursive: true });
    writeFileSync(join(work, 'sub', 'lost.vprog'), DOC.replace('desk.png', 'gone.png'));
    const r = await runCli(['run', 'sub/lost.vprog', '--no-record'], { cwd: work, env: cleanEnv({ VALOR_TOOLS_URL: tools.url, VALOR_TOOLS_TOKEN: tools.token }) });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /image not found: .*sub[/\\]gone\.png \(named by the '# image: gone\.png' header of sub\/lost\.vprog, resolved from the document's folder .*sub\)/);
    assert.doesNotMatch(r.stderr, /working folder|CWD/i);
  });

  it('a missing --image is said to be resolved from the working folder', async () => {
    const r = await runCli(['run', '--image', 'nope.png', '--query', 'q?'], { cwd: work, env: cleanEnv({ VALOR_LLM_BASE_URL: 'http://127.0.0.1:9/v1', VALOR_LLM_MODEL: 'm' }) });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /image not found: .*nope\.png \(a relative path is resolved from the working folder /);
  });
});
