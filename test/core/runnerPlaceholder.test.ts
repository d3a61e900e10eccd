// The syntax reward's placeholder tools: their answers, and that a program calling the tools is
// accepted or refused the same way with placeholders and with real (here: scripted) tools,
// because both go through the same Python functions (docs/valor.md §7: the reference's placeholders
// took other keyword names than the real tools).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PLACEHOLDER_ANSWERS, PlaceholderTools } from '../../src/core/placeholderTools.js';
import { TOOL_PARAMS } from '../../src/protocol/tools.js';
import { ProgramRunner } from '../../src/core/runner/index.js';
import { ToolError, type BBox, type Tools } from '../../src/core/tools.js';
import { ScriptedTools } from '../helpers/scriptedTools.js';

const IMG = '/images/street.jpg';
let runner: ProgramRunner;
before(() => {
  runner = new ProgramRunner({ timeoutMs: 30_000 });
});
after(async () => {
  await runner.dispose();
});

function both(program: string) {
  const real = new ScriptedTools({
    gd_detect: (_i, prompt) => prompt.split(',').map((p, i) => ({ bbox: [5 + 50 * i, 5, 40 + 50 * i, 60] as BBox, label: p.trim(), score: 0.7 })),
    depth: () => 4.2,
    vqa: () => 'blue',
  });
  const run = (tools: Tools) => runner.run({ program, imagePath: IMG, tools });
  return Promise.all([run(real), run(new PlaceholderTools())]);
}

describe('PlaceholderTools', () => {
  test('gd_detect gives one labelled box per comma-separated phrase', async () => {
    const p = new PlaceholderTools();
    const { value } = await p.gd_detect(IMG, ' red car,person , ,traffic light');
    assert.deepEqual(value.map((d) => d.label), ['red car', 'person', 'traffic light']);
    for (const d of value) {
      assert.equal(d.score, 1);
      const [x1, y1, x2, y2] = d.bbox;
      assert.ok(x1 >= 0 && y1 >= 0 && x2 > x1 && y2 > y1 && x2 <= PLACEHOLDER_ANSWERS.image.width && y2 <= PLACEHOLDER_ANSWERS.image.height);
    }
    assert.ok(value[0]!.bbox[0] < value[1]!.bbox[0], 'phrases are laid out left to right');
    assert.deepEqual((await p.gd_detect(IMG, '')).value, []);
  });

  test('depth checks the box and answers a constant; vqa answers a fixed string', async () => {
    const p = new PlaceholderTools();
    assert.equal((await p.depth(IMG, [1, 2, 3, 4])).value, PLACEHOLDER_ANSWERS.depth);
    for (const bad of [[1, 2, 3], [1, 2, 3, 'x'], null, { bbox: [1, 2, 3, 4] }, [1, 2, 3, Number.NaN]]) {
      await assert.rejects(p.depth(IMG, bad as unknown as BBox), (e: unknown) => e instanceof ToolError && /bbox must be a list of 4 numbers/.test(e.message));
    }
    assert.equal((await p.vqa(IMG, null, 'What colour?')).value, PLACEHOLDER_ANSWERS.vqa);
    assert.equal((await p.vqa(IMG, [0, 0, 5, 5], 'What colour?')).value, PLACEHOLDER_ANSWERS.vqa);
    await assert.rejects(p.vqa(IMG, [0, 0] as unknown as BBox, 'q'), ToolError);
  });
});

describe('same signatures for placeholder and real runs', () => {
  test("the Python tools take VALOR's parameter names", () => {
    assert.deepEqual(TOOL_PARAMS, { gd_detect: ['img_pth', 'prompt'], depth: ['img_pth', 'bbox'], vqa: ['img_pth', 'bbox', 'prompt'] });
  });

  test('every tool called with all its parameters by keyword passes with both', async () => {
    const kw = (tool: keyof typeof TOOL_PARAMS, values: Record<string, string>) => `${tool}(${TOOL_PARAMS[tool].map((p) => `${p}=${values[p]}`).join(', ')})`;
    const program = [
      `cars = ${kw('gd_detect', { img_pth: 'img_pth', prompt: '"car, person"' })}`,
      `z = ${kw('depth', { img_pth: 'img_pth', bbox: 'cars[0]["bbox"]' })}`,
      `c = ${kw('vqa', { img_pth: 'img_pth', bbox: 'cars[1]["bbox"]', prompt: '"What colour?"' })}`,
      `w = ${kw('vqa', { img_pth: 'img_pth', bbox: 'None', prompt: '"Is it day?"' })}`,
      'final_answer = [len(cars), z > 0, c, w]',
    ].join('\n');
    const [real, placeholder] = await both(program);
    for (const o of [real, placeholder]) {
      assert.equal(o.error, null);
      assert.equal(o.ok, true);
      assert.equal(o.trace.length, 4);
    }
    assert.deepEqual(real.final_answer, [2, true, 'blue', 'blue']);
    assert.deepEqual(placeholder.final_answer, [2, true, PLACEHOLDER_ANSWERS.vqa, PLACEHOLDER_ANSWERS.vqa]);
    assert.deepEqual(real.trace.map((e) => Object.keys(e.args)), placeholder.trace.map((e) => Object.keys(e.args)));
  });

  test('positional calls pass with both', async () => {
    const [real, placeholder] = await both('d = gd_detect(img_pth, "bus")\nz = depth(img_pth, d[0]["bbox"])\nfinal_answer = vqa(img_pth, d[0]["bbox"], "colour?")');
    assert.equal(real.ok, true);
    assert.equal(placeholder.ok, true);
  });

  for (const [what, program, line] of [
    ['a wrong keyword', 'x = 1\nd = gd_detect(img_pth, text="car")\nfinal_answer = d', 2],
    ['the reference placeholders\' keyword', 'd = gd_detect(img_pth, "car")\nz = depth(img_pth, box=d[0]["bbox"])\nfinal_answer = z', 2],
    ['a missing argument', 'final_answer = vqa(img_pth, "What is it?")', 1],
    ['a whole detection as the box', 'd = gd_detect(img_pth, "car")\nfinal_answer = depth(img_pth, d[0])', 2],
    ['three numbers as the box', 'final_answer = depth(img_pth, [1, 2, 3])', 1],
  ] as const) {
    test(`${what} fails the same way with both`, async () => {
      const [real, placeholder] = await both(program);
      for (const o of [real, placeholder]) {
        assert.equal(o.ok, false);
        assert.equal(o.error?.type, 'TypeError');
        assert.equal(o.error?.line, line);
      }
      assert.equal(real.error?.message, placeholder.error?.message);
    });
  }
});
