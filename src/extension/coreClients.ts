/**
 * The core clients the commands use, built from the settings and keys on first use:
 * language-model clients per role, the tools (embedded server through the supervisor, or a
 * remote one), and the program runner.
 * Heavy modules (the openai client, the runner) are imported here lazily, so activation stays
 * cheap and a user who only reads `.vprog` files never loads them.
 */
import { join } from 'node:path';
import type { ChatClient } from '../core/chat.js';
import type { ProgramRunner } from '../core/runner/index.js';
import type { ToolClient, ToolsHandle } from '../core/toolClient.js';
import type { Tools, ToolResult, Detection } from '../core/tools.js';
import { noEndpointMessage, type EndpointRole } from '../core/endpoints.js';
import { missingEndpointSettings, type ValorConfig } from './config.js';
import { ActionableError } from './errors.js';
import { KEY_ROLE_LABELS, type ApiKeys } from './secrets.js';
import type { ToolServerSupervisor } from './toolServerSupervisor.js';

export interface CoreClientsDeps {
  config: () => ValorConfig;
  keys: ApiKeys;
  supervisor: ToolServerSupervisor;
  /** Folder for caches (the extension's global storage). */
  storageDir: string;
}

/** Generation streams a long reply; judges and VQA are short. */
const GENERATOR_TIMEOUT_MS = 600_000;

export class CoreClients {
  private runnerInstance: ProgramRunner | undefined;
  private runnerKey = '';

  constructor(private readonly deps: CoreClientsDeps) {}

  /** A chat client for a role, or an ActionableError naming the settings to fill in. */
  async chat(role: EndpointRole, opts: { noCache?: boolean } = {}): Promise<ChatClient> {
    const cfg = this.deps.config();
    const missing = missingEndpointSettings(cfg, role);
    if (missing.length > 0) {
      throw new ActionableError(noEndpointMessage(role, missing), [{ kind: 'openSettings', query: `valor.${role}` }]);
    }
    const { createChatClient } = await import('../core/llmClient.js');
    return createChatClient({
      baseUrl: cfg[role].baseUrl,
      model: cfg[role].model,
      apiKey: this.deps.keys.provider(role),
      timeoutMs: role === 'generator' ? GENERATOR_TIMEOUT_MS : role === 'judge' ? cfg.judge.timeoutMs : undefined,
      cacheDir: cfg.cache.enabled && !opts.noCache ? join(this.deps.storageDir, 'llm-cache') : false,
      keyHint: `run "VALOR: Set API Key…" and choose "${KEY_ROLE_LABELS[role].label}"`,
    });
  }

  /** The tools: the remote server when valor.toolServer.url is set, else the embedded one (started on demand). */
  async tools(signal?: AbortSignal): Promise<ToolsHandle> {
    const cfg = this.deps.config();
    const { createToolClient } = await import('../core/toolClient.js');
    let url: string;
    let token: string;
    if (cfg.toolServer.url) {
      url = cfg.toolServer.url;
      token = (await this.deps.keys.get('toolServer')) ?? '';
    } else {
      const ready = await this.deps.supervisor.ensureStarted(signal);
      url = ready.url;
      token = ready.token;
    }
    const client = createToolClient({
      url,
      token,
      candidateThreshold: cfg.detector.candidateThreshold,
      // The CLI's advice (valor serve, VALOR_TOOLS_URL) means nothing here: name what the extension offers.
      unreachableHint: cfg.toolServer.url
        ? 'check that the server at valor.toolServer.url is running, or clear that setting to use the embedded server'
        : 'the embedded server stopped; run "VALOR: Restart Tool Server"',
    });
    // The embedded server belongs to the supervisor, so letting go of the handle stops nothing.
    return { tools: withThresholds(client, cfg.detector), client, url, close: async () => {} };
  }

  /** One runner for the session; replaced when its settings change. */
  async runner(): Promise<ProgramRunner> {
    const cfg = this.deps.config();
    const key = `${cfg.run.timeoutMs}/${cfg.run.memoryMB}/${cfg.run.isolation}`;
    if (this.runnerInstance && this.runnerKey === key) return this.runnerInstance;
    const old = this.runnerInstance;
    const { ProgramRunner } = await import('../core/runner/index.js');
    this.runnerInstance = new ProgramRunner({ timeoutMs: cfg.run.timeoutMs, memoryMB: cfg.run.memoryMB, isolation: cfg.run.isolation });
    this.runnerKey = key;
    if (old) void old.dispose().catch(() => undefined);
    return this.runnerInstance;
  }

  async dispose(): Promise<void> {
    const r = this.runnerInstance;
    this.runnerInstance = undefined;
    if (r) await r.dispose();
  }
}

/**
 * The client's tools with the detector thresholds of the settings (the client itself uses
 * VALOR's reference DEFAULT_BOX_THRESHOLD / DEFAULT_TEXT_THRESHOLD of src/protocol/tools.ts). The trace states the thresholds actually used.
 */
export function withThresholds(client: ToolClient, t: { boxThreshold: number; textThreshold: number; candidateThreshold: number }): Tools {
  return {
    async gd_detect(img_pth: string, prompt: string, signal?: AbortSignal): Promise<ToolResult<Detection[]>> {
      if (typeof prompt !== 'string') return client.gd_detect(img_pth, prompt, signal);
      const r = await client.detect(
        img_pth,
        prompt,
        { box_threshold: t.boxThreshold, text_threshold: t.textThreshold, candidate_threshold: Math.min(t.candidateThreshold, t.boxThreshold) },
        signal,
      );
      return {
        value: r.detections,
        detail: { candidates: r.candidates ?? [], box_threshold: t.boxThreshold, text_threshold: t.textThreshold, cached: r.cached, model: r.model },
      };
    },
    depth: (img_pth, bbox, signal) => client.depth(img_pth, bbox, signal),
    vqa: (img_pth, bbox, prompt, signal) => client.vqa(img_pth, bbox, prompt, signal),
  };
}
