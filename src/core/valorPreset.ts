/**
 * The VALOR preset: "reproduce the paper's configuration" as one switch. It takes VALOR's prompts
 * from the user's own checkout of VALOR's repository (we ship none of that text), VALOR's
 * sampling, and names the models VALOR used, and `checkValorPreset` lists what is and is not in
 * place (`valor doctor --preset valor DIR`).
 *
 * Model folder names are settings (VALOR_PRESET_DETECTOR_DIR, VALOR_PRESET_DEPTH_DIR, relative to
 * the models folder), because the folders the tool server reads are owned by `valor models`.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { VALOR_SAMPLING, type Sampling } from './chat.js';
import { loadPromptFile, type GenerationPrompt } from './promptSource.js';
import { loadReferenceJudgeSet, REFERENCE_API_FILE, REFERENCE_TEMPLATE_FILES, type ReferenceJudgeSet } from './rewards/judgeSet.js';

/** Where the prompts live inside a VALOR checkout. */
export const VALOR_PROMPTS_SUBDIR = join('valor', 'prompts');
export const VALOR_SYSTEM_PROMPT_FILE = 'system_prompt.jinja';

/** What VALOR used (docs/valor.md), for `doctor` to compare against. */
export const VALOR_REFERENCE = Object.freeze({
  judgeModel: 'gemini-2.5-flash',
  generatorModel: 'Qwen3-8B (VALOR checkpoint)',
  detector: 'GroundingDINO Swin-T with VALOR verifier-trained weights',
  depth: 'MoGe-2 ViT-L',
  verifierModel: 'gpt-5-mini',
});

export interface ValorPreset {
  repo: string;
  promptsDir: string;
  systemPromptPath: string;
  sampling: Sampling;
}

export function valorPreset(repo: string, cwd = process.cwd()): ValorPreset {
  const abs = resolve(cwd, repo);
  // Accept the checkout itself or its valor/prompts folder.
  const promptsDir = existsSync(join(abs, VALOR_SYSTEM_PROMPT_FILE)) ? abs : join(abs, VALOR_PROMPTS_SUBDIR);
  return { repo: abs, promptsDir, systemPromptPath: join(promptsDir, VALOR_SYSTEM_PROMPT_FILE), sampling: { ...VALOR_SAMPLING } };
}

export interface Check {
  ok: boolean;
  what: string;
  detail: string;
}

export interface PresetCheckInput {
  preset: ValorPreset;
  env: NodeJS.ProcessEnv;
  modelsDir: string;
}

function folderHasFiles(dir: string): boolean {
  try {
    return statSync(dir).isDirectory() && readdirSync(dir).length > 0;
  } catch {
    return false;
  }
}

/** Each part of VALOR's configuration: in place or not, and what to do. Never throws. */
export async function checkValorPreset(i: PresetCheckInput): Promise<{ checks: Check[]; prompt?: GenerationPrompt; judges?: ReferenceJudgeSet }> {
  const checks: Check[] = [];
  const { preset, env } = i;
  let prompt: GenerationPrompt | undefined;
  let judges: ReferenceJudgeSet | undefined;
  try {
    prompt = await loadPromptFile(preset.systemPromptPath);
    checks.push({ ok: true, what: 'generator prompt', detail: `${prompt.path} (sha256 ${prompt.sha256.slice(0, 12)}, ${prompt.text.length} characters)` });
  } catch (err) {
    checks.push({ ok: false, what: 'generator prompt', detail: (err as Error).message });
  }
  try {
    judges = await loadReferenceJudgeSet(preset.promptsDir);
    checks.push({
      ok: true,
      what: 'judge prompts',
      detail: `${Object.values(REFERENCE_TEMPLATE_FILES).join(', ')} and ${REFERENCE_API_FILE} in ${judges.dir} (sha256 ${judges.sha256.slice(0, 12)})`,
    });
  } catch (err) {
    checks.push({ ok: false, what: 'judge prompts', detail: (err as Error).message });
  }
  const s = preset.sampling;
  checks.push({
    ok: true,
    what: 'sampling',
    detail: `temperature ${s.temperature}, top_p ${s.top_p}, top_k ${s.top_k}, min_p ${s.min_p}, thinking off (VALOR's)`,
  });
  const llm = env.VALOR_LLM_BASE_URL && env.VALOR_LLM_MODEL;
  checks.push({
    ok: Boolean(llm),
    what: 'generator endpoint',
    detail: llm ? `${env.VALOR_LLM_MODEL} at ${env.VALOR_LLM_BASE_URL} (VALOR: ${VALOR_REFERENCE.generatorModel})` : `set VALOR_LLM_BASE_URL and VALOR_LLM_MODEL to a server running ${VALOR_REFERENCE.generatorModel}`,
  });
  const judge = env.VALOR_JUDGE_BASE_URL && env.VALOR_JUDGE_MODEL;
  checks.push({
    ok: Boolean(judge),
    what: 'judge endpoint',
    detail: judge
      ? `${env.VALOR_JUDGE_MODEL} at ${env.VALOR_JUDGE_BASE_URL}${env.VALOR_JUDGE_MODEL === VALOR_REFERENCE.judgeModel ? '' : ` (VALOR used ${VALOR_REFERENCE.judgeModel}; a different judge gives a different reward signal)`}`
      : `set VALOR_JUDGE_BASE_URL and VALOR_JUDGE_MODEL (VALOR used ${VALOR_REFERENCE.judgeModel})`,
  });
  const vlm = env.VALOR_VLM_BASE_URL && env.VALOR_VLM_MODEL;
  checks.push({
    ok: Boolean(vlm),
    what: 'vision model (vqa, box verifier)',
    detail: vlm ? `${env.VALOR_VLM_MODEL} at ${env.VALOR_VLM_BASE_URL}` : `set VALOR_VLM_BASE_URL and VALOR_VLM_MODEL (VALOR used ${VALOR_REFERENCE.verifierModel})`,
  });
  if (env.VALOR_TOOLS_URL) {
    checks.push({ ok: true, what: 'tool server', detail: `${env.VALOR_TOOLS_URL} (its models are its own; 'valor models' on that machine lists them)` });
  } else {
    const models: Array<[string, string, string]> = [
      ['detector model', env.VALOR_PRESET_DETECTOR_DIR || 'grounding-dino', VALOR_REFERENCE.detector],
      ['depth model', env.VALOR_PRESET_DEPTH_DIR || 'depth', VALOR_REFERENCE.depth],
    ];
    for (const [what, sub, ref] of models) {
      const dir = resolve(i.modelsDir, sub);
      const ok = folderHasFiles(dir);
      checks.push({ ok, what, detail: ok ? `${dir} (VALOR: ${ref})` : `${dir} is missing or empty: put ${ref} there ('valor models pull' / 'valor models'), or set VALOR_MODELS_DIR` });
    }
  }
  return { checks, prompt, judges };
}
