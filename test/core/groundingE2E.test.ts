// The grounding pipeline end to end: `valor verify-boxes` (the command, in process) against the
// real tool server with the fixture detector and the OpenAI-compatible test server as the VLM,
// then a human override, `valor export odvg`, and the export re-read and validated.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { auditOverrideCommand } from '../../src/cli/commands/audit.js';
import { exportOdvgCommand } from '../../src/cli/commands/export.js';
import { verifyBoxesCommand } from '../../src/cli/commands/verifyBoxes.js';
import { validateOdvg } from '../../src/core/exports/odvg.js';
import { createToolClient } from '../../src/core/toolClient.js';
import { GroundingResult } from '../../src/protocol/run.js';
import { cliIO } from '../helpers/cliIO.js';
import { startOpenAIServer, type OpenAIServer, type RecordedRequest } from '../helpers/openaiServer.js';
import { FIXTURES, startTestToolServer, type TestToolServer } from '../helpers/toolServer.js';

const IMAGE = join(FIXTURES, 'images', 'scene-640x480.jpg');
const PROMPT = 'mug, laptop';

function listed(req: RecordedRequest): number[] {
  const parts = req.json.messages[1].content as Array<{ type: string; text?: string }>;
  return [...parts.map((p) => p.text ?? '').join('\n').matchAll(/^(\d+): /gm)].map((m) => Number(m[1]));
}

describe('verify-boxes -> override -> export odvg', () => {
  let tools: TestToolServer;
  let vlm: OpenAIServer;
  let work: string;
  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'valor-grounding-e2e-'));
    tools = await startTestToolServer({ args: ['--detector', join(FIXTURES, 'models', 'grounding-dino-tiny'), '--depth', join(FIXTURES, 'models', 'depth-anything-tiny')] });
    vlm = await startOpenAIServer();
    // Coarse: keep everything listed. Crop: keep. Dedup: keep the first box, the rest duplicate it.
    vlm.setHandler((req) => {
      const sys: string = req.json.messages[0].content;
      const ns = listed(req);
      if (sys.startsWith('You review object detections')) return { text: JSON.stringify({ keep: ns, drop: [] }) };
      if (sys.startsWith('You check one detection')) return { text: JSON.stringify({ keep: true, reason: 'a clear object' }) };
      return { text: JSON.stringify({ keep: [ns[0]], drop: ns.slice(1).map((index) => ({ index, duplicate_of: ns[0], note: 'same object' })) }) };
    });
  });
  after(async () => {
    await vlm?.close();
    await tools?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  test('every candidate from the real detector gets a fate; the kept boxes export and validate', async () => {
    const expected = (await createToolClient({ url: tools.url, token: tools.token }).detect(IMAGE, PROMPT, { box_threshold: 0.1, text_threshold: 0.1 })).detections;
    assert.ok(expected.length > 0, 'the fixture detector finds candidates at 0.1');
    const env = { VALOR_VLM_BASE_URL: vlm.url, VALOR_VLM_MODEL: 'vlm-test', VALOR_NO_CACHE: '1', VALOR_TOOLS_URL: tools.url, VALOR_TOOLS_TOKEN: tools.token };
    const io = cliIO(env, work);
    const out = join(work, 'grounding.json');
    const code = await verifyBoxesCommand.run(['--image', IMAGE, '--prompt', PROMPT, '--json', '--out', out], io);
    assert.equal(code, 0, io.err.text);
    const result = GroundingResult.parse(JSON.parse(io.out.text));
    assert.deepEqual(result.boxes.map((b) => [b.bbox, b.label, b.score]), expected.map((d) => [d.bbox, d.label, d.score]));
    const coarse = vlm.chatRequests().find((r) => String(r.json.messages[0].content).startsWith('You review'));
    assert.deepEqual(listed(coarse!), expected.map((_, i) => i + 1), 'the verifier sees boxes numbered from 1');
    // Per label, exactly one survivor remains after deduplication.
    const labels = [...new Set(expected.map((d) => d.label))];
    for (const l of labels) assert.equal(result.boxes.filter((b) => b.label === l && b.kept).length, 1, l);
    for (const b of result.boxes.filter((x) => !x.kept)) {
      assert.equal(b.dropped_at, 'dedup');
      assert.match(b.reason ?? '', /duplicate of box \d+/);
    }

    // A person drops one kept box; the export leaves it out.
    const victim = result.boxes.find((b) => b.kept)!;
    const audit = join(work, 'audits.jsonl');
    const o = cliIO({}, work);
    assert.equal(
      await auditOverrideCommand.run(['--kind', 'box', '--image', IMAGE, '--prompt', PROMPT, '--target', String(victim.index), '--value', '0', '--machine', '1', '--note', 'not a real object', '--audit', audit], o),
      0,
      o.err.text,
    );
    const e = cliIO({}, work);
    const odvg = join(work, 'odvg');
    assert.equal(await exportOdvgCommand.run(['--grounding', out, '--out', odvg, '--audit', audit, '--image-root', FIXTURES], e), 0, e.err.text);
    const v = await validateOdvg(odvg);
    assert.deepEqual(v.problems, []);
    assert.equal(v.records.length, 1);
    assert.equal(v.records[0]!.filename, 'images/scene-640x480.jpg');
    assert.equal(v.records[0]!.detection.instances.length, labels.length - 1);
    assert.ok(!v.records[0]!.detection.instances.some((i) => i.bbox.join() === victim.bbox.join() && i.category === victim.label));
    const again = cliIO({}, work);
    assert.equal(await exportOdvgCommand.run(['--grounding', out, '--out', odvg, '--audit', audit, '--image-root', FIXTURES], again), 0);
    assert.match(again.out.text, /nothing new, nothing written/);
  });
});
