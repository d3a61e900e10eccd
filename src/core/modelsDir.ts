/**
 * Which model folder an embedded tool server gets. A fresh clone has no downloaded models, but
 * it has `examples/models/` (links to the small test models) beside `examples/desk.vprog`; a
 * project can keep its own `models/` folder beside its documents or in its workspace. So, first
 * match wins:
 *
 *   1. `--models DIR` (relative to the working folder);
 *   2. `$VALOR_MODELS_DIR` (relative to the working folder);
 *   3. `models/` beside the document being run (`.vprog` or dataset file);
 *   4. `models/` in the working folder (the workspace);
 *   5. nothing: the server's default, the cache `valor models pull` writes to.
 *
 * A `models/` folder is only picked up when it holds `grounding-dino/` or `depth/`, so an
 * unrelated folder of that name is left alone. `MODELS_WAYS_OUT` lists every way to give the
 * server models, for messages.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export const MODEL_FOLDER_NAMES = ['grounding-dino', 'depth'] as const;

export interface ModelsDirChoice {
  /** Absolute folder, or undefined: the server's default (the `valor models pull` cache). */
  dir: string | undefined;
  /** Where the choice came from, for a one-line note (`--models`, `beside the document`, ...). */
  source: 'flag' | 'env' | 'document' | 'workspace' | 'default';
}

export interface ModelsDirInputs {
  flag?: string;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** The file being run or evaluated; its folder is searched for `models/`. */
  document?: string | null;
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Whether `dir` looks like a model folder (holds grounding-dino/ or depth/, links followed). */
export function holdsModels(dir: string): boolean {
  return MODEL_FOLDER_NAMES.some((name) => isDir(join(dir, name)));
}

export function findModelsDir(o: ModelsDirInputs): ModelsDirChoice {
  if (o.flag) return { dir: resolve(o.cwd, o.flag), source: 'flag' };
  const fromEnv = o.env.VALOR_MODELS_DIR?.trim();
  if (fromEnv) return { dir: resolve(o.cwd, fromEnv), source: 'env' };
  if (o.document) {
    const beside = join(dirname(resolve(o.cwd, o.document)), 'models');
    if (holdsModels(beside)) return { dir: beside, source: 'document' };
  }
  const inCwd = join(resolve(o.cwd), 'models');
  if (holdsModels(inCwd)) return { dir: inCwd, source: 'workspace' };
  return { dir: undefined, source: 'default' };
}

/** One line saying which folder was found, or undefined when nothing was discovered. */
export function modelsDirNote(choice: ModelsDirChoice): string | undefined {
  if (choice.source === 'document') return `using the models in ${choice.dir} (the models/ folder beside the document)`;
  if (choice.source === 'workspace') return `using the models in ${choice.dir} (the models/ folder in the working folder)`;
  return undefined;
}

/**
 * The repository's small example models (random weights), when this code runs from a clone or
 * an unpacked package that carries them: `examples/models` next to `dist/` or `src/`.
 */
export function exampleModelsDir(from: string = __dirname): string | undefined {
  for (const up of ['..', join('..', '..')]) {
    const p = resolve(from, up, 'examples', 'models');
    if (holdsModels(p) && existsSync(join(p, 'grounding-dino', 'config.json'))) return p;
  }
  return undefined;
}

/** Every way to give the tool server models, as one sentence for error messages. */
export function modelsWaysOut(exampleDir: string | undefined = exampleModelsDir()): string {
  const example = exampleDir
    ? `or, to try things offline, the small random-weight test models: VALOR_MODELS_DIR=${exampleDir}`
    : `or, to try things offline, the small random-weight test models in a clone's examples/models (VALOR_MODELS_DIR=examples/models)`;
  return [
    `run 'valor models pull' (the default models, ~4.5 GB, once)`,
    `or give a folder holding grounding-dino/ and depth/ with --models DIR or VALOR_MODELS_DIR`,
    `or put such a models/ folder beside the .vprog document or in the working folder`,
    example,
  ].join('; ');
}
