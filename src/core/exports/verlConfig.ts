/**
 * The verl side of `valor export verl`: the system prompt as files ready for verl's config, and the
 * command-line overrides that point verl at the export and at python/valor_reward.py.
 *
 * Two layouts (docs/training.md):
 *   - `release`: verl's own RLHFDataset as released (checked: 0.5.0, 0.7.0 and the main branch
 *     at the time of writing). It reads parquet, and `data.prompt_key=prompt` names a list of chat
 *     messages; ours hold the exact single user message `valor run` sends, so the policy trains on
 *     the prompt it is later run with, by construction.
 *   - `valor-fork`: the verl copy VALOR's repository vendors (0.5.0.dev), which reads JSONL, takes
 *     the question from `data.prompt_key=problem` and the system prompt from `+data.system_prompt`
 *     (a key verl's released schema does not have, hence the `+`). How that fork joins the two is
 *     its own code; we pass the same system text.
 * `VERL_OVERRIDE_KEYS` lists every key the snippets set, with whether it must be new (`+`) or
 * already in verl's schema; scripts/verl/check_config.py checks that against a verl checkout.
 */
import { join } from 'node:path';

export type VerlLayout = 'release' | 'valor-fork';
export type VerlManager = 'naive' | 'batch';

/** Keys the snippets set; `append: true` is a `+key` (must not exist in verl's schema). */
export const VERL_OVERRIDE_KEYS: Readonly<Record<VerlLayout, ReadonlyArray<{ key: string; append: boolean }>>> = Object.freeze({
  release: [
    { key: 'algorithm.adv_estimator', append: false },
    { key: 'data.train_files', append: false },
    { key: 'data.prompt_key', append: false },
    { key: 'reward_model.reward_manager', append: false },
    { key: 'custom_reward_function.path', append: false },
    { key: 'custom_reward_function.name', append: false },
    { key: 'actor_rollout_ref.rollout.n', append: false },
  ],
  'valor-fork': [
    { key: 'algorithm.adv_estimator', append: false },
    { key: 'data.train_files', append: false },
    { key: 'data.prompt_key', append: false },
    { key: 'data.system_prompt', append: true },
    { key: 'reward_model.reward_manager', append: false },
    { key: 'custom_reward_function.path', append: false },
    { key: 'custom_reward_function.name', append: false },
    { key: 'actor_rollout_ref.rollout.n', append: false },
  ],
});

/**
 * `text` as one Hydra override value: a single-quoted string in which `'` and the backslashes
 * right before a quote (or the closing quote) are escaped, and `${` is escaped so OmegaConf does
 * not read it as an interpolation.
 */
export function hydraQuote(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '\\') {
      let j = i;
      while (j < text.length && text[j] === '\\') j++;
      const run = j - i;
      const beforeQuote = j === text.length || text[j] === "'" || (text[j] === '$' && text[j + 1] === '{');
      out += '\\'.repeat(beforeQuote ? run * 2 : run);
      i = j - 1;
    } else if (c === "'") out += "\\'";
    else if (c === '$' && text[i + 1] === '{') out += '\\$';
    else out += c;
  }
  return `'${out}'`;
}

/** The files written next to an export for its system prompt. */
export function systemPromptFiles(outPath: string): { text: string; hydra: string } {
  const stem = outPath.replace(/\.(jsonl|parquet)$/i, '');
  return { text: `${stem}.system_prompt.txt`, hydra: `${stem}.system_prompt.hydra` };
}

/** Where python/valor_reward.py is, from the CLI bundle (dist/) or the sources (src/core/exports/). */
export function rewardFunctionPath(): string {
  return __dirname.endsWith(join('src', 'core', 'exports')) ? join(__dirname, '..', '..', '..', 'python', 'valor_reward.py') : join(__dirname, '..', 'python', 'valor_reward.py');
}

export interface SnippetInput {
  layout: VerlLayout;
  dataPath: string;
  hydraPromptPath: string;
  rewardPath: string;
  manager?: VerlManager;
  rollouts?: number;
}

/** The overrides for `python3 -m verl.trainer.main_ppo`, one a line. */
export function verlOverrides(i: SnippetInput): string[] {
  const manager = i.manager ?? 'batch';
  const values: Record<string, string> = {
    'algorithm.adv_estimator': 'grpo',
    'data.train_files': i.dataPath,
    'data.prompt_key': i.layout === 'release' ? 'prompt' : 'problem',
    'data.system_prompt': `$(cat ${i.hydraPromptPath})`,
    'reward_model.reward_manager': manager,
    'custom_reward_function.path': i.rewardPath,
    'custom_reward_function.name': manager === 'batch' ? 'compute_score_batch' : 'compute_score',
    'actor_rollout_ref.rollout.n': String(i.rollouts ?? 5),
  };
  return VERL_OVERRIDE_KEYS[i.layout].map(({ key, append }) => {
    const line = `${append ? '+' : ''}${key}=${values[key]}`;
    return key === 'data.system_prompt' ? `"${line}"` : line;
  });
}

export function verlSnippet(i: SnippetInput): string {
  return ['python3 -m verl.trainer.main_ppo \\', ...verlOverrides(i).map((l, k, all) => `  ${l}${k === all.length - 1 ? '' : ' \\'}`)].join('\n');
}
