/**
 * `valor run` end to end: the built CLI as a child process, the generator behind the local
 * OpenAI-compatible test server, the tools behind a protocol-speaking HTTP tool server, and the
 * program in a real python3 child.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RunRecord } from '../../src/protocol/run.js';
import { cleanEnv, REPO, runCli } from '../helpers/cli.js';
import { startOpenAIServer, type OpenAIServer } from '../helpers/openaiServer.js';
import { startProtocolToolServer, type ProtocolToolServer } from '../helpers/protocolToolServer.js';

const IMAGE = join(REPO, 'test', 'fixtures', 'images', 'scene-320x240.png');

const LEFT_OF_REPLY = `<plan>
1. Detect the mug and the laptop.
2. If either is missing, ask vqa about the whole image.
3. Compare the x centres of the two boxes.
</plan>
<answer>
\`\`\`python
mugs = gd_detect(img_pth, "mug")
laptops = gd_detect(img_pth, "laptop")
if not mugs or not laptops:
    final_answer = vqa(img_pth, None, "Is the mug left of the laptop? yes or no")
    return
m = mugs[0]["bbox"]
l = laptops[0]["bbox"]
d = depth(img_pth, m)
final_answer = "yes" if (m[0] + m[2]) / 2 < (l[0] + l[2]) / 2 else "no"
\`\`\`
</answer>`;

describe('valor run', () => {
  let llm: OpenAIServer;
  let tools: ProtocolToolServer;
  let work: string;

  before(async () => {
    llm = await startOpenAIServer();
    tools = await startProtocolToolServer({
      objects: [
        { label: 'mug', bbox: [20, 100, 60, 140], score: 0.8, depth: 1.5 },
        { label: 'laptop', bbox: [150, 80, 300, 200], score: 0.9, depth: 2.0 },
        { label: 'mug', bbox: [200, 10, 220, 30], score: 0.2 },
      ],
      vqa: () => 'maybe',
    });
    work = await mkdtemp(join(tmpdir(), 'valor-run-'));
    await copyFile(IMAGE, join(work, 'kitchen.png'));
  });
  after(async () => {
    await llm.close();
    await tools.close();
    await rm(work, { recursive: true, force: true });
  });

  const env = (extra: Record<string, string> = {}) =>
    cleanEnv({
      VALOR_LLM_BASE_URL: llm.url,
      VALOR_LLM_MODEL: 'valor-policy',
      VALOR_TOOLS_URL: tools.url,
      VALOR_TOOLS_TOKEN: tools.token,
      VALOR_NO_CACHE: '1',
      ...extra,
    });

  it('generates, runs and records a program (--json)', async () => {
    llm.script({ text: LEFT_OF_REPLY });
    const before = llm.requests.length;
    const uploadsBefore = tools.uploads;
    const r = await runCli(['run', '--image', 'kitchen.png', '--query', 'Is the mug left of the laptop?', '--json'], { env: env(), cwd: work });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.final_answer, 'yes');
    assert.equal(out.error, null);
    assert.equal(out.format, 1);
    assert.match(out.plan, /Compare the x centres/);
    assert.doesNotMatch(out.program, /```/, 'code fences are stripped');
    assert.deepEqual(
      out.trace.map((t: { tool: string; line: number }) => [t.tool, t.line]),
      [['gd_detect', 1], ['gd_detect', 2], ['depth', 8]],
    );
    assert.deepEqual(out.trace[0].args.prompt, 'mug');
    assert.equal(out.trace[0].result.length, 1, 'the low-score mug is below the 0.35 box threshold');
    assert.deepEqual(out.trace[0].result[0].bbox, [20, 100, 60, 140]);
    assert.equal(out.trace[2].result, 1.5);

    // The generator got VALOR's prompt as one user message with the sampling defaults.
    const req = llm.requests[before]!;
    assert.equal(req.json.model, 'valor-policy');
    assert.equal(req.json.temperature, 0.7);
    assert.equal(req.json.top_p, 0.8);
    assert.equal(req.json.top_k, 20);
    const messages = req.json.messages as { role: string; content: string }[];
    assert.equal(messages.length, 1);
    assert.equal(messages[0]!.role, 'user');
    assert.match(messages[0]!.content, /Question: Is the mug left of the laptop\?$/);

    // The image went over once, then by hash.
    assert.equal(tools.uploads - uploadsBefore, 1);

    // The run record is on disk, complete and valid.
    const rec = RunRecord.parse(JSON.parse(await readFile(out.record, 'utf8')));
    assert.equal(rec.final_answer, 'yes');
    assert.equal(rec.reply, LEFT_OF_REPLY);
    assert.equal(rec.generator?.model, 'valor-policy');
    assert.equal(rec.image.width, 320);
    assert.match(rec.image.sha256, /^[0-9a-f]{64}$/);
    assert.ok(rec.trace[0]!.detail?.candidates, 'candidates for the threshold slider are recorded');
    assert.deepEqual(out.trace[0].detail.candidates, rec.trace[0]!.detail!.candidates, '--json carries the detail too');
    assert.equal(out.trace[0].variable, 'mugs');
    assert.equal(rec.trace[0]!.detail!.candidates!.length, 2);
    assert.ok(out.record.startsWith(join(work, '.valor', 'runs')));
  });

  it('runs the program of a .vprog document without generating', async () => {
    const doc = join(work, 'mug.vprog');
    await writeFile(doc, `# image: kitchen.png\r\n# query: Is the mug left of the laptop?\r\n\r\n${LEFT_OF_REPLY.replace(/\n/g, '\r\n')}\r\n`);
    const before = llm.requests.length;
    const r = await runCli(['run', doc, '--json', '--out', join(work, 'runs')], { env: env(), cwd: REPO });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.final_answer, 'yes');
    assert.equal(llm.requests.length, before, 'no generation request for a .vprog');
    const files = await readdir(join(work, 'runs'));
    assert.equal(files.filter((f) => f.endsWith('.json')).length, 1);
  });

  it('prints plan, calls and answer for people', async () => {
    const doc = join(work, 'human.vprog');
    await writeFile(doc, `# image: kitchen.png\n# query: q\n\n${LEFT_OF_REPLY}\n`);
    const r = await runCli(['run', doc, '--no-record'], { env: env() });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /plan:\n\s+1\. Detect the mug/);
    assert.match(r.stdout, /L1\s+mugs = gd_detect\(prompt="mug"\) -> 1 box/);
    assert.match(r.stdout, /L8\s+d = depth\(bbox=\[20,100,60,140\]\) -> 1\.5/);
    assert.match(r.stdout, /answer: "yes"/);
    assert.doesNotMatch(r.stdout, /record:/);
  });

  it('exits 1 with the program line when the program fails', async () => {
    const doc = join(work, 'bad.vprog');
    await writeFile(doc, `# image: kitchen.png\n# query: q\n\n<plan>1. x</plan>\n<answer>\nboxes = gd_detect(img_pth, "mug")\nx = boxes[5]["bbox"]\nfinal_answer = x\n</answer>\n`);
    const r = await runCli(['run', doc, '--json', '--no-record'], { env: env() });
    assert.equal(r.code, 1);
    const out = JSON.parse(r.stdout);
    assert.equal(out.error.type, 'IndexError');
    assert.equal(out.error.line, 2);
    assert.equal(out.final_answer, null);
  });

  it('exits 1 with NoProgram for a reply without tags', async () => {
    llm.script({ text: 'I think the mug is on the left.' });
    const r = await runCli(['run', '--image', 'kitchen.png', '--query', 'q', '--json', '--no-record'], { env: env(), cwd: work });
    assert.equal(r.code, 1);
    const out = JSON.parse(r.stdout);
    assert.equal(out.format, 0);
    assert.equal(out.error.type, 'NoProgram');
    assert.ok(out.format_diagnostics.length > 0);
  });

  it('recovers from an endpoint that answers 429 three times', async () => {
    llm.script(
      { status: 429, headers: { 'retry-after': '0' } },
      { status: 429, headers: { 'retry-after': '0' } },
      { status: 429, headers: { 'retry-after': '0' } },
      { text: LEFT_OF_REPLY },
    );
    const r = await runCli(['run', '--image', 'kitchen.png', '--query', 'q', '--json', '--no-record'], { env: env(), cwd: work });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).final_answer, 'yes');
  });

  it('gives a clear error, not a hang, when the endpoint never answers', async () => {
    llm.script({ hang: true }, { hang: true }, { hang: true }, { hang: true }, { hang: true });
    const r = await runCli(['run', '--image', 'kitchen.png', '--query', 'q', '--no-record'], {
      env: env({ VALOR_LLM_TIMEOUT: '1' }),
      cwd: work,
      timeoutMs: 90000,
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /generator failed: .*(time|timed out)/i);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });

  it('exits 2 naming what to set when no endpoint is configured', async () => {
    const r = await runCli(['run', '--image', 'kitchen.png', '--query', 'q'], {
      env: cleanEnv({ VALOR_TOOLS_URL: tools.url, VALOR_TOOLS_TOKEN: tools.token }),
      cwd: work,
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /VALOR_LLM_BASE_URL and VALOR_LLM_MODEL/);
  });

  it('exits 2 for a missing image and for a file that is not an image', async () => {
    const missing = await runCli(['run', '--image', 'nope.png', '--query', 'q'], { env: env(), cwd: work });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /image not found: .*nope\.png/);
    const notImage = await runCli(['run', '--image', join(REPO, 'test', 'fixtures', 'images', 'not-an-image.jpg'), '--query', 'q'], { env: env(), cwd: work });
    assert.equal(notImage.code, 2);
    assert.match(notImage.stderr, /not a readable image/);
  });

  it('exits 2 for a .vprog without header', async () => {
    const doc = join(work, 'noheader.vprog');
    await writeFile(doc, LEFT_OF_REPLY);
    const r = await runCli(['run', doc], { env: env() });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /# image: <path>/);
  });
});
