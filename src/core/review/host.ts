/**
 * The review view's message handling, shared by the extension's panel (src/extension/reviewPanel.ts)
 * and the browser tests: validate what the view sent, act on the session, answer with what the
 * view should show. Failures become an `error` message for the view, never an exception.
 */
import { parseReviewViewMessage, type ReviewHostMessage } from '../../protocol/review.js';
import type { ReviewSession } from './session.js';

export async function handleReviewMessage(session: ReviewSession, raw: unknown): Promise<ReviewHostMessage[]> {
  const parsed = parseReviewViewMessage(raw);
  if (!parsed.ok) return [{ type: 'error', message: `the review view sent a message the host does not understand (${parsed.error})` }];
  const m = parsed.message;
  try {
    switch (m.type) {
      case 'ready':
        if (session.total === 0) {
          const why = session.warnings.length ? ` ${session.warnings.join(' ')}` : '';
          return [{ type: 'empty', title: session.title, message: `Nothing to review: no item matches.${why}` }];
        }
        return [await session.item(Math.min(session.position, session.total - 1))];
      case 'open':
        return [await session.item(Math.min(m.position, session.total - 1))];
      case 'decide':
        return [await session.decide(m.position, m.reward, m.action, m.value)];
      case 'note':
        return [await session.setNote(m.position, m.text)];
      case 'undo':
        return [await session.undo()];
    }
  } catch (err) {
    return [{ type: 'error', message: (err as Error)?.message ?? String(err) }];
  }
}
