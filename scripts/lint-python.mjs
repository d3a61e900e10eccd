// Compiles and lints the Python that ships with VALOR Studio (python/): `python3 -m py_compile`
// on every file, then ruff at the version pinned in python/requirements-dev.txt. A missing or
// different ruff fails with the command that installs the right one.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const python = process.env.VALOR_PYTHON || 'python3';
const pin = /^ruff==(\S+)/m.exec(readFileSync('python/requirements-dev.txt', 'utf8'))?.[1];
const install = `${python} -m pip install -r python/requirements-dev.txt`;

function pyFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    if (name === '__pycache__') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...pyFiles(p));
    else if (name.endsWith('.py')) out.push(p);
  }
  return out.sort();
}

const files = pyFiles('python');
// Compile to a throw-away cache so nothing is written next to the sources.
const compileAll = [
  'import os, py_compile, sys, tempfile',
  'out = tempfile.mkdtemp()',
  'for i, f in enumerate(sys.argv[1:]):',
  '    py_compile.compile(f, cfile=os.path.join(out, "%d.pyc" % i), doraise=True)',
  'import shutil; shutil.rmtree(out)',
].join('\n');
const compile = spawnSync(python, ['-c', compileAll, ...files], { encoding: 'utf8' });
if (compile.status !== 0) {
  console.error(`python compile failed:\n${compile.stderr || compile.stdout}`);
  process.exit(1);
}

// ruff from PATH, else as a module of the Python above.
const candidates = [['ruff', []], [python, ['-m', 'ruff']]];
let ruff = null;
for (const [cmd, pre] of candidates) {
  const v = spawnSync(cmd, [...pre, '--version'], { encoding: 'utf8' });
  if (v.status === 0) {
    ruff = { cmd, pre, version: v.stdout.trim().split(/\s+/)[1] };
    break;
  }
}
if (!ruff) {
  console.error(`lint:python: ruff is not installed (needed: ruff==${pin}). Install it with: ${install}`);
  process.exit(1);
}
if (pin && ruff.version !== pin) {
  console.error(`lint:python: ruff ${ruff.version} found, but python/requirements-dev.txt pins ruff==${pin}. Install the pinned one with: ${install}`);
  process.exit(1);
}
const lint = spawnSync(ruff.cmd, [...ruff.pre, 'check', '--no-cache', 'python'], { stdio: 'inherit' });
if (lint.status !== 0) process.exit(lint.status ?? 1);
console.log(`python: ${files.length} files compile and pass ruff ${ruff.version}`);
