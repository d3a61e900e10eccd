/**
 * `valor models` (where the tool server looks for its models and what is there) and
 * `valor models pull` (download the defaults from the Hugging Face hub: resumable, verified).
 */
import { join, resolve } from 'node:path';
import { DEFAULT_DEPTH, DEFAULT_MODELS, DEPTH_CHOICES, HubError, HubOfflineError, offlineHelp, pullModel, VALOR_MODELS, type HubFile, type ModelSpec, type PullProgress } from '../../server/hubPull.js';
import { describeSlots, valorConfigurationLines } from '../../server/modelCatalog.js';
import { defaultModelsDir } from '../../server/options.js';
import { type CliCommand, type CliIO, EXIT, parseCliArgs, UsageError } from '../command.js';

const MB = 1024 * 1024;

function modelsDirFrom(dir: string | undefined, io: CliIO): string {
  return dir ? resolve(io.cwd, dir) : defaultModelsDir(io.env);
}

export const modelsCommand: CliCommand = {
  name: 'models',
  summary: 'show the model folders the tool server uses and what they hold',
  usage: `Usage: valor models [--dir DIR]

Lists the model folders (default: $VALOR_MODELS_DIR, else ~/.cache/valor-studio/models) and the
files each one needs. Fetch the defaults with 'valor models pull'.
`,
  async run(argv, io) {
    const { values } = parseCliArgs(argv, { options: { dir: { type: 'string' } }, strict: true });
    const dir = modelsDirFrom(values.dir, io);
    io.stdout.write(`models folder: ${dir}\n`);
    const slots = describeSlots(dir);
    for (const s of slots) {
      const folder = s.dir.slice(dir.length + 1);
      io.stdout.write(`  ${folder}/  ${s.missing.length === 0 ? 'complete' : `missing ${s.missing.join(', ')}`}  ${s.model}${s.valor ? ' [VALOR]' : ''}\n`);
    }
    for (const line of valorConfigurationLines(slots)) io.stdout.write(`${line}\n`);
    const complete = slots.every((s) => s.missing.length === 0);
    if (!complete) io.stdout.write(`Run 'valor models pull' to fetch the defaults.\n`);
    return complete ? EXIT.ok : EXIT.failed;
  },
};

/** One status line: a redrawn bar on a terminal, a line per 10% otherwise. */
function progressPrinter(io: CliIO): (p: PullProgress) => void {
  let lastPct = -1;
  let lastDraw = 0;
  let started = Date.now();
  let startBytes = 0;
  return (p) => {
    const label = `${p.model}/${p.file}`;
    const total = p.total > 0 ? p.total : 0;
    if (p.event === 'skip') {
      io.stderr.write(`${label}: already there, verified\n`);
      return;
    }
    if (p.event === 'retry') {
      io.stderr.write(`${io.isTTY ? '\n' : ''}${label}: transfer broke, resuming\n`);
      return;
    }
    if (p.event === 'start' || p.event === 'resume') {
      started = Date.now();
      startBytes = p.done;
      lastPct = -1;
      if (p.event === 'resume') io.stderr.write(`${label}: resuming at ${(p.done / MB).toFixed(1)} MB\n`);
      return;
    }
    if (p.event === 'verified') {
      io.stderr.write(`${io.isTTY ? '\r\x1b[K' : ''}${label}: ${(p.total / MB).toFixed(1)} MB, verified\n`);
      return;
    }
    const pct = total ? Math.floor((p.done / total) * 100) : 0;
    const now = Date.now();
    if (io.isTTY) {
      if (now - lastDraw < 100 && p.done !== total) return;
      lastDraw = now;
      const width = 30;
      const filled = Math.round((pct / 100) * width);
      const rate = (p.done - startBytes) / MB / Math.max(0.001, (now - started) / 1000);
      io.stderr.write(`\r\x1b[K${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${pct}% ${(p.done / MB).toFixed(1)}/${(total / MB).toFixed(1)} MB ${rate.toFixed(1)} MB/s`);
    } else if (Math.floor(pct / 10) > Math.floor(lastPct / 10)) {
      lastPct = pct;
      io.stderr.write(`${label}: ${pct}% of ${(total / MB).toFixed(1)} MB\n`);
    }
  };
}

function listing(io: CliIO): (spec: ModelSpec, files: HubFile[]) => void {
  return (spec, files) => {
    const total = files.reduce((a, f) => a + Math.max(0, f.size), 0);
    io.stderr.write(`${spec.repo}: ${files.length} file${files.length === 1 ? '' : 's'}, ${(total / MB).toFixed(1)} MB in all\n`);
    for (const f of files) {
      const hash = f.sha256 ? `sha256 ${f.sha256}` : f.gitOid ? `git blob ${f.gitOid}` : 'no hash published';
      io.stderr.write(`  ${f.path}  ${f.size >= 0 ? `${(f.size / MB).toFixed(1)} MB` : 'size unknown'}  ${hash}\n`);
    }
  };
}

export const modelsPullCommand: CliCommand = {
  name: 'models pull',
  summary: 'download the detector and depth models from the Hugging Face hub (--valor: VALOR\'s own)',
  usage: `Usage: valor models pull [--dir DIR] [--only grounding-dino|depth] [--depth NAME] [--valor] [--endpoint URL]

Downloads into DIR (default: $VALOR_MODELS_DIR, else ~/.cache/valor-studio/models):
${DEFAULT_MODELS.map((m) => `  ${m.folder}/  ${m.repo} (${m.why})`).join('\n')}
--depth NAME picks the depth model: ${Object.keys(DEPTH_CHOICES).map((k) => (k === DEFAULT_DEPTH ? `${k} (default)` : k)).join(', ')}.
--valor fetches VALOR's two models instead:
${VALOR_MODELS.map((m) => `  ${m.folder}/  ${m.repo} (${m.why})`).join('\n')}
  then 'valor models convert' turns the checkpoint into grounding-dino/ (needs Python with PyTorch).
The file list with sizes and hashes is printed before anything is downloaded. Interrupted
downloads resume where they stopped; every file is checked against the size and hash the hub
publishes. --endpoint (or $HF_ENDPOINT) picks a hub mirror; $HF_TOKEN is sent when set.
`,
  async run(argv, io) {
    const { values } = parseCliArgs(argv, {
      options: { dir: { type: 'string' }, only: { type: 'string' }, endpoint: { type: 'string' }, depth: { type: 'string' }, valor: { type: 'boolean' } },
      strict: true,
    });
    const dir = modelsDirFrom(values.dir, io);
    if (values.valor && values.depth) throw new UsageError(`--valor fetches MoGe-2 ViT-L, VALOR's depth model; leave out --depth (or drop --valor to pick another)`);
    const depthSpec = DEPTH_CHOICES[values.depth ?? DEFAULT_DEPTH];
    if (!depthSpec) throw new UsageError(`--depth must be one of ${Object.keys(DEPTH_CHOICES).join(', ')}, got '${values.depth}'`);
    const all = values.valor ? VALOR_MODELS : DEFAULT_MODELS.map((m) => (m.folder === depthSpec.folder ? depthSpec : m));
    const specs = all.filter((m) => !values.only || m.folder === values.only || (values.only === 'grounding-dino' && m === VALOR_MODELS[0]));
    if (specs.length === 0) throw new UsageError(`--only must be one of ${DEFAULT_MODELS.map((m) => m.folder).join(', ')}`);
    const onProgress = progressPrinter(io);
    for (const spec of specs) {
      io.stderr.write(`${spec.repo} -> ${join(dir, spec.folder)}\n`);
      try {
        const r = await pullModel(spec, dir, {
          endpoint: values.endpoint ?? io.env.HF_ENDPOINT,
          token: io.env.HF_TOKEN ?? io.env.HUGGING_FACE_HUB_TOKEN,
          signal: io.signal,
          onProgress,
          onListed: listing(io),
        });
        io.stdout.write(`${spec.folder}: ${r.files.length} files in ${r.dir} (${r.fetched} downloaded)\n`);
      } catch (err) {
        if (err instanceof HubOfflineError) {
          io.stderr.write(`valor models pull: ${err.message}.\n${offlineHelp(dir, specs)}\n`);
          return EXIT.failed;
        }
        if (err instanceof HubError) {
          io.stderr.write(`valor models pull: ${err.message}\n`);
          return EXIT.failed;
        }
        throw err;
      }
    }
    if (values.valor && specs.includes(VALOR_MODELS[0] as ModelSpec)) {
      io.stdout.write(`Next: valor models convert${values.dir ? ` --dir ${dir}` : ''}   (the checkpoint -> ${join(dir, 'grounding-dino')}; needs Python with torch and transformers)\n`);
    } else {
      io.stdout.write(`Done. Start the server with: valor serve --models ${dir}\n`);
    }
    return EXIT.ok;
  },
};
