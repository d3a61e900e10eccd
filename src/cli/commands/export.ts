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

const verlUsage = `Usage: valor export verl (--in QUESTIONS.jsonl | --runs DIR) --out FILE.jsonl|FILE.parquet [options]

Writes training prompts for verl's GRPO trainer: one record per distinct (question, image) with
problem, prompt (the generation prompt as chat messages), data_source, ability, reward_model and
extra_info {index, split, query, image}. .parquet needs python3 with pyarrow.

  --in FILE           JSONL with "problem" (or "query"/"question"), optional "image", "answer", "id"
  --runs DIR          take the questions of these run records
  --out FILE          output (.jsonl, or .parquet)
  --data-source NAME  data_source value (default valor)
  --split NAME        extra_info.split (default train)
`;

export const exportVerlCommand: CliCommand = {
  name: 'export verl',
  summary: "export training prompts for verl's GRPO trainer (JSONL or parquet)",
  usage: verlUsage,
  async run(argv, io) {
    const parsed = parseCliArgs(argv, {
      options: { in: { type: 'string' }, runs: { type: 'string' }, out: { type: 'string' }, 'data-source': { type: 'string' }, split: { type: 'string' } },
    });
    const { values } = parsed;
    if (!values.out) throw new UsageError(`give --out FILE\n\n${verlUsage}`);
    if (!values.in && !values.runs) throw new UsageError(`give --in QUESTIONS.jsonl or --runs DIR\n\n${verlUsage}`);
    const questions: VerlQuestion[] = [];
    if (values.in) {
      try {
        questions.push(...(await readQuestionsJsonl(resolve(io.cwd, values.in))));
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
    }
    if (values.runs) {
      const r = await questionsFromRuns(resolve(io.cwd, values.runs));
      for (const p of r.problems) io.stderr.write(`warning: skipped ${p}\n`);
      questions.push(...r.questions);
    }
    const records = toVerlRecords(questions, { dataSource: values['data-source'], split: values.split });
    const out = resolve(io.cwd, values.out);
    await writeVerlRecords(out, records, { signal: io.signal });
    io.stdout.write(`${out}: ${records.length} prompt${records.length === 1 ? '' : 's'} (${questions.length - records.length} duplicate${questions.length - records.length === 1 ? '' : 's'} skipped)\n`);
    return EXIT.ok;
  },
};
