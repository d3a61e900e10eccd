/**
 * API keys in VS Code's SecretStorage (never in settings, logs or run records). Core code gets a
 * key provider per role (`() => Promise<string | undefined>`), so a key is read when a request
 * is made and a newly set key applies at once. Every key the extension has seen is also handed
 * to the log's redactor, so even an error message that echoes a key cannot print it.
 *
 * No `vscode` import: the adapter passes `context.secrets`, which fits `SecretStoreLike`.
 */
export const KEY_ROLES = ['generator', 'judge', 'vision', 'toolServer'] as const;
export type KeyRole = (typeof KEY_ROLES)[number];

export const KEY_ROLE_LABELS: Record<KeyRole, { label: string; detail: string }> = {
  generator: { label: 'Program generator', detail: 'API key of the endpoint in valor.generator.baseUrl' },
  judge: { label: 'Judges', detail: 'API key of the endpoint in valor.judge.baseUrl' },
  vision: { label: 'Vision model', detail: 'API key of the endpoint in valor.vision.baseUrl (VQA, box verification)' },
  toolServer: { label: 'Remote tool server token', detail: 'Bearer token of the server in valor.toolServer.url' },
};

export interface SecretStoreLike {
  get(key: string): PromiseLike<string | undefined>;
  store(key: string, value: string): PromiseLike<void>;
  delete(key: string): PromiseLike<void>;
}

export function secretKey(role: KeyRole): string {
  return `valor.apiKey.${role}`;
}

export class ApiKeys {
  private readonly seen = new Set<string>();
  private readonly listeners = new Set<(role: KeyRole) => void>();

  constructor(private readonly store: SecretStoreLike) {}

  async get(role: KeyRole): Promise<string | undefined> {
    const v = (await this.store.get(secretKey(role)))?.trim();
    if (v) this.remember(v);
    return v || undefined;
  }

  async set(role: KeyRole, value: string): Promise<void> {
    const v = value.trim();
    if (!v) throw new RangeError('an empty key cannot be stored; use "Forget API Key" to remove one');
    this.remember(v);
    await this.store.store(secretKey(role), v);
    this.emit(role);
  }

  async clear(role: KeyRole): Promise<void> {
    await this.store.delete(secretKey(role));
    this.emit(role);
  }

  /** The provider core clients call for each request. */
  provider(role: KeyRole): () => Promise<string | undefined> {
    return () => this.get(role);
  }

  /** Reads every stored key once, so the redactor knows them before anything is logged. */
  async preload(): Promise<void> {
    await Promise.all(KEY_ROLES.map((r) => this.get(r).catch(() => undefined)));
  }

  /** Keys seen in this session (for redaction only; never shown or written). */
  known(): readonly string[] {
    return [...this.seen];
  }

  onDidChange(listener: (role: KeyRole) => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  private remember(v: string): void {
    // Very short values would redact ordinary words; real keys are long.
    if (v.length >= 8) this.seen.add(v);
  }

  private emit(role: KeyRole): void {
    for (const l of [...this.listeners]) l(role);
  }
}

/** Replaces every known secret (and bearer tokens / `token=` values) in `text`. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join('<redacted>');
  return out
    .replace(/(authorization:\s*bearer\s+)\S+/gi, '$1<redacted>')
    .replace(/\b(token=)\S+/g, '$1<redacted>')
    .replace(/\bsk-[A-Za-z0-9_-]{12,}/g, '<redacted>');
}
