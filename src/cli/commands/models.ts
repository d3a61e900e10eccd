/**
 * `valor models` (where the tool server looks for its models and what is there) and
 * `valor models pull` (download the defaults from the Hugging Face hub: resumable, verified).
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEPTH_FILES } from '../../server/depth.js';
import { DETECTOR_FILES } from '../../server/grounding.js';
import { DEFAULT_MODELS, HubError, HubOfflineError, offlineHelp, pullModel, type PullProgress } from '../../server/hubPull.js';
import { defaultModelsDir, MODEL_SUBDIRS } from '../../server/options.js';
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
    let complete = true;
    io.stdout.write(`models folder: ${dir}\n`);
    for (const [folder, files] of [[MODEL_SUBDIRS.detector, DETECTOR_FILES], [MODEL_SUBDIRS.depth, DEPTH_FILES]] as const) {
      const d = join(dir, folder);
      const missing = files.filter((f) => !existsSync(join(d, f)));
      complete &&= missing.length === 0;
      io.stdout.write(`  ${folder}/  ${missing.length === 0 ? 'complete' : `missing ${missing.join(', ')}`}\n`);
    }
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

export const modelsPullCommand: CliCommand = {
  name: 'models pull',
  summary: 'download the default detector and depth models from the Hugging Face hub',
  usage: `Usage: valor models pull [--dir DIR] [--only grounding-dino|depth] [--endpoint URL]

Downloads into DIR (default: $VALOR_MODELS_DIR, else ~/.cache/valor-studio/models):
${DEFAULT_MODELS.map((m) => `  ${m.folder}/  ${m.repo} (${m.why})`).join('\n')}
Interrupted downloads resume where they stopped; every file is checked against the size and hash
the hub publishes. --endpoint (or $HF_ENDPOINT) picks a hub mirror; $HF_TOKEN is sent when set.
`,
  async run(argv, io) {
    const { values } = parseCliArgs(argv, { options: { dir: { type: 'string' }, only: { type: 'string' }, endpoint: { type: 'string' } }, strict: true });
    const dir = modelsDirFrom(values.dir, io);
    const specs = DEFAULT_MODELS.filter((m) => !values.only || m.folder === values.only);
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
    io.stdout.write(`Done. Start the server with: valor serve --models ${dir}\n`);
    return EXIT.ok;
  },
};
