/**
 * `valor models convert`: VALOR's detector checkpoint (original GroundingDINO format, as
 * `valor models pull --valor` fetches it) -> the tool server's ONNX folder, by running
 * scripts/export/convert_grounding_dino_original.py with a Python that has PyTorch.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { VALOR_DETECTOR_CHECKPOINT } from '../../server/hubPull.js';
import { defaultModelsDir, MODEL_SUBDIRS } from '../../server/options.js';
import { type CliCommand, EXIT, parseCliArgs, UsageError } from '../command.js';

const SCRIPT = join('scripts', 'export', 'convert_grounding_dino_original.py');

/** The conversion script next to the bundle (dist/) or the sources (src/cli/commands/). */
export function convertScript(): string | undefined {
  const candidates = [join(__dirname, '..', SCRIPT), join(__dirname, '..', '..', '..', SCRIPT), join(process.cwd(), SCRIPT)];
  return candidates.find((p) => existsSync(p));
}

const NEEDED = ['torch', 'transformers', 'onnx', 'onnxruntime'];

export const modelsConvertCommand: CliCommand = {
  name: 'models convert',
  summary: "turn VALOR's GroundingDINO checkpoint (original format) into the server's ONNX detector (needs PyTorch)",
  usage: `Usage: valor models convert [--dir DIR] [--checkpoint FILE] [--out DIR] [--python PY] [--size N] [--tokenizer ID]

Converts ${VALOR_DETECTOR_CHECKPOINT.required[0]} (the original GroundingDINO format, config
GroundingDINO_SwinT_OGC; 'valor models pull --valor' puts it in DIR/${VALOR_DETECTOR_CHECKPOINT.folder}/)
into DIR/${MODEL_SUBDIRS.detector}/, the layout the tool server loads. Runs
${SCRIPT} with PY (default $VALOR_PYTHON, else python3), which needs
${NEEDED.join(', ')} (pip install torch transformers onnx onnxruntime onnxscript); no GPU.
  --checkpoint FILE   the .pth (default DIR/${VALOR_DETECTOR_CHECKPOINT.folder}/${VALOR_DETECTOR_CHECKPOINT.required[0]})
  --out DIR           folder to write (default DIR/${MODEL_SUBDIRS.detector}; replaced only when the conversion worked)
  --size N            square image size of the export (default 800)
  --tokenizer ID      BERT tokenizer, hub id or folder (default bert-base-uncased; fetched once from the hub)
`,
  async run(argv, io) {
    const { values } = parseCliArgs(argv, {
      options: { dir: { type: 'string' }, checkpoint: { type: 'string' }, out: { type: 'string' }, python: { type: 'string' }, size: { type: 'string' }, tokenizer: { type: 'string' } },
      strict: true,
    });
    const dir = values.dir ? resolve(io.cwd, values.dir) : defaultModelsDir(io.env);
    const checkpoint = values.checkpoint ? resolve(io.cwd, values.checkpoint) : join(dir, VALOR_DETECTOR_CHECKPOINT.folder, VALOR_DETECTOR_CHECKPOINT.required[0] as string);
    const out = values.out ? resolve(io.cwd, values.out) : join(dir, MODEL_SUBDIRS.detector);
    const size = values.size ?? '800';
    if (!/^\d+$/.test(size) || Number(size) < 64 || Number(size) % 32 !== 0) throw new UsageError(`--size must be a multiple of 32 of at least 64, got '${size}'`);
    if (!existsSync(checkpoint)) {
      throw new UsageError(`no checkpoint at ${checkpoint}: fetch it with 'valor models pull --valor'${values.dir ? ` --dir ${dir}` : ''}, or pass --checkpoint FILE`);
    }
    if (!existsSync(dirname(out))) throw new UsageError(`the folder ${dirname(out)} for --out does not exist`);
    const script = convertScript();
    if (!script) {
      io.stderr.write(`valor models convert: ${SCRIPT} is not next to this installation; run it from a checkout of VALOR Studio\n`);
      return EXIT.failed;
    }
    const python = values.python ?? (io.env.VALOR_PYTHON?.trim() || 'python3');
    const probe = spawnSync(python, ['-c', `import importlib.util, sys; m = [n for n in ${JSON.stringify(NEEDED)} if importlib.util.find_spec(n) is None]; print(' '.join(m)); sys.exit(1 if m else 0)`], { encoding: 'utf8', env: io.env });
    if (probe.error) {
      io.stderr.write(`valor models convert: cannot run '${python}' (${probe.error.message}); pass --python PY or set VALOR_PYTHON to a Python with ${NEEDED.join(', ')}\n`);
      return EXIT.failed;
    }
    if (probe.status !== 0) {
      const missing = probe.stdout.trim() || 'some of the needed packages';
      io.stderr.write(`valor models convert: '${python}' lacks ${missing}; install them (pip install ${missing}) or pass --python PY / set VALOR_PYTHON to a Python that has them\n`);
      return EXIT.failed;
    }
    const args = [script, '--checkpoint', checkpoint, '--out', out, '--size', size, ...(values.tokenizer ? ['--tokenizer', values.tokenizer] : [])];
    io.stderr.write(`${python} ${args.join(' ')}\n`);
    const code = await new Promise<number>((resolveCode) => {
      const child = spawn(python, args, { env: io.env, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.on('data', (b: Buffer) => io.stderr.write(b));
      child.stderr.on('data', (b: Buffer) => io.stderr.write(b));
      const onAbort = (): void => {
        child.kill('SIGTERM');
      };
      io.signal.addEventListener('abort', onAbort, { once: true });
      child.on('close', (c) => {
        io.signal.removeEventListener('abort', onAbort);
        resolveCode(c ?? 1);
      });
      child.on('error', () => resolveCode(1));
    });
    if (code !== 0) {
      io.stderr.write(`valor models convert: the conversion failed (exit ${code}); ${out} was left as it was\n`);
      return EXIT.failed;
    }
    io.stdout.write(`VALOR's detector is in ${out}. Start the server with: valor serve --models ${dir}\n`);
    return EXIT.ok;
  },
};
