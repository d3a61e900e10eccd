// The speed settings of `valor serve`: --threads, --batch-size and their defaults.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { threadPlan } from '../../src/server/onnx.js';
import { OptionsError, parseServeArgs, parseThreads } from '../../src/server/options.js';

const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => parseServeArgs(argv, env, '/tmp', () => undefined);

describe('valor serve speed settings', () => {
  it('reads --threads as detector, depth and inter-op threads', () => {
    assert.deepEqual(parseThreads('4'), { detector: 4, depth: 4, interOp: undefined });
    assert.deepEqual(parseThreads('4,2'), { detector: 4, depth: 2, interOp: undefined });
    assert.deepEqual(parseThreads('4,2,1'), { detector: 4, depth: 2, interOp: 1 });
    assert.deepEqual(parse(['--threads', '3,1']).threads, { detector: 3, depth: 1, interOp: undefined });
    assert.deepEqual(parse([], { VALOR_THREADS: '2' }).threads, { detector: 2, depth: 2, interOp: undefined });
    assert.deepEqual(parse([]).threads, {});
    for (const bad of ['0', '-1', 'two', '1,2,3,4', '1.5']) {
      assert.throws(() => parse(['--threads', bad]), (e: unknown) => e instanceof OptionsError && /--threads expects/.test(e.message), bad);
    }
  });

  it('defaults the threads for two models sharing the machine, idle threads sleeping', () => {
    assert.deepEqual(threadPlan({}, 8, undefined), { detector: { intraOp: 8, interOp: 1, spin: false }, depth: { intraOp: 4, interOp: 1, spin: false } });
    assert.deepEqual(threadPlan({}, 1, undefined).depth.intraOp, 1);
    assert.deepEqual(threadPlan({ detector: 2, depth: 1, interOp: 2 }, 8, '1'), { detector: { intraOp: 2, interOp: 2, spin: true }, depth: { intraOp: 1, interOp: 2, spin: true } });
  });

  it('batches on CUDA by default and not on the CPU, unless told', () => {
    assert.equal(parse([]).batchSize, 1);
    assert.equal(parse(['--device', 'cuda']).batchSize, 8);
    assert.equal(parse(['--batch-size', '3']).batchSize, 3);
    assert.equal(parse([], { VALOR_BATCH_SIZE: '2' }).batchSize, 2);
    assert.throws(() => parse(['--batch-size', '0']), OptionsError);
  });
});
