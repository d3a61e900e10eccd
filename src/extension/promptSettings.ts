/**
 * The generation prompt and judge set the settings name (valor.generator.systemPromptFile,
 * valor.judge.promptsDir; relative paths from the workspace folder). A bad one is an error
 * naming the setting.
 */
import { dirname } from 'node:path';
import type * as vscode from 'vscode';
import type { ValorConfig } from './config.js';
import { ActionableError } from './errors.js';
import { folderOf } from './storageLocations.js';

/** The generation prompt and judge set the settings name (relative paths from the workspace folder). */
export async function promptSettings(d: { config: () => ValorConfig }, uri: vscode.Uri) {
  const cfg = d.config();
  const base = folderOf(uri) ?? dirname(uri.fsPath);
  const { resolveGenerationPrompt } = await import('../core/promptSource.js');
  const { loadReferenceJudgeSet } = await import('../core/rewards/judgeSet.js');
  const named = async <T>(key: string, load: () => Promise<T>): Promise<T> => {
    try {
      return await load();
    } catch (err) {
      throw new ActionableError(`setting valor.${key}: ${(err as Error).message}`);
    }
  };
  return {
    prompt: () => named('generator.systemPromptFile', () => resolveGenerationPrompt(cfg.generator.systemPromptFile, base)),
    judgeSet: () => (cfg.judge.promptsDir ? named('judge.promptsDir', () => loadReferenceJudgeSet(cfg.judge.promptsDir, base)) : Promise.resolve(undefined)),
  };
}
