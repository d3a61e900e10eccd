/**
 * `valor verify-boxes`: VALOR's grounding verifier on one image and detector prompt. Detections
 * come from the tool server at the verifier's low thresholds (0.1 / 0.1); the vision-language
 * model in VALOR_VLM_* checks them in three stages. Prints every candidate with its fate.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { applyBoxOverrides, DEFAULT_AUDIT_PATH, OverrideIndex, readAuditLog } from '../../core/audit.js';
import { ImageInputError, inspectImage } from '../../core/image.js';
import { boxNumber, GroundingError, verifyBoxes, VERIFIER_THRESHOLDS } from '../../core/grounding/verifier.js';
import { GroundingResult } from '../../protocol/run.js';
import { type CliCommand, EXIT, UsageError, parseCliArgs } from '../command.js';
import { endpointFromEnv, toolsFromEnv } from '../config.js';

const usage = `Usage: valor verify-boxes --image IMG --prompt "sofa, coffee table" [options]

Runs the detector at a low threshold (box 0.1, text 0.1) and checks every candidate with a
vision-language model in three stages: coarse filter on the annotated image, a per-box crop
check, and deduplication. Prints each box with its fate (kept, or the stage that dropped it and why).

Options:
  --json               print the grounding result as JSON
  --out FILE           also write the grounding result to FILE (input of 'valor export odvg')
  --concurrency N      verifier calls at once (default 4)
  --box-threshold X    detector box threshold (default 0.1)
  --text-threshold X   detector text threshold (default 0.1)
  --tools-url URL      tool server (else VALOR_TOOLS_URL; unset: start one on the CPU)
  --tools-token TOK    tool server token (else VALOR_TOOLS_TOKEN)
  --models DIR         model folder for the embedded tool server (else VALOR_MODELS_DIR)
  --vlm-base-url URL   verifier endpoint (else VALOR_VLM_BASE_URL)
  --vlm-model NAME     verifier model (else VALOR_VLM_MODEL); key: VALOR_VLM_API_KEY or OPENAI_API_KEY
  --audit FILE         apply box overrides from this audit log (default .valor/audits.jsonl when present)
  --refresh            ask the verifier again even when its replies are cached (new ones are cached)
  --no-cache           neither read nor write the reply cache (else VALOR_NO_CACHE=1)

Boxes are numbered from 1, as the verifier sees them; records and 'valor audit override
--kind box --target' use the 0-based index (number - 1). Only valid verifier replies are
cached: a failed stage asks again on the next run. With --out FILE, each image drawn for the
verifier is saved next to FILE: FILE's name + .coarse-N.png / .dedup-N.png, N the first box
number drawn on it.

Exit codes: 0 verified; 1 the verifier or the tool server failed; 2 bad usage or configuration.
`;

function threshold(name: string, v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!(n >= 0 && n <= 1)) throw new UsageError(`--${name} must be a number between 0 and 1, got '${v}'`);
  return n;
}

export const verifyBoxesCommand: CliCommand = {
  name: 'verify-boxes',
  summary: "check low-threshold detections with a vision-language model (VALOR's grounding verifier)",
  usage,
  async run(argv, io) {
    const parsed = parseCliArgs(argv, {
      options: {
        image: { type: 'string' },
        prompt: { type: 'string' },
        json: { type: 'boolean' },
        out: { type: 'string' },
        concurrency: { type: 'string' },
        'box-threshold': { type: 'string' },
        'text-threshold': { type: 'string' },
        'tools-url': { type: 'string' },
        'tools-token': { type: 'string' },
        models: { type: 'string' },
        'vlm-base-url': { type: 'string' },
        'vlm-model': { type: 'string' },
        audit: { type: 'string' },
        refresh: { type: 'boolean' },
        'no-cache': { type: 'boolean' },
      },
    });
    const { values } = parsed;
    if (!values.image || !values.prompt?.trim()) throw new UsageError(`give --image and --prompt\n\n${usage}`);
    let image;
    try {
      image = await inspectImage(values.image, io.cwd);
    } catch (err) {
      if (err instanceof ImageInputError) throw new UsageError(err.message);
      throw err;
    }
    const concurrency = values.concurrency === undefined ? 4 : Number(values.concurrency);
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new UsageError(`--concurrency must be a positive integer, got '${values.concurrency}'`);
    const thresholds = {
      box_threshold: threshold('box-threshold', values['box-threshold'], VERIFIER_THRESHOLDS.box_threshold),
      text_threshold: threshold('text-threshold', values['text-threshold'], VERIFIER_THRESHOLDS.text_threshold),
    };
    const vlm = endpointFromEnv('vision', io.env, { baseUrl: values['vlm-base-url'], model: values['vlm-model'], noCache: values['no-cache'] });
    const annotated: { stage: 'coarse' | 'dedup'; numbers: number[]; png: Buffer }[] = [];

    const { client: tools, close: stop } = await toolsFromEnv(
      io.env,
      { url: values['tools-url'], token: values['tools-token'], models: values.models, cwd: io.cwd, document: image.path, note: (n) => io.stderr.write(`valor verify-boxes: ${n}\n`) },
      io.signal,
    );
    let result;
    try {
      result = await verifyBoxes({
        imagePath: image.path,
        prompt: values.prompt,
        vlm,
        concurrency,
        thresholds,
        detect: async (th, signal) => (await tools.detect(image.path, values.prompt!, th, signal)).detections,
        refresh: values.refresh,
        onAnnotated: (a) => annotated.push(a),
        signal: io.signal,
        onStage: (stage, info) => {
          if (io.isTTY && stage !== 'done') io.stderr.write(`${stage}${info.remaining ? ` (${info.remaining} boxes)` : ''}...\n`);
        },
      });
    } catch (err) {
      if (err instanceof GroundingError) {
        io.stderr.write(`valor verify-boxes: ${err.message}\n`);
        return EXIT.failed;
      }
      throw err;
    } finally {
      await stop();
    }
    const auditPath = resolve(io.cwd, values.audit ?? DEFAULT_AUDIT_PATH);
    let final = GroundingResult.parse(result);
    if (values.audit || existsSync(auditPath)) {
      const log = await readAuditLog(auditPath);
      for (const w of log.warnings) io.stderr.write(`warning: ${w.message}\n`);
      final = applyBoxOverrides(final, new OverrideIndex(log.overrides));
    }
    const saved: string[] = [];
    if (values.out) {
      const outPath = resolve(io.cwd, values.out);
      await mkdir(dirname(outPath), { recursive: true });
      await writeFile(outPath, `${JSON.stringify(final, null, 2)}\n`);
      // The images the verifier judged, next to the JSON: one per coarse batch and dedup group.
      const stem = outPath.replace(/\.json$/i, '');
      for (const a of annotated.sort((x, y) => (x.stage < y.stage ? -1 : x.stage > y.stage ? 1 : (x.numbers[0] ?? 0) - (y.numbers[0] ?? 0)))) {
        // Named by the stage and the first box number drawn: stable across runs.
        const p = `${stem}.${a.stage}-${a.numbers[0]}.png`;
        await writeFile(p, a.png);
        saved.push(p);
      }
    }
    if (values.json) {
      io.stdout.write(`${JSON.stringify(final)}\n`);
      return EXIT.ok;
    }
    io.stdout.write(`image: ${final.image.path} (${final.image.width}x${final.image.height})\nprompt: ${final.prompt}\nverifier: ${final.verifier_model}\n`);
    const kept = final.boxes.filter((b) => b.kept).length;
    io.stdout.write(`${final.boxes.length} candidate${final.boxes.length === 1 ? '' : 's'} at box ${thresholds.box_threshold} / text ${thresholds.text_threshold}; ${kept} kept\n`);
    for (const b of final.boxes) {
      const fate = b.kept ? 'kept' : `dropped${b.dropped_at ? ` at ${b.dropped_at}` : ''}`;
      io.stdout.write(`  #${String(boxNumber(b.index)).padEnd(3)} ${b.label} [${b.bbox.map((x) => Math.round(x)).join(', ')}] ${b.score.toFixed(2)}  ${fate}${b.reason ? `: ${b.reason}` : ''}${b.overridden ? ' (override)' : ''}\n`);
    }
    if (values.out) io.stdout.write(`written: ${resolve(io.cwd, values.out)}\n`);
    for (const p of saved) io.stdout.write(`image: ${p}\n`);
    return EXIT.ok;
  },
};
