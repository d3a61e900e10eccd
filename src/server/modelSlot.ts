/**
 * One model the server can serve: its folder, the files it must hold, loading (once, in the
 * background after the server listens), its inference queue, and the status `/v1/health` shows.
 * A folder missing a file does not stop the server: health says `degraded` naming the file, and
 * the tool's route answers 503 with the same message.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { modelsWaysOut } from '../core/modelsDir.js';
import { HttpError } from './errors.js';
import type { CountedSession } from './onnx.js';
import { ModelQueue } from './queue.js';

export interface LoadedModel {
  id: string;
  session: CountedSession;
  release(): Promise<void>;
}

export interface SlotStatus {
  id: string;
  loaded: boolean;
  error?: string;
  runs?: number;
  device?: string;
}

export class ModelSlot<M extends LoadedModel> {
  readonly queue: ModelQueue;
  private model?: M;
  private loading?: Promise<M>;
  private error?: string;

  constructor(
    /** `detector` or `depth` (health key, messages). */
    readonly name: string,
    /** What the folder holds, for messages (`GroundingDINO`). */
    readonly label: string,
    readonly dir: string | undefined,
    readonly requiredFiles: readonly string[],
    private readonly loader: (dir: string) => Promise<M>,
    concurrency: number,
    /** What to run to get the model (for messages). */
    private readonly flagHint: string,
  ) {
    this.queue = new ModelQueue(concurrency);
    this.error = this.checkFiles();
  }

  private checkFiles(): string | undefined {
    if (!this.dir || !existsSync(this.dir)) {
      return `no ${this.label} model folder at ${this.dir ?? '(none given)'}: ${modelsWaysOut()}; or start the server with ${this.flagHint}`;
    }
    const missing = this.requiredFiles.filter((f) => !existsSync(join(this.dir as string, f)));
    if (missing.length > 0) {
      return `the ${this.label} model folder ${this.dir} lacks ${missing.join(', ')}: copy the missing file${missing.length > 1 ? 's' : ''} there (see docs/tool-server.md for the layout) or run 'valor models pull'`;
    }
    return undefined;
  }

  /** Starts loading when the folder is complete; failures are kept for health and requests. */
  load(): Promise<M> | undefined {
    if (this.error && !this.loading) return undefined;
    if (!this.loading) {
      this.loading = this.loader(this.dir as string).then(
        (m) => {
          this.model = m;
          return m;
        },
        (err: unknown) => {
          this.error = `the ${this.label} model in ${this.dir} failed to load: ${(err as Error).message?.split('\n')[0] ?? String(err)}`;
          throw new HttpError(503, 'model_unavailable', this.error);
        },
      );
      this.loading.catch(() => undefined);
    }
    return this.loading;
  }

  /** The loaded model, or 503 `model_unavailable` naming what is wrong. */
  async get(): Promise<M> {
    if (this.model) return this.model;
    if (this.error) throw new HttpError(503, 'model_unavailable', this.error);
    const p = this.load();
    if (!p) throw new HttpError(503, 'model_unavailable', this.error ?? `the ${this.label} model is not available`);
    return p;
  }

  get loaded(): M | undefined {
    return this.model;
  }

  status(): SlotStatus {
    const s: SlotStatus = { id: this.model?.id ?? this.dir ?? 'none', loaded: Boolean(this.model) };
    if (this.error) s.error = this.error;
    if (this.model) {
      s.runs = this.model.session.runs;
      s.device = this.model.session.device;
    }
    return s;
  }

  get healthy(): boolean {
    return !this.error;
  }

  async release(): Promise<void> {
    const m = this.model ?? (await this.loading?.catch(() => undefined));
    await m?.release().catch(() => undefined);
  }
}
