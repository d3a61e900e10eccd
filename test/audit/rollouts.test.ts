// The rollout group: `valor rollouts` in process, with the generator and the judges behind two
// OpenAI-compatible test servers and the real runner for syntax; advantages checked against a
// hand computation (numbers worked out separately with Python's statistics.stdev).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { rolloutsCommand } from '../../src/cli/commands/rollouts.js';
import { grpoAdvantages } from '../../src/core/audit/advantage.js';
import type { RolloutGroup } from '../../src/core/audit/rolloutGroup.js';
import { cliIO } from '../helpers/cliIO.js';
import { GOOD_REPLY, judgeOf, jsonVerdict } from '../helpers/judgeReplies.js';
import { lastUserText, startOpenAIServer, type OpenAIServer } from '../helpers/openaiServer.js';

const QUERY = 'Is the mug to the left of the laptop? (rollout group test)';
const marked = (tag: string): string => GOOD_REPLY.replace('4. Answer "yes" or "no".', `4. Answer "yes" or "no". Marker ${tag}.`);

// Sample i (seed 100+i) -> what its judges say. Totals by hand with VALOR's weights
// (logic .3, syntax .1, attribute .2, spatial .2, adherence .2):
//   #1 all pass -> 1;  #2 logic 0 -> 0.7;  #3 spatial 0 -> 0.8;  #4 attribute judge fails -> none;
//   #5 no <plan>/<answer> tags -> format 0 -> total 0.
const SAMPLES: Record<number, string> = {
  100: marked('r-one'),
  101: marked('r-two'),
  102: marked('r-three'),
  103: marked('r-four'),
  104: 'I think the mug is on the left. Final answer: yes.',
};

describe('rollout group', () => {
  let gen: OpenAIServer;
  let judges: OpenAIServer;
  let work: string;
  let env: Record<string, string>;
  const GATE = 8;
  let gateOpenedBy: 'count' | 'timeout' | null = null;
  before(async () => {
    gen = await startOpenAIServer();
    judges = await startOpenAIServer();
    work = mkdtempSync(join(tmpdir(), 'valor-rollouts-'));
    env = { VALOR_LLM_BASE_URL: gen.url, VALOR_LLM_MODEL: 'policy', VALOR_JUDGE_BASE_URL: judges.url, VALOR_JUDGE_MODEL: 'judge-m', VALOR_NO_CACHE: '1' };
    gen.setHandler((req) => {
      const reply = SAMPLES[req.json.seed as number];
      return reply === undefined ? { status: 400, body: { error: { message: `unexpected seed ${req.json.seed}` } } } : { text: reply };
    });
    // Concurrency, shown without timing: the first GATE judge requests are held until GATE of
    // them are in flight together. Judges asked one at a time would never get there, and the gate
    // would open only at its 60 s fallback (gateOpenedBy 'timeout').
    let arrived = 0;
    let openGate!: () => void;
    const gate = new Promise<void>((resolve) => {
      openGate = resolve;
    });
    const fallback = setTimeout(() => {
      gateOpenedBy ??= 'timeout';
      openGate();
    }, 60_000);
    judges.setHandler(async (req) => {
      const text = lastUserText(req);
      const who = judgeOf(req);
      if (gateOpenedBy === null) {
        if (++arrived >= GATE) {
          gateOpenedBy = 'count';
          clearTimeout(fallback);
          openGate();
        }
        await gate;
      }
      const wait = 150; // every judge answers after a pause
      if (text.includes('r-two') && who === 'logic') return { delayMs: wait, then: { text: jsonVerdict(0, 'step 3 does not follow') } };
      if (text.includes('r-three') && who === 'spatial') return { delayMs: wait, then: { text: jsonVerdict(0, 'left is misread') } };
      if (text.includes('r-four') && who === 'attribute') return { status: 400, body: { error: { message: 'attribute judge unavailable' } } };
      return { delayMs: wait, then: { text: jsonVerdict(1) } };
    });
  });
  after(async () => {
    await gen.close();
    await judges.close();
    rmSync(work, { recursive: true, force: true });
  });

  test('advantages match the hand computation; the failed judge stays a failure; judges ran at once', async () => {
    const io = cliIO(env, work);
    const code = await rolloutsCommand.run(['--query', QUERY, '--n', '5', '--seed', '100', '--json'], io);
    assert.equal(code, 1, 'a failed judge makes the exit code 1');
    const g = JSON.parse(io.out.text) as RolloutGroup;
    // VALOR's sampling settings went to the generator, one seed per sample.
    const genReqs = gen.chatRequests();
    assert.equal(genReqs.length, 5);
    assert.deepEqual(genReqs.map((r) => r.json.seed).sort(), [100, 101, 102, 103, 104]);
    for (const r of genReqs) {
      assert.equal(r.json.temperature, 0.7);
      assert.equal(r.json.top_p, 0.8);
      assert.equal(r.json.top_k, 20);
    }
    const bySample = new Map(g.members.map((m) => [m.index, m]));
    assert.deepEqual([0, 1, 2, 3, 4].map((i) => bySample.get(i)?.total ?? null), [1, 0.7, 0.8, null, 0]);
    // Hand computation over the four totals (1, 0.7, 0.8, 0): mean 0.625, unbiased std 0.434932945.
    assert.ok(Math.abs((g.advantage.mean ?? NaN) - 0.625) < 1e-12);
    assert.ok(Math.abs((g.advantage.std ?? NaN) - 0.43493294502332963) < 1e-9);
    const expected: Record<number, number> = { 0: 0.8621998910199691, 1: 0.1724399782039937, 2: 0.40235994914265233, 4: -1.436999818366615 };
    for (const [i, a] of Object.entries(expected)) assert.ok(Math.abs((bySample.get(Number(i))?.advantage ?? NaN) - a) < 1e-9, `advantage of sample ${i}`);
    // The failed judge: visible as a failure, no total, no advantage, left out of the statistics.
    const four = bySample.get(3)!;
    assert.equal(four.components.attribute, null);
    assert.match(four.errors.attribute ?? '', /attribute judge unavailable/);
    assert.equal(four.advantage, null);
    assert.equal(four.rank, null);
    assert.deepEqual(g.advantage.excluded, [3]);
    assert.match(g.advantage.note ?? '', /never as 0/);
    // Sorted best first, the failed one last.
    assert.deepEqual(g.members.map((m) => m.index), [0, 2, 1, 4, 3]);
    assert.deepEqual(g.members.map((m) => m.rank), [1, 2, 3, 4, null]);
    // Best (#1) vs worst (#5, format 0): the gate separates them.
    assert.equal(g.best, 0);
    assert.equal(g.worst, 4);
    assert.equal(g.separating[0]?.reward, 'format');
    // Concurrency: GATE judge requests (of different replies: each reply has four judges) were in
    // flight together, and the judges' latencies add up to more than the scoring took.
    const jr = judges.chatRequests().filter((r) => r.outcome === 'text');
    assert.ok(jr.length >= 12);
    assert.equal(gateOpenedBy, 'count', `${GATE} judge requests were in flight together`);
    assert.ok(g.timings.judge_ms_sum > g.timings.score_ms);
  });

  test('the text view shows the table, the std convention, the separating components and the failure', async () => {
    const io = cliIO(env, work);
    await rolloutsCommand.run(['--query', QUERY, '--seed', '100'], io);
    const out = io.out.text;
    assert.match(out, /rank +sample +format +syntax +spatial +attribute +logic +adherence +total +advantage/);
    assert.match(out, /^ {2}1 +#1 +1 +1 +1 +1 +1 +1 +1 +\+0\.862$/m);
    assert.match(out, /^ {2}- +#4 +1 +1 +1 +ERROR +1 +1 +none +none$/m);
    assert.match(out, /std 0\.4349 \(unbiased, n-1, as torch\.std\)/);
    assert.match(out, /best #1 vs worst #5: separated by format \(1 vs 0, the format gate\)/);
    assert.match(out, /#4 attribute: .*attribute judge unavailable/);
  });

  test('bad usage is exit 2 with a message', async () => {
    await assert.rejects(rolloutsCommand.run(['--query', QUERY, '--n', '0'], cliIO(env, work)), /--n must be a whole number/);
    await assert.rejects(rolloutsCommand.run([], cliIO(env, work)), /give a \.vprog file, or --query/);
    await assert.rejects(rolloutsCommand.run(['--query', QUERY], cliIO({ VALOR_JUDGE_BASE_URL: judges.url, VALOR_JUDGE_MODEL: 'j' }, work)), /VALOR_LLM_BASE_URL/);
  });
});

describe('grpoAdvantages', () => {
  test('zero spread: every advantage is 0 and the note says the group gives no signal', () => {
    const a = grpoAdvantages([1, 1, 1, 1, 1]);
    assert.deepEqual(a.advantages, [0, 0, 0, 0, 0]);
    assert.equal(a.std, 0);
    assert.equal(a.zeroSpread, true);
    assert.match(a.note ?? '', /no signal/);
  });
  test('two members: ±1/√2 scaled by the unbiased std', () => {
    const a = grpoAdvantages([1, 0]);
    // mean 0.5, unbiased std sqrt(0.5) = 0.7071; (1 - 0.5) / (0.7071 + 1e-6)
    assert.ok(Math.abs((a.advantages[0] ?? NaN) - 0.5 / (Math.SQRT1_2 + 1e-6)) < 1e-12);
    assert.ok(Math.abs((a.advantages[1] ?? NaN) + 0.5 / (Math.SQRT1_2 + 1e-6)) < 1e-12);
  });
  test('one counted member: mean 0, std 1 as verl does; none counted: all null', () => {
    const a = grpoAdvantages([null, 0.6]);
    assert.deepEqual(a.advantages, [null, 0.6 / (1 + 1e-6)]);
    assert.match(a.note ?? '', /mean 0 and std 1/);
    const b = grpoAdvantages([null, null]);
    assert.deepEqual(b.advantages, [null, null]);
    assert.equal(b.mean, null);
  });
});
