/**
 * The repair prompt (issue #15, "Repair"), in our own words: what the generator is told after one
 * of its replies failed. Like the generation prompt (src/core/prompt.ts), the text lives here and
 * its sha256 travels with every proposal, so a record says which repair prompt made a reply.
 *
 * The conversation sent is the generation conversation continued: the same generation message
 * (system prompt and `Question: <query>`, src/core/promptSource.ts), then for each failed reply so
 * far the reply as the assistant's turn and a repair message as the user's. The model so sees the
 * tools and format it was given, what it wrote, and exactly what went wrong where.
 */
import type { ChatMessage } from '../chat.js';
import { sha256Hex } from '../contentHash.js';
import { BUILTIN_PROMPT, generationMessages, type GenerationPrompt, type PromptRef } from '../promptSource.js';
import type { Failure } from './failure.js';

/** The fixed closing part of every repair message. */
export const REPAIR_INSTRUCTIONS = `Write the whole reply again, corrected. First the plan inside <plan> and </plan>, then the
complete Python program inside <answer> and </answer>, in the same format as before. Keep what
was right and change what caused the failure; update the plan too when the fix changes a step.
The program must put its result in final_answer. Use only the three tools as documented and
never assign to img_pth. Write nothing outside the two blocks, and write each block once.`;

export const REPAIR_PROMPT: Readonly<PromptRef> = Object.freeze({ source: 'builtin', path: null, sha256: sha256Hex(REPAIR_INSTRUCTIONS) });

/** A traceback or message longer than this is cut (the model needs the last frames most). */
const MAX_DETAIL = 2000;

function tail(text: string, max: number): string {
  return text.length > max ? `…${text.slice(text.length - max)}` : text;
}

function where(f: Failure): string {
  if (f.line === null) return '';
  return f.lineText !== null ? ` on program line ${f.line}:\n\n    ${f.lineText.trim()}` : ` on program line ${f.line}.`;
}

/** What went wrong, as the repair message states it. */
export function describeFailure(f: Failure): string {
  switch (f.kind) {
    case 'runtime_error': {
      const tb = f.traceback && f.traceback.trim() !== '' ? `\n\nTraceback (program lines only):\n${tail(f.traceback.trim(), MAX_DETAIL)}` : '';
      return `Running your program failed${where(f)}\n\n${tail(f.message, MAX_DETAIL)}${tb}`;
    }
    case 'no_final_answer':
      return `Your program ran to the end but gave no answer: ${f.message}`;
    case 'format':
      return `Your reply could not be read. ${tail(f.message, MAX_DETAIL)}`;
    case 'syntax':
      return `Your program failed the check run, in which every tool returns a fixed value of the documented type${where(f)}\n\n${tail(f.message, MAX_DETAIL)}`;
    case 'none':
      return 'Your program worked.';
  }
}

/** The user message that asks for a repair of the reply before it. */
export function repairMessage(f: Failure): string {
  return `${describeFailure(f)}\n\n${REPAIR_INSTRUCTIONS}`;
}

/** One failed reply and why it failed, oldest first. */
export interface FailedTurn {
  reply: string;
  failure: Failure;
}

/** The messages of one repair request: the generation message, then each failed reply and its repair message. */
export function repairMessages(query: string, turns: readonly FailedTurn[], prompt: Pick<GenerationPrompt, 'text'> = BUILTIN_PROMPT): ChatMessage[] {
  if (turns.length === 0) throw new RangeError('a repair needs at least one failed reply');
  const out = [...generationMessages(prompt, query)];
  for (const t of turns) out.push({ role: 'assistant', content: t.reply }, { role: 'user', content: repairMessage(t.failure) });
  return out;
}
