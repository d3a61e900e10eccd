/**
 * `valor export odvg` and `valor export verl`: training data for existing engines
 * (Open-GroundingDino for the detector, verl for the policy). See docs/training.md.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_AUDIT_PATH, OverrideIndex, readAuditLog } from '../../core/audit.js';
import { groundingFromRuns, loadGroundingFiles } from '../../core/exports/groundingInputs.js';
import { exportOdvg, validateOdvg } from '../../core/exports/odvg.js';
import { questionsFromRuns, readQuestionsJsonl, toVerlRecords, writeVerlRecords, type VerlQuestion } from '../../core/exports/verl.js';
import { hydraQuote, rewardFunctionPath, systemPromptFiles, verlSnippet } from '../../core/exports/verlConfig.js';
import { describePrompt } from '../../core/promptSource.js';
import { writeFileAtomic } from '../../core/runStore.js';
import { generationPromptFrom, PROMPT_OPTIONS, PROMPT_USAGE } from '../promptOptions.js';
import type { GroundingResult } from '../../protocol/run.js';
import { type CliCommand, EXIT, UsageError, parseCliArgs } from '../command.js';

const odvgUsage = `Usage: valor export odvg (--runs DIR | --grounding FILE...) --out DIR [options]

Writes the boxes the grounding verifier kept (after human overrides) as Open-GroundingDino ODVG
records: DIR/odvg.jsonl (one line per image) and DIR/label_map.json. Incremental: re-running adds
only what is new, label ids never change, identical records are written once.

  --runs DIR          run records whose grounding results to export
  --grounding FILE    files from 'valor verify-boxes --out' (.json or .jsonl; repeatable)
  --out DIR           output folder
  --image-root DIR    write filenames relative to this folder (Open-GroundingDino's dataset root)
  --audit FILE        audit log with box overrides (default .valor/audits.jsonl when present)
`;

export const exportOdvgCommand: CliCommand = {
  name: 'export odvg',
  summary: 'export verified boxes as ODVG records + label_map.json for Open-GroundingDino',
  usage: odvgUsage,
  async run(argv, io) {
    const parsed = parseCliArgs(argv, {
      allowPositionals: true,
      options: { runs: { type: 'string' }, grounding: { type: 'string', multiple: true }, out: { type: 'string' }, 'image-root': { type: 'string' }, audit: { type: 'string' } },
    });
    const { values, positionals } = parsed;
    const files = [...(values.grounding ?? []), ...positionals];
    if (!values.out) throw new UsageError(`give --out DIR\n\n${odvgUsage}`);
    if (!values.runs && files.length === 0) throw new UsageError(`give --runs DIR or --grounding FILE\n\n${odvgUsage}`);
    const results: GroundingResult[] = [];
    if (values.runs) {
      const r = await groundingFromRuns(resolve(io.cwd, values.runs));
      for (const p of r.problems) io.stderr.write(`warning: skipped ${p}\n`);
      results.push(...r.results);
    }
    try {
      results.push(...(await loadGroundingFiles(files.map((f) => resolve(io.cwd, f)))));
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const auditPath = resolve(io.cwd, values.audit ?? DEFAULT_AUDIT_PATH);
    let overrides: OverrideIndex | undefined;
    if (values.audit || existsSync(auditPath)) {
      const log = await readAuditLog(auditPath);
      for (const w of log.warnings) io.stderr.write(`warning: ${w.message}\n`);
      overrides = new OverrideIndex(log.overrides);
    }
    const outDir = resolve(io.cwd, values.out);
    const s = await exportOdvg({ results, outDir, overrides, imageRoot: values['image-root'] ? resolve(io.cwd, values['image-root']) : undefined });
    for (const w of s.warnings) io.stderr.write(`warning: ${w}\n`);
    const check = await validateOdvg(outDir);
    io.stdout.write(
      `${s.recordsPath}: ${s.added} added, ${s.updated} updated, ${s.removed} removed, ${s.unchanged} unchanged (${check.records.length} images, ${s.instances} boxes)${s.wrote ? '' : '; nothing new, nothing written'}\n`,
    );
    if (s.labelsAdded.length) io.stdout.write(`${s.labelMapPath}: new labels ${s.labelsAdded.join(', ')}\n`);
    if (check.problems.length) {
      for (const p of check.problems) io.stderr.write(`problem: ${p}\n`);
      return EXIT.failed;
    }
    return EXIT.ok;
  },
};

const verlUsage = `Usage: valor export verl (--in QUESTIONS.jsonl | --runs DIR) --out FILE.parquet|FILE.jsonl [options]

Writes training prompts for verl's GRPO trainer: one record per distinct (question, image) with
problem, prompt (the generation prompt as chat messages, exactly what 'valor run' sends),
data_source, ability, reward_model {style, ground_truth} and extra_info {index, split, query,
image}; next to it FILE.system_prompt.txt (the system text) and FILE.system_prompt.hydra (the
same as one Hydra value), and prints the verl command-line overrides to use (docs/training.md).
.parquet (verl's released RLHFDataset) needs python3 with pyarrow; .jsonl is what VALOR's
vendored verl reads.

  --in FILE           JSONL with the question ("problem", "query", "question" or "prompt"),
                      optional image, answer (ground_truth) and id, named as 'valor eval' accepts them
  --images DIR        folder the image paths in --in are relative to (default: its folder);
                      every named image must exist
  --runs DIR          take the questions of these run records
  --out FILE          output (.parquet, or .jsonl)
  --data-source NAME  data_source value (default valor)
  --split NAME        extra_info.split (default train)
  --manager NAME      reward manager in the printed overrides: batch (default) or naive
${PROMPT_USAGE}
`;

export const exportVerlCommand: CliCommand = {
  name: 'export verl',
  summary: "export training prompts for verl's GRPO trainer (parquet or JSONL) with its config overrides",
  usage: verlUsage,
  async run(argv, io) {
    const parsed = parseCliArgs(argv, {
      options: {
        in: { type: 'string' },
        images: { type: 'string' },
        runs: { type: 'string' },
        out: { type: 'string' },
        'data-source': { type: 'string' },
        split: { type: 'string' },
        manager: { type: 'string' },
        ...PROMPT_OPTIONS,
      },
    });
    const { values } = parsed;
    if (!values.out) throw new UsageError(`give --out FILE\n\n${verlUsage}`);
    if (!values.in && !values.runs) throw new UsageError(`give --in QUESTIONS.jsonl or --runs DIR\n\n${verlUsage}`);
    if (values.images && !values.in) throw new UsageError('--images goes with --in (run records already hold absolute image paths)');
    const manager = values.manager ?? 'batch';
    if (manager !== 'batch' && manager !== 'naive') throw new UsageError(`--manager must be 'batch' or 'naive', got '${manager}'`);
    const out = resolve(io.cwd, values.out);
    if (!/\.(jsonl|parquet)$/i.test(out)) throw new UsageError(`--out must end in .parquet (verl's released dataset reader) or .jsonl (VALOR's vendored verl), got '${values.out}'`);
    const prompt = await generationPromptFrom(values, io);
    const questions: VerlQuestion[] = [];
    if (values.in) {
      try {
        questions.push(...(await readQuestionsJsonl(resolve(io.cwd, values.in), { imagesDir: values.images ? resolve(io.cwd, values.images) : undefined })));
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
    }
    if (values.runs) {
      const r = await questionsFromRuns(resolve(io.cwd, values.runs));
      for (const p of r.problems) io.stderr.write(`warning: skipped ${p}\n`);
      questions.push(...r.questions);
    }
    const records = toVerlRecords(questions, { dataSource: values['data-source'], split: values.split, prompt });
    await writeVerlRecords(out, records, { signal: io.signal });
    const files = systemPromptFiles(out);
    await writeFileAtomic(files.text, prompt.text);
    await writeFileAtomic(files.hydra, `${hydraQuote(prompt.text)}\n`);
    const dup = questions.length - records.length;
    const withTruth = records.filter((r) => r.reward_model.ground_truth !== '').length;
    io.stdout.write(`${out}: ${records.length} prompt${records.length === 1 ? '' : 's'} (${dup} duplicate${dup === 1 ? '' : 's'} skipped; ${withTruth} with a ground truth)\n`);
    io.stdout.write(`prompt: ${describePrompt(prompt)}\n`);
    io.stdout.write(`system prompt: ${files.text} (for data.system_prompt: ${files.hydra})\n`);
    const layout = out.toLowerCase().endsWith('.parquet') ? 'release' : 'valor-fork';
    io.stdout.write(
      layout === 'release'
        ? `\nverl (released RLHFDataset; checked against verl 0.5.0 and 0.7.0):\n`
        : `\nVALOR's vendored verl (0.5.0.dev; reads .jsonl with data.prompt_key=problem). verl's released RLHFDataset reads parquet only: export to .parquet for it.\n`,
    );
    io.stdout.write(`${verlSnippet({ layout, dataPath: out, hydraPromptPath: files.hydra, rewardPath: rewardFunctionPath(), manager })}\n`);
    return EXIT.ok;
  },
};
