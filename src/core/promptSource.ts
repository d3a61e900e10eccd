/**
 * Which generation prompt a run uses: ours (src/core/prompt.ts, the default) or a prompt file the
 * user points at, typically `valor/prompts/system_prompt.jinja` of their own copy of VALOR's
 * repository (we do not ship that text). A policy trained with GRPO has learned its training
 * prompt, so running VALOR's checkpoint needs VALOR's prompt, byte for byte.
 *
 * How the file is used (docs/valor.md, "Reproducing VALOR"):
 *   - read as UTF-8; a UTF-8 byte-order mark is an error (it would be sent as text);
 *   - one trailing newline is removed, as a Jinja template renders by default
 *     (`keep_trailing_newline=False`); nothing else is changed;
 *   - the file must hold no Jinja syntax (`{{`, `{%`, `{#`): we send it as text and do not render
 *     templates, so a file that needs rendering is refused rather than sent half-rendered;
 *   - the message is the same single user message our own prompt uses: the text, a blank line,
 *     then `Question: <query>` (docs/valor.md says which parts of this were verified).
 * The record keeps the prompt's sha256 (of the text as sent, before the question) and its path.
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import type { ChatMessage } from './chat.js';
import { sha256Hex } from './contentHash.js';
import { buildGenerationMessages, GENERATION_SYSTEM_PROMPT } from './prompt.js';

export interface GenerationPrompt {
  /** `builtin` is ours; `file` came from a prompt file. */
  source: 'builtin' | 'file';
  /** Absolute path of the file, or null for ours. */
  path: string | null;
  /** The system text exactly as it goes before `Question: <query>`. */
  text: string;
  /** sha256 (hex) of `text`. */
  sha256: string;
}

/** What run records and summaries store about the prompt (never the text itself). */
export interface PromptRef {
  source: 'builtin' | 'file';
  path: string | null;
  sha256: string;
}

export class PromptFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PromptFileError';
  }
}

export const BUILTIN_PROMPT: Readonly<GenerationPrompt> = Object.freeze({
  source: 'builtin',
  path: null,
  text: GENERATION_SYSTEM_PROMPT,
  sha256: sha256Hex(GENERATION_SYSTEM_PROMPT),
});

/** The text of a prompt file as it is sent (see the header), or an error naming the file and why. */
export function promptTextFromFile(raw: string, path: string): string {
  if (raw.charCodeAt(0) === 0xfeff) throw new PromptFileError(`${path} starts with a UTF-8 byte-order mark; save it without one`);
  const lines = raw.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /\{\{|\{%|\{#/.exec(lines[i] ?? '');
    if (m) {
      throw new PromptFileError(
        `${path} line ${i + 1} holds Jinja syntax "${m[0]}": the generation prompt is sent as plain text (as VALOR's system_prompt.jinja is), so a template that needs rendering cannot be used; render it to a plain file first`,
      );
    }
  }
  const text = raw.endsWith('\r\n') ? raw.slice(0, -2) : raw.endsWith('\n') ? raw.slice(0, -1) : raw;
  if (text.trim() === '') throw new PromptFileError(`${path} is empty: the generation prompt file must hold the prompt text`);
  return text;
}

/** Loads a generation prompt file (relative paths from `cwd`). */
export async function loadPromptFile(path: string, cwd = process.cwd()): Promise<GenerationPrompt> {
  const abs = isAbsolute(path) ? path : resolve(cwd, path);
  let raw: string;
  try {
    raw = await readFile(abs, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new PromptFileError(
      code === 'ENOENT'
        ? `the generation prompt file ${abs} does not exist (set by --system-prompt, VALOR_SYSTEM_PROMPT or valor.generator.systemPromptFile); point it at e.g. <VALOR checkout>/valor/prompts/system_prompt.jinja, or unset it to use the built-in prompt`
        : `cannot read the generation prompt file ${abs}: ${(err as Error).message}`,
    );
  }
  const text = promptTextFromFile(raw, abs);
  return { source: 'file', path: abs, text, sha256: sha256Hex(text) };
}

/** The built-in prompt, or the file named by the flag or `VALOR_SYSTEM_PROMPT` (flag wins). */
export async function resolveGenerationPrompt(file: string | undefined, cwd = process.cwd()): Promise<GenerationPrompt> {
  return file && file.trim() !== '' ? loadPromptFile(file.trim(), cwd) : BUILTIN_PROMPT;
}

export function promptRef(p: GenerationPrompt): PromptRef {
  return { source: p.source, path: p.path, sha256: p.sha256 };
}

/** One line naming the prompt, for summaries and console output. */
export function describePrompt(p: PromptRef): string {
  return p.source === 'builtin' ? `built-in prompt (sha256 ${p.sha256.slice(0, 12)})` : `${p.path} (sha256 ${p.sha256.slice(0, 12)})`;
}

/** The messages for one generation with `prompt` (src/core/prompt.ts buildGenerationMessages). */
export function generationMessages(prompt: Pick<GenerationPrompt, 'text'>, query: string): ChatMessage[] {
  return buildGenerationMessages(query, prompt.text);
}
