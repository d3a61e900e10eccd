/**
 * `valor run`: one query, headless. Either generate a reply for `--image` + `--query`, or run the
 * program already in a `.vprog` document. Prints the plan, each tool call and the answer (or one
 * JSON object with --json) and writes the run record.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ChatError } from '../../core/chat.js';
import { ImageInputError, inspectImage } from '../../core/image.js';
import { isConfigToolFailure, type ToolClient, watchToolServer } from '../../core/toolClient.js';
import { annotateRun } from '../../core/runAnnotation.js';
import { buildStandaloneRunView } from '../../host/runViewPage.js';
import type { DepthMapData } from '../../protocol/webview.js';
import { formatProgramWithValues } from '../../core/lineTrace.js';
import { runQuery } from '../../core/pipeline.js';
import { replayRecord } from '../../core/replay.js';
import { formatSensitivity, sensitivity, type SensitivityReport } from '../../core/sensitivity.js';
import { ProgramRunner, RunnerSetupError } from '../../core/runner/index.js';
import { WORKSPACE_RUNS_DIR, readRunRecord, writeRunRecord } from '../../core/runStore.js';
import { missingHeadersMessage, programLineToDocumentLine, resolveImagePath } from '../../core/vprog.js';
import { shownLine, type RunRecord } from '../../protocol/run.js';
import { type CliCommand, type CliIO, EXIT, UsageError, parseCliArgs } from '../command.js';
import { ISOLATION_OPTION, ISOLATION_USAGE, isolationFromCli } from '../isolation.js';
import { endpointFromEnv, toolsFromEnv } from '../config.js';
import { formatFailingCites, formatTraceEntry } from '../format.js';
import { describePrompt } from '../../core/promptSource.js';
import { generationPromptFrom, PROMPT_OPTIONS, PROMPT_USAGE } from '../promptOptions.js';
import { readVprogFile } from '../vprogFile.js';

const usage = `Usage:
  valor run --image IMG --query TEXT [options]   generate a plan and program, then run it
  valor run FILE.vprog [options]                 run the program already in a .vprog document
  valor run --replay RECORD.json [FILE.vprog]    re-run a recorded run's program (or the edited one in
                                                 FILE.vprog) against the record's tool results: no
                                                 tool server, no model; lists calls with no result

Options:
  --out DIR          folder for the run record (default .valor/runs)
  --no-record        do not write a run record
  --json             print one JSON object (plan, program, format, trace, final_answer, error, record)
  --timeout SEC      wall-clock limit for the program (default 60)
  --base-url URL     generator endpoint (else VALOR_LLM_BASE_URL)
  --model NAME       generator model (else VALOR_LLM_MODEL)
  --regenerate       ask the generator again instead of using the response cache
${PROMPT_USAGE}
  --tools-url URL    tool server (else VALOR_TOOLS_URL; unset: start one on the CPU)
  --tools-token TOK  tool server token (else VALOR_TOOLS_TOKEN)
  --html FILE        also write the run view as one self-contained HTML file (opens offline, no VS Code)
  --annotated FILE   also write the image with the run drawn on it, as PNG: boxes in call colours
                     with labels and scores, the depth region and value, the VQA crop
  --models DIR       model folder for the embedded tool server (else VALOR_MODELS_DIR, else a
                     models/ folder beside the .vprog document or in the working folder,
                     else ~/.cache/valor-studio/models from 'valor models pull')
  --replay RECORD    answer the program's tool calls from this run record only
  --sensitivity      after the run, what-if analysis from the record alone: for each gd_detect the
                     box-threshold intervals where the answer holds, for each depth the smallest
                     relative change that flips it (replays; no model is called again)
  --lines            print the program with the values each line bound (the line trace)
${ISOLATION_USAGE}
Exit codes: 0 answered; 1 the program failed or timed out; 2 bad usage or configuration
(including a tool server that cannot be reached, refuses the token or has no models).
`;

interface RunInput {
  query: string;
  imagePath: string;
  /** Where a relative image path came from, for the not-found message. */
  imageOrigin?: string;
  reply?: string;
  document: string | null;
  programDocumentLine?: number | null;
}

async function readInput(values: Record<string, unknown>, positionals: string[], io: CliIO): Promise<RunInput> {
  if (positionals.length > 1) throw new UsageError(`expected at most one .vprog file, got ${positionals.length}`);
  const file = positionals[0];
  if (file) {
    if (values.image || values.query) throw new UsageError('give either a .vprog file or --image and --query, not both');
    const { path: docPath, doc } = await readVprogFile(io.cwd, file);
    const missing = missingHeadersMessage(file, doc, ['image', 'query']);
    if (missing || !doc.image || !doc.query) throw new UsageError(`${missing}: add it at the top (the image path relative to the file's folder, the question on one line)`);
    const imageOrigin = `named by the '# image: ${doc.image}' header of ${file}, resolved from the document's folder ${dirname(docPath)}`;
    return { query: doc.query, imagePath: resolveImagePath(docPath, doc.image), imageOrigin, reply: doc.reply, document: docPath, programDocumentLine: programLineToDocumentLine(doc, 1) };
  }
  if (!values.image || !values.query) {
    throw new UsageError(`give a .vprog file, or both --image and --query\n\n${usage}`);
  }
  return { query: String(values.query), imagePath: String(values.image), document: null };
}

/** A replay's input: the record, and an edited reply from a .vprog when one is given. */
async function readReplayInput(values: Record<string, unknown>, positionals: string[], io: CliIO): Promise<{ record: RunRecord; path: string; reply?: string }> {
  if (values.image || values.query) throw new UsageError('--replay takes the question and image from the record: leave out --image and --query');
  if (positionals.length > 1) throw new UsageError(`expected at most one .vprog file with --replay, got ${positionals.length}`);
  const path = resolve(io.cwd, String(values.replay));
  let record: RunRecord;
  try {
    record = await readRunRecord(path);
  } catch (err) {
    throw new UsageError(`${(err as Error).message}; --replay needs a run record written by valor run, valor eval or the extension`);
  }
  if (!positionals[0]) return { record, path };
  return { record, path, reply: (await readVprogFile(io.cwd, positionals[0])).doc.reply };
}

/** The --json shape (stable: scripts depend on it). */
export function runJson(record: RunRecord, recordPath: string | null, sens?: SensitivityReport) {
  return {
    query: record.query,
    image: record.image,
    plan: record.plan,
    program: record.program,
    format: record.format.score,
    format_diagnostics: record.format.diagnostics,
    trace: record.trace.map((t) => ({
      tool: t.tool,
      line: t.line,
      variable: t.variable ?? null,
      args: t.args,
      result: t.result,
      ms: t.ms,
      ...(t.error ? { error: t.error } : {}),
      ...(t.detail ? { detail: t.detail } : {}),
    })),
    final_answer: record.final_answer ?? null,
    error: record.error ? { type: record.error.type, message: record.error.message, line: record.error.line } : null,
    record: recordPath,
    timings: record.timings,
    ...(record.isolation ? { isolation: record.isolation } : {}),
    ...(record.line_trace ? { line_trace: record.line_trace } : {}),
    ...(record.replay ? { replay: record.replay } : {}),
    ...(sens ? { sensitivity: sens } : {}),
  };
}

export function printHuman(record: RunRecord, recordPath: string | null, out: NodeJS.WritableStream): void {
  out.write(`query: ${record.query}\nimage: ${record.image.path}\n`);
  if (record.generator?.prompt) out.write(`prompt: ${describePrompt(record.generator.prompt)}\n`);
  if (record.format.score !== 1) {
    out.write(`format: ${record.format.score}\n`);
    for (const d of record.format.diagnostics) out.write(`  ${d.severity}${d.line ? ` (reply line ${d.line})` : ''}: ${d.message}\n`);
  }
  if (record.plan) out.write(`\nplan:\n${record.plan.trim().replace(/^/gm, '  ')}\n`);
  out.write(`\ncalls (${record.trace.length}):\n`);
  for (const t of record.trace) out.write(`  ${formatTraceEntry(t)}\n`);
  if (record.error) {
    const where = record.error.line ? ` at program line ${record.error.line}` : '';
    out.write(`\nerror: ${record.error.type}${where}: ${record.error.message}\n`);
    if (record.error.traceback) out.write(`${record.error.traceback.replace(/^/gm, '  ')}\n`);
  } else {
    out.write(`\nanswer: ${JSON.stringify(record.final_answer)}\n`);
  }
  if (record.replay) {
    out.write(`replayed: ${record.replay.of} (tool results from the record; no tool server, no model)\n`);
    if (record.replay.missing.length === 0) out.write('  every call had a recorded result\n');
    else for (const m of record.replay.missing) out.write(`  no recorded result: ${m.tool}(${JSON.stringify(m.args)})${m.line ? ` at program line ${m.line}` : ''}\n`);
  }
  // Scored records (valor eval --score, the extension): what each failing judge points at.
  for (const v of record.rewards?.verdicts ?? []) {
    const cites = formatFailingCites(v, record.program_document_line ? (n) => shownLine(record, n) : undefined);
    if (cites) out.write(`${v.reward} judge: fail, ${cites}\n`);
  }
  if (record.isolation) out.write(`isolation: ${record.isolation}${record.isolation === 'process' ? ' (no OS sandbox: see docs/threat-model.md)' : ''}\n`);
  if (recordPath) out.write(`record: ${recordPath}\n`);
}

/** Writes the HTML run view and the annotated image when asked (atomically: whole files or none). */
async function writeViews(record: RunRecord, depthMap: DepthMapData | null, want: { html?: string; annotated?: string }, io: CliIO): Promise<{ html?: string; annotated?: string }> {
  const out: { html?: string; annotated?: string } = {};
  const put = async (file: string, data: string | Buffer): Promise<string> => {
    const path = resolve(io.cwd, file);
    await mkdir(dirname(path), { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, data);
    await rename(tmp, path);
    return path;
  };
  if (want.html) out.html = await put(want.html, await buildStandaloneRunView(record, depthMap));
  if (want.annotated) out.annotated = await put(want.annotated, await annotateRun(record));
  return out;
}

export const runCommand: CliCommand = {
  name: 'run',
  summary: 'generate and run a program for one image and question, or run a .vprog document',
  usage,
  async run(argv, io) {
    const parsed = parseCliArgs(argv, {
      allowPositionals: true,
      options: {
        ...ISOLATION_OPTION,
        image: { type: 'string' },
        query: { type: 'string' },
        out: { type: 'string' },
        'no-record': { type: 'boolean' },
        json: { type: 'boolean' },
        html: { type: 'string' },
        annotated: { type: 'string' },
        timeout: { type: 'string' },
        'base-url': { type: 'string' },
        model: { type: 'string' },
        regenerate: { type: 'boolean' },
        'tools-url': { type: 'string' },
        'tools-token': { type: 'string' },
        models: { type: 'string' },
        ...PROMPT_OPTIONS,
        replay: { type: 'string' },
        sensitivity: { type: 'boolean' },
        lines: { type: 'boolean' },
      },
    });
    const { values, positionals } = parsed;
    const isolation = isolationFromCli(values.isolation, io.env);
    const timeoutSec = values.timeout === undefined ? 60 : Number(values.timeout);
    if (!Number.isFinite(timeoutSec) || timeoutSec <= 0) throw new UsageError(`--timeout must be a positive number of seconds, got '${values.timeout}'`);
    const finish = async (ran: RunRecord, runner: ProgramRunner, depthMap: DepthMapData | null, watched?: ReturnType<typeof watchToolServer>): Promise<number> => {
      let sens: SensitivityReport | undefined;
      if (values.sensitivity) sens = await sensitivity(ran, { runner, timeoutMs: timeoutSec * 1000, signal: io.signal });
      // Kept in the record, so the run view can show each threshold's answer on its slider.
      const record: RunRecord = sens ? { ...ran, sensitivity: sens } : ran;
      const recordPath = values['no-record'] ? null : await writeRunRecord(resolve(io.cwd, values.out ?? WORKSPACE_RUNS_DIR), record);
      const views = await writeViews(record, depthMap, { html: values.html, annotated: values.annotated }, io);
      if (values.json) io.stdout.write(`${JSON.stringify({ ...runJson(record, recordPath, sens), ...views })}\n`);
      else {
        printHuman(record, recordPath, io.stdout);
        if (values.lines && record.program && record.line_trace) io.stdout.write(`\nlines:\n${formatProgramWithValues(record.program, record.line_trace)}`);
        if (sens) io.stdout.write(`\n${formatSensitivity(sens)}`);
        if (views.html) io.stdout.write(`html: ${views.html}\n`);
        if (views.annotated) io.stdout.write(`annotated: ${views.annotated}\n`);
      }
      if (!record.error) return EXIT.ok;
      // The program failed because the tool server could not answer: say so apart from the trace,
      // and exit 2 when only the person's set-up can fix it (token, URL, models).
      const infra = watched?.failure();
      if (infra) {
        const config = isConfigToolFailure(infra);
        io.stderr.write(`valor run: ${config ? 'configuration' : 'the tool server failed'}: ${infra.message}\n`);
        return config ? EXIT.usage : EXIT.failed;
      }
      return EXIT.failed;
    };

    if (values.replay !== undefined) {
      const rin = await readReplayInput(values, positionals, io);
      const runner = new ProgramRunner({ isolation });
      try {
        const r = await replayRecord(rin.record, { runner, reply: rin.reply, source: rin.path, timeoutMs: timeoutSec * 1000, signal: io.signal });
        return await finish(r.record, runner, null);
      } catch (err) {
        if (err instanceof RunnerSetupError) throw new UsageError(err.message);
        throw err;
      } finally {
        await runner.dispose();
      }
    }

    const input = await readInput(values, positionals, io);

    let image;
    try {
      image = await inspectImage(input.imagePath, io.cwd, input.imageOrigin);
    } catch (err) {
      if (err instanceof ImageInputError) throw new UsageError(err.message);
      throw err;
    }
    // Resolve the generator before starting anything, so a missing endpoint is a quick exit 2.
    const generator = input.reply === undefined
      ? endpointFromEnv('generator', io.env, { baseUrl: values['base-url'], model: values.model })
      : undefined;
    const prompt = generator ? await generationPromptFrom(values, io) : undefined;

    const tools = await toolsFromEnv(
      io.env,
      {
        url: values['tools-url'],
        token: values['tools-token'],
        models: values.models,
        cwd: io.cwd,
        document: input.document,
        note: (line) => io.stderr.write(`valor run: ${line}\n`),
      },
      io.signal,
    );
    const watched = watchToolServer(tools.tools);
    let toolsOpen = true;
    const closeTools = async () => {
      if (!toolsOpen) return;
      toolsOpen = false;
      await tools.close();
    };
    const runner = new ProgramRunner({ isolation });
    try {
      const record = await runQuery({
        query: input.query,
        imagePath: image.path,
        image,
        reply: input.reply,
        generator,
        prompt,
        regenerate: values.regenerate,
        tools: watched.tools,
        toolsUrl: tools.url,
        runner,
        timeoutMs: timeoutSec * 1000,
        document: input.document,
        programDocumentLine: input.programDocumentLine,
        signal: io.signal,
      });
      // The HTML view shows the depth map the run sampled from; fetch it while the server is up.
      let depthMap: DepthMapData | null = null;
      const client = tools.tools as Partial<ToolClient>;
      if (values.html && record.trace.some((t) => t.tool === 'depth' && !t.error) && typeof client.depthMap === 'function') {
        depthMap = await client.depthMap(image.path, 512, io.signal).catch(() => null);
      }
      // The tool server is no longer needed: what follows (sensitivity) replays from the record.
      await closeTools();
      return await finish(record, runner, depthMap, watched);
    } catch (err) {
      if (err instanceof RunnerSetupError) throw new UsageError(err.message);
      if (err instanceof ChatError) {
        io.stderr.write(`valor run: the generator failed: ${err.message}\n`);
        return err.kind === 'config' || err.kind === 'auth' ? EXIT.usage : EXIT.failed;
      }
      throw err;
    } finally {
      await runner.dispose();
      await closeTools();
    }
  },
};
