/**
 * The extension's settings, read in one place and typed. Every key here is declared in
 * package.json `contributes.configuration` with the same default (a test checks both ways), and
 * every read goes through `readConfig`, which validates values and falls back to the default
 * for a bad one, reporting it so the user can fix it instead of guessing why nothing works.
 *
 * No `vscode` import: the adapter passes a getter, so this module is tested with plain node.
 */
import { z } from 'zod';
import type { EndpointRole } from '../core/endpoints.js';
import { DEFAULT_WEIGHTS, type WeightedReward } from '../core/rewards/total.js';
import { DEFAULT_BOX_THRESHOLD, DEFAULT_TEXT_THRESHOLD } from '../protocol/tools.js';

const url = z.string().trim().refine((s) => s === '' || /^https?:\/\/\S+$/i.test(s), 'expected an http(s) URL or empty');
const unit = z.number().min(0).max(1);
const weight = z.number().min(0).max(1);

/** Key (without the `valor.` prefix) -> schema and default. The manifest mirrors this table. */
export const SETTING_SPECS = {
  'generator.baseUrl': { schema: url, default: '' },
  'generator.model': { schema: z.string().trim(), default: '' },
  'generator.maxTokens': { schema: z.number().int().min(64).max(32768), default: 2000 },
  'generator.systemPromptFile': { schema: z.string().trim(), default: '' },
  'judge.baseUrl': { schema: url, default: '' },
  'judge.model': { schema: z.string().trim(), default: '' },
  'judge.timeoutSeconds': { schema: z.number().min(1).max(600), default: 60 },
  'judge.promptsDir': { schema: z.string().trim(), default: '' },
  'vision.baseUrl': { schema: url, default: '' },
  'vision.model': { schema: z.string().trim(), default: '' },
  'toolServer.url': { schema: url, default: '' },
  'toolServer.modelsPath': { schema: z.string().trim(), default: '' },
  'toolServer.device': { schema: z.enum(['cpu', 'cuda']), default: 'cpu' as 'cpu' | 'cuda' },
  'toolServer.maxRestarts': { schema: z.number().int().min(0).max(20), default: 3 },
  'detector.boxThreshold': { schema: unit, default: DEFAULT_BOX_THRESHOLD },
  'detector.textThreshold': { schema: unit, default: DEFAULT_TEXT_THRESHOLD },
  'detector.candidateThreshold': { schema: unit, default: 0.1 },
  'run.timeoutSeconds': { schema: z.number().min(1).max(3600), default: 60 },
  'run.memoryMB': { schema: z.number().int().min(128).max(65536), default: 2048 },
  'run.isolation': { schema: z.enum(['sandbox', 'process']), default: 'sandbox' as 'sandbox' | 'process' },
  'run.openViewAfterRun': { schema: z.boolean(), default: true },
  'rewards.weights': {
    schema: z
      .object({ logic: weight, syntax: weight, attribute: weight, spatial: weight, adherence: weight })
      .strict()
      .refine((w) => Math.abs(Object.values(w).reduce((a, b) => a + b, 0) - 1) < 1e-6, 'the five weights must sum to 1'),
    default: { ...DEFAULT_WEIGHTS } as Record<WeightedReward, number>,
  },
  'cache.enabled': { schema: z.boolean(), default: true },
} as const;

export type SettingKey = keyof typeof SETTING_SPECS;
type SettingValue<K extends SettingKey> = (typeof SETTING_SPECS)[K]['default'];

/** Settings whose change needs the embedded tool server restarted (it reads them at start). */
export const RESTART_KEYS: readonly SettingKey[] = [
  'toolServer.url',
  'toolServer.modelsPath',
  'toolServer.device',
  'vision.baseUrl',
  'vision.model',
];

export interface EndpointSettings {
  baseUrl: string;
  model: string;
}

export interface ValorConfig {
  /** `systemPromptFile`: a generation prompt file (src/core/promptSource.ts); empty: ours. */
  generator: EndpointSettings & { maxTokens: number; systemPromptFile: string };
  /** `promptsDir`: VALOR-shaped judge prompts (src/core/rewards/judgeSet.ts); empty: ours. */
  judge: EndpointSettings & { timeoutMs: number; promptsDir: string };
  vision: EndpointSettings;
  toolServer: { url: string; modelsPath: string; device: 'cpu' | 'cuda'; maxRestarts: number };
  detector: { boxThreshold: number; textThreshold: number; candidateThreshold: number };
  run: { timeoutMs: number; memoryMB: number; openViewAfterRun: boolean; isolation: 'sandbox' | 'process' };
  rewards: { weights: Record<WeightedReward, number> };
  cache: { enabled: boolean };
}

export interface ConfigProblem {
  key: `valor.${SettingKey}`;
  message: string;
}

/** Reads a setting's raw value (`vscode.workspace.getConfiguration('valor').get(key)`). */
export type SettingGetter = (key: SettingKey) => unknown;

/** Reads every setting through its schema; a bad value falls back to the default and is reported. */
export function readConfig(get: SettingGetter): { config: ValorConfig; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  const v = <K extends SettingKey>(key: K): SettingValue<K> => {
    const spec = SETTING_SPECS[key];
    const raw = get(key);
    if (raw === undefined || raw === null) return spec.default as SettingValue<K>;
    const parsed = spec.schema.safeParse(raw);
    if (parsed.success) return parsed.data as SettingValue<K>;
    problems.push({
      key: `valor.${key}`,
      message: `setting valor.${key} is invalid (${parsed.error.issues[0]?.message ?? 'bad value'}); using the default ${JSON.stringify(spec.default)}`,
    });
    return spec.default as SettingValue<K>;
  };
  const config: ValorConfig = {
    generator: {
      baseUrl: stripSlash(v('generator.baseUrl')),
      model: v('generator.model'),
      maxTokens: v('generator.maxTokens'),
      systemPromptFile: v('generator.systemPromptFile'),
    },
    judge: { baseUrl: stripSlash(v('judge.baseUrl')), model: v('judge.model'), timeoutMs: v('judge.timeoutSeconds') * 1000, promptsDir: v('judge.promptsDir') },
    vision: { baseUrl: stripSlash(v('vision.baseUrl')), model: v('vision.model') },
    toolServer: {
      url: stripSlash(v('toolServer.url')),
      modelsPath: v('toolServer.modelsPath'),
      device: v('toolServer.device'),
      maxRestarts: v('toolServer.maxRestarts'),
    },
    detector: {
      boxThreshold: v('detector.boxThreshold'),
      textThreshold: v('detector.textThreshold'),
      candidateThreshold: v('detector.candidateThreshold'),
    },
    run: { timeoutMs: v('run.timeoutSeconds') * 1000, memoryMB: v('run.memoryMB'), openViewAfterRun: v('run.openViewAfterRun'), isolation: v('run.isolation') },
    rewards: { weights: { ...v('rewards.weights') } },
    cache: { enabled: v('cache.enabled') },
  };
  return { config, problems };
}

function stripSlash(s: string): string {
  return s.replace(/\/+$/, '');
}

/** Whether a configuration change touches a setting the running tool server depends on. */
export function changeNeedsRestart(affects: (section: string) => boolean): boolean {
  return RESTART_KEYS.some((k) => affects(`valor.${k}`));
}

/** The settings missing for a role's endpoint (its base URL, its model), by their full names. */
export function missingEndpointSettings(config: ValorConfig, role: EndpointRole): string[] {
  const e = config[role];
  return [!e.baseUrl && `valor.${role}.baseUrl`, !e.model && `valor.${role}.model`].filter((s): s is string => Boolean(s));
}
