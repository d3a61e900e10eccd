// `npm run mutation [group ...]`: runs StrykerJS once per module group (scripts/mutation/groups.mjs),
// each incremental (reports/mutation/<group>.incremental.json, gitignored), then prints the score
// per module and writes it under `mutation` in bench/results.json (scripts/mutation/score.mjs).
// No group named: every group. `--list`: the groups and exit.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { GROUPS } from './groups.mjs';
import { main as score } from './score.mjs';

const args = process.argv.slice(2);
if (args.includes('--list')) {
  for (const [name, g] of Object.entries(GROUPS)) process.stdout.write(`${name.padEnd(14)} ${g.mutate.join(' ')}${g.note ? `  (${g.note})` : ''}\n`);
  process.exit(0);
}
const unknown = args.filter((a) => !(a in GROUPS));
if (unknown.length > 0) {
  process.stderr.write(`unknown mutation group(s): ${unknown.join(', ')}; run with --list to see them\n`);
  process.exit(2);
}
const groups = args.length > 0 ? args : Object.keys(GROUPS);
const failed = [];
for (const name of groups) {
  const t0 = Date.now();
  process.stderr.write(`mutation: ${name} ...\n`);
  const r = spawnSync(process.execPath, ['node_modules/@stryker-mutator/core/bin/stryker.js', 'run', 'stryker.config.mjs'], {
    stdio: 'inherit',
    env: { ...process.env, VALOR_MUTATION_GROUP: name },
  });
  const secs = ((Date.now() - t0) / 1000).toFixed(0);
  process.stderr.write(`mutation: ${name} ${r.status === 0 ? 'done' : `FAILED (exit ${r.status ?? r.signal})`} in ${secs} s\n`);
  mkdirSync('reports/mutation', { recursive: true });
  writeFileSync(`reports/mutation/${name}.run.json`, JSON.stringify({ seconds: Number(secs), finished: new Date().toISOString(), exit: r.status }));
  if (r.status !== 0) failed.push(name);
}
process.exitCode = score(groups) || (failed.length > 0 ? 1 : 0);
