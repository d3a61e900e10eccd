/**
 * Headless configuration: endpoints and the tool server from flags, then environment variables.
 * Shared by every `valor` subcommand so they name the same variables in the same way.
 *
 *   VALOR_LLM_BASE_URL, VALOR_LLM_MODEL, VALOR_LLM_API_KEY (or OPENAI_API_KEY)   program generator
 *   VALOR_JUDGE_BASE_URL, VALOR_JUDGE_MODEL, VALOR_JUDGE_API_KEY (or OPENAI_API_KEY) judges
 *   VALOR_VLM_BASE_URL, VALOR_VLM_MODEL, VALOR_VLM_API_KEY (or OPENAI_API_KEY)   vision model
 *   VALOR_TOOLS_URL, VALOR_TOOLS_TOKEN                                            tool server
 *   VALOR_MODELS_DIR, VALOR_DEVICE                                                embedded tool server
 *   VALOR_LLM_TIMEOUT, VALOR_JUDGE_TIMEOUT, VALOR_VLM_TIMEOUT (seconds per call)     time limits
 *   VALOR_CACHE_DIR (default ~/.cache/valor-studio), VALOR_NO_CACHE=1              response cache
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { ChatClient } from '../core/chat.js';
import { noEndpointMessage, ROLE_ENV_PREFIX, type EndpointRole } from '../core/endpoints.js';
import { createChatClient } from '../core/llmClient.js';
import { findModelsDir, modelsDirNote } from '../core/modelsDir.js';
import { createToolClient, type ToolsHandle } from '../core/toolClient.js';
import { startToolServer } from '../host/toolServerProcess.js';
import { UsageError } from './command.js';


export function cacheDir(env: NodeJS.ProcessEnv): string | false {
  if (env.VALOR_NO_CACHE === '1') return false;
  return env.VALOR_CACHE_DIR || join(homedir(), '.cache', 'valor-studio');
}

/**
 * A chat client for one role, or a UsageError naming the variables to set. Flags (`baseUrl`,
 * `model`) win over the environment.
 */
export function endpointFromEnv(
  endpoint: EndpointRole,
  env: NodeJS.ProcessEnv,
  flags: { baseUrl?: string; model?: string; timeoutMs?: number; noCache?: boolean } = {},
): ChatClient {
  const role = ROLE_ENV_PREFIX[endpoint];
  const baseUrl = flags.baseUrl ?? env[`VALOR_${role}_BASE_URL`];
  const model = flags.model ?? env[`VALOR_${role}_MODEL`];
  const missing = [!baseUrl && `VALOR_${role}_BASE_URL`, !model && `VALOR_${role}_MODEL`].filter((s): s is string => Boolean(s));
  if (missing.length > 0) {
    throw new UsageError(noEndpointMessage(endpoint, missing));
  }
  const key = env[`VALOR_${role}_API_KEY`] || env.OPENAI_API_KEY || undefined;
  const timeoutEnv = env[`VALOR_${role}_TIMEOUT`];
  const timeoutSec = timeoutEnv === undefined || timeoutEnv === '' ? undefined : Number(timeoutEnv);
  if (timeoutSec !== undefined && !(timeoutSec > 0)) {
    throw new UsageError(`VALOR_${role}_TIMEOUT must be a positive number of seconds, got '${timeoutEnv}'`);
  }
  const dir = flags.noCache ? false : cacheDir(env);
  return createChatClient({
    baseUrl: baseUrl as string,
    model: model as string,
    apiKey: () => key,
    keyHint: `set VALOR_${role}_API_KEY (or OPENAI_API_KEY) to a key this endpoint accepts`,
    settingNames: { baseUrl: `VALOR_${role}_BASE_URL`, model: `VALOR_${role}_MODEL` },
    timeoutMs: flags.timeoutMs ?? (timeoutSec === undefined ? undefined : timeoutSec * 1000),
    cacheDir: dir === false ? false : join(dir, 'llm'),
  });
}

/**
 * The tools for a run: the server at VALOR_TOOLS_URL (or `--tools-url`), else an embedded one
 * started on the CPU for the duration of the command, with the model folder `findModelsDir`
 * picks (`--models`, VALOR_MODELS_DIR, a models/ folder beside `document` or in `cwd`).
 */
export async function toolsFromEnv(
  env: NodeJS.ProcessEnv,
  flags: { url?: string; token?: string; models?: string; device?: string; cwd?: string; document?: string | null; note?: (line: string) => void } = {},
  signal?: AbortSignal,
): Promise<ToolsHandle> {
  const url = flags.url ?? env.VALOR_TOOLS_URL;
  if (url) {
    const token = flags.token ?? env.VALOR_TOOLS_TOKEN ?? '';
    const client = createToolClient({ url, token });
    return { tools: client, client, url, close: async () => {} };
  }
  const models = findModelsDir({ flag: flags.models, env, cwd: flags.cwd ?? process.cwd(), document: flags.document });
  const note = modelsDirNote(models);
  if (note) flags.note?.(note);
  const server = await startToolServer({
    models: models.dir,
    device: flags.device ?? env.VALOR_DEVICE ?? 'cpu',
    env,
    signal,
  });
  const client = createToolClient({ url: server.url, token: server.token });
  return { tools: client, client, url: server.url, close: () => server.stop() };
}
