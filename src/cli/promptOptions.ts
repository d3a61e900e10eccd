/**
 * The prompt choices every `valor` command that generates or judges shares: which generation
 * prompt (`--system-prompt FILE`, `VALOR_SYSTEM_PROMPT`), which judge prompts (`--judge-prompts
 * DIR`, `VALOR_JUDGE_PROMPTS`), or VALOR's whole configuration (`--preset valor --valor-repo DIR`,
 * `VALOR_PRESET=valor` + `VALOR_REPO`). Flags win over the environment; a single file or folder
 * flag wins over the preset's.
 */
import { JudgeSetError, loadReferenceJudgeSet, type ReferenceJudgeSet } from '../core/rewards/judgeSet.js';
import { PromptFileError, resolveGenerationPrompt, type GenerationPrompt } from '../core/promptSource.js';
import { valorPreset, type ValorPreset } from '../core/valorPreset.js';
import { type CliIO, UsageError } from './command.js';

export const PROMPT_OPTIONS = {
  'system-prompt': { type: 'string' },
  preset: { type: 'string' },
  'valor-repo': { type: 'string' },
} as const;

export const JUDGE_PROMPT_OPTIONS = {
  'judge-prompts': { type: 'string' },
  preset: { type: 'string' },
  'valor-repo': { type: 'string' },
} as const;

export const PROMPT_USAGE = `  --system-prompt FILE  generation prompt file, e.g. <VALOR checkout>/valor/prompts/system_prompt.jinja
                        (else VALOR_SYSTEM_PROMPT; default: the built-in prompt)
  --preset valor        VALOR's configuration from --valor-repo DIR (else VALOR_REPO): its prompts
                        and sampling ('valor doctor --preset valor DIR' lists what is in place)`;

export const JUDGE_PROMPT_USAGE = `  --judge-prompts DIR   judge prompts laid out like VALOR's valor/prompts/ (else VALOR_JUDGE_PROMPTS;
                        default: the built-in rubrics)
  --preset valor        VALOR's configuration from --valor-repo DIR (else VALOR_REPO)`;

interface Values {
  'system-prompt'?: string;
  'judge-prompts'?: string;
  preset?: string;
  'valor-repo'?: string;
}

/** The VALOR preset named by `--preset` / `VALOR_PRESET`, or undefined. */
export function presetFrom(values: Values, io: Pick<CliIO, 'env' | 'cwd'>): ValorPreset | undefined {
  const name = values.preset ?? io.env.VALOR_PRESET;
  if (name === undefined || name === '') return undefined;
  if (name !== 'valor') throw new UsageError(`unknown preset '${name}': the only preset is 'valor'`);
  const repo = values['valor-repo'] ?? io.env.VALOR_REPO;
  if (!repo) throw new UsageError("--preset valor needs your VALOR checkout: add --valor-repo DIR (or set VALOR_REPO)");
  return valorPreset(repo, io.cwd);
}

export async function generationPromptFrom(values: Values, io: Pick<CliIO, 'env' | 'cwd'>): Promise<GenerationPrompt> {
  const file = values['system-prompt'] ?? io.env.VALOR_SYSTEM_PROMPT ?? presetFrom(values, io)?.systemPromptPath;
  try {
    return await resolveGenerationPrompt(file, io.cwd);
  } catch (err) {
    if (err instanceof PromptFileError) throw new UsageError(err.message);
    throw err;
  }
}

export async function judgeSetFrom(values: Values, io: Pick<CliIO, 'env' | 'cwd'>): Promise<ReferenceJudgeSet | undefined> {
  const dir = values['judge-prompts'] ?? io.env.VALOR_JUDGE_PROMPTS ?? presetFrom(values, io)?.promptsDir;
  if (!dir) return undefined;
  try {
    return await loadReferenceJudgeSet(dir, io.cwd);
  } catch (err) {
    if (err instanceof JudgeSetError) throw new UsageError(err.message);
    throw err;
  }
}
