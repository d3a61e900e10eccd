// `valor export verl` from a questions file, in-process: images found through --images and
// checked, ground truth taken from the field names `valor eval` accepts, the system prompt written
// as files (ours, or a prompt file's), and overrides printed whose keys verl's schema has.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { exportVerlCommand } from '../../src/cli/commands/export.js';
import { UsageError } from '../../src/cli/command.js';
import { hydraQuote, VERL_OVERRIDE_KEYS, verlOverrides } from '../../src/core/exports/verlConfig.js';
import { BUILTIN_PROMPT } from '../../src/core/promptSource.js';
import { cliIO } from '../helpers/cliIO.js';

const work = mkdtempSync(join(tmpdir(), 'valor-export-verl-'));
after(() => rmSync(work, { recursive: true, force: true }));

function setup(): { data: string; images: string } {
  const data = join(work, 'data');
  const images = join(work, 'elsewhere', 'images');
  mkdirSync(data, { recursive: true });
  mkdirSync(images, { recursive: true });
  writeFileSync(join(images, 'a.jpg'), 'x');
  writeFileSync(
    join(data, 'reasoning_data.jsonl'),
    [
      { problem: 'Is the cup left of the plate?', image: 'a.jpg', gt: 'yes' },
      { problem: 'How many chairs are there?', ground_truth: 3 },
      { problem: 'Which is taller?' },
    ]
      .map((x) => JSON.stringify(x))
      .join('\n'),
  );
  return { data, images };
}

describe('valor export verl', () => {
  test('images live elsewhere: without --images the missing ones are listed (exit 2); with it they resolve, and ground truths are filled', async () => {
    const { data, images } = setup();
    const input = join(data, 'reasoning_data.jsonl');
    const out = join(work, 'out', 'train.jsonl');
    await assert.rejects(exportVerlCommand.run(['--in', input, '--out', out], cliIO({}, work)), (e: Error) => {
      return e instanceof UsageError && /1 image named in .*reasoning_data\.jsonl does not exist/.test(e.message) && e.message.includes(join(data, 'a.jpg')) && /--images DIR/.test(e.message);
    });
    const io = cliIO({}, work);
    assert.equal(await exportVerlCommand.run(['--in', input, '--images', images, '--out', out], io), 0);
    const rows = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { prompt: unknown; extra_info: { image?: string }; reward_model: { ground_truth: string } });
    assert.equal(rows[0]!.extra_info.image, join(images, 'a.jpg'));
    assert.deepEqual(rows.map((r) => r.reward_model.ground_truth), ['yes', '3', '']);
    assert.match(io.out.text, /3 prompts \(0 duplicates skipped; 2 with a ground truth\)/);
    // The system prompt as files: the text, and the same text as one Hydra value.
    assert.equal(readFileSync(join(work, 'out', 'train.system_prompt.txt'), 'utf8'), BUILTIN_PROMPT.text);
    assert.equal(readFileSync(join(work, 'out', 'train.system_prompt.hydra'), 'utf8'), `${hydraQuote(BUILTIN_PROMPT.text)}\n`);
    assert.deepEqual(rows[1]!.prompt, [{ role: 'user', content: `${BUILTIN_PROMPT.text}\n\nQuestion: How many chairs are there?` }]);
    // JSONL is VALOR's vendored verl: problem as the prompt key, the system prompt appended.
    assert.match(io.out.text, /data\.prompt_key=problem/);
    assert.match(io.out.text, /"\+data\.system_prompt=\$\(cat .*train\.system_prompt\.hydra\)"/);
    assert.match(io.out.text, /custom_reward_function\.name=compute_score_batch/);
    assert.match(io.out.text, /custom_reward_function\.path=\S*python\/valor_reward\.py/);
  });

  test("a prompt file goes into the records and the system prompt files, byte for byte", async () => {
    const { data, images } = setup();
    const promptFile = join(work, 'system_prompt.jinja');
    writeFileSync(promptFile, "It's a \\ test with ${braces} and 'quotes'\n");
    const out = join(work, 'out2', 'train.parquet');
    const io = cliIO({ VALOR_SYSTEM_PROMPT: promptFile }, work);
    const code = await exportVerlCommand.run(['--in', join(data, 'reasoning_data.jsonl'), '--images', images, '--out', out.replace('.parquet', '.jsonl')], io);
    assert.equal(code, 0, io.err.text);
    const text = "It's a \\ test with ${braces} and 'quotes'";
    assert.equal(readFileSync(join(work, 'out2', 'train.system_prompt.txt'), 'utf8'), text);
    assert.equal(readFileSync(join(work, 'out2', 'train.system_prompt.hydra'), 'utf8'), `'It\\'s a \\ test with \\\${braces} and \\'quotes\\''\n`);
    const row = JSON.parse(readFileSync(out.replace('.parquet', '.jsonl'), 'utf8').split('\n')[0]!) as { prompt: Array<{ content: string }> };
    assert.equal(row.prompt[0]!.content, `${text}\n\nQuestion: Is the cup left of the plate?`);
    assert.match(io.out.text, new RegExp(`prompt: ${promptFile.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
  });

  test('the release layout sets only keys of verl\'s schema; the fork layout appends data.system_prompt', () => {
    const lines = verlOverrides({ layout: 'release', dataPath: '/d/t.parquet', hydraPromptPath: '/d/t.hydra', rewardPath: '/r.py', manager: 'naive' });
    assert.deepEqual(lines, [
      'algorithm.adv_estimator=grpo',
      'data.train_files=/d/t.parquet',
      'data.prompt_key=prompt',
      'reward_model.reward_manager=naive',
      'custom_reward_function.path=/r.py',
      'custom_reward_function.name=compute_score',
      'actor_rollout_ref.rollout.n=5',
    ]);
    assert.deepEqual(VERL_OVERRIDE_KEYS['valor-fork'].filter((k) => k.append).map((k) => k.key), ['data.system_prompt']);
  });
});
