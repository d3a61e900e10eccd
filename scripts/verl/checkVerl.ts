/**
 * `npm run check:verl`: `valor export verl` and python/valor_reward.py checked against verl's own
 * code. verl and some of its dependencies (tensordict, omegaconf's antlr4 runtime, codetiming,
 * hydra-core) are not on the package mirror CI reaches, so this is a script the maintainer runs,
 * not a test; its last result is recorded in docs/training.md.
 *
 *   VERL_SRC=/path/to/verl-checkout  a git checkout of volcengine/verl (required)
 *   VERL_REFS="v0.5.0 v0.7.0"        tags to check the config schema of (default: the working tree)
 *   VERL_PYTHON=python3              the Python where verl imports (for the drive part)
 *
 * What it does: starts a scripted judge (an OpenAI-compatible server on 127.0.0.1) and the real
 * reward service, exports three questions with `valor export verl` to .parquet and .jsonl, takes
 * the overrides it printed, checks them against each ref's `_generated_ppo_trainer.yaml`, and
 * (where verl imports) drives verl's RLHFDataset, reward managers, compute_reward and GRPO
 * advantage (scripts/verl/check_verl.py), comparing the scores with the service's own answers.
 * Writes test-artifacts/verl-check.json.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { exportVerlCommand } from '../../src/cli/commands/export.js';
import { GOOD_QUERY, GOOD_REPLY, judgeOf, jsonVerdict } from '../../test/helpers/judgeReplies.js';
import { cliIO } from '../../test/helpers/cliIO.js';
import { postReward, startRewardService } from '../../test/helpers/rewardService.js';

const REPO = resolve(__dirname, '..', '..');

function python(py: string, args: string[], stdin: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((res, rej) => {
    const child = spawn(py, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', rej);
    child.on('close', (code) => res({ code, out, err }));
    child.stdin.end(stdin);
  });
}

function overridesFrom(stdout: string): string[] {
  return stdout
    .split('\n')
    .filter((l) => /^ {2}\S/.test(l))
    .map((l) => l.trim().replace(/ \\$/, ''));
}

async function main(): Promise<number> {
  const verlSrc = process.env.VERL_SRC;
  if (!verlSrc) {
    process.stderr.write('set VERL_SRC to a git checkout of volcengine/verl (and VERL_REFS to the tags to check, e.g. "v0.5.0 v0.7.0")\n');
    return 2;
  }
  const refs = (process.env.VERL_REFS ?? '').split(/\s+/).filter(Boolean);
  const py = process.env.VERL_PYTHON ?? 'python3';
  const work = mkdtempSync(join(tmpdir(), 'valor-check-verl-'));

  const f = await startRewardService();
  try {
    f.judgeServer.setHandler((req) => {
      const sent = JSON.stringify(req.json);
      if (judgeOf(req) === 'logic' && sent.includes('FAILME')) return { status: 400, body: { error: { message: 'scripted logic failure' } } };
      return { text: jsonVerdict(judgeOf(req) === 'spatial' && sent.includes('chairs') ? 0 : 1) };
    });
    const FAIL_REPLY = GOOD_REPLY.replace('laptop', 'FAILME');
    const failingLogicCalls = (): number => f.judgeServer.chatRequests().filter((q) => judgeOf(q) === 'logic' && JSON.stringify(q.json).includes('FAILME')).length;
    const questions = [
      { problem: GOOD_QUERY, answer: 'yes' },
      { problem: 'How many chairs are around the table?' },
      { problem: 'Is the lamp taller than the sofa?' },
    ];
    writeFileSync(join(work, 'reasoning_data.jsonl'), questions.map((q) => JSON.stringify(q)).join('\n'));
    const exported: Record<string, { stdout: string; overrides: string[] }> = {};
    for (const ext of ['parquet', 'jsonl']) {
      const io = cliIO({}, work);
      const code = await exportVerlCommand.run(['--in', 'reasoning_data.jsonl', '--out', join(work, `train.${ext}`)], io);
      if (code !== 0) throw new Error(`valor export verl (.${ext}) exited ${code}: ${io.err.text}`);
      exported[ext] = { stdout: io.out.text, overrides: overridesFrom(io.out.text) };
    }
    const overrides = { release: exported.parquet!.overrides, 'valor-fork': exported.jsonl!.overrides };
    const records = readFileSync(join(work, 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as unknown);
    const replies = [GOOD_REPLY, 'no tags at all', GOOD_REPLY.replace('laptop', 'chairs')];

    const yamls: Array<{ ref: string; path: string }> = [];
    for (const ref of refs.length ? refs : ['(working tree)']) {
      const path = join(work, `ppo_trainer.${ref.replace(/[^\w.-]/g, '_')}.yaml`);
      const rel = 'verl/trainer/config/_generated_ppo_trainer.yaml';
      writeFileSync(path, refs.length ? execFileSync('git', ['-C', verlSrc, 'show', `${ref}:${rel}`]) : readFileSync(join(verlSrc, rel)));
      yamls.push({ ref, path });
    }
    const results: Record<string, unknown> = {};
    let ok = true;
    for (const [i, y] of yamls.entries()) {
      // The drive runs once, on the checkout's working tree (what VERL_PYTHON imports).
      const drive = i === yamls.length - 1 ? { parquet: join(work, 'train.parquet'), records, replies, fail_reply: FAIL_REPLY } : null;
      const env = { ...process.env, PYTHONPATH: verlSrc, VALOR_REWARD_URL: f.service.url, VALOR_REWARD_TOKEN: f.service.token };
      const r = await python(py, [join(REPO, 'scripts', 'verl', 'check_verl.py')], JSON.stringify({ config_yaml: y.path, verl_src: verlSrc, overrides, drive }), env);
      if (r.code !== 0) throw new Error(`check_verl.py failed (${r.code}): ${r.err}`);
      const res = JSON.parse(r.out.trim().split('\n').pop() ?? '{}') as { schema: { problems: string[] }; drive?: Record<string, unknown> };
      if (res.schema.problems.length) ok = false;
      if (res.drive && !('error' in res.drive)) {
        // The service's own answer for the same items: what every manager must have put on the last token.
        const items = (records as Array<{ extra_info: { query: string } }>).flatMap((rec) => replies.map((reply) => ({ query: rec.extra_info.query, reply })));
        const direct = await postReward(f.service, { items });
        const want = (direct.json.results as Array<{ total: number | null }>).map((x) => x.total);
        const managers = (res.drive.managers ?? {}) as Record<string, { scores: number[]; score_on_last_token: boolean }>;
        const agree = Object.fromEntries(Object.entries(managers).map(([m, v]) => [m, v.scores.every((s, k) => Math.abs(s - (want[k] ?? NaN)) < 1e-6) && v.score_on_last_token]));
        res.drive.service_totals = want;
        res.drive.managers_equal_service = agree;
        // The failing batch: verl's compute_reward ran the manager twice; the judge saw it once.
        const failing = res.drive.failing_batch as { raised?: boolean } | undefined;
        res.drive.failing_batch_judge_calls = failingLogicCalls();
        const failOnce = failing?.raised === true && failingLogicCalls() === 1;
        res.drive.failing_batch_scored_once = failOnce;
        if (!res.drive.prompts_match || Object.values(agree).some((a) => !a) || !failOnce) ok = false;
      }
      if (res.drive && 'error' in res.drive) ok = false;
      results[y.ref] = res;
    }
    const report = { when: new Date().toISOString(), verl_src: verlSrc, refs: yamls.map((y) => y.ref), python: py, overrides, results, ok };
    mkdirSync(join(REPO, 'test-artifacts'), { recursive: true });
    writeFileSync(join(REPO, 'test-artifacts', 'verl-check.json'), `${JSON.stringify(report, null, 2)}\n`);
    for (const [ref, r] of Object.entries(results)) {
      const res = r as { schema: { checked: number; problems: string[] }; drive?: Record<string, unknown> };
      process.stdout.write(`verl ${ref}: schema ${res.schema.problems.length === 0 ? `ok (${res.schema.checked} overrides)` : `PROBLEMS: ${res.schema.problems.join('; ')}`}\n`);
      if (res.drive) process.stdout.write(`  drive: ${JSON.stringify(res.drive).slice(0, 600)}\n`);
    }
    const placeholders = Object.values(results).map((r) => (r as { drive?: { placeholders?: string } }).drive?.placeholders).find(Boolean);
    process.stdout.write(`${ok ? 'ok' : 'FAILED'}${placeholders ? ` (${placeholders})` : ''}; details in test-artifacts/verl-check.json\n`);
    return ok ? 0 : 1;
  } finally {
    await f.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`check:verl: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
